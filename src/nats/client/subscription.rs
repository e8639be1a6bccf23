//! A subscription, shared by its owner and the subscription index.

use bytes::Bytes;
use std::hash::{Hash, Hasher};
use std::sync::atomic::AtomicU64;
use std::sync::Arc;

use super::outbound::ClientHandle;

/// One subscription, shared by its owner and the subscription index.
#[derive(Debug)]
pub struct Subscription {
    /// The owner, to deliver to.
    pub(super) client: Arc<ClientHandle>,
    pub(super) sid: Bytes,
    /// The filter: bytes, as on the wire (UTF-8 or not, as nats-server).
    pub(super) subject: Box<[u8]>,
    pub(super) queue: Option<String>,
    /// Auto-unsubscribe after this many messages; 0 is no limit.
    pub(super) max: AtomicU64,
    pub(super) delivered: AtomicU64,
}

/// A subscription as filed in the index: equal only to itself.
#[derive(Debug, Clone)]
pub struct SubRef(pub(super) Arc<Subscription>);

impl PartialEq for SubRef {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

impl Eq for SubRef {}

impl Hash for SubRef {
    fn hash<H: Hasher>(&self, state: &mut H) {
        (Arc::as_ptr(&self.0) as usize).hash(state);
    }
}
