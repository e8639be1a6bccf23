//! Server-side TLS from a [`TlsPlan`], shared by the NATS client listener
//! and the proxy listeners (rustls with ring).

use crate::plan::TlsPlan;
use rustls::pki_types::{pem::PemObject, CertificateDer, PrivateKeyDer};
use std::sync::Arc;

/// Why a listener's TLS could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A PEM file could not be read.
    #[error("{path}: {reason}")]
    File {
        /// The file.
        path: String,
        /// What was wrong.
        reason: String,
    },
    /// rustls refused the settings.
    #[error("TLS: {0}")]
    Rustls(#[from] rustls::Error),
    /// None of the configured cipher suites or curves is available.
    #[error("TLS: none of the configured {0} is available")]
    NoneAvailable(&'static str),
    /// The client certificate verifier could not be built.
    #[error("TLS client verification: {0}")]
    Verifier(String),
}

fn file_error(path: &std::path::Path, e: impl std::fmt::Display) -> TlsError {
    TlsError::File {
        path: path.display().to_string(),
        reason: e.to_string(),
    }
}

/// ring's suites and groups, narrowed to the plan's `cipher_suites` and
/// ordered by its `curve_preferences` (both hold rustls names).
fn provider(plan: &TlsPlan) -> Result<rustls::crypto::CryptoProvider, TlsError> {
    let mut p = rustls::crypto::ring::default_provider();
    if !plan.cipher_suites.is_empty() {
        p.cipher_suites.retain(|s| {
            let name = format!("{:?}", s.suite());
            plan.cipher_suites.contains(&name)
        });
        if p.cipher_suites.is_empty() {
            return Err(TlsError::NoneAvailable("cipher suites"));
        }
    }
    if !plan.curve_preferences.is_empty() {
        let all = std::mem::take(&mut p.kx_groups);
        p.kx_groups = plan
            .curve_preferences
            .iter()
            .filter_map(|n| {
                all.iter()
                    .find(|g| format!("{:?}", g.name()) == *n)
                    .copied()
            })
            .collect();
        if p.kx_groups.is_empty() {
            return Err(TlsError::NoneAvailable("curves"));
        }
    }
    Ok(p)
}

/// A rustls server configuration from the plan's files: certificate
/// chain and key, client certificates required and checked against
/// `ca_file` (else the system's roots) when `verify` or `verify_and_map`
/// is set, `min_version`, `cipher_suites` and
/// `curve_preferences`. No ALPN: each listener adds its own.
pub fn server_config(plan: &TlsPlan) -> Result<rustls::ServerConfig, TlsError> {
    let provider = Arc::new(provider(plan)?);
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(&plan.cert_file)
        .map_err(|e| file_error(&plan.cert_file, e))?
        .collect::<Result<_, _>>()
        .map_err(|e| file_error(&plan.cert_file, e))?;
    let key =
        PrivateKeyDer::from_pem_file(&plan.key_file).map_err(|e| file_error(&plan.key_file, e))?;
    let versions: &[&rustls::SupportedProtocolVersion] = match plan.min_version.as_deref() {
        Some("1.3") => &[&rustls::version::TLS13],
        _ => rustls::DEFAULT_VERSIONS,
    };
    let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(versions)?;
    // As nats-server: `verify_and_map` verifies too; without `ca_file`
    // client certificates are checked against the system's roots, as Go's
    // crypto/tls does with a nil ClientCAs pool.
    let builder = if plan.verify || plan.verify_and_map {
        let mut roots = rustls::RootCertStore::empty();
        match &plan.ca_file {
            Some(ca) => {
                for cert in CertificateDer::pem_file_iter(ca).map_err(|e| file_error(ca, e))? {
                    roots
                        .add(cert.map_err(|e| file_error(ca, e))?)
                        .map_err(|e| file_error(ca, e))?;
                }
            }
            None => {
                let (added, _) =
                    roots.add_parsable_certificates(rustls_native_certs::load_native_certs().certs);
                if added == 0 {
                    return Err(TlsError::Verifier(
                        "tls verify without ca_file: no system root certificates found".into(),
                    ));
                }
            }
        }
        let verifier =
            rustls::server::WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
                .build()
                .map_err(|e| TlsError::Verifier(e.to_string()))?;
        builder.with_client_cert_verifier(verifier)
    } else {
        builder.with_no_client_auth()
    };
    Ok(builder.with_single_cert(certs, key)?)
}
