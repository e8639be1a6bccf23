//! node-http-proxy's `open`/`close` events (a WebSocket spliced, then
//! ended) published as JSON on the route's `events_subject`, through the
//! NATS listener of the same plan. The proxy publishes as an ordinary
//! NATS client of that listener over loopback, so it needs nothing from
//! the NATS runtime's internals; events are best effort (dropped, and
//! logged, when NATS cannot take them), and never slow a request down.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::tcp::OwnedWriteHalf;
use tokio::net::TcpStream;
use tokio::sync::{mpsc, Mutex};

/// Events waiting to be published before new ones are dropped.
const QUEUE: usize = 1024;
/// How long connecting to NATS (up to its INFO) may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// A handle to the publishing task; cheap to clone.
#[derive(Clone, Debug)]
pub struct Events {
    tx: mpsc::Sender<(String, String)>,
}

impl Events {
    /// Starts the publisher for the NATS listener bound at `nats` (an
    /// unspecified address is reached over loopback).
    pub fn start(nats: SocketAddr) -> Self {
        let addr = match nats.ip() {
            IpAddr::V4(ip) if ip.is_unspecified() => {
                SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), nats.port())
            }
            IpAddr::V6(ip) if ip.is_unspecified() => {
                SocketAddr::new(IpAddr::V6(Ipv6Addr::LOCALHOST), nats.port())
            }
            _ => nats,
        };
        let (tx, rx) = mpsc::channel(QUEUE);
        tokio::spawn(publisher(addr, rx));
        Events { tx }
    }

    /// Queues `payload` for `subject`; dropped (and logged) when the
    /// queue is full.
    pub fn publish(&self, subject: &str, payload: String) {
        if self.tx.try_send((subject.to_owned(), payload)).is_err() {
            crate::log_warn!("Proxy event on {subject} dropped (NATS publisher behind)");
        }
    }
}

/// One NATS connection: the writer, and whether the reader saw it close.
struct Link {
    writer: Arc<Mutex<OwnedWriteHalf>>,
    closed: Arc<AtomicBool>,
}

async fn publisher(addr: SocketAddr, mut rx: mpsc::Receiver<(String, String)>) {
    let mut link: Option<Link> = None;
    while let Some((subject, payload)) = rx.recv().await {
        let msg = format!("PUB {subject} {}\r\n{payload}\r\n", payload.len());
        let mut sent = false;
        for _ in 0..2 {
            if !matches!(&link, Some(l) if !l.closed.load(Ordering::Relaxed)) {
                link = match tokio::time::timeout(CONNECT_TIMEOUT, connect(addr)).await {
                    Ok(Ok(l)) => Some(l),
                    _ => None,
                };
            }
            let Some(l) = &link else { break };
            if l.writer
                .lock()
                .await
                .write_all(msg.as_bytes())
                .await
                .is_ok()
            {
                sent = true;
                break;
            }
            link = None;
        }
        if !sent {
            crate::log_warn!("Proxy event on {subject} dropped (cannot reach NATS at {addr})");
        }
    }
}

/// Connects, reads INFO, sends CONNECT, and answers the server's PINGs.
async fn connect(addr: SocketAddr) -> std::io::Result<Link> {
    let (read, write) = TcpStream::connect(addr).await?.into_split();
    let mut lines = BufReader::new(read).lines();
    match lines.next_line().await? {
        Some(info) if info.starts_with("INFO ") => {}
        _ => return Err(std::io::Error::other("no INFO from NATS")),
    }
    let writer = Arc::new(Mutex::new(write));
    writer
        .lock()
        .await
        .write_all(
            b"CONNECT {\"verbose\":false,\"pedantic\":false,\"name\":\"edge proxy events\"}\r\n",
        )
        .await?;
    let closed = Arc::new(AtomicBool::new(false));
    let (w, c) = (Arc::clone(&writer), Arc::clone(&closed));
    tokio::spawn(async move {
        while let Ok(Some(line)) = lines.next_line().await {
            if line.starts_with("PING") && w.lock().await.write_all(b"PONG\r\n").await.is_err() {
                break;
            }
        }
        c.store(true, Ordering::Relaxed);
    });
    Ok(Link { writer, closed })
}

/// A JSON string literal (quotes, backslashes and control characters
/// escaped).
pub fn json_string(s: &str) -> String {
    serde_json::Value::String(s.to_owned()).to_string()
}
