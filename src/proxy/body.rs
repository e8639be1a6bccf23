//! Body types: what goes upstream and what goes back to the client, both
//! streamed frame by frame (never buffered whole), and the access log line
//! written when the client's body ends or is dropped.

use super::balance::InFlight;
use super::stream::Answered;
use bytes::Bytes;
use http_body_util::{combinators::UnsyncBoxBody, BodyExt, Full};
use hyper::body::{Body, Frame, SizeHint};
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Instant;
use tokio::sync::mpsc;

/// Any body error, boxed: hyper's, or a forward copy that fell behind.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// A request body sent upstream.
pub type ReqBody = UnsyncBoxBody<Bytes, BoxError>;

/// A response body sent to the client.
pub type ResBody = UnsyncBoxBody<Bytes, BoxError>;

/// A whole body from a string (error pages, edge's own answers).
pub fn full(text: String) -> UnsyncBoxBody<Bytes, BoxError> {
    Full::new(Bytes::from(text))
        .map_err(|never| match never {})
        .boxed_unsync()
}

/// An empty body.
pub fn empty() -> UnsyncBoxBody<Bytes, BoxError> {
    full(String::new())
}

/// Boxes a hyper body, errors boxed too.
pub fn boxed<B>(body: B) -> UnsyncBoxBody<Bytes, BoxError>
where
    B: Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    body.map_err(Into::into).boxed_unsync()
}

/// What the access log says about one request; written once, when the
/// response body ends (or is dropped, e.g. the client went away).
#[derive(Debug)]
pub struct AccessLog {
    /// The client.
    pub peer: SocketAddr,
    /// Request method.
    pub method: http::Method,
    /// Request target as received.
    pub path: http::Uri,
    /// Status sent.
    pub status: u16,
    /// The upstream URL, or `-` when edge answered itself.
    pub upstream: String,
    /// When the request arrived.
    pub start: Instant,
}

impl AccessLog {
    /// `edge: proxy PEER "METHOD PATH" STATUS upstream=UP bytes=N Dms`.
    fn write(&self, bytes: u64) {
        crate::log::access(|out| self.render(bytes, out));
    }

    fn render(&self, bytes: u64, out: &mut Vec<u8>) {
        use std::io::Write;
        let mut n = itoa::Buffer::new();
        out.extend_from_slice(b"edge: proxy ");
        match self.peer {
            SocketAddr::V4(a) => {
                for (i, octet) in a.ip().octets().iter().enumerate() {
                    if i > 0 {
                        out.push(b'.');
                    }
                    out.extend_from_slice(n.format(*octet).as_bytes());
                }
                out.push(b':');
                out.extend_from_slice(n.format(a.port()).as_bytes());
            }
            SocketAddr::V6(a) => {
                let _ = write!(out, "{a}");
            }
        }
        out.extend_from_slice(b" \"");
        out.extend_from_slice(self.method.as_str().as_bytes());
        out.push(b' ');
        out.extend_from_slice(super::forward::request_target(&self.path).as_bytes());
        out.extend_from_slice(b"\" ");
        out.extend_from_slice(n.format(self.status).as_bytes());
        out.extend_from_slice(b" upstream=");
        out.extend_from_slice(self.upstream.as_bytes());
        out.extend_from_slice(b" bytes=");
        out.extend_from_slice(n.format(bytes).as_bytes());
        out.push(b' ');
        out.extend_from_slice(n.format(self.start.elapsed().as_millis()).as_bytes());
        out.extend_from_slice(b"ms");
    }
}

/// A response body that counts its bytes and writes the access log line
/// when it ends or is dropped.
pub struct Logged {
    inner: ResBody,
    bytes: u64,
    log: Option<AccessLog>,
    _in_flight: Option<InFlight>,
    /// Counts the request answered when hyper drops the body.
    _answered: Option<Answered>,
}

impl Logged {
    /// Wraps `inner`; `log` is written exactly once. `in_flight` keeps
    /// the target's request count (for `least_conn`) until the body ends.
    pub fn new(inner: ResBody, log: AccessLog, in_flight: Option<InFlight>) -> Self {
        Logged {
            inner,
            bytes: 0,
            log: Some(log),
            _in_flight: in_flight,
            _answered: None,
        }
    }

    /// Counts the request answered on its connection once hyper drops
    /// this body (a connection parks only when all its requests are).
    pub(crate) fn answering(mut self, answered: Answered) -> Self {
        self._answered = Some(answered);
        self
    }

    /// Wraps `inner` without an access log line (an embedder's response);
    /// `in_flight` is held until the body ends, as in [`Logged::new`].
    pub fn unlogged(inner: ResBody, in_flight: Option<InFlight>) -> Self {
        Logged {
            inner,
            bytes: 0,
            log: None,
            _in_flight: in_flight,
            _answered: None,
        }
    }

    fn finish(&mut self) {
        if let Some(log) = self.log.take() {
            log.write(self.bytes);
        }
    }
}

impl Drop for Logged {
    fn drop(&mut self) {
        self.finish();
    }
}

impl Body for Logged {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let polled = Pin::new(&mut self.inner).poll_frame(cx);
        match &polled {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(data) = frame.data_ref() {
                    self.bytes += data.len() as u64;
                }
            }
            Poll::Ready(None) | Poll::Ready(Some(Err(_))) => self.finish(),
            Poll::Pending => {}
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// The forward copy of a request body fell behind the main upstream and
/// was cut off (the forward target is fire-and-forget; it never slows the
/// main request down or makes edge buffer).
#[derive(Debug, thiserror::Error)]
#[error("forward copy fell behind and was cut off")]
pub struct ForwardLagged;

/// Frames a forward copy may lag behind before it is cut off.
const TEE_DEPTH: usize = 64;

/// A request body that hands each data frame to a second body as it
/// passes (for `forward`).
pub struct Tee {
    inner: ReqBody,
    copy: Option<mpsc::Sender<Result<Bytes, BoxError>>>,
}

/// The receiving side of a [`Tee`].
pub struct TeeCopy {
    rx: mpsc::Receiver<Result<Bytes, BoxError>>,
    exact: Option<u64>,
}

/// Splits `inner` into the body to send upstream and a copy for `forward`.
pub fn tee(inner: ReqBody) -> (Tee, TeeCopy) {
    let (tx, rx) = mpsc::channel(TEE_DEPTH);
    let exact = inner.size_hint().exact();
    (
        Tee {
            inner,
            copy: Some(tx),
        },
        TeeCopy { rx, exact },
    )
}

impl Body for Tee {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let polled = Pin::new(&mut self.inner).poll_frame(cx);
        match &polled {
            Poll::Ready(Some(Ok(frame))) => {
                if let (Some(data), Some(tx)) = (frame.data_ref(), &self.copy) {
                    if tx.try_send(Ok(data.clone())).is_err() {
                        // Full or gone: end the copy with an error so the
                        // forward request is aborted, not truncated silently.
                        let tx = self.copy.take();
                        if let Some(tx) = tx {
                            let _ = tx.try_send(Err(Box::new(ForwardLagged)));
                        }
                    }
                }
            }
            Poll::Ready(Some(Err(_))) => {
                if let Some(tx) = self.copy.take() {
                    let _ = tx.try_send(Err(Box::new(ForwardLagged)));
                }
            }
            Poll::Ready(None) => self.copy = None,
            Poll::Pending => {}
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

impl Body for TeeCopy {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        self.rx
            .poll_recv(cx)
            .map(|item| item.map(|r| r.map(Frame::data)))
    }

    /// A copy of an empty body is known empty, so a GET's copy goes out
    /// without a `content-length: 0` the original did not have.
    fn is_end_stream(&self) -> bool {
        self.exact == Some(0)
    }

    fn size_hint(&self) -> SizeHint {
        match self.exact {
            Some(n) => SizeHint::with_exact(n),
            None => SizeHint::default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::AccessLog;
    use std::time::Instant;

    fn line(peer: &str, path: &str) -> String {
        let log = AccessLog {
            peer: peer.parse().expect("peer"),
            method: http::Method::PATCH,
            path: path.parse().expect("path"),
            status: 404,
            upstream: "http://127.0.0.1:9".into(),
            start: Instant::now(),
        };
        let mut out = Vec::new();
        log.render(1234, &mut out);
        String::from_utf8(out).expect("utf-8")
    }

    /// The hand-rendered line reads as `format!` would write it.
    #[test]
    fn access_line_as_formatted() {
        for (peer, path) in [
            ("10.0.255.7:65535", "/a/b?c=d"),
            ("[::1]:8080", "http://h:1/x"),
            ("[fe80::1%2]:80", "*"),
        ] {
            let addr: std::net::SocketAddr = peer.parse().expect("peer");
            let uri: http::Uri = path.parse().expect("path");
            let want = format!(
                "edge: proxy {addr} \"PATCH {uri}\" 404 upstream=http://127.0.0.1:9 bytes=1234 "
            );
            let got = line(peer, path);
            let ms = got.strip_prefix(&want).and_then(|t| t.strip_suffix("ms"));
            assert!(ms.is_some_and(|m| m.parse::<u64>().is_ok()), "{got}");
        }
    }
}
