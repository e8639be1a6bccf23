//! TLS settings for a listener (NATS clients, routes, websocket, monitoring, proxy).

use std::path::PathBuf;
use std::time::Duration;

/// A TLS listener configuration whose files were checked at lowering time.
#[derive(Clone, Debug, PartialEq)]
pub struct TlsPlan {
    /// PEM certificate chain.
    pub cert_file: PathBuf,
    /// PEM private key.
    pub key_file: PathBuf,
    /// PEM trust roots for client certificates.
    pub ca_file: Option<PathBuf>,
    /// Require and verify client certificates.
    pub verify: bool,
    /// Verify and map the certificate subject to a user.
    pub verify_and_map: bool,
    /// Skip verification of peers (routes only; nats-server's `insecure`).
    pub insecure: bool,
    /// Handshake timeout.
    pub timeout: Duration,
    /// Allowed cipher suites as rustls names (empty = rustls defaults).
    pub cipher_suites: Vec<String>,
    /// Key exchange groups as rustls names (empty = defaults).
    pub curve_preferences: Vec<String>,
    /// Lowest TLS version ("1.2" or "1.3").
    pub min_version: Option<String>,
}
