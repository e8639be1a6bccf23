//! Choosing a route's target: round robin, least connections, random or
//! client IP hash, over the targets currently in the rotation.
//!
//! A target leaves the rotation when active health checks fail
//! `unhealthy_threshold` times in a row (it comes back after
//! `healthy_threshold` passes), or, on routes with several targets, for
//! [`PASSIVE_EJECTION`] after a failed connection (node-http-proxy has no
//! balancing at all).

use crate::plan::proxy::{Balance, Target};
use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How long a target whose connection failed stays out of the rotation
/// when the route has other targets.
pub const PASSIVE_EJECTION: Duration = Duration::from_secs(10);

/// One target and its live state.
#[derive(Debug)]
pub struct TargetState {
    /// The upstream.
    pub target: Target,
    /// The upstream as the access log and errors show it (formatted once).
    label: String,
    /// Passes active health checks (true until a check says otherwise).
    healthy: AtomicBool,
    /// Out of the rotation until this many ms after the balancer's epoch.
    ejected_until: AtomicU64,
    /// Requests in flight (for `least_conn`).
    in_flight: AtomicUsize,
}

/// The targets of one route and how to choose among them.
#[derive(Debug)]
pub struct Balancer {
    targets: Vec<TargetState>,
    strategy: Balance,
    next: AtomicUsize,
    rng: AtomicU64,
    epoch: Instant,
    ejection: Duration,
}

/// Counts a request in flight on a target until dropped.
#[derive(Debug)]
pub struct InFlight {
    balancer: Arc<Balancer>,
    index: usize,
}

impl InFlight {
    /// The target chosen.
    pub fn target(&self) -> &Target {
        &self.balancer.targets[self.index].target
    }

    /// The target as logs and errors show it (formatted once).
    pub fn label(&self) -> &str {
        &self.balancer.targets[self.index].label
    }

    /// Its index in the route's targets.
    pub fn index(&self) -> usize {
        self.index
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        if let Some(t) = self.balancer.targets.get(self.index) {
            t.in_flight.fetch_sub(1, Ordering::Relaxed);
        }
    }
}

impl Balancer {
    /// A balancer over `targets`, every one in the rotation.
    pub fn new(targets: &[Target], strategy: Balance) -> Self {
        let mut seed = [0u8; 8];
        let _ = getrandom::fill(&mut seed);
        Balancer {
            targets: targets
                .iter()
                .map(|t| TargetState {
                    target: t.clone(),
                    label: t.to_string(),
                    healthy: AtomicBool::new(true),
                    ejected_until: AtomicU64::new(0),
                    in_flight: AtomicUsize::new(0),
                })
                .collect(),
            strategy,
            next: AtomicUsize::new(0),
            rng: AtomicU64::new(u64::from_le_bytes(seed) | 1),
            epoch: Instant::now(),
            ejection: PASSIVE_EJECTION,
        }
    }

    /// The same balancer with another passive ejection time (tests use a
    /// short one to see a target come back).
    pub fn with_ejection(mut self, ejection: Duration) -> Self {
        self.ejection = ejection;
        self
    }

    /// The targets, in plan order.
    pub fn targets(&self) -> impl Iterator<Item = &Target> {
        self.targets.iter().map(|t| &t.target)
    }

    fn now_ms(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    /// Healthy and not ejected; `now` (the clock read) only for a target
    /// that was ejected.
    fn available(&self, i: usize, now: impl FnOnce() -> u64) -> bool {
        self.targets.get(i).is_some_and(|t| {
            let until = t.ejected_until.load(Ordering::Relaxed);
            t.healthy.load(Ordering::Relaxed) && (until == 0 || until <= now())
        })
    }

    /// Chooses a target in the rotation and not in `tried`; `None` when
    /// there is none (the request gets 502).
    pub fn pick(self: &Arc<Self>, client: IpAddr, tried: &[usize]) -> Option<InFlight> {
        let n = self.targets.len();
        let now = std::cell::OnceCell::new();
        let now = || *now.get_or_init(|| self.now_ms());
        let ok = |i: usize| self.available(i, now) && !tried.contains(&i);
        let index = match self.strategy {
            Balance::RoundRobin => {
                let start = self.next.fetch_add(1, Ordering::Relaxed);
                (0..n).map(|k| (start + k) % n).find(|&i| ok(i))
            }
            Balance::Random => {
                let start = self.random() as usize;
                (0..n).map(|k| (start + k) % n).find(|&i| ok(i))
            }
            Balance::IpHash => {
                let start = ip_hash(client) as usize;
                (0..n).map(|k| (start + k) % n).find(|&i| ok(i))
            }
            Balance::LeastConn => {
                let start = self.next.fetch_add(1, Ordering::Relaxed);
                (0..n)
                    .map(|k| (start + k) % n)
                    .filter(|&i| ok(i))
                    .min_by_key(|&i| self.targets[i].in_flight.load(Ordering::Relaxed))
            }
        }?;
        self.targets[index]
            .in_flight
            .fetch_add(1, Ordering::Relaxed);
        Some(InFlight {
            balancer: Arc::clone(self),
            index,
        })
    }

    /// A connection to target `i` failed: out of the rotation for the
    /// ejection time ([`PASSIVE_EJECTION`]) when the route has another
    /// target; it comes back by itself afterwards.
    pub fn connect_failed(&self, i: usize) {
        if self.targets.len() > 1 {
            if let Some(t) = self.targets.get(i) {
                let ms = u64::try_from(self.ejection.as_millis()).unwrap_or(u64::MAX);
                t.ejected_until
                    .store(self.now_ms().saturating_add(ms), Ordering::Relaxed);
                crate::log_warn!(
                    "Proxy target {} out of the rotation for {:?} (connect failed)",
                    t.target,
                    self.ejection
                );
            }
        }
    }

    /// Sets target `i`'s health-check verdict (a pass also ends a passive
    /// ejection).
    pub fn set_healthy(&self, i: usize, healthy: bool) {
        if let Some(t) = self.targets.get(i) {
            if healthy {
                t.ejected_until.store(0, Ordering::Relaxed);
            }
            t.healthy.store(healthy, Ordering::Relaxed);
        }
    }

    /// xorshift64: good enough to spread load, not for secrets.
    fn random(&self) -> u64 {
        let mut x = self.rng.load(Ordering::Relaxed);
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.rng.store(x, Ordering::Relaxed);
        x
    }
}

/// FNV-1a over the address bytes (IPv4-mapped IPv6 as IPv4).
fn ip_hash(ip: IpAddr) -> u64 {
    let bytes = match ip.to_canonical() {
        IpAddr::V4(v4) => v4.octets().to_vec(),
        IpAddr::V6(v6) => v6.octets().to_vec(),
    };
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::proxy::Scheme;

    fn targets(n: u16) -> Vec<Target> {
        (0..n)
            .map(|i| Target {
                scheme: Scheme::Http,
                host: "127.0.0.1".into(),
                port: 9000 + i,
                path: "/".into(),
            })
            .collect()
    }

    const IP: IpAddr = IpAddr::V4(std::net::Ipv4Addr::LOCALHOST);

    #[test]
    fn round_robin_cycles_and_skips_unhealthy() {
        let b = Arc::new(Balancer::new(&targets(3), Balance::RoundRobin));
        let seq: Vec<usize> = (0..6).map(|_| b.pick(IP, &[]).unwrap().index()).collect();
        assert_eq!(seq, vec![0, 1, 2, 0, 1, 2]);
        b.set_healthy(1, false);
        let seq: Vec<usize> = (0..4).map(|_| b.pick(IP, &[]).unwrap().index()).collect();
        assert!(!seq.contains(&1));
        b.set_healthy(0, false);
        b.set_healthy(2, false);
        assert!(b.pick(IP, &[]).is_none());
    }

    #[test]
    fn least_conn_prefers_idle() {
        let b = Arc::new(Balancer::new(&targets(2), Balance::LeastConn));
        let held = b.pick(IP, &[]).unwrap();
        for _ in 0..4 {
            assert_ne!(b.pick(IP, &[]).unwrap().index(), held.index());
        }
    }

    #[test]
    fn ip_hash_is_sticky_and_tried_excluded() {
        let b = Arc::new(Balancer::new(&targets(4), Balance::IpHash));
        let first = b.pick(IP, &[]).unwrap().index();
        for _ in 0..5 {
            assert_eq!(b.pick(IP, &[]).unwrap().index(), first);
        }
        assert_ne!(b.pick(IP, &[first]).unwrap().index(), first);
    }

    #[test]
    fn passive_ejection_only_with_alternatives() {
        let one = Arc::new(Balancer::new(&targets(1), Balance::RoundRobin));
        one.connect_failed(0);
        assert!(one.pick(IP, &[]).is_some());
        let two = Arc::new(Balancer::new(&targets(2), Balance::Random));
        two.connect_failed(0);
        for _ in 0..5 {
            assert_eq!(two.pick(IP, &[]).unwrap().index(), 1);
        }
        two.set_healthy(0, true);
        assert!((0..20).any(|_| two.pick(IP, &[]).unwrap().index() == 0));
    }

    #[test]
    fn an_ejected_target_comes_back_after_the_ejection_time() {
        let b = Arc::new(
            Balancer::new(&targets(2), Balance::RoundRobin)
                .with_ejection(Duration::from_millis(50)),
        );
        b.connect_failed(0);
        assert!((0..4).all(|_| b.pick(IP, &[]).unwrap().index() == 1));
        std::thread::sleep(Duration::from_millis(80));
        assert!((0..4).any(|_| b.pick(IP, &[]).unwrap().index() == 0));
    }
}
