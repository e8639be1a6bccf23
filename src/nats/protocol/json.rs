//! Whether Go's `json.Unmarshal` would accept a CONNECT or INFO argument.
//!
//! nats-server unmarshals CONNECT into `ClientOpts` (client.go) and a
//! client's INFO into `Info` (server.go), and closes the connection when
//! that fails. It fails on a syntax error (encoding/json's scanner: strict
//! RFC 8259 numbers, no control bytes in strings, any other byte allowed,
//! unpaired `\u` surrogates allowed, nesting up to 10000) and on a value of
//! the wrong Go type for a known field. Keys match fields the way Go 1.19
//! does: after unescaping, ASCII letters ignore case, and `K` (U+212A) and
//! `ſ` (U+017F) match `k` and `s`. Unknown fields are skipped. The top level
//! may be an object or `null`.
//!
//! This file is the hot-path (well, once-per-connection) side. The grammar
//! side checks the same field tables on a pest tree (`grammar.rs`).

/// The Go type of a known field, as far as decoding can fail on it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    /// `bool`: `true`, `false` or `null`.
    Bool,
    /// `string`: a string or `null`.
    Str,
    /// An integer of `bits` bits: an integer literal in range, or `null`.
    Int { signed: bool, bits: u32 },
    /// `[]string`: an array of strings or nulls, or `null`.
    StrList,
    /// `*SubjectPermission`: an object whose `allow`/`deny` are `[]string`,
    /// or `null`.
    Perm,
    /// `[]byte`: a base64 (StdEncoding) string, an array of `uint8`, or `null`.
    ByteSlice,
}

const INT: Kind = Kind::Int {
    signed: true,
    bits: 64,
};

/// `ClientOpts` (server/client.go), the target of CONNECT.
pub(crate) const CONNECT_FIELDS: &[(&str, Kind)] = &[
    ("echo", Kind::Bool),
    ("verbose", Kind::Bool),
    ("pedantic", Kind::Bool),
    ("tls_required", Kind::Bool),
    ("nkey", Kind::Str),
    ("jwt", Kind::Str),
    ("sig", Kind::Str),
    ("auth_token", Kind::Str),
    ("user", Kind::Str),
    ("pass", Kind::Str),
    ("name", Kind::Str),
    ("lang", Kind::Str),
    ("version", Kind::Str),
    ("protocol", INT),
    ("account", Kind::Str),
    ("new_account", Kind::Bool),
    ("headers", Kind::Bool),
    ("no_responders", Kind::Bool),
    ("import", Kind::Perm),
    ("export", Kind::Perm),
];

/// `Info` (server/server.go), the target of an INFO a client sends.
pub(crate) const INFO_FIELDS: &[(&str, Kind)] = &[
    ("server_id", Kind::Str),
    ("server_name", Kind::Str),
    ("version", Kind::Str),
    ("proto", INT),
    ("git_commit", Kind::Str),
    ("go", Kind::Str),
    ("host", Kind::Str),
    ("port", INT),
    ("headers", Kind::Bool),
    ("auth_required", Kind::Bool),
    ("tls_required", Kind::Bool),
    ("tls_verify", Kind::Bool),
    ("tls_available", Kind::Bool),
    (
        "max_payload",
        Kind::Int {
            signed: true,
            bits: 32,
        },
    ),
    ("jetstream", Kind::Bool),
    ("ip", Kind::Str),
    (
        "client_id",
        Kind::Int {
            signed: false,
            bits: 64,
        },
    ),
    ("client_ip", Kind::Str),
    ("nonce", Kind::Str),
    ("cluster", Kind::Str),
    ("cluster_dynamic", Kind::Bool),
    ("domain", Kind::Str),
    ("connect_urls", Kind::StrList),
    ("ws_connect_urls", Kind::StrList),
    ("ldm", Kind::Bool),
    ("import", Kind::Perm),
    ("export", Kind::Perm),
    ("lnoc", Kind::Bool),
    ("info_on_connect", Kind::Bool),
    ("connect_info", Kind::Bool),
    ("gateway", Kind::Str),
    ("gateway_urls", Kind::StrList),
    ("gateway_url", Kind::Str),
    (
        "gateway_cmd",
        Kind::Int {
            signed: false,
            bits: 8,
        },
    ),
    ("gateway_cmd_payload", Kind::ByteSlice),
    ("gateway_nrp", Kind::Bool),
    ("gateway_iom", Kind::Bool),
    ("leafnode_urls", Kind::StrList),
    ("remote_account", Kind::Str),
];

/// `SubjectPermission` (server/auth.go).
pub(crate) const PERM_FIELDS: &[(&str, Kind)] =
    &[("allow", Kind::StrList), ("deny", Kind::StrList)];

/// encoding/json's `maxNestingDepth`.
pub(crate) const MAX_DEPTH: usize = 10_000;

/// Whether `json.Unmarshal(text, &v)` succeeds for a struct with `fields`.
pub(crate) fn unmarshals(text: &[u8], fields: &[(&str, Kind)]) -> bool {
    valid(text) && top_level_ok(text, fields)
}

/// The field a (decoded) key selects, if any.
pub(crate) fn field_kind(fields: &[(&str, Kind)], key: &str) -> Option<Kind> {
    fields
        .iter()
        .find(|(name, _)| key_matches(name, key))
        .map(|(_, kind)| *kind)
}

/// Go 1.19's field-name fold: ASCII letters ignore case; Kelvin sign and
/// long s stand for `k` and `s`; everything else must be equal.
pub(crate) fn key_matches(name: &str, key: &str) -> bool {
    let mut k = key.chars();
    for n in name.chars() {
        let Some(c) = k.next() else { return false };
        let same = c == n
            || (n.is_ascii_alphabetic() && c.is_ascii() && c.eq_ignore_ascii_case(&n))
            || (n == 'k' && c == '\u{212a}')
            || (n == 's' && c == '\u{17f}');
        if !same {
            return false;
        }
    }
    k.next().is_none()
}

/// Whether a JSON number literal fits a Go integer: `strconv.ParseInt` /
/// `ParseUint` (base 10, so no fraction or exponent) and then the width.
pub(crate) fn int_fits(literal: &[u8], signed: bool, bits: u32) -> bool {
    let (negative, digits) = match literal.split_first() {
        Some((b'-', rest)) => (true, rest),
        _ => (false, literal),
    };
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) || (negative && !signed) {
        return false;
    }
    let mut value: u128 = 0;
    for d in digits {
        value = match value
            .checked_mul(10)
            .and_then(|v| v.checked_add(u128::from(d - b'0')))
        {
            Some(v) if v <= u128::from(u64::MAX) + 1 => v,
            _ => return false,
        };
    }
    if signed {
        let limit = 1u128 << (bits - 1);
        if negative {
            value <= limit
        } else {
            value < limit
        }
    } else {
        value < (1u128 << bits)
    }
}

/// Whether a decoded string is valid for `base64.StdEncoding.Decode`: CR
/// and LF are skipped, padding is required, trailing bits are not checked.
pub(crate) fn base64_ok(decoded: &[u8]) -> bool {
    let chars: Vec<u8> = decoded
        .iter()
        .copied()
        .filter(|&c| c != b'\r' && c != b'\n')
        .collect();
    if chars.len() % 4 != 0 {
        return false;
    }
    let alphabet = |c: u8| c.is_ascii_alphanumeric() || c == b'+' || c == b'/';
    let quanta = chars.chunks(4).count();
    for (n, q) in chars.chunks(4).enumerate() {
        let last = n + 1 == quanta;
        let ok = match q {
            [a, b, c, d] if alphabet(*a) && alphabet(*b) && alphabet(*c) && alphabet(*d) => true,
            [a, b, c, b'='] if last && alphabet(*a) && alphabet(*b) && alphabet(*c) => true,
            [a, b, b'=', b'='] if last && alphabet(*a) && alphabet(*b) => true,
            _ => false,
        };
        if !ok {
            return false;
        }
    }
    true
}

/// Decodes a JSON string body (between the quotes, already valid) the way
/// Go's `unquote` does: invalid UTF-8 and unpaired surrogates become U+FFFD.
pub(crate) fn unescape(body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(body.len());
    let mut i = 0;
    let hex = |s: &[u8]| -> Option<u32> {
        let text = std::str::from_utf8(s).ok()?;
        u32::from_str_radix(text, 16).ok()
    };
    let push = |out: &mut Vec<u8>, c: char| {
        let mut tmp = [0u8; 4];
        out.extend_from_slice(c.encode_utf8(&mut tmp).as_bytes());
    };
    while i < body.len() {
        if body[i] != b'\\' {
            out.push(body[i]);
            i += 1;
            continue;
        }
        let esc = body.get(i + 1).copied().unwrap_or(b'\\');
        i += 2;
        let simple = match esc {
            b'b' => Some(0x08),
            b'f' => Some(0x0c),
            b'n' => Some(b'\n'),
            b'r' => Some(b'\r'),
            b't' => Some(b'\t'),
            b'u' => None,
            other => Some(other),
        };
        if let Some(c) = simple {
            out.push(c);
            continue;
        }
        let Some(unit) = body.get(i..i + 4).and_then(hex) else {
            push(&mut out, char::REPLACEMENT_CHARACTER);
            i = body.len();
            continue;
        };
        i += 4;
        let c = if (0xd800..0xdc00).contains(&unit) && body.get(i..i + 2) == Some(b"\\u".as_slice())
        {
            match body.get(i + 2..i + 6).and_then(hex) {
                Some(low) if (0xdc00..0xe000).contains(&low) => {
                    i += 6;
                    char::from_u32(0x10000 + ((unit - 0xd800) << 10) + (low - 0xdc00))
                }
                _ => None,
            }
        } else {
            char::from_u32(unit)
        };
        push(&mut out, c.unwrap_or(char::REPLACEMENT_CHARACTER));
    }
    out
}

/// The decoded key as text, invalid UTF-8 replaced.
pub(crate) fn key_text(body: &[u8]) -> String {
    String::from_utf8_lossy(&unescape(body)).into_owned()
}

// ---------------------------------------------------------------- syntax

fn skip_ws(s: &[u8], mut i: usize) -> usize {
    while matches!(s.get(i), Some(b' ' | b'\t' | b'\n' | b'\r')) {
        i += 1;
    }
    i
}

/// The end of the string starting at `s[i] == '"'`, or None.
fn string_end(s: &[u8], mut i: usize) -> Option<usize> {
    i += 1;
    loop {
        match *s.get(i)? {
            b'"' => return Some(i + 1),
            b'\\' => match *s.get(i + 1)? {
                b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't' => i += 2,
                b'u' => {
                    let digits = s.get(i + 2..i + 6)?;
                    if !digits.iter().all(u8::is_ascii_hexdigit) {
                        return None;
                    }
                    i += 6;
                }
                _ => return None,
            },
            c if c < 0x20 => return None,
            _ => i += 1,
        }
    }
}

/// The end of the number starting at `s[i]`, or None.
fn number_end(s: &[u8], mut i: usize) -> Option<usize> {
    let digits = |s: &[u8], mut i: usize| {
        let start = i;
        while s.get(i).is_some_and(u8::is_ascii_digit) {
            i += 1;
        }
        (i > start).then_some(i)
    };
    if s.get(i) == Some(&b'-') {
        i += 1;
    }
    i = match s.get(i)? {
        b'0' => i + 1,
        b'1'..=b'9' => digits(s, i)?,
        _ => return None,
    };
    if s.get(i) == Some(&b'.') {
        i = digits(s, i + 1)?;
    }
    if matches!(s.get(i), Some(b'e' | b'E')) {
        i += 1;
        if matches!(s.get(i), Some(b'+' | b'-')) {
            i += 1;
        }
        i = digits(s, i)?;
    }
    Some(i)
}

/// encoding/json's `checkValid`, without recursion.
pub(crate) fn valid(s: &[u8]) -> bool {
    // Open containers: true for an object, false for an array.
    let mut stack: Vec<bool> = Vec::new();
    let mut i = skip_ws(s, 0);
    'value: loop {
        // A value starts at s[i].
        match s.get(i) {
            Some(b'{') | Some(b'[') => {
                let object = s[i] == b'{';
                stack.push(object);
                if stack.len() > MAX_DEPTH {
                    return false;
                }
                i = skip_ws(s, i + 1);
                let close = if object { b'}' } else { b']' };
                if s.get(i) == Some(&close) {
                    stack.pop();
                    i += 1;
                } else if object {
                    match member_start(s, i) {
                        Some(next) => {
                            i = next;
                            continue 'value;
                        }
                        None => return false,
                    }
                } else {
                    continue 'value;
                }
            }
            Some(b'"') => match string_end(s, i) {
                Some(end) => i = end,
                None => return false,
            },
            Some(b'-' | b'0'..=b'9') => match number_end(s, i) {
                Some(end) => i = end,
                None => return false,
            },
            Some(b't') if s[i..].starts_with(b"true") => i += 4,
            Some(b'f') if s[i..].starts_with(b"false") => i += 5,
            Some(b'n') if s[i..].starts_with(b"null") => i += 4,
            _ => return false,
        }
        // After a value: close containers or move to the next element.
        loop {
            i = skip_ws(s, i);
            let Some(&object) = stack.last() else {
                return i == s.len();
            };
            let close = if object { b'}' } else { b']' };
            match s.get(i) {
                Some(b',') => {
                    i = skip_ws(s, i + 1);
                    if object {
                        match member_start(s, i) {
                            Some(next) => i = next,
                            None => return false,
                        }
                    }
                    continue 'value;
                }
                Some(&c) if c == close => {
                    stack.pop();
                    i += 1;
                }
                _ => return false,
            }
        }
    }
}

/// At a member's key: checks `"key" :` and returns where its value starts.
fn member_start(s: &[u8], i: usize) -> Option<usize> {
    if s.get(i) != Some(&b'"') {
        return None;
    }
    let i = skip_ws(s, string_end(s, i)?);
    (s.get(i) == Some(&b':')).then(|| skip_ws(s, i + 1))
}

// ---------------------------------------------------------------- types

/// The end of the (valid) value starting at `s[i]`.
fn value_end(s: &[u8], i: usize) -> usize {
    match s[i] {
        b'"' => string_end(s, i).unwrap_or(s.len()),
        b'{' | b'[' => {
            let mut depth = 0usize;
            let mut j = i;
            while j < s.len() {
                match s[j] {
                    b'"' => {
                        j = string_end(s, j).unwrap_or(s.len());
                        continue;
                    }
                    b'{' | b'[' => depth += 1,
                    b'}' | b']' => {
                        depth -= 1;
                        if depth == 0 {
                            return j + 1;
                        }
                    }
                    _ => {}
                }
                j += 1;
            }
            s.len()
        }
        b't' | b'n' => i + 4,
        b'f' => i + 5,
        _ => number_end(s, i).unwrap_or(s.len()),
    }
}

/// Calls `f(key_body, value_start)` for each member of the (valid) object
/// at `s[i]`; stops early when `f` returns false.
fn members(s: &[u8], i: usize, mut f: impl FnMut(&[u8], usize) -> bool) -> bool {
    let mut i = skip_ws(s, i + 1);
    if s.get(i) == Some(&b'}') {
        return true;
    }
    loop {
        let key_end = string_end(s, i).unwrap_or(s.len());
        let key = &s[i + 1..key_end.saturating_sub(1).max(i + 1)];
        let colon = skip_ws(s, key_end);
        let value = skip_ws(s, colon + 1);
        if !f(key, value) {
            return false;
        }
        i = skip_ws(s, value_end(s, value));
        if s.get(i) != Some(&b',') {
            return true;
        }
        i = skip_ws(s, i + 1);
    }
}

/// Calls `f(value_start)` for each element of the (valid) array at `s[i]`.
fn elements(s: &[u8], i: usize, mut f: impl FnMut(usize) -> bool) -> bool {
    let mut i = skip_ws(s, i + 1);
    if s.get(i) == Some(&b']') {
        return true;
    }
    loop {
        if !f(i) {
            return false;
        }
        i = skip_ws(s, value_end(s, i));
        if s.get(i) != Some(&b',') {
            return true;
        }
        i = skip_ws(s, i + 1);
    }
}

fn top_level_ok(s: &[u8], fields: &[(&str, Kind)]) -> bool {
    let i = skip_ws(s, 0);
    match s.get(i) {
        Some(b'n') => true,
        Some(b'{') => object_ok(s, i, fields),
        _ => false,
    }
}

fn object_ok(s: &[u8], i: usize, fields: &[(&str, Kind)]) -> bool {
    members(s, i, |key, value| {
        match field_kind(fields, &key_text(key)) {
            Some(kind) => value_ok(s, value, kind),
            None => true,
        }
    })
}

fn value_ok(s: &[u8], i: usize, kind: Kind) -> bool {
    let first = s[i];
    if first == b'n' {
        return true;
    }
    match kind {
        Kind::Bool => first == b't' || first == b'f',
        Kind::Str => first == b'"',
        Kind::Int { signed, bits } => {
            matches!(first, b'-' | b'0'..=b'9') && int_fits(&s[i..value_end(s, i)], signed, bits)
        }
        Kind::StrList => first == b'[' && elements(s, i, |e| matches!(s[e], b'"' | b'n')),
        Kind::Perm => first == b'{' && object_ok(s, i, PERM_FIELDS),
        Kind::ByteSlice => match first {
            b'"' => {
                let end = value_end(s, i);
                base64_ok(&unescape(&s[i + 1..end - 1]))
            }
            b'[' => elements(s, i, |e| {
                value_ok(
                    s,
                    e,
                    Kind::Int {
                        signed: false,
                        bits: 8,
                    },
                )
            }),
            _ => false,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn syntax() {
        for ok in [
            "{}",
            " null ",
            "[1,[2,{}],\"a\\u00e9\\ud800\"]",
            "-0.5e+7",
            "\"\u{ff}\"",
            "{\"a\":{\"b\":[true,false,null]}}",
        ] {
            assert!(valid(ok.as_bytes()), "{ok}");
        }
        for bad in [
            "",
            " ",
            "{",
            "{]",
            "01",
            "1.",
            ".5",
            "-",
            "[1,]",
            "{\"a\"}",
            "{\"a\":}",
            "\"\\x\"",
            "\"\t\"",
            "tru",
            "{} x",
            "\"\\u12G4\"",
        ] {
            assert!(!valid(bad.as_bytes()), "{bad}");
        }
        let deep = |n: usize| format!("{}{}", "[".repeat(n), "]".repeat(n));
        assert!(valid(deep(MAX_DEPTH).as_bytes()));
        assert!(!valid(deep(MAX_DEPTH + 1).as_bytes()));
    }

    #[test]
    fn types() {
        let c = |s: &str| unmarshals(s.as_bytes(), CONNECT_FIELDS);
        assert!(c("{\"verbose\":true,\"name\":null,\"protocol\":-0}"));
        assert!(!c("{\"VERBOSE\":\"x\"}"));
        assert!(!c("{\"proto\\u0063ol\":\"x\"}"));
        assert!(!c("{\"protocol\":1.0}"));
        assert!(!c("{\"protocol\":1,\"protocol\":1e0}"));
        assert!(!c("[]"));
        assert!(c("{\"import\":{\"allow\":[\"a\",null],\"x\":1}}"));
        assert!(!c("{\"import\":{\"allow\":\"a\"}}"));
        assert!(!c("{\"u\u{17f}er\":1}"));
        let i = |s: &str| unmarshals(s.as_bytes(), INFO_FIELDS);
        assert!(i(
            "{\"gateway_cmd\":255,\"gateway_cmd_payload\":\"YQ==\\r\\n\"}"
        ));
        assert!(!i("{\"gateway_cmd\":256}"));
        assert!(i("{\"gateway_cmd_payload\":[1,null]}"));
        assert!(!i("{\"gateway_cmd_payload\":\"YQ\"}"));
        assert!(i("{\"client_id\":18446744073709551615}"));
        assert!(!i("{\"client_id\":18446744073709551616}"));
        assert!(!i("{\"client_id\":-0}"));
        assert!(i("{\"max_payload\":-2147483648}"));
        assert!(!i("{\"max_payload\":2147483648}"));
    }
}
