//! Hop-by-hop headers (RFC 9110 7.6.1) and the declared header edits
//! (`request_headers` / `response_headers`, node's `proxyReq`/`proxyRes`).
//!
//! node-http-proxy forwards hop-by-hop headers both ways; edge drops them
//! and lets hyper frame each hop itself (spec section 3, deviations).

use crate::plan::proxy::HeaderEdits;
use http::header::{self, HeaderMap, HeaderName, HeaderValue};

/// The hop-by-hop headers edge never forwards (besides those named in
/// `Connection`); `upgrade` is kept for WebSocket upgrades on `ws` routes.
static HOP_BY_HOP: [HeaderName; 6] = [
    header::CONNECTION,
    HeaderName::from_static("proxy-connection"),
    HeaderName::from_static("keep-alive"),
    header::TE,
    header::TRANSFER_ENCODING,
    header::UPGRADE,
];

/// True when a comma-separated header (any of its lines) holds `token`,
/// ignoring case: `Connection: keep-alive, Upgrade` has `upgrade`.
pub fn has_token(headers: &HeaderMap, name: HeaderName, token: &str) -> bool {
    headers.get_all(name).iter().any(|v| {
        v.to_str()
            .is_ok_and(|s| s.split(',').any(|t| t.trim().eq_ignore_ascii_case(token)))
    })
}

/// A WebSocket upgrade request: `GET` with `Upgrade: websocket` (as
/// node's ws-incoming checks) and `Connection` naming `upgrade` (token,
/// not string equality).
pub fn is_websocket_upgrade(method: &http::Method, headers: &HeaderMap) -> bool {
    method == http::Method::GET
        && has_token(headers, header::UPGRADE, "websocket")
        && has_token(headers, header::CONNECTION, "upgrade")
}

/// Removes the hop-by-hop headers and every header named in `Connection`.
/// With `keep_upgrade`, `Upgrade` stays and `Connection` becomes `Upgrade`
/// where the client wrote it.
/// A `Content-Length` beside `Transfer-Encoding` goes too (RFC 9112 6.3:
/// the message was framed by the encoding; forwarding both is how requests
/// get smuggled).
pub fn strip_hop_by_hop(headers: &mut HeaderMap, keep_upgrade: bool) {
    // The common head has none: answered in one pass over its (few)
    // names, without allocating.
    if !keep_upgrade && !headers.keys().any(|n| HOP_BY_HOP.contains(n)) {
        return;
    }
    // Named by `Connection` (a token is compared where it lies, never
    // made into a header name of its own).
    let named = |name: &HeaderName| {
        headers
            .get_all(header::CONNECTION)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|s| s.split(','))
            .any(|t| name.as_str().eq_ignore_ascii_case(t.trim()))
    };
    let encoded = headers.contains_key(header::TRANSFER_ENCODING);
    let kept =
        |name: &HeaderName| keep_upgrade && (name == header::UPGRADE || name == header::CONNECTION);
    let gone: Vec<HeaderName> = headers
        .keys()
        .filter(|n| {
            (HOP_BY_HOP.contains(n) || named(n) || (encoded && *n == header::CONTENT_LENGTH))
                && !kept(n)
        })
        .cloned()
        .collect();
    if keep_upgrade {
        headers.insert(header::CONNECTION, HeaderValue::from_static("Upgrade"));
    }
    remove_in_order(headers, &gone);
}

/// Removes every header named in `names` and keeps the others in their
/// order. `HeaderMap::remove` moves the last header into the hole, and
/// node-http-proxy, nginx and the upstream's own order all say otherwise.
pub fn remove_in_order(headers: &mut HeaderMap, names: &[HeaderName]) {
    let Some(first) = headers.keys().position(|n| names.contains(n)) else {
        return;
    };
    if headers.keys().skip(first).all(|n| names.contains(n)) {
        // Only the last names go (a client's `Connection: close` is often
        // its last header): removed from the end, nothing moves.
        for _ in first..headers.keys_len() {
            if let Some(last) = headers.keys().last().cloned() {
                headers.remove(last);
            }
        }
        return;
    }
    let old = std::mem::take(headers);
    headers.reserve(old.len());
    let mut current: Option<HeaderName> = None;
    for (name, value) in old {
        if let Some(name) = name {
            current = (!names.contains(&name)).then_some(name);
        }
        if let Some(name) = &current {
            headers.append(name.clone(), value);
        }
    }
}

/// Applies declared edits: removals first, then sets (replacing any
/// header of the same name in place), in file order. Names and values were
/// validated at lowering time; an invalid one is skipped, never a panic.
pub fn apply_edits(headers: &mut HeaderMap, edits: &HeaderEdits) {
    let gone: Vec<HeaderName> = edits
        .remove
        .iter()
        .filter_map(|n| HeaderName::from_bytes(n.as_bytes()).ok())
        .collect();
    remove_in_order(headers, &gone);
    set_all(headers, &edits.set);
}

/// Sets each `(name, value)`, replacing headers of the same name.
pub fn set_all(headers: &mut HeaderMap, pairs: &[(String, String)]) {
    for (name, value) in pairs {
        if let (Ok(n), Ok(v)) = (
            HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_str(value),
        ) {
            headers.insert(n, v);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (n, v) in pairs {
            h.append(
                HeaderName::from_bytes(n.as_bytes()).unwrap(),
                HeaderValue::from_str(v).unwrap(),
            );
        }
        h
    }

    /// The headers as (name, value) pairs in iteration order.
    fn in_order(h: &HeaderMap) -> Vec<(&str, &str)> {
        h.iter()
            .map(|(n, v)| (n.as_str(), v.to_str().unwrap()))
            .collect()
    }

    #[test]
    fn strips_hop_by_hop_and_connection_named() {
        let mut h = map(&[
            ("connection", "keep-alive, X-Secret"),
            ("keep-alive", "timeout=5"),
            ("x-secret", "1"),
            ("te", "trailers"),
            ("transfer-encoding", "chunked"),
            ("content-length", "12"),
            ("upgrade", "websocket"),
            ("proxy-connection", "keep-alive"),
            ("x-kept", "yes"),
        ]);
        strip_hop_by_hop(&mut h, false);
        assert_eq!(h.len(), 1);
        assert_eq!(h["x-kept"], "yes");
    }

    #[test]
    fn keeps_upgrade_for_websockets() {
        let mut h = map(&[
            ("connection", "keep-alive, Upgrade"),
            ("upgrade", "websocket"),
        ]);
        assert!(is_websocket_upgrade(&http::Method::GET, &h));
        assert!(!is_websocket_upgrade(&http::Method::POST, &h));
        strip_hop_by_hop(&mut h, true);
        assert_eq!(h["upgrade"], "websocket");
        assert_eq!(h["connection"], "Upgrade");
    }

    #[test]
    fn edits_remove_then_set() {
        let mut h = map(&[("x-a", "1"), ("x-b", "2")]);
        apply_edits(
            &mut h,
            &HeaderEdits {
                set: vec![("X-A".into(), "new".into())],
                remove: vec!["x-b".into()],
            },
        );
        assert_eq!(h["x-a"], "new");
        assert!(h.get("x-b").is_none());
    }

    #[test]
    fn removal_keeps_the_order_of_the_rest() {
        let mut h = map(&[
            ("date", "d"),
            ("connection", "x-gone"),
            ("set-cookie", "a=1"),
            ("x-gone", "1"),
            ("set-cookie", "b=2"),
            ("server", "s"),
            ("content-length", "2"),
        ]);
        strip_hop_by_hop(&mut h, false);
        assert_eq!(
            in_order(&h),
            [
                ("date", "d"),
                ("set-cookie", "a=1"),
                ("set-cookie", "b=2"),
                ("server", "s"),
                ("content-length", "2")
            ]
        );
    }

    #[test]
    fn removal_of_the_last_names_keeps_the_order_of_the_rest() {
        let mut h = map(&[
            ("host", "h"),
            ("set-cookie", "a=1"),
            ("x-a", "1"),
            ("set-cookie", "b=2"),
            ("te", "trailers"),
            ("connection", "close"),
            ("te", "gzip"),
        ]);
        strip_hop_by_hop(&mut h, false);
        assert_eq!(
            in_order(&h),
            [
                ("host", "h"),
                ("set-cookie", "a=1"),
                ("set-cookie", "b=2"),
                ("x-a", "1")
            ]
        );
    }
}
