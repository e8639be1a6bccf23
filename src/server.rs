//! The runtime entry: serves a [`Plan`] until SIGINT or SIGTERM.
//!
//! So far the NATS client listener (with auth and accounts, without TLS,
//! clustering, websocket, monitoring, pid/ports files or log files), and the proxy
//! listeners (see [`crate::proxy`]); [`unsupported`] names what a plan asks
//! for beyond that, and [`run`] refuses such a plan instead of serving it
//! without.

use crate::nats::server::NatsServer;
use crate::plan::Plan;
use crate::proxy::{server::StartError, ProxyServer};
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
    /// A proxy listener could not start.
    #[error("{0}")]
    Proxy(#[from] StartError),
    /// Any other I/O failure (signal handlers, the accept loop).
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

/// What `plan` asks for that the runtime does not implement yet, one
/// phrase each, with the issue that builds it.
pub fn unsupported(plan: &Plan) -> Vec<String> {
    let mut missing = Vec::new();
    if let Some(nats) = &plan.nats {
        if nats
            .auth
            .accounts
            .list
            .iter()
            .any(|a| !a.exports.is_empty() || !a.imports.is_empty())
        {
            missing.push("account exports/imports (issue #4)".to_string());
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
    if plan.monitor.http.is_some() || plan.monitor.https.is_some() {
        missing.push("HTTP(S) monitoring (issue #4)".to_string());
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
    for proxy in &plan.proxies {
        missing.extend(crate::proxy::unsupported(proxy));
        let events = proxy
            .routes
            .iter()
            .any(|r| r.options.events_subject.is_some());
        if events && plan.nats.is_none() {
            missing.push(format!(
                "proxy {}: events_subject without a NATS listener in the file",
                proxy.listen
            ));
        }
    }
    missing
}

/// Serves `plan` until SIGINT or SIGTERM, then returns `Ok(())`.
pub async fn run(plan: Arc<Plan>) -> Result<(), ServeError> {
    let missing = unsupported(&plan);
    if !missing.is_empty() {
        return Err(ServeError::NotBuilt(missing));
    }
    // Handlers first: a signal that arrives once a port is open must find
    // them installed (otherwise the default action kills the process).
    let shutdown = shutdown_signal()?;
    let mut tasks = tokio::task::JoinSet::new();
    let mut nats_addr = None;
    if let Some(nats) = &plan.nats {
        let server = NatsServer::bind(nats)
            .await
            .map_err(|source| ServeError::Bind {
                addr: nats.listen.to_string(),
                source,
            })?;
        let addr = server.local_addr()?;
        eprintln!("edge: listening for client connections on {addr}");
        nats_addr = Some(addr);
        tasks.spawn(server.serve());
    }
    for proxy in &plan.proxies {
        let server = ProxyServer::bind(proxy, nats_addr).await?;
        eprintln!(
            "edge: proxy listening on {}{}",
            server.local_addr()?,
            if proxy.tls.is_some() { " (tls)" } else { "" }
        );
        tasks.spawn(server.serve());
    }
    if tasks.is_empty() {
        return Err(ServeError::NotBuilt(vec![
            "a plan with neither NATS nor proxies".into(),
        ]));
    }
    tokio::select! {
        Some(done) = tasks.join_next() => match done {
            Ok(served) => served?,
            Err(e) => return Err(ServeError::Io(std::io::Error::other(e))),
        },
        () = shutdown => {
            crate::proxy::log::flush();
            eprintln!("edge: shutting down");
        }
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
