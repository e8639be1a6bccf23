//! Runs the nats-py (official Python client) suite in `tests/python`
//! against this build of `edge`.
//!
//! Needs `python3 -m pip install -r tests/python/requirements.txt`. Without
//! nats-py the test is skipped loudly on a dev machine, and fails when the
//! env var `CI` is set: CI must run it.

use std::io::{Read, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The whole pytest run may take at most this long; then it is killed.
const LIMIT: Duration = Duration::from_secs(300);

#[test]
fn nats_py_suite() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let probe = Command::new("python3")
        .args(["-c", "import nats, pytest, pytest_asyncio"])
        .current_dir(root)
        .output();
    let ready = matches!(&probe, Ok(out) if out.status.success());
    if !ready {
        let why = match &probe {
            Ok(out) => String::from_utf8_lossy(&out.stderr).into_owned(),
            Err(e) => format!("python3: {e}"),
        };
        assert!(
            std::env::var_os("CI").is_none(),
            "CI is set but the nats-py suite cannot run: {why}\n\
             install it with: python3 -m pip install -r tests/python/requirements.txt"
        );
        // Straight to stderr, not eprintln!: libtest would capture that and
        // hide it for a passing test.
        let _ = writeln!(
            std::io::stderr(),
            "\n=============================================================\n\
             SKIPPED: nats-py suite. pip install -r tests/python/requirements.txt\n\
             ({})\n\
             =============================================================",
            why.trim()
        );
        return;
    }

    let mut child = Command::new("python3")
        .args(["-m", "pytest", "-q", "-p", "no:cacheprovider"])
        // pytest-asyncio warns unless this is set; tests/python has no ini file.
        .args([
            "-o",
            "asyncio_default_fixture_loop_scope=function",
            "tests/python",
        ])
        .env("EDGE_BIN", env!("CARGO_BIN_EXE_edge"))
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .current_dir(root)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn python3 -m pytest");
    // Drain both pipes on threads so a full pipe cannot stall pytest.
    let mut out_pipe = child.stdout.take().expect("stdout");
    let mut err_pipe = child.stderr.take().expect("stderr");
    let out_thread = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = out_pipe.read_to_string(&mut s);
        s
    });
    let err_thread = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = err_pipe.read_to_string(&mut s);
        s
    });
    let deadline = Instant::now() + LIMIT;
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for pytest") {
            break Some(status);
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let stdout = out_thread.join().unwrap_or_default();
    let stderr = err_thread.join().unwrap_or_default();
    let summary = stdout.lines().last().unwrap_or("(no output)");
    // Straight to stderr so it shows without --nocapture.
    let _ = writeln!(std::io::stderr(), "nats-py suite: {summary}");
    match status {
        Some(status) if status.success() => {}
        Some(status) => panic!("pytest failed ({status}):\n{stdout}\n{stderr}"),
        None => panic!("pytest did not finish within {LIMIT:?}:\n{stdout}\n{stderr}"),
    }
}
