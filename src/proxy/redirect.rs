//! `followRedirects`: the upstream's 301/302/303/307/308 answers are
//! followed (Location resolved against the URL that answered, at most
//! [`MAX_REDIRECTS`] hops, as node's follow-redirects) and the client gets
//! the final answer.
//!
//! As follow-redirects: 303 (except for HEAD), and 301/302 for POST,
//! become a bodiless GET; `Host` follows the new URL; `Authorization` and
//! `Cookie` are dropped when the host changes. Unlike it, edge never
//! buffers a request body to replay it: a 307/308 (or 301/302 of a
//! non-POST) for a request that had a body is passed back unfollowed.

use super::body::empty;
use super::error::ProxyError;
use super::pool::UpstreamBody;
use super::server::RouteRuntime;
use http::header::{self, HeaderMap, HeaderValue};
use http::{Method, Request, Response, Uri};
use std::time::Duration;

/// node's follow-redirects default `maxRedirects`.
pub const MAX_REDIRECTS: usize = 21;

/// The request that got the first answer.
pub struct Origin {
    /// Its method.
    pub method: Method,
    /// The absolute URL it was sent to.
    pub url: String,
    /// The headers sent upstream.
    pub headers: HeaderMap,
    /// It carried a body (which cannot be sent again).
    pub had_body: bool,
}

/// Follows `res` while it redirects; the last answer is returned.
pub async fn follow(
    rt: &RouteRuntime,
    proxy_timeout: Option<Duration>,
    origin: Origin,
    mut res: Response<UpstreamBody>,
) -> Result<Response<UpstreamBody>, ProxyError> {
    let Origin {
        mut method,
        mut url,
        mut headers,
        mut had_body,
    } = origin;
    for _ in 0..MAX_REDIRECTS {
        let status = res.status().as_u16();
        if !matches!(status, 301 | 302 | 303 | 307 | 308) {
            return Ok(res);
        }
        let Some(location) = res
            .headers()
            .get(header::LOCATION)
            .and_then(|v| v.to_str().ok())
        else {
            return Ok(res);
        };
        let Ok(base) = url::Url::parse(&url) else {
            return Ok(res);
        };
        let Ok(next) = base.join(location) else {
            return Ok(res);
        };
        if !matches!(next.scheme(), "http" | "https") {
            return Ok(res);
        }
        let to_get = (status == 303 && method != Method::HEAD)
            || (matches!(status, 301 | 302) && method == Method::POST);
        if !to_get && had_body {
            return Ok(res);
        }
        if to_get {
            method = Method::GET;
            had_body = false;
            for name in [
                header::CONTENT_LENGTH,
                header::CONTENT_TYPE,
                header::TRANSFER_ENCODING,
            ] {
                headers.remove(name);
            }
        }
        if base.host_str() != next.host_str()
            || base.port_or_known_default() != next.port_or_known_default()
        {
            headers.remove(header::AUTHORIZATION);
            headers.remove(header::COOKIE);
        }
        let authority = match (next.host_str(), next.port()) {
            (Some(h), Some(p)) => format!("{h}:{p}"),
            (Some(h), None) => h.to_owned(),
            (None, _) => return Ok(res),
        };
        if let Ok(v) = HeaderValue::from_str(&authority) {
            headers.insert(header::HOST, v);
        }
        let Ok(uri) = next.as_str().parse::<Uri>() else {
            return Ok(res);
        };
        let mut req = Request::new(empty());
        *req.method_mut() = method.clone();
        *req.uri_mut() = uri;
        *req.headers_mut() = headers.clone();
        let shown = next.to_string();
        let sent = rt.pool.request(req);
        let result = match proxy_timeout {
            Some(t) => tokio::time::timeout(t, sent)
                .await
                .map_err(|_| ProxyError::Timeout {
                    target: shown.clone(),
                    timeout: t,
                })?,
            None => sent.await,
        };
        res = result.map_err(|e| ProxyError::Upstream {
            target: shown.clone(),
            reason: e.to_string(),
        })?;
        url = shown;
    }
    Err(ProxyError::Upstream {
        target: url,
        reason: format!("more than {MAX_REDIRECTS} redirects"),
    })
}
