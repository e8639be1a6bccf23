//! nats-server's HTTP monitoring endpoints (`/varz`, `/connz`, `/subsz`,
//! `/healthz`, ...), served with hyper on the plan's `http` listener.
//! Not served: `/stacksz` (Go goroutine stacks; edge has none), so it is a 404.
//!
//! This file binds the listener, routes paths (under `http_base_path`) to
//! the endpoint modules, counts requests for `/varz`'s `http_req_stats`,
//! and shapes responses as nats-server's `ResponseHandler` does: JSON as
//! `application/json`, or JSONP (`?callback=f` gives `f(...)` as
//! `application/javascript`); bad parameters get `400` with nats-server's
//! text; unknown paths Go's `404 page not found`. nats-server 2.9.10 sends
//! no CORS header, so neither does edge.

mod accountz;
mod accstatz;
mod connz;
pub(crate) mod gofmt;
mod index;
mod process;
mod query;
mod subsz;
mod unconfigured;
mod varz;

use crate::nats::server::Shared;
use crate::plan::HostPort;
use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::header::{HeaderValue, CONTENT_TYPE};
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use query::Query;
use std::collections::BTreeMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use tokio::net::TcpListener;

/// The endpoints, each under `http_base_path`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Endpoint {
    Root,
    Varz,
    Connz,
    Routez,
    Gatewayz,
    Leafz,
    Subsz,
    Accountz,
    Accstatz,
    Jsz,
    Healthz,
    IpQueuesz,
}

/// Paths and endpoints; `/subscriptionsz` is nats-server's older name.
const ROUTES: [(&str, Endpoint); 13] = [
    ("/", Endpoint::Root),
    ("/varz", Endpoint::Varz),
    ("/connz", Endpoint::Connz),
    ("/routez", Endpoint::Routez),
    ("/gatewayz", Endpoint::Gatewayz),
    ("/leafz", Endpoint::Leafz),
    ("/subsz", Endpoint::Subsz),
    ("/subscriptionsz", Endpoint::Subsz),
    ("/accountz", Endpoint::Accountz),
    ("/accstatz", Endpoint::Accstatz),
    ("/jsz", Endpoint::Jsz),
    ("/healthz", Endpoint::Healthz),
    ("/ipqueuesz", Endpoint::IpQueuesz),
];

impl Endpoint {
    /// The key nats-server counts the endpoint under in `http_req_stats`
    /// (without the base path).
    fn stats_key(self) -> &'static str {
        match self {
            Endpoint::Root => "/",
            Endpoint::Varz => "/varz",
            Endpoint::Connz => "/connz",
            Endpoint::Routez => "/routez",
            Endpoint::Gatewayz => "/gatewayz",
            Endpoint::Leafz => "/leafz",
            Endpoint::Subsz => "/subsz",
            Endpoint::Accountz => "/accountz",
            Endpoint::Accstatz => "/accstatz",
            Endpoint::Jsz => "/jsz",
            Endpoint::Healthz => "/healthz",
            Endpoint::IpQueuesz => "/ipqueuesz",
        }
    }
}

/// nats-server's `normalizeBasePath`: a leading `/`, cleaned; `/` when
/// empty.
fn normalize_base(p: &str) -> String {
    let with_slash = if p.starts_with('/') {
        p.to_string()
    } else {
        format!("/{p}")
    };
    clean(&with_slash)
}

/// Go's `path.Clean` for absolute paths: no empty, `.` or `..` segments,
/// no trailing slash (except the root).
fn clean(p: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for seg in p.split('/') {
        match seg {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            s => parts.push(s),
        }
    }
    format!("/{}", parts.join("/"))
}

/// Go's `path.Join(base, p)` for the absolute `base` and endpoint paths.
fn join(base: &str, p: &str) -> String {
    clean(&format!("{base}/{p}"))
}

/// What every request handler reads.
#[derive(Debug)]
pub struct State {
    shared: Arc<Shared>,
    http_host: String,
    http_port: u16,
    /// The port when this listener is `https` (0 otherwise; and
    /// `http_port` is then 0), as `/varz` reports them.
    https_port: u16,
    /// `http_base_path` as configured (reported by `/varz`).
    base_path: String,
    /// Full path of each endpoint.
    routes: Vec<(String, Endpoint)>,
    req_stats: Mutex<BTreeMap<&'static str, u64>>,
    cpu: process::CpuMeter,
}

impl State {
    fn count(&self, e: Endpoint) {
        *self
            .req_stats
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(e.stats_key())
            .or_default() += 1;
    }

    fn req_stats(&self) -> BTreeMap<&'static str, u64> {
        self.req_stats
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
}

/// A bound monitoring listener, ready to [`serve`](Monitor::serve).
pub struct Monitor {
    listener: TcpListener,
    state: Arc<State>,
    /// For `https`: the client `tls` block's certificates.
    tls: Option<tokio_rustls::TlsAcceptor>,
}

impl std::fmt::Debug for Monitor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Monitor")
            .field("listener", &self.listener)
            .field("tls", &self.tls.is_some())
            .finish_non_exhaustive()
    }
}

impl std::fmt::Debug for MonitorTls<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MonitorTls")
    }
}

/// The TLS an `https` monitor listener serves with.
pub struct MonitorTls<'a>(pub &'a crate::plan::TlsPlan);

impl Monitor {
    /// Binds `listen` (bind it with the client listener, so `/varz`
    /// answers as soon as clients can connect).
    /// With `tls`, it serves HTTPS (nats-server's `https`/`-ms`).
    pub async fn bind(
        listen: &HostPort,
        base_path: &str,
        shared: Arc<Shared>,
        tls: Option<MonitorTls<'_>>,
    ) -> std::io::Result<Monitor> {
        let tls = match tls {
            Some(MonitorTls(plan)) => {
                let mut config = crate::tls::server_config(plan).map_err(std::io::Error::other)?;
                config.alpn_protocols = vec![b"http/1.1".to_vec()];
                Some(tokio_rustls::TlsAcceptor::from(Arc::new(config)))
            }
            None => None,
        };
        let host = if listen.host.is_empty() {
            "0.0.0.0"
        } else {
            listen.host.as_str()
        };
        let listener = TcpListener::bind((host, listen.port)).await?;
        let bound = listener.local_addr()?.port();
        let (http_port, https_port) = if tls.is_some() {
            (0, bound)
        } else {
            (bound, 0)
        };
        let base = normalize_base(base_path);
        let routes = ROUTES.iter().map(|(p, e)| (join(&base, p), *e)).collect();
        Ok(Monitor {
            listener,
            tls,
            state: Arc::new(State {
                shared,
                http_host: host.to_string(),
                http_port,
                https_port,
                base_path: base_path.to_string(),
                routes,
                req_stats: Mutex::new(BTreeMap::new()),
                cpu: process::CpuMeter::default(),
            }),
        })
    }

    /// The address actually bound.
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Serves HTTP/1.1 until the task is dropped; one task per connection.
    pub async fn serve(self) -> std::io::Result<()> {
        loop {
            let stream = match self.listener.accept().await {
                Ok((stream, _)) => stream,
                Err(e) => {
                    crate::log_error!("Monitor accept error: {e}");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    continue;
                }
            };
            let state = Arc::clone(&self.state);
            let tls = self.tls.clone();
            tokio::spawn(async move {
                match tls {
                    None => serve_http(state, stream).await,
                    Some(acceptor) => {
                        let handshake = tokio::time::timeout(
                            std::time::Duration::from_secs(5),
                            acceptor.accept(stream),
                        )
                        .await;
                        if let Ok(Ok(stream)) = handshake {
                            serve_http(state, stream).await;
                        }
                    }
                }
            });
        }
    }
}

/// One HTTP/1.1 connection, plain or TLS.
async fn serve_http<S>(state: Arc<State>, stream: S)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let service = hyper::service::service_fn(move |req: Request<Incoming>| {
        let state = Arc::clone(&state);
        async move { Ok::<_, Infallible>(handle(&state, &req)) }
    });
    // Go's canonical header case (Content-Type), as nats-server.
    let _ = hyper::server::conn::http1::Builder::new()
        .title_case_headers(true)
        .serve_connection(TokioIo::new(stream), service)
        .await;
}

/// A finished response.
type Reply = Response<Full<Bytes>>;

fn reply(status: StatusCode, content_type: &'static str, body: String) -> Reply {
    let mut r = Response::new(Full::new(Bytes::from(body)));
    *r.status_mut() = status;
    r.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    r
}

/// nats-server's `ResponseHandler`: JSONP when `callback` is given.
fn json(q: &Query, body: String) -> Reply {
    match q.get("callback") {
        "" => reply(StatusCode::OK, "application/json", body),
        cb => reply(
            StatusCode::OK,
            "application/javascript",
            format!("{cb}({body})"),
        ),
    }
}

/// A refused parameter: 400 with the text, as Go sniffs it.
fn bad_request(text: impl ToString) -> Reply {
    reply(
        StatusCode::BAD_REQUEST,
        "text/plain; charset=utf-8",
        text.to_string(),
    )
}

/// Go's `http.NotFound`.
fn not_found() -> Reply {
    let mut r = reply(
        StatusCode::NOT_FOUND,
        "text/plain; charset=utf-8",
        "404 page not found\n".to_string(),
    );
    r.headers_mut().insert(
        "x-content-type-options",
        HeaderValue::from_static("nosniff"),
    );
    r
}

/// Go's `ServeMux` `cleanPath`: [`clean`], keeping a trailing slash.
fn clean_request_path(p: &str) -> String {
    let mut np = clean(p);
    if p.ends_with('/') && np != "/" {
        np.push('/');
    }
    np
}

/// Go's `http.Redirect` with 301, as `ServeMux` answers an unclean path.
fn moved(req: &Request<Incoming>, to: String) -> Reply {
    let to = match req.uri().query() {
        Some(q) => format!("{to}?{q}"),
        None => to,
    };
    let body = if req.method() == hyper::Method::GET || req.method() == hyper::Method::HEAD {
        let escaped = to
            .replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('>', "&gt;")
            .replace('"', "&#34;")
            .replace('\'', "&#39;");
        format!("<a href=\"{escaped}\">Moved Permanently</a>.\n\n")
    } else {
        String::new()
    };
    let mut r = reply(
        StatusCode::MOVED_PERMANENTLY,
        "text/html; charset=utf-8",
        body,
    );
    if let Ok(v) = HeaderValue::from_str(&to) {
        r.headers_mut().insert(hyper::header::LOCATION, v);
    }
    r
}

/// Routes one request.
fn handle(state: &State, req: &Request<Incoming>) -> Reply {
    let path = req.uri().path();
    let cleaned = clean_request_path(path);
    if cleaned != path && req.method() != hyper::Method::CONNECT {
        return moved(req, cleaned);
    }
    let Some(endpoint) = state
        .routes
        .iter()
        .find(|(p, _)| p == path)
        .map(|(_, e)| *e)
    else {
        return not_found();
    };
    let q = Query::parse(req.uri().query());
    let info = state.shared.info.load();
    let id = info.server_id.as_str();
    // Each arm counts where nats-server's handler does: most first, some
    // only once their parameters decode.
    macro_rules! try_q {
        ($e:expr) => {
            match $e {
                Ok(v) => v,
                Err(e) => return bad_request(e),
            }
        };
    }
    match endpoint {
        Endpoint::Root => {
            state.count(endpoint);
            let base = normalize_base(&state.base_path);
            reply(
                StatusCode::OK,
                "text/html; charset=utf-8",
                index::page(&base),
            )
        }
        Endpoint::Varz => {
            state.count(endpoint);
            json(&q, varz::varz(state))
        }
        Endpoint::Connz => {
            let request = try_q!(connz::decode(&q));
            state.count(endpoint);
            json(&q, try_q!(connz::connz(&state.shared, &request)))
        }
        Endpoint::Routez => {
            if !q.get("subs").eq_ignore_ascii_case("detail") {
                try_q!(q.bool("subs"));
            }
            state.count(endpoint);
            json(&q, unconfigured::routez(id))
        }
        Endpoint::Gatewayz => {
            state.count(endpoint);
            try_q!(q.bool("accs"));
            json(&q, unconfigured::gatewayz(id))
        }
        Endpoint::Leafz => {
            state.count(endpoint);
            try_q!(q.bool("subs"));
            json(&q, unconfigured::leafz(id))
        }
        Endpoint::Subsz => {
            state.count(endpoint);
            json(&q, try_q!(subsz::subsz(&state.shared, &q)))
        }
        Endpoint::Accountz => {
            state.count(endpoint);
            json(&q, try_q!(accountz::accountz(&state.shared, q.get("acc"))))
        }
        Endpoint::Accstatz => {
            state.count(endpoint);
            json(&q, try_q!(accstatz::accstatz(&state.shared, &q)))
        }
        Endpoint::Jsz => {
            state.count(endpoint);
            for flag in ["accounts", "streams", "consumers", "config"] {
                try_q!(q.bool(flag));
            }
            try_q!(q.int("offset"));
            try_q!(q.int("limit"));
            try_q!(q.bool("leader-only"));
            json(&q, unconfigured::jsz(id))
        }
        Endpoint::Healthz => {
            state.count(endpoint);
            json(&q, try_q!(unconfigured::healthz(&q)))
        }
        // nats-server's internal queues; edge has none to list. Not
        // counted, as nats-server does not count it.
        Endpoint::IpQueuesz => {
            try_q!(q.bool("all"));
            json(&q, "{}".to_string())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_paths_join_as_go_path() {
        assert_eq!(normalize_base(""), "/");
        assert_eq!(normalize_base("nats/"), "/nats");
        assert_eq!(normalize_base("/a//b/../c"), "/a/c");
        assert_eq!(join("/", "/"), "/");
        assert_eq!(join("/nats", "/"), "/nats");
        assert_eq!(join("/nats", "/varz"), "/nats/varz");
        assert_eq!(clean_request_path("//varz"), "/varz");
        assert_eq!(clean_request_path("/a/../connz"), "/connz");
        assert_eq!(clean_request_path("/varz/"), "/varz/");
        assert_eq!(clean_request_path("/varz/."), "/varz");
    }
}
