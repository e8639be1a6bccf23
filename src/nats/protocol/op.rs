//! The operations a client sends, as the parser hands them over.

use bytes::Bytes;
use std::num::NonZeroU32;

/// One client operation. Every `Bytes` is a slice of the connection's read
/// buffer (the parser never copies a subject or a payload).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Op {
    /// `CONNECT <json>`: the JSON text, already known to unmarshal into
    /// nats-server's `ClientOpts` (syntax and field types).
    Connect(Bytes),
    /// `INFO <json>` from a client: nats-server checks that it unmarshals
    /// into `Info` and otherwise ignores it.
    Info(Bytes),
    /// `PUB <subject> [reply] <#bytes>` and its payload.
    Pub {
        /// The subject, unchecked (any bytes but space and tab).
        subject: Bytes,
        /// The reply subject, if given.
        reply: Option<Bytes>,
        /// The payload, without its trailing `\r\n`.
        payload: Bytes,
    },
    /// `HPUB <subject> [reply] <#header bytes> <#total bytes>` and its
    /// headers and payload. Only accepted when headers are enabled.
    HPub {
        /// The subject, unchecked (any bytes but space and tab).
        subject: Bytes,
        /// The reply subject, if given.
        reply: Option<Bytes>,
        /// The first `#header bytes` of the message (`NATS/1.0\r\n...`,
        /// not checked by nats-server at this point; may be empty).
        headers: Bytes,
        /// The rest of the message, without its trailing `\r\n`.
        payload: Bytes,
    },
    /// `SUB <subject> [queue] <sid>`.
    Sub {
        /// The subject filter, unchecked here (nats-server answers an
        /// invalid one with `-ERR 'Invalid Subject'` and stays connected).
        subject: Bytes,
        /// The queue group, if given.
        queue: Option<Bytes>,
        /// The subscription id: an opaque token, not a number.
        sid: Bytes,
    },
    /// `UNSUB <sid> [max]`.
    Unsub {
        /// The subscription id.
        sid: Bytes,
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
