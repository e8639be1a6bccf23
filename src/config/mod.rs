//! From a config file to a [`Plan`](crate::plan::Plan): file -> tree -> plan.
//!
//! - [`parse`]: the NATS config language (grammar + nats-server semantics)
//!   into a [`tree`] whose every value keeps its [`source`] position;
//! - [`dump`]: the tree as canonical JSON;
//! - [`lower`]: the tree into the immutable plan, validating every key;
//! - [`error`]: the diagnostics all of these report.

pub mod dump;
pub mod error;
pub mod lower;
pub mod parse;
pub mod print;
pub mod source;
pub mod tree;

pub use error::{Diagnostic, Diagnostics, ErrorKind};
pub use parse::load_file;
pub use tree::{Map, Node, Value};
