//! The WebSocket byte splice: two upgraded connections copied both ways.
//!
//! hyper hands an upgrade over as `Upgraded`, a boxed stream behind a
//! rewind buffer, and splitting it for two directions puts a lock in front
//! of every read and write. Where edge built the stream itself (plain TCP
//! on either side, the common case) the socket is taken back out, with the
//! bytes hyper had already read, and split into owned halves: each chunk
//! then costs a read and a write on the socket and nothing around them.
//! TLS and an embedder's own streams keep hyper's `Upgraded`.

use super::client;
use super::stream::ClientStream;
use bytes::Bytes;
use hyper::upgrade::Upgraded;
use hyper_util::rt::TokioIo;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::TcpStream;

/// After one direction ends, how long the other may still drain.
const CLOSE_GRACE: Duration = Duration::from_secs(2);

/// Bytes read per chunk, each direction.
const CHUNK: usize = 16 * 1024;

/// A stream of a type edge does not take apart.
trait Stream: AsyncRead + AsyncWrite + Send + Unpin {}
impl<T: AsyncRead + AsyncWrite + Send + Unpin> Stream for T {}

/// One upgraded connection: its stream, and what hyper had read from it
/// past the upgrade's head (to be passed on first).
pub(super) struct Side {
    io: Io,
    read: Bytes,
}

enum Io {
    Tcp(TcpStream),
    Other(Box<dyn Stream>),
}

impl Side {
    /// The client's side, upgraded by edge's HTTP/1.1 server.
    pub(super) fn client(upgraded: Upgraded) -> io::Result<Side> {
        match upgraded.downcast::<TokioIo<ClientStream<TcpStream>>>() {
            Ok(parts) => Ok(Side {
                io: Io::Tcp(parts.io.into_inner().into_inner()?),
                read: parts.read_buf,
            }),
            Err(upgraded) => Ok(Side::other(upgraded)),
        }
    }

    /// The upstream's side, upgraded by edge's upstream client.
    pub(super) fn upstream(upgraded: Upgraded) -> Side {
        match upgraded.downcast::<TokioIo<client::Stream>>() {
            Ok(parts) => Side {
                io: match parts.io.into_inner() {
                    client::Stream::Plain(tcp) => Io::Tcp(tcp),
                    tls => Io::Other(Box::new(tls)),
                },
                read: parts.read_buf,
            },
            Err(upgraded) => Side::other(upgraded),
        }
    }

    fn other(upgraded: Upgraded) -> Side {
        Side {
            io: Io::Other(Box::new(TokioIo::new(upgraded))),
            read: Bytes::new(),
        }
    }
}

impl Io {
    fn split(self) -> (ReadHalf, WriteHalf) {
        match self {
            Io::Tcp(tcp) => {
                let (r, w) = tcp.into_split();
                (ReadHalf::Tcp(r), WriteHalf::Tcp(w))
            }
            Io::Other(s) => {
                let (r, w) = tokio::io::split(s);
                (ReadHalf::Other(r), WriteHalf::Other(w))
            }
        }
    }
}

enum ReadHalf {
    Tcp(OwnedReadHalf),
    Other(tokio::io::ReadHalf<Box<dyn Stream>>),
}

impl ReadHalf {
    /// A read took less than it had room for: the socket is empty, and
    /// its next read waits for epoll instead of failing first (see
    /// [`forget_readable`](super::stream::forget_readable)).
    fn drained(&self) {
        if let ReadHalf::Tcp(r) = self {
            super::stream::forget_readable(r.as_ref());
        }
    }
}

enum WriteHalf {
    Tcp(OwnedWriteHalf),
    Other(tokio::io::WriteHalf<Box<dyn Stream>>),
}

impl AsyncRead for ReadHalf {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            ReadHalf::Tcp(r) => Pin::new(r).poll_read(cx, buf),
            ReadHalf::Other(r) => Pin::new(r).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for WriteHalf {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            WriteHalf::Tcp(w) => Pin::new(w).poll_write(cx, buf),
            WriteHalf::Other(w) => Pin::new(w).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            WriteHalf::Tcp(w) => Pin::new(w).poll_flush(cx),
            WriteHalf::Other(w) => Pin::new(w).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            WriteHalf::Tcp(w) => Pin::new(w).poll_shutdown(cx),
            WriteHalf::Other(w) => Pin::new(w).poll_shutdown(cx),
        }
    }
}

/// Copies bytes both ways; when either side closes, the other gets
/// [`CLOSE_GRACE`] to finish, then both close. Returns the bytes moved
/// client->upstream and upstream->client (counted as they pass, so a side
/// cut off after the grace still reports what it moved).
///
/// Each direction runs as a task of its own and this future only waits for
/// them to end: one task for both would poll both sockets whenever either
/// is ready, and a direction run here, beside the other's handle, would
/// poll that handle on every message.
pub(super) async fn pipe(client: Side, upstream: Side) -> (u64, u64) {
    let (cr, cw) = client.io.split();
    let (ur, uw) = upstream.io.split();
    let (sent, received) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    // Readiness is forgotten only where no other thread runs the I/O
    // driver between a read and the forgetting: on a current-thread
    // runtime (edge's workers; an embedder's multi-threaded runtime could
    // set a new event there), for sockets it drives (the client's was
    // accepted here; the pool gives an upgrade only this thread's
    // connections).
    let forget = tokio::runtime::Handle::current().runtime_flavor()
        == tokio::runtime::RuntimeFlavor::CurrentThread;
    let mut up = Aborted(tokio::spawn(pump(
        client.read,
        cr,
        uw,
        Arc::clone(&sent),
        forget,
    )));
    let mut down = Aborted(tokio::spawn(pump(
        upstream.read,
        ur,
        cw,
        Arc::clone(&received),
        forget,
    )));
    tokio::select! {
        _ = &mut up.0 => { let _ = tokio::time::timeout(CLOSE_GRACE, &mut down.0).await; }
        _ = &mut down.0 => { let _ = tokio::time::timeout(CLOSE_GRACE, &mut up.0).await; }
    }
    (
        sent.load(Ordering::Relaxed),
        received.load(Ordering::Relaxed),
    )
}

/// A task stopped when its handle goes (the grace ran out, or the splice
/// itself was dropped).
struct Aborted(tokio::task::JoinHandle<()>);

impl Drop for Aborted {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Writes `first` (read before the upgrade was handed over), then copies
/// `from` to `to` until EOF or an error, counting bytes into `moved`, then
/// shuts `to` down (the half-close reaches the other side). With
/// `forget`, a short read forgets `from`'s readiness: a message then costs
/// a read and a write, with no read that finds nothing (nginx's
/// `rev->ready = 0`).
async fn pump(
    first: Bytes,
    mut from: ReadHalf,
    mut to: WriteHalf,
    moved: Arc<AtomicU64>,
    forget: bool,
) {
    if !first.is_empty() {
        if to.write_all(&first).await.is_err() {
            let _ = to.shutdown().await;
            return;
        }
        moved.fetch_add(first.len() as u64, Ordering::Relaxed);
    }
    let mut buf = vec![0u8; CHUNK];
    loop {
        let n = match from.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        if forget && n < buf.len() {
            from.drained();
        }
        let Some(chunk) = buf.get(..n) else { break };
        if to.write_all(chunk).await.is_err() {
            break;
        }
        moved.fetch_add(n as u64, Ordering::Relaxed);
    }
    let _ = to.shutdown().await;
}
