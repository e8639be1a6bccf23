//! The client's request, read by the lane when it can serve it: the head
//! is whole in the buffer, HTTP/1.1, origin-form, without `Expect`,
//! upgrade or `Transfer-Encoding`, with at most one `Content-Length`
//! whose body (up to [`MAX_BODY`]) is whole in the buffer too, and every
//! byte is one hyper would accept. Anything else is left in the buffer,
//! untouched, for hyper.

use super::{names_token, span, RawNames};
use bytes::{Bytes, BytesMut};
use http::header::{HeaderMap, HeaderName, HeaderValue};
use http::{Method, Request, Uri};

/// As many headers as hyper reads before answering 431.
pub const MAX_HEADERS: usize = 100;
/// The largest request body the lane takes (it must have arrived with
/// its head; longer ones stream through hyper).
pub const MAX_BODY: u64 = 64 * 1024;

/// A request (head and body) the lane took from the buffer.
pub struct Arrived {
    /// The request.
    pub req: Request<()>,
    /// Its header names as the client spelled them (written upstream so).
    pub names: RawNames,
    /// Its body (`Content-Length` bytes; empty without one).
    pub body: Bytes,
    /// The client asked to close after the answer (`Connection: close`).
    pub close: bool,
}

/// Header names that make a request hyper's business.
fn for_hyper(name: &str) -> bool {
    ["transfer-encoding", "expect", "upgrade"]
        .iter()
        .any(|n| name.eq_ignore_ascii_case(n))
}

/// A `Content-Length` value the lane takes: digits only, at most
/// [`MAX_BODY`]. Anything else (signs, spaces, lists) is hyper's to judge.
fn body_length(value: &[u8]) -> Option<u64> {
    if value.is_empty() || value.len() > 6 || !value.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let n = value.iter().fold(0u64, |n, d| n * 10 + u64::from(d - b'0'));
    (n <= MAX_BODY).then_some(n)
}

/// Takes the request (head and body) at the start of `buf` when the lane
/// can serve it and `wanted` (given the path and the `Host` value) says
/// the route lets it; `None` leaves `buf` as it was.
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
    let mut length = None;
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
        } else if h.name.eq_ignore_ascii_case("content-length") {
            // A second length, even an equal one, is hyper's to judge.
            if length.is_some() {
                return None;
            }
            length = Some(body_length(h.value)?);
        }
        at.push((range(h.name.as_bytes())?, range(h.value)?));
    }
    let path_at = range(path.as_bytes())?;
    let length = usize::try_from(length.unwrap_or(0)).ok()?;
    if buf.len() - len < length || !wanted(path, host) {
        return None;
    }
    let mut names = Vec::with_capacity(at.len());
    for &(name, _) in &at {
        let bytes = buf.get(name.0 as usize..name.1 as usize)?;
        names.push((HeaderName::from_bytes(bytes).ok()?, name));
    }
    let head = buf.split_to(len).freeze();
    let body = buf.split_to(length).freeze();
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
        let mut whole = BytesMut::with_capacity(head.len() + body.len() + buf.len());
        whole.extend_from_slice(&head);
        whole.extend_from_slice(&body);
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
        body,
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
            &b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"[..],
            b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\nabc",
            b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\nabc",
            b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: +3\r\n\r\nabc",
            b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3, 3\r\n\r\nabc",
            b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 9999999\r\n\r\nabc",
            // The body has not all arrived.
            b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n\r\nabc",
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
    fn takes_a_body_that_arrived_with_its_head() {
        let (got, rest) =
            taken(b"POST /p HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabcGET /next");
        let got = got.expect("taken");
        assert_eq!(&got.body[..], b"abc");
        assert_eq!(got.req.headers()["content-length"], "3");
        assert_eq!(&rest[..], b"GET /next");
        let (got, rest) = taken(b"DELETE /p HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n");
        assert!(got.expect("taken").body.is_empty());
        assert!(rest.is_empty());
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
