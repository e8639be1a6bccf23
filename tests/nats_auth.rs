//! Client authentication and accounts, driven by async-nats against a real
//! `edge run`: each auth kind with good and bad credentials, and account
//! isolation. The byte-level answers (error texts, what closes, what is
//! sent before CONNECT) are held to nats-server's recordings in
//! tests/nats_transcripts.rs.

mod common;

use common::rt;

use common::RunningEdge;
use futures::StreamExt;
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(5);

/// Connects once, without retrying, so a refused login is an error.
async fn connect(
    edge: &RunningEdge,
    opts: async_nats::ConnectOptions,
) -> Result<async_nats::Client, String> {
    tokio::time::timeout(WAIT, opts.max_reconnects(Some(0)).connect(edge.url()))
        .await
        .map_err(|_| "timed out".to_string())?
        .map_err(|e| e.to_string())
}

/// `user` (password `p`, as in the account fixtures here), connected.
async fn login(edge: &RunningEdge, user: &str) -> async_nats::Client {
    let opts = async_nats::ConnectOptions::with_user_and_password(user.into(), "p".into());
    connect(edge, opts).await.expect(user)
}

/// Whether `client` gets its own message back on a fresh subject (every
/// step bounded: a refused client must not hang the test).
async fn round_trip(client: &async_nats::Client, subject: &str) -> bool {
    tokio::time::timeout(WAIT, round_trip_unbounded(client, subject))
        .await
        .unwrap_or(false)
}

async fn round_trip_unbounded(client: &async_nats::Client, subject: &str) -> bool {
    let Ok(mut sub) = client.subscribe(subject.to_string()).await else {
        return false;
    };
    if client
        .publish(subject.to_string(), "ping".into())
        .await
        .is_err()
    {
        return false;
    }
    let _ = client.flush().await;
    matches!(tokio::time::timeout(WAIT, sub.next()).await, Ok(Some(m)) if &m.payload[..] == b"ping")
}

/// Waits until the server has `sub` in place: async-nats's `flush` only
/// writes the socket, so another connection's publish could overtake the
/// SUB. A probe published on the same connection comes back through the
/// subscription once the server has it.
async fn settle(client: &async_nats::Client, sub: &mut async_nats::Subscriber, probe: &str) {
    client
        .publish(probe.to_string(), "probe".into())
        .await
        .expect("probe");
    client.flush().await.expect("flush");
    let got = tokio::time::timeout(WAIT, sub.next()).await;
    assert!(
        matches!(&got, Ok(Some(m)) if m.subject.as_str() == probe),
        "probe {probe}: {got:?}"
    );
}

/// `connect` must fail: async-nats with no reconnects gives up at once.
async fn refused(edge: &RunningEdge, opts: async_nats::ConnectOptions) -> bool {
    let opts = opts.max_reconnects(Some(0));
    match tokio::time::timeout(WAIT, opts.connect(edge.url())).await {
        Ok(Err(_)) => true,
        Ok(Ok(client)) => {
            // A client may report success before the server's answer; an
            // authenticated one can round-trip, a refused one cannot.
            !round_trip(&client, "probe.refused").await
        }
        Err(_) => true,
    }
}

#[test]
fn user_password_plain_and_bcrypt() {
    let hash = bcrypt::hash("s3cret", 4).expect("hash");
    let edge = RunningEdge::start(&format!(
        "authorization {{ users = [ {{user: plain, password: pw}}, {{user: hashed, password: \"{hash}\"}} ] }}\n"
    ));
    rt().block_on(async {
        let c = connect(
            &edge,
            async_nats::ConnectOptions::with_user_and_password("plain".into(), "pw".into()),
        )
        .await
        .expect("plain user connects");
        assert!(round_trip(&c, "a.plain").await);
        let c = connect(
            &edge,
            async_nats::ConnectOptions::with_user_and_password("hashed".into(), "s3cret".into()),
        )
        .await
        .expect("bcrypt user connects");
        assert!(round_trip(&c, "a.hashed").await);
        assert!(
            refused(
                &edge,
                async_nats::ConnectOptions::with_user_and_password("hashed".into(), "wrong".into())
            )
            .await
        );
        assert!(
            refused(
                &edge,
                async_nats::ConnectOptions::with_user_and_password("nobody".into(), "pw".into())
            )
            .await
        );
        assert!(refused(&edge, async_nats::ConnectOptions::new()).await);
    });
}

#[test]
fn token_plain_and_bcrypt() {
    for token in ["t0ken".to_string(), bcrypt::hash("t0ken", 4).expect("hash")] {
        let edge = RunningEdge::start(&format!("authorization {{ token: \"{token}\" }}\n"));
        rt().block_on(async {
            let c = connect(
                &edge,
                async_nats::ConnectOptions::with_token("t0ken".into()),
            )
            .await
            .expect("token connects");
            assert!(round_trip(&c, "t").await);
            assert!(
                refused(
                    &edge,
                    async_nats::ConnectOptions::with_token("wrong".into())
                )
                .await
            );
        });
    }
}

#[test]
fn nkey_user_signs_the_nonce() {
    let user = nkeys::KeyPair::new_user();
    let other = nkeys::KeyPair::new_user();
    let edge = RunningEdge::start(&format!(
        "authorization {{ users = [ {{ nkey: {} }} ] }}\n",
        user.public_key()
    ));
    rt().block_on(async {
        let seed = user.seed().expect("seed");
        let c = connect(&edge, async_nats::ConnectOptions::with_nkey(seed))
            .await
            .expect("nkey user connects");
        assert!(round_trip(&c, "nk").await);
        // A key the server does not know, and a known key whose signature
        // does not verify (signed by another key).
        let stranger = other.seed().expect("seed");
        assert!(refused(&edge, async_nats::ConnectOptions::with_nkey(stranger)).await);
    });
}

#[test]
fn no_auth_user_logs_in_clients_without_credentials() {
    let edge = RunningEdge::start(
        "authorization { users = [ {user: anon, password: a, permissions: {publish: \"open.>\", subscribe: \"open.>\"}}, {user: admin, password: b} ] }\nno_auth_user: anon\n",
    );
    rt().block_on(async {
        let anon = connect(&edge, async_nats::ConnectOptions::new())
            .await
            .expect("anonymous connects");
        assert!(round_trip(&anon, "open.x").await);
        // Its permissions apply: it cannot receive on other subjects.
        assert!(!round_trip(&anon, "closed.x").await);
        let admin = connect(
            &edge,
            async_nats::ConnectOptions::with_user_and_password("admin".into(), "b".into()),
        )
        .await
        .expect("admin connects");
        assert!(round_trip(&admin, "closed.x").await);
    });
}

#[test]
fn accounts_isolate_subjects() {
    let edge = RunningEdge::start(
        "accounts { A { users = [{user: a1, password: p}, {user: a2, password: p}] }, B { users = [{user: b1, password: p}] } }\n",
    );
    rt().block_on(async {
        let a1 = login(&edge, "a1").await;
        let a2 = login(&edge, "a2").await;
        let b1 = login(&edge, "b1").await;
        let mut in_a = a2.subscribe("shared").await.expect("sub a2");
        let mut in_b = b1.subscribe("shared").await.expect("sub b1");
        settle(&a2, &mut in_a, "shared").await;
        settle(&b1, &mut in_b, "shared").await;
        a1.publish("shared", "from A".into())
            .await
            .expect("publish");
        a1.flush().await.expect("flush");
        let got = tokio::time::timeout(WAIT, in_a.next()).await;
        assert!(matches!(got, Ok(Some(m)) if &m.payload[..] == b"from A"));
        // Account B never sees account A's message.
        let leaked = tokio::time::timeout(Duration::from_millis(300), in_b.next()).await;
        assert!(leaked.is_err(), "account B received {leaked:?}");
    });
}

#[test]
fn authorization_timeout_closes_silent_clients() {
    use std::io::Read;
    let edge = RunningEdge::start("authorization { user: u, password: p, timeout: 0.5 }\n");
    let mut s = std::net::TcpStream::connect(("127.0.0.1", edge.port)).expect("connect");
    s.set_read_timeout(Some(WAIT)).expect("timeout");
    let mut got = Vec::new();
    let start = std::time::Instant::now();
    let _ = s.read_to_end(&mut got);
    let text = String::from_utf8_lossy(&got);
    assert!(text.contains("\"auth_required\":true"), "{text}");
    assert!(
        text.ends_with("-ERR 'Authentication Timeout'\r\n"),
        "{text}"
    );
    assert!(start.elapsed() < Duration::from_secs(3));
}

/// SIGHUP with a changed password and changed permissions under live
/// clients; every answer below is what nats-server 2.9.10 sent in the same
/// exchange. A file that no longer parses keeps the running plan.
#[test]
fn reload_changes_passwords_and_permissions_under_live_clients() {
    use std::io::{Read, Write};
    let before = "authorization { users = [ {user: a, password: pa, permissions: {subscribe: \">\", publish: \">\"}}, {user: b, password: pb} ] }\n";
    let after = "authorization { users = [ {user: a, password: pa, permissions: {subscribe: \"bar\", publish: \"bar\"}}, {user: b, password: changed} ] }\n";
    let edge = RunningEdge::start(before);
    let conf = edge.config_path();
    let login = |user: &str, pass: &str| {
        let mut s = std::net::TcpStream::connect(("127.0.0.1", edge.port)).expect("connect");
        s.set_read_timeout(Some(Duration::from_millis(100)))
            .expect("timeout");
        let mut info = [0u8; 1024];
        let _ = s.read(&mut info).expect("INFO");
        s.write_all(
            format!(
                "CONNECT {{\"verbose\":false,\"user\":\"{user}\",\"pass\":\"{pass}\"}}\r\nPING\r\n"
            )
            .as_bytes(),
        )
        .expect("write");
        s
    };
    let read = |s: &mut std::net::TcpStream| {
        std::thread::sleep(Duration::from_millis(300));
        let mut got = Vec::new();
        let mut buf = [0u8; 4096];
        loop {
            match s.read(&mut buf) {
                Ok(0) => {
                    got.extend_from_slice(b"<closed>");
                    break;
                }
                Ok(n) => got.extend_from_slice(&buf[..n]),
                Err(_) => break,
            }
        }
        String::from_utf8_lossy(&got).into_owned()
    };
    let hup = || {
        let status = std::process::Command::new("kill")
            .args(["-HUP", &edge.pid().to_string()])
            .status()
            .expect("kill");
        assert!(status.success());
    };
    let mut a = login("a", "pa");
    let mut b = login("b", "pb");
    a.write_all(b"SUB foo 1\r\nSUB bar 2\r\nPING\r\n")
        .expect("write");
    assert_eq!(read(&mut a), "PONG\r\nPONG\r\n");
    assert_eq!(read(&mut b), "PONG\r\n");
    std::fs::write(&conf, after).expect("rewrite config");
    hup();
    assert_eq!(
        read(&mut a),
        "-ERR 'Permissions Violation for Subscription to \"foo\" (sid \"1\")'\r\n"
    );
    assert_eq!(read(&mut b), "-ERR 'Authorization Violation'\r\n<closed>");
    a.write_all(b"PUB foo 1\r\nx\r\nPUB bar 1\r\ny\r\nPING\r\n")
        .expect("write");
    assert_eq!(
        read(&mut a),
        "-ERR 'Permissions Violation for Publish to \"foo\"'\r\nMSG bar 2 1\r\ny\r\nPONG\r\n"
    );
    // The old password no longer logs in; the new one does.
    let mut old = login("b", "pb");
    assert_eq!(read(&mut old), "-ERR 'Authorization Violation'\r\n<closed>");
    let mut new = login("b", "changed");
    assert_eq!(read(&mut new), "PONG\r\n");
    // A broken file is refused and the running plan kept.
    std::fs::write(&conf, "authorization { users = [ {user: a ").expect("rewrite config");
    hup();
    let mut again = login("b", "changed");
    assert_eq!(read(&mut again), "PONG\r\n");
}

/// A stream exported by account A and imported by B with a prefix: B's
/// subscribers get A's messages under the prefix; nothing leaks the other
/// way, and an account that imports nothing gets nothing.
#[test]
fn stream_import_delivers_across_accounts() {
    let edge = RunningEdge::start(
        "accounts {\n\
           A { users = [{user: a, password: p}], exports = [{stream: \"events.>\"}] }\n\
           B { users = [{user: b, password: p}], imports = [{stream: {account: A, subject: \"events.>\"}, prefix: from_a}] }\n\
           C { users = [{user: c, password: p}] }\n\
         }\n",
    );
    rt().block_on(async {
        let a = login(&edge, "a").await;
        let b = login(&edge, "b").await;
        let c = login(&edge, "c").await;
        let mut in_b = b.subscribe("from_a.events.>").await.expect("sub b");
        let mut b_plain = b.subscribe("events.>").await.expect("sub b plain");
        let mut in_c = c.subscribe(">").await.expect("sub c");
        let mut in_a = a.subscribe("events.>").await.expect("sub a");
        settle(&b, &mut in_b, "from_a.events.probe").await;
        settle(&b, &mut b_plain, "events.probe").await;
        settle(&c, &mut in_c, "probe").await;
        // A's probe also reaches B through the import.
        settle(&a, &mut in_a, "events.probe").await;
        let imported = tokio::time::timeout(WAIT, in_b.next()).await;
        assert!(
            matches!(&imported, Ok(Some(m)) if m.subject.as_str() == "from_a.events.probe"),
            "{imported:?}"
        );
        a.publish("events.login", "hello".into()).await.expect("publish");
        a.publish("private.x", "secret".into()).await.expect("publish");
        a.flush().await.expect("flush");
        let got = tokio::time::timeout(WAIT, in_b.next()).await;
        assert!(
            matches!(&got, Ok(Some(m)) if m.subject.as_str() == "from_a.events.login" && &m.payload[..] == b"hello"),
            "{got:?}"
        );
        let got = tokio::time::timeout(WAIT, in_a.next()).await;
        assert!(matches!(got, Ok(Some(m)) if m.subject.as_str() == "events.login"));
        let quiet = Duration::from_millis(300);
        assert!(tokio::time::timeout(quiet, b_plain.next()).await.is_err());
        assert!(tokio::time::timeout(quiet, in_c.next()).await.is_err());
        // B's own publications do not flow back into A.
        b.publish("events.back", "no".into()).await.expect("publish");
        b.flush().await.expect("flush");
        assert!(tokio::time::timeout(quiet, in_a.next()).await.is_err());
    });
}

/// A service account A answering on `req.>` (singleton) and `feed.*`
/// (stream), imported by B under other names.
const SERVICES: &str = "accounts {\n\
   A {\n\
     users = [{user: a, password: p}]\n\
     exports = [{service: \"req.>\", accounts: [B]}, {service: \"feed.*\", response_type: stream, response_threshold: \"2s\"}]\n\
   }\n\
   B {\n\
     users = [{user: b, password: p}]\n\
     imports = [{service: {account: A, subject: \"req.echo\"}, to: \"echo\"}, {service: {account: A, subject: \"feed.*\"}}]\n\
   }\n\
 }\n";

#[test]
fn service_import_request_reply_across_accounts() {
    let edge = RunningEdge::start(SERVICES);
    rt().block_on(async {
        let a = login(&edge, "a").await;
        let b = login(&edge, "b").await;
        let mut service = a.subscribe("req.echo").await.expect("sub a");
        settle(&a, &mut service, "req.echo").await;
        let responder = a.clone();
        let server = tokio::spawn(async move {
            let mut seen = Vec::new();
            while let Some(m) = service.next().await {
                let reply = m.reply.clone().expect("a request has a reply");
                let info = m
                    .headers
                    .as_ref()
                    .and_then(|h| h.get("Nats-Request-Info").map(|v| v.to_string()));
                seen.push((m.subject.to_string(), reply.to_string(), info));
                let mut answer = b"echo:".to_vec();
                answer.extend_from_slice(&m.payload);
                responder
                    .publish(reply.clone(), answer.into())
                    .await
                    .expect("respond");
                responder.flush().await.expect("flush");
                // A second answer to a singleton goes nowhere.
                responder
                    .publish(reply, "late".into())
                    .await
                    .expect("respond");
                responder.flush().await.expect("flush");
                if seen.len() == 3 {
                    break;
                }
            }
            seen
        });
        for word in ["one", "two"] {
            let got = tokio::time::timeout(WAIT, b.request("echo", word.to_string().into()))
                .await
                .expect("in time")
                .expect("a response through the import");
            assert_eq!(&got.payload[..], format!("echo:{word}").as_bytes());
        }
        // A singleton maps one response: the service's second is dropped.
        let mut inbox = b.subscribe("replies.s").await.expect("sub inbox");
        settle(&b, &mut inbox, "replies.s").await;
        b.publish_with_reply("echo", "replies.s", "three".into())
            .await
            .expect("request");
        b.flush().await.expect("flush");
        let got = tokio::time::timeout(WAIT, inbox.next())
            .await
            .expect("in time")
            .expect("msg");
        assert_eq!(&got.payload[..], b"echo:three");
        let seen = server.await.expect("service");
        for (subject, reply, info) in &seen {
            assert_eq!(subject, "req.echo", "delivered under the exported subject");
            // nats-server's shape: _R_.<6 base62>.<6 base62>
            let parts: Vec<&str> = reply.split('.').collect();
            assert_eq!(parts.len(), 3, "{reply}");
            assert_eq!(parts[0], "_R_");
            assert!(
                parts[1..]
                    .iter()
                    .all(|p| p.len() == 6 && p.bytes().all(|c| c.is_ascii_alphanumeric())),
                "{reply}"
            );
            let info = info.as_deref().expect("Nats-Request-Info header");
            assert!(info.starts_with(r#"{"acc":"B""#), "{info}");
        }
        assert_eq!(seen[0].1[..11], seen[1].1[..11], "one prefix per account");
        assert_ne!(seen[0].1, seen[1].1, "a fresh reply per request");
        let quiet = Duration::from_millis(300);
        assert!(tokio::time::timeout(quiet, inbox.next()).await.is_err());
    });
}

#[test]
fn service_import_stream_responses_until_threshold() {
    let edge = RunningEdge::start(SERVICES);
    rt().block_on(async {
        let a = login(&edge, "a").await;
        let b = login(&edge, "b").await;
        let mut service = a.subscribe("feed.*").await.expect("sub a");
        settle(&a, &mut service, "feed.probe").await;
        let mut inbox = b.subscribe("replies.1").await.expect("sub b");
        settle(&b, &mut inbox, "replies.1").await;
        b.publish_with_reply("feed.prices", "replies.1", "go".into())
            .await
            .expect("request");
        b.flush().await.expect("flush");
        let req = tokio::time::timeout(WAIT, service.next())
            .await
            .expect("in time")
            .expect("request");
        assert_eq!(
            req.subject.as_str(),
            "feed.prices",
            "wildcard import keeps the subject"
        );
        let reply = req.reply.clone().expect("reply");
        for i in 0..3 {
            a.publish(reply.clone(), format!("tick{i}").into())
                .await
                .expect("respond");
        }
        a.flush().await.expect("flush");
        for i in 0..3 {
            let got = tokio::time::timeout(WAIT, inbox.next())
                .await
                .expect("in time")
                .expect("msg");
            assert_eq!(got.subject.as_str(), "replies.1");
            assert_eq!(&got.payload[..], format!("tick{i}").as_bytes());
        }
        // Past the 2s threshold the mapping is gone.
        tokio::time::sleep(Duration::from_millis(2300)).await;
        a.publish(reply.clone(), "too late".into())
            .await
            .expect("respond");
        a.flush().await.expect("flush");
        let quiet = Duration::from_millis(300);
        assert!(tokio::time::timeout(quiet, inbox.next()).await.is_err());
    });
}

#[test]
fn unauthorized_service_import_is_refused_by_check() {
    let dir = tempfile::tempdir().expect("tempdir");
    let conf = dir.path().join("bad.conf");
    std::fs::write(
        &conf,
        "accounts {\n\
           A { users = [{user: a, password: p}], exports = [{service: \"req.>\", accounts: [C]}] }\n\
           B { users = [{user: b, password: p}], imports = [{service: {account: A, subject: \"req.x\"}}] }\n\
           C { }\n\
         }\n",
    )
    .expect("write");
    let out = common::run_edge(&["check", conf.to_str().expect("utf8")], dir.path(), &[]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(r#"Error adding service import "req.x": service import not authorized"#),
        "{stderr}"
    );
}

/// Permissions across an import, as nats-server: a responder that may
/// publish nothing but responses (`allow_responses`) answers through the
/// mapped `_R_` reply.
#[test]
fn service_import_responses_need_only_allow_responses() {
    let edge = RunningEdge::start(
        "accounts {\n\
           A {\n\
             users = [{user: a, password: p, permissions: {publish: {deny: \">\"}, subscribe: \"req.>\", allow_responses: true}}]\n\
             exports = [{service: \"req.>\"}]\n\
           }\n\
           B { users = [{user: b, password: p}], imports = [{service: {account: A, subject: \"req.time\"}, to: \"time\"}] }\n\
         }\n",
    );
    rt().block_on(async {
        let a = login(&edge, "a").await;
        let b = login(&edge, "b").await;
        let mut service = a.subscribe("req.time").await.expect("sub a");
        // a may not publish, so no probe: wait for B's request to arrive.
        let responder = a.clone();
        tokio::spawn(async move {
            while let Some(m) = service.next().await {
                if let Some(reply) = m.reply {
                    let _ = responder.publish(reply, "noon".into()).await;
                    let _ = responder.flush().await;
                }
            }
        });
        let mut answer = None;
        for _ in 0..20 {
            match tokio::time::timeout(Duration::from_millis(500), b.request("time", "now?".into()))
                .await
            {
                Ok(Ok(m)) => {
                    answer = Some(m);
                    break;
                }
                _ => continue,
            }
        }
        let answer = answer.expect("an answer through the import");
        assert_eq!(&answer.payload[..], b"noon");
    });
}

/// Chained service imports, as nats-server: C imports B's `mid.x`, which B
/// itself imports from A; a request from C reaches A's service with
/// `Nats-Request-Info` naming C and B (`svc`), and the response comes back
/// through both reply mappings.
#[test]
fn chained_service_imports_answer_through_every_account() {
    let edge = RunningEdge::start(
        "accounts {\n\
           A { users = [{user: a, password: p}], exports = [{service: \"svc.>\"}] }\n\
           B { users = [{user: b, password: p}], exports = [{service: \"mid.>\"}], imports = [{service: {account: A, subject: \"svc.x\"}, to: \"mid.x\"}] }\n\
           C { users = [{user: c, password: p}], imports = [{service: {account: B, subject: \"mid.x\"}, to: \"top.x\"}] }\n\
         }\n",
    );
    rt().block_on(async {
        let a = login(&edge, "a").await;
        let c = login(&edge, "c").await;
        let mut service = a.subscribe("svc.x").await.expect("sub a");
        settle(&a, &mut service, "svc.x").await;
        let responder = a.clone();
        let server = tokio::spawn(async move {
            let m = service.next().await.expect("request");
            let info = m
                .headers
                .as_ref()
                .and_then(|h| h.get("Nats-Request-Info").map(|v| v.to_string()));
            responder
                .publish(m.reply.expect("reply"), "from A".into())
                .await
                .expect("respond");
            responder.flush().await.expect("flush");
            info
        });
        let got = tokio::time::timeout(WAIT, c.request("top.x", "hi".into()))
            .await
            .expect("in time")
            .expect("a response through both imports");
        assert_eq!(&got.payload[..], b"from A");
        let info = server.await.expect("service").expect("Nats-Request-Info");
        assert!(info.starts_with(r#"{"acc":"C","svc":"B""#), "{info}");
    });
}
