//! `/accountz`: the accounts every nats-server has (the global one edge
//! serves, and the system account, which edge lists but does not run),
//! and with `acc=` one account's detail.

use super::gofmt::{self, ser_time};
use super::subsz::Stats;
use crate::nats::server::Shared;
use crate::nats::sublist::SublistStats;
use crate::nats::GLOBAL_ACCOUNT;
use crate::plan::auth::{Account, ExportKind, ImportLocal, ResponseType};
use serde::Serialize;
use std::time::SystemTime;

/// The system account's name.
const SYSTEM_ACCOUNT: &str = "$SYS";

/// `acc` names an account edge does not have (400, with this text).
#[derive(Debug, thiserror::Error)]
#[error("Account {0} does not exist")]
pub struct NoSuchAccount(String);

/// nats-server's `AccountInfo`, with what edge has (exports and imports
/// of configured accounts; no system imports, mappings or JWTs).
#[derive(Serialize)]
struct AccountInfo {
    account_name: String,
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
    #[serde(skip_serializing_if = "Vec::is_empty")]
    exports: Vec<ExtExport>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    imports: Vec<ExtImport>,
    sublist_stats: Stats,
}

/// nats-server's `ExtExport` (jwt `Export` fields it fills).
#[derive(Serialize)]
struct ExtExport {
    subject: String,
    #[serde(rename = "type")]
    kind: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    response_type: Option<&'static str>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    approved_accounts: Vec<String>,
}

/// nats-server's `ExtImport`: for a service `subject` is the importer's
/// subject and `to` the exporter's; for a stream `subject` is the
/// exporter's and `local_subject` where it lands.
#[derive(Serialize)]
struct ExtImport {
    subject: String,
    account: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    to: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    local_subject: Option<String>,
    #[serde(rename = "type")]
    kind: &'static str,
    invalid: bool,
    share: bool,
    tracking: bool,
}

/// The exports and imports of a configured account, in nats-server's
/// order (service exports before stream exports, stream imports before
/// service imports; file order within each).
fn exports_imports(account: &Account) -> (Vec<ExtExport>, Vec<ExtImport>) {
    let mut exports: Vec<ExtExport> = Vec::new();
    for kind in [ExportKind::Service, ExportKind::Stream] {
        for e in account.exports.iter().filter(|e| e.kind == kind) {
            exports.push(ExtExport {
                subject: e.subject.clone(),
                kind: kind_name(kind),
                response_type: (kind == ExportKind::Service).then_some(match e.response {
                    ResponseType::Singleton => "Singleton",
                    ResponseType::Stream => "Streamed",
                    ResponseType::Chunked => "Chunked",
                }),
                approved_accounts: e.accounts.clone(),
            });
        }
    }
    let mut imports: Vec<ExtImport> = Vec::new();
    for kind in [ExportKind::Stream, ExportKind::Service] {
        for i in account.imports.iter().filter(|i| i.kind == kind) {
            let local = match &i.local {
                Some(ImportLocal::To(t)) => t.clone(),
                Some(ImportLocal::Prefix(p)) => format!("{p}.{}", i.subject),
                None => i.subject.clone(),
            };
            imports.push(match kind {
                ExportKind::Stream => ExtImport {
                    subject: i.subject.clone(),
                    account: i.account.clone(),
                    to: None,
                    local_subject: Some(local),
                    kind: "stream",
                    invalid: false,
                    share: false,
                    tracking: false,
                },
                ExportKind::Service => ExtImport {
                    subject: local,
                    account: i.account.clone(),
                    to: Some(i.subject.clone()),
                    local_subject: None,
                    kind: "service",
                    invalid: false,
                    share: false,
                    tracking: false,
                },
            });
        }
    }
    (exports, imports)
}

fn kind_name(kind: ExportKind) -> &'static str {
    match kind {
        ExportKind::Stream => "stream",
        ExportKind::Service => "service",
    }
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
    accounts: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    account_detail: Option<AccountInfo>,
}

/// Answers `/accountz` for `acc` (empty: the list).
pub fn accountz(shared: &Shared, acc: &str) -> Result<String, NoSuchAccount> {
    let reg = &shared.registry;
    let detail = match acc {
        "" => None,
        SYSTEM_ACCOUNT => Some(AccountInfo {
            account_name: SYSTEM_ACCOUNT.to_string(),
            update_time: reg.start,
            is_system: true,
            expired: false,
            complete: true,
            jetstream_enabled: false,
            leafnode_connections: 0,
            client_connections: 0,
            subscriptions: 0,
            exports: Vec::new(),
            imports: Vec::new(),
            sublist_stats: Stats::from(&SublistStats::default()),
        }),
        name => {
            let Some(sublist) = shared.accounts.get(name) else {
                return Err(NoSuchAccount(name.to_string()));
            };
            let plan = shared.plan.load();
            let configured = plan.auth.accounts.list.iter().find(|a| a.name == name);
            let (exports, imports) = configured.map(exports_imports).unwrap_or_default();
            Some(AccountInfo {
                account_name: name.to_string(),
                update_time: reg.start,
                is_system: false,
                expired: false,
                complete: true,
                jetstream_enabled: false,
                leafnode_connections: 0,
                client_connections: reg.open().iter().filter(|c| c.account() == name).count(),
                subscriptions: sublist.count(),
                exports,
                imports,
                sublist_stats: Stats::from(&sublist.stats()),
            })
        }
    };
    // As nats-server: the global account, the configured ones, the system one.
    let mut names = vec![GLOBAL_ACCOUNT.to_string()];
    names.extend(
        shared
            .plan
            .load()
            .auth
            .accounts
            .list
            .iter()
            .map(|a| a.name.clone())
            .filter(|n| n != GLOBAL_ACCOUNT && n != SYSTEM_ACCOUNT),
    );
    names.push(SYSTEM_ACCOUNT.to_string());
    Ok(gofmt::to_json_indent(&Accountz {
        server_id: shared.info.load().server_id.clone(),
        now: SystemTime::now(),
        system_account: SYSTEM_ACCOUNT,
        accounts: detail.is_none().then_some(names),
        account_detail: detail,
    }))
}
