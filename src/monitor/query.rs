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
    /// Parses `a=1&b=x%20y` (form encoding, as Go's `url.ParseQuery`).
    pub fn parse(raw: Option<&str>) -> Query {
        let raw = raw.unwrap_or("");
        Query(
            url::form_urlencoded::parse(raw.as_bytes())
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
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

/// Go's `strconv.Quote` for the error texts.
fn go_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                out.push_str(&format!("\\x{:02x}", c as u32));
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
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
    }
}
