//! A client's outbound side: the buffer everyone appends to, and the
//! writer task that flushes it in one `write_all` per wake-up.

use bytes::BytesMut;
use std::collections::HashMap;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use tokio::io::{AsyncWrite, AsyncWriteExt};
use tokio::sync::Notify;

use super::rules::DeliveryRules;
use super::stats::{Activity, ClientMeta, CloseReason, ConnSnapshot, SubSnapshot};
use super::subscription::SubRef;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::time::{SystemTime, UNIX_EPOCH};

/// The half of a client other tasks use: its outbound buffer and flags.
#[derive(Debug)]
pub struct ClientHandle {
    pub(super) cid: u64,
    /// Whether the client takes HMSG (its CONNECT asked for headers).
    pub(super) headers: AtomicBool,
    pub(super) out: Mutex<Outbound>,
    max_pending: usize,
    pub(super) wake_writer: Notify,
    pub(super) kill: Notify,
    /// Its subscriptions by sid.
    pub(super) subs: Mutex<HashMap<bytes::Bytes, SubRef>>,
    /// What its permissions ask of those delivering to it.
    pub(super) rules: DeliveryRules,
    /// Its CONNECT asked for asynchronous INFO (`protocol` 1).
    pub(super) async_info: AtomicBool,
    /// Wakes its reader to check its credentials again (a reload).
    pub(super) reauth: Notify,
    /// The peer's address, for `/connz`.
    pub(super) peer: SocketAddr,
    /// When the connection was accepted.
    pub(super) start: SystemTime,
    /// CONNECT's name/lang/version, for `/connz`.
    pub(super) meta: Mutex<ClientMeta>,
    /// Read-side counters the reader publishes per batch.
    pub(super) activity: Activity,
    /// The account it logged in to (unset: the global one), for
    /// `/accountz` counts.
    pub(super) account: std::sync::OnceLock<std::sync::Arc<str>>,
}

#[derive(Debug, Default)]
pub(super) struct Outbound {
    pub(super) buf: BytesMut,
    pub(super) closed: bool,
    /// Messages queued to this client (counted under this lock, which
    /// queueing holds anyway).
    pub(super) msgs: u64,
    /// Their header and payload bytes.
    pub(super) bytes: u64,
    /// When the last message was queued (nanoseconds since the epoch, the
    /// publisher's batch time): delivery is activity, as in nats-server.
    pub(super) last_delivery: u64,
    /// Why the client closed; the first reason recorded wins.
    pub(super) reason: Option<CloseReason>,
}

/// What became of bytes handed to [`ClientHandle::queue`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Queued {
    /// Appended; `true` when the buffer was empty before (the writer needs
    /// a wake-up).
    Appended(bool),
    /// The client is closed; the bytes were dropped.
    Closed,
}

pub(super) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl ClientHandle {
    pub(super) fn new(cid: u64, max_pending: usize, peer: SocketAddr) -> Self {
        let start = SystemTime::now();
        let activity = Activity::default();
        activity.touch(super::stats::epoch_nanos(start));
        ClientHandle {
            peer,
            start,
            meta: Mutex::new(ClientMeta::default()),
            activity,
            cid,
            headers: AtomicBool::new(false),
            out: Mutex::new(Outbound::default()),
            max_pending,
            wake_writer: Notify::new(),
            kill: Notify::new(),
            subs: Mutex::new(HashMap::new()),
            rules: DeliveryRules::default(),
            async_info: AtomicBool::new(false),
            reauth: Notify::new(),
            account: std::sync::OnceLock::new(),
        }
    }

    /// The account this client logged in to (`$G` until it has).
    pub fn account(&self) -> &str {
        self.account
            .get()
            .map_or(crate::nats::GLOBAL_ACCOUNT, |a| a)
    }

    /// Appends `parts` to the outbound buffer, or closes the client as a
    /// slow consumer when that would exceed `max_pending`.
    pub(super) fn queue(&self, parts: &[&[u8]]) -> Queued {
        self.push(parts, None)
    }

    /// [`queue`](Self::queue) for a message whose headers and payload are
    /// `size` bytes, published at `at` (epoch nanoseconds): counted in the
    /// client's `out_msgs`/`out_bytes` and last activity.
    pub(super) fn queue_msg(&self, parts: &[&[u8]], size: usize, at: u64) -> Queued {
        self.push(parts, Some((size, at)))
    }

    fn push(&self, parts: &[&[u8]], msg: Option<(usize, u64)>) -> Queued {
        let len: usize = parts.iter().map(|p| p.len()).sum();
        let mut out = lock(&self.out);
        if out.closed {
            return Queued::Closed;
        }
        if out.buf.len() + len > self.max_pending {
            // nats-server drops what is pending and closes without a word.
            out.closed = true;
            out.reason
                .get_or_insert(CloseReason::SlowConsumerPendingBytes);
            out.buf.clear();
            drop(out);
            self.wake_writer.notify_one();
            self.kill.notify_one();
            return Queued::Closed;
        }
        let was_empty = out.buf.is_empty();
        for p in parts {
            out.buf.extend_from_slice(p);
        }
        if let Some((size, at)) = msg {
            out.msgs += 1;
            out.bytes += size as u64;
            out.last_delivery = at;
        }
        Queued::Appended(was_empty)
    }

    /// Marks the client closed: the writer flushes what is buffered and
    /// shuts the socket down, and the reader stops.
    pub(super) fn close(&self) {
        lock(&self.out).closed = true;
        self.wake_writer.notify_one();
        self.kill.notify_one();
    }

    /// The INFO announcing lame duck mode, to a client that takes
    /// asynchronous INFO (its CONNECT said `protocol` 1).
    pub(crate) fn send_lame_duck_info(&self, info: &crate::nats::info::ServerInfo) {
        if self.async_info.load(Ordering::Relaxed) {
            self.queue(&[&info.lame_duck_line(self.cid, self.peer.ip())]);
            self.wake_writer.notify_one();
        }
    }

    /// Closes a client a reload left over `max_connections`, telling it
    /// why as nats-server's `maxConnExceeded` does.
    pub(crate) fn close_max_connections(&self) {
        self.queue(&[super::ERR_MAX_CONNS]);
        self.close_for(CloseReason::MaxConnectionsExceeded);
    }

    /// Asks the reader to authenticate this client again under the
    /// current authenticator (after a reload).
    pub(crate) fn reauthenticate(&self) {
        self.reauth.notify_one();
    }

    /// [`close`](Self::close), recording `reason` unless one already is.
    pub(crate) fn close_for(&self, reason: CloseReason) {
        lock(&self.out).reason.get_or_insert(reason);
        self.close();
    }

    /// The client's id.
    pub fn cid(&self) -> u64 {
        self.cid
    }

    /// Why the client closed, once it has.
    pub fn close_reason(&self) -> Option<CloseReason> {
        lock(&self.out).reason
    }

    /// nats-server's `c.last` (epoch nanoseconds): the later of the
    /// reader's stamps (CONNECT, a batch that published or (un)subscribed)
    /// and the last delivery to this client. The ping timer skips a PING
    /// within a ping interval of it, and `/connz` shows it.
    pub(super) fn last_activity(&self) -> u64 {
        let delivered = lock(&self.out).last_delivery;
        self.activity.last.load(Ordering::Relaxed).max(delivered)
    }

    /// The client as `/connz` shows it, copied out under its locks one at
    /// a time (never two at once). `stop` is set for a closing client.
    pub fn snapshot(&self, stop: Option<SystemTime>) -> ConnSnapshot {
        let (pending_bytes, out_msgs, out_bytes, reason, delivered) = {
            let out = lock(&self.out);
            let o = &*out;
            (o.buf.len(), o.msgs, o.bytes, o.reason, o.last_delivery)
        };
        let subs = lock(&self.subs)
            .values()
            .map(|s| {
                let s = &s.0;
                SubSnapshot {
                    subject: String::from_utf8_lossy(&s.subject).into_owned(),
                    queue: s.queue.clone(),
                    sid: String::from_utf8_lossy(&s.sid).into_owned(),
                    msgs: s.delivered.load(Ordering::Relaxed),
                    max: s.max.load(Ordering::Relaxed),
                    cid: self.cid,
                }
            })
            .collect();
        let a = &self.activity;
        let nanos = |n: u64| std::time::Duration::from_nanos(n);
        ConnSnapshot {
            cid: self.cid,
            peer: self.peer,
            start: self.start,
            last_activity: UNIX_EPOCH + nanos(a.last.load(Ordering::Relaxed).max(delivered)),
            stop,
            reason: stop.map(|_| reason.unwrap_or(CloseReason::ClientClosed)),
            rtt: nanos(a.rtt.load(Ordering::Relaxed)),
            pending_bytes,
            in_msgs: a.in_msgs.load(Ordering::Relaxed),
            out_msgs,
            in_bytes: a.in_bytes.load(Ordering::Relaxed),
            out_bytes,
            meta: lock(&self.meta).clone(),
            subs,
        }
    }
}

/// Writes whatever is buffered each time it is woken; on close, flushes
/// the rest and shuts the socket down.
/// `deadline` gives the write deadline in force (a reload may change it).
pub(super) async fn write_loop<W: AsyncWrite + Unpin>(
    handle: Arc<ClientHandle>,
    mut w: W,
    deadline: impl Fn() -> Duration,
) {
    loop {
        let (chunk, closed) = {
            let mut out = lock(&handle.out);
            (out.buf.split().freeze(), out.closed)
        };
        if !chunk.is_empty() {
            match tokio::time::timeout(deadline(), w.write_all(&chunk)).await {
                Ok(Ok(())) => continue,
                Ok(Err(_)) => {
                    handle.close_for(CloseReason::WriteError);
                    break;
                }
                Err(_) => {
                    handle.close_for(CloseReason::SlowConsumerWriteDeadline);
                    break;
                }
            }
        }
        if closed {
            break;
        }
        handle.wake_writer.notified().await;
    }
    let _ = w.shutdown().await;
}
