//! Helpers shared by the integration tests: run the real `edge` binary.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

mod ports;
pub mod rss;

/// Runs a quickcheck property for `QUICKCHECK_TESTS` passing cases
/// (`default` without it), allowing ten times as many tries for discards,
/// and prints how many passed, so a long fuzz run reports what it really
/// did.
pub fn quickcheck<A: quickcheck::Testable>(name: &str, default: u64, prop: A) {
    let tests: u64 = std::env::var("QUICKCHECK_TESTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default);
    match quickcheck::QuickCheck::new()
        .tests(tests)
        .max_tests(tests.saturating_mul(10))
        .quicktest(prop)
    {
        Ok(passed) => eprintln!("{name}: {passed} cases passed"),
        Err(failure) => panic!("{name} failed: {failure:?}"),
    }
}

/// A free port for a server the test starts (see [`ports`]).
pub fn free_port() -> u16 {
    ports::free_port()
}

/// The `edge` binary cargo built for these tests.
pub fn edge() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_edge"))
}

/// Runs `edge ARGS` in `dir` with only PATH and the given variables set, so
/// the host environment cannot leak into `$VARIABLE` lookups.
///
/// A run that has not exited after 30 s (say `edge run` started serving
/// where a test expected a refusal) is killed, so the test fails instead
/// of hanging.
pub fn run_edge(args: &[&str], dir: &Path, env: &[(String, String)]) -> Output {
    let mut child = Command::new(edge())
        .args(args)
        .current_dir(dir)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .envs(env.iter().cloned())
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run edge");
    // Drained on threads, so a large output cannot fill a pipe and stall it.
    let drain = |pipe: Option<Box<dyn std::io::Read + Send>>| {
        std::thread::spawn(move || {
            let mut bytes = Vec::new();
            if let Some(mut p) = pipe {
                let _ = p.read_to_end(&mut bytes);
            }
            bytes
        })
    };
    let out = drain(child.stdout.take().map(|p| Box::new(p) as _));
    let err = drain(child.stderr.take().map(|p| Box::new(p) as _));
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait edge") {
            break status;
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            break child.wait().expect("wait edge");
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    };
    Output {
        status,
        stdout: out.join().unwrap_or_default(),
        stderr: err.join().unwrap_or_default(),
    }
}

/// `edge run`, or another server by name (`nats-server`), for tests that
/// play one scenario against both.
#[allow(dead_code)]
pub fn server_command(program: &str) -> Command {
    if program == "edge" {
        let mut c = Command::new(edge());
        c.arg("run");
        c
    } else {
        Command::new(program)
    }
}

/// Whether nats-server is on the PATH (CI installs it; elsewhere the
/// comparisons with it are skipped and edge is checked alone).
#[allow(dead_code)]
pub fn nats_server_installed() -> bool {
    Command::new("nats-server")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

/// The repository root.
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Makes a CA and a server certificate for 127.0.0.1/localhost in `dir`:
/// `ca.pem`, `server.pem`, `server-key.pem`, and a client certificate
/// `client.pem`, `client-key.pem` (generated, never committed).
pub fn write_test_certs(dir: &Path) {
    use rcgen::{BasicConstraints, CertificateParams, ExtendedKeyUsagePurpose, IsCa, KeyPair};
    std::fs::create_dir_all(dir).expect("cert dir");
    let ca_key = KeyPair::generate().expect("ca key");
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).expect("ca params");
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca = ca_params.self_signed(&ca_key).expect("ca cert");
    let key = KeyPair::generate().expect("server key");
    let params =
        CertificateParams::new(vec!["localhost".into(), "127.0.0.1".into()]).expect("params");
    let cert = params.signed_by(&key, &ca, &ca_key).expect("server cert");
    std::fs::write(dir.join("ca.pem"), ca.pem()).expect("write ca");
    std::fs::write(dir.join("server.pem"), cert.pem()).expect("write cert");
    std::fs::write(dir.join("server-key.pem"), key.serialize_pem()).expect("write key");
    let client_key = KeyPair::generate().expect("client key");
    let mut client = CertificateParams::new(Vec::<String>::new()).expect("client params");
    client.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    let client = client
        .signed_by(&client_key, &ca, &ca_key)
        .expect("client cert");
    std::fs::write(dir.join("client.pem"), client.pem()).expect("write client cert");
    std::fs::write(dir.join("client-key.pem"), client_key.serialize_pem())
        .expect("write client key");
}

/// A running `edge run` on 127.0.0.1 and a free port, killed on drop.
pub struct RunningEdge {
    child: std::process::Child,
    /// The NATS client port.
    pub port: u16,
    /// Its config, stderr and ports file.
    dir: tempfile::TempDir,
}

impl RunningEdge {
    /// Starts `edge run -c CONFIG -a 127.0.0.1 -p -1` and waits for the
    /// ports file it writes once every listener is bound. Port -1 lets the
    /// kernel pick the port at edge's bind: no port is chosen ahead of the
    /// bind and nothing connects before it (see `ports.rs` for what both
    /// can cost).
    pub fn start(config: &str) -> RunningEdge {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("edge.conf");
        std::fs::write(&path, config).expect("write config");
        let stderr = stderr_path(dir.path());
        let mut child = Command::new(edge())
            .args(["run", "-c"])
            .arg(&path)
            .args(["-a", "127.0.0.1", "-p", "-1", "--ports_file_dir"])
            .arg(dir.path())
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::fs::File::create(&stderr).expect("stderr file"))
            .spawn()
            .expect("start edge");
        let ports = dir.path().join(format!("edge_{}.ports", child.id()));
        let said = || std::fs::read_to_string(&stderr).unwrap_or_default();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        let port = loop {
            let written = std::fs::read_to_string(&ports).ok();
            if let Some(port) = written.as_deref().and_then(nats_port) {
                break port;
            }
            if let Ok(Some(status)) = child.try_wait() {
                panic!("edge exited ({status}) before listening: {}", said());
            }
            assert!(
                std::time::Instant::now() < deadline,
                "edge did not listen within 10 s: {}",
                said()
            );
            std::thread::sleep(std::time::Duration::from_millis(10));
        };
        RunningEdge { child, port, dir }
    }

    /// The config file it runs (rewrite it, then SIGHUP, to reload).
    pub fn config_path(&self) -> PathBuf {
        self.dir.path().join("edge.conf")
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Its exit status once it has exited.
    pub fn try_wait(&mut self) -> Option<std::process::ExitStatus> {
        self.child.try_wait().ok().flatten()
    }

    /// `nats://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }
}

impl Drop for RunningEdge {
    /// Kills edge; when it had already exited, prints why (the test's
    /// output shows it if the test failed).
    fn drop(&mut self) {
        if let Ok(Some(status)) = self.child.try_wait() {
            let said = std::fs::read_to_string(stderr_path(self.dir.path()));
            eprintln!("edge had exited ({status}): {}", said.unwrap_or_default());
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Where a RunningEdge in `dir` writes its stderr.
fn stderr_path(dir: &Path) -> PathBuf {
    dir.join("stderr")
}

/// The client port in a ports file (`{"nats":["nats://127.0.0.1:PORT"]}`);
/// `None` while the file is still being written.
fn nats_port(ports: &str) -> Option<u16> {
    let json: serde_json::Value = serde_json::from_str(ports).ok()?;
    json["nats"][0].as_str()?.rsplit(':').next()?.parse().ok()
}

/// A two-worker tokio runtime for the client-library tests.
pub fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
}

/// A rustls client trusting `ca` (a PEM file), with `client` (cert, key)
/// presented when given.
pub fn tls_client_config(ca: &Path, client: Option<(&Path, &Path)>) -> rustls::ClientConfig {
    use rustls::pki_types::{pem::PemObject, CertificateDer, PrivateKeyDer};
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(ca).expect("ca") {
        roots.add(cert.expect("cert")).expect("add");
    }
    let builder = rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("versions")
    .with_root_certificates(roots);
    match client {
        None => builder.with_no_client_auth(),
        Some((cert, key)) => {
            let certs = CertificateDer::pem_file_iter(cert)
                .expect("client cert")
                .collect::<Result<Vec<_>, _>>()
                .expect("client cert");
            let key = PrivateKeyDer::from_pem_file(key).expect("client key");
            builder
                .with_client_auth_cert(certs, key)
                .expect("client auth")
        }
    }
}

/// A TLS acceptor with `dir`'s `server.pem` and `server-key.pem` (from
/// [`write_test_certs`]), for test upstreams.
pub fn tls_acceptor(dir: &Path) -> tokio_rustls::TlsAcceptor {
    use rustls::pki_types::{pem::PemObject, CertificateDer, PrivateKeyDer};
    let certs = CertificateDer::pem_file_iter(dir.join("server.pem"))
        .expect("certs")
        .collect::<Result<Vec<_>, _>>()
        .expect("certs");
    let key = PrivateKeyDer::from_pem_file(dir.join("server-key.pem")).expect("key");
    let config = rustls::ServerConfig::builder_with_provider(std::sync::Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("versions")
    .with_no_client_auth()
    .with_single_cert(certs, key)
    .expect("config");
    tokio_rustls::TlsAcceptor::from(std::sync::Arc::new(config))
}
