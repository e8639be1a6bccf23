//! Replays the NATS conformance suites (`conformance/nats/suites/*.json`)
//! against a real edge process and compares every exchange and session,
//! rendered exactly as `conformance/nats/record.py` renders them, with the
//! transcript that script recorded from nats-server 2.9.10
//! (`conformance/nats/transcripts/<suite>__<nnn>.snap`) through insta.
//! The transcripts are never written from edge: CI runs the recorder with
//! `--verify` against nats-server to prove they are nats-server's.

mod common;

use common::RunningEdge;
use rustls::pki_types::ServerName;
use serde_json::Value;
use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Silence that ends an exchange (the recorder's QUIET).
const QUIET: Duration = Duration::from_millis(400);
/// Silence for inputs that wait for a server timer (the recorder's LONG).
const LONG: Duration = Duration::from_secs(3);
/// Silence that ends a split replay once the whole answer's length is in.
const GRACE: Duration = Duration::from_millis(150);
/// The recorder's pause after each session step.
const STEP: Duration = Duration::from_millis(100);
/// The recorder's pause between the two writes of a split input.
const SPLIT_PAUSE: Duration = Duration::from_millis(10);

fn transcripts_dir() -> PathBuf {
    common::root().join("conformance/nats/transcripts")
}

/// One scripted connection of a suite.
struct Exchange {
    input: Vec<u8>,
    long: bool,
    /// In a TLS suite: send without a handshake.
    plain: bool,
    /// `client` or `other`: the client certificate to present.
    cert: Option<String>,
    /// Replay split at every byte boundary too.
    split: bool,
}

/// A suite as the recorder reads it.
struct Suite {
    name: String,
    config: String,
    tls: bool,
    exchanges: Vec<Exchange>,
    sessions: Vec<Vec<Step>>,
}

/// One step of a session: who sends what, and how long to wait before
/// reading (`None`: `STEP`; a number: a server timer is awaited).
struct Step {
    who: String,
    data: Vec<u8>,
    wait: Option<f64>,
}

/// JSON strings hold one byte per character (latin-1).
fn bytes(v: &Value) -> Vec<u8> {
    v.as_str()
        .unwrap_or_default()
        .chars()
        .map(|c| u8::try_from(u32::from(c)).expect("latin-1"))
        .collect()
}

fn load(path: &Path) -> Suite {
    let text = std::fs::read_to_string(path).expect("read suite");
    let v: Value = serde_json::from_str(&text).expect("suite JSON");
    let exchanges = v["exchanges"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|ex| Exchange {
            input: bytes(&ex["input"]),
            long: ex["long"].as_bool().unwrap_or(false),
            plain: ex["tls"].as_str() == Some("plain"),
            cert: ex["cert"].as_str().map(str::to_string),
            split: ex["split"].as_bool().unwrap_or(false),
        })
        .collect();
    let sessions = v["sessions"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|steps| {
            steps
                .as_array()
                .into_iter()
                .flatten()
                .map(|s| Step {
                    who: s[0].as_str().unwrap_or_default().to_string(),
                    data: bytes(&s[1]),
                    wait: s.get(2).and_then(Value::as_f64),
                })
                .collect()
        })
        .collect();
    Suite {
        name: path
            .file_stem()
            .unwrap_or_default()
            .to_string_lossy()
            .into_owned(),
        config: v["config"].as_str().unwrap_or_default().to_string(),
        tls: v["tls"].as_bool().unwrap_or(false),
        exchanges,
        sessions,
    }
}

// ---- rendering: the same as record.py's, line for line ----

/// Printable ASCII as it is; `\\`, `\r`, `\n`, `\t` and every other
/// byte as `\xNN`.
fn escape(data: &[u8]) -> String {
    let mut out = String::new();
    for &c in data {
        match c {
            b'\\' => out.push_str("\\\\"),
            b'\r' => out.push_str("\\r"),
            b'\n' => out.push_str("\\n"),
            b'\t' => out.push_str("\\t"),
            0x20..=0x7e => out.push(char::from(c)),
            _ => out.push_str(&format!("\\x{c:02x}")),
        }
    }
    out
}

/// `prefix` + escaped bytes, a line per `\n`; a trailing space is written
/// `\x20` so that no line ends in white space.
fn lines(out: &mut Vec<String>, prefix: &str, data: &[u8]) {
    for piece in data.split_inclusive(|&c| c == b'\n') {
        let mut text = escape(piece);
        if text.ends_with(' ') {
            text.pop();
            text.push_str("\\x20");
        }
        out.push(format!("{prefix}{text}"));
    }
}

/// The recorder's one normalisation: random or per-run INFO values.
fn normalize_info(info: &[u8]) -> Vec<u8> {
    let mut text = String::from_utf8_lossy(info).into_owned();
    for key in ["server_id", "server_name", "nonce"] {
        let pat = format!("\"{key}\":\"");
        if let Some(at) = text.find(&pat) {
            let start = at + pat.len();
            if let Some(len) = text[start..].find('"') {
                text.replace_range(start..start + len, "X");
            }
        }
    }
    for key in ["port", "client_id"] {
        let pat = format!("\"{key}\":");
        if let Some(at) = text.find(&pat) {
            let start = at + pat.len();
            let len = text[start..]
                .find(|c: char| !c.is_ascii_digit())
                .unwrap_or(0);
            text.replace_range(start..start + len, "0");
        }
    }
    text.into_bytes()
}

fn config_lines(config: &str) -> Vec<String> {
    config
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| format!("config> {l}"))
        .collect()
}

/// What happened on one exchange's connection.
struct Played {
    info: Vec<u8>,
    handshake: Option<bool>,
    got: Vec<u8>,
    closed: bool,
}

fn render_exchange(config: &str, ex: &Exchange, p: &Played) -> String {
    let mut out = config_lines(config);
    lines(&mut out, "< ", &normalize_info(&p.info));
    if let Some(ok) = p.handshake {
        out.push(format!(
            "tls> handshake {}",
            if ok { "ok" } else { "failed" }
        ));
    }
    lines(&mut out, "> ", &ex.input);
    lines(&mut out, "< ", &p.got);
    out.push(if p.closed { "= closed" } else { "= open" }.to_string());
    out.join("\n") + "\n"
}

// ---- the connection ----

/// A client connection, plain or TLS.
enum Conn {
    Plain(TcpStream),
    Tls(Box<rustls::StreamOwned<rustls::ClientConnection, TcpStream>>),
}

impl Read for Conn {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        match self {
            Conn::Plain(s) => s.read(buf),
            Conn::Tls(s) => s.read(buf),
        }
    }
}

impl Write for Conn {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match self {
            Conn::Plain(s) => s.write(buf),
            Conn::Tls(s) => s.write(buf),
        }
    }
    fn flush(&mut self) -> std::io::Result<()> {
        match self {
            Conn::Plain(s) => s.flush(),
            Conn::Tls(s) => s.flush(),
        }
    }
}

impl Conn {
    /// Half-closes and waits (at most 5 s) for the server to close too.
    /// A server drops a client's subscriptions before its socket, so the
    /// next exchange cannot race a previous one's clean-up: a subscription
    /// added while another's results are cached is appended to them, in
    /// nats-server as in edge, where a fresh match has `matchLevel` order.
    fn finish(mut self) {
        let tcp = match &self {
            Conn::Plain(s) => s,
            Conn::Tls(s) => &s.sock,
        };
        let _ = tcp.shutdown(std::net::Shutdown::Write);
        let deadline = Instant::now() + Duration::from_secs(5);
        let mut buf = [0u8; 4096];
        while Instant::now() < deadline {
            match self.read(&mut buf) {
                Ok(0) => return,
                Err(e) if !timed_out(&e) => return,
                _ => {}
            }
        }
    }
}

fn timed_out(e: &std::io::Error) -> bool {
    matches!(
        e.kind(),
        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
    )
}

/// Connects and reads the INFO line byte by byte (so nothing after it is
/// consumed: the TLS handshake follows).
fn connect(port: u16) -> (TcpStream, Vec<u8>) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    s.set_nodelay(true).expect("nodelay");
    s.set_read_timeout(Some(Duration::from_millis(20)))
        .expect("timeout");
    let mut info = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut byte = [0u8; 1];
    while !info.ends_with(b"\r\n") && Instant::now() < deadline {
        match s.read(&mut byte) {
            Ok(1) => info.push(byte[0]),
            Ok(_) => break,
            Err(_) => {}
        }
    }
    (s, info)
}

/// The TLS handshake, trusting the suite's CA and presenting `cert`;
/// `None` when it fails.
fn handshake(mut sock: TcpStream, certs: &Path, cert: Option<&str>) -> Option<Conn> {
    let pair = cert.map(|c| {
        (
            certs.join(format!("{c}.pem")),
            certs.join(format!("{c}-key.pem")),
        )
    });
    let config = common::tls_client_config(
        &certs.join("ca.pem"),
        pair.as_ref().map(|(c, k)| (c.as_path(), k.as_path())),
    );
    let name = ServerName::try_from("localhost").expect("name");
    let mut tls = rustls::ClientConnection::new(Arc::new(config), name).ok()?;
    sock.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    while tls.is_handshaking() {
        tls.complete_io(&mut sock).ok()?;
    }
    sock.set_read_timeout(Some(Duration::from_millis(20)))
        .ok()?;
    Some(Conn::Tls(Box::new(rustls::StreamOwned::new(tls, sock))))
}

/// Reads until the peer closes or `quiet` passes without data; with
/// `want`, stops once that many bytes are in and [`GRACE`] passed.
fn drain(s: &mut impl Read, quiet: Duration, want: Option<usize>) -> (Vec<u8>, bool) {
    let mut last = Instant::now();
    let mut got = Vec::new();
    let mut buf = [0u8; 65536];
    while last.elapsed() < quiet {
        if want.is_some_and(|w| got.len() >= w) && last.elapsed() >= GRACE {
            break;
        }
        match s.read(&mut buf) {
            Ok(0) => return (got, true),
            Ok(n) => {
                got.extend_from_slice(&buf[..n]);
                last = Instant::now();
            }
            Err(e) if timed_out(&e) => {}
            Err(_) => return (got, true),
        }
    }
    (got, false)
}

/// One exchange on a fresh connection, the input split after `split`
/// bytes when given.
fn play(
    port: u16,
    suite: &Suite,
    ex: &Exchange,
    certs: &Path,
    split: Option<usize>,
    want: Option<usize>,
) -> Played {
    let (sock, info) = connect(port);
    let (mut conn, handshake_ok) = if suite.tls && !ex.plain {
        match handshake(sock, certs, ex.cert.as_deref()) {
            Some(c) => (c, Some(true)),
            None => {
                return Played {
                    info,
                    handshake: Some(false),
                    got: Vec::new(),
                    closed: true,
                }
            }
        }
    } else {
        (Conn::Plain(sock), None)
    };
    let wrote = match split {
        None => conn.write_all(&ex.input),
        Some(k) => conn.write_all(&ex.input[..k]).and_then(|()| {
            std::thread::sleep(SPLIT_PAUSE);
            conn.write_all(&ex.input[k..])
        }),
    };
    let (got, closed) = match wrote {
        Ok(()) => drain(&mut conn, if ex.long { LONG } else { QUIET }, want),
        Err(_) => (Vec::new(), true),
    };
    conn.finish();
    Played {
        info,
        handshake: handshake_ok,
        got,
        closed,
    }
}

/// One session: connections created on their first step, what each got
/// after each step.
fn play_session(port: u16, config: &str, steps: &[Step]) -> String {
    let mut out = config_lines(config);
    let mut conns: Vec<(String, TcpStream, bool)> = Vec::new();
    for Step { who, data, wait } in steps {
        if !conns.iter().any(|(n, _, _)| n == who) {
            let (s, _) = connect(port);
            conns.push((who.clone(), s, false));
        }
        if let Some((_, s, _)) = conns.iter_mut().find(|(n, _, _)| n == who) {
            let _ = s.write_all(data);
        }
        lines(&mut out, &format!("{who}> "), data);
        match wait {
            Some(secs) => {
                // Python's str(float): 1.5 -> "1.5", 2.0 -> "2.0".
                out.push(format!("{who}~ waited {secs:?}s"));
                std::thread::sleep(Duration::from_secs_f64(*secs));
            }
            None => std::thread::sleep(STEP),
        }
        for (name, s, gone) in &mut conns {
            if *gone {
                continue;
            }
            let (got, closed) = drain(s, Duration::from_millis(50), None);
            lines(&mut out, &format!("{name}< "), &got);
            if closed {
                *gone = true;
                out.push(format!("{name}< <closed>"));
            }
        }
    }
    for (_, s, _) in conns {
        Conn::Plain(s).finish();
    }
    out.join("\n") + "\n"
}

/// Compares `actual` with the recorded transcript `name` through insta;
/// `Err(name)` when they differ (insta has printed the diff).
fn check(name: &str, actual: &str) -> Result<(), String> {
    let mut settings = insta::Settings::clone_current();
    settings.set_snapshot_path(transcripts_dir());
    settings.set_prepend_module_to_snapshot(false);
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        settings.bind(|| insta::assert_snapshot!(name, actual))
    }))
    .map_err(|_| name.to_string())
}

/// Replays one suite; the names of the transcripts edge did not match.
fn replay(suite: &Suite, certs: &Path) -> Vec<String> {
    let config = suite.config.replace("@CERTS@", &certs.to_string_lossy());
    let edge = RunningEdge::start(&config);
    let mut failures = Vec::new();
    for (n, ex) in suite.exchanges.iter().enumerate() {
        let name = format!("{}__{n:03}", suite.name);
        let whole = play(edge.port, suite, ex, certs, None, None);
        let rendered = render_exchange(&suite.config, ex, &whole);
        if let Err(e) = check(&name, &rendered) {
            failures.push(e);
            continue;
        }
        if ex.split {
            // Every split point on its own connection, on four edges
            // (connections of one edge would see each other's messages).
            let points: Vec<usize> = (1..ex.input.len()).collect();
            let want = Some(whole.got.len());
            std::thread::scope(|scope| {
                let handles: Vec<_> = points
                    .chunks(points.len().div_ceil(4).max(1))
                    .map(|ks| {
                        let (name, config) = (&name, &config);
                        scope.spawn(move || {
                            let edge = RunningEdge::start(config);
                            ks.iter()
                                .filter_map(|&k| {
                                    let part = play(edge.port, suite, ex, certs, Some(k), want);
                                    check(name, &render_exchange(&suite.config, ex, &part))
                                        .err()
                                        .map(|e| format!("{e} (split after byte {k})"))
                                })
                                .collect::<Vec<_>>()
                        })
                    })
                    .collect();
                for h in handles {
                    failures.extend(
                        h.join()
                            .unwrap_or_else(|_| vec![format!("{name}: panicked")]),
                    );
                }
            });
        }
    }
    for (i, steps) in suite.sessions.iter().enumerate() {
        let n = suite.exchanges.len() + i;
        let name = format!("{}__{n:03}", suite.name);
        if let Err(e) = check(&name, &play_session(edge.port, &suite.config, steps)) {
            failures.push(e);
        }
    }
    failures
}

/// A client certificate from a CA the suites' servers do not trust:
/// `other.pem`, `other-key.pem`.
fn write_other_ca_client(dir: &Path) {
    use rcgen::{BasicConstraints, CertificateParams, ExtendedKeyUsagePurpose, IsCa, KeyPair};
    let ca_key = KeyPair::generate().expect("key");
    let mut ca = CertificateParams::new(Vec::<String>::new()).expect("params");
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca = ca.self_signed(&ca_key).expect("ca");
    let key = KeyPair::generate().expect("key");
    let mut client = CertificateParams::new(Vec::<String>::new()).expect("params");
    client.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    let client = client.signed_by(&key, &ca, &ca_key).expect("client");
    std::fs::write(dir.join("other.pem"), client.pem()).expect("write");
    std::fs::write(dir.join("other-key.pem"), key.serialize_pem()).expect("write");
}

#[test]
fn transcripts_recorded_from_nats_server_replay_identically() {
    let suites_dir = common::root().join("conformance/nats/suites");
    let mut paths: Vec<PathBuf> = std::fs::read_dir(&suites_dir)
        .expect("suites directory")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    paths.sort();
    let suites: Vec<Suite> = paths.iter().map(|p| load(p)).collect();
    assert!(!suites.is_empty(), "no suites in {}", suites_dir.display());

    // Every transcript belongs to an exchange and every exchange has one.
    let expected: BTreeSet<String> = suites
        .iter()
        .flat_map(|s| {
            (0..s.exchanges.len() + s.sessions.len()).map(|n| format!("{}__{n:03}.snap", s.name))
        })
        .collect();
    let recorded: BTreeSet<String> = std::fs::read_dir(transcripts_dir())
        .expect("transcripts directory")
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".snap"))
        .collect();
    assert_eq!(
        expected.symmetric_difference(&recorded).collect::<Vec<_>>(),
        Vec::<&String>::new(),
        "transcripts and suites disagree: re-record with conformance/nats/record.py"
    );

    let certs = tempfile::tempdir().expect("cert dir");
    common::write_test_certs(certs.path());
    write_other_ca_client(certs.path());

    // Suites run in parallel: each has its own edge.
    let failures: Vec<String> = std::thread::scope(|scope| {
        let handles: Vec<_> = suites
            .iter()
            .map(|s| scope.spawn(|| replay(s, certs.path())))
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap_or_else(|_| vec!["replay panicked".into()]))
            .collect()
    });
    let splits: usize = suites
        .iter()
        .flat_map(|s| &s.exchanges)
        .filter(|e| e.split)
        .map(|e| e.input.len().saturating_sub(1))
        .sum();
    println!(
        "{} suites, {} transcripts replayed, {splits} split replays",
        suites.len(),
        expected.len()
    );
    assert!(
        failures.is_empty(),
        "{} replays differ from nats-server's transcripts: {}",
        failures.len(),
        failures.join(", ")
    );
}
