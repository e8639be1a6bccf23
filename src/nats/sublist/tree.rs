//! The token tree: one [`Level`] per token position, one [`Node`] per token
//! value at that position (literal tokens by name, `*` and `>` in their own
//! slots), subscriptions held by the node of their filter's last token.
//!
//! Every walk here is iterative: a filter or subject may have thousands of
//! tokens (a 4 KiB control line), so nothing recurses per token.

use super::{MatchResult, QueueGroup, SublistError};
use crate::nats::subject::tokens;
use std::collections::HashMap;
use std::hash::Hash;
use std::sync::Arc;

/// Sets larger than this keep a hash index beside the list; smaller ones are
/// scanned, which is faster and lighter for the usual one or two members.
const INDEX_ABOVE: usize = 16;

/// Above this many queue groups a result being built indexes them by name.
const GROUP_INDEX_ABOVE: usize = 8;

/// One token of a filter, as the tree files it.
#[derive(Clone, Copy)]
enum Token<'a> {
    Literal(&'a [u8]),
    /// `*`: exactly one token.
    One,
    /// `>`: one or more trailing tokens.
    Rest,
}

impl<'a> Token<'a> {
    fn of(token: &'a [u8]) -> Self {
        match token {
            b"*" => Token::One,
            b">" => Token::Rest,
            literal => Token::Literal(literal),
        }
    }
}

/// Distinct subscriptions, kept in a list so matching copies a slice.
/// Removal swaps the last member into the hole: order is not kept.
pub(super) struct SubSet<S> {
    list: Vec<S>,
    index: Option<HashMap<S, usize>>,
}

impl<S: Clone + Eq + Hash> SubSet<S> {
    fn new() -> Self {
        SubSet {
            list: Vec::new(),
            index: None,
        }
    }

    fn is_empty(&self) -> bool {
        self.list.is_empty()
    }

    fn position(&self, sub: &S) -> Option<usize> {
        match &self.index {
            Some(index) => index.get(sub).copied(),
            None => self.list.iter().position(|s| s == sub),
        }
    }

    /// False if `sub` is already a member.
    fn insert(&mut self, sub: S) -> bool {
        if self.position(&sub).is_some() {
            return false;
        }
        if let Some(index) = &mut self.index {
            index.insert(sub.clone(), self.list.len());
        }
        self.list.push(sub);
        if self.index.is_none() && self.list.len() > INDEX_ABOVE {
            let index = self
                .list
                .iter()
                .enumerate()
                .map(|(i, s)| (s.clone(), i))
                .collect();
            self.index = Some(index);
        }
        true
    }

    /// False if `sub` was not a member.
    fn remove(&mut self, sub: &S) -> bool {
        let Some(i) = self.position(sub) else {
            return false;
        };
        self.list.swap_remove(i);
        if let Some(index) = &mut self.index {
            index.remove(sub);
            if let Some(moved) = self.list.get(i) {
                if let Some(slot) = index.get_mut(moved) {
                    *slot = i;
                }
            }
            // Hysteresis: drop the index well below the point it was built.
            if self.list.len() <= INDEX_ABOVE / 2 {
                self.index = None;
            }
        }
        true
    }
}

/// The subscriptions whose filter ends at this token, and the level below.
pub(super) struct Node<S> {
    next: Option<Box<Level<S>>>,
    plain: SubSet<S>,
    queues: HashMap<Arc<str>, SubSet<S>>,
}

impl<S: Clone + Eq + Hash> Node<S> {
    fn new() -> Self {
        Node {
            next: None,
            plain: SubSet::new(),
            queues: HashMap::new(),
        }
    }

    fn holds_subs(&self) -> bool {
        !self.plain.is_empty() || !self.queues.is_empty()
    }

    fn children(&self) -> usize {
        self.next.as_ref().map_or(0, |level| level.len())
    }
}

/// The nodes at one token position.
pub(super) struct Level<S> {
    literal: HashMap<Box<[u8]>, Node<S>>,
    one: Option<Box<Node<S>>>,
    rest: Option<Box<Node<S>>>,
}

impl<S: Clone + Eq + Hash> Default for Level<S> {
    fn default() -> Self {
        Level {
            literal: HashMap::new(),
            one: None,
            rest: None,
        }
    }
}

impl<S: Clone + Eq + Hash> Level<S> {
    fn len(&self) -> usize {
        self.literal.len() + usize::from(self.one.is_some()) + usize::from(self.rest.is_some())
    }

    /// True when no subscription is filed anywhere below.
    pub(super) fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn child(&self, token: Token<'_>) -> Option<&Node<S>> {
        match token {
            Token::Literal(t) => self.literal.get(t),
            Token::One => self.one.as_deref(),
            Token::Rest => self.rest.as_deref(),
        }
    }

    fn child_mut(&mut self, token: Token<'_>) -> Option<&mut Node<S>> {
        match token {
            Token::Literal(t) => self.literal.get_mut(t),
            Token::One => self.one.as_deref_mut(),
            Token::Rest => self.rest.as_deref_mut(),
        }
    }

    fn child_or_insert(&mut self, token: Token<'_>) -> &mut Node<S> {
        match token {
            Token::Literal(t) => self.literal.entry(t.into()).or_insert_with(Node::new),
            Token::One => self.one.get_or_insert_with(|| Box::new(Node::new())),
            Token::Rest => self.rest.get_or_insert_with(|| Box::new(Node::new())),
        }
    }

    fn remove_child(&mut self, token: Token<'_>) {
        match token {
            Token::Literal(t) => {
                self.literal.remove(t);
            }
            Token::One => self.one = None,
            Token::Rest => self.rest = None,
        }
    }

    /// Files `sub` under `filter` (already validated) and returns the shared
    /// name of its queue group, if any.
    pub(super) fn insert(
        &mut self,
        filter: &[u8],
        queue: Option<&str>,
        sub: S,
    ) -> Result<Option<Arc<str>>, SublistError> {
        let mut tokens = tokens(filter).map(Token::of).peekable();
        let mut level = self;
        let node = loop {
            let Some(token) = tokens.next() else {
                return Err(SublistError::InvalidSubject);
            };
            let node = level.child_or_insert(token);
            if tokens.peek().is_none() {
                break node;
            }
            level = node.next.get_or_insert_with(Default::default);
        };
        let (set, name) = match queue {
            None => (&mut node.plain, None),
            Some(queue) => {
                let name = match node.queues.get_key_value(queue) {
                    Some((name, _)) => Arc::clone(name),
                    None => Arc::from(queue),
                };
                let set = node
                    .queues
                    .entry(Arc::clone(&name))
                    .or_insert_with(SubSet::new);
                (set, Some(name))
            }
        };
        if set.insert(sub) {
            Ok(name)
        } else {
            Err(SublistError::AlreadyExists)
        }
    }

    fn find_mut(&mut self, filter: &[u8]) -> Option<&mut Node<S>> {
        let mut tokens = tokens(filter).map(Token::of).peekable();
        let mut level = self;
        loop {
            let node = level.child_mut(tokens.next()?)?;
            if tokens.peek().is_none() {
                return Some(node);
            }
            level = node.next.as_deref_mut()?;
        }
    }

    /// Takes `sub` out of `filter`'s node and prunes the nodes left holding
    /// nothing. False if it was not there.
    pub(super) fn remove(&mut self, filter: &[u8], queue: Option<&str>, sub: &S) -> bool {
        let Some(node) = self.find_mut(filter) else {
            return false;
        };
        let removed = match queue {
            None => node.plain.remove(sub),
            Some(queue) => match node.queues.get_mut(queue) {
                None => false,
                Some(set) => {
                    let removed = set.remove(sub);
                    if set.is_empty() {
                        node.queues.remove(queue);
                    }
                    removed
                }
            },
        };
        if removed {
            self.prune(filter);
        }
        removed
    }

    /// Cuts off the deepest run of nodes on `filter`'s path that hold no
    /// subscription and lead only further down that same path.
    fn prune(&mut self, filter: &[u8]) {
        let depth = tokens(filter).count();
        // First the shallowest token position from which the rest is unused.
        let mut cut = None;
        let mut level: &Level<S> = self;
        for (i, token) in tokens(filter).map(Token::of).enumerate() {
            let Some(node) = level.child(token) else {
                return;
            };
            let last = i + 1 == depth;
            let unused = !node.holds_subs() && node.children() == usize::from(!last);
            match (unused, cut) {
                (true, None) => cut = Some(i),
                (false, _) => cut = None,
                (true, Some(_)) => {}
            }
            if last {
                break;
            }
            match node.next.as_deref() {
                Some(next) => level = next,
                None => return,
            }
        }
        let Some(cut) = cut else {
            return;
        };
        // Then down to the node's parent, and out with it.
        let mut tokens = tokens(filter).map(Token::of);
        let Some(parent_depth) = cut.checked_sub(1) else {
            if let Some(token) = tokens.next() {
                self.remove_child(token);
            }
            return;
        };
        let mut level: &mut Level<S> = self;
        for _ in 0..parent_depth {
            let Some(node) = tokens.next().and_then(|t| level.child_mut(t)) else {
                return;
            };
            let Some(next) = node.next.as_deref_mut() else {
                return;
            };
            level = next;
        }
        let Some(parent) = tokens.next().and_then(|t| level.child_mut(t)) else {
            return;
        };
        let Some(below) = parent.next.as_deref_mut() else {
            return;
        };
        if let Some(token) = tokens.next() {
            below.remove_child(token);
        }
        if below.is_empty() {
            parent.next = None;
        }
    }

    /// Adds every subscription matching the publish subject `tokens` (none
    /// empty, at least one) to `out`, in nats-server's `matchLevel` order
    /// (it decides which of a client's subscriptions gets a message first):
    /// at each level the `>` node, then everything under the `*` branch,
    /// then the literal branch; at the last token the literal node before
    /// the `*` node.
    pub(super) fn collect(&self, tokens: &[&[u8]], out: &mut ResultBuilder<S>) {
        enum Task<'a, S> {
            Level(&'a Level<S>, usize),
            Add(&'a Node<S>),
        }
        let mut tasks = vec![Task::Level(self, 0)];
        while let Some(task) = tasks.pop() {
            let (level, i) = match task {
                Task::Add(node) => {
                    out.add(node);
                    continue;
                }
                Task::Level(level, i) => (level, i),
            };
            let Some(token) = tokens.get(i) else {
                continue;
            };
            let last = i + 1 == tokens.len();
            let literal = level.literal.get(*token);
            let one = level.one.as_deref();
            // Pushed in reverse: the stack pops them in nats-server's order.
            if last {
                tasks.extend(one.map(Task::Add));
                tasks.extend(literal.map(Task::Add));
            } else {
                tasks.extend(
                    literal
                        .and_then(|n| n.next.as_deref())
                        .map(|next| Task::Level(next, i + 1)),
                );
                tasks.extend(
                    one.and_then(|n| n.next.as_deref())
                        .map(|next| Task::Level(next, i + 1)),
                );
            }
            if let Some(rest) = level.rest.as_deref() {
                out.add(rest);
            }
        }
    }

    /// Calls `f(filter, queue, sub)` for every subscription in the tree.
    pub(super) fn visit(&self, mut f: impl FnMut(&str, Option<&str>, &S)) {
        let mut pending: Vec<(&Level<S>, String)> = vec![(self, String::new())];
        while let Some((level, prefix)) = pending.pop() {
            let literal = level
                .literal
                .iter()
                .map(|(t, n)| (String::from_utf8_lossy(t), n));
            let wild = [("*", level.one.as_deref()), (">", level.rest.as_deref())];
            let wild = wild
                .into_iter()
                .filter_map(|(t, n)| n.map(|n| (std::borrow::Cow::Borrowed(t), n)));
            for (token, node) in literal.chain(wild) {
                let filter = if prefix.is_empty() {
                    token.into_owned()
                } else {
                    format!("{prefix}.{token}")
                };
                for sub in &node.plain.list {
                    f(&filter, None, sub);
                }
                for (queue, set) in &node.queues {
                    for sub in &set.list {
                        f(&filter, Some(queue), sub);
                    }
                }
                if let Some(next) = node.next.as_deref() {
                    pending.push((next, filter));
                }
            }
        }
    }
}

/// Builds a [`MatchResult`], merging queue groups of the same name that come
/// from different nodes (filters) into one group.
pub(super) struct ResultBuilder<S> {
    result: MatchResult<S>,
    by_name: Option<HashMap<Arc<str>, usize>>,
}

impl<S: Clone + Eq + Hash> ResultBuilder<S> {
    pub(super) fn new() -> Self {
        ResultBuilder {
            result: MatchResult::default(),
            by_name: None,
        }
    }

    pub(super) fn finish(self) -> MatchResult<S> {
        self.result
    }

    fn add(&mut self, node: &Node<S>) {
        self.result.plain.extend_from_slice(&node.plain.list);
        for (name, set) in &node.queues {
            let slot = self.slot(name);
            if let Some(group) = self.result.queues.get_mut(slot) {
                group.members.extend_from_slice(&set.list);
            }
        }
    }

    fn slot(&mut self, name: &Arc<str>) -> usize {
        let queues = &mut self.result.queues;
        let found = match &self.by_name {
            Some(by_name) => by_name.get(name).copied(),
            None => queues.iter().position(|g| g.name == *name),
        };
        if let Some(slot) = found {
            return slot;
        }
        let slot = queues.len();
        queues.push(QueueGroup {
            name: Arc::clone(name),
            members: Vec::new(),
        });
        match &mut self.by_name {
            Some(by_name) => {
                by_name.insert(Arc::clone(name), slot);
            }
            None if queues.len() > GROUP_INDEX_ABOVE => {
                let by_name = queues
                    .iter()
                    .enumerate()
                    .map(|(i, g)| (Arc::clone(&g.name), i))
                    .collect();
                self.by_name = Some(by_name);
            }
            None => {}
        }
        slot
    }
}
