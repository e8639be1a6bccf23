//! The immutable plan: everything the runtime needs, already validated.
//!
//! Lowering (`config::lower`) builds a [`Plan`] from a tree; the runtime
//! executes it and never looks at config text. A plan is never mutated: a
//! reload lowers the file again and swaps the whole plan.

pub mod auth;
pub mod cluster;
pub mod nats;
pub mod proxy;
mod summary;
pub mod tls;

use std::time::Duration;

pub use auth::{Accounts, AuthPlan, Permissions, Secret, SubjectPermission, User};
pub use cluster::{ClusterPlan, WebsocketPlan};
pub use nats::{Limits, LogPlan, MonitorPlan, NatsPlan};
pub use proxy::ProxyPlan;
pub use tls::TlsPlan;

/// A listening address as written: host (possibly empty for "all") and port.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HostPort {
    /// Host name or IP literal (without brackets); "0.0.0.0" means all IPv4.
    pub host: String,
    /// TCP port; 0 asks the OS for a free port, -1 (nats-server's RANDOM_PORT) too.
    pub port: u16,
}

impl HostPort {
    /// True when two listeners cannot both bind: the same port (not 0, which
    /// asks for a free one) on the same host, or either on every address.
    pub fn overlaps(&self, other: &HostPort) -> bool {
        let all = |h: &str| {
            h.is_empty()
                || h.parse::<std::net::IpAddr>()
                    .is_ok_and(|ip| ip.is_unspecified())
        };
        self.port != 0
            && self.port == other.port
            && (self.host.eq_ignore_ascii_case(&other.host) || all(&self.host) || all(&other.host))
    }
}

impl std::fmt::Display for HostPort {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.host.contains(':') {
            write!(f, "[{}]:{}", self.host, self.port)
        } else {
            write!(f, "{}:{}", self.host, self.port)
        }
    }
}

/// The whole server: which parts run and how.
#[derive(Clone, Debug, PartialEq)]
pub struct Plan {
    /// The NATS server, or `None` when the file only configures proxies.
    pub nats: Option<NatsPlan>,
    /// HTTP(S) monitoring endpoints.
    pub monitor: MonitorPlan,
    /// Log destination and levels.
    pub log: LogPlan,
    /// Process files: pid file and ports file directory.
    pub files: FilesPlan,
    /// Lame duck mode timings.
    pub lame_duck: LameDuck,
    /// HTTP/WebSocket reverse-proxy listeners, in file order.
    pub proxies: Vec<ProxyPlan>,
}

/// Files the process writes for operators.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct FilesPlan {
    /// Where to write the process id.
    pub pid_file: Option<String>,
    /// Directory for the `<exe>_<pid>.ports` file.
    pub ports_file_dir: Option<String>,
}

/// How a lame-duck shutdown drains clients.
#[derive(Clone, Debug, PartialEq)]
pub struct LameDuck {
    /// Time over which clients are closed.
    pub duration: Duration,
    /// Wait before the first client is closed.
    pub grace_period: Duration,
}

impl Default for LameDuck {
    fn default() -> Self {
        LameDuck {
            duration: Duration::from_secs(120),
            grace_period: Duration::from_secs(10),
        }
    }
}

pub use summary::summary;
