//! NATS nkey public keys: base32 of `prefix || ed25519 key || crc16`.
//!
//! Lowering uses this to reject a mistyped user nkey at `edge check`; the
//! auth runtime uses the decoded key to verify the nonce signature.

/// The role byte of a public key, as its first base32 letter shows it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// `U...`: a user.
    User,
    /// `A...`: an account.
    Account,
    /// `N...`: a server.
    Server,
    /// `O...`: an operator.
    Operator,
}

/// Prefix bytes: the role's base32 letter index, shifted into the top five bits.
const PREFIX_USER: u8 = 20 << 3;
const PREFIX_ACCOUNT: u8 = 0;
const PREFIX_SERVER: u8 = 13 << 3;
const PREFIX_OPERATOR: u8 = 14 << 3;

impl Role {
    fn from_prefix_byte(b: u8) -> Option<Role> {
        match b {
            PREFIX_USER => Some(Role::User),
            PREFIX_ACCOUNT => Some(Role::Account),
            PREFIX_SERVER => Some(Role::Server),
            PREFIX_OPERATOR => Some(Role::Operator),
            _ => None,
        }
    }
}

/// Decodes a public nkey, checking its alphabet, length and checksum.
pub fn decode_public(key: &str) -> Option<(Role, [u8; 32])> {
    let raw = base32_decode(key)?;
    if raw.len() != 35 {
        return None;
    }
    let (body, crc) = raw.split_at(33);
    if crc16(body) != u16::from_le_bytes([crc[0], crc[1]]) {
        return None;
    }
    let role = Role::from_prefix_byte(body[0])?;
    let mut public = [0u8; 32];
    public.copy_from_slice(&body[1..]);
    Some((role, public))
}

/// RFC 4648 base32 without padding, as nkeys encodes.
fn base32_decode(text: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(text.len() * 5 / 8);
    let (mut buffer, mut bits) = (0u32, 0u32);
    for c in text.bytes() {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'2'..=b'7' => c - b'2' + 26,
            _ => return None,
        };
        buffer = (buffer << 5) | u32::from(v);
        bits += 5;
        if bits >= 8 {
            bits -= 8;
            out.push((buffer >> bits) as u8);
            buffer &= (1 << bits) - 1;
        }
    }
    Some(out)
}

/// CRC-16/XMODEM (poly 0x1021, init 0), the checksum nkeys appends.
fn crc16(data: &[u8]) -> u16 {
    let mut crc: u16 = 0;
    for &byte in data {
        crc ^= u16::from(byte) << 8;
        for _ in 0..8 {
            crc = if crc & 0x8000 != 0 {
                (crc << 1) ^ 0x1021
            } else {
                crc << 1
            };
        }
    }
    crc
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_a_user_key() {
        // A user public key from nats-server's own test suite.
        let key = "UA3C5TBZYK5GJQJRWPMU6NFY5JNAEVQB2V2TUZFZDHFJFUYVKTTUOFKZ";
        let (role, _) = decode_public(key).expect("valid key");
        assert_eq!(role, Role::User);
    }

    #[test]
    fn rejects_a_typo() {
        let key = "UA3C5TBZYK5GJQJRWPMU6NFY5JNAEVQB2V2TUZFZDHFJFUYVKTTUOFKA";
        assert!(decode_public(key).is_none());
        assert!(decode_public("U123").is_none());
        assert!(decode_public("udxu").is_none());
    }
}
