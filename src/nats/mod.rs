//! The NATS server: protocol, subjects, subscriptions, clients, routes.
//!
//! Only subject rules exist so far; the protocol runtime is issue #3.

pub mod nkey;
pub mod protocol;
pub mod subject;
