//! The NATS server: protocol, subjects, subscriptions, clients, routes.
//!
//! Subject rules, nkeys, the subscription index, the protocol parser, and
//! the serving runtime: [`server`] (listener and shared state), [`client`]
//! (one task per connection) and [`info`] (the INFO line).

pub mod auth;
pub mod cert_names;
pub mod client;
pub mod imports;
pub mod info;
pub mod lame_duck;
pub mod nkey;
pub mod permissions;
pub mod protocol;
pub mod quote;
pub mod rand;
pub mod registry;
pub mod server;
pub mod services;
pub mod subject;
pub mod sublist;

/// The global account: clients that name no account belong to it.
pub const GLOBAL_ACCOUNT: &str = "$G";
