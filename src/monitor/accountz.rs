//! `/accountz`: the accounts every nats-server has (the global one edge
//! serves, and the system account, which edge lists but does not run),
//! and with `acc=` one account's detail.

use super::gofmt::{self, ser_time};
use super::subsz::Stats;
use crate::nats::server::Shared;
use crate::nats::sublist::SublistStats;
use crate::nats::GLOBAL_ACCOUNT;
use serde::Serialize;
use std::time::SystemTime;

/// The system account's name.
const SYSTEM_ACCOUNT: &str = "$SYS";

/// `acc` names an account edge does not have (400, with this text).
#[derive(Debug, thiserror::Error)]
#[error("Account {0} does not exist")]
pub struct NoSuchAccount(String);

/// nats-server's `AccountInfo`, with what edge has (no imports, exports,
/// mappings or JWTs).
#[derive(Serialize)]
struct AccountInfo {
    account_name: &'static str,
    #[serde(serialize_with = "ser_time")]
    update_time: SystemTime,
    #[serde(skip_serializing_if = "is_false")]
    is_system: bool,
    expired: bool,
    complete: bool,
    jetstream_enabled: bool,
    leafnode_connections: usize,
    client_connections: usize,
    subscriptions: usize,
    sublist_stats: Stats,
}

fn is_false(b: &bool) -> bool {
    !*b
}

#[derive(Serialize)]
struct Accountz {
    server_id: String,
    #[serde(serialize_with = "ser_time")]
    now: SystemTime,
    system_account: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    accounts: Option<[&'static str; 2]>,
    #[serde(skip_serializing_if = "Option::is_none")]
    account_detail: Option<AccountInfo>,
}

/// Answers `/accountz` for `acc` (empty: the list).
pub fn accountz(shared: &Shared, acc: &str) -> Result<String, NoSuchAccount> {
    let reg = &shared.registry;
    let detail = match acc {
        "" => None,
        GLOBAL_ACCOUNT => Some(AccountInfo {
            account_name: GLOBAL_ACCOUNT,
            update_time: reg.start,
            is_system: false,
            expired: false,
            complete: true,
            jetstream_enabled: false,
            leafnode_connections: 0,
            client_connections: reg.open_count(),
            subscriptions: shared.sublist.count(),
            sublist_stats: Stats::from(&shared.sublist.stats()),
        }),
        SYSTEM_ACCOUNT => Some(AccountInfo {
            account_name: SYSTEM_ACCOUNT,
            update_time: reg.start,
            is_system: true,
            expired: false,
            complete: true,
            jetstream_enabled: false,
            leafnode_connections: 0,
            client_connections: 0,
            subscriptions: 0,
            sublist_stats: Stats::from(&SublistStats::default()),
        }),
        other => return Err(NoSuchAccount(other.to_string())),
    };
    Ok(gofmt::to_json_indent(&Accountz {
        server_id: shared.info.load().server_id.clone(),
        now: SystemTime::now(),
        system_account: SYSTEM_ACCOUNT,
        accounts: detail.is_none().then_some([GLOBAL_ACCOUNT, SYSTEM_ACCOUNT]),
        account_detail: detail,
    }))
}
