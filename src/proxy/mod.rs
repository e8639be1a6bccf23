//! The HTTP/WebSocket reverse proxy runtime: serves every `proxy` block of
//! the plan with node-http-proxy 1.18.1's rules (and edge's documented
//! deviations from them, see `shared/spec/config.md` section 3).
//!
//! One module per job:
//! - [`server`]: listeners, accept loop, per-connection HTTP/1.1 serving
//!   and the request handler (routing, access log);
//! - [`web`]: plain HTTP requests (forward copy, retries, timeouts);
//! - [`forward`]: the outgoing request (node's `common.setupOutgoing`
//!   and web-incoming's `XHeaders`/`deleteLength`);
//! - [`response`]: the answer sent back (node's web-outgoing passes);
//! - [`headers`]: hop-by-hop headers and declared header edits;
//! - [`stream`]: the client stream hyper reads: idle time, framing watch,
//!   and parking idle keep-alive connections without buffers;
//! - `lot`: where a worker's parked connections wait, without a task each;
//! - `wire`: edge's own HTTP/1.1 framing for the common bodyless request
//!   (both sides, no hyper task or channel in between);
//! - [`framing`]: requests framed by both `Content-Length` and
//!   `Transfer-Encoding` (request smuggling), refused with 400;
//! - [`ws`]: WebSocket upgrades;
//! - `splice`: the WebSocket byte splice (the socket taken back from
//!   hyper where edge built it);
//! - [`balance`]: choosing a target, passive ejection, in-flight counts;
//! - [`health`]: active health checks;
//! - [`redirect`]: following upstream redirects (`followRedirects`);
//! - [`client`]: upstream connections (pool, TLS, local address);
//! - [`tls`]: the listener's TLS;
//! - [`error`]: upstream failures as 502/504 or the declared error page;
//! - [`events`]: WebSocket open/close published on NATS (`events_subject`);
//! - [`embed`]: the proxy as a library ([`Proxy`], [`Hooks`]);
//! - [`body`]: the body types and the access log written when a body ends
//!   (through `crate::log`, the one server log).

pub mod balance;
pub mod body;
pub mod client;
pub mod drain;
pub mod embed;
pub mod error;
pub mod events;
pub mod forward;
pub mod framing;
pub mod headers;
pub mod health;
mod lot;
pub mod pool;
pub mod redirect;
pub mod response;
pub mod server;
mod splice;
mod stream;
pub mod tls;
pub mod web;
mod wire;
pub mod ws;

use crate::plan::proxy::ProxyPlan;

pub use body::{Logged, ReqBody, ResBody};
pub use embed::{BuildError, Hooks, Proxy, ProxyBuilder, TargetError};
pub use error::ProxyError;
pub use forward::Incoming;
pub use server::{Conn, ProxyServer};

/// What a proxy plan asks for that this runtime does not implement, one
/// phrase each, so `edge run` refuses the plan instead of ignoring them.
pub fn unsupported(plan: &ProxyPlan) -> Vec<String> {
    let mut missing = Vec::new();
    let at = &plan.listen;
    if let Some(tls) = &plan.tls {
        if tls.verify_and_map {
            missing.push(format!("proxy {at}: tls verify_and_map"));
        }
        if tls.insecure {
            missing.push(format!("proxy {at}: tls insecure (a route-only setting)"));
        }
    }
    missing
}
