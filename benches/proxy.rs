//! Side-by-side reverse proxy benchmark: edge vs nginx, haproxy and
//! node-http-proxy 1.18.1, each in front of the same upstream.
//!
//! Run with `cargo bench --bench proxy`. The upstream is this bench binary
//! re-executed in upstream mode (`EDGE_BENCH_UPSTREAM=port`): a hyper
//! HTTP/1.1 server on 2 tokio workers answering `/small` (13 bytes),
//! `/big` (1 MiB, one shared buffer) and WebSocket upgrades (raw byte echo
//! after the 101: every proxy here splices bytes without parsing frames).
//! It is a separate process so its sockets and CPU are not the bench's.
//!
//! Every proxy gets one worker: nginx `worker_processes 1`, haproxy
//! `nbthread 1`, edge `workers: 1` (one proxy thread with its own
//! single-threaded runtime; `TOKIO_WORKER_THREADS=1` for the rest of the
//! process, idle here), node is single-threaded. Access logs: edge's
//! (stderr) and nginx's go to files; haproxy and node log nothing.
//!
//! Load is `wrk -t1` on 127.0.0.1 (keep-alive small, `Connection: close`
//! small, 1 MiB), a WebSocket round-trip client below (10 connections,
//! 32-byte frames), and RSS (/proc, process tree) with 10,000 idle
//! keep-alive client connections. Each row runs a few seconds, `REPS`
//! times per proxy, interleaved (each round starting with the next
//! proxy); the table prints medians and edge's
//! ratios, then edge's rate over nginx's in each round (the spread the
//! shared machine puts on one ratio). The load rows also run against the
//! upstream directly (column `direct`): the ceiling of any proxy here, and
//! the bench prints that ceiling over node's rate, the largest edge/node
//! ratio this machine allows. Missing `wrk` prints a note and exits 0; a missing reference
//! proxy is left out. `HTTP_PROXY_DIR` may name a directory holding
//! `node_modules/http-proxy`; otherwise `npm install http-proxy@1.18.1`
//! runs once in a temporary directory.

use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

#[path = "../tests/common/ports.rs"]
mod ports;
#[path = "../tests/common/rss.rs"]
mod rss;
use ports::free_port;
use rss::rss_kib;

/// Repetitions of every row on every proxy.
const REPS: usize = 5;
/// Seconds of each wrk run.
const WRK_SECS: u64 = 3;
/// Concurrent connections for the small-response rows.
const CONNS: usize = 50;
/// Idle keep-alive connections for the memory row.
const IDLE: usize = 10_000;
/// WebSocket echo connections.
const WS_CONNS: usize = 10;
/// 1 MiB.
const BIG: usize = 1 << 20;
const SMALL_BODY: &[u8] = b"hello, world\n";
/// The column of runs made against the upstream itself.
const DIRECT: &str = "direct";

fn main() {
    if let Ok(port) = std::env::var("EDGE_BENCH_UPSTREAM") {
        let port: u16 = port.parse().expect("EDGE_BENCH_UPSTREAM is a port");
        upstream::run(port);
        return;
    }
    if which("wrk").is_none() {
        println!("proxy bench: wrk is not installed (apt-get install -y wrk); nothing measured");
        return;
    }
    raise_nofile();
    let dir = tempfile::tempdir().expect("temp dir");
    let up_port = free_port();
    let exe = std::env::current_exe().expect("current exe");
    let _upstream = Proc::start(
        "upstream",
        Command::new(&exe).env("EDGE_BENCH_UPSTREAM", up_port.to_string()),
        up_port,
    )
    .expect("upstream starts");

    let mut proxies: Vec<Proc> = Vec::new();
    match start_edge(dir.path(), up_port) {
        Ok(p) => proxies.push(p),
        Err(e) => {
            println!("proxy bench: edge did not start: {e}");
            return;
        }
    }
    for (name, start) in [
        ("nginx", start_nginx as fn(&Path, u16) -> io::Result<Proc>),
        ("haproxy", start_haproxy),
        ("node", start_node),
    ] {
        match start(dir.path(), up_port) {
            Ok(p) => proxies.push(p),
            Err(e) => println!("proxy bench: {name} left out: {e}"),
        }
    }
    if proxies.len() == 1 {
        println!(
            "proxy bench: no reference proxy (nginx, haproxy, node + http-proxy) found; edge alone"
        );
    }
    print_versions();

    // The load rows also run against the upstream itself, no proxy in
    // between: the ceiling any proxy on this machine can reach, and so the
    // largest ratio over node that one could show.
    let mut names: Vec<&str> = proxies.iter().map(|p| p.name).collect();
    names.push(DIRECT);
    let mut ports: Vec<u16> = proxies.iter().map(|p| p.port).collect();
    ports.push(up_port);
    let mut table: Vec<(String, Vec<Option<f64>>)> = Vec::new();
    let rows: [(&str, &str, usize, bool); 3] = [
        ("small keep-alive", "/small", CONNS, false),
        ("small Connection: close", "/small", CONNS, true),
        ("1 MiB keep-alive", "/big", 10, false),
    ];
    // Edge's rate over nginx's, round by round (the runs are interleaved,
    // so a round's ratio is taken under the same machine load).
    let nginx = names.iter().position(|n| *n == "nginx");
    let mut rounds: Vec<String> = Vec::new();
    let mut round_ratios = |label: &str, edge: Vec<f64>, other: Vec<f64>| {
        let ratios: Vec<String> = edge
            .iter()
            .zip(&other)
            .map(|(e, o)| format!("{:.2}", e / o))
            .collect();
        rounds.push(format!("  {label}: {}", ratios.join(" ")));
    };
    for (label, path, conns, close) in rows {
        let mut runs: Vec<Vec<Wrk>> = vec![Vec::new(); ports.len()];
        for round in 0..REPS {
            for i in in_turn(round, ports.len()) {
                if let Some(w) = wrk(ports[i], path, conns, close) {
                    runs[i].push(w);
                }
            }
        }
        let med = |f: fn(&Wrk) -> f64| -> Vec<Option<f64>> {
            runs.iter()
                .map(|r| median(r.iter().map(f).collect()))
                .collect()
        };
        table.push((format!("{label}: req/s"), med(|w| w.rps)));
        if let Some(n) = nginx {
            let rate = |r: &Vec<Wrk>| r.iter().map(|w| w.rps).collect();
            round_ratios(label, rate(&runs[0]), rate(&runs[n]));
        }
        table.push((format!("{label}: p50 ms"), med(|w| w.p50_ms)));
        table.push((format!("{label}: p99 ms"), med(|w| w.p99_ms)));
        let errs: Vec<String> = runs
            .iter()
            .zip(&names)
            .filter(|(r, _)| r.iter().any(|w| w.errors))
            .map(|(_, n)| n.to_string())
            .collect();
        if !errs.is_empty() {
            println!("note: {label}: socket errors or non-2xx answers on {errs:?}");
        }
    }

    let mut ws_runs: Vec<Vec<WsRun>> = vec![Vec::new(); ports.len()];
    for round in 0..REPS {
        for i in in_turn(round, ports.len()) {
            match ws_bench(ports[i]) {
                Ok(r) => ws_runs[i].push(r),
                Err(e) => println!("note: websocket on {}: {e}", names[i]),
            }
        }
    }
    let med = |f: fn(&WsRun) -> f64| -> Vec<Option<f64>> {
        ws_runs
            .iter()
            .map(|r| median(r.iter().map(f).collect()))
            .collect()
    };
    table.push(("websocket echo: round trips/s".into(), med(|w| w.rps)));
    if let Some(n) = nginx {
        let rate = |r: &Vec<WsRun>| r.iter().map(|w| w.rps).collect();
        round_ratios("websocket echo", rate(&ws_runs[0]), rate(&ws_runs[n]));
    }
    table.push(("websocket echo: p50 ms".into(), med(|w| w.p50_ms)));
    table.push(("websocket echo: p99 ms".into(), med(|w| w.p99_ms)));

    let mut base = Vec::new();
    let mut loaded = Vec::new();
    for p in &proxies {
        let before = rss_tree_kib(p.pid());
        match idle_connections(p.port, IDLE) {
            Ok(conns) => {
                std::thread::sleep(Duration::from_millis(500));
                loaded.push(Some(rss_tree_kib(p.pid()) as f64 / 1024.0));
                drop(conns);
            }
            Err(e) => {
                println!("note: idle connections on {}: {e}", p.name);
                loaded.push(None);
            }
        }
        base.push(Some(before as f64 / 1024.0));
        std::thread::sleep(Duration::from_millis(500));
    }
    // The upstream's memory is not a proxy's: no entry in the direct column.
    base.push(None);
    loaded.push(None);
    table.push(("RSS MiB after load, before idle".into(), base));
    table.push((format!("RSS MiB with {IDLE} idle keep-alive"), loaded));

    print_table(&names, &table);
    print_ceiling(&names, &table);
    if !rounds.is_empty() {
        println!("\nedge/nginx req/s, round by round:");
        for line in rounds {
            println!("{line}");
        }
    }
}

// ---------------------------------------------------------------- table

fn print_table(names: &[&str], table: &[(String, Vec<Option<f64>>)]) {
    let mut head = format!("{:<44}", "row (median of runs)");
    for n in names {
        head.push_str(&format!("{n:>11}"));
    }
    for n in names.iter().skip(1) {
        head.push_str(&format!("{:>14}", format!("edge/{n}")));
    }
    println!("\n{head}");
    println!("{}", "-".repeat(head.len()));
    for (label, vals) in table {
        let mut line = format!("{label:<44}");
        for v in vals {
            line.push_str(&match v {
                Some(v) => format!("{:>11}", fmt(*v)),
                None => format!("{:>11}", "-"),
            });
        }
        for v in vals.iter().skip(1) {
            let ratio = match (vals.first().copied().flatten(), v) {
                (Some(e), Some(o)) if *o > 0.0 => format!("{:.2}x", e / o),
                _ => "-".into(),
            };
            line.push_str(&format!("{ratio:>14}"));
        }
        println!("{line}");
    }
    println!(
        "\nreq/s and round trips/s: higher is better; ms and MiB: lower is better \
         (ratios are edge's value over the other's)."
    );
}

/// The order the `n` columns run in, in round `round`: each round starts
/// one column later, so no proxy always runs first (after another row's
/// load, or the direct runs) or always right after the same neighbour.
fn in_turn(round: usize, n: usize) -> impl Iterator<Item = usize> {
    (0..n).map(move |i| (round + i) % n)
}

/// For each rate row, what a proxy costing nothing would show over node:
/// the direct rate over node's. A target above it cannot be met here.
fn print_ceiling(names: &[&str], table: &[(String, Vec<Option<f64>>)]) {
    let col = |name: &str| names.iter().position(|n| *n == name);
    let (Some(direct), Some(node)) = (col(DIRECT), col("node")) else {
        return;
    };
    println!("\nceiling: {DIRECT}/node (the most any proxy could show over node here):");
    for (label, vals) in table.iter().filter(|(l, _)| l.contains("/s")) {
        let at = |i: usize| vals.get(i).copied().flatten();
        if let (Some(d), Some(n)) = (at(direct), at(node)) {
            // With `Connection: close` a proxy keeps its upstream
            // connections alive, so it can beat the direct runs: no bound.
            let beaten = vals.iter().take(direct).flatten().any(|v| *v > d);
            let why = if beaten {
                " (not a bound: a proxy beat the direct runs)"
            } else {
                ""
            };
            println!("  {label}: {:.2}x{why}", d / n);
        }
    }
}

fn fmt(v: f64) -> String {
    if v >= 1000.0 {
        format!("{v:.0}")
    } else if v >= 10.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.3}")
    }
}

fn median(mut v: Vec<f64>) -> Option<f64> {
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    Some(v[v.len() / 2])
}

fn print_versions() {
    let run = |prog: &str, args: &[&str]| -> String {
        Command::new(prog)
            .args(args)
            .output()
            .map(|o| {
                let mut s = String::from_utf8_lossy(&o.stdout).into_owned();
                s.push_str(&String::from_utf8_lossy(&o.stderr));
                s.lines().next().unwrap_or("").to_owned()
            })
            .unwrap_or_default()
    };
    println!("versions: edge {}", env!("CARGO_PKG_VERSION"));
    println!("  {}", run("nginx", &["-v"]));
    println!("  {}", run("haproxy", &["-v"]));
    println!("  node {} + http-proxy 1.18.1", run("node", &["-v"]));
    println!("  {}", run("wrk", &["-v"]));
}

// ---------------------------------------------------------------- processes

struct Proc {
    name: &'static str,
    child: Child,
    port: u16,
}

impl Proc {
    fn start(name: &'static str, cmd: &mut Command, port: u16) -> io::Result<Proc> {
        let child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()?;
        wait_ready(name, child, port)
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_edge(dir: &Path, up: u16) -> io::Result<Proc> {
    let port = free_port();
    let conf = dir.join("edge.conf");
    std::fs::write(
        &conf,
        format!(
            "proxy {{\n  listen: \"127.0.0.1:{port}\"\n  workers: 1\n  routes = [\n    {{ match {{ path: \"/\" }}\n      target: \"http://127.0.0.1:{up}\"\n      ws: true }}\n  ]\n}}\n"
        ),
    )?;
    let log = std::fs::File::create(dir.join("edge.log"))?;
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_edge"));
    cmd.arg("run")
        .arg(&conf)
        .env("TOKIO_WORKER_THREADS", "1")
        .stdin(Stdio::null());
    let child = cmd.stdout(Stdio::null()).stderr(log).spawn()?;
    wait_ready("edge", child, port)
}

fn wait_ready(name: &'static str, child: Child, port: u16) -> io::Result<Proc> {
    let mut p = Proc { name, child, port };
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        if let Ok(Some(status)) = p.child.try_wait() {
            return Err(io::Error::other(format!("{name} exited: {status}")));
        }
        if Instant::now() > deadline {
            return Err(io::Error::other(format!("{name} did not listen on {port}")));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    match http_get(port, "/small") {
        Ok(body) if body == SMALL_BODY => Ok(p),
        Ok(body) => Err(io::Error::other(format!(
            "{name} answered {:?}",
            String::from_utf8_lossy(&body)
        ))),
        Err(e) => Err(e),
    }
}

fn start_nginx(dir: &Path, up: u16) -> io::Result<Proc> {
    let nginx = which("nginx").ok_or_else(|| io::Error::other("nginx not installed"))?;
    let port = free_port();
    let d = dir.join("nginx");
    std::fs::create_dir_all(d.join("logs"))?;
    let conf = d.join("nginx.conf");
    let p = d.display();
    std::fs::write(
        &conf,
        format!(
            "worker_processes 1;
worker_rlimit_nofile 20000;
pid {p}/nginx.pid;
error_log {p}/logs/error.log;
events {{ worker_connections 15000; }}
http {{
  access_log {p}/logs/access.log;
  client_body_temp_path {p}/body;
  proxy_temp_path {p}/proxy;
  map $http_upgrade $connection_upgrade {{ default upgrade; '' ''; }}
  upstream up {{ server 127.0.0.1:{up}; keepalive 64; }}
  server {{
    listen 127.0.0.1:{port};
    keepalive_requests 1000000;
    location / {{
      proxy_pass http://up;
      proxy_http_version 1.1;
      proxy_set_header Upgrade $http_upgrade;
      proxy_set_header Connection $connection_upgrade;
    }}
  }}
}}
"
        ),
    )?;
    let child = Command::new(nginx)
        .args(["-p"])
        .arg(&d)
        .arg("-c")
        .arg(&conf)
        .args(["-g", "daemon off;"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()?;
    wait_ready("nginx", child, port)
}

fn start_haproxy(dir: &Path, up: u16) -> io::Result<Proc> {
    let haproxy = which("haproxy").ok_or_else(|| io::Error::other("haproxy not installed"))?;
    let port = free_port();
    let conf = dir.join("haproxy.cfg");
    std::fs::write(
        &conf,
        format!(
            "global
  nbthread 1
  maxconn 12000
  no strict-limits
defaults
  mode http
  timeout connect 5s
  timeout client 60s
  timeout server 60s
  timeout tunnel 60s
  option http-keep-alive
frontend f
  bind 127.0.0.1:{port}
  default_backend b
backend b
  http-reuse always
  server s1 127.0.0.1:{up}
"
        ),
    )?;
    let child = Command::new(haproxy)
        .arg("-db")
        .arg("-f")
        .arg(&conf)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()?;
    wait_ready("haproxy", child, port)
}

fn start_node(dir: &Path, up: u16) -> io::Result<Proc> {
    let node = which("node").ok_or_else(|| io::Error::other("node not installed"))?;
    let modules = match std::env::var_os("HTTP_PROXY_DIR") {
        Some(d) => PathBuf::from(d),
        None => {
            let d = dir.join("node");
            std::fs::create_dir_all(&d)?;
            let npm = which("npm").ok_or_else(|| io::Error::other("npm not installed"))?;
            let ok = Command::new(npm)
                .args(["install", "--silent", "http-proxy@1.18.1"])
                .current_dir(&d)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()?
                .success();
            if !ok {
                return Err(io::Error::other("npm install http-proxy@1.18.1 failed"));
            }
            d
        }
    };
    let port = free_port();
    let script = dir.join("proxy.js");
    std::fs::write(
        &script,
        format!(
            "const http = require('http');
const httpProxy = require('http-proxy');
const agent = new http.Agent({{ keepAlive: true, maxSockets: 64 }});
const proxy = httpProxy.createProxyServer({{ target: 'http://127.0.0.1:{up}', agent }});
proxy.on('error', (e, req, res) => {{ if (res.writeHead) {{ res.writeHead(502); res.end(); }} }});
const server = http.createServer((req, res) => proxy.web(req, res));
server.on('upgrade', (req, socket, head) => proxy.ws(req, socket, head));
server.keepAliveTimeout = 60000;
server.listen({port}, '127.0.0.1');
"
        ),
    )?;
    let child = Command::new(node)
        .arg(&script)
        .env("NODE_PATH", modules.join("node_modules"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()?;
    wait_ready("node", child, port)
}

fn which(prog: &str) -> Option<PathBuf> {
    std::env::split_paths(&std::env::var_os("PATH")?)
        .chain([PathBuf::from("/usr/sbin"), PathBuf::from("/sbin")])
        .map(|d| d.join(prog))
        .find(|p| p.exists())
}

/// Raises this process's open-file limit to its hard limit (children
/// inherit it): the idle row holds 10,000 sockets.
fn raise_nofile() {
    // SAFETY: getrlimit/setrlimit only read/write the struct passed.
    unsafe {
        let mut lim = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) == 0 {
            lim.rlim_cur = lim.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &lim);
        }
    }
}

/// VmRSS of `pid` and its children (nginx's master and worker), KiB.
fn rss_tree_kib(pid: u32) -> u64 {
    let mut total = rss_kib(pid);
    if let Ok(entries) = std::fs::read_dir("/proc") {
        for e in entries.flatten() {
            let Some(child) = e.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else {
                continue;
            };
            let stat = std::fs::read_to_string(format!("/proc/{child}/stat")).unwrap_or_default();
            // pid (comm) state ppid ...
            let ppid = stat
                .rsplit_once(')')
                .and_then(|(_, rest)| rest.split_whitespace().nth(1))
                .and_then(|s| s.parse::<u32>().ok());
            if ppid == Some(pid) {
                total += rss_kib(child);
            }
        }
    }
    total
}

// ---------------------------------------------------------------- load

#[derive(Clone)]
struct Wrk {
    rps: f64,
    p50_ms: f64,
    p99_ms: f64,
    errors: bool,
}

fn wrk(port: u16, path: &str, conns: usize, close: bool) -> Option<Wrk> {
    let mut cmd = Command::new("wrk");
    cmd.args(["-t1", &format!("-c{conns}"), &format!("-d{WRK_SECS}s")])
        .args(["--latency", "--timeout", "5s"]);
    if close {
        cmd.args(["-H", "Connection: close"]);
    }
    cmd.arg(format!("http://127.0.0.1:{port}{path}"));
    let out = cmd.output().ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    let mut w = Wrk {
        rps: 0.0,
        p50_ms: 0.0,
        p99_ms: 0.0,
        errors: false,
    };
    for line in text.lines() {
        let t = line.trim();
        if let Some(v) = t.strip_prefix("Requests/sec:") {
            w.rps = v.trim().parse().ok()?;
        } else if let Some(v) = t.strip_prefix("50%") {
            w.p50_ms = wrk_ms(v.trim())?;
        } else if let Some(v) = t.strip_prefix("99%") {
            w.p99_ms = wrk_ms(v.trim())?;
        } else if t.starts_with("Socket errors") || t.starts_with("Non-2xx") {
            w.errors = true;
        }
    }
    Some(w)
}

fn wrk_ms(v: &str) -> Option<f64> {
    let split = v.find(|c: char| c.is_ascii_alphabetic())?;
    let (n, unit) = v.split_at(split);
    let n: f64 = n.parse().ok()?;
    Some(match unit {
        "us" => n / 1000.0,
        "ms" => n,
        "s" => n * 1000.0,
        "m" => n * 60_000.0,
        _ => return None,
    })
}

/// One GET on a fresh connection; the body.
fn http_get(port: u16, path: &str) -> io::Result<Vec<u8>> {
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port))?;
    s.set_read_timeout(Some(Duration::from_secs(5)))?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    )?;
    let mut buf = Vec::new();
    s.read_to_end(&mut buf)?;
    let head_end = find(&buf, b"\r\n\r\n").ok_or_else(|| io::Error::other("no response head"))?;
    Ok(buf[head_end + 4..].to_vec())
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

#[derive(Clone)]
struct WsRun {
    rps: f64,
    p50_ms: f64,
    p99_ms: f64,
}

/// WebSocket round trips: `WS_CONNS` connections upgrade, then each sends
/// a 32-byte masked binary frame and waits for it to come back, for
/// `WRK_SECS` seconds.
fn ws_bench(port: u16) -> io::Result<WsRun> {
    let deadline = Instant::now() + Duration::from_secs(WRK_SECS);
    let mut handles = Vec::new();
    for _ in 0..WS_CONNS {
        handles.push(std::thread::spawn(move || -> io::Result<Vec<f64>> {
            let mut s = std::net::TcpStream::connect(("127.0.0.1", port))?;
            s.set_nodelay(true)?;
            s.set_read_timeout(Some(Duration::from_secs(5)))?;
            s.write_all(
                b"GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n\
                  Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\n\
                  Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n",
            )?;
            let mut head = Vec::new();
            let mut byte = [0u8; 1];
            while !head.ends_with(b"\r\n\r\n") {
                if s.read(&mut byte)? == 0 {
                    return Err(io::Error::other("closed during the upgrade"));
                }
                head.push(byte[0]);
                if head.len() > 8192 {
                    return Err(io::Error::other("upgrade answer too long"));
                }
            }
            if !head.starts_with(b"HTTP/1.1 101") {
                return Err(io::Error::other(format!(
                    "upgrade answered {:?}",
                    String::from_utf8_lossy(&head)
                )));
            }
            let mut frame = vec![0x82u8, 0x80 | 32, 1, 2, 3, 4];
            frame.extend_from_slice(&[b'x'; 32]);
            let mut back = vec![0u8; frame.len()];
            let mut lat = Vec::new();
            while Instant::now() < deadline {
                let t = Instant::now();
                s.write_all(&frame)?;
                s.read_exact(&mut back)?;
                lat.push(t.elapsed().as_secs_f64() * 1000.0);
            }
            Ok(lat)
        }));
    }
    let start = Instant::now();
    let mut all = Vec::new();
    for h in handles {
        all.extend(
            h.join()
                .map_err(|_| io::Error::other("ws thread panicked"))??,
        );
    }
    let secs = start.elapsed().as_secs_f64();
    all.sort_by(f64::total_cmp);
    let pct = |p: f64| all.get(((all.len() as f64 * p) as usize).min(all.len().saturating_sub(1)));
    Ok(WsRun {
        rps: all.len() as f64 / secs,
        p50_ms: pct(0.5).copied().unwrap_or(0.0),
        p99_ms: pct(0.99).copied().unwrap_or(0.0),
    })
}

/// Opens `n` keep-alive connections, each makes one request and then
/// stays open and idle; returned so the caller decides when they close.
fn idle_connections(port: u16, n: usize) -> io::Result<Vec<std::net::TcpStream>> {
    let mut conns = Vec::with_capacity(n);
    let req = b"GET /small HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
    let deadline = Instant::now() + Duration::from_secs(60);
    for chunk in 0..n.div_ceil(200) {
        let mut batch = Vec::new();
        for _ in 0..200.min(n - chunk * 200) {
            let mut s = std::net::TcpStream::connect(("127.0.0.1", port))?;
            s.write_all(req)?;
            batch.push(s);
        }
        for mut s in batch {
            s.set_read_timeout(Some(Duration::from_secs(10)))?;
            let mut buf = Vec::new();
            let mut tmp = [0u8; 1024];
            loop {
                let got = s.read(&mut tmp)?;
                if got == 0 {
                    return Err(io::Error::other("closed before answering"));
                }
                buf.extend_from_slice(&tmp[..got]);
                if buf.ends_with(SMALL_BODY) {
                    break;
                }
            }
            conns.push(s);
        }
        if Instant::now() > deadline {
            return Err(io::Error::other("idle connections took over 60s"));
        }
    }
    Ok(conns)
}

// ---------------------------------------------------------------- upstream

mod upstream {
    use super::{BIG, SMALL_BODY};
    use bytes::Bytes;
    use http::{header, Request, Response, StatusCode};
    use http_body_util::Full;
    use hyper::service::service_fn;
    use hyper_util::rt::TokioIo;
    use std::convert::Infallible;

    /// Serves `/small`, `/big` and WebSocket byte echo on `port` forever.
    pub fn run(port: u16) {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("upstream runtime");
        rt.block_on(async move {
            let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
                .await
                .expect("upstream bind");
            let big = Bytes::from(vec![b'b'; BIG]);
            loop {
                let Ok((tcp, _)) = listener.accept().await else {
                    continue;
                };
                let _ = tcp.set_nodelay(true);
                let big = big.clone();
                tokio::spawn(async move {
                    let svc = service_fn(move |req| answer(req, big.clone()));
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(tcp), svc)
                        .with_upgrades()
                        .await;
                });
            }
        });
    }

    async fn answer(
        mut req: Request<hyper::body::Incoming>,
        big: Bytes,
    ) -> Result<Response<Full<Bytes>>, Infallible> {
        if req.headers().contains_key(header::UPGRADE) {
            let on = hyper::upgrade::on(&mut req);
            tokio::spawn(async move {
                if let Ok(up) = on.await {
                    let (mut r, mut w) = tokio::io::split(TokioIo::new(up));
                    let _ = tokio::io::copy(&mut r, &mut w).await;
                }
            });
            let res = Response::builder()
                .status(StatusCode::SWITCHING_PROTOCOLS)
                .header(header::UPGRADE, "websocket")
                .header(header::CONNECTION, "Upgrade")
                .header("sec-websocket-accept", "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=")
                .body(Full::new(Bytes::new()))
                .expect("static response");
            return Ok(res);
        }
        let body = if req.uri().path() == "/big" {
            big
        } else {
            Bytes::from_static(SMALL_BODY)
        };
        Ok(Response::new(Full::new(body)))
    }
}
