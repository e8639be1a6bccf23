//! A tree back to config text that parses to the same tree.
//!
//! Used by the round-trip property test (print, parse, compare) and to show
//! operators a normalized form of what edge read. Keys are always quoted and
//! strings always double-quoted, so no bare-word rule of the language (bools,
//! `$variables`, number-looking words, `include`) can change their meaning.

use super::tree::{Map, Node, Value};
use std::fmt::Write;

/// Why a tree cannot be printed: quoted keys have no escapes, so a key that
/// contains both quote characters (or a NUL) has no spelling.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("key {0:?} cannot be written in the config language")]
pub struct Unprintable(pub String);

/// The whole tree as config text.
pub fn to_text(map: &Map) -> Result<String, Unprintable> {
    let mut out = String::new();
    entries(&mut out, map, 0)?;
    Ok(out)
}

fn entries(out: &mut String, map: &Map, depth: usize) -> Result<(), Unprintable> {
    for e in map.iter() {
        indent(out, depth);
        key(out, &e.key)?;
        out.push_str(" = ");
        value(out, &e.value, depth)?;
        out.push('\n');
    }
    Ok(())
}

fn indent(out: &mut String, depth: usize) {
    for _ in 0..depth {
        out.push_str("  ");
    }
}

fn key(out: &mut String, k: &str) -> Result<(), Unprintable> {
    if k.contains('\0') {
        return Err(Unprintable(k.to_owned()));
    }
    match (k.contains('"'), k.contains('\'')) {
        (false, _) => write!(out, "\"{k}\""),
        (true, false) => write!(out, "'{k}'"),
        (true, true) => return Err(Unprintable(k.to_owned())),
    }
    .map_err(|_| Unprintable(k.to_owned()))
}

fn value(out: &mut String, node: &Node, depth: usize) -> Result<(), Unprintable> {
    match &node.value {
        Value::Map(m) => {
            out.push_str("{\n");
            entries(out, m, depth + 1)?;
            indent(out, depth);
            out.push('}');
        }
        Value::Array(items) => {
            out.push_str("[\n");
            for item in items {
                indent(out, depth + 1);
                value(out, item, depth + 1)?;
                out.push_str(",\n");
            }
            indent(out, depth);
            out.push(']');
        }
        Value::Str(bytes) => string(out, bytes),
        Value::Int(i) => {
            let _ = write!(out, "{i}");
        }
        Value::Float(f) => {
            // Rust prints floats without exponents and as short as round-trips;
            // the language needs a digit on both sides of the point.
            let mut text = format!("{f}");
            if !text.contains('.') {
                text.push_str(".0");
            }
            out.push_str(&text);
        }
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Time(t) => {
            let _ = write!(out, "{t}");
        }
    }
    Ok(())
}

/// A double-quoted string; bytes that are not valid UTF-8, controls and NUL
/// (which the lexer reads as end of input) are written as `\xHH`.
fn string(out: &mut String, bytes: &[u8]) {
    out.push('"');
    for chunk in bytes.utf8_chunks() {
        for c in chunk.valid().chars() {
            match c {
                '"' => out.push_str("\\\""),
                '\\' => out.push_str("\\\\"),
                '\n' => out.push_str("\\n"),
                '\t' => out.push_str("\\t"),
                '\r' => out.push_str("\\r"),
                c if (c as u32) < 0x20 || c == '\u{7f}' => {
                    let _ = write!(out, "\\x{:02x}", c as u32);
                }
                c => out.push(c),
            }
        }
        for b in chunk.invalid() {
            let _ = write!(out, "\\x{b:02x}");
        }
    }
    out.push('"');
}
