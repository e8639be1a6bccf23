//! The heads the lane writes: the request to the upstream (the client's
//! header names as spelled, nothing added but `Host`) and the response to
//! the client, framed by hyper's server rules so a response reads the
//! same whichever of the two wrote it (`Content-Length` or
//! `Transfer-Encoding` from the head, else from the body's size; a `date`
//! when there is none; `connection: close` when the connection closes).

use super::{ends_chunked, names_token, RawNames};
use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::{Method, StatusCode};
use std::cell::RefCell;
use std::time::{SystemTime, UNIX_EPOCH};

/// Writes header names, in their wire spelling when one is known.
struct Names<'a> {
    raw: Option<&'a RawNames>,
    cursor: usize,
}

impl<'a> Names<'a> {
    fn new(raw: Option<&'a RawNames>) -> Self {
        Names { raw, cursor: 0 }
    }

    fn write(&mut self, out: &mut Vec<u8>, name: &HeaderName) {
        let spelled = self
            .raw
            .and_then(|raw| raw.spelling(name, &mut self.cursor));
        out.extend_from_slice(spelled.unwrap_or(name.as_str().as_bytes()));
        out.extend_from_slice(b": ");
    }
}

/// The upstream request head: `method target HTTP/1.1` and `headers` in
/// their order, names as `raw` spells them.
pub fn request_head(
    out: &mut Vec<u8>,
    method: &Method,
    target: &str,
    headers: &HeaderMap,
    raw: Option<&RawNames>,
) {
    out.extend_from_slice(method.as_str().as_bytes());
    out.push(b' ');
    out.extend_from_slice(target.as_bytes());
    out.extend_from_slice(b" HTTP/1.1\r\n");
    let mut names = Names::new(raw);
    for (name, value) in headers {
        names.write(out, name);
        out.extend_from_slice(value.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"\r\n");
}

/// How the body after a response head is sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Framing {
    /// No body is written (`HEAD`, 204, 304).
    pub bodiless: bool,
    /// The body goes in chunks.
    pub chunked: bool,
    /// The connection closes after this response.
    pub close: bool,
}

/// What the body itself says about its length (hyper's `BodyLength`).
#[derive(Clone, Copy, Debug)]
pub enum BodySize {
    /// The body is already at its end.
    Empty,
    /// Exactly this many bytes.
    Known(u64),
    /// Unknown until it ends.
    Unknown,
}

fn can_chunk(head: bool, status: StatusCode) -> bool {
    !head
        && !status.is_informational()
        && !matches!(status, StatusCode::NO_CONTENT | StatusCode::NOT_MODIFIED)
}

fn can_have_length(status: StatusCode) -> bool {
    !status.is_informational()
        && !matches!(status, StatusCode::NO_CONTENT | StatusCode::NOT_MODIFIED)
}

/// Writes the response head for a client on HTTP/1.1; `keep_alive` is
/// false when the connection closes after it whatever the head says (the
/// client asked, or the listener drains).
pub fn response_head(
    out: &mut Vec<u8>,
    res: &mut http::response::Parts,
    head_request: bool,
    size: BodySize,
    keep_alive: bool,
) -> Framing {
    let status = res.status;
    if !keep_alive {
        // hyper's `enforce_version`: a closing HTTP/1.1 connection says so.
        let close = HeaderValue::from_static("close");
        match res.headers.entry(header::CONNECTION) {
            header::Entry::Occupied(mut e) => {
                if !e.iter().any(names_close) {
                    e.append(close);
                }
            }
            header::Entry::Vacant(e) => {
                e.insert(close);
            }
        }
    }
    let reason = res.extensions.get::<hyper::ext::ReasonPhrase>();
    if status == StatusCode::OK && reason.is_none() {
        out.extend_from_slice(b"HTTP/1.1 200 OK\r\n");
    } else {
        out.extend_from_slice(b"HTTP/1.1 ");
        out.extend_from_slice(status.as_str().as_bytes());
        out.push(b' ');
        match reason {
            Some(r) => out.extend_from_slice(r.as_bytes()),
            None => out.extend_from_slice(status.canonical_reason().unwrap_or("<none>").as_bytes()),
        }
        out.extend_from_slice(b"\r\n");
    }
    let mut names = Names::new(res.extensions.get::<RawNames>());
    let mut framing = Framing {
        bodiless: !can_chunk(head_request, status),
        chunked: false,
        close: !keep_alive,
    };
    let mut wrote_len = false;
    let mut wrote_date = false;
    // The joined header being written (`connection`, `transfer-encoding`,
    // `trailer`: one line, values comma-separated, as hyper writes them).
    let mut joined: Option<&HeaderName> = None;
    let mut last_coding_chunked = false;
    let mut lengths = 0;
    for (name, value) in &res.headers {
        if joined.is_some_and(|j| j != name) {
            end_joined(out, joined.take(), last_coding_chunked);
        }
        match *name {
            header::CONTENT_LENGTH => {
                lengths += 1;
                let empty = matches!(size, BodySize::Empty);
                // An empty body's length is written below; a HEAD answer
                // keeps every length the upstream gave, others the first.
                if (empty && !head_request) || (!empty && lengths > 1) {
                    continue;
                }
                wrote_len = true;
            }
            header::TRANSFER_ENCODING | header::TRAILER if framing.bodiless => continue,
            header::TRANSFER_ENCODING | header::TRAILER | header::CONNECTION => {
                if *name == header::TRANSFER_ENCODING {
                    wrote_len = true;
                    framing.chunked = true;
                    last_coding_chunked = ends_chunked(value.as_bytes());
                } else if *name == header::CONNECTION && names_close(value) {
                    framing.close = true;
                }
                if joined.is_some() {
                    out.extend_from_slice(b", ");
                } else {
                    names.write(out, name);
                    joined = Some(name);
                }
                out.extend_from_slice(value.as_bytes());
                continue;
            }
            header::DATE => wrote_date = true,
            _ => {}
        }
        names.write(out, name);
        out.extend_from_slice(value.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    end_joined(out, joined, last_coding_chunked);
    if !wrote_len {
        match size {
            BodySize::Unknown if !framing.bodiless => {
                names.write(out, &header::TRANSFER_ENCODING);
                out.extend_from_slice(b"chunked\r\n");
                framing.chunked = true;
            }
            BodySize::Unknown => {}
            BodySize::Empty | BodySize::Known(0) => {
                if can_have_length(status) && !head_request {
                    names.write(out, &header::CONTENT_LENGTH);
                    out.extend_from_slice(b"0\r\n");
                }
            }
            BodySize::Known(n) => {
                if can_have_length(status) {
                    names.write(out, &header::CONTENT_LENGTH);
                    out.extend_from_slice(itoa::Buffer::new().format(n).as_bytes());
                    out.extend_from_slice(b"\r\n");
                }
            }
        }
    }
    if !wrote_date {
        names.write(out, &header::DATE);
        http_date(out);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"\r\n");
    framing
}

/// Ends the line of a joined header; a `transfer-encoding` whose last
/// coding is not `chunked` gets it (the body is sent chunked).
fn end_joined(out: &mut Vec<u8>, joined: Option<&HeaderName>, last_coding_chunked: bool) {
    let Some(name) = joined else { return };
    if *name == header::TRANSFER_ENCODING && !last_coding_chunked {
        out.extend_from_slice(b", chunked");
    }
    out.extend_from_slice(b"\r\n");
}

fn names_close(v: &HeaderValue) -> bool {
    names_token(v.as_bytes(), "close")
}

thread_local! {
    /// This second's `date` value, formatted once per second per worker.
    static DATE: RefCell<(u64, String)> = const { RefCell::new((u64::MAX, String::new())) };
}

/// Appends the current time as an HTTP date.
fn http_date(out: &mut Vec<u8>) {
    let now = SystemTime::now();
    let secs = now.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    DATE.with(|cell| {
        let mut date = cell.borrow_mut();
        if date.0 != secs {
            *date = (secs, httpdate::fmt_http_date(now));
        }
        out.extend_from_slice(date.1.as_bytes());
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head(
        status: u16,
        headers: &[(&str, &str)],
        head_req: bool,
        size: BodySize,
        ka: bool,
    ) -> (String, Framing) {
        let mut res = http::Response::new(());
        *res.status_mut() = StatusCode::from_u16(status).expect("status");
        for (n, v) in headers {
            res.headers_mut().append(
                HeaderName::from_bytes(n.as_bytes()).expect("name"),
                HeaderValue::from_str(v).expect("value"),
            );
        }
        let (mut parts, ()) = res.into_parts();
        let mut out = Vec::new();
        let framing = response_head(&mut out, &mut parts, head_req, size, ka);
        let text = String::from_utf8(out).expect("utf-8");
        let (text, date) = text.rsplit_once("date: ").expect("a date");
        assert!(date.ends_with(" GMT\r\n\r\n"), "{date}");
        (text.to_owned(), framing)
    }

    #[test]
    fn lengths_come_from_the_head_or_the_body() {
        let (h, f) = head(
            200,
            &[("content-length", "2")],
            false,
            BodySize::Known(2),
            true,
        );
        assert_eq!(h, "HTTP/1.1 200 OK\r\ncontent-length: 2\r\n");
        assert!(!f.chunked && !f.close && !f.bodiless);
        let (h, f) = head(200, &[("x", "1")], false, BodySize::Unknown, true);
        assert_eq!(
            h,
            "HTTP/1.1 200 OK\r\nx: 1\r\ntransfer-encoding: chunked\r\n"
        );
        assert!(f.chunked);
        let (h, _) = head(404, &[], false, BodySize::Known(9), true);
        assert_eq!(h, "HTTP/1.1 404 Not Found\r\ncontent-length: 9\r\n");
        let (h, _) = head(
            200,
            &[("content-length", "0")],
            false,
            BodySize::Empty,
            true,
        );
        assert_eq!(h, "HTTP/1.1 200 OK\r\ncontent-length: 0\r\n");
    }

    #[test]
    fn bodiless_answers_keep_their_length_and_write_no_body() {
        let (h, f) = head(200, &[("content-length", "5")], true, BodySize::Empty, true);
        assert_eq!(h, "HTTP/1.1 200 OK\r\ncontent-length: 5\r\n");
        assert!(f.bodiless);
        let (h, f) = head(304, &[], false, BodySize::Empty, true);
        assert_eq!(h, "HTTP/1.1 304 Not Modified\r\n");
        assert!(f.bodiless);
    }

    #[test]
    fn joined_headers_are_one_line() {
        let (h, f) = head(
            200,
            &[
                ("transfer-encoding", "gzip"),
                ("x", "1"),
                ("connection", "a"),
                ("connection", "b"),
            ],
            false,
            BodySize::Unknown,
            true,
        );
        assert_eq!(
            h,
            "HTTP/1.1 200 OK\r\ntransfer-encoding: gzip, chunked\r\nx: 1\r\nconnection: a, b\r\n"
        );
        assert!(f.chunked);
        let (h, _) = head(
            200,
            &[("content-length", "3"), ("content-length", "3")],
            false,
            BodySize::Known(3),
            true,
        );
        assert_eq!(h, "HTTP/1.1 200 OK\r\ncontent-length: 3\r\n");
        let (h, _) = head(
            200,
            &[("content-length", "3"), ("content-length", "3")],
            true,
            BodySize::Empty,
            true,
        );
        assert_eq!(
            h,
            "HTTP/1.1 200 OK\r\ncontent-length: 3\r\ncontent-length: 3\r\n"
        );
    }

    #[test]
    fn a_closing_connection_says_close() {
        let (h, f) = head(
            200,
            &[("connection", "keep-alive")],
            false,
            BodySize::Empty,
            false,
        );
        assert_eq!(
            h,
            "HTTP/1.1 200 OK\r\nconnection: keep-alive, close\r\ncontent-length: 0\r\n"
        );
        assert!(f.close);
        let (_, f) = head(
            200,
            &[("connection", "close")],
            false,
            BodySize::Empty,
            true,
        );
        assert!(f.close);
    }
}
