//! A cheap xorshift generator for what needs spread, not secrecy: the
//! queue member a message starts at, ping jitter, lame-duck close spacing.

/// xorshift64, seeded from the clock and a per-use salt.
#[derive(Debug, Clone)]
pub struct Xorshift(u64);

impl Xorshift {
    /// A generator seeded from the time of day mixed with `salt` (say, a
    /// client id), so generators made together still differ.
    pub fn seeded(salt: u64) -> Self {
        let clock = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0);
        Xorshift((clock ^ salt.wrapping_mul(0x9E37_79B9_7F4A_7C15)) | 1)
    }

    /// The next value.
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }
}
