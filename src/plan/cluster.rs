//! Routes between servers, and NATS over WebSocket.

use super::{HostPort, Permissions, Secret, TlsPlan};
use std::time::Duration;

/// The cluster (route) listener and the routes to solicit.
#[derive(Clone, Debug, PartialEq)]
pub struct ClusterPlan {
    /// Cluster name (must match peers).
    pub name: Option<String>,
    /// Where other servers connect.
    pub listen: HostPort,
    /// Address advertised to peers (gossip).
    pub advertise: Option<String>,
    /// Do not advertise this server to clients.
    pub no_advertise: bool,
    /// Retries for implicit routes (0 = nats-server default behaviour).
    pub connect_retries: i32,
    /// Credentials peers must present.
    pub auth: Option<RouteAuth>,
    /// Routes to connect to.
    pub routes: Vec<RouteUrl>,
    /// TLS between servers.
    pub tls: Option<TlsPlan>,
    /// What may cross the route (import = receive, export = send).
    pub permissions: Option<Permissions>,
}

/// Route listener credentials.
#[derive(Clone, Debug, PartialEq)]
pub struct RouteAuth {
    /// User name.
    pub user: String,
    /// Password or bcrypt hash.
    pub password: Secret,
    /// Time allowed to authenticate.
    pub timeout: Duration,
}

/// One `nats-route://[user:pass@]host:port` to solicit.
#[derive(Clone, Debug, PartialEq)]
pub struct RouteUrl {
    /// The URL as written (for logs, with the password masked).
    pub display: String,
    /// Host to dial.
    pub host: String,
    /// Port to dial.
    pub port: u16,
    /// Credentials to present.
    pub user: Option<String>,
    /// Password to present (plain; it goes on the wire).
    pub password: Option<String>,
}

/// NATS clients over WebSocket.
#[derive(Clone, Debug, PartialEq)]
pub struct WebsocketPlan {
    /// Where WebSocket clients connect.
    pub listen: HostPort,
    /// Address advertised in `ws_connect_urls`.
    pub advertise: Option<String>,
    /// Plain `ws://` (nats-server requires TLS unless `no_tls`).
    pub no_tls: bool,
    /// TLS for `wss://`.
    pub tls: Option<TlsPlan>,
    /// permessage-deflate.
    pub compression: bool,
    /// Only accept the Origin of the request's own host.
    pub same_origin: bool,
    /// Origins accepted (empty = any).
    pub allowed_origins: Vec<String>,
    /// Time allowed for the WebSocket handshake.
    pub handshake_timeout: Duration,
    /// Users for connections without credentials on this listener.
    pub no_auth_user: Option<String>,
}
