//! The lane's upstream side: a keep-alive connection driven by the
//! client's own task (no connection task, no channel), its response head
//! parsed from the connection's buffer and its body sliced from that same
//! buffer (`Content-Length`, chunked, or until the upstream closes). The
//! connection goes back to its pool the moment the body's last byte is
//! read.
//!
//! Small pieces (heads, short bodies) are copied out of the buffer rather
//! than sliced, so the buffer stays the connection's alone; when the
//! connection goes idle its buffer goes to this thread's spares, and the
//! next exchange reads into it instead of allocating one.

use super::{ends_chunked, names_token, span, RawNames, WireError};
use crate::proxy::client::Stream;
use bytes::{Buf, Bytes, BytesMut};
use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::{Response, StatusCode, Version};
use hyper::body::{Body, Frame, SizeHint};
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{ready, Context, Poll};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Response heads longer than this are refused (502).
const MAX_HEAD: usize = 64 * 1024;
/// As many headers as hyper's client reads.
const MAX_HEADERS: usize = 100;
/// Room made in the buffer before each read.
const READ_ROOM: usize = 16 * 1024;
/// The most room a read grows to: reads that fill what they were given
/// double it (large bodies move in large reads, and so in large writes).
const MAX_READ_ROOM: usize = 256 * 1024;
/// A chunk-size line (with extensions) or trailer section longer than
/// this is refused.
const MAX_LINE: usize = 4096;
/// Pieces up to this size are copied out of the read buffer (see the
/// module's doc); larger ones are sliced from it, not copied.
const COPY_OUT: usize = 4 * 1024;
/// Spare read buffers kept per thread: as many as connections that
/// exchange at once, bounded (the memory stays at a few hundred KiB).
const SPARES: usize = 32;

thread_local! {
    /// Read buffers of connections gone idle, for the next exchange.
    static SPARE: std::cell::RefCell<Vec<BytesMut>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// The first `n` bytes of `buf`, taken off it: copied when small, so the
/// buffer stays unshared and is read into again without allocating.
fn take(buf: &mut BytesMut, n: usize) -> Bytes {
    if n <= COPY_OUT {
        let piece = Bytes::copy_from_slice(&buf[..n]);
        buf.advance(n);
        piece
    } else {
        buf.split_to(n).freeze()
    }
}

/// A connection to an upstream, and what it has read but not handed on.
pub struct Wire {
    io: Stream,
    buf: BytesMut,
    /// Room made for the next read (see [`MAX_READ_ROOM`]).
    room: usize,
}

impl Wire {
    /// A new connection.
    pub fn new(io: Stream) -> Self {
        Wire {
            io,
            buf: BytesMut::new(),
            room: READ_ROOM,
        }
    }

    fn tcp(&self) -> &tokio::net::TcpStream {
        match &self.io {
            Stream::Plain(s) => s,
            Stream::Tls(s) => s.get_ref().0,
        }
    }

    /// Made idle: its socket's readiness so far is forgotten (the body
    /// was read to its end), so [`Wire::is_open`] reads only when the
    /// socket has signalled something since.
    pub fn idle(&mut self) {
        // An idle connection holds no buffer: an unshared one of the
        // usual size is kept for the thread's next exchange.
        let mut buf = std::mem::take(&mut self.buf);
        if buf.is_empty() && buf.try_reclaim(READ_ROOM) && buf.capacity() <= 2 * READ_ROOM {
            SPARE.with(|spare| {
                let mut spare = spare.borrow_mut();
                if spare.len() < SPARES {
                    spare.push(buf);
                }
            });
        }
        self.room = READ_ROOM;
        crate::proxy::stream::forget_readable(self.tcp());
    }

    /// An idle connection the upstream has not closed (nor sent anything
    /// on, which no upstream may do between responses). A system call
    /// only when the socket has signalled since [`Wire::idle`].
    pub fn is_open(&self) -> bool {
        let mut probe = [0u8; 1];
        matches!(self.tcp().try_read(&mut probe), Err(e) if e.kind() == io::ErrorKind::WouldBlock)
    }

    fn poll_fill(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<usize>> {
        if self.buf.capacity() == 0 {
            if let Some(spare) = SPARE.with(|spare| spare.borrow_mut().pop()) {
                self.buf = spare;
            }
        }
        if self.buf.capacity() - self.buf.len() < self.room / 4 {
            self.buf.reserve(self.room);
        }
        let spare = self.buf.capacity() - self.buf.len();
        let read = ready!(std::pin::pin!(self.io.read_buf(&mut self.buf)).poll(cx));
        if matches!(read, Ok(n) if n == spare) {
            self.room = (self.room * 2).min(MAX_READ_ROOM);
        }
        Poll::Ready(read)
    }

    /// Sends a request head and reads the response head; the body is what
    /// follows in the buffer and on the connection. `saw_bytes` tells a
    /// failure after the upstream began to answer (no retry then).
    pub async fn exchange(
        &mut self,
        head: &[u8],
        head_request: bool,
        keep_names: bool,
    ) -> Result<Answer, (WireError, bool)> {
        self.io
            .write_all(head)
            .await
            .map_err(|e| (e.into(), false))?;
        self.io.flush().await.map_err(|e| (e.into(), false))?;
        loop {
            if !self.buf.is_empty() {
                match parse_response(&mut self.buf, head_request, keep_names) {
                    Ok(Some(answer)) if answer.res.status().is_informational() => continue,
                    Ok(Some(answer)) => return Ok(answer),
                    Ok(None) if self.buf.len() > MAX_HEAD => {
                        return Err((WireError::HeadTooLarge(MAX_HEAD), true))
                    }
                    Ok(None) => {}
                    Err(e) => return Err((e, true)),
                }
            }
            let saw = !self.buf.is_empty();
            match std::future::poll_fn(|cx| self.poll_fill(cx)).await {
                Ok(0) => return Err((WireError::Closed, saw)),
                Ok(_) => {}
                Err(e) => return Err((e.into(), saw)),
            }
        }
    }
}

/// A parsed response head and how its body is framed.
pub struct Answer {
    /// The head (extensions: the reason phrase when not the canonical one,
    /// the names' spelling when asked for).
    pub res: Response<()>,
    /// The body's framing.
    pub framing: Framing,
    /// The connection may carry another request after this body.
    pub reusable: bool,
}

/// How an upstream body ends.
#[derive(Debug)]
pub enum Framing {
    /// It has ended (or never began).
    Done,
    /// After this many more bytes.
    Length(u64),
    /// At the last chunk.
    Chunked(Chunk),
    /// When the upstream closes.
    Close,
}

/// Where a chunked body's reader is.
#[derive(Debug)]
pub enum Chunk {
    /// At a chunk-size line.
    Size,
    /// In a chunk, this many bytes before its end.
    Data(u64),
    /// At the CRLF after a chunk's data.
    DataEnd,
    /// In the trailer section after the last chunk (skipped).
    Trailers,
}

fn parse_response(
    buf: &mut BytesMut,
    head_request: bool,
    keep_names: bool,
) -> Result<Option<Answer>, WireError> {
    let mut raw = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut parsed = httparse::Response::new(&mut raw);
    let len = match parsed.parse(buf) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(e) => return Err(WireError::Parse(e.to_string())),
    };
    let version = match parsed.version {
        Some(0) => Version::HTTP_10,
        _ => Version::HTTP_11,
    };
    let code = parsed.code.unwrap_or(0);
    let status = StatusCode::from_u16(code).map_err(|e| WireError::Parse(e.to_string()))?;
    let range = |part: &[u8]| {
        span(buf, part).ok_or_else(|| WireError::Parse("head outside its buffer".into()))
    };
    let reason = parsed
        .reason
        .filter(|r| !r.is_empty() && Some(*r) != status.canonical_reason());
    let reason = reason.map(|r| range(r.as_bytes())).transpose()?;
    let mut at = Vec::with_capacity(parsed.headers.len());
    // Read from the raw lines, sparing the map lookups.
    let (mut close, mut keep_alive, mut encoded) = (false, false, false);
    for h in parsed.headers.iter() {
        if h.name.eq_ignore_ascii_case("connection") {
            close |= names_token(h.value, "close");
            keep_alive |= names_token(h.value, "keep-alive");
        }
        encoded |= h.name.eq_ignore_ascii_case("transfer-encoding");
        let name = HeaderName::from_bytes(h.name.as_bytes())
            .map_err(|e| WireError::Parse(e.to_string()))?;
        at.push((name, range(h.name.as_bytes())?, range(h.value)?));
    }
    let head = take(buf, len);
    // Room for what the response passes add (`connection`, a `date`).
    let mut headers = HeaderMap::with_capacity(at.len() + 2);
    for (name, _, (start, end)) in &at {
        let value = HeaderValue::from_maybe_shared(head.slice(*start as usize..*end as usize))
            .map_err(|e| WireError::Parse(e.to_string()))?;
        headers.append(name.clone(), value);
    }
    let framing = framing(status, head_request, encoded, &mut headers)?;
    let reusable =
        !matches!(framing, Framing::Close) && !close && (version == Version::HTTP_11 || keep_alive);
    let mut res = Response::new(());
    *res.status_mut() = status;
    *res.version_mut() = version;
    if let Some((start, end)) = reason {
        if let Ok(phrase) =
            hyper::ext::ReasonPhrase::try_from(head.slice(start as usize..end as usize))
        {
            res.extensions_mut().insert(phrase);
        }
    }
    if keep_names {
        let spans = at.iter().map(|(_, name, _)| *name).collect();
        res.extensions_mut().insert(RawNames::new(head, spans));
    }
    *res.headers_mut() = headers;
    Ok(Some(Answer {
        res,
        framing,
        reusable,
    }))
}

/// RFC 9112 6.3: how the body of a response is framed.
fn framing(
    status: StatusCode,
    head_request: bool,
    encoded: bool,
    headers: &mut HeaderMap,
) -> Result<Framing, WireError> {
    if bodiless(status, head_request) {
        return Ok(Framing::Done);
    }
    if encoded {
        let chunked = headers
            .get_all(header::TRANSFER_ENCODING)
            .iter()
            .next_back()
            .is_some_and(|v| ends_chunked(v.as_bytes()));
        // The encoding wins over a length (which is dropped).
        headers.remove(header::CONTENT_LENGTH);
        return Ok(if chunked {
            Framing::Chunked(Chunk::Size)
        } else {
            Framing::Close
        });
    }
    let mut length = None;
    for v in headers.get_all(header::CONTENT_LENGTH) {
        let n = std::str::from_utf8(v.as_bytes())
            .ok()
            .filter(|s| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
            .and_then(|s| s.parse::<u64>().ok())
            .ok_or_else(|| WireError::Parse("invalid content-length".into()))?;
        if length.is_some_and(|l| l != n) {
            return Err(WireError::Parse("conflicting content-length".into()));
        }
        length = Some(n);
    }
    Ok(match length {
        Some(0) => Framing::Done,
        Some(n) => Framing::Length(n),
        None => Framing::Close,
    })
}

/// Responses that never have a body, whatever their head says.
fn bodiless(status: StatusCode, head_request: bool) -> bool {
    head_request
        || status.is_informational()
        || matches!(status, StatusCode::NO_CONTENT | StatusCode::NOT_MODIFIED)
}

/// Where a connection goes when its body has been read.
pub trait Home: Send {
    /// Takes the connection back for another request.
    fn put_back(self: Box<Self>, conn: Wire);
}

/// An upstream response body read straight from its connection.
pub struct WireBody {
    conn: Option<Wire>,
    framing: Framing,
    /// The pool, when the connection may be reused.
    home: Option<Box<dyn Home>>,
}

impl WireBody {
    /// The body after `answer`'s head on `conn`; `home` takes the
    /// connection back once the body is read, if it is reusable.
    pub fn new(conn: Wire, framing: Framing, home: Option<Box<dyn Home>>) -> Self {
        WireBody {
            conn: Some(conn),
            framing,
            home,
        }
    }

    /// The body has been read whole: the connection goes home, if it has
    /// one and nothing unasked-for follows the body.
    fn finish(&mut self) {
        self.framing = Framing::Done;
        if let (Some(mut conn), Some(home)) = (self.conn.take(), self.home.take()) {
            if conn.buf.is_empty() {
                conn.idle();
                home.put_back(conn);
            }
        }
    }

    fn data(&mut self, n: usize) -> Option<Bytes> {
        let conn = self.conn.as_mut()?;
        Some(take(&mut conn.buf, n))
    }
}

impl Drop for WireBody {
    fn drop(&mut self) {
        if matches!(self.framing, Framing::Done | Framing::Length(0)) {
            self.finish();
        }
    }
}

type Polled = Poll<Option<Result<Frame<Bytes>, crate::proxy::body::BoxError>>>;

impl Body for WireBody {
    type Data = Bytes;
    type Error = crate::proxy::body::BoxError;

    fn poll_frame(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Polled {
        let this = self.get_mut();
        loop {
            let Some(conn) = this.conn.as_mut() else {
                return Poll::Ready(None);
            };
            let buffered = conn.buf.len();
            match &mut this.framing {
                Framing::Done => {
                    this.finish();
                    return Poll::Ready(None);
                }
                Framing::Length(left) if buffered > 0 => {
                    let n = usize::try_from(*left).map_or(buffered, |l| l.min(buffered));
                    *left -= n as u64;
                    let end = *left == 0;
                    let data = this.data(n);
                    if end {
                        this.finish();
                    }
                    return Poll::Ready(data.map(|d| Ok(Frame::data(d))));
                }
                Framing::Close if buffered > 0 => {
                    return Poll::Ready(this.data(buffered).map(|d| Ok(Frame::data(d))));
                }
                Framing::Chunked(chunk) => match chunk {
                    Chunk::Data(left) if buffered > 0 => {
                        let n = usize::try_from(*left).map_or(buffered, |l| l.min(buffered));
                        *left -= n as u64;
                        if *left == 0 {
                            *chunk = Chunk::DataEnd;
                        }
                        return Poll::Ready(this.data(n).map(|d| Ok(Frame::data(d))));
                    }
                    Chunk::Data(_) => {}
                    Chunk::DataEnd if buffered >= 2 => {
                        if &conn.buf[..2] != b"\r\n" {
                            return Poll::Ready(Some(Err(WireError::BadChunk.into())));
                        }
                        conn.buf.advance(2);
                        *chunk = Chunk::Size;
                        continue;
                    }
                    Chunk::DataEnd => {}
                    Chunk::Size | Chunk::Trailers => {
                        if let Some(at) = memchr::memchr(b'\n', &conn.buf) {
                            let whole = &conn.buf[..at + 1];
                            let line = whole.strip_suffix(b"\r\n").unwrap_or(&whole[..at]);
                            let (empty, size) = (line.is_empty(), chunk_size(line));
                            // Read in place: a slice taken off would share the buffer.
                            conn.buf.advance(at + 1);
                            if matches!(chunk, Chunk::Trailers) {
                                if empty {
                                    this.finish();
                                    return Poll::Ready(None);
                                }
                                continue;
                            }
                            match size {
                                Some(0) => *chunk = Chunk::Trailers,
                                Some(n) => *chunk = Chunk::Data(n),
                                None => return Poll::Ready(Some(Err(WireError::BadChunk.into()))),
                            }
                            continue;
                        }
                        if buffered > MAX_LINE {
                            return Poll::Ready(Some(Err(WireError::BadChunk.into())));
                        }
                    }
                },
                Framing::Length(_) | Framing::Close => {}
            }
            let read = ready!(conn.poll_fill(cx));
            match read {
                Ok(0) if matches!(this.framing, Framing::Close) => {
                    // The upstream's close ends this body, and the connection.
                    this.home = None;
                    this.finish();
                    return Poll::Ready(None);
                }
                Ok(0) => return Poll::Ready(Some(Err(WireError::Closed.into()))),
                Ok(_) => {}
                Err(e) => return Poll::Ready(Some(Err(WireError::Io(e).into()))),
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        matches!(self.framing, Framing::Done | Framing::Length(0))
    }

    fn size_hint(&self) -> SizeHint {
        match self.framing {
            Framing::Done => SizeHint::with_exact(0),
            Framing::Length(n) => SizeHint::with_exact(n),
            _ => SizeHint::default(),
        }
    }
}

/// A chunk-size line's size (extensions after `;` ignored).
fn chunk_size(line: &[u8]) -> Option<u64> {
    let digits = line
        .split(|b| *b == b';')
        .next()
        .map(<[u8]>::trim_ascii)
        .filter(|d| !d.is_empty() && d.len() <= 15)?;
    let text = std::str::from_utf8(digits).ok()?;
    u64::from_str_radix(text, 16).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunk_sizes() {
        assert_eq!(chunk_size(b"1a"), Some(26));
        assert_eq!(chunk_size(b"0;ext=1"), Some(0));
        assert_eq!(chunk_size(b""), None);
        assert_eq!(chunk_size(b"-1"), None);
        assert_eq!(chunk_size(b"fffffffffffffffff"), None);
    }

    fn answer(bytes: &[u8], head: bool) -> Result<Option<Answer>, WireError> {
        let mut buf = BytesMut::from(bytes);
        parse_response(&mut buf, head, true)
    }

    #[test]
    fn response_framing() {
        let framed = |bytes: &[u8], head| {
            answer(bytes, head)
                .ok()
                .flatten()
                .map(|a| (a.framing, a.reusable))
        };
        assert!(matches!(
            framed(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n", false),
            Some((Framing::Length(5), true))
        ));
        assert!(matches!(
            framed(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n", true),
            Some((Framing::Done, true))
        ));
        assert!(matches!(
            framed(
                b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n",
                false
            ),
            Some((Framing::Chunked(Chunk::Size), true))
        ));
        assert!(matches!(
            framed(b"HTTP/1.1 200 OK\r\n\r\n", false),
            Some((Framing::Close, false))
        ));
        assert!(matches!(
            framed(b"HTTP/1.0 200 OK\r\nContent-Length: 1\r\n\r\n", false),
            Some((Framing::Length(1), false))
        ));
        assert!(matches!(
            framed(
                b"HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n",
                false
            ),
            Some((Framing::Done, false))
        ));
        assert!(answer(
            b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
            false
        )
        .is_err());
        assert!(answer(b"HTTP/1.1 200 OK\r\nContent-Length: +1\r\n\r\n", false).is_err());
        assert!(matches!(answer(b"HTTP/1.1 200 OK\r\n", false), Ok(None)));
    }

    #[test]
    fn reason_and_names_are_kept() {
        let a = answer(b"HTTP/1.1 200 Fine\r\nX-Up: 1\r\n\r\n", false)
            .ok()
            .flatten()
            .expect("parsed");
        let reason = a
            .res
            .extensions()
            .get::<hyper::ext::ReasonPhrase>()
            .expect("reason");
        assert_eq!(reason.as_bytes(), b"Fine");
        let names = a.res.extensions().get::<RawNames>().expect("names");
        let mut cursor = 0;
        let name = HeaderName::from_static("x-up");
        assert_eq!(names.spelling(&name, &mut cursor), Some(&b"X-Up"[..]));
    }
}
