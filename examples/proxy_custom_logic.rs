//! node-http-proxy's "custom logic" example: the target is chosen per
//! request (`proxy.web(req, res, { target })`): paths under `/api` go to
//! `API_TARGET` (default `http://127.0.0.1:9001`), the rest to `TARGET`.

mod common;

use edge::proxy::{body, Logged, Proxy};
use http::{Response, StatusCode};
use std::sync::Arc;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let proxy = Arc::new(Proxy::builder().build()?);
    let api =
        Arc::new(std::env::var("API_TARGET").unwrap_or_else(|_| "http://127.0.0.1:9001".into()));
    let site = Arc::new(common::target_or("http://127.0.0.1:9000"));
    let listener = common::bind().await?;
    common::serve(listener, None, move |req, conn| {
        let (proxy, api, site) = (Arc::clone(&proxy), Arc::clone(&api), Arc::clone(&site));
        async move {
            let target = if req.uri().path().starts_with("/api") {
                api
            } else {
                site
            };
            match proxy.web_to(req, &conn, &target).await {
                Ok(res) => res,
                Err(e) => {
                    let mut res = Response::new(Logged::unlogged(body::full(e.to_string()), None));
                    *res.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
                    res
                }
            }
        }
    })
    .await;
    Ok(())
}
