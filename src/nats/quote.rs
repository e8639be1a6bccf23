//! Go's `strconv.Quote` (`%q`), which nats-server uses to quote subjects
//! in its permission errors and values in its monitoring errors.

/// Go's `%q` of a byte string: printable text as is, `"` and `\\`
/// escaped, control characters (`\a` `\b` `\f` `\n` `\r` `\t` `\v` by
/// name), non-printing Unicode and invalid UTF-8 as escapes.
pub fn go_quote(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() + 2);
    out.push('"');
    for chunk in bytes.utf8_chunks() {
        for c in chunk.valid().chars() {
            match c {
                '"' => out.push_str("\\\""),
                '\\' => out.push_str("\\\\"),
                '\u{7}' => out.push_str("\\a"),
                '\u{8}' => out.push_str("\\b"),
                '\u{c}' => out.push_str("\\f"),
                '\n' => out.push_str("\\n"),
                '\r' => out.push_str("\\r"),
                '\t' => out.push_str("\\t"),
                '\u{b}' => out.push_str("\\v"),
                c if (c as u32) < 0x80 && c.is_control() => {
                    out.push_str(&format!("\\x{:02x}", c as u32));
                }
                c if c.is_control() || (c.is_whitespace() && c != ' ') => {
                    out.push_str(&format!("\\u{:04x}", c as u32));
                }
                c => out.push(c),
            }
        }
        for b in chunk.invalid() {
            out.push_str(&format!("\\x{b:02x}"));
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::go_quote;

    #[test]
    fn quotes_as_go_strconv_quote() {
        assert_eq!(go_quote(b"foo.bar"), r#""foo.bar""#);
        assert_eq!(go_quote(b"a\"b\\c"), r#""a\"b\\c""#);
        assert_eq!(go_quote(b"\x07\x08\x0c\n\r\t\x0b"), r#""\a\b\f\n\r\t\v""#);
        assert_eq!(go_quote(b"\x00\x7f"), r#""\x00\x7f""#);
        assert_eq!(go_quote(b"\xff.\xfe"), r#""\xff.\xfe""#);
        assert_eq!(go_quote("é\u{85}".as_bytes()), r#""é\u0085""#);
    }
}
