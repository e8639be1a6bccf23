//! Config errors for humans: position, the source line, a caret, and a fix.

use super::source::Pos;
use std::fmt;

/// What went wrong in a config file. Parse, include, variable and lowering
/// problems are all reported through this one type so `edge check` can list
/// every error the same way.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ErrorKind {
    /// The text does not follow the config language.
    #[error("{0}")]
    Syntax(String),
    /// The file (or an included file) could not be read.
    #[error("cannot read {path}: {reason}")]
    Read {
        /// The path as resolved.
        path: String,
        /// What the OS said.
        reason: String,
    },
    /// An include that leads back to a file being included.
    #[error("include cycle: {0}")]
    IncludeCycle(String),
    /// `$NAME` that is neither an earlier key in an enclosing block nor an
    /// environment variable.
    #[error("variable reference `${0}` can not be found")]
    UnknownVariable(String),
    /// An environment variable whose value refers back to itself.
    #[error("environment variable cycle: {0}")]
    VariableCycle(String),
    /// A value nats-server silently drops or reassigns (its key-stack bug).
    #[error("{0}")]
    Dropped(String),
    /// A key edge does not know.
    #[error("unknown key `{key}`")]
    UnknownKey {
        /// The key as written.
        key: String,
    },
    /// A nats-server feature edge does not implement.
    #[error("`{key}` is not supported by edge: {what}")]
    Unsupported {
        /// The key as nats-server names it.
        key: String,
        /// The feature it configures.
        what: String,
    },
    /// A value of the wrong type or out of range.
    #[error("{0}")]
    Invalid(String),
}

/// One error with where it happened and, when we know one, how to fix it.
#[derive(Debug, Clone, PartialEq)]
pub struct Diagnostic {
    /// Where the problem is.
    pub pos: Pos,
    /// What the problem is.
    pub kind: ErrorKind,
    /// A concrete fix, shown under the source line.
    pub help: Option<String>,
}

impl Diagnostic {
    /// An error at a position.
    pub fn new(pos: Pos, kind: ErrorKind) -> Self {
        Diagnostic {
            pos,
            kind,
            help: None,
        }
    }

    /// Adds the fix to show under the source line.
    pub fn help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }

    /// The one-line message, as `--dump` prints it in `{"error": ...}`.
    pub fn message(&self) -> String {
        format!("{}: {}", self.pos, self.kind)
    }
}

impl fmt::Display for Diagnostic {
    /// `FILE:LINE:COL: error: MESSAGE`, then the source line and a caret.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "{}: error: {}", self.pos, self.kind)?;
        if let Some(source) = &self.pos.source {
            let text = source.line_text(self.pos.line);
            let gutter = self.pos.line.to_string();
            let pad = " ".repeat(gutter.len());
            let caret_at: String = text
                .chars()
                .take(self.pos.col.saturating_sub(1) as usize)
                .map(|c| if c == '\t' { '\t' } else { ' ' })
                .collect();
            writeln!(f, "{pad} |")?;
            writeln!(f, "{gutter} | {text}")?;
            writeln!(f, "{pad} | {caret_at}^")?;
        }
        if let Some(help) = &self.help {
            writeln!(f, "  = help: {help}")?;
        }
        Ok(())
    }
}

/// Every error found in one pass, in file order.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Diagnostics(pub Vec<Diagnostic>);

impl Diagnostics {
    /// Adds one error.
    pub fn push(&mut self, d: Diagnostic) {
        self.0.push(d);
    }

    /// True when nothing was reported.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl From<Diagnostic> for Diagnostics {
    fn from(d: Diagnostic) -> Self {
        Diagnostics(vec![d])
    }
}

impl fmt::Display for Diagnostics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for d in &self.0 {
            write!(f, "{d}")?;
        }
        Ok(())
    }
}
