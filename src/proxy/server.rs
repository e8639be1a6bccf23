//! One proxy listener: accepts connections (plain or TLS), serves HTTP/1.1
//! on each with hyper, routes every request through the plan's [`Router`]
//! and proxies it (web or WebSocket), writing one access log line per
//! request.
//!
//! [`Router`]: crate::plan::proxy::Router

use super::balance::Balancer;
use super::body::{AccessLog, Logged};
use super::client::{self, ClientError, Connector};
use super::drain::{Drain, Open};
use super::error::plain;
use super::events::Events;
use super::framing::FramingWatch;
use super::headers::is_websocket_upgrade;
use super::lot::{Lot, Parkable};
use super::pool::Pool;
use super::stream::{ClientStream, Idle, ParkSlot, Parked, Readable, Tracking};
use super::tls::{self, TlsError};
use super::web::web;
use super::wire::lane::{self, Next};
use super::wire::RawNames;
use super::{health, ws};
use crate::plan::proxy::ProxyPlan;
use arc_swap::ArcSwap;
use http::{header, Method, Request, Response, StatusCode, Version};
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

/// Request heads larger than this are answered 431 by hyper.
pub const MAX_HEAD_BYTES: usize = 64 * 1024;
// More request headers than hyper's default count (100) are answered 431
// too; setting the count would move hyper's header array to the heap.
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
    /// A route sets `events_subject` but the plan has no NATS listener.
    #[error("proxy {0}: events_subject needs the NATS listener of the same file")]
    NoNats(String),
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
    /// Where WebSocket open/close events go (`events_subject`).
    pub events: Option<(Events, String)>,
    /// An embedder's callbacks ([`Proxy`](super::Proxy)); `None` when
    /// serving a config file.
    pub hooks: Option<Arc<dyn super::embed::Hooks>>,
}

/// What a reload replaces whole (SIGHUP, as nginx's reload): the plan of
/// the listener, one runtime per route (balancer, pool, events), and the
/// TLS acceptor (renewed certificates). Requests take the routing in force
/// when they arrive, so a keep-alive connection follows a reload on its
/// next request; a request in flight finishes with the routing it started
/// with. Health checks of a replaced routing stop when its last request
/// ends (they hold its balancers weakly).
pub struct Routing {
    /// The listener's plan (read only).
    pub plan: ProxyPlan,
    /// One runtime per plan route, same order.
    pub routes: Vec<RouteRuntime>,
    /// True when some route sets `timeout` (new connections are watched).
    watch_idle: bool,
    /// The listener's TLS, and its handshake timeout.
    tls: Option<(TlsAcceptor, Duration)>,
}

impl Routing {
    /// Every route's pool, balancer and events, and the TLS acceptor, for
    /// `plan`; `nats` is the bound NATS listener events are published to.
    pub fn build(plan: &ProxyPlan, nats: Option<SocketAddr>) -> Result<Routing, StartError> {
        let mut routes = Vec::with_capacity(plan.routes.len());
        let mut publisher: Option<Events> = None;
        for route in &plan.routes {
            let events = match (&route.options.events_subject, nats) {
                (None, _) => None,
                (Some(_), None) => return Err(StartError::NoNats(plan.listen.to_string())),
                (Some(subject), Some(addr)) => {
                    let handle = publisher.get_or_insert_with(|| Events::start(addr)).clone();
                    Some((handle, subject.clone()))
                }
            };
            let needs_tls = client::needs_tls(route.targets.iter().chain(&route.options.forward));
            let connector = Connector::new(&route.options, needs_tls)?;
            let pool = Pool::new(connector.clone(), &route.options.agent);
            routes.push(RouteRuntime {
                balancer: Arc::new(Balancer::new(&route.targets, route.balance)),
                connector,
                pool,
                events,
                hooks: None,
            });
        }
        let tls = match &plan.tls {
            Some(t) => Some((tls::acceptor(t)?, t.timeout)),
            None => None,
        };
        Ok(Routing {
            plan: plan.clone(),
            routes,
            watch_idle: plan.routes.iter().any(|r| r.options.timeout.is_some()),
            tls,
        })
    }
}

/// Everything the connections of one listener share.
pub struct Shared {
    /// The routing in force; a reload swaps it whole.
    pub routing: ArcSwap<Routing>,
    /// Lame duck mode (SIGUSR2).
    pub drain: Arc<Drain>,
    /// Where a reloaded routing publishes its events.
    nats: Option<SocketAddr>,
}

/// A bound proxy listener, ready to serve.
pub struct ProxyServer {
    listener: TcpListener,
    shared: Arc<Shared>,
}

/// Reloads one listener: [`prepare`](Reloader::prepare) builds the new
/// routing (and may fail, changing nothing), [`swap`](Reloader::swap) puts
/// it in force. Two steps, so a reload of several listeners is all or
/// nothing.
#[derive(Clone)]
pub struct Reloader(Arc<Shared>);

impl Reloader {
    /// The routing for `plan`, or why it cannot be built.
    pub fn prepare(&self, plan: &ProxyPlan) -> Result<Routing, StartError> {
        Routing::build(plan, self.0.nats)
    }

    /// Puts `routing` in force for the requests that arrive from now on,
    /// and starts its health checks.
    pub fn swap(&self, routing: Routing) {
        health::spawn(&routing);
        self.0.routing.store(Arc::new(routing));
    }
}

impl ProxyServer {
    /// Binds the listener and prepares every route's pool and TLS; `nats`
    /// is the plan's bound NATS listener, where events are published.
    pub async fn bind(plan: &ProxyPlan, nats: Option<SocketAddr>) -> Result<Self, StartError> {
        let routing = Routing::build(plan, nats)?;
        let addr = plan.listen.to_string();
        let listener = TcpListener::bind((plan.listen.host.as_str(), plan.listen.port))
            .await
            .map_err(|source| StartError::Bind { addr, source })?;
        Ok(ProxyServer {
            listener,
            shared: Arc::new(Shared {
                routing: ArcSwap::from_pointee(routing),
                drain: Arc::default(),
                nats,
            }),
        })
    }

    /// Its reload switch (SIGHUP).
    pub fn reloader(&self) -> Reloader {
        Reloader(Arc::clone(&self.shared))
    }

    /// Its lame duck switch: [`Drain::start`] stops the workers accepting
    /// and shuts connections down gracefully; [`Drain::finished`] tells
    /// when the last one closed.
    pub fn drain(&self) -> Arc<Drain> {
        Arc::clone(&self.shared.drain)
    }

    /// The bound address (the OS's choice when the plan says port 0).
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Starts health checks, then serves the listener on the plan's
    /// worker threads until the process exits or the listener has drained
    /// (`Ok`); an error if a worker cannot start or stops otherwise.
    ///
    /// Each worker is a thread with a single-threaded runtime accepting on
    /// the same socket, as nginx's workers: a connection and the upstream
    /// connections its requests use stay on one thread, so a request
    /// costs no cross-thread wakeups (a third more requests per second on
    /// one core than tokio's work-stealing runtime with one worker).
    pub async fn serve(self) -> io::Result<()> {
        health::spawn(&self.shared.routing.load());
        let workers = match self.shared.routing.load().plan.workers {
            0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
            n => n,
        };
        let listener = self.listener.into_std()?;
        let (ended, mut first_end) = tokio::sync::mpsc::unbounded_channel();
        for i in 0..workers {
            let listener = listener.try_clone()?;
            let shared = Arc::clone(&self.shared);
            let ended = ended.clone();
            std::thread::Builder::new()
                .name(format!("edge-proxy-{i}"))
                .spawn(move || {
                    let served = tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()
                        .and_then(|rt| {
                            rt.block_on(async move {
                                let drain = Arc::clone(&shared.drain);
                                accept_loop(TcpListener::from_std(listener)?, shared).await?;
                                // This runtime drives its connections.
                                drain.finished().await;
                                Ok(())
                            })
                        });
                    let _ = ended.send(served);
                })?;
        }
        // Closed once every worker stopped accepting.
        drop(listener);
        drop(ended);
        let mut stopped = 0;
        while let Some(result) = first_end.recv().await {
            result?;
            stopped += 1;
            if stopped == workers {
                break;
            }
        }
        if self.shared.drain.is_started() {
            Ok(())
        } else {
            Err(io::Error::other("a proxy worker stopped"))
        }
    }
}

/// One worker's accept loop, until the listener drains; a failed accept
/// is logged and retried, never fatal.
async fn accept_loop(listener: TcpListener, shared: Arc<Shared>) -> io::Result<()> {
    // One drain watch for the whole loop, not one (and its registration)
    // per accepted connection.
    let drain = Arc::clone(&shared.drain);
    let mut draining = drain.started();
    // This worker's idle keep-alive connections, plain and TLS.
    let plain_lot = Lot::start(&drain);
    let tls_lot = Lot::start(&drain);
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            () = &mut draining => return Ok(()),
        };
        let (tcp, peer) = match accepted {
            Ok(pair) => pair,
            Err(e) => {
                crate::log_error!("Proxy accept error: {e}");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let _ = tcp.set_nodelay(true);
        let tls = shared.routing.load().tls.clone();
        let shared = Arc::clone(&shared);
        match tls {
            None => {
                tokio::spawn(serve_plain(shared, tcp, peer, plain_lot.clone()));
            }
            Some((acceptor, timeout)) => {
                let lot = tls_lot.clone();
                tokio::spawn(async move {
                    match tokio::time::timeout(timeout, acceptor.accept(tcp)).await {
                        Ok(Ok(stream)) => {
                            let h2 = stream.get_ref().1.alpn_protocol() == Some(b"h2");
                            serve_connection(shared, stream, peer, h2, lot).await
                        }
                        Ok(Err(e)) => {
                            crate::log_error!("Proxy TLS handshake error with {peer}: {e}")
                        }
                        Err(_) => crate::log_error!("Proxy TLS handshake with {peer} timed out"),
                    }
                });
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
    /// Requests handled so far (their arrival order).
    requests: AtomicU64,
    /// Shared with the stream: the idle clock, which request came framed
    /// by both `Content-Length` and `Transfer-Encoding` (the stream's
    /// [`FramingWatch`] records it), and the requests answered so far
    /// (the stream parks once all are).
    pub(super) tracking: Arc<Tracking>,
}

impl Conn {
    /// A client connection served by an embedder (see [`Proxy`](super::Proxy)):
    /// no idle tracking (`timeout` is the embedder's server's business).
    pub fn new(peer: SocketAddr, tls: bool) -> Self {
        Conn {
            peer,
            tls,
            requests: AtomicU64::new(0),
            tracking: Arc::new(Tracking::new(false)),
        }
    }
}

/// Serves HTTP/1.1 on a plain TCP client connection (the task's future is
/// [`serve_connection_as`]'s own: a wrapping `async fn` would add its
/// arguments to every connection's task).
fn serve_plain(
    shared: Arc<Shared>,
    tcp: tokio::net::TcpStream,
    peer: SocketAddr,
    lot: Lot<Resting<tokio::net::TcpStream>>,
) -> impl Future<Output = ()> + Send {
    serve_connection_as(shared, tcp, peer, false, false, lot)
}

/// Serves a TLS client connection: HTTP/2 when ALPN chose `h2`, HTTP/1.1
/// otherwise.
async fn serve_connection<S>(
    shared: Arc<Shared>,
    stream: S,
    peer: SocketAddr,
    h2: bool,
    lot: Lot<Resting<S>>,
) where
    S: AsyncRead + AsyncWrite + Readable + Unpin + Send + 'static,
{
    serve_connection_as(shared, stream, peer, true, h2, lot).await;
}

/// Serves one client connection (HTTP/1.1 with upgrades, or HTTP/2)
/// until it closes, fails, or stays idle past its route's `timeout`.
///
/// Between HTTP/1.1 requests an idle connection parks (see
/// [`super::stream`]): hyper's connection and its buffers are dropped, and
/// the connection waits in the worker's [`Lot`] with no task of its own; a
/// new hyper connection, on a new task, serves the next request.
///
/// The connection's state is set up here, outside the returned future:
/// what is used only to set up (the peer's address) would stay in it.
fn serve_connection_as<S>(
    shared: Arc<Shared>,
    stream: S,
    peer: SocketAddr,
    tls: bool,
    h2: bool,
    lot: Lot<Resting<S>>,
) -> impl Future<Output = ()> + Send
where
    S: AsyncRead + AsyncWrite + Readable + Unpin + Send + 'static,
{
    let watch_idle = shared.routing.load().watch_idle;
    let conn = Arc::new(Conn {
        peer,
        tls,
        requests: AtomicU64::new(0),
        tracking: Arc::new(Tracking::new(watch_idle)),
    });
    let client = Client {
        _open: shared.drain.track(),
        shared,
        conn,
        lot,
    };
    async move {
        if !h2 {
            let parked = Parked {
                stream,
                framing: FramingWatch::default(),
            };
            return sessions(client, parked).await;
        }
        // HTTP/2 (ALPN `h2` on a TLS listener); upstreams stay HTTP/1.1.
        let (shared, conn) = (&client.shared, &client.conn);
        let stream = ClientStream::new(stream, Arc::clone(&conn.tracking), FramingWatch::off());
        // Boxed like the HTTP/1.1 connection: every task's future is as
        // large as its largest await, and h2's connection is kilobytes.
        let served = Box::pin(
            hyper::server::conn::http2::Builder::new(TokioExecutor::new())
                .timer(TokioTimer::new())
                .max_header_list_size(u32::try_from(MAX_HEAD_BYTES).unwrap_or(u32::MAX))
                .serve_connection(TokioIo::new(stream), service(shared, conn)),
        );
        let watch = conn.tracking.idle.enabled.then_some(&conn.tracking.idle);
        until_done(served, &shared.drain, watch).await;
    }
}

/// The request handler of a connection. The handler future is boxed per
/// request: hyper keeps a slot the size of the service's future for the
/// whole connection.
fn service(
    shared: &Arc<Shared>,
    conn: &Arc<Conn>,
) -> impl hyper::service::Service<
    Request<hyper::body::Incoming>,
    Response = Response<Logged>,
    Error = Infallible,
    Future = Handled,
> {
    let (shared, conn) = (Arc::clone(shared), Arc::clone(conn));
    service_fn(move |req| {
        Box::pin(handle(Arc::clone(&shared), Arc::clone(&conn), req, None)) as Handled
    })
}

/// A request's handler future, boxed.
type Handled = Pin<Box<dyn Future<Output = Result<Response<Logged>, Infallible>> + Send>>;

/// An HTTP/1.1 client connection's own state, kept across its hyper
/// connections and while it is parked.
struct Client<S> {
    shared: Arc<Shared>,
    conn: Arc<Conn>,
    /// Counts the connection in the listener's drain.
    _open: Open,
    lot: Lot<Resting<S>>,
}

/// A parked connection in the lot.
struct Resting<S> {
    client: Client<S>,
    parked: Parked<S>,
}

impl<S> Parkable for Resting<S>
where
    S: AsyncRead + AsyncWrite + Readable + Unpin + Send + 'static,
{
    fn poll_readable(&self, cx: &mut std::task::Context<'_>) -> std::task::Poll<io::Result<()>> {
        self.parked.stream.poll_read_ready(cx)
    }

    fn resume(self) {
        tokio::spawn(sessions(self.client, self.parked));
    }

    fn close(self) {
        if !S::SHUTDOWN_WRITES {
            // Dropped: the socket's close is the whole goodbye.
            return;
        }
        let Resting { client, mut parked } = self;
        tokio::spawn(async move {
            let _ = tokio::time::timeout(Duration::from_secs(1), parked.stream.shutdown()).await;
            drop(client);
        });
    }
}

/// HTTP/1.1 on a connection: edge's own lane while its requests are the
/// lane's (see `super::wire`), else one hyper connection after another,
/// each until the connection parks; then into the lot, unless the next
/// request is there already.
async fn sessions<S>(mut client: Client<S>, mut parked: Parked<S>)
where
    S: AsyncRead + AsyncWrite + Readable + Unpin + Send + 'static,
{
    let slot: ParkSlot<S> = Arc::default();
    loop {
        let (shared, conn) = (&client.shared, &client.conn);
        // Boxed: a parked connection's task is spawned anew when it wakes,
        // moving its whole future; the lane's (the request's) stays put.
        match Box::pin(lane::serve(shared, conn, &mut parked)).await {
            Next::Park => {}
            Next::Close => {
                if S::SHUTDOWN_WRITES {
                    let shutdown = parked.stream.shutdown();
                    let _ = tokio::time::timeout(Duration::from_secs(1), shutdown).await;
                }
                return;
            }
            Next::Hyper(prefix) => {
                let io =
                    ClientStream::new(parked.stream, Arc::clone(&conn.tracking), parked.framing)
                        .replaying(prefix)
                        .parking(&slot, &shared.drain, HEAD_TIMEOUT);
                // Boxed, so a task waiting on the client keeps none of
                // hyper's state.
                let served = Box::pin(
                    hyper::server::conn::http1::Builder::new()
                        // The stream times the wait for a head (see HeadWait).
                        .header_read_timeout(None)
                        .preserve_header_case(true)
                        .max_header_size(MAX_HEAD_BYTES)
                        .serve_connection(TokioIo::new(io), service(shared, conn))
                        .with_upgrades(),
                );
                let idle = &conn.tracking.idle;
                until_done(served, &shared.drain, idle.enabled.then_some(idle)).await;
                let Some(next) = slot.lock().ok().and_then(|mut s| s.take()) else {
                    return;
                };
                parked = next;
            }
        }
        // As long as hyper waits for a head, or the route's `timeout`
        // when that ends sooner; lame duck closes it too (the lot drains).
        let idle = &client.conn.tracking.idle;
        let head_limit = tokio::time::Instant::now() + HEAD_TIMEOUT;
        let deadline = idle.deadline().map_or(head_limit, |d| d.min(head_limit));
        let lot = client.lot.clone();
        let resting = Resting { client, parked };
        match lot.park(resting, deadline) {
            None => return,
            Some(ready) => (client, parked) = (ready.client, ready.parked),
        }
    }
}

/// hyper's graceful shutdown, for either kind of connection.
trait Graceful {
    fn shutdown(self: Pin<&mut Self>);
}

impl<I, S> Graceful for hyper::server::conn::http1::UpgradeableConnection<I, S>
where
    S: hyper::service::HttpService<hyper::body::Incoming>,
    S::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
    S::ResBody: hyper::body::Body + 'static,
    <S::ResBody as hyper::body::Body>::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    fn shutdown(self: Pin<&mut Self>) {
        self.graceful_shutdown();
    }
}

impl<I, S, E> Graceful for hyper::server::conn::http2::Connection<I, S, E>
where
    S: hyper::service::HttpService<hyper::body::Incoming>,
    S::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    I: hyper::rt::Read + hyper::rt::Write + Unpin,
    S::ResBody: hyper::body::Body + 'static,
    <S::ResBody as hyper::body::Body>::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    E: hyper::rt::bounds::Http2ServerConnExec<S::Future, S::ResBody>,
{
    fn shutdown(self: Pin<&mut Self>) {
        self.graceful_shutdown();
    }
}

impl<G: Graceful + ?Sized> Graceful for Pin<Box<G>> {
    fn shutdown(self: Pin<&mut Self>) {
        self.get_mut().as_mut().shutdown();
    }
}

/// Serves `conn` until it ends, stays idle past its route's `timeout`
/// (when `idle` watches it), or, once the listener drains, has finished
/// what it was doing.
async fn until_done<C>(conn: C, drain: &Drain, idle: Option<&Idle>)
where
    C: std::future::Future + Graceful,
{
    tokio::pin!(conn);
    let mut draining = false;
    loop {
        tokio::select! {
            // The connection first: the other branches rarely fire.
            biased;
            _ = conn.as_mut() => return,
            () = drain.started(), if !draining => {
                conn.as_mut().shutdown();
                draining = true;
            }
            () = async { if let Some(i) = idle { i.expired().await } }, if idle.is_some() => return,
        }
    }
}

/// A request's route, when its reader looked it up already (the wire
/// lane does, to know whether the request is its own): the routing it
/// looked in, the route's index there (`None`: no route), and the
/// request's header names as read (the lane writes them upstream so).
pub(super) struct Routed {
    pub(super) routing: Arc<Routing>,
    pub(super) index: Option<usize>,
    pub(super) names: RawNames,
}

/// Routes one request (unless `routed`) and proxies it; every outcome is
/// a response.
pub(super) async fn handle<B>(
    shared: Arc<Shared>,
    conn: Arc<Conn>,
    req: Request<B>,
    routed: Option<Routed>,
) -> Result<Response<Logged>, Infallible>
where
    B: hyper::body::Body<Data = bytes::Bytes> + Send + 'static,
    B::Error: Into<super::body::BoxError>,
{
    let start = Instant::now();
    let mut req = req;
    if req.version() == Version::HTTP_2 && !req.headers().contains_key(header::HOST) {
        // HTTP/2 carries the host as :authority; the proxy rules (and the
        // HTTP/1.1 upstream) read `Host`.
        let authority = req.uri().authority().map(|a| a.as_str().to_owned());
        if let Some(v) = authority.and_then(|a| http::HeaderValue::from_str(&a).ok()) {
            req.headers_mut().insert(header::HOST, v);
        }
    }
    let method = req.method().clone();
    let url = req.uri().clone();
    let (routing, routed, names) = match routed {
        Some(r) => (r.routing, Some(r.index), Some(r.names)),
        None => (shared.routing.load_full(), None, None),
    };
    let arrival = conn.requests.fetch_add(1, Ordering::Relaxed);
    let framed_twice = conn.tracking.framed_twice.is(arrival);
    let bad = framed_twice || bad_host(&req);
    let index = if bad {
        None
    } else if let Some(index) = routed {
        index
    } else {
        let host = req.uri().authority().map(|a| a.as_str()).or_else(|| {
            req.headers()
                .get(header::HOST)
                .and_then(|v| v.to_str().ok())
        });
        let path = req.uri().path_and_query().map_or("/", |p| p.as_str());
        routing.plan.router.route(host, path)
    };
    let (res, upstream, in_flight) =
        match index.and_then(|i| Some((routing.plan.routes.get(i)?, routing.routes.get(i)?))) {
            None if bad => {
                // Request smuggling's shape, or no single Host: refused as
                // node and nginx refuse it, and, as both do after a 400,
                // the connection closes after the answer (hyper closes it).
                let mut res = plain(StatusCode::BAD_REQUEST);
                res.headers_mut()
                    .insert(header::CONNECTION, http::HeaderValue::from_static("close"));
                (res, "-".to_owned(), None)
            }
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
                conn.tracking.idle.timeout_ms.store(
                    u64::try_from(timeout).unwrap_or(u64::MAX),
                    Ordering::Relaxed,
                );
                if route.options.ws && is_websocket_upgrade(req.method(), req.headers()) {
                    // Boxed: the rare upgrade's state stays out of every
                    // request's future (hyper moves that into a box).
                    Box::pin(ws::proxy(route, rt, &conn, req, Some(shared.drain.track()))).await
                } else {
                    web(route, rt, &conn, req, names.as_ref()).await
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
    let answered = conn.tracking.answer();
    Ok(res.map(|b| Logged::new(b, log, in_flight).answering(answered)))
}

/// RFC 9112 3.2: an HTTP/1.1 request without exactly one `Host` is
/// answered 400 (hyper accepts it; a proxy must not guess the host).
fn bad_host<B>(req: &Request<B>) -> bool {
    let hosts = req.headers().get_all(header::HOST).iter().count();
    hosts > 1 || (hosts == 0 && req.version() == Version::HTTP_11)
}
