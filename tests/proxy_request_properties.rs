//! Client requests in every shape (HTTP/1.0 as a connection's last one,
//! `Expect: 100-continue` on some bodies), pipelined on one connection and
//! split at random bytes, checked with quickcheck through a real edge
//! process: each reaches the upstream with its method, target, headers and body,
//! and the client gets the answers in order.
//!
//! A connection starts on edge's own lane (src/proxy/wire) and moves to
//! hyper at the first request the lane does not take (a chunked body, a
//! head split across reads), with the bytes already read replayed; the
//! random mixes and splits cross that hand-over everywhere.
//! `QUICKCHECK_TESTS=N` raises the number of cases.

mod common;
#[path = "common/proxy.rs"]
mod proxy_common;

use proxy_common::{pieces, text, write_in_pieces, Edge, OnDrop, Seen, SharedEdge, Upstream, WAIT};
use quickcheck::{Arbitrary, Gen, TestResult};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// A request body, and how it is framed.
#[derive(Clone, Debug)]
enum Body {
    Length(Vec<u8>),
    /// Chunks cut at these offsets.
    Chunked(Vec<u8>, Vec<usize>),
}

#[derive(Clone, Debug)]
struct Req {
    method: &'static str,
    /// Origin-form target: path and query.
    target: String,
    /// Extra headers, names spelled in any case.
    headers: Vec<(String, String)>,
    body: Option<Body>,
    /// `Expect: 100-continue`, the body sent without waiting (as curl
    /// does after its wait runs out).
    expect: bool,
    /// HTTP/1.0 (the last request of a case only: it ends the connection).
    http10: bool,
}

#[derive(Clone, Debug)]
struct Case {
    reqs: Vec<Req>,
    /// Offsets into the pipelined bytes where the client pauses.
    splits: Vec<usize>,
}

const PATH_CHARS: &[u8] = b"abcxyz0189-._~";
const VALUE_CHARS: &[u8] = b"abcXYZ019 -_.,;:=/\"'()[]{}<>@!#$%&*+?^`|~";

fn pick(g: &mut Gen, from: &[u8], max: usize) -> String {
    let n = usize::arbitrary(g) % (max + 1);
    (0..n)
        .map(|_| char::from(*g.choose(from).unwrap_or(&b'a')))
        .collect()
}

impl Arbitrary for Req {
    fn arbitrary(g: &mut Gen) -> Req {
        let method = *g
            .choose(&["GET", "GET", "HEAD", "DELETE", "OPTIONS", "POST", "PUT"])
            .unwrap_or(&"GET");
        let mut target = format!("/p/{}", pick(g, PATH_CHARS, 20));
        if bool::arbitrary(g) {
            target.push_str(&format!("?q={}&r", pick(g, PATH_CHARS, 10)));
        }
        let headers = (0..usize::arbitrary(g) % 5)
            .map(|i| {
                let name = if bool::arbitrary(g) {
                    format!("X-H{i}")
                } else {
                    format!("x-h{i}")
                };
                // No space at either end: parsers trim it.
                let value = format!("v{}v", pick(g, VALUE_CHARS, 30));
                (name, value)
            })
            .collect();
        let body = matches!(method, "POST" | "PUT").then(|| {
            let len = usize::arbitrary(g) % 2000;
            let bytes: Vec<u8> = (0..len).map(|_| u8::arbitrary(g)).collect();
            if bool::arbitrary(g) {
                Body::Length(bytes)
            } else {
                let cuts = (0..usize::arbitrary(g) % 4)
                    .map(|_| usize::arbitrary(g) % (len + 1))
                    .collect();
                Body::Chunked(bytes, cuts)
            }
        });
        let expect = body.is_some() && u8::arbitrary(g) % 4 == 0;
        Req {
            method,
            target,
            headers,
            body,
            expect,
            http10: false,
        }
    }
}

impl Arbitrary for Case {
    fn arbitrary(g: &mut Gen) -> Case {
        let mut reqs: Vec<Req> = (0..1 + usize::arbitrary(g) % 4)
            .map(|_| Req::arbitrary(g))
            .collect();
        if let Some(last) = reqs.last_mut() {
            // HTTP/1.0 has no chunked bodies.
            last.http10 =
                u8::arbitrary(g) % 4 == 0 && !matches!(last.body, Some(Body::Chunked(..)));
        }
        Case {
            reqs,
            splits: (0..usize::arbitrary(g) % 6)
                .map(|_| usize::arbitrary(g))
                .collect(),
        }
    }
}

impl Req {
    /// The request's bytes, carrying `id` in `X-Id`.
    fn wire(&self, id: u64) -> Vec<u8> {
        let version = if self.http10 { "1.0" } else { "1.1" };
        let mut out = format!(
            "{} {} HTTP/{version}\r\nHost: edge.test\r\nX-Id: {id}\r\n",
            self.method, self.target
        )
        .into_bytes();
        if self.expect {
            out.extend_from_slice(b"Expect: 100-continue\r\n");
        }
        for (n, v) in &self.headers {
            out.extend_from_slice(format!("{n}: {v}\r\n").as_bytes());
        }
        match &self.body {
            None => out.extend_from_slice(b"\r\n"),
            Some(Body::Length(bytes)) => {
                out.extend_from_slice(
                    format!("Content-Length: {}\r\n\r\n", bytes.len()).as_bytes(),
                );
                out.extend_from_slice(bytes);
            }
            Some(Body::Chunked(bytes, cuts)) => {
                out.extend_from_slice(b"Transfer-Encoding: chunked\r\n\r\n");
                for piece in pieces(bytes, cuts) {
                    out.extend_from_slice(format!("{:x}\r\n", piece.len()).as_bytes());
                    out.extend_from_slice(piece);
                    out.extend_from_slice(b"\r\n");
                }
                out.extend_from_slice(b"0\r\n\r\n");
            }
        }
        out
    }

    fn body_bytes(&self) -> &[u8] {
        match &self.body {
            None => &[],
            Some(Body::Length(b) | Body::Chunked(b, _)) => b,
        }
    }

    /// What is wrong with `seen` as this request's arrival, if anything.
    fn differs(&self, seen: &Seen) -> Option<String> {
        if seen.method != self.method {
            return Some(format!("method {}", seen.method));
        }
        if seen.uri != self.target {
            return Some(format!("target {}", seen.uri));
        }
        for (n, v) in &self.headers {
            if seen.header(&n.to_ascii_lowercase()) != *v {
                return Some(format!("header {n}: {:?}", seen.header(n)));
            }
        }
        if seen.body != self.body_bytes() {
            return Some(format!("body of {} bytes", seen.body.len()));
        }
        None
    }
}

/// Reads one answer from a raw client connection: its status and body
/// (`Content-Length` or chunked; none for HEAD).
async fn read_answer(
    s: &mut TcpStream,
    buf: &mut Vec<u8>,
    head_request: bool,
) -> Result<(u16, Vec<u8>), String> {
    let (status, head_len, length, chunked) = loop {
        let mut headers = [httparse::EMPTY_HEADER; 64];
        let mut res = httparse::Response::new(&mut headers);
        match res.parse(buf) {
            Ok(httparse::Status::Complete(n)) => {
                let find = |name: &str| {
                    res.headers
                        .iter()
                        .find(|h| h.name.eq_ignore_ascii_case(name))
                        .map(|h| String::from_utf8_lossy(h.value).into_owned())
                };
                let code = res.code.unwrap_or(0);
                if (100..200).contains(&code) {
                    // An interim answer (`100 Continue`): the real one follows.
                    buf.drain(..n);
                    continue;
                }
                let length = find("content-length").and_then(|v| v.parse::<usize>().ok());
                let chunked = find("transfer-encoding").is_some_and(|v| v.contains("chunked"));
                break (code, n, length, chunked);
            }
            Ok(httparse::Status::Partial) => fill(s, buf).await?,
            Err(e) => return Err(format!("bad answer head: {e}")),
        }
    };
    buf.drain(..head_len);
    if head_request {
        return Ok((status, Vec::new()));
    }
    if chunked {
        let mut body = Vec::new();
        loop {
            let line_end = loop {
                if let Some(at) = buf.windows(2).position(|w| w == b"\r\n") {
                    break at;
                }
                fill(s, buf).await?;
            };
            let size = std::str::from_utf8(&buf[..line_end])
                .ok()
                .and_then(|l| usize::from_str_radix(l.split(';').next().unwrap_or(""), 16).ok())
                .ok_or("bad chunk size in the answer")?;
            buf.drain(..line_end + 2);
            while buf.len() < size + 2 {
                fill(s, buf).await?;
            }
            if size == 0 {
                // No trailers expected here: the blank line ends it.
                buf.drain(..2);
                return Ok((status, body));
            }
            body.extend_from_slice(&buf[..size]);
            buf.drain(..size + 2);
        }
    }
    let n = length.unwrap_or(0);
    while buf.len() < n {
        fill(s, buf).await?;
    }
    Ok((status, buf.drain(..n).collect()))
}

async fn fill(s: &mut TcpStream, buf: &mut Vec<u8>) -> Result<(), String> {
    let mut chunk = [0u8; 8192];
    match s.read(&mut chunk).await {
        Ok(0) => Err("edge closed the connection".into()),
        Ok(n) => {
            buf.extend_from_slice(&chunk[..n]);
            Ok(())
        }
        Err(e) => Err(e.to_string()),
    }
}

/// The one edge and upstream every case goes through (see
/// [`SharedEdge`]).
struct Bench {
    rt: tokio::runtime::Runtime,
    edge: SharedEdge,
    upstream: Upstream,
    next: AtomicU64,
}

impl Bench {
    /// `n` request ids never used before.
    fn ids(&self, n: usize) -> Vec<u64> {
        (0..n)
            .map(|_| self.next.fetch_add(1, Ordering::Relaxed))
            .collect()
    }
}

/// The well-formed requests' edge.
static BENCH: OnceLock<Bench> = OnceLock::new();
/// The mutated requests' edge: another process, so neither test stops
/// the edge the other is using.
static BAD_BENCH: OnceLock<Bench> = OnceLock::new();

fn bench(which: &'static OnceLock<Bench>) -> &'static Bench {
    which.get_or_init(|| {
        let rt = common::rt();
        // Each answer's body is the request's id.
        let upstream = rt.block_on(Upstream::start(|seen| text(200, &seen.header("x-id"))));
        let edge = Edge::start(&format!(
            "proxy {{ listen: \"127.0.0.1:PORT\", target: \"{}\" }}",
            upstream.url()
        ));
        Bench {
            rt,
            edge: SharedEdge::new(edge),
            upstream,
            next: AtomicU64::new(1),
        }
    })
}

/// Sends the case's requests pipelined, in its pieces, and reads the
/// answers: each must be 200 with its request's id (none for HEAD).
async fn exchange(edge: std::net::SocketAddr, case: &Case, ids: &[u64]) -> Result<(), String> {
    let mut bytes = Vec::new();
    for (req, id) in case.reqs.iter().zip(ids) {
        bytes.extend(req.wire(*id));
    }
    let mut s = TcpStream::connect(edge).await.map_err(|e| e.to_string())?;
    write_in_pieces(&mut s, &bytes, &case.splits)
        .await
        .map_err(|e| e.to_string())?;
    let mut buf = Vec::new();
    for (req, id) in case.reqs.iter().zip(ids) {
        let head = req.method == "HEAD";
        let (status, body) = read_answer(&mut s, &mut buf, head).await?;
        let want = if head {
            Vec::new()
        } else {
            id.to_string().into_bytes()
        };
        if (status, &body) != (200, &want) {
            return Err(format!(
                "answer to {id}: {status} {:?}",
                String::from_utf8_lossy(&body)
            ));
        }
    }
    Ok(())
}

fn prop(case: Case) -> TestResult {
    let b = bench(&BENCH);
    let ids = b.ids(case.reqs.len());
    let Some(addr) = b.edge.addr() else {
        return TestResult::error("edge is stopped");
    };
    let got = b.rt.block_on(async {
        tokio::time::timeout(WAIT, exchange(addr, &case, &ids))
            .await
            .unwrap_or_else(|_| Err("no answers in time: edge hung".into()))
    });
    if let Some(status) = b.edge.exited() {
        return TestResult::error(format!("edge exited ({status}) on {case:?}"));
    }
    if let Err(e) = got {
        return TestResult::error(format!("{case:?}\n  {e}"));
    }
    // Every request of this case has been answered, so it is recorded.
    let seen = b.upstream.take_seen();
    for (req, id) in case.reqs.iter().zip(&ids) {
        let arrived = seen.iter().find(|s| s.header("x-id") == id.to_string());
        let problem = match arrived {
            None => Some("never arrived".to_string()),
            Some(s) => req.differs(s),
        };
        if let Some(p) = problem {
            return TestResult::error(format!("{case:?}\n  request {id} at the upstream: {p}"));
        }
    }
    TestResult::passed()
}

#[test]
fn pipelined_requests_in_any_shape_and_split_reach_the_upstream_intact_and_are_answered_in_order() {
    let _stop = OnDrop(|| {
        if let Some(b) = BENCH.get() {
            b.edge.stop();
        }
    });
    common::quickcheck("pipelined requests", 200, prop as fn(Case) -> TestResult);
}

/// A case's bytes with a few of them changed: a byte replaced, dropped,
/// or inserted, or a token that parsers trip on put in.
#[derive(Clone, Debug)]
struct Mutated {
    case: Case,
    edits: Vec<(usize, Edit)>,
}

#[derive(Clone, Debug)]
enum Edit {
    Replace(u8),
    Drop,
    Insert(&'static [u8]),
}

const TOKENS: &[&[u8]] = &[
    b"\r\n",
    b"\n",
    b"\r",
    b":",
    b" ",
    b"\t",
    b"\0",
    b"0",
    b"-1",
    b";",
    b",",
    b"Content-Length: 5\r\n",
    b"Transfer-Encoding: chunked\r\n",
    b"\xff",
    b"ffffffffffffffff",
];

impl Arbitrary for Mutated {
    fn arbitrary(g: &mut Gen) -> Mutated {
        let edits = (0..1 + usize::arbitrary(g) % 3)
            .map(|_| {
                let edit = match u8::arbitrary(g) % 3 {
                    0 => Edit::Replace(u8::arbitrary(g)),
                    1 => Edit::Drop,
                    _ => Edit::Insert(g.choose(TOKENS).copied().unwrap_or(b":")),
                };
                (usize::arbitrary(g), edit)
            })
            .collect();
        Mutated {
            case: Case::arbitrary(g),
            edits,
        }
    }
}

impl Mutated {
    fn wire(&self, ids: &[u64]) -> Vec<u8> {
        let mut bytes = Vec::new();
        for (req, id) in self.case.reqs.iter().zip(ids) {
            bytes.extend(req.wire(*id));
        }
        for (at, edit) in &self.edits {
            let at = at % (bytes.len() + 1);
            match edit {
                Edit::Replace(b) if at < bytes.len() => bytes[at] = *b,
                Edit::Drop if at < bytes.len() => {
                    bytes.remove(at);
                }
                Edit::Insert(t) => {
                    bytes.splice(at..at, t.iter().copied());
                }
                _ => {}
            }
        }
        bytes
    }
}

/// Sends the mutated bytes in the case's pieces, half-closes, and reads
/// until edge closes: what it answered.
async fn send_mutated(
    edge: std::net::SocketAddr,
    bytes: &[u8],
    splits: &[usize],
) -> Result<Vec<u8>, String> {
    let mut s = TcpStream::connect(edge).await.map_err(|e| e.to_string())?;
    // Edge may close early on a bad head: later writes may fail.
    let _ = write_in_pieces(&mut s, bytes, splits).await;
    let _ = s.shutdown().await;
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out).await;
    Ok(out)
}

fn prop_mutated(m: Mutated) -> TestResult {
    let b = bench(&BAD_BENCH);
    let ids = b.ids(m.case.reqs.len());
    let Some(addr) = b.edge.addr() else {
        return TestResult::error("edge is stopped");
    };
    let bytes = m.wire(&ids);
    let got = b.rt.block_on(async {
        tokio::time::timeout(WAIT, send_mutated(addr, &bytes, &m.case.splits))
            .await
            .unwrap_or_else(|_| Err("edge kept the half-closed connection open".into()))
    });
    // Every answer is a whole request's; nothing edge writes is anything
    // but HTTP answers.
    let problem = match &got {
        Err(e) => Some(e.clone()),
        Ok(out) if !out.is_empty() && !out.starts_with(b"HTTP/1.") => Some(format!(
            "answered {:?}",
            String::from_utf8_lossy(&out[..out.len().min(80)])
        )),
        Ok(_) => None,
    };
    let _ = b.upstream.take_seen();
    if let Some(status) = b.edge.exited() {
        return TestResult::error(format!("edge exited ({status}) on {m:?}"));
    }
    // And it still serves a good request.
    let good = Case {
        reqs: vec![Req {
            method: "GET",
            target: "/after".into(),
            headers: Vec::new(),
            body: None,
            expect: false,
            http10: false,
        }],
        splits: Vec::new(),
    };
    let after = b.rt.block_on(async {
        tokio::time::timeout(WAIT, exchange(addr, &good, &b.ids(1)))
            .await
            .unwrap_or_else(|_| Err("no answer in time".into()))
    });
    let _ = b.upstream.take_seen();
    match (problem, after) {
        (None, Ok(())) => TestResult::passed(),
        (Some(p), _) => TestResult::error(format!(
            "{m:?}\n  bytes {:?}\n  {p}",
            String::from_utf8_lossy(&bytes)
        )),
        (None, Err(e)) => TestResult::error(format!("{m:?}\n  the next good request: {e}")),
    }
}

#[test]
fn mutated_pipelines_get_http_answers_or_a_close_and_edge_keeps_serving() {
    let _stop = OnDrop(|| {
        if let Some(b) = BAD_BENCH.get() {
            b.edge.stop();
        }
    });
    common::quickcheck(
        "mutated pipelines",
        200,
        prop_mutated as fn(Mutated) -> TestResult,
    );
}
