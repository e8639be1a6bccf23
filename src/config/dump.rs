//! The canonical JSON form of a tree (`edge check --dump`).
//!
//! The format is the contract in spec/config.md: keys sorted, integers as
//! `{"int": N}`, floats as `{"float": X}`, datetimes as `{"time": RFC3339}`.
//! It is what the differential test compares with nats-server's parser.

use super::source::decode_lossy;
use super::tree::{Map, Node, Value};
use serde_json::{json, Value as Json};

/// The tree as canonical JSON (serde_json's map keeps keys sorted).
pub fn to_json(map: &Map) -> Json {
    Json::Object(
        map.iter()
            .map(|e| (e.key.clone(), node(&e.value)))
            .collect(),
    )
}

/// The error form: `{"error": MESSAGE}`.
pub fn error_json(message: &str) -> Json {
    json!({ "error": message })
}

fn node(n: &Node) -> Json {
    match &n.value {
        Value::Map(m) => to_json(m),
        Value::Array(items) => Json::Array(items.iter().map(node).collect()),
        // Invalid UTF-8 from `\xHH` shows as one U+FFFD per byte, as Go's
        // encoding/json prints it.
        Value::Str(bytes) => Json::String(decode_lossy(bytes)),
        Value::Int(i) => json!({ "int": i }),
        Value::Float(f) => json!({ "float": f }),
        Value::Bool(b) => Json::Bool(*b),
        Value::Time(t) => json!({ "time": t.to_string() }),
    }
}
