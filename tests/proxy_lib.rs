//! The proxy as a library: each test runs one of `examples/proxy_*.rs`
//! (the real example binary, built by `cargo build --examples`, which
//! `cargo test` does) against real upstreams inside the test, and checks
//! what the upstream and the client saw.

mod common;
#[path = "common/proxy.rs"]
mod proxy_common;

use proxy_common::*;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A running example binary, killed when dropped.
struct Example {
    child: Child,
    addr: SocketAddr,
    stdout: Arc<Mutex<String>>,
}

/// `target/<profile>/examples/NAME`, built first when missing (e.g. when
/// only this test file was asked for).
fn example_path(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("test exe");
    let profile_dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("target/<profile>");
    let path = profile_dir.join("examples").join(name);
    if !path.exists() {
        let status = Command::new(env!("CARGO"))
            .args(["build", "--example", name])
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .status()
            .expect("cargo build --example");
        assert!(status.success(), "cargo build --example {name}");
    }
    path
}

impl Example {
    fn start(name: &str, env: &[(&str, &str)]) -> Example {
        let mut cmd = Command::new(example_path(name));
        cmd.env("LISTEN", "127.0.0.1:0")
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null());
        let mut child = cmd.spawn().expect("start example");
        let out = child.stdout.take().expect("stdout");
        let (tx, rx) = std::sync::mpsc::channel();
        let stdout = Arc::new(Mutex::new(String::new()));
        let collected = Arc::clone(&stdout);
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                if let Some(addr) = line.strip_prefix("listening on ") {
                    let _ = tx.send(addr.to_owned());
                }
                let mut all = collected.lock().expect("stdout lock");
                all.push_str(&line);
                all.push('\n');
            }
        });
        let addr = rx
            .recv_timeout(Duration::from_secs(60))
            .expect("example prints its address")
            .parse()
            .expect("address");
        Example {
            child,
            addr,
            stdout,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Waits until the example printed `needle`.
    fn wait_stdout(&self, needle: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let out = self.stdout.lock().expect("stdout lock").clone();
            if out.contains(needle) {
                return out;
            }
            assert!(Instant::now() < deadline, "no {needle:?} in:\n{out}");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Example {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn basic_proxies_to_the_target() {
    let up = Upstream::start(|seen| text(200, &format!("upstream got {}", seen.uri))).await;
    let proxy = Example::start("proxy_basic", &[("TARGET", &up.url())]);
    let got = get(&proxy.url("/a/b?c=1"), &[]).await;
    assert_eq!(got.status, 200);
    assert_eq!(got.body, "upstream got /a/b?c=1");
    assert_eq!(up.last().await.method, "GET");
}

/// Round robin over two targets with active health checks: once the
/// checks find one answering 503, every request goes to the other.
#[tokio::test(flavor = "multi_thread")]
async fn health_checks_take_a_failing_target_out_of_the_rotation() {
    let good = Upstream::start(|_| text(200, "good")).await;
    let sick = Upstream::start(|seen| {
        if seen.uri == "/healthz" {
            text(503, "down")
        } else {
            text(200, "sick")
        }
    })
    .await;
    let targets = format!("{},{}", good.url(), sick.url());
    let proxy = Example::start("proxy_load_balance", &[("TARGETS", &targets)]);
    let deadline = std::time::Instant::now() + WAIT;
    // The first check runs at once; then the sick target is out.
    loop {
        let seen = sick.seen();
        if seen.iter().any(|s| s.uri == "/healthz") {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "no health check");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    for _ in 0..6 {
        assert_eq!(get(&proxy.url("/x"), &[]).await.body, "good");
    }
    assert!(good.seen().iter().any(|s| s.uri == "/healthz"));
}

#[tokio::test(flavor = "multi_thread")]
async fn custom_logic_chooses_the_target_per_request() {
    let site = Upstream::start(|_| text(200, "site")).await;
    let api = Upstream::start(|_| text(200, "api")).await;
    let proxy = Example::start(
        "proxy_custom_logic",
        &[("TARGET", &site.url()), ("API_TARGET", &api.url())],
    );
    assert_eq!(get(&proxy.url("/api/users"), &[]).await.body, "api");
    assert_eq!(get(&proxy.url("/index.html"), &[]).await.body, "site");
    assert_eq!(api.last().await.uri, "/api/users");
    assert_eq!(site.last().await.uri, "/index.html");
}

#[tokio::test(flavor = "multi_thread")]
async fn header_rewrite_hooks_edit_both_directions() {
    let up = Upstream::start(|_| with_headers(200, &[("server", "upstream/1.0")], "ok")).await;
    let proxy = Example::start("proxy_header_rewrite", &[("TARGET", &up.url())]);
    let got = get(&proxy.url("/"), &[]).await;
    assert_eq!(got.status, 200);
    assert_eq!(got.header("x-proxied-by"), "edge");
    assert_eq!(got.header("server"), "");
    assert_eq!(up.last().await.header("x-special-proxy-header"), "foobar");
}

#[tokio::test(flavor = "multi_thread")]
async fn latency_delays_before_proxying() {
    let up = Upstream::ok().await;
    let proxy = Example::start(
        "proxy_latency",
        &[("TARGET", &up.url()), ("DELAY_MS", "300")],
    );
    let start = Instant::now();
    let got = get(&proxy.url("/"), &[]).await;
    assert_eq!(got.status, 200);
    assert!(start.elapsed() >= Duration::from_millis(300));
}

#[tokio::test(flavor = "multi_thread")]
async fn error_hook_replaces_the_502() {
    let dead = format!("http://127.0.0.1:{}", free_port());
    let proxy = Example::start("proxy_error", &[("TARGET", &dead)]);
    let got = get(&proxy.url("/"), &[]).await;
    assert_eq!(got.status, 500);
    assert_eq!(got.body, "Something went wrong.");
}

/// An upstream that answers any upgrade with 101 and echoes bytes.
async fn echo_upstream() -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut head = Vec::new();
                let mut b = [0u8; 1];
                while !head.ends_with(b"\r\n\r\n") {
                    if s.read(&mut b).await.unwrap_or(0) == 0 {
                        return;
                    }
                    head.push(b[0]);
                }
                let _ = s
                    .write_all(
                        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n",
                    )
                    .await;
                let (mut r, mut w) = s.split();
                let _ = tokio::io::copy(&mut r, &mut w).await;
            });
        }
    });
    addr
}

#[tokio::test(flavor = "multi_thread")]
async fn websocket_is_spliced_and_hooks_see_open_and_close() {
    let up = echo_upstream().await;
    let proxy = Example::start("proxy_websocket", &[("TARGET", &format!("ws://{up}"))]);
    let mut s = tokio::net::TcpStream::connect(proxy.addr)
        .await
        .expect("connect");
    s.write_all(
        b"GET /chat HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
          Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n",
    )
    .await
    .expect("write");
    let mut head = Vec::new();
    let mut b = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        assert!(s.read(&mut b).await.expect("read") > 0, "closed");
        head.push(b[0]);
    }
    assert!(
        head.starts_with(b"HTTP/1.1 101"),
        "{}",
        String::from_utf8_lossy(&head)
    );
    s.write_all(b"ping-pong").await.expect("write");
    let mut back = [0u8; 9];
    tokio::time::timeout(Duration::from_secs(5), s.read_exact(&mut back))
        .await
        .expect("echo in time")
        .expect("echo");
    assert_eq!(&back, b"ping-pong");
    proxy.wait_stdout("open ");
    drop(s);
    proxy.wait_stdout("close ");
}

#[tokio::test(flavor = "multi_thread")]
async fn https_to_http_terminates_tls_and_tells_the_upstream() {
    use rustls::pki_types::ServerName;
    let up = Upstream::start(|seen| text(200, &format!("plain upstream got {}", seen.uri))).await;
    let dir = tempfile::tempdir().expect("tempdir");
    common::write_test_certs(dir.path());
    let cert = dir.path().join("server.pem").display().to_string();
    let key = dir.path().join("server-key.pem").display().to_string();
    let proxy = Example::start(
        "proxy_https_to_http",
        &[
            ("TARGET", &up.url()),
            ("CERT_FILE", &cert),
            ("KEY_FILE", &key),
        ],
    );
    let config = common::tls_client_config(&dir.path().join("ca.pem"), None);
    let tcp = tokio::net::TcpStream::connect(proxy.addr)
        .await
        .expect("connect");
    let mut tls = tokio_rustls::TlsConnector::from(Arc::new(config))
        .connect(ServerName::try_from("localhost").expect("name"), tcp)
        .await
        .expect("tls handshake with the example");
    tls.write_all(b"GET /secure HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .await
        .expect("write");
    let mut answer = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), tls.read_to_end(&mut answer))
        .await
        .expect("answer in time")
        .expect("answer");
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(answer.ends_with("plain upstream got /secure"), "{answer}");
    assert_eq!(up.last().await.header("x-forwarded-proto"), "https");
}

#[tokio::test(flavor = "multi_thread")]
async fn https_to_https_checks_the_target_against_ca_file() {
    use hyper::service::service_fn;
    let dir = tempfile::tempdir().expect("tempdir");
    common::write_test_certs(dir.path());
    let acceptor = common::tls_acceptor(dir.path());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let up = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let Ok(tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let svc = service_fn(|req: http::Request<hyper::body::Incoming>| async move {
                    Ok::<_, std::convert::Infallible>(text(
                        200,
                        &format!("secure upstream got {}", req.uri()),
                    ))
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(hyper_util::rt::TokioIo::new(tls), svc)
                    .await;
            });
        }
    });
    let ca = dir.path().join("ca.pem").display().to_string();
    let target = format!("https://localhost:{}", up.port());
    let proxy = Example::start(
        "proxy_https_to_https",
        &[("TARGET", &target), ("CA_FILE", &ca)],
    );
    let answer = tls_get(proxy.addr, "/both").await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(answer.ends_with("secure upstream got /both"), "{answer}");
    // Without the CA the upstream's certificate is refused: 502.
    let unverified = Example::start("proxy_https_to_https", &[("TARGET", &target)]);
    let answer = tls_get(unverified.addr, "/both").await;
    assert!(answer.starts_with("HTTP/1.1 502"), "{answer}");
}

/// `GET path` over TLS to an example's self-signed listener (any
/// certificate accepted: the upstream side is what the tests check).
async fn tls_get(addr: SocketAddr, path: &str) -> String {
    let client_config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("versions")
    .dangerous()
    .with_custom_certificate_verifier(Arc::new(AnyCert))
    .with_no_client_auth();
    let tcp = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let mut tls = tokio_rustls::TlsConnector::from(Arc::new(client_config))
        .connect(
            rustls::pki_types::ServerName::try_from("localhost").expect("name"),
            tcp,
        )
        .await
        .expect("tls handshake with the example");
    tls.write_all(
        format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n").as_bytes(),
    )
    .await
    .expect("write");
    let mut answer = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), tls.read_to_end(&mut answer))
        .await
        .expect("answer in time")
        .expect("answer");
    String::from_utf8_lossy(&answer).into_owned()
}

/// Accepts any server certificate (the examples' self-signed listeners).
#[derive(Debug)]
struct AnyCert;

impl rustls::client::danger::ServerCertVerifier for AnyCert {
    fn verify_server_cert(
        &self,
        _: &rustls::pki_types::CertificateDer<'_>,
        _: &[rustls::pki_types::CertificateDer<'_>],
        _: &rustls::pki_types::ServerName<'_>,
        _: &[u8],
        _: rustls::pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        _: &[u8],
        _: &rustls::pki_types::CertificateDer<'_>,
        _: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        Ok(rustls::client::danger::HandshakeSignatureValid::assertion())
    }

    fn verify_tls13_signature(
        &self,
        _: &[u8],
        _: &rustls::pki_types::CertificateDer<'_>,
        _: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        Ok(rustls::client::danger::HandshakeSignatureValid::assertion())
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        rustls::crypto::ring::default_provider()
            .signature_verification_algorithms
            .supported_schemes()
    }
}
