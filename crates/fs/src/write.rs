//! Writing a file so that a reader (or a crash) sees the old content or the new one in full.
//!
//! The bytes go to a uniquely named temporary file beside the target (two threads or processes
//! never share one), which is fsync'ed and renamed over the target; then the folder is
//! fsync'ed so the rename itself survives a power loss. On any failure the temporary file is
//! removed. A symlink is written through (its target is replaced, the link kept), and a target
//! that is not a regular file (`/dev/null`, a FIFO, a terminal) is written to directly: renaming
//! over it would replace the system's `/dev/null` with a regular file.
//!
//! Inside a folder whose file names the tool chooses itself (an output folder, captions beside
//! images), [`write_new`] and [`replace_file`] never follow a link: the name itself gets the
//! new file.

use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use crate::hash::ContentDigest;
use crate::read::open_regular_with_metadata;

/// The conventional name for standard output in an `--out` argument.
pub fn is_stdout(path: &Path) -> bool {
    path.as_os_str() == "-"
}

/// Writes `bytes` to `path` atomically (see the module documentation).
pub fn write_atomic(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let target = resolve_links(path)?;
    match std::fs::metadata(&target) {
        Ok(meta) if !meta.is_file() && !meta.is_dir() => write_through(&target, bytes),
        _ => persist(&target, bytes, Clobber::Replace),
    }
}

/// Writes `bytes` to a new file `path` atomically: `AlreadyExists` when anything (a file, a
/// link, a FIFO) is there, even when it appears between the check and the rename.
pub fn write_new(path: &Path, bytes: &[u8]) -> io::Result<()> {
    persist(path, bytes, Clobber::Never)
}

/// Replaces `path` atomically with a file holding `bytes`. A link at `path` is replaced by the
/// file, never written through; nothing is ever opened at `path` (a FIFO cannot block).
pub fn replace_file(path: &Path, bytes: &[u8]) -> io::Result<()> {
    persist(path, bytes, Clobber::Replace)
}

/// Copies the regular file `source` (links followed; a FIFO is refused without blocking) to a
/// new file `dest`, atomically: `AlreadyExists` when anything is at `dest`, and a process killed
/// part-way leaves at most a hidden temporary file, never a partial `dest`. Returns the digest
/// of the bytes copied.
pub fn copy_new(source: &Path, dest: &Path) -> io::Result<ContentDigest> {
    copy_persist(source, dest, Clobber::Never)
}

/// [`copy_new`], replacing what is at `dest` (a link there is replaced, never followed).
pub fn copy_replacing(source: &Path, dest: &Path) -> io::Result<ContentDigest> {
    copy_persist(source, dest, Clobber::Replace)
}

fn copy_persist(source: &Path, dest: &Path, clobber: Clobber) -> io::Result<ContentDigest> {
    let (from, meta) = open_regular_with_metadata(source)?;
    let mut digest = None;
    persist_with(dest, clobber, meta_mode(&meta), |tmp| {
        digest = Some(ContentDigest::of_reader(Tee { from, to: tmp })?);
        Ok(())
    })?;
    digest.ok_or_else(|| io::Error::other("copy did not run"))
}

/// A reader that writes everything it reads to `to` as well.
struct Tee<R, W> {
    from: R,
    to: W,
}

impl<R: Read, W: Write> Read for Tee<R, W> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.from.read(buf)?;
        self.to.write_all(&buf[..n])?;
        Ok(n)
    }
}

/// The permission bits a copy of a file with `meta` gets.
fn meta_mode(meta: &std::fs::Metadata) -> Option<u32> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        Some(meta.permissions().mode())
    }
    #[cfg(not(unix))]
    {
        let _ = meta;
        None
    }
}

/// [`write_atomic`], or standard output when `path` is `-`. A closed or full standard output is
/// an error (never a panic).
pub fn write_output(path: &Path, bytes: &[u8]) -> io::Result<()> {
    if is_stdout(path) {
        let mut out = io::stdout().lock();
        out.write_all(bytes)?;
        return out.flush();
    }
    write_atomic(path, bytes)
}

/// Follows symlinks (also dangling ones: the link's target is created) up to a depth limit.
fn resolve_links(path: &Path) -> io::Result<PathBuf> {
    let mut current = path.to_path_buf();
    for _ in 0..40 {
        match std::fs::symlink_metadata(&current) {
            Ok(meta) if meta.file_type().is_symlink() => {
                let link = std::fs::read_link(&current)?;
                current = match current.parent() {
                    Some(parent) if link.is_relative() => parent.join(link),
                    _ => link,
                };
            }
            _ => return Ok(current),
        }
    }
    Err(io::Error::new(io::ErrorKind::InvalidInput, "too many levels of symbolic links"))
}

fn write_through(target: &Path, bytes: &[u8]) -> io::Result<()> {
    let mut file = std::fs::OpenOptions::new().write(true).open(target)?;
    file.write_all(bytes)?;
    file.flush()
}

/// Whether a rename may replace what is at the target.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Clobber {
    Replace,
    Never,
}

fn persist(target: &Path, bytes: &[u8], clobber: Clobber) -> io::Result<()> {
    persist_with(target, clobber, None, |tmp| tmp.write_all(bytes))
}

/// A temporary file beside `target`, filled by `fill`, fsync'ed and renamed to `target`; the
/// mode is `mode`, else that of the regular file replaced, else 0666 less the umask.
fn persist_with(
    target: &Path,
    clobber: Clobber,
    mode: Option<u32>,
    fill: impl FnOnce(&mut std::fs::File) -> io::Result<()>,
) -> io::Result<()> {
    let dir = match target.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let name = target.file_name().and_then(|n| n.to_str()).unwrap_or("file");
    let prefix = format!(".{name}.");
    let mut builder = tempfile::Builder::new();
    builder.prefix(&prefix).suffix(".tmp");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        // tempfile creates 0600; an output should get the usual mode (0666 less the umask),
        // or keep the mode of the file it replaces.
        let mode = mode.unwrap_or_else(|| {
            std::fs::symlink_metadata(target)
                .ok()
                .filter(std::fs::Metadata::is_file)
                .map_or(0o666, |m| m.permissions().mode())
        });
        builder.permissions(std::fs::Permissions::from_mode(mode & 0o7777));
    }
    #[cfg(not(unix))]
    let _ = mode;
    // Dropping the temporary file on any error below removes it.
    let mut tmp = builder.tempfile_in(dir)?;
    fill(tmp.as_file_mut())?;
    tmp.as_file().sync_all()?;
    match clobber {
        Clobber::Replace => tmp.persist(target).map_err(|e| e.error)?,
        Clobber::Never => tmp.persist_noclobber(target).map_err(|e| e.error)?,
    };
    sync_dir(dir)
}

/// Makes a rename in `dir` durable. Folders cannot be opened for syncing everywhere, so a
/// failure to open is ignored; a failure to sync is not.
fn sync_dir(dir: &Path) -> io::Result<()> {
    match std::fs::File::open(dir) {
        Ok(handle) => match handle.sync_all() {
            // Some file systems do not support syncing a folder.
            Err(e) if e.kind() == io::ErrorKind::InvalidInput => Ok(()),
            other => other,
        },
        Err(_) => Ok(()),
    }
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;

    fn leftovers(dir: &Path) -> Vec<String> {
        std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(".tmp"))
            .collect()
    }

    #[test]
    fn replaces_content_and_keeps_no_temporary_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.csv");
        write_atomic(&path, b"one").unwrap();
        write_atomic(&path, b"two").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"two");
        assert!(leftovers(dir.path()).is_empty());
    }

    #[test]
    fn a_failed_write_removes_its_temporary_file() {
        let dir = tempfile::tempdir().unwrap();
        // The target is a folder: the rename fails after the temporary file was written.
        let target = dir.path().join("taken");
        std::fs::create_dir(&target).unwrap();
        std::fs::write(target.join("x"), b"x").unwrap();
        assert!(write_atomic(&target, b"data").is_err());
        assert!(leftovers(dir.path()).is_empty(), "{:?}", leftovers(dir.path()));
    }

    #[test]
    fn links_are_written_through_and_devices_are_not_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let real = dir.path().join("real.csv");
        std::fs::write(&real, b"old").unwrap();
        let link = dir.path().join("link.csv");
        std::os::unix::fs::symlink(&real, &link).unwrap();
        write_atomic(&link, b"new").unwrap();
        assert!(std::fs::symlink_metadata(&link).unwrap().file_type().is_symlink());
        assert_eq!(std::fs::read(&real).unwrap(), b"new");
        // A link to /dev/null stays a link to the device.
        let null = dir.path().join("null.csv");
        std::os::unix::fs::symlink("/dev/null", &null).unwrap();
        write_atomic(&null, b"gone").unwrap();
        assert!(std::fs::symlink_metadata(&null).unwrap().file_type().is_symlink());
        assert!(!std::fs::metadata("/dev/null").unwrap().is_file());
    }

    #[test]
    fn new_files_never_replace_and_replacing_never_follows_a_link() {
        let dir = tempfile::tempdir().unwrap();
        let real = dir.path().join("real.txt");
        std::fs::write(&real, b"user's").unwrap();
        let link = dir.path().join("link.txt");
        std::os::unix::fs::symlink(&real, &link).unwrap();
        for taken in [&real, &link] {
            let err = write_new(taken, b"ours").unwrap_err();
            assert_eq!(err.kind(), io::ErrorKind::AlreadyExists);
        }
        replace_file(&link, b"ours").unwrap();
        assert_eq!(std::fs::read(&real).unwrap(), b"user's");
        assert!(std::fs::symlink_metadata(&link).unwrap().is_file());
        assert_eq!(std::fs::read(&link).unwrap(), b"ours");
        let new = dir.path().join("new.txt");
        write_new(&new, b"x").unwrap();
        assert_eq!(std::fs::read(&new).unwrap(), b"x");
        assert!(leftovers(dir.path()).is_empty());
    }

    #[test]
    fn copies_are_new_files_with_their_digest() {
        let dir = tempfile::tempdir().unwrap();
        let source = dir.path().join("a.png");
        std::fs::write(&source, vec![3u8; 100_000]).unwrap();
        let copy = dir.path().join("b.png");
        let digest = copy_new(&source, &copy).unwrap();
        assert_eq!(digest, ContentDigest::of_bytes(&std::fs::read(&source).unwrap()));
        assert_eq!(std::fs::read(&copy).unwrap(), std::fs::read(&source).unwrap());
        assert_eq!(copy_new(&source, &copy).unwrap_err().kind(), io::ErrorKind::AlreadyExists);
        std::fs::write(&copy, b"").unwrap();
        copy_replacing(&source, &copy).unwrap();
        assert_eq!(std::fs::read(&copy).unwrap().len(), 100_000);
        assert!(copy_new(Path::new("/dev/zero"), &dir.path().join("z")).is_err());
        assert!(leftovers(dir.path()).is_empty());
    }

    #[test]
    fn concurrent_writers_never_share_a_temporary_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("same.json");
        std::thread::scope(|s| {
            for t in 0..8u8 {
                let path = &path;
                s.spawn(move || {
                    for _ in 0..20 {
                        write_atomic(path, &[t; 4096]).unwrap();
                    }
                });
            }
        });
        let bytes = std::fs::read(&path).unwrap();
        assert!(bytes.len() == 4096 && bytes.iter().all(|&b| b == bytes[0]));
        assert!(leftovers(dir.path()).is_empty());
    }
}
