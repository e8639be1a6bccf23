//! Client authentication from the plan, as nats-server 2.9.10 decides it
//! (`processClientOrLeafAuthentication`): nkey with a signed nonce, user and
//! password (plain or bcrypt), token, `no_auth_user`.
//!
//! Observed on nats-server 2.9.10 and kept here:
//! - every CONNECT authenticates again (a second one with a wrong password
//!   closes an authenticated connection);
//! - `no_auth_user` applies only when the CONNECT names no user, password
//!   or token; it then logs in with the user's *stored* password, so with a
//!   bcrypt password it fails (the hash is compared as a password);
//! - with `no_auth_user`, INFO says nothing about auth and operations are
//!   accepted before CONNECT, but the authorization timeout still runs.

use super::cert_names::CertNames;
use super::nkey::{self, Role};
use super::permissions::Permissions;
use crate::plan::auth::{AuthPlan, ClientAuth, Secret, User, UserId};
use base64::Engine as _;
use std::collections::HashMap;
use std::sync::Arc;

/// What a CONNECT presents, borrowed from its options.
#[derive(Debug, Default, Clone, Copy)]
pub struct Credentials<'a> {
    /// `user`.
    pub user: &'a str,
    /// `pass`.
    pub pass: &'a str,
    /// `auth_token`.
    pub token: &'a str,
    /// `nkey`: the user's public nkey.
    pub nkey: &'a str,
    /// `sig`: the nonce signed with the nkey's seed, base64.
    pub sig: &'a str,
    /// The names of the client's TLS certificate (read only when
    /// `verify_and_map` is on).
    pub cert: Option<&'a CertNames>,
}

/// Who a connection is once authenticated.
#[derive(Debug, Clone)]
pub struct Identity {
    /// The account whose subjects it uses (`$G` without accounts).
    pub account: Arc<str>,
    /// Its permissions; `None` may do anything.
    pub permissions: Option<Arc<Permissions>>,
}

/// One user as the authenticator keeps it.
#[derive(Debug)]
struct Account {
    password: Option<Secret>,
    identity: Identity,
}

/// Decides CONNECTs for one plan; built once when the server starts.
#[derive(Debug)]
pub struct Authenticator {
    mode: Mode,
    no_auth_user: Option<String>,
    nkeys: HashMap<String, ([u8; 32], Identity)>,
    /// `tls { verify_and_map }`: users are found by their certificate.
    tls_map: bool,
}

#[derive(Debug)]
enum Mode {
    None,
    Token(Secret),
    UserPassword { user: String, password: Secret },
    Users(HashMap<String, Account>),
}

impl Authenticator {
    /// Compiles the plan's users, passwords and permissions.
    pub fn new(plan: &AuthPlan, global: &str) -> Self {
        let global: Arc<str> = Arc::from(global);
        let open = |permissions: Option<&crate::plan::auth::Permissions>, account: &str| Identity {
            account: if account == &*global {
                Arc::clone(&global)
            } else {
                Arc::from(account)
            },
            permissions: permissions
                .or(plan.default_permissions.as_ref())
                .map(|p| Arc::new(Permissions::new(p))),
        };
        let mut nkeys = HashMap::new();
        let mode = match &plan.client {
            ClientAuth::None => Mode::None,
            ClientAuth::Token(t) => Mode::Token(t.clone()),
            ClientAuth::UserPassword { user, password } => Mode::UserPassword {
                user: user.clone(),
                password: password.clone(),
            },
            ClientAuth::Users(users) => {
                let mut by_name = HashMap::new();
                for User {
                    id,
                    password,
                    permissions,
                    account,
                    ..
                } in users
                {
                    let identity = open(permissions.as_ref(), account);
                    match id {
                        UserId::Name(name) => {
                            by_name.insert(
                                name.clone(),
                                Account {
                                    password: password.clone(),
                                    identity,
                                },
                            );
                        }
                        UserId::Nkey(key) => {
                            if let Some((Role::User, public)) = nkey::decode_public(key) {
                                nkeys.insert(key.clone(), (public, identity));
                            }
                        }
                    }
                }
                Mode::Users(by_name)
            }
        };
        Authenticator {
            mode,
            no_auth_user: plan.no_auth_user.clone(),
            nkeys,
            tls_map: false,
        }
    }

    /// With `tls { verify_and_map }`: users are looked up by the names in
    /// the client's certificate instead of the CONNECT's user/password.
    pub fn with_tls_map(mut self, on: bool) -> Self {
        self.tls_map = on;
        self
    }

    /// Whether the client's certificate names are needed.
    pub fn maps_certificates(&self) -> bool {
        self.tls_map && matches!(self.mode, Mode::Users(_))
    }

    /// Whether clients must authenticate at all (then CONNECT is checked
    /// and the authorization timer runs).
    pub fn enabled(&self) -> bool {
        !matches!(self.mode, Mode::None) || !self.nkeys.is_empty()
    }

    /// INFO's `auth_required`: off with `no_auth_user`, as nats-server.
    pub fn info_auth_required(&self) -> bool {
        self.enabled() && self.no_auth_user.is_none()
    }

    /// Whether only CONNECT may come first (nats-server answers anything
    /// else with `Authorization Violation`); not with `no_auth_user`.
    pub fn awaits_connect(&self) -> bool {
        self.info_auth_required()
    }

    /// Whether INFO carries a nonce to sign (there are nkey users).
    pub fn uses_nonce(&self) -> bool {
        !self.nkeys.is_empty()
    }

    /// The identity `creds` log in as, or `None` (`Authorization
    /// Violation`). `nonce` is the one this connection's INFO carried.
    pub fn authenticate(&self, creds: &Credentials<'_>, nonce: &str) -> Option<Identity> {
        if !self.nkeys.is_empty() && !creds.nkey.is_empty() {
            let (public, identity) = self.nkeys.get(creds.nkey)?;
            return verify_nonce(public, nonce, creds.sig).then(|| identity.clone());
        }
        match &self.mode {
            Mode::None => None,
            Mode::Token(token) => matches(token, creds.token).then(|| self.global()),
            Mode::UserPassword { user, password } => {
                (creds.user == user && matches(password, creds.pass)).then(|| self.global())
            }
            Mode::Users(users) if self.tls_map => {
                let user = by_certificate(users, creds.cert?)?;
                Some(user.identity.clone())
            }
            Mode::Users(users) => {
                let (name, pass) = match &self.no_auth_user {
                    Some(default)
                        if creds.user.is_empty()
                            && creds.pass.is_empty()
                            && creds.token.is_empty() =>
                    {
                        let stored = users.get(default.as_str())?;
                        (default.as_str(), stored_text(stored.password.as_ref()))
                    }
                    _ => (creds.user, creds.pass),
                };
                if name.is_empty() {
                    return None;
                }
                let user = users.get(name)?;
                let ok = match &user.password {
                    Some(secret) => matches(secret, pass),
                    None => pass.is_empty(),
                };
                ok.then(|| user.identity.clone())
            }
        }
    }

    fn global(&self) -> Identity {
        Identity {
            account: Arc::from(super::GLOBAL_ACCOUNT),
            permissions: None,
        }
    }
}

/// nats-server's `checkClientTLSCertSubject` with its users-by-name
/// lookup: e-mail addresses, DNS names, URIs, the subject as a DN (equal,
/// then reordered), the RDN string with domain components, then without.
fn by_certificate<'u>(
    users: &'u HashMap<String, Account>,
    cert: &CertNames,
) -> Option<&'u Account> {
    let direct = cert
        .emails
        .iter()
        .chain(&cert.dns)
        .chain(&cert.uris)
        .find_map(|n| users.get(n.as_str()));
    if direct.is_some() {
        return direct;
    }
    for rank in [1, 2] {
        // Sorted so the choice among several reordered matches is stable.
        let mut names: Vec<&String> = users.keys().collect();
        names.sort();
        if let Some(name) = names.into_iter().find(|n| cert.dn_match(n) == rank) {
            return users.get(name.as_str());
        }
    }
    let rdn = cert.go_rdn_string();
    let dcs = cert.domain_components();
    if !dcs.is_empty() {
        if let Some(u) = users.get(&format!("{rdn},{dcs}")) {
            return Some(u);
        }
    }
    users.get(&rdn)
}

/// The text nats-server copies from a `no_auth_user`'s configuration into
/// the CONNECT's password: the plain password, or the bcrypt hash itself.
fn stored_text(secret: Option<&Secret>) -> &str {
    match secret {
        None => "",
        Some(Secret::Plain(p)) | Some(Secret::Bcrypt(p)) => p,
    }
}

/// nats-server's `comparePasswords`: bcrypt when the stored secret is a
/// hash, else a constant-time comparison.
fn matches(secret: &Secret, given: &str) -> bool {
    match secret {
        Secret::Plain(p) => constant_time_eq(p.as_bytes(), given.as_bytes()),
        // A bcrypt check takes tens of milliseconds: let the runtime move
        // other tasks off this worker meanwhile.
        Secret::Bcrypt(hash) => {
            tokio::task::block_in_place(|| bcrypt::verify(given, hash).unwrap_or(false))
        }
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The nonce signature: raw URL-safe base64, or standard base64 (as
/// nats-server falls back), of an Ed25519 signature of the nonce's bytes.
fn verify_nonce(public: &[u8; 32], nonce: &str, sig: &str) -> bool {
    use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
    let Ok(key) = ed25519_dalek::VerifyingKey::from_bytes(public) else {
        return false;
    };
    let Some(bytes) = URL_SAFE_NO_PAD
        .decode(sig)
        .ok()
        .or_else(|| STANDARD.decode(sig).ok())
    else {
        return false;
    };
    let Ok(signature) = ed25519_dalek::Signature::from_slice(&bytes) else {
        return false;
    };
    // Go's `ed25519.Verify` (RFC 8032), not the stricter variant.
    ed25519_dalek::Verifier::verify(&key, nonce.as_bytes(), &signature).is_ok()
}

/// A fresh nonce for one connection's INFO: 11 random bytes in raw
/// URL-safe base64 (15 characters), as nats-server's.
pub fn new_nonce() -> String {
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let mut raw = [0u8; 11];
    if getrandom::fill(&mut raw).is_err() {
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        raw.copy_from_slice(&t.to_le_bytes()[..11]);
    }
    URL_SAFE_NO_PAD.encode(raw)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn constant_time_eq_compares() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"ab"));
    }

    #[test]
    fn nonce_is_fifteen_url_safe_characters() {
        let n = new_nonce();
        assert_eq!(n.len(), 15);
        assert!(n
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'));
        assert_ne!(n, new_nonce());
    }
}
