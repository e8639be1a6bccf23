//! The runtime entry: serves a [`Plan`] until SIGINT or SIGTERM.
//!
//! So far the NATS client listener and HTTP monitoring, without auth, TLS,
//! clustering, websocket, HTTPS monitoring, proxies, pid/ports files or log files; [`unsupported`] names what a plan asks
//! for beyond that, and [`run`] refuses such a plan instead of serving it
//! without.

use crate::monitor::Monitor;
use crate::nats::server::NatsServer;
use crate::plan::{auth::ClientAuth, Plan};
use std::sync::Arc;

/// Why serving failed.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The plan asks for parts the runtime does not implement yet.
    #[error("this build cannot serve: {} not built yet", .0.join("; "))]
    NotBuilt(Vec<String>),
    /// The listener could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address from the plan.
        addr: String,
        /// The OS error.
        source: std::io::Error,
    },
    /// Any other I/O failure (signal handlers, the accept loop).
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

/// What `plan` asks for that the runtime does not implement yet, one
/// phrase each, with the issue that builds it.
pub fn unsupported(plan: &Plan) -> Vec<String> {
    let mut missing = Vec::new();
    if let Some(nats) = &plan.nats {
        if nats.auth.client != ClientAuth::None
            || nats.auth.no_auth_user.is_some()
            || !nats.auth.accounts.list.is_empty()
        {
            missing.push("client authentication/accounts (issue #4)".to_string());
        }
        if nats.tls.is_some() {
            missing.push("TLS (issue #4)".to_string());
        }
        if nats.cluster.is_some() {
            missing.push("cluster routes".to_string());
        }
        if nats.websocket.is_some() {
            missing.push("NATS over websocket".to_string());
        }
    }
    if plan.monitor.https.is_some() {
        missing.push("HTTPS monitoring (issue #4)".to_string());
    }
    if plan.files.pid_file.is_some() {
        missing.push("pid_file".to_string());
    }
    if plan.files.ports_file_dir.is_some() {
        missing.push("ports_file_dir".to_string());
    }
    if plan.log.file.is_some() || plan.log.syslog || plan.log.remote_syslog.is_some() {
        missing.push("logging to a file or syslog".to_string());
    }
    if !plan.proxies.is_empty() {
        missing.push("HTTP/WebSocket proxies (issue #6)".to_string());
    }
    missing
}

/// Serves `plan` until SIGINT or SIGTERM, then returns `Ok(())`.
pub async fn run(plan: Arc<Plan>) -> Result<(), ServeError> {
    let missing = unsupported(&plan);
    if !missing.is_empty() {
        return Err(ServeError::NotBuilt(missing));
    }
    let Some(nats) = &plan.nats else {
        return Err(ServeError::NotBuilt(vec!["a plan without NATS".into()]));
    };
    // Handlers first: a signal that arrives once the port is open must
    // find them installed (otherwise the default action kills the process).
    let shutdown = shutdown_signal()?;
    let server = NatsServer::bind(nats)
        .await
        .map_err(|source| ServeError::Bind {
            addr: nats.listen.to_string(),
            source,
        })?;
    // Bound before anything is served: a harness polling /varz may
    // connect clients as soon as it answers.
    let monitor = match &plan.monitor.http {
        Some(http) => Some(
            Monitor::bind(http, &plan.monitor.base_path, server.shared())
                .await
                .map_err(|source| ServeError::Bind {
                    addr: http.to_string(),
                    source,
                })?,
        ),
        None => None,
    };
    if let Some(m) = &monitor {
        eprintln!("edge: starting http monitor on {}", m.local_addr()?);
    }
    eprintln!(
        "edge: listening for client connections on {}",
        server.local_addr()?
    );
    let monitoring = async {
        match monitor {
            Some(m) => m.serve().await,
            None => std::future::pending().await,
        }
    };
    tokio::select! {
        served = server.serve() => served?,
        served = monitoring => served?,
        () = shutdown => eprintln!("edge: shutting down"),
    }
    Ok(())
}

/// A future that completes on SIGINT or (on Unix) SIGTERM. Both handlers
/// are installed before it returns, not when it is first polled.
fn shutdown_signal() -> std::io::Result<impl std::future::Future<Output = ()>> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let mut int = signal(SignalKind::interrupt())?;
        let mut term = signal(SignalKind::terminate())?;
        Ok(async move {
            tokio::select! {
                _ = int.recv() => {}
                _ = term.recv() => {}
            }
        })
    }
    #[cfg(not(unix))]
    Ok(async {
        let _ = tokio::signal::ctrl_c().await;
    })
}
