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

/// The first of `inputs` that `output` would overwrite: the same file by identity (so a
/// symlink or hard link to an input counts, and `./a` equals `a`). `None` when `output` does
/// not exist yet or is none of them. Non-regular outputs (`/dev/null`, a FIFO) are never an
/// input's copy, so writing to them is allowed.
pub fn clobbered_input<'a>(
    output: &Path,
    inputs: impl IntoIterator<Item = &'a Path>,
) -> Option<PathBuf> {
    let meta = std::fs::metadata(output).ok()?;
    if !meta.is_file() {
        return None;
    }
    let out = FileId::from_metadata(&meta);
    inputs.into_iter().find(|input| FileId::of(input) == Some(out)).map(Path::to_path_buf)
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;

    #[test]
    fn links_and_spellings_are_the_same_file() {
        let dir = tempfile::tempdir().unwrap();
        let a = dir.path().join("a.db");
        std::fs::write(&a, b"x").unwrap();
        let link = dir.path().join("link.csv");
        std::os::unix::fs::symlink(&a, &link).unwrap();
        let hard = dir.path().join("hard.csv");
        std::fs::hard_link(&a, &hard).unwrap();
        let dotted = dir.path().join(".").join("a.db");
        for out in [&a, &link, &hard, &dotted] {
            assert_eq!(clobbered_input(out, [a.as_path()]), Some(a.clone()), "{out:?}");
        }
        let other = dir.path().join("other.csv");
        assert_eq!(clobbered_input(&other, [a.as_path()]), None);
        std::fs::write(&other, b"y").unwrap();
        assert_eq!(clobbered_input(&other, [a.as_path()]), None);
        assert_eq!(clobbered_input(Path::new("/dev/null"), [a.as_path()]), None);
    }
}
/// `path` made absolute, resolving links when it exists, so that a path recorded in a file
/// names the same place whatever folder a later command runs from.
pub fn absolute_path(path: &Path) -> PathBuf {
    std::fs::canonicalize(path)
        .or_else(|_| std::path::absolute(path))
        .unwrap_or_else(|_| path.to_path_buf())
}
