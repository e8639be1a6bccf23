//! Load balancing with active health checks, as a library: requests to
//! `LISTEN` go round-robin over `TARGETS` (comma-separated); each target
//! is checked with `GET /healthz` every 200 ms, and one that fails is left
//! out until it passes again.
//!
//! ```text
//! TARGETS=http://127.0.0.1:9000,http://127.0.0.1:9001 cargo run --example proxy_load_balance
//! ```

mod common;

use edge::plan::proxy::{Balance, HealthCheck};
use edge::proxy::Proxy;
use std::sync::Arc;
use std::time::Duration;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let targets = std::env::var("TARGETS")
        .unwrap_or_else(|_| "http://127.0.0.1:9000,http://127.0.0.1:9001".to_owned());
    let mut builder = Proxy::builder().balance(Balance::RoundRobin);
    for target in targets.split(',') {
        builder = builder.target(target);
    }
    let proxy = Arc::new(
        builder
            .health_check(HealthCheck {
                path: "/healthz".to_owned(),
                interval: Duration::from_millis(200),
                unhealthy_threshold: 1,
                ..HealthCheck::default()
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
