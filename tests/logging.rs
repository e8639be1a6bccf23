//! Where edge's log goes, as nats-server's does: remote and local syslog in
//! Go's `log/syslog` forms, `log_file` rotation past `logfile_size_limit`,
//! SIGUSR1 reopening a moved file, and SIGHUP reloading the log options.
//! Where nats-server is installed, the same checks run against it first,
//! so the formats asserted here are the reference's.

mod common;

use common::RunningEdge;
use regex::Regex;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream, UdpSocket};
use std::os::unix::net::{UnixDatagram, UnixListener};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

const WAIT: Duration = Duration::from_secs(10);

/// `nats-server` when it is on the PATH.
fn nats_server() -> Option<&'static str> {
    common::nats_server_installed().then_some("nats-server")
}

/// A server process (edge or nats-server) on `config`, killed on drop.
struct Proc(std::process::Child);

impl Proc {
    fn start(program: &str, config: &str, dir: &Path) -> Proc {
        let path = dir.join(format!("{program}.conf"));
        std::fs::write(&path, config).expect("config");
        let child = common::server_command(program)
            .arg("-c")
            .arg(&path)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("start server");
        Proc(child)
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Lines read from a stream socket until `done` is among them.
fn stream_lines(mut s: impl Read, done: &str) -> Vec<String> {
    let deadline = Instant::now() + WAIT;
    let mut text = String::new();
    let mut buf = [0u8; 4096];
    while !text.contains(done) && Instant::now() < deadline {
        match s.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => text.push_str(&String::from_utf8_lossy(&buf[..n])),
            Err(_) => {}
        }
    }
    text.split_inclusive('\n').map(str::to_string).collect()
}

/// The remote form: `<5>RFC3339 HOST TAG[PID]: message\n` (facility kern,
/// severity notice).
fn remote_form(tag: &str) -> Regex {
    Regex::new(&format!(
        r"^<5>\d{{4}}-\d\d-\d\dT\d\d:\d\d:\d\d(Z|[+-]\d\d:\d\d) \S+ {tag}\[\d+\]: .+\n$"
    ))
    .expect("regex")
}

/// The local form: `<PRI>Mmm _d hh:mm:ss TAG[PID]: message\n`.
fn local_form(pri: u8, tag: &str) -> Regex {
    Regex::new(&format!(
        r"^<{pri}>[A-Z][a-z]{{2}} [ \d]\d \d\d:\d\d:\d\d {tag}\[\d+\]: .+\n$"
    ))
    .expect("regex")
}

fn assert_all_match(lines: &[String], form: &Regex, who: &str) {
    assert!(!lines.is_empty(), "{who}: no syslog lines");
    for line in lines {
        assert!(form.is_match(line), "{who}: {line:?} is not {form}");
    }
}

/// `remote_syslog` over udp, tcp and unix: every line in Go's form, the
/// "Server is ready" line among them.
#[test]
fn remote_syslog_lines_are_go_syslog_lines() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut programs = vec!["edge"];
    programs.extend(nats_server());
    for program in programs {
        let tag = program;
        // udp
        let udp = UdpSocket::bind("127.0.0.1:0").expect("udp");
        udp.set_read_timeout(Some(Duration::from_millis(200)))
            .expect("timeout");
        let url = format!("udp://{}", udp.local_addr().expect("addr"));
        let config = format!("listen: 127.0.0.1:-1\nremote_syslog: \"{url}\"\n");
        let _p = Proc::start(program, &config, dir.path());
        let mut lines = Vec::new();
        let mut buf = [0u8; 4096];
        let deadline = Instant::now() + WAIT;
        while !lines.iter().any(|l: &String| l.contains("Server is ready"))
            && Instant::now() < deadline
        {
            if let Ok(n) = udp.recv(&mut buf) {
                lines.push(String::from_utf8_lossy(&buf[..n]).into_owned());
            }
        }
        assert!(
            lines.iter().any(|l| l.contains("Server is ready")),
            "{program} udp: {lines:?}"
        );
        assert_all_match(&lines, &remote_form(tag), &format!("{program} udp"));
        drop(_p);

        // tcp: one stream, a line per message.
        let tcp = TcpListener::bind("127.0.0.1:0").expect("tcp");
        let url = format!("tcp://{}", tcp.local_addr().expect("addr"));
        let config = format!("listen: 127.0.0.1:-1\nremote_syslog: \"{url}\"\n");
        let _p = Proc::start(program, &config, dir.path());
        let (conn, _) = tcp.accept().expect("accept");
        conn.set_read_timeout(Some(Duration::from_millis(200)))
            .expect("timeout");
        let lines = stream_lines(conn, "Server is ready");
        assert_all_match(&lines, &remote_form(tag), &format!("{program} tcp"));
        drop(_p);

        // unix: the local form, facility kern.
        let path = dir.path().join(format!("{program}.sock"));
        let unix = UnixListener::bind(&path).expect("unix");
        let config = format!(
            "listen: 127.0.0.1:-1\nremote_syslog: \"unix://{}\"\n",
            path.display()
        );
        let _p = Proc::start(program, &config, dir.path());
        let (conn, _) = unix.accept().expect("accept");
        conn.set_read_timeout(Some(Duration::from_millis(200)))
            .expect("timeout");
        let lines = stream_lines(conn, "Server is ready");
        assert_all_match(&lines, &local_form(5, tag), &format!("{program} unix"));
    }
}

/// Removes the `/dev/log` this test bound, whatever happens.
struct DevLog(UnixDatagram);

impl Drop for DevLog {
    fn drop(&mut self) {
        let _ = std::fs::remove_file("/dev/log");
    }
}

/// `syslog: true`: without a syslog daemon edge refuses to start with
/// nats-server's words; with one on `/dev/log` every line is in the local
/// form, facility daemon, severity notice (`<29>`). Needs a machine
/// without /dev/log where the test may bind it (CI's container); elsewhere
/// it checks only that edge starts.
#[test]
fn local_syslog_uses_dev_log_as_nats_server() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = "listen: 127.0.0.1:-1\nsyslog: true\n";
    if Path::new("/dev/log").exists() {
        let mut p = Proc::start("edge", config, dir.path());
        std::thread::sleep(Duration::from_millis(500));
        assert!(p.0.try_wait().expect("wait").is_none(), "edge exited");
        return;
    }
    let path = dir.path().join("edge.conf");
    std::fs::write(&path, config).expect("config");
    let out = Command::new(common::edge())
        .arg("run")
        .arg(&path)
        .output()
        .expect("edge");
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("error connecting to syslog: \"Unix syslog delivery error\""),
        "{stderr}"
    );
    let Ok(sock) = UnixDatagram::bind("/dev/log") else {
        return; // not allowed to create it: the refusal above was the check
    };
    let dev_log = DevLog(sock);
    dev_log
        .0
        .set_read_timeout(Some(Duration::from_millis(200)))
        .expect("timeout");
    let mut programs = vec!["edge"];
    programs.extend(nats_server());
    for program in programs {
        let _p = Proc::start(program, config, dir.path());
        let mut lines: Vec<String> = Vec::new();
        let mut buf = [0u8; 4096];
        let deadline = Instant::now() + WAIT;
        while !lines.iter().any(|l| l.contains("Server is ready")) && Instant::now() < deadline {
            if let Ok(n) = dev_log.0.recv(&mut buf) {
                lines.push(String::from_utf8_lossy(&buf[..n]).into_owned());
            }
        }
        assert!(
            lines.iter().any(|l| l.contains("Server is ready")),
            "{program}: {lines:?}"
        );
        assert_all_match(&lines, &local_form(29, program), program);
    }
}

fn wait_for(what: &str, mut ok: impl FnMut() -> bool) {
    let deadline = Instant::now() + WAIT;
    while !ok() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Connects, round-trips a PING and disconnects: two `[DBG]` lines.
fn touch(port: u16) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    s.write_all(b"CONNECT {\"verbose\":false}\r\nPING\r\n")
        .expect("write");
    let mut got = Vec::new();
    let mut buf = [0u8; 1024];
    while !got.ends_with(b"PONG\r\n") {
        match s.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => got.extend_from_slice(&buf[..n]),
        }
    }
}

fn backups(dir: &Path, name: &str) -> Vec<std::path::PathBuf> {
    let mut v: Vec<_> = std::fs::read_dir(dir)
        .expect("dir")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with(&format!("{name}.")))
        })
        .collect();
    v.sort();
    v
}

/// `logfile_size_limit`: past it the file is renamed to
/// `<file>.YYYY.MM.DD.hh.mm.ss.nnnnnnnnn` and a new one starts with
/// nats-server's "Rotated log" line; no line is lost across files.
#[test]
fn log_file_rotates_past_its_size_limit_losing_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let log = dir.path().join("edge.log");
    let edge = RunningEdge::start(&format!(
        "log_file: \"{}\"\nlogfile_size_limit: 2000\ndebug: true\n",
        log.display()
    ));
    let mut n = 0;
    while backups(dir.path(), "edge.log").len() < 2 && n < 200 {
        touch(edge.port);
        n += 1;
    }
    let rotated = backups(dir.path(), "edge.log");
    assert!(rotated.len() >= 2, "no rotation after {n} connections");
    let name = Regex::new(r"^edge\.log\.\d{4}\.\d\d\.\d\d\.\d\d\.\d\d\.\d\d\.\d{9}$").expect("re");
    for b in &rotated {
        let file = b.file_name().and_then(|n| n.to_str()).unwrap_or_default();
        assert!(name.is_match(file), "backup name {file}");
        let size = std::fs::metadata(b).expect("size").len();
        assert!(size > 2000 && size < 2000 + 4096, "backup of {size} bytes");
    }
    // The current file starts with the line naming the last backup.
    let current = std::fs::read_to_string(&log).expect("log");
    let last = rotated.last().expect("backup").display().to_string();
    let first = current.lines().next().unwrap_or_default();
    assert!(
        first.ends_with(&format!("[INF] Rotated log, backup saved as \"{last}\"")),
        "{first}"
    );
    // Every connection's "created" line is in exactly one file.
    let last = n;
    wait_for("the last connection's lines", || {
        std::fs::read_to_string(&log)
            .unwrap_or_default()
            .contains(&format!("cid:{last} - Client connection closed"))
    });
    let mut all = String::new();
    for f in rotated.iter().chain(std::iter::once(&log)) {
        all.push_str(&std::fs::read_to_string(f).expect("read"));
    }
    for cid in 1..=last {
        let line = format!(" - cid:{cid} - Client connection created");
        assert_eq!(all.matches(&line).count(), 1, "cid {cid} in {all}");
    }
}

fn signal(pid: u32, sig: &str) {
    let ok = Command::new("kill")
        .args([sig, &pid.to_string()])
        .status()
        .expect("kill")
        .success();
    assert!(ok, "kill {sig}");
}

/// SIGUSR1 after the file was moved away: edge writes to a new file at the
/// configured path ("File log re-opened"), as logrotate expects.
#[test]
fn sigusr1_reopens_a_moved_log_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let log = dir.path().join("edge.log");
    let edge = RunningEdge::start(&format!("log_file: \"{}\"\n", log.display()));
    wait_for("Server is ready", || {
        std::fs::read_to_string(&log)
            .unwrap_or_default()
            .contains("Server is ready")
    });
    let moved = dir.path().join("edge.log.1");
    std::fs::rename(&log, &moved).expect("mv");
    signal(edge.pid(), "-USR1");
    wait_for("the new file", || {
        std::fs::read_to_string(&log)
            .unwrap_or_default()
            .contains("[INF] File log re-opened")
    });
    let old = std::fs::read_to_string(&moved).expect("moved");
    assert!(!old.contains("re-opened"), "{old}");
}

/// SIGHUP with `debug: true` added: nats-server's "Reloaded: debug = true"
/// (written before the switch), then `[DBG]` lines for new connections; a
/// changed `logfile_size_limit` is refused as nats-server refuses it.
#[test]
fn sighup_reloads_the_log_level_and_refuses_a_new_size_limit() {
    let dir = tempfile::tempdir().expect("tempdir");
    let log = dir.path().join("edge.log");
    let base = format!("log_file: \"{}\"\n", log.display());
    let edge = RunningEdge::start(&base);
    let read = || std::fs::read_to_string(&log).unwrap_or_default();
    wait_for("Server is ready", || read().contains("Server is ready"));
    touch(edge.port);
    std::fs::write(edge.config_path(), format!("{base}debug: true\n")).expect("config");
    signal(edge.pid(), "-HUP");
    wait_for("the reload", || {
        read().contains("[INF] Reloaded server configuration")
    });
    assert!(
        read().contains("[INF] Reloaded: debug = true\n"),
        "{}",
        read()
    );
    assert!(!read().contains("[DBG]"), "{}", read());
    touch(edge.port);
    wait_for("a debug line", || {
        read().contains("[DBG] 127.0.0.1:") && read().contains("Client connection created")
    });

    std::fs::write(
        edge.config_path(),
        format!("{base}debug: true\nlogfile_size_limit: 1000\n"),
    )
    .expect("config");
    signal(edge.pid(), "-HUP");
    wait_for("the refusal", || {
        read().contains(
            "[ERR] Failed to reload server configuration: config reload not supported for LogSizeLimit: old=0, new=1000",
        )
    });
}
