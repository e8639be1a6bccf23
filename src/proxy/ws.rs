//! WebSocket upgrades (node's ws-incoming): the upgrade request goes to a
//! target with the same header rules (xfwd proto `ws`/`wss`, no
//! x-forwarded-host); a 101 is passed back and the two connections are
//! spliced byte for byte; any other answer is passed back and the
//! connection closed; a failed upgrade answers 502. Neither `timeout` nor
//! `proxy_timeout` applies, as in node. node's `open`/`close` events are
//! logged, and published on the route's `events_subject` when set.

use super::body::empty;
use super::drain::Open;
use super::error::ProxyError;
use super::events::json_string;
use super::forward::{outgoing_headers, outgoing_path, upstream_uri, Incoming, Kind};
use super::response::Context;
use super::server::{Conn, RouteRuntime};
use super::splice::{pipe, Side};
use super::web::{failed, proxied_response, send, Failure, Outcome};
use crate::plan::proxy::Route;
use http::{header, HeaderValue, Method, Request, StatusCode};
use hyper::upgrade::OnUpgrade;

/// Proxies one upgrade request.
///
/// `open` counts the splice in its listener's lame duck drain, so a
/// draining edge waits for the WebSocket (up to the lame duck duration)
/// instead of cutting it when the last HTTP connection is gone.
pub async fn proxy<B>(
    route: &Route,
    rt: &RouteRuntime,
    conn: &Conn,
    mut req: Request<B>,
    open: Option<Open>,
) -> Outcome {
    let opts = &route.options;
    let client_side = hyper::upgrade::on(&mut req);
    let (parts, _body) = req.into_parts();
    // Owned: the splice task's open/close events carry it.
    let url = parts.uri.to_string();
    let incoming = Incoming::of(&parts, &url, conn.peer, conn.tls);
    let Some(pick) = rt.balancer.pick(conn.peer.ip(), &[]) else {
        return failed(route, rt, &ProxyError::NoTarget, "-".to_owned());
    };
    let target = pick.target().clone();
    let shown = pick.label().to_owned();
    let strip = route.strip_prefix.then_some(route.path.as_str());
    let path = outgoing_path(opts, &target, &incoming, strip);
    let uri = if opts.to_proxy {
        path.parse()
    } else {
        upstream_uri(&target, &path)
    };
    let Ok(uri) = uri else {
        return failed(route, rt, &ProxyError::BadRequest(path), shown);
    };
    let mut up = Request::new(empty());
    *up.method_mut() = Method::GET;
    *up.uri_mut() = uri;
    *up.headers_mut() = outgoing_headers(opts, &target, &incoming, Kind::WebSocket);
    if let Some(h) = &rt.hooks {
        h.proxy_req(&mut up, &incoming);
    }
    let mut res = match send(rt, opts, &target, None, up).await {
        Ok(res) => res,
        Err(Failure::Connect(reason)) => {
            rt.balancer.connect_failed(pick.index());
            let err = ProxyError::Connect {
                target: shown.clone(),
                reason,
            };
            return failed(route, rt, &err, shown);
        }
        Err(other) => {
            let err = other.into_error(shown.clone());
            return failed(route, rt, &err, shown);
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
    let mut out = proxied_response(route, &cx, res, true);
    let hooks = rt.hooks.clone();
    if let Some(h) = &hooks {
        h.proxy_res(&mut out, &incoming);
    }
    let peer = conn.peer;
    let label = shown.clone();
    let events = rt.events.clone();
    let path = url.clone();
    tokio::spawn(async move {
        let publish = |event: &str, extra: String| {
            if let Some((events, subject)) = &events {
                events.publish(
                    subject,
                    format!(
                        "{{\"event\":\"{event}\",\"client\":\"{peer}\",\"target\":{},\"path\":{}{extra}}}",
                        json_string(&label),
                        json_string(&path)
                    ),
                );
            }
        };
        if let Some((sent, received)) = splice(client_side, upstream_side, peer, &label, || {
            publish("open", String::new());
            if let Some(h) = &hooks {
                h.open(peer, &label);
            }
        })
        .await
        {
            publish("close", format!(",\"sent\":{sent},\"received\":{received}"));
            if let Some(h) = &hooks {
                h.close(peer, &label, sent, received);
            }
        }
        drop(pick);
        drop(open);
    });
    (out, shown, None)
}

/// Waits for both upgrades, then splices them ([`pipe`]). `opened` runs
/// once both sides are upgraded; the byte counts (client->upstream,
/// upstream->client) are returned, `None` when the upgrade never completed.
async fn splice(
    client: OnUpgrade,
    upstream: OnUpgrade,
    peer: std::net::SocketAddr,
    target: &str,
    opened: impl FnOnce(),
) -> Option<(u64, u64)> {
    let sides = match tokio::try_join!(client, upstream) {
        Ok((client, upstream)) => Side::client(client).map(|c| (c, Side::upstream(upstream))),
        Err(e) => Err(std::io::Error::other(e)),
    };
    let (client, upstream) = match sides {
        Ok(pair) => pair,
        Err(e) => {
            crate::log_error!("Proxy websocket {peer} -> {target}: upgrade failed: {e}");
            return None;
        }
    };
    crate::log_info!("Proxy websocket open {peer} -> {target}");
    opened();
    let (sent, received) = pipe(client, upstream).await;
    crate::log_info!(
        "Proxy websocket close {peer} -> {target} (sent {sent} bytes, received {received} bytes)"
    );
    Some((sent, received))
}
