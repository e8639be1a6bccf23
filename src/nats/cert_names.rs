//! The names in a client certificate that `tls { verify_and_map }` looks
//! users up by, as nats-server 2.9.10's `checkClientTLSCertSubject` does:
//! e-mail addresses, then DNS names, then URIs from the subject
//! alternative names, then the subject as a distinguished name (equal, or
//! the same RDNs in another order), then Go's `RDNSequence.String()` of
//! the subject with its domain components appended, then without them.
//!
//! A small DER reader of our own (bounds-checked, no panics on any input):
//! the handshake has already verified the certificate, only its names are
//! read here.

/// A DER element: its tag, its content and what follows it.
fn tlv(input: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = input.split_first()?;
    let (&first, rest) = rest.split_first()?;
    let (len, rest) = if first < 0x80 {
        (usize::from(first), rest)
    } else {
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 4 || rest.len() < n {
            return None;
        }
        let len = rest[..n]
            .iter()
            .fold(0usize, |acc, &b| (acc << 8) | usize::from(b));
        (len, &rest[n..])
    };
    if rest.len() < len {
        return None;
    }
    Some((tag, &rest[..len], &rest[len..]))
}

/// One DER element: tag, content, and the whole encoding.
type Element<'a> = (u8, &'a [u8], &'a [u8]);

/// Every element of a sequence or set's content.
fn elements(mut content: &[u8]) -> Option<Vec<Element<'_>>> {
    let mut out = Vec::new();
    while !content.is_empty() {
        let (tag, body, rest) = tlv(content)?;
        let whole = &content[..content.len() - rest.len()];
        out.push((tag, body, whole));
        content = rest;
    }
    Some(out)
}

/// An OID's dotted text.
fn oid_text(body: &[u8]) -> String {
    let mut parts: Vec<u64> = Vec::new();
    let mut acc: u64 = 0;
    for &b in body {
        acc = (acc << 7) | u64::from(b & 0x7f);
        if b & 0x80 == 0 {
            if parts.is_empty() {
                let first = (acc / 40).min(2);
                parts.push(first);
                parts.push(acc - first * 40);
            } else {
                parts.push(acc);
            }
            acc = 0;
        }
    }
    parts
        .iter()
        .map(u64::to_string)
        .collect::<Vec<_>>()
        .join(".")
}

const OID_SAN: &str = "2.5.29.17";
const OID_DC: &str = "0.9.2342.19200300.100.1.25";

/// Go's `attributeTypeNames` (crypto/x509/pkix), in `ToRDNSequence` order.
const GO_NAMES: &[(&str, &str)] = &[
    ("2.5.4.6", "C"),
    ("2.5.4.8", "ST"),
    ("2.5.4.7", "L"),
    ("2.5.4.9", "STREET"),
    ("2.5.4.17", "POSTALCODE"),
    ("2.5.4.10", "O"),
    ("2.5.4.11", "OU"),
    ("2.5.4.3", "CN"),
    ("2.5.4.5", "SERIALNUMBER"),
];

/// Names go-ldap gives attribute types when it reads a raw subject:
/// Go's, and these two.
const LDAP_EXTRA_NAMES: &[(&str, &str)] = &[
    ("0.9.2342.19200300.100.1.25", "DC"),
    ("0.9.2342.19200300.100.1.1", "UID"),
];

/// One attribute of a subject: its OID, its value as text, and its DER.
#[derive(Debug, Clone)]
struct Attr {
    oid: String,
    value: String,
}

/// The names of one client certificate.
#[derive(Debug, Default, Clone)]
pub struct CertNames {
    /// rfc822Name subject alternative names.
    pub emails: Vec<String>,
    /// dNSName subject alternative names.
    pub dns: Vec<String>,
    /// uniformResourceIdentifier subject alternative names.
    pub uris: Vec<String>,
    /// The subject's RDNs in certificate order.
    rdns: Vec<Vec<Attr>>,
}

fn string_value(tag: u8, body: &[u8]) -> String {
    match tag {
        // BMPString: UTF-16BE.
        0x1e => {
            let units: Vec<u16> = body
                .chunks_exact(2)
                .map(|c| u16::from_be_bytes([c[0], c[1]]))
                .collect();
            String::from_utf16_lossy(&units)
        }
        _ => String::from_utf8_lossy(body).into_owned(),
    }
}

impl CertNames {
    /// Reads a DER certificate; `None` when it is not one.
    pub fn parse(der: &[u8]) -> Option<CertNames> {
        let (0x30, cert, _) = tlv(der)? else {
            return None;
        };
        let (0x30, tbs, _) = tlv(cert)? else {
            return None;
        };
        let fields = elements(tbs)?;
        // [0] version is optional; then serial, signature, issuer,
        // validity, subject, spki, then optional [1] [2] [3].
        let skip = usize::from(fields.first()?.0 == 0xa0);
        let subject = fields.get(skip + 4)?;
        let mut names = CertNames::default();
        for (tag, rdn, _) in elements(subject.1)? {
            if tag != 0x31 {
                return None;
            }
            let mut attrs = Vec::new();
            for (_, atv, _) in elements(rdn)? {
                let parts = elements(atv)?;
                let (0x06, oid, _) = *parts.first()? else {
                    return None;
                };
                let (vtag, value, _) = *parts.get(1)?;
                attrs.push(Attr {
                    oid: oid_text(oid),
                    value: string_value(vtag, value),
                });
            }
            names.rdns.push(attrs);
        }
        if let Some(ext) = fields.iter().find(|f| f.0 == 0xa3) {
            let (0x30, list, _) = tlv(ext.1)? else {
                return None;
            };
            for (_, e, _) in elements(list)? {
                let parts = elements(e)?;
                let is_san =
                    matches!(parts.first(), Some((0x06, oid, _)) if oid_text(oid) == OID_SAN);
                let Some((0x04, value, _)) = parts.last().copied() else {
                    continue;
                };
                if !is_san {
                    continue;
                }
                let (0x30, general, _) = tlv(value)? else {
                    return None;
                };
                for (tag, body, _) in elements(general)? {
                    let text = String::from_utf8_lossy(body).into_owned();
                    match tag {
                        0x81 => names.emails.push(text),
                        0x82 => names.dns.push(text),
                        0x86 => names.uris.push(text),
                        _ => {}
                    }
                }
            }
        }
        Some(names)
    }

    /// Go's `cert.Subject.ToRDNSequence().String()`: the known attribute
    /// types only, in Go's fixed order (one RDN per type), printed last
    /// first as RFC 2253 says.
    pub fn go_rdn_string(&self) -> String {
        let mut rdns: Vec<Vec<(&str, &str)>> = Vec::new();
        for (oid, name) in GO_NAMES {
            let values: Vec<(&str, &str)> = self
                .rdns
                .iter()
                .flatten()
                .filter(|a| a.oid == *oid)
                .map(|a| (*name, a.value.as_str()))
                .collect();
            if values.is_empty() {
                continue;
            }
            if *name == "SERIALNUMBER" {
                rdns.push(values[..1].to_vec());
            } else {
                rdns.push(values);
            }
        }
        rdns.iter()
            .rev()
            .map(|rdn| {
                rdn.iter()
                    .map(|(t, v)| format!("{t}={}", escape(v)))
                    .collect::<Vec<_>>()
                    .join("+")
            })
            .collect::<Vec<_>>()
            .join(",")
    }

    /// nats-server's `getTLSAuthDCs`: `DC=a,DC=b` in certificate order.
    pub fn domain_components(&self) -> String {
        self.rdns
            .iter()
            .flatten()
            .filter(|a| a.oid == OID_DC)
            .map(|a| format!("DC={}", a.value))
            .collect::<Vec<_>>()
            .join(",")
    }

    /// The subject as go-ldap reads a raw subject: RDNs last first, each
    /// a list of (type, value).
    fn ldap_dn(&self) -> Vec<Vec<(String, String)>> {
        self.rdns
            .iter()
            .rev()
            .map(|rdn| {
                rdn.iter()
                    .map(|a| {
                        let t = GO_NAMES
                            .iter()
                            .chain(LDAP_EXTRA_NAMES)
                            .find(|(o, _)| *o == a.oid)
                            .map_or(a.oid.clone(), |(_, n)| (*n).to_string());
                        (t, a.value.clone())
                    })
                    .collect()
            })
            .collect()
    }

    /// go-ldap's `DN.Equal` (same RDNs in the same order) or, failing
    /// that, `RDNsMatch` (the same RDNs in any order) against `user`
    /// parsed as a DN: 0 when neither, 1 equal, 2 reordered.
    pub fn dn_match(&self, user: &str) -> u8 {
        let Some(theirs) = parse_dn(user) else {
            return 0;
        };
        let ours = self.ldap_dn();
        let rdn_eq = |a: &Vec<(String, String)>, b: &Vec<(String, String)>| {
            a.len() == b.len()
                && a.iter().all(|(t, v)| {
                    b.iter()
                        .any(|(t2, v2)| t.eq_ignore_ascii_case(t2) && v == v2)
                })
        };
        if ours.len() == theirs.len() && ours.iter().zip(&theirs).all(|(a, b)| rdn_eq(a, b)) {
            return 1;
        }
        if ours.len() == theirs.len() && ours.iter().all(|a| theirs.iter().any(|b| rdn_eq(a, b))) {
            return 2;
        }
        0
    }
}

/// RFC 4514 escaping as Go's `attributeTypeAndValue` printing does.
fn escape(v: &str) -> String {
    let chars: Vec<char> = v.chars().collect();
    let mut out = String::with_capacity(v.len());
    for (i, &c) in chars.iter().enumerate() {
        let special = matches!(c, ',' | '+' | '"' | '\\' | '<' | '>' | ';')
            || (i == 0 && (c == ' ' || c == '#'))
            || (i == chars.len() - 1 && c == ' ');
        if special {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// A DN string (`CN=alice,O=Org`, `+` within an RDN, `\` escapes) as
/// go-ldap's `ParseDN` reads the usual forms; `None` when it is not one.
fn parse_dn(s: &str) -> Option<Vec<Vec<(String, String)>>> {
    let mut rdns = Vec::new();
    let mut rdn = Vec::new();
    let mut cur = String::new();
    let mut typ: Option<String> = None;
    let mut chars = s.chars();
    let finish = |typ: &mut Option<String>, cur: &mut String, rdn: &mut Vec<_>| -> Option<()> {
        let t = typ.take()?;
        rdn.push((t.trim().to_string(), cur.trim().to_string()));
        cur.clear();
        Some(())
    };
    while let Some(c) = chars.next() {
        match c {
            '\\' => cur.push(chars.next()?),
            '=' if typ.is_none() => {
                typ = Some(std::mem::take(&mut cur));
            }
            '+' => finish(&mut typ, &mut cur, &mut rdn)?,
            ',' | ';' => {
                finish(&mut typ, &mut cur, &mut rdn)?;
                rdns.push(std::mem::take(&mut rdn));
            }
            _ => cur.push(c),
        }
    }
    finish(&mut typ, &mut cur, &mut rdn)?;
    rdns.push(rdn);
    if rdns.iter().flatten().any(|(t, _)| t.is_empty()) {
        return None;
    }
    Some(rdns)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_names_of_a_generated_certificate() {
        use rcgen::{CertificateParams, DnType, KeyPair, SanType};
        let key = KeyPair::generate().expect("key");
        let mut p = CertificateParams::new(Vec::<String>::new()).expect("params");
        p.distinguished_name = rcgen::DistinguishedName::new();
        p.distinguished_name.push(DnType::OrganizationName, "Acme");
        p.distinguished_name.push(DnType::CommonName, "alice");
        p.subject_alt_names = vec![
            SanType::Rfc822Name("a@example.com".try_into().expect("ia5")),
            SanType::DnsName("svc.example.com".try_into().expect("ia5")),
        ];
        let cert = p.self_signed(&key).expect("cert");
        let names = CertNames::parse(cert.der()).expect("parsed");
        assert_eq!(names.emails, ["a@example.com"]);
        assert_eq!(names.dns, ["svc.example.com"]);
        assert_eq!(names.go_rdn_string(), "CN=alice,O=Acme");
        assert_eq!(names.dn_match("CN=alice,O=Acme"), 1);
    }

    #[test]
    fn garbage_is_not_a_certificate() {
        assert!(CertNames::parse(b"").is_none());
        assert!(CertNames::parse(b"\x30\x84\xff\xff\xff\xff").is_none());
        assert!(CertNames::parse(b"\x30\x03\x30\x01\x00").is_none());
    }

    #[test]
    fn dns_parse_and_match() {
        let names = CertNames {
            rdns: vec![
                vec![Attr {
                    oid: "2.5.4.10".into(),
                    value: "Org".into(),
                }],
                vec![Attr {
                    oid: "2.5.4.3".into(),
                    value: "alice".into(),
                }],
            ],
            ..CertNames::default()
        };
        assert_eq!(names.go_rdn_string(), "CN=alice,O=Org");
        assert_eq!(names.dn_match("CN=alice,O=Org"), 1);
        assert_eq!(names.dn_match("cn=alice, o=Org"), 1);
        assert_eq!(names.dn_match("O=Org,CN=alice"), 2);
        assert_eq!(names.dn_match("CN=bob,O=Org"), 0);
        assert_eq!(names.dn_match("not a dn"), 0);
    }
}
