//! One writer per run directory: an advisory exclusive lock on `DIR/.lock`, held for as long
//! as the [`RunLock`] lives and released by the kernel when the process dies (so a killed run
//! never leaves a stale lock behind).

use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};

/// Name of the lock file inside a locked folder.
pub const LOCK_FILE: &str = ".lock";

/// An exclusive lock on a folder; dropping it releases the lock.
#[derive(Debug)]
pub struct RunLock {
    _file: File,
    path: PathBuf,
}

impl RunLock {
    /// Locks `dir` (which must exist) without waiting: `WouldBlock` when another process (or
    /// another `RunLock` in this one) holds it.
    pub fn try_acquire(dir: &Path) -> io::Result<Self> {
        let path = dir.join(LOCK_FILE);
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .read(true)
            .write(true)
            .open(&path)?;
        match file.try_lock() {
            Ok(()) => Ok(Self { _file: file, path }),
            Err(std::fs::TryLockError::WouldBlock) => Err(io::Error::new(
                io::ErrorKind::WouldBlock,
                "another animescore process is writing this run directory",
            )),
            Err(std::fs::TryLockError::Error(e)) => Err(e),
        }
    }

    /// The lock file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_lock_is_refused_until_the_first_is_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let first = RunLock::try_acquire(dir.path()).unwrap();
        let err = RunLock::try_acquire(dir.path()).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::WouldBlock);
        drop(first);
        RunLock::try_acquire(dir.path()).unwrap();
    }
}
