//! `/varz`: the server's configuration and counters, with nats-server
//! 2.9.10's fields in its order (what edge does not serve, such as
//! clustering, shows as nats-server shows it unconfigured).

use super::gofmt::{self, ser_float, ser_nanos, ser_time};
use super::process;
use super::State;
use crate::nats::info::{GO, PROTO, VERSION};
use crate::plan::auth::ClientAuth;
use serde::Serialize;
use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use std::time::{Duration, SystemTime};

/// An options block nats-server prints as `{}` when not configured.
#[derive(Serialize)]
struct Empty {}

/// The `/varz` document.
#[derive(Serialize)]
struct Varz {
    server_id: String,
    server_name: String,
    version: &'static str,
    proto: u8,
    go: &'static str,
    host: String,
    port: u16,
    #[serde(skip_serializing_if = "is_false")]
    auth_required: bool,
    #[serde(skip_serializing_if = "is_false")]
    tls_required: bool,
    #[serde(skip_serializing_if = "is_false")]
    tls_verify: bool,
    max_connections: i32,
    #[serde(skip_serializing_if = "is_zero")]
    max_subscriptions: i32,
    #[serde(serialize_with = "ser_nanos")]
    ping_interval: Duration,
    ping_max: i32,
    http_host: String,
    http_port: u16,
    http_base_path: String,
    https_port: u16,
    #[serde(serialize_with = "ser_float")]
    auth_timeout: f64,
    max_control_line: i32,
    max_payload: i32,
    max_pending: i64,
    cluster: Empty,
    gateway: Empty,
    leaf: Empty,
    mqtt: Empty,
    websocket: Empty,
    jetstream: Empty,
    #[serde(serialize_with = "ser_float")]
    tls_timeout: f64,
    #[serde(serialize_with = "ser_nanos")]
    write_deadline: Duration,
    #[serde(serialize_with = "ser_time")]
    start: SystemTime,
    #[serde(serialize_with = "ser_time")]
    now: SystemTime,
    uptime: String,
    mem: i64,
    cores: usize,
    gomaxprocs: usize,
    #[serde(serialize_with = "ser_float")]
    cpu: f64,
    connections: usize,
    total_connections: u64,
    routes: u32,
    remotes: u32,
    leafnodes: u32,
    in_msgs: u64,
    out_msgs: u64,
    in_bytes: u64,
    out_bytes: u64,
    slow_consumers: u64,
    subscriptions: usize,
    http_req_stats: BTreeMap<&'static str, u64>,
    #[serde(serialize_with = "ser_time")]
    config_load_time: SystemTime,
    system_account: &'static str,
}

fn is_zero(n: &i32) -> bool {
    *n == 0
}

fn is_false(b: &bool) -> bool {
    !*b
}

/// Answers `/varz`.
pub fn varz(state: &State) -> String {
    let shared = &state.shared;
    let plan = shared.plan.load();
    let limits = &plan.limits;
    let reg = &shared.registry;
    let t = &reg.totals;
    let now = SystemTime::now();
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let doc = Varz {
        server_id: shared.info.load().server_id.clone(),
        server_name: shared.info.load().server_name.clone(),
        version: VERSION,
        proto: PROTO,
        go: GO,
        host: shared.info.load().host.clone(),
        port: shared.info.load().port,
        // Read from the plan, so they hold once auth and TLS are served.
        auth_required: plan.auth.client != ClientAuth::None,
        tls_required: plan.tls.is_some(),
        tls_verify: plan
            .tls
            .as_ref()
            .is_some_and(|t| t.verify || t.verify_and_map),
        max_connections: limits.max_connections,
        max_subscriptions: limits.max_subscriptions,
        ping_interval: limits.ping_interval,
        ping_max: limits.ping_max,
        http_host: state.http_host.clone(),
        http_port: state.http_port,
        http_base_path: state.base_path.clone(),
        https_port: state.https_port,
        auth_timeout: plan.auth.timeout.as_secs_f64(),
        max_control_line: limits.max_control_line,
        max_payload: limits.max_payload,
        max_pending: limits.max_pending,
        cluster: Empty {},
        gateway: Empty {},
        leaf: Empty {},
        mqtt: Empty {},
        websocket: Empty {},
        jetstream: Empty {},
        tls_timeout: plan
            .tls
            .as_ref()
            .map_or(crate::plan::nats::defaults::TLS_TIMEOUT, |t| t.timeout)
            .as_secs_f64(),
        write_deadline: limits.write_deadline,
        start: reg.start,
        now,
        uptime: gofmt::uptime(gofmt::since(reg.start, now)),
        mem: process::rss(),
        cores,
        gomaxprocs: cores,
        cpu: state.cpu.sample(),
        connections: reg.open_count(),
        total_connections: t.total_connections.load(Ordering::Relaxed),
        routes: 0,
        remotes: 0,
        leafnodes: 0,
        in_msgs: t.in_msgs.load(Ordering::Relaxed),
        out_msgs: t.out_msgs.load(Ordering::Relaxed),
        in_bytes: t.in_bytes.load(Ordering::Relaxed),
        out_bytes: t.out_bytes.load(Ordering::Relaxed),
        slow_consumers: t.slow_consumers.load(Ordering::Relaxed),
        subscriptions: shared.subscription_count(),
        http_req_stats: state.req_stats(),
        config_load_time: reg.start,
        system_account: "$SYS",
    };
    gofmt::to_json_indent(&doc)
}
