//! The operations a client sends, as the parser hands them over.

use bytes::Bytes;
use std::num::NonZeroU32;

/// One client operation; `B` is how its byte strings are held.
///
/// The serving path reads `Op<&[u8]>` from [`Parser::parse`]: every field
/// borrows the connection's read buffer, so a message costs no copy, no
/// allocation and no reference count. [`Parser::next_op`] hands out the
/// default `Op<Bytes>`, whose fields are `Bytes` slices of one frame cut
/// off that buffer, for callers that keep operations (tests, the grammar
/// harness).
///
/// [`Parser::parse`]: super::Parser::parse
/// [`Parser::next_op`]: super::Parser::next_op
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Op<B = Bytes> {
    /// `CONNECT <json>`: the JSON text, already known to unmarshal into
    /// nats-server's `ClientOpts` (syntax and field types).
    Connect(B),
    /// `INFO <json>` from a client: nats-server checks that it unmarshals
    /// into `Info` and otherwise ignores it.
    Info(B),
    /// `PUB <subject> [reply] <#bytes>` and its payload.
    Pub {
        /// The subject, unchecked (any bytes but space and tab).
        subject: B,
        /// The reply subject, if given.
        reply: Option<B>,
        /// The payload, without its trailing `\r\n`.
        payload: B,
    },
    /// `HPUB <subject> [reply] <#header bytes> <#total bytes>` and its
    /// headers and payload. Only accepted when headers are enabled.
    HPub {
        /// The subject, unchecked (any bytes but space and tab).
        subject: B,
        /// The reply subject, if given.
        reply: Option<B>,
        /// The first `#header bytes` of the message (`NATS/1.0\r\n...`,
        /// not checked by nats-server at this point; may be empty).
        headers: B,
        /// The rest of the message, without its trailing `\r\n`.
        payload: B,
    },
    /// `SUB <subject> [queue] <sid>`.
    Sub {
        /// The subject filter, unchecked here (nats-server answers an
        /// invalid one with `-ERR 'Invalid Subject'` and stays connected).
        subject: B,
        /// The queue group, if given.
        queue: Option<B>,
        /// The subscription id: an opaque token, not a number.
        sid: B,
    },
    /// `UNSUB <sid> [max]`.
    Unsub {
        /// The subscription id.
        sid: B,
        /// Unsubscribe after this many messages. `None` when absent, and
        /// also when it is 0 or not 1 to 9 digits: nats-server then
        /// unsubscribes at once, without an error.
        max: Option<NonZeroU32>,
    },
    /// `PING` (anything after it up to the newline is ignored).
    Ping,
    /// `PONG` (likewise).
    Pong,
    /// `+OK` from a client: accepted and ignored.
    Ok,
    /// `HMSG <anything>\r\n\r\n`: a route/leafnode operation that a
    /// client's parser still accepts. The argument is never read and the
    /// message is empty; nats-server treats it as a publish to no subject
    /// (in verbose mode it answers `+OK`). This is its reading when the line
    /// and the `\r\n` after it arrive in one read; see the module docs.
    HMsg,
}

impl<B> Op<B> {
    /// The same operation with every byte string passed through `f`, in
    /// wire order (so `f` may cut them off one frame).
    pub fn map<C>(self, mut f: impl FnMut(B) -> C) -> Op<C> {
        match self {
            Op::Connect(json) => Op::Connect(f(json)),
            Op::Info(json) => Op::Info(f(json)),
            Op::Pub {
                subject,
                reply,
                payload,
            } => Op::Pub {
                subject: f(subject),
                reply: reply.map(&mut f),
                payload: f(payload),
            },
            Op::HPub {
                subject,
                reply,
                headers,
                payload,
            } => Op::HPub {
                subject: f(subject),
                reply: reply.map(&mut f),
                headers: f(headers),
                payload: f(payload),
            },
            Op::Sub {
                subject,
                queue,
                sid,
            } => Op::Sub {
                subject: f(subject),
                queue: queue.map(&mut f),
                sid: f(sid),
            },
            Op::Unsub { sid, max } => Op::Unsub { sid: f(sid), max },
            Op::Ping => Op::Ping,
            Op::Pong => Op::Pong,
            Op::Ok => Op::Ok,
            Op::HMsg => Op::HMsg,
        }
    }
}
