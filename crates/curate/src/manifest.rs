//! The manifest of a curation run and [`undo`].
//!
//! Every transfer is appended to a CSV with the columns [`MANIFEST_COLUMNS`] and flushed at
//! once. A `done` row records what was created at the destination: its length and xxh3 (for
//! a symbolic link, of the path it holds) and its identity (device, inode). Paths are
//! absolute, so a manifest is undone from any folder.
//!
//! A manifest is untrusted input: it may have been edited, and the files may have changed
//! since. [`undo`] therefore acts on a destination only while it is still exactly what the row
//! recorded, and never removes the last copy of a file:
//!
//! - a **symbolic link** is removed while it still holds the recorded path;
//! - a **hard link** is removed only while the source is still the same file (another name of
//!   the data remains);
//! - a **copy** is removed only while it is unchanged and the source still holds the same
//!   bytes;
//! - a **moved** file goes back to its source (never over another file). A source that is a
//!   shorter prefix of it (an earlier undo across file systems killed part-way) is completed.
//!
//! Anything else is kept and reported with the reason. Input that is not a manifest (a
//! folder, an empty file, other columns, a FIFO) is refused before anything is done.

use std::fs::{File, OpenOptions};
use std::io::Read;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use animescore_fs::{ContentDigest, FileId, Shown, copy_new, copy_replacing};

use crate::error::{CurateError, Result};
use crate::transfer::{Created, TransferKind, is_strict_prefix};

/// Columns of a manifest, in order.
pub const MANIFEST_COLUMNS: [&str; 9] =
    ["action", "source", "destination", "status", "reason", "size", "xxh3", "device", "inode"];

/// The columns of manifests before content hashes were recorded.
const OLD_COLUMNS: [&str; 5] = ["action", "source", "destination", "status", "reason"];

/// Largest manifest read (about five million rows).
pub const MAX_MANIFEST_BYTES: u64 = 1 << 30;

/// Outcome of one action.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Status {
    /// Done.
    Done,
    /// What a dry run would do.
    Planned,
    /// Left alone (destination exists).
    Skipped,
    /// Failed (source missing or not an image, I/O error).
    Failed,
}

/// One line of the manifest.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ManifestRow {
    /// `copy`, `move`, `hardlink`, `symlink`.
    pub action: TransferKind,
    /// The file acted on (absolute).
    pub source: PathBuf,
    /// Where it went (absolute).
    pub destination: PathBuf,
    /// Outcome.
    pub status: Status,
    /// Why it was skipped or failed.
    pub reason: String,
    /// `done` rows: length of what was created (for a symbolic link, of the path it holds).
    pub size: Option<u64>,
    /// `done` rows: its xxh3-64, 16 hex digits.
    pub xxh3: Option<String>,
    /// `done` rows: device of the created file (the link itself for a symbolic link).
    pub device: Option<u64>,
    /// `done` rows: its inode.
    pub inode: Option<u64>,
}

impl ManifestRow {
    /// A row of an action that did not happen (planned, skipped, failed).
    pub(crate) fn new(
        action: TransferKind,
        source: PathBuf,
        destination: PathBuf,
        status: Status,
        reason: String,
    ) -> Self {
        Self {
            action,
            source,
            destination,
            status,
            reason,
            size: None,
            xxh3: None,
            device: None,
            inode: None,
        }
    }

    /// The row of a done action and what it created.
    pub(crate) fn done(
        action: TransferKind,
        source: PathBuf,
        destination: PathBuf,
        c: Created,
    ) -> Self {
        Self {
            size: Some(c.digest.len),
            xxh3: Some(c.digest.xxh3_hex()),
            device: Some(c.id.dev),
            inode: Some(c.id.ino),
            ..Self::new(action, source, destination, Status::Done, String::new())
        }
    }

    /// What a `done` row says was created.
    fn created(&self) -> Option<Created> {
        let digest = ContentDigest::from_hex(self.size?, self.xxh3.as_deref()?)?;
        Some(Created { digest, id: FileId { dev: self.device?, ino: self.inode? } })
    }
}

/// The manifest CSV being written, one flushed line per action.
pub(crate) struct Manifest {
    path: PathBuf,
    writer: csv::Writer<File>,
}

impl Manifest {
    /// Creates the manifest; a file (or link) already at `path` is never replaced.
    pub(crate) fn create(path: &Path) -> Result<Self> {
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(|e| CurateError::io(parent, e))?;
        }
        let file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(path)
            .map_err(|e| CurateError::io(path, e))?;
        Ok(Self { path: path.to_path_buf(), writer: csv::Writer::from_writer(file) })
    }

    pub(crate) fn push(&mut self, row: &ManifestRow) -> Result<()> {
        let fail = |e: &dyn std::fmt::Display| CurateError::format(&self.path, e);
        self.writer.serialize(row).map_err(|e| fail(&e))?;
        self.writer.flush().map_err(|e| fail(&e))
    }
}

/// What an [`undo`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UndoReport {
    /// Actions reverted.
    pub reverted: usize,
    /// Actions with nothing to revert (not done, or already reverted).
    pub skipped: usize,
    /// Destinations left in place, with the reason (changed since, or the last copy).
    pub kept: Vec<(PathBuf, String)>,
    /// Rows that could not be read or reverted, with the reason.
    pub failed: Vec<String>,
}

/// Reverts the `done` actions of a manifest, last first (see the module documentation).
pub fn undo(manifest: &Path, dry_run: bool) -> Result<UndoReport> {
    let mut report = UndoReport::default();
    let rows = read_manifest(manifest, &mut report)?;
    for (line, row) in rows.into_iter().rev() {
        if row.status != Status::Done {
            report.skipped += 1;
            continue;
        }
        let Some(recorded) = row.created() else {
            report.failed.push(format!(
                "{} line {line}: a done row without size, xxh3, device and inode",
                Shown::path(manifest)
            ));
            continue;
        };
        match revert(&row, recorded, dry_run) {
            Ok(Outcome::Reverted) => report.reverted += 1,
            Ok(Outcome::Nothing) => report.skipped += 1,
            Ok(Outcome::Kept(why)) => report.kept.push((row.destination.clone(), why)),
            Err(e) => report.failed.push(format!("{}: {e}", Shown::path(&row.destination))),
        }
    }
    Ok(report)
}

/// Reads and checks a manifest: a regular file with [`MANIFEST_COLUMNS`]. Rows that do not
/// parse are listed in `report.failed`.
fn read_manifest(path: &Path, report: &mut UndoReport) -> Result<Vec<(usize, ManifestRow)>> {
    let refuse = |why: String| {
        CurateError::format(
            path,
            format!("not a manifest of `animescore curate`: {why}; nothing was undone"),
        )
    };
    let (file, meta) =
        animescore_fs::open_regular_with_metadata(path).map_err(|e| refuse(e.to_string()))?;
    if meta.len() == 0 {
        return Err(refuse("the file is empty".into()));
    }
    if meta.len() > MAX_MANIFEST_BYTES {
        return Err(refuse(format!("larger than {MAX_MANIFEST_BYTES} bytes")));
    }
    let mut reader = csv::Reader::from_reader(file.take(MAX_MANIFEST_BYTES));
    let header = reader.headers().map_err(|e| refuse(e.to_string()))?.clone();
    if header.iter().eq(OLD_COLUMNS) {
        return Err(refuse(
            "it was written by an older animescore that recorded no content hashes, so nothing \
             in it can be checked; revert by hand"
                .into(),
        ));
    }
    if !header.iter().eq(MANIFEST_COLUMNS) {
        let found: Vec<String> = header.iter().map(|h| Shown::text(h).to_string()).collect();
        return Err(refuse(format!(
            "columns `{}`, expected `{}`",
            found.join(","),
            MANIFEST_COLUMNS.join(",")
        )));
    }
    let mut rows = Vec::new();
    for (i, row) in reader.deserialize::<ManifestRow>().enumerate() {
        match row {
            Ok(r) => rows.push((i + 2, r)),
            Err(e) => report.failed.push(format!("{} line {}: {e}", Shown::path(path), i + 2)),
        }
    }
    Ok(rows)
}

enum Outcome {
    Reverted,
    /// Already reverted.
    Nothing,
    Kept(String),
}

fn revert(row: &ManifestRow, recorded: Created, dry_run: bool) -> std::io::Result<Outcome> {
    let (source, destination) = (&row.source, &row.destination);
    let found = Created::found(row.action, destination)?;
    let Some(found) = found else {
        let gone = std::fs::symlink_metadata(destination).is_err();
        return Ok(if gone {
            Outcome::Nothing
        } else {
            Outcome::Kept("is no longer what curate made there".into())
        });
    };
    let unchanged = found == recorded;
    let outcome = match row.action {
        TransferKind::Symlink if unchanged => Outcome::Reverted,
        TransferKind::Hardlink if found.id == recorded.id => {
            let source_id =
                std::fs::symlink_metadata(source).ok().map(|m| FileId::from_metadata(&m));
            if source_id == Some(recorded.id) {
                Outcome::Reverted
            } else {
                Outcome::Kept(format!(
                    "{} is no longer the same file, so this link may be the last name of the data",
                    Shown::path(source)
                ))
            }
        }
        TransferKind::Copy if unchanged => {
            if ContentDigest::of_file(source).ok() == Some(recorded.digest) {
                Outcome::Reverted
            } else {
                Outcome::Kept(format!(
                    "{} is gone or changed, so this copy may be the last one",
                    Shown::path(source)
                ))
            }
        }
        TransferKind::Move if unchanged => return move_back(source, destination, dry_run),
        _ => Outcome::Kept("changed since curate made it; left as it is".into()),
    };
    if let (Outcome::Reverted, false) = (&outcome, dry_run) {
        std::fs::remove_file(destination)?;
    }
    Ok(outcome)
}

/// Moves `destination` back to `source`: never over another file, but completing a source that
/// an undo killed part-way left shorter.
fn move_back(source: &Path, destination: &Path, dry_run: bool) -> std::io::Result<Outcome> {
    let destination_id = FileId::of(destination);
    let source_meta = match std::fs::symlink_metadata(source) {
        Ok(m) => Some(m),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(e),
    };
    // What to do with a file at the source: nothing (both names of one file: a move killed
    // between its link and its removal; or the same bytes: a copy back that finished), or
    // complete it (a shorter prefix: a copy back killed part-way). Anything else stays.
    let complete_source = match &source_meta {
        None => false,
        Some(m) if m.is_file() && destination_id == Some(FileId::from_metadata(m)) => false,
        Some(m) if m.is_file() && is_strict_prefix(source, destination)? => true,
        Some(m)
            if m.is_file()
                && ContentDigest::of_file(source)? == ContentDigest::of_file(destination)? =>
        {
            false
        }
        Some(_) => {
            return Ok(Outcome::Kept(format!(
                "{} exists and is another file; not overwritten",
                Shown::path(source)
            )));
        }
    };
    if dry_run {
        return Ok(Outcome::Reverted);
    }
    if complete_source {
        copy_replacing(destination, source)?;
    } else if source_meta.is_none() {
        match std::fs::hard_link(destination, source) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                return Ok(Outcome::Kept(format!("{} appeared meanwhile", Shown::path(source))));
            }
            // Another file system: a copy through a temporary file, so that a kill leaves no
            // partial source behind.
            Err(_) => {
                copy_new(destination, source)?;
            }
        }
    }
    std::fs::remove_file(destination)?;
    Ok(Outcome::Reverted)
}
