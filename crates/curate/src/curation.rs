//! Acting on a score file: select rows (`--min-score`, `--min-tier`, `--top`), write
//! captions, and copy / move / link the selected images into a folder (optionally one
//! sub-folder per tier). An image's metadata JSON (`X.png.json`, `X.jpg.json`, `X.json`,
//! gallery-dl style) and caption file travel with it.
//!
//! Nothing is ever overwritten: an existing destination is skipped and reported (and the
//! image's companions stay with it). Every action is appended to a manifest CSV
//! (`action,source,destination,status,reason`) and flushed at once, so even an interrupted
//! move can be undone with [`undo`]. Rows are streamed; only `--top N` keeps N rows.

use std::cmp::Ordering;
use std::collections::BinaryHeap;
use std::fs::{File, OpenOptions};
use std::path::{Path, PathBuf};
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::captions::{CaptionChange, CaptionOptions, caption_path, write_caption};
use crate::error::{CurateError, Result};
use animescore_scorefile::{ScoreRow, Tier, read_rows};

/// Which rows are acted on.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Selection {
    /// Score at least this.
    pub min_score: Option<f64>,
    /// Tier at least this (rows without a tier are left out).
    pub min_tier: Option<Tier>,
    /// The N best scores among the rows passing the other filters.
    pub top: Option<usize>,
}

impl Selection {
    fn accepts(&self, row: &ScoreRow) -> bool {
        self.min_score.is_none_or(|m| row.score >= m)
            && self.min_tier.is_none_or(|m| row.tier.is_some_and(|t| t >= m))
    }
}

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
    fn name(self) -> &'static str {
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
            .ok_or_else(|| CurateError::InvalidInput(format!("unknown action `{s}`")))
    }
}

/// Where selected images go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transfer {
    /// How.
    pub kind: TransferKind,
    /// The destination folder (created).
    pub dest: PathBuf,
    /// One sub-folder per tier.
    pub by_tier: bool,
}

/// Options of [`curate`].
#[derive(Debug, Clone, Default)]
pub struct CurateOptions {
    /// Which rows.
    pub selection: Selection,
    /// Copy / move / link them.
    pub transfer: Option<Transfer>,
    /// Write captions beside the selected images (before they are moved).
    pub caption: Option<CaptionOptions>,
    /// Plan only: change nothing, write no manifest.
    pub dry_run: bool,
    /// The manifest (created; never overwritten). Required with a transfer unless dry.
    pub manifest: Option<PathBuf>,
}

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
    /// Failed (source missing, I/O error).
    Failed,
}

/// One line of the manifest.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ManifestRow {
    /// `copy`, `move`, `hardlink`, `symlink`.
    pub action: TransferKind,
    /// The file acted on.
    pub source: PathBuf,
    /// Where it went.
    pub destination: PathBuf,
    /// Outcome.
    pub status: Status,
    /// Why it was skipped or failed.
    pub reason: String,
}

/// Counts of a [`curate`] run.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CurateReport {
    /// Rows read.
    pub rows: usize,
    /// Rows of the score file that could not be read.
    pub bad_rows: Vec<String>,
    /// Rows selected.
    pub selected: usize,
    /// Captions created or changed (or that would be, on a dry run).
    pub captions_written: usize,
    /// Captions already up to date or left alone.
    pub captions_unchanged: usize,
    /// Files transferred (or planned).
    pub transferred: usize,
    /// Files skipped.
    pub skipped: usize,
    /// Files failed.
    pub failed: usize,
}

/// A row ordered by score, worst first (the top of a min-heap of the N best).
struct ByScore(ScoreRow);
impl PartialEq for ByScore {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}
impl Eq for ByScore {}
impl PartialOrd for ByScore {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for ByScore {
    fn cmp(&self, other: &Self) -> Ordering {
        // Reversed: the heap's top is the lowest score (ties: the later path).
        other.0.score.total_cmp(&self.0.score).then_with(|| self.0.path.cmp(&other.0.path))
    }
}

/// Applies `opts` to the rows of a score file; `each` sees every manifest row as it happens
/// (the plan, on a dry run).
pub fn curate(
    scores: &Path,
    opts: &CurateOptions,
    each: &mut dyn FnMut(&ManifestRow),
) -> Result<CurateReport> {
    let mut manifest = match (&opts.transfer, opts.dry_run, &opts.manifest) {
        (Some(_), false, Some(path)) => Some(Manifest::create(path)?),
        (Some(_), false, None) => {
            return Err(CurateError::InvalidInput("a transfer needs a manifest path".into()));
        }
        _ => None,
    };
    let mut report = CurateReport::default();
    let mut act = |row: ScoreRow, report: &mut CurateReport| -> Result<()> {
        report.selected += 1;
        act_on(&row, opts, report, &mut manifest, each)
    };
    let existing = match opts.selection.top {
        None => read_rows(scores, |row| {
            report.rows += 1;
            if opts.selection.accepts(&row) { act(row, &mut report) } else { Ok(()) }
        })?,
        Some(n) => {
            // `--top` may exceed the rows (even usize::MAX): the heap grows with them.
            let mut best = BinaryHeap::with_capacity(n.min(1 << 16) + 1);
            let found = read_rows(scores, |row| {
                if opts.selection.accepts(&row) {
                    best.push(ByScore(row));
                    if best.len() > n {
                        best.pop();
                    }
                }
                Ok::<_, CurateError>(())
            })?;
            report.rows = found.rows;
            for ByScore(row) in best.into_sorted_vec() {
                act(row, &mut report)?;
            }
            found
        }
    };
    report.bad_rows = existing.bad;
    Ok(report)
}

fn act_on(
    row: &ScoreRow,
    opts: &CurateOptions,
    report: &mut CurateReport,
    manifest: &mut Option<Manifest>,
    each: &mut dyn FnMut(&ManifestRow),
) -> Result<()> {
    let image = PathBuf::from(&row.path);
    if let Some(caption) = &opts.caption {
        match write_caption(row, caption, opts.dry_run) {
            Ok(CaptionChange::Written) => report.captions_written += 1,
            Ok(CaptionChange::Unchanged) => report.captions_unchanged += 1,
            Err(e) => {
                tracing::warn!("caption of {}: {}", image.display(), animescore_fs::ErrorChain(&e));
                report.failed += 1;
            }
        }
    }
    let Some(transfer) = &opts.transfer else { return Ok(()) };
    let dir = match (transfer.by_tier, row.tier) {
        (true, Some(tier)) => transfer.dest.join(tier.name()),
        (true, None) => {
            tracing::warn!("{}: no tier in the score file; left where it is", image.display());
            report.failed += 1;
            return Ok(());
        }
        (false, _) => transfer.dest.clone(),
    };
    let mut files = vec![image.clone()];
    files.extend(companions(&image, opts.caption.as_ref().map(|c| c.ext.as_str())));
    for (i, source) in files.into_iter().enumerate() {
        let Some(name) = source.file_name() else { continue };
        let destination = dir.join(name);
        let (status, reason) = if opts.dry_run {
            match destination.symlink_metadata() {
                Ok(_) => (Status::Skipped, "destination exists".to_string()),
                Err(_) if !source.exists() => (Status::Failed, "source missing".to_string()),
                Err(_) => (Status::Planned, String::new()),
            }
        } else {
            match transfer_file(transfer.kind, &source, &destination) {
                Ok(()) => (Status::Done, String::new()),
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                    (Status::Skipped, "destination exists".to_string())
                }
                Err(e) if !source.exists() => (Status::Failed, format!("source missing ({e})")),
                Err(e) => (Status::Failed, e.to_string()),
            }
        };
        let entry = ManifestRow { action: transfer.kind, source, destination, status, reason };
        if let Some(m) = manifest.as_mut() {
            m.push(&entry)?;
        }
        each(&entry);
        match status {
            Status::Done | Status::Planned => report.transferred += 1,
            Status::Skipped => report.skipped += 1,
            Status::Failed => report.failed += 1,
        }
        // An image that stays keeps its metadata and caption beside it.
        if i == 0 && !matches!(status, Status::Done | Status::Planned) {
            break;
        }
    }
    Ok(())
}

/// The metadata JSON files and caption file of an image that exist beside it.
pub fn companions(image: &Path, caption_ext: Option<&str>) -> Vec<PathBuf> {
    let (Some(name), Some(stem)) =
        (image.file_name().and_then(|n| n.to_str()), image.file_stem().and_then(|n| n.to_str()))
    else {
        return Vec::new();
    };
    let mut names = vec![format!("{name}.json"), format!("{stem}.json")];
    for ext in ["png", "jpg", "jpeg", "webp", "gif"] {
        names.push(format!("{stem}.{ext}.json"));
    }
    let mut out: Vec<PathBuf> = Vec::new();
    for n in names {
        let p = image.with_file_name(n);
        if p.is_file() && !out.contains(&p) {
            out.push(p);
        }
    }
    let caption = caption_path(image, caption_ext.unwrap_or("txt"));
    if caption != image && caption.is_file() && !out.contains(&caption) {
        out.push(caption);
    }
    out
}

/// One file to its destination, never replacing an existing one (`AlreadyExists`).
fn transfer_file(kind: TransferKind, source: &Path, destination: &Path) -> std::io::Result<()> {
    if let Some(parent) = destination.parent() {
        std::fs::create_dir_all(parent)?;
    }
    match kind {
        TransferKind::Copy => copy_new(source, destination),
        TransferKind::Hardlink => std::fs::hard_link(source, destination),
        TransferKind::Symlink => symlink(&std::path::absolute(source)?, destination),
        TransferKind::Move => move_new(source, destination),
    }
}

/// Copies into a file that must not exist yet.
fn copy_new(source: &Path, destination: &Path) -> std::io::Result<()> {
    let mut from = File::open(source)?;
    let mut to = OpenOptions::new().write(true).create_new(true).open(destination)?;
    let copied = std::io::copy(&mut from, &mut to).and_then(|_| to.sync_all());
    if copied.is_err() {
        let _ = std::fs::remove_file(destination);
    }
    copied
}

/// Moves without replacing: a hard link then removal of the source (atomic "no replace" on
/// one file system); a copy then removal across file systems.
fn move_new(source: &Path, destination: &Path) -> std::io::Result<()> {
    if !source.exists() {
        return Err(std::io::Error::new(std::io::ErrorKind::NotFound, "no such file"));
    }
    match std::fs::hard_link(source, destination) {
        Ok(()) => std::fs::remove_file(source),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Err(e),
        Err(_) => {
            copy_new(source, destination)?;
            std::fs::remove_file(source)
        }
    }
}

#[cfg(unix)]
fn symlink(target: &Path, link: &Path) -> std::io::Result<()> {
    std::os::unix::fs::symlink(target, link)
}

#[cfg(windows)]
fn symlink(target: &Path, link: &Path) -> std::io::Result<()> {
    std::os::windows::fs::symlink_file(target, link)
}

/// The manifest CSV, one flushed line per action.
struct Manifest {
    path: PathBuf,
    writer: csv::Writer<File>,
}

impl Manifest {
    fn create(path: &Path) -> Result<Self> {
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

    fn push(&mut self, row: &ManifestRow) -> Result<()> {
        let fail = |e: &dyn std::fmt::Display| CurateError::format(&self.path, e);
        self.writer.serialize(row).map_err(|e| fail(&e))?;
        self.writer.flush().map_err(|e| fail(&e))
    }
}

/// Counts of an [`undo`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UndoReport {
    /// Actions reverted.
    pub reverted: usize,
    /// Actions left as they are (not done, or reverting would overwrite a file).
    pub skipped: usize,
    /// Reverts that failed, with the reason.
    pub failed: Vec<String>,
}

/// Reverts the `done` actions of a manifest, last first: moved files go back to their
/// source (never over an existing file), copies and links are removed.
pub fn undo(manifest: &Path, dry_run: bool) -> Result<UndoReport> {
    let mut reader =
        csv::Reader::from_path(manifest).map_err(|e| CurateError::format(manifest, e))?;
    let mut rows = Vec::new();
    let mut report = UndoReport::default();
    for (i, row) in reader.deserialize::<ManifestRow>().enumerate() {
        match row {
            Ok(r) => rows.push(r),
            Err(e) => report.failed.push(format!("{} row {}: {e}", manifest.display(), i + 1)),
        }
    }
    for row in rows.into_iter().rev() {
        if row.status != Status::Done {
            report.skipped += 1;
            continue;
        }
        if dry_run {
            report.reverted += 1;
            continue;
        }
        let result = match row.action {
            TransferKind::Move => transfer_file(TransferKind::Move, &row.destination, &row.source),
            _ => std::fs::remove_file(&row.destination),
        };
        match result {
            Ok(()) => report.reverted += 1,
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => report.skipped += 1,
            Err(e) => report.failed.push(format!("{}: {e}", row.destination.display())),
        }
    }
    Ok(report)
}
