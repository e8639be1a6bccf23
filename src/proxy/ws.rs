//! WebSocket upgrades (node's ws-incoming): the upgrade request goes to a
//! target with the same header rules (xfwd proto `ws`/`wss`, no
//! x-forwarded-host); a 101 is passed back and the two connections are
//! spliced byte for byte; any other answer is passed back and the
//! connection closed; a failed upgrade answers 502. Neither `timeout` nor
//! `proxy_timeout` applies, as in node.

use super::body::empty;
use super::error::ProxyError;
use super::forward::{outgoing_headers, outgoing_path, upstream_uri, Incoming, Kind};
use super::response::Context;
use super::server::{Conn, RouteRuntime};
use super::web::{failed, proxied_response, send, Failure, Outcome};
use crate::plan::proxy::Route;
use http::{header, HeaderValue, Method, Request, StatusCode};
use hyper::upgrade::{OnUpgrade, Upgraded};
use hyper_util::rt::TokioIo;
use std::time::Duration;
use tokio::io::AsyncWriteExt;

/// After one direction ends, how long the other may still drain.
const CLOSE_GRACE: Duration = Duration::from_secs(2);

/// Proxies one upgrade request.
pub async fn proxy(
    route: &Route,
    rt: &RouteRuntime,
    conn: &Conn,
    mut req: Request<hyper::body::Incoming>,
) -> Outcome {
    let opts = &route.options;
    let client_side = hyper::upgrade::on(&mut req);
    let (parts, _body) = req.into_parts();
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
    let Some(pick) = rt.balancer.pick(conn.peer.ip(), &[]) else {
        return failed(route, &ProxyError::NoTarget, "-".to_owned());
    };
    let target = pick.target().clone();
    let shown = target.to_string();
    let strip = route.strip_prefix.then_some(route.path.as_str());
    let path = outgoing_path(opts, &target, &incoming, strip);
    let uri = if opts.to_proxy {
        path.parse()
    } else {
        upstream_uri(&target, &path)
    };
    let Ok(uri) = uri else {
        return failed(route, &ProxyError::BadRequest(path), shown);
    };
    let mut up = Request::new(empty());
    *up.method_mut() = Method::GET;
    *up.uri_mut() = uri;
    *up.headers_mut() = outgoing_headers(opts, &target, &incoming, Kind::WebSocket);
    let mut res = match send(rt, opts.to_proxy, &target, up).await {
        Ok(res) => res,
        Err(Failure::Connect(reason)) => {
            rt.balancer.connect_failed(pick.index());
            let err = ProxyError::Connect {
                target: shown.clone(),
                reason,
            };
            return failed(route, &err, shown);
        }
        Err(Failure::Other(reason)) => {
            let err = ProxyError::Upstream {
                target: shown.clone(),
                reason,
            };
            return failed(route, &err, shown);
        }
    };
    let cx = Context {
        req: &incoming,
        version: parts.version,
        target: &target,
    };
    if res.status() != StatusCode::SWITCHING_PROTOCOLS {
        let mut out = proxied_response(route, &cx, res, false);
        out.headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
        return (out, shown, Some(pick));
    }
    let upstream_side = hyper::upgrade::on(&mut res);
    let out = proxied_response(route, &cx, res, true);
    let peer = conn.peer;
    let label = shown.clone();
    tokio::spawn(async move {
        splice(client_side, upstream_side, peer, label).await;
        drop(pick);
    });
    (out, shown, None)
}

/// Waits for both upgrades, then copies bytes both ways; when either side
/// closes, the other gets [`CLOSE_GRACE`] to finish, then both close.
async fn splice(
    client: OnUpgrade,
    upstream: OnUpgrade,
    peer: std::net::SocketAddr,
    target: String,
) {
    let (client, upstream) = match tokio::try_join!(client, upstream) {
        Ok(pair) => pair,
        Err(e) => {
            eprintln!("edge: proxy websocket {peer} -> {target}: upgrade failed: {e}");
            return;
        }
    };
    eprintln!("edge: proxy websocket open {peer} -> {target}");
    let (sent, received) = pipe(client, upstream).await;
    eprintln!(
        "edge: proxy websocket close {peer} -> {target} (sent {sent} bytes, received {received} bytes)"
    );
}

/// The byte splice; returns bytes client->upstream and upstream->client.
async fn pipe(client: Upgraded, upstream: Upgraded) -> (u64, u64) {
    let (mut cr, mut cw) = tokio::io::split(TokioIo::new(client));
    let (mut ur, mut uw) = tokio::io::split(TokioIo::new(upstream));
    let up = async {
        let n = tokio::io::copy(&mut cr, &mut uw).await.unwrap_or(0);
        let _ = uw.shutdown().await;
        n
    };
    let down = async {
        let n = tokio::io::copy(&mut ur, &mut cw).await.unwrap_or(0);
        let _ = cw.shutdown().await;
        n
    };
    tokio::pin!(up, down);
    tokio::select! {
        sent = &mut up => {
            let received = tokio::time::timeout(CLOSE_GRACE, &mut down).await.unwrap_or(0);
            (sent, received)
        }
        received = &mut down => {
            let sent = tokio::time::timeout(CLOSE_GRACE, &mut up).await.unwrap_or(0);
            (sent, received)
        }
    }
}
