//! One proxy listener: accepts connections (plain or TLS), serves HTTP/1.1
//! on each with hyper, routes every request through the plan's [`Router`]
//! and proxies it (web or WebSocket), writing one access log line per
//! request.
//!
//! [`Router`]: crate::plan::proxy::Router

use super::balance::{Balancer, InFlight};
use super::body::{boxed, empty, AccessLog, Logged, ReqBody, ResBody};
use super::client::{self, ClientError, Connector, Pool};
use super::error::{error_response, plain, ProxyError};
use super::forward::{outgoing_headers, outgoing_path, upstream_uri, Incoming, Kind};
use super::headers::is_websocket_upgrade;
use super::response::{self, Context};
use super::tls::{self, TlsError};
use super::{health, redirect, ws};
use crate::plan::proxy::{ProxyPlan, Route, Target};
use http::{header, Method, Request, Response, StatusCode, Version};
use hyper::body::Body;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use std::convert::Infallible;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::Poll;
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

/// Request heads larger than this are answered 431 by hyper.
pub const MAX_HEAD_BYTES: usize = 64 * 1024;
/// (Request headers beyond hyper's default count, 100, are answered 431
/// too; setting the count moves hyper's header array to the heap.)
/// A client has this long to send a whole request head (slowloris guard).
pub const HEAD_TIMEOUT: Duration = Duration::from_secs(30);

/// Why a proxy listener could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The address could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The plan's address.
        addr: String,
        /// The OS error.
        source: io::Error,
    },
    /// A route's upstream TLS settings are unusable.
    #[error("{0}")]
    Client(#[from] ClientError),
    /// The listener's TLS settings are unusable.
    #[error("{0}")]
    Tls(#[from] TlsError),
}

/// What each route needs at run time besides its plan.
pub struct RouteRuntime {
    /// Target choice and state.
    pub balancer: Arc<Balancer>,
    /// Opens upstream connections (direct requests, `to_proxy`).
    pub connector: Connector,
    /// Pooled keep-alive upstream connections.
    pub pool: Pool,
}

/// Everything the connections of one listener share.
pub struct Shared {
    /// The listener's plan (read only).
    pub plan: ProxyPlan,
    /// One runtime per plan route, same order.
    pub routes: Vec<RouteRuntime>,
    /// True when some route sets `timeout` (connections are watched).
    watch_idle: bool,
}

/// A bound proxy listener, ready to serve.
pub struct ProxyServer {
    listener: TcpListener,
    shared: Arc<Shared>,
    tls: Option<(TlsAcceptor, Duration)>,
}

impl ProxyServer {
    /// Binds the listener and prepares every route's pool and TLS.
    pub async fn bind(plan: &ProxyPlan) -> Result<Self, StartError> {
        let mut routes = Vec::with_capacity(plan.routes.len());
        for route in &plan.routes {
            let needs_tls = client::needs_tls(route.targets.iter().chain(&route.options.forward));
            let connector = Connector::new(&route.options, needs_tls)?;
            let pool = client::pool(connector.clone(), &route.options.agent);
            routes.push(RouteRuntime {
                balancer: Arc::new(Balancer::new(&route.targets, route.balance)),
                connector,
                pool,
            });
        }
        let tls = match &plan.tls {
            Some(t) => Some((tls::acceptor(t)?, t.timeout)),
            None => None,
        };
        let addr = plan.listen.to_string();
        let listener = TcpListener::bind((plan.listen.host.as_str(), plan.listen.port))
            .await
            .map_err(|source| StartError::Bind { addr, source })?;
        let watch_idle = plan.routes.iter().any(|r| r.options.timeout.is_some());
        Ok(ProxyServer {
            listener,
            shared: Arc::new(Shared {
                plan: plan.clone(),
                routes,
                watch_idle,
            }),
            tls,
        })
    }

    /// The bound address (the OS's choice when the plan says port 0).
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Starts health checks, then accepts connections until the task is
    /// dropped; a failed accept is logged and retried, never fatal.
    pub async fn serve(self) -> io::Result<()> {
        health::spawn(&self.shared);
        loop {
            let (tcp, peer) = match self.listener.accept().await {
                Ok(pair) => pair,
                Err(e) => {
                    eprintln!("edge: proxy accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            };
            let _ = tcp.set_nodelay(true);
            let shared = Arc::clone(&self.shared);
            match &self.tls {
                None => {
                    tokio::spawn(serve_connection(shared, tcp, peer, false));
                }
                Some((acceptor, timeout)) => {
                    let acceptor = acceptor.clone();
                    let timeout = *timeout;
                    tokio::spawn(async move {
                        match tokio::time::timeout(timeout, acceptor.accept(tcp)).await {
                            Ok(Ok(stream)) => serve_connection(shared, stream, peer, true).await,
                            Ok(Err(e)) => eprintln!("edge: proxy TLS handshake with {peer}: {e}"),
                            Err(_) => eprintln!("edge: proxy TLS handshake with {peer} timed out"),
                        }
                    });
                }
            }
        }
    }
}

/// The client connection, as the request handler sees it.
pub struct Conn {
    /// The client's address.
    pub peer: SocketAddr,
    /// The connection is TLS.
    pub tls: bool,
    idle: Arc<Idle>,
}

/// Idle tracking for `timeout`: the last time bytes moved, and the
/// allowed idle time (set by the route of the latest request; 0 = none).
struct Idle {
    start: Instant,
    last_ms: AtomicU64,
    timeout_ms: AtomicU64,
}

impl Idle {
    fn touch(&self) {
        let now = u64::try_from(self.start.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.last_ms.store(now, Ordering::Relaxed);
    }

    /// Completes once the connection has been idle longer than allowed.
    async fn expired(&self) {
        loop {
            let timeout = self.timeout_ms.load(Ordering::Relaxed);
            let now = u64::try_from(self.start.elapsed().as_millis()).unwrap_or(u64::MAX);
            if timeout == 0 {
                tokio::time::sleep(Duration::from_millis(250)).await;
                continue;
            }
            let deadline = self.last_ms.load(Ordering::Relaxed).saturating_add(timeout);
            if now >= deadline {
                return;
            }
            tokio::time::sleep(Duration::from_millis(deadline - now)).await;
        }
    }
}

/// A client stream that records when bytes last moved.
struct Tracked<S> {
    inner: S,
    idle: Arc<Idle>,
}

impl<S: AsyncRead + Unpin> AsyncRead for Tracked<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        if buf.filled().len() > before {
            self.idle.touch();
        }
        polled
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Tracked<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.inner).poll_write(cx, buf);
        if matches!(polled, Poll::Ready(Ok(n)) if n > 0) {
            self.idle.touch();
        }
        polled
    }

    fn poll_flush(
        mut self: Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(
        mut self: Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// Serves HTTP/1.1 on one client connection until it closes, fails, or
/// stays idle past its route's `timeout`.
async fn serve_connection<S>(shared: Arc<Shared>, stream: S, peer: SocketAddr, tls: bool)
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let idle = Arc::new(Idle {
        start: Instant::now(),
        last_ms: AtomicU64::new(0),
        timeout_ms: AtomicU64::new(0),
    });
    let conn = Arc::new(Conn {
        peer,
        tls,
        idle: Arc::clone(&idle),
    });
    let io = TokioIo::new(Tracked {
        inner: stream,
        idle: Arc::clone(&idle),
    });
    let watch_idle = shared.watch_idle;
    let service = service_fn(move |req| handle(Arc::clone(&shared), Arc::clone(&conn), req));
    let served = hyper::server::conn::http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(HEAD_TIMEOUT)
        .preserve_header_case(true)
        .max_header_size(MAX_HEAD_BYTES)
        .serve_connection(io, service)
        .with_upgrades();
    if watch_idle {
        tokio::select! {
            _ = served => {}
            () = idle.expired() => {}
        }
    } else {
        let _ = served.await;
    }
}

/// Routes one request and proxies it; every outcome is a response.
async fn handle(
    shared: Arc<Shared>,
    conn: Arc<Conn>,
    req: Request<hyper::body::Incoming>,
) -> Result<Response<Logged>, Infallible> {
    let start = Instant::now();
    let method = req.method().to_string();
    let url = req.uri().to_string();
    let host = req
        .uri()
        .authority()
        .map(|a| a.as_str().to_owned())
        .or_else(|| {
            req.headers()
                .get(header::HOST)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        });
    let path = req
        .uri()
        .path_and_query()
        .map_or("/", |p| p.as_str())
        .to_owned();
    let index = if bad_host(&req) {
        None
    } else {
        shared.plan.router.route(host.as_deref(), &path)
    };
    let (res, upstream, in_flight) =
        match index.and_then(|i| Some((shared.plan.routes.get(i)?, shared.routes.get(i)?))) {
            None if bad_host(&req) => (plain(StatusCode::BAD_REQUEST), "-".to_owned(), None),
            _ if req.method() == Method::CONNECT => {
                // A reverse proxy is not a tunnel (node's server drops CONNECT).
                let mut res = plain(StatusCode::METHOD_NOT_ALLOWED);
                res.headers_mut()
                    .insert(header::CONNECTION, http::HeaderValue::from_static("close"));
                (res, "-".to_owned(), None)
            }
            None => (plain(StatusCode::NOT_FOUND), "-".to_owned(), None),
            Some((route, rt)) => {
                let timeout = route.options.timeout.map_or(0, |t| t.as_millis().max(1));
                conn.idle.timeout_ms.store(
                    u64::try_from(timeout).unwrap_or(u64::MAX),
                    Ordering::Relaxed,
                );
                if route.options.ws && is_websocket_upgrade(req.method(), req.headers()) {
                    ws::proxy(route, rt, &conn, req).await
                } else {
                    web(route, rt, &conn, req).await
                }
            }
        };
    let status = res.status().as_u16();
    let log = AccessLog {
        peer: conn.peer,
        method,
        path: url,
        status,
        upstream,
        start,
    };
    Ok(res.map(|b| Logged::new(b, log, in_flight)))
}

/// RFC 9112 3.2: an HTTP/1.1 request without exactly one `Host` is
/// answered 400 (hyper accepts it; a proxy must not guess the host).
fn bad_host<B>(req: &Request<B>) -> bool {
    let hosts = req.headers().get_all(header::HOST).iter().count();
    hosts > 1 || (hosts == 0 && req.version() == Version::HTTP_11)
}

/// What the handler answers: the response, the upstream for the log
/// (`-` when none), and the in-flight count to hold until the body ends.
pub type Outcome = (Response<ResBody>, String, Option<InFlight>);

/// The error answer as an [`Outcome`], logged.
pub fn failed(route: &Route, err: &ProxyError, upstream: String) -> Outcome {
    eprintln!("edge: proxy error: {err}");
    (
        error_response(route.options.error_page.as_ref(), err),
        upstream,
        None,
    )
}

/// Methods a failed connection may be retried for on another target.
fn idempotent(m: &Method) -> bool {
    matches!(
        *m,
        Method::GET | Method::HEAD | Method::OPTIONS | Method::PUT | Method::DELETE | Method::TRACE
    )
}

/// A plain HTTP request: forward copy, target choice with retries of
/// failed connections, `proxy_timeout`, response rewriting.
async fn web(
    route: &Route,
    rt: &RouteRuntime,
    conn: &Conn,
    req: Request<hyper::body::Incoming>,
) -> Outcome {
    let opts = &route.options;
    let (parts, body) = req.into_parts();
    let url = parts.uri.to_string();
    let path_and_query = parts.uri.path_and_query().map_or("/", |p| p.as_str());
    let incoming = Incoming {
        method: &parts.method,
        url: &url,
        path_and_query,
        headers: &parts.headers,
        peer: conn.peer,
        tls: conn.tls,
    };
    let strip = route.strip_prefix.then_some(route.path.as_str());
    let mut body: ReqBody = boxed(body);
    if let Some(fwd) = &opts.forward {
        if route.targets.is_empty() {
            spawn_forward(rt, route, fwd, &incoming, &parts, body);
            let mut res = Response::new(empty());
            *res.status_mut() = StatusCode::OK;
            return (res, fwd.to_string(), None);
        }
        let (main, copy) = super::body::tee(body);
        spawn_forward(rt, route, fwd, &incoming, &parts, boxed(copy));
        body = boxed(main);
    }
    let retryable = idempotent(&parts.method) && body.is_end_stream();
    let mut body = Some(body);
    let mut tried = Vec::new();
    let mut last: Option<(ProxyError, String)> = None;
    loop {
        let Some(pick) = rt.balancer.pick(conn.peer.ip(), &tried) else {
            let (err, up) = last.unwrap_or((ProxyError::NoTarget, "-".to_owned()));
            return failed(route, &err, up);
        };
        let target = pick.target().clone();
        let shown = target.to_string();
        let path = outgoing_path(opts, &target, &incoming, strip);
        let headers = outgoing_headers(opts, &target, &incoming, Kind::Web);
        let had_body = !retryable && body.as_ref().is_some_and(|b| !b.is_end_stream());
        let req_body = if retryable {
            empty()
        } else {
            body.take().unwrap_or_else(empty)
        };
        let uri = if opts.to_proxy {
            path.parse()
        } else {
            upstream_uri(&target, &path)
        };
        let Ok(uri) = uri else {
            return failed(route, &ProxyError::BadRequest(path), shown);
        };
        let origin = opts.follow_redirects.then(|| redirect::Origin {
            method: parts.method.clone(),
            url: upstream_uri(&target, &path).map_or(path.clone(), |u| u.to_string()),
            headers: headers.clone(),
            had_body,
        });
        let mut up = Request::new(req_body);
        *up.method_mut() = parts.method.clone();
        *up.uri_mut() = uri;
        *up.headers_mut() = headers;
        *up.extensions_mut() = parts.extensions.clone();
        let sent = send(rt, opts.to_proxy, &target, up);
        let result = match opts.proxy_timeout {
            Some(t) => match tokio::time::timeout(t, sent).await {
                Ok(r) => r,
                Err(_) => {
                    let err = ProxyError::Timeout {
                        target: shown.clone(),
                        timeout: t,
                    };
                    return failed(route, &err, shown);
                }
            },
            None => sent.await,
        };
        match result {
            Ok(res) => {
                let res = match origin {
                    Some(origin) => {
                        match redirect::follow(rt, opts.proxy_timeout, origin, res).await {
                            Ok(res) => res,
                            Err(err) => return failed(route, &err, shown),
                        }
                    }
                    None => res,
                };
                let cx = Context {
                    req: &incoming,
                    version: parts.version,
                    target: &target,
                };
                let res = proxied_response(route, &cx, res, false);
                return (res, shown, Some(pick));
            }
            Err(Failure::Connect(reason)) => {
                rt.balancer.connect_failed(pick.index());
                tried.push(pick.index());
                let err = ProxyError::Connect {
                    target: shown.clone(),
                    reason,
                };
                if !retryable {
                    return failed(route, &err, shown);
                }
                eprintln!("edge: proxy error: {err}; trying another target");
                last = Some((err, shown));
            }
            Err(Failure::Other(reason)) => {
                let err = ProxyError::Upstream {
                    target: shown.clone(),
                    reason,
                };
                return failed(route, &err, shown);
            }
        }
    }
}

/// How sending upstream failed.
pub enum Failure {
    /// No connection could be made (retryable on another target).
    Connect(String),
    /// The exchange failed after connecting.
    Other(String),
}

/// Sends `req` through the pool, or on a fresh connection for `to_proxy`
/// (whose absolute-form target the pool would rewrite).
pub async fn send(
    rt: &RouteRuntime,
    direct: bool,
    target: &Target,
    req: Request<ReqBody>,
) -> Result<Response<hyper::body::Incoming>, Failure> {
    if direct {
        return client::send_direct(&rt.connector, target, req)
            .await
            .map_err(|e| match e {
                client::DirectError::Connect(e) => Failure::Connect(e.to_string()),
                client::DirectError::Http(e) => Failure::Other(e.to_string()),
            });
    }
    rt.pool.request(req).await.map_err(|e| {
        let reason = error_chain(&e);
        if e.is_connect() {
            Failure::Connect(reason)
        } else {
            Failure::Other(reason)
        }
    })
}

/// An error and its sources, `: `-separated.
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        out.push_str(": ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    out
}

/// The upstream's response as sent to the client: head rewritten, body
/// streamed. The reason phrase is kept; header name case only with
/// `preserve_header_key_case`.
pub fn proxied_response(
    route: &Route,
    cx: &Context<'_>,
    res: Response<hyper::body::Incoming>,
    upgraded: bool,
) -> Response<ResBody> {
    let (mut parts, body) = res.into_parts();
    if !route.options.preserve_header_key_case {
        let reason = parts.extensions.remove::<hyper::ext::ReasonPhrase>();
        parts.extensions = http::Extensions::new();
        if let Some(reason) = reason {
            parts.extensions.insert(reason);
        }
    }
    parts.version = Version::HTTP_11;
    response::rewrite(
        &route.options,
        cx,
        parts.status,
        &mut parts.headers,
        upgraded,
    );
    Response::from_parts(parts, boxed(body))
}

/// Sends the forward copy (node's `forward`): same rules as the request
/// to the target, with the forward target's path; its answer is drained
/// and dropped, its failures only logged.
fn spawn_forward(
    rt: &RouteRuntime,
    route: &Route,
    fwd: &Target,
    incoming: &Incoming<'_>,
    parts: &http::request::Parts,
    body: ReqBody,
) {
    let opts = &route.options;
    let strip = route.strip_prefix.then_some(route.path.as_str());
    let path = outgoing_path(opts, fwd, incoming, strip);
    let headers = outgoing_headers(opts, fwd, incoming, Kind::Web);
    let Ok(uri) = upstream_uri(fwd, &path) else {
        eprintln!("edge: proxy forward: bad path {path}");
        return;
    };
    let mut req = Request::new(body);
    *req.method_mut() = parts.method.clone();
    *req.uri_mut() = uri;
    *req.headers_mut() = headers;
    let pool = rt.pool.clone();
    let shown = fwd.to_string();
    tokio::spawn(async move {
        match pool.request(req).await {
            Ok(res) => {
                let mut body = res.into_body();
                while let Some(frame) =
                    std::future::poll_fn(|cx| Pin::new(&mut body).poll_frame(cx)).await
                {
                    if frame.is_err() {
                        break;
                    }
                }
            }
            Err(e) => eprintln!("edge: proxy forward to {shown} failed: {}", error_chain(&e)),
        }
    });
}
