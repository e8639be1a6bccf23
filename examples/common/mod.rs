//! What every proxy example shares: the listening server (plain or TLS)
//! that hands each request to the example's handler, as node's
//! `http.createServer((req, res) => ...)` does.
//!
//! Examples read `LISTEN` (default `127.0.0.1:8000`; port 0 = any) and
//! `TARGET` (default `http://127.0.0.1:9000`), and print
//! `listening on ADDR` once bound.

#![allow(dead_code)]

use edge::proxy::{Conn, Logged};
use http::{Request, Response};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use std::convert::Infallible;
use std::future::Future;
use std::sync::Arc;
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

/// `LISTEN`, or the example's default.
pub fn listen() -> String {
    std::env::var("LISTEN").unwrap_or_else(|_| "127.0.0.1:8000".to_owned())
}

/// `TARGET`, or the given default.
pub fn target_or(default: &str) -> String {
    std::env::var("TARGET").unwrap_or_else(|_| default.to_owned())
}

/// Binds `LISTEN` and prints the address (tests read it).
pub async fn bind() -> std::io::Result<TcpListener> {
    let listener = TcpListener::bind(listen()).await?;
    println!("listening on {}", listener.local_addr()?);
    Ok(listener)
}

/// Serves HTTP/1.1 (with upgrades) on `listener`, over TLS when
/// `tls` is given, calling `handler` for every request.
pub async fn serve<F, Fut>(listener: TcpListener, tls: Option<TlsAcceptor>, handler: F)
where
    F: Fn(Request<Incoming>, Conn) -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = Response<Logged>> + Send + 'static,
{
    loop {
        let Ok((tcp, peer)) = listener.accept().await else {
            continue;
        };
        let _ = tcp.set_nodelay(true);
        let handler = handler.clone();
        let tls = tls.clone();
        tokio::spawn(async move {
            let is_tls = tls.is_some();
            let svc = service_fn(move |req| {
                let handler = handler.clone();
                async move { Ok::<_, Infallible>(handler(req, Conn::new(peer, is_tls)).await) }
            });
            let builder = hyper::server::conn::http1::Builder::new();
            let _ = match tls {
                None => {
                    builder
                        .serve_connection(TokioIo::new(tcp), svc)
                        .with_upgrades()
                        .await
                }
                Some(acceptor) => match acceptor.accept(tcp).await {
                    Ok(stream) => {
                        builder
                            .serve_connection(TokioIo::new(stream), svc)
                            .with_upgrades()
                            .await
                    }
                    Err(e) => {
                        eprintln!("TLS handshake with {peer}: {e}");
                        return;
                    }
                },
            };
        });
    }
}

/// A TLS acceptor with a self-signed certificate for `localhost` (or
/// `CERT_FILE`/`KEY_FILE` PEM files when both are set).
pub fn tls_acceptor() -> Result<TlsAcceptor, Box<dyn std::error::Error>> {
    use rustls::pki_types::{pem::PemObject, CertificateDer, PrivateKeyDer};
    let (certs, key) = match (std::env::var("CERT_FILE"), std::env::var("KEY_FILE")) {
        (Ok(cert), Ok(key)) => (
            CertificateDer::pem_file_iter(cert)?.collect::<Result<Vec<_>, _>>()?,
            PrivateKeyDer::from_pem_file(key)?,
        ),
        _ => {
            let made = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()])?;
            (
                vec![made.cert.der().clone()],
                PrivateKeyDer::try_from(made.key_pair.serialize_der())?,
            )
        }
    };
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()?
    .with_no_client_auth()
    .with_single_cert(certs, key)?;
    Ok(TlsAcceptor::from(Arc::new(config)))
}
