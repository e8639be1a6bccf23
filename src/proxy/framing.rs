//! Finds the requests of an HTTP/1 connection that carry both
//! `Content-Length` and `Transfer-Encoding`, the shape of request
//! smuggling.
//!
//! hyper frames such a request by the encoding, drops the length before
//! the service sees it, and closes the connection after the answer
//! (RFC 9112 6.3 allows that). node-http-proxy and nginx refuse it with 400,
//! and so does edge: this watch reads the same bytes hyper reads, follows
//! the message framing (heads, fixed-length and chunked bodies) and records
//! the index of the first request framed both ways. It never buffers more
//! than one head (at most [`MAX_HEAD`] bytes) or one chunk-size line, and
//! gives up, leaving hyper's own rules in force, on anything it cannot
//! follow: an upgrade, a head over the limit, a framing hyper rejects.

use std::sync::atomic::{AtomicU64, Ordering};

/// The longest head followed; hyper refuses longer ones itself.
pub const MAX_HEAD: usize = 64 * 1024;

/// No request was framed both ways.
const NONE: u64 = u64::MAX;

/// What the handler of a connection's requests reads: the index (0-based,
/// in arrival order) of the first request framed both ways.
#[derive(Debug)]
pub struct FramedTwice(AtomicU64);

impl Default for FramedTwice {
    fn default() -> Self {
        FramedTwice(AtomicU64::new(NONE))
    }
}

impl FramedTwice {
    /// Whether request number `index` carried both framings.
    pub fn is(&self, index: u64) -> bool {
        self.0.load(Ordering::Relaxed) == index
    }

    fn record(&self, index: u64) {
        let _ = self
            .0
            .compare_exchange(NONE, index, Ordering::Relaxed, Ordering::Relaxed);
    }
}

/// Where the watch is in the byte stream.
#[derive(Debug)]
enum State {
    /// Collecting a request head.
    Head,
    /// Skipping this many body bytes.
    Fixed(u64),
    /// Collecting a chunk-size line.
    ChunkSize,
    /// Skipping a chunk's data and its CRLF.
    ChunkData(u64),
    /// Collecting the trailer section after the last chunk.
    Trailers,
    /// Not following any more (see the module comment).
    Off,
}

/// The framing follower of one connection.
#[derive(Debug)]
pub struct FramingWatch {
    state: State,
    /// The head, chunk-size line or trailers being collected.
    pending: Vec<u8>,
    /// Heads seen so far.
    heads: u64,
}

impl Default for FramingWatch {
    fn default() -> Self {
        FramingWatch {
            state: State::Head,
            pending: Vec::new(),
            heads: 0,
        }
    }
}

impl FramingWatch {
    /// Between two messages with nothing of the next one seen: every byte
    /// read so far belongs to whole requests.
    pub fn between_messages(&self) -> bool {
        matches!(self.state, State::Head) && self.pending.is_empty()
    }

    /// Waiting for, or collecting, a request head (not in a body, not
    /// off).
    pub fn in_head(&self) -> bool {
        matches!(self.state, State::Head)
    }

    /// How many request heads it has seen.
    pub fn heads(&self) -> u64 {
        self.heads
    }

    /// Counts a bodyless head read past the watch (edge's own HTTP/1.1
    /// lane parsed it), so request numbers go on across both readers.
    pub fn skip_head(&mut self) {
        if self.between_messages() {
            self.heads += 1;
        }
    }

    /// A watch that follows nothing (HTTP/2: no `Transfer-Encoding`).
    pub fn off() -> Self {
        FramingWatch {
            state: State::Off,
            ..FramingWatch::default()
        }
    }

    /// Follows `bytes`, the next bytes the client sent.
    pub fn feed(&mut self, mut bytes: &[u8], found: &FramedTwice) {
        while !bytes.is_empty() {
            match self.state {
                State::Off => return,
                State::Fixed(n) => {
                    self.state = match skip(&mut bytes, n) {
                        0 => State::Head,
                        left => State::Fixed(left),
                    };
                }
                State::ChunkData(n) => {
                    self.state = match skip(&mut bytes, n) {
                        0 => State::ChunkSize,
                        left => State::ChunkData(left),
                    };
                }
                State::Head | State::ChunkSize | State::Trailers => {
                    let end = if matches!(self.state, State::ChunkSize) {
                        b"\r\n".as_slice()
                    } else {
                        b"\r\n\r\n".as_slice()
                    };
                    if self.pending.is_empty() {
                        // The usual read holds whole heads: each is
                        // followed where it lies, never copied.
                        let take = bytes.len().min(MAX_HEAD + 1);
                        if let Some(at) = find(&bytes[..take], end) {
                            let (part, rest) = bytes.split_at(at + end.len());
                            bytes = rest;
                            self.state = self.after(part, found);
                            continue;
                        }
                    }
                    // A head's search starts a few bytes back: its end may
                    // straddle two reads.
                    let from = self.pending.len().saturating_sub(end.len() - 1);
                    let old = self.pending.len();
                    let take = bytes.len().min(MAX_HEAD + 1 - old.min(MAX_HEAD));
                    self.pending.extend_from_slice(&bytes[..take]);
                    match find(&self.pending[from..], end) {
                        Some(at) => {
                            let done = from + at + end.len();
                            bytes = &bytes[done - old..];
                            let line = std::mem::take(&mut self.pending);
                            self.state = self.after(&line[..done], found);
                        }
                        None if self.pending.len() > MAX_HEAD => self.state = State::Off,
                        None => bytes = &bytes[take..],
                    }
                }
            }
        }
    }

    /// The state after a whole head, chunk-size line or trailer section.
    fn after(&mut self, part: &[u8], found: &FramedTwice) -> State {
        match self.state {
            State::ChunkSize => {
                let line = &part[..part.len() - 2];
                let digits = line.split(|&b| b == b';').next().unwrap_or_default();
                let size = std::str::from_utf8(digits)
                    .ok()
                    .and_then(|d| u64::from_str_radix(d.trim(), 16).ok());
                match size {
                    Some(0) => {
                        // The last chunk: trailers (maybe none) follow;
                        // "\r\n" alone ends them, so keep it in sight.
                        self.pending.extend_from_slice(b"\r\n");
                        State::Trailers
                    }
                    Some(n) => n.checked_add(2).map_or(State::Off, State::ChunkData),
                    None => State::Off,
                }
            }
            State::Trailers => State::Head,
            _ => self.head(part, found),
        }
    }

    /// A whole request head: records a double framing, picks the body.
    fn head(&mut self, head: &[u8], found: &FramedTwice) -> State {
        // Blank lines before a request line are skipped (RFC 9112 2.2).
        let head = match head.iter().position(|&b| b != b'\r' && b != b'\n') {
            Some(start) => &head[start..],
            None => return State::Head,
        };
        let index = self.heads;
        self.heads += 1;
        let mut length: Option<Option<u64>> = None;
        let mut chunked: Option<bool> = None;
        for line in head.split(|&b| b == b'\n').skip(1) {
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            let Some(colon) = line.iter().position(|&b| b == b':') else {
                continue;
            };
            let (name, value) = (&line[..colon], trim(&line[colon + 1..]));
            if name.eq_ignore_ascii_case(b"content-length") {
                length = Some(std::str::from_utf8(value).ok().and_then(|v| v.parse().ok()));
            } else if name.eq_ignore_ascii_case(b"transfer-encoding") {
                let last = value.rsplit(|&b| b == b',').next().map(trim);
                chunked = Some(last.is_some_and(|c| c.eq_ignore_ascii_case(b"chunked")));
            } else if name.eq_ignore_ascii_case(b"upgrade") {
                // After an upgrade the bytes are not HTTP.
                return State::Off;
            }
        }
        match (length, chunked) {
            (Some(_), Some(_)) => {
                found.record(index);
                // hyper closes the connection after this request.
                State::Off
            }
            (_, Some(true)) => State::ChunkSize,
            (Some(Some(0)) | None, None) => State::Head,
            (Some(Some(n)), None) => State::Fixed(n),
            // A length or encoding hyper refuses with 400.
            (Some(None), None) | (_, Some(false)) => State::Off,
        }
    }
}

/// Drops up to `n` bytes from the front of `bytes`; how many of the `n`
/// are still to come.
fn skip(bytes: &mut &[u8], n: u64) -> u64 {
    let take = usize::try_from(n).unwrap_or(usize::MAX).min(bytes.len());
    *bytes = &bytes[take..];
    n - take as u64
}

/// `value` without surrounding spaces and tabs.
fn trim(value: &[u8]) -> &[u8] {
    let start = value
        .iter()
        .position(|&b| b != b' ' && b != b'\t')
        .unwrap_or(value.len());
    let end = value
        .iter()
        .rposition(|&b| b != b' ' && b != b'\t')
        .map_or(start, |e| e + 1);
    &value[start..end.max(start)]
}

/// Where `needle`, a line end or a head's end (it ends in `\n`), first
/// occurs in `hay`: memchr over the line ends, one comparison at each. A
/// substring search (memmem) takes Rabin-Karp on short haystacks, byte by
/// byte; a head has a line end every few dozen bytes.
fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    let back = needle.len().saturating_sub(1);
    memchr::memchr_iter(b'\n', hay)
        .filter_map(|end| end.checked_sub(back))
        .find(|&start| hay[start..].starts_with(needle))
}

#[cfg(test)]
mod tests {
    use super::*;
    use quickcheck::{quickcheck, TestResult};

    /// The index recorded for `stream` fed in pieces cut at `cuts`.
    fn run(stream: &[u8], cuts: &[usize]) -> Option<u64> {
        let found = FramedTwice::default();
        let mut watch = FramingWatch::default();
        let mut at = 0;
        let mut cuts: Vec<usize> = cuts.iter().map(|c| c % (stream.len() + 1)).collect();
        cuts.sort_unstable();
        for cut in cuts.into_iter().chain([stream.len()]) {
            watch.feed(&stream[at..cut.max(at)], &found);
            at = cut.max(at);
        }
        (0..16).find(|&i| found.is(i))
    }

    const NORMAL: &[u8] = b"GET / HTTP/1.1\r\nHost: a\r\n\r\n";
    const FIXED: &[u8] =
        b"POST /p HTTP/1.1\r\nHost: a\r\nContent-Length: 30\r\n\r\nContent-Length: 1\r\n\r\n0123456789";
    const CHUNKED: &[u8] = b"POST /c HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n1a;ext=1\r\nTransfer-Encoding: x\r\n\r\n01\r\n0\r\nX-Trailer: 1\r\n\r\n";
    const TWICE: &[u8] = b"POST /s HTTP/1.1\r\nHost: a\r\ncontent-length: 3\r\nTRANSFER-ENCODING:  gzip, chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n";

    #[test]
    fn find_takes_the_first_whole_end_at_a_line_end() {
        assert_eq!(find(b"a\nb\r\n\r\nc\r\n\r\n", b"\r\n\r\n"), Some(3));
        assert_eq!(find(b"\r\n\r\n", b"\r\n\r\n"), Some(0));
        assert_eq!(find(b"a\n\nb\r\n\r", b"\r\n\r\n"), None);
        assert_eq!(find(b"5\n\r\n", b"\r\n"), Some(2));
        assert_eq!(find(b"\n", b"\r\n"), None);
        assert_eq!(find(b"", b"\r\n"), None);
    }

    #[test]
    fn finds_the_request_framed_twice_after_others() {
        let stream = [NORMAL, FIXED, CHUNKED, b"\r\n", TWICE, NORMAL].concat();
        assert_eq!(run(&stream, &[]), Some(3));
        let clean = [NORMAL, FIXED, CHUNKED, NORMAL].concat();
        assert_eq!(run(&clean, &[]), None);
    }

    #[test]
    fn stops_at_an_upgrade() {
        let upgrade =
            b"GET /ws HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n";
        let stream = [upgrade.as_slice(), TWICE].concat();
        assert_eq!(run(&stream, &[]), None);
    }

    quickcheck! {
        /// Any cut of the stream into reads finds the same request.
        fn every_split_finds_the_same(cuts: Vec<usize>) -> TestResult {
            let stream = [NORMAL, FIXED, CHUNKED, TWICE].concat();
            TestResult::from_bool(run(&stream, &cuts) == Some(3))
        }

        /// Arbitrary bytes never panic and never make the watch hold more
        /// than one head.
        fn arbitrary_bytes_are_safe(chunks: Vec<Vec<u8>>) -> bool {
            let found = FramedTwice::default();
            let mut watch = FramingWatch::default();
            chunks.iter().all(|c| {
                watch.feed(c, &found);
                watch.pending.len() <= MAX_HEAD + 2
            })
        }
    }
}
