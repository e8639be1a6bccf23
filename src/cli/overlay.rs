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
pub struct Override {
    /// Where the value goes.
    pub path: Vec<&'static str>,
    /// The value, positioned at the command line.
    pub value: Node,
    /// Only set when the file has nothing there (flags that switch a block
    /// on without choosing its settings).
    pub if_absent: bool,
}

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
    if let Some(a) = &args.addr {
        put(&mut out, false, &["host"], string(a));
    }
    if let Some(p) = args.port {
        put(&mut out, false, &["port"], node(Value::Int(p)));
    }
    if let Some(p) = &args.pid {
        put(&mut out, false, &["pid_file"], string(p));
    }
    if let Some(p) = args.http_port {
        put(&mut out, false, &["http_port"], node(Value::Int(p)));
    }
    if let Some(p) = args.https_port {
        put(&mut out, false, &["https_port"], node(Value::Int(p)));
    }
    if let Some(n) = &args.name {
        put(&mut out, false, &["server_name"], string(n));
    }
    if let Some(l) = &args.log {
        put(&mut out, false, &["log_file"], string(l));
    }
    if let Some(b) = args.logtime {
        put(&mut out, false, &["logtime"], node(Value::Bool(b)));
    }
    if let Some(b) = args.syslog {
        put(&mut out, false, &["syslog"], node(Value::Bool(b)));
    }
    if let Some(r) = &args.remote_syslog {
        put(&mut out, false, &["remote_syslog"], string(r));
    }
    if args.debug {
        put(&mut out, false, &["debug"], node(Value::Bool(true)));
    }
    if args.trace || args.trace_verbose {
        put(&mut out, false, &["trace"], node(Value::Bool(true)));
    }
    if args.trace_verbose {
        put(&mut out, false, &["trace_verbose"], node(Value::Bool(true)));
    }
    if let Some(u) = &args.user {
        put(&mut out, false, &["authorization", "user"], string(u));
    }
    if let Some(p) = &args.pass {
        put(&mut out, false, &["authorization", "password"], string(p));
    }
    if let Some(t) = &args.auth {
        put(&mut out, false, &["authorization", "token"], string(t));
    }
    if let Some(c) = &args.tlscert {
        put(&mut out, false, &["tls", "cert_file"], string(c));
    }
    if let Some(k) = &args.tlskey {
        put(&mut out, false, &["tls", "key_file"], string(k));
    }
    if let Some(ca) = &args.tlscacert {
        put(&mut out, false, &["tls", "ca_file"], string(ca));
    }
    if args.tlsverify {
        put(&mut out, false, &["tls", "verify"], node(Value::Bool(true)));
    }
    if args.tls {
        // `--tls` alone switches TLS on: the file's block if it has one,
        // else an empty block so lowering says what is missing.
        put(&mut out, true, &["tls"], node(Value::Map(Map::default())));
    }
    if let Some(r) = &args.routes {
        let routes = r
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(string)
            .collect();
        put(
            &mut out,
            false,
            &["cluster", "routes"],
            node(Value::Array(routes)),
        );
    }
    if let Some(c) = &args.cluster {
        // nats-server takes a URL here: nats://host:port.
        let listen = c.split_once("://").map_or(c.as_str(), |(_, rest)| rest);
        put(&mut out, false, &["cluster", "listen"], string(listen));
    }
    if let Some(n) = &args.cluster_name {
        put(&mut out, false, &["cluster", "name"], string(n));
    }
    if let Some(b) = args.no_advertise {
        put(
            &mut out,
            false,
            &["cluster", "no_advertise"],
            node(Value::Bool(b)),
        );
    }
    if let Some(a) = &args.cluster_advertise {
        put(&mut out, false, &["cluster", "advertise"], string(a));
    }
    if let Some(a) = &args.client_advertise {
        put(&mut out, false, &["client_advertise"], string(a));
    }
    if let Some(d) = &args.ports_file_dir {
        put(&mut out, false, &["ports_file_dir"], string(d));
    }
    out
}

fn put(out: &mut Vec<Override>, if_absent: bool, path: &[&'static str], value: Node) {
    out.push(Override {
        path: path.to_vec(),
        value,
        if_absent,
    });
}

/// Applies overrides to a tree, later ones winning.
pub fn apply(tree: &mut Map, overrides: Vec<Override>) {
    for o in overrides {
        if o.if_absent
            && o.path
                .first()
                .is_some_and(|k| tree.iter().any(|e| e.key.eq_ignore_ascii_case(k)))
        {
            continue;
        }
        tree.set_path(&o.path, o.value);
    }
}
