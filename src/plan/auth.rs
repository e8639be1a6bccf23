//! Who may connect and what they may do: users, permissions, accounts.

use std::time::Duration;

/// A password or token as configured: compared in constant time when plain,
/// with bcrypt when it is a `$2a$`/`$2b$`/`$2x$`/`$2y$` hash (nats-server's rule).
#[derive(Clone, PartialEq, Eq)]
pub enum Secret {
    /// Compared as is.
    Plain(String),
    /// A bcrypt hash the client's password is checked against.
    Bcrypt(String),
}

impl Secret {
    /// Classifies a configured value the way nats-server's `isBcrypt` does.
    pub fn new(value: String) -> Self {
        if value.starts_with("$2a$")
            || value.starts_with("$2b$")
            || value.starts_with("$2x$")
            || value.starts_with("$2y$")
        {
            Secret::Bcrypt(value)
        } else {
            Secret::Plain(value)
        }
    }
}

impl std::fmt::Debug for Secret {
    /// Never prints the secret itself (plans end up in logs and snapshots).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Secret::Plain(_) => write!(f, "Plain(<redacted>)"),
            Secret::Bcrypt(_) => write!(f, "Bcrypt(<redacted>)"),
        }
    }
}

/// How clients authenticate.
#[derive(Clone, Debug, Default, PartialEq)]
pub enum ClientAuth {
    /// Anyone may connect.
    #[default]
    None,
    /// One shared token (`authorization { token }`, `--auth`).
    Token(Secret),
    /// One user/password pair (`authorization { user, password }`).
    UserPassword {
        /// The user name.
        user: String,
        /// The password or its bcrypt hash.
        password: Secret,
    },
    /// A list of users and nkeys (`users = [...]`, or `accounts`).
    Users(Vec<User>),
}

/// Authentication and authorization for client connections.
#[derive(Clone, Debug, PartialEq)]
pub struct AuthPlan {
    /// The credential check.
    pub client: ClientAuth,
    /// How long a client has to send CONNECT.
    pub timeout: Duration,
    /// Users for connections without credentials.
    pub no_auth_user: Option<String>,
    /// Permissions of users that have none of their own.
    pub default_permissions: Option<Permissions>,
    /// Accounts (isolated subject spaces) and their exports/imports.
    pub accounts: Accounts,
}

impl Default for AuthPlan {
    fn default() -> Self {
        AuthPlan {
            client: ClientAuth::None,
            timeout: super::nats::defaults::AUTH_TIMEOUT,
            no_auth_user: None,
            default_permissions: None,
            accounts: Accounts::default(),
        }
    }
}

/// How a user is identified.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum UserId {
    /// `user` + `password`.
    Name(String),
    /// An nkey public key (`U...`); the client signs the INFO nonce.
    Nkey(String),
}

/// One configured user.
#[derive(Clone, Debug, PartialEq)]
pub struct User {
    /// Name or nkey.
    pub id: UserId,
    /// Password (none for nkey users).
    pub password: Option<Secret>,
    /// The user's own permissions (else the defaults apply).
    pub permissions: Option<Permissions>,
    /// The account the user belongs to (`$G` unless under `accounts`).
    pub account: String,
    /// `allowed_connection_types` (empty = all).
    pub connection_types: Vec<String>,
}

/// Publish/subscribe rights.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Permissions {
    /// Subjects the user may publish to.
    pub publish: Option<SubjectPermission>,
    /// Subjects (optionally with a queue) the user may subscribe to.
    pub subscribe: Option<SubjectPermission>,
    /// Temporary publish rights to reply subjects of received requests.
    pub allow_responses: Option<ResponsePermission>,
}

/// Allow and deny lists of subjects (wildcards allowed). An empty allow
/// list with a non-empty deny list allows everything not denied.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SubjectPermission {
    /// Subjects allowed.
    pub allow: Vec<String>,
    /// Subjects denied (checked after allow).
    pub deny: Vec<String>,
}

/// `allow_responses`: how many replies, for how long.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResponsePermission {
    /// Replies allowed per request (nats-server default 1).
    pub max: i64,
    /// How long the right lasts (0 = no limit).
    pub expires: Duration,
}

/// The accounts declared in the file. `$G` always exists.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Accounts {
    /// Declared accounts in file order.
    pub list: Vec<Account>,
}

impl Accounts {
    /// Whether account `importer` may import `import`: as nats-server, its
    /// source account exports the subject (or a wildcard covering it) with
    /// the same kind, to `importer` or to everyone. Lowering refuses a plan
    /// with an import that fails this; the runtime wires the others.
    pub fn authorizes(&self, importer: &str, import: &Import) -> bool {
        self.list
            .iter()
            .filter(|a| a.name == import.account)
            .flat_map(|a| &a.exports)
            .any(|e| {
                e.kind == import.kind
                    && crate::nats::subject::is_subset_match(
                        import.subject.as_bytes(),
                        e.subject.as_bytes(),
                    )
                    && (e.accounts.is_empty() || e.accounts.iter().any(|a| a == importer))
            })
    }
}

/// One account: a subject space of its own.
#[derive(Clone, Debug, PartialEq)]
pub struct Account {
    /// Account name.
    pub name: String,
    /// Subjects this account offers to others.
    pub exports: Vec<Export>,
    /// Subjects this account takes from others.
    pub imports: Vec<Import>,
}

/// Stream (messages flow out) or service (requests flow in).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExportKind {
    /// `stream`.
    Stream,
    /// `service`.
    Service,
}

/// An export.
#[derive(Clone, Debug, PartialEq)]
pub struct Export {
    /// Stream or service.
    pub kind: ExportKind,
    /// The exported subject.
    pub subject: String,
    /// Accounts allowed to import (empty = public).
    pub accounts: Vec<String>,
    /// Services: how many responses a request gets (nats-server's
    /// `response_type`), which decides when its reply mapping is dropped.
    pub response: ResponseType,
    /// Services: how long a reply mapping waits for a response before it
    /// is dropped (nats-server's `response_threshold`, default 2 minutes).
    pub threshold: Duration,
}

/// nats-server's default `response_threshold`
/// (`DEFAULT_SERVICE_EXPORT_RESPONSE_THRESHOLD`).
pub const DEFAULT_RESPONSE_THRESHOLD: Duration = Duration::from_secs(120);

/// How many responses a service request gets: the reply mapping made for a
/// request across accounts lives until then (or its threshold).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ResponseType {
    /// One response (`singleton`, the default).
    #[default]
    Singleton,
    /// Any number of responses until the threshold (`stream`).
    Stream,
    /// Any number of responses until an empty one or the threshold (`chunked`).
    Chunked,
}

/// An import.
#[derive(Clone, Debug, PartialEq)]
pub struct Import {
    /// Stream or service.
    pub kind: ExportKind,
    /// The exporting account.
    pub account: String,
    /// The subject in the exporting account.
    pub subject: String,
    /// Where the messages land locally (default: the same subject).
    pub local: Option<ImportLocal>,
}

/// How an imported subject is named in the importing account.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ImportLocal {
    /// `to`: this subject replaces the exported one.
    To(String),
    /// `prefix` (streams): prepended with a `.` to the exported subject.
    Prefix(String),
}
