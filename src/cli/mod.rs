//! The `edge` command: `run`, `check`, `passwd`, `version`.

mod args;
pub mod overlay;
mod passwd;

pub use args::{normalize_args, Cli, Command, RunArgs};

use crate::config::{self, dump, tree::Map, Diagnostics};
use crate::plan::{self, Plan};
use clap::Parser;
use std::path::Path;
use std::process::ExitCode;

/// edge's version, and the nats-server release whose behaviour it matches.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
/// The reference nats-server version.
pub const NATS_SERVER_VERSION: &str = "2.9.10";

/// Runs the command line; the exit code follows the spec (0 ok, 1 invalid
/// config or runtime failure, 2 usage error).
pub fn main() -> ExitCode {
    let cli = match Cli::try_parse_from(normalize_args(std::env::args())) {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(e.exit_code().clamp(0, 255) as u8);
        }
    };
    match cli.command {
        Command::Check(a) if a.dump => dump_tree(&a.config),
        Command::Check(a) => check(&a.config),
        Command::Run(a) => run(&a),
        Command::Passwd(a) => match passwd::run(&a, &mut std::io::stdout()) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("edge passwd: {e}");
                ExitCode::FAILURE
            }
        },
        Command::Version => {
            println!("edge v{VERSION} (nats-server {NATS_SERVER_VERSION} protocol and config)");
            ExitCode::SUCCESS
        }
    }
}

/// `edge check --dump`: the parsed tree as canonical JSON, or `{"error"}`.
fn dump_tree(path: &Path) -> ExitCode {
    match config::load_file(path) {
        Ok(tree) => {
            println!("{}", dump::to_json(&tree));
            ExitCode::SUCCESS
        }
        Err(e) => {
            println!("{}", dump::error_json(&e.message()));
            ExitCode::FAILURE
        }
    }
}

/// `edge check`: the plan's summary, or every error with its source line.
fn check(path: &Path) -> ExitCode {
    match build_plan(Some(path), &RunArgs::default()) {
        Ok(plan) => {
            println!("{}: OK", path.display());
            print!("{}", plan::summary(&plan));
            ExitCode::SUCCESS
        }
        Err(errors) => report(&errors),
    }
}

/// `edge run`: builds the plan from the file and flags and serves it until
/// SIGINT/SIGTERM (exit 0). A plan with parts the runtime does not build
/// yet is refused (exit 1) rather than served without them.
fn run(args: &RunArgs) -> ExitCode {
    if args.version {
        println!("edge: v{VERSION}");
        return ExitCode::SUCCESS;
    }
    if args.help_tls {
        print!("{TLS_HELP}");
        return ExitCode::SUCCESS;
    }
    let path = args.config.as_deref().or(args.config_flag.as_deref());
    let plan = match build_plan(path, args) {
        Ok(plan) => plan,
        Err(errors) => return report(&errors),
    };
    print!("{}", plan::summary(&plan));
    if let Err(e) = crate::log::configure(&plan.log) {
        eprintln!("edge run: {e}");
        return ExitCode::FAILURE;
    }
    let missing = crate::server::unsupported(&plan);
    if !missing.is_empty() {
        eprintln!("edge run: {}", crate::server::ServeError::NotBuilt(missing));
        return ExitCode::FAILURE;
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("edge run: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    // SIGHUP builds the plan again the same way: the file (read anew) with
    // the same flags laid over it.
    let path = path.map(Path::to_path_buf);
    let reload = move || build_plan(path.as_deref(), args).map_err(|errors| errors.to_string());
    let result = runtime.block_on(crate::server::run(std::sync::Arc::new(plan), &reload));
    runtime.shutdown_timeout(std::time::Duration::from_secs(1));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("edge run: {e}");
            ExitCode::FAILURE
        }
    }
}

/// File (or nothing: NATS defaults) -> tree -> flags laid over -> plan.
pub fn build_plan(path: Option<&Path>, args: &RunArgs) -> Result<Plan, Diagnostics> {
    let mut tree = match path {
        Some(p) => config::load_file(p)?,
        None => Map::default(),
    };
    overlay::apply(&mut tree, overlay::overrides(args));
    config::lower::lower(&tree)
}

fn report(errors: &Diagnostics) -> ExitCode {
    eprint!("{errors}");
    let n = errors.0.len();
    eprintln!("{n} error{}", if n == 1 { "" } else { "s" });
    ExitCode::FAILURE
}

const TLS_HELP: &str = "\
TLS Options:
    --tls                        Enable TLS, do not verify clients (default: false)
    --tlscert <file>             Server certificate file
    --tlskey <file>              Private key for server certificate
    --tlsverify                  Enable TLS, verify client certificates
    --tlscacert <file>           Client certificate CA for verification
";
