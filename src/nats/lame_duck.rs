//! Lame duck mode (SIGUSR2), as nats-server 2.9.10 runs it: the client
//! listener is closed at once, every client that takes asynchronous INFO
//! (CONNECT `protocol` >= 1) is sent INFO with `"ldm":true` so it can move
//! to another server, and after the grace period the clients are closed
//! one at a time, a random 1/2 to 1 interval apart, the interval being
//! the duration shared among the clients, at most one second.

use super::client::{ClientHandle, CloseReason};
use super::rand::Xorshift;
use super::server::Shared;
use crate::plan::LameDuck;
use std::sync::Arc;
use std::time::Duration;

/// Drains `shared`'s clients; the caller stops accepting first and shuts
/// down when this returns.
pub async fn drain(shared: &Arc<Shared>, plan: &LameDuck) {
    let clients: Vec<Arc<ClientHandle>> = shared.registry.open();
    for client in &clients {
        client.send_lame_duck_info(&shared.info.load());
    }
    if clients.is_empty() {
        return;
    }
    tokio::time::sleep(plan.grace_period).await;
    crate::log_info!("Closing existing clients");
    let per_client = (plan.duration.saturating_sub(plan.grace_period) / clients.len() as u32)
        .clamp(Duration::from_nanos(1), Duration::from_secs(1));
    let mut rng = Xorshift::seeded(clients.len() as u64);
    for (i, client) in clients.iter().enumerate() {
        client.close_for(CloseReason::ServerShutdown);
        if i + 1 == clients.len() {
            break;
        }
        let nanos = per_client.as_nanos() as u64;
        let wait = (rng.next_u64() % nanos.max(1)).max(nanos / 2);
        tokio::time::sleep(Duration::from_nanos(wait)).await;
    }
}
