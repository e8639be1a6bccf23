//! Lame duck mode for a proxy listener (SIGUSR2, with the NATS
//! listener's): the workers stop accepting, idle keep-alive connections
//! are closed, a connection with a request in flight gets its response
//! (with `Connection: close`, hyper's graceful shutdown) and is closed
//! after it; spliced WebSockets are counted until they close. Then the
//! listener reports itself drained (the process waits at most the lame
//! duck duration for that, as nginx's `worker_shutdown_timeout`).

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use tokio::sync::Notify;

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
    pub async fn started(&self) {
        let notified = self.start.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        if self.is_started() {
            return;
        }
        notified.await;
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
