//! One file to its destination, never replacing anything there, and what was created (its
//! identity and content, for the manifest); which files curation may act on at all.

use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::str::FromStr;

use animescore_fs::{ContentDigest, FileId, copy_new, open_regular};
use serde::{Deserialize, Serialize};

use crate::error::{CurateError, Result};

/// How a file gets to its destination.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum TransferKind {
    /// A copy.
    Copy,
    /// Moved (renamed; copied and removed across file systems).
    Move,
    /// A hard link (same file system only).
    Hardlink,
    /// A symbolic link to the source's absolute path.
    Symlink,
}

impl TransferKind {
    /// The name in manifests and messages.
    pub fn name(self) -> &'static str {
        match self {
            Self::Copy => "copy",
            Self::Move => "move",
            Self::Hardlink => "hardlink",
            Self::Symlink => "symlink",
        }
    }
}

impl FromStr for TransferKind {
    type Err = CurateError;

    fn from_str(s: &str) -> Result<Self> {
        [Self::Copy, Self::Move, Self::Hardlink, Self::Symlink]
            .into_iter()
            .find(|k| k.name() == s)
            .ok_or_else(|| {
                CurateError::InvalidInput(format!(
                    "unknown action `{}`",
                    animescore_fs::Shown::text(s)
                ))
            })
    }
}

/// What a transfer created at its destination.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Created {
    /// The file's bytes (for a symbolic link: the path it holds).
    pub digest: ContentDigest,
    /// The created file (the link itself for a symbolic link).
    pub id: FileId,
}

impl Created {
    /// What is at `path` now, as a transfer of `kind` would have recorded it; `None` when
    /// nothing is there or it is not of the kind's type (a link for `symlink`, else a regular
    /// file). Nothing that could block is opened.
    pub fn found(kind: TransferKind, path: &Path) -> io::Result<Option<Self>> {
        let meta = match std::fs::symlink_metadata(path) {
            Ok(m) => m,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e),
        };
        let id = FileId::from_metadata(&meta);
        let digest = match kind {
            TransferKind::Symlink if meta.file_type().is_symlink() => link_digest(path)?,
            TransferKind::Symlink => return Ok(None),
            _ if meta.is_file() => ContentDigest::of_file(path)?,
            _ => return Ok(None),
        };
        Ok(Some(Self { digest, id }))
    }
}

fn link_digest(link: &Path) -> io::Result<ContentDigest> {
    Ok(ContentDigest::of_bytes(std::fs::read_link(link)?.as_os_str().as_encoded_bytes()))
}

/// Copies, moves or links `source` to `destination` (its folder is created), never replacing
/// anything there (`AlreadyExists`), and says what was created.
pub(crate) fn transfer_file(
    kind: TransferKind,
    source: &Path,
    destination: &Path,
) -> io::Result<Created> {
    if let Some(parent) = destination.parent() {
        std::fs::create_dir_all(parent)?;
    }
    match kind {
        TransferKind::Copy => {
            copy_new(source, destination)?;
        }
        TransferKind::Hardlink => std::fs::hard_link(source, destination)?,
        TransferKind::Symlink => symlink(&std::path::absolute(source)?, destination)?,
        TransferKind::Move => move_new(source, destination)?,
    }
    Created::found(kind, destination)?
        .ok_or_else(|| io::Error::other("the new file vanished before it could be recorded"))
}

/// Moves without replacing: a hard link then removal of the source (an atomic "no replace" on
/// one file system); across file systems a copy through a temporary file, then removal.
pub(crate) fn move_new(source: &Path, destination: &Path) -> io::Result<()> {
    if std::fs::symlink_metadata(source).is_err() {
        return Err(io::Error::new(io::ErrorKind::NotFound, "no such file"));
    }
    match std::fs::hard_link(source, destination) {
        Ok(()) => std::fs::remove_file(source),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Err(e),
        Err(_) => {
            copy_new(source, destination)?;
            std::fs::remove_file(source)
        }
    }
}

#[cfg(unix)]
fn symlink(target: &Path, link: &Path) -> io::Result<()> {
    std::os::unix::fs::symlink(target, link)
}

#[cfg(windows)]
fn symlink(target: &Path, link: &Path) -> io::Result<()> {
    std::os::windows::fs::symlink_file(target, link)
}

/// Why curation leaves `path` alone, or `None` when it may act on it: an image file, by its
/// first bytes (PNG, JPEG, WebP or GIF), after following links; for `move`, the name itself
/// must be a regular file (a link is not moved). Never blocks on a FIFO.
pub(crate) fn refusal(path: &Path, kind: Option<TransferKind>) -> Option<String> {
    if kind == Some(TransferKind::Move)
        && std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_symlink())
    {
        return Some("is a link; --move-to moves files only (use --copy-to or --link-to)".into());
    }
    let mut head = [0u8; 12];
    let read = open_regular(path).and_then(|f| {
        let mut n = 0;
        let mut f = f.take(head.len() as u64);
        while n < head.len() {
            match f.read(&mut head[n..])? {
                0 => break,
                k => n += k,
            }
        }
        Ok(n)
    });
    match read {
        Ok(n) if is_image_signature(&head[..n]) => None,
        Ok(_) => {
            Some("is not an image (PNG, JPEG, WebP or GIF by its first bytes); left alone".into())
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => Some("source missing".into()),
        Err(e) => Some(e.to_string()),
    }
}

fn is_image_signature(head: &[u8]) -> bool {
    head.starts_with(b"\x89PNG\r\n\x1a\n")
        || head.starts_with(b"\xff\xd8\xff")
        || head.starts_with(b"GIF87a")
        || head.starts_with(b"GIF89a")
        || (head.len() >= 12 && head.starts_with(b"RIFF") && &head[8..12] == b"WEBP")
}

/// Whether the regular file `partial` holds the first bytes of the regular file `full` and is
/// shorter: what a copy killed part-way leaves.
pub(crate) fn is_strict_prefix(partial: &Path, full: &Path) -> io::Result<bool> {
    let (a, b) = (open_regular(partial)?, open_regular(full)?);
    if a.metadata()?.len() >= b.metadata()?.len() {
        return Ok(false);
    }
    let (mut a, mut b) = (io::BufReader::new(a), io::BufReader::new(b));
    let (mut x, mut y) = (vec![0u8; 1 << 16], vec![0u8; 1 << 16]);
    loop {
        let n = a.read(&mut x)?;
        if n == 0 {
            return Ok(true);
        }
        b.read_exact(&mut y[..n])?;
        if x[..n] != y[..n] {
            return Ok(false);
        }
    }
}

/// `path` made absolute without resolving links (a recorded link stays the link).
pub(crate) fn absolute(path: &Path) -> PathBuf {
    std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_images_by_their_first_bytes() {
        let dir = tempfile::tempdir().unwrap();
        let png = dir.path().join("x.bin");
        std::fs::write(&png, b"\x89PNG\r\n\x1a\n....").unwrap();
        let webp = dir.path().join("w");
        std::fs::write(&webp, b"RIFF\0\0\0\0WEBPVP8 ").unwrap();
        let text = dir.path().join("notes.png");
        std::fs::write(&text, b"my notes").unwrap();
        assert_eq!(refusal(&png, Some(TransferKind::Move)), None);
        assert_eq!(refusal(&webp, None), None);
        assert!(refusal(&text, None).unwrap().contains("not an image"));
        assert!(refusal(&dir.path().join("gone.png"), None).unwrap().contains("missing"));
        assert!(refusal(dir.path(), None).unwrap().contains("folder"));
        #[cfg(unix)]
        {
            let link = dir.path().join("l.png");
            std::os::unix::fs::symlink(&png, &link).unwrap();
            assert_eq!(refusal(&link, Some(TransferKind::Copy)), None);
            assert!(refusal(&link, Some(TransferKind::Move)).unwrap().contains("link"));
        }
    }
}
