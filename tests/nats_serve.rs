//! `edge run` serving NATS, driven by async-nats and by raw sockets.
//!
//! Every test starts its own `edge` on 127.0.0.1 and a free port; the
//! [`Edge`] guard kills it on drop, and every wait is bounded.

mod common;

use common::{free_port, rt};

use futures::StreamExt;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const WAIT: Duration = Duration::from_secs(10);

/// A running `edge run`, killed when dropped.
struct Edge {
    child: Child,
    port: u16,
    _dir: Option<tempfile::TempDir>,
}

impl Edge {
    fn start() -> Edge {
        Edge::start_on(free_port(), &[])
    }

    fn start_on(port: u16, extra: &[&str]) -> Edge {
        let child = Command::new(env!("CARGO_BIN_EXE_edge"))
            .args(["run", "-a", "127.0.0.1", "-p", &port.to_string()])
            .args(extra)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn edge");
        let edge = Edge {
            child,
            port,
            _dir: None,
        };
        let deadline = Instant::now() + WAIT;
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "edge did not accept on {port}");
            std::thread::sleep(Duration::from_millis(20));
        }
        edge
    }

    /// Starts edge with `config` as its config file.
    fn with_config(config: &str) -> Edge {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("edge.conf");
        std::fs::write(&path, config).expect("write config");
        let mut edge = Edge::start_on(free_port(), &[path.to_str().expect("utf-8 path")]);
        edge._dir = Some(dir);
        edge
    }

    fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    /// A raw connection with its INFO line already read.
    fn raw(&self) -> (TcpStream, String) {
        let mut s = TcpStream::connect(("127.0.0.1", self.port)).expect("connect");
        s.set_read_timeout(Some(Duration::from_millis(200)))
            .expect("timeout");
        let info = read_until(&mut s, "\r\n");
        (s, info)
    }
}

impl Drop for Edge {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Reads until the text received ends with `end` (or the connection
/// closes, or [`WAIT`] passes); returns everything read.
fn read_until(s: &mut TcpStream, end: &str) -> String {
    String::from_utf8_lossy(&read_bytes_until(s, end)).into_owned()
}

/// [`read_until`], byte for byte.
fn read_bytes_until(s: &mut TcpStream, end: &str) -> Vec<u8> {
    let deadline = Instant::now() + WAIT;
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    while !got.ends_with(end.as_bytes()) && Instant::now() < deadline {
        match s.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e)
                if e.kind() == std::io::ErrorKind::WouldBlock
                    || e.kind() == std::io::ErrorKind::TimedOut => {}
            Err(_) => break,
        }
    }
    got
}

/// True when the peer closes the connection within [`WAIT`].
fn closed(s: &mut TcpStream) -> bool {
    let deadline = Instant::now() + WAIT;
    let mut buf = [0u8; 4096];
    while Instant::now() < deadline {
        match s.read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => {}
            Err(e)
                if e.kind() == std::io::ErrorKind::WouldBlock
                    || e.kind() == std::io::ErrorKind::TimedOut => {}
            Err(_) => return true,
        }
    }
    false
}

async fn next(sub: &mut async_nats::Subscriber) -> async_nats::Message {
    tokio::time::timeout(WAIT, sub.next())
        .await
        .expect("message in time")
        .expect("subscription open")
}

async fn connect(edge: &Edge) -> async_nats::Client {
    tokio::time::timeout(WAIT, async_nats::connect(edge.url()))
        .await
        .expect("connect in time")
        .expect("connect")
}

#[test]
fn info_is_first_and_has_what_clients_need() {
    let edge = Edge::start();
    let (_s, info) = edge.raw();
    assert!(
        info.starts_with("INFO {") && info.ends_with("} \r\n"),
        "{info}"
    );
    let json: serde_json::Value =
        serde_json::from_str(info["INFO ".len()..].trim_end()).expect("INFO JSON");
    for key in [
        "server_id",
        "server_name",
        "version",
        "proto",
        "go",
        "host",
        "port",
        "headers",
        "max_payload",
        "client_id",
        "client_ip",
    ] {
        assert!(json.get(key).is_some(), "{key} missing from {info}");
    }
    let version = json["version"].as_str().expect("version");
    let parts: Vec<&str> = version.split('.').collect();
    assert_eq!(parts.len(), 3, "{version}");
    assert!(parts.iter().all(|p| p.parse::<u32>().is_ok()), "{version}");
    assert_eq!(json["proto"], 1);
    assert_eq!(json["headers"], true);
    assert_eq!(json["port"], edge.port);
    assert_eq!(json["max_payload"], 1048576);
    assert_eq!(json["client_ip"], "127.0.0.1");
}

#[test]
fn ping_pong_and_verbose_ok() {
    let edge = Edge::start();
    let (mut s, _) = edge.raw();
    s.write_all(b"CONNECT {\"verbose\":false}\r\nPING\r\n")
        .unwrap();
    assert_eq!(read_until(&mut s, "PONG\r\n"), "PONG\r\n");
    let (mut v, _) = edge.raw();
    v.write_all(b"CONNECT {\"verbose\":true}\r\nSUB foo 1\r\nPUB foo 2\r\nhi\r\nPING\r\n")
        .unwrap();
    assert_eq!(
        read_until(&mut v, "PONG\r\n"),
        "+OK\r\n+OK\r\n+OK\r\nMSG foo 1 2\r\nhi\r\nPONG\r\n"
    );
}

#[test]
fn unknown_operation_closes_only_that_client() {
    let edge = Edge::start();
    let (mut good, _) = edge.raw();
    good.write_all(b"CONNECT {\"verbose\":false}\r\nSUB foo 1\r\nPING\r\n")
        .unwrap();
    assert_eq!(read_until(&mut good, "PONG\r\n"), "PONG\r\n");
    let (mut bad, _) = edge.raw();
    bad.write_all(b"FOO\r\n").unwrap();
    assert_eq!(
        read_until(&mut bad, "\r\n"),
        "-ERR 'Unknown Protocol Operation'\r\n"
    );
    assert!(closed(&mut bad));
    good.write_all(b"PUB foo 2\r\nok\r\nPING\r\n").unwrap();
    assert_eq!(
        read_until(&mut good, "PONG\r\n"),
        "MSG foo 1 2\r\nok\r\nPONG\r\n"
    );
}

#[test]
fn max_payload_violation_closes() {
    let edge = Edge::with_config("max_payload: 8\n");
    let (mut s, info) = edge.raw();
    assert!(info.contains("\"max_payload\":8"), "{info}");
    s.write_all(b"CONNECT {\"verbose\":false}\r\nPUB foo 9\r\n")
        .unwrap();
    assert_eq!(
        read_until(&mut s, "\r\n"),
        "-ERR 'Maximum Payload Violation'\r\n"
    );
    assert!(closed(&mut s));
}

#[test]
fn echo_off_is_not_delivered_to_itself() {
    let edge = Edge::start();
    let (mut s, _) = edge.raw();
    s.write_all(
        b"CONNECT {\"verbose\":false,\"echo\":false}\r\nSUB foo 1\r\nPUB foo 1\r\nx\r\nPING\r\n",
    )
    .unwrap();
    assert_eq!(read_until(&mut s, "PONG\r\n"), "PONG\r\n");
    let (mut other, _) = edge.raw();
    other
        .write_all(b"CONNECT {\"verbose\":false}\r\nPUB foo 1\r\ny\r\nPING\r\n")
        .unwrap();
    assert_eq!(read_until(&mut other, "PONG\r\n"), "PONG\r\n");
    s.write_all(b"PING\r\n").unwrap();
    assert_eq!(
        read_until(&mut s, "PONG\r\n"),
        "MSG foo 1 1\r\ny\r\nPONG\r\n"
    );
}

#[test]
fn no_responders_bytes_match_nats_server() {
    let edge = Edge::start();
    let (mut s, _) = edge.raw();
    s.write_all(
        b"CONNECT {\"verbose\":false,\"headers\":true,\"no_responders\":true}\r\n\
          SUB inbox.* 1\r\nPUB foo inbox.a 2\r\nhi\r\nPING\r\n",
    )
    .unwrap();
    assert_eq!(
        read_until(&mut s, "PONG\r\n"),
        "HMSG inbox.a 1 16 16\r\nNATS/1.0 503\r\n\r\n\r\nPONG\r\n"
    );
}

/// Publish subjects are bytes, checked by nobody but a pedantic client:
/// each exchange below is what nats-server 2.9.10 answered (recorded with
/// `verbose` and `pedantic` off, `headers` and `no_responders` on).
#[test]
fn publish_subjects_as_nats_server_reads_them() {
    let edge = Edge::start();
    let cases: &[(&[u8], &[u8])] = &[
        // A `>` token in a publish subject is a literal token for the
        // index: `*` subscribers still match it.
        (
            b"SUB foo.*.bar 1\r\nPUB foo.>.bar 1\r\nx\r\n",
            b"MSG foo.>.bar 1 1\r\nx\r\nPONG\r\n",
        ),
        // Bytes that are not UTF-8 are a subject like any other.
        (
            b"SUB > 1\r\nPUB \xff.\xfe 1\r\nx\r\n",
            b"MSG \xff.\xfe 1 1\r\nx\r\nPONG\r\n",
        ),
        // An empty token matches nothing, and a reply subject with one gets
        // no no-responders status either.
        (b"SUB a.*.b 1\r\nPUB a..b 0\r\n\r\n", b"PONG\r\n"),
        (b"SUB a.> 1\r\nPUB x a..b 0\r\n\r\n", b"PONG\r\n"),
        (b"SUB in.> 1\r\nPUB x in. 0\r\n\r\n", b"PONG\r\n"),
        // A wildcard reply subject is matched like any other.
        (
            b"SUB in.> 1\r\nPUB x in.* 0\r\n\r\n",
            b"HMSG in.* 1 16 16\r\nNATS/1.0 503\r\n\r\n\r\nPONG\r\n",
        ),
    ];
    for (input, want) in cases {
        let (mut s, _) = edge.raw();
        let mut sent = b"CONNECT {\"verbose\":false,\"pedantic\":false,\"headers\":true,\"no_responders\":true}\r\n".to_vec();
        sent.extend_from_slice(input);
        sent.extend_from_slice(b"PING\r\n");
        s.write_all(&sent).unwrap();
        assert_eq!(
            read_bytes_until(&mut s, "PONG\r\n"),
            *want,
            "after {}",
            String::from_utf8_lossy(input)
        );
    }
}

#[test]
fn pub_sub_wildcards_and_headers() {
    let edge = Edge::start();
    rt().block_on(async {
        let client = connect(&edge).await;
        let mut exact = client.subscribe("a.b.c").await.unwrap();
        let mut star = client.subscribe("a.*.c").await.unwrap();
        let mut full = client.subscribe("a.>").await.unwrap();
        client.flush().await.unwrap();
        client.publish("a.b.c", "one".into()).await.unwrap();
        client.publish("a.x.y.z", "two".into()).await.unwrap();
        client.flush().await.unwrap();
        assert_eq!(next(&mut exact).await.payload, "one");
        assert_eq!(next(&mut star).await.payload, "one");
        assert_eq!(next(&mut full).await.payload, "one");
        assert_eq!(next(&mut full).await.payload, "two");

        let mut headers = async_nats::HeaderMap::new();
        headers.insert("X-Edge", "yes");
        client
            .publish_with_headers("a.h", headers, "body".into())
            .await
            .unwrap();
        let m = next(&mut full).await;
        assert_eq!(m.payload, "body");
        let h = m.headers.expect("headers");
        assert_eq!(h.get("X-Edge").map(|v| v.as_str()), Some("yes"));
        // Nothing else arrived on the exact subscription.
        client.publish("a.b.c", "three".into()).await.unwrap();
        assert_eq!(next(&mut exact).await.payload, "three");
    });
}

#[test]
fn queue_group_delivers_each_message_once() {
    let edge = Edge::start();
    rt().block_on(async {
        let client = connect(&edge).await;
        let mut members = Vec::new();
        for _ in 0..3 {
            members.push(client.queue_subscribe("work", "q".into()).await.unwrap());
        }
        client.flush().await.unwrap();
        let n = 60;
        for i in 0..n {
            client.publish("work", format!("{i}").into()).await.unwrap();
        }
        client.flush().await.unwrap();
        let mut seen = Vec::new();
        let deadline = tokio::time::Instant::now() + WAIT;
        while seen.len() < n && tokio::time::Instant::now() < deadline {
            for m in members.iter_mut() {
                if let Ok(Some(msg)) =
                    tokio::time::timeout(Duration::from_millis(20), m.next()).await
                {
                    seen.push(String::from_utf8(msg.payload.to_vec()).unwrap());
                }
            }
        }
        // A little longer, to catch duplicates.
        for m in members.iter_mut() {
            while let Ok(Some(msg)) =
                tokio::time::timeout(Duration::from_millis(100), m.next()).await
            {
                seen.push(String::from_utf8(msg.payload.to_vec()).unwrap());
            }
        }
        seen.sort_by_key(|s| s.parse::<u32>().unwrap());
        let want: Vec<String> = (0..n).map(|i| i.to_string()).collect();
        assert_eq!(seen, want);
    });
}

#[test]
fn request_reply_and_no_responders() {
    let edge = Edge::start();
    rt().block_on(async {
        let client = connect(&edge).await;
        let mut service = client.subscribe("svc").await.unwrap();
        client.flush().await.unwrap();
        let responder = client.clone();
        let task = tokio::spawn(async move {
            let m = next(&mut service).await;
            responder
                .publish(m.reply.expect("reply"), "pong".into())
                .await
                .unwrap();
            responder.flush().await.unwrap();
        });
        let reply = tokio::time::timeout(WAIT, client.request("svc", "ping".into()))
            .await
            .expect("in time")
            .expect("reply");
        assert_eq!(reply.payload, "pong");
        task.await.unwrap();

        let err = tokio::time::timeout(WAIT, client.request("nobody", "x".into()))
            .await
            .expect("in time")
            .expect_err("no responders");
        assert_eq!(err.kind(), async_nats::RequestErrorKind::NoResponders);
    });
}

#[test]
fn unsubscribe_after_max() {
    let edge = Edge::start();
    rt().block_on(async {
        let client = connect(&edge).await;
        let mut sub = client.subscribe("m").await.unwrap();
        sub.unsubscribe_after(2).await.unwrap();
        client.flush().await.unwrap();
        for i in 0..5 {
            client.publish("m", format!("{i}").into()).await.unwrap();
        }
        client.flush().await.unwrap();
        assert_eq!(next(&mut sub).await.payload, "0");
        assert_eq!(next(&mut sub).await.payload, "1");
        let end = tokio::time::timeout(WAIT, sub.next()).await.expect("ends");
        assert!(end.is_none());
    });
    // And on the wire: the server stops after max.
    let (mut s, _) = edge.raw();
    s.write_all(
        b"CONNECT {\"verbose\":false}\r\nSUB m 7\r\nUNSUB 7 1\r\nPUB m 1\r\na\r\nPUB m 1\r\nb\r\nPING\r\n",
    )
    .unwrap();
    assert_eq!(read_until(&mut s, "PONG\r\n"), "MSG m 7 1\r\na\r\nPONG\r\n");
}

#[test]
fn client_reconnects_after_restart() {
    let port = free_port();
    let edge = Edge::start_on(port, &[]);
    rt().block_on(async {
        let client = connect(&edge).await;
        let mut sub = client.subscribe("r").await.unwrap();
        client.flush().await.unwrap();
        drop(edge);
        let _again = Edge::start_on(port, &[]);
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            assert!(tokio::time::Instant::now() < deadline, "no reconnect");
            let _ = client.publish("r", "back".into()).await;
            if let Ok(Some(m)) = tokio::time::timeout(Duration::from_millis(200), sub.next()).await
            {
                assert_eq!(m.payload, "back");
                break;
            }
        }
    });
}

#[test]
fn sigterm_shuts_down_cleanly() {
    let mut edge = Edge::start();
    let status = Command::new("kill")
        .args(["-TERM", &edge.child.id().to_string()])
        .status()
        .expect("kill");
    assert!(status.success());
    let deadline = Instant::now() + WAIT;
    loop {
        if let Some(code) = edge.child.try_wait().expect("wait") {
            assert_eq!(code.code(), Some(0));
            break;
        }
        assert!(Instant::now() < deadline, "edge did not exit on SIGTERM");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A raw client that has sent `CONNECT {"verbose":false}` and got PONG.
fn quiet(edge: &Edge) -> TcpStream {
    let (mut s, _) = edge.raw();
    s.write_all(b"CONNECT {\"verbose\":false}\r\nPING\r\n")
        .unwrap();
    assert_eq!(read_until(&mut s, "PONG\r\n"), "PONG\r\n");
    s
}

/// nats-server measures every client's round trip with a first PING after
/// 2 s (plus up to 20%), active client or not; then every ping_interval.
#[test]
fn first_ping_after_two_seconds() {
    let edge = Edge::start();
    let start = Instant::now();
    let mut s = quiet(&edge);
    // Activity does not put the first PING off.
    s.write_all(b"PING\r\n").unwrap();
    assert_eq!(read_until(&mut s, "PONG\r\n"), "PONG\r\n");
    let got = read_until(&mut s, "PING\r\n");
    let at = start.elapsed();
    assert_eq!(got, "PING\r\n");
    assert!(
        at >= Duration::from_millis(1900) && at < Duration::from_millis(2900),
        "first PING after {at:?}"
    );
}

#[test]
fn stale_connection_after_unanswered_pings() {
    let edge = Edge::with_config("ping_interval: \"1s\"\nping_max: 1\n");
    let mut s = quiet(&edge);
    assert_eq!(
        read_until(&mut s, "'Stale Connection'\r\n"),
        "PING\r\n-ERR 'Stale Connection'\r\n"
    );
    assert!(closed(&mut s));
}

#[test]
fn maximum_connections_exceeded() {
    let edge = Edge::with_config("max_connections: 1\n");
    // The readiness probe's connection may still count for a moment.
    let deadline = Instant::now() + WAIT;
    let _first = loop {
        let (mut s, info) = edge.raw();
        if !info.contains("-ERR") {
            s.write_all(b"CONNECT {\"verbose\":false}\r\nPING\r\n")
                .unwrap();
            if read_until(&mut s, "PONG\r\n") == "PONG\r\n" {
                break s;
            }
        }
        assert!(Instant::now() < deadline, "first connection refused");
        std::thread::sleep(Duration::from_millis(50));
    };
    let (mut second, mut got) = edge.raw();
    if !got.ends_with("exceeded'\r\n") {
        got += &read_until(&mut second, "exceeded'\r\n");
    }
    assert!(got.starts_with("INFO "), "{got}");
    assert!(
        got.ends_with("} \r\n-ERR 'maximum connections exceeded'\r\n"),
        "{got}"
    );
    assert!(closed(&mut second));
}

#[test]
fn subscription_errors_keep_the_connection() {
    let edge = Edge::with_config("max_subscriptions: 1\n");
    let mut s = quiet(&edge);
    s.write_all(b"SUB a 1\r\nSUB b 2\r\nSUB foo.. 3\r\nPING\r\n")
        .unwrap();
    assert_eq!(
        read_until(&mut s, "PONG\r\n"),
        // nats-server 2.9.10 checks the limit before the subject.
        "-ERR 'maximum subscriptions exceeded'\r\n-ERR 'maximum subscriptions exceeded'\r\nPONG\r\n"
    );
}

#[test]
fn connect_errors_close() {
    let edge = Edge::start();
    for (connect, err) in [
        ("{\"protocol\":2}", "-ERR 'invalid client protocol'\r\n"),
        (
            "{\"no_responders\":true}",
            "-ERR 'no responders requires headers support'\r\n",
        ),
        ("{\"account\":\"A\"}", "-ERR 'Authorization Violation'\r\n"),
    ] {
        let (mut s, _) = edge.raw();
        s.write_all(format!("CONNECT {connect}\r\nPING\r\n").as_bytes())
            .unwrap();
        assert_eq!(read_until(&mut s, "'\r\n"), err);
        assert!(closed(&mut s), "{connect}");
    }
}

#[test]
fn slow_consumer_is_closed_alone() {
    let edge = Edge::with_config("max_pending: 65536\nmax_payload: 1024\n");
    let mut slow = quiet(&edge);
    slow.write_all(b"SUB foo 1\r\nPING\r\n").unwrap();
    assert_eq!(read_until(&mut slow, "PONG\r\n"), "PONG\r\n");
    let mut good = quiet(&edge);
    good.write_all(b"SUB bar 1\r\nPING\r\n").unwrap();
    assert_eq!(read_until(&mut good, "PONG\r\n"), "PONG\r\n");

    let mut publisher = quiet(&edge);
    let mut chunk = Vec::new();
    for _ in 0..100 {
        chunk.extend_from_slice(b"PUB foo 1000\r\n");
        chunk.extend_from_slice(&[b'x'; 1000]);
        chunk.extend_from_slice(b"\r\n");
    }
    let sent = 200 * chunk.len();
    for _ in 0..200 {
        publisher.write_all(&chunk).unwrap();
    }
    publisher.write_all(b"PUB bar 2\r\nok\r\nPING\r\n").unwrap();
    assert_eq!(read_until(&mut publisher, "PONG\r\n"), "PONG\r\n");
    assert_eq!(read_until(&mut good, "ok\r\n"), "MSG bar 1 2\r\nok\r\n");

    // The slow consumer gets what was flushed before, then the close.
    let deadline = Instant::now() + WAIT;
    let mut got = 0;
    let mut buf = vec![0u8; 64 * 1024];
    let mut eof = false;
    while Instant::now() < deadline {
        match slow.read(&mut buf) {
            Ok(0) => {
                eof = true;
                break;
            }
            Ok(n) => got += n,
            Err(e)
                if e.kind() == std::io::ErrorKind::WouldBlock
                    || e.kind() == std::io::ErrorKind::TimedOut => {}
            Err(_) => {
                eof = true;
                break;
            }
        }
    }
    assert!(eof, "slow consumer not closed");
    assert!(got < sent, "slow consumer got everything ({got} bytes)");
}

#[test]
fn second_connect_keeps_earlier_fields() {
    let edge = Edge::start();
    let (mut s, _) = edge.raw();
    s.write_all(
        b"CONNECT {\"headers\":true,\"verbose\":false}\r\nCONNECT {}\r\nSUB a 1\r\n\
          HPUB a 12 14\r\nNATS/1.0\r\n\r\nhi\r\nPING\r\n",
    )
    .unwrap();
    assert_eq!(
        read_until(&mut s, "PONG\r\n"),
        "HMSG a 1 12 14\r\nNATS/1.0\r\n\r\nhi\r\nPONG\r\n"
    );
}

/// nats-server's pid and ports files: the pid file stays after exit, the
/// `<exe>_<pid>.ports` file (client URLs as JSON) is removed on shutdown.
#[test]
fn pid_and_ports_files() {
    let dir = tempfile::tempdir().expect("tempdir");
    let pid_path = dir.path().join("edge.pid");
    let port = free_port();
    let mut edge = Edge::start_on(
        port,
        &[
            "-P",
            pid_path.to_str().expect("utf-8"),
            "--ports_file_dir",
            dir.path().to_str().expect("utf-8"),
        ],
    );
    let pid = edge.child.id();
    let ports_path = dir.path().join(format!("edge_{pid}.ports"));
    let deadline = Instant::now() + WAIT;
    while !ports_path.exists() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(
        std::fs::read_to_string(&pid_path).expect("pid file"),
        pid.to_string()
    );
    assert_eq!(
        std::fs::read_to_string(&ports_path).expect("ports file"),
        format!("{{\"nats\":[\"nats://127.0.0.1:{port}\"]}}")
    );
    let status = Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .expect("kill");
    assert!(status.success());
    let _ = edge.child.wait();
    assert!(!ports_path.exists(), "ports file left behind");
    assert!(pid_path.exists(), "nats-server keeps the pid file");
}

/// SIGUSR2: lame duck mode as nats-server 2.9.10 runs it (recorded with
/// the same config): the listener closes at once, clients that take
/// asynchronous INFO get their INFO with `"ldm":true`, and after the grace
/// period they are closed less than a second apart; then the server exits 0.
#[test]
fn lame_duck_mode_drains_clients_then_exits() {
    let mut edge =
        Edge::with_config("lame_duck_duration: \"30s\"\nlame_duck_grace_period: \"1s\"\n");
    let connect = |protocol: u8| {
        let (mut s, _) = edge.raw();
        s.write_all(
            format!("CONNECT {{\"verbose\":false,\"protocol\":{protocol}}}\r\nPING\r\n").as_bytes(),
        )
        .unwrap();
        assert_eq!(read_until(&mut s, "PONG\r\n"), "PONG\r\n");
        s
    };
    let mut modern = [connect(1), connect(1)];
    let mut old = connect(0);
    let start = Instant::now();
    let status = Command::new("kill")
        .args(["-USR2", &edge.child.id().to_string()])
        .status()
        .expect("kill");
    assert!(status.success());
    for s in &mut modern {
        let info = read_until(s, "} \r\n");
        assert!(info.starts_with("INFO {"), "{info}");
        assert!(
            info.ends_with("\"client_ip\":\"127.0.0.1\",\"ldm\":true} \r\n"),
            "{info}"
        );
    }
    // No new clients.
    std::thread::sleep(Duration::from_millis(100));
    assert!(TcpStream::connect(("127.0.0.1", edge.port)).is_err());
    // A protocol 0 client gets no INFO, and everyone is closed after the
    // grace period, within about a second each.
    for s in modern.iter_mut().chain(std::iter::once(&mut old)) {
        assert!(closed(s));
    }
    let took = start.elapsed();
    assert!(
        took >= Duration::from_millis(900) && took < Duration::from_secs(5),
        "{took:?}"
    );
    let deadline = Instant::now() + WAIT;
    let code = loop {
        if let Some(status) = edge.child.try_wait().expect("wait") {
            break status.code();
        }
        assert!(Instant::now() < deadline, "edge did not exit");
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(code, Some(0));
}

/// The log in nats-server's format: `[PID] [INF] ...` without `logtime`,
/// appended to `log_file`, with `[DBG]` connection lines under `-D`.
#[test]
fn log_file_in_nats_server_format() {
    let dir = tempfile::tempdir().expect("tempdir");
    let log = dir.path().join("edge.log");
    let config = dir.path().join("edge.conf");
    std::fs::write(
        &config,
        format!("log_file: \"{}\"\nlogtime: false\n", log.display()),
    )
    .expect("config");
    let edge = Edge::start_on(free_port(), &[config.to_str().expect("utf-8"), "-D"]);
    let mut s = quiet(&edge);
    s.write_all(b"PING\r\n").unwrap();
    assert_eq!(read_until(&mut s, "PONG\r\n"), "PONG\r\n");
    drop(s);
    let pid = edge.child.id();
    let deadline = Instant::now() + WAIT;
    let text = loop {
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        if text.contains("Client connection closed") || Instant::now() > deadline {
            break text;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let prefix = format!("[{pid}] ");
    assert!(text.lines().all(|l| l.starts_with(&prefix)), "{text}");
    assert!(
        text.contains(&format!("{prefix}[INF] Server is ready\n")),
        "{text}"
    );
    assert!(
        text.contains(&format!(
            "{prefix}[INF] Listening for client connections on 127.0.0.1:{}\n",
            edge.port
        )),
        "{text}"
    );
    assert!(text.contains("[DBG] 127.0.0.1:"), "{text}");
    assert!(
        text.contains(" - cid:1 - Client connection created"),
        "{text}"
    );
}

/// Lame duck mode with a client library and a second server: async-nats,
/// connected to the first of two edges, is told (INFO `ldm`), closed after
/// the grace period, and carries on from the second edge with its
/// subscription; the first edge exits 0.
#[test]
fn lame_duck_moves_a_client_library_to_the_other_server() {
    let config = "lame_duck_duration: \"30s\"\nlame_duck_grace_period: \"1s\"\n";
    let mut first = common::RunningEdge::start(config);
    let second = common::RunningEdge::start(config);
    rt().block_on(async {
        let (tx, mut events) = tokio::sync::mpsc::unbounded_channel();
        let client = async_nats::ConnectOptions::new()
            .retain_servers_order()
            .event_callback(move |e| {
                let tx = tx.clone();
                async move {
                    let _ = tx.send(e);
                }
            })
            .connect(vec![first.url(), second.url()])
            .await
            .expect("connect");
        let mut sub = client.subscribe("jobs").await.expect("subscribe");
        client
            .publish("jobs", "on the first".into())
            .await
            .expect("pub");
        let got = tokio::time::timeout(WAIT, sub.next()).await.expect("msg");
        assert_eq!(got.expect("msg").payload, "on the first");

        let status = Command::new("kill")
            .args(["-USR2", &first.pid().to_string()])
            .status()
            .expect("kill");
        assert!(status.success());
        // After the first connection's `Connected`: ldm, the close, the
        // reconnect.
        let mut seen = Vec::new();
        let deadline = Instant::now() + WAIT;
        while !(seen.contains(&async_nats::Event::Disconnected)
            && seen.last() == Some(&async_nats::Event::Connected))
        {
            let left = deadline.saturating_duration_since(Instant::now());
            match tokio::time::timeout(left, events.recv()).await {
                Ok(Some(e)) => seen.push(e),
                _ => panic!("no reconnect; events {seen:?}"),
            }
        }
        seen.retain(|e| *e != async_nats::Event::Connected);
        assert_eq!(
            seen,
            [
                async_nats::Event::LameDuckMode,
                async_nats::Event::Disconnected
            ],
            "{seen:?}"
        );

        // The subscription moved: another client of the second server
        // reaches it.
        let other = async_nats::connect(second.url()).await.expect("second");
        let mut delivered = None;
        for _ in 0..50 {
            other
                .publish("jobs", "on the second".into())
                .await
                .expect("pub");
            other.flush().await.expect("flush");
            if let Ok(Some(m)) = tokio::time::timeout(Duration::from_millis(100), sub.next()).await
            {
                delivered = Some(m);
                break;
            }
        }
        assert_eq!(delivered.expect("delivered").payload, "on the second");
    });
    let deadline = Instant::now() + WAIT;
    loop {
        if let Some(status) = first.try_wait() {
            assert_eq!(status.code(), Some(0));
            break;
        }
        assert!(Instant::now() < deadline, "the first edge did not exit");
        std::thread::sleep(Duration::from_millis(20));
    }
}
