//! The top level of the file: NATS options, logging, monitoring, process
//! files, and the dispatch to the other blocks.

use super::value::BareNumber;
use super::{auth, cluster, proxy, tls, Block, Lowering};
use crate::config::source::Pos;
use crate::config::tree::{Map, Node};
use crate::plan::nats::defaults;
use crate::plan::{FilesPlan, HostPort, LameDuck, Limits, LogPlan, MonitorPlan, NatsPlan, Plan};
use std::time::Duration;

/// Keys whose presence turns the NATS listener on in a file with `proxy`
/// blocks (spec: "NATS listens when the file asks for it").
const NATS_LISTENER_KEYS: &[&str] = &[
    "listen",
    "host",
    "net",
    "port",
    "cluster",
    "websocket",
    "ws",
    "http",
    "http_port",
    "monitor_port",
    "https",
    "https_port",
];

/// Keys that only configure the NATS server. In a file that runs proxies
/// only, they would do nothing, so they are reported rather than ignored.
const NATS_ONLY_KEYS: &[&str] = &[
    "authorization",
    "accounts",
    "tls",
    "no_auth_user",
    "max_connections",
    "max_conn",
    "max_control_line",
    "max_payload",
    "max_pending",
    "max_subscriptions",
    "max_subs",
    "ping_interval",
    "ping_max",
    "write_deadline",
    "client_advertise",
    "no_header_support",
    "disable_sublist_cache",
    "no_sublist_cache",
    "connect_error_reports",
    "reconnect_error_reports",
];

/// nats-server keys edge does not implement, rejected by name.
const UNSUPPORTED: &[(&str, &str)] = &[
    ("jetstream", "JetStream"),
    ("store_dir", "JetStream storage"),
    ("storedir", "JetStream storage"),
    ("default_js_domain", "JetStream domains"),
    ("leafnodes", "leaf nodes"),
    ("leaf", "leaf nodes"),
    ("gateway", "gateways (superclusters)"),
    ("mqtt", "MQTT"),
    ("operator", "operator (JWT) mode"),
    ("operators", "operator (JWT) mode"),
    ("root", "operator (JWT) mode"),
    ("roots", "operator (JWT) mode"),
    ("root_operator", "operator (JWT) mode"),
    ("root_operators", "operator (JWT) mode"),
    ("trusted", "operator (JWT) mode"),
    ("trusted_keys", "operator (JWT) mode"),
    ("resolver", "account resolvers"),
    ("account_resolver", "account resolvers"),
    ("accounts_resolver", "account resolvers"),
    ("resolver_tls", "account resolvers"),
    ("resolver_preload", "account resolvers"),
    ("resolver_pinned_accounts", "account resolvers"),
    ("system_account", "the system account"),
    ("system", "the system account"),
    ("no_system_account", "the system account"),
    ("no_system", "the system account"),
    ("no_sys_acc", "the system account"),
    ("mappings", "subject mappings"),
    ("maps", "subject mappings"),
    ("ocsp", "OCSP stapling"),
    ("server_tags", "server tags"),
    ("prof_port", "the Go profiler"),
    ("max_traced_msg_len", "trace truncation"),
    ("max_sub_tokens", "subject token limits"),
    ("max_subscription_tokens", "subject token limits"),
];

/// Lowers the whole file.
pub fn lower_top(cx: &mut Lowering, tree: &Map) -> Plan {
    let mut top = Block::new(tree, Pos::default(), "the top level");
    top.unsupported(UNSUPPORTED);

    let proxy_node = top.get(cx, &["proxy"]);
    let proxies = proxy_node
        .map(|n| proxy::lower_proxies(cx, n))
        .unwrap_or_default();
    let nats_wanted = proxy_node.is_none()
        || tree.iter().any(|e| {
            NATS_LISTENER_KEYS
                .iter()
                .any(|k| e.key.eq_ignore_ascii_case(k))
        });

    if !nats_wanted {
        for e in tree.iter() {
            if NATS_ONLY_KEYS.iter().any(|k| e.key.eq_ignore_ascii_case(k)) {
                cx.invalid(
                    &e.key_pos,
                    format!("`{}` configures the NATS server, which this file does not start", e.key),
                    "add `port: 4222` (or `listen`) to run NATS next to the proxy, or remove this key",
                );
            }
        }
    }
    let log = lower_log(cx, &mut top);
    let mut monitor = lower_monitor(cx, &mut top);
    let files = FilesPlan {
        pid_file: top.take(cx, &["pid_file", "pidfile"], Node::non_empty),
        ports_file_dir: top.take(cx, &["ports_file_dir"], Node::non_empty),
    };
    let lame_duck = lower_lame_duck(cx, &mut top);
    let nats = lower_nats(cx, &mut top).filter(|_| nats_wanted);
    let client_host = nats
        .as_ref()
        .map_or(defaults::HOST, |n| n.listen.host.as_str());
    for hp in [&mut monitor.http, &mut monitor.https]
        .into_iter()
        .flatten()
    {
        if hp.host.is_empty() {
            hp.host = client_host.to_string();
        }
    }
    if let Some(https) = &monitor.https {
        if !tree.iter().any(|e| e.key.eq_ignore_ascii_case("tls")) {
            cx.invalid(
                &top.pos,
                format!("https monitoring on {https} needs a `tls` block (TLS cert and key required for HTTPS)"),
                "add tls { cert_file: ..., key_file: ... } or use `http` instead",
            );
        }
    }
    top.finish(cx);
    if let Some(node) = proxy_node {
        check_proxy_ports(cx, &node.pos, nats.as_ref(), &monitor, &proxies);
    }

    Plan {
        nats,
        monitor,
        log,
        files,
        lame_duck,
        proxies,
    }
}

/// The client listener, limits and the blocks under the NATS server.
fn lower_nats(cx: &mut Lowering, top: &mut Block<'_>) -> Option<NatsPlan> {
    let listen = top.listen_address(cx, defaults::PORT);
    let limits = lower_limits(cx, top);
    let no_header_support = top
        .take(cx, &["no_header_support"], Node::bool)
        .unwrap_or(false);
    let auth = auth::lower_auth(cx, top);
    let tls = top.get(cx, &["tls"]).and_then(|n| tls::lower(cx, n, "tls"));
    let cluster = top
        .get(cx, &["cluster"])
        .and_then(|n| cluster::lower_cluster(cx, n));
    let websocket = top
        .get(cx, &["websocket", "ws"])
        .and_then(|n| cluster::lower_websocket(cx, n));
    Some(NatsPlan {
        listen,
        client_advertise: top.take(cx, &["client_advertise"], Node::non_empty),
        server_name: top.take(cx, &["server_name"], Node::non_empty),
        limits,
        headers: !no_header_support,
        disable_sublist_cache: top
            .take(
                cx,
                &["disable_sublist_cache", "no_sublist_cache"],
                Node::bool,
            )
            .unwrap_or(false),
        auth,
        tls,
        cluster,
        websocket,
        connect_error_reports: top
            .take(cx, &["connect_error_reports"], |n| n.int_in(0, i64::MAX))
            .unwrap_or(3600),
        reconnect_error_reports: top
            .take(cx, &["reconnect_error_reports"], |n| n.int_in(0, i64::MAX))
            .unwrap_or(1),
    })
}

fn lower_limits(cx: &mut Lowering, top: &mut Block<'_>) -> Limits {
    let d = Limits::default();
    let max_i32 = i32::MAX;
    let limits = Limits {
        max_connections: top
            .take(cx, &["max_connections", "max_conn"], |n| {
                n.i32_in(0, max_i32)
            })
            .unwrap_or(d.max_connections),
        max_control_line: top
            .take(cx, &["max_control_line"], |n| n.i32_in(1, max_i32))
            .unwrap_or(d.max_control_line),
        max_payload: top
            .take(cx, &["max_payload"], |n| n.i32_in(1, max_i32))
            .unwrap_or(d.max_payload),
        max_pending: top
            .take(cx, &["max_pending"], |n| n.int_in(1, i64::MAX))
            .unwrap_or(d.max_pending),
        max_subscriptions: top
            .take(cx, &["max_subscriptions", "max_subs"], |n| {
                n.i32_in(0, max_i32)
            })
            .unwrap_or(d.max_subscriptions),
        ping_interval: top
            .take(cx, &["ping_interval"], |n| positive(n, BareNumber::Seconds))
            .unwrap_or(d.ping_interval),
        ping_max: top
            .take(cx, &["ping_max"], |n| n.i32_in(0, max_i32))
            .unwrap_or(d.ping_max),
        write_deadline: top
            .take(cx, &["write_deadline"], |n| {
                positive(n, BareNumber::Seconds)
            })
            .unwrap_or(d.write_deadline),
    };
    if i64::from(limits.max_payload) > limits.max_pending {
        cx.invalid(
            &top.pos,
            format!(
                "max_payload ({}) cannot be higher than max_pending ({})",
                limits.max_payload, limits.max_pending
            ),
            "raise max_pending or lower max_payload",
        );
    }
    limits
}

/// A duration that must be above zero.
fn positive(n: &Node, bare: BareNumber) -> Result<Duration, crate::config::Diagnostic> {
    let d = n.duration(bare)?;
    if d.is_zero() {
        return Err(crate::config::Diagnostic::new(
            n.pos.clone(),
            crate::config::ErrorKind::Invalid("must be longer than zero".into()),
        ));
    }
    Ok(d)
}

fn lower_log(cx: &mut Lowering, top: &mut Block<'_>) -> LogPlan {
    LogPlan {
        debug: top.take(cx, &["debug"], Node::bool).unwrap_or(false),
        trace: top.take(cx, &["trace"], Node::bool).unwrap_or(false),
        trace_verbose: top
            .take(cx, &["trace_verbose"], Node::bool)
            .unwrap_or(false),
        logtime: top.take(cx, &["logtime"], Node::bool).unwrap_or(true),
        file: top.take(cx, &["log_file", "logfile"], Node::non_empty),
        file_size_limit: top
            .take(cx, &["log_size_limit", "logfile_size_limit"], |n| {
                n.int_in(0, i64::MAX)
            })
            .unwrap_or(0),
        syslog: top.take(cx, &["syslog"], Node::bool).unwrap_or(false),
        remote_syslog: top.take(cx, &["remote_syslog"], remote_syslog),
    }
}

/// `udp://host:port`, `tcp://host:port` or `unix:///path`, as nats-server.
fn remote_syslog(n: &Node) -> Result<String, crate::config::Diagnostic> {
    let s = n.non_empty()?;
    let ok = match url::Url::parse(&s) {
        Ok(u) => matches!(u.scheme(), "udp" | "tcp" | "unix"),
        Err(_) => false,
    };
    if !ok {
        return Err(crate::config::Diagnostic::new(
            n.pos.clone(),
            crate::config::ErrorKind::Invalid(format!("`{s}` is not a syslog URL")),
        )
        .help("write udp://host:514, tcp://host:514 or unix:///dev/log"));
    }
    Ok(s)
}

fn lower_monitor(cx: &mut Lowering, top: &mut Block<'_>) -> MonitorPlan {
    // An empty host is filled in with the client listener's host once
    // that is known, as nats-server's `HTTPHost` defaults to `Host`.
    let http = top.take(cx, &["http", "http_port", "monitor_port"], |n| {
        n.host_port("")
    });
    let https = top.take(cx, &["https", "https_port"], |n| n.host_port(""));
    let base_path = top
        .take(cx, &["http_base_path"], Node::string)
        .unwrap_or_default();
    if let (Some(a), Some(b)) = (&http, &https) {
        if a.port == b.port && a.port != 0 {
            cx.invalid(
                &top.pos,
                format!("http and https monitoring both use port {}", a.port),
                "give https its own port",
            );
        }
    }
    MonitorPlan {
        http,
        https,
        base_path,
    }
}

fn lower_lame_duck(cx: &mut Lowering, top: &mut Block<'_>) -> LameDuck {
    let d = LameDuck::default();
    let duration_node = top.get(cx, &["lame_duck_duration"]);
    let duration = duration_node
        .and_then(|n| cx.ok(n.duration(BareNumber::Rejected)))
        .unwrap_or(d.duration);
    if let Some(n) = duration_node {
        if duration < Duration::from_secs(30) {
            cx.invalid(
                &n.pos,
                format!("invalid lame_duck_duration of {duration:?}, minimum is 30 seconds"),
                "write \"30s\" or more",
            );
        }
    }
    let grace_node = top.get(cx, &["lame_duck_grace_period"]);
    let grace_period = grace_node
        .and_then(|n| cx.ok(n.duration(BareNumber::Rejected)))
        .unwrap_or(d.grace_period);
    if grace_period >= duration {
        let pos = grace_node.map_or(top.pos.clone(), |n| n.pos.clone());
        cx.invalid(
            &pos,
            format!(
                "lame duck grace period ({grace_period:?}) should be strictly lower than lame duck duration ({duration:?})"
            ),
            "shorten lame_duck_grace_period",
        );
    }
    LameDuck {
        duration,
        grace_period,
    }
}

/// Two listeners on one port fail at bind time; say so at `edge check`.
/// Proxy listeners are checked against every NATS-side listener.
fn check_proxy_ports(
    cx: &mut Lowering,
    at: &Pos,
    nats: Option<&NatsPlan>,
    monitor: &MonitorPlan,
    proxies: &[crate::plan::ProxyPlan],
) {
    let mut others: Vec<(&str, &HostPort)> = Vec::new();
    if let Some(n) = nats {
        others.push(("the NATS client listener", &n.listen));
        if let Some(c) = &n.cluster {
            others.push(("the cluster listener", &c.listen));
        }
        if let Some(w) = &n.websocket {
            others.push(("the NATS websocket listener", &w.listen));
        }
    }
    if let Some(h) = &monitor.http {
        others.push(("http monitoring", h));
    }
    if let Some(h) = &monitor.https {
        others.push(("https monitoring", h));
    }
    for p in proxies {
        if let Some((what, hp)) = others.iter().find(|(_, hp)| hp.overlaps(&p.listen)) {
            cx.invalid(
                at,
                format!(
                    "proxy listener {} uses the same port as {what} ({hp})",
                    p.listen
                ),
                "give the proxy its own port",
            );
        }
    }
}
