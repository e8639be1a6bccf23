//! `/accstatz`: per-account connection and traffic counts. edge serves
//! only the global account, so its figures are the server's; the system
//! account nats-server always has is listed, idle, with `unused=1`.

use super::gofmt::{self, ser_time};
use super::query::{Query, QueryError};
use crate::nats::server::Shared;
use crate::nats::GLOBAL_ACCOUNT;
use serde::Serialize;
use std::sync::atomic::Ordering;
use std::time::SystemTime;

#[derive(Serialize, Default)]
struct DataStats {
    msgs: u64,
    bytes: u64,
}

/// nats-server's `AccountStat`.
#[derive(Serialize)]
struct AccountStat {
    acc: &'static str,
    conns: usize,
    leafnodes: usize,
    total_conns: usize,
    sent: DataStats,
    received: DataStats,
    slow_consumers: u64,
}

#[derive(Serialize)]
struct Accstatz {
    server_id: String,
    #[serde(serialize_with = "ser_time")]
    now: SystemTime,
    account_statz: Vec<AccountStat>,
}

/// Answers `/accstatz`: accounts with connections, or all with `unused`.
pub fn accstatz(shared: &Shared, q: &Query) -> Result<String, QueryError> {
    let unused = q.bool("unused")?;
    let reg = &shared.registry;
    let t = &reg.totals;
    let conns = reg.open_count();
    let mut list = Vec::new();
    if unused || conns > 0 {
        list.push(AccountStat {
            acc: GLOBAL_ACCOUNT,
            conns,
            leafnodes: 0,
            total_conns: conns,
            sent: DataStats {
                msgs: t.out_msgs.load(Ordering::Relaxed),
                bytes: t.out_bytes.load(Ordering::Relaxed),
            },
            received: DataStats {
                msgs: t.in_msgs.load(Ordering::Relaxed),
                bytes: t.in_bytes.load(Ordering::Relaxed),
            },
            slow_consumers: t.slow_consumers.load(Ordering::Relaxed),
        });
    }
    if unused {
        list.push(AccountStat {
            acc: "$SYS",
            conns: 0,
            leafnodes: 0,
            total_conns: 0,
            sent: DataStats::default(),
            received: DataStats::default(),
            slow_consumers: 0,
        });
    }
    Ok(gofmt::to_json_indent(&Accstatz {
        server_id: shared.info.load().server_id.clone(),
        now: SystemTime::now(),
        account_statz: list,
    }))
}
