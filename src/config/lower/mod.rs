//! Tree -> plan: gives every key its meaning and checks it.
//!
//! Each part of the plan has its own module (`nats`, `auth`, `tls`,
//! `cluster`, `proxy`). They all read blocks through [`Block`], which matches
//! keys case-insensitively with their aliases (as nats-server does) and, when
//! a block is done, reports every key nobody read: a nats-server feature
//! edge does not implement is named as such, anything else is unknown with
//! the closest known key suggested. Lowering collects all errors instead of
//! stopping at the first, so `edge check` shows them all at once.

mod auth;
mod cluster;
mod nats;
mod proxy;
mod tls;
mod value;

pub use value::{parse_go_duration, BareNumber};

use super::error::{Diagnostic, Diagnostics, ErrorKind};
use super::source::Pos;
use super::tree::{Map, Node};
use crate::plan::Plan;

/// Lowers a parsed file into a plan, or returns every problem found.
pub fn lower(tree: &Map) -> Result<Plan, Diagnostics> {
    let mut cx = Lowering::default();
    let plan = nats::lower_top(&mut cx, tree);
    if cx.errors.is_empty() {
        Ok(plan)
    } else {
        cx.errors.0.sort_by_key(|d| (d.pos.line, d.pos.col));
        Err(cx.errors)
    }
}

/// The state of one lowering: the errors found so far.
#[derive(Default)]
pub struct Lowering {
    /// Every problem, in the order found.
    pub errors: Diagnostics,
}

impl Lowering {
    /// Records a problem.
    pub fn report(&mut self, d: Diagnostic) {
        self.errors.push(d);
    }

    /// Records an invalid value with a fix.
    pub fn invalid(&mut self, pos: &Pos, message: impl Into<String>, help: impl Into<String>) {
        self.report(Diagnostic::new(pos.clone(), ErrorKind::Invalid(message.into())).help(help));
    }

    /// Unwraps a conversion, recording its error.
    pub fn ok<T>(&mut self, r: Result<T, Diagnostic>) -> Option<T> {
        r.map_err(|d| self.report(d)).ok()
    }
}

/// A block being lowered: key lookup with aliases, and an account of what
/// was read so the rest can be reported.
pub struct Block<'t> {
    map: &'t Map,
    /// Where the block starts (for "missing key" errors).
    pub pos: Pos,
    /// A human name for the block in messages ("authorization", "proxy route").
    pub what: &'static str,
    known: Vec<&'static str>,
    unsupported: Vec<(&'static str, &'static str)>,
    taken: Vec<bool>,
}

impl<'t> Block<'t> {
    /// Starts reading a block.
    pub fn new(map: &'t Map, pos: Pos, what: &'static str) -> Self {
        Block {
            map,
            pos,
            what,
            known: Vec::new(),
            unsupported: Vec::new(),
            taken: vec![false; map.len()],
        }
    }

    /// Reads a node as a block, reporting a type error otherwise.
    pub fn of(cx: &mut Lowering, node: &'t Node, what: &'static str) -> Option<Self> {
        cx.ok(node.map())
            .map(|m| Block::new(m, node.pos.clone(), what))
    }

    /// The value of a key under any of its names (case-insensitive). Setting
    /// the same key twice under two spellings is an error, since nats-server
    /// would apply them in random order.
    pub fn get(&mut self, cx: &mut Lowering, names: &[&'static str]) -> Option<&'t Node> {
        self.known.extend_from_slice(names);
        let mut found: Option<(usize, &'t str)> = None;
        for (i, entry) in self.map.iter().enumerate() {
            if !names.iter().any(|n| entry.key.eq_ignore_ascii_case(n)) {
                continue;
            }
            self.taken[i] = true;
            match found {
                None => found = Some((i, entry.key.as_str())),
                Some((_, first)) => cx.report(
                    Diagnostic::new(
                        entry.key_pos.clone(),
                        ErrorKind::Invalid(format!(
                            "`{}` is set twice in {} (also as `{first}`)",
                            entry.key, self.what
                        )),
                    )
                    .help("keep one of them: both spellings set the same option"),
                ),
            }
        }
        found.and_then(|(i, _)| self.map.iter().nth(i).map(|e| &e.value))
    }

    /// Reads and converts a key; a conversion error is recorded and gives `None`.
    pub fn take<T>(
        &mut self,
        cx: &mut Lowering,
        names: &[&'static str],
        convert: impl FnOnce(&'t Node) -> Result<T, Diagnostic>,
    ) -> Option<T> {
        let node = self.get(cx, names)?;
        cx.ok(convert(node))
    }

    /// Declares nats-server keys edge rejects by name, with what they are.
    pub fn unsupported(&mut self, keys: &[(&'static str, &'static str)]) {
        self.unsupported.extend_from_slice(keys);
    }

    /// Reports every key that was not read.
    pub fn finish(self, cx: &mut Lowering) {
        for (i, entry) in self.map.iter().enumerate() {
            if self.taken[i] {
                continue;
            }
            let lower = entry.key.to_ascii_lowercase();
            if let Some((key, what)) = self.unsupported.iter().find(|(k, _)| *k == lower) {
                cx.report(
                    Diagnostic::new(
                        entry.key_pos.clone(),
                        ErrorKind::Unsupported {
                            key: (*key).to_string(),
                            what: (*what).to_string(),
                        },
                    )
                    .help(format!(
                        "remove `{}`; edge serves core NATS only",
                        entry.key
                    )),
                );
                continue;
            }
            // A key used as `$NAME` is a variable definition, which
            // nats-server does not report as unknown.
            if entry.used_as_variable {
                continue;
            }
            let mut d = Diagnostic::new(
                entry.key_pos.clone(),
                ErrorKind::UnknownKey {
                    key: entry.key.clone(),
                },
            );
            d = match closest(&lower, &self.known) {
                Some(best) => d.help(format!("did you mean `{best}`?")),
                None => d.help(format!(
                    "{} takes: {}",
                    self.what,
                    dedup(&self.known).join(", ")
                )),
            };
            cx.report(d);
        }
    }
}

impl Block<'_> {
    /// A listener address the nats-server way: `listen` ("host:port" or a
    /// port), then `host`/`net` and `port`, which override its parts.
    pub fn listen_address(
        &mut self,
        cx: &mut Lowering,
        default_port: u16,
    ) -> crate::plan::HostPort {
        let default_host = crate::plan::nats::defaults::HOST;
        let mut listen = self
            .take(cx, &["listen"], |n| n.host_port(default_host))
            .unwrap_or(crate::plan::HostPort {
                host: default_host.into(),
                port: default_port,
            });
        if let Some(host) = self.take(cx, &["host", "net"], Node::non_empty) {
            listen.host = host;
        }
        if let Some(port) = self.take(cx, &["port"], Node::port) {
            listen.port = port;
        }
        listen
    }
}

/// The known key closest to a misspelled one, if any is close enough.
fn closest(key: &str, known: &[&'static str]) -> Option<&'static str> {
    known
        .iter()
        .map(|k| (strsim::normalized_damerau_levenshtein(key, k), *k))
        .filter(|(score, _)| *score >= 0.6)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, k)| k)
}

fn dedup(names: &[&'static str]) -> Vec<&'static str> {
    let mut out: Vec<&'static str> = Vec::new();
    for n in names {
        if !out.contains(n) {
            out.push(n);
        }
    }
    out
}
