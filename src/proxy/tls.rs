//! The proxy listener's TLS (node-http-proxy's `ssl`): the shared server
//! configuration ([`crate::tls`]) with HTTP/1.1 offered by ALPN.

use crate::plan::TlsPlan;
pub use crate::tls::TlsError;
use std::sync::Arc;
use tokio_rustls::TlsAcceptor;

/// Builds the acceptor from the plan's files.
pub fn acceptor(plan: &TlsPlan) -> Result<TlsAcceptor, TlsError> {
    let mut config = crate::tls::server_config(plan)?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(TlsAcceptor::from(Arc::new(config)))
}
