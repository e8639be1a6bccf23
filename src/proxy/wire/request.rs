//! The client's request head, read by the lane when it can serve it: the
//! head is whole in the buffer, HTTP/1.1, origin-form, without a body
//! (no `Content-Length`, no `Transfer-Encoding`), `Expect` or upgrade,
//! and every byte is one hyper would accept. Anything else is left in
//! the buffer, untouched, for hyper.

use super::{names_token, span, RawNames};
use bytes::BytesMut;
use http::header::{HeaderMap, HeaderName, HeaderValue};
use http::{Method, Request, Uri};

/// As many headers as hyper reads before answering 431.
pub const MAX_HEADERS: usize = 100;

/// A request head the lane took from the buffer.
pub struct Arrived {
    /// The request.
    pub req: Request<()>,
    /// Its header names as the client spelled them (written upstream so).
    pub names: RawNames,
    /// The client asked to close after the answer (`Connection: close`).
    pub close: bool,
}

/// Header names that make a request hyper's business.
fn for_hyper(name: &str) -> bool {
    ["content-length", "transfer-encoding", "expect", "upgrade"]
        .iter()
        .any(|n| name.eq_ignore_ascii_case(n))
}

/// Takes the request head at the start of `buf` when the lane can serve
/// it and `wanted` (given the path and the `Host` value) says the route
/// lets it; `None` leaves `buf` as it was.
pub fn take(
    buf: &mut BytesMut,
    wanted: impl FnOnce(&str, Option<&[u8]>) -> bool,
) -> Option<Arrived> {
    let mut raw = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut parsed = httparse::Request::new(&mut raw);
    let len = match parsed.parse(buf) {
        Ok(httparse::Status::Complete(n)) => n,
        _ => return None,
    };
    if parsed.version != Some(1) {
        return None;
    }
    let method = Method::from_bytes(parsed.method?.as_bytes()).ok()?;
    let path = parsed.path?;
    if method == Method::CONNECT || !path.starts_with('/') {
        return None;
    }
    let range = |part: &[u8]| span(buf, part);
    let mut close = false;
    let mut host = None;
    // Name range, value range, per header.
    let mut at = Vec::with_capacity(parsed.headers.len());
    for h in parsed.headers.iter() {
        if for_hyper(h.name) {
            return None;
        }
        if h.name.eq_ignore_ascii_case("connection") {
            if names_token(h.value, "upgrade") {
                return None;
            }
            close |= names_token(h.value, "close");
        } else if h.name.eq_ignore_ascii_case("host") && host.is_none() {
            host = Some(h.value);
        }
        at.push((range(h.name.as_bytes())?, range(h.value)?));
    }
    let path_at = range(path.as_bytes())?;
    if !wanted(path, host) {
        return None;
    }
    let mut names = Vec::with_capacity(at.len());
    for &(name, _) in &at {
        let bytes = buf.get(name.0 as usize..name.1 as usize)?;
        names.push((HeaderName::from_bytes(bytes).ok()?, name));
    }
    let head = buf.split_to(len).freeze();
    let slice = |(start, end): (u32, u32)| head.slice(start as usize..end as usize);
    let built = (|| {
        // Room for what the forwarding passes may add.
        let mut headers = HeaderMap::with_capacity(at.len() + 4);
        for ((name, _), &(_, value)) in names.iter().zip(&at) {
            headers.append(
                name.clone(),
                HeaderValue::from_maybe_shared(slice(value)).ok()?,
            );
        }
        Some((Uri::from_maybe_shared(slice(path_at)).ok()?, headers))
    })();
    let Some((uri, headers)) = built else {
        // Bytes the http types refuse (hyper answers them): back in place.
        let mut whole = BytesMut::with_capacity(head.len() + buf.len());
        whole.extend_from_slice(&head);
        whole.extend_from_slice(buf);
        *buf = whole;
        return None;
    };
    let mut req = Request::new(());
    *req.method_mut() = method;
    *req.uri_mut() = uri;
    *req.headers_mut() = headers;
    let spans = names.into_iter().map(|(_, span)| span).collect();
    Some(Arrived {
        req,
        names: RawNames::new(head, spans),
        close,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn taken(bytes: &[u8]) -> (Option<Arrived>, BytesMut) {
        let mut buf = BytesMut::from(bytes);
        let got = take(&mut buf, |_, _| true);
        (got, buf)
    }

    #[test]
    fn takes_a_bodyless_head_and_leaves_what_follows() {
        let (got, rest) = taken(b"GET /a?b HTTP/1.1\r\nHost: x\r\nX-Case: 1\r\n\r\nGET /next");
        let got = got.expect("taken");
        assert_eq!(got.req.uri(), "/a?b");
        assert_eq!(got.req.headers()["x-case"], "1");
        assert!(!got.close);
        assert_eq!(&rest[..], b"GET /next");
        let names = &got.names;
        let mut cursor = 0;
        let name = HeaderName::from_static("x-case");
        assert_eq!(names.spelling(&name, &mut cursor), Some(&b"X-Case"[..]));
    }

    #[test]
    fn leaves_hyper_its_requests_untouched() {
        for head in [
            &b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n"[..],
            b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n",
            b"GET / HTTP/1.0\r\nHost: x\r\n\r\n",
            b"GET / HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n",
            b"GET / HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n\r\n",
            b"GET http://x/ HTTP/1.1\r\nHost: x\r\n\r\n",
            b"CONNECT x:1 HTTP/1.1\r\nHost: x\r\n\r\n",
            b"GET / HTTP/1.1\r\nHost: x\r\n",
            b"GET / HTTP/1.1\r\nHo st: x\r\n\r\n",
            b"GET /\x7f HTTP/1.1\r\nHost: x\r\n\r\n",
        ] {
            let (got, rest) = taken(head);
            assert!(got.is_none(), "{}", String::from_utf8_lossy(head));
            assert_eq!(&rest[..], head);
        }
    }

    #[test]
    fn connection_close_is_seen() {
        let (got, _) = taken(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: keep-alive, Close\r\n\r\n");
        assert!(got.expect("taken").close);
    }

    #[test]
    fn a_route_that_declines_leaves_the_head() {
        let head = b"GET /p HTTP/1.1\r\nHost: h:1\r\n\r\n";
        let mut buf = BytesMut::from(&head[..]);
        let mut seen = None;
        let got = take(&mut buf, |path, host| {
            seen = Some((path.to_owned(), host.map(<[u8]>::to_vec)));
            false
        });
        assert!(got.is_none());
        assert_eq!(&buf[..], head);
        assert_eq!(seen, Some(("/p".to_owned(), Some(b"h:1".to_vec()))));
    }
}
