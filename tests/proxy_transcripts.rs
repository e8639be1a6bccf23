//! Replays the proxy conformance suites (`conformance/proxy/suites/*.json`)
//! against a real edge and compares each exchange with the transcript
//! recorded from node-http-proxy 1.18.1
//! (`conformance/proxy/transcripts/<suite>__<nnn>.snap`) through insta.
//!
//! The exchanges are played by `conformance/proxy/record.py --edge`, the
//! same client and recording upstream that recorded node, so both sides are
//! rendered by one piece of code. Where edge differs from node on purpose
//! (spec/config.md §3, README "Where the proxy differs"),
//! `conformance/proxy/overrides.json` states the difference: node's
//! recording with the overrides applied is what edge must produce. An
//! override that no longer finds node's text fails the test, so none can
//! outlive the difference it describes.

mod common;

use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::process::Command;

fn proxy_dir() -> PathBuf {
    common::root().join("conformance/proxy")
}

/// One reviewed difference from node-http-proxy.
enum Override {
    /// Request headers reach the upstream in the client's order and name
    /// case; node lower-cases the names and reorders them (client headers
    /// reversed, its additions before or after them depending on which
    /// option added them). Both sides' request heads at the upstream are
    /// compared sorted by name, node's spelled as the client spelled them;
    /// the order itself is tested in tests/proxy_serve.rs.
    RequestHeaderOrder,
    /// edge frames each hop itself (hyper places `transfer-encoding` and an
    /// empty body's `content-length: 0` among its own headers); node passes
    /// the upstream's framing headers through in place. Both sides' client
    /// response heads are compared with those two lines last.
    FramingLast,
    /// Node's lines `node` become edge's lines `edge`.
    Replace { node: String, edge: String },
}

/// An override and the transcripts it covers (`*` for all).
struct Rule {
    transcripts: Vec<String>,
    change: Override,
}

impl Rule {
    fn covers(&self, name: &str) -> bool {
        self.transcripts.iter().any(|t| {
            t == name
                || t == "*"
                || t.strip_suffix('*')
                    .is_some_and(|prefix| name.starts_with(prefix))
        })
    }
}

fn lines_of(v: &Value) -> String {
    match v {
        Value::Array(items) => items
            .iter()
            .map(|l| format!("{}\n", l.as_str().unwrap_or_default()))
            .collect(),
        _ => String::new(),
    }
}

fn load_rules() -> Vec<Rule> {
    let path = proxy_dir().join("overrides.json");
    let text = std::fs::read_to_string(&path).expect("overrides.json");
    let all: Vec<Value> = serde_json::from_str(&text).expect("overrides.json is JSON");
    all.iter()
        .map(|o| {
            assert!(
                o["why"].as_str().is_some_and(|w| !w.is_empty()),
                "every override says why: {o}"
            );
            let transcripts = o["transcripts"]
                .as_array()
                .expect("override names its transcripts")
                .iter()
                .map(|t| t.as_str().unwrap_or_default().to_owned())
                .collect();
            let change = match o["rule"].as_str() {
                Some("request header order") => Override::RequestHeaderOrder,
                Some("framing last") => Override::FramingLast,
                Some(other) => panic!("unknown override rule {other:?}"),
                None => Override::Replace {
                    node: lines_of(&o["node"]),
                    edge: lines_of(&o["edge"]),
                },
            };
            Rule {
                transcripts,
                change,
            }
        })
        .collect()
}

/// The header name of a rendered `prefix name: value\r\n` line.
fn header_name(line: &str, prefix: &str) -> Option<String> {
    let rest = line.strip_prefix(prefix)?;
    let (name, _) = rest.split_once(':')?;
    (!name.is_empty() && !name.contains([' ', '"', '\\'])).then(|| name.to_owned())
}

/// The header lines of each head in `text` whose label passes `is_head`,
/// passed through `edit` (the request or status line and the rest stay).
fn edit_heads(
    text: &str,
    is_head: impl Fn(&str) -> bool,
    mut edit: impl FnMut(&str, Vec<String>) -> Vec<String>,
) -> String {
    let lines: Vec<&str> = text.lines().collect();
    let mut out: Vec<String> = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let line = lines[i];
        out.push(line.to_owned());
        i += 1;
        let Some((label, rest)) = line.split_once("< ") else {
            continue;
        };
        if !is_head(label) || !rest.contains("HTTP/1.") {
            continue;
        }
        let prefix = format!("{label}< ");
        let mut head: Vec<String> = Vec::new();
        while let Some(l) = lines.get(i).filter(|l| header_name(l, &prefix).is_some()) {
            head.push((*l).to_owned());
            i += 1;
        }
        out.extend(edit(&prefix, head));
    }
    out.join("\n") + "\n"
}

/// Request heads at the upstreams sorted by header name; with `respell`,
/// each name spelled as the client (`> ` lines) spelled it.
fn sort_request_heads(text: &str, respell: bool) -> String {
    let client: Vec<String> = text.lines().filter_map(|l| header_name(l, "> ")).collect();
    let is_upstream = |label: &str| label.starts_with("up") || label.starts_with("fwd");
    edit_heads(text, is_upstream, |prefix, head| {
        let mut head: Vec<(String, String)> = head
            .iter()
            .filter_map(|l| {
                let name = header_name(l, prefix)?;
                let value = l[prefix.len() + name.len()..].to_owned();
                let spelled = client
                    .iter()
                    .find(|c| respell && c.eq_ignore_ascii_case(&name))
                    .cloned()
                    .unwrap_or(name);
                Some((spelled, value))
            })
            .collect();
        head.sort_by_key(|(name, _)| name.to_ascii_lowercase());
        head.into_iter()
            .map(|(name, value)| format!("{prefix}{name}{value}"))
            .collect()
    })
}

/// Client response heads with `transfer-encoding: chunked` and
/// `content-length: 0` moved after the other headers.
fn framing_last(text: &str) -> String {
    let is_framing = |l: &String| {
        let l = l.to_ascii_lowercase();
        l == "< transfer-encoding: chunked\\r\\n" || l == "< content-length: 0\\r\\n"
    };
    edit_heads(
        text,
        |label| label.is_empty(),
        |_, head| {
            let (framing, rest): (Vec<String>, Vec<String>) =
                head.into_iter().partition(is_framing);
            rest.into_iter().chain(framing).collect()
        },
    )
}

/// Node's transcript `body` with the overrides for `name` applied, and
/// edge's transcript `played` brought to the same comparable form: what
/// the two must be. `Err` when an override no longer applies.
fn expected(
    name: &str,
    body: &str,
    played: &str,
    rules: &[Rule],
) -> Result<(String, String), String> {
    let (mut node, mut edge) = (body.to_owned(), played.to_owned());
    let rules: Vec<&Rule> = rules.iter().filter(|r| r.covers(name)).collect();
    // Replacements are written against node's text as recorded, so they
    // come before the rules that reorder lines.
    for rule in &rules {
        if let Override::Replace {
            node: from,
            edge: to,
        } = &rule.change
        {
            if !node.contains(from.as_str()) {
                return Err(format!("{name}: override finds no {from:?}"));
            }
            node = node.replacen(from.as_str(), to, 1);
        }
    }
    for rule in &rules {
        match &rule.change {
            Override::RequestHeaderOrder => {
                node = sort_request_heads(&node, true);
                edge = sort_request_heads(&edge, false);
            }
            Override::FramingLast => {
                node = framing_last(&node);
                edge = framing_last(&edge);
            }
            Override::Replace { .. } => {}
        }
    }
    Ok((node, edge))
}

/// Compares edge's transcript with the expected one through insta.
fn check(dir: &std::path::Path, name: &str, expected: &str, actual: &str) -> Result<(), String> {
    std::fs::write(
        dir.join(format!("{name}.snap")),
        format!("---\nsource: node-http-proxy 1.18.1 with overrides.json\nexpression: {name}\n---\n{expected}"),
    )
    .expect("write expected snapshot");
    let mut settings = insta::Settings::clone_current();
    settings.set_snapshot_path(dir);
    settings.set_prepend_module_to_snapshot(false);
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        settings.bind(|| insta::assert_snapshot!(name, actual))
    }))
    .map_err(|_| name.to_owned())
}

#[test]
fn transcripts_recorded_from_node_http_proxy_replay_with_reviewed_overrides() {
    let out = Command::new("python3")
        .arg(proxy_dir().join("record.py"))
        .arg("--edge")
        .arg(env!("CARGO_BIN_EXE_edge"))
        .output()
        .expect("python3 runs conformance/proxy/record.py");
    assert!(
        out.status.success(),
        "record.py --edge failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let played: BTreeMap<String, String> =
        serde_json::from_slice(&out.stdout).expect("record.py prints JSON");

    let mut recorded: BTreeMap<String, String> = BTreeMap::new();
    for entry in std::fs::read_dir(proxy_dir().join("transcripts")).expect("transcripts") {
        let path = entry.expect("entry").path();
        let Some(name) = path
            .file_name()
            .and_then(|n| n.to_str())
            .and_then(|n| n.strip_suffix(".snap"))
        else {
            continue;
        };
        let text = std::fs::read_to_string(&path).expect("read transcript");
        let body = text.splitn(3, "---\n").nth(2).unwrap_or_default();
        recorded.insert(name.to_owned(), body.to_owned());
    }
    let (a, b): (BTreeSet<_>, BTreeSet<_>) = (played.keys().collect(), recorded.keys().collect());
    assert_eq!(
        a.symmetric_difference(&b).collect::<Vec<_>>(),
        Vec::<&&String>::new(),
        "transcripts and suites disagree: re-record with conformance/proxy/record.py"
    );
    assert!(!recorded.is_empty(), "no proxy transcripts");

    let rules = load_rules();
    let dir = tempfile::tempdir().expect("scratch");
    let mut failures = Vec::new();
    for (name, body) in &recorded {
        match expected(name, body, &played[name], &rules) {
            Ok((want, got)) => {
                if let Err(e) = check(dir.path(), name, &want, &got) {
                    failures.push(e);
                }
            }
            Err(e) => failures.push(e),
        }
    }
    println!("{} proxy transcripts replayed", recorded.len());
    assert!(
        failures.is_empty(),
        "{} replays differ from node-http-proxy's transcripts (with overrides): {}",
        failures.len(),
        failures.join(", ")
    );
}
