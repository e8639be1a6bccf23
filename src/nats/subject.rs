//! NATS subject syntax, shared by config validation and the protocol.

/// A subject or a subscription filter: dot-separated non-empty tokens, no
/// whitespace; `*` matches one token and `>` (last only) the rest, each only
/// as a whole token (`foo*` is a literal token, as in nats-server).
pub fn is_valid_filter(subject: impl AsRef<[u8]>) -> bool {
    valid(subject.as_ref(), true)
}

/// A subject messages can be published to: a filter without wildcards.
pub fn is_valid_literal(subject: impl AsRef<[u8]>) -> bool {
    valid(subject.as_ref(), false)
}

/// nats-server 2.9.10's `IsValidLiteralSubject`, which a pedantic
/// publish and `/subsz?test=` are held to: non-empty tokens, none of them
/// a wildcard. Unlike [`is_valid_literal`] it allows whitespace (a
/// subject may hold a `\r` or a leading `\n` on the wire).
pub fn is_valid_publish_subject(subject: impl AsRef<[u8]>) -> bool {
    tokens(subject.as_ref()).all(|t| !t.is_empty() && t != b"*" && t != b">")
}

/// One pass over the bytes (subjects are bytes on the wire, UTF-8 or not),
/// no allocation.
fn valid(bytes: &[u8], wildcards: bool) -> bool {
    if bytes.is_empty() {
        return false;
    }
    let mut token_start = 0;
    let mut after_full_wildcard = false;
    for i in 0..=bytes.len() {
        let byte = bytes.get(i).copied();
        match byte {
            Some(b' ' | b'\t' | b'\r' | b'\n') => return false,
            Some(b'.') | None => {
                let token = &bytes[token_start..i];
                if token.is_empty() || after_full_wildcard {
                    return false;
                }
                match token {
                    b">" if wildcards => after_full_wildcard = true,
                    b"*" if wildcards => {}
                    b">" | b"*" => return false,
                    _ => {}
                }
                token_start = i + 1;
            }
            Some(_) => {}
        }
    }
    true
}

/// Whether the valid filter `filter` matches the publish subject `subject`
/// (a subject without empty tokens): the one matching rule shared by the
/// subscription index, its cache, and the no-responders reply lookup.
pub fn filter_matches(filter: &[u8], subject: &[u8]) -> bool {
    let mut subject = tokens(subject);
    for f in tokens(filter) {
        match (f, subject.next()) {
            (b">", next) => return next.is_some(),
            (_, None) => return false,
            (b"*", Some(_)) => {}
            (literal, Some(token)) => {
                if literal != token {
                    return false;
                }
            }
        }
    }
    subject.next().is_none()
}

/// The tokens of a subject or filter: the bytes between dots (subjects are
/// bytes on the wire; nothing here needs them to be UTF-8).
pub fn tokens(subject: &[u8]) -> impl Iterator<Item = &[u8]> {
    subject.split(|&b| b == b'.')
}

/// Whether a token is `*` or `>` (a filter, not a literal subject).
pub fn has_wildcard(subject: &[u8]) -> bool {
    tokens(subject).any(|t| t == b"*" || t == b">")
}

/// nats-server's `subjectIsSubsetMatch(subject, test)`: whether every
/// subject `subject` stands for is also one of `test`'s (both may have
/// wildcards; a `*` in `subject` only fits a `*` in `test`).
pub fn is_subset_match(subject: &[u8], test: &[u8]) -> bool {
    let tokens_of: Vec<&[u8]> = tokens(subject).collect();
    let test: Vec<&[u8]> = tokens(test).collect();
    for (i, t2) in test.iter().enumerate() {
        let Some(t1) = tokens_of.get(i) else {
            return false;
        };
        if t2.is_empty() {
            return false;
        }
        if *t2 == b">" {
            return true;
        }
        if t1.is_empty() || *t1 == b">" {
            return false;
        }
        if *t1 == b"*" {
            if *t2 != b"*" {
                return false;
            }
            continue;
        }
        if *t2 != b"*" && t1 != t2 {
            return false;
        }
    }
    tokens_of.len() == test.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters() {
        for ok in [
            "foo", "foo.bar", "foo.*", "foo.>", ">", "*", "*.bar.>", "foo*", "$SYS.x",
        ] {
            assert!(is_valid_filter(ok), "{ok}");
        }
        for bad in ["", "foo.", ".foo", "foo..bar", "foo.>.bar", "a b", "foo\t"] {
            assert!(!is_valid_filter(bad), "{bad:?}");
        }
    }

    #[test]
    fn literals() {
        assert!(is_valid_literal("foo.bar"));
        assert!(is_valid_literal("foo*"));
        assert!(!is_valid_literal("foo.*"));
        assert!(!is_valid_literal(">"));
    }

    #[test]
    fn subset_match_as_nats_server() {
        assert!(is_subset_match(b"foo.*", b">"));
        assert!(is_subset_match(b"foo.*", b"*.*"));
        assert!(is_subset_match(b"foo.*", b"foo.*"));
        assert!(!is_subset_match(b"foo.*", b"foo.bar"));
        assert!(is_subset_match(b"secret.>", b">"));
        assert!(!is_subset_match(b"*.bar", b"foo.*"));
    }

    #[test]
    fn filter_matching() {
        assert!(filter_matches(b"foo.*", b"foo.bar"));
        assert!(!filter_matches(b"foo.*", b"foo"));
        assert!(!filter_matches(b"foo.*", b"foo.bar.baz"));
        assert!(filter_matches(b"foo.>", b"foo.bar.baz"));
        assert!(!filter_matches(b"foo.>", b"foo"));
        assert!(filter_matches(b">", b"foo"));
        assert!(filter_matches(b"foo", b"foo"));
        assert!(!filter_matches(b"foo", b"foo.bar"));
        assert!(filter_matches(b"*.*", b"*.>"));
        assert!(!filter_matches(b"foo*", b"foox"));
    }
}
