//! The one output guard every command that writes goes through.
//!
//! - **No output is an input.** [`OutputGuard`] remembers an output file's identity (device and
//!   inode) and refuses any input that is the same file, whatever its name: a symbolic link,
//!   a hard link or another spelling. [`lies_within`] tells whether a folder is, or lies
//!   inside, another one (a run directory inside its dataset, an output folder that is the
//!   input folder).
//! - **An output folder never loses what the tool did not write.** [`OutputDir`] writes files
//!   of names the tool chooses (heat maps, tables) into a folder. It keeps a record
//!   ([`OUTPUTS_RECORD`]) of the files it wrote, with their length and xxh3, and replaces a
//!   file only while it still holds exactly those bytes. Anything else at a name (the user's
//!   own file, a link, a FIFO, a folder) is left alone: the caller picks another name and says
//!   so. Nothing is written through a link, and nothing is opened that could block.
//!   `overwrite` lets regular files be replaced as well (never links or special files).

use std::collections::HashMap;
use std::fs::OpenOptions;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use crate::hash::ContentDigest;
use crate::identity::FileId;
use crate::text::Shown;
use crate::walk::file_type_name;
use crate::write::{is_stdout, replace_file, write_new};

/// An output file and its identity when it exists, to check the inputs against.
#[derive(Debug, Clone)]
pub struct OutputGuard {
    out: PathBuf,
    id: Option<FileId>,
}

impl OutputGuard {
    /// Remembers the identity of `out` (links followed). Nothing to guard when `out` does not
    /// exist yet, is `-` (standard output), or is not a regular file (`/dev/null`, a FIFO): such
    /// an output cannot be one of the files read. Nothing is opened, so a FIFO cannot block.
    pub fn new(out: &Path) -> Self {
        let id = if is_stdout(out) {
            None
        } else {
            std::fs::metadata(out).ok().filter(|m| m.is_file()).map(|m| FileId::from_metadata(&m))
        };
        Self { out: out.to_path_buf(), id }
    }

    /// Whether the output exists as a regular file (checks do something).
    pub fn is_active(&self) -> bool {
        self.id.is_some()
    }

    /// Fails (`InvalidInput`) when `input` is the output file; `what` names the input's role
    /// ("the score file", "the input image").
    pub fn check(&self, input: &Path, what: &str) -> io::Result<()> {
        match (self.id, FileId::of(input)) {
            (Some(out), Some(id)) if out == id => Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "refusing to write {}: it is the same file as {what} {} (choose another \
                     output)",
                    Shown::path(&self.out),
                    Shown::path(input)
                ),
            )),
            _ => Ok(()),
        }
    }

    /// Checks every file of a folder and of its sub-folders one level down (a run directory
    /// and its `checkpoint/`).
    pub fn check_folder(&self, dir: &Path, what: &str) -> io::Result<()> {
        if !self.is_active() {
            return Ok(());
        }
        for entry in std::fs::read_dir(dir)?.filter_map(|e| e.ok()).map(|e| e.path()) {
            if entry.is_dir() {
                for inner in std::fs::read_dir(&entry).into_iter().flatten().filter_map(|e| e.ok())
                {
                    self.check(&inner.path(), what)?;
                }
            } else {
                self.check(&entry, what)?;
            }
        }
        Ok(())
    }
}

/// Whether `path` is the folder `folder` or lies inside it, by identity: links, `..` and other
/// spellings are resolved. A `path` that does not exist yet is placed by its nearest existing
/// ancestor (`ds/run-to-be` lies inside `ds`). `false` when `folder` does not exist.
pub fn lies_within(path: &Path, folder: &Path) -> bool {
    let Some(target) = FileId::of(folder) else { return false };
    let absolute = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    // The nearest ancestor that exists, with its links resolved: walking up its parents is
    // then walking up the real folders.
    let Some(real) = absolute.ancestors().find_map(|a| std::fs::canonicalize(a).ok()) else {
        return false;
    };
    real.ancestors().any(|a| FileId::of(a) == Some(target))
}

/// Name of the record an [`OutputDir`] keeps of the files it wrote.
pub const OUTPUTS_RECORD: &str = ".animescore-outputs";

/// Largest record read; a larger one is treated as damaged (nothing in the folder is ours).
const MAX_RECORD_BYTES: u64 = 64 << 20;

/// What is at a name in an [`OutputDir`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Slot {
    /// Nothing: a new file is written.
    Free,
    /// A file this tool wrote and nobody changed since (or, with `overwrite`, any regular
    /// file): it is replaced.
    Replaceable,
    /// Something this tool must not replace, and why ("a link", "a FIFO", "a file this
    /// command did not write").
    Taken(String),
}

/// A folder a command writes files of its own naming into (see the module documentation).
#[derive(Debug)]
pub struct OutputDir {
    dir: PathBuf,
    overwrite: bool,
    /// Files written by this tool: name (bytes) → their content when written.
    owned: HashMap<Vec<u8>, ContentDigest>,
}

impl OutputDir {
    /// Creates `dir` if needed (the folder itself may be a link to a folder: the user named it)
    /// and reads its record. With `overwrite`, regular files the tool did not write may be
    /// replaced too.
    pub fn create(dir: &Path, overwrite: bool) -> io::Result<Self> {
        std::fs::create_dir_all(dir)?;
        let owned = read_record(&dir.join(OUTPUTS_RECORD));
        let out = Self { dir: dir.to_path_buf(), overwrite, owned };
        // A compact record, as a regular file of our own (a link or FIFO planted under its
        // name is replaced, never followed).
        out.save_record()?;
        Ok(out)
    }

    /// The folder.
    pub fn path(&self) -> &Path {
        &self.dir
    }

    /// What is at `name` now. Only `lstat` and, for a recorded file, a read of the regular file
    /// itself: a FIFO or a link is never opened.
    pub fn slot(&self, name: &str) -> io::Result<Slot> {
        self.slot_as(name, self.overwrite)
    }

    /// [`Self::slot`] with `overwrite` given: without it, only our own unchanged file is
    /// [`Slot::Replaceable`].
    fn slot_as(&self, name: &str, overwrite: bool) -> io::Result<Slot> {
        check_name(name)?;
        let path = self.dir.join(name);
        let meta = match std::fs::symlink_metadata(&path) {
            Ok(m) => m,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Slot::Free),
            Err(e) => return Err(e),
        };
        if !meta.is_file() {
            let what = file_type_name(&meta.file_type());
            return Ok(Slot::Taken(format!("a {what}")));
        }
        if overwrite {
            return Ok(Slot::Replaceable);
        }
        let ours = match self.owned.get(name.as_bytes()) {
            Some(d) if d.len == meta.len() => ContentDigest::of_file(&path).ok() == Some(*d),
            _ => false,
        };
        Ok(if ours {
            Slot::Replaceable
        } else {
            Slot::Taken("a file this command did not write (or one changed since)".into())
        })
    }

    /// Whether `name` can be written (it is free or replaceable).
    pub fn is_writable(&self, name: &str) -> bool {
        matches!(self.slot(name), Ok(Slot::Free | Slot::Replaceable))
    }

    /// `stem` + `ext` (`x.png`), or the first of `stem-2` + `ext`, `stem-3` + `ext`, … whose
    /// names with every one of `exts` are writable (a heat map and its overlay share a stem).
    /// `taken` rejects names already used in this session.
    pub fn free_stem(&self, stem: &str, exts: &[&str], taken: impl Fn(&str) -> bool) -> String {
        let mut n = 1usize;
        loop {
            let candidate = if n == 1 { stem.to_string() } else { format!("{stem}-{n}") };
            if !taken(&candidate)
                && exts.iter().all(|ext| self.is_writable(&format!("{candidate}{ext}")))
            {
                return candidate;
            }
            n += 1;
        }
    }

    /// Writes `bytes` as `name` atomically and records it. `AlreadyExists` when the name is
    /// [`Slot::Taken`]: nothing there is touched.
    pub fn write(&mut self, name: &str, bytes: &[u8]) -> io::Result<PathBuf> {
        let path = self.dir.join(name);
        match self.slot(name)? {
            Slot::Free => write_new(&path, bytes)?,
            Slot::Replaceable => replace_file(&path, bytes)?,
            Slot::Taken(what) => {
                return Err(io::Error::new(
                    io::ErrorKind::AlreadyExists,
                    format!("{} is {what}: not replaced", Shown::path(&path)),
                ));
            }
        }
        let digest = ContentDigest::of_bytes(bytes);
        self.owned.insert(name.as_bytes().to_vec(), digest);
        self.append_record(name, digest)?;
        Ok(path)
    }

    /// Removes `name` when it is a file this tool wrote and nobody changed since (a stale
    /// output that would contradict this run's). Anything else there, `overwrite` or not, is
    /// left alone; nothing there is `Ok` too.
    pub fn remove_own(&mut self, name: &str) -> io::Result<()> {
        if self.slot_as(name, false)? == Slot::Replaceable {
            std::fs::remove_file(self.dir.join(name))?;
            self.owned.remove(name.as_bytes());
        }
        Ok(())
    }

    fn append_record(&self, name: &str, digest: ContentDigest) -> io::Result<()> {
        if name.contains(['\n', '\r']) {
            return Ok(()); // not recordable: the file counts as the user's next time
        }
        let mut options = OpenOptions::new();
        options.append(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK);
        }
        let mut file = options.open(self.dir.join(OUTPUTS_RECORD))?;
        if !file.metadata()?.is_file() {
            return Err(io::Error::new(io::ErrorKind::InvalidInput, "record is not a file"));
        }
        file.write_all(record_line(name.as_bytes(), digest).as_slice())
    }

    fn save_record(&self) -> io::Result<()> {
        let mut names: Vec<(&Vec<u8>, &ContentDigest)> = self.owned.iter().collect();
        names.sort_by(|a, b| a.0.cmp(b.0));
        let bytes: Vec<u8> = names.into_iter().flat_map(|(n, d)| record_line(n, *d)).collect();
        replace_file(&self.dir.join(OUTPUTS_RECORD), &bytes)
    }
}

/// A name inside the folder: no separator, not `.`/`..`, not the record.
fn check_name(name: &str) -> io::Result<()> {
    let plain = !name.is_empty()
        && !name.contains(['/', '\\', '\0'])
        && name != "."
        && name != ".."
        && name != OUTPUTS_RECORD;
    if plain {
        Ok(())
    } else {
        Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("`{}` is not a plain file name", Shown::text(name)),
        ))
    }
}

fn record_line(name: &[u8], d: ContentDigest) -> Vec<u8> {
    let mut line = format!("{} {} ", d.xxh3_hex(), d.len).into_bytes();
    line.extend_from_slice(name);
    line.push(b'\n');
    line
}

/// The record's entries; later lines win. A missing, unreadable, linked or damaged record
/// holds nothing (every file in the folder then counts as the user's).
fn read_record(path: &Path) -> HashMap<Vec<u8>, ContentDigest> {
    let regular = std::fs::symlink_metadata(path).is_ok_and(|m| m.is_file());
    let bytes = if regular { crate::read::read_regular(path, MAX_RECORD_BYTES).ok() } else { None };
    let mut owned = HashMap::new();
    for line in bytes.unwrap_or_default().split(|&b| b == b'\n') {
        let mut parts = line.splitn(3, |&b| b == b' ');
        let (Some(hex), Some(len), Some(name)) = (parts.next(), parts.next(), parts.next()) else {
            continue;
        };
        let len = std::str::from_utf8(len).ok().and_then(|l| l.parse().ok());
        let digest =
            std::str::from_utf8(hex).ok().zip(len).and_then(|(h, l)| ContentDigest::from_hex(l, h));
        if let Some(d) = digest {
            owned.insert(name.to_vec(), d);
        }
    }
    owned
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;

    #[test]
    fn the_guard_catches_links_and_other_spellings() {
        let dir = tempfile::tempdir().unwrap();
        let scores = dir.path().join("s.csv");
        std::fs::write(&scores, b"x").unwrap();
        let link = dir.path().join("page.html");
        std::os::unix::fs::symlink(&scores, &link).unwrap();
        let hard = dir.path().join("hard.html");
        std::fs::hard_link(&scores, &hard).unwrap();
        let dotted = dir.path().join(".").join("s.csv");
        for out in [&scores, &link, &hard, &dotted] {
            let guard = OutputGuard::new(out);
            assert!(guard.is_active());
            let err = guard.check(&scores, "the score file").unwrap_err();
            assert!(err.to_string().contains("the same file as the score file"), "{err}");
        }
        let other = dir.path().join("other");
        assert!(!OutputGuard::new(&other).is_active());
        std::fs::write(&other, b"y").unwrap();
        assert!(OutputGuard::new(&other).check(&scores, "x").is_ok());
        assert!(!OutputGuard::new(Path::new("-")).is_active());
        assert!(!OutputGuard::new(Path::new("/dev/null")).is_active());
    }

    #[test]
    fn folders_inside_folders_by_identity() {
        let dir = tempfile::tempdir().unwrap();
        let ds = dir.path().join("ds");
        std::fs::create_dir_all(ds.join("sub")).unwrap();
        let link = dir.path().join("link");
        std::os::unix::fs::symlink(&ds, &link).unwrap();
        assert!(lies_within(&ds, &ds));
        assert!(lies_within(&ds.join("sub/new/deeper"), &ds));
        assert!(lies_within(&link.join("sub"), &ds));
        assert!(lies_within(&ds.join("sub/../sub"), &link));
        assert!(!lies_within(dir.path(), &ds));
        assert!(!lies_within(&dir.path().join("other"), &ds));
        assert!(!lies_within(&ds, &dir.path().join("missing")));
    }

    #[test]
    fn an_output_folder_replaces_only_its_own_unchanged_files() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("out");
        std::fs::create_dir(&out).unwrap();
        std::fs::write(out.join("user.png"), b"user's").unwrap();
        let elsewhere = dir.path().join("elsewhere.txt");
        std::fs::write(&elsewhere, b"keep").unwrap();
        std::os::unix::fs::symlink(&elsewhere, out.join("link.png")).unwrap();
        let fifo = std::ffi::CString::new(out.join("fifo.png").to_str().unwrap()).unwrap();
        // SAFETY: a valid NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(fifo.as_ptr(), 0o600) }, 0);

        let mut d = OutputDir::create(&out, false).unwrap();
        for name in ["user.png", "link.png", "fifo.png"] {
            assert!(matches!(d.slot(name).unwrap(), Slot::Taken(_)), "{name}");
            let err = d.write(name, b"ours").unwrap_err();
            assert_eq!(err.kind(), io::ErrorKind::AlreadyExists, "{name}");
        }
        assert_eq!(d.free_stem("user", &[".png"], |_| false), "user-2");
        d.write("mine.png", b"one").unwrap();
        d.write("mine.png", b"two").unwrap();
        drop(d);
        // A later session replaces its own file; once the user edits it, it is theirs.
        let mut d = OutputDir::create(&out, false).unwrap();
        assert_eq!(d.slot("mine.png").unwrap(), Slot::Replaceable);
        d.write("mine.png", b"three").unwrap();
        std::fs::write(out.join("mine.png"), b"edited").unwrap();
        assert!(matches!(d.slot("mine.png").unwrap(), Slot::Taken(_)));
        assert_eq!(std::fs::read(out.join("user.png")).unwrap(), b"user's");
        assert_eq!(std::fs::read(&elsewhere).unwrap(), b"keep");
        // `overwrite` replaces regular files, never links or FIFOs.
        let mut d = OutputDir::create(&out, true).unwrap();
        d.write("user.png", b"replaced").unwrap();
        assert!(d.write("link.png", b"x").is_err());
        assert_eq!(std::fs::read(&elsewhere).unwrap(), b"keep");
        assert!(d.write("../escape.png", b"x").is_err());
        // Removing a stale output takes only our own unchanged file, even with `overwrite`.
        d.remove_own("user.png").unwrap();
        assert!(!out.join("user.png").exists(), "replaced under overwrite, so ours");
        std::fs::write(out.join("theirs.png"), b"user's").unwrap();
        d.remove_own("theirs.png").unwrap();
        d.remove_own("link.png").unwrap();
        d.remove_own("absent.png").unwrap();
        assert!(out.join("theirs.png").exists() && out.join("link.png").exists());
        assert!(d.write(OUTPUTS_RECORD, b"x").is_err());
    }
}
