//! File identity (device, inode): two paths are the same file whatever their names, links or
//! hard links say.

use std::path::{Path, PathBuf};

/// The identity of an existing file: its device and inode (the file index on other systems).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FileId {
    /// Device number.
    pub dev: u64,
    /// Inode number.
    pub ino: u64,
}

impl FileId {
    /// The identity of the file `path` names, following links; `None` when it does not exist.
    pub fn of(path: &Path) -> Option<Self> {
        std::fs::metadata(path).ok().map(|m| Self::from_metadata(&m))
    }

    /// The identity recorded in `meta`.
    #[cfg(unix)]
    pub fn from_metadata(meta: &std::fs::Metadata) -> Self {
        use std::os::unix::fs::MetadataExt;
        Self { dev: meta.dev(), ino: meta.ino() }
    }

    /// The identity recorded in `meta` (no inode numbers here: every file is distinct).
    #[cfg(not(unix))]
    pub fn from_metadata(_meta: &std::fs::Metadata) -> Self {
        use std::sync::atomic::{AtomicU64, Ordering};
        static NEXT: AtomicU64 = AtomicU64::new(1);
        Self { dev: 0, ino: NEXT.fetch_add(1, Ordering::Relaxed) }
    }
}

/// `path` made absolute, resolving links when it exists, so that a path recorded in a file
/// names the same place whatever folder a later command runs from.
pub fn absolute_path(path: &Path) -> PathBuf {
    std::fs::canonicalize(path)
        .or_else(|_| std::path::absolute(path))
        .unwrap_or_else(|_| path.to_path_buf())
}
