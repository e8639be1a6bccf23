//! `cluster { ... }` (routes between servers) and `websocket { ... }`.

use super::value::BareNumber;
use super::{auth, tls, Block, Lowering};
use crate::config::error::{Diagnostic, ErrorKind};
use crate::config::tree::Node;
use crate::plan::cluster::{RouteAuth, RouteUrl};
use crate::plan::nats::defaults;
use crate::plan::{ClusterPlan, Secret, WebsocketPlan};
use std::time::Duration;

type Result<T> = std::result::Result<T, Diagnostic>;

/// Lowers the `cluster` block.
pub fn lower_cluster(cx: &mut Lowering, node: &Node) -> Option<ClusterPlan> {
    let mut b = Block::of(cx, node, "cluster")?;
    b.unsupported(&[
        ("pool_size", "route pooling (nats-server 2.10+)"),
        ("accounts", "per-account routes (nats-server 2.10+)"),
        ("compression", "route compression (nats-server 2.10+)"),
    ]);
    let listen = b.listen_address(cx, 0);
    let name = b.take(cx, &["name"], Node::non_empty);
    let auth = b
        .get(cx, &["authorization"])
        .and_then(|n| route_auth(cx, n));
    let routes = b
        .take(cx, &["routes"], |n| {
            n.strings()?
                .iter()
                .map(|u| route_url(n, u))
                .collect::<Result<Vec<_>>>()
        })
        .unwrap_or_default();
    let tls = b
        .get(cx, &["tls"])
        .and_then(|n| tls::lower(cx, n, "cluster.tls"));
    let plan = ClusterPlan {
        name,
        listen,
        advertise: b.take(cx, &["advertise", "cluster_advertise"], Node::non_empty),
        no_advertise: b.take(cx, &["no_advertise"], Node::bool).unwrap_or(false),
        connect_retries: b
            .take(cx, &["connect_retries"], |n| n.i32_in(0, i32::MAX))
            .unwrap_or(defaults::ROUTE_CONNECT_RETRIES),
        auth,
        routes,
        tls,
        permissions: b
            .get(cx, &["permissions"])
            .and_then(|n| auth::permissions(cx, n)),
    };
    b.finish(cx);
    Some(plan)
}

/// `cluster { authorization { user, password, timeout } }`.
fn route_auth(cx: &mut Lowering, node: &Node) -> Option<RouteAuth> {
    let mut b = Block::of(cx, node, "cluster.authorization")?;
    let user = b.take(cx, &["user", "username"], Node::non_empty);
    let password = b.take(cx, &["password", "pass"], Node::secret);
    let timeout = b
        .take(cx, &["timeout"], Node::seconds)
        .unwrap_or(defaults::AUTH_TIMEOUT);
    b.unsupported(&[
        ("token", "token authentication for routes"),
        ("users", "multiple route users"),
    ]);
    let pos = b.pos.clone();
    b.finish(cx);
    match user {
        Some(user) => Some(RouteAuth {
            user,
            password: password.unwrap_or_else(|| Secret::new(String::new())),
            timeout,
        }),
        None => {
            cx.invalid(
                &pos,
                "cluster authorization needs a user",
                "add `user: NAME` and `password: SECRET`",
            );
            None
        }
    }
}

/// `nats-route://[user:pass@]host:port` (also `nats://`, `tls://`).
fn route_url(node: &Node, text: &str) -> Result<RouteUrl> {
    let bad = |why: String| {
        Diagnostic::new(node.pos.clone(), ErrorKind::Invalid(why))
            .help("write nats-route://host:6222 or nats-route://user:password@host:6222")
    };
    let url = url::Url::parse(text).map_err(|e| bad(format!("route `{text}`: {e}")))?;
    if !matches!(url.scheme(), "nats-route" | "nats" | "tls" | "route") {
        return Err(bad(format!("route `{text}` has scheme `{}`", url.scheme())));
    }
    let host = url
        .host_str()
        .filter(|h| !h.is_empty())
        .ok_or_else(|| bad(format!("route `{text}` has no host")))?
        .trim_matches(['[', ']'])
        .to_owned();
    let port = url
        .port()
        .ok_or_else(|| bad(format!("route `{text}` has no port")))?;
    let user = (!url.username().is_empty()).then(|| url.username().to_owned());
    let password = url.password().map(str::to_owned);
    let mut display = url.clone();
    if password.is_some() {
        let _ = display.set_password(Some("xxxxx"));
    }
    Ok(RouteUrl {
        display: display.to_string(),
        host,
        port,
        user,
        password,
    })
}

/// Lowers the `websocket` block (NATS clients over WebSocket).
pub fn lower_websocket(cx: &mut Lowering, node: &Node) -> Option<WebsocketPlan> {
    let mut b = Block::of(cx, node, "websocket")?;
    b.unsupported(&[
        ("jwt_cookie", "JWT cookies (operator mode)"),
        ("authorization", "a separate websocket authorization block"),
        ("authentication", "a separate websocket authorization block"),
    ]);
    let listen = b.listen_address(cx, 0);
    let no_tls = b.take(cx, &["no_tls"], Node::bool).unwrap_or(false);
    let tls = b
        .get(cx, &["tls"])
        .and_then(|n| tls::lower(cx, n, "websocket.tls"));
    let plan = WebsocketPlan {
        listen,
        advertise: b.take(cx, &["advertise"], Node::non_empty),
        no_tls,
        tls,
        compression: b
            .take(cx, &["compression", "compress"], Node::bool)
            .unwrap_or(false),
        same_origin: b.take(cx, &["same_origin"], Node::bool).unwrap_or(false),
        allowed_origins: b
            .take(
                cx,
                &[
                    "allowed_origins",
                    "allowed_origin",
                    "allow_origins",
                    "allow_origin",
                    "origins",
                    "origin",
                ],
                Node::strings,
            )
            .unwrap_or_default(),
        handshake_timeout: b
            .take(cx, &["handshake_timeout"], |n| {
                n.duration(BareNumber::Seconds)
            })
            .unwrap_or(Duration::from_secs(2)),
        no_auth_user: b.take(cx, &["no_auth_user"], Node::non_empty),
    };
    let pos = b.pos.clone();
    b.finish(cx);
    if !plan.no_tls && plan.tls.is_none() {
        cx.invalid(
            &pos,
            "websocket requires TLS: set `tls { ... }` or `no_tls: true`",
            "add `no_tls: true` for plain ws:// (as nats-server requires)",
        );
    }
    Some(plan)
}
