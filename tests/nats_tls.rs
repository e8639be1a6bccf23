//! TLS on the NATS client port, driven by async-nats and raw sockets
//! against a real `edge run`, with certificates generated at test time.
//! As nats-server 2.9.10: INFO in plain text (`tls_required`, and
//! `tls_verify` with client certificates), then the client's handshake;
//! plain text, a wrong certificate or silence close the connection
//! without an `-ERR`.

mod common;

use common::rt;

use common::{write_test_certs, RunningEdge};
use futures::StreamExt;
use std::io::{Read, Write};
use std::path::Path;
use std::time::{Duration, Instant};

const WAIT: Duration = Duration::from_secs(5);

fn tls_config(dir: &Path, extra: &str) -> String {
    format!(
        "tls {{ cert_file: \"{0}/server.pem\", key_file: \"{0}/server-key.pem\", timeout: 1{extra} }}\n",
        dir.display()
    )
}

/// Connects with `opts`; `Ok` only if the client can round-trip a message.
async fn try_client(edge: &RunningEdge, opts: async_nats::ConnectOptions) -> Result<(), String> {
    let attempt = async {
        let client = opts
            .max_reconnects(Some(0))
            .connect(edge.url())
            .await
            .map_err(|e| e.to_string())?;
        let mut sub = client
            .subscribe("tls.check")
            .await
            .map_err(|e| e.to_string())?;
        client
            .publish("tls.check", "over tls".into())
            .await
            .map_err(|e| e.to_string())?;
        match sub.next().await {
            Some(m) if &m.payload[..] == b"over tls" => Ok(()),
            other => Err(format!("got {other:?}")),
        }
    };
    tokio::time::timeout(WAIT, attempt)
        .await
        .map_err(|_| "timed out".to_string())?
}

#[test]
fn tls_required_clients_and_wrong_ca() {
    let certs = tempfile::tempdir().expect("certs");
    write_test_certs(certs.path());
    let other = tempfile::tempdir().expect("other certs");
    write_test_certs(other.path());
    let edge = RunningEdge::start(&tls_config(certs.path(), ""));
    rt().block_on(async {
        let good = async_nats::ConnectOptions::new()
            .require_tls(true)
            .add_root_certificates(certs.path().join("ca.pem"));
        try_client(&edge, good).await.expect("TLS client works");
        // A client trusting another CA refuses the server's certificate.
        let wrong = async_nats::ConnectOptions::new()
            .require_tls(true)
            .add_root_certificates(other.path().join("ca.pem"));
        assert!(try_client(&edge, wrong).await.is_err());
    });
}

#[test]
fn verify_requires_a_client_certificate_from_the_ca() {
    let certs = tempfile::tempdir().expect("certs");
    write_test_certs(certs.path());
    let other = tempfile::tempdir().expect("other certs");
    write_test_certs(other.path());
    let edge = RunningEdge::start(&tls_config(
        certs.path(),
        &format!(
            ", ca_file: \"{}/ca.pem\", verify: true",
            certs.path().display()
        ),
    ));
    rt().block_on(async {
        let base = || {
            async_nats::ConnectOptions::new()
                .require_tls(true)
                .add_root_certificates(certs.path().join("ca.pem"))
        };
        let with_cert = base().add_client_certificate(
            certs.path().join("client.pem"),
            certs.path().join("client-key.pem"),
        );
        try_client(&edge, with_cert)
            .await
            .expect("client certificate accepted");
        assert!(
            try_client(&edge, base()).await.is_err(),
            "no client certificate"
        );
        let foreign = base().add_client_certificate(
            other.path().join("client.pem"),
            other.path().join("client-key.pem"),
        );
        assert!(
            try_client(&edge, foreign).await.is_err(),
            "certificate of another CA"
        );
    });
    // INFO announces both.
    let mut s = std::net::TcpStream::connect(("127.0.0.1", edge.port)).expect("connect");
    s.set_read_timeout(Some(WAIT)).expect("timeout");
    let mut info = [0u8; 1024];
    let n = s.read(&mut info).expect("INFO");
    let info = String::from_utf8_lossy(&info[..n]);
    assert!(
        info.contains("\"headers\":true,\"tls_required\":true,\"tls_verify\":true,\"max_payload\""),
        "{info}"
    );
}

/// Reads until the peer closes (true) or `limit` passes (false).
fn closes_within(s: &mut std::net::TcpStream, limit: Duration) -> (Vec<u8>, bool) {
    s.set_read_timeout(Some(Duration::from_millis(50)))
        .expect("timeout");
    let start = Instant::now();
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    while start.elapsed() < limit {
        match s.read(&mut buf) {
            Ok(0) => return (got, true),
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e)
                if e.kind() == std::io::ErrorKind::WouldBlock
                    || e.kind() == std::io::ErrorKind::TimedOut => {}
            Err(_) => return (got, true),
        }
    }
    (got, false)
}

#[test]
fn plain_text_and_silence_on_a_tls_port_close_without_a_word() {
    let certs = tempfile::tempdir().expect("certs");
    write_test_certs(certs.path());
    let edge = RunningEdge::start(&tls_config(certs.path(), ""));
    // Plain NATS after INFO: closed, nothing more sent.
    let mut s = std::net::TcpStream::connect(("127.0.0.1", edge.port)).expect("connect");
    let (info, _) = closes_within(&mut s, Duration::from_millis(200));
    assert!(String::from_utf8_lossy(&info).contains("\"tls_required\":true"));
    s.write_all(b"CONNECT {}\r\nPING\r\n").expect("write");
    assert_eq!(closes_within(&mut s, WAIT), (Vec::new(), true));
    // Silence: closed after the TLS timeout (1 s here).
    let start = Instant::now();
    let mut s = std::net::TcpStream::connect(("127.0.0.1", edge.port)).expect("connect");
    let (got, closed) = closes_within(&mut s, WAIT);
    assert!(closed && got.starts_with(b"INFO "));
    let waited = start.elapsed();
    assert!(
        waited >= Duration::from_millis(900) && waited < Duration::from_secs(3),
        "{waited:?}"
    );
    // Other clients were not affected.
    rt().block_on(async {
        let good = async_nats::ConnectOptions::new()
            .require_tls(true)
            .add_root_certificates(certs.path().join("ca.pem"));
        try_client(&edge, good)
            .await
            .expect("TLS client still works");
    });
}
