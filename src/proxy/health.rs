//! Active health checks: `GET path` on each target of a route with a
//! `health_check`, every `interval`; a 2xx or 3xx within `timeout` passes.
//! `unhealthy_threshold` failures in a row take the target out of the
//! rotation, `healthy_threshold` passes bring it back.

use super::body::empty;
use super::forward::{target_authority, upstream_uri};
use super::server::Shared;
use crate::plan::proxy::HealthCheck;
use http::{header, HeaderValue, Request};
use std::sync::Arc;

/// Starts one checking task per target of every route that asks for it.
/// The tasks end with the runtime.
pub fn spawn(shared: &Arc<Shared>) {
    for (ri, route) in shared.plan.routes.iter().enumerate() {
        let Some(check) = &route.health_check else {
            continue;
        };
        for ti in 0..route.targets.len() {
            let shared = Arc::clone(shared);
            let check = check.clone();
            tokio::spawn(async move { run(shared, ri, ti, check).await });
        }
    }
}

async fn run(shared: Arc<Shared>, route: usize, index: usize, check: HealthCheck) {
    let (Some(rt), Some(target)) = (
        shared.routes.get(route),
        shared
            .plan
            .routes
            .get(route)
            .and_then(|r| r.targets.get(index)),
    ) else {
        return;
    };
    let (mut passes, mut fails, mut up) = (0u32, 0u32, true);
    loop {
        let ok = probe(rt, target, &check).await;
        if ok {
            passes = passes.saturating_add(1);
            fails = 0;
            if !up && passes >= check.healthy_threshold {
                up = true;
                rt.balancer.set_healthy(index, true);
                crate::log_info!("Proxy target {target} healthy again");
            }
        } else {
            fails = fails.saturating_add(1);
            passes = 0;
            if up && fails >= check.unhealthy_threshold {
                up = false;
                rt.balancer.set_healthy(index, false);
                crate::log_warn!("Proxy target {target} unhealthy ({fails} failed checks)");
            }
        }
        tokio::time::sleep(check.interval).await;
    }
}

/// One check: true on a 2xx or 3xx answer within the timeout.
async fn probe(
    rt: &super::server::RouteRuntime,
    target: &crate::plan::proxy::Target,
    check: &HealthCheck,
) -> bool {
    let Ok(uri) = upstream_uri(target, &check.path) else {
        return false;
    };
    let mut req = Request::new(empty());
    *req.uri_mut() = uri;
    if let Ok(host) = HeaderValue::from_str(&target_authority(target)) {
        req.headers_mut().insert(header::HOST, host);
    }
    match tokio::time::timeout(check.timeout, rt.pool.request(req)).await {
        Ok(Ok(res)) => {
            let s = res.status();
            s.is_success() || s.is_redirection()
        }
        _ => false,
    }
}
