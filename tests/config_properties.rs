//! Properties of the config pipeline, checked with quickcheck:
//! - any tree printed as config text parses back to the same tree;
//! - no input makes the parser or lowering panic: every outcome is a tree,
//!   a plan, or positioned errors;
//! - mutations of real corpus files keep both promises.
//!
//! `QUICKCHECK_TESTS=N` raises the number of cases (the README's fuzz recipe).

mod common;

use edge::config::lower::lower;
use edge::config::parse::parse_str;
use edge::config::print::to_text;
use edge::config::source::Pos;
use edge::config::tree::{DateTime, Entry, Map, Node, Value};
use quickcheck::{Arbitrary, Gen, TestResult, Testable};

/// Runs a property for `QUICKCHECK_TESTS` passing cases (default 100).
fn check<A: Testable>(name: &str, prop: A) {
    common::quickcheck(name, 100, prop);
}

/// Positions differ between a built tree and a parsed one; values must not.
fn same_value(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Map(x), Value::Map(y)) => same_map(x, y),
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(a, b)| same_value(&a.value, &b.value))
        }
        (Value::Float(x), Value::Float(y)) => x == y,
        _ => a == b,
    }
}

fn same_map(a: &Map, b: &Map) -> bool {
    a.len() == b.len()
        && a.iter().all(|e| {
            b.get(&e.key)
                .is_some_and(|v| same_value(&e.value.value, &v.value))
        })
}

fn node(value: Value) -> Node {
    Node {
        value,
        pos: Pos::default(),
    }
}

/// Keys that can be written quoted: no NUL, not both quote characters.
fn key(g: &mut Gen) -> String {
    let pool = [
        "port", "a b", "include", "$x", "1k", "true", "\"q\"", "it's", "ключ", "}", "#c", "",
    ];
    let k = if bool::arbitrary(g) {
        (*g.choose(&pool).unwrap_or(&"k")).to_owned()
    } else {
        String::arbitrary(g)
    };
    let k: String = k.chars().filter(|c| *c != '\0').collect();
    if k.contains('"') && k.contains('\'') {
        k.replace('\'', "")
    } else {
        k
    }
}

fn value(g: &mut Gen, depth: usize) -> Value {
    let choice = u8::arbitrary(g) % if depth == 0 { 5 } else { 7 };
    match choice {
        0 => Value::Str(Vec::<u8>::arbitrary(g)),
        1 => Value::Int(i64::arbitrary(g)),
        2 => {
            let f = f64::arbitrary(g);
            Value::Float(if f.is_finite() { f } else { 0.5 })
        }
        3 => Value::Bool(bool::arbitrary(g)),
        4 => Value::Time(DateTime {
            year: u16::arbitrary(g) % 10000,
            month: u8::arbitrary(g) % 12 + 1,
            day: u8::arbitrary(g) % 28 + 1,
            hour: u8::arbitrary(g) % 24,
            minute: u8::arbitrary(g) % 60,
            second: u8::arbitrary(g) % 60,
        }),
        5 => Value::Array(
            (0..usize::arbitrary(g) % 4)
                .map(|_| node(value(g, depth - 1)))
                .collect(),
        ),
        _ => Value::Map(map(g, depth - 1)),
    }
}

fn map(g: &mut Gen, depth: usize) -> Map {
    let mut m = Map::default();
    for _ in 0..usize::arbitrary(g) % 5 {
        m.insert(Entry {
            key: key(g),
            key_pos: Pos::default(),
            value: node(value(g, depth)),
            used_as_variable: false,
        });
    }
    m
}

#[derive(Clone, Debug)]
struct Tree(Map);

impl Arbitrary for Tree {
    fn arbitrary(g: &mut Gen) -> Self {
        Tree(map(g, 3))
    }
}

fn no_env(_: &str) -> Option<String> {
    None
}

#[test]
fn printed_trees_parse_back_to_the_same_tree() {
    fn prop(tree: Tree) -> TestResult {
        let Ok(text) = to_text(&tree.0) else {
            return TestResult::discard();
        };
        match parse_str("generated.conf", &text, &no_env) {
            Ok(parsed) if same_map(&tree.0, &parsed) => TestResult::passed(),
            Ok(parsed) => TestResult::error(format!("text:\n{text}\nparsed: {parsed:?}")),
            Err(e) => TestResult::error(format!("text:\n{text}\nerror: {e}")),
        }
    }
    check(
        "printed_trees_parse_back_to_the_same_tree",
        prop as fn(Tree) -> TestResult,
    );
}

/// Every error points into the text it came from (or at the command line).
fn positions_in_range(text: &str, errors: &[edge::config::Diagnostic]) -> bool {
    let lines = text.split('\n').count() as u32;
    errors
        .iter()
        .all(|d| d.pos.source.is_none() || (d.pos.line >= 1 && d.pos.line <= lines.max(1)))
}

fn parse_and_lower_never_panic(text: &str) -> TestResult {
    match parse_str("fuzz.conf", text, &no_env) {
        Err(e) => TestResult::from_bool(positions_in_range(text, std::slice::from_ref(&e))),
        Ok(tree) => match lower(&tree) {
            Ok(_) => TestResult::passed(),
            Err(errors) => {
                TestResult::from_bool(!errors.0.is_empty() && positions_in_range(text, &errors.0))
            }
        },
    }
}

#[test]
fn random_text_never_panics() {
    fn prop(bytes: Vec<u8>) -> TestResult {
        parse_and_lower_never_panic(&edge::config::source::decode_lossy(&bytes))
    }
    check(
        "random_text_never_panics",
        prop as fn(Vec<u8>) -> TestResult,
    );
}

/// Config-shaped noise: tokens of the language in random order.
#[derive(Clone, Debug)]
struct Tokens(String);

impl Arbitrary for Tokens {
    fn arbitrary(g: &mut Gen) -> Self {
        let pool = [
            "a",
            " ",
            "=",
            ":",
            "\n",
            "{",
            "}",
            "[",
            "]",
            ",",
            ";",
            "#",
            "//",
            "\"",
            "'",
            "(",
            ")",
            "\\",
            "\\x4",
            "1",
            "-",
            ".",
            "k",
            "kb",
            "$a",
            "$2a$",
            "true",
            "include ",
            "2020-01-01T00:00:00Z",
            "\r",
            "\0",
            "port",
            "authorization",
            "users",
            "proxy",
            "routes",
            "tls",
            "cluster",
            "\u{a0}",
            "/",
        ];
        let n = usize::arbitrary(g) % 60;
        Tokens((0..n).map(|_| *g.choose(&pool).unwrap_or(&" ")).collect())
    }
}

#[test]
fn token_soup_never_panics() {
    fn prop(t: Tokens) -> TestResult {
        parse_and_lower_never_panic(&t.0)
    }
    check("token_soup_never_panics", prop as fn(Tokens) -> TestResult);
}

/// A real corpus file with a few bytes changed, removed or duplicated.
#[derive(Clone, Debug)]
struct Mutated(String);

impl Arbitrary for Mutated {
    fn arbitrary(g: &mut Gen) -> Self {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("conformance/config/cases");
        let mut files: Vec<_> = std::fs::read_dir(dir)
            .map(|d| d.filter_map(|e| e.ok().map(|e| e.path())).collect())
            .unwrap_or_default();
        files.retain(|p| p.extension().is_some_and(|e| e == "conf"));
        files.sort();
        let mut bytes = g
            .choose(&files)
            .and_then(|p| std::fs::read(p).ok())
            .unwrap_or_default();
        for _ in 0..1 + usize::arbitrary(g) % 4 {
            if bytes.is_empty() {
                break;
            }
            let i = usize::arbitrary(g) % bytes.len();
            match u8::arbitrary(g) % 3 {
                0 => bytes[i] = *g.choose(b"{}[]()=:,;#/\"'\\$\n 0k.-").unwrap_or(&b' '),
                1 => {
                    bytes.remove(i);
                }
                _ => {
                    let b = bytes[i];
                    bytes.insert(i, b);
                }
            }
        }
        Mutated(edge::config::source::decode_lossy(&bytes))
    }
}

#[test]
fn mutated_corpus_files_never_panic() {
    fn prop(m: Mutated) -> TestResult {
        parse_and_lower_never_panic(&m.0)
    }
    check(
        "mutated_corpus_files_never_panic",
        prop as fn(Mutated) -> TestResult,
    );
}

#[test]
fn deep_nesting_is_an_error_not_a_crash() {
    for open in ["[", "{a="] {
        let text = format!("x = {}", open.repeat(100_000));
        assert!(parse_str("deep.conf", &text, &no_env).is_err());
    }
    let nested = format!("x = {}1{}", "[".repeat(200), " ]".repeat(200));
    let err = parse_str("deep.conf", &nested, &no_env).expect_err("too deep");
    assert!(err.to_string().contains("nest deeper"), "{err}");
}
