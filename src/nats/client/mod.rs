//! One client connection: a reader task that parses and delivers, and a
//! writer task that flushes the outbound buffer.
//!
//! Everything a client is sent (its own `PONG`/`+OK`/`-ERR`, and messages
//! other clients publish to it) is appended to its [`ClientHandle`]'s
//! outbound buffer. Publishers do not wake the writer per message: the
//! reader of each read batch collects the clients it appended to and wakes
//! each writer once at the end of the batch, and a writer writes everything
//! buffered in one `write_all`. A client whose buffer would exceed
//! `max_pending` is a slow consumer and is closed; nobody else waits for it.

mod opts;
mod outbound;
mod rules;
mod stats;
mod subscription;

pub use outbound::ClientHandle;
pub use stats::{ClientMeta, CloseReason, ConnSnapshot, SubSnapshot};
pub use subscription::{SubRef, Subscription};

use super::auth::new_nonce;
use super::cert_names::CertNames;
use super::imports::StreamImport;
use super::permissions::Permissions;
use super::protocol::{Config, Op, Parser, ProtocolError};
use super::quote::go_quote;
use super::rand::Xorshift;
use super::server::Shared;
use super::services::{AccountServices, ServiceImport};
use super::subject::{is_valid_filter, is_valid_publish_subject};
use super::sublist::{MatchResult, SharedSublist};
use bytes::{Buf, Bytes, BytesMut};
use opts::Opts;
use outbound::{lock, write_loop, Queued};
use std::io::Write as _;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;

/// The content type of a TLS handshake record: a client hello starts so.
const TLS_HANDSHAKE_RECORD: u8 = 0x16;
/// nats-server's `firstClientPingInterval`.
const FIRST_PING: Duration = Duration::from_secs(2);
/// nats-server re-measures the round trip (a PING whatever the activity)
/// once the last PING is this old (`DEFAULT_RTT_MEASUREMENT_INTERVAL`).
const RTT_MEASUREMENT_INTERVAL: Duration = Duration::from_secs(3600);
const OK: &[u8] = b"+OK\r\n";
const PING: &[u8] = b"PING\r\n";
const PONG: &[u8] = b"PONG\r\n";
const ERR_INVALID_SUBJECT: &[u8] = b"-ERR 'Invalid Subject'\r\n";
const ERR_INVALID_PUBLISH: &[u8] = b"-ERR 'Invalid Publish Subject'\r\n";
const ERR_MAX_SUBS: &[u8] = b"-ERR 'maximum subscriptions exceeded'\r\n";
const ERR_MAX_CONNS: &[u8] = b"-ERR 'maximum connections exceeded'\r\n";
const ERR_STALE: &[u8] = b"-ERR 'Stale Connection'\r\n";
const ERR_PROTOCOL: &[u8] = b"-ERR 'invalid client protocol'\r\n";
const ERR_NO_RESPONDERS: &[u8] = b"-ERR 'no responders requires headers support'\r\n";
const ERR_AUTH: &[u8] = b"-ERR 'Authorization Violation'\r\n";
const ERR_AUTH_TIMEOUT: &[u8] = b"-ERR 'Authentication Timeout'\r\n";
/// Publish permissions remembered per connection, as nats-server's
/// `maxPermCacheSize`.
const MAX_PERM_CACHE: usize = 128;
/// How many accounts a request or response may cross through chained
/// service imports.
const MAX_SERVICE_HOPS: usize = 8;
/// The status-only header block of a no-responders reply (16 bytes).
const NO_RESPONDERS_HDR: &[u8] = b"NATS/1.0 503\r\n\r\n";

/// The ping interval of `plan` (never zero: a timer needs a period).
fn ping_period(plan: &crate::plan::NatsPlan) -> Duration {
    plan.limits.ping_interval.max(Duration::from_millis(1))
}

/// A ping timer whose first tick is one `period` from now.
fn ping_timer(period: Duration) -> tokio::time::Interval {
    let mut ping = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
    ping.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    ping
}

/// Serves one accepted connection until it closes.
pub async fn serve(shared: Arc<Shared>, mut stream: TcpStream, peer: SocketAddr) {
    let cid = shared.next_client_id();
    let nonce = shared.auth.load().uses_nonce().then(new_nonce);
    let info = shared.info.load().line(cid, peer.ip(), nonce.as_deref());
    match &shared.tls {
        None => {
            let (reader, writer) = stream.into_split();
            let hello = Hello {
                nonce,
                info,
                cert: None,
            };
            serve_stream(shared, cid, peer, hello, reader, writer).await;
        }
        Some(tls) => {
            // As nats-server 2.9: INFO in plain text, then the client's TLS
            // handshake within the TLS timeout. Plain text, a failed
            // handshake or silence close the connection without a word.
            let greeted = tokio::time::timeout(tls.timeout, stream.write_all(&info)).await;
            if !matches!(greeted, Ok(Ok(()))) {
                return;
            }
            // Go's TLS closes without an alert when the first record is
            // not a handshake (a client speaking plain NATS); so does this.
            let mut first = [0u8; 1];
            let peeked = tokio::time::timeout(tls.timeout, stream.peek(&mut first)).await;
            if !matches!(peeked, Ok(Ok(1))) || first[0] != TLS_HANDSHAKE_RECORD {
                // Read what was sent, so the close is a FIN, not a reset.
                let mut sink = [0u8; 4096];
                while matches!(stream.try_read(&mut sink), Ok(n) if n > 0) {}
                let _ = stream.shutdown().await;
                return;
            }
            let Ok(Ok(stream)) =
                tokio::time::timeout(tls.timeout, tls.acceptor.accept(stream)).await
            else {
                return;
            };
            // Only verify_and_map needs the certificate's names.
            let cert = shared
                .auth
                .load()
                .maps_certificates()
                .then(|| stream.get_ref().1.peer_certificates())
                .flatten()
                .and_then(|chain| chain.first())
                .and_then(|der| CertNames::parse(der));
            let (reader, writer) = tokio::io::split(stream);
            let hello = Hello {
                nonce,
                info: Vec::new(),
                cert,
            };
            serve_stream(shared, cid, peer, hello, reader, writer).await;
        }
    }
}

/// What a connection starts with besides its socket.
struct Hello {
    /// The nonce its INFO carries.
    nonce: Option<String>,
    /// Its INFO line (empty when already sent).
    info: Vec<u8>,
    /// Its TLS certificate's names, when `verify_and_map` needs them.
    cert: Option<CertNames>,
}

/// Serves a connection greeted with `hello` (its INFO empty when already sent)
/// over `reader` and `writer`: a plain socket's halves or a TLS stream's.
async fn serve_stream<R, W>(
    shared: Arc<Shared>,
    cid: u64,
    peer: SocketAddr,
    hello: Hello,
    mut reader: R,
    writer: W,
) where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin + Send + 'static,
{
    let max_pending = usize::try_from(shared.plan.load().limits.max_pending).unwrap_or(usize::MAX);
    let handle = Arc::new(ClientHandle::new(cid, max_pending.max(1), peer));
    let plan = Arc::clone(&shared);
    let writer = tokio::spawn(write_loop(Arc::clone(&handle), writer, move || {
        plan.plan.load().limits.write_deadline
    }));
    // INFO is written whatever max_pending says (nats-server sends it
    // before counting pending bytes).
    lock(&handle.out).buf.extend_from_slice(&hello.info);
    if !shared.try_add_connection() {
        handle.queue(&[ERR_MAX_CONNS]);
        handle.close_for(CloseReason::MaxConnectionsExceeded);
        // nats-server counts it in total_connections and keeps it closed.
        shared.registry.opened(&handle);
        shared.registry.closed(&handle);
        let _ = writer.await;
        return;
    }
    shared.registry.opened(&handle);
    crate::log_debug!("{peer} - cid:{cid} - Client connection created");
    let mut conn = Conn::new(Arc::clone(&shared), Arc::clone(&handle), hello.nonce);
    conn.cert = hello.cert;
    conn.flush();
    let reason = conn.run(&mut reader).await;
    conn.flush();
    let reason = *lock(&handle.out).reason.get_or_insert(reason);
    crate::log_debug!(
        "{peer} - cid:{cid} - Client connection closed: {}",
        reason.as_str()
    );
    // Recorded with its subscriptions, before they are dropped below.
    shared.registry.closed(&handle);
    let subs: Vec<SubRef> = lock(&handle.subs).drain().map(|(_, s)| s).collect();
    conn.sublist.remove_batch(
        subs.iter()
            .map(|s| (&*s.0.subject, s.0.queue.as_deref(), s)),
    );
    shared.remove_connection();
    handle.close();
    let _ = writer.await;
}

/// The reader side of a connection.
struct Conn {
    shared: Arc<Shared>,
    handle: Arc<ClientHandle>,
    parser: Parser,
    opts: Opts,
    pings_out: i32,
    /// A round trip is estimated (nats-server's `rtt != 0`): set by an
    /// accepted CONNECT and by a PONG. Until then every ping tick sends a
    /// PING, active client or not.
    rtt_known: bool,
    /// When we last sent a PING (nats-server's `rttStart`): until the
    /// first one, and an hour after the last, a tick always sends one.
    pinged_at: Option<std::time::Instant>,
    /// When the client last sent a PING (nats-server's `ping.last`): a
    /// client pinging us is alive, so our PING waits.
    client_pinged_at: Option<std::time::Instant>,
    /// A CONNECT was read in this batch: the first-PING timer restarts.
    connect_seen: bool,
    /// The server's reload generation whose limits this connection has.
    generation: u64,
    /// The subscription index of the client's account.
    sublist: Arc<SharedSublist<SubRef>>,
    /// Other accounts' imports of this account's streams (None: none).
    imports: Option<Arc<Vec<StreamImport<SubRef>>>>,
    /// The account's service imports and reply mappings (None: none).
    services: Option<Arc<AccountServices<SubRef>>>,
    /// The nonce its INFO carried (nkey users sign it).
    nonce: Option<String>,
    /// Its TLS certificate's names, when `verify_and_map` looks users up by them.
    cert: Option<CertNames>,
    /// A CONNECT has authenticated it (or no authentication is configured).
    authenticated: bool,
    /// Its permissions, from its first authenticated CONNECT.
    perms: Option<Arc<Permissions>>,
    /// Publish verdicts of the permission lists, by subject.
    pub_cache: std::collections::HashMap<Box<[u8]>, bool>,
    /// Clients appended to in this read batch, to wake once at its end.
    touched: Vec<Arc<ClientHandle>>,
    line: Vec<u8>,
    rng: Xorshift,
    /// When our last unanswered PING was sent, to measure the round trip.
    ping_sent: Option<std::time::Instant>,
    /// Why the reader decided to close, when it did.
    reason: Option<CloseReason>,
    /// This batch's counts, published once per read batch.
    batch: stats::Batch,
}

impl Conn {
    fn new(shared: Arc<Shared>, handle: Arc<ClientHandle>, nonce: Option<String>) -> Self {
        let generation = shared.generation.load(std::sync::atomic::Ordering::Acquire);
        let plan = shared.plan.load();
        let limits = &plan.limits;
        let parser = Parser::new(Config {
            max_control_line: usize::try_from(limits.max_control_line).unwrap_or(0),
            max_payload: usize::try_from(limits.max_payload).unwrap_or(0),
            headers: false,
            awaiting_connect: shared.auth.load().awaits_connect(),
        });
        let sublist = Arc::clone(&shared.sublist);
        let imports = shared.stream_imports.get(super::GLOBAL_ACCOUNT).cloned();
        let services = shared.services.get(super::GLOBAL_ACCOUNT).cloned();
        let authenticated = !shared.auth.load().enabled();
        let rng = Xorshift::seeded(handle.cid);
        Conn {
            shared,
            handle,
            parser,
            opts: Opts::default(),
            pings_out: 0,
            rtt_known: false,
            pinged_at: None,
            client_pinged_at: None,
            connect_seen: false,
            generation,
            imports,
            services,
            sublist,
            nonce,
            cert: None,
            authenticated,
            perms: None,
            pub_cache: std::collections::HashMap::new(),
            touched: Vec::new(),
            line: Vec::with_capacity(256),
            rng,
            ping_sent: None,
            reason: None,
            batch: stats::Batch::default(),
        }
    }

    /// Reads and serves until the connection must close; says why.
    async fn run<R: AsyncRead + Unpin>(&mut self, reader: &mut R) -> CloseReason {
        let handle = Arc::clone(&self.handle);
        let mut period = ping_period(&self.shared.plan.load());
        // Until a CONNECT, nats-server's ping timer runs at the ping
        // interval; each CONNECT restarts it as the short first one.
        let mut ping = ping_timer(period);
        let mut buf = BytesMut::with_capacity(32 * 1024);
        // The authorization timeout, until a CONNECT authenticates.
        let auth_deadline = tokio::time::sleep(self.shared.plan.load().auth.timeout);
        tokio::pin!(auth_deadline);
        loop {
            if buf.capacity() - buf.len() < 4096 {
                buf.reserve(32 * 1024);
            }
            tokio::select! {
                read = reader.read_buf(&mut buf) => {
                    match read {
                        Ok(0) => return CloseReason::ClientClosed,
                        Err(_) => return CloseReason::ReadError,
                        Ok(_) => {
                            // A reload's limits apply from this read on;
                            // nats-server's timer takes a new interval when
                            // it is next set.
                            if let Some(reloaded) = self.reloaded() {
                                period = reloaded;
                                ping = ping_timer(period);
                            }
                            let keep = self.process(&mut buf);
                            if std::mem::take(&mut self.connect_seen) {
                                ping.reset_at(tokio::time::Instant::now() + self.first_ping(period));
                            }
                            self.publish_batch();
                            self.flush();
                            if !keep {
                                return self.reason.unwrap_or(CloseReason::ProtocolViolation);
                            }
                        }
                    }
                }
                _ = ping.tick() => {
                    if let Some(reloaded) = self.reloaded() {
                        period = reloaded;
                        ping = ping_timer(period);
                    }
                    if self.ping_can_wait(period) {
                        continue;
                    }
                    let keep = self.ping_tick();
                    self.flush();
                    if !keep {
                        return CloseReason::StaleConnection;
                    }
                }
                () = &mut auth_deadline, if !self.authenticated => {
                    self.send(ERR_AUTH_TIMEOUT);
                    self.flush();
                    return CloseReason::AuthenticationTimeout;
                }
                _ = handle.reauth.notified() => {
                    let keep = self.reauthenticate();
                    self.flush();
                    if !keep {
                        return CloseReason::AuthenticationViolation;
                    }
                }
                _ = handle.kill.notified() => return CloseReason::ClientClosed,
            }
        }
    }

    /// Wakes the writers of every client appended to in this batch.
    fn flush(&mut self) {
        for h in self.touched.drain(..) {
            h.wake_writer.notify_one();
        }
        self.handle.wake_writer.notify_one();
    }

    fn send(&self, bytes: &[u8]) {
        self.handle.queue(&[bytes]);
    }

    /// Every complete operation in `buf`, which keeps only the bytes of an
    /// unfinished one; false when the connection must close.
    fn process(&mut self, buf: &mut BytesMut) -> bool {
        let mut at = 0;
        let keep = loop {
            match self.parser.parse(&buf[at..]) {
                Ok((used, op)) => {
                    at += used;
                    match op {
                        Some(op) => {
                            let connect = matches!(op, Op::Connect(_));
                            let keep = self.op(op);
                            if connect {
                                self.after_connect(keep);
                            }
                            if !keep {
                                break false;
                            }
                        }
                        None => break true,
                    }
                }
                Err(e) => {
                    self.protocol_error(&e);
                    self.reason = Some(stats::reason_for(&e));
                    break false;
                }
            }
        };
        buf.advance(at);
        keep
    }

    fn protocol_error(&self, e: &ProtocolError) {
        if let Some(line) = e.err_line() {
            self.send(line);
        }
    }

    fn ok(&self) {
        if self.opts.verbose {
            self.send(OK);
        }
    }

    /// One operation; false when the connection must close.
    fn op(&mut self, op: Op<&[u8]>) -> bool {
        match op {
            Op::Connect(json) => {
                let accepted = self.connect(json);
                if accepted {
                    // nats-server's processConnect: activity, and a round
                    // trip estimated from the connection's start.
                    self.rtt_known = true;
                    let at = self.batch.stamp();
                    self.handle.activity.touch(at);
                }
                return accepted;
            }
            Op::Info(_) | Op::Ok => {}
            Op::Ping => {
                self.client_pinged_at = Some(std::time::Instant::now());
                self.send(PONG);
            }
            Op::Pong => {
                self.pings_out = 0;
                self.rtt_known = true;
                self.pong_measures_rtt();
            }
            Op::Pub {
                subject,
                reply,
                payload,
            } => {
                self.batch.in_msgs += 1;
                self.batch.in_bytes += payload.len() as u64;
                // nats-server checks the subject, answers +OK, then delivers.
                self.check_publish_subject(subject);
                if self.publish_allowed(subject, reply) {
                    self.ok();
                    self.publish(subject, reply, None, payload);
                }
            }
            Op::HPub {
                subject,
                reply,
                headers,
                payload,
            } => {
                self.batch.in_msgs += 1;
                self.batch.in_bytes += (headers.len() + payload.len()) as u64;
                self.check_publish_subject(subject);
                if self.publish_allowed(subject, reply) {
                    self.ok();
                    // An empty header block is delivered as a plain MSG.
                    let headers = Some(headers).filter(|h| !h.is_empty());
                    self.publish(subject, reply, headers, payload);
                }
            }
            Op::HMsg => self.ok(),
            Op::Sub {
                subject,
                queue,
                sid,
            } => {
                self.batch.subs += 1;
                self.subscribe(subject, queue, sid);
            }
            Op::Unsub { sid, max } => {
                self.batch.subs += 1;
                self.unsubscribe(sid, max.map(|m| u64::from(m.get())));
                self.ok();
            }
        }
        true
    }

    /// nats-server's `processConnect`: authentication, then the account
    /// designation, the protocol version and no-responders support.
    fn connect(&mut self, json: &[u8]) -> bool {
        self.connect_seen = true;
        self.opts.merge(json);
        let auth = self.shared.auth.load_full();
        if auth.enabled() {
            let nonce = self.nonce.as_deref().unwrap_or("");
            let Some(identity) =
                auth.authenticate(&self.opts.credentials(self.cert.as_ref()), nonce)
            else {
                self.send(ERR_AUTH);
                self.reason = Some(CloseReason::AuthenticationViolation);
                return false;
            };
            if !self.authenticated {
                self.authenticated = true;
                self.sublist = self.shared.account(&identity.account);
                self.imports = self.shared.stream_imports.get(&identity.account).cloned();
                self.services = self.shared.services.get(&identity.account).cloned();
                let _ = self.handle.account.set(Arc::clone(&identity.account));
                self.handle.rules.set(identity.permissions.as_ref());
                self.perms = identity.permissions;
            }
        }
        // An account named in CONNECT is refused, `$G` too, as nats-server.
        if self.opts.account.as_deref().is_some_and(|a| !a.is_empty()) {
            self.send(ERR_AUTH);
            return false;
        }
        if !(0..=1).contains(&self.opts.protocol) {
            self.send(ERR_PROTOCOL);
            self.reason = Some(CloseReason::BadClientProtocolVersion);
            return false;
        }
        let headers = self.shared.plan.load().headers && self.opts.headers;
        if self.opts.no_responders && !headers {
            self.send(ERR_NO_RESPONDERS);
            self.reason = Some(CloseReason::NoRespondersRequiresHeaders);
            return false;
        }
        self.parser.set_awaiting_connect(false);
        self.parser.set_headers(headers);
        self.handle
            .async_info
            .store(self.opts.protocol >= 1, Ordering::Relaxed);
        self.handle.headers.store(headers, Ordering::Relaxed);
        self.ok();
        true
    }

    /// After a reload: the client's credentials against the new users (a
    /// client that no longer passes, or now belongs to another account, is
    /// told `Authorization Violation` and closed), then its new permissions,
    /// under which subscriptions no longer allowed are removed with a
    /// violation naming their sid, as nats-server does. False to close.
    fn reauthenticate(&mut self) -> bool {
        let auth = self.shared.auth.load_full();
        if !self.authenticated || !auth.enabled() {
            return true;
        }
        let nonce = self.nonce.as_deref().unwrap_or("");
        let identity = auth.authenticate(&self.opts.credentials(self.cert.as_ref()), nonce);
        let same_account = identity
            .as_ref()
            .is_some_and(|id| Arc::ptr_eq(&self.shared.account(&id.account), &self.sublist));
        let Some(identity) = identity.filter(|_| same_account) else {
            self.send(ERR_AUTH);
            self.reason = Some(CloseReason::AuthenticationViolation);
            return false;
        };
        self.perms = identity.permissions;
        self.pub_cache.clear();
        self.handle.rules.set(self.perms.as_ref());
        let Some(perms) = self.perms.clone() else {
            return true;
        };
        let subs: Vec<SubRef> = lock(&self.handle.subs).values().cloned().collect();
        for sub in subs {
            let s = &sub.0;
            let queue = s.queue.as_deref().map(str::as_bytes);
            if !perms.can_subscribe(&s.subject, queue) {
                let line = format!(
                    "-ERR 'Permissions Violation for Subscription to {} (sid {})'\r\n",
                    go_quote(&s.subject),
                    go_quote(&s.sid)
                );
                self.send(line.as_bytes());
                self.remove_sub(&sub);
            } else if perms.needs_delivery_check(&s.subject) {
                self.handle.rules.check_deliveries();
            }
        }
        true
    }

    /// nats-server's checks before a publish is answered `+OK`: the
    /// gateway-reply prefix, the publish permissions, reserved reply
    /// prefixes. A violation is reported and the message dropped; the
    /// connection stays open.
    fn publish_allowed(&mut self, subject: &[u8], reply: Option<&[u8]>) -> bool {
        if subject.starts_with(b"_GR_.") {
            self.permission_violation("Publish", subject, None);
            return false;
        }
        // Field by field, so no reference count is taken per message.
        let allowed = match &self.perms {
            Some(perms) => can_publish(perms, &mut self.pub_cache, &self.handle.rules, subject),
            None => true,
        };
        if !allowed {
            self.permission_violation("Publish", subject, None);
            return false;
        }
        if let Some(reply) = reply.filter(|r| r.starts_with(b"_R_.") || r.starts_with(b"_GR_.")) {
            let line = format!(
                "-ERR 'Permissions Violation for Publish with Reply of {}'\r\n",
                go_quote(reply)
            );
            self.send(line.as_bytes());
            return false;
        }
        true
    }

    /// Only pedantic clients get their publish subject checked, as in
    /// nats-server 2.9.10 (`processPub`): an invalid literal is reported and
    /// the message is still published; others skip the scan entirely.
    fn check_publish_subject(&self, subject: &[u8]) {
        if self.opts.pedantic && !is_valid_publish_subject(subject) {
            self.send(ERR_INVALID_PUBLISH);
        }
    }

    fn publish(
        &mut self,
        subject: &[u8],
        reply: Option<&[u8]>,
        headers: Option<&[u8]>,
        payload: &[u8],
    ) {
        // As nats-server: any bytes are a subject (a pedantic client was
        // warned above); one with an empty token matches nothing.
        let result = self.sublist.matches(subject);
        let mut delivered = self.deliver_all(&result, subject, reply, headers, payload);
        if let Some(imports) = self.imports.clone() {
            for import in imports.iter() {
                if let Some(mapped) = import.map(subject) {
                    let result = import.into.matches(&*mapped);
                    delivered |= self.deliver_all(&result, &mapped, reply, headers, payload);
                }
            }
        }
        if let Some(services) = self.services.clone() {
            delivered |= self.publish_services(&services, subject, reply, headers, payload);
        }
        if !delivered && self.opts.no_responders {
            if let Some(reply) = reply {
                self.no_responders(reply);
            }
        }
    }

    /// nats-server's `processServiceImport`, for a publish in an account
    /// with services: a response on one of the account's reply mappings
    /// goes back to the requester's account under its own reply subject;
    /// a request on an imported subject goes to the exporting account with
    /// a mapped reply and a `Nats-Request-Info` header naming this account.
    /// True when a service took it (nats-server's internal subscription
    /// counts as a delivery, so the requester gets no 503 through an
    /// import even when nobody serves it).
    fn publish_services(
        &mut self,
        services: &AccountServices<SubRef>,
        subject: &[u8],
        reply: Option<&[u8]>,
        headers: Option<&[u8]>,
        payload: &[u8],
    ) -> bool {
        let msg = Crossing {
            headers,
            payload,
            origin: Arc::clone(&services.name),
            via: Vec::new(),
            hops: 0,
        };
        self.services_hop(services, subject, reply, msg)
    }

    /// One account's part of [`publish_services`](Self::publish_services):
    /// a request delivered into an exporting account also goes on through
    /// that account's own imports (A imports from B, which imports from C),
    /// and a response goes back through every mapping it passes. An
    /// import already on the request's way is not taken again (nats-server
    /// drops such cycles).
    fn services_hop(
        &mut self,
        services: &AccountServices<SubRef>,
        subject: &[u8],
        reply: Option<&[u8]>,
        msg: Crossing<'_>,
    ) -> bool {
        let mut taken = false;
        if let Some(responses) = services.responses.as_deref() {
            if responses.may_hold(subject) {
                taken = true;
                if let Some(route) = responses.lookup(subject) {
                    let result = route.into.matches(&route.reply);
                    let mut ok =
                        self.deliver_all(&result, &route.reply, None, msg.headers, msg.payload);
                    if msg.hops < MAX_SERVICE_HOPS {
                        if let Some(next) = self.shared.services.get(&route.account).cloned() {
                            let mut back = msg.clone();
                            back.hops += 1;
                            ok |= self.services_hop(&next, &route.reply, None, back);
                        }
                    }
                    let empty = msg.headers.is_none() && msg.payload.is_empty();
                    responses.responded(subject, ok, empty);
                }
            }
        }
        for import in &services.imports {
            if msg.via.iter().any(|&seen| std::ptr::eq(seen, import)) {
                continue;
            }
            let Some(to) = import.map(subject) else {
                continue;
            };
            taken = true;
            let mapped = reply.map(|r| {
                import.responses.map(
                    Arc::clone(&services.sublist),
                    Arc::clone(&services.name),
                    r,
                    import.response,
                    import.threshold,
                )
            });
            // Past the first hop the header also names the account the
            // request came through (nats-server's `svc`).
            let svc = (!msg.via.is_empty()).then_some(&*services.name);
            let info = self.request_info(&msg.origin, svc, msg.headers);
            let result = import.into.matches(&to);
            let mut ok =
                self.deliver_all(&result, &to, mapped.as_deref(), Some(&info), msg.payload);
            if msg.hops < MAX_SERVICE_HOPS {
                if let Some(next) = self.shared.services.get(&import.exporter).cloned() {
                    let mut onward = msg.clone();
                    onward.hops += 1;
                    onward.via.push(import);
                    ok |= self.services_hop(&next, &to, mapped.as_deref(), onward);
                }
            }
            if let (false, Some(m)) = (ok, &mapped) {
                import.responses.forget(m);
            }
        }
        taken
    }

    /// The header block of a request crossing into another account: the
    /// request's own headers (less any `Nats-Request-Info` it carried) plus
    /// `Nats-Request-Info: {"acc":..,"svc":..,"rtt":..}` naming the
    /// requester's account, the account it came through past the first
    /// hop, and the requester's round trip in nanoseconds (left out until
    /// known), as nats-server's `setHeader(ClientInfoHdr, ...)`.
    fn request_info(&self, account: &str, svc: Option<&str>, headers: Option<&[u8]>) -> Vec<u8> {
        const KEY: &[u8] = b"Nats-Request-Info:";
        let mut h = Vec::with_capacity(64 + headers.map_or(0, <[u8]>::len));
        match headers.and_then(|h| h.strip_suffix(b"\r\n")) {
            Some(own) => {
                for (i, line) in own.split_inclusive(|&b| b == b'\n').enumerate() {
                    if i == 0 || !line.starts_with(KEY) {
                        h.extend_from_slice(line);
                    }
                }
            }
            None => h.extend_from_slice(b"NATS/1.0\r\n"),
        }
        let mut json = format!("{{\"acc\":{}", serde_json::Value::from(account));
        if let Some(svc) = svc {
            json.push_str(&format!(",\"svc\":{}", serde_json::Value::from(svc)));
        }
        let rtt = self.handle.activity.rtt.load(Ordering::Relaxed);
        if rtt > 0 {
            json.push_str(&format!(",\"rtt\":{rtt}"));
        }
        json.push('}');
        h.extend_from_slice(KEY);
        h.push(b' ');
        h.extend_from_slice(json.as_bytes());
        h.extend_from_slice(b"\r\n\r\n");
        h
    }

    /// Delivers to every plain subscription of `result` and one member of
    /// each queue group (a random start, the next member when one cannot
    /// take it); true when anyone got it.
    fn deliver_all(
        &mut self,
        result: &MatchResult<SubRef>,
        subject: &[u8],
        reply: Option<&[u8]>,
        headers: Option<&[u8]>,
        payload: &[u8],
    ) -> bool {
        let mut delivered = false;
        for sub in &result.plain {
            delivered |= self.deliver(sub, subject, reply, headers, payload);
        }
        for group in &result.queues {
            let n = group.members.len();
            let start = (self.rng.next_u64() % n as u64) as usize;
            for i in 0..n {
                if self.deliver(
                    &group.members[(start + i) % n],
                    subject,
                    reply,
                    headers,
                    payload,
                ) {
                    delivered = true;
                    break;
                }
            }
        }
        delivered
    }

    /// Appends one message to `sub`'s client; false when it was not sent
    /// (echo off, or the subscription's max already reached).
    fn deliver(
        &mut self,
        sub: &SubRef,
        subject: &[u8],
        reply: Option<&[u8]>,
        headers: Option<&[u8]>,
        payload: &[u8],
    ) -> bool {
        let s = &sub.0;
        if s.client.cid == self.handle.cid && !self.opts.echo {
            return false;
        }
        if !s.client.rules.allows(subject) {
            return false;
        }
        let max = s.max.load(Ordering::Relaxed);
        let n = s.delivered.fetch_add(1, Ordering::Relaxed) + 1;
        if max > 0 && n > max {
            return false;
        }
        s.client.rules.received(reply);
        let headers = headers.filter(|_| s.client.headers.load(Ordering::Relaxed));
        self.line.clear();
        let line = &mut self.line;
        line.extend_from_slice(if headers.is_some() { b"HMSG " } else { b"MSG " });
        line.extend_from_slice(subject);
        line.push(b' ');
        line.extend_from_slice(&s.sid);
        line.push(b' ');
        if let Some(r) = reply {
            line.extend_from_slice(r);
            line.push(b' ');
        }
        let size = headers.map_or(0, <[u8]>::len) + payload.len();
        let at = self.batch.stamp();
        let queued = match headers {
            Some(h) => {
                let _ = write!(line, "{} {}\r\n", h.len(), size);
                s.client.queue_msg(&[line, h, payload, b"\r\n"], size, at)
            }
            None => {
                let _ = write!(line, "{}\r\n", payload.len());
                s.client.queue_msg(&[line, payload, b"\r\n"], size, at)
            }
        };
        if queued != Queued::Closed {
            self.batch.out_msgs += 1;
            self.batch.out_bytes += size as u64;
        }
        if queued == Queued::Appended(true) && s.client.cid != self.handle.cid {
            self.touched.push(Arc::clone(&s.client));
        }
        if max > 0 && n == max {
            self.remove_sub(sub);
        }
        true
    }

    /// The 503 status a requester with `no_responders` gets on the first of
    /// its own subscriptions that matches the reply subject.
    fn no_responders(&mut self, reply: &[u8]) {
        // As nats-server (`subForReply`): the first plain subscription of
        // this client among the reply subject's matches, so a reply subject
        // with an empty token gets nothing.
        let matches = self.sublist.matches(reply);
        let sid = matches
            .plain
            .iter()
            .find(|s| s.0.client.cid == self.handle.cid)
            .map(|s| s.0.sid.clone());
        let Some(sid) = sid else { return };
        self.line.clear();
        self.line.extend_from_slice(b"HMSG ");
        self.line.extend_from_slice(reply);
        self.line.push(b' ');
        self.line.extend_from_slice(&sid);
        let n = NO_RESPONDERS_HDR.len();
        let _ = write!(self.line, " {n} {n}\r\n");
        self.handle.queue(&[&self.line, NO_RESPONDERS_HDR, b"\r\n"]);
    }

    /// nats-server's `processSub` order: permissions, the subscription
    /// limit (a repeated sid counts), a repeated sid (accepted, changes
    /// nothing), then the subject's validity.
    fn subscribe(&mut self, subject: &[u8], queue: Option<&[u8]>, sid: &[u8]) {
        if let Some(perms) = &self.perms {
            if !perms.can_subscribe(subject, queue) {
                self.permission_violation("Subscription", subject, queue);
                return;
            }
            if perms.needs_delivery_check(subject) {
                self.handle.rules.check_deliveries();
            }
        }
        let (count, exists) = {
            let subs = lock(&self.handle.subs);
            (subs.len(), subs.contains_key(sid))
        };
        let max = self.shared.plan.load().limits.max_subscriptions;
        if max > 0 && count >= max as usize {
            self.send(ERR_MAX_SUBS);
            return;
        }
        if exists {
            self.ok();
            return;
        }
        let queue = match queue.map(|q| std::str::from_utf8(q)) {
            None => Ok(None),
            Some(Ok(q)) => Ok(Some(q)),
            Some(Err(_)) => Err(()),
        };
        let (true, Ok(queue)) = (is_valid_filter(subject), queue) else {
            self.send(ERR_INVALID_SUBJECT);
            return;
        };
        // The one copy of a SUB: the subscription outlives the read buffer.
        let sid = Bytes::copy_from_slice(sid);
        let sub = SubRef(Arc::new(Subscription {
            client: Arc::clone(&self.handle),
            sid: sid.clone(),
            subject: subject.into(),
            queue: queue.map(str::to_string),
            max: AtomicU64::new(0),
            delivered: AtomicU64::new(0),
        }));
        if self.sublist.insert(subject, queue, sub.clone()).is_err() {
            self.send(ERR_INVALID_SUBJECT);
            return;
        }
        lock(&self.handle.subs).insert(sid, sub);
        self.ok();
    }

    /// `-ERR 'Permissions Violation for KIND to "SUBJECT"'` (and `using
    /// queue "QUEUE"`), quoted as Go's `%q`; the connection stays open.
    fn permission_violation(&self, kind: &str, subject: &[u8], queue: Option<&[u8]>) {
        let mut line = format!(
            "-ERR 'Permissions Violation for {kind} to {}",
            go_quote(subject)
        );
        if let Some(q) = queue {
            line.push_str(&format!(" using queue {}", go_quote(q)));
        }
        line.push_str("'\r\n");
        self.send(line.as_bytes());
    }

    fn unsubscribe(&mut self, sid: &[u8], max: Option<u64>) {
        let Some(sub) = lock(&self.handle.subs).get(sid).cloned() else {
            return;
        };
        if let Some(max) = max {
            if sub.0.delivered.load(Ordering::Relaxed) < max {
                sub.0.max.store(max, Ordering::Relaxed);
                return;
            }
        }
        self.remove_sub(&sub);
    }

    /// Takes `sub` out of the index and out of its owner's table.
    fn remove_sub(&self, sub: &SubRef) {
        let s = &sub.0;
        let _ = self.sublist.remove(&s.subject, s.queue.as_deref(), sub);
        let mut subs = lock(&s.client.subs);
        if subs.get(&s.sid).is_some_and(|cur| cur == sub) {
            subs.remove(&s.sid);
        }
    }

    /// After a reload (the server's generation moved on): takes the new
    /// control-line and payload limits, and returns the new ping interval.
    fn reloaded(&mut self) -> Option<Duration> {
        let now = self
            .shared
            .generation
            .load(std::sync::atomic::Ordering::Acquire);
        if now == self.generation {
            return None;
        }
        self.generation = now;
        let plan = self.shared.plan.load();
        self.parser.set_limits(
            usize::try_from(plan.limits.max_control_line).unwrap_or(0),
            usize::try_from(plan.limits.max_payload).unwrap_or(0),
        );
        Some(ping_period(&plan))
    }

    /// nats-server's `setFirstPingTimer`, run by every CONNECT: the first
    /// PING (which measures the round trip) comes after at most 2 s, plus
    /// up to 20% jitter.
    fn first_ping(&mut self, period: Duration) -> Duration {
        let first = period.min(FIRST_PING);
        let fifth = u64::try_from(first.as_nanos() / 5)
            .unwrap_or(u64::MAX)
            .max(1);
        first + Duration::from_nanos(self.rng.next_u64() % fifth)
    }

    /// nats-server's `processPingTimer`: once a round trip is known and a
    /// PING was sent this hour, a tick sends none when the client
    /// published, (un)subscribed, got a message or sent a PING within the
    /// ping interval. (Other traffic, a PONG included, does not count.)
    fn ping_can_wait(&self, period: Duration) -> bool {
        let need_rtt = !self.rtt_known
            || self
                .pinged_at
                .map_or(true, |t| t.elapsed() > RTT_MEASUREMENT_INTERVAL);
        if need_rtt {
            return false;
        }
        let now = stats::epoch_nanos(std::time::SystemTime::now());
        let idle = Duration::from_nanos(now.saturating_sub(self.handle.last_activity()));
        idle < period || self.client_pinged_at.is_some_and(|t| t.elapsed() < period)
    }

    /// The ping timer: a PING, or `Stale Connection` once `ping_max` are
    /// unanswered. False when the connection must close.
    fn ping_tick(&mut self) -> bool {
        if self.pings_out + 1 > self.shared.plan.load().limits.ping_max {
            self.send(ERR_STALE);
            return false;
        }
        self.pings_out += 1;
        let now = std::time::Instant::now();
        self.pinged_at = Some(now);
        self.ping_sent.get_or_insert(now);
        self.send(PING);
        true
    }
}

/// A message crossing accounts through service imports.
#[derive(Clone)]
struct Crossing<'a> {
    /// The publisher's own headers.
    headers: Option<&'a [u8]>,
    payload: &'a [u8],
    /// The publisher's account.
    origin: Arc<str>,
    /// The imports taken so far (a cycle stops at one already taken).
    via: Vec<&'a ServiceImport<SubRef>>,
    /// Accounts crossed so far, requests and responses alike.
    hops: usize,
}

/// nats-server's `pubAllowedFullCheck`: the lists (verdicts cached per
/// subject in `cache`), then the reply subjects this client may answer
/// (never cached).
fn can_publish(
    perms: &Permissions,
    cache: &mut std::collections::HashMap<Box<[u8]>, bool>,
    rules: &rules::DeliveryRules,
    subject: &[u8],
) -> bool {
    let allowed = match cache.get(subject) {
        Some(&allowed) => allowed,
        None => {
            let allowed = perms.can_publish(subject);
            if allowed || perms.responses().is_none() {
                if cache.len() >= MAX_PERM_CACHE {
                    cache.clear();
                }
                cache.insert(subject.into(), allowed);
            }
            allowed
        }
    };
    allowed
        || perms
            .responses()
            .is_some_and(|rule| rules.answer(subject, rule))
}
