//! `tls { ... }` blocks: files checked now, so a bad certificate fails
//! `edge check` instead of the first client handshake.

use super::{Block, Lowering};
use crate::config::error::{Diagnostic, ErrorKind};
use crate::config::tree::Node;
use crate::plan::nats::defaults;
use crate::plan::TlsPlan;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use std::path::PathBuf;

/// Go cipher-suite names nats-server accepts, with the rustls suite each
/// maps to; CBC and RSA-key-exchange suites have no rustls equivalent.
const CIPHER_SUITES: &[(&str, &str)] = &[
    ("TLS_AES_128_GCM_SHA256", "TLS13_AES_128_GCM_SHA256"),
    ("TLS_AES_256_GCM_SHA384", "TLS13_AES_256_GCM_SHA384"),
    (
        "TLS_CHACHA20_POLY1305_SHA256",
        "TLS13_CHACHA20_POLY1305_SHA256",
    ),
    (
        "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
        "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
    ),
    (
        "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
        "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
    ),
    (
        "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305",
        "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256",
    ),
    (
        "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256",
        "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256",
    ),
    (
        "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
        "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
    ),
    (
        "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
        "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
    ),
    (
        "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305",
        "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256",
    ),
    (
        "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256",
        "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256",
    ),
];

/// Go curve names nats-server accepts, mapped to rustls key-exchange groups.
const CURVES: &[(&str, Option<&str>)] = &[
    ("X25519", Some("X25519")),
    ("CurveP256", Some("secp256r1")),
    ("CurveP384", Some("secp384r1")),
    ("CurveP521", None),
];

/// Lowers a `tls` block. `what` names it in messages ("tls", "cluster.tls").
pub fn lower(cx: &mut Lowering, node: &Node, what: &'static str) -> Option<TlsPlan> {
    let mut b = Block::of(cx, node, what)?;
    let cert_node = b.get(cx, &["cert_file"]);
    let key_node = b.get(cx, &["key_file"]);
    let cert = cert_node.and_then(|n| cx.ok(pem_file(n, Pem::Certificates)));
    let key = key_node.and_then(|n| cx.ok(pem_file(n, Pem::PrivateKey)));
    let ca = b.take(cx, &["ca_file"], |n| pem_file(n, Pem::Certificates));
    let verify = b.take(cx, &["verify"], Node::bool).unwrap_or(false);
    let verify_and_map = b.take(cx, &["verify_and_map"], Node::bool).unwrap_or(false);
    let insecure = b.take(cx, &["insecure"], Node::bool).unwrap_or(false);
    let timeout = b
        .take(cx, &["timeout"], Node::seconds)
        .unwrap_or(defaults::TLS_TIMEOUT);
    let cipher_suites = b
        .get(cx, &["cipher_suites"])
        .and_then(|n| cx.ok(names_from(n, CIPHER_SUITES, "cipher suite")))
        .unwrap_or_default();
    let curve_preferences = b
        .get(cx, &["curve_preferences"])
        .and_then(|n| cx.ok(curves(n)))
        .unwrap_or_default();
    let min_version = b.take(cx, &["min_version"], |n| {
        let v = n.string()?;
        match v.as_str() {
            "1.2" | "1.3" => Ok(v),
            _ => Err(Diagnostic::new(
                n.pos.clone(),
                ErrorKind::Invalid(format!("TLS version `{v}` is not supported")),
            )
            .help("use \"1.2\" or \"1.3\" (rustls speaks nothing older)")),
        }
    });
    b.unsupported(&[
        ("ocsp_peer", "OCSP peer checking"),
        ("pinned_certs", "certificate pinning"),
        (
            "verify_cert_and_check_known_urls",
            "URL-checked certificates",
        ),
        ("connection_rate_limit", "TLS connection rate limiting"),
        ("cert_store", "the Windows certificate store"),
        ("cert_match", "the Windows certificate store"),
        ("cert_match_by", "the Windows certificate store"),
        ("handshake_first", "TLS before INFO"),
    ]);
    let pos = b.pos.clone();
    b.finish(cx);
    if cert_node.is_none() || key_node.is_none() {
        cx.invalid(
            &pos,
            format!("{what} needs both cert_file and key_file"),
            "add cert_file: \"server.pem\" and key_file: \"server-key.pem\"",
        );
    }
    let (Some(cert_file), Some(key_file)) = (cert, key) else {
        return None;
    };
    Some(TlsPlan {
        cert_file,
        key_file,
        ca_file: ca,
        verify,
        verify_and_map,
        insecure,
        timeout,
        cipher_suites,
        curve_preferences,
        min_version,
    })
}

/// What a PEM file must contain.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pem {
    /// One or more certificates (`cert_file`, `ca_file`).
    Certificates,
    /// A private key (`key_file`).
    PrivateKey,
}

/// A file that must exist and hold PEM data of the kind its key names, so
/// swapped or empty files fail `edge check` instead of the first handshake.
pub fn pem_file(node: &Node, kind: Pem) -> Result<PathBuf, Diagnostic> {
    let path = PathBuf::from(node.non_empty()?);
    let fail = |why: String| {
        Diagnostic::new(node.pos.clone(), ErrorKind::Invalid(why))
            .help("point to a PEM file; paths are relative to the directory edge runs in, as in nats-server")
    };
    let bytes =
        std::fs::read(&path).map_err(|e| fail(format!("cannot read `{}`: {e}", path.display())))?;
    let found = match kind {
        Pem::Certificates => CertificateDer::pem_slice_iter(&bytes).any(|c| c.is_ok()),
        Pem::PrivateKey => PrivateKeyDer::from_pem_slice(&bytes).is_ok(),
    };
    if !found {
        let what = match kind {
            Pem::Certificates => "PEM certificate",
            Pem::PrivateKey => "PEM private key",
        };
        return Err(fail(format!("`{}` holds no {what}", path.display())));
    }
    Ok(path)
}

fn names_from(node: &Node, table: &[(&str, &str)], what: &str) -> Result<Vec<String>, Diagnostic> {
    node.strings()?
        .into_iter()
        .map(|name| {
            table
                .iter()
                .find(|(go, _)| go.eq_ignore_ascii_case(&name))
                .map(|(_, ours)| (*ours).to_string())
                .ok_or_else(|| {
                    Diagnostic::new(
                        node.pos.clone(),
                        ErrorKind::Invalid(format!("{what} `{name}` is not supported")),
                    )
                    .help(format!(
                        "supported: {}",
                        table.iter().map(|(g, _)| *g).collect::<Vec<_>>().join(", ")
                    ))
                })
        })
        .collect()
}

fn curves(node: &Node) -> Result<Vec<String>, Diagnostic> {
    node.strings()?
        .into_iter()
        .map(
            |name| match CURVES.iter().find(|(go, _)| go.eq_ignore_ascii_case(&name)) {
                Some((_, Some(ours))) => Ok((*ours).to_string()),
                Some((go, None)) => Err(Diagnostic::new(
                    node.pos.clone(),
                    ErrorKind::Invalid(format!("curve `{go}` is not available in rustls")),
                )
                .help("use X25519, CurveP256 or CurveP384")),
                None => Err(Diagnostic::new(
                    node.pos.clone(),
                    ErrorKind::Invalid(format!("unknown curve `{name}`")),
                )
                .help("use X25519, CurveP256 or CurveP384")),
            },
        )
        .collect()
}
