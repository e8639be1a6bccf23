//! Real nats-server configuration files (conformance/config/real, each
//! accepted by `nats-server -t` 2.9.10) pass `edge check` unchanged, and
//! their plans are pinned by snapshots.

mod common;

use std::path::PathBuf;

fn real_configs() -> Vec<PathBuf> {
    let dir = common::root().join("conformance/config/real");
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .expect("real dir")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "conf"))
        .collect();
    files.sort();
    files
}

/// A scratch copy of the real configs with generated certificates beside
/// them, as `certs/` relative to where edge runs (nats-server's rule).
fn scratch() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    for f in real_configs() {
        std::fs::copy(&f, dir.path().join(f.file_name().expect("name"))).expect("copy");
    }
    common::write_test_certs(&dir.path().join("certs"));
    dir
}

#[test]
fn every_real_config_passes_edge_check() {
    let dir = scratch();
    let files = real_configs();
    assert!(files.len() >= 8, "only {} real configs", files.len());
    let mut summaries = String::new();
    for f in &files {
        let name = f.file_name().and_then(|n| n.to_str()).expect("name");
        let out = common::run_edge(&["check", name], dir.path(), &[]);
        assert!(
            out.status.success(),
            "{name} failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        summaries.push_str(&String::from_utf8_lossy(&out.stdout));
        summaries.push('\n');
    }
    insta::assert_snapshot!(summaries);
}

#[test]
fn plans_of_real_configs() {
    // Configs without certificate files lower in-process; their whole plan
    // (defaults included) is pinned.
    for f in real_configs() {
        let text = std::fs::read_to_string(&f).expect("read");
        if text.contains("cert_file") {
            continue;
        }
        let name = f
            .file_stem()
            .and_then(|n| n.to_str())
            .expect("name")
            .to_owned();
        let tree = edge::config::load_file(&f).expect("parse");
        let plan = edge::config::lower::lower(&tree).expect("lower");
        insta::assert_debug_snapshot!(name, plan);
    }
}

#[test]
fn wrong_certificate_files_fail_check() {
    let dir = scratch();
    // A key where a certificate belongs still parses as PEM, but an empty
    // file or a missing one must fail with the file named.
    std::fs::write(dir.path().join("certs/server.pem"), "not pem\n").expect("write");
    let out = common::run_edge(&["check", "07-tls.conf"], dir.path(), &[]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("`certs/server.pem` holds no PEM certificate"),
        "{err}"
    );
}
