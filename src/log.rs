//! The one server log, for the NATS server and the proxy alike, in
//! nats-server's line format and levels: `[PID] YYYY/MM/DD
//! HH:MM:SS.uuuuuu [INF] message` (no timestamp with `logtime: false`).
//!
//! Where lines go follows nats-server's precedence: `log_file` (rotated
//! past `logfile_size_limit`, reopened on SIGUSR1), else `remote_syslog`,
//! else `syslog`, else stderr. `-D`/`debug` adds `[DBG]` lines, `-V`/`trace`
//! `[TRC]` lines. [`configure`] runs at start and again on reload.
//!
//! Stream sinks (stderr, the file) are written through one buffer: server
//! lines are written at once, proxy access lines ([`access`]) when 64 KiB
//! wait or at least every [`FLUSH_EVERY`] (one `write` per line cost ~40%
//! of a small proxied request's CPU). One buffer keeps lines in order.

mod file;
mod syslog;

use crate::plan::LogPlan;
use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, Once};
use std::time::Duration;

/// The longest an access line waits in the buffer.
pub const FLUSH_EVERY: Duration = Duration::from_millis(50);

/// Bytes waiting that trigger an immediate write.
const HIGH_WATER: usize = 64 * 1024;

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

/// Where lines are written.
enum Sink {
    Stderr,
    File(file::FileLog),
    Syslog(syslog::Syslog),
}

struct Logger {
    logtime: bool,
    sink: Sink,
    /// Lines not yet written to a stream sink.
    buf: Vec<u8>,
}

static LOGGER: Mutex<Logger> = Mutex::new(Logger {
    logtime: true,
    sink: Sink::Stderr,
    buf: Vec::new(),
});
static DEBUG: AtomicBool = AtomicBool::new(false);
static TRACE: AtomicBool = AtomicBool::new(false);
static FLUSHER: Once = Once::new();
/// Set when the flusher thread could not start: access lines are written
/// at once.
static UNBUFFERED: AtomicBool = AtomicBool::new(false);

fn logger() -> std::sync::MutexGuard<'static, Logger> {
    LOGGER.lock().unwrap_or_else(|p| p.into_inner())
}

/// Why the log could not be set up as the plan asks.
#[derive(Debug, thiserror::Error)]
pub enum LogError {
    /// The log file could not be opened.
    #[error("cannot open the log file {path}: {source}")]
    File {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// No syslog daemon could be reached (nats-server: `error connecting
    /// to syslog`).
    #[error("error connecting to syslog: {0:?}")]
    Syslog(String),
}

/// Sets where and what the server logs, from the plan; at start and on
/// every reload. Until the first call (and in tools that never call it)
/// lines go to stderr at the default levels. On error the running sink is
/// kept.
pub fn configure(plan: &LogPlan) -> Result<(), LogError> {
    let sink = open(plan)?;
    let over_limit = matches!(&sink, Sink::File(f) if f.over_limit());
    {
        let mut l = logger();
        flush_locked(&mut l);
        l.sink = sink;
        l.logtime = plan.logtime;
    }
    DEBUG.store(plan.debug, Ordering::Relaxed);
    TRACE.store(plan.trace, Ordering::Relaxed);
    if over_limit {
        // The next line rotates it.
        crate::log_info!("Rotating logfile...");
    }
    Ok(())
}

fn open(plan: &LogPlan) -> Result<Sink, LogError> {
    if let Some(path) = &plan.file {
        let f =
            file::FileLog::open(path, plan.file_size_limit).map_err(|source| LogError::File {
                path: path.clone(),
                source,
            })?;
        return Ok(Sink::File(f));
    }
    if let Some(url) = &plan.remote_syslog {
        return syslog::Syslog::remote(url)
            .map(Sink::Syslog)
            .map_err(LogError::Syslog);
    }
    if plan.syslog {
        return syslog::Syslog::local()
            .map(Sink::Syslog)
            .map_err(LogError::Syslog);
    }
    Ok(Sink::Stderr)
}

/// SIGUSR1: closes and reopens the log file (after `mv` by a rotation
/// tool), as nats-server's `ReOpenLogFile`.
pub fn reopen() {
    let reopened = {
        let mut l = logger();
        flush_locked(&mut l);
        match &mut l.sink {
            Sink::File(f) => Some(f.reopen()),
            _ => None,
        }
    };
    match reopened {
        Some(Ok(())) => crate::log_info!("File log re-opened"),
        Some(Err(e)) => crate::log_error!("File log re-open failed: {e}"),
        None => crate::log_info!("File log re-open ignored, not a file logger"),
    }
}

/// Whether lines of `level` are written (check before building costly
/// messages).
pub fn enabled(level: Level) -> bool {
    match level {
        Level::Debug => DEBUG.load(Ordering::Relaxed),
        Level::Trace => TRACE.load(Ordering::Relaxed),
        _ => true,
    }
}

/// Writes one server line now (use the `log_*!` macros).
pub fn write(level: Level, message: std::fmt::Arguments<'_>) {
    if !enabled(level) {
        return;
    }
    let mut l = logger();
    if let Sink::Syslog(s) = &mut l.sink {
        s.send(level, message);
        return;
    }
    let line = server_line(l.logtime, level, message);
    l.buf.extend_from_slice(line.as_bytes());
    flush_locked(&mut l);
}

/// `[PID] date [INF] message\n`, as nats-server's file and stderr loggers.
fn server_line(logtime: bool, level: Level, message: std::fmt::Arguments<'_>) -> String {
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
    line
}

/// Appends one proxy access line, which `render` writes into the log's
/// buffer (a newline is added): the request path renders in place, with no
/// formatting machinery or line allocation per request. Written within
/// [`FLUSH_EVERY`].
pub fn access(render: impl FnOnce(&mut Vec<u8>)) {
    FLUSHER.call_once(|| {
        let spawned = std::thread::Builder::new()
            .name("edge-log".into())
            .spawn(|| loop {
                std::thread::sleep(FLUSH_EVERY);
                flush();
            });
        if spawned.is_err() {
            UNBUFFERED.store(true, Ordering::Relaxed);
        }
    });
    let mut l = logger();
    if let Sink::Syslog(s) = &mut l.sink {
        let mut line = Vec::new();
        render(&mut line);
        s.send(
            Level::Info,
            format_args!("{}", String::from_utf8_lossy(&line)),
        );
        return;
    }
    render(&mut l.buf);
    l.buf.push(b'\n');
    if l.buf.len() >= HIGH_WATER || UNBUFFERED.load(Ordering::Relaxed) {
        flush_locked(&mut l);
    }
}

/// Writes whatever is buffered now (at shutdown, and by the flusher).
pub fn flush() {
    flush_locked(&mut logger());
}

fn flush_locked(l: &mut Logger) {
    if l.buf.is_empty() {
        return;
    }
    let Logger { sink, buf, logtime } = l;
    match sink {
        Sink::Stderr => {
            let _ = std::io::stderr().lock().write_all(buf);
        }
        Sink::File(f) => {
            if let Some(rotated) = f.write(buf) {
                // nats-server's line in the new file.
                let quoted = crate::nats::quote::go_quote(rotated.as_bytes());
                let line = server_line(
                    *logtime,
                    Level::Info,
                    format_args!("Rotated log, backup saved as {quoted}"),
                );
                f.write(line.as_bytes());
            }
        }
        Sink::Syslog(_) => {}
    }
    buf.clear();
    if buf.capacity() > 4 * HIGH_WATER {
        buf.shrink_to(HIGH_WATER);
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
