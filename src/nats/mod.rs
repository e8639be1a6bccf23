//! The NATS server: protocol, subjects, subscriptions, clients, routes.
//!
//! So far: subject rules, nkeys and the subscription index; the protocol
//! runtime is issue #3.

pub mod nkey;
pub mod protocol;
pub mod subject;
pub mod sublist;

/// The global account: clients that name no account belong to it.
pub const GLOBAL_ACCOUNT: &str = "$G";
