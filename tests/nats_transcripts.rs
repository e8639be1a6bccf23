//! Replays the NATS transcripts recorded from nats-server 2.9.10
//! (`conformance/nats/transcripts/*.json`, written by
//! `conformance/nats/record.py`) against a real edge process and requires
//! the same bytes back: the INFO line (normalised as the recorder does),
//! everything sent after each input, and whether the connection closed.

mod common;

use common::RunningEdge;
use serde_json::Value;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Silence that ends an exchange once the expected bytes are in.
const GRACE: Duration = Duration::from_millis(150);
/// The recorder's pause after each session step.
const STEP: Duration = Duration::from_millis(100);

/// JSON strings hold one byte per character (latin-1), as the recorder
/// writes them.
fn bytes(v: &Value) -> Vec<u8> {
    v.as_str()
        .unwrap_or_default()
        .chars()
        .map(|c| u8::try_from(u32::from(c)).expect("latin-1"))
        .collect()
}

/// The recorder's normalisation: random or per-run INFO values.
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

fn connect(port: u16) -> (TcpStream, Vec<u8>) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
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

/// Reads until the peer closes, or `want` bytes are in and the line has
/// been quiet for [`GRACE`], or `limit` passes.
fn drain(s: &mut TcpStream, want: usize, limit: Duration) -> (Vec<u8>, bool) {
    let start = Instant::now();
    let mut last = Instant::now();
    let mut got = Vec::new();
    let mut buf = [0u8; 65536];
    while start.elapsed() < limit {
        if got.len() >= want && last.elapsed() >= GRACE {
            break;
        }
        match s.read(&mut buf) {
            Ok(0) => return (got, true),
            Ok(n) => {
                got.extend_from_slice(&buf[..n]);
                last = Instant::now();
            }
            Err(e)
                if e.kind() == std::io::ErrorKind::WouldBlock
                    || e.kind() == std::io::ErrorKind::TimedOut => {}
            Err(_) => return (got, true),
        }
    }
    (got, false)
}

fn show(b: &[u8]) -> String {
    b.escape_ascii().to_string()
}

fn replay(path: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(path).expect("read transcript");
    let t: Value = serde_json::from_str(&text).expect("transcript JSON");
    let edge = RunningEdge::start(t["config"].as_str().unwrap_or_default());
    let mut failures = Vec::new();
    let name = path.file_stem().unwrap_or_default().to_string_lossy();
    for (i, ex) in t["exchanges"].as_array().into_iter().flatten().enumerate() {
        let input = bytes(&ex["input"]);
        let want = bytes(&ex["sent"]);
        let want_closed = ex["closed"].as_bool().unwrap_or(false);
        let long = ex["long"].as_bool().unwrap_or(false);
        let (mut s, info) = connect(edge.port);
        if let Err(e) = s.write_all(&input) {
            failures.push(format!("{name} #{i}: write: {e}"));
            continue;
        }
        let limit = if long || want_closed {
            Duration::from_secs(5)
        } else {
            Duration::from_secs(2)
        };
        // A connection that should stay open is watched for the
        // recorder's whole quiet time, so a late close is seen too.
        let (got, closed) = drain(&mut s, want.len(), limit);
        let info = normalize_info(&info);
        if info != bytes(&ex["info"]) || got != want || closed != want_closed {
            failures.push(format!(
                "{name} #{i}: input {}\n  want info {}\n  got  info {}\n  want {} closed={want_closed}\n  got  {} closed={closed}",
                show(&input),
                show(&bytes(&ex["info"])),
                show(&info),
                show(&want),
                show(&got),
            ));
        }
    }
    for (i, session) in t["sessions"].as_array().into_iter().flatten().enumerate() {
        let mut conns: Vec<(String, TcpStream, Vec<u8>)> = Vec::new();
        for step in session["steps"].as_array().into_iter().flatten() {
            let who = step[0].as_str().unwrap_or_default().to_string();
            if !conns.iter().any(|(n, _, _)| *n == who) {
                let (s, _) = connect(edge.port);
                conns.push((who.clone(), s, Vec::new()));
            }
            if let Some((_, s, _)) = conns.iter_mut().find(|(n, _, _)| *n == who) {
                let _ = s.write_all(&bytes(&step[1]));
            }
            std::thread::sleep(STEP);
            for (_, s, got) in &mut conns {
                let (more, closed) = drain(s, 0, Duration::from_millis(60));
                got.extend_from_slice(&more);
                if closed && !got.ends_with(b"<closed>") {
                    got.extend_from_slice(b"<closed>");
                }
            }
        }
        for (who, _, got) in &conns {
            let want = bytes(&session["received"][who.as_str()]);
            if *got != want {
                failures.push(format!(
                    "{name} session {i}, connection {who}:\n  want {}\n  got  {}",
                    show(&want),
                    show(got)
                ));
            }
        }
    }
    failures
}

#[test]
fn transcripts_recorded_from_nats_server_replay_identically() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("conformance/nats/transcripts");
    let mut paths: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("transcripts directory")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    paths.sort();
    assert!(!paths.is_empty(), "no transcripts in {}", dir.display());
    // Suites run in parallel: each has its own edge.
    let failures: Vec<String> = std::thread::scope(|scope| {
        let handles: Vec<_> = paths
            .iter()
            .map(|p| scope.spawn(move || replay(p)))
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap_or_else(|_| vec!["replay panicked".into()]))
            .collect()
    });
    let exchanges: usize = paths
        .iter()
        .filter_map(|p| std::fs::read_to_string(p).ok())
        .filter_map(|t| serde_json::from_str::<Value>(&t).ok())
        .map(|t| {
            t["exchanges"].as_array().map_or(0, Vec::len)
                + t["sessions"].as_array().map_or(0, Vec::len)
        })
        .sum();
    println!(
        "{} transcripts, {exchanges} exchanges and sessions replayed",
        paths.len()
    );
    assert!(
        failures.is_empty(),
        "{} of {exchanges} differ from nats-server:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
