//! The HTTP monitoring endpoints of a real `edge run -m PORT`, driven by
//! raw NATS clients over TCP and read with raw HTTP/1.1 requests.
//!
//! Values are checked after known exchanges; key paths (field names, in
//! order) are compared with what nats-server 2.9.10 answered in the same
//! scenario, recorded by `conformance/monitor/record.sh`.

mod common;

use common::free_port;

use serde_json::Value;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const WAIT: Duration = Duration::from_secs(10);

/// A running `edge run` with monitoring, killed when dropped.
struct Edge {
    child: Child,
    port: u16,
    mport: u16,
    _dir: Option<tempfile::TempDir>,
}

impl Edge {
    fn start() -> Edge {
        Edge::start_with(&[], None)
    }

    /// Starts edge with `extra` arguments and, if given, a config file.
    fn start_with(extra: &[&str], config: Option<&str>) -> Edge {
        let (port, mport) = (free_port(), free_port());
        let dir = config.map(|text| {
            let dir = tempfile::tempdir().expect("tempdir");
            std::fs::write(dir.path().join("edge.conf"), text).expect("write config");
            dir
        });
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_edge"));
        cmd.arg("run");
        if let Some(dir) = &dir {
            cmd.arg(dir.path().join("edge.conf"));
        }
        let child = cmd
            .args(["-a", "127.0.0.1", "-p", &port.to_string()])
            .args(["-m", &mport.to_string()])
            .args(extra)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn edge");
        Edge {
            child,
            port,
            mport,
            _dir: dir,
        }
    }

    /// Waits until `path` answers 200, as a harness polling /varz does.
    fn wait_http(&self, path: &str) {
        let deadline = Instant::now() + WAIT;
        loop {
            if let Some((200, _, _)) = try_get(self.mport, path) {
                return;
            }
            assert!(Instant::now() < deadline, "monitor did not answer {path}");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn get(&self, path: &str) -> HttpReply {
        try_get(self.mport, path).unwrap_or_else(|| panic!("GET {path} failed"))
    }

    /// GET `path`, expecting 200 and JSON.
    fn json(&self, path: &str) -> Value {
        let (status, _, body) = self.get(path);
        assert_eq!(status, 200, "GET {path}: {body}");
        serde_json::from_str(&body).unwrap_or_else(|e| panic!("GET {path}: {e}: {body}"))
    }

    /// A raw client that sent `connect` and got the PONG after it.
    fn client(&self, connect: &str) -> Client {
        let s = TcpStream::connect(("127.0.0.1", self.port)).expect("connect");
        s.set_read_timeout(Some(WAIT)).expect("timeout");
        let mut c = Client {
            r: BufReader::new(s.try_clone().expect("clone")),
            s,
        };
        let info = c.line();
        assert!(info.starts_with("INFO "), "{info}");
        c.send(&format!("CONNECT {connect}\r\n"));
        c.ping();
        c
    }
}

impl Drop for Edge {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Status, headers (names lowercased) and body of an HTTP response.
type HttpReply = (u16, Vec<(String, String)>, String);

/// One HTTP/1.1 GET.
fn try_get(port: u16, path: &str) -> Option<HttpReply> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(WAIT)).ok()?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).ok()?;
    let text = String::from_utf8(raw).ok()?;
    let (head, body) = text.split_once("\r\n\r\n")?;
    let mut lines = head.lines();
    let status = lines.next()?.split(' ').nth(1)?.parse().ok()?;
    let headers = lines
        .filter_map(|l| l.split_once(": "))
        .map(|(k, v)| (k.to_ascii_lowercase(), v.to_string()))
        .collect();
    Some((status, headers, body.to_string()))
}

fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// A raw NATS client.
struct Client {
    s: TcpStream,
    r: BufReader<TcpStream>,
}

impl Client {
    fn send(&mut self, text: &str) {
        self.s.write_all(text.as_bytes()).expect("send");
    }

    fn line(&mut self) -> String {
        let mut line = String::new();
        self.r.read_line(&mut line).expect("read line");
        line
    }

    /// PING, then every line up to the PONG (answering server PINGs).
    fn ping(&mut self) -> Vec<String> {
        self.send("PING\r\n");
        let mut got = Vec::new();
        loop {
            let line = self.line();
            assert!(!line.is_empty(), "connection closed before PONG: {got:?}");
            match line.as_str() {
                "PONG\r\n" => return got,
                "PING\r\n" => self.send("PONG\r\n"),
                _ => got.push(line),
            }
        }
    }
}

const ALICE: &str =
    r#"{"verbose":false,"pedantic":false,"name":"alice","lang":"rust","version":"1.2.3"}"#;
const QUIET: &str = r#"{"verbose":false,"pedantic":false}"#;

fn conn(connz: &Value, cid: u64) -> &Value {
    connz["connections"]
        .as_array()
        .expect("connections")
        .iter()
        .find(|c| c["cid"] == cid)
        .unwrap_or_else(|| panic!("cid {cid} not in {connz}"))
}

fn cids(connz: &Value) -> Vec<u64> {
    connz["connections"]
        .as_array()
        .expect("connections")
        .iter()
        .map(|c| c["cid"].as_u64().expect("cid"))
        .collect()
}

/// Polls `path` until `done` holds for its JSON.
fn wait_json(edge: &Edge, path: &str, done: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + WAIT;
    loop {
        let v = edge.json(path);
        if done(&v) {
            return v;
        }
        assert!(Instant::now() < deadline, "{path} never matched: {v}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn varz_answers_as_soon_as_clients_can_connect() {
    let edge = Edge::start();
    edge.wait_http("/varz");
    // No wait on the client port: /varz answering means clients connect.
    let mut c = edge.client(QUIET);
    let varz = edge.json("/varz");
    assert_eq!(varz["server_id"].as_str().map(str::len), Some(56));
    assert_eq!(varz["server_name"], varz["server_id"]);
    assert_eq!(varz["version"], "2.9.10");
    assert_eq!(varz["host"], "127.0.0.1");
    assert_eq!(varz["port"], edge.port);
    assert_eq!(varz["http_host"], "127.0.0.1");
    assert_eq!(varz["http_port"], edge.mport);
    assert_eq!(varz["max_payload"], 1048576);
    assert_eq!(varz["ping_interval"], 120_000_000_000u64);
    assert_eq!(varz["write_deadline"], 10_000_000_000u64);
    assert_eq!(varz["auth_timeout"], 2);
    assert_eq!(varz["connections"], 1);
    assert_eq!(varz["total_connections"], 1);
    assert!(varz["mem"].as_i64().expect("mem") > 0);
    assert!(varz["cores"].as_u64().expect("cores") >= 1);
    assert_eq!(
        varz["uptime"].as_str().map(|u| u.ends_with('s')),
        Some(true)
    );
    assert!(varz["start"].as_str().expect("start").ends_with('Z'));
    assert_eq!(varz["config_load_time"], varz["start"]);
    // The earlier polls are counted too.
    assert!(varz["http_req_stats"]["/varz"].as_u64().expect("count") >= 2);
    c.ping();
}

#[test]
fn traffic_is_counted_per_connection_and_in_totals() {
    let edge = Edge::start();
    edge.wait_http("/varz");
    let mut alice = edge.client(ALICE);
    alice.send("SUB foo 1\r\nSUB foo 2\r\n");
    alice.ping();
    let mut bob = edge.client(QUIET);
    // Two PUBs of 5 bytes, one HPUB of 12 header + 2 payload bytes.
    bob.send("CONNECT {\"headers\":true}\r\nPUB foo 5\r\nhello\r\nPUB foo 5\r\nworld\r\n");
    bob.send("HPUB foo 12 14\r\nNATS/1.0\r\n\r\nhi\r\n");
    bob.ping();
    let got = alice.ping();
    // Three messages, each to both of alice's subscriptions.
    assert_eq!(got.iter().filter(|l| l.starts_with("MSG foo")).count(), 6);

    let varz = edge.json("/varz");
    assert_eq!(varz["in_msgs"], 3);
    assert_eq!(varz["in_bytes"], 24);
    // alice did not ask for headers, so the HPUB reaches her as a plain
    // MSG and, as in nats-server, only its 2 payload bytes count.
    assert_eq!(varz["out_msgs"], 6);
    assert_eq!(varz["out_bytes"], 24);
    assert_eq!(varz["connections"], 2);
    assert_eq!(varz["subscriptions"], 2);

    let connz = edge.json("/connz");
    assert_eq!(connz["num_connections"], 2);
    assert_eq!(connz["total"], 2);
    assert_eq!(connz["limit"], 1024);
    assert_eq!(connz["offset"], 0);
    let a = conn(&connz, 1);
    assert_eq!(a["kind"], "Client");
    assert_eq!(a["type"], "nats");
    assert_eq!(a["ip"], "127.0.0.1");
    assert_eq!(a["name"], "alice");
    assert_eq!(a["lang"], "rust");
    assert_eq!(a["version"], "1.2.3");
    assert_eq!(a["subscriptions"], 2);
    assert_eq!(a["out_msgs"], 6);
    assert_eq!(a["out_bytes"], 24);
    assert_eq!(a["in_msgs"], 0);
    assert_eq!(a["pending_bytes"], 0);
    assert_eq!(varz["out_bytes"], a["out_bytes"]);
    let acc = edge.json("/accstatz");
    let g = &acc["account_statz"][0];
    assert_eq!(g["acc"], "$G");
    assert_eq!(
        (g["conns"].clone(), g["total_conns"].clone()),
        (2.into(), 2.into())
    );
    assert_eq!(g["received"], serde_json::json!({"msgs": 3, "bytes": 24}));
    assert_eq!(g["sent"], serde_json::json!({"msgs": 6, "bytes": 24}));
    let b = conn(&connz, 2);
    assert_eq!(b["in_msgs"], 3);
    assert_eq!(b["in_bytes"], 24);
    assert_eq!(b["subscriptions"], 0);
    // Optional fields are left out when empty, as nats-server does.
    assert!(b.get("name").is_none() && b.get("lang").is_none(), "{b}");
    assert!(a.get("stop").is_none() && a.get("reason").is_none());
    assert!(a.get("subscriptions_list").is_none());
    // Estimated from accept to CONNECT, as nats-server, until a PONG.
    assert_ne!(a["rtt"], "0s");
}

/// The RTT in `rtt` (a Go duration string), when it is under a second.
fn sub_second(rtt: &str) -> Option<Duration> {
    let (num, unit) = if let Some(n) = rtt.strip_suffix("ms") {
        (n, 1e-3)
    } else if let Some(n) = rtt.strip_suffix("µs") {
        (n, 1e-6)
    } else if let Some(n) = rtt.strip_suffix("ns") {
        (n, 1e-9)
    } else {
        return None;
    };
    num.parse::<f64>()
        .ok()
        .map(|n| Duration::from_secs_f64(n * unit))
}

#[test]
fn last_activity_follows_traffic_not_pings() {
    let edge = Edge::start();
    edge.wait_http("/varz");
    let mut a = edge.client(QUIET);
    a.send("SUB t 1\r\n");
    a.ping();
    let mut b = edge.client(QUIET);
    let last = |edge: &Edge, cid| {
        let connz = edge.json("/connz");
        conn(&connz, cid)["last_activity"]
            .as_str()
            .expect("last_activity")
            .to_string()
    };
    let (a0, b0) = (last(&edge, 1), last(&edge, 2));
    std::thread::sleep(Duration::from_millis(20));
    // PINGs are not activity (nats-server stamps publishes, (un)subscribes
    // and deliveries).
    a.ping();
    b.ping();
    assert_eq!((last(&edge, 1), last(&edge, 2)), (a0.clone(), b0.clone()));
    b.send("PUB t 1\r\nx\r\n");
    b.ping();
    a.ping();
    let (a1, b1) = (last(&edge, 1), last(&edge, 2));
    assert!(
        ts(&a1) > ts(&a0) && ts(&b1) > ts(&b0),
        "{a0} -> {a1}, {b0} -> {b1}"
    );
    // sort=last: most recent first.
    a.send("SUB u 2\r\n");
    a.ping();
    assert_eq!(cids(&edge.json("/connz?sort=last")), [1, 2]);
    b.send("SUB v 1\r\n");
    b.ping();
    assert_eq!(cids(&edge.json("/connz?sort=last")), [2, 1]);
}

/// An RFC 3339 UTC time as (date and time to the second, nanoseconds),
/// which orders as the times do (its text does not: `.1Z` > `.12Z`).
fn ts(t: &str) -> (String, u32) {
    let (secs, frac) = t.trim_end_matches('Z').split_at(19.min(t.len()));
    let digits = frac.trim_start_matches('.');
    let nanos = format!("{digits:0<9}").parse().unwrap_or(0);
    (secs.to_string(), nanos)
}

#[test]
fn rtt_is_estimated_at_connect_then_measured_by_ping() {
    let edge = Edge::start();
    edge.wait_http("/varz");
    let s = TcpStream::connect(("127.0.0.1", edge.port)).expect("connect");
    s.set_read_timeout(Some(WAIT)).expect("timeout");
    let mut c = Client {
        r: BufReader::new(s.try_clone().expect("clone")),
        s,
    };
    c.line();
    // A late CONNECT: nats-server estimates the RTT as accept-to-CONNECT.
    std::thread::sleep(Duration::from_millis(600));
    c.send("CONNECT {\"verbose\":false}\r\n");
    c.ping();
    let rtt = |edge: &Edge| {
        let connz = edge.json("/connz");
        let rtt = conn(&connz, 1)["rtt"].as_str().expect("rtt").to_string();
        sub_second(&rtt).unwrap_or_else(|| panic!("rtt {rtt}"))
    };
    let estimated = rtt(&edge);
    assert!(estimated >= Duration::from_millis(600), "{estimated:?}");
    // edge's first PING comes ~2 s after accept; a prompt PONG measures.
    assert_eq!(c.line(), "PING\r\n");
    c.send("PONG\r\n");
    c.ping();
    let measured = rtt(&edge);
    // Far below the estimate, with room for a loaded machine.
    assert!(measured < Duration::from_millis(450), "{measured:?}");
}

#[test]
fn connz_pages_sorts_and_filters() {
    let edge = Edge::start();
    edge.wait_http("/varz");
    // Client i (cid i) has i-1 subscriptions and publishes 5-i messages.
    let mut clients = Vec::new();
    for i in 1..=4u64 {
        let mut c = edge.client(QUIET);
        for s in 1..i {
            c.send(&format!("SUB s.{i}.{s} {s}\r\n"));
        }
        for _ in 0..(5 - i) {
            c.send("PUB nobody 3\r\nabc\r\n");
        }
        c.ping();
        clients.push(c);
    }
    assert_eq!(cids(&edge.json("/connz")), [1, 2, 3, 4]);
    let page = edge.json("/connz?offset=1&limit=2");
    assert_eq!(cids(&page), [2, 3]);
    assert_eq!(page["num_connections"], 2);
    assert_eq!(page["total"], 4);
    assert_eq!(
        (page["offset"].clone(), page["limit"].clone()),
        (1.into(), 2.into())
    );
    let past = edge.json("/connz?offset=10");
    assert_eq!(cids(&past), Vec::<u64>::new());
    assert_eq!(past["total"], 4);
    // Negative offset and non-positive limit fall back as in nats-server.
    let fallback = edge.json("/connz?offset=-5&limit=0");
    assert_eq!(
        (fallback["offset"].clone(), fallback["limit"].clone()),
        (0.into(), 1024.into())
    );
    assert_eq!(cids(&edge.json("/connz?sort=subs")), [4, 3, 2, 1]);
    assert_eq!(cids(&edge.json("/connz?sort=msgs_from")), [1, 2, 3, 4]);
    assert_eq!(cids(&edge.json("/connz?sort=bytes_from&limit=1")), [1]);
    assert_eq!(cids(&edge.json("/connz?sort=start")), [1, 2, 3, 4]);
    // As nats-server: most recent activity first, and uptime ascending.
    assert_eq!(cids(&edge.json("/connz?sort=last")), [4, 3, 2, 1]);
    assert_eq!(cids(&edge.json("/connz?sort=uptime")), [4, 3, 2, 1]);
    let one = edge.json("/connz?cid=3");
    assert_eq!(cids(&one), [3]);
    assert_eq!(one["limit"], 1);
    assert_eq!(cids(&edge.json("/connz?cid=99")), Vec::<u64>::new());
    for sort in [
        "cid",
        "start",
        "subs",
        "pending",
        "msgs_to",
        "msgs_from",
        "bytes_to",
        "bytes_from",
        "last",
        "idle",
        "uptime",
    ] {
        assert_eq!(
            edge.json(&format!("/connz?sort={sort}"))["num_connections"],
            4
        );
    }
    // Account and user filters: edge has only the global account.
    assert_eq!(cids(&edge.json("/connz?acc=$G")), [1, 2, 3, 4]);
    let sys = edge.json("/connz?acc=$SYS");
    assert_eq!(
        (sys["total"].clone(), sys["connections"].clone()),
        (0.into(), serde_json::json!([]))
    );
    let unknown = edge.json("/connz?acc=NOPE");
    assert_eq!(
        (unknown["server_id"].clone(), unknown["connections"].clone()),
        ("".into(), Value::Null)
    );
    let nobody = edge.json("/connz?user=bob");
    assert_eq!((nobody["total"].clone(), cids(&nobody)), (4.into(), vec![]));
    let mut named = edge.client(r#"{"verbose":false,"user":"bob"}"#);
    assert_eq!(cids(&edge.json("/connz?user=bob")), [5]);
    named.ping();
    drop(named);
    let subs = edge.json("/connz?subs=1&cid=3");
    let mut list: Vec<String> =
        serde_json::from_value(conn(&subs, 3)["subscriptions_list"].clone())
            .expect("subscriptions_list");
    list.sort();
    assert_eq!(list, ["s.3.1", "s.3.2"]);

    // Bad parameters get nats-server's 400 and text.
    for (path, text) in [
        ("/connz?sort=bogus", "invalid sorting option: bogus"),
        ("/connz?sort=stop", "sort by stop only valid on closed connections"),
        ("/connz?sort=reason&state=all", "sort by reason only valid on closed connections"),
        ("/connz?state=bogus", "Error decoding state for bogus"),
        (
            "/connz?limit=abc",
            "Error decoding int for 'limit': strconv.Atoi: parsing \"abc\": invalid syntax",
        ),
        (
            "/connz?cid=-1",
            "Error decoding uint64 for 'cid': strconv.ParseUint: parsing \"-1\": invalid syntax",
        ),
        (
            "/connz?subs=maybe",
            "Error decoding boolean for 'subs': strconv.ParseBool: parsing \"maybe\": invalid syntax",
        ),
    ] {
        let (status, headers, body) = edge.get(path);
        assert_eq!((status, body.as_str()), (400, text), "{path}");
        assert_eq!(
            header(&headers, "content-type"),
            Some("text/plain; charset=utf-8")
        );
    }
}

#[test]
fn closed_connections_are_kept_with_reason_and_subscriptions() {
    let edge = Edge::start();
    edge.wait_http("/varz");
    let mut keep = edge.client(QUIET);
    {
        let mut gone = edge.client(ALICE);
        gone.send("SUB x.y 7\r\nPUB x.y 2\r\nok\r\n");
        gone.ping();
    }
    // Closed in a known order: alice first, then the protocol violation.
    wait_json(&edge, "/connz?state=closed", |v| v["total"] == 1);
    let mut bad = edge.client(QUIET);
    bad.send("BOGUS\r\n");
    let closed = wait_json(&edge, "/connz?state=closed&subs=1", |v| v["total"] == 2);
    assert_eq!(cids(&closed), [2, 3]);
    let gone = conn(&closed, 2);
    assert_eq!(gone["reason"], "Client Closed");
    assert_eq!(gone["name"], "alice");
    assert_eq!(gone["in_msgs"], 1);
    assert_eq!(gone["out_msgs"], 1);
    assert_eq!(gone["subscriptions_list"], serde_json::json!(["x.y"]));
    let stop = gone["stop"].as_str().expect("stop");
    assert!(
        ts(stop) >= ts(gone["start"].as_str().expect("start")),
        "{gone}"
    );
    assert_eq!(conn(&closed, 3)["reason"], "Protocol Violation");

    let all = edge.json("/connz?state=all");
    assert_eq!(all["total"], 3);
    assert_eq!(cids(&all), [1, 2, 3]);
    assert_eq!(edge.json("/connz")["total"], 1);
    // Closed clients keep no account name when it is the global one, so
    // an account filter leaves them out (and out of the total).
    let acc = edge.json("/connz?state=all&acc=$G");
    assert_eq!((acc["total"].clone(), cids(&acc)), (1.into(), vec![1]));
    assert_eq!(cids(&edge.json("/connz?state=closed&sort=stop")), [3, 2]);
    assert_eq!(
        cids(&edge.json("/connz?state=closed&sort=reason")),
        [2, 3],
        "Client Closed sorts before Protocol Violation"
    );
    let one = edge.json("/connz?state=closed&cid=2&subs=detail");
    let detail = &conn(&one, 2)["subscriptions_list_detail"][0];
    // Saved with its account, as nats-server saves closed subscriptions.
    assert_eq!(detail["account"], "$G");
    assert_eq!(detail["subject"], "x.y");
    assert_eq!(detail["sid"], "7");
    assert_eq!(detail["msgs"], 1);
    assert_eq!(detail["cid"], 2);
    let varz = edge.json("/varz");
    assert_eq!(varz["connections"], 1);
    assert_eq!(varz["total_connections"], 3);
    keep.ping();
}

#[test]
fn slow_consumers_are_closed_counted_and_explained() {
    let edge = Edge::start_with(&[], Some("max_pending: 2048\nmax_payload: 1024\n"));
    edge.wait_http("/varz");
    let mut slow = edge.client(QUIET);
    slow.send("SUB big 1\r\n");
    slow.ping();
    let mut fast = edge.client(QUIET);
    let payload = "x".repeat(1000);
    // 200 KB in one write: read in batches far above max_pending.
    let burst: String = (0..200)
        .map(|_| format!("PUB big 1000\r\n{payload}\r\n"))
        .collect();
    fast.send(&burst);
    fast.ping();
    let closed = wait_json(&edge, "/connz?state=closed", |v| v["total"] == 1);
    assert_eq!(conn(&closed, 1)["reason"], "Slow Consumer (Pending Bytes)");
    assert_eq!(edge.json("/varz")["slow_consumers"], 1);
}

#[test]
fn refused_connections_are_counted_and_kept_as_closed() {
    let edge = Edge::start_with(&[], Some("max_connections: 1\n"));
    edge.wait_http("/varz");
    let mut first = edge.client(QUIET);
    let mut second = TcpStream::connect(("127.0.0.1", edge.port)).expect("connect");
    let mut got = String::new();
    second
        .set_read_timeout(Some(WAIT))
        .and_then(|()| second.read_to_string(&mut got))
        .expect("read until closed");
    assert!(got.contains("-ERR 'maximum connections exceeded'"), "{got}");
    let closed = wait_json(&edge, "/connz?state=closed", |v| v["total"] == 1);
    assert_eq!(conn(&closed, 2)["reason"], "Maximum Connections Exceeded");
    let varz = edge.json("/varz");
    assert_eq!(
        (
            varz["connections"].clone(),
            varz["total_connections"].clone()
        ),
        (1.into(), 2.into())
    );
    first.ping();
}

#[test]
fn subsz_counts_and_lists_subscriptions() {
    let edge = Edge::start();
    edge.wait_http("/varz");
    let mut c = edge.client(QUIET);
    c.send("SUB a.* 1\r\nSUB a.b q 2\r\nSUB c 3\r\nUNSUB 3 10\r\nPUB a.b 1\r\nx\r\n");
    c.ping();
    let subsz = edge.json("/subsz");
    assert_eq!(subsz["num_subscriptions"], 3);
    assert_eq!(subsz["num_inserts"], 3);
    assert_eq!(subsz["num_removes"], 0);
    assert!(subsz["num_matches"].as_u64().expect("matches") >= 1);
    assert_eq!(subsz["max_fanout"], 2);
    // Without a listing only the counters are sent, as nats-server does.
    assert!(subsz.get("server_id").is_none(), "{subsz}");
    assert_eq!(edge.json("/subscriptionsz")["num_subscriptions"], 3);

    let detail = edge.json("/accountz?acc=$G")["account_detail"].clone();
    assert_eq!(detail["account_name"], "$G");
    assert_eq!(detail["client_connections"], 1);
    assert_eq!(detail["subscriptions"], 3);
    assert_eq!(detail["sublist_stats"]["num_inserts"], 3);
    assert_eq!(
        edge.json("/accountz?acc=$SYS")["account_detail"]["is_system"],
        true
    );
    let listed = edge.json("/subsz?subs=1");
    assert_eq!(listed["total"], 3);
    assert_eq!(listed["limit"], 1024);
    let list = listed["subscriptions_list"].as_array().expect("list");
    assert!(list.iter().all(|s| s["account"] == "$G" && s["cid"] == 1));
    let q = list.iter().find(|s| s["sid"] == "2").expect("queue sub");
    assert_eq!(
        (q["subject"].clone(), q["qgroup"].clone()),
        ("a.b".into(), "q".into())
    );
    let capped = list.iter().find(|s| s["sid"] == "3").expect("capped sub");
    assert_eq!(capped["max"], 10);
    let tested = edge.json("/subsz?subs=1&test=a.z");
    assert_eq!(tested["subscriptions_list"][0]["subject"], "a.*");
    assert_eq!(tested["total"], 1);
    assert_eq!(edge.json("/subsz?subs=1&offset=1&limit=1")["total"], 1);
    let (status, _, body) = edge.get("/subsz?test=a.*");
    assert_eq!(
        (status, body.as_str()),
        (
            400,
            "invalid test subject, must be valid publish subject: a.*"
        )
    );
}

#[test]
fn responses_are_shaped_as_nats_server_shapes_them() {
    let edge = Edge::start();
    edge.wait_http("/varz");
    let (status, headers, body) = edge.get("/varz?callback=cb");
    assert_eq!(status, 200);
    assert_eq!(
        header(&headers, "content-type"),
        Some("application/javascript")
    );
    let inner = body
        .strip_prefix("cb(")
        .and_then(|b| b.strip_suffix(')'))
        .expect("JSONP");
    let v: Value = serde_json::from_str(inner).expect("JSON inside JSONP");
    assert_eq!(v["port"], edge.port);

    let (_, headers, body) = edge.get("/healthz");
    assert_eq!(body, r#"{"status":"ok"}"#);
    assert_eq!(header(&headers, "content-type"), Some("application/json"));
    // nats-server 2.9.10 sends no CORS header; neither does edge.
    assert_eq!(header(&headers, "access-control-allow-origin"), None);
    // The document is indented as Go's MarshalIndent.
    let (_, _, body) = edge.get("/connz");
    assert!(body.starts_with("{\n  \"server_id\": \"N"), "{body}");

    let (status, headers, body) = edge.get("/");
    assert_eq!(status, 200);
    assert_eq!(
        header(&headers, "content-type"),
        Some("text/html; charset=utf-8")
    );
    for link in [
        "./varz",
        "./connz",
        "./subsz",
        "./healthz",
        "./routez",
        "./jsz",
    ] {
        assert!(body.contains(&format!("href={link}")), "{link}: {body}");
    }
    let (status, headers, body) = edge.get("/nope");
    assert_eq!((status, body.as_str()), (404, "404 page not found\n"));
    assert_eq!(header(&headers, "x-content-type-options"), Some("nosniff"));
    // An unclean path is redirected, as Go's ServeMux does.
    let (status, headers, body) = edge.get("//varz?x=1");
    assert_eq!(status, 301);
    assert_eq!(header(&headers, "location"), Some("/varz?x=1"));
    assert_eq!(body, "<a href=\"/varz?x=1\">Moved Permanently</a>.\n\n");
    assert_eq!(edge.get("/varz/").0, 404);
    let (status, _, body) = edge.get("/healthz?js-enabled=x");
    assert_eq!(status, 400, "{body}");
}

#[test]
fn base_path_prefixes_every_endpoint() {
    let edge = Edge::start_with(&[], Some("http_base_path: \"/nats/\"\n"));
    edge.wait_http("/nats/varz");
    assert_eq!(edge.json("/nats/varz")["http_base_path"], "/nats/");
    assert_eq!(edge.json("/nats/connz")["total"], 0);
    assert_eq!(edge.json("/nats/healthz")["status"], "ok");
    assert_eq!(edge.get("/varz").0, 404);
    assert_eq!(edge.get("/nats/").0, 404);
    let (status, _, body) = edge.get("/nats");
    assert_eq!(status, 200);
    assert!(body.contains("href=./nats/varz"), "{body}");
}

#[test]
fn features_edge_lacks_answer_as_unconfigured_in_nats_server() {
    let edge = Edge::start();
    edge.wait_http("/varz");
    let id = edge.json("/varz")["server_id"].clone();
    let routez = edge.json("/routez");
    assert_eq!(
        (routez["num_routes"].clone(), routez["routes"].clone()),
        (0.into(), serde_json::json!([]))
    );
    let gw = edge.json("/gatewayz");
    assert_eq!(gw["outbound_gateways"], serde_json::json!({}));
    assert_eq!(gw["inbound_gateways"], serde_json::json!({}));
    let leafz = edge.json("/leafz");
    assert_eq!(
        (leafz["leafnodes"].clone(), leafz["leafs"].clone()),
        (0.into(), Value::Null)
    );
    assert_eq!(
        edge.json("/accountz")["accounts"],
        serde_json::json!(["$G", "$SYS"])
    );
    assert_eq!(
        edge.json("/accstatz")["account_statz"],
        serde_json::json!([])
    );
    let jsz = edge.json("/jsz");
    assert_eq!(jsz["disabled"], true);
    for v in [&routez, &gw, &leafz, &jsz] {
        assert_eq!(v["server_id"], id);
    }
    let stats = edge.json("/varz")["http_req_stats"].clone();
    for path in [
        "/routez",
        "/gatewayz",
        "/leafz",
        "/accountz",
        "/accstatz",
        "/jsz",
    ] {
        assert_eq!(stats[path], 1, "{path}: {stats}");
    }
}

/// Key paths of a JSON document in the order written, as
/// `conformance/monitor/scenario.py` computes them (serde_json's `Value`
/// would sort object keys, so this parses the text itself).
mod keys {
    pub fn of(json: &str) -> Vec<String> {
        let mut p = Parser {
            b: json.as_bytes(),
            i: 0,
        };
        let mut out = Vec::new();
        p.value(None, &mut out);
        out
    }

    struct Parser<'a> {
        b: &'a [u8],
        i: usize,
    }

    impl Parser<'_> {
        fn ws(&mut self) {
            while self.i < self.b.len() && self.b[self.i].is_ascii_whitespace() {
                self.i += 1;
            }
        }

        fn string(&mut self) -> String {
            self.i += 1;
            let start = self.i;
            while self.b[self.i] != b'"' {
                self.i += if self.b[self.i] == b'\\' { 2 } else { 1 };
            }
            self.i += 1;
            String::from_utf8_lossy(&self.b[start..self.i - 1]).into_owned()
        }

        fn value(&mut self, prefix: Option<&str>, out: &mut Vec<String>) {
            self.ws();
            match self.b[self.i] {
                b'{' => {
                    self.i += 1;
                    let mut after = prefix.map(str::to_string);
                    loop {
                        self.ws();
                        if self.b[self.i] == b'}' {
                            self.i += 1;
                            return;
                        }
                        let key = self.string();
                        let path = match prefix {
                            Some(p) => format!("{p}.{key}"),
                            None => key,
                        };
                        if !out.contains(&path) {
                            let at = end_of(after.as_deref(), out);
                            out.insert(at, path.clone());
                        }
                        self.ws();
                        self.i += 1; // ':'
                        self.value(Some(&path), out);
                        after = Some(path);
                        self.ws();
                        if self.b[self.i] == b',' {
                            self.i += 1;
                        }
                    }
                }
                b'[' => {
                    self.i += 1;
                    let inner = format!("{}[]", prefix.unwrap_or(""));
                    loop {
                        self.ws();
                        if self.b[self.i] == b']' {
                            self.i += 1;
                            return;
                        }
                        self.value(Some(&inner), out);
                        self.ws();
                        if self.b[self.i] == b',' {
                            self.i += 1;
                        }
                    }
                }
                b'"' => {
                    self.string();
                }
                _ => {
                    while self.i < self.b.len() && !b",}] \n\r\t".contains(&self.b[self.i]) {
                        self.i += 1;
                    }
                }
            }
        }
    }

    fn end_of(path: Option<&str>, out: &[String]) -> usize {
        let Some(mut path) = path else { return 0 };
        if !out.iter().any(|p| p == path) {
            let base = path.strip_suffix("[]").unwrap_or(path);
            if !out.iter().any(|p| p == base) {
                return out.len();
            }
            path = base;
        }
        let mut i = out.iter().position(|p| p == path).unwrap_or(0) + 1;
        while i < out.len()
            && (out[i].starts_with(&format!("{path}.")) || out[i].starts_with(&format!("{path}[]")))
        {
            i += 1;
        }
        i
    }
}

/// Keys nats-server has and edge leaves out on purpose (with their
/// subtrees): the global account's imports of the system account's
/// services, which edge (without a system account) does not have.
const KNOWN_MISSING: &[(&str, &str)] = &[("accountz_global", "account_detail.imports")];

/// The steps of `conformance/monitor/scenario.py`, against edge, then
/// every endpoint's key paths compared with nats-server's recording.
#[test]
fn key_paths_match_the_nats_server_recording() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("conformance/monitor");
    let edge = Edge::start();
    edge.wait_http("/varz");
    let mut a = edge.client(
        r#"{"verbose":false,"pedantic":false,"name":"alice","lang":"python","version":"1.0"}"#,
    );
    a.send("SUB foo 1\r\nSUB bar q1 2\r\nSUB baz 3\r\nUNSUB 3 5\r\n");
    a.ping();
    let mut b = edge.client(
        r#"{"verbose":false,"pedantic":false,"name":"bob","lang":"python","version":"1.0"}"#,
    );
    b.send("PUB foo 5\r\nhello\r\nPUB foo 5\r\nhello\r\nPUB bar 2\r\nhi\r\n");
    b.ping();
    a.ping();
    let mut c = edge.client(r#"{"verbose":false,"pedantic":false,"name":"carol"}"#);
    c.send("SUB c.x 1\r\n");
    c.ping();
    drop(c);
    wait_json(&edge, "/connz?state=closed", |v| v["total"] == 1);

    let endpoints = [
        ("connz", "/connz"),
        ("connz_subs", "/connz?subs=1"),
        ("connz_detail", "/connz?subs=detail"),
        ("connz_closed", "/connz?state=closed"),
        ("connz_all", "/connz?state=all"),
        ("connz_closed_detail", "/connz?state=closed&subs=detail"),
        ("subsz", "/subsz"),
        ("subsz_subs", "/subsz?subs=1"),
        ("healthz", "/healthz"),
        ("routez", "/routez"),
        ("gatewayz", "/gatewayz"),
        ("leafz", "/leafz"),
        ("accountz", "/accountz"),
        ("accountz_global", "/accountz?acc=$G"),
        ("accstatz", "/accstatz"),
        ("accstatz_unused", "/accstatz?unused=1"),
        ("jsz", "/jsz"),
        ("varz", "/varz"),
    ];
    let mut differ = Vec::new();
    for (name, path) in endpoints {
        let (status, _, body) = edge.get(path);
        assert_eq!(status, 200, "{path}");
        let got = keys::of(&body);
        let file = dir.join(format!("{name}.keys"));
        let mut want: Vec<String> = std::fs::read_to_string(&file)
            .unwrap_or_else(|e| panic!("{}: {e}", file.display()))
            .lines()
            .map(str::to_string)
            .collect();
        for (endpoint, missing) in KNOWN_MISSING {
            if *endpoint == name {
                let before = want.len();
                want.retain(|k| k != missing && !k.starts_with(&format!("{missing}[]")));
                assert!(
                    want.len() < before,
                    "{name}: {missing} is no longer recorded"
                );
            }
        }
        assert!(
            want.len() > 1 || name == "healthz",
            "{name}: empty recording"
        );
        if got != want {
            differ.push(format!(
                "{path}:\n  edge:        {got:?}\n  nats-server: {want:?}"
            ));
        }
    }
    assert!(
        differ.is_empty(),
        "key paths differ:\n{}",
        differ.join("\n")
    );
}

#[test]
fn key_path_extraction_keeps_order_and_merges_array_elements() {
    let got = keys::of(r#"{"b":1,"a":[{"x":1,"z":2},{"x":1,"y":[{"k":1}],"z":2}],"c":{"d":null}}"#);
    assert_eq!(
        got,
        ["b", "a", "a[].x", "a[].y", "a[].y[].k", "a[].z", "c", "c.d"]
    );
}

/// A response body as `conformance/monitor/scenario.py`'s `shape` records
/// it: documents whose values vary as `<json>`, `<cb(json)>`, `<f(json)>`,
/// the index page as `<html>`, anything else JSON-quoted.
fn shape(body: &str) -> String {
    if body.starts_with("<html") {
        return "<html>".into();
    }
    if serde_json::from_str::<Value>(body).is_ok() {
        return "<json>".into();
    }
    for cb in ["cb", "f"] {
        let inner = body
            .strip_prefix(&format!("{cb}("))
            .and_then(|b| b.strip_suffix(')'));
        if inner.is_some_and(|i| serde_json::from_str::<Value>(i).is_ok()) {
            return format!("<{cb}(json)>");
        }
    }
    serde_json::to_string(body).expect("quote")
}

/// Every response recorded from nats-server in `responses.txt` (refused
/// parameters, unknown and unclean paths, JSONP): same status,
/// Content-Type and body.
#[test]
fn responses_match_the_nats_server_recording() {
    let file = Path::new(env!("CARGO_MANIFEST_DIR")).join("conformance/monitor/responses.txt");
    let recorded = std::fs::read_to_string(&file).expect("responses.txt");
    let edge = Edge::start();
    edge.wait_http("/varz");
    let mut differ = Vec::new();
    let mut n = 0;
    for line in recorded.lines() {
        let [path, status, ctype, body] = line.split('\t').collect::<Vec<_>>()[..] else {
            panic!("bad line in responses.txt: {line:?}");
        };
        let (got_status, headers, got_body) = edge.get(path);
        let got = format!(
            "{got_status}\t{}\t{}",
            header(&headers, "content-type").unwrap_or(""),
            shape(&got_body)
        );
        let want = format!("{status}\t{ctype}\t{body}");
        if got != want {
            differ.push(format!(
                "{path}\n  edge:        {got}\n  nats-server: {want}"
            ));
        }
        n += 1;
    }
    assert!(n >= 30, "only {n} recorded responses");
    assert!(
        differ.is_empty(),
        "responses differ:\n{}",
        differ.join("\n")
    );
}

/// `https` serves the same endpoints over TLS with the client `tls`
/// block's certificate (nats-server's `-ms`).
#[test]
fn https_monitoring_serves_varz_over_tls() {
    let dir = tempfile::tempdir().expect("tempdir");
    common::write_test_certs(dir.path());
    let mport = free_port();
    let conf = format!(
        "listen: 127.0.0.1:{}\nhttps: 127.0.0.1:{mport}\ntls {{ cert_file: \"{}\", key_file: \"{}\" }}\n",
        free_port(),
        dir.path().join("server.pem").display(),
        dir.path().join("server-key.pem").display()
    );
    let edge = common::RunningEdge::start(&conf);
    let ca = dir.path().join("ca.pem");
    let body = common::rt().block_on(async move {
        use rustls::pki_types::ServerName;
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let config = common::tls_client_config(&ca, None);
        let connector = tokio_rustls::TlsConnector::from(std::sync::Arc::new(config));
        let tcp = tokio::net::TcpStream::connect(("127.0.0.1", mport))
            .await
            .expect("connect");
        let name = ServerName::try_from("localhost").expect("name");
        let mut tls = connector.connect(name, tcp).await.expect("TLS handshake");
        tls.write_all(b"GET /varz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
            .await
            .expect("request");
        let mut response = Vec::new();
        let _ = tls.read_to_end(&mut response).await;
        String::from_utf8_lossy(&response).into_owned()
    });
    drop(edge);
    assert!(body.starts_with("HTTP/1.1 200 OK\r\n"), "{body}");
    assert!(body.contains("\"server_id\":"), "{body}");
    assert!(body.contains(&format!("\"https_port\": {mport}")), "{body}");
}

#[test]
fn a_taken_monitor_port_fails_the_start() {
    let taken = TcpListener::bind("127.0.0.1:0").expect("bind");
    let mport = taken.local_addr().expect("addr").port();
    let out = Command::new(env!("CARGO_BIN_EXE_edge"))
        .args(["run", "-a", "127.0.0.1", "-p", &free_port().to_string()])
        .args(["-m", &mport.to_string()])
        .stdin(Stdio::null())
        .output()
        .expect("run edge");
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!("cannot listen on 127.0.0.1:{mport}")),
        "{err}"
    );
}

#[test]
fn monitoring_defaults_to_the_client_host() {
    let dir = tempfile::tempdir().expect("tempdir");
    let check = |conf: &str| {
        std::fs::write(dir.path().join("edge.conf"), conf).expect("write config");
        let out = common::run_edge(&["check", "edge.conf"], dir.path(), &[]);
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    };
    // As nats-server's HTTPHost defaulting to Host.
    let out = check("listen: 127.0.0.1:4222\nhttp_port: 8222\n");
    assert!(out.contains("monitor: http://127.0.0.1:8222"), "{out}");
    let out = check("listen: 127.0.0.1:4222\nhttp: \"0.0.0.0:8222\"\n");
    assert!(out.contains("monitor: http://0.0.0.0:8222"), "{out}");
    let out = check("listen: 127.0.0.1:4222\nhttps: 8443\n");
    assert!(
        out.contains("https monitoring on 127.0.0.1:8443 needs a `tls` block"),
        "{out}"
    );
}

/// With accounts, `/varz` and `/subsz` count every account's
/// subscriptions, and `/subsz?acc=` one account's.
#[test]
fn subscriptions_are_counted_across_accounts() {
    let edge = Edge::start_with(
        &[],
        Some("accounts { A { users = [{user: a, password: p}] }, B { users = [{user: b, password: p}] } }\n"),
    );
    edge.wait_http("/varz");
    let mut a = edge.client(r#"{"verbose":false,"user":"a","pass":"p"}"#);
    let mut b = edge.client(r#"{"verbose":false,"user":"b","pass":"p"}"#);
    a.send("SUB x 1\r\nSUB y 2\r\n");
    a.ping();
    b.send("SUB x 1\r\n");
    b.ping();
    let varz = wait_json(&edge, "/varz", |v| v["subscriptions"] == 3);
    assert_eq!(varz["subscriptions"], 3);
    assert_eq!(edge.json("/subsz")["num_subscriptions"], 3);
    assert_eq!(edge.json("/subsz?acc=A")["num_subscriptions"], 2);
    assert_eq!(edge.json("/subsz?acc=B")["num_subscriptions"], 1);
    assert_eq!(edge.json("/subsz?acc=nobody")["num_subscriptions"], 0);
}

/// The steps of `conformance/monitor/accounts.py` against edge running
/// `accounts.conf`: `/accountz` lists the configured accounts and
/// `?acc=` shows their exports and imports with nats-server's key paths
/// (the exporter's only imports in nats-server are of the system
/// account's services, which edge does not have).
#[test]
fn accountz_key_paths_match_the_nats_server_recording() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("conformance/monitor");
    let config = std::fs::read_to_string(dir.join("accounts.conf")).expect("accounts.conf");
    let edge = Edge::start_with(&[], Some(&config));
    edge.wait_http("/varz");
    let mut a = edge.client(r#"{"verbose":false,"user":"a","pass":"p"}"#);
    a.send("SUB x 1\r\n");
    a.ping();
    let mut b = edge.client(r#"{"verbose":false,"user":"b","pass":"p"}"#);
    b.send("SUB x 1\r\n");
    b.ping();
    let known_missing = [("accountz_exporter", "account_detail.imports")];
    for (name, path) in [
        ("accountz_list", "/accountz"),
        ("accountz_exporter", "/accountz?acc=A"),
        ("accountz_importer", "/accountz?acc=B"),
    ] {
        let (status, _, body) = edge.get(path);
        assert_eq!(status, 200, "{path}");
        let file = dir.join(format!("{name}.keys"));
        let mut want: Vec<String> = std::fs::read_to_string(&file)
            .unwrap_or_else(|e| panic!("{}: {e}", file.display()))
            .lines()
            .map(str::to_string)
            .collect();
        for (endpoint, missing) in known_missing {
            if endpoint == name {
                let before = want.len();
                want.retain(|k| k != missing && !k.starts_with(&format!("{missing}[]")));
                assert!(
                    want.len() < before,
                    "{name}: {missing} is no longer recorded"
                );
            }
        }
        assert_eq!(keys::of(&body), want, "{path}");
    }
    assert_eq!(
        edge.json("/accountz")["accounts"],
        serde_json::json!(["$G", "A", "B", "$SYS"])
    );
    let exporter = edge.json("/accountz?acc=A")["account_detail"].clone();
    assert_eq!(exporter["client_connections"], 1);
    assert_eq!(
        exporter["exports"],
        serde_json::json!([
            {"subject": "req.>", "type": "service", "response_type": "Singleton", "approved_accounts": ["B"]},
            {"subject": "feed.*", "type": "service", "response_type": "Streamed"},
            {"subject": "ev.>", "type": "stream"}
        ])
    );
    let importer = edge.json("/accountz?acc=B")["account_detail"].clone();
    let brief: Vec<(String, String, String)> = importer["imports"]
        .as_array()
        .expect("imports")
        .iter()
        .map(|i| {
            let target = i.get("to").or(i.get("local_subject")).cloned();
            (
                i["subject"].as_str().unwrap_or("").to_string(),
                target
                    .and_then(|t| t.as_str().map(str::to_string))
                    .unwrap_or_default(),
                i["type"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect();
    let t = |a: &str, b: &str, c: &str| (a.to_string(), b.to_string(), c.to_string());
    assert_eq!(
        brief,
        [
            t("ev.>", "x.ev.>", "stream"),
            t("ev.plain", "ev.plain", "stream"),
            t("echo", "req.echo", "service"),
            t("feed.*", "feed.*", "service"),
        ]
    );
    assert_eq!(
        edge.json("/accountz?acc=$G")["account_detail"]["client_connections"],
        0
    );
}
