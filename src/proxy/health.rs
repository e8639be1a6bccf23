//! Active health checks: `GET path` on each target of a route with a
//! `health_check`, every `interval`; a 2xx or 3xx within `timeout` passes.
//! `unhealthy_threshold` failures in a row take the target out of the
//! rotation, `healthy_threshold` passes bring it back.

use super::balance::Balancer;
use super::body::empty;
use super::forward::{target_authority, upstream_uri};
use super::pool::Pool;
use super::server::Routing;
use crate::plan::proxy::{HealthCheck, Route, Target};
use http::{header, HeaderValue, Request};
use std::sync::{Arc, Weak};

/// Starts one checking task per target of every route that asks for it.
/// The tasks end with the runtime.
pub fn spawn(routing: &Routing) {
    for (route, rt) in routing.plan.routes.iter().zip(&routing.routes) {
        spawn_route(route, &rt.balancer, &rt.pool);
    }
}

/// Starts the checks of one route (none without `health_check`); each
/// task ends when the route's balancer is dropped (an embedder's
/// [`Proxy`](super::Proxy) going away) or with the runtime.
pub fn spawn_route(route: &Route, balancer: &Arc<Balancer>, pool: &Pool) {
    let Some(check) = &route.health_check else {
        return;
    };
    for (index, target) in route.targets.iter().enumerate() {
        let (balancer, pool) = (Arc::downgrade(balancer), pool.clone());
        let (target, check) = (target.clone(), check.clone());
        tokio::spawn(async move { run(balancer, pool, index, target, check).await });
    }
}

async fn run(
    balancer: Weak<Balancer>,
    pool: Pool,
    index: usize,
    target: Target,
    check: HealthCheck,
) {
    let (mut passes, mut fails, mut up) = (0u32, 0u32, true);
    loop {
        let ok = probe(&pool, &target, &check).await;
        let Some(balancer) = balancer.upgrade() else {
            return;
        };
        if ok {
            passes = passes.saturating_add(1);
            fails = 0;
            if !up && passes >= check.healthy_threshold {
                up = true;
                balancer.set_healthy(index, true);
                crate::log_info!("Proxy target {target} healthy again");
            }
        } else {
            fails = fails.saturating_add(1);
            passes = 0;
            if up && fails >= check.unhealthy_threshold {
                up = false;
                balancer.set_healthy(index, false);
                crate::log_warn!("Proxy target {target} unhealthy ({fails} failed checks)");
            }
        }
        drop(balancer);
        tokio::time::sleep(check.interval).await;
    }
}

/// One check: true on a 2xx or 3xx answer within the timeout.
async fn probe(pool: &Pool, target: &Target, check: &HealthCheck) -> bool {
    let Ok(uri) = upstream_uri(target, &check.path) else {
        return false;
    };
    let mut req = Request::new(empty());
    *req.uri_mut() = uri;
    if let Ok(host) = HeaderValue::from_str(&target_authority(target)) {
        req.headers_mut().insert(header::HOST, host);
    }
    match tokio::time::timeout(check.timeout, pool.request(req)).await {
        Ok(Ok(res)) => {
            let s = res.status();
            s.is_success() || s.is_redirection()
        }
        _ => false,
    }
}
