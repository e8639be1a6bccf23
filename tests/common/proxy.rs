//! Real parts for the proxy tests: a running `edge` with a config, a
//! recording upstream HTTP server (hyper), raw TCP exchanges, and an HTTP
//! client. Everything listens on 127.0.0.1 only; every wait is bounded.
#![allow(dead_code)]

use bytes::Bytes;
use http::{HeaderMap, Request, Response, StatusCode, Version};
use http_body_util::{BodyExt, Full};
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use std::io::{BufRead, BufReader};
use std::net::{SocketAddr, TcpStream as StdStream};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

pub use crate::common::free_port;

/// How long any wait in these tests may take.
pub const WAIT: Duration = Duration::from_secs(10);

/// A running `edge run CONFIG`, killed when dropped; its stderr (the
/// access log) is collected.
pub struct Edge {
    child: Child,
    /// The proxy listener's port (`PORT` in the config template).
    pub port: u16,
    log: Arc<Mutex<String>>,
    /// Where the config (and any generated files) live.
    pub dir: tempfile::TempDir,
}

impl Edge {
    /// Starts edge with `template`, `PORT` replaced by a free port, and
    /// waits until the proxy accepts connections.
    pub fn start(template: &str) -> Edge {
        Edge::start_in(tempfile::tempdir().expect("tempdir"), template)
    }

    /// As [`Edge::start`], in a given directory (for certificate files).
    pub fn start_in(dir: tempfile::TempDir, template: &str) -> Edge {
        let port = free_port();
        let config = template.replace("PORT", &port.to_string());
        let path = dir.path().join("edge.conf");
        std::fs::write(&path, config).expect("write config");
        let mut child = Command::new(env!("CARGO_BIN_EXE_edge"))
            .arg("run")
            .arg(&path)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn edge");
        let log = Arc::new(Mutex::new(String::new()));
        if let Some(stderr) = child.stderr.take() {
            let log = Arc::clone(&log);
            std::thread::spawn(move || {
                for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                    let mut l = log.lock().expect("log lock");
                    l.push_str(&line);
                    l.push('\n');
                }
            });
        }
        let mut edge = Edge {
            child,
            port,
            log,
            dir,
        };
        let deadline = Instant::now() + WAIT;
        while StdStream::connect(("127.0.0.1", port)).is_err() {
            if let Ok(Some(status)) = edge.child.try_wait() {
                std::thread::sleep(Duration::from_millis(100));
                panic!("edge exited ({status}): {}", edge.log());
            }
            assert!(Instant::now() < deadline, "edge did not listen on {port}");
            std::thread::sleep(Duration::from_millis(20));
        }
        edge
    }

    /// Writes `template` (`PORT` replaced by this edge's port) over the
    /// config file, for a reload (SIGHUP).
    pub fn rewrite_config(&self, template: &str) {
        let config = template.replace("PORT", &self.port.to_string());
        std::fs::write(self.dir.path().join("edge.conf"), config).expect("write config");
    }

    /// `http://127.0.0.1:PORT{path}`.
    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    /// The proxy's address.
    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port))
    }

    /// The process id (for signals).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Its exit status once it has exited.
    pub fn try_wait(&mut self) -> Option<std::process::ExitStatus> {
        self.child.try_wait().ok().flatten()
    }

    /// Sends the signal named `sig` (`USR2`, `HUP`, ...) with kill(1).
    pub fn signal(&self, sig: &str) {
        let ok = Command::new("kill")
            .args([format!("-{sig}"), self.pid().to_string()])
            .status()
            .expect("kill")
            .success();
        assert!(ok, "kill -{sig} failed");
    }

    /// Its exit status, waiting at most [`WAIT`] for it to exit.
    pub async fn exited(&mut self) -> std::process::ExitStatus {
        let deadline = Instant::now() + WAIT;
        loop {
            if let Some(status) = self.try_wait() {
                return status;
            }
            assert!(Instant::now() < deadline, "edge did not exit");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Everything edge wrote to stderr so far.
    pub fn log(&self) -> String {
        self.log.lock().expect("log lock").clone()
    }

    /// Waits until stderr holds `needle`.
    pub fn wait_log(&self, needle: &str) -> String {
        let deadline = Instant::now() + WAIT;
        loop {
            let log = self.log();
            if log.contains(needle) {
                return log;
            }
            assert!(Instant::now() < deadline, "no {needle:?} in log:\n{log}");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Edge {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// An edge shared by every case of a quickcheck property: quickcheck
/// takes a plain function, so the edge is reached through a static, which
/// is never dropped; the test calls [`SharedEdge::stop`] at its end (from
/// a guard, so a panic stops it too).
pub struct SharedEdge(Mutex<Option<Edge>>);

impl SharedEdge {
    /// Shares `edge`.
    pub fn new(edge: Edge) -> Self {
        SharedEdge(Mutex::new(Some(edge)))
    }

    /// Its proxy address, unless stopped.
    pub fn addr(&self) -> Option<SocketAddr> {
        self.0.lock().ok()?.as_ref().map(Edge::addr)
    }

    /// How the process ended, if it has.
    pub fn exited(&self) -> Option<std::process::ExitStatus> {
        self.0.lock().ok()?.as_mut().and_then(Edge::try_wait)
    }

    /// Stops the process.
    pub fn stop(&self) {
        let edge = self.0.lock().map(|mut e| e.take());
        drop(edge);
    }
}

/// Runs its closure when dropped: at a test's end, however it ends.
pub struct OnDrop<F: FnMut()>(pub F);

impl<F: FnMut()> Drop for OnDrop<F> {
    fn drop(&mut self) {
        (self.0)();
    }
}

/// `bytes` cut at the offsets `at` (each taken modulo `bytes.len() + 1`),
/// in order and without empty pieces: how the property tests split a
/// body into chunks or a stream into writes.
pub fn pieces<'a>(bytes: &'a [u8], at: &[usize]) -> impl Iterator<Item = &'a [u8]> {
    let mut cuts: Vec<usize> = at.iter().map(|c| c % (bytes.len() + 1)).collect();
    cuts.extend([0, bytes.len()]);
    cuts.sort_unstable();
    cuts.dedup();
    (1..cuts.len()).map(move |i| &bytes[cuts[i - 1]..cuts[i]])
}

/// Writes `bytes` in the [`pieces`] `at` cuts, with `TCP_NODELAY` and a
/// pause between them, so the peer reads them apart.
pub async fn write_in_pieces(s: &mut TcpStream, bytes: &[u8], at: &[usize]) -> std::io::Result<()> {
    let _ = s.set_nodelay(true);
    for piece in pieces(bytes, at) {
        s.write_all(piece).await?;
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    Ok(())
}

/// A request as the upstream received it.
#[derive(Clone, Debug)]
pub struct Seen {
    /// Method.
    pub method: String,
    /// Request target as sent on the wire.
    pub uri: String,
    /// HTTP version.
    pub version: Version,
    /// Headers (lowercased names).
    pub headers: HeaderMap,
    /// The whole body.
    pub body: Vec<u8>,
    /// The connection's peer address.
    pub peer: SocketAddr,
}

impl Seen {
    /// A header as text ("" when absent), several lines joined by `|`.
    pub fn header(&self, name: &str) -> String {
        let values: Vec<&str> = self
            .headers
            .get_all(name)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .collect();
        values.join("|")
    }
}

/// What a scripted upstream answers.
pub type Reply = Arc<dyn Fn(&Seen) -> Response<Full<Bytes>> + Send + Sync>;

/// A recording upstream HTTP/1.1 server on 127.0.0.1.
pub struct Upstream {
    /// Where it listens.
    pub addr: SocketAddr,
    seen: Arc<Mutex<Vec<Seen>>>,
    /// Connections accepted so far.
    pub conns: Arc<AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

impl Upstream {
    /// Starts one answering with `reply`.
    pub async fn start(
        reply: impl Fn(&Seen) -> Response<Full<Bytes>> + Send + Sync + 'static,
    ) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind upstream");
        Upstream::on(listener, Arc::new(reply))
    }

    /// Answers every request `200 ok`.
    pub async fn ok() -> Self {
        Upstream::start(|_| text(200, "ok")).await
    }

    /// Serves on an already bound listener.
    pub fn on(listener: TcpListener, reply: Reply) -> Self {
        let addr = listener.local_addr().expect("addr");
        let seen = Arc::new(Mutex::new(Vec::new()));
        let conns = Arc::new(AtomicUsize::new(0));
        let (s, c) = (Arc::clone(&seen), Arc::clone(&conns));
        let task = tokio::spawn(async move {
            while let Ok((tcp, peer)) = listener.accept().await {
                c.fetch_add(1, Ordering::SeqCst);
                let seen = Arc::clone(&s);
                let reply = Arc::clone(&reply);
                tokio::spawn(async move {
                    let svc = service_fn(move |req: Request<hyper::body::Incoming>| {
                        let seen = Arc::clone(&seen);
                        let reply = Arc::clone(&reply);
                        async move {
                            let (parts, body) = req.into_parts();
                            let body = body.collect().await.map(|b| b.to_bytes().to_vec());
                            let got = Seen {
                                method: parts.method.to_string(),
                                uri: parts.uri.to_string(),
                                version: parts.version,
                                headers: parts.headers,
                                body: body.unwrap_or_default(),
                                peer,
                            };
                            let res = reply(&got);
                            seen.lock().expect("seen lock").push(got);
                            Ok::<_, std::convert::Infallible>(res)
                        }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(tcp), svc)
                        .await;
                });
            }
        });
        Upstream {
            addr,
            seen,
            conns,
            task,
        }
    }

    /// `http://127.0.0.1:N`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Requests received so far.
    pub fn seen(&self) -> Vec<Seen> {
        self.seen.lock().expect("seen lock").clone()
    }

    /// Requests received so far, taken out (a long run's record stays
    /// small).
    pub fn take_seen(&self) -> Vec<Seen> {
        std::mem::take(&mut *self.seen.lock().expect("seen lock"))
    }

    /// Waits for the `n`th request (1-based) and returns it.
    pub async fn nth(&self, n: usize) -> Seen {
        let deadline = Instant::now() + WAIT;
        loop {
            if let Some(s) = self.seen().get(n - 1) {
                return s.clone();
            }
            assert!(Instant::now() < deadline, "upstream got no request #{n}");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// The last request received.
    pub async fn last(&self) -> Seen {
        let n = self.seen().len().max(1);
        self.nth(n).await
    }
}

impl Drop for Upstream {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A response with a text body.
pub fn text(status: u16, body: &str) -> Response<Full<Bytes>> {
    let mut res = Response::new(Full::new(Bytes::from(body.to_owned())));
    *res.status_mut() = StatusCode::from_u16(status).expect("status");
    res
}

/// A response with headers.
pub fn with_headers(status: u16, headers: &[(&str, &str)], body: &str) -> Response<Full<Bytes>> {
    let mut res = text(status, body);
    for (n, v) in headers {
        res.headers_mut().append(
            http::HeaderName::from_bytes(n.as_bytes()).expect("name"),
            http::HeaderValue::from_str(v).expect("value"),
        );
    }
    res
}

/// What the client got back.
#[derive(Debug)]
pub struct Got {
    /// Status.
    pub status: u16,
    /// Headers.
    pub headers: HeaderMap,
    /// Body as text.
    pub body: String,
}

impl Got {
    /// A header as text ("" when absent), several lines joined by `|`.
    pub fn header(&self, name: &str) -> String {
        let values: Vec<&str> = self
            .headers
            .get_all(name)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .collect();
        values.join("|")
    }
}

/// Sends one request with a fresh hyper client and reads the whole answer.
pub async fn send(method: &str, url: &str, headers: &[(&str, &str)], body: &str) -> Got {
    let client = hyper_util::client::legacy::Client::builder(TokioExecutor::new())
        .build_http::<Full<Bytes>>();
    let mut req = Request::builder().method(method).uri(url);
    for (n, v) in headers {
        req = req.header(*n, *v);
    }
    let req = req
        .body(Full::new(Bytes::from(body.to_owned())))
        .expect("request");
    let res = tokio::time::timeout(WAIT, client.request(req))
        .await
        .expect("answer in time")
        .expect("answer");
    let status = res.status().as_u16();
    let headers = res.headers().clone();
    let body = tokio::time::timeout(WAIT, res.into_body().collect())
        .await
        .expect("body in time")
        .expect("body")
        .to_bytes();
    Got {
        status,
        headers,
        body: String::from_utf8_lossy(&body).into_owned(),
    }
}

/// `GET url` with headers.
pub async fn get(url: &str, headers: &[(&str, &str)]) -> Got {
    send("GET", url, headers, "").await
}

/// Writes `bytes` on a fresh connection to `addr` and reads until the
/// peer closes or nothing arrives for `quiet`.
pub async fn raw(addr: SocketAddr, bytes: &[u8], quiet: Duration) -> String {
    let mut s = TcpStream::connect(addr).await.expect("connect");
    s.write_all(bytes).await.expect("write");
    read_until_quiet(&mut s, quiet).await
}

/// Writes all of `bytes` to a raw client connection.
pub async fn write_raw(s: &mut TcpStream, bytes: &[u8]) {
    s.write_all(bytes).await.expect("write");
}

/// Reads until what arrived ends with `end` (a known body), an EOF or
/// [`WAIT`]: one response, without waiting for silence. Any stream (TLS
/// too).
pub async fn read_until_end<S: tokio::io::AsyncRead + Unpin>(s: &mut S, end: &str) -> String {
    let mut out = Vec::new();
    let mut buf = [0u8; 8192];
    let deadline = Instant::now() + WAIT;
    while !out.ends_with(end.as_bytes()) {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, s.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) | Err(_) => break,
            Ok(Ok(n)) => out.extend_from_slice(&buf[..n]),
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// A raw keep-alive upstream answering each request head `200 slow`
/// (`Content-Length: 4`) after `delay`.
pub async fn slow_upstream(delay: Duration) -> SocketAddr {
    let upstream = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = upstream.local_addr().expect("addr");
    tokio::spawn(async move {
        while let Ok((mut tcp, _)) = upstream.accept().await {
            tokio::spawn(async move {
                let mut buf = [0u8; 4096];
                let mut head = Vec::new();
                loop {
                    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                        match tcp.read(&mut buf).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => head.extend_from_slice(&buf[..n]),
                        }
                    }
                    let at = head.windows(4).position(|w| w == b"\r\n\r\n").unwrap_or(0);
                    head.drain(..at + 4);
                    tokio::time::sleep(delay).await;
                    let reply = b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nslow";
                    if tcp.write_all(reply).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    addr
}

/// Reads until EOF, an error, or `quiet` without bytes.
pub async fn read_until_quiet(s: &mut TcpStream, quiet: Duration) -> String {
    let mut out = Vec::new();
    let mut buf = [0u8; 8192];
    loop {
        match tokio::time::timeout(quiet, s.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) | Err(_) => break,
            Ok(Ok(n)) => out.extend_from_slice(&buf[..n]),
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// A WebSocket echo server on 127.0.0.1 recording each upgrade request's
/// headers. (tungstenite's callback type fixes the large error variant.)
#[allow(clippy::result_large_err)]
pub async fn ws_echo_server() -> (SocketAddr, Arc<Mutex<Vec<HeaderMap>>>) {
    use futures::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::handshake::server::{Request, Response};
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let seen = Arc::new(Mutex::new(Vec::new()));
    let s = Arc::clone(&seen);
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let s = Arc::clone(&s);
            tokio::spawn(async move {
                let record = |req: &Request, res: Response| {
                    s.lock().expect("seen").push(req.headers().clone());
                    Ok(res)
                };
                let Ok(mut ws) = tokio_tungstenite::accept_hdr_async(tcp, record).await else {
                    return;
                };
                while let Some(Ok(msg)) = ws.next().await {
                    if msg.is_close() || ws.send(msg).await.is_err() {
                        break;
                    }
                }
            });
        }
    });
    (addr, seen)
}

/// A WebSocket client connected through `edge` to `path`, and the
/// upgrade response.
pub async fn ws_client(
    edge: &Edge,
    path: &str,
) -> (
    tokio_tungstenite::WebSocketStream<TcpStream>,
    tokio_tungstenite::tungstenite::handshake::client::Response,
) {
    let tcp = TcpStream::connect(edge.addr()).await.expect("connect");
    let url = format!("ws://127.0.0.1:{}{path}", edge.port);
    tokio_tungstenite::client_async(url, tcp)
        .await
        .expect("upgrade through edge")
}

/// Sends `text` on `ws` and requires it echoed back within [`WAIT`].
pub async fn ws_echoes<S>(ws: &mut tokio_tungstenite::WebSocketStream<S>, text: &str)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    use futures::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::Message;
    ws.send(Message::Text(text.into())).await.expect("send");
    let echoed = tokio::time::timeout(WAIT, ws.next())
        .await
        .expect("echo in time")
        .expect("message")
        .expect("ok");
    assert_eq!(echoed, Message::Text(text.into()));
}

/// A one-shot raw upstream: accepts connections, reads each request head
/// (and records it verbatim), answers `response` bytes, and closes.
pub async fn raw_upstream(response: &'static [u8]) -> (SocketAddr, Arc<Mutex<Vec<String>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let heads = Arc::new(Mutex::new(Vec::new()));
    let h = Arc::clone(&heads);
    tokio::spawn(async move {
        while let Ok((mut tcp, _)) = listener.accept().await {
            let h = Arc::clone(&h);
            tokio::spawn(async move {
                let mut head = Vec::new();
                let mut buf = [0u8; 4096];
                while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                    match tcp.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => head.extend_from_slice(&buf[..n]),
                    }
                }
                h.lock()
                    .expect("heads lock")
                    .push(String::from_utf8_lossy(&head).into_owned());
                let _ = tcp.write_all(response).await;
                let _ = tcp.shutdown().await;
            });
        }
    });
    (addr, heads)
}
