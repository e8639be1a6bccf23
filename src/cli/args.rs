//! The `edge` command line, with nats-server's flags on `edge run`.

use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;

/// edge: a NATS server and an HTTP/WebSocket reverse proxy, one config file.
#[derive(Debug, Parser)]
#[command(name = "edge", version, disable_version_flag = true)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the servers the config describes (NATS on 0.0.0.0:4222 with no config).
    Run(Box<RunArgs>),
    /// Validate a config file and print a summary of what it would run.
    Check(CheckArgs),
    /// Print a bcrypt hash for a password (as nats-server's mkpasswd).
    Passwd(PasswdArgs),
    /// Print edge's version.
    Version,
}

/// `edge check`.
#[derive(Debug, Args)]
pub struct CheckArgs {
    /// Print the parsed tree as canonical JSON instead of checking it.
    #[arg(long)]
    pub dump: bool,
    /// The config file.
    pub config: PathBuf,
}

/// `edge passwd`.
#[derive(Debug, Args)]
pub struct PasswdArgs {
    /// Read the password (twice, without echo) instead of generating one.
    #[arg(short = 'p', long = "password")]
    pub prompt: bool,
    /// bcrypt cost.
    #[arg(short = 'c', long = "cost", default_value_t = 11, value_parser = clap::value_parser!(u32).range(4..=31))]
    pub cost: u32,
}

/// `edge run`: nats-server's flags, which override the file.
#[derive(Debug, Args, Default)]
pub struct RunArgs {
    /// The config file (also `-c`).
    pub config: Option<PathBuf>,
    /// Configuration file.
    #[arg(
        short = 'c',
        long = "config",
        value_name = "FILE",
        conflicts_with = "config"
    )]
    pub config_flag: Option<PathBuf>,
    /// Bind to host address.
    #[arg(short = 'a', long = "addr", visible_alias = "net", value_name = "HOST")]
    pub addr: Option<String>,
    /// Use port for clients.
    #[arg(short = 'p', long = "port", allow_negative_numbers = true)]
    pub port: Option<i64>,
    /// File to store PID.
    #[arg(short = 'P', long = "pid", value_name = "FILE")]
    pub pid: Option<String>,
    /// Use port for http monitoring.
    #[arg(short = 'm', long = "http_port", allow_negative_numbers = true)]
    pub http_port: Option<i64>,
    /// Use port for https monitoring (`-ms`).
    #[arg(long = "https_port", allow_negative_numbers = true)]
    pub https_port: Option<i64>,
    /// Server name (default: auto).
    #[arg(short = 'n', long = "name", visible_alias = "server_name")]
    pub name: Option<String>,
    /// File to redirect log output.
    #[arg(
        short = 'l',
        long = "log",
        visible_alias = "log_file",
        value_name = "FILE"
    )]
    pub log: Option<String>,
    /// Timestamp log entries (default: true).
    #[arg(short = 'T', long = "logtime", num_args = 0..=1, default_missing_value = "true", require_equals = true)]
    pub logtime: Option<bool>,
    /// Log to syslog or windows event log.
    #[arg(short = 's', long = "syslog", num_args = 0..=1, default_missing_value = "true", require_equals = true)]
    pub syslog: Option<bool>,
    /// Syslog server addr (udp://127.0.0.1:514).
    #[arg(short = 'r', long = "remote_syslog", value_name = "URL")]
    pub remote_syslog: Option<String>,
    /// Enable debugging output.
    #[arg(short = 'D', long = "debug")]
    pub debug: bool,
    /// Trace the raw protocol.
    #[arg(short = 'V', long = "trace")]
    pub trace: bool,
    /// Trace the raw protocol, verbosely (`-VV`).
    #[arg(long = "VV", hide = true)]
    pub trace_verbose: bool,
    /// User required for connections.
    #[arg(long = "user")]
    pub user: Option<String>,
    /// Password required for connections.
    #[arg(long = "pass")]
    pub pass: Option<String>,
    /// Authorization token required for connections.
    #[arg(long = "auth")]
    pub auth: Option<String>,
    /// Enable TLS, do not verify clients (default: false).
    #[arg(long = "tls")]
    pub tls: bool,
    /// Server certificate file.
    #[arg(long = "tlscert", value_name = "FILE")]
    pub tlscert: Option<String>,
    /// Private key for server certificate.
    #[arg(long = "tlskey", value_name = "FILE")]
    pub tlskey: Option<String>,
    /// Enable TLS, verify client certificates.
    #[arg(long = "tlsverify")]
    pub tlsverify: bool,
    /// Client certificate CA for verification.
    #[arg(long = "tlscacert", value_name = "FILE")]
    pub tlscacert: Option<String>,
    /// Routes to solicit and connect (comma separated).
    #[arg(long = "routes", value_name = "URLS")]
    pub routes: Option<String>,
    /// Cluster URL for solicited routes (nats://host:port).
    #[arg(long = "cluster", visible_alias = "cluster_listen", value_name = "URL")]
    pub cluster: Option<String>,
    /// Cluster name.
    #[arg(long = "cluster_name")]
    pub cluster_name: Option<String>,
    /// Do not advertise known cluster information to clients.
    #[arg(long = "no_advertise", num_args = 0..=1, default_missing_value = "true", require_equals = true)]
    pub no_advertise: Option<bool>,
    /// Cluster URL advertised to other servers.
    #[arg(long = "cluster_advertise", value_name = "URL")]
    pub cluster_advertise: Option<String>,
    /// Client URL to advertise to other servers.
    #[arg(long = "client_advertise", value_name = "HOST")]
    pub client_advertise: Option<String>,
    /// Directory for the ports file.
    #[arg(long = "ports_file_dir", value_name = "DIR")]
    pub ports_file_dir: Option<String>,
    /// Show version.
    #[arg(short = 'v', long = "version")]
    pub version: bool,
    /// TLS help.
    #[arg(long = "help_tls")]
    pub help_tls: bool,
}

/// Rewrites Go-style flags clap cannot express: `-ms` (one flag, two
/// letters), `-DV`/`-VV`/`-DVV`, and single-dash long names (`-port 4222`,
/// which Go's flag package accepts).
pub fn normalize_args(args: impl IntoIterator<Item = String>) -> Vec<String> {
    const LONG_NAMES: &[&str] = &[
        "addr",
        "net",
        "port",
        "pid",
        "http_port",
        "https_port",
        "name",
        "server_name",
        "log",
        "log_file",
        "logtime",
        "syslog",
        "remote_syslog",
        "debug",
        "trace",
        "user",
        "pass",
        "auth",
        "tls",
        "tlscert",
        "tlskey",
        "tlsverify",
        "tlscacert",
        "routes",
        "cluster",
        "cluster_listen",
        "cluster_name",
        "no_advertise",
        "cluster_advertise",
        "client_advertise",
        "ports_file_dir",
        "config",
        "version",
        "help",
        "help_tls",
    ];
    args.into_iter()
        .flat_map(|a| {
            let (flag, value) = match a.split_once('=') {
                Some((f, v)) => (f.to_owned(), Some(v.to_owned())),
                None => (a.clone(), None),
            };
            let with = |f: &str| match &value {
                Some(v) => format!("{f}={v}"),
                None => f.to_owned(),
            };
            match flag.as_str() {
                "-ms" => vec![with("--https_port")],
                "-DV" => vec!["-D".into(), "-V".into()],
                "-VV" => vec!["--VV".into()],
                "-DVV" => vec!["-D".into(), "--VV".into()],
                f if f.len() > 2
                    && f.starts_with('-')
                    && !f.starts_with("--")
                    && LONG_NAMES.contains(&&f[1..]) =>
                {
                    vec![with(&format!("-{f}"))]
                }
                _ => vec![a],
            }
        })
        .collect()
}
