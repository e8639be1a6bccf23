//! `/subsz` (and `/subscriptionsz`): the subscription index's counters
//! and, with `subs=1`, its subscriptions, as nats-server 2.9.10 answers.
//!
//! As nats-server: the listing is paged by `offset`/`limit`, filtered by a
//! publish subject `test`, and when it is empty only the counters are sent.

use super::connz::SubDetail;
use super::gofmt::{self, ser_float, ser_time};
use super::query::{Query, QueryError};
use crate::nats::server::Shared;
use crate::nats::subject::{filter_matches, is_valid_publish_subject};
use crate::nats::sublist::SublistStats;
use crate::nats::GLOBAL_ACCOUNT;
use serde::Serialize;
use std::time::SystemTime;

/// nats-server's `DefaultSubListSize`.
pub const DEFAULT_LIMIT: i64 = 1024;

/// Why a `/subsz` request is refused (400, with this text).
#[derive(Debug, thiserror::Error)]
pub enum SubszError {
    /// A parameter that does not decode.
    #[error(transparent)]
    Query(#[from] QueryError),
    /// `test` is not a publish subject.
    #[error("invalid test subject, must be valid publish subject: {0}")]
    Test(String),
}

/// nats-server's `SublistStats` fields, in its order.
#[derive(Serialize)]
pub(super) struct Stats {
    num_subscriptions: u64,
    num_cache: u64,
    num_inserts: u64,
    num_removes: u64,
    num_matches: u64,
    #[serde(serialize_with = "ser_float")]
    cache_hit_rate: f64,
    max_fanout: u64,
    #[serde(serialize_with = "ser_float")]
    avg_fanout: f64,
}

impl From<&SublistStats> for Stats {
    fn from(s: &SublistStats) -> Stats {
        Stats {
            num_subscriptions: s.num_subscriptions,
            num_cache: s.num_cache,
            num_inserts: s.num_inserts,
            num_removes: s.num_removes,
            num_matches: s.num_matches,
            cache_hit_rate: s.cache_hit_rate,
            max_fanout: s.max_fanout,
            avg_fanout: s.avg_fanout,
        }
    }
}

/// The document with a listing.
#[derive(Serialize)]
struct Subsz {
    server_id: String,
    #[serde(serialize_with = "ser_time")]
    now: SystemTime,
    #[serde(flatten)]
    stats: Stats,
    total: usize,
    offset: usize,
    limit: usize,
    subscriptions_list: Vec<SubDetail>,
}

/// Answers `/subsz` for `query`.
pub fn subsz(shared: &Shared, query: &Query) -> Result<String, SubszError> {
    let subs = query.bool("subs")?;
    let offset = query.int("offset")?.max(0);
    let limit = match query.int("limit")? {
        n if n <= 0 => DEFAULT_LIMIT,
        n => n,
    };
    let test = query.get("test");
    if !test.is_empty() && !is_valid_publish_subject(test.as_bytes()) {
        return Err(SubszError::Test(test.to_string()));
    }
    // Every account's counters, or one account's; an account the plan
    // does not know leaves nothing to count, as in nats-server. The
    // listing is of all clients (connections do not show their account
    // here yet), so it is given without a filter or for `$G` only.
    let acc = query.get("acc");
    let in_account = acc.is_empty() || acc == GLOBAL_ACCOUNT;
    let stats = if acc.is_empty() {
        shared.sublist_stats()
    } else {
        shared
            .accounts
            .get(acc)
            .map(|s| s.stats())
            .unwrap_or_default()
    };
    let mut list = Vec::new();
    if subs && in_account {
        for handle in shared.registry.open() {
            let snap = handle.snapshot(None);
            list.extend(
                snap.subs
                    .iter()
                    .filter(|s| {
                        test.is_empty() || filter_matches(s.subject.as_bytes(), test.as_bytes())
                    })
                    .map(|s| SubDetail::new(s, Some(GLOBAL_ACCOUNT))),
            );
        }
    }
    let offset = usize::try_from(offset).unwrap_or(usize::MAX);
    let limit = usize::try_from(limit).unwrap_or(usize::MAX);
    let from = offset.min(list.len());
    let to = offset.saturating_add(limit).min(list.len());
    let page: Vec<SubDetail> = list.drain(..).skip(from).take(to - from).collect();
    if page.is_empty() {
        return Ok(gofmt::to_json_indent(&Stats::from(&stats)));
    }
    Ok(gofmt::to_json_indent(&Subsz {
        server_id: shared.info.load().server_id.clone(),
        now: SystemTime::now(),
        stats: Stats::from(&stats),
        total: page.len(),
        offset,
        limit,
        subscriptions_list: page,
    }))
}
