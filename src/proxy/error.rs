//! Upstream failures as answers: 502 when the upstream cannot be reached
//! or answers badly, 504 when it does not answer within `proxy_timeout`,
//! or the route's declared `error_page` (node-http-proxy's `error` event).
//! Errors are values here, never panics: node's process exits on an
//! unhandled proxy error.

use super::body::{full, ResBody};
use crate::plan::proxy::ErrorPage;
use http::{header, Response, StatusCode};
use std::time::Duration;

/// Why a request could not be proxied.
#[derive(Debug, thiserror::Error)]
pub enum ProxyError {
    /// No TCP (or TLS) connection to the upstream could be made.
    #[error("cannot connect to {target}: {reason}")]
    Connect {
        /// The upstream, as a URL.
        target: String,
        /// What went wrong.
        reason: String,
    },
    /// The upstream did not answer within `proxy_timeout`.
    #[error("{target} did not answer within {timeout:?}")]
    Timeout {
        /// The upstream, as a URL.
        target: String,
        /// The configured `proxy_timeout`.
        timeout: Duration,
    },
    /// The upstream closed early or sent something that is not HTTP.
    #[error("upstream {target} failed: {reason}")]
    Upstream {
        /// The upstream, as a URL.
        target: String,
        /// hyper's description of the failure.
        reason: String,
    },
    /// Every target of the route is out of the rotation.
    #[error("no healthy target")]
    NoTarget,
    /// The request cannot be turned into an upstream request.
    #[error("bad request: {0}")]
    BadRequest(String),
}

impl ProxyError {
    /// The status answered when no error page overrides it.
    pub fn status(&self) -> StatusCode {
        match self {
            ProxyError::Timeout { .. } => StatusCode::GATEWAY_TIMEOUT,
            ProxyError::BadRequest(_) => StatusCode::BAD_REQUEST,
            _ => StatusCode::BAD_GATEWAY,
        }
    }
}

/// The answer for `err`: the declared page (its status when given, else
/// the error's) or an empty body with the error's status and no type.
pub fn error_response(page: Option<&ErrorPage>, err: &ProxyError) -> Response<ResBody> {
    let default = err.status();
    let Some(p) = page else {
        return plain(default);
    };
    let (status, content_type, body) = (
        p.status
            .and_then(|s| StatusCode::from_u16(s).ok())
            .unwrap_or(default),
        p.content_type.as_str(),
        p.body.clone(),
    );
    let mut res = Response::new(full(body));
    *res.status_mut() = status;
    if let Ok(v) = header::HeaderValue::from_str(content_type) {
        res.headers_mut().insert(header::CONTENT_TYPE, v);
    }
    res
}

/// A plain answer edge makes itself (404 for no route, 400...).
pub fn plain(status: StatusCode) -> Response<ResBody> {
    let mut res = Response::new(full(String::new()));
    *res.status_mut() = status;
    res
}
