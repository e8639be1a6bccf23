//! The HTTP/WebSocket reverse proxy part of the plan.
//!
//! One [`ProxyPlan`] per `proxy` block: where to listen, and the routes with
//! every node-http-proxy option already resolved (block defaults merged
//! under route overrides), so the runtime never merges or validates
//! anything. Routes are looked up through a [`Router`] compiled once at
//! lowering time; a request never walks the route list.

use super::{HostPort, TlsPlan};
use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

/// Longest host name the router compares (RFC 1035 allows 253 characters
/// plus a trailing dot); longer `Host` headers can only match host-less
/// routes. Lowering refuses longer host patterns.
pub const MAX_HOST_LEN: usize = 254;

/// One proxy listener: a `proxy { ... }` block.
#[derive(Clone, Debug, PartialEq)]
pub struct ProxyPlan {
    /// Where to accept HTTP(S) connections.
    pub listen: HostPort,
    /// TLS for the listener (node-http-proxy's `ssl`); `None` serves plain HTTP.
    pub tls: Option<TlsPlan>,
    /// The compiled matcher; its answers are indexes into `routes`.
    pub router: Router,
    /// The routes in file order, every option resolved.
    pub routes: Vec<Route>,
    /// Threads accepting and serving this listener's connections, each
    /// with its own single-threaded runtime (nginx's `worker_processes`);
    /// 0 is one per core.
    pub workers: usize,
}

impl ProxyPlan {
    /// Builds a listener plan, compiling the router from the routes so the
    /// two can never disagree.
    pub fn new(listen: HostPort, tls: Option<TlsPlan>, routes: Vec<Route>) -> Self {
        let router = Router::new(&routes);
        ProxyPlan {
            listen,
            tls,
            router,
            routes,
            workers: 0,
        }
    }

    /// The route serving a request, or `None` (answered with 404).
    /// `host` is the `Host` header (or the authority), `path` the request
    /// target's path with its query.
    pub fn route(&self, host: Option<&str>, path: &str) -> Option<&Route> {
        self.router
            .route(host, path)
            .and_then(|i| self.routes.get(i))
    }

    /// One line for the listener and one per route, for `edge check` and
    /// the startup log. Never prints secrets or header values.
    pub fn summary_lines(&self) -> Vec<String> {
        let head = format!(
            "proxy {}{}",
            self.listen,
            if self.tls.is_some() { " (tls)" } else { "" }
        );
        let count = match self.routes.len() {
            1 => "1 route".to_owned(),
            n => format!("{n} routes"),
        };
        let mut lines = vec![format!("{head}: {count}")];
        lines.extend(
            self.routes
                .iter()
                .map(|r| format!("{head}: {}", r.summary())),
        );
        lines
    }
}

/// Which requests a route serves, by host. Hosts are stored lowercased,
/// without a port or a trailing dot.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum HostPattern {
    /// No `host` in `match`: every host, and requests without one.
    Any,
    /// One host name or IP literal (IPv6 without brackets).
    Exact(String),
    /// `*.example.com`, stored as `example.com`: any subdomain at any
    /// depth, not the bare domain.
    Wildcard(String),
}

impl fmt::Display for HostPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HostPattern::Any => write!(f, "any host"),
            HostPattern::Exact(h) => write!(f, "host {h}"),
            HostPattern::Wildcard(s) => write!(f, "host *.{s}"),
        }
    }
}

/// One `routes` entry with the block's options merged in.
#[derive(Clone, Debug, PartialEq)]
pub struct Route {
    /// The host part of `match`.
    pub host: HostPattern,
    /// The path prefix of `match`, matched on segment boundaries. Always
    /// starts with `/`; a trailing `/` is removed (`/api/` is `/api`), so
    /// `/` alone means every path.
    pub path: String,
    /// Remove `path` from the request path before forwarding (the whole
    /// path is forwarded otherwise).
    pub strip_prefix: bool,
    /// Upstreams: one for `target`, several for `targets`. Empty for a
    /// forward-only route, which node-http-proxy allows: the request is
    /// copied to `options.forward` and the client gets an empty 200.
    pub targets: Vec<Target>,
    /// How requests are spread over `targets`.
    pub balance: Balance,
    /// Active checks that take failing targets out of the rotation.
    pub health_check: Option<HealthCheck>,
    /// Every node-http-proxy option and event declaration.
    pub options: ProxyOptions,
}

impl Route {
    /// `host H path P -> upstreams [flags]`, as `summary_lines` prints it.
    fn summary(&self) -> String {
        let upstream = if self.targets.is_empty() {
            "(forward only)".to_owned()
        } else {
            let list: Vec<String> = self.targets.iter().map(Target::to_string).collect();
            list.join(", ")
        };
        let mut flags = Vec::new();
        if self.strip_prefix {
            flags.push("strip_prefix".to_owned());
        }
        if self.targets.len() > 1 {
            flags.push(format!("balance={}", self.balance.as_str()));
        }
        if let Some(h) = &self.health_check {
            flags.push(format!(
                "health_check={} every {}",
                h.path,
                human(h.interval)
            ));
        }
        flags.extend(self.options.flags());
        let flags = if flags.is_empty() {
            String::new()
        } else {
            format!(" [{}]", flags.join(", "))
        };
        format!("{} path {} -> {upstream}{flags}", self.host, self.path)
    }
}

/// The URL scheme of an upstream.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scheme {
    /// Plain HTTP.
    Http,
    /// HTTP over TLS.
    Https,
    /// WebSocket over plain TCP (an HTTP/1.1 upgrade).
    Ws,
    /// WebSocket over TLS.
    Wss,
}

impl Scheme {
    /// Reads a scheme name (`http`, `HTTPS`, ...); `None` for anything else.
    pub fn parse(name: &str) -> Option<Self> {
        [Scheme::Http, Scheme::Https, Scheme::Ws, Scheme::Wss]
            .into_iter()
            .find(|s| s.as_str().eq_ignore_ascii_case(name))
    }

    /// The scheme as written in URLs.
    pub fn as_str(self) -> &'static str {
        match self {
            Scheme::Http => "http",
            Scheme::Https => "https",
            Scheme::Ws => "ws",
            Scheme::Wss => "wss",
        }
    }

    /// True when connections to the upstream use TLS.
    pub fn is_tls(self) -> bool {
        matches!(self, Scheme::Https | Scheme::Wss)
    }

    /// 443 for TLS schemes, 80 otherwise, as node-http-proxy's
    /// `/^https|wss/` test.
    pub fn default_port(self) -> u16 {
        if self.is_tls() {
            443
        } else {
            80
        }
    }
}

/// An upstream server: `target`, one of `targets`, or `forward`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Target {
    /// How to talk to it.
    pub scheme: Scheme,
    /// Host name or IP literal (IPv6 without brackets).
    pub host: String,
    /// TCP port (the scheme's default when the config gives none).
    pub port: u16,
    /// The path (and query) the target carries, prepended to request paths
    /// when `prepend_path` is on. At least `/`.
    pub path: String,
}

impl fmt::Display for Target {
    /// As a URL; the port only when it is not the scheme's default, the
    /// path only when it is not `/`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}://", self.scheme.as_str())?;
        if self.host.contains(':') {
            write!(f, "[{}]", self.host)?;
        } else {
            write!(f, "{}", self.host)?;
        }
        if self.port != self.scheme.default_port() {
            write!(f, ":{}", self.port)?;
        }
        if self.path != "/" {
            write!(f, "{}", self.path)?;
        }
        Ok(())
    }
}

/// Load-balancing strategy over a route's targets.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Balance {
    /// Each target in turn (the default).
    #[default]
    RoundRobin,
    /// The target with the fewest requests in flight.
    LeastConn,
    /// A target chosen at random.
    Random,
    /// A target chosen by a hash of the client's IP address, so one client
    /// keeps hitting the same target while it stays healthy.
    IpHash,
}

impl Balance {
    /// The config spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Balance::RoundRobin => "round_robin",
            Balance::LeastConn => "least_conn",
            Balance::Random => "random",
            Balance::IpHash => "ip_hash",
        }
    }
}

/// Active health checking of a route's targets: a 2xx or 3xx answer to
/// `GET path` is healthy.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HealthCheck {
    /// The path requested on each target (default `/`).
    pub path: String,
    /// Time between two checks of one target (default 10s).
    pub interval: Duration,
    /// How long a check may take before it counts as failed (default 2s).
    pub timeout: Duration,
    /// Failures in a row that take a target out (default 2).
    pub unhealthy_threshold: u32,
    /// Successes in a row that bring it back (default 1).
    pub healthy_threshold: u32,
}

impl HealthCheck {
    /// Default time between checks.
    pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(10);
    /// Default time a check may take: short, so a hung target is noticed
    /// within one interval.
    pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(2);
}

impl Default for HealthCheck {
    fn default() -> Self {
        HealthCheck {
            path: "/".to_owned(),
            interval: Self::DEFAULT_INTERVAL,
            timeout: Self::DEFAULT_TIMEOUT,
            unhealthy_threshold: 2,
            healthy_threshold: 1,
        }
    }
}

/// The upstream connection pool (node-http-proxy's `agent`, which edge
/// turns on by default because node's default of one connection per
/// request is its best-known performance bug).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Agent {
    /// Reuse upstream connections (default true); false sends
    /// `connection: close` upstream.
    pub keep_alive: bool,
    /// Idle connections kept per upstream host (default 256, node's
    /// `maxFreeSockets`: a pool smaller than the load's concurrency
    /// reconnects for every request over it).
    pub max_idle_per_host: usize,
    /// How long an idle pooled connection is kept (default 90s, hyper's).
    pub idle_timeout: Duration,
}

impl Default for Agent {
    fn default() -> Self {
        Agent {
            keep_alive: true,
            max_idle_per_host: 256,
            idle_timeout: Duration::from_secs(90),
        }
    }
}

/// `auth: "user:password"`, sent as Basic `Authorization` unless the
/// client sent one. `Debug` never shows the password.
#[derive(Clone, PartialEq, Eq)]
pub struct BasicAuth {
    /// The user name (before the first `:`).
    pub user: String,
    /// The password (after the first `:`).
    pub password: String,
}

impl fmt::Debug for BasicAuth {
    /// Plans end up in logs and snapshots: the password is redacted.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BasicAuth")
            .field("user", &self.user)
            .field("password", &"<redacted>")
            .finish()
    }
}

/// `protocolRewrite`: the scheme `Location` headers are rewritten to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProtocolRewrite {
    /// `http`.
    Http,
    /// `https`.
    Https,
}

/// `cookieDomainRewrite` / `cookiePathRewrite`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum Rewrite {
    /// `false` or absent: cookies pass unchanged.
    #[default]
    Off,
    /// Old value -> new value, in file order; the key `*` matches any
    /// value, and a new value of `""` removes the attribute. A string `s`
    /// in the config is `{"*": s}`.
    Map(Vec<(String, String)>),
}

/// Header changes declared for a direction (node-http-proxy's `proxyReq`,
/// `proxyReqWs` and `proxyRes` events).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HeaderEdits {
    /// Headers set (replacing any of the same name), in file order.
    pub set: Vec<(String, String)>,
    /// Header names removed.
    pub remove: Vec<String>,
}

impl HeaderEdits {
    /// True when nothing is declared.
    pub fn is_empty(&self) -> bool {
        self.set.is_empty() && self.remove.is_empty()
    }
}

/// The answer when the upstream cannot be reached (node-http-proxy's
/// `error` event). Errors are always logged as well.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ErrorPage {
    /// 400..=599; `None` keeps 502 for connect failures and 504 for timeouts.
    pub status: Option<u16>,
    /// The `content-type` of `body` (default `text/plain; charset=utf-8`).
    pub content_type: String,
    /// The response body (default empty).
    pub body: String,
}

impl ErrorPage {
    /// The content type when none is configured.
    pub const DEFAULT_CONTENT_TYPE: &'static str = "text/plain; charset=utf-8";
}

/// Every node-http-proxy option (as 1.18.1 names them, with edge's
/// documented deviations), plus the declarations that replace its events.
/// `Default` is what an empty proxy block means.
#[derive(Clone, Debug, PartialEq)]
pub struct ProxyOptions {
    /// A second upstream that gets a copy of each request (response dropped).
    pub forward: Option<Target>,
    /// The upstream connection pool.
    pub agent: Agent,
    /// Proxy WebSocket upgrades.
    pub ws: bool,
    /// Append `x-forwarded-for/-port/-proto`, set `x-forwarded-host` if absent.
    pub xfwd: bool,
    /// Verify upstream TLS certificates (default true).
    pub secure: bool,
    /// Extra trust roots for upstream certificates (checked to exist).
    pub ca_file: Option<PathBuf>,
    /// Send the absolute URL as the request target.
    pub to_proxy: bool,
    /// Prepend the target's path to the request path (default true).
    pub prepend_path: bool,
    /// Drop the incoming path.
    pub ignore_path: bool,
    /// Local address for upstream connections.
    pub local_address: Option<IpAddr>,
    /// Set `Host` to the target's host.
    pub change_origin: bool,
    /// Keep the upstream's response header name casing.
    pub preserve_header_key_case: bool,
    /// Basic credentials for the upstream.
    pub auth: Option<BasicAuth>,
    /// Host for rewritten `Location` headers.
    pub host_rewrite: Option<String>,
    /// Rewrite `Location` to the requested host:port.
    pub auto_rewrite: bool,
    /// Scheme for rewritten `Location` headers.
    pub protocol_rewrite: Option<ProtocolRewrite>,
    /// `Set-Cookie` domain rewriting.
    pub cookie_domain_rewrite: Rewrite,
    /// `Set-Cookie` path rewriting.
    pub cookie_path_rewrite: Rewrite,
    /// Extra request headers sent upstream, in file order (block's first,
    /// route's merged over them by case-insensitive name).
    pub headers: Vec<(String, String)>,
    /// Time to wait for the upstream's response, then 504 (default none).
    pub proxy_timeout: Option<Duration>,
    /// Idle time allowed on the incoming connection (default none).
    pub timeout: Option<Duration>,
    /// Follow upstream redirects.
    pub follow_redirects: bool,
    /// `proxyReq`/`proxyReqWs`: request header changes.
    pub request_headers: HeaderEdits,
    /// `proxyRes`: response header changes.
    pub response_headers: HeaderEdits,
    /// `error`: the answer on upstream failure.
    pub error_page: Option<ErrorPage>,
    /// `open`/`close`: the NATS subject events are published on.
    pub events_subject: Option<String>,
}

impl Default for ProxyOptions {
    fn default() -> Self {
        ProxyOptions {
            forward: None,
            agent: Agent::default(),
            ws: false,
            xfwd: false,
            secure: true,
            ca_file: None,
            to_proxy: false,
            prepend_path: true,
            ignore_path: false,
            local_address: None,
            change_origin: false,
            preserve_header_key_case: false,
            auth: None,
            host_rewrite: None,
            auto_rewrite: false,
            protocol_rewrite: None,
            cookie_domain_rewrite: Rewrite::Off,
            cookie_path_rewrite: Rewrite::Off,
            headers: Vec::new(),
            proxy_timeout: None,
            timeout: None,
            follow_redirects: false,
            request_headers: HeaderEdits::default(),
            response_headers: HeaderEdits::default(),
            error_page: None,
            events_subject: None,
        }
    }
}

impl ProxyOptions {
    /// The options that differ from the defaults, for the summary; names
    /// only for headers and credentials.
    fn flags(&self) -> Vec<String> {
        let d = ProxyOptions::default();
        let mut out = Vec::new();
        let mut on = |set: bool, text: String| {
            if set {
                out.push(text);
            }
        };
        on(self.ws, "ws".into());
        on(self.xfwd, "xfwd".into());
        on(!self.secure, "secure=false".into());
        if let Some(ca) = &self.ca_file {
            on(true, format!("ca_file={}", ca.display()));
        }
        on(self.to_proxy, "to_proxy".into());
        on(!self.prepend_path, "prepend_path=false".into());
        on(self.ignore_path, "ignore_path".into());
        if let Some(ip) = self.local_address {
            on(true, format!("local_address={ip}"));
        }
        on(self.change_origin, "change_origin".into());
        on(
            self.preserve_header_key_case,
            "preserve_header_key_case".into(),
        );
        on(self.auth.is_some(), "auth=<set>".into());
        if let Some(h) = &self.host_rewrite {
            on(true, format!("host_rewrite={h}"));
        }
        on(self.auto_rewrite, "auto_rewrite".into());
        if let Some(p) = self.protocol_rewrite {
            on(true, format!("protocol_rewrite={}", protocol_name(p)));
        }
        on(
            self.cookie_domain_rewrite != Rewrite::Off,
            "cookie_domain_rewrite".into(),
        );
        on(
            self.cookie_path_rewrite != Rewrite::Off,
            "cookie_path_rewrite".into(),
        );
        on(
            !self.headers.is_empty(),
            format!("headers={}", names(&self.headers)),
        );
        if let Some(t) = self.proxy_timeout {
            on(true, format!("proxy_timeout={}", human(t)));
        }
        if let Some(t) = self.timeout {
            on(true, format!("timeout={}", human(t)));
        }
        on(self.follow_redirects, "follow_redirects".into());
        on(!self.request_headers.is_empty(), "request_headers".into());
        on(!self.response_headers.is_empty(), "response_headers".into());
        if let Some(page) = &self.error_page {
            let status = page.status.map_or("default".to_owned(), |s| s.to_string());
            on(true, format!("error_page={status}"));
        }
        if let Some(s) = &self.events_subject {
            on(true, format!("events_subject={s}"));
        }
        if let Some(f) = &self.forward {
            on(true, format!("forward={f}"));
        }
        on(self.agent != d.agent, agent_flag(&self.agent));
        out
    }
}

/// A duration as the config writes it: `1h30m`, `45s`, `300ms`.
fn human(d: Duration) -> String {
    if d.is_zero() || d.subsec_nanos() != 0 {
        return format!("{d:?}");
    }
    let s = d.as_secs();
    [(s / 3600, "h"), (s / 60 % 60, "m"), (s % 60, "s")]
        .iter()
        .filter(|(n, _)| *n > 0)
        .map(|(n, unit)| format!("{n}{unit}"))
        .collect()
}

fn protocol_name(p: ProtocolRewrite) -> &'static str {
    match p {
        ProtocolRewrite::Http => "http",
        ProtocolRewrite::Https => "https",
    }
}

fn names(headers: &[(String, String)]) -> String {
    let list: Vec<&str> = headers.iter().map(|(n, _)| n.as_str()).collect();
    list.join("+")
}

fn agent_flag(a: &Agent) -> String {
    if a.keep_alive {
        format!(
            "agent(max_idle_per_host={}, idle_timeout={})",
            a.max_idle_per_host,
            human(a.idle_timeout)
        )
    } else {
        "agent(keep_alive=false)".to_owned()
    }
}

/// Routes of one host bucket: path prefixes sorted longest first (file
/// order among equal lengths), so the first match is the most specific.
#[derive(Clone, Debug, Default, PartialEq)]
struct Prefixes(Vec<(String, usize)>);

impl Prefixes {
    fn insert(&mut self, path: &str, index: usize) {
        let at = self.0.partition_point(|(p, _)| p.len() >= path.len());
        self.0.insert(at, (path.to_owned(), index));
    }

    fn find(&self, path: &str) -> Option<usize> {
        self.0
            .iter()
            .find(|(prefix, _)| prefix_matches(prefix, path))
            .map(|(_, i)| *i)
    }
}

/// A prefix matches on segment boundaries: `/api` matches `/api`, `/api/`,
/// `/api/x` and `/api?q`, not `/apix`; `/` matches everything.
pub fn prefix_matches(prefix: &str, path: &str) -> bool {
    if prefix == "/" {
        return true;
    }
    match path.strip_prefix(prefix) {
        Some(rest) => rest.is_empty() || rest.starts_with('/') || rest.starts_with('?'),
        None => false,
    }
}

/// The compiled route matcher: exact hosts in a hash map, wildcard hosts in
/// a hash map keyed by their suffix (a lookup tries each parent domain of
/// the request's host, most specific first), then host-less routes. Within
/// each bucket, the longest matching prefix wins. Lookups do not allocate.
#[derive(Clone, Default, PartialEq)]
pub struct Router {
    exact: HashMap<String, Prefixes>,
    wildcard: HashMap<String, Prefixes>,
    any: Prefixes,
}

impl Router {
    /// Compiles the routes. Two routes with the same host and path are
    /// refused by lowering; should they occur, the first one wins.
    pub fn new(routes: &[Route]) -> Self {
        let mut r = Router::default();
        for (i, route) in routes.iter().enumerate() {
            let bucket = match &route.host {
                HostPattern::Any => &mut r.any,
                HostPattern::Exact(h) => r.exact.entry(h.clone()).or_default(),
                HostPattern::Wildcard(s) => r.wildcard.entry(s.clone()).or_default(),
            };
            bucket.insert(&route.path, i);
        }
        r
    }

    /// The index of the route serving `host` and `path`: exact host, then
    /// wildcard hosts from the most specific suffix, then host-less routes,
    /// each by longest prefix; a bucket without a matching prefix falls
    /// through to the next. `host` may carry a port and any case.
    pub fn route(&self, host: Option<&str>, path: &str) -> Option<usize> {
        let mut buf = [0u8; MAX_HOST_LEN];
        // Without host routes the host is not even read.
        let by_host = !self.exact.is_empty() || !self.wildcard.is_empty();
        if let Some(name) = host
            .filter(|_| by_host)
            .and_then(|h| normalize_host(h, &mut buf))
        {
            if let Some(i) = self.exact.get(name).and_then(|p| p.find(path)) {
                return Some(i);
            }
            let found = parent_domains(name)
                .filter_map(|suffix| self.wildcard.get(suffix))
                .find_map(|p| p.find(path));
            if found.is_some() {
                return found;
            }
        }
        self.any.find(path)
    }
}

impl fmt::Debug for Router {
    /// Buckets sorted by host, so the output is the same on every run.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sorted = |m: &HashMap<String, Prefixes>| -> BTreeMap<String, Vec<(String, usize)>> {
            m.iter().map(|(k, v)| (k.clone(), v.0.clone())).collect()
        };
        f.debug_struct("Router")
            .field("exact", &sorted(&self.exact))
            .field("wildcard", &sorted(&self.wildcard))
            .field("any", &self.any.0)
            .finish()
    }
}

/// Every proper parent domain, longest first: `a.b.c` gives `b.c`, `c`.
fn parent_domains(name: &str) -> impl Iterator<Item = &str> {
    name.match_indices('.')
        .filter_map(move |(i, _)| name.get(i + 1..))
        .filter(|s| !s.is_empty())
}

/// A `Host` value as the router compares it: without the port, brackets
/// or trailing dot, ASCII-lowercased into `buf`. `None` when empty or too
/// long to be any configured host.
pub fn normalize_host<'b>(host: &str, buf: &'b mut [u8; MAX_HOST_LEN]) -> Option<&'b str> {
    let name = strip_port(host.trim());
    let name = name.strip_suffix('.').unwrap_or(name);
    if name.is_empty() || name.len() > buf.len() {
        return None;
    }
    let out = buf.get_mut(..name.len())?;
    out.copy_from_slice(name.as_bytes());
    out.make_ascii_lowercase();
    std::str::from_utf8(out).ok()
}

/// `host:port` -> `host`, `[v6]:port` and `[v6]` -> `v6`; a bare IPv6
/// address (several colons) is kept whole.
fn strip_port(host: &str) -> &str {
    if let Some(rest) = host.strip_prefix('[') {
        return rest.split_once(']').map_or(rest, |(inside, _)| inside);
    }
    match host.split_once(':') {
        Some((name, port)) if !port.contains(':') => name,
        _ => host,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn route(host: HostPattern, path: &str) -> Route {
        Route {
            host,
            path: path.to_owned(),
            strip_prefix: false,
            targets: vec![Target {
                scheme: Scheme::Http,
                host: "127.0.0.1".into(),
                port: 9000,
                path: "/".into(),
            }],
            balance: Balance::RoundRobin,
            health_check: None,
            options: ProxyOptions::default(),
        }
    }

    fn exact(h: &str) -> HostPattern {
        HostPattern::Exact(h.into())
    }

    fn wild(s: &str) -> HostPattern {
        HostPattern::Wildcard(s.into())
    }

    fn router() -> Router {
        Router::new(&[
            route(HostPattern::Any, "/"),                 // 0
            route(HostPattern::Any, "/api"),              // 1
            route(exact("api.example.com"), "/v1"),       // 2
            route(exact("api.example.com"), "/v1/admin"), // 3
            route(wild("example.com"), "/"),              // 4
            route(wild("eu.example.com"), "/eu"),         // 5
            route(wild("example.com"), "/static"),        // 6
            route(exact("::1"), "/six"),                  // 7
        ])
    }

    #[test]
    fn segment_boundaries() {
        assert!(prefix_matches("/api", "/api"));
        assert!(prefix_matches("/api", "/api/"));
        assert!(prefix_matches("/api", "/api/x"));
        assert!(prefix_matches("/api", "/api?q=1"));
        assert!(!prefix_matches("/api", "/apix"));
        assert!(!prefix_matches("/api", "/ap"));
        assert!(!prefix_matches("/api", "/API"));
        assert!(prefix_matches("/", "/anything"));
        assert!(prefix_matches("/", "*"));
    }

    #[test]
    fn exact_host_before_wildcard_before_any() {
        let r = router();
        assert_eq!(r.route(Some("api.example.com"), "/v1/users"), Some(2));
        assert_eq!(r.route(Some("API.Example.COM:8443"), "/v1"), Some(2));
        assert_eq!(r.route(Some("api.example.com."), "/v1"), Some(2));
        assert_eq!(r.route(Some("api.example.com"), "/v1/admin/x"), Some(3));
        // `/v1` does not match `/v1admin`: the wildcard's `/` does.
        assert_eq!(r.route(Some("api.example.com"), "/v1admin"), Some(4));
        // Exact bucket has no match for /other: falls through to the wildcard.
        assert_eq!(r.route(Some("api.example.com"), "/other"), Some(4));
        assert_eq!(r.route(Some("api.example.com"), "/static/a.css"), Some(6));
    }

    #[test]
    fn wildcard_depth_and_specificity() {
        let r = router();
        assert_eq!(r.route(Some("www.example.com"), "/"), Some(4));
        assert_eq!(r.route(Some("a.b.c.example.com"), "/x"), Some(4));
        assert_eq!(r.route(Some("x.eu.example.com"), "/eu/x"), Some(5));
        assert_eq!(r.route(Some("a.b.eu.example.com"), "/eu"), Some(5));
        // The more specific wildcard has no match: the less specific one does.
        assert_eq!(r.route(Some("x.eu.example.com"), "/x"), Some(4));
        assert_eq!(r.route(Some("x.eu.example.com"), "/static"), Some(6));
        // `*.eu.example.com` does not match `eu.example.com`, `*.example.com` does.
        assert_eq!(r.route(Some("eu.example.com"), "/x"), Some(4));
        // The bare domain only gets host-less routes.
        assert_eq!(r.route(Some("example.com"), "/api/x"), Some(1));
        assert_eq!(r.route(Some("example.com"), "/x"), Some(0));
        assert_eq!(r.route(Some("notexample.com"), "/x"), Some(0));
    }

    #[test]
    fn host_specificity_beats_path_length() {
        let r = Router::new(&[
            route(HostPattern::Any, "/a/b/c"),
            route(wild("example.com"), "/a/b"),
            route(wild("x.example.com"), "/"),
            route(exact("y.x.example.com"), "/"),
        ]);
        assert_eq!(r.route(Some("y.x.example.com"), "/a/b/c"), Some(3));
        assert_eq!(r.route(Some("z.x.example.com"), "/a/b/c"), Some(2));
        assert_eq!(r.route(Some("z.example.com"), "/a/b/c"), Some(1));
        assert_eq!(r.route(Some("example.com"), "/a/b/c"), Some(0));
    }

    #[test]
    fn hostless_and_missing_host() {
        let r = router();
        assert_eq!(r.route(None, "/api"), Some(1));
        assert_eq!(r.route(None, "/apix"), Some(0));
        assert_eq!(r.route(Some(""), "/api?x"), Some(1));
        let long = "a".repeat(400);
        assert_eq!(r.route(Some(&long), "/api/1"), Some(1));
    }

    #[test]
    fn ipv6_hosts() {
        let r = router();
        assert_eq!(r.route(Some("[::1]:8080"), "/six/x"), Some(7));
        assert_eq!(r.route(Some("[::1]"), "/six"), Some(7));
        assert_eq!(r.route(Some("[::1]"), "/"), Some(0));
    }

    #[test]
    fn no_match_is_none() {
        let r = Router::new(&[
            route(exact("a.test"), "/x"),
            route(wild("b.test"), "/y"),
            route(HostPattern::Any, "/z"),
        ]);
        assert_eq!(r.route(Some("a.test"), "/y"), None);
        assert_eq!(r.route(Some("q.b.test"), "/x"), None);
        assert_eq!(r.route(None, "/"), None);
        assert_eq!(r.route(Some("a.test"), "/zz"), None);
        assert_eq!(r.route(Some("a.test"), "/z/1"), Some(2));
    }

    #[test]
    fn equal_prefixes_keep_file_order() {
        let r = Router::new(&[route(HostPattern::Any, "/a"), route(HostPattern::Any, "/a")]);
        assert_eq!(r.route(None, "/a"), Some(0));
    }

    #[test]
    fn normalize_host_forms() {
        let mut buf = [0u8; MAX_HOST_LEN];
        assert_eq!(
            normalize_host("Example.COM:80", &mut buf),
            Some("example.com")
        );
        let mut buf = [0u8; MAX_HOST_LEN];
        assert_eq!(
            normalize_host("[2001:DB8::1]:443", &mut buf),
            Some("2001:db8::1")
        );
        let mut buf = [0u8; MAX_HOST_LEN];
        assert_eq!(normalize_host(":80", &mut buf), None);
    }

    #[test]
    fn summary_never_shows_secrets() {
        let mut r = route(exact("api.example.com"), "/v1");
        r.options.auth = Some(BasicAuth {
            user: "bob".into(),
            password: "hunter2".into(),
        });
        r.options.headers = vec![("X-Token".into(), "s3cret".into())];
        r.options.ws = true;
        r.options.change_origin = true;
        let plan = ProxyPlan::new(
            HostPort {
                host: "0.0.0.0".into(),
                port: 8080,
            },
            None,
            vec![r],
        );
        let lines = plan.summary_lines();
        assert_eq!(
            lines,
            vec![
                "proxy 0.0.0.0:8080: 1 route".to_owned(),
                "proxy 0.0.0.0:8080: host api.example.com path /v1 -> http://127.0.0.1:9000 \
                 [ws, change_origin, auth=<set>, headers=X-Token]"
                    .to_owned(),
            ]
        );
        assert!(!format!("{plan:?}").contains("hunter2"));
    }
}
