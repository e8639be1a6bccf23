//! The HTTP/WebSocket reverse proxy part of the plan.

/// One proxy listener.
#[derive(Clone, Debug, PartialEq)]
pub struct ProxyPlan;
