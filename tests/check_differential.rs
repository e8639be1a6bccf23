//! `edge check` accepts exactly the configurations nats-server 2.9.10 runs.
//!
//! Each `conformance/check/cases/NAME.expect` was recorded from the real
//! server (conformance/check/record.sh): `accept` when `nats-server -t`
//! passed and the server started, `reject: ...` otherwise. Deliberate
//! differences carry `deviations/NAME.json`.

mod common;

#[test]
fn edge_check_agrees_with_nats_server_on_whole_configs() {
    let root = common::root().join("conformance/check");
    let cases_dir = root.join("cases");
    let mut cases: Vec<_> = std::fs::read_dir(&cases_dir)
        .expect("cases")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "conf"))
        .collect();
    cases.sort();
    assert!(cases.len() >= 40, "only {} cases", cases.len());
    let mut failures = Vec::new();
    let (mut accepts, mut rejects) = (0, 0);
    for case in &cases {
        let name = case.file_stem().and_then(|s| s.to_str()).expect("name");
        let recorded = std::fs::read_to_string(case.with_extension("expect")).expect("expect file");
        let deviation = root.join("deviations").join(format!("{name}.json"));
        let expected = match std::fs::read_to_string(&deviation) {
            Ok(text) => {
                let v: serde_json::Value = serde_json::from_str(&text).expect("deviation json");
                assert!(
                    v["why"].as_str().is_some_and(|w| w.len() > 20),
                    "{name}: say why"
                );
                v["expect"].as_str().expect("expect").to_owned()
            }
            Err(_) => recorded
                .split(':')
                .next()
                .unwrap_or_default()
                .trim()
                .to_owned(),
        };
        let file = case.file_name().and_then(|f| f.to_str()).expect("file");
        let out = common::run_edge(&["check", file], &cases_dir, &[]);
        let got = if out.status.success() {
            "accept"
        } else {
            "reject"
        };
        if got == "accept" {
            accepts += 1;
        } else {
            rejects += 1;
        }
        if got != expected {
            failures.push(format!(
                "{name}: nats-server {}, edge {got}\n{}",
                recorded.trim(),
                String::from_utf8_lossy(&out.stderr)
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert!(
        accepts >= 15 && rejects >= 15,
        "accepts {accepts}, rejects {rejects}"
    );
}
