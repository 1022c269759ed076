//! Directory walks that follow linked folders and survive link cycles.
//!
//! A walker asks [`entry_kind`] what an entry is after following links, and asks
//! [`VisitedDirs::first_visit`] before descending into a folder: a folder already seen (by
//! device and inode) is a cycle or a second link to it, and is not walked again.

use std::collections::HashSet;
use std::fs::{FileType, Metadata};
use std::io;
use std::path::Path;

use crate::identity::FileId;

/// What a directory entry is once links are followed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntryKind {
    /// A regular file.
    File,
    /// A folder.
    Dir,
    /// Anything else (FIFO, socket, device), described for a "skipped" message.
    Other(&'static str),
}

/// What `path` is after following links, with its metadata. A dangling link is an error.
pub fn entry_kind(path: &Path) -> io::Result<(EntryKind, Metadata)> {
    let meta = std::fs::metadata(path)?;
    let kind = if meta.is_file() {
        EntryKind::File
    } else if meta.is_dir() {
        EntryKind::Dir
    } else {
        EntryKind::Other(file_type_name(&meta.file_type()))
    };
    Ok((kind, meta))
}

/// A human name for a file type, for messages.
pub fn file_type_name(file_type: &FileType) -> &'static str {
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if file_type.is_fifo() {
            return "FIFO";
        }
        if file_type.is_char_device() {
            return "character device";
        }
        if file_type.is_block_device() {
            return "block device";
        }
        if file_type.is_socket() {
            return "socket";
        }
    }
    if file_type.is_dir() {
        "folder"
    } else if file_type.is_symlink() {
        "link"
    } else if file_type.is_file() {
        "regular file"
    } else {
        "special file"
    }
}

/// The folders a walk has entered, by identity.
#[derive(Debug, Default)]
pub struct VisitedDirs {
    seen: HashSet<FileId>,
}

impl VisitedDirs {
    /// An empty set.
    pub fn new() -> Self {
        Self::default()
    }

    /// `true` the first time the folder `meta` describes is seen; `false` for a folder already
    /// walked (a link cycle, or a second link to the same folder).
    pub fn first_visit(&mut self, meta: &Metadata) -> bool {
        self.seen.insert(FileId::from_metadata(meta))
    }
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;

    #[test]
    fn a_cycle_is_entered_once() {
        let dir = tempfile::tempdir().unwrap();
        let real = dir.path().join("real/deep");
        std::fs::create_dir_all(&real).unwrap();
        std::os::unix::fs::symlink(dir.path(), real.join("loop")).unwrap();
        let mut visited = VisitedDirs::new();
        let (kind, root) = entry_kind(dir.path()).unwrap();
        assert_eq!(kind, EntryKind::Dir);
        assert!(visited.first_visit(&root));
        let (kind, looped) = entry_kind(&real.join("loop")).unwrap();
        assert_eq!(kind, EntryKind::Dir);
        assert!(!visited.first_visit(&looped));
        assert_eq!(
            entry_kind(Path::new("/dev/null")).unwrap().0,
            EntryKind::Other("character device")
        );
    }
}
