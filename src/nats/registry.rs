//! Every live connection, the most recently closed ones, and server-wide
//! traffic totals: what the monitoring endpoints read.
//!
//! Connections register once when accepted and once when closed; the
//! totals are added once per read batch by each reader, never per message.

use super::client::{ClientHandle, ConnSnapshot};
use std::collections::{BTreeMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::SystemTime;

/// How many closed connections are kept, as nats-server's
/// `DEFAULT_CLOSED_CLIENTS`.
pub const CLOSED_KEPT: usize = 10_000;

/// Server-wide counters `/varz` reports.
#[derive(Debug, Default)]
pub struct Totals {
    /// Connections ever accepted (those refused by `max_connections` too).
    pub total_connections: AtomicU64,
    /// Messages published by clients.
    pub in_msgs: AtomicU64,
    /// Their header and payload bytes.
    pub in_bytes: AtomicU64,
    /// Messages delivered to clients.
    pub out_msgs: AtomicU64,
    /// Their header and payload bytes.
    pub out_bytes: AtomicU64,
    /// Clients closed as slow consumers.
    pub slow_consumers: AtomicU64,
}

/// Live and recently closed connections, and the totals.
#[derive(Debug)]
pub struct Registry {
    open: Mutex<BTreeMap<u64, Arc<ClientHandle>>>,
    closed: Mutex<VecDeque<ConnSnapshot>>,
    /// Server-wide counters.
    pub totals: Totals,
    /// When the server started.
    pub start: SystemTime,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Default for Registry {
    fn default() -> Self {
        Registry {
            open: Mutex::default(),
            closed: Mutex::default(),
            totals: Totals::default(),
            start: SystemTime::now(),
        }
    }
}

impl Registry {
    /// Lists an accepted connection.
    pub fn opened(&self, handle: &Arc<ClientHandle>) {
        lock(&self.open).insert(handle.cid(), Arc::clone(handle));
        self.totals
            .total_connections
            .fetch_add(1, Ordering::Relaxed);
    }

    /// Moves a connection from the live list to the closed ring (its
    /// reason already recorded on the handle), dropping the oldest closed
    /// one past [`CLOSED_KEPT`].
    pub fn closed(&self, handle: &Arc<ClientHandle>) {
        lock(&self.open).remove(&handle.cid());
        let snap = handle.snapshot(Some(SystemTime::now()));
        if snap.reason.is_some_and(|r| r.is_slow_consumer()) {
            self.totals.slow_consumers.fetch_add(1, Ordering::Relaxed);
        }
        let mut closed = lock(&self.closed);
        if closed.len() >= CLOSED_KEPT {
            closed.pop_front();
        }
        closed.push_back(snap);
    }

    /// Adds one read batch's traffic to the totals.
    pub fn add_traffic(&self, in_msgs: u64, in_bytes: u64, out_msgs: u64, out_bytes: u64) {
        let t = &self.totals;
        if in_msgs > 0 {
            t.in_msgs.fetch_add(in_msgs, Ordering::Relaxed);
            t.in_bytes.fetch_add(in_bytes, Ordering::Relaxed);
        }
        if out_msgs > 0 {
            t.out_msgs.fetch_add(out_msgs, Ordering::Relaxed);
            t.out_bytes.fetch_add(out_bytes, Ordering::Relaxed);
        }
    }

    /// The live connections, by client id.
    pub fn open(&self) -> Vec<Arc<ClientHandle>> {
        lock(&self.open).values().cloned().collect()
    }

    /// How many connections are live.
    pub fn open_count(&self) -> usize {
        lock(&self.open).len()
    }

    /// One live connection.
    pub fn get(&self, cid: u64) -> Option<Arc<ClientHandle>> {
        lock(&self.open).get(&cid).cloned()
    }

    /// The closed connections kept, oldest first.
    pub fn closed_list(&self) -> Vec<ConnSnapshot> {
        lock(&self.closed).iter().cloned().collect()
    }
}
