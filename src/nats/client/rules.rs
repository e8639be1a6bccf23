//! What a client's permissions ask of the clients that deliver to it: the
//! deny filter on wildcard deliveries (nats-server's `mperms`) and the
//! reply subjects it may answer (`allow_responses`). Publishers consult it
//! on every delivery, so a client without such permissions costs one
//! relaxed load.

use super::outbound::lock;
use crate::nats::permissions::{Permissions, ResponseRule};
use arc_swap::ArcSwapOption;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// Reply subjects kept before expired ones are pruned.
const MAX_REPLIES: usize = 4096;

/// A reply subject received in a request, answerable for a while.
#[derive(Debug)]
struct Reply {
    received: Instant,
    answers: u64,
}

/// Delivery-side permission state of one client.
#[derive(Debug, Default)]
pub(in crate::nats) struct DeliveryRules {
    perms: ArcSwapOption<Permissions>,
    check_deny: AtomicBool,
    track_replies: AtomicBool,
    replies: Mutex<HashMap<Box<[u8]>, Reply>>,
}

impl DeliveryRules {
    /// Installs the client's permissions (a CONNECT, or a reload).
    pub(super) fn set(&self, perms: Option<&Arc<Permissions>>) {
        self.perms.store(perms.cloned());
        let track = perms.is_some_and(|p| p.responses().is_some());
        self.track_replies.store(track, Ordering::Relaxed);
        self.check_deny.store(false, Ordering::Relaxed);
    }

    /// A wildcard subscription reaching into the deny list: from now on
    /// every delivery to this client is checked (as nats-server, for all
    /// its subscriptions).
    pub(super) fn check_deliveries(&self) {
        self.check_deny.store(true, Ordering::Relaxed);
    }

    /// Whether a message on `subject` may be delivered to this client.
    pub(super) fn allows(&self, subject: &[u8]) -> bool {
        if !self.check_deny.load(Ordering::Relaxed) {
            return true;
        }
        self.perms
            .load()
            .as_ref()
            .map_or(true, |p| p.can_deliver(subject))
    }

    /// Remembers `reply` of a request delivered to this client, if it may
    /// answer requests.
    pub(super) fn received(&self, reply: Option<&[u8]>) {
        let Some(reply) = reply else { return };
        if !self.track_replies.load(Ordering::Relaxed) {
            return;
        }
        let mut replies = lock(&self.replies);
        // Keep the table bounded, as nats-server prunes it.
        if replies.len() >= MAX_REPLIES {
            let ttl = self
                .perms
                .load()
                .as_ref()
                .and_then(|p| p.responses())
                .map(|r| r.ttl);
            if let Some(ttl) = ttl {
                replies.retain(|_, r| r.received.elapsed() <= ttl);
            }
        }
        replies.insert(
            reply.into(),
            Reply {
                received: Instant::now(),
                answers: 0,
            },
        );
    }

    /// nats-server's response check: whether this client may publish to
    /// `subject` as an answer (counts the answer; forgets the reply subject
    /// once used up or expired).
    pub(super) fn answer(&self, subject: &[u8], rule: ResponseRule) -> bool {
        let mut replies = lock(&self.replies);
        let Some(reply) = replies.get_mut(subject) else {
            return false;
        };
        reply.answers += 1;
        if reply.answers > rule.max || reply.received.elapsed() > rule.ttl {
            replies.remove(subject);
            return false;
        }
        true
    }
}
