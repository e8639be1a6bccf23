//! `authorization`, `accounts`, `no_auth_user`: users, permissions, accounts.

use super::value::BareNumber;
use super::{Block, Lowering};
use crate::config::error::{Diagnostic, ErrorKind};
use crate::config::tree::{Node, Value};
use crate::nats::{nkey, subject};
use crate::plan::auth::{
    Account, Accounts, ClientAuth, Export, ExportKind, Import, ImportLocal, ResponsePermission,
    ResponseType, UserId, DEFAULT_RESPONSE_THRESHOLD,
};
use crate::plan::{AuthPlan, Permissions, Secret, SubjectPermission, User};
use std::time::Duration;

type Result<T> = std::result::Result<T, Diagnostic>;

use crate::nats::GLOBAL_ACCOUNT;

/// Lowers `authorization`, `accounts` and `no_auth_user` from the top level.
pub fn lower_auth(cx: &mut Lowering, top: &mut Block<'_>) -> AuthPlan {
    let mut plan = AuthPlan::default();
    let authorization = top.get(cx, &["authorization"]);
    let accounts_node = top.get(cx, &["accounts"]);
    let no_auth_user = top.get(cx, &["no_auth_user"]);

    let (accounts, account_users) = accounts_node
        .map(|n| lower_accounts(cx, n))
        .unwrap_or_default();
    plan.accounts = accounts;

    if let Some(node) = authorization {
        if let Some(mut b) = Block::of(cx, node, "authorization") {
            lower_authorization(cx, &mut b, &mut plan, !account_users.is_empty());
            b.finish(cx);
        }
    }
    if !account_users.is_empty() {
        match &mut plan.client {
            ClientAuth::Users(users) => users.extend(account_users),
            _ => plan.client = ClientAuth::Users(account_users),
        }
    }
    if let ClientAuth::Users(users) = &plan.client {
        check_unique_users(cx, users, authorization.or(accounts_node));
    }
    if let Some(n) = no_auth_user {
        if let Some(name) = cx.ok(n.non_empty()) {
            let known = match &plan.client {
                ClientAuth::Users(users) => {
                    users.iter().any(|u| u.id == UserId::Name(name.clone()))
                }
                _ => false,
            };
            if known {
                plan.no_auth_user = Some(name);
            } else {
                cx.report(
                    Diagnostic::new(
                        n.pos.clone(),
                        ErrorKind::Invalid(format!(
                            "no_auth_user: \"{name}\" not present as user in authorization block or account configuration"
                        )),
                    )
                    .help("name a user from `authorization { users = [...] }` or an account's users"),
                );
            }
        }
    }
    plan
}

/// The `authorization { ... }` block itself.
fn lower_authorization(
    cx: &mut Lowering,
    b: &mut Block<'_>,
    plan: &mut AuthPlan,
    has_accounts: bool,
) {
    let user = b.take(cx, &["user", "username"], Node::non_empty);
    let password = b.take(cx, &["password", "pass"], Node::secret);
    let token = b.take(cx, &["token"], |n| {
        n.non_empty()?;
        n.secret()
    });
    if let Some(t) = b.take(cx, &["timeout"], Node::seconds) {
        plan.timeout = t;
    }
    let default_permissions = b
        .get(
            cx,
            &["default_permissions", "default_permission", "permissions"],
        )
        .and_then(|n| permissions(cx, n));
    let users_node = b.get(cx, &["users"]);
    let users = users_node.and_then(|n| cx.ok(n.list())).map(|list| {
        list.iter()
            .filter_map(|u| user_entry(cx, u, GLOBAL_ACCOUNT))
            .collect::<Vec<_>>()
    });

    let pos = b.pos.clone();
    let conflict = |cx: &mut Lowering, msg: &str| {
        cx.report(
            Diagnostic::new(pos.clone(), ErrorKind::Invalid(msg.to_string()))
                .help("use one way of authenticating clients"),
        )
    };
    if users.is_some() && user.is_some() {
        conflict(cx, "Can not have a single user/pass and a users array");
    }
    if users.is_some() && token.is_some() {
        conflict(cx, "Can not have a token and a users array");
    }
    if user.is_some() && token.is_some() {
        conflict(cx, "Can not have a single user/pass and a token");
    }
    if has_accounts && user.is_some() {
        conflict(cx, "Can not have a single user/pass and accounts");
    }
    if has_accounts && token.is_some() {
        conflict(cx, "Can not have a token and accounts");
    }
    plan.default_permissions = default_permissions;
    plan.client = match (users, user, token) {
        (Some(users), _, _) => ClientAuth::Users(users),
        (None, Some(user), _) => ClientAuth::UserPassword {
            user,
            password: password.unwrap_or_else(|| Secret::new(String::new())),
        },
        (None, None, Some(token)) => ClientAuth::Token(token),
        (None, None, None) => {
            if password.is_some() {
                cx.invalid(
                    &pos,
                    "a password without a user",
                    "add `user: NAME` next to the password",
                );
            }
            ClientAuth::None
        }
    };
}

/// One element of `users = [...]`.
fn user_entry(cx: &mut Lowering, node: &Node, account: &str) -> Option<User> {
    let mut b = Block::of(cx, node, "a user")?;
    let name = b.take(cx, &["user", "username"], Node::non_empty);
    let password = b.take(cx, &["password", "pass"], Node::secret);
    let nkey = b.take(cx, &["nkey"], user_nkey);
    let permissions = b
        .get(cx, &["permissions", "permission", "authorization"])
        .and_then(|n| permissions(cx, n));
    let connection_types = b
        .take(
            cx,
            &["allowed_connection_types", "connection_types", "clients"],
            connection_types,
        )
        .unwrap_or_default();
    b.finish(cx);
    let id = match (name, nkey) {
        (Some(_), Some(_)) => {
            cx.invalid(
                &node.pos,
                "a user has both `user` and `nkey`",
                "an nkey user is identified by its key alone: remove `user`",
            );
            return None;
        }
        (Some(n), None) => UserId::Name(n),
        (None, Some(k)) => UserId::Nkey(k),
        (None, None) => {
            cx.invalid(
                &node.pos,
                "a user needs `user` (with `password`) or `nkey`",
                "write { user: NAME, password: SECRET }",
            );
            return None;
        }
    };
    if matches!(id, UserId::Nkey(_)) && password.is_some() {
        cx.invalid(
            &node.pos,
            "an nkey user cannot have a password",
            "remove `password`: nkey users sign the server's nonce instead",
        );
        return None;
    }
    Some(User {
        id,
        password,
        permissions,
        account: account.to_owned(),
        connection_types,
    })
}

fn user_nkey(n: &Node) -> Result<String> {
    let key = n.non_empty()?;
    match nkey::decode_public(&key) {
        Some((nkey::Role::User, _)) => Ok(key),
        _ => Err(Diagnostic::new(
            n.pos.clone(),
            ErrorKind::Invalid("Not a valid public nkey for a user".into()),
        )
        .help("use the public key (starting with U) that `nk -gen user -pubout` prints")),
    }
}

/// nats-server's connection type names.
fn connection_types(n: &Node) -> Result<Vec<String>> {
    const KNOWN: &[&str] = &[
        "STANDARD",
        "WEBSOCKET",
        "LEAFNODE",
        "LEAFNODE_WS",
        "MQTT",
        "MQTT_WS",
    ];
    let types = n.strings()?;
    for t in &types {
        if !KNOWN.contains(&t.to_ascii_uppercase().as_str()) {
            return Err(Diagnostic::new(
                n.pos.clone(),
                ErrorKind::Invalid(format!("unknown connection type `{t}`")),
            )
            .help(format!("use one of {}", KNOWN.join(", "))));
        }
    }
    Ok(types)
}

/// `permissions { publish, subscribe, allow_responses }` (aliases as nats-server).
pub fn permissions(cx: &mut Lowering, node: &Node) -> Option<Permissions> {
    let mut b = Block::of(cx, node, "permissions")?;
    let publish = b
        .get(cx, &["publish", "pub", "import"])
        .and_then(|n| subject_permission(cx, n, false));
    let subscribe = b
        .get(cx, &["subscribe", "sub", "export"])
        .and_then(|n| subject_permission(cx, n, true));
    let allow_responses = b
        .get(cx, &["allow_responses", "publish_allow_responses"])
        .and_then(|n| response_permission(cx, n));
    b.finish(cx);
    Some(Permissions {
        publish,
        subscribe,
        allow_responses: allow_responses.flatten(),
    })
}

/// A subject, a list, or `{ allow, deny }`. Subscribe subjects may carry a
/// queue group after a space (`"foo.> workers"`).
fn subject_permission(cx: &mut Lowering, node: &Node, queues: bool) -> Option<SubjectPermission> {
    if !matches!(node.value, Value::Map(_)) {
        return cx
            .ok(subjects(node, queues))
            .map(|allow| SubjectPermission {
                allow,
                deny: Vec::new(),
            });
    }
    let mut b = Block::of(cx, node, "a permission")?;
    let allow = b
        .take(cx, &["allow"], |n| subjects(n, queues))
        .unwrap_or_default();
    let deny = b
        .take(cx, &["deny"], |n| subjects(n, queues))
        .unwrap_or_default();
    b.finish(cx);
    Some(SubjectPermission { allow, deny })
}

fn subjects(node: &Node, queues: bool) -> Result<Vec<String>> {
    let list = node.strings()?;
    for s in &list {
        let mut parts = s.split_whitespace();
        let subj = parts.next().unwrap_or_default();
        let queue = parts.next();
        let ok =
            subject::is_valid_filter(subj) && parts.next().is_none() && (queue.is_none() || queues);
        if !ok {
            let help = if queues {
                "write a subject such as \"orders.*\" or \"orders.> workers\" (subject and queue group)"
            } else {
                "write a subject such as \"orders.*\"; tokens are separated by `.` and cannot be empty"
            };
            return Err(Diagnostic::new(
                node.pos.clone(),
                ErrorKind::Invalid(format!("invalid subject `{s}` in permissions")),
            )
            .help(help));
        }
    }
    Ok(list)
}

/// `allow_responses: true|false` or `{ max, expires }` (nats-server defaults:
/// one response, no expiry). `Some(None)` means explicitly off.
fn response_permission(cx: &mut Lowering, node: &Node) -> Option<Option<ResponsePermission>> {
    match &node.value {
        Value::Bool(false) => Some(None),
        Value::Bool(true) => Some(Some(ResponsePermission {
            max: 1,
            expires: Duration::ZERO,
        })),
        Value::Map(_) => {
            let mut b = Block::of(cx, node, "allow_responses")?;
            let max = b
                .take(
                    cx,
                    &["max", "max_msgs", "max_messages", "max_responses"],
                    |n| n.int_in(0, i64::MAX),
                )
                .unwrap_or(1);
            let expires = b
                .take(cx, &["expires", "expiration", "ttl"], |n| {
                    n.duration(BareNumber::Rejected)
                })
                .unwrap_or(Duration::ZERO);
            b.finish(cx);
            Some(Some(ResponsePermission { max, expires }))
        }
        _ => {
            cx.invalid(
                &node.pos,
                format!(
                    "expected true, false or {{max, expires}}, got {}",
                    node.value.kind()
                ),
                "write allow_responses: true or allow_responses: { max: 5, expires: \"1m\" }",
            );
            None
        }
    }
}

/// `accounts { NAME { users, exports, imports } }`; returns the accounts and
/// their users (who are authenticated like `authorization` users).
fn lower_accounts(cx: &mut Lowering, node: &Node) -> (Accounts, Vec<User>) {
    let Some(map) = cx.ok(node.map()) else {
        return Default::default();
    };
    let mut accounts = Accounts::default();
    let mut users = Vec::new();
    for entry in map.iter() {
        let name = entry.key.clone();
        if name == GLOBAL_ACCOUNT {
            cx.invalid(
                &entry.key_pos,
                "`$G` is the implicit global account",
                "pick another account name",
            );
            continue;
        }
        let Some(mut b) = Block::of(cx, &entry.value, "an account") else {
            continue;
        };
        b.unsupported(&[
            ("jetstream", "JetStream"),
            ("mappings", "subject mappings"),
            ("maps", "subject mappings"),
            ("limits", "account limits"),
            ("nkey", "account nkeys (operator mode)"),
        ]);
        if let Some(list) = b.get(cx, &["users"]).and_then(|n| cx.ok(n.list())) {
            users.extend(list.iter().filter_map(|u| user_entry(cx, u, &name)));
        }
        let exports = b
            .get(cx, &["exports"])
            .and_then(|n| cx.ok(n.list()))
            .map(|l| l.iter().filter_map(|e| export(cx, e)).collect())
            .unwrap_or_default();
        let imports = b
            .get(cx, &["imports"])
            .and_then(|n| cx.ok(n.list()))
            .map(|l| l.iter().filter_map(|i| import(cx, i)).collect())
            .unwrap_or_default();
        if let Some(perms) = b
            .get(cx, &["default_permissions"])
            .and_then(|n| permissions(cx, n))
        {
            for u in users
                .iter_mut()
                .filter(|u| u.account == name && u.permissions.is_none())
            {
                u.permissions = Some(perms.clone());
            }
        }
        b.finish(cx);
        accounts.list.push(Account {
            name,
            exports,
            imports,
        });
    }
    check_imports(cx, &accounts, map);
    (accounts, users)
}

fn export(cx: &mut Lowering, node: &Node) -> Option<Export> {
    let mut b = Block::of(cx, node, "an export")?;
    let stream = b.take(cx, &["stream"], filter_subject);
    let service = b.take(cx, &["service"], filter_subject);
    let accounts = b.take(cx, &["accounts"], Node::strings).unwrap_or_default();
    let response = b.take(cx, &["response", "response_type"], response_type);
    let threshold = b.take(
        cx,
        &[
            "threshold",
            "response_threshold",
            "response_max_time",
            "response_time",
        ],
        response_threshold,
    );
    b.unsupported(&[
        ("latency", "service latency tracking"),
        ("account_token_position", "account token positions"),
    ]);
    b.finish(cx);
    if stream.is_some() && (response.is_some() || threshold.is_some()) {
        cx.invalid(
            &node.pos,
            "Detected response directive on non-service",
            "`response_type` and `response_threshold` apply to `service` exports",
        );
        return None;
    }
    let (kind, subject) = match (stream, service) {
        (Some(s), None) => (ExportKind::Stream, s),
        (None, Some(s)) => (ExportKind::Service, s),
        _ => {
            cx.invalid(
                &node.pos,
                "an export needs exactly one of `stream` or `service`",
                "write { stream: \"public.>\" } or { service: \"help\" }",
            );
            return None;
        }
    };
    Some(Export {
        kind,
        subject,
        accounts,
        response: response.unwrap_or_default(),
        threshold: threshold.unwrap_or(DEFAULT_RESPONSE_THRESHOLD),
    })
}

/// `response_threshold`: a Go duration in a string, as nats-server reads it
/// (a bare number is refused), with its messages.
fn response_threshold(n: &Node) -> Result<Duration> {
    let refuse = |got: String| {
        Diagnostic::new(
            n.pos.clone(),
            ErrorKind::Invalid(format!(
                "Expected response threshold to be a parseable time duration, got {got}"
            )),
        )
        .help("write a duration with its unit: \"2m\", \"500ms\"")
    };
    match &n.value {
        Value::Str(_) => n
            .duration(BareNumber::Rejected)
            .map_err(|_| refuse(format!("{:?}", n.string().unwrap_or_default()))),
        Value::Int(_) => Err(refuse("int64".into())),
        Value::Float(_) => Err(refuse("float64".into())),
        Value::Bool(_) => Err(refuse("bool".into())),
        _ => Err(refuse("a block or list".into())),
    }
}

/// `response_type`: nats-server's names, case-insensitive.
fn response_type(n: &Node) -> Result<ResponseType> {
    let s = n.string()?;
    match s.to_ascii_lowercase().as_str() {
        "single" | "singleton" => Ok(ResponseType::Singleton),
        "stream" => Ok(ResponseType::Stream),
        "chunk" | "chunked" => Ok(ResponseType::Chunked),
        _ => Err(Diagnostic::new(
            n.pos.clone(),
            ErrorKind::Invalid(format!("Unknown response type: {s:?}")),
        )
        .help("write singleton, stream or chunked")),
    }
}

fn import(cx: &mut Lowering, node: &Node) -> Option<Import> {
    let mut b = Block::of(cx, node, "an import")?;
    let stream = b.get(cx, &["stream"]);
    let service = b.get(cx, &["service"]);
    let prefix = b.take(cx, &["prefix"], Node::non_empty);
    let to = b.take(cx, &["to"], Node::non_empty);
    b.unsupported(&[("share", "service latency sharing")]);
    b.finish(cx);
    let (kind, source) = match (stream, service) {
        (Some(s), None) => (ExportKind::Stream, s),
        (None, Some(s)) => (ExportKind::Service, s),
        _ => {
            cx.invalid(
                &node.pos,
                "an import needs exactly one of `stream` or `service`",
                "write { stream: { account: A, subject: \"public.>\" } }",
            );
            return None;
        }
    };
    if kind == ExportKind::Stream && prefix.is_some() && to.is_some() {
        cx.invalid(
            &node.pos,
            "Stream import can not have a 'prefix' and a 'to' property",
            "keep `to` (or `prefix`)",
        );
        return None;
    }
    let mut sb = Block::of(cx, source, "an import source")?;
    let account = sb.take(cx, &["account"], Node::non_empty);
    let subject = sb.take(cx, &["subject"], filter_subject);
    sb.finish(cx);
    let (Some(account), Some(subject)) = (account, subject) else {
        cx.invalid(
            &source.pos,
            "an import source needs `account` and `subject`",
            "write { account: A, subject: \"public.>\" }",
        );
        return None;
    };
    Some(Import {
        kind,
        account,
        subject,
        local: to.map(ImportLocal::To).or(prefix.map(ImportLocal::Prefix)),
    })
}

fn filter_subject(n: &Node) -> Result<String> {
    let s = n.non_empty()?;
    if !subject::is_valid_filter(&s) {
        return Err(Diagnostic::new(
            n.pos.clone(),
            ErrorKind::Invalid(format!("invalid subject `{s}`")),
        )
        .help("tokens are separated by `.`, cannot be empty, and `>` must be last"));
    }
    Ok(s)
}

/// Every import names a declared account.
fn check_imports(cx: &mut Lowering, accounts: &Accounts, map: &crate::config::tree::Map) {
    for acc in &accounts.list {
        for imp in &acc.imports {
            let source = accounts.list.iter().find(|a| a.name == imp.account);
            if source.is_some() && !accounts.authorizes(&acc.name, imp) {
                let pos = map
                    .get(&acc.name)
                    .map(|n| n.pos.clone())
                    .unwrap_or_default();
                let kind = match imp.kind {
                    crate::plan::auth::ExportKind::Stream => "stream",
                    crate::plan::auth::ExportKind::Service => "service",
                };
                cx.invalid(
                    &pos,
                    format!(
                        "Error adding {kind} import {:?}: {kind} import not authorized",
                        imp.subject
                    ),
                    format!(
                        "export it from account `{}` (`exports = [{{{kind}: \"{}\"}}]`), or fix the subject",
                        imp.account, imp.subject
                    ),
                );
            }
            if source.is_none() {
                let pos = map
                    .get(&acc.name)
                    .map(|n| n.pos.clone())
                    .unwrap_or_default();
                cx.invalid(
                    &pos,
                    format!(
                        "account `{}` imports from unknown account `{}`",
                        acc.name, imp.account
                    ),
                    "declare that account under `accounts`, or fix the name",
                );
            }
        }
    }
}

/// User names and nkeys must be unique across `authorization` and accounts.
fn check_unique_users(cx: &mut Lowering, users: &[User], at: Option<&Node>) {
    for (i, u) in users.iter().enumerate() {
        if users[..i].iter().any(|o| o.id == u.id) {
            let who = match &u.id {
                UserId::Name(n) | UserId::Nkey(n) => n.clone(),
            };
            let pos = at.map(|n| n.pos.clone()).unwrap_or_default();
            cx.invalid(
                &pos,
                format!("user `{who}` is defined twice"),
                "give each user a unique name",
            );
        }
    }
}
