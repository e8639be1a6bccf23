//! Why nats-server 2.9.10 stops reading a client, and what it says first.
//!
//! Every variant was observed on a real nats-server 2.9.10 on loopback (the
//! table with inputs and bytes is in the [module docs](super)). All of them
//! close the connection: `readLoop` closes on any error the parser returns,
//! and a client's `-ERR` closes through `processErr`. Four send a `-ERR`
//! line first; the rest close without a word (nats-server only logs them).

use bytes::Bytes;

/// A parse failure on a client connection.
///
/// `Display` gives, for the four failures nats-server reports to the client,
/// exactly the text it puts between the quotes of `-ERR '...'`; for the
/// silent ones, the message it logs (argument omitted).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ProtocolError {
    /// A byte that cannot continue any operation (parser.go `parseErr`),
    /// including a payload not followed by exactly `\r\n`.
    #[error("Unknown Protocol Operation")]
    UnknownOperation,
    /// Authentication is required and an operation other than CONNECT
    /// started (only the first byte is checked: `CX` is an unknown
    /// operation, `PING` an authorization violation).
    #[error("Authorization Violation")]
    AuthorizationViolation,
    /// A control line's argument is longer than `max_control_line`.
    #[error("maximum control line exceeded")]
    MaxControlLine,
    /// A PUB size or HPUB total size above `max_payload`.
    #[error("Maximum Payload Violation")]
    MaxPayload,
    /// PUB without 2 or 3 arguments.
    #[error("processPub Parse Error")]
    PubArgs,
    /// PUB whose size is not 1 to 9 ASCII digits.
    #[error("processPub Bad or Missing Size")]
    PubSize,
    /// HPUB before a CONNECT with `"headers":true` (or on a server without
    /// header support).
    #[error("message headers not supported")]
    HeadersNotSupported,
    /// HPUB without 3 or 4 arguments.
    #[error("processHeaderPub Parse Error")]
    HPubArgs,
    /// HPUB whose header size is not 1 to 9 ASCII digits.
    #[error("processHeaderPub Bad or Missing Header Size")]
    HPubHeaderSize,
    /// HPUB whose total size is not 1 to 9 ASCII digits.
    #[error("processHeaderPub Bad or Missing Total Size")]
    HPubTotalSize,
    /// HPUB whose header size is larger than its total size (checked before
    /// `max_payload`). The spelling is nats-server's.
    #[error("processHeaderPub Header Size larger then TotalSize")]
    HPubHeaderTooLarge,
    /// SUB without 2 or 3 arguments.
    #[error("processSub Parse Error")]
    SubArgs,
    /// UNSUB without 1 or 2 arguments.
    #[error("processUnsub Parse Error")]
    UnsubArgs,
    /// A CONNECT argument Go's `json.Unmarshal` refuses for `ClientOpts`.
    #[error("invalid CONNECT JSON")]
    ConnectJson,
    /// An INFO argument Go's `json.Unmarshal` refuses for `Info`.
    #[error("invalid INFO JSON")]
    InfoJson,
    /// The client sent `-ERR <message>`; nats-server logs it and closes.
    #[error("Client Error {}", String::from_utf8_lossy(.0))]
    ClientErr(Bytes),
}

impl ProtocolError {
    /// The text nats-server writes between the quotes of `-ERR '...'`
    /// before closing, or `None` when it closes without a word.
    pub fn err_text(&self) -> Option<&'static str> {
        match self {
            ProtocolError::UnknownOperation => Some("Unknown Protocol Operation"),
            ProtocolError::AuthorizationViolation => Some("Authorization Violation"),
            ProtocolError::MaxControlLine => Some("maximum control line exceeded"),
            ProtocolError::MaxPayload => Some("Maximum Payload Violation"),
            _ => None,
        }
    }

    /// The whole line nats-server sends before closing (`-ERR '...'\r\n`),
    /// or `None` when it sends nothing.
    pub fn err_line(&self) -> Option<&'static [u8]> {
        match self {
            ProtocolError::UnknownOperation => Some(b"-ERR 'Unknown Protocol Operation'\r\n"),
            ProtocolError::AuthorizationViolation => Some(b"-ERR 'Authorization Violation'\r\n"),
            ProtocolError::MaxControlLine => Some(b"-ERR 'maximum control line exceeded'\r\n"),
            ProtocolError::MaxPayload => Some(b"-ERR 'Maximum Payload Violation'\r\n"),
            _ => None,
        }
    }

    /// Whether nats-server closes the connection after this failure. True
    /// for every parse failure in 2.9.10; the errors that leave a client
    /// connected (`Invalid Subject`, pedantic `Invalid Publish Subject`,
    /// permission violations) are not parse failures and are not here.
    pub fn closes_connection(&self) -> bool {
        true
    }
}
