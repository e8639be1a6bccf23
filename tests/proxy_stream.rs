//! Bodies stream through edge, they are never held whole: 1 GiB goes up
//! and 1 GiB comes down through a real edge process (HTTP bodies with a
//! length and chunked, and a WebSocket splice) while its resident memory
//! is sampled. Each receiver stops reading for a second halfway,
//! so a proxy without back-pressure would keep taking the sender's bytes
//! (hundreds of MiB on loopback) and its memory would show it.

mod common;
#[path = "common/proxy.rs"]
mod proxy_common;

use bytes::Bytes;
use common::rss::rss_kib;
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use proxy_common::{Edge, WAIT};
use std::convert::Infallible;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// Each direction's body.
const GIB: u64 = 1 << 30;
/// The pattern's period: a prime, so a chunk lost, repeated or moved at
/// any power-of-two buffer size shows.
const PERIOD: usize = 251;
/// One chunk sent: whole periods, so every chunk but the last is the same
/// bytes (one shared buffer, no copy on the sending side).
const CHUNK: usize = PERIOD * 256;
/// How long a receiver stops reading halfway.
const PAUSE: Duration = Duration::from_secs(1);
/// How much more than its idle RSS edge may hold while 1 GiB passes: its
/// buffers (hyper's, the lane's read room, the splice's) are KiBs to a
/// few hundred KiB per connection; a body held whole would be 1 GiB.
const GROWTH_LIMIT_KIB: u64 = 32 * 1024;
/// Bound on each transfer.
const TRANSFER_WAIT: Duration = Duration::from_secs(300);

/// `CHUNK + PERIOD` bytes of the pattern: byte `i` is `i % PERIOD`.
fn pattern() -> Bytes {
    (0..CHUNK + PERIOD).map(|i| (i % PERIOD) as u8).collect()
}

/// `total` bytes of the pattern, as chunks of one shared buffer.
fn body(total: u64) -> StreamBody<impl futures::Stream<Item = Result<Frame<Bytes>, Infallible>>> {
    let whole = pattern().slice(..CHUNK);
    let full = total / CHUNK as u64;
    let rest = (total % CHUNK as u64) as usize;
    let chunks = (0..full)
        .map(move |_| whole.clone())
        .chain((rest > 0).then(|| pattern().slice(..rest)));
    StreamBody::new(futures::stream::iter(
        chunks.map(|c| Ok::<_, Infallible>(Frame::data(c))),
    ))
}

/// The receiving end of a transfer: checks every byte against the
/// pattern, however the bytes are sliced, and stops reading for
/// [`PAUSE`] once half of the expected total has arrived.
struct Receiver {
    pattern: Bytes,
    at: u64,
    total: u64,
    paused: bool,
}

impl Receiver {
    fn new(total: u64) -> Receiver {
        Receiver {
            pattern: pattern(),
            at: 0,
            total,
            paused: false,
        }
    }

    /// Takes `data`, the next bytes; returns where they first differ
    /// from the pattern.
    async fn take(&mut self, mut data: &[u8]) -> Result<(), String> {
        while !data.is_empty() {
            let n = data.len().min(CHUNK);
            let start = (self.at % PERIOD as u64) as usize;
            if data[..n] != self.pattern[start..start + n] {
                return Err(format!(
                    "bytes differ from the pattern within {}..{}",
                    self.at,
                    self.at + n as u64
                ));
            }
            self.at += n as u64;
            data = &data[n..];
        }
        if !self.paused && self.at >= self.total / 2 {
            self.paused = true;
            tokio::time::sleep(PAUSE).await;
        }
        Ok(())
    }
}

/// Reads `body` to its end through a [`Receiver`]; returns the byte
/// count.
async fn take(mut body: Incoming, total: u64) -> Result<u64, String> {
    let mut receiver = Receiver::new(total);
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| format!("body failed after {} bytes: {e}", receiver.at))?;
        if let Ok(data) = frame.into_data() {
            receiver.take(&data).await?;
        }
    }
    Ok(receiver.at)
}

/// Reads `total` bytes from a raw stream through a [`Receiver`].
async fn take_raw(s: &mut TcpStream, total: u64) -> Result<u64, String> {
    let mut receiver = Receiver::new(total);
    let mut buf = vec![0u8; 64 * 1024];
    while receiver.at < total {
        match s.read(&mut buf).await {
            Ok(0) => break,
            Ok(n) => receiver.take(&buf[..n]).await?,
            Err(e) => return Err(format!("read failed after {} bytes: {e}", receiver.at)),
        }
    }
    Ok(receiver.at)
}

/// Writes `total` bytes of the pattern to a raw stream.
async fn send_raw(s: &mut TcpStream, total: u64) -> std::io::Result<()> {
    let pattern = pattern();
    let mut left = total;
    while left > 0 {
        let n = left.min(CHUNK as u64) as usize;
        s.write_all(&pattern[..n]).await?;
        left -= n as u64;
    }
    Ok(())
}

/// The upstream: `POST /up` takes the body (checked, paused halfway) and
/// answers with the byte count; `GET /down` sends 1 GiB with its length,
/// `GET /down-chunked` without.
async fn upstream() -> std::net::SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind upstream");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            tokio::spawn(async move {
                let svc = service_fn(|req: Request<Incoming>| async move {
                    let res = match req.uri().path() {
                        "/up" => match take(req.into_body(), GIB).await {
                            Ok(n) => Response::new(body_text(n.to_string())),
                            Err(e) => error(e),
                        },
                        "/down" => Response::builder()
                            .header("content-length", GIB)
                            .body(body(GIB).boxed())
                            .expect("response"),
                        // No length: hyper sends it chunked.
                        "/down-chunked" => Response::new(body(GIB).boxed()),
                        _ => Response::new(body_text("ok".into())),
                    };
                    Ok::<_, Infallible>(res)
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(tcp), svc)
                    .await;
            });
        }
    });
    addr
}

type AnyBody = http_body_util::combinators::BoxBody<Bytes, Infallible>;

fn body_text(s: String) -> AnyBody {
    http_body_util::Full::new(Bytes::from(s)).boxed()
}

fn no_body() -> AnyBody {
    http_body_util::Empty::new().boxed()
}

fn error(e: String) -> Response<AnyBody> {
    let mut res = Response::new(body_text(e));
    *res.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
    res
}

/// Samples `pid`'s RSS every 20 ms until dropped, keeping the largest.
struct PeakRss {
    peak: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
}

impl PeakRss {
    fn watch(pid: u32) -> PeakRss {
        let peak = Arc::new(AtomicU64::new(rss_kib(pid)));
        let stop = Arc::new(AtomicBool::new(false));
        let (p, s) = (Arc::clone(&peak), Arc::clone(&stop));
        std::thread::spawn(move || {
            while !s.load(Ordering::Relaxed) {
                p.fetch_max(rss_kib(pid), Ordering::Relaxed);
                std::thread::sleep(Duration::from_millis(20));
            }
        });
        PeakRss { peak, stop }
    }

    fn peak(&self) -> u64 {
        self.peak.load(Ordering::Relaxed)
    }
}

impl Drop for PeakRss {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_gib_upload_and_a_gib_download_pass_with_flat_memory() {
    let up = upstream().await;
    let edge = Edge::start(&format!(
        "proxy {{ listen: \"127.0.0.1:PORT\", target: \"http://{up}\" }}"
    ));
    let tcp = TcpStream::connect(edge.addr()).await.expect("connect");
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tcp))
        .await
        .expect("handshake");
    tokio::spawn(conn);

    // Small exchanges first (one with a body, one without), so edge's
    // idle RSS includes its pooled upstream connection and the buffers
    // every request uses.
    for warm in [
        Request::post("/up")
            .header("host", "edge.test")
            .body(body(1000).boxed()),
        Request::get("/small")
            .header("host", "edge.test")
            .body(no_body()),
    ] {
        sender.ready().await.expect("connection ready");
        let res = sender
            .send_request(warm.expect("request"))
            .await
            .expect("warm-up");
        assert_eq!(res.status(), 200);
        res.into_body().collect().await.expect("warm-up body");
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let idle = rss_kib(edge.pid());
    assert!(idle > 0, "no VmRSS for edge");
    let rss = PeakRss::watch(edge.pid());

    // Each direction twice: with a Content-Length, and chunked (no
    // length known to the sender: `curl -T -`, a generated download).
    let mut report = Vec::new();
    for length in [true, false] {
        let framing = if length { "content-length" } else { "chunked" };
        let started = Instant::now();
        let mut upload = Request::post("/up").header("host", "edge.test");
        if length {
            upload = upload.header("content-length", GIB);
        }
        let upload = upload.body(body(GIB).boxed()).expect("request");
        let res = tokio::time::timeout(TRANSFER_WAIT, async {
            sender.ready().await.expect("connection ready");
            let res = sender.send_request(upload).await.expect("upload");
            let status = res.status();
            let text = res
                .into_body()
                .collect()
                .await
                .expect("upload answer")
                .to_bytes();
            (status, String::from_utf8_lossy(&text).into_owned())
        })
        .await
        .expect("upload in time");
        assert_eq!(
            res,
            (StatusCode::OK, GIB.to_string()),
            "the upstream's count of a {framing} upload"
        );
        report.push(format!(
            "{framing} upload {:.1} s, peak {} KiB",
            started.elapsed().as_secs_f64(),
            rss.peak()
        ));

        let started = Instant::now();
        let path = if length { "/down" } else { "/down-chunked" };
        let download = Request::get(path)
            .header("host", "edge.test")
            .body(no_body())
            .expect("request");
        let got = tokio::time::timeout(TRANSFER_WAIT, async {
            sender.ready().await.expect("connection ready");
            let res = sender.send_request(download).await.expect("download");
            assert_eq!(res.status(), 200);
            assert_eq!(
                res.headers().contains_key("content-length"),
                length,
                "{framing} download's head"
            );
            take(res.into_body(), GIB).await
        })
        .await
        .expect("download in time");
        assert_eq!(got, Ok(GIB), "the client's count of a {framing} download");
        report.push(format!(
            "{framing} download {:.1} s, peak {} KiB",
            started.elapsed().as_secs_f64(),
            rss.peak()
        ));
    }

    let peak = rss.peak();
    eprintln!("edge RSS {idle} KiB idle; {}", report.join("; "));
    assert!(
        peak.saturating_sub(idle) < GROWTH_LIMIT_KIB,
        "edge's RSS grew from {idle} KiB to {peak} KiB while 1 GiB passed each way, twice"
    );
}

/// Reads an HTTP head (through its blank line) from a raw stream.
async fn read_head(s: &mut TcpStream) -> String {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        match s.read(&mut byte).await {
            Ok(1) => head.push(byte[0]),
            _ => break,
        }
    }
    String::from_utf8_lossy(&head).into_owned()
}

/// The same through a WebSocket: once the upgrade is spliced, 1 GiB goes
/// up (the upstream pauses halfway), then 1 GiB comes down (the client
/// pauses halfway). The splice moves raw bytes, so raw bytes are sent.
#[tokio::test(flavor = "multi_thread")]
async fn a_websocket_splice_moves_a_gib_each_way_with_flat_memory() {
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind upstream");
    let up = listener.local_addr().expect("addr");
    let upstream = tokio::spawn(async move {
        let (mut s, _) = listener.accept().await.expect("accept");
        let head = read_head(&mut s).await;
        assert!(
            head.to_ascii_lowercase().contains("upgrade: websocket"),
            "{head}"
        );
        s.write_all(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n")
            .await
            .expect("write 101");
        let got = take_raw(&mut s, GIB).await;
        send_raw(&mut s, GIB).await.expect("send down");
        got
    });
    let edge = Edge::start(&format!(
        "proxy {{ listen: \"127.0.0.1:PORT\", target: \"http://{up}\", ws: true }}"
    ));
    let mut c = TcpStream::connect(edge.addr()).await.expect("connect");
    c.write_all(
        b"GET /ws HTTP/1.1\r\nHost: edge.test\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
          Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
    )
    .await
    .expect("write upgrade");
    let head = read_head(&mut c).await;
    assert!(head.starts_with("HTTP/1.1 101"), "{head}");
    tokio::time::sleep(Duration::from_millis(300)).await;
    let idle = rss_kib(edge.pid());
    assert!(idle > 0, "no VmRSS for edge");
    let rss = PeakRss::watch(edge.pid());

    let started = Instant::now();
    tokio::time::timeout(TRANSFER_WAIT, send_raw(&mut c, GIB))
        .await
        .expect("upload in time")
        .expect("send up");
    let got = tokio::time::timeout(TRANSFER_WAIT, take_raw(&mut c, GIB))
        .await
        .expect("download in time");
    assert_eq!(got, Ok(GIB), "the client's count");
    let upstream_got = tokio::time::timeout(WAIT, upstream)
        .await
        .expect("upstream done")
        .expect("upstream task");
    assert_eq!(upstream_got, Ok(GIB), "the upstream's count");
    let peak = rss.peak();
    eprintln!(
        "edge RSS {idle} KiB idle, peak {peak} KiB; 1 GiB each way in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    assert!(
        peak.saturating_sub(idle) < GROWTH_LIMIT_KIB,
        "edge's RSS grew from {idle} KiB to {peak} KiB while 1 GiB passed each way"
    );
}
