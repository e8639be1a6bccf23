//! The short human summary `edge check` prints: what will listen where,
//! who may connect, where routes go. Secrets are never printed.

use super::auth::{ClientAuth, UserId};
use super::{NatsPlan, Plan};
use std::fmt::Write;

/// Lines describing what the plan will run.
pub fn summary(plan: &Plan) -> String {
    let mut out = String::new();
    match &plan.nats {
        Some(nats) => nats_lines(&mut out, nats),
        None => out.push_str("nats: off (the file only configures proxies)\n"),
    }
    if let Some(http) = &plan.monitor.http {
        let _ = writeln!(out, "monitor: http://{http}{}", plan.monitor.base_path);
    }
    if let Some(https) = &plan.monitor.https {
        let _ = writeln!(out, "monitor: https://{https}{}", plan.monitor.base_path);
    }
    for proxy in &plan.proxies {
        for line in proxy.summary_lines() {
            let _ = writeln!(out, "{line}");
        }
    }
    out
}

fn nats_lines(out: &mut String, n: &NatsPlan) {
    let tls = match &n.tls {
        Some(t) if t.verify => " (tls, client certificates verified)",
        Some(_) => " (tls)",
        None => "",
    };
    let _ = writeln!(out, "nats: listening on {}{tls}", n.listen);
    if let Some(name) = &n.server_name {
        let _ = writeln!(out, "  server_name: {name}");
    }
    let l = &n.limits;
    let _ = writeln!(
        out,
        "  limits: max_payload {}, max_connections {}, max_pending {}, ping every {:?} (max {} out)",
        l.max_payload, l.max_connections, l.max_pending, l.ping_interval, l.ping_max
    );
    let _ = writeln!(out, "  auth: {}", auth_line(&n.auth.client));
    if !n.auth.accounts.list.is_empty() {
        let names: Vec<&str> = n
            .auth
            .accounts
            .list
            .iter()
            .map(|a| a.name.as_str())
            .collect();
        let _ = writeln!(out, "  accounts: {}", names.join(", "));
    }
    if let Some(c) = &n.cluster {
        let name = c.name.as_deref().unwrap_or("(dynamic)");
        let _ = writeln!(out, "  cluster {name}: listening on {}", c.listen);
        for r in &c.routes {
            let _ = writeln!(out, "    route -> {}", r.display);
        }
    }
    if let Some(w) = &n.websocket {
        let scheme = if w.no_tls { "ws" } else { "wss" };
        let _ = writeln!(out, "  websocket: {scheme}://{}", w.listen);
    }
}

fn auth_line(client: &ClientAuth) -> String {
    match client {
        ClientAuth::None => "none (anyone may connect)".into(),
        ClientAuth::Token(_) => "token".into(),
        ClientAuth::UserPassword { user, .. } => format!("user {user} with password"),
        ClientAuth::Users(users) => {
            let names: Vec<String> = users
                .iter()
                .map(|u| match &u.id {
                    UserId::Name(n) if u.account == crate::nats::GLOBAL_ACCOUNT => n.clone(),
                    UserId::Name(n) => format!("{n}@{}", u.account),
                    UserId::Nkey(k) => format!("nkey {}…", &k[..k.len().min(8)]),
                })
                .collect();
            let noun = if users.len() == 1 { "user" } else { "users" };
            format!("{} {noun}: {}", users.len(), names.join(", "))
        }
    }
}
