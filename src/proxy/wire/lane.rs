//! The client connection's loop on the lane: take each request head the
//! lane can serve from what the socket holds, hand it to the proxy's
//! request handler, write the answer, and go on while requests are
//! there. It stops when there is nothing to read (the connection parks),
//! when the connection closes, or at the first request that is hyper's
//! (handed over with the bytes already read).

use super::encode::{self, BodySize};
use super::request;
use crate::proxy::body::Logged;
use crate::proxy::drain::{Drain, Started};
use crate::proxy::server::{handle, Conn, Routed, Shared, HEAD_TIMEOUT};
use crate::proxy::stream::{Idle, Parked, Readable, KEEP_BUFFERED};
use bytes::{Bytes, BytesMut};
use http::{Method, Response};
use hyper::body::Body;
use std::future::Future;
use std::io::{self, IoSlice};
use std::pin::Pin;
use std::sync::Arc;
use std::task::Poll;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::time::{Instant, Sleep};

/// Data frames larger than this are written from where they are, not
/// copied behind the head.
const COPY_UP_TO: usize = 16 * 1024;
/// Output gathered up to this size before it is written.
const WRITE_AT: usize = 64 * 1024;
/// Room for one read of request heads.
const READ_ROOM: usize = 8 * 1024;

/// Where the connection goes after the lane.
pub enum Next {
    /// Nothing more to read now: wait in the lot.
    Park,
    /// Closed, or to be closed.
    Close,
    /// A request for hyper: these bytes, then the socket's.
    Hyper(Bytes),
}

/// Whether a route's requests may take the lane (its upstream request is
/// the plain pooled one).
fn lane_route(route: &crate::plan::proxy::Route) -> bool {
    let o = &route.options;
    !o.to_proxy && o.forward.is_none() && !o.follow_redirects
}

/// Reads what the socket holds now, without waiting: `Some(0)` when the
/// client closed (or the read failed), `None` when there is nothing.
async fn read_now<S: AsyncRead + Readable + Unpin>(
    stream: &mut S,
    buf: &mut BytesMut,
) -> Option<usize> {
    buf.reserve(READ_ROOM);
    let room = buf.capacity() - buf.len();
    let read = std::future::poll_fn(|cx| {
        Poll::Ready(match std::pin::pin!(stream.read_buf(&mut *buf)).poll(cx) {
            Poll::Ready(Ok(n)) => Some(n),
            Poll::Ready(Err(_)) => Some(0),
            Poll::Pending => None,
        })
    })
    .await;
    if read.is_some_and(|n| n > 0 && n < room) {
        // The read after the answer waits instead of finding nothing.
        stream.drained();
    }
    read
}

/// Serves the connection's requests while the lane can.
pub async fn serve<S>(shared: &Arc<Shared>, conn: &Arc<Conn>, parked: &mut Parked<S>) -> Next
where
    S: AsyncRead + AsyncWrite + Readable + Unpin + Send + 'static,
{
    let mut buf = BytesMut::new();
    let mut waiter = None;
    loop {
        if buf.is_empty() {
            match read_now(&mut parked.stream, &mut buf).await {
                None if shared.drain.open_connections() > KEEP_BUFFERED => return Next::Park,
                None => {
                    // Few connections: this one waits in its task (no new
                    // task per request), as hyper's keep their buffers.
                    let waiter = waiter.get_or_insert_with(|| Waiter::new(&shared.drain));
                    let idle = &conn.tracking.idle;
                    let head_limit = tokio::time::Instant::now() + HEAD_TIMEOUT;
                    let deadline = idle.deadline().map_or(head_limit, |d| d.min(head_limit));
                    if !waiter.readable(&mut parked.stream, deadline).await {
                        return Next::Close;
                    }
                    continue;
                }
                Some(0) => return Next::Close,
                Some(_) => conn.tracking.idle.touch(),
            }
        }
        let routing = shared.routing.load_full();
        let mut index = None;
        let taken = request::take(&mut buf, |path, host| {
            let host = host.and_then(|h| std::str::from_utf8(h).ok());
            index = routing.plan.router.route(host, path);
            index
                .and_then(|i| routing.plan.routes.get(i))
                .map_or(true, lane_route)
        });
        let Some(arrived) = taken else {
            return Next::Hyper(buf.freeze());
        };
        let routed = Routed {
            routing,
            index,
            names: arrived.names,
        };
        parked.framing.skip_head();
        let head_request = arrived.req.method() == Method::HEAD;
        let req = arrived
            .req
            .map(|()| http_body_util::Full::new(arrived.body));
        let idle = &conn.tracking.idle;
        // In place in this (boxed) future: it is no bigger than a few
        // kilobytes, and the connections that wait in their task are few.
        let answered = std::pin::pin!(async {
            let res = match handle(Arc::clone(shared), Arc::clone(conn), req, Some(routed)).await {
                Ok(res) => res,
                Err(never) => match never {},
            };
            let keep_alive = !arrived.close && !shared.drain.is_started();
            respond(&mut parked.stream, res, head_request, keep_alive, idle).await
        });
        let closing = if idle.enabled {
            tokio::select! {
                biased;
                done = answered => done,
                () = idle.expired() => return Next::Close,
            }
        } else {
            answered.await
        };
        match closing {
            Ok(false) => {}
            Ok(true) | Err(_) => return Next::Close,
        }
    }
}

/// A connection's wait for its next request in its own task: readable,
/// or closed at the deadline or when the listener drains. One timer for
/// all its waits, moved only when it fires before the wait it guards has
/// lasted its time (or the deadline comes sooner than it is set for).
struct Waiter<'a> {
    draining: Started<'a>,
    timer: Option<Pin<Box<Sleep>>>,
}

impl<'a> Waiter<'a> {
    fn new(drain: &'a Drain) -> Self {
        Waiter {
            draining: drain.started(),
            timer: None,
        }
    }

    /// True once `stream` is readable; false at `deadline` or on drain.
    async fn readable<S: Readable>(&mut self, stream: &mut S, deadline: Instant) -> bool {
        // Moved in: a closure borrowing `*stream` would hold a `&S`, and
        // the task must stay `Send` where `S` is not `Sync`.
        std::future::poll_fn(move |cx| {
            if stream.poll_read_ready(cx).is_ready() {
                return Poll::Ready(true);
            }
            if Pin::new(&mut self.draining).poll(cx).is_ready() {
                return Poll::Ready(false);
            }
            let timer = self
                .timer
                .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(deadline)));
            if deadline < timer.deadline() {
                timer.as_mut().reset(deadline);
            }
            loop {
                if timer.as_mut().poll(cx).is_pending() {
                    return Poll::Pending;
                }
                if Instant::now() >= deadline {
                    return Poll::Ready(false);
                }
                timer.as_mut().reset(deadline);
            }
        })
        .await
    }
}

/// Writes `res` (head, then its body as it comes); true when the
/// connection closes after it.
async fn respond<S: AsyncWrite + Unpin>(
    stream: &mut S,
    res: Response<Logged>,
    head_request: bool,
    keep_alive: bool,
    idle: &Idle,
) -> io::Result<bool> {
    let (mut parts, mut body) = res.into_parts();
    let size = if body.is_end_stream() {
        BodySize::Empty
    } else {
        match body.size_hint().exact() {
            Some(n) => BodySize::Known(n),
            None => BodySize::Unknown,
        }
    };
    let mut out = Vec::with_capacity(512);
    let framing = encode::response_head(&mut out, &mut parts, head_request, size, keep_alive);
    if !framing.bodiless && !matches!(size, BodySize::Empty) {
        loop {
            // What the body has now; the output so far goes out before
            // waiting for more.
            let ready = std::future::poll_fn(|cx| {
                Poll::Ready(match Pin::new(&mut body).poll_frame(cx) {
                    Poll::Ready(frame) => Some(frame),
                    Poll::Pending => None,
                })
            })
            .await;
            let frame = match ready {
                Some(frame) => frame,
                None => {
                    if !out.is_empty() {
                        stream.write_all(&out).await?;
                        out.clear();
                    }
                    stream.flush().await?;
                    idle.touch();
                    std::future::poll_fn(|cx| Pin::new(&mut body).poll_frame(cx)).await
                }
            };
            let data = match frame {
                None => break,
                Some(Err(e)) => {
                    // What came before the failure still goes out, as
                    // hyper sends it; the connection then closes short.
                    let _ = stream.write_all(&out).await;
                    let _ = stream.flush().await;
                    return Err(io::Error::other(e));
                }
                Some(Ok(frame)) => match frame.into_data() {
                    Ok(data) if !data.is_empty() => data,
                    _ => continue,
                },
            };
            if framing.chunked {
                chunk_size_line(&mut out, data.len());
            }
            if data.len() > COPY_UP_TO {
                write_both(stream, &out, &data).await?;
                out.clear();
                idle.touch();
            } else {
                out.extend_from_slice(&data);
            }
            if framing.chunked {
                out.extend_from_slice(b"\r\n");
            }
            if out.len() >= WRITE_AT {
                stream.write_all(&out).await?;
                out.clear();
                idle.touch();
            }
        }
        if framing.chunked {
            out.extend_from_slice(b"0\r\n\r\n");
        }
    }
    stream.write_all(&out).await?;
    stream.flush().await?;
    idle.touch();
    // The access log line, and the request counted answered.
    drop(body);
    Ok(framing.close)
}

/// Appends a chunk-size line for `n` bytes.
fn chunk_size_line(out: &mut Vec<u8>, n: usize) {
    let digits = (usize::BITS - n.leading_zeros()).div_ceil(4).max(1);
    for i in (0..digits).rev() {
        out.push(b"0123456789abcdef"[(n >> (i * 4)) & 0xf]);
    }
    out.extend_from_slice(b"\r\n");
}

/// Writes `a` then `b`, in one system call where the stream takes both.
async fn write_both<S: AsyncWrite + Unpin>(stream: &mut S, a: &[u8], b: &[u8]) -> io::Result<()> {
    let (mut a, mut b) = (a, b);
    while !a.is_empty() || !b.is_empty() {
        let n = stream
            .write_vectored(&[IoSlice::new(a), IoSlice::new(b)])
            .await?;
        if n == 0 {
            return Err(io::ErrorKind::WriteZero.into());
        }
        let from_a = n.min(a.len());
        a = &a[from_a..];
        b = &b[n - from_a..];
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn chunk_size_lines_are_hex() {
        for n in [1usize, 9, 15, 16, 255, 4096, 1 << 20, 0x1234_5678] {
            let mut out = Vec::new();
            super::chunk_size_line(&mut out, n);
            assert_eq!(out, format!("{n:x}\r\n").into_bytes());
        }
    }
}
