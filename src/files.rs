//! The pid file and the ports file, as nats-server writes them: the pid
//! file holds the process id (no newline, mode 0640) and stays after exit;
//! `<dir>/<exe>_<pid>.ports` holds the client and monitoring URLs as JSON
//! (mode 0644) and is removed on a clean shutdown.

use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

/// Writes `pid` to `path`.
pub fn write_pid(path: &Path) -> std::io::Result<()> {
    write_file(path, std::process::id().to_string().as_bytes(), 0o640)
}

/// The listeners the ports file advertises.
#[derive(Debug, Default, Clone)]
pub struct Ports {
    /// NATS client listeners.
    pub nats: Vec<SocketAddr>,
    /// HTTP monitoring listeners.
    pub monitoring: Vec<SocketAddr>,
    /// HTTPS monitoring listeners.
    pub monitoring_tls: Vec<SocketAddr>,
}

/// Writes the ports file into `dir` and returns its path (to remove it
/// on shutdown).
pub fn write_ports(dir: &Path, ports: &Ports) -> std::io::Result<PathBuf> {
    let exe = std::env::current_exe()
        .ok()
        .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
        .unwrap_or_else(|| "edge".to_string());
    let path = dir.join(format!("{exe}_{}.ports", std::process::id()));
    let urls = |scheme: &str, addrs: &[SocketAddr]| -> Vec<String> {
        addrs.iter().map(|a| format!("{scheme}://{a}")).collect()
    };
    let mut json = serde_json::Map::new();
    json.insert("nats".into(), urls("nats", &ports.nats).into());
    if !ports.monitoring.is_empty() {
        json.insert("monitoring".into(), urls("http", &ports.monitoring).into());
    }
    if !ports.monitoring_tls.is_empty() {
        json.insert(
            "monitoring".into(),
            urls("https", &ports.monitoring_tls).into(),
        );
    }
    let text = serde_json::Value::Object(json).to_string();
    write_file(&path, text.as_bytes(), 0o644)?;
    Ok(path)
}

fn write_file(path: &Path, bytes: &[u8], mode: u32) -> std::io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(mode);
    }
    #[cfg(not(unix))]
    let _ = mode;
    options.open(path)?.write_all(bytes)
}
