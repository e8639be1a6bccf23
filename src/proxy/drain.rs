//! Lame duck mode for a proxy listener (SIGUSR2, with the NATS
//! listener's): the workers stop accepting, idle keep-alive connections
//! are closed, a connection with a request in flight gets its response
//! (with `Connection: close`, hyper's graceful shutdown) and is closed
//! after it; spliced WebSockets are counted until they close. Then the
//! listener reports itself drained (the process waits at most the lame
//! duck duration for that, as nginx's `worker_shutdown_timeout`).

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use tokio::sync::{futures::Notified, Notify};

/// One listener's drain state, shared by its workers and connections.
#[derive(Debug, Default)]
pub struct Drain {
    started: AtomicBool,
    start: Notify,
    open: AtomicUsize,
    closed: Notify,
}

impl Drain {
    /// Starts draining: accept loops stop, connections shut down
    /// gracefully.
    pub fn start(&self) {
        self.started.store(true, Ordering::SeqCst);
        self.start.notify_waiters();
    }

    /// Whether [`start`](Self::start) was called.
    pub fn is_started(&self) -> bool {
        self.started.load(Ordering::SeqCst)
    }

    /// Completes once draining has started.
    pub fn started(&self) -> Started<'_> {
        let mut notified = Box::pin(self.start.notified());
        // Registered now, so a start between here and the first poll is
        // not missed.
        notified.as_mut().enable();
        Started {
            drain: self,
            notified,
            waker: None,
        }
    }

    /// Counts a connection until the returned guard is dropped.
    pub fn track(self: &Arc<Self>) -> Open {
        self.open.fetch_add(1, Ordering::SeqCst);
        Open(Arc::clone(self))
    }

    /// How many connections are open now.
    pub fn open_connections(&self) -> usize {
        self.open.load(Ordering::Relaxed)
    }

    /// Completes once no tracked connection is left.
    pub async fn finished(&self) {
        loop {
            let notified = self.closed.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if self.open.load(Ordering::SeqCst) == 0 {
                return;
            }
            notified.await;
        }
    }
}

/// The future of [`Drain::started`]. A connection polls it with every
/// poll of its own, so `Notify` (which takes a lock per poll) is asked
/// again only when the task's waker changed.
pub struct Started<'a> {
    drain: &'a Drain,
    notified: Pin<Box<Notified<'a>>>,
    /// The waker `notified` holds.
    waker: Option<Waker>,
}

impl Future for Started<'_> {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        // `start` sets the flag before it wakes anyone.
        if self.drain.is_started() {
            return Poll::Ready(());
        }
        if self.waker.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
            return Poll::Pending;
        }
        if self.notified.as_mut().poll(cx).is_ready() {
            return Poll::Ready(());
        }
        self.waker = Some(cx.waker().clone());
        Poll::Pending
    }
}

/// A tracked connection (see [`Drain::track`]).
#[derive(Debug)]
pub struct Open(Arc<Drain>);

impl Drop for Open {
    fn drop(&mut self) {
        if self.0.open.fetch_sub(1, Ordering::SeqCst) == 1 {
            self.0.closed.notify_waiters();
        }
    }
}
