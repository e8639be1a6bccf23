//! `/connz`: open and recently closed connections, paged and sorted as
//! nats-server 2.9.10's `Connz` does (its quirks included: `idle` sorts by
//! time active, `uptime` ascending, `cid` with `state=all` looks only at
//! closed connections).

use super::gofmt::{self, ser_opt_time, ser_time};
use super::query::{Query, QueryError};
use crate::nats::client::{ConnSnapshot, SubSnapshot};
use crate::nats::server::Shared;
use crate::nats::GLOBAL_ACCOUNT;

/// The system account every nats-server has.
const SYSTEM_ACCOUNT: &str = "$SYS";
use serde::Serialize;
use std::time::SystemTime;

/// nats-server's `DefaultConnListSize`.
pub const DEFAULT_LIMIT: i64 = 1024;

/// Why a decoded `/connz` request is refused (400, with this text).
#[derive(Debug, thiserror::Error)]
pub enum ConnzError {
    /// `sort` names no known order.
    #[error("invalid sorting option: {0}")]
    Sort(String),
    /// `sort=stop` or `sort=reason` without `state=closed`.
    #[error("sort by {0} only valid on closed connections")]
    ClosedOnly(&'static str),
}

/// Which connections to list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Open,
    Closed,
    All,
}

/// The orders nats-server knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Sort {
    Cid,
    Subs,
    Pending,
    MsgsTo,
    MsgsFrom,
    BytesTo,
    BytesFrom,
    Last,
    Idle,
    Uptime,
    Stop,
    Reason,
}

impl Sort {
    fn parse(s: &str) -> Result<Sort, ConnzError> {
        Ok(match s {
            "" | "cid" | "start" => Sort::Cid,
            "subs" => Sort::Subs,
            "pending" => Sort::Pending,
            "msgs_to" => Sort::MsgsTo,
            "msgs_from" => Sort::MsgsFrom,
            "bytes_to" => Sort::BytesTo,
            "bytes_from" => Sort::BytesFrom,
            "last" => Sort::Last,
            "idle" => Sort::Idle,
            "uptime" => Sort::Uptime,
            "stop" => Sort::Stop,
            "reason" => Sort::Reason,
            other => return Err(ConnzError::Sort(other.to_string())),
        })
    }
}

/// A decoded `/connz` request (its parameters parse; whether they make
/// sense together is checked by [`connz`], after nats-server counts the
/// request).
pub struct Request {
    sort: String,
    subs: bool,
    detail: bool,
    offset: i64,
    limit: i64,
    cid: u64,
    state: State,
    user: String,
    acc: String,
    mqtt_client: String,
}

/// Decodes the parameters in `HandleConnz`'s order.
pub fn decode(q: &Query) -> Result<Request, QueryError> {
    let sort = q.get("sort").to_string();
    q.bool("auth")?;
    let detail = q.get("subs").eq_ignore_ascii_case("detail");
    let subs = !detail && q.bool("subs")?;
    let offset = q.int("offset")?;
    let limit = q.int("limit")?;
    let cid = q.uint("cid")?;
    let state = match q.get("state").to_ascii_lowercase().as_str() {
        "" | "open" => State::Open,
        "closed" => State::Closed,
        "any" | "all" => State::All,
        _ => return Err(QueryError::State(q.get("state").to_string())),
    };
    Ok(Request {
        sort,
        subs,
        detail,
        offset,
        limit,
        cid,
        state,
        user: q.get("user").to_string(),
        acc: q.get("acc").to_string(),
        mqtt_client: q.get("mqtt_client").to_string(),
    })
}

/// The request checked as `Connz` checks it.
struct Options {
    sort: Sort,
    subs: bool,
    detail: bool,
    offset: usize,
    limit: usize,
    cid: u64,
    state: State,
}

impl Options {
    fn check(r: &Request) -> Result<Options, ConnzError> {
        let sort = Sort::parse(&r.sort)?;
        if sort == Sort::Stop && r.state != State::Closed {
            return Err(ConnzError::ClosedOnly("stop"));
        }
        if sort == Sort::Reason && r.state != State::Closed {
            return Err(ConnzError::ClosedOnly("reason"));
        }
        let limit = if r.cid > 0 {
            1
        } else if r.limit <= 0 {
            DEFAULT_LIMIT
        } else {
            r.limit
        };
        Ok(Options {
            sort,
            subs: r.subs,
            detail: r.detail,
            offset: usize::try_from(r.offset.max(0)).unwrap_or(usize::MAX),
            limit: usize::try_from(limit).unwrap_or(usize::MAX),
            cid: r.cid,
            state: r.state,
        })
    }
}

/// The `/connz` document, fields in nats-server's order.
#[derive(Serialize)]
struct Connz {
    server_id: String,
    #[serde(serialize_with = "ser_time")]
    now: SystemTime,
    num_connections: usize,
    total: usize,
    offset: usize,
    limit: usize,
    connections: Option<Vec<ConnInfo>>,
}

/// One connection, as nats-server's `ConnInfo` (fields it leaves empty
/// for a plain TCP client without auth are omitted the same way).
#[derive(Serialize)]
struct ConnInfo {
    cid: u64,
    kind: &'static str,
    #[serde(rename = "type")]
    kind_type: &'static str,
    ip: String,
    port: u16,
    #[serde(serialize_with = "ser_time")]
    start: SystemTime,
    #[serde(serialize_with = "ser_time")]
    last_activity: SystemTime,
    #[serde(
        skip_serializing_if = "Option::is_none",
        serialize_with = "ser_opt_time"
    )]
    stop: Option<SystemTime>,
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<&'static str>,
    rtt: String,
    uptime: String,
    idle: String,
    pending_bytes: usize,
    in_msgs: u64,
    out_msgs: u64,
    in_bytes: u64,
    out_bytes: u64,
    subscriptions: usize,
    #[serde(skip_serializing_if = "String::is_empty")]
    name: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    lang: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    version: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    subscriptions_list: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    subscriptions_list_detail: Option<Vec<SubDetail>>,
}

/// A subscription under a connection (`subs=detail`); `/subsz` adds the
/// account.
#[derive(Serialize)]
pub(super) struct SubDetail {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) account: Option<&'static str>,
    pub(super) subject: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) qgroup: Option<String>,
    pub(super) sid: String,
    pub(super) msgs: u64,
    #[serde(skip_serializing_if = "is_zero")]
    pub(super) max: u64,
    pub(super) cid: u64,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

impl SubDetail {
    pub(super) fn new(s: &SubSnapshot, account: Option<&'static str>) -> SubDetail {
        SubDetail {
            account,
            subject: s.subject.clone(),
            qgroup: s.queue.clone(),
            sid: s.sid.clone(),
            msgs: s.msgs,
            max: s.max,
            cid: s.cid,
        }
    }
}

impl ConnInfo {
    fn new(c: ConnSnapshot, now: SystemTime, o: &Options) -> ConnInfo {
        // A closed connection's times stop at its close.
        let end = c.stop.unwrap_or(now);
        let (subscriptions_list, subscriptions_list_detail) = if c.subs.is_empty() {
            (None, None)
        } else if o.detail {
            // nats-server saves a closed client's subscriptions with their
            // account, and lists open ones without.
            let acc = c.stop.map(|_| GLOBAL_ACCOUNT);
            let d = c.subs.iter().map(|s| SubDetail::new(s, acc)).collect();
            (None, Some(d))
        } else if o.subs {
            (
                Some(c.subs.iter().map(|s| s.subject.clone()).collect()),
                None,
            )
        } else {
            (None, None)
        };
        ConnInfo {
            cid: c.cid,
            kind: "Client",
            kind_type: "nats",
            ip: c.peer.ip().to_string(),
            port: c.peer.port(),
            start: c.start,
            last_activity: c.last_activity,
            stop: c.stop,
            reason: c.reason.map(|r| r.as_str()),
            rtt: gofmt::rtt(c.rtt),
            uptime: gofmt::uptime(gofmt::since(c.start, end)),
            idle: gofmt::uptime(gofmt::since(c.last_activity, end)),
            pending_bytes: c.pending_bytes,
            in_msgs: c.in_msgs,
            out_msgs: c.out_msgs,
            in_bytes: c.in_bytes,
            out_bytes: c.out_bytes,
            subscriptions: c.subs.len(),
            name: c.meta.name,
            lang: c.meta.lang,
            version: c.meta.version,
            subscriptions_list,
            subscriptions_list_detail,
        }
    }
}

/// Answers a decoded `/connz` request.
pub fn connz(shared: &Shared, request: &Request) -> Result<String, ConnzError> {
    let o = Options::check(request)?;
    let now = SystemTime::now();
    // An account edge does not have: nats-server's lookup fails and it
    // answers the bare document (no server id, `connections` null).
    let acc = request.acc.as_str();
    if !acc.is_empty() && acc != GLOBAL_ACCOUNT && acc != SYSTEM_ACCOUNT {
        return Ok(gofmt::to_json_indent(&Connz {
            server_id: String::new(),
            now,
            num_connections: 0,
            total: 0,
            offset: o.offset,
            limit: o.limit,
            connections: None,
        }));
    }
    // The system account has no client connections in edge (nor in a
    // nats-server without a system user).
    let none = acc == SYSTEM_ACCOUNT;
    let reg = &shared.registry;
    let mut open = Vec::new();
    let mut closed = Vec::new();
    let mut total = match o.state {
        _ if none => 0,
        State::Open => reg.open_count(),
        State::Closed => {
            closed = reg.closed_list();
            closed.len()
        }
        State::All => {
            closed = reg.closed_list();
            reg.open_count() + closed.len()
        }
    };
    // As nats-server: a closed client's account is only kept when it is
    // not the global one, so any account filter drops every closed one.
    if !acc.is_empty() {
        total -= closed.len();
        closed.clear();
    }
    if o.cid > 0 {
        if o.state == State::Open {
            open.extend(reg.get(o.cid));
        } else {
            closed.retain(|c| c.cid == o.cid);
            closed.truncate(1);
        }
    } else if o.state != State::Closed {
        open = reg.open();
    }
    let mut conns: Vec<ConnSnapshot> = open.iter().map(|h| h.snapshot(None)).collect();
    conns.extend(closed);
    // Filters that leave `total` as it was, as in nats-server: a user
    // (CONNECT's `user`), an MQTT client id (edge has no MQTT clients).
    conns.retain(|c| {
        !none
            && (request.user.is_empty() || c.meta.user == request.user)
            && request.mqtt_client.is_empty()
    });
    sort(&mut conns, o.sort, now);
    let from = o.offset.min(conns.len());
    let to = o.offset.saturating_add(o.limit).min(conns.len());
    let connections: Vec<ConnInfo> = conns
        .drain(..)
        .skip(from)
        .take(to - from)
        .map(|c| ConnInfo::new(c, now, &o))
        .collect();
    Ok(gofmt::to_json_indent(&Connz {
        server_id: shared.info.load().server_id.clone(),
        now,
        num_connections: connections.len(),
        total,
        offset: o.offset,
        limit: o.limit,
        connections: Some(connections),
    }))
}

/// nats-server's orders: `cid` ascending, `uptime` and `reason` ascending,
/// the rest descending; ties keep cid order.
fn sort(conns: &mut [ConnSnapshot], by: Sort, now: SystemTime) {
    conns.sort_by_key(|c| c.cid);
    let up = |c: &ConnSnapshot| gofmt::since(c.start, c.stop.unwrap_or(now));
    use std::cmp::Reverse;
    match by {
        Sort::Cid => {}
        Sort::Subs => conns.sort_by_key(|c| Reverse(c.subs.len())),
        Sort::Pending => conns.sort_by_key(|c| Reverse(c.pending_bytes)),
        Sort::MsgsTo => conns.sort_by_key(|c| Reverse(c.out_msgs)),
        Sort::MsgsFrom => conns.sort_by_key(|c| Reverse(c.in_msgs)),
        Sort::BytesTo => conns.sort_by_key(|c| Reverse(c.out_bytes)),
        Sort::BytesFrom => conns.sort_by_key(|c| Reverse(c.in_bytes)),
        Sort::Last => conns.sort_by_key(|c| Reverse(c.last_activity)),
        Sort::Idle => conns.sort_by_key(|c| Reverse(gofmt::since(c.start, c.last_activity))),
        Sort::Uptime => conns.sort_by_key(|c| up(c)),
        Sort::Stop => conns.sort_by_key(|c| Reverse(c.stop)),
        Sort::Reason => conns.sort_by_key(|c| c.reason.map(|r| r.as_str())),
    }
}
