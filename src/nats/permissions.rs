//! A user's publish/subscribe permissions, compiled from the plan and
//! checked the way nats-server 2.9.10 checks them (`pubAllowedFullCheck`,
//! `canSubscribe`, `checkDenySub`).
//!
//! Matching is nats-server's sublist `Match` of the client's subject
//! against the permission filters: wildcards in the client's subject are
//! literal tokens there (`SUB >` is allowed by `allow: ">"`, not by
//! `allow: "foo.>"`). Allow/deny entries of the form `"subject queue"` are
//! queue entries: they allow or deny only that queue group.

use super::subject::{filter_matches, has_wildcard, is_subset_match};
use crate::plan::auth::{Permissions as PlanPermissions, SubjectPermission};
use std::time::Duration;

/// nats-server's `DEFAULT_ALLOW_RESPONSE_MAX_MSGS`.
const DEFAULT_RESPONSE_MAX: u64 = 1;
/// nats-server's `DEFAULT_ALLOW_RESPONSE_EXPIRATION`.
const DEFAULT_RESPONSE_TTL: Duration = Duration::from_secs(120);

/// One filter of an allow or deny list, with its queue group if any.
#[derive(Debug, Clone)]
struct Entry {
    filter: Vec<u8>,
    queue: Option<Vec<u8>>,
}

/// An allow or deny list.
#[derive(Debug, Clone, Default)]
struct List(Vec<Entry>);

impl List {
    fn new(filters: &[String]) -> Self {
        List(
            filters
                .iter()
                .map(|f| {
                    let mut parts = f.split_whitespace();
                    let filter = parts.next().unwrap_or("").as_bytes().to_vec();
                    let queue = parts.next().map(|q| q.as_bytes().to_vec());
                    Entry { filter, queue }
                })
                .collect(),
        )
    }

    /// Sublist `Match`: (a plain entry matches, the queue entries that match).
    fn matching<'a>(&'a self, subject: &'a [u8]) -> (bool, impl Iterator<Item = &'a [u8]> + 'a) {
        let plain = self
            .0
            .iter()
            .any(|e| e.queue.is_none() && filter_matches(&e.filter, subject));
        let queues = self.0.iter().filter_map(move |e| match &e.queue {
            Some(q) if filter_matches(&e.filter, subject) => Some(q.as_slice()),
            _ => None,
        });
        (plain, queues)
    }

    fn matches_plain(&self, subject: &[u8]) -> bool {
        self.matching(subject).0
    }
}

/// Allow and deny for one direction; no allow list allows everything.
#[derive(Debug, Clone, Default)]
struct Rule {
    allow: Option<List>,
    deny: Option<List>,
}

impl Rule {
    fn new(p: Option<&SubjectPermission>) -> Self {
        let Some(p) = p else {
            return Rule::default();
        };
        Rule {
            allow: (!p.allow.is_empty()).then(|| List::new(&p.allow)),
            deny: (!p.deny.is_empty()).then(|| List::new(&p.deny)),
        }
    }
}

/// How long and how often a client may answer requests it received.
#[derive(Debug, Clone, Copy)]
pub struct ResponseRule {
    /// Answers per received reply subject.
    pub max: u64,
    /// How long a reply subject stays answerable.
    pub ttl: Duration,
}

/// One user's compiled permissions.
#[derive(Debug, Clone)]
pub struct Permissions {
    publish: Rule,
    subscribe: Rule,
    responses: Option<ResponseRule>,
}

impl Permissions {
    /// Compiles the plan's permissions (nats-server's `setPermissions`).
    pub fn new(plan: &PlanPermissions) -> Self {
        let mut publish = Rule::new(plan.publish.as_ref());
        let responses = plan.allow_responses.as_ref().map(|r| ResponseRule {
            max: u64::try_from(r.max)
                .ok()
                .filter(|m| *m > 0)
                .unwrap_or(DEFAULT_RESPONSE_MAX),
            ttl: if r.expires.is_zero() {
                DEFAULT_RESPONSE_TTL
            } else {
                r.expires
            },
        });
        // Responses without any publish allow list: only responses may be
        // published (an empty allow list).
        if responses.is_some() && publish.allow.is_none() {
            publish.allow = Some(List::default());
        }
        Permissions {
            publish,
            subscribe: Rule::new(plan.subscribe.as_ref()),
            responses,
        }
    }

    /// Whether publishing to `subject` is allowed by the lists alone
    /// (responses are the connection's business).
    pub fn can_publish(&self, subject: &[u8]) -> bool {
        let allowed = match &self.publish.allow {
            Some(allow) => allow.matches_plain(subject),
            None => true,
        };
        allowed
            && match &self.publish.deny {
                Some(deny) => !deny.matches_plain(subject),
                None => true,
            }
    }

    /// nats-server's `canSubscribe`, queue entries included.
    pub fn can_subscribe(&self, subject: &[u8], queue: Option<&[u8]>) -> bool {
        let mut allowed = true;
        if let Some(allow) = &self.subscribe.allow {
            let (plain, mut queues) = allow.matching(subject);
            allowed = plain;
            if let Some(q) = queue {
                let mut queues = queues.by_ref().peekable();
                if queues.peek().is_some() {
                    allowed = queues.any(|name| queue_matches(q, name));
                }
            }
        }
        if allowed {
            if let Some(deny) = &self.subscribe.deny {
                let (plain, queues) = deny.matching(subject);
                allowed = !plain;
                if let Some(q) = queue {
                    let mut queues = queues.peekable();
                    if queues.peek().is_some() {
                        allowed = !queues.any(|name| queue_matches(q, name));
                    }
                }
            }
        }
        allowed
    }

    /// Whether a wildcard subscription to `subject` may receive messages the
    /// deny list forbids, so that deliveries to this client must be checked
    /// (nats-server loads its `mperms` deny filter then).
    pub fn needs_delivery_check(&self, subject: &[u8]) -> bool {
        let Some(deny) = &self.subscribe.deny else {
            return false;
        };
        has_wildcard(subject) && deny.0.iter().any(|e| is_subset_match(&e.filter, subject))
    }

    /// nats-server's `checkDenySub`: false when the deny list forbids
    /// delivering a message on `subject`.
    pub fn can_deliver(&self, subject: &[u8]) -> bool {
        match &self.subscribe.deny {
            Some(deny) => !deny.matches_plain(subject),
            None => true,
        }
    }

    /// The response rule, if the user may answer requests.
    pub fn responses(&self) -> Option<ResponseRule> {
        self.responses
    }
}

/// nats-server's `queueMatches` for one allowed/denied queue name: equal,
/// or a wildcard name that `queue` is a subset of.
fn queue_matches(queue: &[u8], name: &[u8]) -> bool {
    queue == name || (has_wildcard(name) && is_subset_match(queue, name))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::auth::ResponsePermission;

    fn perms(
        pub_allow: &[&str],
        pub_deny: &[&str],
        sub_allow: &[&str],
        sub_deny: &[&str],
    ) -> Permissions {
        let list = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        Permissions::new(&PlanPermissions {
            publish: Some(SubjectPermission {
                allow: list(pub_allow),
                deny: list(pub_deny),
            }),
            subscribe: Some(SubjectPermission {
                allow: list(sub_allow),
                deny: list(sub_deny),
            }),
            allow_responses: None,
        })
    }

    #[test]
    fn publish_allow_and_deny() {
        let p = perms(&["foo.>"], &["foo.secret"], &[], &[]);
        assert!(p.can_publish(b"foo.bar"));
        assert!(!p.can_publish(b"foo"));
        assert!(!p.can_publish(b"foo.secret"));
        // A wildcard in the published subject is a literal token.
        assert!(p.can_publish(b"foo.*"));
    }

    #[test]
    fn subscribe_queue_entries() {
        // As observed: allow "jobs queue1" permits only that queue group.
        let p = perms(&[], &[], &["jobs queue1"], &[]);
        assert!(!p.can_subscribe(b"jobs", None));
        assert!(p.can_subscribe(b"jobs", Some(b"queue1")));
        assert!(!p.can_subscribe(b"jobs", Some(b"queue2")));
        let p = perms(&[], &[], &[">"], &["secret.>"]);
        assert!(p.can_subscribe(b">", None));
        assert!(!p.can_subscribe(b"secret.*", None));
        assert!(!p.can_subscribe(b"secret.x", Some(b"q")));
        assert!(p.needs_delivery_check(b">"));
        assert!(!p.needs_delivery_check(b"other.*"));
        assert!(!p.can_deliver(b"secret.x"));
        assert!(p.can_deliver(b"other"));
    }

    #[test]
    fn responses_default_and_imply_publish_allow() {
        let p = Permissions::new(&PlanPermissions {
            publish: None,
            subscribe: None,
            allow_responses: Some(ResponsePermission {
                max: 0,
                expires: Duration::ZERO,
            }),
        });
        let r = p.responses().expect("responses");
        assert_eq!((r.max, r.ttl), (1, Duration::from_secs(120)));
        assert!(!p.can_publish(b"anything"));
    }
}
