//! The outgoing request: node-http-proxy's `common.setupOutgoing` (path
//! joining with `prependPath`/`ignorePath`/`toProxy`, `headers`, `auth`,
//! `changeOrigin`), web-incoming's `XHeaders` and `deleteLength`, and the
//! declared `request_headers` edits, applied in that order.

use super::headers::{apply_edits, set_all, strip_hop_by_hop};
use crate::plan::proxy::{ProxyOptions, Scheme, Target};
use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::Method;
use std::net::SocketAddr;

/// What the handler knows about the incoming request and its connection.
#[derive(Clone, Copy, Debug)]
pub struct Incoming<'a> {
    /// Request method.
    pub method: &'a Method,
    /// The request target's path and query as received (`/a?b`), or the
    /// whole absolute URL when the client sent absolute-form.
    pub url: &'a str,
    /// The path and query alone.
    pub path_and_query: &'a str,
    /// Request headers as received.
    pub headers: &'a HeaderMap,
    /// The client's address.
    pub peer: SocketAddr,
    /// The client connection is TLS.
    pub tls: bool,
}

/// The request target as text, as `Uri`'s `Display` writes it: an
/// origin-form target is borrowed (its path and query), any other form is
/// written out.
pub fn request_target(uri: &http::Uri) -> std::borrow::Cow<'_, str> {
    match uri.path_and_query() {
        Some(pq) if uri.scheme().is_none() => pq.as_str().into(),
        _ => uri.to_string().into(),
    }
}

impl<'a> Incoming<'a> {
    /// The request as both the web and the WebSocket passes read it:
    /// `url` is the request target as text (`parts.uri`'s).
    pub fn of(
        parts: &'a http::request::Parts,
        url: &'a str,
        peer: SocketAddr,
        tls: bool,
    ) -> Incoming<'a> {
        Incoming {
            method: &parts.method,
            url,
            path_and_query: parts.uri.path_and_query().map_or("/", |p| p.as_str()),
            headers: &parts.headers,
            peer,
            tls,
        }
    }

    /// The `Host` header as text, if present and readable.
    pub fn host(&self) -> Option<&str> {
        self.headers.get(header::HOST).and_then(|v| v.to_str().ok())
    }
}

/// Which kind of outgoing request is being built.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// A plain HTTP request.
    Web,
    /// A WebSocket upgrade (xfwd proto is `ws`/`wss`, no x-forwarded-host).
    WebSocket,
}

/// node's `common.urlJoin`: the non-empty parts joined with `/`, runs of
/// `/` collapsed in the path (never in the query), `http:/` and
/// `https:/` restored to `//` once. A query carried by the target path is
/// kept before the request's (node would glue the request path onto the
/// target's query; edge joins the paths and then the queries with `&`).
pub fn url_join(target_path: &str, request: &str) -> String {
    let (tpath, tquery) = split_query(target_path);
    let (rpath, rquery) = split_query(request);
    // Fast path (most requests): a target without path or query and a
    // request path that the joining rules leave as it is.
    if (tpath.is_empty() || tpath == "/")
        && tquery.is_none()
        && rpath.starts_with('/')
        && !joins_change(rpath)
    {
        return request.to_owned();
    }
    let joined: Vec<&str> = [tpath, rpath]
        .into_iter()
        .filter(|s| !s.is_empty())
        .collect();
    let mut path = collapse_slashes(&joined.join("/"));
    for scheme in ["http:/", "https:/"] {
        if let Some(at) = path.find(scheme) {
            path.insert(at + scheme.len(), '/');
        }
    }
    if !path.starts_with('/') {
        path.insert(0, '/');
    }
    let query: Vec<&str> = [tquery, rquery].into_iter().flatten().collect();
    if !query.is_empty() {
        path.push('?');
        path.push_str(&query.join("&"));
    }
    path
}

/// A path holding `//` or `:/`, which the joining rules rewrite (one
/// pass over the bytes; two substring searches cost 4x as much).
fn joins_change(path: &str) -> bool {
    path.as_bytes()
        .windows(2)
        .any(|w| w[1] == b'/' && (w[0] == b'/' || w[0] == b':'))
}

fn split_query(s: &str) -> (&str, Option<&str>) {
    match s.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (s, None),
    }
}

fn collapse_slashes(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut prev_slash = false;
    for c in s.chars() {
        if c == '/' && prev_slash {
            continue;
        }
        prev_slash = c == '/';
        out.push(c);
    }
    out
}

/// The request target sent upstream.
///
/// `strip` is the route prefix removed first (`strip_prefix`). With
/// `to_proxy`, the absolute URL (RFC 9112 absolute-form) the client asked
/// for, built from `Host` when it sent origin-form; otherwise node's
/// `urlJoin(prependPath ? target.path : '', ignorePath ? '' : path)`.
pub fn outgoing_path(
    opts: &ProxyOptions,
    target: &Target,
    req: &Incoming<'_>,
    strip: Option<&str>,
) -> String {
    if opts.to_proxy && !opts.ignore_path {
        if req.url.contains("://") {
            return req.url.to_owned();
        }
        let scheme = if req.tls { "https" } else { "http" };
        let host = req.host().unwrap_or(&target.host);
        return format!("{scheme}://{host}{}", req.path_and_query);
    }
    let mut path = req.path_and_query;
    if let Some(prefix) = strip.filter(|p| *p != "/") {
        path = path.strip_prefix(prefix).unwrap_or(path);
    }
    let path = if opts.ignore_path { "" } else { path };
    let base = if opts.prepend_path {
        target.path.as_str()
    } else {
        ""
    };
    url_join(base, path)
}

/// `host[:port]` of a target as `changeOrigin` sends it: the port only
/// when it is not the scheme's default, IPv6 in brackets.
pub fn target_authority(target: &Target) -> String {
    let host = if target.host.contains(':') {
        format!("[{}]", target.host)
    } else {
        target.host.clone()
    };
    if target.port == target.scheme.default_port() {
        host
    } else {
        format!("{host}:{}", target.port)
    }
}

/// The port in a `Host` value (`example.com:8080`, `[::1]:8080`), if any.
fn host_port(host: &str) -> Option<&str> {
    let after = match host.rfind(']') {
        Some(i) => host.get(i + 1..)?,
        None => host,
    };
    let (_, port) = after.rsplit_once(':')?;
    (!port.is_empty() && port.bytes().all(|b| b.is_ascii_digit())).then_some(port)
}

/// Appends `value` to a forwarding header (`old,new`), or sets it.
fn append_forwarded(headers: &mut HeaderMap, name: &'static str, value: &str) {
    let old: Vec<&str> = headers
        .get_all(name)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect();
    let new = if old.is_empty() {
        value.to_owned()
    } else {
        format!("{},{value}", old.join(", "))
    };
    if let Ok(v) = HeaderValue::from_str(&new) {
        headers.insert(HeaderName::from_static(name), v);
    }
}

/// Standard base64 (RFC 4648) for the Basic `Authorization` value.
pub fn base64(input: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(input.len().div_ceil(3) * 4);
    for chunk in input.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                let idx = ((n >> (18 - 6 * i)) & 63) as usize;
                out.push(char::from(ALPHABET[idx]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// The headers sent upstream, in node's order of passes: the client's
/// headers (order and case kept, hop-by-hop removed), `xfwd`, `headers`,
/// `auth` (unless the client sent `Authorization`), `changeOrigin`,
/// `agent.keep_alive: false`, `deleteLength`, then `request_headers`.
pub fn outgoing_headers(
    opts: &ProxyOptions,
    target: &Target,
    req: &Incoming<'_>,
    kind: Kind,
) -> HeaderMap {
    let mut h = req.headers.clone();
    strip_hop_by_hop(&mut h, kind == Kind::WebSocket);
    if opts.xfwd {
        let port = req
            .host()
            .and_then(host_port)
            .map(str::to_owned)
            .unwrap_or_else(|| if req.tls { "443" } else { "80" }.to_owned());
        let proto = match (kind, req.tls) {
            (Kind::Web, false) => "http",
            (Kind::Web, true) => "https",
            (Kind::WebSocket, false) => "ws",
            (Kind::WebSocket, true) => "wss",
        };
        append_forwarded(
            &mut h,
            "x-forwarded-for",
            &req.peer.ip().to_canonical().to_string(),
        );
        append_forwarded(&mut h, "x-forwarded-port", &port);
        append_forwarded(&mut h, "x-forwarded-proto", proto);
        if kind == Kind::Web && !h.contains_key("x-forwarded-host") {
            if let Some(host) = req.headers.get(header::HOST) {
                h.insert(HeaderName::from_static("x-forwarded-host"), host.clone());
            }
        }
    }
    set_all(&mut h, &opts.headers);
    if let Some(auth) = &opts.auth {
        if !h.contains_key(header::AUTHORIZATION) {
            let token = base64(format!("{}:{}", auth.user, auth.password).as_bytes());
            if let Ok(v) = HeaderValue::from_str(&format!("Basic {token}")) {
                h.insert(header::AUTHORIZATION, v);
            }
        }
    }
    if opts.change_origin {
        if let Ok(v) = HeaderValue::from_str(&target_authority(target)) {
            h.insert(header::HOST, v);
        }
    }
    if !opts.agent.keep_alive && kind == Kind::Web {
        h.insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    let unframed = !req.headers.contains_key(header::CONTENT_LENGTH)
        && !req.headers.contains_key(header::TRANSFER_ENCODING);
    if (req.method == Method::DELETE || req.method == Method::OPTIONS) && unframed {
        h.insert(header::CONTENT_LENGTH, HeaderValue::from_static("0"));
    }
    apply_edits(&mut h, &opts.request_headers);
    h
}

/// The absolute URI the pooled client connects by: the target's scheme
/// (`ws` as `http`), authority, and `path`. Built in one buffer that the
/// URI then owns, as this runs once per request.
pub fn upstream_uri(target: &Target, path: &str) -> Result<http::Uri, http::uri::InvalidUri> {
    let scheme = match target.scheme {
        Scheme::Http | Scheme::Ws => "http://",
        Scheme::Https | Scheme::Wss => "https://",
    };
    let mut port = itoa::Buffer::new();
    let port = port.format(target.port);
    let mut uri =
        String::with_capacity(scheme.len() + target.host.len() + port.len() + path.len() + 3);
    uri.push_str(scheme);
    if target.host.contains(':') {
        uri.push('[');
        uri.push_str(&target.host);
        uri.push(']');
    } else {
        uri.push_str(&target.host);
    }
    uri.push(':');
    uri.push_str(port);
    uri.push_str(path);
    http::Uri::from_maybe_shared(bytes::Bytes::from(uri))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_join_as_node() {
        assert_eq!(url_join("/", "/foo"), "/foo");
        assert_eq!(url_join("/base", "/foo?a=1//2"), "/base/foo?a=1//2");
        assert_eq!(url_join("/base/", "/"), "/base/");
        assert_eq!(url_join("/base", "/"), "/base/");
        assert_eq!(url_join("/base", ""), "/base");
        assert_eq!(url_join("", ""), "/");
        assert_eq!(url_join("", "//a///b"), "/a/b");
        assert_eq!(url_join("/x", "/redirect/http://y"), "/x/redirect/http://y");
        assert_eq!(url_join("/t?k=v", "/p?q=1"), "/t/p?k=v&q=1");
        assert_eq!(url_join("/", "?q=1"), "/?q=1");
    }

    #[test]
    fn base64_rfc4648_vectors() {
        assert_eq!(base64(b""), "");
        assert_eq!(base64(b"f"), "Zg==");
        assert_eq!(base64(b"fo"), "Zm8=");
        assert_eq!(base64(b"foo"), "Zm9v");
        assert_eq!(base64(b"foobar"), "Zm9vYmFy");
        assert_eq!(base64(b"user:pass"), "dXNlcjpwYXNz");
    }

    #[test]
    fn upstream_uris() {
        let target = |scheme, host: &str, port| Target {
            scheme,
            host: host.into(),
            port,
            path: "/".into(),
        };
        let uri = |t: &Target, path| upstream_uri(t, path).map(|u| u.to_string());
        assert_eq!(
            uri(&target(Scheme::Ws, "::1", 8080), "/a?b=1")
                .ok()
                .as_deref(),
            Some("http://[::1]:8080/a?b=1")
        );
        assert_eq!(
            uri(&target(Scheme::Wss, "example.com", 443), "/")
                .ok()
                .as_deref(),
            Some("https://example.com:443/")
        );
        assert!(uri(&target(Scheme::Http, "a", 80), "/bad path").is_err());
    }

    #[test]
    fn host_ports() {
        assert_eq!(host_port("a:8080"), Some("8080"));
        assert_eq!(host_port("[::1]:81"), Some("81"));
        assert_eq!(host_port("[::1]"), None);
        assert_eq!(host_port("a"), None);
    }
}
