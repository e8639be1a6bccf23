//! Text to tree: the generated grammar plus nats-server's parser semantics.
//!
//! The grammar (`grammar/config.pest`) decides what the text says; this
//! module gives it meaning the way nats-server's `conf/parse.go` does:
//! variables resolve against the blocks opened so far, innermost first, then
//! the environment; `include` parses another file on its own and assigns its
//! keys into the open block; integer suffixes multiply (wrapping, as Go's
//! int64 does). Where nats-server silently drops or misplaces a value, edge
//! reports an error instead (see README "Deviations").

use super::error::{Diagnostic, ErrorKind};
use super::source::{decode_lossy, Pos, Source};
use super::tree::{DateTime, Entry, Map, Node, Value};
use pest::iterators::Pair;
use pest::Parser;
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;

#[allow(missing_docs, clippy::all, clippy::pedantic)]
mod generated {
    include!(concat!(env!("OUT_DIR"), "/config_parser.rs"));
}
pub use generated::{ConfigParser, Rule};

/// The key nats-server parses an environment variable's value under.
const ENV_KEY: &str = "pk";
/// Blocks and lists nested deeper than this are refused, so hostile input
/// cannot exhaust the stack.
const MAX_DEPTH: usize = 64;

type Result<T> = std::result::Result<T, Diagnostic>;

/// How variables fall back to the environment. Tests pass their own.
pub type EnvLookup<'a> = &'a dyn Fn(&str) -> Option<String>;

/// Parses a config file, following includes and reading the process
/// environment for variables no block defines.
pub fn load_file(path: &Path) -> Result<Map> {
    let env = |name: &str| std::env::var(name).ok();
    Loader::new(&env).file(path, &Pos::default())
}

/// Parses config text that did not come from a file (tests, `-` input).
/// Includes resolve against the current directory, as nats-server's `Parse`.
pub fn parse_str(name: &str, text: &str, env: EnvLookup<'_>) -> Result<Map> {
    Loader::new(env).text(Source::new(name, text.to_owned()))
}

/// One load: the include chain and environment variables being read, for
/// cycle detection.
struct Loader<'e> {
    env: EnvLookup<'e>,
    includes: Vec<PathBuf>,
    env_reading: Vec<String>,
}

impl<'e> Loader<'e> {
    fn new(env: EnvLookup<'e>) -> Self {
        Loader {
            env,
            includes: Vec::new(),
            env_reading: Vec::new(),
        }
    }

    /// Reads and parses one file. `at` is the include directive, if any.
    fn file(&mut self, path: &Path, at: &Pos) -> Result<Map> {
        let bytes = std::fs::read(path).map_err(|e| {
            Diagnostic::new(
                at.clone(),
                ErrorKind::Read {
                    path: path.display().to_string(),
                    reason: e.to_string(),
                },
            )
        })?;
        let key = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
        if let Some(i) = self.includes.iter().position(|p| *p == key) {
            let chain: Vec<String> = self.includes[i..]
                .iter()
                .chain(std::iter::once(&key))
                .map(|p| p.display().to_string())
                .collect();
            return Err(
                Diagnostic::new(at.clone(), ErrorKind::IncludeCycle(chain.join(" -> "))).help(
                    "remove one of these includes; nats-server would recurse until it crashes",
                ),
            );
        }
        self.includes.push(key);
        let result = self.text(Source::new(path, decode_lossy(&bytes)));
        self.includes.pop();
        result
    }

    /// Parses one source with a fresh variable scope.
    fn text(&mut self, source: Arc<Source>) -> Result<Map> {
        let text = source.text.as_str();
        let strict = ConfigParser::parse(Rule::config, text);
        let document = match strict {
            Ok(pairs) => pairs,
            // nats-server rejects an integer right before `]` only because of
            // a lexer bug; if that reading makes the file valid, take it.
            Err(strict_err) => match ConfigParser::parse(Rule::config_lenient, text) {
                Ok(pairs) => pairs,
                Err(_) => return Err(syntax_error(&source, strict_err)),
            },
        };
        let mut build = Build {
            loader: self,
            source: &source,
            scopes: vec![Map::default()],
            depth: 0,
        };
        // `config` holds the top-level entries directly; nested ones are
        // reached through their block.
        for pair in document.flat_map(|config| config.into_inner()) {
            if matches!(pair.as_rule(), Rule::pair | Rule::include) {
                build.entry(pair)?;
            }
        }
        Ok(build.scopes.pop().unwrap_or_default())
    }
}

/// Building one source's tree: the open blocks, innermost last.
struct Build<'l, 'e, 's> {
    loader: &'l mut Loader<'e>,
    source: &'s Arc<Source>,
    scopes: Vec<Map>,
    depth: usize,
}

impl Build<'_, '_, '_> {
    fn pos(&self, pair: &Pair<'_, Rule>) -> Pos {
        self.source.pos(pair.as_span().start())
    }

    /// One `key value`, or an include, into the innermost open block.
    fn entry(&mut self, pair: Pair<'_, Rule>) -> Result<()> {
        if pair.as_rule() == Rule::include {
            return self.include(pair);
        }
        let mut inner = pair.into_inner();
        let (Some(key_pair), Some(value_pair)) = (inner.next(), inner.next()) else {
            return Ok(());
        };
        let key = key_text(&key_pair);
        let key_pos = self.pos(&key_pair);
        match value_pair.as_rule() {
            // `}` alone at the end: the close of a JSON-style wrapper.
            Rule::no_value if key == "}" => return Ok(()),
            Rule::no_value => {
                return Err(Diagnostic::new(
                    key_pos,
                    ErrorKind::Dropped(format!("key `{key}` has no value")),
                )
                .help(format!(
                    "write `{key} = VALUE`; nats-server silently drops a key left without a value"
                )))
            }
            Rule::map_no_value => {
                return Err(Diagnostic::new(
                    key_pos,
                    ErrorKind::Dropped(format!("key `{key}` has no value")),
                )
                .help(format!(
                "write `{key} = VALUE`; nats-server would give `{key}` the enclosing block instead"
            )))
            }
            _ => {}
        }
        let value = self.value(value_pair)?;
        self.innermost().insert(Entry {
            key,
            key_pos,
            value,
            used_as_variable: false,
        });
        Ok(())
    }

    fn innermost(&mut self) -> &mut Map {
        if self.scopes.is_empty() {
            self.scopes.push(Map::default());
        }
        let last = self.scopes.len() - 1;
        &mut self.scopes[last]
    }

    /// `include PATH`: parse the file on its own, assign its keys here.
    fn include(&mut self, pair: Pair<'_, Rule>) -> Result<()> {
        let pos = self.pos(&pair);
        let path_text = pair
            .into_inner()
            .flatten()
            .find(|p| {
                matches!(
                    p.as_rule(),
                    Rule::path_sq | Rule::path_dq | Rule::path_bare_text
                )
            })
            .map(|p| p.as_str().to_owned())
            .unwrap_or_default();
        if path_text.is_empty() {
            return Err(Diagnostic::new(
                pos,
                ErrorKind::Syntax("include needs a file name".into()),
            )
            .help("write `include \"other.conf\"`"));
        }
        let path = join_like_go(self.source.dir(), &path_text);
        let included = self.loader.file(&path, &pos)?;
        let target = self.innermost();
        for entry in included.iter() {
            target.insert(entry.clone());
        }
        Ok(())
    }

    /// A value, with a bound on nesting so hostile input cannot exhaust the stack.
    fn value(&mut self, pair: Pair<'_, Rule>) -> Result<Node> {
        self.depth += 1;
        let result = if self.depth > MAX_DEPTH {
            Err(Diagnostic::new(
                self.pos(&pair),
                ErrorKind::Invalid(format!(
                    "blocks and lists nest deeper than {MAX_DEPTH} levels"
                )),
            ))
        } else {
            self.value_inner(pair)
        };
        self.depth -= 1;
        result
    }

    fn value_inner(&mut self, pair: Pair<'_, Rule>) -> Result<Node> {
        // `value` is a named wrapper (for error positions) around the real kind.
        let pair = match pair.as_rule() {
            Rule::value => match pair.into_inner().next() {
                Some(inner) => inner,
                None => {
                    return Err(Diagnostic::new(
                        self.source.pos(0),
                        ErrorKind::Syntax("empty value".into()),
                    ))
                }
            },
            _ => pair,
        };
        let pos = self.pos(&pair);
        let value = match pair.as_rule() {
            Rule::map => {
                self.scopes.push(Map::default());
                for entry in pair.into_inner() {
                    if matches!(entry.as_rule(), Rule::map_pair | Rule::include) {
                        self.entry(entry)?;
                    }
                }
                Value::Map(self.scopes.pop().unwrap_or_default())
            }
            // Lists are not variable scopes: a map inside a list sees the
            // blocks around the list, not its sibling maps.
            Rule::array => Value::Array(
                pair.into_inner()
                    .filter(|item| item.as_rule() == Rule::value)
                    .map(|item| self.value(item))
                    .collect::<Result<_>>()?,
            ),
            Rule::sq_string => Value::Str(inner_str(pair).into_bytes()),
            Rule::dq_string => Value::Str(string_parts(pair.into_inner().flatten())),
            Rule::block => {
                let mut text = Vec::new();
                for part in pair.into_inner() {
                    match part.as_rule() {
                        Rule::block_text => text.extend_from_slice(part.as_str().as_bytes()),
                        // The reference keeps the `)` when it is the last byte.
                        Rule::block_close_eof => text.push(b')'),
                        _ => {}
                    }
                }
                Value::Str(text)
            }
            Rule::datetime => Value::Time(datetime(pair.as_str(), &pos)?),
            Rule::ip_like | Rule::neg_ip_like => Value::Str(pair.as_str().as_bytes().to_vec()),
            Rule::float | Rule::neg_float => float(pair.as_str(), &pos)?,
            Rule::integer | Rule::sized | Rule::neg_integer | Rule::neg_sized => {
                Value::Int(integer(pair.as_str(), &pos)?)
            }
            // A number-looking token that turned into a string: the head is
            // literal, the rest is an unquoted string (escapes processed).
            Rule::digit_word | Rule::sized_word | Rule::neg_sized_word => {
                let mut inner = pair.into_inner();
                let mut bytes = inner
                    .next()
                    .map(|h| h.as_str().as_bytes().to_vec())
                    .unwrap_or_default();
                if let Some(rest) = inner.next() {
                    bytes.extend(string_parts(rest.into_inner().flatten()));
                }
                Value::Str(bytes)
            }
            Rule::unquoted => return self.unquoted(pair, pos),
            other => {
                return Err(Diagnostic::new(
                    pos,
                    ErrorKind::Syntax(format!("unexpected {other:?}")),
                ))
            }
        };
        Ok(Node { value, pos })
    }

    /// lexString's classification: escaped or `'`-ended tokens are strings;
    /// otherwise booleans, then `$variables`, then strings.
    fn unquoted(&mut self, pair: Pair<'_, Rule>, pos: Pos) -> Result<Node> {
        let mut escaped = false;
        let mut quote_ended = false;
        let mut parts = Vec::new();
        for p in pair.into_inner().flatten() {
            match p.as_rule() {
                Rule::escape => {
                    escaped = true;
                    parts.push(p);
                }
                Rule::uq_chars => parts.push(p),
                Rule::uq_quote => quote_ended = true,
                _ => {}
            }
        }
        let bytes = string_parts(parts.into_iter());
        if !escaped && !quote_ended {
            let text = String::from_utf8_lossy(&bytes);
            match text.to_ascii_lowercase().as_str() {
                "true" | "yes" | "on" => {
                    return Ok(Node {
                        value: Value::Bool(true),
                        pos,
                    })
                }
                "false" | "no" | "off" => {
                    return Ok(Node {
                        value: Value::Bool(false),
                        pos,
                    })
                }
                _ => {}
            }
            if let Some(name) = text.strip_prefix('$') {
                let name = name.to_owned();
                return self.variable(&name, pos);
            }
        }
        Ok(Node {
            value: Value::Str(bytes),
            pos,
        })
    }

    /// `$name`: a bcrypt literal, an earlier key of an open block (innermost
    /// first), or an environment variable read as config.
    fn variable(&mut self, name: &str, pos: Pos) -> Result<Node> {
        if name.starts_with("2a$") {
            return Ok(Node {
                value: Value::Str(format!("${name}").into_bytes()),
                pos,
            });
        }
        if let Some(found) = self
            .scopes
            .iter_mut()
            .rev()
            .find_map(|m| m.use_as_variable(name))
        {
            return Ok(Node {
                value: found.value.clone(),
                pos,
            });
        }
        let Some(raw) = (self.loader.env)(name) else {
            let help = if name.starts_with("2b$") || name.starts_with("2y$") {
                "quote bcrypt hashes that do not start with `$2a$`: \"$2b$...\"".to_string()
            } else {
                format!("define `{name} = ...` earlier in this block or an enclosing one, or set the environment variable {name}")
            };
            return Err(
                Diagnostic::new(pos, ErrorKind::UnknownVariable(name.to_owned())).help(help),
            );
        };
        if self.loader.env_reading.iter().any(|n| n == name) {
            let mut chain = self.loader.env_reading.clone();
            chain.push(name.to_owned());
            return Err(Diagnostic::new(
                pos,
                ErrorKind::VariableCycle(chain.join(" -> ")),
            ));
        }
        self.loader.env_reading.push(name.to_owned());
        let parsed = self
            .loader
            .text(Source::new(format!("${name}"), format!("{ENV_KEY}={raw}")));
        self.loader.env_reading.pop();
        let map = parsed.map_err(|inner| {
            Diagnostic::new(
                pos.clone(),
                ErrorKind::Invalid(format!(
                    "environment variable {name} could not be parsed: {}",
                    inner.kind
                )),
            )
        })?;
        match map.get(ENV_KEY) {
            Some(node) => Ok(Node {
                value: node.value.clone(),
                pos,
            }),
            None => Err(Diagnostic::new(
                pos,
                ErrorKind::UnknownVariable(name.to_owned()),
            )),
        }
    }
}

/// The text of a key pair (quotes removed, a dropped leading `/` gone).
fn key_text(pair: &Pair<'_, Rule>) -> String {
    match pair.as_rule() {
        Rule::bare_key => pair.as_str().to_owned(),
        _ => inner_str(pair.clone()),
    }
}

/// The text of a pair's first inner pair (quoted strings and keys).
fn inner_str(pair: Pair<'_, Rule>) -> String {
    pair.into_inner()
        .next()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_default()
}

/// Concatenates string pieces, decoding escapes.
fn string_parts<'i>(parts: impl Iterator<Item = Pair<'i, Rule>>) -> Vec<u8> {
    let mut out = Vec::new();
    for p in parts {
        match p.as_rule() {
            Rule::escape => out.push(unescape(p.as_str())),
            Rule::uq_chars | Rule::dq_chars => out.extend_from_slice(p.as_str().as_bytes()),
            _ => {}
        }
    }
    out
}

/// One escape sequence (already validated by the grammar) to its byte.
fn unescape(esc: &str) -> u8 {
    match esc.as_bytes().get(1) {
        Some(b't') => b'\t',
        Some(b'n') => b'\n',
        Some(b'r') => b'\r',
        Some(b'"') => b'"',
        Some(b'x') => esc
            .get(2..4)
            .and_then(|h| u8::from_str_radix(h, 16).ok())
            .unwrap_or(b'?'),
        _ => b'\\',
    }
}

/// Integer with an optional size suffix, as parse.go computes it: the
/// leading `-` and digits through int64, then the suffix multiplies with
/// silent wrap-around.
fn integer(text: &str, pos: &Pos) -> Result<i64> {
    let split = text
        .char_indices()
        .find(|&(_, c)| !(c.is_numeric() || c == '-'))
        .map_or(text.len(), |(i, _)| i);
    let (digits, suffix) = text.split_at(split);
    let number: i64 = digits.parse().map_err(|e: std::num::ParseIntError| {
        let what = match e.kind() {
            std::num::IntErrorKind::PosOverflow | std::num::IntErrorKind::NegOverflow => {
                format!("integer `{text}` is out of range")
            }
            _ => format!("expected an integer, got `{text}`"),
        };
        Diagnostic::new(pos.clone(), ErrorKind::Invalid(what))
    })?;
    let multiplier: i64 = match suffix.to_ascii_lowercase().as_str() {
        "" => 1,
        "k" => 1_000,
        "kb" | "ki" | "kib" => 1 << 10,
        "m" => 1_000_000,
        "mb" | "mi" | "mib" => 1 << 20,
        "g" => 1_000_000_000,
        "gb" | "gi" | "gib" => 1 << 30,
        "t" => 1_000_000_000_000,
        "tb" | "ti" | "tib" => 1 << 40,
        "p" => 1_000_000_000_000_000,
        "pb" | "pi" | "pib" => 1 << 50,
        "e" => 1_000_000_000_000_000_000,
        "eb" | "ei" | "eib" => 1 << 60,
        other => return Err(Diagnostic::new(
            pos.clone(),
            ErrorKind::Dropped(format!("unknown size suffix `{other}` in `{text}`")),
        )
        .help(
            "use k, kb, m, mb, g, gb, t, tb, p, pb, e or eb; nats-server silently drops this value",
        )),
    };
    Ok(number.wrapping_mul(multiplier))
}

fn float(text: &str, pos: &Pos) -> Result<Value> {
    match text.parse::<f64>() {
        Ok(f) if f.is_finite() => Ok(Value::Float(f)),
        Ok(_) => Err(Diagnostic::new(
            pos.clone(),
            ErrorKind::Invalid(format!("float `{text}` is out of range")),
        )),
        Err(_) => Err(Diagnostic::new(
            pos.clone(),
            ErrorKind::Invalid(format!("expected a float, got `{text}`")),
        )),
    }
}

/// `YYYY-MM-DDTHH:MM:SSZ` with the range checks Go's time.Parse makes.
fn datetime(text: &str, pos: &Pos) -> Result<DateTime> {
    let bad = || {
        Diagnostic::new(
            pos.clone(),
            ErrorKind::Invalid(format!("expected a Zulu datetime, got `{text}`")),
        )
        .help("write YYYY-MM-DDTHH:MM:SSZ with a real date, e.g. 2024-02-29T12:00:00Z")
    };
    let field = |range: std::ops::Range<usize>| -> Option<u16> {
        let s = text.get(range)?;
        s.bytes()
            .all(|b| b.is_ascii_digit())
            .then(|| s.parse().ok())?
    };
    let (Some(year), Some(month), Some(day), Some(hour), Some(minute), Some(second)) = (
        field(0..4),
        field(5..7),
        field(8..10),
        field(11..13),
        field(14..16),
        field(17..19),
    ) else {
        return Err(bad());
    };
    let leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    let days = match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => return Err(bad()),
    };
    if day == 0 || day > days || hour > 23 || minute > 59 || second > 59 {
        return Err(bad());
    }
    Ok(DateTime {
        year,
        month: month as u8,
        day: day as u8,
        hour: hour as u8,
        minute: minute as u8,
        second: second as u8,
    })
}

/// Go's `filepath.Join(dir, path)`: always relative to `dir` (even for an
/// absolute `path`), then cleaned lexically.
fn join_like_go(dir: &Path, path: &str) -> PathBuf {
    let joined = format!("{}/{}", dir.display(), path);
    let absolute = joined.starts_with('/');
    let mut parts: Vec<&str> = Vec::new();
    for c in Path::new(&joined).components() {
        match c {
            Component::Normal(s) => parts.push(s.to_str().unwrap_or_default()),
            Component::ParentDir => {
                if parts.last().is_some_and(|p| *p != "..") {
                    parts.pop();
                } else if !absolute {
                    parts.push("..");
                }
            }
            _ => {}
        }
    }
    let cleaned = parts.join("/");
    match (absolute, cleaned.is_empty()) {
        (true, _) => PathBuf::from(format!("/{cleaned}")),
        (false, true) => PathBuf::from("."),
        (false, false) => PathBuf::from(cleaned),
    }
}

/// A pest failure as a human error: where, what was found, what fits there.
fn syntax_error(source: &Arc<Source>, err: pest::error::Error<Rule>) -> Diagnostic {
    let offset = match err.location {
        pest::error::InputLocation::Pos(p) => p,
        pest::error::InputLocation::Span((s, _)) => s,
    };
    let found = source.text[offset.min(source.text.len())..].chars().next();
    let before = &source.text[..offset.min(source.text.len())];
    // An unterminated quote fails at the end of the file: point at where
    // the last one opened, and say which kind (`"` first) is open.
    let unclosed: Vec<(char, usize)> = match found {
        None => ['"', '\'']
            .into_iter()
            .filter(|q| before.matches(*q).count() % 2 == 1)
            .filter_map(|q| before.rfind(q).map(|at| (q, at)))
            .collect(),
        Some(_) => Vec::new(),
    };
    let opened_at = unclosed.iter().map(|&(_, at)| at).max();
    let pos = source.pos(opened_at.unwrap_or(offset));
    let found_text = match found {
        None => "the end of the file".to_string(),
        Some('\n') | Some('\r') => "the end of the line".to_string(),
        Some(c) => format!("`{}`", c.escape_debug()),
    };
    let expected = match &err.variant {
        pest::error::ErrorVariant::ParsingError { positives, .. } => positives.clone(),
        pest::error::ErrorVariant::CustomError { .. } => Vec::new(),
    };
    let (message, help) = match unclosed.first() {
        Some(('"', _)) => (
            "unterminated double-quoted string".into(),
            Some("close the string with `\"`".into()),
        ),
        Some(_) => (
            "unterminated single-quoted string".into(),
            Some("close the string with `'`".into()),
        ),
        None => expected_message(&expected, &found_text)
            .unwrap_or_else(|| explain(before, found, &found_text)),
    };
    let d = Diagnostic::new(pos, ErrorKind::Syntax(message));
    match help {
        Some(h) => d.help(h),
        None => d,
    }
}

/// What fits where the parse stopped, from the named rules pest tried there.
fn expected_message(expected: &[Rule], found: &str) -> Option<(String, Option<String>)> {
    let has = |r: Rule| expected.contains(&r);
    if has(Rule::map_sep) {
        return Some((
            format!("expected `,`, `;`, a newline or `}}` after the value, found {found}"),
            Some("put each `key = value` on its own line (or separate them with `,`); quote values that contain spaces".into()),
        ));
    }
    if has(Rule::arr_sep) || has(Rule::arr_close) {
        return Some((
            format!("expected `,`, a newline or `]` after the list element, found {found}"),
            Some("separate list elements with `,`; quote elements that contain spaces".into()),
        ));
    }
    if has(Rule::top_sep) {
        return Some((
            format!("expected a newline, `,` or `;` after the value, found {found}"),
            Some("put each `key = value` on its own line; quote values that contain spaces".into()),
        ));
    }
    if has(Rule::value)
        && found.starts_with('`')
        && found[1..].starts_with(|c: char| c.is_ascii_digit() || c == '-')
    {
        return Some((
            format!("malformed number or datetime starting with {found}"),
            Some("numbers are 42, -7, 1.5 or 64kb; datetimes are 2024-01-31T12:00:00Z; quote anything else".into()),
        ));
    }
    if has(Rule::value) {
        return Some((
            format!("expected a value, found {found}"),
            Some("write the value on the same line as `=` or `:`".into()),
        ));
    }
    None
}

/// Picks a message and fix for the common mistakes from what precedes the
/// failure point.
fn explain(before: &str, found: Option<char>, found_text: &str) -> (String, Option<String>) {
    let last = before.chars().last();
    let line_before = before.rsplit('\n').next().unwrap_or_default().trim_end();
    if line_before.to_ascii_lowercase().ends_with("include") {
        return (
            format!("bad include path starting with {found_text}"),
            Some("quote the path: include \"./file.conf\" (a bare path cannot start with a digit, `-`, `[`, `{` or `(`)".into()),
        );
    }
    if matches!(found, Some('=') | Some(':')) && line_before.is_empty() {
        return (
            format!("a key cannot start with {found_text}"),
            Some("write `name = value`".into()),
        );
    }
    match (found, last) {
        (Some(']'), Some(d)) if d.is_ascii_digit() => (
            format!("unexpected {found_text} right after a number"),
            Some("nats-server reads `3]` as the string \"3]\": put a space or comma before `]`".into()),
        ),
        (Some('\\'), _) => (
            "invalid escape".into(),
            Some("the escapes are \\t \\n \\r \\\" \\\\ and \\xHH".into()),
        ),
        (Some('\n') | Some('\r'), Some('=') | Some(':') | Some(' ') | Some('\t')) => (
            "expected a value but found the end of the line".into(),
            Some("put the value on the same line as `=` or `:`".into()),
        ),
        (Some('.'), _) => (
            "a number cannot start with `.`".into(),
            Some("write 0.5, not .5".into()),
        ),
        (None, _) => (
            "unexpected end of the file".into(),
            Some("close every `{`, `[`, `(` and quote you opened".into()),
        ),
        _ => (
            format!("unexpected {found_text}"),
            Some("each `key = value` ends with a newline, `,` or `;`; quote values that contain spaces".into()),
        ),
    }
}
