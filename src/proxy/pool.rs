//! Keep-alive upstream connections of one route (node-http-proxy's
//! `agent`), kept lean for the request path: idle HTTP/1.1 senders in a
//! short list per upstream, taken under one lock and put back when the
//! response body ends (no task per request waits for the connection to
//! become idle, and no hashing), preferring connections driven by the
//! caller's own worker thread.
//!
//! A request on a reused connection that the upstream closed before it was
//! sent is sent again on a new one (hyper hands it back unsent).
//!
//! The same lists keep the wire lane's connections (`super::wire`), which
//! have no task of their own: they are driven by the request using them.

use super::body::{BoxError, ReqBody};
use super::client::Connector;
use super::wire::upstream::{Home, Wire, WireBody};
use super::wire::{encode, RawNames, WireError};
use crate::plan::proxy::{Agent, Target};
use bytes::Bytes;
use http::{header, HeaderValue, Request, Response, Uri};
use http_body_util::BodyExt;
use hyper::body::{Body, Frame, SizeHint};
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

/// Which upstream a connection goes to.
#[derive(Debug)]
struct Key {
    tls: bool,
    host: String,
    port: u16,
}

impl Key {
    fn is(&self, tls: bool, host: &str, port: u16) -> bool {
        self.tls == tls && self.port == port && self.host == host
    }
}

/// An upstream's place in the pool's list (upstreams are only ever added,
/// so the place is stable), found once per request without allocating.
type Place = usize;

/// A connection waiting for its next request (hyper's sender, or a wire
/// lane connection).
struct Idle<C> {
    conn: C,
    /// When it was put back.
    since: Instant,
    /// The worker thread whose runtime drives the connection.
    thread: std::thread::ThreadId,
}

impl<C> Idle<C> {
    fn now(conn: C) -> Self {
        Idle {
            conn,
            since: Instant::now(),
            thread: std::thread::current().id(),
        }
    }
}

/// One upstream's idle connections, of both kinds.
struct Upstream {
    key: Key,
    hyper: Vec<Idle<SendRequest<ReqBody>>>,
    wire: Vec<Idle<Wire>>,
}

struct Inner {
    connector: Connector,
    max_idle: usize,
    idle_timeout: Duration,
    idle: Mutex<Vec<Upstream>>,
}

/// The pooled upstream client of one route (cheap to clone).
#[derive(Clone)]
pub struct Pool(Arc<Inner>);

/// Why a pooled request failed.
#[derive(Debug, thiserror::Error)]
pub enum PoolError {
    /// No connection could be opened.
    #[error("{0}")]
    Connect(std::io::Error),
    /// The connection was opened but the HTTP exchange failed.
    #[error("{0}")]
    Http(#[from] hyper::Error),
    /// The request's URI names no upstream.
    #[error("request URI without a host: {0}")]
    NoHost(Uri),
    /// The wire lane's exchange failed after connecting.
    #[error("{0}")]
    Wire(#[from] WireError),
}

/// Methods whose request may go again: on another target when a
/// connection failed (web), on a new connection when a reused one failed
/// before the upstream answered a byte (the wire lane).
pub fn idempotent(m: &http::Method) -> bool {
    use http::Method;
    matches!(
        *m,
        Method::GET | Method::HEAD | Method::OPTIONS | Method::PUT | Method::DELETE | Method::TRACE
    )
}

impl Pool {
    /// A pool opening connections with `connector`, keeping at most the
    /// agent's `max_idle_per_host` idle per upstream (none without
    /// keep-alive) for `idle_timeout`.
    pub fn new(connector: Connector, agent: &Agent) -> Pool {
        Pool(Arc::new(Inner {
            connector,
            max_idle: if agent.keep_alive {
                agent.max_idle_per_host
            } else {
                0
            },
            idle_timeout: agent.idle_timeout,
            idle: Mutex::new(Vec::new()),
        }))
    }

    /// Sends `req` (absolute URI) to its upstream on an idle connection or
    /// a new one; the request goes out in origin form, with `Host` from
    /// the URI when it has none.
    pub async fn request(
        &self,
        mut req: Request<ReqBody>,
    ) -> Result<Response<UpstreamBody>, PoolError> {
        let uri = std::mem::take(req.uri_mut());
        let tls = uri.scheme_str() == Some("https");
        let Some(host) = uri.host() else {
            return Err(PoolError::NoHost(uri));
        };
        let host = host.trim_start_matches('[').trim_end_matches(']');
        let port = uri.port_u16().unwrap_or(if tls { 443 } else { 80 });
        // An upgrade's socket is spliced on this thread (src/proxy/splice.rs
        // forgets its readiness after short reads, which is only sound
        // where this thread's runtime drives it): no other thread's.
        let local_only = req.headers().contains_key(header::UPGRADE);
        let (place, idle) = self.take_idle(tls, host, port, local_only);
        let uri = uri.into_parts();
        if !req.headers().contains_key(header::HOST) {
            if let Some(v) = uri
                .authority
                .as_ref()
                .and_then(|a| HeaderValue::from_str(a.as_str()).ok())
            {
                req.headers_mut().insert(header::HOST, v);
            }
        }
        // Origin form: the path and query alone (shared, not parsed again).
        let mut origin = http::uri::Parts::default();
        origin.path_and_query = uri.path_and_query;
        *req.uri_mut() = Uri::from_parts(origin).unwrap_or_else(|_| Uri::from_static("/"));

        if let Some(mut sender) = idle {
            // Ready at once unless the previous response's end is still
            // being processed by the connection's task.
            if sender.ready().await.is_ok() {
                match sender.try_send_request(req).await {
                    Ok(res) => return Ok(self.wrap(res, place, sender)),
                    Err(mut e) => match e.take_message() {
                        // Closed by the upstream before it went out:
                        // again, on a new connection.
                        Some(unsent) => req = unsent,
                        None => return Err(PoolError::Http(e.into_error())),
                    },
                }
            }
        }
        // Boxed: a connect (TCP, maybe TLS) is 1.3 KB of future state that
        // every request's future would carry, and hyper moves each
        // request's future into a box of its own.
        let mut sender = Box::pin(self.connect(place)).await?;
        let res = sender.send_request(req).await?;
        Ok(self.wrap(res, place, sender))
    }

    /// Sends a request of the wire lane to `target`, for `path`
    /// (origin-form), on a wire connection, its header names spelled as
    /// `names` says and its (small, buffered) body read whole and written
    /// with the head, with `Host` from the target when it has none;
    /// `keep_names` keeps the response's header name spelling.
    pub async fn request_wire(
        &self,
        mut req: Request<ReqBody>,
        target: &Target,
        path: &str,
        names: &RawNames,
        keep_names: bool,
    ) -> Result<Response<UpstreamBody>, PoolError> {
        let (tls, host, port) = (target.scheme.is_tls(), target.host.as_str(), target.port);
        if !req.headers().contains_key(header::HOST) {
            let authority = if host.contains(':') {
                format!("[{host}]:{port}")
            } else {
                format!("{host}:{port}")
            };
            if let Ok(v) = HeaderValue::from_str(&authority) {
                req.headers_mut().insert(header::HOST, v);
            }
        }
        // The lane's bodies are small and in memory already (see
        // `wire::request`): read whole, they go out with the head.
        let body = std::mem::replace(req.body_mut(), super::body::empty());
        let body = if body.is_end_stream() {
            Bytes::new()
        } else {
            let collected = body.collect().await;
            collected
                .map_err(|e| PoolError::Wire(WireError::Body(e)))?
                .to_bytes()
        };
        let (place, idle) = self.take_idle_wire(tls, host, port);
        let mut head = Vec::with_capacity(256 + body.len());
        encode::request_head(&mut head, req.method(), path, req.headers(), Some(names));
        head.extend_from_slice(&body);
        let head_request = req.method() == http::Method::HEAD;
        let retry = idempotent(req.method());
        if let Some(mut conn) = idle {
            match conn.exchange(&head, head_request, keep_names).await {
                Ok(answer) => return Ok(self.wrap_wire(answer, place, conn)),
                // The upstream closed the idle connection as it was used.
                Err((_, false)) if retry => {}
                Err((e, _)) => return Err(e.into()),
            }
        }
        // Boxed, as in `request`: the connect's state stays out of every
        // request's future.
        let connect = Box::pin(self.0.connector.connect(host, port, tls));
        let mut conn = Wire::new(connect.await.map_err(PoolError::Connect)?);
        let answer = conn
            .exchange(&head, head_request, keep_names)
            .await
            .map_err(|(e, _)| e)?;
        Ok(self.wrap_wire(answer, place, conn))
    }

    fn wrap_wire(
        &self,
        answer: super::wire::upstream::Answer,
        place: Place,
        conn: Wire,
    ) -> Response<UpstreamBody> {
        let home = (self.0.max_idle > 0 && answer.reusable).then(|| {
            Box::new(WireHome {
                pool: self.clone(),
                place,
            }) as Box<dyn Home>
        });
        let body = WireBody::new(conn, answer.framing, home);
        answer.res.map(|()| UpstreamBody {
            inner: Source::Wire(body),
            slot: None,
            ended: false,
        })
    }

    fn wrap(
        &self,
        res: Response<hyper::body::Incoming>,
        place: Place,
        sender: SendRequest<ReqBody>,
    ) -> Response<UpstreamBody> {
        // An upgraded connection is the WebSocket's now, never idle.
        let reusable = self.0.max_idle > 0 && res.status() != http::StatusCode::SWITCHING_PROTOCOLS;
        let slot = reusable.then(|| Slot {
            pool: self.clone(),
            place,
            sender,
        });
        res.map(|inner| UpstreamBody {
            inner: Source::Hyper(inner),
            slot,
            ended: false,
        })
    }

    /// The upstream's place in the list (added on first use) and an idle
    /// connection to it that is still open, preferring one driven by the
    /// caller's own worker thread (with `local_only`, only such a one).
    fn take_idle(
        &self,
        tls: bool,
        host: &str,
        port: u16,
        local_only: bool,
    ) -> (Place, Option<SendRequest<ReqBody>>) {
        self.take(tls, host, port, |up, now, timeout, here| {
            let here = (here, local_only);
            pick_idle(&mut up.hyper, now, timeout, here, |s| !s.is_closed())
        })
    }

    /// As [`Pool::take_idle`], for a wire lane connection.
    fn take_idle_wire(&self, tls: bool, host: &str, port: u16) -> (Place, Option<Wire>) {
        // Only this thread's, as each of nginx's workers keeps its own: the
        // lane drives the socket from this thread (no wake across threads
        // per read) and forgets its readiness when it goes idle, which is
        // sound only where this thread's runtime drives it.
        self.take(tls, host, port, |up, now, timeout, here| {
            pick_idle(&mut up.wire, now, timeout, (here, true), Wire::is_open)
        })
    }

    /// The upstream's place in the list (added on first use) and what
    /// `pick` takes from its idle connections, under the one lock.
    fn take<T>(
        &self,
        tls: bool,
        host: &str,
        port: u16,
        pick: impl FnOnce(&mut Upstream, Instant, Duration, std::thread::ThreadId) -> Option<T>,
    ) -> (Place, Option<T>) {
        let here = std::thread::current().id();
        let mut all = self.0.idle.lock().unwrap_or_else(|p| p.into_inner());
        let place = match all.iter().position(|u| u.key.is(tls, host, port)) {
            Some(place) => place,
            None => {
                let key = Key {
                    tls,
                    host: host.to_owned(),
                    port,
                };
                all.push(Upstream {
                    key,
                    hyper: Vec::new(),
                    wire: Vec::new(),
                });
                all.len() - 1
            }
        };
        // One clock reading for the whole list.
        let now = Instant::now();
        let taken = pick(&mut all[place], now, self.0.idle_timeout, here);
        (place, taken)
    }

    /// Opens a connection to the upstream at `place` and starts its task
    /// on this runtime.
    async fn connect(&self, place: Place) -> Result<SendRequest<ReqBody>, PoolError> {
        let (tls, host, port) = {
            let all = self.0.idle.lock().unwrap_or_else(|p| p.into_inner());
            let key = &all[place].key;
            (key.tls, key.host.clone(), key.port)
        };
        let stream = self
            .0
            .connector
            .connect(&host, port, tls)
            .await
            .map_err(PoolError::Connect)?;
        let (sender, conn) = hyper::client::conn::http1::Builder::new()
            .preserve_header_case(true)
            .handshake(TokioIo::new(stream))
            .await?;
        tokio::spawn(async move {
            // A 101 hands the socket to `hyper::upgrade::on` (WebSockets).
            let _ = conn.with_upgrades().await;
        });
        Ok(sender)
    }

    /// Takes a connection back after its response ended.
    fn put_back(&self, place: Place, sender: SendRequest<ReqBody>) {
        if !sender.is_closed() {
            self.keep(place, Idle::now(sender), |up| &mut up.hyper);
        }
    }

    /// Takes a wire connection back after its response ended.
    fn put_back_wire(&self, place: Place, conn: Wire) {
        self.keep(place, Idle::now(conn), |up| &mut up.wire);
    }

    /// Adds `idle` to the upstream's `list`, unless that is full.
    fn keep<C>(
        &self,
        place: Place,
        idle: Idle<C>,
        list: impl FnOnce(&mut Upstream) -> &mut Vec<Idle<C>>,
    ) {
        let mut all = self.0.idle.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(list) = all.get_mut(place).map(list) {
            if list.len() < self.0.max_idle {
                list.push(idle);
            }
        }
    }
}

/// Takes the newest usable idle connection of `list`, one of thread
/// `here` first (another thread's runtime drives the others' sockets:
/// each read would be a wake across threads), and only such a one when
/// `local_only`. The list is in put-back order, so the expired ones are
/// at its front: dropped there, looking no further than the first fresh
/// one.
fn pick_idle<C>(
    list: &mut Vec<Idle<C>>,
    now: Instant,
    timeout: Duration,
    (here, local_only): (std::thread::ThreadId, bool),
    usable: impl Fn(&C) -> bool,
) -> Option<C> {
    let fresh = list
        .iter()
        .position(|i| now.duration_since(i.since) < timeout)
        .unwrap_or(list.len());
    list.drain(..fresh);
    while let Some(at) = list
        .iter()
        .rposition(|i| i.thread == here)
        .or_else(|| list.len().checked_sub(1).filter(|_| !local_only))
    {
        // `remove`, not `swap_remove`: the order is the expiry order.
        let idle = list.remove(at);
        if usable(&idle.conn) {
            return Some(idle.conn);
        }
    }
    None
}

/// Where a wire body sends its connection back.
struct WireHome {
    pool: Pool,
    place: Place,
}

impl Home for WireHome {
    fn put_back(self: Box<Self>, conn: Wire) {
        self.pool.put_back_wire(self.place, conn);
    }
}

/// A connection lent to one response, returned when its body ends.
struct Slot {
    pool: Pool,
    place: Place,
    sender: SendRequest<ReqBody>,
}

/// Where an upstream body is read from.
enum Source {
    /// hyper's connection task.
    Hyper(hyper::body::Incoming),
    /// The wire lane's connection itself.
    Wire(WireBody),
}

/// An upstream response body: hyper's, giving its connection back to the
/// pool once it has been read to the end (a body dropped half-read closes
/// the connection instead), or the wire lane's, which does that itself.
pub struct UpstreamBody {
    inner: Source,
    slot: Option<Slot>,
    ended: bool,
}

impl UpstreamBody {
    /// A body on a connection that is not pooled.
    pub fn unpooled(inner: hyper::body::Incoming) -> Self {
        UpstreamBody {
            inner: Source::Hyper(inner),
            slot: None,
            ended: false,
        }
    }
}

impl Drop for UpstreamBody {
    fn drop(&mut self) {
        if let Some(slot) = self.slot.take() {
            if self.ended || self.is_end_stream() {
                slot.pool.put_back(slot.place, slot.sender);
            }
        }
    }
}

impl Body for UpstreamBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let polled = match &mut self.inner {
            Source::Hyper(b) => Pin::new(b).poll_frame(cx).map_err(Into::into),
            Source::Wire(b) => Pin::new(b).poll_frame(cx),
        };
        if let Poll::Ready(None) = polled {
            self.ended = true;
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        match &self.inner {
            Source::Hyper(b) => b.is_end_stream(),
            Source::Wire(b) => b.is_end_stream(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match &self.inner {
            Source::Hyper(b) => b.size_hint(),
            Source::Wire(b) => b.size_hint(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An idle entry put back by another thread: taken when nothing of
    /// this thread's is idle, unless only this thread's may be.
    #[test]
    fn another_threads_connection_is_taken_only_when_not_local_only() {
        let other = std::thread::spawn(|| Idle::now(7u8))
            .join()
            .expect("thread");
        let (here, timeout) = (std::thread::current().id(), Duration::from_secs(60));
        let mut list = vec![other];
        let got = pick_idle(&mut list, Instant::now(), timeout, (here, true), |_| true);
        assert_eq!(got, None);
        assert_eq!(list.len(), 1, "left for its own thread");
        let got = pick_idle(&mut list, Instant::now(), timeout, (here, false), |_| true);
        assert_eq!(got, Some(7));
        list.push(Idle::now(8));
        let got = pick_idle(&mut list, Instant::now(), timeout, (here, true), |_| true);
        assert_eq!(got, Some(8));
    }
}
