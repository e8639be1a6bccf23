//! Typed reads of tree values, each failing with a positioned, fixable error.

use crate::config::error::{Diagnostic, ErrorKind};
use crate::config::tree::{Map, Node, Value};
use crate::plan::HostPort;
use std::time::Duration;

type Result<T> = std::result::Result<T, Diagnostic>;

/// What a bare number means where a duration is expected.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BareNumber {
    /// Seconds, as nats-server's old integer form of `ping_interval`.
    Seconds,
    /// Not allowed: the message shows both spellings (proxy timeouts, which
    /// node-http-proxy counted in milliseconds).
    Rejected,
}

impl Node {
    fn wrong_type(&self, expected: &str, help: impl Into<String>) -> Diagnostic {
        Diagnostic::new(
            self.pos.clone(),
            ErrorKind::Invalid(format!("expected {expected}, got {}", self.value.kind())),
        )
        .help(help)
    }

    /// A string value. nats-server keeps `\xHH` bytes raw; edge needs text.
    pub fn str(&self) -> Result<&str> {
        match &self.value {
            Value::Str(bytes) => std::str::from_utf8(bytes).map_err(|_| {
                Diagnostic::new(
                    self.pos.clone(),
                    ErrorKind::Invalid("string is not valid UTF-8".into()),
                )
                .help("remove the \\x escapes that produce invalid UTF-8")
            }),
            _ => Err(self.wrong_type("a string", "quote the value: \"...\"")),
        }
    }

    /// An owned string value.
    pub fn string(&self) -> Result<String> {
        self.str().map(str::to_owned)
    }

    /// A non-empty string value.
    pub fn non_empty(&self) -> Result<String> {
        let s = self.string()?;
        if s.is_empty() {
            return Err(Diagnostic::new(
                self.pos.clone(),
                ErrorKind::Invalid("must not be empty".into()),
            ));
        }
        Ok(s)
    }

    /// A password or token; a bcrypt hash must be well formed, so a
    /// truncated paste fails `edge check` rather than every login.
    pub fn secret(&self) -> Result<crate::plan::Secret> {
        let secret = crate::plan::Secret::new(self.string()?);
        if let crate::plan::Secret::Bcrypt(hash) = &secret {
            if hash.parse::<bcrypt::HashParts>().is_err() {
                return Err(Diagnostic::new(
                    self.pos.clone(),
                    ErrorKind::Invalid("malformed bcrypt hash".into()),
                )
                .help("paste the whole hash that `edge passwd` prints ($2a$11$ and 53 more characters)"));
            }
        }
        Ok(secret)
    }

    /// An integer value.
    pub fn int(&self) -> Result<i64> {
        match self.value {
            Value::Int(i) => Ok(i),
            _ => Err(self.wrong_type(
                "an integer",
                "write a number without quotes, e.g. 1024 or 1mb",
            )),
        }
    }

    /// An integer within bounds.
    pub fn int_in(&self, min: i64, max: i64) -> Result<i64> {
        let i = self.int()?;
        if i < min || i > max {
            return Err(Diagnostic::new(
                self.pos.clone(),
                ErrorKind::Invalid(format!("{i} is out of range ({min} to {max})")),
            ));
        }
        Ok(i)
    }

    /// An i32 within bounds (nats-server's `int32` options).
    pub fn i32_in(&self, min: i32, max: i32) -> Result<i32> {
        self.int_in(min.into(), max.into()).map(|i| i as i32)
    }

    /// A boolean (`true false yes no on off`).
    pub fn bool(&self) -> Result<bool> {
        match self.value {
            Value::Bool(b) => Ok(b),
            _ => Err(self.wrong_type("a boolean", "write true or false (without quotes)")),
        }
    }

    /// A block.
    pub fn map(&self) -> Result<&Map> {
        match &self.value {
            Value::Map(m) => Ok(m),
            _ => Err(self.wrong_type("a block", "write `{ ... }`")),
        }
    }

    /// A list.
    pub fn list(&self) -> Result<&[Node]> {
        match &self.value {
            Value::Array(items) => Ok(items),
            _ => Err(self.wrong_type("a list", "write `[ ... ]`")),
        }
    }

    /// One string or a list of strings (nats-server's permission subjects,
    /// origins, ...).
    pub fn strings(&self) -> Result<Vec<String>> {
        match &self.value {
            Value::Array(items) => items.iter().map(Node::string).collect(),
            Value::Str(_) => Ok(vec![self.string()?]),
            _ => Err(self.wrong_type(
                "a string or a list of strings",
                "write \"a\" or [\"a\", \"b\"]",
            )),
        }
    }

    /// A duration: Go syntax in a string (`"300ms"`, `"2m"`, `"1h30m"`), or
    /// a bare number where that is allowed.
    pub fn duration(&self, bare: BareNumber) -> Result<Duration> {
        match (&self.value, bare) {
            (Value::Str(_), _) => parse_go_duration(self.str()?).map_err(|why| {
                Diagnostic::new(self.pos.clone(), ErrorKind::Invalid(why))
                    .help("write a number with a unit: \"300ms\", \"30s\", \"2m\", \"1h\"")
            }),
            (Value::Int(i), BareNumber::Seconds) if *i >= 0 => Ok(Duration::from_secs(*i as u64)),
            (Value::Int(i), BareNumber::Rejected) => Err(Diagnostic::new(
                self.pos.clone(),
                ErrorKind::Invalid(format!("a bare number ({i}) is ambiguous here")),
            )
            .help(format!(
                "write the unit: \"{i}ms\" (node-http-proxy counted milliseconds) or \"{i}s\""
            ))),
            _ => Err(self.wrong_type("a duration", "write a number with a unit: \"30s\"")),
        }
    }

    /// Seconds as a number (int or float) or a duration string:
    /// `authorization { timeout }`, `tls { timeout }`.
    pub fn seconds(&self) -> Result<Duration> {
        let secs = match self.value {
            Value::Int(i) => i as f64,
            Value::Float(f) => f,
            Value::Str(_) => return self.duration(BareNumber::Seconds),
            _ => {
                return Err(self.wrong_type("a number of seconds", "write e.g. 2 or 0.5 or \"2s\""))
            }
        };
        if !(0.0..=1e9).contains(&secs) {
            return Err(Diagnostic::new(
                self.pos.clone(),
                ErrorKind::Invalid(format!("{secs} seconds is out of range")),
            ));
        }
        Ok(Duration::from_secs_f64(secs))
    }

    /// A port number: 0..=65535, or -1 which nats-server reads as "pick a
    /// random port" (so does edge, as 0).
    pub fn port(&self) -> Result<u16> {
        let p = self.int_in(-1, 65535)?;
        Ok(if p < 0 { 0 } else { p as u16 })
    }

    /// `port` (an integer) or `"host:port"` (nats-server's parseListen).
    pub fn host_port(&self, default_host: &str) -> Result<HostPort> {
        match &self.value {
            Value::Int(_) => Ok(HostPort {
                host: default_host.to_owned(),
                port: self.port()?,
            }),
            Value::Str(_) => parse_host_port(self.str()?, default_host).map_err(|why| {
                Diagnostic::new(self.pos.clone(), ErrorKind::Invalid(why))
                    .help("write \"host:port\", e.g. \"0.0.0.0:4222\", or just the port")
            }),
            _ => Err(self.wrong_type("a port or \"host:port\"", "write 4222 or \"0.0.0.0:4222\"")),
        }
    }
}

/// `host:port`, `[v6]:port`, `:port` or a bare port number in a string.
pub fn parse_host_port(text: &str, default_host: &str) -> std::result::Result<HostPort, String> {
    let (host, port) = if let Some(rest) = text.strip_prefix('[') {
        let (h, p) = rest
            .split_once("]:")
            .ok_or_else(|| format!("`{text}` is not host:port"))?;
        (h, p)
    } else if let Some((h, p)) = text.rsplit_once(':') {
        if h.contains(':') {
            return Err(format!(
                "`{text}`: write IPv6 addresses in brackets, [::1]:4222"
            ));
        }
        (h, p)
    } else if text.bytes().all(|b| b.is_ascii_digit()) && !text.is_empty() {
        (default_host, text)
    } else {
        return Err(format!("`{text}` has no port"));
    };
    let port: i64 = port
        .parse()
        .map_err(|_| format!("`{port}` in `{text}` is not a port number"))?;
    if !(-1..=65535).contains(&port) {
        return Err(format!("port {port} is out of range (0 to 65535)"));
    }
    let host = if host.is_empty() { default_host } else { host };
    Ok(HostPort {
        host: host.to_owned(),
        port: port.max(0) as u16,
    })
}

/// Go's `time.ParseDuration`: a sequence of decimal numbers, each with a
/// unit (ns, us, µs, ms, s, m, h), optionally signed; "0" alone is allowed.
/// Negative durations are refused (nothing in a config means one).
pub fn parse_go_duration(text: &str) -> std::result::Result<Duration, String> {
    let bad = || format!("invalid duration `{text}`");
    let mut rest = text.strip_prefix('+').unwrap_or(text);
    if rest.starts_with('-') {
        return Err(format!("negative duration `{text}`"));
    }
    if rest == "0" {
        return Ok(Duration::ZERO);
    }
    if rest.is_empty() {
        return Err(bad());
    }
    let mut total = 0f64;
    while !rest.is_empty() {
        let num_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .ok_or_else(|| format!("missing unit in duration `{text}`"))?;
        let (num, after) = rest.split_at(num_len);
        if num.is_empty() || num == "." {
            return Err(bad());
        }
        let value: f64 = num.parse().map_err(|_| bad())?;
        let unit_len = after
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(after.len());
        let (unit, next) = after.split_at(unit_len);
        let nanos_per = match unit {
            "ns" => 1.0,
            "us" | "µs" | "μs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            "" => return Err(format!("missing unit in duration `{text}`")),
            _ => return Err(format!("unknown unit `{unit}` in duration `{text}`")),
        };
        total += value * nanos_per;
        rest = next;
    }
    if total > i64::MAX as f64 {
        return Err(format!("duration `{text}` is out of range"));
    }
    Ok(Duration::from_nanos(total as u64))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_durations() {
        assert_eq!(parse_go_duration("300ms"), Ok(Duration::from_millis(300)));
        assert_eq!(parse_go_duration("1h30m"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse_go_duration("1.5s"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse_go_duration("0"), Ok(Duration::ZERO));
        assert!(parse_go_duration("10").is_err());
        assert!(parse_go_duration("2x").is_err());
        assert!(parse_go_duration("").is_err());
        assert!(parse_go_duration("-1s").is_err());
    }

    #[test]
    fn host_ports() {
        let hp = parse_host_port("127.0.0.1:4222", "0.0.0.0").unwrap();
        assert_eq!((hp.host.as_str(), hp.port), ("127.0.0.1", 4222));
        let hp = parse_host_port(":4222", "0.0.0.0").unwrap();
        assert_eq!((hp.host.as_str(), hp.port), ("0.0.0.0", 4222));
        let hp = parse_host_port("[::1]:80", "0.0.0.0").unwrap();
        assert_eq!((hp.host.as_str(), hp.port), ("::1", 80));
        assert!(parse_host_port("::1:80", "x").is_err());
        assert!(parse_host_port("host:99999", "x").is_err());
        assert!(parse_host_port("host", "x").is_err());
    }
}
