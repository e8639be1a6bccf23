//! The runtime entry: serves a [`Plan`] until SIGINT or SIGTERM.
//!
//! The NATS client listener (auth, accounts, TLS), HTTP monitoring, the
//! proxy listeners (see [`crate::proxy`]), pid and ports files; no
//! clustering, websocket or syslog yet: [`unsupported`] names what a plan asks
//! for beyond that, and [`run`] refuses such a plan instead of serving it
//! without.

use crate::monitor::{Monitor, MonitorTls};
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
        if nats.cluster.is_some() {
            missing.push("cluster routes".to_string());
        }
        if nats.websocket.is_some() {
            missing.push("NATS over websocket".to_string());
        }
    }

    if plan.log.syslog || plan.log.remote_syslog.is_some() {
        missing.push("logging to syslog".to_string());
    }
    if plan.log.file_size_limit > 0 {
        missing.push("log file rotation (logfile_size_limit)".to_string());
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

/// Builds the plan again from the same file and flags, for SIGHUP.
pub type Reload<'a> = dyn Fn() -> Result<Plan, String> + Send + Sync + 'a;

/// Serves `plan` until SIGINT or SIGTERM, then returns `Ok(())`. SIGHUP
/// asks `reload` for a new plan (see [`reload_plan`]); SIGUSR2 enters lame
/// duck mode.
pub async fn run(plan: Arc<Plan>, reload: &Reload<'_>) -> Result<(), ServeError> {
    let missing = unsupported(&plan);
    if !missing.is_empty() {
        return Err(ServeError::NotBuilt(missing));
    }
    // Handlers first: a signal that arrives once a port is open must find
    // them installed (otherwise the default action kills the process).
    let shutdown = shutdown_signal()?;
    crate::log_info!(
        "Starting edge {} (nats-server {} protocol)",
        crate::cli::VERSION,
        crate::nats::info::VERSION
    );
    let mut tasks = tokio::task::JoinSet::new();
    let mut nats_addr = None;
    let mut monitor_addr = None;
    let mut monitor_tls_addr = None;
    // What lame duck mode needs: the clients' shared state and the accept
    // loop to stop.
    let mut lame_duck = None;
    if let Some(nats) = &plan.nats {
        let server = NatsServer::bind(nats)
            .await
            .map_err(|source| ServeError::Bind {
                addr: nats.listen.to_string(),
                source,
            })?;
        let shared = server.shared();
        crate::log_info!("  Name:     {}", shared.info.server_name);
        crate::log_info!("  ID:       {}", shared.info.server_id);
        // Bound before anything is served: a harness polling /varz may
        // connect clients as soon as it answers.
        let https = plan
            .monitor
            .https
            .as_ref()
            .zip(nats.tls.as_ref())
            .map(|(listen, tls)| (listen, Some(MonitorTls(tls)), "https"));
        let http = plan
            .monitor
            .http
            .as_ref()
            .map(|listen| (listen, None, "http"));
        for (listen, tls, scheme) in http.into_iter().chain(https) {
            let monitor = Monitor::bind(listen, &plan.monitor.base_path, server.shared(), tls)
                .await
                .map_err(|source| ServeError::Bind {
                    addr: listen.to_string(),
                    source,
                })?;
            let addr = monitor.local_addr()?;
            crate::log_info!("Starting {scheme} monitor on {addr}");
            if scheme == "http" {
                monitor_addr = Some(addr);
            } else {
                monitor_tls_addr = Some(addr);
            }
            tasks.spawn(monitor.serve());
        }
        let addr = server.local_addr()?;
        crate::log_info!("Listening for client connections on {addr}");
        nats_addr = Some(addr);
        let accept = tasks.spawn(server.serve());
        lame_duck = Some((shared, accept));
    }
    for proxy in &plan.proxies {
        let server = ProxyServer::bind(proxy, nats_addr).await?;
        crate::log_info!(
            "Proxy listening on {}{}",
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
    crate::log_info!("Server is ready");
    if let Some(path) = &plan.files.pid_file {
        crate::files::write_pid(std::path::Path::new(path))?;
    }
    let ports_file = match &plan.files.ports_file_dir {
        Some(dir) => {
            let ports = crate::files::Ports {
                nats: nats_addr.into_iter().collect(),
                monitoring: monitor_addr.into_iter().collect(),
                monitoring_tls: monitor_tls_addr.into_iter().collect(),
            };
            Some(crate::files::write_ports(
                std::path::Path::new(dir),
                &ports,
            )?)
        }
        None => None,
    };
    let usr2 = lame_duck_signal()?;
    let mut hup = HangUp::new()?;
    tokio::pin!(shutdown);
    tokio::pin!(usr2);
    let nats_shared = lame_duck.as_ref().map(|(shared, _)| Arc::clone(shared));
    let outcome = loop {
        let outcome = tokio::select! {
        Some(done) = tasks.join_next() => match done {
            Ok(served) => served.map_err(ServeError::Io),
            Err(e) => Err(ServeError::Io(std::io::Error::other(e))),
        },
        () = &mut shutdown => {
            crate::log_info!("Initiating Shutdown...");
            Ok(())
        }
        () = &mut usr2, if lame_duck.is_some() => {
            if let Some((shared, accept)) = lame_duck.take() {
                crate::log_info!("Entering lame duck mode, stop accepting new clients");
                accept.abort();
                tokio::select! {
                    () = crate::nats::lame_duck::drain(&shared, &plan.lame_duck) => {}
                    () = &mut shutdown => {}
                }
            }
            crate::log_info!("Initiating Shutdown...");
            Ok(())
        }
        () = hup.recv() => {
            reload_plan(reload, nats_shared.as_deref());
            continue;
        }
        };
        break outcome;
    };
    crate::proxy::log::flush();
    if let Some(path) = ports_file {
        let _ = std::fs::remove_file(path);
    }
    outcome
}

/// SIGHUP: a new plan from `reload`, applied where the runtime can take it
/// live (today: NATS users, passwords, permissions and no_auth_user, for
/// new and connected clients). A file that does not build, or that
/// changes what needs a restart, keeps the running plan and says why.
fn reload_plan(reload: &Reload<'_>, nats: Option<&crate::nats::server::Shared>) {
    let plan = match reload() {
        Ok(plan) => plan,
        Err(e) => {
            crate::log_error!(
                "Failed to reload server configuration, keeping the running one:\n{e}"
            );
            return;
        }
    };
    match (nats, &plan.nats) {
        (Some(shared), Some(new)) => match shared.reload_auth(new) {
            Ok(()) => {
                crate::log_info!("Reloaded: authorization users");
                crate::log_info!("Reloaded server configuration");
            }
            Err(e) => crate::log_error!("Failed to reload server configuration: {e}"),
        },
        _ => crate::log_error!(
            "Failed to reload server configuration: adding or removing the NATS listener needs a restart"
        ),
    }
}

/// SIGHUP, as a stream of reload requests (never on other platforms).
struct HangUp {
    #[cfg(unix)]
    signal: tokio::signal::unix::Signal,
}

impl HangUp {
    fn new() -> std::io::Result<Self> {
        Ok(HangUp {
            #[cfg(unix)]
            signal: tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())?,
        })
    }

    async fn recv(&mut self) {
        #[cfg(unix)]
        self.signal.recv().await;
        #[cfg(not(unix))]
        std::future::pending::<()>().await;
    }
}

/// A future that completes on SIGUSR2 (lame duck mode); never elsewhere.
/// Installed before it returns.
fn lame_duck_signal() -> std::io::Result<impl std::future::Future<Output = ()>> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let mut usr2 = signal(SignalKind::user_defined2())?;
        Ok(async move {
            usr2.recv().await;
        })
    }
    #[cfg(not(unix))]
    Ok(std::future::pending())
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
