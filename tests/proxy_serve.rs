//! `edge run` serving `proxy` blocks: a real edge process, real upstream
//! servers inside the test (recording what they received), and real
//! clients (hyper, raw TCP, tokio-tungstenite). Each test checks what the
//! upstream got and what the client got.

mod common;
#[path = "common/proxy.rs"]
mod proxy_common;

use proxy_common::*;
use std::time::Duration;

const QUIET: Duration = Duration::from_millis(500);

/// A proxy block on PORT whose routes are `routes` (with `UP` replaced by
/// the upstream's URL).
fn config(up: &Upstream, block: &str) -> String {
    format!(
        "proxy {{\n  listen: \"127.0.0.1:PORT\"\n{}\n}}\n",
        block.replace("UP", &up.url())
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn routes_by_host_and_path_and_answers_404_otherwise() {
    let api = Upstream::start(|_| text(200, "api")).await;
    let web = Upstream::start(|_| text(200, "web")).await;
    let edge = Edge::start(
        &r#"proxy {
  listen: "127.0.0.1:PORT"
  routes = [
    { match { host: "api.test", path: "/v1" }, target: "API" }
    { match { host: "*.web.test" }, target: "WEB" }
  ]
}"#
        .replace("API", &api.url())
        .replace("WEB", &web.url()),
    );
    let got = get(&edge.url("/v1/users?x=1"), &[("host", "API.test:80")]).await;
    assert_eq!((got.status, got.body.as_str()), (200, "api"));
    assert_eq!(api.last().await.uri, "/v1/users?x=1");
    let got = get(&edge.url("/anything"), &[("host", "a.b.web.test")]).await;
    assert_eq!((got.status, got.body.as_str()), (200, "web"));
    // Segment boundary: /v1x is not /v1; the bare domain is not *.web.test.
    assert_eq!(
        get(&edge.url("/v1x"), &[("host", "api.test")]).await.status,
        404
    );
    assert_eq!(
        get(&edge.url("/"), &[("host", "web.test")]).await.status,
        404
    );
    assert_eq!(api.seen().len(), 1);
    assert_eq!(web.seen().len(), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn target_path_prepend_ignore_and_strip_prefix() {
    let up = Upstream::ok().await;
    let edge = Edge::start(&config(
        &up,
        r#"  routes = [
    { match { path: "/a" }, target: "UP/base" }
    { match { path: "/b" }, target: "UP/base", prepend_path: false }
    { match { path: "/c" }, target: "UP/fixed/path", ignore_path: true }
    { match { path: "/d" }, target: "UP/base/", strip_prefix: true }
    { match { path: "/e" }, target: "UP/", strip_prefix: true }
  ]"#,
    ));
    let cases = [
        ("/a/x//y?q=1//2", "/base/a/x/y?q=1//2"),
        ("/b/x?q", "/b/x?q"),
        ("/c/anything?q=1", "/fixed/path"),
        ("/d/x?k=v", "/base/x?k=v"),
        ("/d", "/base/"),
        ("/e?k", "/?k"),
    ];
    for (i, (sent, expected)) in cases.iter().enumerate() {
        let got = get(&edge.url(sent), &[]).await;
        assert_eq!(got.status, 200, "{sent}");
        assert_eq!(up.nth(i + 1).await.uri, *expected, "{sent}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn xfwd_appends_and_keeps_the_first_forwarded_host() {
    let up = Upstream::ok().await;
    let edge = Edge::start(&config(&up, "  xfwd: true\n  target: \"UP\""));
    get(
        &edge.url("/"),
        &[
            ("host", "front.test:8443"),
            ("x-forwarded-for", "10.0.0.1"),
            ("x-forwarded-proto", "https"),
            ("x-forwarded-host", "first.test"),
        ],
    )
    .await;
    let seen = up.nth(1).await;
    assert_eq!(seen.header("x-forwarded-for"), "10.0.0.1,127.0.0.1");
    assert_eq!(seen.header("x-forwarded-port"), "8443");
    assert_eq!(seen.header("x-forwarded-proto"), "https,http");
    assert_eq!(seen.header("x-forwarded-host"), "first.test");
    assert_eq!(seen.header("host"), "front.test:8443");
    get(&edge.url("/"), &[("host", "plain.test")]).await;
    let seen = up.nth(2).await;
    assert_eq!(seen.header("x-forwarded-for"), "127.0.0.1");
    assert_eq!(seen.header("x-forwarded-port"), "80");
    assert_eq!(seen.header("x-forwarded-proto"), "http");
    assert_eq!(seen.header("x-forwarded-host"), "plain.test");
}

#[tokio::test(flavor = "multi_thread")]
async fn without_xfwd_no_forwarding_headers_are_added() {
    let up = Upstream::ok().await;
    let edge = Edge::start(&config(&up, "  target: \"UP\""));
    get(&edge.url("/"), &[]).await;
    let seen = up.nth(1).await;
    assert!(seen
        .headers
        .keys()
        .all(|k| !k.as_str().starts_with("x-forwarded")));
}

#[tokio::test(flavor = "multi_thread")]
async fn change_origin_headers_and_auth() {
    let up = Upstream::ok().await;
    let edge = Edge::start(&config(
        &up,
        r#"  target: "UP"
  change_origin: true
  headers { X-Extra: "one", User-Agent: "edge-test" }
  auth: "user:pa:ss""#,
    ));
    get(
        &edge.url("/"),
        &[("host", "front.test"), ("user-agent", "client")],
    )
    .await;
    let seen = up.nth(1).await;
    assert_eq!(seen.header("host"), up.addr.to_string());
    assert_eq!(seen.header("x-extra"), "one");
    assert_eq!(seen.header("user-agent"), "edge-test");
    // base64("user:pa:ss")
    assert_eq!(seen.header("authorization"), "Basic dXNlcjpwYTpzcw==");
    // A client's own Authorization wins over `auth`.
    get(&edge.url("/"), &[("authorization", "Bearer t")]).await;
    assert_eq!(up.nth(2).await.header("authorization"), "Bearer t");
}

#[tokio::test(flavor = "multi_thread")]
async fn declared_request_and_response_header_edits() {
    let up =
        Upstream::start(|_| with_headers(200, &[("x-internal", "secret"), ("x-keep", "1")], "ok"))
            .await;
    let edge = Edge::start(&config(
        &up,
        r#"  target: "UP"
  request_headers { set { X-Added: "yes" }, remove: ["x-drop"] }
  response_headers { set { X-Served-By: "edge" }, remove: ["x-internal"] }"#,
    ));
    let got = get(&edge.url("/"), &[("x-drop", "1"), ("x-other", "2")]).await;
    let seen = up.nth(1).await;
    assert_eq!(seen.header("x-added"), "yes");
    assert_eq!(seen.header("x-drop"), "");
    assert_eq!(seen.header("x-other"), "2");
    assert_eq!(got.header("x-served-by"), "edge");
    assert_eq!(got.header("x-internal"), "");
    assert_eq!(got.header("x-keep"), "1");
}

#[tokio::test(flavor = "multi_thread")]
async fn location_rewrites_only_on_listed_codes_and_the_targets_host() {
    let up = Upstream::start(|s| {
        let (status, location) = match s.uri.as_str() {
            "/301" => (301, "SELF/next?a=1"),
            "/303" => (303, "SELF/next"),
            "/201" => (201, "SELF/created"),
            "/other" => (302, "http://elsewhere.test/x"),
            _ => (200, "SELF/plain"),
        };
        let addr = s
            .headers
            .get("x-self")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        with_headers(status, &[("location", &location.replace("SELF", addr))], "")
    })
    .await;
    let host_rw = Edge::start(&config(
        &up,
        r#"  target: "UP"
  headers { X-Self: "UP" }
  host_rewrite: "public.test:8443"
  protocol_rewrite: https"#,
    ));
    let got = get(&host_rw.url("/301"), &[]).await;
    assert_eq!(got.status, 301);
    assert_eq!(got.header("location"), "https://public.test:8443/next?a=1");
    let got = get(&host_rw.url("/201"), &[]).await;
    assert_eq!(got.header("location"), "https://public.test:8443/created");
    let got = get(&host_rw.url("/303"), &[]).await;
    assert_eq!(got.header("location"), format!("{}/next", up.url()));
    let got = get(&host_rw.url("/other"), &[]).await;
    assert_eq!(got.header("location"), "http://elsewhere.test/x");
    let got = get(&host_rw.url("/200"), &[]).await;
    assert_eq!(got.header("location"), format!("{}/plain", up.url()));

    let auto = Edge::start(&config(
        &up,
        "  target: \"UP\"\n  headers { X-Self: \"UP\" }\n  auto_rewrite: true",
    ));
    let got = get(&auto.url("/301"), &[("host", "front.test:81")]).await;
    assert_eq!(got.header("location"), "http://front.test:81/next?a=1");
}

#[tokio::test(flavor = "multi_thread")]
async fn cookie_domain_and_path_rewrites() {
    let up = Upstream::start(|_| {
        with_headers(
            200,
            &[
                (
                    "set-cookie",
                    "a=1; Domain=up.internal; Path=/api/v1; HttpOnly",
                ),
                ("set-cookie", "b=2; domain=other.internal; path=/keep"),
            ],
            "",
        )
    })
    .await;
    let edge = Edge::start(&config(
        &up,
        r#"  target: "UP"
  cookie_domain_rewrite: { "up.internal": "public.test", "*": "" }
  cookie_path_rewrite: { "/api/v1": "/" }"#,
    ));
    let got = get(&edge.url("/"), &[]).await;
    assert_eq!(
        got.header("set-cookie"),
        "a=1; Domain=public.test; Path=/; HttpOnly|b=2; path=/keep"
    );
    // response_headers (node's proxyRes) runs before the rewrites.
    let edited = Edge::start(&config(
        &up,
        r#"  target: "UP"
  cookie_path_rewrite: { "/set": "/rewritten" }
  response_headers { set { Set-Cookie: "z=9; Path=/set" } }"#,
    ));
    let got = get(&edited.url("/"), &[]).await;
    assert_eq!(got.header("set-cookie"), "z=9; Path=/rewritten");
    let plain = Edge::start(&config(
        &up,
        "  target: \"UP\"\n  cookie_domain_rewrite: \"x.test\"",
    ));
    let got = get(&plain.url("/"), &[]).await;
    assert_eq!(
        got.header("set-cookie"),
        "a=1; Domain=x.test; Path=/api/v1; HttpOnly|b=2; domain=x.test; path=/keep"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn hop_by_hop_headers_dropped_both_ways_reason_phrase_kept() {
    let (addr, heads) = raw_upstream(
        b"HTTP/1.1 200 Fine Thanks\r\nConnection: X-Up-Hop\r\nX-Up-Hop: 1\r\nKeep-Alive: timeout=5\r\nX-Mixed-Case: yes\r\nContent-Length: 2\r\n\r\nok",
    )
    .await;
    let cfg = |extra: &str| {
        format!("proxy {{\n listen: \"127.0.0.1:PORT\"\n target: \"http://{addr}\"\n {extra}\n}}")
    };
    let edge = Edge::start(&cfg(""));
    let res = raw(
        edge.addr(),
        b"GET /h HTTP/1.1\r\nHost: a.test\r\nX-Client-Case: 1\r\nConnection: close, X-Secret\r\nX-Secret: s\r\nKeep-Alive: 1\r\nTE: trailers\r\nUpgrade: h2c\r\nProxy-Connection: x\r\n\r\n",
        QUIET,
    )
    .await;
    let head = heads.lock().expect("heads")[0].clone();
    assert!(head.starts_with("GET /h HTTP/1.1\r\n"), "{head}");
    assert!(
        head.contains("X-Client-Case: 1\r\n"),
        "client case kept: {head}"
    );
    let lower = head.to_ascii_lowercase();
    for gone in [
        "x-secret",
        "keep-alive",
        "\r\nte:",
        "upgrade",
        "proxy-connection",
    ] {
        assert!(!lower.contains(gone), "{gone} forwarded: {head}");
    }
    assert!(res.starts_with("HTTP/1.1 200 Fine Thanks\r\n"), "{res}");
    let res_lower = res.to_ascii_lowercase();
    assert!(!res_lower.contains("x-up-hop"), "{res}");
    assert!(!res_lower.contains("keep-alive: timeout"), "{res}");
    assert!(
        res.contains("x-mixed-case: yes"),
        "lowercased by default: {res}"
    );
    assert!(res_lower.contains("connection: close"), "{res}");
    assert!(res.ends_with("ok"), "{res}");

    let keep = Edge::start(&cfg("preserve_header_key_case: true"));
    let res = raw(
        keep.addr(),
        b"GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
        QUIET,
    )
    .await;
    assert!(res.contains("X-Mixed-Case: yes"), "{res}");
}

#[tokio::test(flavor = "multi_thread")]
async fn http10_client_gets_an_unchunked_body_and_close() {
    // A chunked upstream answer, from a raw server.
    let (addr, _) = raw_upstream(
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n",
    )
    .await;
    let edge = Edge::start(&format!(
        "proxy {{ listen: \"127.0.0.1:PORT\", target: \"http://{addr}\" }}"
    ));
    let res = raw(edge.addr(), b"GET / HTTP/1.0\r\nHost: a\r\n\r\n", QUIET).await;
    let lower = res.to_ascii_lowercase();
    assert!(res.starts_with("HTTP/1.0 200 OK\r\n"), "{res}");
    assert!(!lower.contains("transfer-encoding"), "{res}");
    assert!(lower.contains("connection: close"), "{res}");
    assert!(res.ends_with("\r\n\r\nhello world"), "{res}");
    // HTTP/1.1 keeps chunked framing and keep-alive.
    let res = raw(edge.addr(), b"GET / HTTP/1.1\r\nHost: a\r\n\r\n", QUIET).await;
    let lower = res.to_ascii_lowercase();
    assert!(lower.contains("transfer-encoding: chunked"), "{res}");
    assert!(lower.contains("connection: keep-alive"), "{res}");
}

#[tokio::test(flavor = "multi_thread")]
async fn bodiless_delete_and_options_get_content_length_zero_chunked_delete_is_kept() {
    let up = Upstream::ok().await;
    let edge = Edge::start(&config(&up, "  target: \"UP\""));
    for method in ["DELETE", "OPTIONS"] {
        let res = raw(
            edge.addr(),
            format!("{method} /x HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n").as_bytes(),
            QUIET,
        )
        .await;
        assert!(res.starts_with("HTTP/1.1 200"), "{res}");
        let seen = up.last().await;
        assert_eq!(seen.method, method);
        assert_eq!(seen.header("content-length"), "0");
    }
    let res = raw(
        edge.addr(),
        b"DELETE /x HTTP/1.1\r\nHost: a\r\nConnection: close\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nbody\r\n0\r\n\r\n",
        QUIET,
    )
    .await;
    assert!(res.starts_with("HTTP/1.1 200"), "{res}");
    let seen = up.nth(3).await;
    assert_eq!(seen.body, b"body");
    // GET without a body gets no content-length added.
    get(&edge.url("/g"), &[]).await;
    assert_eq!(up.nth(4).await.header("content-length"), "");
}

#[tokio::test(flavor = "multi_thread")]
async fn connect_failure_is_502_or_the_error_page() {
    let dead = free_port();
    let edge = Edge::start(&format!(
        r#"proxy {{
  listen: "127.0.0.1:PORT"
  routes = [
    {{ match {{ path: "/plain" }}, target: "http://127.0.0.1:{dead}" }}
    {{ match {{ path: "/page" }}, target: "http://127.0.0.1:{dead}",
      error_page {{ status: 503, content_type: "application/json", body: "{{\"down\":true}}" }} }}
  ]
}}"#
    ));
    let got = get(&edge.url("/plain"), &[]).await;
    assert_eq!(got.status, 502);
    let got = get(&edge.url("/page"), &[]).await;
    assert_eq!(got.status, 503);
    assert_eq!(got.header("content-type"), "application/json");
    assert_eq!(got.body, r#"{"down":true}"#);
    edge.wait_log("cannot connect to");
}

#[tokio::test(flavor = "multi_thread")]
async fn proxy_timeout_is_504() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    // Accepts and never answers.
    let hold = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((s, _)) = listener.accept().await {
            held.push(s);
        }
    });
    let edge = Edge::start(&format!(
        "proxy {{ listen: \"127.0.0.1:PORT\", target: \"http://{addr}\", proxy_timeout: \"300ms\" }}"
    ));
    let started = std::time::Instant::now();
    let got = get(&edge.url("/slow"), &[]).await;
    assert_eq!(got.status, 504);
    assert!(started.elapsed() >= Duration::from_millis(300));
    assert!(started.elapsed() < Duration::from_secs(5));
    hold.abort();
}

#[tokio::test(flavor = "multi_thread")]
async fn upstream_closing_early_is_502() {
    let (addr, _) = raw_upstream(b"").await;
    let (bad, _) = raw_upstream(b"NOT HTTP AT ALL\r\n\r\n").await;
    let edge = Edge::start(&format!(
        r#"proxy {{ listen: "127.0.0.1:PORT", routes = [
  {{ match {{ path: "/a" }}, target: "http://{addr}" }}
  {{ match {{ path: "/b" }}, target: "http://{bad}" }} ] }}"#
    ));
    assert_eq!(get(&edge.url("/a"), &[]).await.status, 502);
    assert_eq!(get(&edge.url("/b"), &[]).await.status, 502);
}

#[tokio::test(flavor = "multi_thread")]
async fn timeout_closes_an_idle_client_connection() {
    let up = Upstream::ok().await;
    let edge = Edge::start(&config(&up, "  target: \"UP\"\n  timeout: \"400ms\""));
    let mut s = tokio::net::TcpStream::connect(edge.addr())
        .await
        .expect("connect");
    use tokio::io::AsyncWriteExt;
    s.write_all(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n")
        .await
        .expect("write");
    let started = std::time::Instant::now();
    let res = read_until_quiet(&mut s, Duration::from_secs(5)).await;
    assert!(res.starts_with("HTTP/1.1 200"), "{res}");
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_millis(300),
        "closed too early: {waited:?}"
    );
    assert!(waited < Duration::from_secs(4), "not closed: {waited:?}");
}

/// CPU time (user + system) the process has used so far, from
/// /proc/PID/stat, in clock ticks.
fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("stat");
    // Fields after the command name (which may hold spaces) in parentheses.
    let after = &stat[stat.rfind(')').expect("comm") + 2..];
    let fields: Vec<&str> = after.split(' ').collect();
    let field = |i: usize| fields[i].parse::<u64>().expect("ticks");
    // utime and stime are fields 14 and 15, 12 and 13 after the name.
    field(11) + field(12)
}

/// An idle keep-alive connection costs no CPU: a regression once made a
/// connection that keeps its buffers (few open) poll itself in a loop
/// while idle, a whole core per listener.
#[tokio::test(flavor = "multi_thread")]
async fn an_idle_keep_alive_connection_uses_no_cpu() {
    let up = Upstream::ok().await;
    let edge = Edge::start(&config(&up, "  target: \"UP\""));
    let mut s = tokio::net::TcpStream::connect(edge.addr())
        .await
        .expect("connect");
    answered(&mut s, b"GET / HTTP/1.1\r\nHost: a\r\n\r\n", "ok").await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let before = cpu_ticks(edge.pid());
    tokio::time::sleep(Duration::from_secs(2)).await;
    let used = cpu_ticks(edge.pid()) - before;
    // 2 s at 100 ticks/s: a busy loop shows ~200; idle is 0 or 1.
    assert!(used <= 20, "{used} ticks of CPU in 2 s idle");
    // Still served.
    answered(&mut s, b"GET / HTTP/1.1\r\nHost: a\r\n\r\n", "ok").await;
}

/// A client gets 30 s (hyper's and about nginx's `client_header_timeout`)
/// for a whole request head, counted from the connection's start or the
/// previous answer; then the connection closes without an answer. One
/// whose request is being served is not cut.
#[tokio::test(flavor = "multi_thread")]
async fn an_unfinished_request_head_is_closed_after_30s() {
    use tokio::io::AsyncWriteExt;
    let up = Upstream::ok().await;
    let edge = Edge::start(&config(&up, "  target: \"UP\""));
    let mut partial = tokio::net::TcpStream::connect(edge.addr())
        .await
        .expect("connect");
    let mut idle = tokio::net::TcpStream::connect(edge.addr())
        .await
        .expect("connect");
    answered(&mut idle, b"GET / HTTP/1.1\r\nHost: a\r\n\r\n", "ok").await;
    let started = std::time::Instant::now();
    partial
        .write_all(b"GET / HTTP/1.1\r\nHost: a\r\n")
        .await
        .expect("write");
    let got = read_until_quiet(&mut partial, Duration::from_secs(40)).await;
    let waited = started.elapsed();
    assert_eq!(got, "", "no answer to half a head");
    assert!(
        waited >= Duration::from_secs(29),
        "closed early: {waited:?}"
    );
    assert!(waited < Duration::from_secs(36), "not closed: {waited:?}");
    // The idle one waited as long since its answer: closed too.
    let mut buf = [0u8; 16];
    let n = tokio::time::timeout(
        Duration::from_secs(5),
        tokio::io::AsyncReadExt::read(&mut idle, &mut buf),
    )
    .await
    .expect("idle connection closed")
    .unwrap_or(0);
    assert_eq!(n, 0, "idle connection closed");
    // Others are served.
    assert_eq!(get(&edge.url("/"), &[]).await.status, 200);
}

#[tokio::test(flavor = "multi_thread")]
async fn access_log_line_per_request() {
    let up = Upstream::start(|_| text(201, "12345")).await;
    let edge = Edge::start(&config(&up, "  target: \"UP\""));
    get(&edge.url("/logged?q=1"), &[]).await;
    let log = edge.wait_log("\"GET /logged?q=1\"");
    let line = log
        .lines()
        .find(|l| l.contains("/logged?q=1"))
        .expect("line");
    assert!(line.contains(" 201 "), "{line}");
    assert!(line.contains(&format!("upstream={}", up.url())), "{line}");
    assert!(line.contains("bytes=5"), "{line}");
    assert!(line.contains("ms"), "{line}");
    get(&edge.url("/nothing-here"), &[("host", "x")]).await;
    let _ = edge.wait_log("\"GET /logged?q=1\"");
}

#[tokio::test(flavor = "multi_thread")]
async fn unrouted_requests_are_logged_as_404_without_upstream() {
    let up = Upstream::ok().await;
    let edge = Edge::start(&config(
        &up,
        "  routes = [ { match { path: \"/only\" }, target: \"UP\" } ]",
    ));
    assert_eq!(get(&edge.url("/elsewhere"), &[]).await.status, 404);
    let log = edge.wait_log("\"GET /elsewhere\"");
    let line = log
        .lines()
        .find(|l| l.contains("/elsewhere"))
        .expect("line");
    assert!(line.contains(" 404 upstream=- bytes=0 "), "{line}");
    assert!(up.seen().is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn random_balance_uses_every_target() {
    let a = Upstream::start(|_| text(200, "a")).await;
    let b = Upstream::start(|_| text(200, "b")).await;
    let edge = Edge::start(&format!(
        "proxy {{ listen: \"127.0.0.1:PORT\", targets: [\"{}\", \"{}\"], balance: random }}",
        a.url(),
        b.url()
    ));
    for _ in 0..30 {
        assert_eq!(get(&edge.url("/"), &[]).await.status, 200);
    }
    assert!(!a.seen().is_empty() && !b.seen().is_empty());
    assert_eq!(a.seen().len() + b.seen().len(), 30);
}

#[tokio::test(flavor = "multi_thread")]
async fn upstream_connections_are_pooled_unless_keep_alive_is_off() {
    let up = Upstream::ok().await;
    // One worker: each worker keeps its own idle upstream connections,
    // and each request here comes on a new client connection.
    let edge = Edge::start(&config(&up, "  workers: 1\n  target: \"UP\""));
    for _ in 0..5 {
        assert_eq!(get(&edge.url("/"), &[]).await.status, 200);
        // Lets the pool take the connection back before the next request.
        tokio::time::sleep(Duration::from_millis(30)).await;
    }
    assert_eq!(up.conns.load(std::sync::atomic::Ordering::SeqCst), 1);
    assert_eq!(up.nth(5).await.header("connection"), "");

    let fresh = Upstream::ok().await;
    let edge = Edge::start(&config(&fresh, "  target: \"UP\"\n  agent: false"));
    for _ in 0..3 {
        assert_eq!(get(&edge.url("/"), &[]).await.status, 200);
    }
    assert_eq!(fresh.nth(3).await.header("connection"), "close");
    assert_eq!(fresh.conns.load(std::sync::atomic::Ordering::SeqCst), 3);
}

#[tokio::test(flavor = "multi_thread")]
async fn bodies_stream_both_ways() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    // The upstream reads the request body as it comes and answers with a
    // body sent in two parts, the second only after the client's go.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let (first_part_tx, first_part_rx) = tokio::sync::oneshot::channel::<String>();
    let (go_tx, go_rx) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(async move {
        let (mut s, _) = listener.accept().await.expect("accept");
        let mut buf = vec![0u8; 4096];
        let mut got = Vec::new();
        while !String::from_utf8_lossy(&got).contains("part-one") {
            let n = s.read(&mut buf).await.expect("read");
            assert!(n > 0);
            got.extend_from_slice(&buf[..n]);
        }
        let _ = first_part_tx.send(String::from_utf8_lossy(&got).into_owned());
        s.write_all(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n6\r\nfirst \r\n")
            .await
            .expect("write");
        let _ = go_rx.await;
        s.write_all(b"6\r\nsecond\r\n0\r\n\r\n")
            .await
            .expect("write");
    });
    let edge = Edge::start(&format!(
        "proxy {{ listen: \"127.0.0.1:PORT\", target: \"http://{addr}\" }}"
    ));
    let mut c = tokio::net::TcpStream::connect(edge.addr())
        .await
        .expect("connect");
    c.write_all(
        b"POST /up HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n8\r\npart-one\r\n",
    )
    .await
    .expect("write");
    // The upstream sees the first part before the request body is complete.
    let head = tokio::time::timeout(WAIT, first_part_rx)
        .await
        .expect("first part forwarded in time")
        .expect("upstream");
    assert!(head.starts_with("POST /up HTTP/1.1"), "{head}");
    // The client sees the first part of the answer before the upstream sends the rest.
    let mut seen = String::new();
    let mut buf = [0u8; 4096];
    while !seen.contains("first ") {
        let n = tokio::time::timeout(WAIT, c.read(&mut buf))
            .await
            .expect("first part in time")
            .expect("read");
        assert!(n > 0, "closed early: {seen}");
        seen.push_str(&String::from_utf8_lossy(&buf[..n]));
    }
    assert!(!seen.contains("second"));
    let _ = go_tx.send(());
    c.write_all(b"0\r\n\r\n").await.expect("end body");
    let rest = read_until_quiet(&mut c, QUIET).await;
    assert!(rest.contains("second"), "{rest}");
}

#[tokio::test(flavor = "multi_thread")]
async fn round_robin_spreads_and_a_dead_target_is_skipped_for_idempotent_requests() {
    let a = Upstream::start(|_| text(200, "a")).await;
    let b = Upstream::start(|_| text(200, "b")).await;
    let edge = Edge::start(&format!(
        "proxy {{ listen: \"127.0.0.1:PORT\", targets: [\"{}\", \"{}\"] }}",
        a.url(),
        b.url()
    ));
    let mut bodies = Vec::new();
    for _ in 0..4 {
        bodies.push(get(&edge.url("/"), &[]).await.body);
    }
    assert_eq!(bodies, ["a", "b", "a", "b"]);

    let dead = free_port();
    let live = Upstream::start(|_| text(200, "live")).await;
    let edge = Edge::start(&format!(
        "proxy {{ listen: \"127.0.0.1:PORT\", targets: [\"http://127.0.0.1:{dead}\", \"{}\"] }}",
        live.url()
    ));
    // GET is retried on the other target; the dead one is then out.
    for _ in 0..3 {
        let got = get(&edge.url("/"), &[]).await;
        assert_eq!((got.status, got.body.as_str()), (200, "live"));
    }
    edge.wait_log("out of the rotation");
    assert_eq!(live.seen().len(), 3);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_post_is_not_retried_on_another_target() {
    let dead = free_port();
    let live = Upstream::ok().await;
    let edge = Edge::start(&format!(
        "proxy {{ listen: \"127.0.0.1:PORT\", targets: [\"http://127.0.0.1:{dead}\", \"{}\"] }}",
        live.url()
    ));
    // Round robin starts at the dead target.
    let got = send("POST", &edge.url("/"), &[], "payload").await;
    assert_eq!(got.status, 502);
    assert!(live.seen().is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn ip_hash_sticks_and_least_conn_avoids_the_busy_target() {
    let a = Upstream::start(|_| text(200, "a")).await;
    let b = Upstream::start(|_| text(200, "b")).await;
    let edge = Edge::start(&format!(
        "proxy {{ listen: \"127.0.0.1:PORT\", targets: [\"{}\", \"{}\"], balance: ip_hash }}",
        a.url(),
        b.url()
    ));
    let first = get(&edge.url("/"), &[]).await.body;
    for _ in 0..4 {
        assert_eq!(get(&edge.url("/"), &[]).await.body, first);
    }

    // least_conn: one target holds a request open; the rest go to the other.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let slow_addr = listener.local_addr().expect("addr");
    let accepted = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = std::sync::Arc::clone(&accepted);
    let slow = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((s, _)) = listener.accept().await {
            counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            held.push(s);
        }
    });
    let fast = Upstream::start(|_| text(200, "fast")).await;
    let edge = Edge::start(&format!(
        "proxy {{ listen: \"127.0.0.1:PORT\", targets: [\"http://{slow_addr}\", \"{}\"], balance: least_conn }}",
        fast.url()
    ));
    let url = edge.url("/");
    let mut hanging = Vec::new();
    // Two requests in flight; at least one lands on the slow target and stays.
    for _ in 0..2 {
        let url = url.clone();
        hanging.push(tokio::spawn(async move { get(&url, &[]).await }));
    }
    // Both requests have landed: one hangs on the slow target, the other
    // (least connections) went to the fast one.
    let deadline = std::time::Instant::now() + WAIT;
    while accepted.load(std::sync::atomic::Ordering::SeqCst) + fast.seen().len() < 2 {
        assert!(
            std::time::Instant::now() < deadline,
            "requests did not land"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(accepted.load(std::sync::atomic::Ordering::SeqCst) >= 1);
    let before = fast.seen().len();
    for _ in 0..4 {
        assert_eq!(get(&url, &[]).await.body, "fast");
    }
    assert_eq!(fast.seen().len(), before + 4);
    for h in hanging {
        h.abort();
    }
    slow.abort();
}

#[tokio::test(flavor = "multi_thread")]
async fn health_checks_take_a_target_out_and_bring_it_back() {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;
    let sick = Arc::new(AtomicBool::new(false));
    let s = Arc::clone(&sick);
    let a = Upstream::start(move |req| {
        if req.uri == "/healthz" && s.load(Ordering::SeqCst) {
            text(500, "sick")
        } else {
            text(200, "a")
        }
    })
    .await;
    let b = Upstream::start(|_| text(200, "b")).await;
    let edge = Edge::start(&format!(
        r#"proxy {{ listen: "127.0.0.1:PORT", targets: ["{}", "{}"],
  health_check {{ path: "/healthz", interval: "100ms", timeout: "1s", unhealthy_threshold: 2, healthy_threshold: 2 }} }}"#,
        a.url(),
        b.url()
    ));
    sick.store(true, Ordering::SeqCst);
    edge.wait_log("unhealthy");
    for _ in 0..4 {
        assert_eq!(get(&edge.url("/work"), &[]).await.body, "b");
    }
    sick.store(false, Ordering::SeqCst);
    edge.wait_log("healthy again");
    let bodies: Vec<String> = futures::future::join_all((0..4).map(|_| {
        let url = edge.url("/work");
        async move { get(&url, &[]).await.body }
    }))
    .await;
    assert!(bodies.iter().any(|b| b == "a"), "{bodies:?}");
    assert!(a.seen().iter().any(|s| s.uri == "/healthz"));
}

#[tokio::test(flavor = "multi_thread")]
async fn every_target_unhealthy_is_502() {
    let a = Upstream::start(|_| text(500, "down")).await;
    let edge = Edge::start(&format!(
        r#"proxy {{ listen: "127.0.0.1:PORT", target: "{}",
  health_check {{ interval: "100ms", unhealthy_threshold: 1 }} }}"#,
        a.url()
    ));
    edge.wait_log("unhealthy");
    assert_eq!(get(&edge.url("/"), &[]).await.status, 502);
}

#[tokio::test(flavor = "multi_thread")]
async fn forward_gets_a_copy_and_forward_only_answers_200() {
    let main = Upstream::start(|_| text(200, "main")).await;
    let mirror = Upstream::start(|_| text(500, "ignored")).await;
    let edge = Edge::start(&format!(
        r#"proxy {{ listen: "127.0.0.1:PORT", routes = [
  {{ match {{ path: "/both" }}, target: "{}", forward: "{}/copy" }}
  {{ match {{ path: "/only" }}, forward: "{}" }} ] }}"#,
        main.url(),
        mirror.url(),
        mirror.url()
    ));
    let got = send("POST", &edge.url("/both/x"), &[], "hello").await;
    assert_eq!((got.status, got.body.as_str()), (200, "main"));
    assert_eq!(main.nth(1).await.body, b"hello");
    let copy = mirror.nth(1).await;
    assert_eq!(copy.uri, "/copy/both/x");
    assert_eq!(copy.body, b"hello");
    let got = send("POST", &edge.url("/only"), &[], "solo").await;
    assert_eq!((got.status, got.body.as_str()), (200, ""));
    assert_eq!(mirror.nth(2).await.body, b"solo");
}

#[tokio::test(flavor = "multi_thread")]
async fn to_proxy_sends_the_absolute_url() {
    let (addr, heads) = raw_upstream(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n").await;
    let edge = Edge::start(&format!(
        "proxy {{ listen: \"127.0.0.1:PORT\", target: \"http://{addr}\", to_proxy: true }}"
    ));
    let res = raw(
        edge.addr(),
        b"GET http://example.test/a?b=1 HTTP/1.1\r\nHost: example.test\r\nConnection: close\r\n\r\n",
        QUIET,
    )
    .await;
    assert!(res.starts_with("HTTP/1.1 200"), "{res}");
    let res = raw(
        edge.addr(),
        b"GET /rel HTTP/1.1\r\nHost: origin.test\r\nConnection: close\r\n\r\n",
        QUIET,
    )
    .await;
    assert!(res.starts_with("HTTP/1.1 200"), "{res}");
    let heads = heads.lock().expect("heads").clone();
    assert!(
        heads[0].starts_with("GET http://example.test/a?b=1 HTTP/1.1\r\n"),
        "{heads:?}"
    );
    assert!(
        heads[1].starts_with("GET http://origin.test/rel HTTP/1.1\r\n"),
        "{heads:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn local_address_is_the_upstream_connections_source() {
    let up = Upstream::ok().await;
    let edge = Edge::start(&config(
        &up,
        "  target: \"UP\"\n  local_address: \"127.0.0.2\"",
    ));
    assert_eq!(get(&edge.url("/"), &[]).await.status, 200);
    assert_eq!(up.nth(1).await.peer.ip().to_string(), "127.0.0.2");
}

#[tokio::test(flavor = "multi_thread")]
async fn malformed_oversize_and_smuggling_requests_are_refused() {
    let up = Upstream::ok().await;
    let edge = Edge::start(&config(&up, "  target: \"UP\""));
    let res = raw(edge.addr(), b"THIS IS NOT HTTP\r\n\r\n", QUIET).await;
    assert!(res.starts_with("HTTP/1.1 400"), "{res}");
    let big = format!(
        "GET / HTTP/1.1\r\nHost: a\r\nX-Big: {}\r\n\r\n",
        "a".repeat(100 * 1024)
    );
    let res = raw(edge.addr(), big.as_bytes(), QUIET).await;
    assert!(res.starts_with("HTTP/1.1 431"), "{res}");
    let many: String = (0..200).map(|i| format!("X-H{i}: v\r\n")).collect();
    let res = raw(
        edge.addr(),
        format!("GET / HTTP/1.1\r\nHost: a\r\n{many}\r\n").as_bytes(),
        QUIET,
    )
    .await;
    assert!(res.starts_with("HTTP/1.1 431"), "{res}");
    let res = raw(
        edge.addr(),
        b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd",
        QUIET,
    )
    .await;
    assert!(res.starts_with("HTTP/1.1 400"), "{res}");
    // CL + TE, request smuggling's shape: refused with 400 and the
    // connection closed, as node and nginx do; nothing reaches the
    // upstream, neither it nor the request smuggled after its body.
    let res = raw(
        edge.addr(),
        b"POST /clte HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: a\r\n\r\n",
        QUIET,
    )
    .await;
    assert_eq!(res.matches("HTTP/1.1 ").count(), 1, "{res}");
    assert!(res.starts_with("HTTP/1.1 400"), "{res}");
    assert!(
        res.to_ascii_lowercase().contains("connection: close"),
        "{res}"
    );
    assert!(
        up.seen()
            .iter()
            .all(|s| s.uri != "/clte" && s.uri != "/smuggled"),
        "{:?}",
        up.seen()
    );
    // The same after a well-framed request on the same connection: that
    // one is answered, the smuggling one refused.
    let res = raw(
        edge.addr(),
        b"POST /fine HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\n\r\nokPOST /clte2 HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nContent-Length: 4\r\n\r\n0\r\n\r\n",
        QUIET,
    )
    .await;
    assert!(res.starts_with("HTTP/1.1 200"), "{res}");
    assert_eq!(res.matches("HTTP/1.1 400").count(), 1, "{res}");
    assert!(up.seen().iter().any(|s| s.uri == "/fine"));
    assert!(up.seen().iter().all(|s| s.uri != "/clte2"));
    // HTTP/1.1 needs exactly one Host (RFC 9112 3.2); HTTP/1.0 may omit it.
    // As nginx and node do after a 400, the connection closes: a request
    // pipelined behind it is not served.
    let res = raw(
        edge.addr(),
        b"GET /nohost HTTP/1.1\r\n\r\nGET /behind HTTP/1.1\r\nHost: a\r\n\r\n",
        QUIET,
    )
    .await;
    assert!(res.starts_with("HTTP/1.1 400"), "{res}");
    assert!(res.contains("connection: close"), "{res}");
    assert_eq!(res.matches("HTTP/1.1").count(), 1, "{res}");
    let res = raw(
        edge.addr(),
        b"GET /twohosts HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
        QUIET,
    )
    .await;
    assert!(res.starts_with("HTTP/1.1 400"), "{res}");
    let res = raw(edge.addr(), b"GET /old HTTP/1.0\r\n\r\n", QUIET).await;
    assert!(res.starts_with("HTTP/1.0 200"), "{res}");
    assert!(up
        .seen()
        .iter()
        .all(|s| s.uri != "/nohost" && s.uri != "/twohosts" && s.uri != "/behind"));
    let res = raw(
        edge.addr(),
        b"CONNECT example.test:443 HTTP/1.1\r\nHost: example.test:443\r\n\r\n",
        QUIET,
    )
    .await;
    assert!(res.starts_with("HTTP/1.1 405"), "{res}");
    // Assorted garbage: every answer is a 4xx or a closed connection.
    // A broken chunk aborts the body sent upstream: the upstream never gets
    // a complete body (what it answers to the cut request is passed on).
    let _ = raw(
        edge.addr(),
        b"POST /badchunk HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\nzz\r\n",
        QUIET,
    )
    .await;
    if let Some(cut) = up.seen().into_iter().find(|s| s.uri == "/badchunk") {
        assert!(cut.body.is_empty(), "upstream got a body: {:?}", cut.body);
    }
    let garbage: [&[u8]; 8] = [
        b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: -1\r\n\r\n",
        b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 99999999999999999999999\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost a\r\n\r\n",
        b"GET /\0 HTTP/1.1\r\nHost: a\r\n\r\n",
        b"GET / HTTP/9.9\r\nHost: a\r\n\r\n",
        b"\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03",
        b"GET / HTTP/1.1\r\nHost: a\r\nX: \x7f\x01\r\n\r\n",
        b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked, identity\r\n\r\n0\r\n\r\n",
    ];
    for input in garbage {
        let res = raw(edge.addr(), input, QUIET).await;
        assert!(
            res.is_empty() || res.starts_with("HTTP/1.1 4") || res.starts_with("HTTP/1.0 4"),
            "{input:?} -> {res}"
        );
    }
    // edge is still serving.
    assert_eq!(get(&edge.url("/"), &[]).await.status, 200);
}

#[tokio::test(flavor = "multi_thread")]
async fn events_subject_without_a_nats_listener_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("edge.conf");
    std::fs::write(
        &path,
        "proxy { listen: \"127.0.0.1:0\", target: \"http://127.0.0.1:1\", events_subject: \"proxy.events\" }",
    )
    .expect("write");
    let out = common::run_edge(&["run", path.to_str().expect("utf-8")], dir.path(), &[]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("events_subject without a NATS listener"),
        "{err}"
    );
}

mod websocket {
    use super::*;
    use futures::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::Message;

    #[tokio::test(flavor = "multi_thread")]
    async fn upgrade_is_proxied_with_xfwd_and_messages_flow_both_ways() {
        let (addr, seen) = ws_echo_server().await;
        let edge = Edge::start(&format!(
            "proxy {{ listen: \"127.0.0.1:PORT\", target: \"ws://{addr}/base\", ws: true, xfwd: true }}"
        ));
        let (mut ws, res) = ws_client(&edge, "/chat?room=1").await;
        assert_eq!(res.status(), 101);
        ws.send(Message::Text("hello".into())).await.expect("send");
        let echoed = tokio::time::timeout(WAIT, ws.next())
            .await
            .expect("echo in time")
            .expect("message")
            .expect("ok");
        assert_eq!(echoed, Message::Text("hello".into()));
        ws.send(Message::Binary(vec![1u8, 2, 3].into()))
            .await
            .expect("send");
        let echoed = ws.next().await.expect("message").expect("ok");
        assert_eq!(echoed, Message::Binary(vec![1u8, 2, 3].into()));
        let headers = seen.lock().expect("seen")[0].clone();
        let h = |n: &str| {
            headers
                .get(n)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
                .to_owned()
        };
        assert_eq!(h("x-forwarded-proto"), "ws");
        assert_eq!(h("x-forwarded-for"), "127.0.0.1");
        assert_eq!(h("x-forwarded-host"), "", "not set on websockets (as node)");
        assert_eq!(h("upgrade").to_ascii_lowercase(), "websocket");
        ws.close(None).await.expect("close");
        // The close reaches the upstream, which closes; the client sees the end.
        let end =
            tokio::time::timeout(WAIT, async { while let Some(Ok(_)) = ws.next().await {} }).await;
        assert!(end.is_ok(), "connection not closed");
        edge.wait_log("websocket close");
        let log = edge.log();
        assert!(log.contains("websocket open"), "{log}");
    }

    async fn next_event(events: &mut async_nats::Subscriber) -> serde_json::Value {
        let msg = tokio::time::timeout(WAIT, events.next())
            .await
            .expect("event in time")
            .expect("subscription open");
        serde_json::from_slice(&msg.payload).expect("json")
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn open_and_close_are_published_on_the_events_subject() {
        let (addr, _) = ws_echo_server().await;
        let nats_port = free_port();
        let edge = Edge::start(&format!(
            "listen: \"127.0.0.1:{nats_port}\"
proxy {{ listen: \"127.0.0.1:PORT\", target: \"ws://{addr}\", ws: true, events_subject: \"proxy.events\" }}"
        ));
        let nats =
            tokio::time::timeout(WAIT, async_nats::connect(format!("127.0.0.1:{nats_port}")))
                .await
                .expect("nats in time")
                .expect("nats");
        let mut events = nats.subscribe("proxy.events").await.expect("subscribe");
        // async-nats's flush only writes the socket: a probe coming back
        // proves the server has the subscription before edge publishes.
        nats.publish("proxy.events", r#"{"event":"probe"}"#.into())
            .await
            .expect("probe");
        nats.flush().await.expect("flush");
        assert_eq!(next_event(&mut events).await["event"], "probe");
        let (mut ws, _) = ws_client(&edge, "/room?x=1").await;
        let open = next_event(&mut events).await;
        assert_eq!(open["event"], "open");
        assert_eq!(open["target"], format!("ws://{addr}"));
        assert_eq!(open["path"], "/room?x=1");
        assert!(open["client"]
            .as_str()
            .is_some_and(|c| c.starts_with("127.0.0.1:")));
        ws.send(Message::Text("hi".into())).await.expect("send");
        ws.next().await.expect("echo").expect("ok");
        ws.close(None).await.expect("close");
        while let Some(Ok(_)) = ws.next().await {}
        let close = next_event(&mut events).await;
        assert_eq!(close["event"], "close");
        assert!(close["sent"].as_u64().is_some_and(|n| n > 0), "{close}");
        assert!(close["received"].as_u64().is_some_and(|n| n > 0), "{close}");
    }

    /// Bytes that arrive in the same packet as an upgrade's head (the
    /// client's after its request, the upstream's after its 101) were read
    /// by edge's HTTP layer before the splice took the sockets over; they
    /// must still pass, first.
    #[tokio::test(flavor = "multi_thread")]
    async fn bytes_sent_with_the_upgrade_heads_pass_both_ways() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let up = listener.local_addr().expect("addr");
        let upstream = tokio::spawn(async move {
            let (mut tcp, _) = listener.accept().await.expect("accept");
            let mut got = Vec::new();
            let mut buf = [0u8; 4096];
            while !got.windows(4).any(|w| w == b"\r\n\r\n") {
                let n = tcp.read(&mut buf).await.expect("read head");
                assert!(n > 0, "closed before the upgrade head");
                got.extend_from_slice(&buf[..n]);
            }
            tcp.write_all(
                b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\
                  Connection: Upgrade\r\n\r\nupstream-first",
            )
            .await
            .expect("write 101");
            let mut after = Vec::new();
            while !String::from_utf8_lossy(&after).contains("client-first client-second") {
                let n = tcp.read(&mut buf).await.expect("read");
                assert!(n > 0, "closed before the client's bytes: {after:?}");
                after.extend_from_slice(&buf[..n]);
            }
            tcp.write_all(b" upstream-second").await.expect("write");
            String::from_utf8_lossy(&after).into_owned()
        });
        let edge = Edge::start(&format!(
            "proxy {{ listen: \"127.0.0.1:PORT\", target: \"ws://{up}\", ws: true }}"
        ));
        let mut client = tokio::net::TcpStream::connect(edge.addr())
            .await
            .expect("connect");
        client
            .write_all(
                b"GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
                  Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n\
                  client-first",
            )
            .await
            .expect("write upgrade");
        let head = read_until_end(&mut client, "upstream-first").await;
        assert!(head.starts_with("HTTP/1.1 101"), "{head}");
        client.write_all(b" client-second").await.expect("write");
        let rest = read_until_end(&mut client, "upstream-second").await;
        assert!(rest.ends_with(" upstream-second"), "{rest}");
        let at_upstream = tokio::time::timeout(WAIT, upstream)
            .await
            .expect("upstream in time")
            .expect("upstream task");
        assert_eq!(at_upstream, "client-first client-second");
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn timeout_does_not_apply_to_websockets() {
        let (addr, _) = ws_echo_server().await;
        let edge = Edge::start(&format!(
            "proxy {{ listen: \"127.0.0.1:PORT\", target: \"ws://{addr}\", ws: true, timeout: \"200ms\" }}"
        ));
        let (mut ws, _) = ws_client(&edge, "/").await;
        tokio::time::sleep(Duration::from_millis(700)).await;
        ws_echoes(&mut ws, "still here").await;
    }

    /// Lame duck (SIGUSR2) waits for a spliced WebSocket, as nginx's
    /// graceful shutdown does: it keeps flowing, and edge exits 0 once
    /// it closes.
    #[tokio::test(flavor = "multi_thread")]
    async fn lame_duck_waits_for_an_open_websocket() {
        let (addr, _) = ws_echo_server().await;
        let mut edge = Edge::start(&format!(
            "proxy {{ listen: \"127.0.0.1:PORT\", target: \"ws://{addr}\", ws: true }}"
        ));
        let (mut ws, _) = ws_client(&edge, "/").await;
        edge.signal("USR2");
        tokio::time::sleep(Duration::from_millis(500)).await;
        assert!(
            edge.try_wait().is_none(),
            "edge exited under an open WebSocket"
        );
        ws_echoes(&mut ws, "during lame duck").await;
        ws.close(None).await.expect("close");
        assert_eq!(edge.exited().await.code(), Some(0));
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn upstream_closing_the_socket_closes_the_client() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        // Accepts the upgrade, then drops the connection without a close frame.
        tokio::spawn(async move {
            if let Ok((tcp, _)) = listener.accept().await {
                if let Ok(ws) = tokio_tungstenite::accept_async(tcp).await {
                    tokio::time::sleep(Duration::from_millis(200)).await;
                    drop(ws);
                }
            }
        });
        let edge = Edge::start(&format!(
            "proxy {{ listen: \"127.0.0.1:PORT\", target: \"ws://{addr}\", ws: true }}"
        ));
        let (mut ws, _) = ws_client(&edge, "/").await;
        let end =
            tokio::time::timeout(WAIT, async { while let Some(Ok(_)) = ws.next().await {} }).await;
        assert!(end.is_ok(), "client connection left open");
        edge.wait_log("websocket close");
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn upgrade_path_follows_the_target_path() {
        let up = Upstream::start(|_| text(404, "no such socket")).await;
        let edge = Edge::start(&format!(
            "proxy {{ listen: \"127.0.0.1:PORT\", target: \"{}/base\", ws: true }}",
            up.url()
        ));
        // A non-101 answer is passed back, and the connection closed.
        let res = raw(
            edge.addr(),
            b"GET /chat HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n",
            Duration::from_secs(3),
        )
        .await;
        assert!(res.starts_with("HTTP/1.1 404"), "{res}");
        assert!(
            res.to_ascii_lowercase().contains("connection: close"),
            "{res}"
        );
        assert!(res.ends_with("no such socket"), "{res}");
        let seen = up.nth(1).await;
        assert_eq!(seen.uri, "/base/chat");
        assert_eq!(seen.header("upgrade"), "websocket");
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn without_ws_an_upgrade_is_a_plain_request() {
        let up = Upstream::ok().await;
        let edge = Edge::start(&format!(
            "proxy {{ listen: \"127.0.0.1:PORT\", target: \"{}\" }}",
            up.url()
        ));
        let res = raw(
            edge.addr(),
            b"GET /chat HTTP/1.1\r\nHost: a\r\nConnection: Upgrade, close\r\nUpgrade: websocket\r\n\r\n",
            QUIET,
        )
        .await;
        assert!(res.starts_with("HTTP/1.1 200"), "{res}");
        let seen = up.nth(1).await;
        assert_eq!(seen.header("upgrade"), "");
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn failed_upgrade_is_502() {
        let dead = free_port();
        let edge = Edge::start(&format!(
            "proxy {{ listen: \"127.0.0.1:PORT\", target: \"ws://127.0.0.1:{dead}\", ws: true }}"
        ));
        let tcp = tokio::net::TcpStream::connect(edge.addr())
            .await
            .expect("connect");
        let url = format!("ws://127.0.0.1:{}/x", edge.port);
        match tokio_tungstenite::client_async(url, tcp).await {
            Err(tokio_tungstenite::tungstenite::Error::Http(res)) => assert_eq!(res.status(), 502),
            other => panic!("expected a 502, got {other:?}"),
        }
    }
}

mod tls {
    use super::*;
    use rustls::pki_types::{pem::PemObject, CertificateDer, PrivateKeyDer, ServerName};
    use std::sync::Arc;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    fn client_config(ca: &std::path::Path) -> rustls::ClientConfig {
        common::tls_client_config(ca, None)
    }

    /// An https upstream answering `200 secure` (and the path it got).
    async fn https_upstream(dir: &std::path::Path) -> std::net::SocketAddr {
        let acceptor = common::tls_acceptor(dir);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                let acceptor = acceptor.clone();
                tokio::spawn(async move {
                    let Ok(tls) = acceptor.accept(tcp).await else {
                        return;
                    };
                    let svc = hyper::service::service_fn(
                        |req: http::Request<hyper::body::Incoming>| async move {
                            Ok::<_, std::convert::Infallible>(text(
                                200,
                                &format!("secure {}", req.uri()),
                            ))
                        },
                    );
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(hyper_util::rt::TokioIo::new(tls), svc)
                        .await;
                });
            }
        });
        addr
    }

    /// Whether a TLS client trusting `ca` completes a handshake with edge.
    async fn handshake_trusting(edge: &Edge, ca: &std::path::Path) -> bool {
        let connector = tokio_rustls::TlsConnector::from(Arc::new(client_config(ca)));
        let tcp = tokio::net::TcpStream::connect(edge.addr())
            .await
            .expect("connect");
        connector
            .connect(ServerName::try_from("localhost").expect("name"), tcp)
            .await
            .is_ok()
    }

    /// A reload picks up renewed certificate files (nginx's reload after
    /// a renewal): new connections get the new certificate.
    #[tokio::test(flavor = "multi_thread")]
    async fn sighup_reload_takes_renewed_listener_certificates() {
        let dir = tempfile::tempdir().expect("tempdir");
        common::write_test_certs(dir.path());
        let renewed = tempfile::tempdir().expect("tempdir");
        common::write_test_certs(renewed.path());
        let up = Upstream::ok().await;
        let d = dir.path().display().to_string();
        let config = format!(
            "proxy {{\n  listen: \"127.0.0.1:PORT\"\n  tls {{ cert_file: \"{d}/server.pem\", key_file: \"{d}/server-key.pem\" }}\n  target: \"{}\"\n}}\n",
            up.url()
        );
        let edge = Edge::start_in(dir, &config);
        let (old_ca, new_ca) = (
            edge.dir.path().join("ca.pem"),
            renewed.path().join("ca.pem"),
        );
        assert!(handshake_trusting(&edge, &old_ca).await);
        assert!(!handshake_trusting(&edge, &new_ca).await);
        for f in ["server.pem", "server-key.pem"] {
            std::fs::copy(renewed.path().join(f), edge.dir.path().join(f)).expect("renew");
        }
        edge.signal("HUP");
        edge.wait_log("Reloaded server configuration");
        assert!(handshake_trusting(&edge, &new_ca).await);
        assert!(!handshake_trusting(&edge, &old_ca).await);
    }

    /// TLS keep-alive connections park too (in the lot for TLS streams):
    /// with more than 64 open, each idle one parks, is served again on
    /// its next request, and is closed by lame duck.
    #[tokio::test(flavor = "multi_thread")]
    async fn tls_keep_alive_connections_park_and_are_served_again() {
        let dir = tempfile::tempdir().expect("tempdir");
        common::write_test_certs(dir.path());
        let up = Upstream::start(|seen| text(200, &format!("got {};", seen.uri))).await;
        let d = dir.path().display().to_string();
        let mut edge = Edge::start_in(
            dir,
            &format!(
                "proxy {{\n  listen: \"127.0.0.1:PORT\"\n  tls {{ cert_file: \"{d}/server.pem\", key_file: \"{d}/server-key.pem\" }}\n  target: \"{}\"\n}}\n",
                up.url()
            ),
        );
        let connector = tokio_rustls::TlsConnector::from(Arc::new(client_config(
            &edge.dir.path().join("ca.pem"),
        )));
        async fn ask<S: AsyncReadExt + AsyncWriteExt + Unpin>(tls: &mut S, path: &str) -> String {
            tls.write_all(format!("GET {path} HTTP/1.1\r\nHost: localhost\r\n\r\n").as_bytes())
                .await
                .expect("write");
            let end = format!("got {path};");
            let got = read_until_end(tls, &end).await;
            assert!(got.ends_with(&end), "no answer to {path}: {got:?}");
            got
        }
        let mut open = Vec::new();
        for i in 0..70 {
            let tcp = tokio::net::TcpStream::connect(edge.addr())
                .await
                .expect("connect");
            let name = ServerName::try_from("localhost").expect("name");
            let mut tls = connector.connect(name, tcp).await.expect("handshake");
            let got = ask(&mut tls, &format!("/first{i}")).await;
            assert!(got.starts_with("HTTP/1.1 200 OK\r\n"), "{got}");
            open.push(tls);
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
        for (i, tls) in open.iter_mut().enumerate() {
            let got = ask(tls, &format!("/again{i}")).await;
            assert!(got.starts_with("HTTP/1.1 200 OK\r\n"), "{got}");
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
        edge.signal("USR2");
        for (i, tls) in open.iter_mut().enumerate() {
            let mut buf = [0u8; 64];
            let closed = tokio::time::timeout(WAIT, tls.read(&mut buf)).await;
            assert!(matches!(closed, Ok(Ok(0))), "connection {i}: {closed:?}");
        }
        assert_eq!(edge.exited().await.code(), Some(0));
        assert_eq!(up.seen().len(), 140);
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn https_listener_and_https_target_with_ca_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        common::write_test_certs(dir.path());
        let up = https_upstream(dir.path()).await;
        let plain = Upstream::ok().await;
        let d = dir.path().display().to_string();
        let edge = Edge::start_in(
            dir,
            &format!(
                r#"proxy {{
  listen: "127.0.0.1:PORT"
  tls {{ cert_file: "{d}/server.pem", key_file: "{d}/server-key.pem" }}
  routes = [
    {{ match {{ path: "/ok" }}, target: "https://localhost:{p}", ca_file: "{d}/ca.pem" }}
    {{ match {{ path: "/untrusted" }}, target: "https://localhost:{p}" }}
    {{ match {{ path: "/insecure" }}, target: "https://localhost:{p}", secure: false }}
    {{ match {{ path: "/xf" }}, target: "{plain}", xfwd: true }}
  ]
}}"#,
                p = up.port(),
                plain = plain.url()
            ),
        );
        let connector = tokio_rustls::TlsConnector::from(Arc::new(client_config(
            &edge.dir.path().join("ca.pem"),
        )));
        let exchange = |path: &'static str| {
            let connector = connector.clone();
            let addr = edge.addr();
            async move {
                let tcp = tokio::net::TcpStream::connect(addr).await.expect("connect");
                let name = ServerName::try_from("localhost").expect("name");
                let mut tls = connector
                    .connect(name, tcp)
                    .await
                    .expect("tls handshake with edge");
                tls.write_all(
                    format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
                        .as_bytes(),
                )
                .await
                .expect("write");
                let mut out = Vec::new();
                let _ = tokio::time::timeout(WAIT, tls.read_to_end(&mut out)).await;
                String::from_utf8_lossy(&out).into_owned()
            }
        };
        let res = exchange("/ok").await;
        assert!(res.starts_with("HTTP/1.1 200"), "{res}");
        assert!(res.ends_with("secure /ok"), "{res}");
        // The test CA is not a system root: verification fails, 502.
        let res = exchange("/untrusted").await;
        assert!(res.starts_with("HTTP/1.1 502"), "{res}");
        let res = exchange("/insecure").await;
        assert!(res.ends_with("secure /insecure"), "{res}");
        // Plain HTTP on the TLS port gets no HTTP answer.
        let res = raw(edge.addr(), b"GET /ok HTTP/1.1\r\nHost: a\r\n\r\n", QUIET).await;
        assert!(!res.starts_with("HTTP/1.1 200"), "{res}");
        // xfwd over TLS: proto https, port 443 when Host has none.
        let res = exchange("/xf").await;
        assert!(res.starts_with("HTTP/1.1 200"), "{res}");
        let seen = plain.nth(1).await;
        assert_eq!(seen.header("x-forwarded-proto"), "https");
        assert_eq!(seen.header("x-forwarded-port"), "443");
    }

    /// A wss echo server on the test certificates, recording each upgrade
    /// request's `x-forwarded-proto`.
    #[allow(clippy::result_large_err)]
    async fn wss_echo(
        dir: &std::path::Path,
    ) -> (std::net::SocketAddr, Arc<std::sync::Mutex<Vec<String>>>) {
        use futures::{SinkExt, StreamExt};
        let acceptor = common::tls_acceptor(dir);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
        let s = Arc::clone(&seen);
        tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                let Ok(tls) = acceptor.accept(tcp).await else {
                    continue;
                };
                let s = Arc::clone(&s);
                let record =
                    move |req: &tokio_tungstenite::tungstenite::handshake::server::Request, res| {
                        let proto = req
                            .headers()
                            .get("x-forwarded-proto")
                            .and_then(|v| v.to_str().ok())
                            .unwrap_or("")
                            .to_owned();
                        s.lock().expect("seen").push(proto);
                        Ok(res)
                    };
                let Ok(mut ws) = tokio_tungstenite::accept_hdr_async(tls, record).await else {
                    continue;
                };
                while let Some(Ok(msg)) = ws.next().await {
                    if msg.is_close() || ws.send(msg).await.is_err() {
                        break;
                    }
                }
            }
        });
        (addr, seen)
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn http2_clients_get_http2_by_alpn_on_a_tls_listener() {
        use http_body_util::{BodyExt, Empty};
        let up = Upstream::start(|seen| text(200, &format!("got {}", seen.uri))).await;
        let dir = tempfile::tempdir().expect("tempdir");
        common::write_test_certs(dir.path());
        let d = dir.path().display().to_string();
        let edge = Edge::start_in(
            dir,
            &format!(
                r#"proxy {{
  listen: "127.0.0.1:PORT"
  tls {{ cert_file: "{d}/server.pem", key_file: "{d}/server-key.pem" }}
  target: "{}", xfwd: true
}}"#,
                up.url()
            ),
        );
        let mut config = client_config(&edge.dir.path().join("ca.pem"));
        config.alpn_protocols = vec![b"h2".to_vec()];
        let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
        let tcp = tokio::net::TcpStream::connect(edge.addr())
            .await
            .expect("connect");
        let tls = connector
            .connect(ServerName::try_from("localhost").expect("name"), tcp)
            .await
            .expect("tls");
        assert_eq!(tls.get_ref().1.alpn_protocol(), Some(&b"h2"[..]));
        let (mut sender, conn) = hyper::client::conn::http2::handshake(
            hyper_util::rt::TokioExecutor::new(),
            hyper_util::rt::TokioIo::new(tls),
        )
        .await
        .expect("h2 handshake");
        tokio::spawn(conn);
        for path in ["/one?x=1", "/two"] {
            let req = http::Request::builder()
                .uri(format!("https://localhost:{}{path}", edge.port))
                .body(Empty::<bytes::Bytes>::new())
                .expect("request");
            let res = tokio::time::timeout(WAIT, sender.send_request(req))
                .await
                .expect("answer in time")
                .expect("answer");
            assert_eq!(res.version(), http::Version::HTTP_2);
            assert_eq!(res.status(), 200);
            let body = res.into_body().collect().await.expect("body").to_bytes();
            assert_eq!(body, format!("got {path}").as_bytes());
        }
        let seen = up.last().await;
        assert_eq!(seen.version, http::Version::HTTP_11);
        assert_eq!(seen.header("host"), format!("localhost:{}", edge.port));
        assert_eq!(seen.header("x-forwarded-proto"), "https");
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn wss_client_through_a_tls_listener_to_a_wss_target() {
        let dir = tempfile::tempdir().expect("tempdir");
        common::write_test_certs(dir.path());
        let (up, seen) = wss_echo(dir.path()).await;
        let d = dir.path().display().to_string();
        let edge = Edge::start_in(
            dir,
            &format!(
                r#"proxy {{
  listen: "127.0.0.1:PORT"
  tls {{ cert_file: "{d}/server.pem", key_file: "{d}/server-key.pem" }}
  target: "wss://localhost:{}", ca_file: "{d}/ca.pem", ws: true, xfwd: true
}}"#,
                up.port()
            ),
        );
        let connector = tokio_rustls::TlsConnector::from(Arc::new(client_config(
            &edge.dir.path().join("ca.pem"),
        )));
        let tcp = tokio::net::TcpStream::connect(edge.addr())
            .await
            .expect("connect");
        let tls = connector
            .connect(ServerName::try_from("localhost").expect("name"), tcp)
            .await
            .expect("tls");
        let url = format!("wss://localhost:{}/", edge.port);
        let (mut ws, res) = tokio_tungstenite::client_async(url, tls)
            .await
            .expect("upgrade");
        assert_eq!(res.status(), 101);
        ws_echoes(&mut ws, "over tls").await;
        assert_eq!(seen.lock().expect("seen").clone(), vec!["wss".to_owned()]);
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn tls_cipher_suites_and_curve_preferences_are_applied() {
        let dir = tempfile::tempdir().expect("tempdir");
        common::write_test_certs(dir.path());
        let up = Upstream::ok().await;
        let d = dir.path().display().to_string();
        let edge = Edge::start_in(
            dir,
            &format!(
                r#"proxy {{
  listen: "127.0.0.1:PORT"
  tls {{ cert_file: "{d}/server.pem", key_file: "{d}/server-key.pem",
        cipher_suites: ["TLS_AES_256_GCM_SHA384"], curve_preferences: ["CurveP384"] }}
  target: "{}"
}}"#,
                up.url()
            ),
        );
        let connector = tokio_rustls::TlsConnector::from(Arc::new(client_config(
            &edge.dir.path().join("ca.pem"),
        )));
        let tcp = tokio::net::TcpStream::connect(edge.addr())
            .await
            .expect("connect");
        let mut tls = connector
            .connect(ServerName::try_from("localhost").expect("name"), tcp)
            .await
            .expect("tls");
        let session = tls.get_ref().1;
        assert_eq!(
            session
                .negotiated_cipher_suite()
                .map(|s| format!("{:?}", s.suite())),
            Some("TLS13_AES_256_GCM_SHA384".to_owned())
        );
        assert_eq!(
            session
                .negotiated_key_exchange_group()
                .map(|g| format!("{:?}", g.name())),
            Some("secp384r1".to_owned())
        );
        tls.write_all(b"GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
            .await
            .expect("write");
        let mut out = Vec::new();
        let _ = tokio::time::timeout(WAIT, tls.read_to_end(&mut out)).await;
        assert!(String::from_utf8_lossy(&out).starts_with("HTTP/1.1 200"));
    }

    /// A CA, a server certificate and a client certificate it signed.
    fn client_auth_certs(dir: &std::path::Path) {
        use rcgen::{BasicConstraints, CertificateParams, IsCa, KeyPair};
        let ca_key = KeyPair::generate().expect("ca key");
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).expect("ca params");
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let ca = ca_params.self_signed(&ca_key).expect("ca");
        for (name, san) in [("server", "localhost"), ("client", "client.test")] {
            let key = KeyPair::generate().expect("key");
            let cert = CertificateParams::new(vec![san.to_owned()])
                .expect("params")
                .signed_by(&key, &ca, &ca_key)
                .expect("cert");
            std::fs::write(dir.join(format!("{name}.pem")), cert.pem()).expect("write");
            std::fs::write(dir.join(format!("{name}-key.pem")), key.serialize_pem())
                .expect("write");
        }
        std::fs::write(dir.join("ca.pem"), ca.pem()).expect("write ca");
    }

    /// A client of the edge started in `dir` (its `ca.pem` trusted), with
    /// the test CA's client certificate when `with_cert`; the answer, or
    /// nothing when the handshake or the request failed.
    async fn ask_tls(edge: &Edge, with_cert: bool) -> String {
        let ca = edge.dir.path().join("ca.pem");
        let config = if with_cert {
            let certs: Vec<_> = CertificateDer::pem_file_iter(edge.dir.path().join("client.pem"))
                .expect("certs")
                .collect::<Result<_, _>>()
                .expect("certs");
            let key =
                PrivateKeyDer::from_pem_file(edge.dir.path().join("client-key.pem")).expect("key");
            let mut roots = rustls::RootCertStore::empty();
            for cert in CertificateDer::pem_file_iter(&ca).expect("ca") {
                roots.add(cert.expect("cert")).expect("add");
            }
            rustls::ClientConfig::builder_with_provider(Arc::new(
                rustls::crypto::ring::default_provider(),
            ))
            .with_safe_default_protocol_versions()
            .expect("versions")
            .with_root_certificates(roots)
            .with_client_auth_cert(certs, key)
            .expect("client auth")
        } else {
            client_config(&ca)
        };
        let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
        let tcp = tokio::net::TcpStream::connect(edge.addr())
            .await
            .expect("connect");
        let name = ServerName::try_from("localhost").expect("name");
        let Ok(mut tls) = connector.connect(name, tcp).await else {
            return String::new();
        };
        let req = b"GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n";
        if tls.write_all(req).await.is_err() {
            return String::new();
        }
        let mut out = Vec::new();
        let _ = tokio::time::timeout(WAIT, tls.read_to_end(&mut out)).await;
        String::from_utf8_lossy(&out).into_owned()
    }

    /// A TLS listener with `verify`, checking against `ca_file` or (without
    /// it) the system's roots, in front of `up`.
    fn verifying_edge(up: &Upstream, with_ca_file: bool) -> Edge {
        let dir = tempfile::tempdir().expect("tempdir");
        client_auth_certs(dir.path());
        let d = dir.path().display().to_string();
        let ca = if with_ca_file {
            format!("ca_file: \"{d}/ca.pem\", ")
        } else {
            String::new()
        };
        Edge::start_in(
            dir,
            &format!(
                r#"proxy {{
  listen: "127.0.0.1:PORT"
  tls {{ cert_file: "{d}/server.pem", key_file: "{d}/server-key.pem", {ca}verify: true }}
  target: "{}"
}}"#,
                up.url()
            ),
        )
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn tls_verify_requires_a_client_certificate_from_ca_file() {
        let up = Upstream::ok().await;
        let edge = verifying_edge(&up, true);
        let res = ask_tls(&edge, true).await;
        assert!(res.starts_with("HTTP/1.1 200"), "{res}");
        let res = ask_tls(&edge, false).await;
        assert!(
            !res.contains("HTTP/1.1"),
            "served without a client certificate: {res}"
        );
        assert_eq!(up.seen().len(), 1);
    }

    /// `verify` without `ca_file`: client certificates are checked against
    /// the system's roots (as Go does), so the test CA's is refused.
    #[tokio::test(flavor = "multi_thread")]
    async fn tls_verify_without_ca_file_checks_the_system_roots() {
        let up = Upstream::ok().await;
        let edge = verifying_edge(&up, false);
        for with_cert in [true, false] {
            let res = ask_tls(&edge, with_cert).await;
            assert!(!res.contains("HTTP/1.1"), "served: {res}");
        }
        assert!(up.seen().is_empty());
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn request_headers_apply_to_requests_with_expect_too() {
    let up = Upstream::ok().await;
    let edge = Edge::start(&config(
        &up,
        "  target: \"UP\"\n  request_headers { set { X-Added: \"yes\" } }",
    ));
    let res = raw(
        edge.addr(),
        b"POST /e HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 4\r\nConnection: close\r\n\r\nbody",
        QUIET,
    )
    .await;
    assert!(res.contains("HTTP/1.1 200"), "{res}");
    let seen = up.nth(1).await;
    assert_eq!(seen.header("x-added"), "yes");
    assert_eq!(seen.body, b"body");
}

#[tokio::test(flavor = "multi_thread")]
async fn nats_and_a_proxy_are_served_side_by_side() {
    use tokio::io::AsyncReadExt;
    let up = Upstream::ok().await;
    let nats_port = free_port();
    let edge = Edge::start(&format!(
        "listen: \"127.0.0.1:{nats_port}\"\nproxy {{ listen: \"127.0.0.1:PORT\", target: \"{}\" }}",
        up.url()
    ));
    assert_eq!(get(&edge.url("/"), &[]).await.status, 200);
    let mut nats = tokio::net::TcpStream::connect(("127.0.0.1", nats_port))
        .await
        .expect("nats listens");
    let mut buf = [0u8; 5];
    tokio::time::timeout(WAIT, nats.read_exact(&mut buf))
        .await
        .expect("INFO in time")
        .expect("read");
    assert_eq!(&buf, b"INFO ");
}

#[tokio::test(flavor = "multi_thread")]
async fn proxy_tls_settings_not_built_are_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    common::write_test_certs(dir.path());
    let d = dir.path().display();
    let path = dir.path().join("edge.conf");
    std::fs::write(
        &path,
        format!(
            "proxy {{ listen: \"127.0.0.1:0\", target: \"http://127.0.0.1:1\",
  tls {{ cert_file: \"{d}/server.pem\", key_file: \"{d}/server-key.pem\", verify_and_map: true }} }}"
        ),
    )
    .expect("write");
    let out = common::run_edge(&["run", path.to_str().expect("utf-8")], dir.path(), &[]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("tls verify_and_map"), "{err}");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_proxy_example_serves_its_routes() {
    let api = Upstream::start(|_| text(200, "api")).await;
    let one = Upstream::start(|_| text(200, "one")).await;
    let two = Upstream::start(|_| text(200, "two")).await;
    let example = std::fs::read_to_string(common::root().join("examples/proxy.conf"))
        .expect("examples/proxy.conf");
    let config = example
        .replace("127.0.0.1:8080", "127.0.0.1:PORT")
        .replace("127.0.0.1:9000", &api.addr.to_string())
        .replace("127.0.0.1:9001", &one.addr.to_string())
        .replace("127.0.0.1:9002", &two.addr.to_string());
    let edge = Edge::start(&config);
    let got = get(&edge.url("/v1/users"), &[("host", "api.example.com")]).await;
    assert_eq!((got.status, got.body.as_str()), (200, "api"));
    assert_eq!(got.header("x-served-by"), "edge");
    let seen = api.nth(1).await;
    assert_eq!(seen.uri, "/api/users");
    assert_eq!(seen.header("host"), api.addr.to_string());
    assert_eq!(seen.header("x-forwarded-host"), "api.example.com");
    let got = get(&edge.url("/page"), &[("host", "www.example.com")]).await;
    assert!(got.body == "one" || got.body == "two", "{got:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn follow_redirects_follows_to_the_final_answer() {
    let other = Upstream::start(|s| text(200, &format!("other {}", s.uri))).await;
    let other_url = other.url();
    let up = Upstream::start(move |s| match s.uri.as_str() {
        "/start" => with_headers(302, &[("location", "/middle?x=1")], ""),
        "/middle?x=1" => with_headers(301, &[("location", "final")], ""),
        "/final" => text(200, "done"),
        "/see-other" => with_headers(303, &[("location", "/final")], ""),
        "/keep" => with_headers(307, &[("location", "/final")], ""),
        "/away" => with_headers(302, &[("location", &format!("{other_url}/there"))], ""),
        "/loop" => with_headers(302, &[("location", "/loop")], ""),
        _ => text(404, "no"),
    })
    .await;
    let edge = Edge::start(&config(&up, "  target: \"UP\"\n  follow_redirects: true"));
    let got = get(&edge.url("/start"), &[]).await;
    assert_eq!((got.status, got.body.as_str()), (200, "done"));
    let uris: Vec<String> = up.seen().iter().map(|s| s.uri.clone()).collect();
    assert_eq!(uris, ["/start", "/middle?x=1", "/final"]);
    // 303 after a POST: a bodiless GET.
    let got = send(
        "POST",
        &edge.url("/see-other"),
        &[("content-type", "text/plain")],
        "data",
    )
    .await;
    assert_eq!((got.status, got.body.as_str()), (200, "done"));
    let last = up.last().await;
    assert_eq!((last.method.as_str(), last.body.len()), ("GET", 0));
    assert_eq!(last.header("content-type"), "");
    // 307 keeps the method and body: a streamed body is not replayed.
    let got = send("PUT", &edge.url("/keep"), &[], "data").await;
    assert_eq!(got.status, 307);
    // 307 without a body is followed.
    assert_eq!(
        send("DELETE", &edge.url("/keep"), &[], "").await.body,
        "done"
    );
    assert_eq!(up.last().await.method, "DELETE");
    // Another host: Host follows, credentials do not.
    let got = get(
        &edge.url("/away"),
        &[("authorization", "Basic x"), ("cookie", "a=1")],
    )
    .await;
    assert_eq!(got.body, "other /there");
    let seen = other.nth(1).await;
    assert_eq!(seen.header("host"), other.addr.to_string());
    assert_eq!(seen.header("authorization"), "");
    assert_eq!(seen.header("cookie"), "");
    // A loop ends in 502.
    assert_eq!(get(&edge.url("/loop"), &[]).await.status, 502);
    // Without the option the redirect itself is the answer.
    let plain = Edge::start(&config(&up, "  target: \"UP\""));
    assert_eq!(get(&plain.url("/start"), &[]).await.status, 302);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_upstream_closing_pooled_connections_does_not_fail_requests() {
    // Answers keep-alive style (no `Connection: close`), then closes.
    let (addr, heads) = raw_upstream(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok").await;
    let edge = Edge::start(&format!(
        "proxy {{ listen: \"127.0.0.1:PORT\", target: \"http://{addr}\" }}"
    ));
    for i in 0..10 {
        let got = get(&edge.url(&format!("/{i}")), &[]).await;
        assert_eq!((got.status, got.body.as_str()), (200, "ok"), "request {i}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(heads.lock().expect("heads").len(), 10);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_truncated_upstream_body_closes_the_client_connection() {
    let (addr, _) = raw_upstream(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc").await;
    let edge = Edge::start(&format!(
        "proxy {{ listen: \"127.0.0.1:PORT\", target: \"http://{addr}\" }}"
    ));
    let started = std::time::Instant::now();
    // Keep-alive request: only a close ends the read before the 5s quiet.
    let res = raw(
        edge.addr(),
        b"GET / HTTP/1.1\r\nHost: a\r\n\r\n",
        Duration::from_secs(5),
    )
    .await;
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "connection left open"
    );
    // hyper may or may not have flushed the head and the 3 bytes before the
    // body failed; either way the client never gets a complete answer.
    assert!(
        res.is_empty() || (res.starts_with("HTTP/1.1 200") && res.ends_with("\r\n\r\nabc")),
        "{res}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn large_bodies_pass_intact_both_ways_with_a_forward_copy() {
    let big: String = (0..200_000).map(|i| format!("{i:07}\n")).collect();
    let reply = big.clone();
    let up = Upstream::start(move |_| text(200, &reply)).await;
    let mirror = Upstream::ok().await;
    let edge = Edge::start(&format!(
        "proxy {{ listen: \"127.0.0.1:PORT\", target: \"{}\", forward: \"{}\" }}",
        up.url(),
        mirror.url()
    ));
    let got = send("POST", &edge.url("/big"), &[], &big).await;
    assert_eq!(got.status, 200);
    assert_eq!(got.body.len(), big.len());
    assert!(got.body == big, "response body changed");
    let seen = up.nth(1).await;
    assert_eq!(seen.body.len(), big.len());
    assert!(seen.body == big.as_bytes(), "request body changed");
    let head = send("HEAD", &edge.url("/big"), &[], "").await;
    assert_eq!(head.status, 200);
    assert_eq!(head.header("content-length"), big.len().to_string());
    assert!(head.body.is_empty());
}

/// SIGUSR2, lame duck mode for the proxy (nginx's graceful shutdown): no
/// new connections, an idle keep-alive connection is closed, a request in
/// flight gets its answer with `connection: close`, then edge exits 0.
#[tokio::test(flavor = "multi_thread")]
async fn lame_duck_finishes_requests_in_flight_then_exits() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let up = slow_upstream(Duration::from_millis(800)).await;
    let mut edge = Edge::start(&format!(
        "proxy {{\n  listen: \"127.0.0.1:PORT\"\n  target: \"http://{up}\"\n}}\n"
    ));
    let request = b"GET /a HTTP/1.1\r\nHost: x\r\n\r\n";
    // One keep-alive connection served once and left idle.
    let mut idle = tokio::net::TcpStream::connect(edge.addr())
        .await
        .expect("connect");
    idle.write_all(request).await.expect("write");
    let first = read_until_quiet(&mut idle, Duration::from_millis(1500)).await;
    assert!(first.ends_with("slow"), "{first}");
    // One with a request in flight.
    let mut busy = tokio::net::TcpStream::connect(edge.addr())
        .await
        .expect("connect");
    busy.write_all(request).await.expect("write");
    tokio::time::sleep(Duration::from_millis(200)).await;
    edge.signal("USR2");

    let mut buf = [0u8; 64];
    let closed = tokio::time::timeout(WAIT, idle.read(&mut buf)).await;
    assert!(matches!(closed, Ok(Ok(0))), "idle connection: {closed:?}");
    let answer = read_until_quiet(&mut busy, Duration::from_secs(2)).await;
    assert!(answer.starts_with("HTTP/1.1 200 OK\r\n"), "{answer}");
    // node's rule sets `connection: keep-alive` on an HTTP/1.1 answer;
    // hyper adds the `close` that ends it.
    assert!(
        answer
            .lines()
            .any(|l| l.starts_with("connection:") && l.contains("close")),
        "{answer}"
    );
    assert!(answer.ends_with("slow"), "{answer}");
    let eof = tokio::time::timeout(WAIT, busy.read(&mut buf)).await;
    assert!(matches!(eof, Ok(Ok(0))), "busy connection after: {eof:?}");
    assert!(std::net::TcpStream::connect(edge.addr()).is_err());
    assert_eq!(edge.exited().await.code(), Some(0));
    let log = edge.log();
    assert!(log.contains("[INF] Entering lame duck mode"), "{log}");
}

/// How long a test leaves a keep-alive connection idle: it parks as soon
/// as its last answer is flushed and it has nothing to read.
const PARK: Duration = Duration::from_millis(300);

/// Opens more idle connections than the 64 (`KEEP_BUFFERED` in
/// src/proxy/stream.rs) that keep their buffers, so that the test's own
/// connection parks whenever it is idle; keep them open for the test.
async fn crowd(edge: &Edge) -> Vec<tokio::net::TcpStream> {
    let mut open = Vec::new();
    for _ in 0..65 {
        open.push(
            tokio::net::TcpStream::connect(edge.addr())
                .await
                .expect("connect"),
        );
    }
    open
}

/// Sends `bytes` on a raw client connection and requires a 200 answer
/// ending in `end`; returns what arrived.
async fn answered(s: &mut tokio::net::TcpStream, bytes: &[u8], end: &str) -> String {
    write_raw(s, bytes).await;
    let got = read_until_end(s, end).await;
    assert!(got.starts_with("HTTP/1.1 200 OK\r\n"), "{got}");
    got
}

/// An idle keep-alive connection parks between requests once many are
/// open (hyper's connection and its buffers are dropped, the socket kept,
/// see src/proxy/stream.rs): every later request on it is served, whatever
/// its shape, in order, on the same socket.
#[tokio::test(flavor = "multi_thread")]
async fn a_parked_keep_alive_connection_serves_every_later_request() {
    let up = Upstream::start(|seen| text(200, &format!("{} {};", seen.uri, seen.body.len()))).await;
    let edge = Edge::start(&config(&up, "  target: \"UP\""));
    let mut s = tokio::net::TcpStream::connect(edge.addr())
        .await
        .expect("connect");
    let _crowd = crowd(&edge).await;
    // Each answer is followed by PARK of silence, so the connection parks.
    async fn served(s: &mut tokio::net::TcpStream, bytes: &[u8], end: &str) -> String {
        let got = answered(s, bytes, end).await;
        tokio::time::sleep(PARK).await;
        got
    }
    served(&mut s, b"GET /one HTTP/1.1\r\nHost: a\r\n\r\n", "/one 0;").await;
    let body = b"POST /two HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello";
    served(&mut s, body, "/two 5;").await;
    // Pipelined: one read wakes the connection with two heads in it.
    let pair = b"GET /three HTTP/1.1\r\nHost: a\r\n\r\nGET /four HTTP/1.1\r\nHost: a\r\n\r\n";
    let both = served(&mut s, pair, "/four 0;").await;
    assert_eq!(both.matches("HTTP/1.1 200 OK").count(), 2, "{both}");
    assert!(both.find("/three 0;") < both.find("/four 0;"), "{both}");
    // A head in two writes: the first part wakes it, the rest completes it.
    write_raw(&mut s, b"GET /fi").await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    served(&mut s, b"ve HTTP/1.1\r\nHost: a\r\n\r\n", "/five 0;").await;
    let chunked =
        b"POST /six HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n";
    served(&mut s, chunked, "/six 3;").await;
    let uris: Vec<String> = up.seen().into_iter().map(|r| r.uri).collect();
    assert_eq!(uris, ["/one", "/two", "/three", "/four", "/five", "/six"]);
    // The framing watch went on counting across the parks: a request
    // framed both ways is still found (and refused) after them.
    write_raw(&mut s, b"POST /seven HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n").await;
    let seven = read_until_quiet(&mut s, QUIET).await;
    assert!(seven.starts_with("HTTP/1.1 400 "), "{seven}");
    assert_eq!(up.seen().len(), 6, "nothing more upstream");
}

/// A connection whose answer is still owed never parks: a slow upstream's
/// answer arrives, also for requests pipelined behind it.
#[tokio::test(flavor = "multi_thread")]
async fn a_connection_waiting_for_its_answer_does_not_park() {
    let up = slow_upstream(Duration::from_millis(600)).await;
    let edge = Edge::start(&format!(
        "proxy {{\n  listen: \"127.0.0.1:PORT\"\n  target: \"http://{up}\"\n}}\n"
    ));
    let mut s = tokio::net::TcpStream::connect(edge.addr())
        .await
        .expect("connect");
    let _crowd = crowd(&edge).await;
    let first = answered(&mut s, b"GET /a HTTP/1.1\r\nHost: x\r\n\r\n", "slow").await;
    assert!(first.ends_with("slow"), "{first}");
    write_raw(
        &mut s,
        b"GET /b HTTP/1.1\r\nHost: x\r\n\r\nGET /c HTTP/1.1\r\nHost: x\r\n\r\n",
    )
    .await;
    let mut both = read_until_end(&mut s, "slow").await;
    if both.matches("slow").count() < 2 {
        both += &read_until_end(&mut s, "slow").await;
    }
    assert_eq!(both.matches("HTTP/1.1 200 OK").count(), 2, "{both}");
}

/// A WebSocket upgrade on a connection that parked after a plain request
/// is spliced as on a fresh one.
#[tokio::test(flavor = "multi_thread")]
async fn a_parked_connection_can_upgrade_to_a_websocket() {
    let (ws_addr, _) = ws_echo_server().await;
    let up = Upstream::ok().await;
    let edge = Edge::start(&format!(
        "proxy {{\n  listen: \"127.0.0.1:PORT\"\n  routes = [\n    {{ match {{ path: \"/ws\" }}, target: \"ws://{ws_addr}\", ws: true }}\n    {{ match {{ path: \"/\" }}, target: \"{}\" }}\n  ]\n}}\n",
        up.url()
    ));
    let mut s = tokio::net::TcpStream::connect(edge.addr())
        .await
        .expect("connect");
    let _crowd = crowd(&edge).await;
    answered(&mut s, b"GET /page HTTP/1.1\r\nHost: x\r\n\r\n", "ok").await;
    tokio::time::sleep(PARK).await;
    let url = format!("ws://127.0.0.1:{}/ws", edge.port);
    let (mut ws, res) = tokio_tungstenite::client_async(url, s)
        .await
        .expect("upgrade on the parked connection");
    assert_eq!(res.status(), 101);
    ws_echoes(&mut ws, "after parking").await;
}

/// The names of the header lines of an HTTP head, in order.
fn header_names(head: &str) -> Vec<String> {
    head.split("\r\n\r\n")
        .next()
        .unwrap_or_default()
        .lines()
        .skip(1)
        .filter_map(|l| l.split_once(':').map(|(n, _)| n.to_owned()))
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn header_order_kept_both_ways_around_dropped_hop_by_hop_headers() {
    let (addr, heads) = raw_upstream(
        b"HTTP/1.1 200 OK\r\ndate: d\r\nconnection: x-hop\r\nset-cookie: a=1\r\nx-hop: 1\r\nserver: s\r\nset-cookie: b=2\r\nx-last: 1\r\ncontent-length: 2\r\n\r\nok",
    )
    .await;
    let edge = Edge::start(&format!(
        "proxy {{\n listen: \"127.0.0.1:PORT\"\n target: \"http://{addr}\"\n cookie_path_rewrite: \"/p\"\n}}"
    ));
    let res = raw(
        edge.addr(),
        b"GET / HTTP/1.1\r\nHost: a.test\r\nX-B: 1\r\nConnection: close\r\nX-A: 1\r\nKeep-Alive: 1\r\nx-c: 1\r\nAccept: */*\r\n\r\n",
        QUIET,
    )
    .await;
    let head = heads.lock().expect("heads")[0].clone();
    let sent: Vec<String> = header_names(&head)
        .into_iter()
        .filter(|n| !n.eq_ignore_ascii_case("connection"))
        .collect();
    assert_eq!(sent, ["Host", "X-B", "X-A", "x-c", "Accept"], "{head}");
    let got: Vec<String> = header_names(&res)
        .into_iter()
        .filter(|n| n != "connection")
        .collect();
    // Repeated names travel together at the first one's place, as node's
    // header object (and hyper's HeaderMap) keep them.
    assert_eq!(
        got,
        [
            "date",
            "set-cookie",
            "set-cookie",
            "server",
            "x-last",
            "content-length"
        ],
        "{res}"
    );
}

/// SIGHUP swaps a proxy listener's routing whole (nginx's reload): new
/// targets and routes apply to the next request, on new connections and on
/// keep-alive connections opened before; a file that changes the
/// listeners themselves is refused and the running routing keeps serving.
#[tokio::test(flavor = "multi_thread")]
async fn sighup_reload_swaps_the_routing_and_refuses_new_listeners() {
    use tokio::io::AsyncWriteExt;
    let a = Upstream::start(|_| text(200, "from a")).await;
    let b = Upstream::start(|_| text(200, "from b")).await;
    let block = |body: &str| format!("proxy {{\n  listen: \"127.0.0.1:PORT\"\n{body}\n}}\n");
    let edge = Edge::start(&block(&format!("  target: \"{}\"", a.url())));
    let mut kept = tokio::net::TcpStream::connect(edge.addr())
        .await
        .expect("connect");
    let request = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n";
    kept.write_all(request).await.expect("write");
    let first = read_until_quiet(&mut kept, QUIET).await;
    assert!(first.ends_with("from a"), "{first}");

    edge.rewrite_config(&block(&format!(
        "  routes = [\n    {{ match {{ path: \"/\" }}, target: \"{}\" }}\n    \
         {{ match {{ path: \"/new\" }}, target: \"{}\", response_headers {{ set {{ x-reloaded: \"yes\" }} }} }}\n  ]",
        b.url(),
        a.url()
    )));
    edge.signal("HUP");
    edge.wait_log("Reloaded: proxy 127.0.0.1:");
    edge.wait_log("Reloaded server configuration");
    kept.write_all(request).await.expect("write");
    let second = read_until_quiet(&mut kept, QUIET).await;
    assert!(
        second.ends_with("from b"),
        "keep-alive connection after reload: {second}"
    );
    let new = get(&edge.url("/new/x"), &[]).await;
    assert_eq!(new.body, "from a");
    assert_eq!(new.header("x-reloaded"), "yes");

    // Another listen address needs a restart: refused, nothing changes.
    edge.rewrite_config(&format!(
        "proxy {{\n  listen: \"127.0.0.1:{}\"\n  target: \"{}\"\n}}\n",
        free_port(),
        a.url()
    ));
    edge.signal("HUP");
    edge.wait_log("config reload not supported for proxy listeners");
    assert_eq!(get(&edge.url("/"), &[]).await.body, "from b");
    assert_eq!(get(&edge.url("/new"), &[]).await.body, "from a");
}

/// A parked connection (it waits in the worker's lot, without a task) is
/// still closed by the route's `timeout` once idle that long, not before.
#[tokio::test(flavor = "multi_thread")]
async fn a_parked_connection_is_closed_by_the_route_timeout() {
    use tokio::io::AsyncReadExt;
    let up = Upstream::ok().await;
    let edge = Edge::start(&config(&up, "  target: \"UP\"\n  timeout: \"600ms\""));
    let mut s = tokio::net::TcpStream::connect(edge.addr())
        .await
        .expect("connect");
    let _crowd = crowd(&edge).await;
    answered(&mut s, b"GET /a HTTP/1.1\r\nHost: a\r\n\r\n", "ok").await;
    let idle_from = std::time::Instant::now();
    let mut buf = [0u8; 64];
    let closed = tokio::time::timeout(WAIT, s.read(&mut buf)).await;
    let after = idle_from.elapsed();
    assert!(matches!(closed, Ok(Ok(0))), "parked connection: {closed:?}");
    assert!(
        after >= Duration::from_millis(500) && after < Duration::from_millis(2500),
        "closed after {after:?} idle, timeout 600ms"
    );
}

/// Lame duck closes parked connections at once, and a parked connection
/// whose next request came in before that is served.
#[tokio::test(flavor = "multi_thread")]
async fn lame_duck_closes_parked_connections() {
    use tokio::io::AsyncReadExt;
    let up = Upstream::ok().await;
    let mut edge = Edge::start(&config(&up, "  target: \"UP\""));
    let mut parked = Vec::new();
    for _ in 0..70 {
        let mut s = tokio::net::TcpStream::connect(edge.addr())
            .await
            .expect("connect");
        answered(&mut s, b"GET /a HTTP/1.1\r\nHost: a\r\n\r\n", "ok").await;
        parked.push(s);
    }
    tokio::time::sleep(PARK).await;
    // Every one of them is served again after parking.
    for s in &mut parked {
        answered(s, b"GET /b HTTP/1.1\r\nHost: a\r\n\r\n", "ok").await;
    }
    tokio::time::sleep(PARK).await;
    edge.signal("USR2");
    for (i, s) in parked.iter_mut().enumerate() {
        let mut buf = [0u8; 64];
        let closed = tokio::time::timeout(WAIT, s.read(&mut buf)).await;
        assert!(matches!(closed, Ok(Ok(0))), "connection {i}: {closed:?}");
    }
    assert_eq!(edge.exited().await.code(), Some(0));
    assert_eq!(up.seen().len(), 140);
}

/// Decodes a chunked body (test side: sizes, data, the last chunk).
fn dechunk(mut body: &str) -> Option<String> {
    let mut out = String::new();
    loop {
        let (size, rest) = body.split_once("\r\n")?;
        let size = usize::from_str_radix(size.split(';').next()?, 16).ok()?;
        if size == 0 {
            return (rest == "\r\n").then_some(out);
        }
        out.push_str(rest.get(..size)?);
        body = rest.get(size..)?.strip_prefix("\r\n")?;
    }
}

/// An upstream answering `METHOD URI BODY-LENGTH;`, an edge in front of
/// it, and a client connection to that edge.
async fn counting_proxy() -> (Upstream, Edge, tokio::net::TcpStream) {
    let up = Upstream::start(|seen| {
        text(
            200,
            &format!("{} {} {};", seen.method, seen.uri, seen.body.len()),
        )
    })
    .await;
    let edge = Edge::start(&config(&up, "  target: \"UP\""));
    let s = tokio::net::TcpStream::connect(edge.addr())
        .await
        .expect("connect");
    (up, edge, s)
}

/// edge's own HTTP/1.1 lane (src/proxy/wire) serves bodyless requests and
/// those whose `Content-Length` body came with them, and hands the rest (a
/// chunked body here) to hyper on the same connection, the bytes it read
/// first: a pipelined mix is answered in order, on one socket, and the
/// connection serves requests after it.
#[tokio::test(flavor = "multi_thread")]
async fn lane_and_hyper_requests_pipelined_on_one_connection_are_answered_in_order() {
    let (up, _edge, mut s) = counting_proxy().await;
    let mix = b"GET /1 HTTP/1.1\r\nHost: a\r\n\r\n\
        POST /2 HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabc\
        POST /c HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nxy\r\n0\r\n\r\n\
        GET /3 HTTP/1.1\r\nHost: a\r\n\r\n\
        HEAD /4 HTTP/1.1\r\nHost: a\r\n\r\n\
        GET /5 HTTP/1.1\r\nHost: a\r\n\r\n";
    write_raw(&mut s, mix).await;
    let got = read_until_end(&mut s, "GET /5 0;").await;
    assert_eq!(got.matches("HTTP/1.1 200 OK\r\n").count(), 6, "{got}");
    let at = |needle: &str| got.find(needle).unwrap_or(usize::MAX);
    assert!(at("GET /1 0;") < at("POST /2 3;"), "{got}");
    assert!(at("POST /2 3;") < at("POST /c 2;"), "{got}");
    assert!(at("POST /c 2;") < at("GET /3 0;"), "{got}");
    assert!(at("GET /3 0;") < at("GET /5 0;"), "{got}");
    assert!(!got.contains("HEAD /4"), "a HEAD answer has no body: {got}");
    tokio::time::sleep(Duration::from_millis(100)).await;
    answered(&mut s, b"GET /6 HTTP/1.1\r\nHost: a\r\n\r\n", "GET /6 0;").await;
    let uris: Vec<String> = up.seen().into_iter().map(|r| r.uri).collect();
    assert_eq!(uris, ["/1", "/2", "/c", "/3", "/4", "/5", "/6"]);
}

/// Whatever framing the upstream's body has (chunked with extensions and
/// trailers, until the upstream closes, a length, none at all), the lane
/// reads it to its end and frames it again for the client (chunked when
/// its length is unknown), keeping the reason phrase; the client's
/// connection then serves the next request.
#[tokio::test(flavor = "multi_thread")]
async fn upstream_bodies_of_every_framing_reach_the_client_framed_again() {
    let cases: [(&'static [u8], &str, Option<&str>); 4] = [
        (
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3;x=1\r\nabc\r\n2\r\nde\r\n0\r\nT: 1\r\n\r\n",
            "HTTP/1.1 200 OK",
            Some("abcde"),
        ),
        (b"HTTP/1.1 200 OK\r\n\r\nuntil close", "HTTP/1.1 200 OK", Some("until close")),
        (
            b"HTTP/1.1 299 Odd Reason\r\nContent-Length: 2\r\n\r\nhi",
            "HTTP/1.1 299 Odd Reason",
            Some("hi"),
        ),
        (b"HTTP/1.1 204 No Content\r\nX-Up: 1\r\n\r\n", "HTTP/1.1 204 No Content", None),
    ];
    for (reply, status, body) in cases {
        let (addr, heads) = raw_upstream(reply).await;
        let edge = Edge::start(&format!(
            "proxy {{ listen: \"127.0.0.1:PORT\", target: \"http://{addr}\" }}"
        ));
        let mut s = tokio::net::TcpStream::connect(edge.addr())
            .await
            .expect("connect");
        for i in 0..2 {
            write_raw(&mut s, b"GET / HTTP/1.1\r\nHost: a\r\n\r\n").await;
            let end = match body {
                Some("hi") => "hi",
                Some(_) => "0\r\n\r\n",
                None => "\r\n\r\n",
            };
            let got = read_until_end(&mut s, end).await;
            let (head, sent) = got.split_once("\r\n\r\n").expect("a head");
            assert!(head.starts_with(status), "{got}");
            let head = head.to_ascii_lowercase();
            match body {
                None => {
                    assert_eq!(sent, "", "{got}");
                    assert!(!head.contains("content-length"), "{got}");
                    assert!(head.contains("x-up: 1"), "{got}");
                }
                Some("hi") => {
                    assert!(head.contains("content-length: 2"), "{got}");
                    assert_eq!(sent, "hi");
                }
                Some(want) => {
                    assert!(head.contains("transfer-encoding: chunked"), "{got}");
                    assert_eq!(dechunk(sent).as_deref(), Some(want), "{got}");
                }
            }
            assert!(head.contains("\r\ndate: "), "{got}");
            assert_eq!(heads.lock().expect("heads").len(), i + 1);
        }
    }
}

/// The lane's upstream request carries the client's header names as the
/// client spelled them, in its order, and a pooled upstream connection
/// that the upstream closed while idle is never used again: the request
/// goes out on a new one.
#[tokio::test(flavor = "multi_thread")]
async fn the_lane_writes_client_header_case_and_replaces_closed_pooled_connections() {
    let (addr, heads) = raw_upstream(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok").await;
    let edge = Edge::start(&format!(
        "proxy {{ listen: \"127.0.0.1:PORT\", target: \"http://{addr}\" }}"
    ));
    let mut s = tokio::net::TcpStream::connect(edge.addr())
        .await
        .expect("connect");
    for _ in 0..3 {
        let req = b"GET /case HTTP/1.1\r\nHost: a\r\nX-MiXeD-Case: 1\r\naccept: */*\r\n\r\n";
        answered(&mut s, req, "ok").await;
        // The upstream closes after each answer; the close reaches edge.
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let heads = heads.lock().expect("heads").clone();
    assert_eq!(
        heads.len(),
        3,
        "each request on its own upstream connection"
    );
    for head in heads {
        let mixed = head
            .find("\r\nX-MiXeD-Case: 1\r\n")
            .expect("mixed case kept");
        let accept = head.find("\r\naccept: */*\r\n").expect("lower case kept");
        assert!(head.starts_with("GET /case HTTP/1.1\r\n"), "{head}");
        assert!(mixed < accept, "client order kept: {head}");
    }
}

/// One `Content-Length` response read off `s`: its head and its body.
async fn read_sized_response(s: &mut tokio::net::TcpStream) -> (String, Vec<u8>) {
    use tokio::io::AsyncReadExt;
    let mut got = Vec::new();
    let mut buf = vec![0u8; 64 * 1024];
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(at) = got.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&got[..at]).into_owned();
            let length = head
                .lines()
                .find_map(|l| {
                    let (name, value) = l.split_once(':')?;
                    name.eq_ignore_ascii_case("content-length")
                        .then(|| value.trim().parse::<usize>().ok())?
                })
                .expect("a content-length");
            if got.len() >= at + 4 + length {
                assert_eq!(got.len(), at + 4 + length, "nothing after the body");
                return (head, got.split_off(at + 4));
            }
        }
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        match tokio::time::timeout(left, s.read(&mut buf)).await {
            Ok(Ok(n)) if n > 0 => got.extend_from_slice(&buf[..n]),
            other => panic!("response cut short ({other:?}): {} bytes", got.len()),
        }
    }
}

/// The lane reads upstream answers into buffers it reuses: small pieces
/// (heads, bodies up to 4 KiB) are copied out, larger ones sliced, and a
/// connection gone idle leaves its buffer for the next exchange. Bodies
/// of every size around those limits, over clients that share the pooled
/// upstream connections at once, each arrive whole and as sent.
#[tokio::test(flavor = "multi_thread")]
async fn reused_upstream_read_buffers_keep_every_body_its_own() {
    // `/SIZE/SEED` answers SIZE bytes counting up from SEED.
    fn body(size: usize, seed: usize) -> Vec<u8> {
        (0..size).map(|i| ((seed + i) % 251) as u8).collect()
    }
    let up = Upstream::start(|seen| {
        let mut parts = seen.uri.trim_start_matches('/').split('/');
        let mut number = || parts.next().and_then(|n| n.parse().ok()).unwrap_or(0);
        let (size, seed) = (number(), number());
        http::Response::new(http_body_util::Full::new(bytes::Bytes::from(body(
            size, seed,
        ))))
    })
    .await;
    let edge = Edge::start(&config(&up, "  target: \"UP\""));
    const SIZES: [usize; 12] = [
        0, 1, 100, 4095, 4096, 4097, 16383, 16384, 16385, 70_000, 300_000, 13,
    ];
    let clients = (0..6).map(|client| {
        let addr = edge.addr();
        tokio::spawn(async move {
            let mut s = tokio::net::TcpStream::connect(addr).await.expect("connect");
            for round in 0..3 {
                for k in 0..SIZES.len() {
                    // Each client walks the sizes from its own place.
                    let size = SIZES[(k + client) % SIZES.len()];
                    let seed = client * 1000 + round * 100 + k;
                    let req = format!("GET /{size}/{seed} HTTP/1.1\r\nHost: a\r\n\r\n");
                    write_raw(&mut s, req.as_bytes()).await;
                    let (head, got) = read_sized_response(&mut s).await;
                    assert!(head.starts_with("HTTP/1.1 200 OK"), "{head}");
                    assert!(
                        got == body(size, seed),
                        "/{size}/{seed}: {} bytes differ",
                        got.len()
                    );
                }
            }
        })
    });
    for client in clients.collect::<Vec<_>>() {
        client.await.expect("client");
    }
    let seen = up.seen().len();
    assert_eq!(seen, 6 * 3 * SIZES.len());
    assert!(
        up.conns.load(std::sync::atomic::Ordering::SeqCst) <= 6,
        "upstream connections were pooled"
    );
}

/// A `Content-Length` body that arrived with its head is sent upstream
/// with it (on the lane); one that comes after a pause, and one larger
/// than the lane takes, stream through hyper. Each reaches the upstream
/// whole, with its length, and the connection serves the next request.
#[tokio::test(flavor = "multi_thread")]
async fn request_bodies_reach_the_upstream_whether_they_came_with_the_head_or_later() {
    let (up, _edge, mut s) = counting_proxy().await;
    let with_head = b"POST /with HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello";
    answered(&mut s, with_head, "POST /with 5;").await;
    write_raw(
        &mut s,
        b"PUT /later HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\n",
    )
    .await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    answered(&mut s, b"world", "PUT /later 5;").await;
    let big = vec![b'x'; 64 * 1024 + 1];
    let mut req = format!(
        "POST /big HTTP/1.1\r\nHost: a\r\nContent-Length: {}\r\n\r\n",
        big.len()
    )
    .into_bytes();
    req.extend_from_slice(&big);
    answered(&mut s, &req, &format!("POST /big {};", big.len())).await;
    answered(
        &mut s,
        b"GET /after HTTP/1.1\r\nHost: a\r\n\r\n",
        "GET /after 0;",
    )
    .await;
    let seen = up.seen();
    let bodies: Vec<(&str, &[u8], String)> = seen
        .iter()
        .map(|r| (r.uri.as_str(), &r.body[..], r.header("content-length")))
        .collect();
    assert_eq!(bodies[0], ("/with", &b"hello"[..], "5".to_owned()));
    assert_eq!(bodies[1], ("/later", &b"world"[..], "5".to_owned()));
    assert_eq!(bodies[2].0, "/big");
    assert!(bodies[2].1 == &big[..], "the large body arrived whole");
    assert_eq!(bodies[2].2, big.len().to_string());
    assert_eq!(bodies[3].0, "/after");
    // One pooled upstream connection for the lane's requests, one for hyper's.
    assert_eq!(up.conns.load(std::sync::atomic::Ordering::SeqCst), 2);
}
