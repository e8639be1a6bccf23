//! Side-by-side core NATS benchmark: edge vs nats-server 2.9.10.
//!
//! Run with `cargo bench --bench nats`. Both servers are started on
//! 127.0.0.1, driven by the same raw-TCP load generator below (identical
//! bytes on the wire, no client library), and every row is measured a few
//! times per server; the table prints medians, the spread and edge/nats.
//! A row whose message counts do not add up prints FAILED.
//!
//! The reference is `$NATS_SERVER`, `/usr/sbin/nats-server` or
//! `nats-server` on PATH; without it the bench prints a note and exits 0.

use std::io;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::TcpStream;

#[path = "../tests/common/ports.rs"]
mod ports;
#[path = "../tests/common/rss.rs"]
mod rss;
use ports::free_port;
use rss::rss_kib;

/// Repetitions of every row on every server.
const REPS: usize = 5;
/// Upper bound on the time one load loop may publish.
const CAP: Duration = Duration::from_secs(10);
/// Publisher may run at most this many messages ahead of what subscribers
/// have received (keeps both servers clear of slow-consumer limits).
const WINDOW: u64 = 100_000;
/// Length of the sequence number at the front of every payload.
const SEQ_LEN: usize = 16;

// ---------------------------------------------------------------- servers

struct Server {
    name: &'static str,
    child: Child,
    port: u16,
}

impl Server {
    fn start(name: &'static str, program: &PathBuf, pre: &[&str]) -> Server {
        let port = free_port();
        let mut cmd = Command::new(program);
        cmd.args(pre)
            .args(["-a", "127.0.0.1", "-p", &port.to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("start {name} ({}): {e}", program.display()));
        let server = Server { name, child, port };
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "{name} did not listen on {port}");
            std::thread::sleep(Duration::from_millis(20));
        }
        server
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn find_nats_server() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("NATS_SERVER") {
        return Some(PathBuf::from(p));
    }
    let fixed = PathBuf::from("/usr/sbin/nats-server");
    if fixed.exists() {
        return Some(fixed);
    }
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|d| d.join("nats-server"))
        .find(|p| p.exists())
}

// ---------------------------------------------------------------- protocol

enum Event<'a> {
    Msg {
        reply: Option<&'a [u8]>,
        payload: &'a [u8],
    },
    Pong,
    Other(&'a [u8]),
}

/// One complete server operation at the front of `b`, and its length.
fn parse(b: &[u8]) -> Option<(Event<'_>, usize)> {
    let nl = b.iter().position(|&c| c == b'\n')?;
    let line = &b[..nl];
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    if let Some(rest) = line.strip_prefix(b"MSG ") {
        let mut f: [&[u8]; 4] = [&[]; 4];
        let mut n = 0;
        for part in rest.split(|&c| c == b' ').filter(|p| !p.is_empty()) {
            assert!(n < 4, "malformed MSG line");
            f[n] = part;
            n += 1;
        }
        assert!(n == 3 || n == 4, "malformed MSG line");
        let size: usize = std::str::from_utf8(f[n - 1])
            .ok()
            .and_then(|s| s.parse().ok())
            .expect("MSG size");
        let total = nl + 1 + size + 2;
        if b.len() < total {
            return None;
        }
        let reply = if n == 4 { Some(f[2]) } else { None };
        let payload = &b[nl + 1..nl + 1 + size];
        return Some((Event::Msg { reply, payload }, total));
    }
    if line == b"PONG" {
        return Some((Event::Pong, nl + 1));
    }
    Some((Event::Other(line), nl + 1))
}

struct Reader {
    rd: OwnedReadHalf,
    buf: Vec<u8>,
    start: usize,
    end: usize,
}

impl Reader {
    fn new(rd: OwnedReadHalf) -> Reader {
        Reader {
            rd,
            buf: vec![0; 256 * 1024],
            start: 0,
            end: 0,
        }
    }

    /// Reads once; `Ok(false)` on timeout, an error on EOF.
    async fn fill(&mut self, wait: Duration) -> io::Result<bool> {
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
        } else if self.start > 0 && self.buf.len() - self.end < 64 * 1024 {
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
        if self.end == self.buf.len() {
            let len = self.buf.len();
            self.buf.resize(len * 2, 0);
        }
        match tokio::time::timeout(wait, self.rd.read(&mut self.buf[self.end..])).await {
            Err(_) => Ok(false),
            Ok(Ok(0)) => Err(io::Error::new(io::ErrorKind::UnexpectedEof, "closed")),
            Ok(Ok(n)) => {
                self.end += n;
                Ok(true)
            }
            Ok(Err(e)) => Err(e),
        }
    }

    /// Hands every complete operation in the buffer to `f`.
    fn drain(&mut self, mut f: impl FnMut(Event<'_>)) {
        while let Some((ev, used)) = parse(&self.buf[self.start..self.end]) {
            if let Event::Other(line) = &ev {
                if line.starts_with(b"-ERR") {
                    eprintln!("server: {}", String::from_utf8_lossy(line));
                }
            }
            f(ev);
            self.start += used;
        }
    }

    /// Reads until a PONG arrives (or fails after 10 s).
    async fn until_pong(&mut self) -> io::Result<()> {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let mut pong = false;
            self.drain(|ev| pong |= matches!(ev, Event::Pong));
            if pong {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(io::Error::new(io::ErrorKind::TimedOut, "no PONG"));
            }
            self.fill(Duration::from_millis(200)).await?;
        }
    }
}

/// Connects, reads INFO, sends CONNECT + PING and waits for the PONG.
async fn connect(port: u16) -> io::Result<(Reader, OwnedWriteHalf)> {
    let stream = TcpStream::connect(("127.0.0.1", port)).await?;
    stream.set_nodelay(true)?;
    let (rd, mut wr) = stream.into_split();
    let mut rd = Reader::new(rd);
    wr.write_all(b"CONNECT {\"verbose\":false,\"pedantic\":false}\r\nPING\r\n")
        .await?;
    rd.until_pong().await?;
    Ok((rd, wr))
}

async fn subscribe(port: u16, subject: &str, queue: Option<&str>) -> (Reader, OwnedWriteHalf) {
    let (mut rd, mut wr) = connect(port).await.expect("connect subscriber");
    let line = match queue {
        Some(q) => format!("SUB {subject} {q} 1\r\nPING\r\n"),
        None => format!("SUB {subject} 1\r\nPING\r\n"),
    };
    wr.write_all(line.as_bytes()).await.expect("SUB");
    rd.until_pong().await.expect("SUB PONG");
    (rd, wr)
}

fn write_seq(dst: &mut [u8], mut seq: u64) {
    for b in dst[..SEQ_LEN].iter_mut().rev() {
        *b = b'0' + (seq % 10) as u8;
        seq /= 10;
    }
}

fn read_seq(payload: &[u8]) -> u64 {
    payload[..SEQ_LEN]
        .iter()
        .fold(0, |acc, &b| acc * 10 + u64::from(b - b'0'))
}

/// A batch of identical-length PUB operations whose payloads carry
/// sequence numbers.
struct Batch {
    bytes: Vec<u8>,
    op_len: usize,
    payload_at: usize,
    count: usize,
}

impl Batch {
    fn new(subject: &str, size: usize) -> Batch {
        assert!(size >= SEQ_LEN);
        let head = format!("PUB {subject} {size}\r\n");
        let op_len = head.len() + size + 2;
        let count = (64 * 1024 / op_len).max(1);
        let mut bytes = Vec::with_capacity(op_len * count);
        for _ in 0..count {
            bytes.extend_from_slice(head.as_bytes());
            bytes.resize(bytes.len() + size, b'x');
            bytes.extend_from_slice(b"\r\n");
        }
        Batch {
            bytes,
            op_len,
            payload_at: head.len(),
            count,
        }
    }

    /// The first `n` operations, numbered from `first`.
    fn fill(&mut self, first: u64, n: usize) -> &[u8] {
        for i in 0..n {
            let at = i * self.op_len + self.payload_at;
            write_seq(&mut self.bytes[at..], first + i as u64);
        }
        &self.bytes[..n * self.op_len]
    }
}

// ---------------------------------------------------------------- rows

/// A measured value, or why the row failed.
type Sample = Result<f64, String>;

/// Publisher only: msgs/s accepted (PING/PONG after the last PUB).
async fn pub_only(port: u16, size: usize, n: u64) -> Sample {
    let (mut rd, mut wr) = connect(port).await.map_err(|e| e.to_string())?;
    let mut batch = Batch::new("bench.pub", size);
    let start = Instant::now();
    let mut sent = 0u64;
    while sent < n && start.elapsed() < CAP {
        let k = (batch.count as u64).min(n - sent) as usize;
        wr.write_all(batch.fill(sent, k))
            .await
            .map_err(|e| e.to_string())?;
        sent += k as u64;
    }
    wr.write_all(b"PING\r\n").await.map_err(|e| e.to_string())?;
    rd.until_pong().await.map_err(|e| e.to_string())?;
    Ok(sent as f64 / start.elapsed().as_secs_f64())
}

struct Shared {
    received: AtomicU64,
    target: AtomicU64,
}

struct SubResult {
    count: u64,
    last: Option<Instant>,
    seqs: Vec<u64>,
}

async fn sub_loop(
    mut rd: Reader,
    wr: OwnedWriteHalf,
    shared: Arc<Shared>,
    record: bool,
    deadline: Instant,
) -> SubResult {
    let mut res = SubResult {
        count: 0,
        last: None,
        seqs: Vec::new(),
    };
    loop {
        let mut n = 0u64;
        let seqs = &mut res.seqs;
        rd.drain(|ev| {
            if let Event::Msg { payload, .. } = ev {
                n += 1;
                if record {
                    seqs.push(read_seq(payload));
                }
            }
        });
        if n > 0 {
            res.count += n;
            res.last = Some(Instant::now());
            shared.received.fetch_add(n, Ordering::Relaxed);
        }
        if shared.received.load(Ordering::Relaxed) >= shared.target.load(Ordering::Relaxed)
            || Instant::now() > deadline
        {
            break;
        }
        if rd.fill(Duration::from_millis(100)).await.is_err() {
            break;
        }
    }
    drop(wr);
    res
}

/// One publisher, `subs` subscribers (a queue group when `queue`): msgs/s
/// received in total. Counts must add up: every subscriber gets every
/// message (fan-out), or every message arrives exactly once (queue group).
async fn pub_sub(port: u16, subs: usize, queue: bool, n: u64) -> Sample {
    let subject = "bench.fan";
    let shared = Arc::new(Shared {
        received: AtomicU64::new(0),
        target: AtomicU64::new(u64::MAX),
    });
    let deadline = Instant::now() + CAP + Duration::from_secs(10);
    let mut tasks = Vec::new();
    for _ in 0..subs {
        let (rd, wr) = subscribe(port, subject, queue.then_some("q")).await;
        tasks.push(tokio::spawn(sub_loop(
            rd,
            wr,
            shared.clone(),
            queue,
            deadline,
        )));
    }
    // Each message is delivered `factor` times in total.
    let factor = if queue { 1 } else { subs as u64 };
    let (mut prd, mut wr) = connect(port).await.map_err(|e| e.to_string())?;
    let mut batch = Batch::new(subject, 16);
    let start = Instant::now();
    let mut sent = 0u64;
    while sent < n && start.elapsed() < CAP {
        while sent > shared.received.load(Ordering::Relaxed) / factor + WINDOW {
            if Instant::now() > deadline {
                break;
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        let k = (batch.count as u64).min(n - sent) as usize;
        wr.write_all(batch.fill(sent, k))
            .await
            .map_err(|e| e.to_string())?;
        sent += k as u64;
    }
    wr.write_all(b"PING\r\n").await.map_err(|e| e.to_string())?;
    prd.until_pong().await.map_err(|e| e.to_string())?;
    shared.target.store(sent * factor, Ordering::Relaxed);
    let mut results = Vec::new();
    for t in tasks {
        results.push(t.await.map_err(|e| e.to_string())?);
    }
    let total: u64 = results.iter().map(|r| r.count).sum();
    if total != sent * factor {
        return Err(format!("received {total}, expected {}", sent * factor));
    }
    if queue {
        let mut seen = vec![0u8; sent as usize];
        for s in results.iter().flat_map(|r| r.seqs.iter()) {
            match seen.get_mut(*s as usize) {
                Some(x) => *x = x.saturating_add(1),
                None => return Err(format!("unexpected seq {s}")),
            }
        }
        let wrong = seen.iter().filter(|&&c| c != 1).count();
        if wrong > 0 {
            return Err(format!("{wrong} msgs not delivered exactly once"));
        }
    } else if let Some(r) = results.iter().find(|r| r.count != sent) {
        return Err(format!("a subscriber got {} of {sent}", r.count));
    }
    let end = results.iter().filter_map(|r| r.last).max().unwrap_or(start);
    Ok(total as f64 / (end - start).as_secs_f64())
}

/// Request/reply through a responder: (p50, p99) round trip in µs.
async fn req_reply(port: u16, warmup: usize, n: usize) -> Result<(f64, f64), String> {
    let (mut rrd, mut rwr) = subscribe(port, "bench.req", None).await;
    let responder = tokio::spawn(async move {
        let mut reply_buf = Vec::new();
        loop {
            reply_buf.clear();
            rrd.drain(|ev| {
                if let Event::Msg {
                    reply: Some(r),
                    payload,
                } = ev
                {
                    reply_buf.extend_from_slice(b"PUB ");
                    reply_buf.extend_from_slice(r);
                    reply_buf.extend_from_slice(format!(" {}\r\n", payload.len()).as_bytes());
                    reply_buf.extend_from_slice(payload);
                    reply_buf.extend_from_slice(b"\r\n");
                }
            });
            if !reply_buf.is_empty() && rwr.write_all(&reply_buf).await.is_err() {
                break;
            }
            match rrd.fill(Duration::from_millis(100)).await {
                Ok(_) => {}
                Err(_) => break,
            }
        }
    });
    let (mut rd, mut wr) = subscribe(port, "_INBOX.bench", None).await;
    let mut lat = Vec::with_capacity(n);
    let mut req = Batch::new("bench.req _INBOX.bench", 16);
    let start = Instant::now();
    for i in 0..(warmup + n) {
        if start.elapsed() > CAP {
            return Err(format!("only {i} round trips in {CAP:?}"));
        }
        let t0 = Instant::now();
        wr.write_all(req.fill(i as u64, 1))
            .await
            .map_err(|e| e.to_string())?;
        let mut got = None;
        loop {
            rd.drain(|ev| {
                if let Event::Msg { payload, .. } = ev {
                    got = Some(read_seq(payload));
                }
            });
            if got.is_some() {
                break;
            }
            if !rd
                .fill(Duration::from_secs(2))
                .await
                .map_err(|e| e.to_string())?
            {
                return Err(format!("reply {i} timed out"));
            }
        }
        if got != Some(i as u64) {
            return Err(format!("reply {got:?} to request {i}"));
        }
        if i >= warmup {
            lat.push(t0.elapsed().as_secs_f64() * 1e6);
        }
    }
    drop(wr);
    responder.abort();
    lat.sort_by(f64::total_cmp);
    let pct = |p: f64| lat[((lat.len() as f64 * p) as usize).min(lat.len() - 1)];
    Ok((pct(0.50), pct(0.99)))
}

/// RSS (KiB) of a fresh server before and after `n` idle connections.
async fn memory(server: &Server, n: usize) -> Result<(f64, f64), String> {
    tokio::time::sleep(Duration::from_millis(300)).await;
    let before = rss_kib(server.pid());
    let mut conns = Vec::with_capacity(n);
    for _ in 0..n {
        conns.push(connect(server.port).await.map_err(|e| e.to_string())?);
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let after = rss_kib(server.pid());
    drop(conns);
    if before == 0 || after == 0 {
        return Err("no VmRSS".into());
    }
    Ok((before as f64, after as f64))
}

// ---------------------------------------------------------------- table

struct Row {
    name: &'static str,
    unit: &'static str,
    lower_better: bool,
    /// Samples per server: [nats-server, edge].
    samples: [Vec<Sample>; 2],
}

impl Row {
    fn new(name: &'static str, unit: &'static str, lower_better: bool) -> Row {
        Row {
            name,
            unit,
            lower_better,
            samples: [Vec::new(), Vec::new()],
        }
    }
}

/// Median and spread ((max-min)/median, %) of a server's samples, or the
/// first failure.
fn summary(s: &[Sample]) -> Result<(f64, f64), String> {
    let mut v = Vec::new();
    for x in s {
        v.push(x.clone()?);
    }
    if v.is_empty() {
        return Err("no samples".into());
    }
    v.sort_by(f64::total_cmp);
    let med = v[v.len() / 2];
    let spread = if med > 0.0 {
        (v[v.len() - 1] - v[0]) / med * 100.0
    } else {
        0.0
    };
    Ok((med, spread))
}

fn print_table(rows: &[Row]) {
    println!();
    println!(
        "{:<34} {:<14} {:>16} {:>16} {:>10}  spread nats/edge",
        "row", "unit", "nats-server", "edge", "edge/nats"
    );
    println!("{}", "-".repeat(112));
    for r in rows {
        let a = summary(&r.samples[0]);
        let b = summary(&r.samples[1]);
        let cell = |x: &Result<(f64, f64), String>| match x {
            Ok((m, _)) => format!("{m:.1}"),
            Err(_) => "FAILED".to_string(),
        };
        let (ratio, spread) = match (&a, &b) {
            (Ok((ma, sa)), Ok((mb, sb))) => {
                (format!("{:.2}", mb / ma), format!("{sa:.0}% / {sb:.0}%"))
            }
            _ => ("-".to_string(), "-".to_string()),
        };
        let better = if r.lower_better { "lower" } else { "higher" };
        println!(
            "{:<34} {:<14} {:>16} {:>16} {:>10}  {}  ({better} is better)",
            r.name,
            r.unit,
            cell(&a),
            cell(&b),
            ratio,
            spread
        );
        for (who, x) in ["nats-server", "edge"].iter().zip([&a, &b]) {
            if let Err(e) = x {
                println!("    {who} FAILED: {e}");
            }
        }
    }
    println!();
    println!(
        "medians of {REPS} runs per server; spread = (max-min)/median; load generator \
         shares the machine with both servers"
    );
}

fn main() {
    let Some(nats_path) = find_nats_server() else {
        println!("nats-server not found (set NATS_SERVER); skipping the NATS benchmark");
        return;
    };
    let edge_path = PathBuf::from(env!("CARGO_BIN_EXE_edge"));
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime");
    rt.block_on(run(nats_path, edge_path));
}

async fn run(nats_path: PathBuf, edge_path: PathBuf) {
    let servers = [
        Server::start("nats-server", &nats_path, &[]),
        Server::start("edge", &edge_path, &["run"]),
    ];
    let mut rows = vec![
        Row::new("1 pub only, 16 B", "msgs/s", false),
        Row::new("2 pub only, 1 KiB", "msgs/s", false),
        Row::new("3 1 pub -> 1 sub, 16 B", "msgs/s recv", false),
        Row::new("4 1 pub -> 5 subs fan-out, 16 B", "msgs/s recv", false),
        Row::new("5 queue group of 3, 16 B", "msgs/s recv", false),
        Row::new("6 request/reply p50", "us", true),
        Row::new("6 request/reply p99", "us", true),
        Row::new("7 RSS fresh server", "KiB", true),
        Row::new("7 RSS with 1,000 idle conns", "KiB", true),
        Row::new("7 RSS per idle conn", "KiB", true),
    ];
    let settle = || tokio::time::sleep(Duration::from_millis(300));
    for rep in 0..REPS {
        for (i, s) in servers.iter().enumerate() {
            let t = Instant::now();
            let p = s.port;
            let mut push = |row: usize, x: Sample| rows[row].samples[i].push(x);
            push(0, pub_only(p, 16, 2_000_000).await);
            settle().await;
            push(1, pub_only(p, 1024, 500_000).await);
            settle().await;
            push(2, pub_sub(p, 1, false, 1_000_000).await);
            settle().await;
            push(3, pub_sub(p, 5, false, 400_000).await);
            settle().await;
            push(4, pub_sub(p, 3, true, 1_000_000).await);
            settle().await;
            match req_reply(p, 1_000, 20_000).await {
                Ok((p50, p99)) => {
                    push(5, Ok(p50));
                    push(6, Ok(p99));
                }
                Err(e) => {
                    push(5, Err(e.clone()));
                    push(6, Err(e));
                }
            }
            settle().await;
            eprintln!(
                "rep {}/{REPS} {}: throughput and latency rows in {:.1?}",
                rep + 1,
                s.name,
                t.elapsed()
            );
        }
    }
    // Memory on fresh servers, so the throughput rows leave no trace.
    drop(servers);
    for _ in 0..REPS {
        for (i, (name, path, pre)) in [
            ("nats-server", &nats_path, &[][..]),
            ("edge", &edge_path, &["run"][..]),
        ]
        .into_iter()
        .enumerate()
        {
            let s = Server::start(name, path, pre);
            match memory(&s, 1_000).await {
                Ok((before, after)) => {
                    rows[7].samples[i].push(Ok(before));
                    rows[8].samples[i].push(Ok(after));
                    rows[9].samples[i].push(Ok((after - before) / 1_000.0));
                }
                Err(e) => {
                    for r in &mut rows[7..10] {
                        r.samples[i].push(Err(e.clone()));
                    }
                }
            }
            drop(s);
            settle().await;
        }
    }
    print_table(&rows);
}
