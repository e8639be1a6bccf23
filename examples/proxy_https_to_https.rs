//! node-http-proxy's "HTTPS -> HTTPS" example: TLS on both sides. The
//! target's certificate is checked against the system roots plus
//! `CA_FILE` when set; `INSECURE=1` accepts any (node's `secure: false`).

mod common;

use edge::proxy::Proxy;
use std::sync::Arc;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let ca_file = std::env::var_os("CA_FILE").map(std::path::PathBuf::from);
    let insecure = std::env::var("INSECURE").is_ok_and(|v| v == "1");
    let proxy = Arc::new(
        Proxy::builder()
            .target(&common::target_or("https://127.0.0.1:9443"))
            .configure(|o| {
                o.ca_file = ca_file;
                o.secure = !insecure;
                o.change_origin = true;
            })
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
