//! Plain HTTP requests: the forward copy, the target choice with retries
//! of failed connections on idempotent requests, `proxy_timeout`,
//! `followRedirects`, and the upstream's answer rewritten for the client.

use super::balance::InFlight;
use super::body::{boxed, empty, ReqBody, ResBody};
use super::client;
use super::error::{error_response, ProxyError};
use super::forward::{
    outgoing_headers, outgoing_path, request_target, upstream_uri, Incoming, Kind,
};
use super::pool::{idempotent, PoolError, UpstreamBody};
use super::redirect;
use super::response::{self, Context};
use super::server::{Conn, RouteRuntime};
use super::wire::{RawNames, WireError};
use crate::plan::proxy::{ProxyOptions, Route, Target};
use http::{Request, Response, StatusCode, Version};
use hyper::body::Body;
use std::pin::Pin;

/// What the handler answers: the response, the upstream for the log
/// (`-` when none), and the in-flight count to hold until the body ends.
pub type Outcome = (Response<ResBody>, String, Option<InFlight>);

/// The error answer as an [`Outcome`], logged; an embedder's
/// [`Hooks::error`](super::embed::Hooks::error) may replace it.
pub fn failed(route: &Route, rt: &RouteRuntime, err: &ProxyError, upstream: String) -> Outcome {
    crate::log_error!("Proxy error: {err}");
    let res = error_response(route.options.error_page.as_ref(), err);
    let res = match &rt.hooks {
        Some(h) => h.error(err, res),
        None => res,
    };
    (res, upstream, None)
}

/// Proxies a plain HTTP request: forward copy, target choice with retries of
/// failed connections, `proxy_timeout`, response rewriting. `names`: the
/// wire lane read the request (with these header-name spellings), and its
/// upstream request may go on the lane too.
pub async fn web<B>(
    route: &Route,
    rt: &RouteRuntime,
    conn: &Conn,
    req: Request<B>,
    names: Option<&RawNames>,
) -> Outcome
where
    B: Body<Data = bytes::Bytes> + Send + 'static,
    B::Error: Into<super::body::BoxError>,
{
    let opts = &route.options;
    let (mut parts, body) = req.into_parts();
    // hyper's extensions (the header case map) go to the upstream request:
    // moved there, cloned only while another target may be tried.
    let mut extensions = std::mem::take(&mut parts.extensions);
    let url = request_target(&parts.uri);
    let incoming = Incoming::of(&parts, &url, conn.peer, conn.tls);
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
    // A request the wire lane read goes upstream on the lane too, its
    // path written as it is (no absolute URI built and taken apart).
    let wire = names.filter(|_| rt.hooks.is_none() && !opts.to_proxy);
    let mut body = Some(body);
    let mut tried = Vec::new();
    let mut last: Option<(ProxyError, String)> = None;
    loop {
        let Some(pick) = rt.balancer.pick(conn.peer.ip(), &tried) else {
            let (err, up) = last.unwrap_or((ProxyError::NoTarget, "-".to_owned()));
            return failed(route, rt, &err, up);
        };
        let (target, shown) = (pick.target(), pick.label().to_owned());
        let path = outgoing_path(opts, target, &incoming, strip);
        let headers = outgoing_headers(opts, target, &incoming, Kind::Web);
        let had_body = !retryable && body.as_ref().is_some_and(|b| !b.is_end_stream());
        let req_body = if retryable {
            empty()
        } else {
            body.take().unwrap_or_else(empty)
        };
        let uri = if wire.is_some() {
            // The path is written as it is: no byte that ends a request
            // target or breaks a line.
            let writable = path.bytes().all(|b| b > b' ' && b != 0x7f);
            writable.then(http::Uri::default)
        } else if opts.to_proxy {
            path.parse().ok()
        } else {
            upstream_uri(target, &path).ok()
        };
        let Some(uri) = uri else {
            return failed(route, rt, &ProxyError::BadRequest(path), shown);
        };
        let origin = opts.follow_redirects.then(|| redirect::Origin {
            method: parts.method.clone(),
            url: upstream_uri(target, &path).map_or(path.clone(), |u| u.to_string()),
            headers: headers.clone(),
            had_body,
        });
        let mut up = Request::new(req_body);
        *up.method_mut() = parts.method.clone();
        *up.uri_mut() = uri;
        *up.headers_mut() = headers;
        let last_try = !retryable || rt.balancer.targets().count() <= tried.len() + 1;
        *up.extensions_mut() = if last_try {
            std::mem::take(&mut extensions)
        } else {
            extensions.clone()
        };
        if let Some(h) = &rt.hooks {
            h.proxy_req(&mut up, &incoming);
        }
        let sent = send(rt, opts, target, wire.map(|n| (path.as_str(), n)), up);
        let result = match opts.proxy_timeout {
            Some(t) => match tokio::time::timeout(t, sent).await {
                Ok(r) => r,
                Err(_) => {
                    let err = ProxyError::Timeout {
                        target: shown.clone(),
                        timeout: t,
                    };
                    return failed(route, rt, &err, shown);
                }
            },
            None => sent.await,
        };
        match result {
            Ok(res) => {
                let res = match origin {
                    Some(origin) => {
                        // Boxed, as only `follow_redirects` routes need it.
                        let followed =
                            Box::pin(redirect::follow(rt, opts.proxy_timeout, origin, res));
                        match followed.await {
                            Ok(res) => res,
                            Err(err) => return failed(route, rt, &err, shown),
                        }
                    }
                    None => res,
                };
                let cx = Context {
                    req: &incoming,
                    version: parts.version,
                    target,
                };
                let mut res = proxied_response(route, &cx, res, false);
                if let Some(h) = &rt.hooks {
                    h.proxy_res(&mut res, &incoming);
                }
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
                    return failed(route, rt, &err, shown);
                }
                crate::log_warn!("Proxy error: {err}; trying another target");
                last = Some((err, shown));
            }
            Err(other) => {
                let err = other.into_error(shown.clone());
                return failed(route, rt, &err, shown);
            }
        }
    }
}

/// How sending upstream failed.
pub enum Failure {
    /// No connection could be made (retryable on another target).
    Connect(String),
    /// The client's request body broke (a bad chunk size, a cut
    /// connection): the client's fault, so 400 as node and nginx answer,
    /// not the upstream's 502.
    ClientBody(String),
    /// The exchange failed after connecting.
    Other(String),
}

impl Failure {
    /// The error the client is answered with.
    pub fn into_error(self, target: String) -> ProxyError {
        match self {
            Failure::Connect(reason) => ProxyError::Connect { target, reason },
            Failure::ClientBody(reason) => ProxyError::BadRequest(reason),
            Failure::Other(reason) => ProxyError::Upstream { target, reason },
        }
    }

    /// A failed exchange: the client's body when hyper says the body it
    /// was sending failed (a user error with a cause), else the upstream.
    fn of_exchange(e: &hyper::Error, reason: String) -> Failure {
        if e.is_user() && std::error::Error::source(e).is_some() {
            Failure::ClientBody(reason)
        } else {
            Failure::Other(reason)
        }
    }
}

/// Sends `req` through the pool, or on a fresh connection for `to_proxy`
/// (whose absolute-form target the pool would rewrite); with `wire`, on
/// the wire lane to `target`, for that path, with those header names.
pub async fn send(
    rt: &RouteRuntime,
    opts: &ProxyOptions,
    target: &Target,
    wire: Option<(&str, &RawNames)>,
    req: Request<ReqBody>,
) -> Result<Response<UpstreamBody>, Failure> {
    if let Some((path, names)) = wire {
        let keep_names = opts.preserve_header_key_case;
        let sent = rt.pool.request_wire(req, target, path, names, keep_names);
        return sent.await.map_err(pool_failure);
    }
    // hyper's client futures boxed: their kilobytes stay out of the lane's
    // per-request future, which is moved into a box of its own.
    if opts.to_proxy {
        return Box::pin(client::send_direct(&rt.connector, target, req))
            .await
            .map_err(|e| match e {
                client::DirectError::Connect(e) => Failure::Connect(e.to_string()),
                client::DirectError::Http(e) => Failure::of_exchange(&e, error_chain(&e)),
            });
    }
    Box::pin(rt.pool.request(req)).await.map_err(pool_failure)
}

/// A pooled request's failure, as the client is answered for it.
fn pool_failure(e: PoolError) -> Failure {
    let reason = error_chain(&e);
    match &e {
        PoolError::Connect(_) => Failure::Connect(reason),
        PoolError::Wire(WireError::Body(_)) => Failure::ClientBody(reason),
        PoolError::Http(h) => Failure::of_exchange(h, reason),
        PoolError::NoHost(_) | PoolError::Wire(_) => Failure::Other(reason),
    }
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
    res: Response<UpstreamBody>,
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
        crate::log_error!("Proxy forward: bad path {path}");
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
            Err(e) => {
                crate::log_error!("Proxy forward to {shown} failed: {}", error_chain(&e))
            }
        }
    });
}
