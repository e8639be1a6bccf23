//! Endpoints for what edge does not have (routes, gateways, leaf nodes,
//! JetStream) and `/healthz`: the answers nats-server 2.9.10
//! gives when those features are not configured.

use super::gofmt::{self, ser_time};
use super::query::{Query, QueryError};
use serde::Serialize;
use std::collections::BTreeMap;
use std::time::SystemTime;

/// `/routez` without a cluster.
#[derive(Serialize)]
struct Routez {
    server_id: String,
    #[serde(serialize_with = "ser_time")]
    now: SystemTime,
    num_routes: u32,
    routes: [(); 0],
}

/// `/gatewayz` without gateways.
#[derive(Serialize)]
struct Gatewayz {
    server_id: String,
    #[serde(serialize_with = "ser_time")]
    now: SystemTime,
    outbound_gateways: BTreeMap<String, ()>,
    inbound_gateways: BTreeMap<String, ()>,
}

/// `/leafz` without leaf nodes (`leafs` is Go's nil slice: `null`).
#[derive(Serialize)]
struct Leafz {
    server_id: String,
    #[serde(serialize_with = "ser_time")]
    now: SystemTime,
    leafnodes: u32,
    leafs: Option<[(); 0]>,
}

#[derive(Serialize)]
struct JsConfig {
    max_memory: u64,
    max_storage: u64,
}

#[derive(Serialize)]
struct JsApi {
    total: u64,
    errors: u64,
}

/// `/jsz` with JetStream disabled.
#[derive(Serialize)]
struct Jsz {
    server_id: String,
    #[serde(serialize_with = "ser_time")]
    now: SystemTime,
    disabled: bool,
    config: JsConfig,
    memory: u64,
    storage: u64,
    reserved_memory: u64,
    reserved_storage: u64,
    accounts: u64,
    ha_assets: u64,
    api: JsApi,
    streams: u64,
    consumers: u64,
    messages: u64,
    bytes: u64,
}

/// `/healthz`'s answer.
#[derive(Serialize)]
struct Health {
    status: &'static str,
}

/// `/routez`.
pub fn routez(server_id: &str) -> String {
    gofmt::to_json_indent(&Routez {
        server_id: server_id.to_string(),
        now: SystemTime::now(),
        num_routes: 0,
        routes: [],
    })
}

/// `/gatewayz`.
pub fn gatewayz(server_id: &str) -> String {
    gofmt::to_json_indent(&Gatewayz {
        server_id: server_id.to_string(),
        now: SystemTime::now(),
        outbound_gateways: BTreeMap::new(),
        inbound_gateways: BTreeMap::new(),
    })
}

/// `/leafz`.
pub fn leafz(server_id: &str) -> String {
    gofmt::to_json_indent(&Leafz {
        server_id: server_id.to_string(),
        now: SystemTime::now(),
        leafnodes: 0,
        leafs: None,
    })
}

/// `/jsz`.
pub fn jsz(server_id: &str) -> String {
    gofmt::to_json_indent(&Jsz {
        server_id: server_id.to_string(),
        now: SystemTime::now(),
        disabled: true,
        config: JsConfig {
            max_memory: 0,
            max_storage: 0,
        },
        memory: 0,
        storage: 0,
        reserved_memory: 0,
        reserved_storage: 0,
        accounts: 0,
        ha_assets: 0,
        api: JsApi {
            total: 0,
            errors: 0,
        },
        streams: 0,
        consumers: 0,
        messages: 0,
        bytes: 0,
    })
}

/// `/healthz`: `ok` once serving (edge has no JetStream to wait for); its
/// flags are still decoded, so a bad one gets nats-server's 400.
pub fn healthz(q: &Query) -> Result<String, QueryError> {
    q.bool("js-enabled")?;
    q.bool("js-enabled-only")?;
    q.bool("js-server-only")?;
    Ok(gofmt::to_json(&Health { status: "ok" }))
}
