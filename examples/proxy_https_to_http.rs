//! node-http-proxy's "HTTPS -> HTTP" example: the listener speaks TLS
//! (self-signed `localhost` certificate, or `CERT_FILE`/`KEY_FILE`), the
//! target is plain HTTP; `xfwd` tells the upstream the client used https.

mod common;

use edge::proxy::Proxy;
use std::sync::Arc;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let proxy = Arc::new(
        Proxy::builder()
            .target(&common::target_or("http://127.0.0.1:9000"))
            .configure(|o| o.xfwd = true)
            .build()?,
    );
    let tls = common::tls_acceptor()?;
    let listener = common::bind().await?;
    common::serve(listener, Some(tls), move |req, conn| {
        let proxy = Arc::clone(&proxy);
        async move { proxy.web(req, &conn).await }
    })
    .await;
    Ok(())
}
