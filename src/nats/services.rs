//! Service imports between accounts (request/reply across accounts), as
//! nats-server has them: a request published in the importing account on
//! the import's local subject is delivered in the exporting account on the
//! exported subject, with its reply subject replaced by a fresh
//! `_R_.<6 chars>.<6 chars>` of the exporting account. A response published
//! there on that subject goes back to the importing account under the
//! original reply subject. The mapping lives until the export's response
//! type says it is done (one response for `singleton`, an empty one for
//! `chunked`) or its threshold passes; mappings past their threshold are
//! swept when new ones are made, so the map stays bounded by the request
//! rate times the threshold.
//!
//! Compiled once from the plan per account; a connection of an account
//! that neither imports nor exports services holds `None` and pays nothing.

use super::rand::Xorshift;
use super::subject::{filter_matches, has_wildcard, tokens};
use super::sublist::SharedSublist;
use crate::plan::auth::{Accounts, ExportKind, ImportLocal, ResponseType};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// nats-server's reply alphabet (`digits`, base 62).
const DIGITS: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
/// How often a response map is swept of expired mappings, at most.
const SWEEP_EVERY: Duration = Duration::from_secs(1);

/// What one account does with services: the imports its publishers can
/// reach, and the reply mappings of requests delivered into it.
#[derive(Debug)]
pub struct AccountServices<S> {
    /// The account's name (requests carry it in `Nats-Request-Info`).
    pub name: Arc<str>,
    /// The account's subscriptions (responses to its requests land there).
    pub sublist: Arc<SharedSublist<S>>,
    /// This account's service imports, in file order.
    pub imports: Vec<ServiceImport<S>>,
    /// Reply mappings of requests delivered into this account (present
    /// when some account imports a service from it).
    pub responses: Option<Arc<Responses<S>>>,
}

/// One service import of the account holding it.
#[derive(Debug)]
pub struct ServiceImport<S> {
    /// The local subject (filter) requests are published on.
    local: Box<[u8]>,
    /// The subject in the exporting account.
    to: Box<[u8]>,
    /// The exporting account's name (for the request-info header).
    pub exporter: Arc<str>,
    /// The exporting account's subscriptions.
    pub into: Arc<SharedSublist<S>>,
    /// The exporting account's reply mappings.
    pub responses: Arc<Responses<S>>,
    /// How many responses a request gets.
    pub response: ResponseType,
    /// How long a mapping waits for its responses.
    pub threshold: Duration,
}

impl<S> ServiceImport<S> {
    /// The subject a request on `subject` gets in the exporting account,
    /// if this import covers it: the exported subject when it is literal,
    /// the published one when both sides are the same wildcard, else the
    /// local wildcards' tokens put in the exported subject's wildcards.
    pub fn map(&self, subject: &[u8]) -> Option<Vec<u8>> {
        if !filter_matches(&self.local, subject) {
            return None;
        }
        if !has_wildcard(&self.to) {
            return Some(self.to.to_vec());
        }
        if self.local == self.to {
            return Some(subject.to_vec());
        }
        // Tokens the local wildcards matched, in order (`>` takes the rest).
        let subj: Vec<&[u8]> = tokens(subject).collect();
        let mut caught: Vec<&[u8]> = Vec::new();
        for (i, f) in tokens(&self.local).enumerate() {
            match f {
                b"*" => caught.extend(subj.get(i).copied()),
                b">" => {
                    let at: usize = subj.iter().take(i).map(|t| t.len() + 1).sum();
                    caught.push(subject.get(at..).unwrap_or_default());
                    break;
                }
                _ => {}
            }
        }
        let mut caught = caught.into_iter();
        let mut out = Vec::with_capacity(self.to.len() + subject.len());
        for (i, t) in tokens(&self.to).enumerate() {
            if i > 0 {
                out.push(b'.');
            }
            match t {
                b"*" | b">" => out.extend_from_slice(caught.next().unwrap_or(t)),
                _ => out.extend_from_slice(t),
            }
        }
        Some(out)
    }
}

/// Where a mapped reply subject leads.
#[derive(Debug)]
pub struct Pending<S> {
    /// The importing account's subscriptions.
    pub into: Arc<SharedSublist<S>>,
    /// The importing account's name.
    pub account: Arc<str>,
    /// The requester's own reply subject.
    pub reply: Box<[u8]>,
    response: ResponseType,
    deadline: Instant,
}

/// Where a response goes.
#[derive(Debug)]
pub struct Route<S> {
    /// The importing account's subscriptions.
    pub into: Arc<SharedSublist<S>>,
    /// The importing account's name (its own reply mappings may lead on,
    /// when it forwarded the request through an import of its own).
    pub account: Arc<str>,
    /// The requester's reply subject.
    pub reply: Box<[u8]>,
}

/// The reply mappings of one exporting account (`_R_.` subjects).
#[derive(Debug)]
pub struct Responses<S> {
    /// `_R_.xxxxxx.`: every reply subject of this account starts so.
    prefix: [u8; 11],
    state: Mutex<State<S>>,
}

#[derive(Debug)]
struct State<S> {
    map: HashMap<Box<[u8]>, Pending<S>>,
    rng: Xorshift,
    next_sweep: Instant,
}

fn base62(mut n: u64, out: &mut [u8]) {
    for b in out {
        *b = DIGITS[(n % 62) as usize];
        n /= 62;
    }
}

impl<S> Responses<S> {
    fn new(salt: u64) -> Self {
        // OS randomness when there is some (nats-server seeds from a nuid):
        // reply subjects should not be guessable from the clock.
        let mut rng = Xorshift::seeded(salt ^ getrandom::u64().unwrap_or(0));
        let mut prefix = *b"_R_.000000.";
        base62(rng.next_u64(), &mut prefix[4..10]);
        Responses {
            prefix,
            state: Mutex::new(State {
                map: HashMap::new(),
                rng,
                next_sweep: Instant::now() + SWEEP_EVERY,
            }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State<S>> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Makes a reply subject in this account leading back to `reply` in
    /// `into`, and returns it.
    pub fn map(
        &self,
        into: Arc<SharedSublist<S>>,
        account: Arc<str>,
        reply: &[u8],
        response: ResponseType,
        threshold: Duration,
    ) -> Box<[u8]> {
        let now = Instant::now();
        let mut st = self.lock();
        if now >= st.next_sweep {
            st.map.retain(|_, p| p.deadline > now);
            st.next_sweep = now + SWEEP_EVERY;
        }
        let mut subject = [0u8; 17];
        subject[..11].copy_from_slice(&self.prefix);
        loop {
            let n = st.rng.next_u64();
            base62(n, &mut subject[11..]);
            if !st.map.contains_key(&subject[..]) {
                break;
            }
        }
        let key: Box<[u8]> = subject.into();
        st.map.insert(
            key.clone(),
            Pending {
                into,
                account,
                reply: reply.into(),
                response,
                deadline: now + threshold,
            },
        );
        key
    }

    /// Whether `subject` may be one of this account's reply subjects
    /// (a prefix test: no lock).
    pub fn may_hold(&self, subject: &[u8]) -> bool {
        subject.starts_with(&self.prefix)
    }

    /// Where a response on `subject` goes, if it is a live mapping: the
    /// importing account and the original reply subject.
    pub fn lookup(&self, subject: &[u8]) -> Option<Route<S>> {
        let now = Instant::now();
        let mut st = self.lock();
        match st.map.get(subject) {
            Some(p) if p.deadline > now => Some(Route {
                into: Arc::clone(&p.into),
                account: Arc::clone(&p.account),
                reply: p.reply.clone(),
            }),
            Some(_) => {
                st.map.remove(subject);
                None
            }
            None => None,
        }
    }

    /// After a response on `subject` was (or could not be) delivered: as
    /// nats-server, the mapping goes when nobody took it, after the one
    /// response of a singleton, or at the empty message ending a chunked
    /// or streamed response.
    pub fn responded(&self, subject: &[u8], delivered: bool, empty: bool) {
        let mut st = self.lock();
        let done = match st.map.get(subject) {
            Some(p) => !delivered || p.response == ResponseType::Singleton || empty,
            None => false,
        };
        if done {
            st.map.remove(subject);
        }
    }

    /// Drops a mapping whose request nobody in the exporting account took.
    pub fn forget(&self, subject: &[u8]) {
        self.lock().map.remove(subject);
    }

    /// Live mappings (expired ones not yet swept included).
    pub fn len(&self) -> usize {
        self.lock().map.len()
    }

    /// Whether no mapping is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Every account's services, by account name; accounts without any are
/// absent.
pub type Services<S> = HashMap<Arc<str>, Arc<AccountServices<S>>>;

/// Compiles the plan's service imports that an export of the source
/// account allows ([`Accounts::authorizes`]; lowering refuses the others).
pub fn compile<S>(
    accounts: &Accounts,
    sublists: &HashMap<Arc<str>, Arc<SharedSublist<S>>>,
) -> Services<S> {
    let mut responses: HashMap<&str, Arc<Responses<S>>> = HashMap::new();
    let mut imports: HashMap<&str, Vec<ServiceImport<S>>> = HashMap::new();
    for (n, importer) in accounts.list.iter().enumerate() {
        for import in importer
            .imports
            .iter()
            .filter(|i| i.kind == ExportKind::Service)
        {
            let (Some(into), true) = (
                sublists.get(import.account.as_str()),
                accounts.authorizes(&importer.name, import),
            ) else {
                crate::log_warn!(
                    "Account {}: service import of {:?} from {} is not exported to it; ignored",
                    importer.name,
                    import.subject,
                    import.account
                );
                continue;
            };
            // The export that covers it decides the response type.
            let export = accounts
                .list
                .iter()
                .filter(|a| a.name == import.account)
                .flat_map(|a| &a.exports)
                .find(|e| {
                    e.kind == ExportKind::Service
                        && crate::nats::subject::is_subset_match(
                            import.subject.as_bytes(),
                            e.subject.as_bytes(),
                        )
                });
            let (response, threshold) = export.map_or(
                (
                    ResponseType::Singleton,
                    crate::plan::auth::DEFAULT_RESPONSE_THRESHOLD,
                ),
                |e| (e.response, e.threshold),
            );
            let salt = (n as u64) << 32 | responses.len() as u64;
            let resp = responses
                .entry(import.account.as_str())
                .or_insert_with(|| Arc::new(Responses::new(salt)));
            let local = match &import.local {
                Some(ImportLocal::To(t)) => t.as_str(),
                _ => import.subject.as_str(),
            };
            imports
                .entry(importer.name.as_str())
                .or_default()
                .push(ServiceImport {
                    local: local.as_bytes().into(),
                    to: import.subject.as_bytes().into(),
                    exporter: Arc::from(import.account.as_str()),
                    into: Arc::clone(into),
                    responses: Arc::clone(resp),
                    response,
                    threshold,
                });
        }
    }
    let mut out = Services::new();
    for account in &accounts.list {
        let name = account.name.as_str();
        let imports = imports.remove(name).unwrap_or_default();
        let responses = responses.get(name).cloned();
        let Some(sublist) = sublists.get(name) else {
            continue;
        };
        if imports.is_empty() && responses.is_none() {
            continue;
        }
        out.insert(
            Arc::from(name),
            Arc::new(AccountServices {
                name: Arc::from(name),
                sublist: Arc::clone(sublist),
                imports,
                responses,
            }),
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn import(local: &str, to: &str) -> ServiceImport<()> {
        ServiceImport {
            local: local.as_bytes().into(),
            to: to.as_bytes().into(),
            exporter: Arc::from("B"),
            into: Arc::new(SharedSublist::default()),
            responses: Arc::new(Responses::new(1)),
            response: ResponseType::Singleton,
            threshold: Duration::from_secs(1),
        }
    }

    #[test]
    fn maps_subjects_as_nats_server() {
        assert_eq!(
            import("local.x", "req.x").map(b"local.x").unwrap(),
            b"req.x"
        );
        assert!(import("local.x", "req.x").map(b"local.y").is_none());
        assert_eq!(import("req.*", "req.*").map(b"req.a").unwrap(), b"req.a");
        assert_eq!(import("l.*.b", "r.*").map(b"l.a.b").unwrap(), b"r.a");
        assert_eq!(import("l.>", "r.>").map(b"l.a.b.c").unwrap(), b"r.a.b.c");
    }

    #[test]
    fn reply_subjects_have_nats_servers_shape_and_expire() {
        let r: Responses<()> = Responses::new(7);
        let into = Arc::new(SharedSublist::default());
        let s = r.map(
            Arc::clone(&into),
            Arc::from("A"),
            b"_INBOX.1",
            ResponseType::Stream,
            Duration::from_millis(30),
        );
        assert_eq!(s.len(), 17);
        assert!(s.starts_with(b"_R_.") && s[10] == b'.' && r.may_hold(&s));
        assert_eq!(&*r.lookup(&s).unwrap().reply, b"_INBOX.1");
        r.responded(&s, true, false);
        assert!(r.lookup(&s).is_some(), "a stream keeps its mapping");
        r.responded(&s, true, true);
        assert!(r.lookup(&s).is_none(), "an empty message ends it");
        let s = r.map(
            into,
            Arc::from("A"),
            b"x",
            ResponseType::Stream,
            Duration::from_millis(30),
        );
        std::thread::sleep(Duration::from_millis(40));
        assert!(r.lookup(&s).is_none(), "past the threshold it is gone");
        assert!(r.is_empty());
    }
}
