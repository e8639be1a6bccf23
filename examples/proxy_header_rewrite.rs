//! node-http-proxy's "modify request/response" examples: a `proxyReq`
//! hook adds `X-Special-Proxy-Header: foobar` to every outgoing request and
//! a `proxyRes` hook sets `X-Proxied-By: edge` and drops `Server` on every
//! answer.

mod common;

use edge::proxy::Proxy;
use http::HeaderValue;
use std::sync::Arc;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let proxy = Arc::new(
        Proxy::builder()
            .target(&common::target_or("http://127.0.0.1:9000"))
            .on_proxy_req(|req, _incoming| {
                req.headers_mut()
                    .insert("x-special-proxy-header", HeaderValue::from_static("foobar"));
            })
            .on_proxy_res(|res, _incoming| {
                res.headers_mut()
                    .insert("x-proxied-by", HeaderValue::from_static("edge"));
                res.headers_mut().remove(http::header::SERVER);
            })
            .build()?,
    );
    let listener = common::bind().await?;
    common::serve(listener, None, move |req, conn| {
        let proxy = Arc::clone(&proxy);
        async move { proxy.web(req, &conn).await }
    })
    .await;
    Ok(())
}
