//! Helpers shared by the integration tests: run the real `edge` binary.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The `edge` binary cargo built for these tests.
pub fn edge() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_edge"))
}

/// Runs `edge ARGS` in `dir` with only PATH and the given variables set, so
/// the host environment cannot leak into `$VARIABLE` lookups.
pub fn run_edge(args: &[&str], dir: &Path, env: &[(String, String)]) -> Output {
    Command::new(edge())
        .args(args)
        .current_dir(dir)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .envs(env.iter().cloned())
        .output()
        .expect("run edge")
}

/// The repository root.
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Makes a CA and a server certificate for 127.0.0.1/localhost in `dir`:
/// `ca.pem`, `server.pem`, `server-key.pem` (generated, never committed).
pub fn write_test_certs(dir: &Path) {
    use rcgen::{BasicConstraints, CertificateParams, IsCa, KeyPair};
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
}
