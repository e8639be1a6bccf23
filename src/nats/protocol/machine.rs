//! The hot-path parser: one byte loop over a state enum, as parser.go.
//!
//! The machine reads the connection's read buffer and never copies:
//! [`Parser::parse`] returns an operation whose subject, reply, sid and
//! payload borrow the buffer, with the number of bytes the caller may drop
//! from its front. The connection handles every operation of a read this
//! way and drops the bytes once, so a message costs no allocation, no copy
//! and no reference count (nats-server's parser.go works on slices of its
//! read buffer the same way). [`Parser::next_op`] is the same machine for
//! callers that keep operations: `Bytes` slices of one frame cut off a
//! `BytesMut`.
//!
//! Bytes that carry nothing (opcode letters, blanks, what follows `PING`)
//! may be dropped as soon as they are read, so a flood of blanks costs
//! no memory. A control line split across reads stays in the buffer from
//! its argument's first byte and scanning resumes where it stopped; it is
//! refused as soon as it provably exceeds `max_control_line`. A payload is
//! never scanned: the machine waits until the buffer holds the declared
//! size plus `\r\n`. So after [`Parser::next_op`] returns `Ok(None)` the
//! buffer holds at most `max_control_line + max_payload + 4` bytes (see
//! [`Parser::MAX_HELD_OVERHEAD`]).

use super::error::ProtocolError;
use super::json;
use super::op::Op;
use bytes::{Bytes, BytesMut};
use std::num::NonZeroU32;
use std::ops::Range;

/// nats-server's default `max_control_line` (const.go).
pub const DEFAULT_MAX_CONTROL_LINE: usize = 4096;
/// nats-server's default `max_payload`, 1 MiB (const.go).
pub const DEFAULT_MAX_PAYLOAD: usize = 1024 * 1024;

/// The limits and switches of one client connection's parser.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Config {
    /// The longest control-line argument accepted (the bytes after the
    /// opcode and its blanks, without the line ending).
    pub max_control_line: usize,
    /// The largest PUB size or HPUB total size accepted.
    pub max_payload: usize,
    /// Whether HPUB is accepted: in nats-server, after a CONNECT with
    /// `"headers":true` on a server that supports headers.
    pub headers: bool,
    /// Whether authentication is still pending, so that only CONNECT may
    /// start (nats-server's `awaitingAuth`). The connection clears it once
    /// a CONNECT authenticates.
    pub awaiting_connect: bool,
}

impl Default for Config {
    /// nats-server's defaults for a new connection: 4096, 1 MiB, no headers
    /// until CONNECT asks for them, no authentication.
    fn default() -> Self {
        Config {
            max_control_line: DEFAULT_MAX_CONTROL_LINE,
            max_payload: DEFAULT_MAX_PAYLOAD,
            headers: false,
            awaiting_connect: false,
        }
    }
}

/// Parser states. The opcode states mirror parser.go's (`OP_C`, `OP_CO`,
/// ...); the argument states are shared and the operation is kept in
/// [`Verb`].
#[repr(u8)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    Start,
    C,
    Co,
    Con,
    Conn,
    Conne,
    Connec,
    I,
    In,
    Inf,
    P,
    Pu,
    Pi,
    Pin,
    Po,
    Pon,
    H,
    Hp,
    Hpu,
    Hm,
    Hms,
    S,
    Su,
    U,
    Un,
    Uns,
    Unsu,
    Plus,
    PlusO,
    Minus,
    MinusE,
    MinusEr,
    /// After PUB, HPUB, HMSG, SUB, UNSUB, -ERR: one blank is required.
    NeedBlank,
    /// Skipping blanks; the first other byte starts the argument.
    Blanks,
    /// In the argument, up to the `\n`.
    Arg,
    /// After PING, PONG, +OK: everything up to the `\n` is ignored.
    Ignore,
    /// The control line is done; waiting for payload and `\r\n`.
    Payload,
}

/// Which operation the argument states are reading.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Verb {
    Connect,
    Info,
    Pub,
    HPub,
    HMsg,
    Sub,
    Unsub,
    Err,
    Ping,
    Pong,
    Ok,
}

/// A PUB/HPUB/HMSG whose control line is done, with offsets into the
/// buffer (which then starts at the argument).
#[derive(Clone, Debug, Default)]
struct Pending {
    subject: Range<usize>,
    reply: Option<Range<usize>>,
    /// Where the payload starts (just after the line's `\n`).
    start: usize,
    /// Header bytes at the front of the payload (HPUB).
    headers: usize,
    /// Total bytes (headers included).
    size: usize,
}

/// What [`Parser::parse`] found: how many bytes of its input the caller may
/// drop, and the operation they ended, if one did.
pub type Parsed<'a> = (usize, Option<Op<&'a [u8]>>);

/// The client-protocol parser of one connection.
///
/// Feed it the read buffer with [`parse`](Parser::parse) (or
/// [`next_op`](Parser::next_op)) until it finds no operation, read more
/// into the same buffer, repeat. After an
/// error it only returns that error again: the connection must be closed
/// (after sending [`ProtocolError::err_line`], if any).
#[derive(Clone, Debug)]
pub struct Parser {
    config: Config,
    state: State,
    verb: Verb,
    /// How many bytes at the front of the buffer were already scanned.
    pos: usize,
    /// Where the argument starts in the buffer.
    arg_start: usize,
    /// A `\r` was seen after the argument's first byte (parser.go `drop`).
    cr: bool,
    pending: Pending,
    failed: Option<ProtocolError>,
}

impl Default for Parser {
    fn default() -> Self {
        Parser::new(Config::default())
    }
}

fn is_blank(b: u8) -> bool {
    b == b' ' || b == b'\t'
}

/// splitArg's separators (SUB, UNSUB).
fn is_split_sep(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\r' | b'\n')
}

/// Splits `arg` at runs of separators: the number of tokens and the first
/// `N` of them, without allocating (parser.go's unrolled `splitArgs`).
fn tokens<const N: usize>(arg: &[u8], sep: fn(u8) -> bool) -> (usize, [Range<usize>; N]) {
    let mut out = std::array::from_fn(|_| 0..0);
    let mut count = 0;
    let mut start = None;
    for (i, &b) in arg.iter().enumerate() {
        match (sep(b), start) {
            (true, Some(s)) => {
                if count < N {
                    out[count] = s..i;
                }
                count += 1;
                start = None;
            }
            (false, None) => start = Some(i),
            _ => {}
        }
    }
    if let Some(s) = start {
        if count < N {
            out[count] = s..arg.len();
        }
        count += 1;
    }
    (count, out)
}

/// nats-server's `parseSize`: 1 to 9 ASCII digits, else `None`.
pub fn parse_size(digits: &[u8]) -> Option<usize> {
    if digits.is_empty() || digits.len() > 9 {
        return None;
    }
    let mut n = 0usize;
    for &d in digits {
        if !d.is_ascii_digit() {
            return None;
        }
        n = n * 10 + usize::from(d - b'0');
    }
    Some(n)
}

/// UNSUB's max: nats-server keeps it only when `parseSize` gives more than 0.
pub fn parse_unsub_max(digits: &[u8]) -> Option<NonZeroU32> {
    parse_size(digits)
        .and_then(|n| u32::try_from(n).ok())
        .and_then(NonZeroU32::new)
}

impl Parser {
    /// The most bytes [`next_op`](Parser::next_op) leaves in the buffer
    /// beyond `max_control_line + max_payload` when it returns `Ok(None)`:
    /// the byte cut by `drop`, the line's `\n`, and at most `\r\n` - 1 of
    /// the payload's end, rounded up.
    pub const MAX_HELD_OVERHEAD: usize = 4;

    /// A parser in its initial state.
    pub fn new(config: Config) -> Self {
        Parser {
            config,
            state: State::Start,
            verb: Verb::Ping,
            pos: 0,
            arg_start: 0,
            cr: false,
            pending: Pending::default(),
            failed: None,
        }
    }

    /// The current limits and switches.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Sets the control-line and payload limits from the next operation on
    /// (a reload changed them; nats-server applies them to connected
    /// clients too).
    pub fn set_limits(&mut self, max_control_line: usize, max_payload: usize) {
        self.config.max_control_line = max_control_line;
        self.config.max_payload = max_payload;
    }

    /// Allows or refuses HPUB from the next operation on (set it after a
    /// CONNECT with `"headers":true`).
    pub fn set_headers(&mut self, headers: bool) {
        self.config.headers = headers;
    }

    /// Sets whether only CONNECT may start an operation (clear it once a
    /// CONNECT has authenticated).
    pub fn set_awaiting_connect(&mut self, awaiting: bool) {
        self.config.awaiting_connect = awaiting;
    }

    /// Whether the parser is between operations: false when the bytes read
    /// so far end inside one (so a connection closing now cuts it short).
    pub fn is_idle(&self) -> bool {
        self.state == State::Start && self.failed.is_none()
    }

    /// The next complete operation at the front of `input`, and how many
    /// bytes of `input` the caller may now drop (that operation's, or the
    /// ones read past when `input` ends inside an operation: `None`).
    ///
    /// This is the serving path: the operation borrows `input`, nothing is
    /// copied or counted. Call again on what follows the dropped bytes;
    /// when it returns `None`, read more, append, and call again on the
    /// bytes kept. The parser remembers how far it scanned.
    pub fn parse<'a>(&mut self, input: &'a [u8]) -> Result<Parsed<'a>, ProtocolError> {
        if let Some(e) = &self.failed {
            return Err(e.clone());
        }
        let result = self.step(input);
        if let Err(e) = &result {
            self.failed = Some(e.clone());
        }
        result
    }

    /// [`parse`](Parser::parse) on a `BytesMut` buffer, for callers that
    /// keep operations: the operation's bytes are cut off the front of
    /// `buf` as one frame and its fields are `Bytes` slices of it (still no
    /// copy); dropped bytes are removed from `buf`.
    pub fn next_op(&mut self, buf: &mut BytesMut) -> Result<Option<Op>, ProtocolError> {
        let base = buf.as_ptr() as usize;
        let (used, op) = self.parse(buf)?;
        // Offsets of the borrowed fields, so `buf` can be cut afterwards.
        let op = op.map(|op| {
            op.map(|s: &[u8]| {
                let at = s.as_ptr() as usize - base;
                at..at + s.len()
            })
        });
        let frame = buf.split_to(used).freeze();
        Ok(op.map(|op| op.map(|range| frame.slice(range))))
    }

    fn reset(&mut self) {
        self.state = State::Start;
        self.pos = 0;
        self.arg_start = 0;
        self.cr = false;
    }

    fn step<'a>(&mut self, input: &'a [u8]) -> Result<Parsed<'a>, ProtocolError> {
        if self.state == State::Payload {
            return self.payload(input);
        }
        let len = input.len();
        let mut i = self.pos;
        while i < len {
            let b = input[i];
            match self.state {
                State::Arg => {
                    let mut j = i;
                    let mut cr = self.cr;
                    while j < len {
                        match input[j] {
                            b'\n' => break,
                            b'\r' => cr = true,
                            _ => {}
                        }
                        j += 1;
                    }
                    self.cr = cr;
                    if j == len {
                        break;
                    }
                    return self.line(input, j);
                }
                State::Ignore => match input[i..].iter().position(|&c| c == b'\n') {
                    Some(k) => {
                        self.reset();
                        let op = match self.verb {
                            Verb::Pong => Op::Pong,
                            Verb::Ok => Op::Ok,
                            _ => Op::Ping,
                        };
                        return Ok((i + k + 1, Some(op)));
                    }
                    None => break,
                },
                State::Blanks => {
                    if !is_blank(b) {
                        self.arg_start = i;
                        self.cr = false;
                        self.state = State::Arg;
                    }
                }
                State::NeedBlank => {
                    if !is_blank(b) {
                        return Err(ProtocolError::UnknownOperation);
                    }
                    self.state = State::Blanks;
                }
                _ => self.opcode(b)?,
            }
            i += 1;
        }
        // Out of bytes: keep only the argument read so far, if any.
        if self.state == State::Arg {
            let used = self.arg_start;
            self.pos = len - used;
            self.arg_start = 0;
            // The final argument is at least this long (`drop` cuts one
            // byte at most, and only once a `\r` was seen).
            if self.pos - usize::from(self.cr) > self.config.max_control_line {
                return Err(ProtocolError::MaxControlLine);
            }
            Ok((used, None))
        } else {
            self.pos = 0;
            Ok((len, None))
        }
    }

    /// One opcode byte, matched case-insensitively.
    fn opcode(&mut self, b: u8) -> Result<(), ProtocolError> {
        use State::*;
        if self.state == Start && self.config.awaiting_connect && b != b'C' && b != b'c' {
            return Err(ProtocolError::AuthorizationViolation);
        }
        let (next, verb) = match (self.state, b.to_ascii_uppercase()) {
            (Start, b'C') => (C, None),
            (Start, b'I') => (I, None),
            (Start, b'P') => (P, None),
            (Start, b'H') => (H, None),
            (Start, b'S') => (S, None),
            (Start, b'U') => (U, None),
            (Start, b'+') => (Plus, None),
            (Start, b'-') => (Minus, None),
            (C, b'O') => (Co, None),
            (Co, b'N') => (Con, None),
            (Con, b'N') => (Conn, None),
            (Conn, b'E') => (Conne, None),
            (Conne, b'C') => (Connec, None),
            (Connec, b'T') => (Blanks, Some(Verb::Connect)),
            (I, b'N') => (In, None),
            (In, b'F') => (Inf, None),
            (Inf, b'O') => (Blanks, Some(Verb::Info)),
            (P, b'U') => (Pu, None),
            (Pu, b'B') => (NeedBlank, Some(Verb::Pub)),
            (P, b'I') => (Pi, None),
            (Pi, b'N') => (Pin, None),
            (Pin, b'G') => (Ignore, Some(Verb::Ping)),
            (P, b'O') => (Po, None),
            (Po, b'N') => (Pon, None),
            (Pon, b'G') => (Ignore, Some(Verb::Pong)),
            (H, b'P') => (Hp, None),
            (Hp, b'U') => (Hpu, None),
            (Hpu, b'B') => (NeedBlank, Some(Verb::HPub)),
            (H, b'M') => (Hm, None),
            (Hm, b'S') => (Hms, None),
            (Hms, b'G') => (NeedBlank, Some(Verb::HMsg)),
            (S, b'U') => (Su, None),
            (Su, b'B') => (NeedBlank, Some(Verb::Sub)),
            (U, b'N') => (Un, None),
            (Un, b'S') => (Uns, None),
            (Uns, b'U') => (Unsu, None),
            (Unsu, b'B') => (NeedBlank, Some(Verb::Unsub)),
            (Plus, b'O') => (PlusO, None),
            (PlusO, b'K') => (Ignore, Some(Verb::Ok)),
            (Minus, b'E') => (MinusE, None),
            (MinusE, b'R') => (MinusEr, None),
            (MinusEr, b'R') => (NeedBlank, Some(Verb::Err)),
            _ => return Err(ProtocolError::UnknownOperation),
        };
        self.state = next;
        if let Some(verb) = verb {
            self.verb = verb;
        }
        Ok(())
    }

    /// The control line is complete: its `\n` is at `input[nl]`.
    fn line<'a>(&mut self, input: &'a [u8], nl: usize) -> Result<Parsed<'a>, ProtocolError> {
        // `drop`: with a `\r` after the first byte, the byte before the
        // `\n` is not part of the argument.
        let base = self.arg_start;
        let end = nl - usize::from(self.cr) - base;
        if end > self.config.max_control_line {
            return Err(ProtocolError::MaxControlLine);
        }
        // From here on offsets count from the argument's first byte.
        let rest = &input[base..];
        let line_end = nl + 1 - base;
        self.arg_start = 0;
        let arg = &rest[..end];
        let op = match self.verb {
            Verb::Connect => {
                if !json::unmarshals(arg, json::CONNECT_FIELDS) {
                    return Err(ProtocolError::ConnectJson);
                }
                Op::Connect(arg)
            }
            Verb::Info => {
                if !json::unmarshals(arg, json::INFO_FIELDS) {
                    return Err(ProtocolError::InfoJson);
                }
                Op::Info(arg)
            }
            Verb::Err => {
                return Err(ProtocolError::ClientErr(Bytes::copy_from_slice(arg)));
            }
            Verb::Sub => {
                let (n, [a, b, c]) = tokens::<3>(arg, is_split_sep);
                let (queue, sid) = match n {
                    2 => (None, b),
                    3 => (Some(b), c),
                    _ => return Err(ProtocolError::SubArgs),
                };
                Op::Sub {
                    subject: &arg[a],
                    queue: queue.map(|q| &arg[q]),
                    sid: &arg[sid],
                }
            }
            Verb::Unsub => {
                let (n, [a, b]) = tokens::<2>(arg, is_split_sep);
                let max = match n {
                    1 => None,
                    2 => parse_unsub_max(&arg[b]),
                    _ => return Err(ProtocolError::UnsubArgs),
                };
                Op::Unsub { sid: &arg[a], max }
            }
            Verb::Pub => {
                let (n, [a, b, c]) = tokens::<3>(arg, is_blank);
                let (reply, size) = match n {
                    2 => (None, b),
                    3 => (Some(b), c),
                    _ => return Err(ProtocolError::PubArgs),
                };
                let size = parse_size(&arg[size]).ok_or(ProtocolError::PubSize)?;
                if size > self.config.max_payload {
                    return Err(ProtocolError::MaxPayload);
                }
                return self.await_payload(rest, base, a, reply, line_end, 0, size);
            }
            Verb::HPub => {
                if !self.config.headers {
                    return Err(ProtocolError::HeadersNotSupported);
                }
                let (n, [a, b, c, d]) = tokens::<4>(arg, is_blank);
                let (reply, hdr, size) = match n {
                    3 => (None, b, c),
                    4 => (Some(b), c, d),
                    _ => return Err(ProtocolError::HPubArgs),
                };
                let hdr = parse_size(&arg[hdr]).ok_or(ProtocolError::HPubHeaderSize)?;
                let size = parse_size(&arg[size]).ok_or(ProtocolError::HPubTotalSize)?;
                if hdr > size {
                    return Err(ProtocolError::HPubHeaderTooLarge);
                }
                if size > self.config.max_payload {
                    return Err(ProtocolError::MaxPayload);
                }
                return self.await_payload(rest, base, a, reply, line_end, hdr, size);
            }
            Verb::HMsg => return self.await_payload(rest, base, 0..0, None, line_end, 0, 0),
            Verb::Ping | Verb::Pong | Verb::Ok => return Err(ProtocolError::UnknownOperation),
        };
        self.reset();
        Ok((base + line_end, Some(op)))
    }

    /// Enters the payload state; `rest` starts at the argument, `base`
    /// bytes after the start of the caller's input (which may be dropped
    /// whatever comes next).
    #[allow(clippy::too_many_arguments)]
    fn await_payload<'a>(
        &mut self,
        rest: &'a [u8],
        base: usize,
        subject: Range<usize>,
        reply: Option<Range<usize>>,
        start: usize,
        headers: usize,
        size: usize,
    ) -> Result<Parsed<'a>, ProtocolError> {
        self.pending = Pending {
            subject,
            reply,
            start,
            headers,
            size,
        };
        self.state = State::Payload;
        let (used, op) = self.payload(rest)?;
        Ok((base + used, op))
    }

    /// MSG_PAYLOAD / MSG_END_R / MSG_END_N, by length instead of by byte.
    /// `input` starts at the control line's argument.
    fn payload<'a>(&mut self, input: &'a [u8]) -> Result<Parsed<'a>, ProtocolError> {
        let p = &self.pending;
        let end = p.start + p.size;
        let have = input.len();
        if (have > end && input[end] != b'\r') || (have > end + 1 && input[end + 1] != b'\n') {
            return Err(ProtocolError::UnknownOperation);
        }
        if have < end + 2 {
            return Ok((0, None));
        }
        let split = p.start + p.headers;
        let op = match self.verb {
            Verb::Pub => Op::Pub {
                subject: &input[p.subject.clone()],
                reply: p.reply.clone().map(|r| &input[r]),
                payload: &input[p.start..end],
            },
            Verb::HPub => Op::HPub {
                subject: &input[p.subject.clone()],
                reply: p.reply.clone().map(|r| &input[r]),
                headers: &input[p.start..split],
                payload: &input[split..end],
            },
            _ => Op::HMsg,
        };
        self.reset();
        Ok((end + 2, Some(op)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all(input: &[u8], config: Config) -> (Vec<Op>, Result<(), ProtocolError>) {
        let mut parser = Parser::new(config);
        let mut buf = BytesMut::from(input);
        let mut ops = Vec::new();
        loop {
            match parser.next_op(&mut buf) {
                Ok(Some(op)) => ops.push(op),
                Ok(None) => return (ops, Ok(())),
                Err(e) => return (ops, Err(e)),
            }
        }
    }

    #[test]
    fn basic() {
        let (ops, end) = all(
            b"PING\r\nsub foo q 1\r\nPUB foo bar 5\r\nhello\r\nUNSUB 1 10\n",
            Config::default(),
        );
        assert_eq!(end, Ok(()));
        assert_eq!(
            ops,
            vec![
                Op::Ping,
                Op::Sub {
                    subject: Bytes::from_static(b"foo"),
                    queue: Some(Bytes::from_static(b"q")),
                    sid: Bytes::from_static(b"1"),
                },
                Op::Pub {
                    subject: Bytes::from_static(b"foo"),
                    reply: Some(Bytes::from_static(b"bar")),
                    payload: Bytes::from_static(b"hello"),
                },
                Op::Unsub {
                    sid: Bytes::from_static(b"1"),
                    max: NonZeroU32::new(10),
                },
            ]
        );
    }

    #[test]
    fn payload_is_a_slice_of_the_read_buffer() {
        let mut buf = BytesMut::with_capacity(64);
        buf.extend_from_slice(b"PUB foo 5\r\nhello\r\n");
        let base = buf.as_ptr() as usize;
        let mut parser = Parser::default();
        let Ok(Some(Op::Pub {
            payload, subject, ..
        })) = parser.next_op(&mut buf)
        else {
            panic!("expected a PUB");
        };
        assert_eq!(subject.as_ptr() as usize, base + 4);
        assert_eq!(payload.as_ptr() as usize, base + 11);
    }

    #[test]
    fn drop_quirk() {
        // "\r" in the argument: the byte before "\n" is cut (here the "1").
        let (_, end) = all(b"SUB foo\r 1\n", Config::default());
        assert_eq!(end, Err(ProtocolError::SubArgs));
        let (ops, _) = all(b"SUB foo\r 1\r\n", Config::default());
        assert_eq!(ops.len(), 1);
    }
}
