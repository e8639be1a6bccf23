//! A process's resident memory, read from /proc (shared by the tests and
//! the benchmarks, which compare it across servers).

/// VmRSS of `pid` in KiB; 0 when /proc has no such process.
pub fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}
