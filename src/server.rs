//! The runtime entry: serves a [`Plan`] until SIGINT or SIGTERM.
//!
//! The NATS client listener (auth, accounts, TLS), HTTP monitoring, the
//! proxy listeners (see [`crate::proxy`]), pid and ports files, and the
//! signals: SIGHUP reloads, SIGUSR1 reopens the log file, SIGUSR2 enters
//! lame duck mode. No clustering or NATS websocket yet: [`unsupported`]
//! names what a plan asks for beyond that, and [`run`] refuses such a plan
//! instead of serving it without.

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
        crate::log_info!("  Name:     {}", shared.info.load().server_name);
        crate::log_info!("  ID:       {}", shared.info.load().server_id);
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
    let mut proxy_drains = Vec::new();
    let mut proxy_reloaders = Vec::new();
    for proxy in &plan.proxies {
        let server = ProxyServer::bind(proxy, nats_addr).await?;
        proxy_drains.push(server.drain());
        proxy_reloaders.push(server.reloader());
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
    let mut hup = Repeating::new(SignalKind::Hangup)?;
    let mut usr1 = Repeating::new(SignalKind::User1)?;
    // The plan in force, as reloads change it.
    let mut current = (*plan).clone();
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
        () = &mut usr2, if lame_duck.is_some() || !proxy_drains.is_empty() => {
            crate::log_info!("Entering lame duck mode, stop accepting new clients");
            for drain in &proxy_drains {
                drain.start();
            }
            let nats = async {
                if let Some((shared, accept)) = lame_duck.take() {
                    accept.abort();
                    crate::nats::lame_duck::drain(&shared, &plan.lame_duck).await;
                }
            };
            // Proxy connections finish what they were doing, within the
            // lame duck duration.
            let proxies = tokio::time::timeout(plan.lame_duck.duration, async {
                for drain in &proxy_drains {
                    drain.finished().await;
                }
            });
            tokio::select! {
                _ = async { tokio::join!(nats, proxies) } => {}
                () = &mut shutdown => {}
            }
            crate::log_info!("Initiating Shutdown...");
            Ok(())
        }
        () = hup.recv() => {
            reload_plan(reload, nats_shared.as_deref(), &proxy_reloaders, &mut current);
            continue;
        }
        () = usr1.recv() => {
            crate::log::reopen();
            continue;
        }
        };
        break outcome;
    };
    crate::log::flush();
    if let Some(path) = ports_file {
        let _ = std::fs::remove_file(path);
    }
    outcome
}

/// SIGHUP: a new plan from `reload`, applied where the runtime can take it
/// live: NATS users, passwords and permissions (for new and connected
/// clients), the client limits nats-server reloads (`max_connections`,
/// `max_control_line`, `max_payload`, `ping_interval`, `ping_max`,
/// `write_deadline`, the authorization timeout for new clients), the
/// log, and each proxy listener's routes, options, targets and TLS
/// certificates (a new routing swapped whole, as nginx reloads). A file
/// that does not build, or that changes what cannot be reloaded, keeps the
/// running plan and says why. `current` is the plan in force; `proxies`
/// are the proxy listeners, in the plan's order.
fn reload_plan(
    reload: &Reload<'_>,
    nats: Option<&crate::nats::server::Shared>,
    proxies: &[crate::proxy::server::Reloader],
    current: &mut Plan,
) {
    let mut plan = match reload() {
        Ok(plan) => plan,
        Err(e) => {
            crate::log_error!(
                "Failed to reload server configuration, keeping the running one:\n{e}"
            );
            return;
        }
    };
    let checked = match (nats, &plan.nats) {
        (Some(shared), Some(new)) => shared.check_reload(new),
        (None, None) => Ok(()),
        _ => Err("adding or removing the NATS listener needs a restart".to_string()),
    };
    let checked = checked.and_then(|()| {
        if plan.log.file_size_limit == current.log.file_size_limit {
            return Ok(());
        }
        // As nats-server, which has no reload for this option.
        Err(format!(
            "config reload not supported for LogSizeLimit: old={}, new={}",
            current.log.file_size_limit, plan.log.file_size_limit
        ))
    });
    // Every proxy listener's new routing is built before any is swapped
    // in: a reload is all or nothing.
    let routings = checked.and_then(|()| prepare_proxies(proxies, &current.proxies, &plan.proxies));
    let routings = match routings {
        Ok(r) => r,
        Err(e) => {
            crate::log_error!("Failed to reload server configuration: {e}");
            return;
        }
    };
    // nats-server writes each option's line with the logger in force,
    // then sets up the new one.
    for change in reload_lines(current, &plan) {
        crate::log_info!("Reloaded: {change}");
    }
    if plan.log != current.log {
        if let Err(e) = crate::log::configure(&plan.log) {
            crate::log_error!("Failed to reload the log, keeping the running one: {e}");
            plan.log = current.log.clone();
        }
    }
    if let (Some(shared), Some(new)) = (nats, &plan.nats) {
        let closed = shared.reload(new);
        if closed > 0 {
            crate::log_info!("Closed {closed} connections to fall within max_connections");
        }
    }
    for ((reloader, routing), (old, new)) in proxies
        .iter()
        .zip(routings)
        .zip(current.proxies.iter().zip(&plan.proxies))
    {
        reloader.swap(routing);
        if old != new {
            crate::log_info!(
                "Reloaded: proxy {} ({} routes)",
                new.listen,
                new.routes.len()
            );
        }
    }
    crate::log_info!("Reloaded server configuration");
    *current = plan;
}

/// The new routing of each proxy listener, or why the reload cannot take
/// them: the listeners themselves (addresses, worker threads) need a
/// restart, as a changed `listen` does in nats-server.
fn prepare_proxies(
    proxies: &[crate::proxy::server::Reloader],
    old: &[crate::plan::proxy::ProxyPlan],
    new: &[crate::plan::proxy::ProxyPlan],
) -> Result<Vec<crate::proxy::server::Routing>, String> {
    let listeners = |plans: &[crate::plan::proxy::ProxyPlan]| {
        plans
            .iter()
            .map(|p| format!("{} (workers {})", p.listen, p.workers))
            .collect::<Vec<_>>()
            .join(", ")
    };
    if listeners(old) != listeners(new) {
        return Err(format!(
            "config reload not supported for proxy listeners: old=[{}], new=[{}]",
            listeners(old),
            listeners(new)
        ));
    }
    proxies
        .iter()
        .zip(new)
        .map(|(reloader, plan)| {
            reloader
                .prepare(plan)
                .map_err(|e| format!("proxy {}: {e}", plan.listen))
        })
        .collect()
}

/// nats-server's `Reloaded: option = value` lines for what changed from
/// `old` to `new`, in its order (the order of its options' fields).
fn reload_lines(old: &Plan, new: &Plan) -> Vec<String> {
    use crate::monitor::gofmt::duration;
    let mut out = Vec::new();
    let mut line = |changed: bool, text: &dyn Fn() -> String| {
        if changed {
            out.push(text());
        }
    };
    let (a, b) = (&old.log, &new.log);
    line(a.trace != b.trace, &|| format!("trace = {}", b.trace));
    line(a.debug != b.debug, &|| format!("debug = {}", b.debug));
    line(a.trace_verbose != b.trace_verbose, &|| {
        format!("trace_verbose = {}", b.trace_verbose)
    });
    line(a.logtime != b.logtime, &|| {
        format!("logtime = {}", b.logtime)
    });
    if let (Some(o), Some(n)) = (&old.nats, &new.nats) {
        let (x, y) = (&o.limits, &n.limits);
        line(x.max_connections != y.max_connections, &|| {
            format!("max_connections = {}", y.max_connections)
        });
        line(o.auth != n.auth, &|| "authorization users".to_string());
        line(x.ping_interval != y.ping_interval, &|| {
            format!("ping_interval = {}", duration(y.ping_interval))
        });
        line(x.ping_max != y.ping_max, &|| {
            format!("ping_max = {}", y.ping_max)
        });
        line(o.auth.timeout != n.auth.timeout, &|| {
            format!("authorization timeout = {}", n.auth.timeout.as_secs_f64())
        });
        line(x.max_control_line != y.max_control_line, &|| {
            format!("max_control_line = {}", y.max_control_line)
        });
        line(x.max_payload != y.max_payload, &|| {
            format!("max_payload = {}", y.max_payload)
        });
    }
    line(a.file != b.file, &|| {
        format!("log_file = {}", b.file.as_deref().unwrap_or(""))
    });
    line(a.syslog != b.syslog, &|| format!("syslog = {}", b.syslog));
    line(a.remote_syslog != b.remote_syslog, &|| {
        format!(
            "remote_syslog = {}",
            b.remote_syslog.as_deref().unwrap_or("")
        )
    });
    if let (Some(o), Some(n)) = (&old.nats, &new.nats) {
        line(o.limits.write_deadline != n.limits.write_deadline, &|| {
            format!("write_deadline = {}", duration(n.limits.write_deadline))
        });
    }
    out
}

/// The signals edge takes more than once.
enum SignalKind {
    /// SIGHUP: reload.
    Hangup,
    /// SIGUSR1: reopen the log file.
    User1,
}

/// A repeating signal, as a stream of requests (never on other platforms).
struct Repeating {
    #[cfg(unix)]
    signal: tokio::signal::unix::Signal,
}

impl Repeating {
    fn new(kind: SignalKind) -> std::io::Result<Self> {
        #[cfg(unix)]
        {
            use tokio::signal::unix::SignalKind as Kind;
            let kind = match kind {
                SignalKind::Hangup => Kind::hangup(),
                SignalKind::User1 => Kind::user_defined1(),
            };
            Ok(Repeating {
                signal: tokio::signal::unix::signal(kind)?,
            })
        }
        #[cfg(not(unix))]
        {
            let _ = kind;
            Ok(Repeating {})
        }
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
