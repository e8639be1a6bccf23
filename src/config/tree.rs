//! The parsed config: maps, arrays and scalars, each with its position.
//!
//! This is what the file says, before any meaning is given to it; lowering
//! turns it into a [`crate::plan::Plan`]. Nothing at run time reads a tree.

use super::source::Pos;

/// A value and where it was written.
#[derive(Clone, Debug, PartialEq)]
pub struct Node {
    /// The value.
    pub value: Value,
    /// Where the value starts.
    pub pos: Pos,
}

/// The value kinds of the NATS config language.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    /// A block `{ ... }`.
    Map(Map),
    /// A list `[ ... ]`.
    Array(Vec<Node>),
    /// A string. Bytes, because `\xHH` escapes may produce invalid UTF-8,
    /// as in nats-server.
    Str(Vec<u8>),
    /// An integer, size suffixes applied.
    Int(i64),
    /// A float.
    Float(f64),
    /// `true false yes no on off`.
    Bool(bool),
    /// An ISO-8601 Zulu datetime.
    Time(DateTime),
}

impl Value {
    /// The name of the kind, for error messages ("expected a string, got an integer").
    pub fn kind(&self) -> &'static str {
        match self {
            Value::Map(_) => "a block",
            Value::Array(_) => "a list",
            Value::Str(_) => "a string",
            Value::Int(_) => "an integer",
            Value::Float(_) => "a float",
            Value::Bool(_) => "a boolean",
            Value::Time(_) => "a datetime",
        }
    }
}

/// A UTC datetime, as `YYYY-MM-DDTHH:MM:SSZ` writes it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DateTime {
    /// 0000-9999.
    pub year: u16,
    /// 1-12.
    pub month: u8,
    /// 1-31, valid for the month and year.
    pub day: u8,
    /// 0-23.
    pub hour: u8,
    /// 0-59.
    pub minute: u8,
    /// 0-59 (Go's time.Parse refuses leap seconds, so does edge).
    pub second: u8,
}

impl std::fmt::Display for DateTime {
    /// RFC 3339, as the canonical dump prints it.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
            self.year, self.month, self.day, self.hour, self.minute, self.second
        )
    }
}

/// One `key = value` of a block.
#[derive(Clone, Debug, PartialEq)]
pub struct Entry {
    /// The key as written (keys are case-sensitive in the tree; lowering
    /// matches them case-insensitively, as nats-server does).
    pub key: String,
    /// Where the key was written.
    pub key_pos: Pos,
    /// The value.
    pub value: Node,
    /// True once a `$variable` referred to this entry. nats-server does not
    /// report such top-level keys as unknown: they are variable definitions.
    pub used_as_variable: bool,
}

/// A block's entries in the order first written. A repeated key replaces
/// the earlier value (blocks are not merged), as in nats-server.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Map {
    entries: Vec<Entry>,
}

impl Map {
    /// Sets a key, replacing an earlier value of the same key.
    pub fn insert(&mut self, entry: Entry) {
        match self.entries.iter_mut().find(|e| e.key == entry.key) {
            Some(old) => *old = entry,
            None => self.entries.push(entry),
        }
    }

    /// The value of a key, matched exactly.
    pub fn get(&self, key: &str) -> Option<&Node> {
        self.entries.iter().find(|e| e.key == key).map(|e| &e.value)
    }

    /// Looks up a key for a `$variable` reference and remembers the use.
    pub fn use_as_variable(&mut self, key: &str) -> Option<&Node> {
        let entry = self.entries.iter_mut().find(|e| e.key == key)?;
        entry.used_as_variable = true;
        Some(&entry.value)
    }

    /// The entries, in the order they were first written.
    pub fn iter(&self) -> impl Iterator<Item = &Entry> {
        self.entries.iter()
    }

    /// Sets a value at a dotted path (`tls.cert_file`), creating blocks on
    /// the way and replacing whatever was there. Used to overlay command-line
    /// flags on the file before lowering.
    pub fn set_path(&mut self, path: &[&str], value: Node) {
        let Some((last, parents)) = path.split_last() else {
            return;
        };
        let mut map = self;
        for key in parents {
            let index = match map
                .entries
                .iter()
                .position(|e| e.key.eq_ignore_ascii_case(key))
            {
                Some(i) if matches!(map.entries[i].value.value, Value::Map(_)) => i,
                found => {
                    let entry = Entry {
                        key: (*key).to_owned(),
                        key_pos: value.pos.clone(),
                        value: Node {
                            value: Value::Map(Map::default()),
                            pos: value.pos.clone(),
                        },
                        used_as_variable: false,
                    };
                    match found {
                        Some(i) => {
                            map.entries[i] = entry;
                            i
                        }
                        None => {
                            map.entries.push(entry);
                            map.entries.len() - 1
                        }
                    }
                }
            };
            let Value::Map(inner) = &mut map.entries[index].value.value else {
                return;
            };
            map = inner;
        }
        map.entries.retain(|e| !e.key.eq_ignore_ascii_case(last));
        map.entries.push(Entry {
            key: (*last).to_owned(),
            key_pos: value.pos.clone(),
            value,
            used_as_variable: false,
        });
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True when the block has no entries.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}
