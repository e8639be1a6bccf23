//! `edge passwd`: nats-server's mkpasswd.

use super::args::PasswdArgs;
use std::io::{BufRead, IsTerminal, Write};

/// Characters of a generated password (mkpasswd draws from printable ASCII).
const ALPHABET: &[u8] =
    b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789!@#$%^&*()-_=+,.?/:;{}[]~";
/// Length of a generated password.
const GENERATED_LEN: usize = 22;

/// Errors of `edge passwd`.
#[derive(Debug, thiserror::Error)]
pub enum PasswdError {
    /// Reading the password failed.
    #[error("cannot read the password: {0}")]
    Read(#[from] std::io::Error),
    /// The two entries differ.
    #[error("passwords do not match")]
    Mismatch,
    /// An empty password.
    #[error("the password is empty")]
    Empty,
    /// No randomness from the OS.
    #[error("no randomness available: {0}")]
    Random(String),
    /// bcrypt failed.
    #[error("bcrypt failed: {0}")]
    Hash(#[from] bcrypt::BcryptError),
}

/// Prints `pass: ...` (when generated) and `bcrypt hash: $2a$...`.
pub fn run(args: &PasswdArgs, out: &mut impl Write) -> Result<(), PasswdError> {
    let password = if args.prompt {
        read_password()?
    } else {
        let p = generate()?;
        writeln!(out, "pass: {p}")?;
        p
    };
    let hash =
        bcrypt::hash_with_result(&password, args.cost)?.format_for_version(bcrypt::Version::TwoA);
    writeln!(out, "bcrypt hash: {hash}")?;
    Ok(())
}

/// Twice without echo on a terminal; one line from a pipe.
fn read_password() -> Result<String, PasswdError> {
    let password = if std::io::stdin().is_terminal() {
        let first = rpassword::prompt_password("Enter Password: ")?;
        let second = rpassword::prompt_password("Reenter Password: ")?;
        if first != second {
            return Err(PasswdError::Mismatch);
        }
        first
    } else {
        let mut line = String::new();
        std::io::stdin().lock().read_line(&mut line)?;
        line.trim_end_matches(['\r', '\n']).to_owned()
    };
    if password.is_empty() {
        return Err(PasswdError::Empty);
    }
    Ok(password)
}

/// A random password; bytes that would bias the modulo are drawn again.
fn generate() -> Result<String, PasswdError> {
    let limit = 256 - 256 % ALPHABET.len();
    let mut password = String::with_capacity(GENERATED_LEN);
    while password.len() < GENERATED_LEN {
        let mut bytes = [0u8; 32];
        getrandom::fill(&mut bytes).map_err(|e| PasswdError::Random(e.to_string()))?;
        for b in bytes.iter().map(|b| usize::from(*b)).filter(|b| *b < limit) {
            if password.len() < GENERATED_LEN {
                password.push(ALPHABET[b % ALPHABET.len()] as char);
            }
        }
    }
    Ok(password)
}
