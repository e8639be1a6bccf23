//! `log_file`: appended to, rotated past `logfile_size_limit` as
//! nats-server rotates it (renamed to `<file>.YYYY.MM.DD.hh.mm.ss.nnnnnnnnn`,
//! a new file started), reopened on SIGUSR1.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;

/// An open log file and how much it holds.
pub struct FileLog {
    path: String,
    file: File,
    size: u64,
    /// Rotate once the file holds more than this (0: never).
    limit: u64,
}

impl FileLog {
    /// Opens `path` for appending (created 0660, as nats-server).
    pub fn open(path: &str, limit: i64) -> std::io::Result<FileLog> {
        let file = append(path)?;
        let size = file.metadata()?.len();
        Ok(FileLog {
            path: path.to_string(),
            file,
            size,
            limit: u64::try_from(limit).unwrap_or(0),
        })
    }

    /// Writes `bytes`; when that takes the file past the limit, rotates
    /// and returns the backup's name (the caller logs it in the new file).
    pub fn write(&mut self, bytes: &[u8]) -> Option<String> {
        if self.file.write_all(bytes).is_ok() {
            self.size += bytes.len() as u64;
        }
        if self.limit == 0 || self.size <= self.limit {
            return None;
        }
        let now = chrono::Local::now();
        let backup = format!("{}.{}", self.path, now.format("%Y.%m.%d.%H.%M.%S.%9f"));
        std::fs::rename(&self.path, &backup).ok()?;
        // A file that cannot be opened again keeps the old handle (now
        // the backup) rather than losing lines; nats-server panics here.
        self.reopen().ok()?;
        Some(backup)
    }

    /// Opens the path again (after a rename by a rotation tool).
    pub fn reopen(&mut self) -> std::io::Result<()> {
        let file = append(&self.path)?;
        self.size = file.metadata()?.len();
        self.file = file;
        Ok(())
    }

    /// Whether the file already holds more than the limit.
    pub fn over_limit(&self) -> bool {
        self.limit > 0 && self.size > self.limit
    }
}

fn append(path: &str) -> std::io::Result<File> {
    OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o660)
        .open(path)
}
