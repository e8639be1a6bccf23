//! node-http-proxy's basic example: every request to `LISTEN` is proxied
//! to `TARGET`.
//!
//! ```text
//! TARGET=http://127.0.0.1:9000 cargo run --example proxy_basic
//! ```

mod common;

use edge::proxy::Proxy;
use std::sync::Arc;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let proxy = Arc::new(
        Proxy::builder()
            .target(&common::target_or("http://127.0.0.1:9000"))
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
