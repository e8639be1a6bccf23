//! nats-server flags as config entries laid over the file's tree.
//!
//! Flags override the file (as nats-server's MergeOptions). Turning them
//! into tree entries before lowering means they are validated exactly like
//! the file (a missing `--tlscert` file fails like a missing `cert_file`),
//! and the plan is still built once, from one tree.

use super::args::RunArgs;
use crate::config::source::Pos;
use crate::config::tree::{Map, Node, Value};

/// One override: a dotted path into the config and the value to put there.
pub type Override = (Vec<&'static str>, Node);

fn node(value: Value) -> Node {
    Node {
        value,
        pos: Pos::flag(),
    }
}

fn string(s: &str) -> Node {
    node(Value::Str(s.as_bytes().to_vec()))
}

/// The overrides the run flags ask for, in flag order.
pub fn overrides(args: &RunArgs) -> Vec<Override> {
    let mut out: Vec<Override> = Vec::new();
    let mut set = |path: &[&'static str], n: Node| out.push((path.to_vec(), n));
    if let Some(a) = &args.addr {
        set(&["host"], string(a));
    }
    if let Some(p) = args.port {
        set(&["port"], node(Value::Int(p)));
    }
    if let Some(p) = &args.pid {
        set(&["pid_file"], string(p));
    }
    if let Some(p) = args.http_port {
        set(&["http_port"], node(Value::Int(p)));
    }
    if let Some(p) = args.https_port {
        set(&["https_port"], node(Value::Int(p)));
    }
    if let Some(n) = &args.name {
        set(&["server_name"], string(n));
    }
    if let Some(l) = &args.log {
        set(&["log_file"], string(l));
    }
    if let Some(b) = args.logtime {
        set(&["logtime"], node(Value::Bool(b)));
    }
    if let Some(b) = args.syslog {
        set(&["syslog"], node(Value::Bool(b)));
    }
    if let Some(r) = &args.remote_syslog {
        set(&["remote_syslog"], string(r));
    }
    if args.debug {
        set(&["debug"], node(Value::Bool(true)));
    }
    if args.trace || args.trace_verbose {
        set(&["trace"], node(Value::Bool(true)));
    }
    if args.trace_verbose {
        set(&["trace_verbose"], node(Value::Bool(true)));
    }
    if let Some(u) = &args.user {
        set(&["authorization", "user"], string(u));
    }
    if let Some(p) = &args.pass {
        set(&["authorization", "password"], string(p));
    }
    if let Some(t) = &args.auth {
        set(&["authorization", "token"], string(t));
    }
    if let Some(c) = &args.tlscert {
        set(&["tls", "cert_file"], string(c));
    }
    if let Some(k) = &args.tlskey {
        set(&["tls", "key_file"], string(k));
    }
    if let Some(ca) = &args.tlscacert {
        set(&["tls", "ca_file"], string(ca));
    }
    if args.tlsverify {
        set(&["tls", "verify"], node(Value::Bool(true)));
    }
    if args.tls && args.tlscert.is_none() && args.tlskey.is_none() {
        // `--tls` alone: make the tls block exist so lowering says what is missing.
        set(&["tls", "verify"], node(Value::Bool(args.tlsverify)));
    }
    if let Some(r) = &args.routes {
        let routes = r
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(string)
            .collect();
        set(&["cluster", "routes"], node(Value::Array(routes)));
    }
    if let Some(c) = &args.cluster {
        // nats-server takes a URL here: nats://host:port.
        let listen = c.split_once("://").map_or(c.as_str(), |(_, rest)| rest);
        set(&["cluster", "listen"], string(listen));
    }
    if let Some(n) = &args.cluster_name {
        set(&["cluster", "name"], string(n));
    }
    if let Some(b) = args.no_advertise {
        set(&["cluster", "no_advertise"], node(Value::Bool(b)));
    }
    if let Some(a) = &args.cluster_advertise {
        set(&["cluster", "advertise"], string(a));
    }
    if let Some(a) = &args.client_advertise {
        set(&["client_advertise"], string(a));
    }
    if let Some(d) = &args.ports_file_dir {
        set(&["ports_file_dir"], string(d));
    }
    out
}

/// Applies overrides to a tree, later ones winning.
pub fn apply(tree: &mut Map, overrides: Vec<Override>) {
    for (path, value) in overrides {
        tree.set_path(&path, value);
    }
}
