//! The subscription index of one account: which subscriptions a published
//! subject reaches, as nats-server 2.9's `Sublist` answers it.
//!
//! # Structure
//!
//! A token tree (one level per token position; literal tokens by name, `*`
//! and `>` in their own slots) plus a bounded cache from publish subject to
//! [`MatchResult`]. A result lists plain subscriptions and queue groups; a
//! queue group gathers every member of that queue name whose filter matches,
//! across filters (`foo.*` and `foo.>` members of group `q` form one group),
//! so the caller delivers to all plain subscriptions and to one member per
//! group. A subscription filed under two matching filters appears twice: the
//! index is a multiset of (filter, queue, subscription) entries, as in
//! nats-server.
//!
//! # The match cache and its invalidation rule
//!
//! Up to 1024 results are cached by publish subject (results with no match
//! included). A cache hit returns an [`Arc`] clone and allocates nothing.
//! When the cache grows past its limit it is swept down to half (512),
//! dropping arbitrary entries, as nats-server's sweeper does.
//!
//! The cache is kept exact, following nats-server's rule:
//! - an **insert** under filter `F` adds the new subscription to every cached
//!   result whose subject `F` matches (copy-on-write: a result a caller still
//!   holds is never changed). A literal `F` can only match the cached entry
//!   keyed `F`, so that one is looked up directly; a wildcard `F` is tested
//!   against each cached subject.
//! - a **remove** under `F` drops every cached result whose subject `F`
//!   matches (the same literal shortcut applies); the next match rebuilds it.
//! - [`Sublist::remove_batch`] (a connection going away) clears the whole
//!   cache once instead.
//!
//! Results never cover subjects `F` does not match, so no other entry can be
//! affected by a change under `F`.
//!
//! # Publish subjects
//!
//! [`Sublist::matches`] takes any subject, as nats-server does for clients
//! that are not pedantic: a subject with an empty token (`foo..bar`, `.foo`,
//! the empty subject) matches nothing and is not cached, and a `*` or `>`
//! token in it is just a token that only wildcards match.
//!
//! # Sharing between threads, and accounts
//!
//! [`Sublist`] is a plain single-threaded structure. The runtime shares one
//! per account as a [`SharedSublist`] (a [`std::sync::RwLock`] around it):
//! publishers take the read lock for cache hits ([`Sublist::cached`] counts
//! through atomics and needs only `&self`) and the write lock only on a miss
//! or a change of interest, which is nats-server's locking pattern. Its
//! [`generation`](SharedSublist::generation) changes on every insert and
//! remove and can be read without the lock, so a connection may keep its own
//! small subject-to-result cache and drop it when the generation moves (the
//! L1 cache nats-server keeps per client).
//!
//! Each account has its own index, so subjects never cross accounts: an
//! [`AccountIndex`] maps account names to their sublists, with the global
//! account [`GLOBAL_ACCOUNT`] (`$G`) always present.

mod shared;
mod tree;

pub use shared::{AccountIndex, SharedSublist, GLOBAL_ACCOUNT};

use super::subject::{filter_matches, has_wildcard, is_valid_filter, tokens};
use std::collections::HashMap;
use std::fmt;
use std::hash::Hash;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use tree::{Level, ResultBuilder};

/// How many results the match cache holds by default, as nats-server.
pub const CACHE_MAX: usize = 1024;

/// Why an insert or a remove was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SublistError {
    /// The filter is not a valid subject filter (empty token, `>` not last,
    /// whitespace, empty).
    #[error("invalid subject")]
    InvalidSubject,
    /// The queue group name is empty or contains whitespace.
    #[error("invalid queue group name")]
    InvalidQueue,
    /// This subscription is already filed under this filter and queue.
    #[error("subscription already present")]
    AlreadyExists,
    /// No such (filter, queue, subscription) entry to remove.
    #[error("subscription not found")]
    NotFound,
}

/// The members of one queue group that a subject reaches; a message goes to
/// one of them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueGroup<S> {
    /// The queue group name.
    pub name: Arc<str>,
    /// Its members, over every matching filter (never empty in a result).
    pub members: Vec<S>,
}

/// Everything a publish subject reaches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MatchResult<S> {
    /// Subscriptions outside queue groups: each gets the message.
    pub plain: Vec<S>,
    /// Queue groups, one entry per distinct name.
    pub queues: Vec<QueueGroup<S>>,
}

impl<S> Default for MatchResult<S> {
    fn default() -> Self {
        MatchResult {
            plain: Vec::new(),
            queues: Vec::new(),
        }
    }
}

impl<S> MatchResult<S> {
    /// True when nothing matched.
    pub fn is_empty(&self) -> bool {
        self.plain.is_empty() && self.queues.is_empty()
    }

    /// Plain subscriptions plus queue groups, nats-server's fanout measure.
    pub fn fanout(&self) -> usize {
        self.plain.len() + self.queues.len()
    }
}

impl<S: Clone> MatchResult<S> {
    fn add(&mut self, queue: Option<&Arc<str>>, sub: S) {
        let Some(name) = queue else {
            self.plain.push(sub);
            return;
        };
        match self.queues.iter_mut().find(|g| g.name == *name) {
            Some(group) => group.members.push(sub),
            None => self.queues.push(QueueGroup {
                name: Arc::clone(name),
                members: vec![sub],
            }),
        }
    }
}

/// Counters for `/subsz`, for one sublist or summed over several with
/// [`add`](SublistStats::add).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SublistStats {
    /// Subscriptions filed now.
    pub num_subscriptions: u64,
    /// Results in the match cache.
    pub num_cache: u64,
    /// Successful inserts ever.
    pub num_inserts: u64,
    /// Successful removes ever.
    pub num_removes: u64,
    /// Matches ever, served from the cache or not.
    pub num_matches: u64,
    /// Cache hits over matches (0 before the first match).
    pub cache_hit_rate: f64,
    /// The largest [`fanout`](MatchResult::fanout) among cached results.
    pub max_fanout: u64,
    /// The mean fanout of cached results (0 when none is cached).
    pub avg_fanout: f64,
    cache_hits: u64,
    total_fanout: u64,
}

impl SublistStats {
    /// Adds another sublist's counters (per-account sublists into one
    /// server-wide answer, as `/subsz` reports them).
    pub fn add(&mut self, other: &SublistStats) {
        self.num_subscriptions += other.num_subscriptions;
        self.num_cache += other.num_cache;
        self.num_inserts += other.num_inserts;
        self.num_removes += other.num_removes;
        self.num_matches += other.num_matches;
        self.cache_hits += other.cache_hits;
        self.total_fanout += other.total_fanout;
        self.max_fanout = self.max_fanout.max(other.max_fanout);
        self.derive();
    }

    fn derive(&mut self) {
        self.cache_hit_rate = ratio(self.cache_hits, self.num_matches);
        self.avg_fanout = ratio(self.total_fanout, self.num_cache);
    }
}

fn ratio(part: u64, whole: u64) -> f64 {
    if whole == 0 {
        0.0
    } else {
        part as f64 / whole as f64
    }
}

/// The match cache: publish subject to shared result. Looked up on every
/// publish, so it hashes with aHash (fast, and randomly keyed per process, so
/// client-chosen subjects cannot be crafted to collide) instead of SipHash.
struct Cache<S> {
    results: HashMap<Box<[u8]>, Arc<MatchResult<S>>, ahash::RandomState>,
    max: usize,
}

/// The subscription index of one account (see the [module docs](self)).
///
/// `S` is the subscription handle: something small and cheap to clone that
/// identifies one subscription (an id, or an `Arc` of the subscription).
pub struct Sublist<S> {
    root: Level<S>,
    cache: Option<Cache<S>>,
    empty: Arc<MatchResult<S>>,
    count: usize,
    inserts: u64,
    removes: u64,
    generation: u64,
    matches: AtomicU64,
    hits: AtomicU64,
}

impl<S: Clone + Eq + Hash> Default for Sublist<S> {
    fn default() -> Self {
        Sublist::new()
    }
}

impl<S> fmt::Debug for Sublist<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sublist")
            .field("count", &self.count)
            .field("cached", &self.cache.as_ref().map(|c| c.results.len()))
            .field("generation", &self.generation)
            .finish_non_exhaustive()
    }
}

impl<S: Clone + Eq + Hash> Sublist<S> {
    /// An empty index with a [`CACHE_MAX`]-entry match cache.
    pub fn new() -> Self {
        Sublist::with_cache_limit(CACHE_MAX)
    }

    /// An empty index that caches no results (nats-server's
    /// `NewSublistNoCache`, for interest that changes faster than it is
    /// matched).
    pub fn without_cache() -> Self {
        Sublist::with_cache_limit(0)
    }

    /// An empty index caching at most `max` results (swept down to `max / 2`
    /// when exceeded); 0 disables the cache.
    pub fn with_cache_limit(max: usize) -> Self {
        Sublist {
            root: Level::default(),
            cache: (max > 0).then(|| Cache {
                results: HashMap::default(),
                max,
            }),
            empty: Arc::new(MatchResult::default()),
            count: 0,
            inserts: 0,
            removes: 0,
            generation: 0,
            matches: AtomicU64::new(0),
            hits: AtomicU64::new(0),
        }
    }

    /// Files `sub` under `filter`, in queue group `queue` if given.
    ///
    /// The same subscription may be filed under several filters (and both
    /// inside and outside a group), but only once per (filter, queue).
    pub fn insert(
        &mut self,
        filter: impl AsRef<[u8]>,
        queue: Option<&str>,
        sub: S,
    ) -> Result<(), SublistError> {
        let filter = filter.as_ref();
        check(filter, queue)?;
        let name = self.root.insert(filter, queue, sub.clone())?;
        self.count += 1;
        self.inserts += 1;
        self.generation += 1;
        if let Some(cache) = &mut self.cache {
            let add = |result: &mut Arc<MatchResult<S>>| {
                Arc::make_mut(result).add(name.as_ref(), sub.clone());
            };
            if is_literal(filter) {
                if let Some(result) = cache.results.get_mut(filter) {
                    add(result);
                }
            } else {
                for (subject, result) in cache.results.iter_mut() {
                    if filter_matches(filter, subject) {
                        add(result);
                    }
                }
            }
        }
        Ok(())
    }

    /// Takes out the entry [`insert`](Sublist::insert)ed with the same
    /// filter, queue and subscription.
    pub fn remove(
        &mut self,
        filter: impl AsRef<[u8]>,
        queue: Option<&str>,
        sub: &S,
    ) -> Result<(), SublistError> {
        let filter = filter.as_ref();
        check(filter, queue)?;
        if !self.root.remove(filter, queue, sub) {
            return Err(SublistError::NotFound);
        }
        self.count -= 1;
        self.removes += 1;
        self.generation += 1;
        if let Some(cache) = &mut self.cache {
            if is_literal(filter) {
                cache.results.remove(filter);
            } else {
                cache
                    .results
                    .retain(|subject, _| !filter_matches(filter, subject));
            }
        }
        Ok(())
    }

    /// Removes many entries at once (a connection closing), then clears the
    /// match cache once instead of updating it per entry. Entries that are
    /// invalid or absent are skipped; returns how many were removed.
    pub fn remove_batch<'a, F, I>(&mut self, entries: I) -> usize
    where
        F: AsRef<[u8]>,
        I: IntoIterator<Item = (F, Option<&'a str>, &'a S)>,
        S: 'a,
    {
        let mut removed = 0;
        for (filter, queue, sub) in entries {
            let filter = filter.as_ref();
            if check(filter, queue).is_ok() && self.root.remove(filter, queue, sub) {
                removed += 1;
            }
        }
        if removed > 0 {
            self.count -= removed;
            self.removes += removed as u64;
            self.generation += 1;
            if let Some(cache) = &mut self.cache {
                cache.results.clear();
            }
        }
        removed
    }

    /// Everything `subject` (a publish subject) reaches, from the cache when
    /// possible (then without allocating), else from the tree, caching the
    /// answer. A subject is bytes, as on the wire: nats-server matches
    /// whatever a client publishes to, UTF-8 or not, and so does this.
    pub fn matches(&mut self, subject: impl AsRef<[u8]>) -> Arc<MatchResult<S>> {
        let subject = subject.as_ref();
        *self.matches.get_mut() += 1;
        if let Some(cache) = &self.cache {
            if let Some(result) = cache.results.get(subject) {
                *self.hits.get_mut() += 1;
                return Arc::clone(result);
            }
        }
        let mut split = Vec::new();
        for token in tokens(subject) {
            if token.is_empty() {
                return Arc::clone(&self.empty);
            }
            split.push(token);
        }
        let mut builder = ResultBuilder::new();
        self.root.collect(&split, &mut builder);
        let result = builder.finish();
        let result = if result.is_empty() {
            Arc::clone(&self.empty)
        } else {
            Arc::new(result)
        };
        if let Some(cache) = &mut self.cache {
            cache.results.insert(subject.into(), Arc::clone(&result));
            if cache.results.len() > cache.max {
                let mut excess = cache.results.len() - cache.max / 2;
                cache.results.retain(|_, _| {
                    let keep = excess == 0;
                    excess = excess.saturating_sub(1);
                    keep
                });
            }
        }
        result
    }

    /// The answer [`matches`](Sublist::matches) would give, if it needs no
    /// tree walk: a cached result, or the empty result for a subject with an
    /// empty token. Takes `&self`, so it works under a read lock.
    ///
    /// An answer counts as a match (and a cached one as a hit); `None` counts
    /// nothing, so following it with `matches` counts the match once.
    pub fn cached(&self, subject: impl AsRef<[u8]>) -> Option<Arc<MatchResult<S>>> {
        let subject = subject.as_ref();
        let hit = self.cache.as_ref().and_then(|c| c.results.get(subject));
        let result = match hit {
            Some(result) => {
                self.hits.fetch_add(1, Ordering::Relaxed);
                result
            }
            None if tokens(subject).any(<[u8]>::is_empty) => &self.empty,
            None => return None,
        };
        self.matches.fetch_add(1, Ordering::Relaxed);
        Some(Arc::clone(result))
    }

    /// How many subscriptions are filed.
    pub fn count(&self) -> usize {
        self.count
    }

    /// True when nothing is filed.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// How many results are cached.
    pub fn cache_len(&self) -> usize {
        self.cache.as_ref().map_or(0, |c| c.results.len())
    }

    /// Changes with every successful insert and remove.
    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// The counters `/subsz` reports (fanout figures are over cached results,
    /// as in nats-server).
    pub fn stats(&self) -> SublistStats {
        let mut stats = SublistStats {
            num_subscriptions: self.count as u64,
            num_inserts: self.inserts,
            num_removes: self.removes,
            num_matches: self.matches.load(Ordering::Relaxed),
            cache_hits: self.hits.load(Ordering::Relaxed),
            ..SublistStats::default()
        };
        if let Some(cache) = &self.cache {
            stats.num_cache = cache.results.len() as u64;
            for result in cache.results.values() {
                let fanout = result.fanout() as u64;
                stats.total_fanout += fanout;
                stats.max_fanout = stats.max_fanout.max(fanout);
            }
        }
        stats.derive();
        stats
    }

    /// Calls `f(filter, queue, sub)` for every entry, in no particular order
    /// (for `/subsz` listings and for telling a new route about interest).
    pub fn visit(&self, f: impl FnMut(&str, Option<&str>, &S)) {
        self.root.visit(f);
    }
}

fn check(filter: &[u8], queue: Option<&str>) -> Result<(), SublistError> {
    if !is_valid_filter(filter) {
        return Err(SublistError::InvalidSubject);
    }
    match queue {
        Some(q) if q.is_empty() || q.contains(char::is_whitespace) => {
            Err(SublistError::InvalidQueue)
        }
        _ => Ok(()),
    }
}

/// A valid filter without wildcard tokens.
fn is_literal(filter: &[u8]) -> bool {
    !has_wildcard(filter)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prunes_to_empty() {
        let mut sl = Sublist::new();
        sl.insert("a.b.c", None, 1).unwrap();
        sl.insert("a.*.>", Some("q"), 2).unwrap();
        sl.insert("a", None, 3).unwrap();
        sl.remove("a.b.c", None, &1).unwrap();
        sl.remove("a", None, &3).unwrap();
        sl.remove("a.*.>", Some("q"), &2).unwrap();
        assert!(sl.root.is_empty());
        assert!(sl.is_empty());
    }

    #[test]
    fn prune_keeps_shared_prefix() {
        let mut sl = Sublist::new();
        sl.insert("a.b.c", None, 1).unwrap();
        sl.insert("a.b.d", None, 2).unwrap();
        sl.remove("a.b.c", None, &1).unwrap();
        assert_eq!(sl.matches("a.b.d").plain, vec![2]);
        sl.remove("a.b.d", None, &2).unwrap();
        assert!(sl.root.is_empty());
    }

    #[test]
    fn large_sets_use_an_index() {
        let mut sl = Sublist::new();
        for i in 0..100 {
            sl.insert("x", None, i).unwrap();
        }
        assert_eq!(sl.insert("x", None, 50), Err(SublistError::AlreadyExists));
        for i in (0..100).step_by(3) {
            sl.remove("x", None, &i).unwrap();
        }
        let mut plain = sl.matches("x").plain.clone();
        plain.sort();
        let want: Vec<i32> = (0..100).filter(|i| i % 3 != 0).collect();
        assert_eq!(plain, want);
        for i in want {
            sl.remove("x", None, &i).unwrap();
        }
        assert!(sl.root.is_empty());
    }
}
