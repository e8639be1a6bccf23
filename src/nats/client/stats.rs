//! What `/connz` and `/varz` report about a connection: its CONNECT
//! metadata, counters, and why it closed.
//!
//! Counters are cheap on the message path: the reader counts what it reads
//! in locals and publishes them once per read batch ([`Activity`]), and a
//! receiver's delivered messages are counted under its outbound lock, which
//! queueing a message already holds.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Why a connection closed, with nats-server's `ClosedState` wording.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CloseReason {
    /// The client closed its side (EOF).
    ClientClosed,
    /// Reading from the socket failed.
    ReadError,
    /// Writing to the socket failed.
    WriteError,
    /// The outbound buffer would exceed `max_pending`.
    SlowConsumerPendingBytes,
    /// A write did not finish within `write_deadline`.
    SlowConsumerWriteDeadline,
    /// `ping_max` PINGs went unanswered.
    StaleConnection,
    /// A protocol line could not be parsed.
    ProtocolViolation,
    /// CONNECT asked for an unknown protocol version.
    BadClientProtocolVersion,
    /// CONNECT asked for no_responders without headers.
    NoRespondersRequiresHeaders,
    /// Authentication or authorization failed.
    AuthenticationViolation,
    /// No CONNECT authenticated within the authorization timeout.
    AuthenticationTimeout,
    /// `max_connections` were already open.
    MaxConnectionsExceeded,
    /// A payload above `max_payload`.
    MaxPayloadExceeded,
    /// A control line above `max_control_line`.
    MaxControlLineExceeded,
    /// The server is shutting down.
    ServerShutdown,
}

impl CloseReason {
    /// The `reason` string nats-server shows in `/connz?state=closed`.
    pub fn as_str(self) -> &'static str {
        match self {
            CloseReason::ClientClosed => "Client Closed",
            CloseReason::ReadError => "Read Error",
            CloseReason::WriteError => "Write Error",
            CloseReason::SlowConsumerPendingBytes => "Slow Consumer (Pending Bytes)",
            CloseReason::SlowConsumerWriteDeadline => "Slow Consumer (Write Deadline)",
            CloseReason::StaleConnection => "Stale Connection",
            CloseReason::ProtocolViolation => "Protocol Violation",
            CloseReason::BadClientProtocolVersion => "Bad Client Protocol Version",
            CloseReason::NoRespondersRequiresHeaders => "No Responders Requires Headers",
            CloseReason::AuthenticationViolation => "Authentication Failure",
            CloseReason::AuthenticationTimeout => "Authentication Timeout",
            CloseReason::MaxConnectionsExceeded => "Maximum Connections Exceeded",
            CloseReason::MaxPayloadExceeded => "Maximum Message Payload Exceeded",
            CloseReason::MaxControlLineExceeded => "Maximum Control Line Exceeded",
            CloseReason::ServerShutdown => "Server Shutdown",
        }
    }

    /// Whether the reason counts as a slow consumer in `/varz`.
    pub fn is_slow_consumer(self) -> bool {
        matches!(
            self,
            CloseReason::SlowConsumerPendingBytes | CloseReason::SlowConsumerWriteDeadline
        )
    }
}

/// The CONNECT fields `/connz` shows.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClientMeta {
    /// `name`.
    pub name: String,
    /// `lang`.
    pub lang: String,
    /// `version`.
    pub version: String,
    /// `user` (the `/connz?user=` filter matches it).
    pub user: String,
}

/// What the reader publishes once per read batch (and on PONG): read
/// under no lock by monitoring. (Deliveries to the client stamp their own
/// time under its outbound lock; last activity is the later of both.)
#[derive(Debug, Default)]
pub(super) struct Activity {
    pub(super) in_msgs: AtomicU64,
    pub(super) in_bytes: AtomicU64,
    /// Last read, as nanoseconds since the Unix epoch.
    pub(super) last: AtomicU64,
    /// Round trip of our last answered PING, in nanoseconds (0: unknown).
    pub(super) rtt: AtomicU64,
}

impl Activity {
    /// Adds a batch's counts.
    pub(super) fn publish(&self, msgs: u64, bytes: u64) {
        if msgs > 0 {
            self.in_msgs.fetch_add(msgs, Ordering::Relaxed);
            self.in_bytes.fetch_add(bytes, Ordering::Relaxed);
        }
    }

    /// Stamps the last activity (epoch nanoseconds).
    pub(super) fn touch(&self, at: u64) {
        self.last.store(at, Ordering::Relaxed);
    }
}

/// Nanoseconds since the Unix epoch (0 before it).
pub(super) fn epoch_nanos(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

/// One subscription as `/connz?subs=detail` and `/subsz?subs=1` list it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubSnapshot {
    /// The filter subscribed to.
    pub subject: String,
    /// The queue group, if any.
    pub queue: Option<String>,
    /// The client's subscription id.
    pub sid: String,
    /// Messages delivered so far.
    pub msgs: u64,
    /// The auto-unsubscribe limit (0: none).
    pub max: u64,
    /// The owning client.
    pub cid: u64,
}

/// A connection as `/connz` reports it, open or closed: copied out of the
/// live handle so the monitor never holds a client lock while it formats.
#[derive(Debug, Clone)]
pub struct ConnSnapshot {
    /// Client id.
    pub cid: u64,
    /// Peer address.
    pub peer: SocketAddr,
    /// When the connection was accepted.
    pub start: SystemTime,
    /// Last read from the client.
    pub last_activity: SystemTime,
    /// When it closed (closed connections only).
    pub stop: Option<SystemTime>,
    /// Why it closed (closed connections only).
    pub reason: Option<CloseReason>,
    /// Round trip of our last answered PING (zero: none yet).
    pub rtt: Duration,
    /// Bytes buffered for the client, not yet written.
    pub pending_bytes: usize,
    /// Messages published by the client.
    pub in_msgs: u64,
    /// Messages delivered to the client.
    pub out_msgs: u64,
    /// Payload bytes published by the client.
    pub in_bytes: u64,
    /// Payload bytes delivered to the client.
    pub out_bytes: u64,
    /// CONNECT metadata.
    pub meta: ClientMeta,
    /// Its subscriptions (in no particular order).
    pub subs: Vec<SubSnapshot>,
}

/// The close reason nats-server records for a parse failure: payload and
/// control line limits and authorization have their own, the rest are
/// protocol violations.
pub(super) fn reason_for(e: &crate::nats::protocol::ProtocolError) -> CloseReason {
    use crate::nats::protocol::ProtocolError as E;
    match e {
        E::MaxPayload => CloseReason::MaxPayloadExceeded,
        E::MaxControlLine => CloseReason::MaxControlLineExceeded,
        E::AuthorizationViolation => CloseReason::AuthenticationViolation,
        _ => CloseReason::ProtocolViolation,
    }
}

/// What one read batch published and delivered (published to the client's
/// handle and the server's totals at the end of the batch).
#[derive(Debug, Default)]
pub(super) struct Batch {
    pub(super) in_msgs: u64,
    pub(super) in_bytes: u64,
    pub(super) out_msgs: u64,
    pub(super) out_bytes: u64,
    /// SUBs and UNSUBs.
    pub(super) subs: u64,
    /// The batch's time (epoch nanoseconds), taken at its first delivery
    /// or at its end; 0 until then.
    pub(super) at: u64,
}

impl Batch {
    /// The batch's time, read from the clock once per batch.
    pub(super) fn stamp(&mut self) -> u64 {
        if self.at == 0 {
            self.at = epoch_nanos(SystemTime::now());
        }
        self.at
    }
}

/// The reader's monitoring bookkeeping, kept here so the protocol code
/// in `mod.rs` only calls it.
impl super::Conn {
    /// Publishes the batch's counters to the handle and the server totals,
    /// and stamps last activity as nats-server does when the client
    /// published or (un)subscribed (deliveries stamped their receivers).
    pub(super) fn publish_batch(&mut self) {
        let mut b = std::mem::take(&mut self.batch);
        self.handle.activity.publish(b.in_msgs, b.in_bytes);
        if b.in_msgs > 0 || b.subs > 0 {
            self.handle.activity.touch(b.stamp());
        }
        self.shared
            .registry
            .add_traffic(b.in_msgs, b.in_bytes, b.out_msgs, b.out_bytes);
    }

    /// After a CONNECT (`keep`: accepted): its name/lang/version, the RTT
    /// estimated as nats-server does (accept to CONNECT, until a PONG
    /// measures it), and the close reason of a refused one.
    pub(super) fn after_connect(&mut self, keep: bool) {
        *super::lock(&self.handle.meta) = self.opts.meta.clone();
        self.handle.activity.touch(epoch_nanos(SystemTime::now()));
        let since = self.handle.start.elapsed().unwrap_or_default();
        self.store_rtt(since);
        if !keep && self.reason.is_none() {
            self.reason = Some(CloseReason::AuthenticationViolation);
        }
    }

    /// A PONG answering our PING measures the round trip.
    pub(super) fn pong_measures_rtt(&mut self) {
        if let Some(sent) = self.ping_sent.take() {
            self.store_rtt(sent.elapsed());
        }
    }

    fn store_rtt(&self, rtt: Duration) {
        let nanos = u64::try_from(rtt.as_nanos()).unwrap_or(u64::MAX);
        self.handle
            .activity
            .rtt
            .store(nanos.max(1), Ordering::Relaxed);
    }
}
