//! `proxy` blocks: listeners, routes, and every node-http-proxy option.
//!
//! A proxy block and each of its routes take the same settings (upstreams,
//! balancing, health checks, node-http-proxy options, event declarations);
//! the block's are the defaults its routes start from. A route replaces
//! what it sets, except the header maps (`headers`, `request_headers`,
//! `response_headers`), which merge per case-insensitive name with the
//! route winning. Every option is read under its snake_case and camelCase
//! names. A block without `routes` but with a `target` (or `forward`) is
//! one route for every request, as `createProxyServer({target})` is.

use super::{tls, BareNumber, Block, Lowering};
use crate::config::error::{Diagnostic, ErrorKind};
use crate::config::source::Pos;
use crate::config::tree::{Node, Value};
use crate::plan::proxy::{
    Agent, Balance, BasicAuth, ErrorPage, HeaderEdits, HealthCheck, HostPattern, ProtocolRewrite,
    ProxyOptions, Rewrite, Route, Scheme, Target,
};
use crate::plan::{HostPort, ProxyPlan};
use std::collections::HashMap;
use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

type Result<T> = std::result::Result<T, Diagnostic>;

/// The host a `listen` without one binds, as nats-server's `listen`.
const DEFAULT_LISTEN_HOST: &str = "0.0.0.0";

/// Lowers `proxy { ... }` or `proxy = [ {...}, ... ]`.
pub fn lower_proxies(cx: &mut Lowering, node: &Node) -> Vec<ProxyPlan> {
    let blocks = one_or_many(node);
    let mut seen: Vec<(HostPort, Pos)> = Vec::new();
    let mut plans = Vec::new();
    for block in blocks {
        let Some((plan, listen_pos)) = lower_proxy(cx, block) else {
            continue;
        };
        if let Some((_, first)) = seen.iter().find(|(hp, _)| hp.overlaps(&plan.listen)) {
            cx.invalid(
                &listen_pos,
                format!(
                    "two proxy blocks listen on {} (the other one at {first})",
                    plan.listen
                ),
                "give each proxy block its own port, or put the routes of both in one block",
            );
        }
        seen.push((plan.listen.clone(), listen_pos));
        plans.push(plan);
    }
    plans
}

/// The items of a list, or the value itself: `proxy` and `routes` take
/// one block or a list of them.
fn one_or_many(node: &Node) -> Vec<&Node> {
    match &node.value {
        Value::Array(items) => items.iter().collect(),
        _ => vec![node],
    }
}

/// One proxy block, and where its `listen` was written.
fn lower_proxy(cx: &mut Lowering, node: &Node) -> Option<(ProxyPlan, Pos)> {
    let mut b = Block::of(cx, node, "proxy")?;
    let listen_node = b.get(cx, &["listen"]);
    let listen = listen_node.and_then(|n| cx.ok(n.host_port(DEFAULT_LISTEN_HOST)));
    let tls = b
        .get(cx, &["tls", "ssl"])
        .and_then(|n| tls::lower(cx, n, "proxy.tls"));
    let workers = b
        .take(cx, &["workers"], |n| n.int_in(0, 1024))
        .and_then(|w| usize::try_from(w).ok())
        .unwrap_or(0);
    let defaults = read_settings(cx, &mut b, &Settings::default());
    let routes_node = b.get(cx, &["routes"]);
    let pos = b.pos.clone();
    b.finish(cx);
    let routes = match routes_node {
        Some(n) => lower_routes(cx, n, &defaults),
        None => implicit_route(cx, &pos, defaults),
    };
    let Some(listen_node) = listen_node else {
        cx.invalid(
            &pos,
            "proxy block has no `listen`",
            "add listen: \"0.0.0.0:8080\" (or just the port: listen: 8080)",
        );
        return None;
    };
    let mut plan = ProxyPlan::new(listen?, tls, routes);
    plan.workers = workers;
    Some((plan, listen_node.pos.clone()))
}

/// A block without `routes`: its own target serves every request.
fn implicit_route(cx: &mut Lowering, pos: &Pos, s: Settings) -> Vec<Route> {
    if s.targets.is_empty() && s.options.forward.is_none() {
        if !s.upstream_failed {
            cx.invalid(
                pos,
                "proxy block has no routes and no target",
                "add routes = [ { match { path: \"/\" }, target: \"http://127.0.0.1:9000\" } ], \
                 or target: \"http://127.0.0.1:9000\" for every request",
            );
        }
        return Vec::new();
    }
    build_route(cx, pos, HostPattern::Any, "/".to_owned(), s)
        .into_iter()
        .collect()
}

/// `routes = [ ... ]` (or one route block); two routes with the same match
/// are an error naming both.
fn lower_routes(cx: &mut Lowering, node: &Node, defaults: &Settings) -> Vec<Route> {
    let items = one_or_many(node);
    if items.is_empty() {
        cx.invalid(
            &node.pos,
            "`routes` is empty",
            "add a route: { match { path: \"/\" }, target: \"http://127.0.0.1:9000\" }",
        );
    }
    let mut seen: HashMap<(HostPattern, String), Pos> = HashMap::new();
    let mut routes = Vec::new();
    for item in items {
        let Some((route, at)) = lower_route(cx, item, defaults) else {
            continue;
        };
        let key = (route.host.clone(), route.path.clone());
        if let Some(first) = seen.get(&key) {
            cx.invalid(
                &at,
                format!(
                    "this route matches the same requests ({} path {}) as the route at {first}",
                    route.host, route.path
                ),
                "merge the two routes, or change the `match` of one of them",
            );
            continue;
        }
        seen.insert(key, at);
        routes.push(route);
    }
    routes
}

/// One route, and the position of its `match` (the route's when absent).
fn lower_route(cx: &mut Lowering, node: &Node, defaults: &Settings) -> Option<(Route, Pos)> {
    let mut b = Block::of(cx, node, "proxy route")?;
    let match_node = b.get(cx, &["match"]);
    let matched = match match_node {
        Some(n) => lower_match(cx, n),
        None => Some((HostPattern::Any, "/".to_owned())),
    };
    let settings = read_settings(cx, &mut b, defaults);
    let pos = b.pos.clone();
    b.finish(cx);
    let (host, path) = matched?;
    let route = build_route(cx, &pos, host, path, settings)?;
    let at = match_node.map_or(pos, |n| n.pos.clone());
    Some((route, at))
}

/// `match { host, path }`; neither means every request.
fn lower_match(cx: &mut Lowering, node: &Node) -> Option<(HostPattern, String)> {
    let mut b = Block::of(cx, node, "route match")?;
    let host = b.get(cx, &["host"]).map(|n| cx.ok(host_pattern(n)));
    let path = b.get(cx, &["path"]).map(|n| cx.ok(path_prefix(n)));
    b.finish(cx);
    let host = match host {
        None => HostPattern::Any,
        Some(h) => h?,
    };
    let path = match path {
        None => "/".to_owned(),
        Some(p) => p?,
    };
    Some((host, path))
}

/// Checks what only the merged settings can tell, and builds the route.
fn build_route(
    cx: &mut Lowering,
    pos: &Pos,
    host: HostPattern,
    path: String,
    s: Settings,
) -> Option<Route> {
    if s.upstream_failed {
        return None;
    }
    if s.targets.is_empty() && s.options.forward.is_none() {
        cx.invalid(
            pos,
            "route has no target",
            "add target: \"http://127.0.0.1:9000\" (or targets: [...] to balance over several)",
        );
        return None;
    }
    if s.targets.is_empty() && s.health_check.is_some() {
        cx.invalid(
            pos,
            "a forward-only route has no targets to health-check",
            "add target or targets, or health_check: false",
        );
        return None;
    }
    Some(Route {
        host,
        path,
        strip_prefix: s.strip_prefix,
        targets: s.targets,
        balance: s.balance,
        health_check: s.health_check,
        options: s.options,
    })
}

/// What a proxy block and a route both take: the block's values are the
/// defaults of its routes.
#[derive(Clone, Debug, Default)]
struct Settings {
    targets: Vec<Target>,
    strip_prefix: bool,
    balance: Balance,
    health_check: Option<HealthCheck>,
    options: ProxyOptions,
    /// A `target`, `targets` or `forward` was written but is invalid (its
    /// error is reported): no "route has no target" on top of it.
    upstream_failed: bool,
}

/// Reads the settings a block sets, over `base`.
fn read_settings(cx: &mut Lowering, b: &mut Block<'_>, base: &Settings) -> Settings {
    let mut s = base.clone();
    read_upstreams(cx, b, &mut s);
    set(
        cx,
        b,
        &["strip_prefix", "stripPrefix"],
        &mut s.strip_prefix,
        Node::bool,
    );
    set(cx, b, &["balance"], &mut s.balance, balance);
    set_cx(
        cx,
        b,
        &["health_check", "healthCheck"],
        &mut s.health_check,
        health_check,
    );
    read_options(cx, b, &mut s);
    s
}

/// `target` (one upstream) or `targets` (several), not both.
fn read_upstreams(cx: &mut Lowering, b: &mut Block<'_>, s: &mut Settings) {
    let one = b.get(cx, &["target"]);
    let many = b.get(cx, &["targets"]);
    let read = match (one, many) {
        (Some(_), Some(n)) => {
            cx.invalid(
                &n.pos,
                format!("{} sets both `target` and `targets`", b.what),
                "keep `target` for one upstream, or list every upstream in `targets`",
            );
            None
        }
        (Some(n), None) => Some(target(cx, n).map(|t| vec![t])),
        (None, Some(n)) => Some(targets(cx, n)),
        (None, None) => return,
    };
    match read.flatten() {
        Some(list) => s.targets = list,
        None => s.upstream_failed = true,
    }
}

/// Reads one key into `slot` when it is set and valid.
fn set<'t, T>(
    cx: &mut Lowering,
    b: &mut Block<'t>,
    names: &[&'static str],
    slot: &mut T,
    convert: impl FnOnce(&'t Node) -> Result<T>,
) {
    if let Some(v) = b.take(cx, names, convert) {
        *slot = v;
    }
}

/// As [`set`], for values that are blocks with keys of their own.
fn set_cx<'t, T>(
    cx: &mut Lowering,
    b: &mut Block<'t>,
    names: &[&'static str],
    slot: &mut T,
    convert: impl FnOnce(&mut Lowering, &'t Node) -> Option<T>,
) {
    if let Some(v) = b.get(cx, names).and_then(|n| convert(cx, n)) {
        *slot = v;
    }
}

/// Every node-http-proxy option and event declaration.
fn read_options(cx: &mut Lowering, b: &mut Block<'_>, s: &mut Settings) {
    if let Some(n) = b.get(cx, &["forward"]) {
        match target(cx, n) {
            Some(t) => s.options.forward = Some(t),
            None => s.upstream_failed = true,
        }
    }
    let o = &mut s.options;
    set_cx(cx, b, &["agent"], &mut o.agent, agent);
    read_flags(cx, b, o);
    set(cx, b, &["ca_file", "caFile"], &mut o.ca_file, |n| {
        ca_file(n).map(Some)
    });
    set(
        cx,
        b,
        &["local_address", "localAddress"],
        &mut o.local_address,
        |n| ip(n).map(Some),
    );
    set(cx, b, &["auth"], &mut o.auth, |n| basic_auth(n).map(Some));
    set(
        cx,
        b,
        &["host_rewrite", "hostRewrite"],
        &mut o.host_rewrite,
        |n| host_rewrite(n).map(Some),
    );
    set(
        cx,
        b,
        &["protocol_rewrite", "protocolRewrite"],
        &mut o.protocol_rewrite,
        |n| protocol_rewrite(n).map(Some),
    );
    set(
        cx,
        b,
        &["cookie_domain_rewrite", "cookieDomainRewrite"],
        &mut o.cookie_domain_rewrite,
        rewrite,
    );
    set(
        cx,
        b,
        &["cookie_path_rewrite", "cookiePathRewrite"],
        &mut o.cookie_path_rewrite,
        rewrite,
    );
    if let Some(h) = b.take(cx, &["headers"], header_map) {
        merge_pairs(&mut o.headers, h);
    }
    set(
        cx,
        b,
        &["proxy_timeout", "proxyTimeout"],
        &mut o.proxy_timeout,
        |n| positive_duration(n).map(Some),
    );
    set(cx, b, &["timeout"], &mut o.timeout, |n| {
        positive_duration(n).map(Some)
    });
    read_events(cx, b, o);
}

/// The boolean options.
fn read_flags(cx: &mut Lowering, b: &mut Block<'_>, o: &mut ProxyOptions) {
    let flags: [(&[&'static str], &mut bool); 10] = [
        (&["ws"], &mut o.ws),
        (&["xfwd"], &mut o.xfwd),
        (&["secure"], &mut o.secure),
        (&["to_proxy", "toProxy"], &mut o.to_proxy),
        (&["prepend_path", "prependPath"], &mut o.prepend_path),
        (&["ignore_path", "ignorePath"], &mut o.ignore_path),
        (&["change_origin", "changeOrigin"], &mut o.change_origin),
        (
            &["preserve_header_key_case", "preserveHeaderKeyCase"],
            &mut o.preserve_header_key_case,
        ),
        (&["auto_rewrite", "autoRewrite"], &mut o.auto_rewrite),
        (
            &["follow_redirects", "followRedirects"],
            &mut o.follow_redirects,
        ),
    ];
    for (names, slot) in flags {
        set(cx, b, names, slot, Node::bool);
    }
}

/// The declarations replacing node-http-proxy's events.
fn read_events(cx: &mut Lowering, b: &mut Block<'_>, o: &mut ProxyOptions) {
    let edits = [
        (
            &["request_headers", "requestHeaders"],
            &mut o.request_headers,
            "proxy request_headers",
        ),
        (
            &["response_headers", "responseHeaders"],
            &mut o.response_headers,
            "proxy response_headers",
        ),
    ];
    for (names, slot, what) in edits {
        if let Some(e) = b.get(cx, names).and_then(|n| header_edits(cx, n, what)) {
            merge_edits(slot, e);
        }
    }
    set_cx(
        cx,
        b,
        &["error_page", "errorPage"],
        &mut o.error_page,
        |cx, n| error_page(cx, n).map(Some),
    );
    set(
        cx,
        b,
        &["events_subject", "eventsSubject"],
        &mut o.events_subject,
        |n| subject(n).map(Some),
    );
}

fn invalid(pos: &Pos, message: impl Into<String>, help: impl Into<String>) -> Diagnostic {
    Diagnostic::new(pos.clone(), ErrorKind::Invalid(message.into())).help(help)
}

// ---- upstreams -------------------------------------------------------------

/// `targets = [ ... ]`: at least one upstream; `None` when any is invalid.
fn targets(cx: &mut Lowering, node: &Node) -> Option<Vec<Target>> {
    let items = cx.ok(node.list())?;
    if items.is_empty() {
        cx.invalid(
            &node.pos,
            "`targets` is empty",
            "list at least one upstream: [\"http://10.0.0.1:80\", \"http://10.0.0.2:80\"]",
        );
        return None;
    }
    let all: Vec<Option<Target>> = items.iter().map(|n| target(cx, n)).collect();
    all.into_iter().collect()
}

/// An upstream as a URL string or `{protocol, host, port, path}`.
fn target(cx: &mut Lowering, node: &Node) -> Option<Target> {
    match &node.value {
        Value::Map(_) => target_object(cx, node),
        _ => cx.ok(node.str().and_then(|text| target_url(&node.pos, text))),
    }
}

const SCHEME_HELP: &str = "use http://, https://, ws:// or wss://";

fn target_url(pos: &Pos, text: &str) -> Result<Target> {
    if !text.contains("://") && looks_like_host_port(text) {
        return Err(invalid(
            pos,
            format!("target `{text}` has no scheme"),
            format!("write the scheme: \"http://{text}\""),
        ));
    }
    let url = url::Url::parse(text).map_err(|e| {
        invalid(
            pos,
            format!("target `{text}` is not a valid URL: {e}"),
            "write e.g. \"http://127.0.0.1:9000\" or \"https://api.internal/base\"",
        )
    })?;
    let scheme = Scheme::parse(url.scheme()).ok_or_else(|| {
        invalid(
            pos,
            format!("unsupported target scheme `{}`", url.scheme()),
            SCHEME_HELP,
        )
    })?;
    if !url.username().is_empty() || url.password().is_some() {
        return Err(invalid(
            pos,
            "a target URL cannot carry credentials",
            "remove `user:password@` from the URL and set auth: \"user:password\"",
        ));
    }
    if url.fragment().is_some() {
        return Err(invalid(
            pos,
            "a target URL cannot have a #fragment",
            "remove the `#...` part",
        ));
    }
    let host = url.host_str().filter(|h| !h.is_empty()).ok_or_else(|| {
        invalid(
            pos,
            format!("target `{text}` has no host"),
            "write e.g. \"http://127.0.0.1:9000\"",
        )
    })?;
    let port = url.port().unwrap_or(scheme.default_port());
    if port == 0 {
        return Err(invalid(
            pos,
            "a target cannot use port 0",
            "write the upstream's port",
        ));
    }
    let mut path = url.path().to_owned();
    if let Some(q) = url.query() {
        path.push('?');
        path.push_str(q);
    }
    Ok(Target {
        scheme,
        host: unbracket(host).to_owned(),
        port,
        path,
    })
}

/// `host`, `host:port` or `[v6]:port`: an upstream written without its
/// scheme (as opposed to `mailto:x`, a URL of another scheme).
fn looks_like_host_port(text: &str) -> bool {
    match text.rsplit_once(':') {
        None => true,
        Some((_, port)) => port.bytes().all(|b| b.is_ascii_digit()),
    }
}

/// node-http-proxy's object form of `target`/`forward`.
fn target_object(cx: &mut Lowering, node: &Node) -> Option<Target> {
    let mut b = Block::of(cx, node, "proxy target")?;
    let scheme = b.get(cx, &["protocol"]).map(|n| cx.ok(protocol(n)));
    let host_node = b.get(cx, &["host", "hostname"]);
    let host = host_node.map(|n| cx.ok(target_host(n)));
    let port = b.get(cx, &["port"]).map(|n| cx.ok(target_port(n)));
    let path = b.get(cx, &["path"]).map(|n| cx.ok(target_path(n)));
    let pos = b.pos.clone();
    b.finish(cx);
    if host_node.is_none() {
        cx.invalid(&pos, "target has no host", "add host: \"127.0.0.1\"");
    }
    let scheme = scheme.unwrap_or(Some(Scheme::Http))?;
    Some(Target {
        scheme,
        host: host??,
        port: port.unwrap_or(Some(scheme.default_port()))?,
        path: path.unwrap_or_else(|| Some("/".to_owned()))?,
    })
}

/// `protocol: http` or `"http:"` (node's `url.parse` keeps the colon).
fn protocol(node: &Node) -> Result<Scheme> {
    let text = node.str()?;
    Scheme::parse(text.strip_suffix(':').unwrap_or(text)).ok_or_else(|| {
        invalid(
            &node.pos,
            format!("unsupported protocol `{text}`"),
            "use http, https, ws or wss",
        )
    })
}

fn target_host(node: &Node) -> Result<String> {
    let text = node.non_empty()?;
    let bare = unbracket(&text);
    let parsed = if bare.contains(':') {
        url::Host::parse(&format!("[{bare}]"))
    } else {
        url::Host::parse(bare)
    };
    match parsed {
        Ok(url::Host::Ipv6(ip)) => Ok(ip.to_string()),
        Ok(h) if !bare.contains(['/', '@', '?', '#']) => Ok(h.to_string()),
        _ => Err(invalid(
            &node.pos,
            format!("`{text}` is not a host name or IP address"),
            "write only the host here; the port goes in `port`, the path in `path`",
        )),
    }
}

/// An IPv6 literal as the plan stores it: without its brackets.
fn unbracket(host: &str) -> &str {
    host.strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host)
}

fn target_port(node: &Node) -> Result<u16> {
    node.int_in(1, 65535)
        .map(|p| p as u16)
        .map_err(|d| d.help("write the port as a number, e.g. port: 9000"))
}

fn target_path(node: &Node) -> Result<String> {
    let path = node.non_empty()?;
    if !path.starts_with('/') || path.contains(char::is_whitespace) || path.contains('#') {
        return Err(invalid(
            &node.pos,
            format!("target path `{path}` must start with `/` and have no spaces or `#`"),
            format!("write path: \"/{}\"", path.trim_start_matches('/').trim()),
        ));
    }
    Ok(path)
}

fn balance(node: &Node) -> Result<Balance> {
    let text = node.str()?;
    let key: String = text
        .chars()
        .filter(|c| !matches!(c, '_' | '-'))
        .collect::<String>()
        .to_ascii_lowercase();
    match key.as_str() {
        "roundrobin" => Ok(Balance::RoundRobin),
        "leastconn" => Ok(Balance::LeastConn),
        "random" => Ok(Balance::Random),
        "iphash" => Ok(Balance::IpHash),
        _ => Err(invalid(
            &node.pos,
            format!("unknown balance `{text}`"),
            "use round_robin, least_conn, random or ip_hash",
        )),
    }
}

/// `health_check { ... }`, `true` for the defaults, `false` for none.
fn health_check(cx: &mut Lowering, node: &Node) -> Option<Option<HealthCheck>> {
    if let Value::Bool(on) = node.value {
        return Some(on.then(HealthCheck::default));
    }
    let mut b = Block::of(cx, node, "proxy health_check")?;
    let mut h = HealthCheck::default();
    set(cx, &mut b, &["path"], &mut h.path, check_path);
    set(
        cx,
        &mut b,
        &["interval"],
        &mut h.interval,
        positive_duration,
    );
    set(cx, &mut b, &["timeout"], &mut h.timeout, positive_duration);
    set(
        cx,
        &mut b,
        &["unhealthy_threshold", "unhealthyThreshold"],
        &mut h.unhealthy_threshold,
        threshold,
    );
    set(
        cx,
        &mut b,
        &["healthy_threshold", "healthyThreshold"],
        &mut h.healthy_threshold,
        threshold,
    );
    b.finish(cx);
    Some(Some(h))
}

fn check_path(node: &Node) -> Result<String> {
    let path = node.non_empty()?;
    if !path.starts_with('/') || path.contains(|c: char| c.is_whitespace() || c.is_control()) {
        return Err(invalid(
            &node.pos,
            format!("health check path `{path}` must start with `/` and have no spaces"),
            "write e.g. path: \"/healthz\"",
        ));
    }
    Ok(path)
}

fn threshold(node: &Node) -> Result<u32> {
    node.int_in(1, 1000)
        .map(|t| t as u32)
        .map_err(|d| d.help("a threshold counts checks in a row: use 1 or more"))
}

/// A proxy duration: a unit is required (node-http-proxy counted
/// milliseconds, nats-server seconds), and zero is refused since leaving
/// the key out is how to say "no timeout".
fn positive_duration(node: &Node) -> Result<Duration> {
    let d = node.duration(BareNumber::Rejected)?;
    if d.is_zero() {
        return Err(invalid(
            &node.pos,
            "a zero duration is not allowed here",
            "leave the key out for no limit, or write e.g. \"30s\"",
        ));
    }
    Ok(d)
}

// ---- options ---------------------------------------------------------------

/// `agent { keep_alive, max_idle_per_host, idle_timeout }`, or `false`
/// (node's "no agent": no pooling).
fn agent(cx: &mut Lowering, node: &Node) -> Option<Agent> {
    if let Value::Bool(on) = node.value {
        return Some(Agent {
            keep_alive: on,
            ..Agent::default()
        });
    }
    let mut b = Block::of(cx, node, "proxy agent")?;
    let mut a = Agent::default();
    set(
        cx,
        &mut b,
        &["keep_alive", "keepAlive"],
        &mut a.keep_alive,
        Node::bool,
    );
    set(
        cx,
        &mut b,
        &["max_idle_per_host", "maxIdlePerHost"],
        &mut a.max_idle_per_host,
        |n| {
            n.int_in(0, 1 << 20)
                .map(|i| i as usize)
                .map_err(|d| d.help("idle connections kept per upstream; 0 keeps none"))
        },
    );
    set(
        cx,
        &mut b,
        &["idle_timeout", "idleTimeout"],
        &mut a.idle_timeout,
        positive_duration,
    );
    b.finish(cx);
    Some(a)
}

/// A PEM file of trust roots for upstream certificates.
fn ca_file(node: &Node) -> Result<PathBuf> {
    tls::pem_file(node, tls::Pem::Certificates)
}

fn ip(node: &Node) -> Result<IpAddr> {
    let text = node.str()?;
    text.parse().map_err(|_| {
        invalid(
            &node.pos,
            format!("`{text}` is not an IP address"),
            "write an address of this machine, e.g. \"10.0.0.5\" or \"::1\"",
        )
    })
}

/// `"user:password"`; the message never repeats the value.
fn basic_auth(node: &Node) -> Result<BasicAuth> {
    let text = node.str()?;
    let (user, password) = text.split_once(':').ok_or_else(|| {
        invalid(
            &node.pos,
            "auth must be \"user:password\" (no `:` found)",
            "write auth: \"user:password\"; the password may contain `:`",
        )
    })?;
    if user.contains(|c: char| c.is_control()) || password.contains(|c: char| c.is_control()) {
        return Err(invalid(
            &node.pos,
            "auth contains control characters",
            "remove them",
        ));
    }
    Ok(BasicAuth {
        user: user.to_owned(),
        password: password.to_owned(),
    })
}

fn host_rewrite(node: &Node) -> Result<String> {
    let text = node.non_empty()?;
    let bad = text.contains(|c: char| c.is_whitespace() || c.is_control() || "/?#@".contains(c));
    if bad {
        return Err(invalid(
            &node.pos,
            format!("host_rewrite `{text}` is not a host"),
            "write a host, optionally with a port: \"example.com\" or \"example.com:8443\"",
        ));
    }
    Ok(text)
}

fn protocol_rewrite(node: &Node) -> Result<ProtocolRewrite> {
    let text = node.str()?;
    match text
        .strip_suffix(':')
        .unwrap_or(text)
        .to_ascii_lowercase()
        .as_str()
    {
        "http" => Ok(ProtocolRewrite::Http),
        "https" => Ok(ProtocolRewrite::Https),
        _ => Err(invalid(
            &node.pos,
            format!("protocol_rewrite `{text}` is not http or https"),
            "use \"http\" or \"https\"",
        )),
    }
}

/// `false`, `"s"` (= `{"*": "s"}`) or `{old: new, "*": default}`.
fn rewrite(node: &Node) -> Result<Rewrite> {
    let help = "write false, a value (\"example.com\"), or a map { \"old.com\": \"new.com\", \"*\": \"\" }";
    let pairs = match &node.value {
        Value::Bool(false) => return Ok(Rewrite::Off),
        Value::Str(_) => vec![("*".to_owned(), cookie_value(node)?)],
        Value::Map(m) => m
            .iter()
            .map(|e| Ok((e.key.clone(), cookie_value(&e.value)?)))
            .collect::<Result<Vec<_>>>()?,
        _ => {
            return Err(invalid(
                &node.pos,
                format!("expected a rewrite, got {}", node.value.kind()),
                help,
            ))
        }
    };
    Ok(if pairs.is_empty() {
        Rewrite::Off
    } else {
        Rewrite::Map(pairs)
    })
}

fn cookie_value(node: &Node) -> Result<String> {
    let v = node.string()?;
    if v.contains(|c: char| c == ';' || c.is_whitespace() || c.is_control()) {
        return Err(invalid(
            &node.pos,
            format!("`{v}` cannot be a cookie attribute value"),
            "remove spaces and `;` (\"\" removes the attribute)",
        ));
    }
    Ok(v)
}

// ---- headers ---------------------------------------------------------------

/// RFC 9110 `tchar`.
fn is_token(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

fn header_name(name: &str, pos: &Pos) -> Result<String> {
    if !is_token(name) {
        return Err(invalid(
            pos,
            format!("`{name}` is not a valid header name"),
            "use letters, digits and - (e.g. \"X-Request-Id\"); no spaces or `:`",
        ));
    }
    Ok(name.to_owned())
}

/// A field value: visible characters, spaces and tabs; no line breaks.
fn header_value(node: &Node) -> Result<String> {
    let v = match node.value {
        Value::Int(i) => i.to_string(),
        _ => node.string()?,
    };
    if v.chars().any(|c| c != '\t' && c.is_control()) {
        return Err(invalid(
            &node.pos,
            "a header value cannot contain control characters or line breaks",
            "remove \\r, \\n and other control characters from the value",
        ));
    }
    Ok(v)
}

/// `{NAME: VALUE, ...}` in file order; a name set twice (in any case) is
/// an error.
fn header_map(node: &Node) -> Result<Vec<(String, String)>> {
    let mut out: Vec<(String, String)> = Vec::new();
    for e in node.map()?.iter() {
        let name = header_name(&e.key, &e.key_pos)?;
        if out.iter().any(|(n, _)| n.eq_ignore_ascii_case(&name)) {
            return Err(invalid(
                &e.key_pos,
                format!("header `{name}` is set twice (names ignore case)"),
                "keep one of them",
            ));
        }
        out.push((name, header_value(&e.value)?));
    }
    Ok(out)
}

/// One header name or a list of them, each checked where it is written.
fn header_names(node: &Node) -> Result<Vec<String>> {
    match &node.value {
        Value::Array(items) => items
            .iter()
            .map(|n| header_name(n.str()?, &n.pos))
            .collect(),
        _ => header_name(node.str()?, &node.pos).map(|n| vec![n]),
    }
}

/// `request_headers { set {...}, remove [...] }`.
fn header_edits(cx: &mut Lowering, node: &Node, what: &'static str) -> Option<HeaderEdits> {
    let mut b = Block::of(cx, node, what)?;
    let set_node = b.get(cx, &["set"]);
    let set_pairs = set_node.and_then(|n| cx.ok(header_map(n)));
    let remove = b.take(cx, &["remove"], header_names).unwrap_or_default();
    b.finish(cx);
    let set_pairs = set_pairs.unwrap_or_default();
    if let Some(both) = remove
        .iter()
        .find(|r| set_pairs.iter().any(|(n, _)| n.eq_ignore_ascii_case(r)))
    {
        let pos = set_node.map_or(node.pos.clone(), |n| n.pos.clone());
        cx.invalid(
            &pos,
            format!("header `{both}` is both set and removed in {what}"),
            "keep it in `set` or in `remove`, not both",
        );
    }
    Some(HeaderEdits {
        set: set_pairs,
        remove,
    })
}

/// Sets or replaces a header by case-insensitive name, keeping its place.
fn upsert(list: &mut Vec<(String, String)>, name: String, value: String) {
    match list.iter_mut().find(|(n, _)| n.eq_ignore_ascii_case(&name)) {
        Some(slot) => *slot = (name, value),
        None => list.push((name, value)),
    }
}

fn merge_pairs(base: &mut Vec<(String, String)>, over: Vec<(String, String)>) {
    for (n, v) in over {
        upsert(base, n, v);
    }
}

/// The route's decision for a header name wins over the block's, whether
/// it sets or removes it.
fn merge_edits(base: &mut HeaderEdits, over: HeaderEdits) {
    for (n, v) in over.set {
        base.remove.retain(|r| !r.eq_ignore_ascii_case(&n));
        upsert(&mut base.set, n, v);
    }
    for n in over.remove {
        base.set.retain(|(s, _)| !s.eq_ignore_ascii_case(&n));
        if !base.remove.iter().any(|r| r.eq_ignore_ascii_case(&n)) {
            base.remove.push(n);
        }
    }
}

// ---- events ----------------------------------------------------------------

/// `error_page { status, content_type, body }`.
fn error_page(cx: &mut Lowering, node: &Node) -> Option<ErrorPage> {
    let mut b = Block::of(cx, node, "proxy error_page")?;
    let mut page = ErrorPage {
        status: None,
        content_type: ErrorPage::DEFAULT_CONTENT_TYPE.to_owned(),
        body: String::new(),
    };
    set(cx, &mut b, &["status"], &mut page.status, |n| {
        n.int_in(400, 599)
            .map(|s| Some(s as u16))
            .map_err(|d| d.help("an error page answers with a 4xx or 5xx status, e.g. 503"))
    });
    set(
        cx,
        &mut b,
        &["content_type", "contentType"],
        &mut page.content_type,
        header_value,
    );
    set(cx, &mut b, &["body"], &mut page.body, Node::string);
    b.finish(cx);
    Some(page)
}

/// A NATS subject to publish on: tokens separated by `.`, no spaces, no
/// wildcards.
fn subject(node: &Node) -> Result<String> {
    let s = node.non_empty()?;
    let bad_token = !crate::nats::subject::is_valid_literal(&s) || s.contains(char::is_control);
    if bad_token {
        return Err(invalid(
            &node.pos,
            format!("`{s}` is not a subject events can be published on"),
            "write tokens separated by `.`, without spaces or wildcards, e.g. \"edge.proxy.events\"",
        ));
    }
    Ok(s)
}

// ---- match -----------------------------------------------------------------

/// `host` of `match`: a name, an IP literal, or `*.suffix`.
fn host_pattern(node: &Node) -> Result<HostPattern> {
    let text = node.non_empty()?;
    let lower = text.to_ascii_lowercase();
    let name = lower.strip_suffix('.').unwrap_or(&lower);
    if name == "*" {
        return Err(invalid(
            &node.pos,
            "`*` is not a host pattern",
            "leave `host` out to match every host",
        ));
    }
    if let Some(suffix) = name.strip_prefix("*.") {
        return dns_name(suffix, node).map(|s| HostPattern::Wildcard(s.to_owned()));
    }
    if name.contains('*') {
        return Err(invalid(
            &node.pos,
            format!("`{text}`: `*` may only be the first label"),
            "write \"*.example.com\" to match every subdomain",
        ));
    }
    let bare = unbracket(name);
    if bare.parse::<std::net::Ipv6Addr>().is_ok() {
        return Ok(HostPattern::Exact(bare.to_owned()));
    }
    if let Some((host, _)) = name.split_once(':') {
        return Err(invalid(
            &node.pos,
            format!("host pattern `{text}` has a port"),
            format!("write host: \"{host}\"; hosts are matched without their port"),
        ));
    }
    dns_name(name, node).map(|s| HostPattern::Exact(s.to_owned()))
}

/// A host name: labels of letters, digits, `-` and `_`, 253 characters at most.
fn dns_name<'a>(name: &'a str, node: &Node) -> Result<&'a str> {
    let label_ok = |l: &str| {
        !l.is_empty()
            && l.len() <= 63
            && l.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    };
    if name.len() > 253 || !name.split('.').all(label_ok) {
        return Err(invalid(
            &node.pos,
            format!("`{name}` is not a host name"),
            "write a name like \"api.example.com\", \"*.example.com\" or an IP address",
        ));
    }
    Ok(name)
}

/// `path` of `match`: a prefix starting with `/`; a trailing `/` is
/// dropped since prefixes match on segment boundaries anyway.
fn path_prefix(node: &Node) -> Result<String> {
    let p = node.non_empty()?;
    if !p.starts_with('/') {
        return Err(invalid(
            &node.pos,
            format!("path prefix `{p}` does not start with `/`"),
            format!("write path: \"/{p}\""),
        ));
    }
    if p.contains('*') {
        let fixed = match p.trim_end_matches(['*', '/']) {
            "" => "/",
            f => f,
        };
        return Err(invalid(
            &node.pos,
            format!("path prefix `{p}` contains `*`"),
            format!("a path is already a prefix: write path: \"{fixed}\""),
        ));
    }
    if p.contains(|c: char| c == '?' || c == '#' || c.is_whitespace() || c.is_control()) {
        return Err(invalid(
            &node.pos,
            format!("path prefix `{p}` contains `?`, `#` or spaces"),
            "match on the path only, e.g. path: \"/api\"",
        ));
    }
    let trimmed = p.trim_end_matches('/');
    Ok(if trimmed.is_empty() {
        "/".to_owned()
    } else {
        trimmed.to_owned()
    })
}
