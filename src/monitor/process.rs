//! The process's memory and CPU use, as nats-server's `pse` package reads
//! them on Linux: resident set size in bytes, and CPU percent over the
//! interval since the previous sample.

use std::sync::Mutex;
use std::time::Instant;

/// Clock ticks per second of `/proc/self/stat` times (`CLK_TCK`, 100 on
/// every Linux platform edge builds for).
const TICKS_PER_SEC: f64 = 100.0;

/// The previous CPU sample, so `/varz` reports recent use.
#[derive(Debug)]
pub struct CpuMeter {
    last: Mutex<Option<(Instant, u64, f64)>>,
}

impl Default for CpuMeter {
    fn default() -> Self {
        let meter = CpuMeter {
            last: Mutex::new(None),
        };
        meter.sample();
        meter
    }
}

impl CpuMeter {
    /// CPU percent since the previous sample taken at least a second ago
    /// (the previous figure when called sooner), in tenths of a percent.
    pub fn sample(&self) -> f64 {
        let Some(ticks) = cpu_ticks() else {
            return 0.0;
        };
        let now = Instant::now();
        let mut last = self.last.lock().unwrap_or_else(|p| p.into_inner());
        match *last {
            Some((at, prev, pct)) => {
                let secs = now.duration_since(at).as_secs_f64();
                if secs < 1.0 {
                    return pct;
                }
                let used = ticks.saturating_sub(prev) as f64 / TICKS_PER_SEC;
                // Per mille truncated, then tenths, as nats-server's pse.
                let pct = (used / secs * 1000.0).trunc() / 10.0;
                *last = Some((now, ticks, pct));
                pct
            }
            None => {
                *last = Some((now, ticks, 0.0));
                0.0
            }
        }
    }
}

/// utime + stime of this process, in clock ticks.
fn cpu_ticks() -> Option<u64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the parenthesised command name; utime and stime are
    // the 14th and 15th fields overall.
    let rest = stat.rsplit_once(')')?.1;
    let mut fields = rest.split_whitespace().skip(11);
    let utime: u64 = fields.next()?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some(utime + stime)
}

/// Resident set size in bytes (0 when unknown), from `VmRSS` (in kB,
/// whatever the page size).
pub fn rss() -> i64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            let line = s.lines().find(|l| l.starts_with("VmRSS:"))?;
            line.split_whitespace().nth(1)?.parse::<i64>().ok()
        })
        .map_or(0, |kb| kb * 1024)
}

#[cfg(test)]
mod tests {
    #[test]
    fn reads_this_process() {
        if cfg!(target_os = "linux") {
            assert!(super::rss() > 0);
            assert!(super::cpu_ticks().is_some());
        }
    }
}
