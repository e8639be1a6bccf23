//! Query parameters decoded as nats-server decodes them
//! (`r.URL.Query().Get` and `strconv`), with its error texts for bad
//! values: each is answered with `400 Bad Request` and that text.

/// A bad query parameter, worded as nats-server words it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QueryError {
    /// Not a Go boolean (`strconv.ParseBool`).
    #[error("Error decoding boolean for '{param}': strconv.ParseBool: parsing {}: invalid syntax", go_quote(.value))]
    Bool {
        /// The parameter.
        param: &'static str,
        /// Its value.
        value: String,
    },
    /// Not a Go int (`strconv.Atoi`).
    #[error("Error decoding int for '{param}': strconv.Atoi: parsing {}: {why}", go_quote(.value))]
    Int {
        /// The parameter.
        param: &'static str,
        /// Its value.
        value: String,
        /// `invalid syntax` or `value out of range`.
        why: &'static str,
    },
    /// Not a Go uint64 (`strconv.ParseUint`).
    #[error("Error decoding uint64 for '{param}': strconv.ParseUint: parsing {}: {why}", go_quote(.value))]
    Uint {
        /// The parameter.
        param: &'static str,
        /// Its value.
        value: String,
        /// `invalid syntax` or `value out of range`.
        why: &'static str,
    },
    /// `state` other than open, closed, any or all.
    #[error("Error decoding state for {0}")]
    State(String),
}

/// The decoded query string of one request.
#[derive(Debug, Default)]
pub struct Query(Vec<(String, String)>);

impl Query {
    /// Parses `a=1&b=x%20y` as Go's `url.ParseQuery` (what `r.URL.Query()`
    /// keeps): pairs split on `&`, `+` is a space, and a pair with a bad
    /// `%` escape or a `;` is dropped (not an error).
    pub fn parse(raw: Option<&str>) -> Query {
        let raw = raw.unwrap_or("");
        Query(
            raw.split('&')
                .filter(|pair| !pair.is_empty() && !pair.contains(';'))
                .filter_map(|pair| {
                    let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
                    Some((unescape(k)?, unescape(v)?))
                })
                .collect(),
        )
    }

    /// The first value of `key`, empty when absent (Go's `Values.Get`).
    pub fn get(&self, key: &str) -> &str {
        self.0
            .iter()
            .find(|(k, _)| k == key)
            .map_or("", |(_, v)| v.as_str())
    }

    /// `decodeBool`: empty is false.
    pub fn bool(&self, param: &'static str) -> Result<bool, QueryError> {
        match self.get(param) {
            "" => Ok(false),
            "1" | "t" | "T" | "TRUE" | "true" | "True" => Ok(true),
            "0" | "f" | "F" | "FALSE" | "false" | "False" => Ok(false),
            other => Err(QueryError::Bool {
                param,
                value: other.to_string(),
            }),
        }
    }

    /// `decodeInt`: empty is 0.
    pub fn int(&self, param: &'static str) -> Result<i64, QueryError> {
        let value = self.get(param);
        if value.is_empty() {
            return Ok(0);
        }
        parse_decimal(value.strip_prefix(['+', '-']).unwrap_or(value))
            .and_then(|n| {
                let neg = value.starts_with('-');
                let max = i64::MAX as u64 + u64::from(neg);
                if n > max {
                    Err("value out of range")
                } else if neg {
                    Ok((n as i64).wrapping_neg())
                } else {
                    Ok(n as i64)
                }
            })
            .map_err(|why| QueryError::Int {
                param,
                value: value.to_string(),
                why,
            })
    }

    /// `decodeUint64`: empty is 0; no sign allowed.
    pub fn uint(&self, param: &'static str) -> Result<u64, QueryError> {
        let value = self.get(param);
        if value.is_empty() {
            return Ok(0);
        }
        parse_decimal(value).map_err(|why| QueryError::Uint {
            param,
            value: value.to_string(),
            why,
        })
    }
}

/// Go's `url.QueryUnescape`: `+` is a space, `%XX` a byte; `None` for a
/// bad escape. Bytes that are not UTF-8 become U+FFFD.
fn unescape(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = b.get(i + 1..i + 3)?;
                if !hex.iter().all(u8::is_ascii_hexdigit) {
                    return None;
                }
                let hex = std::str::from_utf8(hex).ok()?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 2;
            }
            c => out.push(c),
        }
        i += 1;
    }
    Some(String::from_utf8_lossy(&out).into_owned())
}

/// ASCII digits only, as `strconv` with base 10.
fn parse_decimal(s: &str) -> Result<u64, &'static str> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err("invalid syntax");
    }
    s.bytes().try_fold(0u64, |n, b| {
        n.checked_mul(10)
            .and_then(|n| n.checked_add(u64::from(b - b'0')))
            .ok_or("value out of range")
    })
}

/// Go's `strconv.Quote` of a query value, for the error texts.
fn go_quote(s: &str) -> String {
    crate::nats::quote::go_quote(s.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_and_words_errors_as_nats_server() {
        let q = Query::parse(Some(
            "subs=T&limit=%2B5&offset=-3&cid=+1&big=99999999999999999999&b=yes",
        ));
        assert_eq!(q.bool("subs"), Ok(true));
        assert_eq!(q.bool("missing"), Ok(false));
        assert_eq!(q.int("limit"), Ok(5));
        assert_eq!(q.int("offset"), Ok(-3));
        assert_eq!(
            q.uint("cid").unwrap_err().to_string(),
            "Error decoding uint64 for 'cid': strconv.ParseUint: parsing \" 1\": invalid syntax"
        );
        assert_eq!(
            q.int("big").unwrap_err().to_string(),
            "Error decoding int for 'big': strconv.Atoi: parsing \"99999999999999999999\": value out of range"
        );
        assert_eq!(
            q.bool("b").unwrap_err().to_string(),
            "Error decoding boolean for 'b': strconv.ParseBool: parsing \"yes\": invalid syntax"
        );
        assert_eq!(Query::parse(Some("x=1&x=2")).get("x"), "1");
        // Pairs Go's ParseQuery rejects are dropped, the rest kept.
        let q = Query::parse(Some("limit=%zz&a=%41%2b&b;c=1&sort&d=x+y"));
        assert_eq!((q.get("limit"), q.get("a"), q.get("b")), ("", "A+", ""));
        assert_eq!((q.get("sort"), q.get("d")), ("", "x y"));
        assert_eq!(Query::parse(Some("e=%4")).get("e"), "");
        assert_eq!(Query::parse(Some("e=%+1")).get("e"), "");
    }
}
