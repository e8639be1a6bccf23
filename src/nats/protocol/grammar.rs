//! The executable spec: `grammar/nats_protocol.pest` plus the few steps a
//! PEG cannot express, reading a whole stream into the same [`Op`] values
//! and [`ProtocolError`]s as the [`machine`](super::machine).
//!
//! This side is written for clarity, not speed: it copies, allocates and
//! re-parses freely. Tests run both sides on the same bytes and demand the
//! same operations and the same ending.
//!
//! The stream is handed to pest decoded as Latin-1, one char per byte, so
//! that any byte sequence is text and `ANY` is one byte.

use super::error::ProtocolError;
use super::json::{self, Kind};
use super::machine::{parse_size, parse_unsub_max, Config};
use super::op::Op;
use bytes::Bytes;
use pest::iterators::Pair;
use pest::Parser;

#[allow(missing_docs, clippy::all, clippy::pedantic)]
mod generated {
    include!(concat!(env!("OUT_DIR"), "/protocol_parser.rs"));
}
pub use generated::{ProtocolParser, Rule};

/// How a stream ends, once everything that could be read was read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum End {
    /// The stream ends between operations.
    Complete,
    /// The stream ends inside an operation: more bytes could complete it.
    Incomplete,
    /// The stream is refused here; nothing after it is read.
    Error(ProtocolError),
}

/// What the spec reads from a stream: the operations in order, then how it
/// ends.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reading {
    /// The complete operations before the end.
    pub ops: Vec<Op>,
    /// How the stream ends.
    pub end: End,
}

/// Reads a whole client stream with the grammar.
///
/// `config.awaiting_connect` is cleared after the first CONNECT, as a
/// connection does when that CONNECT authenticates; `config.headers` is
/// left alone.
pub fn read(input: &[u8], mut config: Config) -> Reading {
    let text: String = input.iter().map(|&b| char::from(b)).collect();
    // Offset in `text` of each input byte (and of the end).
    let mut at = Vec::with_capacity(input.len() + 1);
    let mut offset = 0;
    for &b in input {
        at.push(offset);
        offset += if b < 0x80 { 1 } else { 2 };
    }
    at.push(offset);

    let mut ops = Vec::new();
    let mut pos = 0;
    let end = loop {
        if pos == input.len() {
            break End::Complete;
        }
        // parser.go OP_START: while authentication is pending only a `C`
        // may start an operation.
        if config.awaiting_connect && !matches!(input[pos], b'C' | b'c') {
            break End::Error(ProtocolError::AuthorizationViolation);
        }
        let rest = &text[at[pos]..];
        match one_op(rest, &config) {
            Step::Op(op, len) => {
                if matches!(op, Op::Connect(_)) {
                    config.awaiting_connect = false;
                }
                ops.push(op);
                pos += len;
            }
            Step::End(end) => break end,
        }
    };
    Reading { ops, end }
}

/// The outcome of reading at one position.
enum Step {
    /// An operation and how many input bytes it took.
    Op(Op, usize),
    /// The stream ends here.
    End(End),
}

/// Latin-1 text back to bytes.
fn bytes_of(text: &str) -> Vec<u8> {
    text.chars()
        .map(|c| u8::try_from(c).unwrap_or(b'?'))
        .collect()
}

fn copy(text: &str) -> Bytes {
    Bytes::from(bytes_of(text))
}

/// Input bytes covered by a piece of the Latin-1 text.
fn len_of(text: &str) -> usize {
    text.chars().count()
}

fn parses(rule: Rule, text: &str) -> bool {
    ProtocolParser::parse(rule, text).is_ok()
}

/// The tokens of an argument rule (`pub_tok` or `split_tok`), if it parses.
fn arg_tokens(rule: Rule, arg: &str) -> Option<Vec<&str>> {
    let top = ProtocolParser::parse(rule, arg).ok()?.next()?;
    Some(
        top.into_inner()
            .filter(|t| matches!(t.as_rule(), Rule::pub_tok | Rule::split_tok))
            .map(|t| t.as_str())
            .collect(),
    )
}

fn one_op(rest: &str, config: &Config) -> Step {
    let Some(pair) = ProtocolParser::parse(Rule::op, rest)
        .ok()
        .and_then(|mut p| p.next())
    else {
        return Step::End(early_end(rest, config));
    };
    let rule = pair.as_rule();
    let line_len = len_of(pair.as_str());
    let arg = pair
        .clone()
        .into_inner()
        .find(|p| p.as_rule() == Rule::line)
        .and_then(|line| line.into_inner().find(|p| p.as_rule() == Rule::arg))
        .map(|a| a.as_str());
    let fail = |e| Step::End(End::Error(e));
    let Some(arg) = arg else {
        // ping, pong, ok: no argument.
        let op = match rule {
            Rule::ping => Op::Ping,
            Rule::pong => Op::Pong,
            _ => Op::Ok,
        };
        return Step::Op(op, line_len);
    };
    if len_of(arg) > config.max_control_line {
        return fail(ProtocolError::MaxControlLine);
    }
    let after = &rest[pair.as_str().len()..];
    match rule {
        Rule::connect => match unmarshals(arg, json::CONNECT_FIELDS) {
            true => Step::Op(Op::Connect(copy(arg)), line_len),
            false => fail(ProtocolError::ConnectJson),
        },
        Rule::info => match unmarshals(arg, json::INFO_FIELDS) {
            true => Step::Op(Op::Info(copy(arg)), line_len),
            false => fail(ProtocolError::InfoJson),
        },
        Rule::err => fail(ProtocolError::ClientErr(copy(arg))),
        Rule::sub => {
            let toks = arg_tokens(Rule::sub_args, arg);
            let (subject, queue, sid) = match toks.as_deref() {
                Some([s, sid]) => (s, None, sid),
                Some([s, q, sid]) => (s, Some(q), sid),
                _ => return fail(ProtocolError::SubArgs),
            };
            let op = Op::Sub {
                subject: copy(subject),
                queue: queue.map(|q| copy(q)),
                sid: copy(sid),
            };
            Step::Op(op, line_len)
        }
        Rule::unsub => {
            let toks = arg_tokens(Rule::unsub_args, arg);
            let (sid, max) = match toks.as_deref() {
                Some([sid]) => (sid, None),
                Some([sid, max]) => (sid, Some(max)),
                _ => return fail(ProtocolError::UnsubArgs),
            };
            // A max that is not a `size` is no max at all.
            let max = max
                .filter(|m| parses(Rule::size, m))
                .and_then(|m| parse_unsub_max(&bytes_of(m)));
            Step::Op(
                Op::Unsub {
                    sid: copy(sid),
                    max,
                },
                line_len,
            )
        }
        Rule::pub_op => {
            let toks = arg_tokens(Rule::pub_args, arg);
            let (subject, reply, size) = match toks.as_deref() {
                Some([s, size]) => (*s, None, *size),
                Some([s, r, size]) => (*s, Some(*r), *size),
                _ => return fail(ProtocolError::PubArgs),
            };
            let Some(size) = size_of(size) else {
                return fail(ProtocolError::PubSize);
            };
            if size > config.max_payload {
                return fail(ProtocolError::MaxPayload);
            }
            payload(after, size, line_len, |body| Op::Pub {
                subject: copy(subject),
                reply: reply.map(copy),
                payload: copy(body),
            })
        }
        Rule::hpub => {
            if !config.headers {
                return fail(ProtocolError::HeadersNotSupported);
            }
            let toks = arg_tokens(Rule::hpub_args, arg);
            let (subject, reply, hdr, size) = match toks.as_deref() {
                Some([s, h, size]) => (*s, None, *h, *size),
                Some([s, r, h, size]) => (*s, Some(*r), *h, *size),
                _ => return fail(ProtocolError::HPubArgs),
            };
            let Some(hdr) = size_of(hdr) else {
                return fail(ProtocolError::HPubHeaderSize);
            };
            let Some(size) = size_of(size) else {
                return fail(ProtocolError::HPubTotalSize);
            };
            if hdr > size {
                return fail(ProtocolError::HPubHeaderTooLarge);
            }
            if size > config.max_payload {
                return fail(ProtocolError::MaxPayload);
            }
            payload(after, size, line_len, |body| {
                let cut = body.char_indices().nth(hdr).map_or(body.len(), |(i, _)| i);
                Op::HPub {
                    subject: copy(subject),
                    reply: reply.map(copy),
                    headers: copy(&body[..cut]),
                    payload: copy(&body[cut..]),
                }
            })
        }
        // hmsg: the argument is never read; the message is empty.
        _ => payload(after, 0, line_len, |_| Op::HMsg),
    }
}

/// A `size` token's value.
fn size_of(token: &str) -> Option<usize> {
    if !parses(Rule::size, token) {
        return None;
    }
    parse_size(&bytes_of(token))
}

/// Cuts `size` bytes of payload from `after` (the text after the control
/// line), then requires `msg_end`.
fn payload(after: &str, size: usize, line_len: usize, make: impl FnOnce(&str) -> Op) -> Step {
    let cut = after.char_indices().nth(size).map(|(i, _)| i);
    let Some(cut) = cut.or((len_of(after) == size).then_some(after.len())) else {
        return Step::End(End::Incomplete);
    };
    let (body, tail) = after.split_at(cut);
    if parses(Rule::msg_end, tail) {
        Step::Op(make(body), line_len + size + 2)
    } else if parses(Rule::msg_end_partial, tail) {
        Step::End(End::Incomplete)
    } else {
        Step::End(End::Error(ProtocolError::UnknownOperation))
    }
}

/// No operation parses at the front of `rest`: either the stream stops
/// inside one (`incomplete`), or it is wrong here.
fn early_end(rest: &str, config: &Config) -> End {
    let Some(pair) = ProtocolParser::parse(Rule::incomplete, rest)
        .ok()
        .and_then(|mut p| p.next())
    else {
        return End::Error(ProtocolError::UnknownOperation);
    };
    let partial = pair
        .into_inner()
        .find(|p| p.as_rule() == Rule::partial_arg)
        .map(|p| p.as_str());
    if let Some(partial) = partial {
        // The argument will be at least this long: `drop` removes one byte
        // at most, and only after a "\r" past the first byte.
        let cr = partial.chars().skip(1).any(|c| c == '\r');
        if len_of(partial) - usize::from(cr) > config.max_control_line {
            return End::Error(ProtocolError::MaxControlLine);
        }
    }
    End::Incomplete
}

// ---------------------------------------------------------------- JSON

/// Whether Go's `json.Unmarshal` accepts `text` for a struct with `fields`:
/// `json_text` parses, nesting is at most 10000 deep, and every known field
/// holds a value of its Go type.
fn unmarshals(text: &str, fields: &[(&str, Kind)]) -> bool {
    let Some(top) = ProtocolParser::parse(Rule::json_text, text)
        .ok()
        .and_then(|mut p| p.next())
    else {
        return false;
    };
    let mut depth = 0usize;
    let mut deepest = 0usize;
    for token in top.clone().tokens() {
        match token {
            pest::Token::Start {
                rule: Rule::object | Rule::array,
                ..
            } => {
                depth += 1;
                deepest = deepest.max(depth);
            }
            pest::Token::End {
                rule: Rule::object | Rule::array,
                ..
            } => depth -= 1,
            _ => {}
        }
    }
    if deepest > json::MAX_DEPTH {
        return false;
    }
    match top.into_inner().next() {
        Some(v) if v.as_rule() == Rule::null_lit => true,
        Some(v) if v.as_rule() == Rule::object => object_ok(v, fields),
        _ => false,
    }
}

fn string_body(string: &Pair<'_, Rule>) -> Vec<u8> {
    let body = string
        .clone()
        .into_inner()
        .next()
        .map_or("", |b| b.as_str());
    json::unescape(&bytes_of(body))
}

fn object_ok(object: Pair<'_, Rule>, fields: &[(&str, Kind)]) -> bool {
    object.into_inner().all(|member| {
        let mut parts = member.into_inner();
        let (Some(key), Some(value)) = (parts.next(), parts.next()) else {
            return false;
        };
        let key = String::from_utf8_lossy(&string_body(&key)).into_owned();
        match json::field_kind(fields, &key) {
            Some(kind) => kind_ok(value, kind),
            None => true,
        }
    })
}

fn kind_ok(value: Pair<'_, Rule>, kind: Kind) -> bool {
    let u8_kind = Kind::Int {
        signed: false,
        bits: 8,
    };
    match (value.as_rule(), kind) {
        (Rule::null_lit, _) => true,
        (Rule::true_lit | Rule::false_lit, Kind::Bool) => true,
        (Rule::string, Kind::Str) => true,
        (Rule::number, Kind::Int { signed, bits }) => {
            json::int_fits(&bytes_of(value.as_str()), signed, bits)
        }
        (Rule::array, Kind::StrList) => value
            .into_inner()
            .all(|e| matches!(e.as_rule(), Rule::string | Rule::null_lit)),
        (Rule::object, Kind::Perm) => object_ok(value, json::PERM_FIELDS),
        (Rule::string, Kind::ByteSlice) => json::base64_ok(&string_body(&value)),
        (Rule::array, Kind::ByteSlice) => value.into_inner().all(|e| kind_ok(e, u8_kind)),
        _ => false,
    }
}
