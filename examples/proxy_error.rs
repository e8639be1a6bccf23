//! node-http-proxy's error handling example: when the target fails, the
//! `error` hook answers `500 Something went wrong.` instead of edge's 502.

mod common;

use edge::proxy::{body, Proxy};
use http::{Response, StatusCode};
use std::sync::Arc;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let proxy = Arc::new(
        Proxy::builder()
            .target(&common::target_or("http://127.0.0.1:9"))
            .on_error(|err, _edge_answer| {
                eprintln!("proxy error: {err}");
                let mut res = Response::new(body::full("Something went wrong.".to_owned()));
                *res.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
                res
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
