//! `syslog` and `remote_syslog`, written as nats-server writes them through
//! Go's `log/syslog`, so collectors parsing nats-server's messages parse
//! edge's:
//!
//! - local (`syslog: true`): the first of `/dev/log`, `/var/run/syslog`,
//!   `/var/run/log` that accepts a datagram (then a stream) connection;
//!   facility daemon; `<29>Nov 22 10:00:00 edge[PID]: message`.
//! - remote (`udp://host:port`, `tcp://host:port`, `unix:///path`):
//!   facility kern (nats-server dials with `LOG_DEBUG`);
//!   `<5>2026-11-22T10:00:00Z myhost edge[PID]: message` (the local socket
//!   address where the host has no name, as Go); `unix://` uses the
//!   local form.
//!
//! Severity: notice for INF and TRC lines, warning, err, debug. The
//! message carries no `[INF]` tag: the priority says it. A failed write
//! reconnects and tries once more, as Go's `writeAndRetry`.

use super::Level;
use std::io::Write;
use std::net::{TcpStream, UdpSocket};
use std::os::unix::net::{UnixDatagram, UnixStream};
use std::time::Duration;

const LOCAL_PATHS: [&str; 3] = ["/dev/log", "/var/run/syslog", "/var/run/log"];
/// `LOG_DAEMON`.
const FACILITY_DAEMON: u8 = 3 << 3;
/// `LOG_KERN` (nats-server's remote writer).
const FACILITY_KERN: u8 = 0;
/// A write never holds the log longer than this.
const WRITE_TIMEOUT: Duration = Duration::from_secs(1);

/// Where messages are sent.
#[derive(Clone, Debug)]
enum Target {
    Local,
    Udp(String),
    Tcp(String),
    Unix(String),
}

enum Conn {
    Datagram(UnixDatagram),
    Stream(UnixStream),
    Udp(UdpSocket),
    Tcp(TcpStream),
}

impl Conn {
    fn send(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        match self {
            Conn::Datagram(s) => s.send(bytes).map(drop),
            Conn::Udp(s) => s.send(bytes).map(drop),
            Conn::Stream(s) => s.write_all(bytes),
            Conn::Tcp(s) => s.write_all(bytes),
        }
    }
}

/// A connected syslog writer.
pub struct Syslog {
    target: Target,
    conn: Option<Conn>,
    /// The remote form's hostname field.
    hostname: String,
    /// The program's name (nats-server: `os.Args[0]`'s last element).
    tag: String,
    facility: u8,
}

impl Syslog {
    /// The local syslog daemon.
    pub fn local() -> Result<Syslog, String> {
        Syslog::connect(Target::Local, FACILITY_DAEMON)
    }

    /// `udp://host:port`, `tcp://host:port` or `unix:///path`.
    pub fn remote(url: &str) -> Result<Syslog, String> {
        let u = url::Url::parse(url).map_err(|e| e.to_string())?;
        let host_port = || match (u.host_str(), u.port()) {
            (Some(h), Some(p)) => Ok(format!("{h}:{p}")),
            _ => Err(format!("{url}: missing host or port")),
        };
        let target = match u.scheme() {
            "udp" => Target::Udp(host_port()?),
            "tcp" => Target::Tcp(host_port()?),
            "unix" => Target::Unix(u.path().to_string()),
            other => return Err(format!("error invalid network type: {other:?}")),
        };
        Syslog::connect(target, FACILITY_KERN)
    }

    fn connect(target: Target, facility: u8) -> Result<Syslog, String> {
        let (conn, local_addr) = dial(&target)?;
        let hostname = host_name().unwrap_or(local_addr);
        Ok(Syslog {
            target,
            conn: Some(conn),
            hostname,
            tag: program_name(),
            facility,
        })
    }

    /// Sends one message at `level`'s severity.
    pub fn send(&mut self, level: Level, message: std::fmt::Arguments<'_>) {
        let severity = match level {
            Level::Error => 3,
            Level::Warn => 4,
            Level::Info | Level::Trace => 5,
            Level::Debug => 7,
        };
        let mut msg = message.to_string();
        if !msg.ends_with('\n') {
            msg.push('\n');
        }
        let pri = self.facility | severity;
        let pid = std::process::id();
        let now = chrono::Local::now();
        let line = match self.target {
            Target::Local | Target::Unix(_) => {
                format!(
                    "<{pri}>{} {}[{pid}]: {msg}",
                    now.format("%b %e %H:%M:%S"),
                    self.tag
                )
            }
            Target::Udp(_) | Target::Tcp(_) => format!(
                "<{pri}>{} {} {}[{pid}]: {msg}",
                now.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                self.hostname,
                self.tag
            ),
        };
        if let Some(conn) = &mut self.conn {
            if conn.send(line.as_bytes()).is_ok() {
                return;
            }
        }
        // Once more on a new connection; a message that still cannot be
        // sent is dropped (the log must not stop the server).
        self.conn = None;
        if let Ok((mut conn, _)) = dial(&self.target) {
            let _ = conn.send(line.as_bytes());
            self.conn = Some(conn);
        }
    }
}

/// The machine's name, as Go's `os.Hostname` reads it on Linux.
fn host_name() -> Option<String> {
    let name = std::fs::read_to_string("/proc/sys/kernel/hostname").ok()?;
    let name = name.trim();
    (!name.is_empty()).then(|| name.to_string())
}

/// Connects to `target`; the connection and its local address (the
/// hostname field when the machine has no name).
fn dial(target: &Target) -> Result<(Conn, String), String> {
    match target {
        Target::Local => {
            for path in LOCAL_PATHS {
                if let Ok(s) = UnixDatagram::unbound().and_then(|s| s.connect(path).map(|()| s)) {
                    return Ok((Conn::Datagram(s), "localhost".into()));
                }
            }
            for path in LOCAL_PATHS {
                if let Ok(s) = UnixStream::connect(path) {
                    let _ = s.set_write_timeout(Some(WRITE_TIMEOUT));
                    return Ok((Conn::Stream(s), "localhost".into()));
                }
            }
            Err("Unix syslog delivery error".into())
        }
        Target::Udp(addr) => {
            let any = if addr.starts_with('[') {
                "[::]:0"
            } else {
                "0.0.0.0:0"
            };
            let s = UdpSocket::bind(any).map_err(|e| e.to_string())?;
            s.connect(addr)
                .map_err(|e| format!("dial udp {addr}: {e}"))?;
            let local = s.local_addr().map_err(|e| e.to_string())?;
            Ok((Conn::Udp(s), local.to_string()))
        }
        Target::Tcp(addr) => {
            let s = TcpStream::connect(addr).map_err(|e| format!("dial tcp {addr}: {e}"))?;
            let _ = s.set_write_timeout(Some(WRITE_TIMEOUT));
            let local = s.local_addr().map_err(|e| e.to_string())?;
            Ok((Conn::Tcp(s), local.to_string()))
        }
        Target::Unix(path) => {
            let s = UnixStream::connect(path).map_err(|e| format!("dial unix {path}: {e}"))?;
            let _ = s.set_write_timeout(Some(WRITE_TIMEOUT));
            Ok((Conn::Stream(s), "localhost".into()))
        }
    }
}

/// The last element of the program's path, as nats-server's tag.
fn program_name() -> String {
    std::env::args_os()
        .next()
        .and_then(|a| {
            std::path::Path::new(&a)
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
        })
        .unwrap_or_else(|| "edge".into())
}
