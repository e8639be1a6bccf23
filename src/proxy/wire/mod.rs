//! edge's own HTTP/1.1 framing, for the request most clients send: an
//! HTTP/1.1 request whose head (and `Content-Length` body, up to 64 KiB)
//! arrived whole, for a route that sends it to its target over a pooled
//! connection.
//!
//! hyper serves such a request with a task per upstream connection, a
//! channel from the client's task to it, a channel for each body and two
//! state machines per side: about two thirds of the CPU a proxied request
//! costs. The lane does what nginx does instead: the client's own task
//! reads the head, writes the upstream request, reads the upstream
//! answer from the connection's buffer (small pieces copied out so the
//! buffer is reused, large ones sliced), and writes head and body to the
//! client in one write where they fit.
//!
//! Everything else (chunked or larger bodies, a body still on its way,
//! `Expect`, upgrades, HTTP/1.0, a head split over reads, bytes hyper
//! would refuse, routes with `forward`,
//! `to_proxy` or `follow_redirects`) goes to hyper as before, the bytes
//! already read given to it first: the lane never answers what it does
//! not fully understand, so hyper's answers to bad input stay edge's.
//!
//! One module per job:
//! - [`request`]: the client's request (head and body), when the lane takes it;
//! - [`encode`]: the heads the lane writes (upstream request, client
//!   response, with hyper's framing rules);
//! - [`upstream`]: the upstream connection and the body read from it;
//! - [`lane`]: the client connection's loop.

pub(super) mod encode;
pub(super) mod lane;
pub(super) mod request;
pub(super) mod upstream;

use bytes::Bytes;
use http::HeaderName;

/// The header names of a head as they were spelled on the wire. The next
/// hop gets them in that case (the client's request headers always, the
/// upstream's response headers with `preserve_header_key_case`); hyper
/// keeps its own record of the case private, so the lane carries this one
/// in the message's extensions.
#[derive(Clone, Debug)]
pub struct RawNames {
    head: Bytes,
    /// Each header's name as a range of `head`, in arrival order.
    names: Vec<(u32, u32)>,
}

impl RawNames {
    fn new(head: Bytes, names: Vec<(u32, u32)>) -> Self {
        RawNames { head, names }
    }

    /// The wire spelling of `name`, looked for from `cursor` on (headers
    /// mostly go out in the order they came, so the search is short).
    pub(super) fn spelling(&self, name: &HeaderName, cursor: &mut usize) -> Option<&[u8]> {
        let n = self.names.len();
        let want = name.as_str().as_bytes();
        for i in 0..n {
            let at = (*cursor + i) % n;
            let (start, end) = self.names[at];
            let raw = self.head.get(start as usize..end as usize)?;
            if raw.eq_ignore_ascii_case(want) {
                *cursor = at + 1;
                return Some(raw);
            }
        }
        None
    }
}

/// Where `part`, a slice httparse returned, lies in `buf`, the bytes it
/// parsed: the range that stays valid once `buf` is frozen into `Bytes`.
fn span(buf: &[u8], part: &[u8]) -> Option<(u32, u32)> {
    let start = (part.as_ptr() as usize).checked_sub(buf.as_ptr() as usize)?;
    let end = start.checked_add(part.len()).filter(|&e| e <= buf.len())?;
    Some((u32::try_from(start).ok()?, u32::try_from(end).ok()?))
}

/// Whether a comma-separated header value names `token` (any case).
fn names_token(value: &[u8], token: &str) -> bool {
    value
        .split(|b| *b == b',')
        .any(|t| t.trim_ascii().eq_ignore_ascii_case(token.as_bytes()))
}

/// Whether a `Transfer-Encoding` value's last coding is `chunked`.
fn ends_chunked(value: &[u8]) -> bool {
    value
        .rsplit(|b| *b == b',')
        .next()
        .is_some_and(|t| t.trim_ascii().eq_ignore_ascii_case(b"chunked"))
}

/// Why the lane's exchange with an upstream failed.
#[derive(Debug, thiserror::Error)]
pub enum WireError {
    /// The connection failed.
    #[error("{0}")]
    Io(#[from] std::io::Error),
    /// The upstream closed before its answer was complete.
    #[error("connection closed before message completed")]
    Closed,
    /// The upstream's response head could not be parsed.
    #[error("invalid HTTP response: {0}")]
    Parse(String),
    /// The upstream's response head is larger than edge reads.
    #[error("response head larger than {0} bytes")]
    HeadTooLarge(usize),
    /// A chunk size line of the upstream's body is malformed.
    #[error("invalid chunk size line")]
    BadChunk,
    /// The client's request body could not be read.
    #[error("request body: {0}")]
    Body(crate::proxy::body::BoxError),
}
