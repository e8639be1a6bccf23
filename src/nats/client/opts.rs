//! The CONNECT options a connection keeps.

use super::stats::ClientMeta;
use crate::nats::auth::Credentials;
use crate::nats::cert_names::CertNames;

/// CONNECT options as nats-server keeps them: each CONNECT overwrites only
/// the fields it names. Verbose and pedantic are on until a CONNECT.
#[derive(Debug, Clone)]
pub(super) struct Opts {
    pub(super) verbose: bool,
    pub(super) pedantic: bool,
    pub(super) echo: bool,
    pub(super) headers: bool,
    pub(super) no_responders: bool,
    pub(super) protocol: i64,
    pub(super) account: Option<String>,
    pub(super) user: String,
    pub(super) pass: String,
    pub(super) auth_token: String,
    pub(super) nkey: String,
    pub(super) sig: String,
    /// name/lang/version (and user), shown and filtered by `/connz`.
    pub(super) meta: ClientMeta,
}

impl Default for Opts {
    fn default() -> Self {
        Opts {
            verbose: true,
            pedantic: true,
            echo: true,
            headers: false,
            no_responders: false,
            protocol: 0,
            account: None,
            user: String::new(),
            pass: String::new(),
            auth_token: String::new(),
            nkey: String::new(),
            sig: String::new(),
            meta: ClientMeta::default(),
        }
    }
}

/// A string field: set by a string, left alone by `null`.
fn set_text(field: &mut String, value: &serde_json::Value) {
    if let Some(s) = value.as_str() {
        *field = s.to_string();
    }
}

impl Opts {
    /// The credentials this CONNECT (with earlier ones) presents.
    pub(super) fn credentials<'a>(&'a self, cert: Option<&'a CertNames>) -> Credentials<'a> {
        Credentials {
            cert,
            user: &self.user,
            pass: &self.pass,
            token: &self.auth_token,
            nkey: &self.nkey,
            sig: &self.sig,
        }
    }

    /// Lays the fields of a CONNECT JSON over these, as Go's `Unmarshal`
    /// into existing options does (keys match case-insensitively, `null`
    /// leaves a field alone). JSON serde cannot read (the parser accepted
    /// it, as Go does) changes nothing.
    pub(super) fn merge(&mut self, json: &[u8]) {
        let Ok(serde_json::Value::Object(map)) = serde_json::from_slice(json) else {
            return;
        };
        for (key, value) in map {
            let flag = value.as_bool();
            match key.to_ascii_lowercase().as_str() {
                "verbose" => self.verbose = flag.unwrap_or(self.verbose),
                "pedantic" => self.pedantic = flag.unwrap_or(self.pedantic),
                "echo" => self.echo = flag.unwrap_or(self.echo),
                "headers" => self.headers = flag.unwrap_or(self.headers),
                "no_responders" => self.no_responders = flag.unwrap_or(self.no_responders),
                "protocol" => self.protocol = value.as_i64().unwrap_or(self.protocol),
                "account" => {
                    if let Some(a) = value.as_str() {
                        self.account = Some(a.to_string());
                    }
                }
                "user" => {
                    set_text(&mut self.user, &value);
                    set_text(&mut self.meta.user, &value);
                }
                "name" => set_text(&mut self.meta.name, &value),
                "lang" => set_text(&mut self.meta.lang, &value),
                "version" => set_text(&mut self.meta.version, &value),
                "pass" => set_text(&mut self.pass, &value),
                "auth_token" => set_text(&mut self.auth_token, &value),
                "nkey" => set_text(&mut self.nkey, &value),
                "sig" => set_text(&mut self.sig, &value),
                _ => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connect_options_merge_as_go_unmarshal() {
        let mut opts = Opts::default();
        assert!(opts.verbose && opts.pedantic && opts.echo && !opts.headers);
        opts.merge(br#"{"headers":true,"VERBOSE":false,"Pedantic":false}"#);
        assert!(opts.headers && !opts.verbose && !opts.pedantic);
        // A second CONNECT keeps what it does not name; null changes nothing.
        opts.merge(br#"{"echo":false,"headers":null}"#);
        assert!(opts.headers && !opts.echo);
        opts.merge(b"null");
        assert!(opts.headers);
        opts.merge(br#"{"protocol":2,"account":"A"}"#);
        assert_eq!(opts.protocol, 2);
        assert_eq!(opts.account.as_deref(), Some("A"));
    }
}
