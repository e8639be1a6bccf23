//! Loaded config text and positions inside it.
//!
//! Every value in the tree carries a [`Pos`] so that any later stage
//! (lowering, reload) can point a human at the exact line that caused a
//! problem, with the line itself printed under the message.

use std::path::{Path, PathBuf};
use std::sync::Arc;

/// One piece of config text: a file, an included file, or the value of an
/// environment variable read as config.
#[derive(Debug)]
pub struct Source {
    /// The path as the user (or an `include`) wrote it; for an environment
    /// variable, `$NAME`.
    pub name: PathBuf,
    /// The text the parser saw (invalid UTF-8 bytes already replaced).
    pub text: String,
    line_starts: Vec<usize>,
}

impl Source {
    /// Wraps text so positions can be computed cheaply.
    pub fn new(name: impl Into<PathBuf>, text: String) -> Arc<Self> {
        let mut line_starts = vec![0];
        line_starts.extend(text.match_indices('\n').map(|(i, _)| i + 1));
        Arc::new(Source {
            name: name.into(),
            text,
            line_starts,
        })
    }

    /// The position of a byte offset, as 1-based line and column (in characters).
    pub fn pos(self: &Arc<Self>, offset: usize) -> Pos {
        let offset = offset.min(self.text.len());
        let line = self.line_starts.partition_point(|&s| s <= offset);
        let start = self.line_starts[line - 1];
        let col = self
            .text
            .get(start..offset)
            .map_or(0, |s| s.chars().count())
            + 1;
        Pos {
            source: Some(self.clone()),
            line: line as u32,
            col: col as u32,
        }
    }

    /// The text of a 1-based line, without its line break.
    pub fn line_text(&self, line: u32) -> &str {
        let i = line as usize;
        if i == 0 || i > self.line_starts.len() {
            return "";
        }
        let start = self.line_starts[i - 1];
        let end = self.line_starts.get(i).map_or(self.text.len(), |e| e - 1);
        self.text[start..end].trim_end_matches('\r')
    }

    /// The directory includes in this source are resolved against.
    pub fn dir(&self) -> &Path {
        match self.name.parent() {
            Some(p) if !p.as_os_str().is_empty() && !self.name.starts_with("$") => p,
            _ => Path::new("."),
        }
    }
}

/// Where a value or key was written. `source` is `None` for values that no
/// file wrote (command-line flags, defaults).
#[derive(Clone, Debug, Default)]
pub struct Pos {
    /// The text this position points into.
    pub source: Option<Arc<Source>>,
    /// 1-based line.
    pub line: u32,
    /// 1-based column, in characters.
    pub col: u32,
}

impl Pos {
    /// A position for something that came from the command line.
    pub fn flag() -> Self {
        Pos::default()
    }
}

impl PartialEq for Pos {
    fn eq(&self, other: &Self) -> bool {
        self.line == other.line
            && self.col == other.col
            && match (&self.source, &other.source) {
                (Some(a), Some(b)) => a.name == b.name,
                (None, None) => true,
                _ => false,
            }
    }
}

impl std::fmt::Display for Pos {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.source {
            Some(s) => write!(f, "{}:{}:{}", s.name.display(), self.line, self.col),
            None => write!(f, "<command line>"),
        }
    }
}

/// Reads bytes as text the way Go's lexer decodes them: every byte that is
/// not part of a valid UTF-8 sequence becomes one U+FFFD. nats-server keeps
/// such bytes raw in strings and its JSON shows one U+FFFD per byte, so this
/// yields the same values.
pub fn decode_lossy(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len());
    let mut rest = bytes;
    loop {
        match std::str::from_utf8(rest) {
            Ok(s) => {
                out.push_str(s);
                return out;
            }
            Err(e) => {
                let (valid, after) = rest.split_at(e.valid_up_to());
                // valid_up_to() guarantees this prefix is UTF-8.
                out.push_str(std::str::from_utf8(valid).unwrap_or_default());
                out.push('\u{FFFD}');
                rest = &after[1..];
            }
        }
    }
}
