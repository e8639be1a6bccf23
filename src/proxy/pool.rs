//! Keep-alive upstream connections of one route (node-http-proxy's
//! `agent`), kept lean for the request path: idle HTTP/1.1 senders in a
//! short list per upstream, taken under one lock and put back when the
//! response body ends (no task per request waits for the connection to
//! become idle, and no hashing), preferring connections driven by the
//! caller's own worker thread.
//!
//! A request on a reused connection that the upstream closed before it was
//! sent is sent again on a new one (hyper hands it back unsent).

use super::body::ReqBody;
use super::client::Connector;
use crate::plan::proxy::Agent;
use bytes::Bytes;
use http::{header, HeaderValue, Request, Response, Uri};
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

/// A connection waiting for its next request.
struct Idle {
    sender: SendRequest<ReqBody>,
    since: Instant,
    /// The worker thread whose runtime drives the connection.
    thread: std::thread::ThreadId,
}

struct Inner {
    connector: Connector,
    max_idle: usize,
    idle_timeout: Duration,
    idle: Mutex<Vec<(Key, Vec<Idle>)>>,
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
        let (place, idle) = self.take_idle(tls, host, port);
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
            inner,
            slot,
            ended: false,
        })
    }

    /// The upstream's place in the list (added on first use) and an idle
    /// connection to it that is still open, preferring one driven by the
    /// caller's own worker thread.
    fn take_idle(&self, tls: bool, host: &str, port: u16) -> (Place, Option<SendRequest<ReqBody>>) {
        let here = std::thread::current().id();
        let mut all = self.0.idle.lock().unwrap_or_else(|p| p.into_inner());
        let place = match all.iter().position(|(k, _)| k.is(tls, host, port)) {
            Some(place) => place,
            None => {
                let key = Key {
                    tls,
                    host: host.to_owned(),
                    port,
                };
                all.push((key, Vec::new()));
                all.len() - 1
            }
        };
        let list = &mut all[place].1;
        let timeout = self.0.idle_timeout;
        // One clock reading for the whole list.
        let now = Instant::now();
        list.retain(|i| now.duration_since(i.since) < timeout && !i.sender.is_closed());
        let idle = list
            .iter()
            .rposition(|i| i.thread == here)
            .or_else(|| list.len().checked_sub(1))
            .map(|at| list.swap_remove(at).sender);
        (place, idle)
    }

    /// Opens a connection to the upstream at `place` and starts its task
    /// on this runtime.
    async fn connect(&self, place: Place) -> Result<SendRequest<ReqBody>, PoolError> {
        let (tls, host, port) = {
            let all = self.0.idle.lock().unwrap_or_else(|p| p.into_inner());
            let key = &all[place].0;
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
        if sender.is_closed() {
            return;
        }
        let idle = Idle {
            sender,
            since: Instant::now(),
            thread: std::thread::current().id(),
        };
        let mut all = self.0.idle.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((_, list)) = all.get_mut(place) {
            if list.len() < self.0.max_idle {
                list.push(idle);
            }
        }
    }
}

/// A connection lent to one response, returned when its body ends.
struct Slot {
    pool: Pool,
    place: Place,
    sender: SendRequest<ReqBody>,
}

/// An upstream response body: hyper's, giving its connection back to the
/// pool once it has been read to the end (a body dropped half-read closes
/// the connection instead).
pub struct UpstreamBody {
    inner: hyper::body::Incoming,
    slot: Option<Slot>,
    ended: bool,
}

impl UpstreamBody {
    /// A body on a connection that is not pooled.
    pub fn unpooled(inner: hyper::body::Incoming) -> Self {
        UpstreamBody {
            inner,
            slot: None,
            ended: false,
        }
    }
}

impl Drop for UpstreamBody {
    fn drop(&mut self) {
        if let Some(slot) = self.slot.take() {
            if self.ended || self.inner.is_end_stream() {
                slot.pool.put_back(slot.place, slot.sender);
            }
        }
    }
}

impl Body for UpstreamBody {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        let polled = Pin::new(&mut self.inner).poll_frame(cx);
        if let Poll::Ready(None) = polled {
            self.ended = true;
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
