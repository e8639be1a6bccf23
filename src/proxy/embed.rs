//! The proxy as a library: what node-http-proxy users write in code
//! (`httpProxy.createProxyServer(options)`, `proxy.web(req, res)`,
//! `proxy.ws(req, socket, head)`, `proxy.on('proxyReq' | 'proxyRes' |
//! 'error' | 'open' | 'close')`), on the same code paths the config-driven
//! server runs: [`Proxy::web`] calls [`web::web`](super::web::web) and
//! [`Proxy::ws`] calls [`ws::proxy`](super::ws::proxy) with a route built
//! from the options; the [`Hooks`] are called from inside them.
//!
//! The embedder runs its own hyper server (plain or TLS) and hands each
//! request over with the client's [`Conn`]:
//!
//! ```no_run
//! # async fn demo(req: http::Request<hyper::body::Incoming>, peer: std::net::SocketAddr) {
//! use edge::proxy::{Conn, Proxy};
//! let proxy = Proxy::builder().target("http://127.0.0.1:9000").build().unwrap();
//! let res = proxy.web(req, &Conn::new(peer, false)).await;
//! # drop(res);
//! # }
//! ```

use super::balance::Balancer;
use super::body::{Logged, ReqBody, ResBody};
use super::client::{ClientError, Connector};
use super::error::ProxyError;
use super::forward::Incoming;
use super::server::{Conn, RouteRuntime};
use super::web::Outcome;
use super::{headers::is_websocket_upgrade, web, ws};
use crate::plan::proxy::{Balance, HealthCheck, HostPattern, ProxyOptions, Route, Scheme, Target};
use http::{Request, Response};
use std::net::SocketAddr;
use std::sync::Arc;

/// An embedder's callbacks, node-http-proxy's events. Every method has a
/// default that does nothing, so an implementation names only what it
/// needs. They run on the request's task: keep them short.
pub trait Hooks: Send + Sync + 'static {
    /// node's `proxyReq` (and `proxyReqWs`): the outgoing request, after
    /// every option has been applied, just before it is sent. Headers,
    /// method and URI may be changed.
    fn proxy_req(&self, req: &mut Request<ReqBody>, incoming: &Incoming<'_>) {
        let _ = (req, incoming);
    }

    /// node's `proxyRes`: the upstream's response as it will be sent to
    /// the client (after node's web-outgoing passes, so edits here win).
    fn proxy_res(&self, res: &mut Response<ResBody>, incoming: &Incoming<'_>) {
        let _ = (res, incoming);
    }

    /// node's `error`: the upstream failed; `res` is edge's answer (502,
    /// 504 or the `error_page`), and the returned response is sent.
    fn error(&self, err: &ProxyError, res: Response<ResBody>) -> Response<ResBody> {
        let _ = err;
        res
    }

    /// node's `open`: a WebSocket is spliced to `target`.
    fn open(&self, peer: SocketAddr, target: &str) {
        let _ = (peer, target);
    }

    /// node's `close`: a spliced WebSocket ended; bytes client->upstream
    /// and upstream->client.
    fn close(&self, peer: SocketAddr, target: &str, sent: u64, received: u64) {
        let _ = (peer, target, sent, received);
    }
}

type ReqFn = dyn Fn(&mut Request<ReqBody>, &Incoming<'_>) + Send + Sync;
type ResFn = dyn Fn(&mut Response<ResBody>, &Incoming<'_>) + Send + Sync;
type ErrFn = dyn Fn(&ProxyError, Response<ResBody>) -> Response<ResBody> + Send + Sync;
type WsFn = dyn Fn(SocketAddr, &str) + Send + Sync;

/// [`Hooks`] made of closures (the builder's `on_*` methods), for
/// embedders who prefer node's `proxy.on(event, fn)` style.
#[derive(Default)]
struct Closures {
    proxy_req: Option<Box<ReqFn>>,
    proxy_res: Option<Box<ResFn>>,
    error: Option<Box<ErrFn>>,
    open: Option<Box<WsFn>>,
    close: Option<Box<WsFn>>,
}

impl Closures {
    fn is_empty(&self) -> bool {
        self.proxy_req.is_none()
            && self.proxy_res.is_none()
            && self.error.is_none()
            && self.open.is_none()
            && self.close.is_none()
    }
}

impl Hooks for Closures {
    fn proxy_req(&self, req: &mut Request<ReqBody>, incoming: &Incoming<'_>) {
        if let Some(f) = &self.proxy_req {
            f(req, incoming);
        }
    }

    fn proxy_res(&self, res: &mut Response<ResBody>, incoming: &Incoming<'_>) {
        if let Some(f) = &self.proxy_res {
            f(res, incoming);
        }
    }

    fn error(&self, err: &ProxyError, res: Response<ResBody>) -> Response<ResBody> {
        match &self.error {
            Some(f) => f(err, res),
            None => res,
        }
    }

    fn open(&self, peer: SocketAddr, target: &str) {
        if let Some(f) = &self.open {
            f(peer, target);
        }
    }

    fn close(&self, peer: SocketAddr, target: &str, _sent: u64, _received: u64) {
        if let Some(f) = &self.close {
            f(peer, target);
        }
    }
}

/// Why a [`Proxy`] could not be built.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// A target is not an `http`/`https`/`ws`/`wss` URL with a host.
    #[error("target `{url}`: {reason}")]
    Target {
        /// The URL given.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// Both a [`Hooks`] value and `on_*` closures were given.
    #[error("give either hooks(...) or on_* closures, not both")]
    BothHooks,
    /// The upstream TLS settings are unusable.
    #[error("{0}")]
    Client(#[from] ClientError),
}

/// Why a per-request target ([`Proxy::web_to`]) was refused.
#[derive(Debug, thiserror::Error)]
#[error("target `{url}`: {reason}")]
pub struct TargetError {
    /// The URL given.
    pub url: String,
    /// What is wrong with it.
    pub reason: String,
}

/// Parses a target URL as the config's `target` does (scheme, host, port,
/// path and query; no credentials, no fragment).
pub fn parse_target(url: &str) -> Result<Target, TargetError> {
    let err = |reason: &str| TargetError {
        url: url.to_owned(),
        reason: reason.to_owned(),
    };
    let parsed = url::Url::parse(url).map_err(|e| err(&e.to_string()))?;
    let scheme = Scheme::parse(parsed.scheme()).ok_or_else(|| err("use http, https, ws or wss"))?;
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err(err("credentials belong in the `auth` option"));
    }
    if parsed.fragment().is_some() {
        return Err(err("a target cannot have a #fragment"));
    }
    let host = parsed
        .host_str()
        .filter(|h| !h.is_empty())
        .ok_or_else(|| err("no host"))?;
    let host = host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_owned();
    let port = parsed.port().unwrap_or(scheme.default_port());
    if port == 0 {
        return Err(err("port 0"));
    }
    let mut path = parsed.path().to_owned();
    if path.is_empty() {
        path.push('/');
    }
    if let Some(q) = parsed.query() {
        path.push('?');
        path.push_str(q);
    }
    Ok(Target {
        scheme,
        host,
        port,
        path,
    })
}

/// Builds a [`Proxy`]: node's `createProxyServer(options)`.
#[derive(Default)]
pub struct ProxyBuilder {
    targets: Vec<String>,
    balance: Balance,
    health_check: Option<HealthCheck>,
    options: ProxyOptions,
    hooks: Option<Arc<dyn Hooks>>,
    closures: Closures,
}

impl ProxyBuilder {
    /// Adds an upstream (node's `target`); several are balanced.
    pub fn target(mut self, url: &str) -> Self {
        self.targets.push(url.to_owned());
        self
    }

    /// How requests are spread over several targets.
    pub fn balance(mut self, balance: Balance) -> Self {
        self.balance = balance;
        self
    }

    /// Checks every target actively (`GET path` each `interval`), taking
    /// failing ones out of the rotation and putting them back, as a
    /// config route's `health_check`; the checks stop when the [`Proxy`]
    /// is dropped.
    pub fn health_check(mut self, check: HealthCheck) -> Self {
        self.health_check = Some(check);
        self
    }

    /// Replaces every option at once (the config's option set, defaults
    /// as node's).
    pub fn options(mut self, options: ProxyOptions) -> Self {
        self.options = options;
        self
    }

    /// Changes some options in place: `.configure(|o| o.change_origin = true)`.
    pub fn configure(mut self, f: impl FnOnce(&mut ProxyOptions)) -> Self {
        f(&mut self.options);
        self
    }

    /// The embedder's callbacks as one value.
    pub fn hooks(mut self, hooks: impl Hooks) -> Self {
        self.hooks = Some(Arc::new(hooks));
        self
    }

    /// node's `proxy.on('proxyReq', fn)`.
    pub fn on_proxy_req(
        mut self,
        f: impl Fn(&mut Request<ReqBody>, &Incoming<'_>) + Send + Sync + 'static,
    ) -> Self {
        self.closures.proxy_req = Some(Box::new(f));
        self
    }

    /// node's `proxy.on('proxyRes', fn)`.
    pub fn on_proxy_res(
        mut self,
        f: impl Fn(&mut Response<ResBody>, &Incoming<'_>) + Send + Sync + 'static,
    ) -> Self {
        self.closures.proxy_res = Some(Box::new(f));
        self
    }

    /// node's `proxy.on('error', fn)`: returns the response to send.
    pub fn on_error(
        mut self,
        f: impl Fn(&ProxyError, Response<ResBody>) -> Response<ResBody> + Send + Sync + 'static,
    ) -> Self {
        self.closures.error = Some(Box::new(f));
        self
    }

    /// node's `proxy.on('open', fn)`: peer and target of a spliced WebSocket.
    pub fn on_open(mut self, f: impl Fn(SocketAddr, &str) + Send + Sync + 'static) -> Self {
        self.closures.open = Some(Box::new(f));
        self
    }

    /// node's `proxy.on('close', fn)`: peer and target of an ended WebSocket.
    pub fn on_close(mut self, f: impl Fn(SocketAddr, &str) + Send + Sync + 'static) -> Self {
        self.closures.close = Some(Box::new(f));
        self
    }

    /// The proxy, its upstream pool and TLS client ready. Must run inside
    /// a tokio runtime (the pool's timers).
    pub fn build(self) -> Result<Proxy, BuildError> {
        let targets = self
            .targets
            .iter()
            .map(|u| {
                parse_target(u).map_err(|e| BuildError::Target {
                    url: e.url,
                    reason: e.reason,
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let hooks = match (self.hooks, self.closures.is_empty()) {
            (Some(_), false) => return Err(BuildError::BothHooks),
            (Some(h), true) => Some(h),
            (None, false) => Some(Arc::new(self.closures) as Arc<dyn Hooks>),
            (None, true) => None,
        };
        // TLS is always ready: `web_to` may name an https target later.
        let connector = Connector::new(&self.options, true)?;
        let pool = super::pool::Pool::new(connector.clone(), &self.options.agent);
        let route = Route {
            host: HostPattern::Any,
            path: "/".to_owned(),
            strip_prefix: false,
            targets,
            balance: self.balance,
            health_check: self.health_check,
            options: self.options,
        };
        let rt = RouteRuntime {
            balancer: Arc::new(Balancer::new(&route.targets, route.balance)),
            connector,
            pool,
            events: None,
            hooks,
        };
        super::health::spawn_route(&route, &rt.balancer, &rt.pool);
        Ok(Proxy { route, rt })
    }
}

/// A reverse proxy an embedder calls per request: node's proxy object.
pub struct Proxy {
    route: Route,
    rt: RouteRuntime,
}

impl Proxy {
    /// Starts a [`ProxyBuilder`].
    pub fn builder() -> ProxyBuilder {
        ProxyBuilder::default()
    }

    /// The options in force.
    pub fn options(&self) -> &ProxyOptions {
        &self.route.options
    }

    /// node's `proxy.web(req, res)`: proxies a plain HTTP request to one
    /// of the targets; failures become 502/504 (or the error hook's
    /// answer), never an `Err`.
    pub async fn web(&self, req: Request<hyper::body::Incoming>, conn: &Conn) -> Response<Logged> {
        finish(web::web(&self.route, &self.rt, conn, req, None).await)
    }

    /// node's `proxy.web(req, res, { target })`: this request goes to
    /// `target` instead (custom routing logic); the pool, options and
    /// hooks are shared.
    pub async fn web_to(
        &self,
        req: Request<hyper::body::Incoming>,
        conn: &Conn,
        target: &str,
    ) -> Result<Response<Logged>, TargetError> {
        let target = parse_target(target)?;
        let mut route = self.route.clone();
        route.targets = vec![target];
        let rt = RouteRuntime {
            balancer: Arc::new(Balancer::new(&route.targets, Balance::RoundRobin)),
            connector: self.rt.connector.clone(),
            pool: self.rt.pool.clone(),
            events: None,
            hooks: self.rt.hooks.clone(),
        };
        Ok(finish(web::web(&route, &rt, conn, req, None).await))
    }

    /// node's `proxy.ws(req, socket, head)`: proxies a WebSocket upgrade.
    /// Return the response to hyper (served `with_upgrades()`); on a 101
    /// the two connections are spliced in a spawned task, and the
    /// open/close hooks run.
    pub async fn ws(&self, req: Request<hyper::body::Incoming>, conn: &Conn) -> Response<Logged> {
        finish(ws::proxy(&self.route, &self.rt, conn, req, None).await)
    }

    /// [`Proxy::ws`] for WebSocket upgrades when the `ws` option is on,
    /// [`Proxy::web`] otherwise: what the config-driven server does.
    pub async fn serve(
        &self,
        req: Request<hyper::body::Incoming>,
        conn: &Conn,
    ) -> Response<Logged> {
        if self.route.options.ws && is_websocket_upgrade(req.method(), req.headers()) {
            self.ws(req, conn).await
        } else {
            self.web(req, conn).await
        }
    }
}

fn finish((res, _upstream, in_flight): Outcome) -> Response<Logged> {
    res.map(|b| Logged::unlogged(b, in_flight))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_parse_as_the_config_does() {
        let t = parse_target("https://api.internal/base?k=v").expect("valid");
        assert_eq!(t.scheme, Scheme::Https);
        assert_eq!((t.host.as_str(), t.port), ("api.internal", 443));
        assert_eq!(t.path, "/base?k=v");
        let t = parse_target("http://[::1]:9000").expect("valid");
        assert_eq!(
            (t.host.as_str(), t.port, t.path.as_str()),
            ("::1", 9000, "/")
        );
        assert!(parse_target("ftp://x").is_err());
        assert!(parse_target("http://u:p@x").is_err());
        assert!(parse_target("127.0.0.1:80").is_err());
    }
}
