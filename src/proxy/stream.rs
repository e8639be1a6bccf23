//! The client connection's byte stream as hyper sees it: it records when
//! bytes last moved (the route's `timeout`), follows the HTTP/1 framing of
//! what the client sends ([`FramingWatch`]), and parks an idle keep-alive
//! connection.
//!
//! Parking is nginx's way with idle keep-alive connections: they hold no
//! buffers. hyper allocates a read buffer and a write buffer (8 KiB each)
//! per connection and keeps both until the connection closes, so 10,000
//! idle clients cost ~150 MiB. Once a connection is idle (every request
//! head seen has been answered, the framing watch is between messages,
//! hyper has flushed everything and asks to read with nothing to read),
//! this stream tells hyper the client closed: hyper ends its connection
//! gracefully (an EOF between requests is a clean close), drops its
//! buffers, and the stream is handed back through its [`ParkSlot`]
//! instead of being shut down. The connection then waits in its worker's
//! lot (`super::lot`: no buffer, no task) for the socket to be readable,
//! and the next request gets a new hyper connection, carrying the framing
//! watch over so request numbers go on.
//!
//! Parking costs a new hyper connection and new buffers per request, so
//! while a listener has at most [`KEEP_BUFFERED`] connections open they
//! keep theirs (at most 1 MiB in all); past that, every idle one parks.
//!
//! The same stream times the wait for a request head ([`HeadWait`]), in
//! place of hyper's `header_read_timeout`, which arms a new timer for
//! every request.

use super::drain::Drain;
use super::framing::{FramedTwice, FramingWatch};
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::Sleep;

/// Open connections up to which an idle one keeps hyper's buffers rather
/// than parking: 64 x 16 KiB is 1 MiB, and busy keep-alive clients are
/// then served without a new connection state per request.
pub(super) const KEEP_BUFFERED: usize = 64;

/// Idle tracking for `timeout`: the last time bytes moved, and the
/// allowed idle time (set by the route of the latest request; 0 = none).
pub(super) struct Idle {
    /// False when no route sets `timeout`: nothing reads the clock then.
    pub(super) enabled: bool,
    start: Instant,
    last_ms: AtomicU64,
    pub(super) timeout_ms: AtomicU64,
}

impl Idle {
    /// Tracking that reads the clock only when `enabled`.
    pub(super) fn new(enabled: bool) -> Self {
        Idle {
            enabled,
            start: Instant::now(),
            last_ms: AtomicU64::new(0),
            timeout_ms: AtomicU64::new(0),
        }
    }

    /// Bytes moved now.
    pub(super) fn touch(&self) {
        if !self.enabled {
            return;
        }
        let now = u64::try_from(self.start.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.last_ms.store(now, Ordering::Relaxed);
    }

    /// Completes once the connection has been idle longer than allowed.
    pub(super) async fn expired(&self) {
        let sleep = tokio::time::sleep(Duration::ZERO);
        tokio::pin!(sleep);
        loop {
            // Without a timeout yet, look again later: a request may set one.
            let at = self
                .deadline()
                .unwrap_or_else(|| tokio::time::Instant::now() + Duration::from_millis(250));
            if tokio::time::Instant::now() >= at {
                return;
            }
            sleep.as_mut().reset(at);
            sleep.as_mut().await;
        }
    }

    /// When the connection will have been idle longer than allowed, as it
    /// stands (`None` without a timeout).
    pub(super) fn deadline(&self) -> Option<tokio::time::Instant> {
        let timeout = self.timeout_ms.load(Ordering::Relaxed);
        if !self.enabled || timeout == 0 {
            return None;
        }
        let at = self.last_ms.load(Ordering::Relaxed).saturating_add(timeout);
        Some(tokio::time::Instant::from_std(self.start) + Duration::from_millis(at))
    }
}

/// What a client connection's stream and its requests share, in one
/// allocation (each open connection has one): the idle clock, which
/// request came framed twice, and how many requests hyper has answered.
pub struct Tracking {
    pub(super) idle: Idle,
    pub(super) framed_twice: FramedTwice,
    answered: AtomicU64,
}

impl Tracking {
    /// Tracking whose idle clock runs only when `watch_idle`.
    pub(super) fn new(watch_idle: bool) -> Self {
        Tracking {
            idle: Idle::new(watch_idle),
            framed_twice: FramedTwice::default(),
            answered: AtomicU64::new(0),
        }
    }

    /// The guard a response body holds: hyper drops the body after its
    /// last byte went into hyper's write buffer, before flushing it.
    pub(super) fn answer(self: &Arc<Self>) -> Answered {
        Answered(Arc::clone(self))
    }

    fn answered(&self) -> u64 {
        self.answered.load(Ordering::Acquire)
    }
}

/// Counts one answered request when dropped.
pub struct Answered(Arc<Tracking>);

impl Drop for Answered {
    fn drop(&mut self) {
        self.0.answered.fetch_add(1, Ordering::Release);
    }
}

/// A parked connection: its stream, and the framing watch that goes on
/// counting its requests.
pub(super) struct Parked<S> {
    pub(super) stream: S,
    pub(super) framing: FramingWatch,
}

/// Where a stream that parked itself is handed back when hyper drops it.
pub(super) type ParkSlot<S> = Arc<Mutex<Option<Parked<S>>>>;

/// The limit on waiting for a request head: from the moment every
/// request so far is answered (or the connection opened) until the next
/// head is complete, as hyper's `header_read_timeout` and nginx's
/// `client_header_timeout` count. One timer per connection: it is moved
/// on only when it fires before the wait it guards has lasted the limit.
struct HeadWait {
    limit: Duration,
    /// Heads seen when the current wait began, and when it began.
    began: Option<(u64, tokio::time::Instant)>,
    timer: Option<Pin<Box<Sleep>>>,
    /// The waker the timer holds.
    waker: Option<Waker>,
    /// The wait [`HeadWait::nudge`] last answered for.
    nudged: Option<u64>,
}

impl HeadWait {
    fn new(limit: Duration) -> Self {
        HeadWait {
            limit,
            began: None,
            timer: None,
            waker: None,
            nudged: None,
        }
    }

    /// Whether a read should be provoked for the wait for head number
    /// `heads + 1`: true once per wait, unless a read already armed it.
    fn nudge(&mut self, heads: u64) -> bool {
        let armed = matches!(self.began, Some((seen, _)) if seen == heads);
        let nudged = self.nudged == Some(heads);
        self.nudged = Some(heads);
        !armed && !nudged
    }

    /// Called when a read finds nothing while the connection waits for
    /// head number `heads + 1`: true once that wait has lasted the limit
    /// (else the timer will wake the task in time). hyper reads many times
    /// per request, so a read in the same wait by the same task whose
    /// timer has not fired costs no timer poll.
    fn expired(&mut self, heads: u64, cx: &mut Context<'_>) -> bool {
        let since = match self.began {
            Some((seen, since)) if seen == heads => {
                let armed = self.timer.as_ref().is_some_and(|t| !t.is_elapsed());
                if armed && self.waker.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
                    return false;
                }
                since
            }
            _ => {
                let now = tokio::time::Instant::now();
                self.began = Some((heads, now));
                now
            }
        };
        let deadline = since + self.limit;
        let timer = self
            .timer
            .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(deadline)));
        loop {
            if timer.as_mut().poll(cx).is_pending() {
                if !self.waker.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
                    self.waker = Some(cx.waker().clone());
                }
                return false;
            }
            if tokio::time::Instant::now() >= deadline {
                return true;
            }
            // Armed for an earlier wait: on to this one's deadline.
            timer.as_mut().reset(deadline);
        }
    }
}

/// Whether, and how, a stream may park its connection.
struct Parking<S> {
    slot: ParkSlot<S>,
    /// The listener's connection count (see [`KEEP_BUFFERED`]).
    drain: Arc<Drain>,
    /// hyper flushed with everything answered, and wrote nothing since.
    flushed_idle: bool,
    /// hyper's last read found nothing (a flush may have to wake it).
    read_waiting: bool,
    /// This stream told hyper the client closed; hand the stream back.
    parked: bool,
    head_wait: HeadWait,
}

/// The client stream given to hyper (see the module comment).
pub(super) struct ClientStream<S> {
    /// `None` only while being handed back.
    inner: Option<S>,
    tracking: Arc<Tracking>,
    framing: FramingWatch,
    /// `None`: never parks (HTTP/2, embedders).
    parking: Option<Parking<S>>,
    /// Bytes read from the client before hyper took over (by the wire
    /// lane), given to hyper first.
    prefix: bytes::Bytes,
}

impl<S> ClientStream<S> {
    /// A stream that never parks.
    pub(super) fn new(inner: S, tracking: Arc<Tracking>, framing: FramingWatch) -> Self {
        ClientStream {
            inner: Some(inner),
            tracking,
            framing,
            parking: None,
            prefix: bytes::Bytes::new(),
        }
    }

    /// Gives hyper `prefix` before anything the socket holds.
    pub(super) fn replaying(mut self, prefix: bytes::Bytes) -> Self {
        self.prefix = prefix;
        self
    }

    /// Lets the stream park its connection once idle, into `slot`, while
    /// `drain` counts more than [`KEEP_BUFFERED`] open connections. A
    /// wait for a request head longer than `head_limit` fails the read.
    pub(super) fn parking(
        mut self,
        slot: &ParkSlot<S>,
        drain: &Arc<Drain>,
        head_limit: Duration,
    ) -> Self {
        self.parking = Some(Parking {
            slot: Arc::clone(slot),
            drain: Arc::clone(drain),
            flushed_idle: false,
            read_waiting: false,
            parked: false,
            head_wait: HeadWait::new(head_limit),
        });
        self
    }

    /// Every request head seen is answered and no message has begun.
    fn all_answered(&self) -> bool {
        self.parking.is_some()
            && self.framing.between_messages()
            && self.tracking.answered() == self.framing.heads()
    }

    /// The stream itself, for a connection hyper has handed over (an
    /// upgrade): nothing is parked, tracked or watched on it any more.
    pub(super) fn into_inner(mut self) -> io::Result<S> {
        self.parking = None;
        self.inner
            .take()
            .ok_or_else(|| io::Error::other("client stream handed back"))
    }

    fn inner(&mut self) -> io::Result<&mut S> {
        self.inner
            .as_mut()
            .ok_or_else(|| io::Error::other("client stream handed back"))
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for ClientStream<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let this = &mut *self;
        if !this.prefix.is_empty() {
            let n = this.prefix.len().min(buf.remaining());
            let given = this.prefix.split_to(n);
            buf.put_slice(&given);
            this.tracking.idle.touch();
            this.framing.feed(&given, &this.tracking.framed_twice);
            return Poll::Ready(Ok(()));
        }
        let polled = Pin::new(this.inner()?).poll_read(cx, buf);
        match polled {
            Poll::Ready(Ok(())) if buf.filled().len() > before => {
                this.tracking.idle.touch();
                this.framing
                    .feed(&buf.filled()[before..], &this.tracking.framed_twice);
            }
            Poll::Pending => {
                let idle = this.all_answered();
                let (heads, in_head) = (this.framing.heads(), this.framing.in_head());
                if let Some(p) = &mut this.parking {
                    if idle && p.flushed_idle && p.drain.open_connections() > KEEP_BUFFERED {
                        // Nothing to read, nothing owed: hyper closes its
                        // side cleanly and the stream comes back.
                        p.parked = true;
                        return Poll::Ready(Ok(()));
                    }
                    p.read_waiting = true;
                    let waiting_for_head = in_head && this.tracking.answered() == heads;
                    if waiting_for_head && p.head_wait.expired(heads, cx) {
                        return Poll::Ready(Err(io::Error::new(
                            io::ErrorKind::TimedOut,
                            "no complete request head in time",
                        )));
                    }
                }
            }
            _ => {}
        }
        polled
    }
}

impl<S: AsyncWrite + Unpin> ClientStream<S> {
    /// Bookkeeping after a write: output moved, so nothing is flushed.
    fn wrote(&mut self, polled: &Poll<io::Result<usize>>) {
        if matches!(polled, Poll::Ready(Ok(n)) if *n > 0) {
            self.tracking.idle.touch();
            if let Some(p) = &mut self.parking {
                p.flushed_idle = false;
            }
        }
    }
}

impl<S: AsyncWrite + Readable + Unpin> AsyncWrite for ClientStream<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let polled = Pin::new(self.inner()?).poll_write(cx, buf);
        self.wrote(&polled);
        polled
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let polled = Pin::new(self.inner()?).poll_write_vectored(cx, bufs);
        self.wrote(&polled);
        polled
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.as_ref().is_some_and(S::is_write_vectored)
    }

    /// hyper calls this only once its own write buffer is empty.
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let polled = Pin::new(self.inner()?).poll_flush(cx);
        if matches!(polled, Poll::Ready(Ok(()))) && self.all_answered() {
            let heads = self.framing.heads();
            if let Some(p) = &mut self.parking {
                p.flushed_idle = true;
                // The wait for the next head starts with this answer, but
                // hyper may not read again before the client writes: one
                // wake per wait lets its read arm the timer. (Arming here
                // would register a timer for every connection about to
                // close after its answer, and each registration on an
                // empty timer wheel writes the runtime's eventfd.)
                if p.head_wait.nudge(heads) {
                    cx.waker().wake_by_ref();
                }
                // hyper is waiting on a read that can now park. Only then:
                // a wake that does not park would poll the connection
                // again, flush again, wake again: a busy loop.
                if std::mem::take(&mut p.read_waiting) && p.drain.open_connections() > KEEP_BUFFERED
                {
                    cx.waker().wake_by_ref();
                }
            }
        }
        polled
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if self.parking.as_ref().is_some_and(|p| p.parked) {
            // The close hyper saw was ours: the socket stays open.
            return Poll::Ready(Ok(()));
        }
        if !S::SHUTDOWN_WRITES {
            // hyper shuts down only to close, and drops the stream next:
            // the close sends the FIN (a `shutdown` would be one more
            // system call per connection).
            return Poll::Ready(Ok(()));
        }
        Pin::new(self.inner()?).poll_shutdown(cx)
    }
}

impl<S> Drop for ClientStream<S> {
    fn drop(&mut self) {
        let Some(p) = self.parking.take() else {
            return;
        };
        if !p.parked {
            return;
        }
        if let Some(stream) = self.inner.take() {
            let framing = std::mem::take(&mut self.framing);
            if let Ok(mut slot) = p.slot.lock() {
                *slot = Some(Parked { stream, framing });
            }
        }
    }
}

/// Waits, holding no buffer, until a parked stream has bytes to read (or
/// the peer closed).
pub(super) trait Readable {
    /// Whether closing needs a write first (TLS's close_notify), or the
    /// socket's close says it all (plain TCP).
    const SHUTDOWN_WRITES: bool;

    /// Ready when the socket under the stream is readable. A poll, not a
    /// future: a parked connection's task would keep the future's state.
    fn poll_read_ready(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>>;

    /// A read just took less than it had room for: the socket is empty,
    /// so the next read waits for the socket's next readiness event
    /// instead of first trying, and failing, to read (nginx's
    /// `rev->ready = 0`). No-op where a short read says nothing about the
    /// socket (TLS buffers records).
    fn drained(&self) {}
}

/// Forgets that `tcp` was readable: its next read waits for epoll's next
/// event (tokio's readiness is edge-triggered, and no event can have been
/// processed since the caller's read in the same poll).
pub(super) fn forget_readable(tcp: &tokio::net::TcpStream) {
    let _ = tcp.try_io(tokio::io::Interest::READABLE, || {
        Err::<(), _>(io::ErrorKind::WouldBlock.into())
    });
}

impl Readable for tokio::net::TcpStream {
    const SHUTDOWN_WRITES: bool = false;

    fn poll_read_ready(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        tokio::net::TcpStream::poll_read_ready(self, cx)
    }

    fn drained(&self) {
        forget_readable(self);
    }
}

impl Readable for tokio_rustls::server::TlsStream<tokio::net::TcpStream> {
    const SHUTDOWN_WRITES: bool = true;

    fn poll_read_ready(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        // A parked TLS stream holds no plaintext (its read found none).
        self.get_ref().0.poll_read_ready(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn expired(wait: &mut HeadWait, heads: u64) -> bool {
        std::future::poll_fn(|cx| Poll::Ready(wait.expired(heads, cx))).await
    }

    /// Each wait for a head is timed from its own start, with the one
    /// timer moved on when it fires for an earlier wait. (Real time, a 1 s
    /// limit and 300 ms margins: tokio's paused clock needs its
    /// `test-util` feature, which would reach the server binary too.)
    #[tokio::test]
    async fn head_wait_times_each_wait_from_its_start() {
        let ms = Duration::from_millis;
        let mut wait = HeadWait::new(ms(1000));
        assert!(!expired(&mut wait, 0).await);
        tokio::time::sleep(ms(700)).await;
        // Head 1 came and was answered at 0.7 s: the next wait starts.
        assert!(!expired(&mut wait, 1).await);
        // At 1.4 s the timer (armed for 1 s) has fired for the first
        // wait; the second is 0.7 s old.
        tokio::time::sleep(ms(700)).await;
        assert!(!expired(&mut wait, 1).await, "0.7 s into the wait");
        tokio::time::sleep(ms(600)).await;
        assert!(expired(&mut wait, 1).await, "1.3 s into the wait");
    }
}
