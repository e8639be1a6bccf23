//! The NATS listener: accepts clients and holds what they share (the
//! subscription index, the client id counter, the server's INFO).

use super::auth::Authenticator;
use super::client::{self, SubRef};
use super::info::{new_server_id, ServerInfo};
use super::sublist::SharedSublist;
use super::GLOBAL_ACCOUNT;
use crate::plan::NatsPlan;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use tokio::net::TcpListener;

/// The client listener's TLS.
pub struct ClientTls {
    /// The handshake, from the plan's certificates.
    pub acceptor: tokio_rustls::TlsAcceptor,
    /// How long INFO plus the handshake may take (`tls { timeout }`).
    pub timeout: std::time::Duration,
}

impl std::fmt::Debug for ClientTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientTls")
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

/// What every connection task shares.
#[derive(Debug)]
pub struct Shared {
    /// The NATS part of the plan in force (limits, headers, listen
    /// address); a reload swaps it whole.
    pub plan: arc_swap::ArcSwap<NatsPlan>,
    /// Bumped by every reload: connections then take the new limits.
    pub generation: AtomicU64,
    /// The server's INFO, without the per-client fields (a reload may
    /// change `max_payload` and `auth_required`).
    pub info: arc_swap::ArcSwap<ServerInfo>,
    /// Subscriptions of the global account (`$G`).
    pub sublist: Arc<SharedSublist<SubRef>>,
    /// Subscriptions of each configured account, by name (`$G` too).
    pub accounts: HashMap<Arc<str>, Arc<SharedSublist<SubRef>>>,
    /// Stream imports, by exporting account.
    pub stream_imports: super::imports::StreamImports<SubRef>,
    /// Service imports and reply mappings, by account (absent: none).
    pub services: super::services::Services<SubRef>,
    /// Decides CONNECTs; a reload swaps it whole.
    pub auth: arc_swap::ArcSwap<Authenticator>,
    /// TLS for every client, when the plan has a `tls` block.
    pub tls: Option<ClientTls>,
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
        let max = usize::try_from(self.plan.load().limits.max_connections).unwrap_or(0);
        let prev = self.connections.fetch_add(1, Ordering::AcqRel);
        if prev >= max {
            self.connections.fetch_sub(1, Ordering::AcqRel);
            return false;
        }
        true
    }

    /// The subscription index of `account` (the global one for an
    /// account the plan does not know, which authentication never yields).
    pub fn account(&self, account: &str) -> Arc<SharedSublist<SubRef>> {
        Arc::clone(self.accounts.get(account).unwrap_or(&self.sublist))
    }

    /// Subscriptions in every account, as `/varz` counts them.
    pub fn subscription_count(&self) -> usize {
        self.accounts.values().map(|s| s.count()).sum()
    }

    /// The subscription indexes' counters summed over the accounts, as
    /// `/subsz` reports them.
    pub fn sublist_stats(&self) -> super::sublist::SublistStats {
        let mut total = super::sublist::SublistStats::default();
        for sublist in self.accounts.values() {
            total.add(&sublist.stats());
        }
        total
    }

    /// Whether `new` can replace the plan in force: what nats-server
    /// cannot reload (with its words) and what edge cannot yet. Nothing is
    /// changed.
    pub fn check_reload(&self, new: &NatsPlan) -> Result<(), String> {
        let old = self.plan.load();
        let names = |p: &NatsPlan| {
            let mut v: Vec<String> = p
                .auth
                .accounts
                .list
                .iter()
                .map(|a| a.name.clone())
                .collect();
            v.sort_unstable();
            v
        };
        if names(&old) != names(new) {
            return Err("adding or removing accounts needs a restart".into());
        }
        // Imports are compiled into the runtime at start (stream imports,
        // service imports and their reply mappings).
        let wiring = |p: &NatsPlan| {
            p.auth
                .accounts
                .list
                .iter()
                .map(|a| (a.name.clone(), a.exports.clone(), a.imports.clone()))
                .collect::<Vec<_>>()
        };
        if wiring(new) != wiring(&old) {
            return Err("changing account exports or imports needs a restart".into());
        }
        if new.tls.is_some() != old.tls.is_some() {
            return Err("turning TLS on or off needs a restart".into());
        }
        if verify_and_map(new) != verify_and_map(&old) {
            return Err("turning tls verify_and_map on or off needs a restart".into());
        }
        let (o, n) = (&old.limits, &new.limits);
        if n.max_subscriptions != o.max_subscriptions {
            return Err(format!(
                "config reload not supported for MaxSubs: old={}, new={}",
                o.max_subscriptions, n.max_subscriptions
            ));
        }
        if n.max_pending != o.max_pending {
            return Err(format!(
                "config reload not supported for MaxPending: old={}, new={}",
                o.max_pending, n.max_pending
            ));
        }
        Ok(())
    }

    /// Swaps in a reloaded plan (checked by [`check_reload`](Self::check_reload)):
    /// new CONNECTs use its authentication at once and connected clients
    /// are checked again with the credentials they logged in with
    /// (nats-server closes those that no longer pass and applies the new
    /// permissions to the others); connected clients take its payload,
    /// control-line, ping and write limits; clients over a lower
    /// `max_connections` are closed. Returns how many were.
    pub fn reload(&self, new: &NatsPlan) -> usize {
        let auth_changed = new.auth != self.plan.load().auth;
        if auth_changed {
            self.auth.store(Arc::new(
                Authenticator::new(&new.auth, GLOBAL_ACCOUNT).with_tls_map(verify_and_map(new)),
            ));
        }
        let mut info = ServerInfo::clone(&self.info.load());
        info.max_payload = new.limits.max_payload;
        info.auth_required = self.auth.load().info_auth_required();
        self.info.store(Arc::new(info));
        self.plan.store(Arc::new(new.clone()));
        self.generation.fetch_add(1, Ordering::AcqRel);
        let open = self.registry.open();
        if auth_changed {
            for client in &open {
                client.reauthenticate();
            }
        }
        // As nats-server: some connections, not the newest, closed.
        let max = usize::try_from(new.limits.max_connections).unwrap_or(0);
        let over = open.len().saturating_sub(max);
        for client in open.iter().take(over) {
            client.close_max_connections();
        }
        over
    }

    /// Forgets a connection counted by [`try_add_connection`](Self::try_add_connection).
    pub fn remove_connection(&self) {
        self.connections.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Whether clients are mapped to users by their certificate.
fn verify_and_map(plan: &NatsPlan) -> bool {
    plan.tls.as_ref().is_some_and(|t| t.verify_and_map)
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
        let auth =
            Authenticator::new(&plan.auth, GLOBAL_ACCOUNT).with_tls_map(verify_and_map(plan));
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
            auth_required: auth.info_auth_required(),
            tls_required: plan.tls.is_some(),
            tls_verify: plan
                .tls
                .as_ref()
                .is_some_and(|t| t.verify || t.verify_and_map),
        };
        let tls = match &plan.tls {
            None => None,
            Some(t) => Some(ClientTls {
                acceptor: tokio_rustls::TlsAcceptor::from(Arc::new(
                    crate::tls::server_config(t).map_err(std::io::Error::other)?,
                )),
                timeout: t.timeout,
            }),
        };
        let new_sublist = || {
            Arc::new(if plan.disable_sublist_cache {
                SharedSublist::new(super::sublist::Sublist::without_cache())
            } else {
                SharedSublist::default()
            })
        };
        let sublist = new_sublist();
        let mut accounts = HashMap::new();
        accounts.insert(Arc::from(GLOBAL_ACCOUNT), Arc::clone(&sublist));
        for account in &plan.auth.accounts.list {
            accounts
                .entry(Arc::from(account.name.as_str()))
                .or_insert_with(new_sublist);
        }

        let shared = Arc::new(Shared {
            plan: arc_swap::ArcSwap::from_pointee(plan.clone()),
            generation: AtomicU64::new(0),
            info: arc_swap::ArcSwap::from_pointee(info),
            sublist,
            stream_imports: super::imports::compile(&plan.auth.accounts, &accounts),
            services: super::services::compile(&plan.auth.accounts, &accounts),
            accounts,
            auth: arc_swap::ArcSwap::from_pointee(auth),
            tls,
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
                    crate::log_error!("Client accept error: {e}");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    continue;
                }
            };
            let _ = stream.set_nodelay(true);
            tokio::spawn(client::serve(Arc::clone(&self.shared), stream, peer));
        }
    }
}
