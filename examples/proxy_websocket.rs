//! node-http-proxy's websocket example: `ws: true`, upgrades are proxied
//! (`proxy.ws`) and spliced; the `open`/`close` hooks print each socket.

mod common;

use edge::proxy::Proxy;
use std::sync::Arc;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let proxy = Arc::new(
        Proxy::builder()
            .target(&common::target_or("ws://127.0.0.1:9000"))
            .configure(|o| o.ws = true)
            .on_open(|peer, target| println!("open {peer} -> {target}"))
            .on_close(|peer, target| println!("close {peer} -> {target}"))
            .build()?,
    );
    let listener = common::bind().await?;
    common::serve(listener, None, move |req, conn| {
        let proxy = Arc::clone(&proxy);
        // `serve` = `ws` for upgrades, `web` for the rest.
        async move { proxy.serve(req, &conn).await }
    })
    .await;
    Ok(())
}
