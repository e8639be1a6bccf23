//! `edge check --dump` against nats-server 2.9.10's own parser.
//!
//! Every `conformance/config/cases/*.conf` was parsed by the reference
//! (`conf.ParseFile`, recorded by conformance/config/record.sh into the
//! sibling `.json`). edge must print the same tree, or an error where the
//! reference failed. The few places edge differs on purpose carry a reviewed
//! `deviations/NAME.json` with edge's expected output and why.

mod common;

use serde_json::Value;
use std::path::Path;

/// Compares two dumps; floats by value, since Go and Rust print them
/// differently (1e+23 vs 1e23).
fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64() && (x.is_f64() || x == y),
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(a, b)| same(a, b))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| same(v, w)))
        }
        _ => a == b,
    }
}

/// `KEY=VALUE` lines, value literal to the end of the line.
fn env_of(case: &Path) -> Vec<(String, String)> {
    let Ok(text) = std::fs::read_to_string(case.with_extension("env")) else {
        return Vec::new();
    };
    text.lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
}

/// What edge must print for a case, and whether that is "any error".
fn expectation(case: &Path) -> (Value, bool) {
    let name = case
        .file_stem()
        .and_then(|s| s.to_str())
        .expect("case name");
    let deviation = case
        .parent()
        .and_then(Path::parent)
        .expect("corpus dir")
        .join("deviations")
        .join(format!("{name}.json"));
    let expect: Value = match std::fs::read_to_string(&deviation) {
        Ok(text) => serde_json::from_str::<Value>(&text).expect("deviation json")["expect"].clone(),
        Err(_) => {
            let text = std::fs::read_to_string(case.with_extension("json")).expect("recording");
            serde_json::from_str(&text).expect("recording json")
        }
    };
    let any_error = expect.get("error").is_some() || expect.get("crash").is_some();
    (expect, any_error)
}

#[test]
fn dump_agrees_with_nats_server_on_every_recorded_case() {
    let dir = common::root().join("conformance/config/cases");
    let mut cases: Vec<_> = std::fs::read_dir(&dir)
        .expect("cases dir")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "conf"))
        .collect();
    cases.sort();
    assert!(
        cases.len() >= 150,
        "the corpus has only {} cases",
        cases.len()
    );

    let mut failures = Vec::new();
    let (mut valid, mut invalid) = (0, 0);
    for case in &cases {
        let (expect, any_error) = expectation(case);
        let file = case
            .file_name()
            .and_then(|f| f.to_str())
            .expect("file name");
        let out = common::run_edge(&["check", "--dump", file], &dir, &env_of(case));
        let got: Value = serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&out.stdout).into_owned()));
        let ok = if any_error {
            invalid += 1;
            got.get("error").is_some() && out.status.code() == Some(1)
        } else {
            valid += 1;
            same(&got, &expect) && out.status.success()
        };
        if !ok {
            failures.push(format!("{file}\n  expected {expect}\n  edge     {got}"));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases differ:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
    assert!(
        valid >= 100 && invalid >= 50,
        "valid {valid}, invalid {invalid}"
    );
}

#[test]
fn every_deviation_is_a_case_and_says_why() {
    let root = common::root().join("conformance/config");
    for entry in std::fs::read_dir(root.join("deviations")).expect("deviations dir") {
        let path = entry.expect("entry").path();
        if path.extension().is_none_or(|e| e != "json") {
            continue;
        }
        let dev: Value =
            serde_json::from_str(&std::fs::read_to_string(&path).expect("read")).expect("json");
        let why = dev["why"].as_str().unwrap_or_default();
        assert!(why.len() > 20, "{} must say why", path.display());
        assert!(
            dev.get("expect").is_some(),
            "{} has no expect",
            path.display()
        );
        let case = root
            .join("cases")
            .join(path.file_name().expect("name"))
            .with_extension("conf");
        assert!(case.exists(), "{} has no case", path.display());
    }
}
