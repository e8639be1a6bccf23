//! SIGHUP reload of the client limits, played against edge and, where it
//! is installed, against nats-server 2.9.10 with the same files: connected
//! clients take a lower `max_payload` (and new ones get it in INFO), a
//! lower `max_connections` closes the clients over it, and what
//! nats-server cannot reload (`max_pending`) keeps the running plan. The
//! clients must receive the same bytes from both.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const WAIT: Duration = Duration::from_secs(10);

/// A server (edge or nats-server) on a config file it can be told to
/// reload, logging to a file.
struct Server {
    child: Child,
    port: u16,
    config: PathBuf,
    log: PathBuf,
}

impl Server {
    fn start(program: &str, dir: &Path, body: &str) -> Server {
        let port = common::free_port();
        let config = dir.join(format!("{program}.conf"));
        let log = dir.join(format!("{program}.log"));
        let server = |body: &str| {
            format!(
                "listen: 127.0.0.1:{port}\nlog_file: \"{}\"\n{body}",
                log.display()
            )
        };
        std::fs::write(&config, server(body)).expect("config");
        let child = common::server_command(program)
            .arg("-c")
            .arg(&config)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start");
        let s = Server {
            child,
            port,
            config,
            log,
        };
        s.wait_log("Server is ready", 1);
        s
    }

    /// Rewrites the config (same listener and log) and sends SIGHUP; waits
    /// for the reload's verdict, which is returned.
    fn reload(&self, body: &str, reloads: usize) -> String {
        let text = std::fs::read_to_string(&self.config).expect("config");
        let head: String = text.lines().take(2).map(|l| format!("{l}\n")).collect();
        std::fs::write(&self.config, format!("{head}{body}")).expect("config");
        let ok = Command::new("kill")
            .args(["-HUP", &self.child.id().to_string()])
            .status()
            .expect("kill")
            .success();
        assert!(ok);
        self.wait_log("reload", reloads)
    }

    /// Waits until `needle` is in the log `count` times; the log.
    fn wait_log(&self, needle: &str, count: usize) -> String {
        let deadline = Instant::now() + WAIT;
        loop {
            let text = std::fs::read_to_string(&self.log).unwrap_or_default();
            let n = text
                .lines()
                .filter(|l| match needle {
                    "reload" => {
                        l.contains("Reloaded server configuration")
                            || l.contains("Failed to reload")
                    }
                    _ => l.contains(needle),
                })
                .count();
            if n >= count {
                return text;
            }
            assert!(Instant::now() < deadline, "no {needle:?} in {text}");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// A client past CONNECT; returns it and its INFO.
    fn client(&self) -> (TcpStream, String) {
        let mut s = TcpStream::connect(("127.0.0.1", self.port)).expect("connect");
        s.set_read_timeout(Some(Duration::from_millis(300)))
            .expect("timeout");
        let info = read_until(&mut s, "\r\n");
        s.write_all(b"CONNECT {\"verbose\":false}\r\nPING\r\n")
            .expect("write");
        assert_eq!(read_until(&mut s, "PONG\r\n"), "PONG\r\n");
        (s, info)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Reads until `end` or the line is quiet; `<closed>` appended on EOF.
fn read_until(s: &mut TcpStream, end: &str) -> String {
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    let deadline = Instant::now() + WAIT;
    while !String::from_utf8_lossy(&got).ends_with(end) && Instant::now() < deadline {
        match s.read(&mut buf) {
            Ok(0) => {
                got.extend_from_slice(b"<closed>");
                break;
            }
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
            Err(e) if e.kind() == std::io::ErrorKind::TimedOut => break,
            Err(_) => {
                got.extend_from_slice(b"<closed>");
                break;
            }
        }
    }
    String::from_utf8_lossy(&got).into_owned()
}

/// What the clients received in the scenario, for comparison.
fn scenario(program: &str) -> Vec<String> {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Server::start(program, dir.path(), "max_payload: 100\n");
    let mut seen = Vec::new();

    // A lower max_payload reaches a connected client.
    let (mut a, info) = server.client();
    assert!(info.contains("\"max_payload\":100,"), "{info}");
    a.write_all(b"PUB foo 50\r\n").expect("write");
    a.write_all(&[b'x'; 50]).expect("write");
    a.write_all(b"\r\nPING\r\n").expect("write");
    seen.push(read_until(&mut a, "PONG\r\n"));
    let verdict = server.reload("max_payload: 10\n", 1);
    assert!(verdict.contains("Reloaded: max_payload = 10"), "{verdict}");
    a.write_all(b"PUB foo 50\r\n").expect("write");
    seen.push(read_until(&mut a, "<closed>"));
    let (_b, info) = server.client();
    assert!(info.contains("\"max_payload\":10,"), "{info}");

    // A lower max_connections closes the clients over it.
    let clients: Vec<TcpStream> = (0..3).map(|_| server.client().0).collect();
    let verdict = server.reload("max_payload: 10\nmax_connections: 1\n", 2);
    assert!(
        verdict.contains("Closed 3 connections to fall within max_connections"),
        "{verdict}"
    );
    assert!(
        verdict.contains("Reloaded: max_connections = 1"),
        "{verdict}"
    );
    let mut closed = 0;
    for mut c in clients.into_iter().chain(std::iter::once(_b)) {
        let got = read_until(&mut c, "<closed>");
        if got.ends_with("<closed>") {
            assert_eq!(got, "-ERR 'maximum connections exceeded'\r\n<closed>");
            closed += 1;
        }
    }
    seen.push(format!("{closed} closed"));

    // What nats-server cannot reload keeps the running plan.
    let verdict = server.reload(
        "max_payload: 10\nmax_connections: 1\nmax_pending: 1000\n",
        3,
    );
    assert!(
        verdict.contains("config reload not supported for MaxPending: old=67108864, new=1000"),
        "{verdict}"
    );
    seen
}

#[test]
fn reload_applies_client_limits_as_nats_server() {
    let edge = scenario("edge");
    assert_eq!(
        edge,
        [
            "PONG\r\n",
            "-ERR 'Maximum Payload Violation'\r\n<closed>",
            "3 closed",
        ]
    );
    if common::nats_server_installed() {
        assert_eq!(scenario("nats-server"), edge);
    }
}
