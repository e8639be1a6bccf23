#![warn(missing_docs)]
//! edge: a NATS server and an HTTP/WebSocket reverse proxy driven by one
//! declarative config file.
//!
//! Data flows one way: file -> [`config::tree`] -> [`plan::Plan`] -> runtime.
//! The runtime reads only the plan; a plan is never mutated, and a reload
//! builds a new one and swaps it whole.
//!
//! - [`config`]: the config language, the tree, lowering and diagnostics;
//! - [`plan`]: the immutable plan every runtime part executes;
//! - [`server`]: the runtime that serves a plan;
//! - [`proxy`]: the HTTP/WebSocket reverse proxy runtime;
//! - [`tls`]: server TLS from the plan, for NATS and the proxies;
//! - [`monitor`]: nats-server's HTTP monitoring endpoints;
//! - [`log`]: the server log in nats-server's format;
//! - [`cli`]: the `edge` command line (nats-server's flags included).

pub mod cli;
pub mod config;
pub mod files;
pub mod log;
pub mod monitor;
pub mod nats;
pub mod plan;
pub mod proxy;
pub mod server;
pub mod tls;
