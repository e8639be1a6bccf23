//! The NATS server part of the plan: listener, limits, logging, monitoring.

use super::{AuthPlan, ClusterPlan, HostPort, TlsPlan, WebsocketPlan};
use std::time::Duration;

/// nats-server's defaults (server/const.go), so omitted keys mean the same.
pub mod defaults {
    use std::time::Duration;
    /// DEFAULT_PORT.
    pub const PORT: u16 = 4222;
    /// DEFAULT_HOST.
    pub const HOST: &str = "0.0.0.0";
    /// MAX_PAYLOAD_SIZE: 1 MiB.
    pub const MAX_PAYLOAD: i32 = 1024 * 1024;
    /// MAX_CONTROL_LINE_SIZE.
    pub const MAX_CONTROL_LINE: i32 = 4096;
    /// MAX_PENDING_SIZE: 64 MiB.
    pub const MAX_PENDING: i64 = 64 * 1024 * 1024;
    /// DEFAULT_MAX_CONNECTIONS.
    pub const MAX_CONNECTIONS: i32 = 64 * 1024;
    /// DEFAULT_PING_INTERVAL.
    pub const PING_INTERVAL: Duration = Duration::from_secs(120);
    /// DEFAULT_PING_MAX_OUT.
    pub const PING_MAX: i32 = 2;
    /// DEFAULT_FLUSH_DEADLINE.
    pub const WRITE_DEADLINE: Duration = Duration::from_secs(10);
    /// AUTH_TIMEOUT.
    pub const AUTH_TIMEOUT: Duration = Duration::from_secs(2);
    /// TLS_TIMEOUT.
    pub const TLS_TIMEOUT: Duration = Duration::from_secs(2);
    /// DEFAULT_HTTP_PORT (used by `-m` with no value in nats-server docs).
    pub const HTTP_PORT: u16 = 8222;
    /// DEFAULT_ROUTE_CONNECT (connect_retries 0 = retry forever for explicit routes).
    pub const ROUTE_CONNECT_RETRIES: i32 = 0;
}

/// The NATS client-facing server.
#[derive(Clone, Debug, PartialEq)]
pub struct NatsPlan {
    /// Where clients connect.
    pub listen: HostPort,
    /// Address advertised to clients instead of `listen` (connect_urls).
    pub client_advertise: Option<String>,
    /// `server_name`, shown in INFO and monitoring.
    pub server_name: Option<String>,
    /// Protocol limits.
    pub limits: Limits,
    /// Whether INFO offers headers (false with `no_header_support`).
    pub headers: bool,
    /// `disable_sublist_cache`.
    pub disable_sublist_cache: bool,
    /// Client authentication and authorization.
    pub auth: AuthPlan,
    /// TLS for client connections.
    pub tls: Option<TlsPlan>,
    /// Routes to other servers.
    pub cluster: Option<ClusterPlan>,
    /// NATS over WebSocket.
    pub websocket: Option<WebsocketPlan>,
    /// How many connect errors are reported before they are only counted.
    pub connect_error_reports: i64,
    /// How often reconnect errors are reported.
    pub reconnect_error_reports: i64,
}

/// Protocol limits, as nats-server enforces them.
#[derive(Clone, Debug, PartialEq)]
pub struct Limits {
    /// Most simultaneous client connections.
    pub max_connections: i32,
    /// Longest protocol line (without payload).
    pub max_control_line: i32,
    /// Largest message payload.
    pub max_payload: i32,
    /// Bytes buffered for one client before it is a slow consumer.
    pub max_pending: i64,
    /// Subscriptions per connection; 0 is unlimited.
    pub max_subscriptions: i32,
    /// How often the server pings a client.
    pub ping_interval: Duration,
    /// Unanswered pings before the connection is stale.
    pub ping_max: i32,
    /// How long a write may block before the client is a slow consumer.
    pub write_deadline: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_connections: defaults::MAX_CONNECTIONS,
            max_control_line: defaults::MAX_CONTROL_LINE,
            max_payload: defaults::MAX_PAYLOAD,
            max_pending: defaults::MAX_PENDING,
            max_subscriptions: 0,
            ping_interval: defaults::PING_INTERVAL,
            ping_max: defaults::PING_MAX,
            write_deadline: defaults::WRITE_DEADLINE,
        }
    }
}

/// Logging as nats-server does it.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct LogPlan {
    /// `-D`/`debug`.
    pub debug: bool,
    /// `-V`/`trace`.
    pub trace: bool,
    /// `trace_verbose`.
    pub trace_verbose: bool,
    /// Prefix lines with a timestamp (`logtime`, on by default).
    pub logtime: bool,
    /// Log to this file instead of stderr.
    pub file: Option<String>,
    /// Rotate the file past this many bytes (0 = never).
    pub file_size_limit: i64,
    /// Log to the local syslog.
    pub syslog: bool,
    /// Log to a remote syslog (`udp://host:port`, `tcp://...`, `unix://...`).
    pub remote_syslog: Option<String>,
}

/// HTTP(S) monitoring endpoints (`/varz`, `/connz`, ...).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct MonitorPlan {
    /// Plain HTTP listener.
    pub http: Option<HostPort>,
    /// HTTPS listener (uses the client `tls` block).
    pub https: Option<HostPort>,
    /// Prefix for every endpoint path.
    pub base_path: String,
}
