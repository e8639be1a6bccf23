//! `proxy` blocks: listeners, routes, and every node-http-proxy option.

use super::Lowering;
use crate::config::tree::Node;
use crate::plan::ProxyPlan;

/// Lowers `proxy { ... }` or `proxy = [ {...}, ... ]`.
pub fn lower_proxies(_cx: &mut Lowering, _node: &Node) -> Vec<ProxyPlan> {
    Vec::new()
}
