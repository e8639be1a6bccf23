//! The server log, in nats-server's line format and levels: `[PID]
//! YYYY/MM/DD HH:MM:SS.uuuuuu [INF] message` (no timestamp with `logtime:
//! false`), to stderr or appended to `log_file`; `-D`/`debug` adds `[DBG]`
//! lines, `-V`/`trace` `[TRC]` lines. Set once from the plan at start.

use std::io::Write;
use std::sync::{Mutex, OnceLock};

/// A line's severity, as nats-server tags it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Level {
    /// `[INF]`.
    Info,
    /// `[WRN]`.
    Warn,
    /// `[ERR]`.
    Error,
    /// `[DBG]`, with `-D`.
    Debug,
    /// `[TRC]`, with `-V`.
    Trace,
}

impl Level {
    fn tag(self) -> &'static str {
        match self {
            Level::Info => "[INF]",
            Level::Warn => "[WRN]",
            Level::Error => "[ERR]",
            Level::Debug => "[DBG]",
            Level::Trace => "[TRC]",
        }
    }
}

struct Logger {
    debug: bool,
    trace: bool,
    logtime: bool,
    sink: Mutex<Box<dyn Write + Send>>,
}

static LOGGER: OnceLock<Logger> = OnceLock::new();

/// Sets where and what the server logs, from the plan. Before this (or in
/// tools that never call it) lines go to stderr at the default levels.
pub fn init(plan: &crate::plan::LogPlan) -> std::io::Result<()> {
    let sink: Box<dyn Write + Send> = match &plan.file {
        Some(path) => Box::new(
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)?,
        ),
        None => Box::new(std::io::stderr()),
    };
    let _ = LOGGER.set(Logger {
        debug: plan.debug,
        trace: plan.trace,
        logtime: plan.logtime,
        sink: Mutex::new(sink),
    });
    Ok(())
}

/// Whether lines of `level` are written (check before building costly
/// messages).
pub fn enabled(level: Level) -> bool {
    match (level, LOGGER.get()) {
        (Level::Debug, Some(l)) => l.debug,
        (Level::Trace, Some(l)) => l.trace,
        (Level::Debug | Level::Trace, None) => false,
        _ => true,
    }
}

/// Writes one line (use the `log_*!` macros).
pub fn write(level: Level, message: std::fmt::Arguments<'_>) {
    if !enabled(level) {
        return;
    }
    let logtime = LOGGER.get().map_or(true, |l| l.logtime);
    let mut line = format!("[{}] ", std::process::id());
    if logtime {
        line.push_str(
            &chrono::Local::now()
                .format("%Y/%m/%d %H:%M:%S%.6f ")
                .to_string(),
        );
    }
    line.push_str(level.tag());
    line.push(' ');
    let _ = std::fmt::write(&mut line, message);
    line.push('\n');
    match LOGGER.get() {
        Some(l) => {
            let mut sink = l.sink.lock().unwrap_or_else(|p| p.into_inner());
            let _ = sink.write_all(line.as_bytes());
            let _ = sink.flush();
        }
        None => {
            let _ = std::io::stderr().write_all(line.as_bytes());
        }
    }
}

/// `[INF]` line.
#[macro_export]
macro_rules! log_info {
    ($($arg:tt)*) => { $crate::log::write($crate::log::Level::Info, format_args!($($arg)*)) };
}

/// `[WRN]` line.
#[macro_export]
macro_rules! log_warn {
    ($($arg:tt)*) => { $crate::log::write($crate::log::Level::Warn, format_args!($($arg)*)) };
}

/// `[ERR]` line.
#[macro_export]
macro_rules! log_error {
    ($($arg:tt)*) => { $crate::log::write($crate::log::Level::Error, format_args!($($arg)*)) };
}

/// `[DBG]` line, written only with `-D`.
#[macro_export]
macro_rules! log_debug {
    ($($arg:tt)*) => {
        if $crate::log::enabled($crate::log::Level::Debug) {
            $crate::log::write($crate::log::Level::Debug, format_args!($($arg)*))
        }
    };
}
