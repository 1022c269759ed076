//! A folder whose files are reached by plain name only, never through a link: the home of a
//! cache that may come with a shared dataset (`.database/cache`), where a planted link, FIFO
//! or `../` name must not redirect a read, a write or a deletion.
//!
//! - The folder is opened once: a trusted base (followed like any path the user gives), then
//!   each component below it with `O_NOFOLLOW | O_DIRECTORY`. Every later operation is
//!   relative to that handle (`openat`, `unlinkat`, `renameat`), so a component swapped for a
//!   link afterwards changes nothing.
//! - Names must be plain ([`is_plain_name`]): one component, not `.` or `..`. Anything else
//!   is refused (`InvalidInput`) before the system is asked.
//! - Files are opened with `O_NOFOLLOW | O_NONBLOCK` and must be regular files: a link, FIFO,
//!   device or folder in their place is an `InvalidInput` error naming what it is, never
//!   followed and never waited on.
//! - Deleting removes the name itself (a link, not its target) and never a folder.
//! - When the folder is to be created and a component is a link or another non-folder, that
//!   entry is removed (the link only) and a real folder made in its place: the caller owns
//!   these names ([`ConfinedDir::replaced`] lists what was removed, to warn about it).
//!
//! Unix only (like the rest of the cache code).

use std::ffi::OsString;
use std::fs::{File, Metadata};
use std::io::{self, Write};
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::ffi::OsStringExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use rustix::fs::{AtFlags, Mode, OFlags};

use crate::walk::file_type_name;

/// Whether `name` is one plain component: not empty, no `/` (or NUL), not `.` or `..`.
pub fn is_plain_name(name: &str) -> bool {
    !name.is_empty() && name != "." && name != ".." && !name.contains(['/', '\0'])
}

/// Whether an error means "this place cannot be written" (a read-only file system, or no
/// permission), as opposed to damage.
pub fn is_read_only_error(e: &io::Error) -> bool {
    matches!(e.kind(), io::ErrorKind::PermissionDenied | io::ErrorKind::ReadOnlyFilesystem)
        || e.raw_os_error() == Some(libc::EROFS)
        || e.raw_os_error() == Some(libc::EPERM)
}

/// An open folder whose files are reached by plain name, without following links (see the
/// module documentation).
#[derive(Debug)]
pub struct ConfinedDir {
    fd: OwnedFd,
    path: PathBuf,
    replaced: Vec<PathBuf>,
}

fn refused(what: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, what)
}

fn plain(name: &str) -> io::Result<&str> {
    if is_plain_name(name) {
        Ok(name)
    } else {
        Err(refused(format!("`{}` is not a plain file name", name.escape_debug())))
    }
}

/// Open flags shared by every open: no link is followed, a FIFO never blocks, and the handle
/// is not inherited by child processes.
fn base_flags() -> OFlags {
    OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::CLOEXEC
}

/// A link in place of an expected file or folder is refused with a clear name (the system
/// says "too many levels of symbolic links").
fn link_refused(e: rustix::io::Errno, path: &Path) -> io::Error {
    if e == rustix::io::Errno::LOOP {
        refused(format!("{} is a symbolic link (not followed)", path.display()))
    } else {
        e.into()
    }
}

impl ConfinedDir {
    /// Opens the folder `base/below[0]/below[1]/…`: `base` following links, each component of
    /// `below` without. With `create`, missing folders are made (and a link or other
    /// non-folder in the place of a component is removed and replaced by a folder); without
    /// it, a missing, linked or non-folder component is an error.
    pub fn open(base: &Path, below: &[&str], create: bool) -> io::Result<Self> {
        if create {
            std::fs::create_dir_all(base)?;
        }
        let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC;
        let mut fd = rustix::fs::open(base, flags, Mode::empty())?;
        let mut path = base.to_path_buf();
        let mut replaced = Vec::new();
        for &name in below {
            plain(name)?;
            path.push(name);
            if create {
                match rustix::fs::mkdirat(&fd, name, Mode::from_raw_mode(0o777)) {
                    Ok(()) => {}
                    Err(rustix::io::Errno::EXIST) => {
                        let st = rustix::fs::statat(&fd, name, AtFlags::SYMLINK_NOFOLLOW)?;
                        if rustix::fs::FileType::from_raw_mode(st.st_mode)
                            != rustix::fs::FileType::Directory
                        {
                            rustix::fs::unlinkat(&fd, name, AtFlags::empty())?;
                            rustix::fs::mkdirat(&fd, name, Mode::from_raw_mode(0o777))?;
                            replaced.push(path.clone());
                        }
                    }
                    Err(e) => return Err(e.into()),
                }
            }
            let opened = rustix::fs::openat(&fd, name, flags | OFlags::NOFOLLOW, Mode::empty());
            fd = opened.map_err(|e| match e {
                rustix::io::Errno::NOTDIR => {
                    refused(format!("{} is not a folder (or is a link)", path.display()))
                }
                e => link_refused(e, &path),
            })?;
        }
        Ok(Self { fd, path, replaced })
    }

    /// The folder's path (for messages; operations go through the open handle).
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// `name` under [`path`](Self::path), for messages.
    pub fn display(&self, name: &str) -> PathBuf {
        self.path.join(name)
    }

    /// Entries that [`open`](Self::open) removed because they stood where a folder belonged.
    pub fn replaced(&self) -> &[PathBuf] {
        &self.replaced
    }

    fn open_with(&self, name: &str, flags: OFlags, mode: u32) -> io::Result<(File, Metadata)> {
        let path = self.display(plain(name)?);
        let fd =
            rustix::fs::openat(&self.fd, name, flags | base_flags(), Mode::from_raw_mode(mode))
                .map_err(|e| link_refused(e, &path))?;
        let file = File::from(fd);
        let meta = file.metadata()?;
        if !meta.is_file() {
            return Err(refused(format!(
                "{} is not a regular file ({})",
                path.display(),
                file_type_name(&meta.file_type())
            )));
        }
        Ok((file, meta))
    }

    /// Opens the regular file `name` for reading, with its metadata.
    pub fn open_read(&self, name: &str) -> io::Result<(File, Metadata)> {
        self.open_with(name, OFlags::RDONLY, 0)
    }

    /// Opens the regular file `name` for reading and writing, creating it when missing.
    pub fn open_write(&self, name: &str) -> io::Result<File> {
        self.open_with(name, OFlags::RDWR | OFlags::CREATE, 0o666).map(|(f, _)| f)
    }

    /// Creates the file `name`, which must not exist yet (in any form, links included).
    pub fn create_new(&self, name: &str) -> io::Result<File> {
        let flags = OFlags::RDWR | OFlags::CREATE | OFlags::EXCL;
        self.open_with(name, flags, 0o666).map(|(f, _)| f)
    }

    /// Removes the entry `name` itself (a link, never its target); folders are refused.
    pub fn remove(&self, name: &str) -> io::Result<()> {
        Ok(rustix::fs::unlinkat(&self.fd, plain(name)?, AtFlags::empty())?)
    }

    /// Replaces `name` with `bytes` so that a reader (or a crash) sees the old content or the
    /// new in full: a new temporary file in this folder, synced, renamed over `name` (which
    /// replaces a link or FIFO there, never writing through it), then the folder synced.
    pub fn write_atomic(&self, name: &str, bytes: &[u8]) -> io::Result<()> {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        plain(name)?;
        let unique = COUNTER.fetch_add(1, Ordering::Relaxed);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let tmp = format!(".{name}.{}-{unique}-{nanos}.tmp", std::process::id());
        let written = self.create_new(&tmp).and_then(|mut file| {
            file.write_all(bytes)?;
            file.sync_all()?;
            Ok(rustix::fs::renameat(&self.fd, tmp.as_str(), &self.fd, name)?)
        });
        if let Err(e) = written {
            let _ = rustix::fs::unlinkat(&self.fd, tmp.as_str(), AtFlags::empty());
            return Err(e);
        }
        self.sync()
    }

    /// Makes the folder's entries durable (some file systems cannot sync a folder: ignored).
    pub fn sync(&self) -> io::Result<()> {
        match rustix::fs::fsync(&self.fd) {
            Err(rustix::io::Errno::INVAL) => Ok(()),
            other => Ok(other?),
        }
    }

    /// The names in the folder (not `.` and `..`) with whether each is a regular file, as
    /// the folder lists them (links are not followed).
    pub fn entries(&self) -> io::Result<Vec<(OsString, bool)>> {
        let mut out = Vec::new();
        for entry in rustix::fs::Dir::read_from(self.fd.as_fd())? {
            let entry = entry?;
            let name = entry.file_name().to_bytes();
            if name == b"." || name == b".." {
                continue;
            }
            let regular = entry.file_type() == rustix::fs::FileType::RegularFile;
            out.push((OsString::from_vec(name.to_vec()), regular));
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    fn mkfifo(path: &Path) {
        let c = std::ffi::CString::new(path.to_str().unwrap()).unwrap();
        // SAFETY: `c` is a valid NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
    }

    #[test]
    fn names_must_be_plain() {
        for bad in ["", ".", "..", "../x", "/etc/passwd", "a/b", "a\0b"] {
            assert!(!is_plain_name(bad), "{bad:?}");
        }
        for good in ["seg-1-2.u8", "index.json", ".index.json.1.tmp", "..a"] {
            assert!(is_plain_name(good), "{good:?}");
        }
        let dir = tempfile::tempdir().unwrap();
        let confined = ConfinedDir::open(dir.path(), &["c"], true).unwrap();
        for bad in ["../x", "/etc/passwd", ".."] {
            let err = confined.open_read(bad).unwrap_err();
            assert_eq!(err.kind(), io::ErrorKind::InvalidInput, "{bad}");
            assert!(confined.write_atomic(bad, b"x").is_err());
            assert!(confined.remove(bad).is_err());
        }
    }

    #[test]
    fn links_fifos_and_folders_are_never_followed_or_waited_on() {
        let dir = tempfile::tempdir().unwrap();
        let outside = dir.path().join("user.txt");
        std::fs::write(&outside, b"precious").unwrap();
        let confined = ConfinedDir::open(dir.path(), &["cache"], true).unwrap();
        let inside = dir.path().join("cache");
        symlink(&outside, inside.join("index.json")).unwrap();
        mkfifo(&inside.join("lock"));
        std::fs::create_dir(inside.join("seg")).unwrap();
        for (name, what) in [("index.json", "symbolic link"), ("lock", "FIFO"), ("seg", "folder")] {
            let err = confined.open_read(name).unwrap_err();
            assert_eq!(err.kind(), io::ErrorKind::InvalidInput, "{name}: {err}");
            assert!(err.to_string().contains(what), "{name}: {err}");
            assert!(confined.open_write(name).is_err(), "{name}");
        }
        // Replacing the linked name replaces the link, not the file it points at.
        confined.write_atomic("index.json", b"{}").unwrap();
        assert_eq!(std::fs::read(&outside).unwrap(), b"precious");
        assert_eq!(std::fs::read(inside.join("index.json")).unwrap(), b"{}");
        // Removing a link removes the link only; a folder is refused.
        symlink(&outside, inside.join("seg-1.u8")).unwrap();
        confined.remove("seg-1.u8").unwrap();
        assert_eq!(std::fs::read(&outside).unwrap(), b"precious");
        assert!(confined.remove("seg").is_err());
        let names: Vec<_> = confined.entries().unwrap();
        assert!(names.iter().any(|(n, regular)| n == "index.json" && *regular));
        assert!(names.iter().any(|(n, regular)| n == "lock" && !*regular));
        assert!(
            !std::fs::read_dir(&inside)
                .unwrap()
                .any(|e| { e.unwrap().file_name().to_string_lossy().ends_with(".tmp") })
        );
    }

    #[test]
    fn a_linked_component_is_replaced_when_creating_and_refused_otherwise() {
        let dir = tempfile::tempdir().unwrap();
        let user = dir.path().join("user");
        std::fs::create_dir(&user).unwrap();
        std::fs::write(user.join("photo.png"), b"png").unwrap();
        let base = dir.path().join("base");
        std::fs::create_dir(&base).unwrap();
        symlink(&user, base.join("cache")).unwrap();
        let err = ConfinedDir::open(&base, &["cache", "images"], false).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput, "{err}");
        assert!(err.to_string().contains("link"), "{err}");
        let confined = ConfinedDir::open(&base, &["cache", "images"], true).unwrap();
        assert_eq!(confined.replaced(), [base.join("cache")]);
        confined.write_atomic("index.json", b"{}").unwrap();
        // The user's folder is as it was; the cache is a real folder now.
        let names: Vec<_> =
            std::fs::read_dir(&user).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(names, ["photo.png"]);
        assert!(!std::fs::symlink_metadata(base.join("cache")).unwrap().is_symlink());
        assert!(base.join("cache/images/index.json").is_file());
    }
}
