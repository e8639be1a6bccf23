//! Free loopback ports for test servers, taken from below the kernel's
//! ephemeral range (shared by the tests and the benchmarks).
//!
//! A port from `bind(0)` lies in the ephemeral range, the range the kernel
//! also hands client sockets as source ports. Between our release of such a
//! port and the server's bind, a client socket may take it; and a harness
//! polling it with `connect` before the server listens can be given that
//! same port as its source and connect to itself (TCP simultaneous open).
//! Either way the server's bind fails with "Address already in use" while
//! the harness believes it is up. Below the range neither can happen.

use std::sync::Mutex;

/// The lowest port handed out.
const FLOOR: u16 = 10_000;

/// A port nothing listens on right now, never the same twice in one
/// process (each process starts at its own place in the range).
pub fn free_port() -> u16 {
    // The next port to try, and the end of the range (read once).
    static NEXT: Mutex<Option<(u16, u16)>> = Mutex::new(None);
    let mut next = NEXT.lock().unwrap_or_else(|e| e.into_inner());
    let (port, top) = next.get_or_insert_with(|| {
        let top = ephemeral_low().max(FLOOR + 1_000);
        // Processes started together have close ids: spread them over the
        // range (Knuth's multiplicative hash) so their walks do not meet.
        let spread = u64::from(std::process::id()).wrapping_mul(2_654_435_761);
        let offset = u16::try_from(spread % u64::from(top - FLOOR)).unwrap_or(0);
        (FLOOR + offset, top)
    });
    for _ in FLOOR..*top {
        let candidate = *port;
        *port = if candidate + 1 >= *top {
            FLOOR
        } else {
            candidate + 1
        };
        if std::net::TcpListener::bind(("127.0.0.1", candidate)).is_ok() {
            return candidate;
        }
    }
    panic!("no free port in {FLOOR}..{top}");
}

/// The first ephemeral port (Linux's `ip_local_port_range`; 32768 when it
/// cannot be read).
fn ephemeral_low() -> u16 {
    std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse().ok())
        .unwrap_or(32_768)
}
