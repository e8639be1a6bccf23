//! The hot-path machine against the pest spec, and against itself under
//! every way of splitting a stream into reads.
//!
//! (a) random valid operations, serialized with random opcode case, blank
//!     runs, `\r\n` or `\n` where nats-server takes either, come back as
//!     exactly those operations for any chunking (random, and exhaustive
//!     over every boundary for a few fixed streams);
//! (b) random and mutated streams: machine and spec agree on the operations
//!     before the end and on the end (complete, incomplete, which error);
//! (c) nothing panics or hangs, whatever the bytes and limits;
//! (d) whenever the machine waits for more bytes, the buffer holds at most
//!     `max_control_line + max_payload + Parser::MAX_HELD_OVERHEAD` bytes.

use bytes::{Bytes, BytesMut};
use edge::nats::protocol::grammar::{self, End, Reading};
use edge::nats::protocol::{Config, Op, Parser};
use quickcheck::{Arbitrary, Gen, QuickCheck};
use std::num::NonZeroU32;

// ---------------------------------------------------------------- drivers

/// Runs the machine over `stream` cut into reads of the given sizes
/// (cycled), as a connection does: clears `awaiting_connect` after a
/// CONNECT, like the spec. Checks (d) at every wait.
fn machine(stream: &[u8], config: Config, chunks: &[usize]) -> Reading {
    let bound = config.max_control_line + config.max_payload + Parser::MAX_HELD_OVERHEAD;
    let mut parser = Parser::new(config);
    let mut buf = BytesMut::new();
    let mut ops = Vec::new();
    let mut at = 0;
    let mut sizes = chunks.iter().copied().cycle();
    while at < stream.len() {
        let n = sizes
            .next()
            .unwrap_or(stream.len())
            .clamp(1, stream.len() - at);
        buf.extend_from_slice(&stream[at..at + n]);
        at += n;
        loop {
            match parser.next_op(&mut buf) {
                Ok(Some(op)) => {
                    if matches!(op, Op::Connect(_)) {
                        parser.set_awaiting_connect(false);
                    }
                    ops.push(op);
                }
                Ok(None) => {
                    assert!(
                        buf.len() <= bound,
                        "holding {} bytes, bound {bound}",
                        buf.len()
                    );
                    break;
                }
                Err(e) => {
                    return Reading {
                        ops,
                        end: End::Error(e),
                    }
                }
            }
        }
    }
    let end = if parser.is_idle() {
        End::Complete
    } else {
        End::Incomplete
    };
    Reading { ops, end }
}

fn whole(stream: &[u8], config: Config) -> Reading {
    machine(stream, config, &[stream.len().max(1)])
}

fn valid_config() -> Config {
    Config {
        headers: true,
        ..Config::default()
    }
}

// ---------------------------------------------------------------- generator

fn pick<T: Copy>(g: &mut Gen, items: &[T]) -> T {
    *g.choose(items).expect("non-empty")
}

fn below(g: &mut Gen, n: usize) -> usize {
    usize::arbitrary(g) % n.max(1)
}

/// A token: no blank, `\r` or `\n` (so every separator reads it whole).
fn token(g: &mut Gen) -> Vec<u8> {
    const ALPHABET: &[u8] = b"abcxyzABC019._-*>$:/\"{}+\xff\x80\x00";
    (0..1 + below(g, 8)).map(|_| pick(g, ALPHABET)).collect()
}

fn blanks(g: &mut Gen, min: usize) -> Vec<u8> {
    (0..min + below(g, 3)).map(|_| pick(g, b" \t")).collect()
}

fn opcode(g: &mut Gen, word: &str) -> Vec<u8> {
    word.bytes()
        .map(|b| {
            if bool::arbitrary(g) {
                b.to_ascii_lowercase()
            } else {
                b
            }
        })
        .collect()
}

/// An opcode in random case, then each argument after a run of blanks.
fn write_args(out: &mut Vec<u8>, g: &mut Gen, word: &str, args: &[&[u8]]) {
    out.extend(opcode(g, word));
    for arg in args {
        out.extend(blanks(g, 1));
        out.extend_from_slice(arg);
    }
}

fn eol(g: &mut Gen) -> &'static [u8] {
    if bool::arbitrary(g) {
        b"\r\n"
    } else {
        b"\n"
    }
}

fn payload(g: &mut Gen) -> Vec<u8> {
    let mut p: Vec<u8> = Vec::arbitrary(g);
    p.truncate(below(g, 40));
    if bool::arbitrary(g) {
        p.extend_from_slice(b"\r\n");
    }
    p
}

const CONNECTS: &[&str] = &[
    "{}",
    "null",
    "{\"verbose\":false,\"pedantic\":false,\"name\":\"n\\u00e9\",\"protocol\":1}",
    "{\"headers\":true,\"no_responders\":true,\"lang\":\"rust\",\"version\":\"0.1.0\"}",
    "{\"user\":\"a\",\"pass\":\"b \\\" c\",\"echo\":null,\"x\":[1,{\"y\":-2.5e3}]}  ",
    "{\"import\":{\"allow\":[\"a.>\",null]},\"tls_required\":false}",
];
const INFOS: &[&str] = &[
    "{}",
    "{\"server_id\":\"x\",\"max_payload\":-1,\"connect_urls\":[\"a\"]}",
    "{\"client_id\":18446744073709551615,\"gateway_cmd_payload\":\"YQ==\"}",
];

/// One operation and a serialization of it.
fn one(g: &mut Gen, ops: &mut Vec<Op>, out: &mut Vec<u8>) {
    let b = |v: Vec<u8>| Bytes::from(v);
    match below(g, 12) {
        0 => {
            let json = pick(g, CONNECTS);
            out.extend(opcode(g, "CONNECT"));
            out.extend(blanks(g, 0));
            out.extend_from_slice(json.as_bytes());
            out.extend_from_slice(eol(g));
            ops.push(Op::Connect(Bytes::from_static(json.as_bytes())));
        }
        1 => {
            let json = pick(g, INFOS);
            out.extend(opcode(g, "INFO"));
            out.extend(blanks(g, 0));
            out.extend_from_slice(json.as_bytes());
            out.extend_from_slice(eol(g));
            ops.push(Op::Info(Bytes::from_static(json.as_bytes())));
        }
        2..=4 => {
            let (subject, reply, body) =
                (token(g), bool::arbitrary(g).then(|| token(g)), payload(g));
            let size = format!("{}{}", "0".repeat(below(g, 2)), body.len());
            let mut args = vec![&subject[..]];
            args.extend(reply.as_deref());
            args.push(size.as_bytes());
            write_args(out, g, "PUB", &args);
            out.extend(blanks(g, 0));
            out.extend_from_slice(eol(g));
            out.extend(&body);
            out.extend_from_slice(b"\r\n");
            ops.push(Op::Pub {
                subject: b(subject),
                reply: reply.map(b),
                payload: b(body),
            });
        }
        5 => {
            let (subject, reply) = (token(g), bool::arbitrary(g).then(|| token(g)));
            let headers = if bool::arbitrary(g) {
                b"NATS/1.0\r\nK: v\r\n\r\n".to_vec()
            } else {
                payload(g)
            };
            let body = payload(g);
            let (hdr_len, total) = (
                headers.len().to_string(),
                (headers.len() + body.len()).to_string(),
            );
            let mut args = vec![&subject[..]];
            args.extend(reply.as_deref());
            args.extend([hdr_len.as_bytes(), total.as_bytes()]);
            write_args(out, g, "HPUB", &args);
            out.extend_from_slice(eol(g));
            out.extend(&headers);
            out.extend(&body);
            out.extend_from_slice(b"\r\n");
            ops.push(Op::HPub {
                subject: b(subject),
                reply: reply.map(b),
                headers: b(headers),
                payload: b(body),
            });
        }
        6 | 7 => {
            let (subject, queue, sid) = (token(g), bool::arbitrary(g).then(|| token(g)), token(g));
            let mut args = vec![&subject[..]];
            args.extend(queue.as_deref());
            args.push(&sid);
            write_args(out, g, "SUB", &args);
            out.extend(blanks(g, 0));
            out.extend_from_slice(eol(g));
            ops.push(Op::Sub {
                subject: b(subject),
                queue: queue.map(b),
                sid: b(sid),
            });
        }
        8 => {
            let sid = token(g);
            let max = (bool::arbitrary(g))
                .then(|| NonZeroU32::new(1 + u32::arbitrary(g) % 999_999_999))
                .flatten();
            let max_text = max.map(|m| m.to_string());
            let mut args = vec![&sid[..]];
            args.extend(max_text.as_deref().map(str::as_bytes));
            write_args(out, g, "UNSUB", &args);
            out.extend_from_slice(eol(g));
            ops.push(Op::Unsub { sid: b(sid), max });
        }
        9 => {
            let subject = token(g);
            write_args(out, g, "HMSG", &[&subject]);
            out.extend_from_slice(eol(g));
            out.extend_from_slice(b"\r\n");
            ops.push(Op::HMsg);
        }
        n => {
            let (word, op) = match n % 3 {
                0 => ("PING", Op::Ping),
                1 => ("PONG", Op::Pong),
                _ => ("+OK", Op::Ok),
            };
            out.extend(opcode(g, word));
            if bool::arbitrary(g) {
                // Ignored up to the newline.
                out.extend(blanks(g, 0));
                out.extend(token(g));
                out.extend(pick(g, [b"".as_slice(), b"\r", b"\r\r"].as_slice()));
            }
            out.extend_from_slice(eol(g));
            ops.push(op);
        }
    }
}

/// Valid operations and one serialization of them.
#[derive(Clone, Debug)]
struct Wire {
    ops: Vec<Op>,
    bytes: Vec<u8>,
}

impl Arbitrary for Wire {
    fn arbitrary(g: &mut Gen) -> Self {
        let mut ops = Vec::new();
        let mut bytes = Vec::new();
        for _ in 0..below(g, 8) {
            one(g, &mut ops, &mut bytes);
        }
        Wire { ops, bytes }
    }
}

/// Read sizes, all at least 1.
#[derive(Clone, Debug)]
struct Chunks(Vec<usize>);

impl Arbitrary for Chunks {
    fn arbitrary(g: &mut Gen) -> Self {
        let n = 1 + below(g, 6);
        Chunks((0..n).map(|_| 1 + below(g, 24)).collect())
    }
    fn shrink(&self) -> Box<dyn Iterator<Item = Self>> {
        Box::new(
            self.0
                .shrink()
                .filter(|v| !v.is_empty() && v.iter().all(|&n| n > 0))
                .map(Chunks),
        )
    }
}

/// A stream that is mostly protocol, then damaged.
#[derive(Clone, Debug)]
struct Mutated(Vec<u8>);

impl Arbitrary for Mutated {
    fn arbitrary(g: &mut Gen) -> Self {
        const NOISE: &[u8] = b"PUBSINGCONKTEFHMRXpubsing+-\r\n \t0123456789{}\"\\:,[]ox\xff";
        let mut bytes = if below(g, 5) == 0 {
            (0..below(g, 60)).map(|_| pick(g, NOISE)).collect()
        } else {
            Wire::arbitrary(g).bytes
        };
        for _ in 0..below(g, 3) {
            let at = below(g, bytes.len() + 1);
            match below(g, 6) {
                0 if at < bytes.len() => {
                    bytes.remove(at);
                }
                1 if at < bytes.len() => bytes[at] = pick(g, NOISE),
                2 => bytes.insert(at, pick(g, NOISE)),
                3 => bytes.truncate(at),
                4 if at < bytes.len() => {
                    let end = (at + below(g, 12)).min(bytes.len());
                    let copy = bytes[at..end].to_vec();
                    bytes.splice(at..at, copy);
                }
                _ => bytes.insert(at, u8::arbitrary(g)),
            }
        }
        Mutated(bytes)
    }
    fn shrink(&self) -> Box<dyn Iterator<Item = Self>> {
        Box::new(self.0.shrink().map(Mutated))
    }
}

/// Limits small enough for random streams to hit them.
#[derive(Clone, Copy, Debug)]
struct AnyConfig(Config);

impl Arbitrary for AnyConfig {
    fn arbitrary(g: &mut Gen) -> Self {
        AnyConfig(Config {
            max_control_line: pick(g, &[1, 8, 24, 64, 4096, 4096, 4096]),
            max_payload: pick(g, &[0, 10, 32, 1 << 20, 1 << 20]),
            headers: bool::arbitrary(g),
            awaiting_connect: below(g, 8) == 0,
        })
    }
}

/// A CONNECT or INFO line whose JSON mixes known fields, values of right
/// and wrong Go types, and a little damage.
#[derive(Clone, Debug)]
struct JsonLine(Vec<u8>);

impl Arbitrary for JsonLine {
    fn arbitrary(g: &mut Gen) -> Self {
        const KEYS: &[&str] = &[
            "verbose",
            "Protocol",
            "name",
            "import",
            "allow",
            "HEADERS",
            "x",
            "client_id",
            "gateway_cmd",
            "gateway_cmd_payload",
            "connect_urls",
            "max_payload",
            "u\\u0073er",
            "port",
            "deny",
            "\\u017fig",
        ];
        const VALUES: &[&str] = &[
            "true",
            "false",
            "null",
            "0",
            "-0",
            "1.5",
            "1e3",
            "255",
            "256",
            "-1",
            "2147483648",
            "18446744073709551615",
            "18446744073709551616",
            "\"s\"",
            "\"YQ==\"",
            "\"YQ\"",
            "\"\\ud800\\n\"",
            "[]",
            "[\"a\",null]",
            "[1,256]",
            "[0,255]",
            "{}",
            "{\"allow\":[\"x\"]}",
            "{\"Deny\":\"x\"}",
            "[[[]]]",
        ];
        const NOISE: &[u8] = b"{}[]\",:\\ 0-.eE\ttrunl\x01\xff";
        let mut json = String::from(pick(g, &["{", " {", "\t{ "]));
        for n in 0..below(g, 4) {
            if n > 0 {
                json.push_str(pick(g, &[",", " , ", ",\t"]));
            }
            json.push_str(&format!("\"{}\":{}", pick(g, KEYS), pick(g, VALUES)));
        }
        json.push('}');
        let mut bytes = json.into_bytes();
        if below(g, 8) == 0 {
            bytes = pick(g, VALUES).as_bytes().to_vec();
        }
        for _ in 0..below(g, 3).saturating_sub(1) {
            let at = below(g, bytes.len() + 1);
            match below(g, 3) {
                0 if at < bytes.len() => {
                    bytes.remove(at);
                }
                _ => bytes.insert(at, pick(g, NOISE)),
            }
        }
        let mut line = pick(g, &[b"CONNECT ".as_slice(), b"INFO "]).to_vec();
        line.extend(bytes);
        line.extend_from_slice(b"\r\nPING\r\n");
        JsonLine(line)
    }
    fn shrink(&self) -> Box<dyn Iterator<Item = Self>> {
        Box::new(self.0.shrink().map(JsonLine))
    }
}

fn qc() -> QuickCheck {
    QuickCheck::new().tests(2000).max_tests(20000)
}

// ---------------------------------------------------------------- (a)

#[test]
fn valid_streams_read_back_for_any_chunking() {
    fn prop(wire: Wire, chunks: Chunks) -> bool {
        let expected = Reading {
            ops: wire.ops.clone(),
            end: End::Complete,
        };
        let got = machine(&wire.bytes, valid_config(), &chunks.0);
        let spec = grammar::read(&wire.bytes, valid_config());
        got == expected && spec == expected
    }
    qc().quickcheck(prop as fn(Wire, Chunks) -> bool);
}

fn every_boundary(stream: &[u8], config: Config) {
    let reference = whole(stream, config);
    assert_eq!(grammar::read(stream, config), reference, "spec");
    assert_eq!(
        machine(stream, config, &[1]),
        reference,
        "one byte per read"
    );
    for k in 1..stream.len() {
        let got = machine(stream, config, &[k, stream.len()]);
        assert_eq!(got, reference, "split at {k}");
    }
    if stream.len() <= 80 {
        for i in 1..stream.len() {
            for j in 1..stream.len() - i {
                let got = machine(stream, config, &[i, j, stream.len()]);
                assert_eq!(got, reference, "split at {i} and {}", i + j);
            }
        }
    }
}

#[test]
fn fixed_streams_at_every_boundary() {
    let streams: &[&[u8]] = &[
        b"CONNECT {\"verbose\":false,\"headers\":true}\r\nPING\r\nSUB foo.* q 1\r\nPUB foo.bar reply 5\r\nhello\r\n",
        b"HPUB foo 12 14\r\nNATS/1.0\r\n\r\nhi\r\nUNSUB 1 10\npong x\n+OK\r\n",
        b"pub\t a  0 \n\r\nSuB a 1\r\nunsub 1\r\nHMSG x\r\n\r\nINFO {}\r\n",
        b"PUB a 2\r\n\r\n\r\nPUB b 0\r\n\r\n",
    ];
    for s in streams {
        every_boundary(s, valid_config());
    }
    let reference = whole(streams[0], valid_config());
    assert_eq!(reference.ops.len(), 4);
    assert_eq!(reference.end, End::Complete);
}

#[test]
fn failing_streams_at_every_boundary() {
    let small = Config {
        max_control_line: 8,
        max_payload: 4,
        ..valid_config()
    };
    let streams: &[&[u8]] = &[
        b"PING\r\nSUB foo\r 1\nPING\r\n",
        b"PUB foo 5\r\nhelloX\r\n",
        b"SUB 123456789 1\r\n",
        b"SUB 1234567\r\r\n",
        b"PUB a 5\r\n",
        b"PING\r\nCONNECT {\"x\":01}\r\n",
        b"PING\r\n-ERR 'boom'\r\n",
        b"PINGPONG\nPIN\n",
    ];
    for s in streams {
        every_boundary(s, small);
    }
}

// ---------------------------------------------------------------- (b), (c), (d)

#[test]
fn machine_agrees_with_spec_on_damaged_streams() {
    fn prop(stream: Mutated, config: AnyConfig, chunks: Chunks) -> bool {
        let spec = grammar::read(&stream.0, config.0);
        let got = machine(&stream.0, config.0, &chunks.0);
        if spec != got {
            eprintln!(
                "stream {:?}\nspec {spec:?}\nmachine {got:?}",
                String::from_utf8_lossy(&stream.0)
            );
        }
        spec == got && whole(&stream.0, config.0) == got
    }
    qc().quickcheck(prop as fn(Mutated, AnyConfig, Chunks) -> bool);
}

#[test]
fn machine_agrees_with_spec_on_json() {
    fn prop(line: JsonLine) -> bool {
        let config = Config::default();
        let spec = grammar::read(&line.0, config);
        let got = whole(&line.0, config);
        if spec != got {
            eprintln!(
                "line {:?}\nspec {spec:?}\nmachine {got:?}",
                String::from_utf8_lossy(&line.0)
            );
        }
        spec == got
    }
    qc().quickcheck(prop as fn(JsonLine) -> bool);
    // Both verdicts occur.
    let mut g = Gen::new(100);
    let ends: Vec<End> = (0..500)
        .map(|_| grammar::read(&JsonLine::arbitrary(&mut g).0, Config::default()).end)
        .collect();
    assert!(ends.iter().filter(|e| **e == End::Complete).count() > 100);
    assert!(ends.iter().filter(|e| **e != End::Complete).count() > 100);
}

#[test]
fn arbitrary_bytes_never_panic() {
    fn prop(bytes: Vec<u8>, config: AnyConfig, chunks: Chunks) -> bool {
        let got = machine(&bytes, config.0, &chunks.0);
        got == whole(&bytes, config.0) && got == grammar::read(&bytes, config.0)
    }
    qc().quickcheck(prop as fn(Vec<u8>, AnyConfig, Chunks) -> bool);
}

#[test]
fn memory_stays_bounded_on_floods() {
    let config = Config::default();
    let bound = config.max_control_line + config.max_payload + Parser::MAX_HELD_OVERHEAD;
    let feed = |prefix: &[u8], filler: u8, reads: usize| {
        let mut parser = Parser::new(config);
        let mut buf = BytesMut::new();
        buf.extend_from_slice(prefix);
        for _ in 0..reads {
            buf.extend_from_slice(&[filler; 4096]);
            match parser.next_op(&mut buf) {
                Ok(None) => assert!(buf.len() <= bound),
                other => return other.map(|_| ()),
            }
        }
        Ok(())
    };
    // Ignored bytes and blanks are dropped as they are read.
    assert_eq!(feed(b"PING", b'x', 1000), Ok(()));
    assert_eq!(feed(b"PUB", b' ', 1000), Ok(()));
    // An argument is refused once it cannot fit.
    assert_eq!(
        feed(b"SUB ", b'a', 1000),
        Err(edge::nats::protocol::ProtocolError::MaxControlLine)
    );
    // A maximal payload arriving slowly is held, and no more.
    let mut parser = Parser::new(config);
    let mut buf = BytesMut::new();
    buf.extend_from_slice(format!("PUB {} {}\r\n", "s".repeat(4080), 1 << 20).as_bytes());
    for _ in 0..256 {
        assert_eq!(parser.next_op(&mut buf), Ok(None));
        assert!(buf.len() <= bound);
        buf.extend_from_slice(&[b'p'; 4096]);
    }
    buf.extend_from_slice(b"\r\n");
    let Ok(Some(Op::Pub { payload, .. })) = parser.next_op(&mut buf) else {
        panic!("expected the PUB");
    };
    assert_eq!(payload.len(), 1 << 20);
    assert!(buf.is_empty());
}
