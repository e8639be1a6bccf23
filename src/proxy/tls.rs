//! The proxy listener's TLS (node-http-proxy's `ssl`): the shared server
//! configuration ([`crate::tls`]) with HTTP/2 and HTTP/1.1 offered by ALPN.

use crate::plan::TlsPlan;
pub use crate::tls::TlsError;
use std::sync::Arc;
use tokio_rustls::TlsAcceptor;

/// Builds the acceptor from the plan's files.
pub fn acceptor(plan: &TlsPlan) -> Result<TlsAcceptor, TlsError> {
    let mut config = crate::tls::server_config(plan)?;
    // h2 first: clients that speak HTTP/2 get it (hyper's HTTP/2 server).
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(TlsAcceptor::from(Arc::new(config)))
}
