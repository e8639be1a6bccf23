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
use super::subscription::SubRef;

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
}

#[derive(Debug, Default)]
pub(super) struct Outbound {
    pub(super) buf: BytesMut,
    pub(super) closed: bool,
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
    pub(super) fn new(cid: u64, max_pending: usize) -> Self {
        ClientHandle {
            cid,
            headers: AtomicBool::new(false),
            out: Mutex::new(Outbound::default()),
            max_pending,
            wake_writer: Notify::new(),
            kill: Notify::new(),
            subs: Mutex::new(HashMap::new()),
            rules: DeliveryRules::default(),
        }
    }

    /// Appends `parts` to the outbound buffer, or closes the client as a
    /// slow consumer when that would exceed `max_pending`.
    pub(super) fn queue(&self, parts: &[&[u8]]) -> Queued {
        let len: usize = parts.iter().map(|p| p.len()).sum();
        let mut out = lock(&self.out);
        if out.closed {
            return Queued::Closed;
        }
        if out.buf.len() + len > self.max_pending {
            // nats-server drops what is pending and closes without a word.
            out.closed = true;
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
        Queued::Appended(was_empty)
    }

    /// Marks the client closed: the writer flushes what is buffered and
    /// shuts the socket down, and the reader stops.
    pub(super) fn close(&self) {
        lock(&self.out).closed = true;
        self.wake_writer.notify_one();
        self.kill.notify_one();
    }
}

/// Writes whatever is buffered each time it is woken; on close, flushes
/// the rest and shuts the socket down.
pub(super) async fn write_loop<W: AsyncWrite + Unpin>(
    handle: Arc<ClientHandle>,
    mut w: W,
    deadline: Duration,
) {
    loop {
        let (chunk, closed) = {
            let mut out = lock(&handle.out);
            (out.buf.split().freeze(), out.closed)
        };
        if !chunk.is_empty() {
            match tokio::time::timeout(deadline, w.write_all(&chunk)).await {
                Ok(Ok(())) => continue,
                _ => {
                    handle.close();
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
