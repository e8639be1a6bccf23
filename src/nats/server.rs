//! The NATS listener: accepts clients and holds what they share (the
//! subscription index, the client id counter, the server's INFO).

use super::client::{self, SubRef};
use super::info::{new_server_id, ServerInfo};
use super::sublist::SharedSublist;
use crate::plan::NatsPlan;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use tokio::net::TcpListener;

/// What every connection task shares.
#[derive(Debug)]
pub struct Shared {
    /// The NATS part of the plan (limits, headers, listen address).
    pub plan: NatsPlan,
    /// The server's INFO, without the per-client fields.
    pub info: ServerInfo,
    /// Subscriptions of the global account (the only one served so far).
    pub sublist: SharedSublist<SubRef>,
    /// Live and closed connections and traffic totals, for monitoring.
    pub registry: super::registry::Registry,
    next_cid: AtomicU64,
    connections: AtomicUsize,
}

impl Shared {
    /// The next client id (1, 2, ...).
    pub fn next_client_id(&self) -> u64 {
        self.next_cid.fetch_add(1, Ordering::Relaxed) + 1
    }

    /// Counts a new connection; false (and not counted) when the plan's
    /// `max_connections` are already open.
    pub fn try_add_connection(&self) -> bool {
        let max = usize::try_from(self.plan.limits.max_connections).unwrap_or(0);
        let prev = self.connections.fetch_add(1, Ordering::AcqRel);
        if prev >= max {
            self.connections.fetch_sub(1, Ordering::AcqRel);
            return false;
        }
        true
    }

    /// Forgets a connection counted by [`try_add_connection`](Self::try_add_connection).
    pub fn remove_connection(&self) {
        self.connections.fetch_sub(1, Ordering::AcqRel);
    }
}

/// A bound NATS listener, ready to [`serve`](NatsServer::serve).
#[derive(Debug)]
pub struct NatsServer {
    listener: TcpListener,
    shared: Arc<Shared>,
}

impl NatsServer {
    /// Binds the plan's listen address.
    pub async fn bind(plan: &NatsPlan) -> std::io::Result<NatsServer> {
        let host = if plan.listen.host.is_empty() {
            "0.0.0.0"
        } else {
            plan.listen.host.as_str()
        };
        let listener = TcpListener::bind((host, plan.listen.port)).await?;
        let port = listener.local_addr()?.port();
        let server_id = new_server_id();
        let info = ServerInfo {
            server_name: plan
                .server_name
                .clone()
                .unwrap_or_else(|| server_id.clone()),
            server_id,
            host: host.to_string(),
            port,
            headers: plan.headers,
            max_payload: plan.limits.max_payload,
        };
        let sublist = if plan.disable_sublist_cache {
            SharedSublist::new(super::sublist::Sublist::without_cache())
        } else {
            SharedSublist::default()
        };
        let shared = Arc::new(Shared {
            plan: plan.clone(),
            info,
            sublist,
            registry: super::registry::Registry::default(),
            next_cid: AtomicU64::new(0),
            connections: AtomicUsize::new(0),
        });
        Ok(NatsServer { listener, shared })
    }

    /// The state connections share, for the monitoring endpoints.
    pub fn shared(&self) -> Arc<Shared> {
        Arc::clone(&self.shared)
    }

    /// The address actually bound.
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Accepts clients until the task is dropped; each gets its own task.
    pub async fn serve(self) -> std::io::Result<()> {
        loop {
            let (stream, peer) = match self.listener.accept().await {
                Ok(pair) => pair,
                Err(e) => {
                    // Out of file descriptors and the like: wait, keep serving.
                    eprintln!("edge: accept: {e}");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    continue;
                }
            };
            let _ = stream.set_nodelay(true);
            tokio::spawn(client::serve(Arc::clone(&self.shared), stream, peer));
        }
    }
}
