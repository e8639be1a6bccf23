//! The INFO line a client reads first, with nats-server 2.9.10's fields in
//! its order (and its trailing blank before `\r\n`).

use std::net::IpAddr;

/// The version clients see: nats-server's, since edge speaks its protocol
/// (nats.js parses it as semver).
pub const VERSION: &str = crate::cli::NATS_SERVER_VERSION;
/// The `go` field: the Go release nats-server 2.9.10 was built with.
pub const GO: &str = "go1.19.8";
/// The client protocol version (`PROTO`): echo and headers are understood.
pub const PROTO: u8 = 1;

/// The per-server part of INFO; [`ServerInfo::line`] adds the client's.
#[derive(Clone, Debug)]
pub struct ServerInfo {
    /// The server's id (56 characters, `N...`, as an nkey).
    pub server_id: String,
    /// `server_name`, the id when none is configured.
    pub server_name: String,
    /// The listen host as configured.
    pub host: String,
    /// The port actually bound.
    pub port: u16,
    /// Whether HPUB/HMSG are offered.
    pub headers: bool,
    /// The largest payload accepted.
    pub max_payload: i32,
    /// Whether clients must authenticate (`auth_required`).
    pub auth_required: bool,
    /// Whether clients must start TLS after INFO (`tls_required`).
    pub tls_required: bool,
    /// Whether they must present a certificate (`tls_verify`).
    pub tls_verify: bool,
}

impl ServerInfo {
    /// `INFO {...} \r\n` for client `client_id` connecting from `client_ip`,
    /// with the `nonce` it must sign if there are nkey users.
    pub fn line(&self, client_id: u64, client_ip: IpAddr, nonce: Option<&str>) -> Vec<u8> {
        let s = |v: &str| serde_json::Value::from(v).to_string();
        // nats-server's field order: auth_required, tls_required, tls_verify.
        let mut auth = String::new();
        for (on, field) in [
            (self.auth_required, "\"auth_required\":true,"),
            (self.tls_required, "\"tls_required\":true,"),
            (self.tls_verify, "\"tls_verify\":true,"),
        ] {
            if on {
                auth.push_str(field);
            }
        }
        let nonce = nonce
            .map(|n| format!(",\"nonce\":{}", s(n)))
            .unwrap_or_default();
        format!(
            "INFO {{\"server_id\":{},\"server_name\":{},\"version\":{},\"proto\":{PROTO},\
             \"go\":{},\"host\":{},\"port\":{},\"headers\":{},{auth}\"max_payload\":{},\
             \"client_id\":{client_id},\"client_ip\":{}{nonce}}} \r\n",
            s(&self.server_id),
            s(&self.server_name),
            s(VERSION),
            s(GO),
            s(&self.host),
            self.port,
            self.headers,
            self.max_payload,
            s(&client_ip.to_string()),
        )
        .into_bytes()
    }
}

impl ServerInfo {
    /// The INFO a client is sent when the server enters lame duck mode:
    /// its own INFO with `"ldm":true` last.
    pub fn lame_duck_line(&self, client_id: u64, client_ip: IpAddr) -> Vec<u8> {
        let mut line = self.line(client_id, client_ip, None);
        let end = line.len().saturating_sub(4); // before "} \r\n"
        line.splice(end..end, b",\"ldm\":true".iter().copied());
        line
    }
}

/// A fresh server id: `N` and 55 base32 characters, like an nkey server key.
pub fn new_server_id() -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let mut raw = [0u8; 55];
    if getrandom::fill(&mut raw).is_err() {
        let seed = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        for (i, b) in raw.iter_mut().enumerate() {
            *b = (seed >> ((i % 16) * 8)) as u8 ^ (i as u8).wrapping_mul(31);
        }
    }
    let mut id = String::with_capacity(56);
    id.push('N');
    id.extend(raw.iter().map(|b| ALPHABET[(*b & 31) as usize] as char));
    id
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn info_line_matches_nats_server_shape() {
        let info = ServerInfo {
            server_id: "NABC".into(),
            server_name: "NABC".into(),
            host: "0.0.0.0".into(),
            port: 4222,
            headers: true,
            max_payload: 1048576,
            auth_required: false,
            tls_required: false,
            tls_verify: false,
        };
        let line = String::from_utf8(info.line(4, "127.0.0.1".parse().unwrap(), None)).unwrap();
        assert_eq!(
            line,
            "INFO {\"server_id\":\"NABC\",\"server_name\":\"NABC\",\"version\":\"2.9.10\",\
             \"proto\":1,\"go\":\"go1.19.8\",\"host\":\"0.0.0.0\",\"port\":4222,\
             \"headers\":true,\"max_payload\":1048576,\"client_id\":4,\
             \"client_ip\":\"127.0.0.1\"} \r\n"
        );
        let id = new_server_id();
        assert_eq!(id.len(), 56);
        assert!(id.starts_with('N'));
    }
}
