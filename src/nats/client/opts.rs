//! The CONNECT options a connection keeps.

use super::stats::{ClientMeta, CloseReason};

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
            meta: ClientMeta::default(),
        }
    }
}

impl Opts {
    /// Why nats-server closes a client whose CONNECT it refused with these
    /// options (the checks `connect` makes, in its order).
    pub(super) fn refusal(&self) -> CloseReason {
        if !(0..=1).contains(&self.protocol) {
            CloseReason::BadClientProtocolVersion
        } else if self.no_responders && !self.headers {
            CloseReason::NoRespondersRequiresHeaders
        } else {
            CloseReason::AuthenticationViolation
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
                "name" | "lang" | "version" | "user" => {
                    let Some(v) = value.as_str() else { continue };
                    let field = match key.to_ascii_lowercase().as_str() {
                        "name" => &mut self.meta.name,
                        "lang" => &mut self.meta.lang,
                        "user" => &mut self.meta.user,
                        _ => &mut self.meta.version,
                    };
                    *field = v.to_string();
                }
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
