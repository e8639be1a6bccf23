//! Upstream connections: a connector (DNS, every resolved address tried
//! in turn, `local_address`, TLS for `https`/`wss` with `secure` and
//! `ca_file`) and the pooled keep-alive client built on it (node's
//! `agent`, on by default in edge).

use super::body::ReqBody;
use crate::plan::proxy::{ProxyOptions, Target};
use hyper_util::rt::TokioIo;
use rustls::pki_types::{pem::PemObject, CertificateDer, ServerName, UnixTime};
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpSocket, TcpStream};
use tokio_rustls::{client::TlsStream, TlsConnector};

/// Why a client could not be built from the plan.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// `ca_file` could not be read or holds no certificate.
    #[error("ca_file {path}: {reason}")]
    CaFile {
        /// The file.
        path: String,
        /// What was wrong.
        reason: String,
    },
    /// rustls refused the TLS settings.
    #[error("upstream TLS: {0}")]
    Tls(#[from] rustls::Error),
}

/// A connection to an upstream, plain or TLS.
pub enum Stream {
    /// Plain TCP.
    Plain(TcpStream),
    /// TLS over TCP.
    Tls(Box<TlsStream<TcpStream>>),
}

impl AsyncRead for Stream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Stream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_write_vectored(cx, bufs),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_write_vectored(cx, bufs),
        }
    }

    fn is_write_vectored(&self) -> bool {
        match self {
            Stream::Plain(s) => s.is_write_vectored(),
            Stream::Tls(s) => s.is_write_vectored(),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_flush(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}

/// Opens upstream connections for one route.
#[derive(Clone)]
pub struct Connector {
    local: Option<IpAddr>,
    tls: Option<TlsConnector>,
}

impl Connector {
    /// A connector for `opts`; TLS is set up only when a target needs it.
    pub fn new(opts: &ProxyOptions, needs_tls: bool) -> Result<Self, ClientError> {
        let tls = if needs_tls {
            Some(TlsConnector::from(Arc::new(client_tls(opts)?)))
        } else {
            None
        };
        Ok(Connector {
            local: opts.local_address,
            tls,
        })
    }

    /// Connects to `host:port`, over TLS when `tls`.
    pub async fn connect(&self, host: &str, port: u16, tls: bool) -> io::Result<Stream> {
        let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host, port)).await?.collect();
        let mut last = io::Error::new(io::ErrorKind::NotFound, format!("{host}: no address"));
        let mut tcp = None;
        for addr in addrs {
            match self.connect_addr(addr).await {
                Ok(s) => {
                    tcp = Some(s);
                    break;
                }
                Err(e) => last = e,
            }
        }
        let tcp = tcp.ok_or(last)?;
        let _ = tcp.set_nodelay(true);
        if !tls {
            return Ok(Stream::Plain(tcp));
        }
        let connector = self
            .tls
            .as_ref()
            .ok_or_else(|| io::Error::other("TLS upstream without TLS settings"))?;
        let name = ServerName::try_from(host.to_owned())
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
        let stream = connector.connect(name, tcp).await?;
        Ok(Stream::Tls(Box::new(stream)))
    }

    async fn connect_addr(&self, addr: SocketAddr) -> io::Result<TcpStream> {
        let socket = if addr.is_ipv4() {
            TcpSocket::new_v4()?
        } else {
            TcpSocket::new_v6()?
        };
        if let Some(ip) = self.local {
            if ip.is_ipv4() != addr.is_ipv4() {
                return Err(io::Error::new(
                    io::ErrorKind::AddrNotAvailable,
                    format!("local_address {ip} cannot reach {addr}"),
                ));
            }
            socket.bind(SocketAddr::new(ip, 0))?;
        }
        socket.connect(addr).await
    }
}

/// True when some target of a route (or its forward) is `https`/`wss`.
pub fn needs_tls<'a>(targets: impl IntoIterator<Item = &'a Target>) -> bool {
    targets.into_iter().any(|t| t.scheme.is_tls())
}

/// The rustls client config for https upstreams: the system's roots plus
/// the route's `ca_file` (which adds trust roots), and no verification at
/// all when `secure: false`.
fn client_tls(opts: &ProxyOptions) -> Result<rustls::ClientConfig, ClientError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()?;
    let config = if opts.secure {
        let mut roots = rustls::RootCertStore::empty();
        roots.add_parsable_certificates(rustls_native_certs::load_native_certs().certs);
        if let Some(path) = &opts.ca_file {
            let shown = path.display().to_string();
            let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(path)
                .map_err(|e| ClientError::CaFile {
                    path: shown.clone(),
                    reason: e.to_string(),
                })?
                .filter_map(Result::ok)
                .collect();
            let (added, _) = roots.add_parsable_certificates(certs);
            if added == 0 {
                return Err(ClientError::CaFile {
                    path: shown,
                    reason: "no certificate".into(),
                });
            }
        }
        builder.with_root_certificates(roots).with_no_client_auth()
    } else {
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(NoVerify(provider)))
            .with_no_client_auth()
    };
    Ok(config)
}

/// `secure: false`: any upstream certificate is accepted (signatures are
/// still checked, so the handshake itself stays sound).
#[derive(Debug)]
struct NoVerify(Arc<rustls::crypto::CryptoProvider>);

impl rustls::client::danger::ServerCertVerifier for NoVerify {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// Sends one request on a fresh, unpooled connection, the request target
/// written exactly as in `req` (absolute-form for `to_proxy`).
pub async fn send_direct(
    connector: &Connector,
    target: &Target,
    req: http::Request<ReqBody>,
) -> Result<http::Response<super::pool::UpstreamBody>, DirectError> {
    let stream = connector
        .connect(&target.host, target.port, target.scheme.is_tls())
        .await
        .map_err(DirectError::Connect)?;
    let (mut sender, conn) = hyper::client::conn::http1::Builder::new()
        .preserve_header_case(true)
        .handshake(TokioIo::new(stream))
        .await
        .map_err(DirectError::Http)?;
    tokio::spawn(async move {
        let _ = conn.with_upgrades().await;
    });
    let res = sender.send_request(req).await.map_err(DirectError::Http)?;
    Ok(res.map(super::pool::UpstreamBody::unpooled))
}

/// Why a direct (unpooled) request failed.
#[derive(Debug, thiserror::Error)]
pub enum DirectError {
    /// No connection.
    #[error("{0}")]
    Connect(io::Error),
    /// The exchange failed.
    #[error("{0}")]
    Http(hyper::Error),
}
