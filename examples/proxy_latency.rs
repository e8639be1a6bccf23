//! node-http-proxy's "setup a stand-alone proxy server with latency"
//! example: every request waits `DELAY_MS` (default 500) before it is
//! proxied to `TARGET`.

mod common;

use edge::proxy::Proxy;
use std::sync::Arc;
use std::time::Duration;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let delay = Duration::from_millis(
        std::env::var("DELAY_MS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(500),
    );
    let proxy = Arc::new(
        Proxy::builder()
            .target(&common::target_or("http://127.0.0.1:9000"))
            .build()?,
    );
    let listener = common::bind().await?;
    common::serve(listener, None, move |req, conn| {
        let proxy = Arc::clone(&proxy);
        async move {
            tokio::time::sleep(delay).await;
            proxy.web(req, &conn).await
        }
    })
    .await;
    Ok(())
}
