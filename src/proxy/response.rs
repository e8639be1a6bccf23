//! The answer sent back to the client: node-http-proxy's web-outgoing
//! passes (`removeChunked`, `setConnection`, `setRedirectHostRewrite`,
//! `writeHeaders` with cookie rewriting and `preserveHeaderKeyCase`,
//! `writeStatusCode` with the reason phrase), after hop-by-hop headers are
//! removed and the declared `response_headers` edits applied (node's
//! `proxyRes` event fires before those passes).

use super::forward::Incoming;
use super::headers::{apply_edits, has_token, strip_hop_by_hop};
use crate::plan::proxy::{ProtocolRewrite, ProxyOptions, Rewrite, Target};
use http::header::{self, HeaderMap, HeaderValue};
use http::{StatusCode, Version};

/// What response rewriting needs to know about the request.
#[derive(Clone, Copy, Debug)]
pub struct Context<'a> {
    /// The incoming request.
    pub req: &'a Incoming<'a>,
    /// The client's HTTP version.
    pub version: Version,
    /// The target that answered.
    pub target: &'a Target,
}

/// node's `redirectRegex` (`/^201|30(1|2|7|8)$/`): 303 is not rewritten.
fn is_rewritten_redirect(status: StatusCode) -> bool {
    matches!(status.as_u16(), 201 | 301 | 302 | 307 | 308)
}

/// Rewrites the response head in place. `upgraded` keeps `Upgrade` and
/// `Connection: Upgrade` on a 101.
pub fn rewrite(
    opts: &ProxyOptions,
    cx: &Context<'_>,
    status: StatusCode,
    headers: &mut HeaderMap,
    upgraded: bool,
) {
    strip_hop_by_hop(headers, upgraded);
    // node emits `proxyRes` before its web-outgoing passes, so declared
    // edits come first and the rewrites below see them.
    apply_edits(headers, &opts.response_headers);
    if !upgraded {
        set_connection(cx, headers);
    }
    if (opts.host_rewrite.is_some() || opts.auto_rewrite || opts.protocol_rewrite.is_some())
        && is_rewritten_redirect(status)
    {
        rewrite_location(opts, cx, headers);
    }
    rewrite_cookies(headers, &opts.cookie_domain_rewrite, "domain");
    rewrite_cookies(headers, &opts.cookie_path_rewrite, "path");
}

/// node's `setConnection`: an HTTP/1.0 client gets `close` unless it
/// asked for keep-alive; HTTP/1.1 gets `keep-alive` unless it asked to
/// close. Only the close/keep-alive meaning of the client's header is
/// echoed (node copies the whole value, `Upgrade` tokens included).
fn set_connection(cx: &Context<'_>, headers: &mut HeaderMap) {
    // Only an HTTP/1.0 client's keep-alive is looked up (a header lookup
    // per request otherwise).
    let asked_close = has_token(cx.req.headers, header::CONNECTION, "close");
    let value = if asked_close
        || (cx.version == Version::HTTP_10
            && !has_token(cx.req.headers, header::CONNECTION, "keep-alive"))
    {
        "close"
    } else {
        "keep-alive"
    };
    if value == "close" {
        // hyper's map of the upstream's head is sized to it: this insert
        // would grow it, and hyper's own `entry(Connection)` for a
        // closing connection would grow it again. One growth for both.
        headers.reserve(2);
    }
    headers.insert(header::CONNECTION, HeaderValue::from_static(value));
}

/// The scheme, authority and rest of an absolute URL.
fn split_url(url: &str) -> Option<(&str, &str, &str)> {
    let (scheme, rest) = url.split_once("://")?;
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    Some((scheme, rest.get(..end)?, rest.get(end..)?))
}

/// Host and port of an authority, the port defaulted by scheme.
fn host_and_port(authority: &str, scheme: &str) -> (String, Option<u16>) {
    let authority = authority.rsplit_once('@').map_or(authority, |(_, a)| a);
    let (host, port) = match authority.strip_prefix('[') {
        Some(rest) => match rest.split_once(']') {
            Some((h, p)) => (h, p.strip_prefix(':')),
            None => (rest, None),
        },
        None => match authority.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (authority, None),
        },
    };
    let port = match port {
        Some(p) => p.parse().ok(),
        None => match scheme.to_ascii_lowercase().as_str() {
            "https" | "wss" => Some(443),
            _ => Some(80),
        },
    };
    (host.to_ascii_lowercase(), port)
}

/// `setRedirectHostRewrite`: only a Location pointing at the target's own
/// host:port is rewritten; `host_rewrite` wins over `auto_rewrite` (the
/// request's `Host`); `protocol_rewrite` replaces the scheme.
fn rewrite_location(opts: &ProxyOptions, cx: &Context<'_>, headers: &mut HeaderMap) {
    let Some(location) = headers.get(header::LOCATION).and_then(|v| v.to_str().ok()) else {
        return;
    };
    let Some((scheme, authority, rest)) = split_url(location) else {
        return;
    };
    let (host, port) = host_and_port(authority, scheme);
    if !host.eq_ignore_ascii_case(&cx.target.host) || port != Some(cx.target.port) {
        return;
    }
    let new_authority = match (&opts.host_rewrite, opts.auto_rewrite, cx.req.host()) {
        (Some(h), _, _) => h.clone(),
        (None, true, Some(h)) => h.to_owned(),
        _ => authority.to_owned(),
    };
    let new_scheme = match opts.protocol_rewrite {
        Some(ProtocolRewrite::Http) => "http",
        Some(ProtocolRewrite::Https) => "https",
        None => scheme,
    };
    let new = format!("{new_scheme}://{new_authority}{rest}");
    if let Ok(v) = HeaderValue::from_str(&new) {
        headers.insert(header::LOCATION, v);
    }
}

/// Rewrites the first `; attr=value` of each `Set-Cookie` as node's
/// `rewriteCookieProperty`: the attribute name matched without case, the
/// map's entry for the old value or `*`, and `""` removing the attribute.
fn rewrite_cookies(headers: &mut HeaderMap, rule: &Rewrite, attr: &str) {
    let Rewrite::Map(map) = rule else { return };
    let header::Entry::Occupied(mut cookies) = headers.entry(header::SET_COOKIE) else {
        return;
    };
    for cookie in cookies.iter_mut() {
        let rewritten = cookie
            .to_str()
            .ok()
            .and_then(|c| rewrite_cookie(c, map, attr))
            .and_then(|c| HeaderValue::from_str(&c).ok());
        if let Some(v) = rewritten {
            *cookie = v;
        }
    }
}

/// One cookie; `None` when nothing changes.
pub fn rewrite_cookie(cookie: &str, map: &[(String, String)], attr: &str) -> Option<String> {
    let lower = cookie.to_ascii_lowercase();
    let mut search = 0;
    // Find `;`, optional whitespace, `attr=`.
    let (start, value_start) = loop {
        let semi = search + lower.get(search..)?.find(';')?;
        let after = lower.get(semi + 1..)?;
        let ws = after.len() - after.trim_start().len();
        let name_at = semi + 1 + ws;
        if lower.get(name_at..)?.starts_with(attr)
            && lower.get(name_at + attr.len()..)?.starts_with('=')
        {
            break (semi, name_at + attr.len() + 1);
        }
        search = semi + 1;
    };
    let value_end = cookie
        .get(value_start..)?
        .find(';')
        .map_or(cookie.len(), |i| value_start + i);
    let old = cookie.get(value_start..value_end)?;
    if old.is_empty() {
        return None;
    }
    let new = map
        .iter()
        .find(|(k, _)| k == old)
        .or_else(|| map.iter().find(|(k, _)| k == "*"))
        .map(|(_, v)| v.as_str())?;
    let mut out = String::with_capacity(cookie.len());
    if new.is_empty() {
        out.push_str(cookie.get(..start)?);
    } else {
        out.push_str(cookie.get(..value_start)?);
        out.push_str(new);
    }
    out.push_str(cookie.get(value_end..)?);
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(a, b)| ((*a).to_owned(), (*b).to_owned()))
            .collect()
    }

    #[test]
    fn cookie_domain_rewrites() {
        let map = m(&[("old.com", "new.com"), ("*", "any.com")]);
        assert_eq!(
            rewrite_cookie("a=1; Domain=old.com; Path=/", &map, "domain").as_deref(),
            Some("a=1; Domain=new.com; Path=/")
        );
        assert_eq!(
            rewrite_cookie("a=1;domain=x.com", &map, "domain").as_deref(),
            Some("a=1;domain=any.com")
        );
        let remove = m(&[("*", "")]);
        assert_eq!(
            rewrite_cookie("a=1; Domain=x.com; Secure", &remove, "domain").as_deref(),
            Some("a=1; Secure")
        );
        let only = m(&[("old.com", "new.com")]);
        assert_eq!(rewrite_cookie("a=1; Domain=x.com", &only, "domain"), None);
        assert_eq!(rewrite_cookie("a=1", &only, "domain"), None);
    }

    #[test]
    fn cookie_path_rewrites() {
        let map = m(&[("/api", "/")]);
        assert_eq!(
            rewrite_cookie("s=1; Path=/api; HttpOnly", &map, "path").as_deref(),
            Some("s=1; Path=/; HttpOnly")
        );
    }

    #[test]
    fn location_parts() {
        assert_eq!(split_url("http://a:81/x?y"), Some(("http", "a:81", "/x?y")));
        assert_eq!(host_and_port("A:81", "http"), ("a".into(), Some(81)));
        assert_eq!(host_and_port("[::1]", "https"), ("::1".into(), Some(443)));
        assert!(is_rewritten_redirect(StatusCode::CREATED));
        assert!(!is_rewritten_redirect(StatusCode::SEE_OTHER));
    }
}
