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

/// A CA, a server certificate and client certificates with the names
/// `verify_and_map` looks users up by, written to `dir`:
/// `alice` (subject O=Acme, CN=alice), `mail` (e-mail SAN
/// bob@example.com), `dns` (DNS SAN svc.example.com), `nobody`
/// (CN=nobody: no user has its names).
fn write_mapped_certs(dir: &Path) {
    use rcgen::{
        BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair,
        SanType,
    };
    let ca_key = KeyPair::generate().expect("ca key");
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).expect("ca params");
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "map test CA");
    let ca = ca_params.self_signed(&ca_key).expect("ca cert");
    std::fs::write(dir.join("ca.pem"), ca.pem()).expect("write ca");
    let key = KeyPair::generate().expect("server key");
    let params =
        CertificateParams::new(vec!["localhost".into(), "127.0.0.1".into()]).expect("params");
    let cert = params.signed_by(&key, &ca, &ca_key).expect("server cert");
    std::fs::write(dir.join("server.pem"), cert.pem()).expect("write cert");
    std::fs::write(dir.join("server-key.pem"), key.serialize_pem()).expect("write key");
    let client = |name: &str, dn: &[(DnType, &str)], sans: Vec<SanType>| {
        let key = KeyPair::generate().expect("client key");
        let mut p = CertificateParams::new(Vec::<String>::new()).expect("client params");
        p.distinguished_name = rcgen::DistinguishedName::new();
        for (t, v) in dn {
            p.distinguished_name.push(t.clone(), *v);
        }
        p.subject_alt_names = sans;
        p.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        let cert = p.signed_by(&key, &ca, &ca_key).expect("client cert");
        std::fs::write(dir.join(format!("{name}.pem")), cert.pem()).expect("write");
        std::fs::write(dir.join(format!("{name}-key.pem")), key.serialize_pem()).expect("write");
    };
    client(
        "alice",
        &[
            (DnType::OrganizationName, "Acme"),
            (DnType::CommonName, "alice"),
        ],
        vec![],
    );
    client(
        "mail",
        &[(DnType::CommonName, "bob")],
        vec![SanType::Rfc822Name(
            "bob@example.com".try_into().expect("ia5"),
        )],
    );
    client(
        "dns",
        &[(DnType::CommonName, "service")],
        vec![SanType::DnsName("svc.example.com".try_into().expect("ia5"))],
    );
    client("nobody", &[(DnType::CommonName, "nobody")], vec![]);
}

/// Over TLS with `client`'s certificate: INFO, the handshake, then
/// `CONNECT {}` and `PING`; what the server answers (until PONG or close).
async fn tls_connect_answer(edge: &RunningEdge, dir: &Path, client: &str) -> String {
    use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt};
    let config = common::tls_client_config(
        &dir.join("ca.pem"),
        Some((
            &dir.join(format!("{client}.pem")),
            &dir.join(format!("{client}-key.pem")),
        )),
    );
    let mut tcp = tokio::net::TcpStream::connect(("127.0.0.1", edge.port))
        .await
        .expect("connect");
    // INFO comes in plain text first.
    let mut info = Vec::new();
    let mut byte = [0u8; 1];
    while !info.ends_with(b"\r\n") {
        tcp.read_exact(&mut byte).await.expect("INFO");
        info.push(byte[0]);
    }
    let connector = tokio_rustls::TlsConnector::from(std::sync::Arc::new(config));
    let name = rustls::pki_types::ServerName::try_from("localhost").expect("name");
    let tls = connector.connect(name, tcp).await.expect("handshake");
    let mut tls = tokio::io::BufReader::new(tls);
    tls.get_mut()
        .write_all(b"CONNECT {\"verbose\":false}\r\nPING\r\n")
        .await
        .expect("write");
    let mut line = String::new();
    let _ = tokio::time::timeout(WAIT, tls.read_line(&mut line)).await;
    line
}

#[test]
fn verify_and_map_finds_users_by_certificate() {
    let certs = tempfile::tempdir().expect("certs");
    write_mapped_certs(certs.path());
    let d = certs.path().display();
    let edge = RunningEdge::start(&format!(
        "tls {{ cert_file: \"{d}/server.pem\", key_file: \"{d}/server-key.pem\", ca_file: \"{d}/ca.pem\", verify_and_map: true, timeout: 2 }}\n\
         authorization {{ users = [\n\
           {{user: \"CN=alice,O=Acme\", permissions: {{publish: \"alice.>\", subscribe: \"_INBOX.>\"}}}}\n\
           {{user: \"bob@example.com\"}}\n\
           {{user: \"svc.example.com\"}}\n\
         ] }}\n"
    ));
    rt().block_on(async {
        for client in ["alice", "mail", "dns"] {
            assert_eq!(
                tls_connect_answer(&edge, certs.path(), client).await,
                "PONG\r\n",
                "{client}"
            );
        }
        assert_eq!(
            tls_connect_answer(&edge, certs.path(), "nobody").await,
            "-ERR 'Authorization Violation'\r\n"
        );
        // The mapped user's permissions apply: alice may not publish to x.
        let alice = async_nats::ConnectOptions::new()
            .require_tls(true)
            .add_root_certificates(certs.path().join("ca.pem"))
            .add_client_certificate(
                certs.path().join("alice.pem"),
                certs.path().join("alice-key.pem"),
            );
        assert!(
            try_client(&edge, alice).await.is_err(),
            "tls.check is not alice's"
        );
        let bob = async_nats::ConnectOptions::new()
            .require_tls(true)
            .add_root_certificates(certs.path().join("ca.pem"))
            .add_client_certificate(
                certs.path().join("mail.pem"),
                certs.path().join("mail-key.pem"),
            );
        try_client(&edge, bob).await.expect("bob round-trips");
    });
}

#[test]
fn verify_without_ca_file_checks_the_system_roots() {
    let certs = tempfile::tempdir().expect("certs");
    write_test_certs(certs.path());
    let d = certs.path().display();
    let edge = RunningEdge::start(&format!(
        "tls {{ cert_file: \"{d}/server.pem\", key_file: \"{d}/server-key.pem\", verify: true, timeout: 2 }}\n"
    ));
    rt().block_on(async {
        // The test CA is in no system store: its client certificate is refused.
        let with_cert = async_nats::ConnectOptions::new()
            .require_tls(true)
            .add_root_certificates(certs.path().join("ca.pem"))
            .add_client_certificate(
                certs.path().join("client.pem"),
                certs.path().join("client-key.pem"),
            );
        assert!(try_client(&edge, with_cert).await.is_err());
        let without = async_nats::ConnectOptions::new()
            .require_tls(true)
            .add_root_certificates(certs.path().join("ca.pem"));
        assert!(try_client(&edge, without).await.is_err());
    });
    // INFO says tls_verify.
    let mut s = std::net::TcpStream::connect(("127.0.0.1", edge.port)).expect("connect");
    s.set_read_timeout(Some(WAIT)).expect("timeout");
    let mut info = [0u8; 1024];
    let n = s.read(&mut info).expect("INFO");
    assert!(String::from_utf8_lossy(&info[..n]).contains("\"tls_verify\":true"));
}
