//! Sublists shared between connection tasks, and one per account.

use super::{MatchResult, Sublist, SublistError, SublistStats};
use std::collections::HashMap;
use std::hash::Hash;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};

pub use crate::nats::GLOBAL_ACCOUNT;

/// A [`Sublist`] behind a read-write lock, for many connection tasks.
///
/// Cache hits take only the read lock; misses and changes take the write
/// lock. A panic while locked cannot leave the index half-changed (no
/// operation panics midway on any input), so a poisoned lock is used as is.
pub struct SharedSublist<S> {
    inner: RwLock<Sublist<S>>,
    generation: AtomicU64,
}

impl<S: Clone + Eq + Hash> Default for SharedSublist<S> {
    fn default() -> Self {
        SharedSublist::new(Sublist::new())
    }
}

impl<S> std::fmt::Debug for SharedSublist<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SharedSublist")
            .field("generation", &self.generation.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

impl<S: Clone + Eq + Hash> SharedSublist<S> {
    /// Shares `sublist`.
    pub fn new(sublist: Sublist<S>) -> Self {
        let generation = AtomicU64::new(sublist.generation());
        SharedSublist {
            inner: RwLock::new(sublist),
            generation,
        }
    }

    /// The index for reading (counts, stats, [`Sublist::visit`]). Changes go
    /// through this wrapper only, so that its generation stays current.
    pub fn read(&self) -> RwLockReadGuard<'_, Sublist<S>> {
        self.inner
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn write(&self) -> RwLockWriteGuard<'_, Sublist<S>> {
        self.inner
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// [`Sublist::matches`]: a read lock for a cache hit, else a write lock.
    pub fn matches(&self, subject: impl AsRef<[u8]>) -> Arc<MatchResult<S>> {
        let subject = subject.as_ref();
        if let Some(result) = self.read().cached(subject) {
            return result;
        }
        self.write().matches(subject)
    }

    /// [`Sublist::insert`].
    pub fn insert(
        &self,
        filter: impl AsRef<[u8]>,
        queue: Option<&str>,
        sub: S,
    ) -> Result<(), SublistError> {
        let mut sublist = self.write();
        let outcome = sublist.insert(filter, queue, sub);
        self.generation
            .store(sublist.generation(), Ordering::Release);
        outcome
    }

    /// [`Sublist::remove`].
    pub fn remove(
        &self,
        filter: impl AsRef<[u8]>,
        queue: Option<&str>,
        sub: &S,
    ) -> Result<(), SublistError> {
        let mut sublist = self.write();
        let outcome = sublist.remove(filter, queue, sub);
        self.generation
            .store(sublist.generation(), Ordering::Release);
        outcome
    }

    /// [`Sublist::remove_batch`].
    pub fn remove_batch<'a, F, I>(&self, entries: I) -> usize
    where
        F: AsRef<[u8]>,
        I: IntoIterator<Item = (F, Option<&'a str>, &'a S)>,
        S: 'a,
    {
        let mut sublist = self.write();
        let removed = sublist.remove_batch(entries);
        self.generation
            .store(sublist.generation(), Ordering::Release);
        removed
    }

    /// [`Sublist::count`].
    pub fn count(&self) -> usize {
        self.read().count()
    }

    /// [`Sublist::stats`].
    pub fn stats(&self) -> SublistStats {
        self.read().stats()
    }

    /// The generation, read without the lock. It is published after each
    /// change is applied: read it *before* matching, and a result cached
    /// under it is stale once it differs.
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }
}

/// One shared sublist per account name; [`GLOBAL_ACCOUNT`] always exists.
///
/// Accounts are added at config load (or reload); lookups then take `&self`,
/// so the runtime can hold the index in an `Arc` and swap it whole on reload.
pub struct AccountIndex<S> {
    global: Arc<SharedSublist<S>>,
    others: HashMap<Arc<str>, Arc<SharedSublist<S>>>,
}

impl<S: Clone + Eq + Hash> Default for AccountIndex<S> {
    fn default() -> Self {
        AccountIndex::new()
    }
}

impl<S> std::fmt::Debug for AccountIndex<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut names: Vec<&str> = self.others.keys().map(|k| &**k).collect();
        names.sort_unstable();
        f.debug_struct("AccountIndex")
            .field("accounts", &names)
            .finish_non_exhaustive()
    }
}

impl<S: Clone + Eq + Hash> AccountIndex<S> {
    /// Only the global account, with an empty sublist.
    pub fn new() -> Self {
        AccountIndex {
            global: Arc::new(SharedSublist::default()),
            others: HashMap::new(),
        }
    }

    /// The global account's sublist.
    pub fn global(&self) -> &Arc<SharedSublist<S>> {
        &self.global
    }

    /// The sublist of `account`, if it exists.
    pub fn get(&self, account: &str) -> Option<&Arc<SharedSublist<S>>> {
        if account == GLOBAL_ACCOUNT {
            Some(&self.global)
        } else {
            self.others.get(account)
        }
    }

    /// The sublist of `account`, created empty if new.
    pub fn get_or_create(&mut self, account: &str) -> &Arc<SharedSublist<S>> {
        if account == GLOBAL_ACCOUNT {
            return &self.global;
        }
        self.others.entry(Arc::from(account)).or_default()
    }

    /// Forgets `account` and returns its sublist; the global account stays.
    pub fn remove(&mut self, account: &str) -> Option<Arc<SharedSublist<S>>> {
        self.others.remove(account)
    }

    /// Every account with its sublist, the global one first.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &Arc<SharedSublist<S>>)> {
        let others = self.others.iter().map(|(name, sl)| (&**name, sl));
        std::iter::once((GLOBAL_ACCOUNT, &self.global)).chain(others)
    }

    /// How many accounts exist (at least one: the global account).
    pub fn len(&self) -> usize {
        1 + self.others.len()
    }

    /// Always false: the global account always exists.
    pub fn is_empty(&self) -> bool {
        false
    }

    /// The counters of every account summed, as `/subsz` reports them.
    pub fn stats(&self) -> SublistStats {
        let mut total = SublistStats::default();
        for (_, sublist) in self.iter() {
            total.add(&sublist.stats());
        }
        total
    }
}
