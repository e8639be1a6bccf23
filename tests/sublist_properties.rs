//! Properties of the subscription index, checked with quickcheck against a
//! naive reference (a list of entries matched token by token):
//! - every match equals the reference, as multisets with queue groups
//!   grouped by name, whether served cold (no cache), warm (cache kept up to
//!   date across inserts and removes), or through a tiny cache that is swept
//!   all the time;
//! - inserts and removes succeed or fail exactly as the reference says, and
//!   the counts and counters agree with it;
//! - removing everything leaves the index empty.
//!
//! Tokens come from a tiny alphabet so that wildcards collide often.
//! `QUICKCHECK_TESTS=N` raises the number of cases.

use edge::nats::sublist::{
    AccountIndex, MatchResult, SharedSublist, Sublist, SublistError, CACHE_MAX, GLOBAL_ACCOUNT,
};
use quickcheck::{Arbitrary, Gen, QuickCheck, TestResult};
use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::collections::BTreeMap;
use std::sync::Arc;

// ---------------------------------------------------------------------------
// Allocation counting (per thread), to check that cache hits allocate nothing.

struct Counting;

thread_local! {
    static ALLOCATIONS: Cell<u64> = const { Cell::new(0) };
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let _ = ALLOCATIONS.try_with(|n| n.set(n.get() + 1));
        // SAFETY: forwarded unchanged to the system allocator.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded unchanged to the system allocator.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let _ = ALLOCATIONS.try_with(|n| n.set(n.get() + 1));
        // SAFETY: forwarded unchanged to the system allocator.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

fn allocations() -> u64 {
    ALLOCATIONS.with(Cell::get)
}

// ---------------------------------------------------------------------------
// The naive reference.

type Sub = u8;

#[derive(Clone, Debug, PartialEq, Eq)]
struct Entry {
    filter: String,
    queue: Option<String>,
    sub: Sub,
}

fn naive_valid_filter(filter: &str) -> bool {
    let tokens: Vec<&str> = filter.split('.').collect();
    !filter.chars().any(char::is_whitespace)
        && tokens.iter().all(|t| !t.is_empty())
        && tokens.iter().rev().skip(1).all(|t| *t != ">")
}

fn naive_valid_queue(queue: Option<&str>) -> bool {
    match queue {
        None => true,
        Some(q) => !q.is_empty() && !q.chars().any(char::is_whitespace),
    }
}

/// Token by token: `*` takes one token, `>` one or more, others must equal.
fn naive_matches(filter: &str, subject: &str) -> bool {
    let f: Vec<&str> = filter.split('.').collect();
    let s: Vec<&str> = subject.split('.').collect();
    if s.iter().any(|t| t.is_empty()) {
        return false;
    }
    for (i, ft) in f.iter().enumerate() {
        match *ft {
            ">" => return s.len() > i,
            "*" if i < s.len() => {}
            literal if s.get(i) == Some(&literal) => {}
            _ => return false,
        }
    }
    f.len() == s.len()
}

#[derive(Default)]
struct Naive {
    entries: Vec<Entry>,
}

impl Naive {
    fn insert(&mut self, filter: &str, queue: Option<&str>, sub: Sub) -> Result<(), SublistError> {
        if !naive_valid_filter(filter) {
            return Err(SublistError::InvalidSubject);
        }
        if !naive_valid_queue(queue) {
            return Err(SublistError::InvalidQueue);
        }
        let entry = Entry {
            filter: filter.to_owned(),
            queue: queue.map(str::to_owned),
            sub,
        };
        if self.entries.contains(&entry) {
            return Err(SublistError::AlreadyExists);
        }
        self.entries.push(entry);
        Ok(())
    }

    fn remove(&mut self, filter: &str, queue: Option<&str>, sub: Sub) -> Result<(), SublistError> {
        if !naive_valid_filter(filter) {
            return Err(SublistError::InvalidSubject);
        }
        if !naive_valid_queue(queue) {
            return Err(SublistError::InvalidQueue);
        }
        let found = self
            .entries
            .iter()
            .position(|e| e.filter == filter && e.queue.as_deref() == queue && e.sub == sub);
        match found {
            Some(i) => {
                self.entries.remove(i);
                Ok(())
            }
            None => Err(SublistError::NotFound),
        }
    }

    fn matches(&self, subject: &str) -> Normal {
        let mut normal = Normal::default();
        for e in self
            .entries
            .iter()
            .filter(|e| naive_matches(&e.filter, subject))
        {
            match &e.queue {
                None => normal.plain.push(e.sub),
                Some(q) => normal.queues.entry(q.clone()).or_default().push(e.sub),
            }
        }
        normal.sort();
        normal
    }
}

/// A match result as multisets: plain subs sorted, groups by name.
#[derive(Debug, Default, PartialEq, Eq)]
struct Normal {
    plain: Vec<Sub>,
    queues: BTreeMap<String, Vec<Sub>>,
}

impl Normal {
    fn sort(&mut self) {
        self.plain.sort_unstable();
        for members in self.queues.values_mut() {
            members.sort_unstable();
        }
    }
}

/// Normalizes a result, checking that group names are distinct and groups
/// non-empty.
fn normal(result: &MatchResult<Sub>) -> Result<Normal, String> {
    let mut normal = Normal {
        plain: result.plain.clone(),
        queues: BTreeMap::new(),
    };
    for group in &result.queues {
        if group.members.is_empty() {
            return Err(format!("empty group {}", group.name));
        }
        if normal
            .queues
            .insert(group.name.to_string(), group.members.clone())
            .is_some()
        {
            return Err(format!("group {} listed twice", group.name));
        }
    }
    normal.sort();
    Ok(normal)
}

// ---------------------------------------------------------------------------
// Generated operations.

const FILTER_TOKENS: [&str; 4] = ["a", "b", "*", ">"];
const SUBJECT_TOKENS: [&str; 3] = ["a", "b", "c"];
const QUEUES: [Option<&str>; 3] = [None, Some("q"), Some("r")];
const INVALID_FILTERS: [&str; 6] = ["", "a.", ".a", "a..b", ">.a", "a b"];

/// Every publish subject of 1 to 4 tokens over the subject alphabet, plus a
/// few odd ones (wildcard characters as literal tokens, empty tokens).
fn universe() -> Vec<String> {
    let mut all: Vec<String> = SUBJECT_TOKENS.iter().map(|t| t.to_string()).collect();
    let mut last = all.clone();
    for _ in 1..4 {
        last = last
            .iter()
            .flat_map(|p| SUBJECT_TOKENS.iter().map(move |t| format!("{p}.{t}")))
            .collect();
        all.extend(last.iter().cloned());
    }
    all.extend(["*", "a.*", ">", "a.>", "*.b", "a..b", "", ".", "a."].map(String::from));
    all
}

fn pick<T: Copy>(g: &mut Gen, items: &[T]) -> T {
    let i = usize::arbitrary(g) % items.len();
    items[i]
}

fn filter(g: &mut Gen) -> String {
    if u8::arbitrary(g) % 20 == 0 {
        return pick(g, &INVALID_FILTERS).to_owned();
    }
    let len = 1 + usize::arbitrary(g) % 3;
    let mut tokens = Vec::new();
    for i in 0..len {
        let token = pick(g, &FILTER_TOKENS);
        // `>` only last, so most filters are valid.
        tokens.push(if token == ">" && i + 1 < len {
            "*"
        } else {
            token
        });
    }
    tokens.join(".")
}

fn subject(g: &mut Gen) -> String {
    let universe = universe();
    universe[usize::arbitrary(g) % universe.len()].clone()
}

fn queue(g: &mut Gen) -> Option<String> {
    if u8::arbitrary(g) % 30 == 0 {
        return Some(pick(g, &["", "x y"]).to_owned());
    }
    pick(g, &QUEUES).map(str::to_owned)
}

#[derive(Clone, Debug)]
enum Op {
    Insert(String, Option<String>, Sub),
    /// Removes an arbitrary (often absent) entry.
    Remove(String, Option<String>, Sub),
    /// Removes the n-th present entry (modulo their number).
    RemovePresent(usize),
    /// Removes several present entries in one batch, plus an absent one.
    RemoveBatch(Vec<usize>),
    Match(String),
}

impl Arbitrary for Op {
    fn arbitrary(g: &mut Gen) -> Self {
        match u8::arbitrary(g) % 10 {
            0..=3 => Op::Insert(filter(g), queue(g), u8::arbitrary(g) % 4),
            4 => Op::Remove(filter(g), queue(g), u8::arbitrary(g) % 4),
            5 | 6 => Op::RemovePresent(usize::arbitrary(g)),
            7 => Op::RemoveBatch(Vec::<usize>::arbitrary(g).into_iter().take(3).collect()),
            _ => Op::Match(subject(g)),
        }
    }

    fn shrink(&self) -> Box<dyn Iterator<Item = Self>> {
        match self {
            Op::RemoveBatch(v) => Box::new(v.shrink().map(Op::RemoveBatch)),
            _ => Box::new(std::iter::empty()),
        }
    }
}

// ---------------------------------------------------------------------------
// The model run.

/// The index under test in several configurations, fed the same operations.
struct Subjects {
    /// Default cache; kept warm by matching the whole universe after every
    /// change, so every invalidation path is exercised.
    warm: Sublist<Sub>,
    /// A cache of 4 results: swept constantly.
    tiny: Sublist<Sub>,
    /// No cache: every match walks the tree.
    cold: Sublist<Sub>,
    /// The thread-shared wrapper.
    shared: SharedSublist<Sub>,
    naive: Naive,
    inserts: u64,
    removes: u64,
    warm_matches: u64,
    shared_matches: u64,
}

impl Subjects {
    fn new() -> Self {
        Subjects {
            warm: Sublist::new(),
            tiny: Sublist::with_cache_limit(4),
            cold: Sublist::without_cache(),
            shared: SharedSublist::new(Sublist::new()),
            naive: Naive::default(),
            inserts: 0,
            removes: 0,
            warm_matches: 0,
            shared_matches: 0,
        }
    }

    fn insert(&mut self, f: &str, q: Option<&str>, s: Sub) -> Result<(), String> {
        let want = self.naive.insert(f, q, s);
        let got = [
            self.warm.insert(f, q, s),
            self.tiny.insert(f, q, s),
            self.cold.insert(f, q, s),
            self.shared.insert(f, q, s),
        ];
        if got.iter().any(|g| *g != want) {
            return Err(format!("insert {f:?} {q:?} {s}: {got:?}, want {want:?}"));
        }
        self.inserts += u64::from(want.is_ok());
        Ok(())
    }

    fn remove(&mut self, f: &str, q: Option<&str>, s: Sub) -> Result<(), String> {
        let want = self.naive.remove(f, q, s);
        let got = [
            self.warm.remove(f, q, &s),
            self.tiny.remove(f, q, &s),
            self.cold.remove(f, q, &s),
            self.shared.remove(f, q, &s),
        ];
        if got.iter().any(|g| *g != want) {
            return Err(format!("remove {f:?} {q:?} {s}: {got:?}, want {want:?}"));
        }
        self.removes += u64::from(want.is_ok());
        Ok(())
    }

    fn remove_batch(&mut self, picks: &[usize]) -> Result<(), String> {
        let mut batch: Vec<Entry> = Vec::new();
        for p in picks {
            if self.naive.entries.is_empty() {
                break;
            }
            let e = self.naive.entries.remove(p % self.naive.entries.len());
            batch.push(e);
        }
        let absent = Entry {
            filter: "zzz".into(),
            queue: None,
            sub: 0,
        };
        let entries: Vec<(&str, Option<&str>, &Sub)> = batch
            .iter()
            .chain([&absent])
            .map(|e| (e.filter.as_str(), e.queue.as_deref(), &e.sub))
            .collect();
        let got = [
            self.warm.remove_batch(entries.iter().copied()),
            self.tiny.remove_batch(entries.iter().copied()),
            self.cold.remove_batch(entries.iter().copied()),
            self.shared.remove_batch(entries.iter().copied()),
        ];
        if got.iter().any(|n| *n != batch.len()) {
            return Err(format!("remove_batch {batch:?}: {got:?}"));
        }
        if !batch.is_empty() && self.warm.cache_len() != 0 {
            return Err("remove_batch left cached results".into());
        }
        self.removes += batch.len() as u64;
        Ok(())
    }

    /// One subject through every configuration, checking hits too.
    fn check_subject(&mut self, subject: &str) -> Result<(), String> {
        let want = self.naive.matches(subject);
        let first = self.warm.matches(subject);
        let hits_before = self.warm.stats();
        let again = self.warm.matches(subject);
        let hits_after = self.warm.stats();
        self.warm_matches += 2;
        self.shared_matches += 2;
        if !Arc::ptr_eq(&first, &again) {
            return Err(format!("{subject:?}: a repeated match was not a cache hit"));
        }
        let valid = !subject.split('.').any(str::is_empty);
        let hit_delta = hits_after.cache_hit_rate * hits_after.num_matches as f64
            - hits_before.cache_hit_rate * hits_before.num_matches as f64;
        if valid && (hit_delta - 1.0).abs() > 1e-6 {
            return Err(format!("{subject:?}: a repeated match counted no hit"));
        }
        let results = [
            ("warm", first),
            ("tiny", self.tiny.matches(subject)),
            ("cold", self.cold.matches(subject)),
            ("shared", self.shared.matches(subject)),
            ("shared again", self.shared.matches(subject)),
        ];
        for (name, result) in results {
            let got = normal(&result).map_err(|e| format!("{name} {subject:?}: {e}"))?;
            if got != want {
                return Err(format!(
                    "{name} {subject:?}: got {got:?}, want {want:?}; entries {:?}",
                    self.naive.entries
                ));
            }
        }
        Ok(())
    }

    fn check_counts(&self) -> Result<(), String> {
        let n = self.naive.entries.len();
        let counts = [
            self.warm.count(),
            self.tiny.count(),
            self.cold.count(),
            self.shared.count(),
        ];
        if counts.iter().any(|c| *c != n) {
            return Err(format!("counts {counts:?}, want {n}"));
        }
        let stats = self.warm.stats();
        if stats.num_subscriptions != n as u64
            || stats.num_inserts != self.inserts
            || stats.num_removes != self.removes
            || stats.num_matches != self.warm_matches
            || stats.num_cache != self.warm.cache_len() as u64
            || self.warm.cache_len() > CACHE_MAX
            || self.tiny.cache_len() > 4
            || self.cold.cache_len() != 0
        {
            return Err(format!("stats {stats:?}"));
        }
        let shared = self.shared.stats();
        if shared.num_matches != self.shared_matches || shared.num_subscriptions != n as u64 {
            return Err(format!("shared stats {shared:?}"));
        }
        Ok(())
    }

    fn check_entries(&self) -> Result<(), String> {
        let key = |e: &Entry| (e.filter.clone(), e.queue.clone(), e.sub);
        let mut want: Vec<_> = self.naive.entries.iter().map(key).collect();
        want.sort();
        let mut got = Vec::new();
        self.warm
            .visit(|f, q, s| got.push((f.to_owned(), q.map(str::to_owned), *s)));
        got.sort();
        if got != want {
            return Err(format!("visit: {got:?}, want {want:?}"));
        }
        Ok(())
    }

    fn apply(&mut self, op: &Op, universe: &[String]) -> Result<(), String> {
        let generation = self.warm.generation();
        let shared_generation = self.shared.generation();
        let count = self.naive.entries.len();
        match op {
            Op::Insert(f, q, s) => self.insert(f, q.as_deref(), *s)?,
            Op::Remove(f, q, s) => self.remove(f, q.as_deref(), *s)?,
            Op::RemovePresent(i) => {
                if let Some(e) = self.naive.entries.get(i % count.max(1)).cloned() {
                    self.remove(&e.filter, e.queue.as_deref(), e.sub)?;
                }
            }
            Op::RemoveBatch(picks) => self.remove_batch(picks)?,
            Op::Match(subject) => return self.check_subject(subject),
        }
        let changed = self.naive.entries.len() != count;
        let moved = self.warm.generation() != generation;
        let shared_moved = self.shared.generation() != shared_generation;
        if changed != moved || changed != shared_moved {
            return Err(format!(
                "{op:?}: changed {changed}, generation moved {moved}"
            ));
        }
        self.check_counts()?;
        if changed {
            for subject in universe {
                self.check_subject(subject)?;
            }
        }
        Ok(())
    }
}

fn run(ops: &[Op]) -> Result<(), String> {
    let universe = universe();
    let mut s = Subjects::new();
    for subject in &universe {
        s.check_subject(subject)?;
    }
    for op in ops {
        s.apply(op, &universe)?;
    }
    s.check_entries()?;
    // Take everything out again: one by one from the back, the rest batched.
    let half = s.naive.entries.len() / 2;
    while s.naive.entries.len() > half {
        if let Some(e) = s.naive.entries.last().cloned() {
            s.remove(&e.filter, e.queue.as_deref(), e.sub)?;
        }
    }
    let rest: Vec<usize> = vec![0; s.naive.entries.len()];
    s.remove_batch(&rest)?;
    s.check_counts()?;
    for subject in &universe {
        s.check_subject(subject)?;
        if !s.warm.matches(subject).is_empty() {
            return Err(format!("{subject:?} still matches after removing all"));
        }
    }
    s.check_entries()?;
    if !s.warm.is_empty() || s.warm.count() != 0 {
        return Err("not empty after removing everything".into());
    }
    Ok(())
}

#[test]
fn matches_equal_the_naive_reference() {
    fn prop(ops: Vec<Op>) -> TestResult {
        match run(&ops) {
            Ok(()) => TestResult::passed(),
            Err(e) => TestResult::error(e),
        }
    }
    QuickCheck::new().quickcheck(prop as fn(Vec<Op>) -> TestResult);
}

/// The reference itself, on the cases the properties lean on.
#[test]
fn naive_reference_sanity() {
    assert!(naive_matches("a.>", "a.b.c"));
    assert!(!naive_matches("a.>", "a"));
    assert!(naive_matches("*.b", "a.b"));
    assert!(!naive_matches("*", "a.b"));
    assert!(!naive_matches("a.*", "a."));
    assert!(naive_valid_filter("a.*.>"));
    assert!(!naive_valid_filter("a.>.b"));
    assert!(universe().len() > 100);
}

// ---------------------------------------------------------------------------
// Edge cases.

fn plain(result: &MatchResult<Sub>) -> Vec<Sub> {
    let mut p = result.plain.clone();
    p.sort_unstable();
    p
}

#[test]
fn full_wildcard_does_not_match_the_parent() {
    let mut sl = Sublist::new();
    sl.insert("foo.>", None, 1).unwrap();
    assert!(sl.matches("foo").is_empty());
    assert_eq!(plain(&sl.matches("foo.bar")), [1]);
    assert_eq!(plain(&sl.matches("foo.bar.baz")), [1]);
    assert!(sl.matches("bar.foo").is_empty());
    sl.insert(">", None, 2).unwrap();
    assert_eq!(plain(&sl.matches("foo")), [2]);
}

#[test]
fn partial_wildcard_needs_a_non_empty_token() {
    let mut sl = Sublist::new();
    sl.insert("foo.*", None, 1).unwrap();
    sl.insert("foo.*.bar", None, 2).unwrap();
    sl.insert("*", None, 3).unwrap();
    sl.insert(">", None, 4).unwrap();
    for subject in ["foo.", "foo..bar", "", ".", ".foo", "foo.bar."] {
        assert!(sl.matches(subject).is_empty(), "{subject:?}");
    }
    assert_eq!(plain(&sl.matches("foo")), [3, 4]);
}

#[test]
fn one_token_wildcards_count_tokens() {
    let mut sl = Sublist::new();
    sl.insert("foo.*", None, 1).unwrap();
    sl.insert("foo.*.bar", None, 2).unwrap();
    assert_eq!(plain(&sl.matches("foo.x")), [1]);
    assert_eq!(plain(&sl.matches("foo.x.bar")), [2]);
    assert!(sl.matches("foo.x.baz").is_empty());
    assert!(sl.matches("foo.x.bar.baz").is_empty());
}

#[test]
fn wildcard_characters_inside_tokens_are_literal() {
    let mut sl = Sublist::new();
    sl.insert("foo*", None, 1).unwrap();
    sl.insert("a.b>", None, 2).unwrap();
    assert_eq!(plain(&sl.matches("foo*")), [1]);
    assert!(sl.matches("foox").is_empty());
    assert_eq!(plain(&sl.matches("a.b>")), [2]);
    assert!(sl.matches("a.b.c").is_empty());
}

#[test]
fn wildcard_tokens_in_a_published_subject_match_only_wildcards() {
    // nats-server lets non-pedantic clients publish to `foo.*`.
    let mut sl = Sublist::new();
    sl.insert("foo.bar", None, 1).unwrap();
    sl.insert("foo.*", None, 2).unwrap();
    sl.insert("foo.>", None, 3).unwrap();
    assert_eq!(plain(&sl.matches("foo.*")), [2, 3]);
    assert_eq!(plain(&sl.matches("foo.>")), [2, 3]);
}

#[test]
fn one_subscription_under_two_filters() {
    let mut sl = Sublist::new();
    sl.insert("foo.*", None, 1).unwrap();
    sl.insert("foo.>", None, 1).unwrap();
    sl.insert("foo.bar", Some("q"), 1).unwrap();
    let r = sl.matches("foo.bar");
    assert_eq!(plain(&r), [1, 1]);
    assert_eq!(r.queues.len(), 1);
    assert_eq!(sl.count(), 3);
    sl.remove("foo.>", None, &1).unwrap();
    assert_eq!(plain(&sl.matches("foo.bar")), [1]);
    assert_eq!(sl.remove("foo.>", None, &1), Err(SublistError::NotFound));
    assert_eq!(sl.remove("foo.bar", None, &1), Err(SublistError::NotFound));
    assert_eq!(
        sl.insert("foo.*", None, 1),
        Err(SublistError::AlreadyExists)
    );
    assert_eq!(sl.count(), 2);
}

#[test]
fn queue_groups_merge_across_filters() {
    let mut sl = Sublist::new();
    sl.insert("foo.*", Some("q"), 1).unwrap();
    sl.insert("foo.bar", Some("q"), 2).unwrap();
    sl.insert("foo.>", Some("q"), 3).unwrap();
    sl.insert("foo.>", Some("r"), 4).unwrap();
    sl.insert("foo.bar", None, 5).unwrap();
    sl.insert("foo.baz", Some("q"), 6).unwrap();
    let r = sl.matches("foo.bar");
    let n = normal(&r).unwrap();
    assert_eq!(n.plain, [5]);
    assert_eq!(n.queues["q"], [1, 2, 3]);
    assert_eq!(n.queues["r"], [4]);
    assert_eq!(n.queues.len(), 2);
    assert_eq!(r.fanout(), 3);
    // The queue name is shared, not copied per result.
    let again = sl.matches("foo.baz");
    let q = again.queues.iter().find(|g| &*g.name == "q").unwrap();
    let q0 = r.queues.iter().find(|g| &*g.name == "q").unwrap();
    assert!(Arc::ptr_eq(&q.name, &q0.name));
}

#[test]
fn invalid_filters_and_queues_are_rejected() {
    let mut sl = Sublist::new();
    for bad in [
        "",
        "foo.",
        ".foo",
        "foo..bar",
        "foo.>.bar",
        ">.>",
        "a b",
        "a\tb",
        "a\n",
    ] {
        assert_eq!(
            sl.insert(bad, None, 1),
            Err(SublistError::InvalidSubject),
            "{bad:?}"
        );
        assert_eq!(
            sl.remove(bad, None, &1),
            Err(SublistError::InvalidSubject),
            "{bad:?}"
        );
    }
    for bad in ["", "a b", "a\r"] {
        assert_eq!(
            sl.insert("foo", Some(bad), 1),
            Err(SublistError::InvalidQueue)
        );
    }
    assert_eq!(sl.count(), 0);
    assert_eq!(sl.stats().num_inserts, 0);
    assert_eq!(sl.generation(), 0);
}

#[test]
fn inserts_update_cached_results_copy_on_write() {
    let mut sl = Sublist::new();
    sl.insert("foo.bar", None, 1).unwrap();
    let before = sl.matches("foo.bar");
    let empty_before = sl.matches("other");
    sl.insert("foo.*", None, 2).unwrap();
    sl.insert("other", Some("q"), 3).unwrap();
    assert_eq!(plain(&before), [1]);
    assert!(empty_before.is_empty());
    assert_eq!(sl.cache_len(), 2);
    assert_eq!(plain(&sl.matches("foo.bar")), [1, 2]);
    assert_eq!(sl.matches("other").queues.len(), 1);
    assert_eq!(sl.stats().cache_hit_rate, 0.5);
}

#[test]
fn removes_drop_exactly_the_affected_cached_results() {
    let mut sl = Sublist::new();
    sl.insert("a.*", None, 1).unwrap();
    sl.insert("b", None, 2).unwrap();
    for s in ["a.x", "a.y", "b", "c"] {
        sl.matches(s);
    }
    assert_eq!(sl.cache_len(), 4);
    sl.remove("a.*", None, &1).unwrap();
    assert_eq!(sl.cache_len(), 2);
    sl.remove("b", None, &2).unwrap();
    assert_eq!(sl.cache_len(), 1);
    assert!(sl.matches("a.x").is_empty());
}

#[test]
fn remove_batch_counts_and_clears_the_cache() {
    let mut sl = Sublist::new();
    sl.insert("a", None, 1).unwrap();
    sl.insert("a.>", Some("q"), 1).unwrap();
    sl.insert("b", None, 2).unwrap();
    sl.matches("a");
    sl.matches("b");
    let removed = sl.remove_batch([("a", None, &1), ("a.>", Some("q"), &1), ("zz", None, &1)]);
    assert_eq!(removed, 2);
    assert_eq!(sl.count(), 1);
    assert_eq!(sl.cache_len(), 0);
    assert_eq!(sl.stats().num_removes, 2);
    assert_eq!(plain(&sl.matches("b")), [2]);
}

#[test]
fn cached_answers_without_a_tree_walk() {
    let mut sl = Sublist::new();
    sl.insert("foo", None, 1).unwrap();
    assert!(sl.cached("foo").is_none());
    assert_eq!(sl.stats().num_matches, 0);
    assert!(sl.cached("foo..bar").unwrap().is_empty());
    assert_eq!(sl.stats().num_matches, 1);
    let miss = sl.matches("foo");
    let hit = sl.cached("foo").unwrap();
    assert!(Arc::ptr_eq(&miss, &hit));
    let stats = sl.stats();
    assert_eq!((stats.num_matches, stats.cache_hit_rate), (3, 1.0 / 3.0));
    assert!(Sublist::<Sub>::without_cache().cached("foo").is_none());
}

#[test]
fn the_cache_stays_bounded() {
    let mut sl = Sublist::new();
    sl.insert("s.*", None, 1).unwrap();
    for i in 0..5000 {
        let r = sl.matches(format!("s.{i}"));
        assert_eq!(plain(&r), [1]);
        assert!(sl.cache_len() <= CACHE_MAX);
    }
    let stats = sl.stats();
    assert!(stats.num_cache >= (CACHE_MAX / 2) as u64);
    assert_eq!(stats.num_matches, 5000);
    assert_eq!(stats.max_fanout, 1);
    assert_eq!(stats.avg_fanout, 1.0);
}

#[test]
fn cache_hits_do_not_allocate() {
    let mut sl = Sublist::new();
    sl.insert("foo.*", Some("q"), 1).unwrap();
    sl.insert("foo.bar", None, 2).unwrap();
    let shared = SharedSublist::new(Sublist::new());
    shared.insert("foo.>", None, 3).unwrap();
    let warm = sl.matches("foo.bar");
    let shared_warm = shared.matches("foo.bar");
    let before = allocations();
    for _ in 0..1000 {
        let r = sl.matches("foo.bar");
        assert!(Arc::ptr_eq(&r, &warm));
        let r = shared.matches("foo.bar");
        assert!(Arc::ptr_eq(&r, &shared_warm));
    }
    assert_eq!(allocations() - before, 0);
    let _ = sl.matches("foo.baz");
    assert!(allocations() > before, "the counter counts");
}

#[test]
fn deep_subjects_do_not_recurse() {
    let mut sl = Sublist::new();
    let deep_filter = vec!["*"; 3000].join(".");
    let deep_subject = vec!["t"; 3000].join(".");
    let prefixed = format!("{}.>", vec!["t"; 2000].join("."));
    sl.insert(&deep_filter, None, 1).unwrap();
    sl.insert(&deep_subject, None, 2).unwrap();
    sl.insert(&prefixed, Some("q"), 3).unwrap();
    let r = sl.matches(&deep_subject);
    assert_eq!(plain(&r), [1, 2]);
    assert_eq!(r.queues.len(), 1);
    let mut n = 0;
    sl.visit(|_, _, _| n += 1);
    assert_eq!(n, 3);
    sl.remove(&deep_filter, None, &1).unwrap();
    sl.remove(&deep_subject, None, &2).unwrap();
    sl.remove(&prefixed, Some("q"), &3).unwrap();
    assert!(sl.is_empty());
    assert!(sl.matches(&deep_subject).is_empty());
}

#[test]
fn many_queue_groups_on_one_subject() {
    let mut sl = Sublist::new();
    let names: Vec<String> = (0..200).map(|i| format!("g{i}")).collect();
    for (i, name) in names.iter().enumerate() {
        sl.insert("x.*", Some(name), i as u8).unwrap();
        sl.insert("x.>", Some(name), i as u8).unwrap();
    }
    let r = sl.matches("x.y");
    let n = normal(&r).unwrap();
    assert_eq!(n.queues.len(), 200);
    assert!(n.queues.values().all(|m| m.len() == 2));
}

#[test]
fn accounts_are_separate() {
    let mut accounts: AccountIndex<Sub> = AccountIndex::new();
    assert_eq!(accounts.len(), 1);
    assert!(accounts.get(GLOBAL_ACCOUNT).is_some());
    let a = Arc::clone(accounts.get_or_create("A"));
    accounts.global().insert("foo", None, 1).unwrap();
    a.insert("foo", None, 2).unwrap();
    a.insert("bar", None, 3).unwrap();
    assert_eq!(plain(&accounts.global().matches("foo")), [1]);
    assert_eq!(plain(&a.matches("foo")), [2]);
    assert!(Arc::ptr_eq(accounts.get_or_create("A"), &a));
    let global = Arc::clone(accounts.global());
    assert!(Arc::ptr_eq(accounts.get_or_create(GLOBAL_ACCOUNT), &global));
    assert_eq!(accounts.len(), 2);
    let stats = accounts.stats();
    assert_eq!(stats.num_subscriptions, 3);
    assert_eq!(stats.num_matches, 2);
    assert!(accounts.remove(GLOBAL_ACCOUNT).is_none());
    assert!(accounts.remove("A").is_some());
    assert!(accounts.get("A").is_none());
    let names: Vec<&str> = accounts.iter().map(|(n, _)| n).collect();
    assert_eq!(names, [GLOBAL_ACCOUNT]);
}

#[test]
fn shared_sublist_across_threads() {
    let shared = Arc::new(SharedSublist::new(Sublist::new()));
    let workers: Vec<_> = (0..4u8)
        .map(|t| {
            let shared = Arc::clone(&shared);
            std::thread::spawn(move || {
                for i in 0..200u8 {
                    let filter = format!("t{t}.{}", i % 10);
                    let _ = shared.insert(&filter, None, i);
                    let _ = shared.matches(format!("t{t}.{}", i % 10));
                    if i % 3 == 0 {
                        let _ = shared.remove(&filter, None, &i);
                    }
                }
            })
        })
        .collect();
    for w in workers {
        w.join().unwrap();
    }
    let mut count = 0;
    shared.read().visit(|_, _, _| count += 1);
    assert_eq!(count, shared.count());
    for t in 0..4 {
        for d in 0..10u8 {
            let subject = format!("t{t}.{d}");
            let want: Vec<Sub> = (0..200u8).filter(|i| i % 10 == d && i % 3 != 0).collect();
            assert_eq!(plain(&shared.matches(&subject)), want);
        }
    }
}
