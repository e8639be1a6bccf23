//! NATS subject syntax, shared by config validation and the protocol.

/// A subject or a subscription filter: dot-separated non-empty tokens, no
/// whitespace; `*` matches one token and `>` (last only) the rest, each only
/// as a whole token (`foo*` is a literal token, as in nats-server).
pub fn is_valid_filter(subject: &str) -> bool {
    valid(subject, true)
}

/// A subject messages can be published to: a filter without wildcards.
pub fn is_valid_literal(subject: &str) -> bool {
    valid(subject, false)
}

fn valid(subject: &str, wildcards: bool) -> bool {
    if subject.is_empty() || subject.contains([' ', '\t', '\r', '\n']) {
        return false;
    }
    let mut after_full_wildcard = false;
    for token in subject.split('.') {
        if token.is_empty() || after_full_wildcard {
            return false;
        }
        match token {
            ">" if wildcards => after_full_wildcard = true,
            "*" if wildcards => {}
            ">" | "*" => return false,
            _ => {}
        }
    }
    true
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
}
