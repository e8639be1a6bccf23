//! Upstream answers in every framing, split at random bytes, checked with
//! quickcheck through a real edge process:
//! - a well-formed answer (a `Content-Length` body, a chunked one with
//!   extensions and trailers, one ended by the upstream's close, a 204 or
//!   304) reaches the client with the same status and body;
//! - a broken one (a truncated body, a bad chunk size, a bad status line,
//!   conflicting lengths) never reaches the client as a whole answer: it
//!   gets a 502 when the head is bad, or a connection cut before the
//!   body's end when the body is, and edge goes on serving.
//!
//! Bodiless GETs go through edge's own lane (src/proxy/wire), chunked
//! POSTs through hyper, so both upstream readers meet the same answers.
//! `QUICKCHECK_TESTS=N` raises the number of cases.

mod common;
#[path = "common/proxy.rs"]
mod proxy_common;

use bytes::Bytes;
use http::Request;
use http_body_util::{BodyExt, StreamBody};
use hyper::body::Frame;
use hyper_util::rt::TokioIo;
use proxy_common::{pieces, write_in_pieces, Edge, OnDrop, SharedEdge, WAIT};
use quickcheck::{Arbitrary, Gen, TestResult};
use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// How an answer's body is framed.
#[derive(Clone, Debug)]
enum Framing {
    Length,
    /// Chunks cut at these body offsets; an extension on each size line;
    /// a trailer section.
    Chunked {
        cuts: Vec<usize>,
        ext: bool,
        trailers: bool,
    },
    /// Until the upstream closes.
    Close,
}

/// What is wrong with an answer.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Fault {
    /// The upstream closes before the body's end.
    Truncated,
    /// A chunk size that is not hex (chunked answers).
    BadChunkSize,
    /// A status line that is not one.
    BadStatusLine,
    /// Two different `Content-Length`s.
    ConflictingLengths,
}

/// One upstream answer, and how it is written.
#[derive(Clone, Debug)]
struct Case {
    status: u16,
    body: Vec<u8>,
    framing: Framing,
    /// Offsets into the answer's bytes where the upstream pauses between
    /// writes (so edge reads it in pieces).
    splits: Vec<usize>,
    fault: Option<Fault>,
    /// Through hyper (a chunked POST) rather than the lane (a bodiless GET).
    post: bool,
}

impl Arbitrary for Case {
    fn arbitrary(g: &mut Gen) -> Case {
        let status = *g
            .choose(&[200, 200, 201, 203, 404, 500, 204, 304])
            .unwrap_or(&200);
        let bodiless = matches!(status, 204 | 304);
        let len = if bodiless {
            0
        } else {
            usize::arbitrary(g) % 3000
        };
        let body: Vec<u8> = (0..len).map(|_| u8::arbitrary(g)).collect();
        let framing = match u8::arbitrary(g) % 3 {
            0 => Framing::Length,
            1 => Framing::Chunked {
                cuts: (0..usize::arbitrary(g) % 5)
                    .map(|_| usize::arbitrary(g) % (len + 1))
                    .collect(),
                ext: bool::arbitrary(g),
                trailers: bool::arbitrary(g),
            },
            _ => Framing::Close,
        };
        let fault = if bodiless || u8::arbitrary(g) % 3 != 0 {
            None
        } else {
            let chunked = matches!(framing, Framing::Chunked { .. });
            let faults: &[Fault] = match (&framing, len) {
                (Framing::Close, _) => &[Fault::BadStatusLine],
                (_, 0) => &[Fault::BadStatusLine, Fault::ConflictingLengths],
                _ if chunked => &[Fault::Truncated, Fault::BadChunkSize, Fault::BadStatusLine],
                _ => &[
                    Fault::Truncated,
                    Fault::BadStatusLine,
                    Fault::ConflictingLengths,
                ],
            };
            g.choose(faults).copied()
        };
        // ConflictingLengths is a `Content-Length` fault.
        let framing = if fault == Some(Fault::ConflictingLengths) {
            Framing::Length
        } else {
            framing
        };
        Case {
            status,
            body,
            framing,
            splits: (0..usize::arbitrary(g) % 6)
                .map(|_| usize::arbitrary(g))
                .collect(),
            fault,
            post: bool::arbitrary(g),
        }
    }
}

impl Case {
    /// The answer's bytes, and whether the upstream closes after them.
    fn wire(&self) -> (Vec<u8>, bool) {
        let line = if self.fault == Some(Fault::BadStatusLine) {
            "HTTP/1.1 2x0 OK\r\n".to_string()
        } else {
            format!("HTTP/1.1 {} Some Reason\r\n", self.status)
        };
        let mut out = line.into_bytes();
        out.extend_from_slice(b"X-Case: 1\r\n");
        let bodiless = matches!(self.status, 204 | 304);
        let mut close = false;
        let mut body = Vec::new();
        match &self.framing {
            _ if bodiless => {}
            Framing::Length => {
                let n = self.body.len();
                out.extend_from_slice(format!("Content-Length: {n}\r\n").as_bytes());
                if self.fault == Some(Fault::ConflictingLengths) {
                    out.extend_from_slice(format!("Content-Length: {}\r\n", n + 1).as_bytes());
                }
                body.extend_from_slice(&self.body);
                if self.fault == Some(Fault::Truncated) {
                    body.truncate(n / 2);
                    close = true;
                }
            }
            Framing::Chunked {
                cuts,
                ext,
                trailers,
            } => {
                out.extend_from_slice(b"Transfer-Encoding: chunked\r\n");
                for (i, piece) in pieces(&self.body, cuts).enumerate() {
                    let size = if i == 0 && self.fault == Some(Fault::BadChunkSize) {
                        "zz".to_string()
                    } else {
                        format!("{:x}", piece.len())
                    };
                    body.extend_from_slice(size.as_bytes());
                    if *ext {
                        body.extend_from_slice(b";name=\"v\"");
                    }
                    body.extend_from_slice(b"\r\n");
                    body.extend_from_slice(piece);
                    body.extend_from_slice(b"\r\n");
                }
                if self.fault == Some(Fault::Truncated) {
                    // Cut inside the chunks, before the last chunk.
                    body.truncate(body.len() / 2);
                    close = true;
                } else {
                    body.extend_from_slice(b"0\r\n");
                    if *trailers {
                        body.extend_from_slice(b"X-Trailer: t\r\n");
                    }
                    body.extend_from_slice(b"\r\n");
                }
            }
            Framing::Close => {
                body.extend_from_slice(&self.body);
                close = true;
            }
        }
        out.extend_from_slice(b"\r\n");
        out.extend_from_slice(&body);
        (out, close || self.fault.is_some())
    }
}

/// Answers scripted by case id (the request path's last segment), on
/// keep-alive connections, written in the case's pieces.
#[derive(Default)]
struct Scripts {
    by_id: Mutex<HashMap<u64, Case>>,
}

async fn upstream(scripts: Arc<Scripts>) -> std::net::SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind upstream");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        while let Ok((s, _)) = listener.accept().await {
            tokio::spawn(serve(s, Arc::clone(&scripts)));
        }
    });
    addr
}

/// One upstream connection: each request head (and a chunked request
/// body) read, then its case's answer written.
async fn serve(mut s: TcpStream, scripts: Arc<Scripts>) {
    let mut buf = Vec::new();
    loop {
        let Some(head_end) = read_through(&mut s, &mut buf, b"\r\n\r\n").await else {
            return;
        };
        let head = String::from_utf8_lossy(&buf[..head_end]).to_ascii_lowercase();
        buf.drain(..head_end);
        if head.contains("transfer-encoding: chunked") {
            let Some(end) = read_through(&mut s, &mut buf, b"0\r\n\r\n").await else {
                return;
            };
            buf.drain(..end);
        }
        let id = head
            .split_whitespace()
            .nth(1)
            .and_then(|path| path.rsplit('/').next())
            .and_then(|id| id.parse().ok());
        let case = id.and_then(|id| scripts.by_id.lock().expect("scripts").remove(&id));
        let Some(case) = case else {
            let _ = s
                .write_all(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n")
                .await;
            continue;
        };
        let (bytes, close) = case.wire();
        if write_in_pieces(&mut s, &bytes, &case.splits).await.is_err() {
            return;
        }
        if close {
            let _ = s.shutdown().await;
            return;
        }
    }
}

/// Reads until `buf` holds `end`; returns the offset just past it.
async fn read_through(s: &mut TcpStream, buf: &mut Vec<u8>, end: &[u8]) -> Option<usize> {
    let mut chunk = [0u8; 4096];
    loop {
        if let Some(at) = buf.windows(end.len()).position(|w| w == end) {
            return Some(at + end.len());
        }
        match s.read(&mut chunk).await {
            Ok(0) | Err(_) => return None,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
}

/// What the client got: the status and the whole body, or why not.
async fn fetch(edge: std::net::SocketAddr, id: u64, post: bool) -> Result<(u16, Vec<u8>), String> {
    let tcp = TcpStream::connect(edge).await.map_err(|e| e.to_string())?;
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tcp))
        .await
        .map_err(|e| e.to_string())?;
    tokio::spawn(conn);
    let req = Request::builder()
        .method(if post { "POST" } else { "GET" })
        .uri(format!("/case/{id}"))
        .header("host", "edge.test");
    let body = if post {
        // A stream of unknown length: sent chunked, which hyper serves.
        let frames = [Ok::<_, Infallible>(Frame::data(Bytes::from_static(
            b"hello",
        )))];
        StreamBody::new(futures::stream::iter(frames)).boxed()
    } else {
        http_body_util::Empty::new().boxed()
    };
    let res = sender
        .send_request(req.body(body).map_err(|e| e.to_string())?)
        .await
        .map_err(|e| e.to_string())?;
    let status = res.status().as_u16();
    let body = res
        .into_body()
        .collect()
        .await
        .map_err(|e| format!("{status}, then the body failed: {e}"))?;
    Ok((status, body.to_bytes().to_vec()))
}

/// The one edge (and upstream) every case goes through, on a runtime of
/// its own that outlives each case (see [`SharedEdge`]).
struct Bench {
    rt: tokio::runtime::Runtime,
    edge: SharedEdge,
    scripts: Arc<Scripts>,
    next: AtomicU64,
}

static BENCH: OnceLock<Bench> = OnceLock::new();

fn bench() -> &'static Bench {
    BENCH.get_or_init(|| {
        let rt = common::rt();
        let scripts = Arc::new(Scripts::default());
        let up = rt.block_on(upstream(Arc::clone(&scripts)));
        let edge = Edge::start(&format!(
            "proxy {{ listen: \"127.0.0.1:PORT\", target: \"http://{up}\" }}"
        ));
        Bench {
            rt,
            edge: SharedEdge::new(edge),
            scripts,
            next: AtomicU64::new(1),
        }
    })
}

fn prop(case: Case) -> TestResult {
    let b = bench();
    let id = b.next.fetch_add(1, Ordering::Relaxed);
    b.scripts
        .by_id
        .lock()
        .expect("scripts")
        .insert(id, case.clone());
    let Some(addr) = b.edge.addr() else {
        return TestResult::error("edge is stopped");
    };
    let got = b.rt.block_on(async {
        tokio::time::timeout(WAIT, fetch(addr, id, case.post))
            .await
            .unwrap_or_else(|_| Err("no answer in time: edge hung".into()))
    });
    if let Some(status) = b.edge.exited() {
        return TestResult::error(format!("edge exited ({status}) on {case:?}"));
    }
    let ok = match case.fault {
        None => got == Ok((case.status, case.body.clone())),
        // Found before any byte went to the client: the answer is a 502.
        Some(Fault::BadStatusLine | Fault::ConflictingLengths) => {
            matches!(&got, Ok((502, _)))
        }
        // Found mid-body: the client's connection is cut, after the head
        // (the lane, and hyper once a body byte went out: nginx does the
        // same) or before any byte of the answer (hyper, when the body
        // fails before its first frame), or a 502 if edge had not
        // answered yet; never a shorter body that looks whole.
        Some(Fault::Truncated | Fault::BadChunkSize) => match &got {
            Ok((502, _)) => true,
            Ok(_) => false,
            Err(e) => {
                e.contains("then the body failed")
                    || e.contains("connection closed before message completed")
            }
        },
    };
    if ok {
        TestResult::passed()
    } else {
        TestResult::error(format!("{case:?}\n  got {got:?}"))
    }
}

#[test]
fn upstream_answers_in_any_framing_and_split_reach_the_client_whole_or_visibly_broken() {
    let _stop = OnDrop(|| {
        if let Some(b) = BENCH.get() {
            b.edge.stop();
        }
    });
    common::quickcheck("upstream answers", 200, prop as fn(Case) -> TestResult);
}
