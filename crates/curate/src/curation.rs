//! Acting on a score file: select rows (`--min-score`, `--min-tier`, `--top`), write
//! captions, and copy / move / link the selected images into a folder (optionally one
//! sub-folder per tier). An image's metadata JSON (`X.png.json`, `X.jpg.json`, `X.json`,
//! gallery-dl style) and caption file travel with it.
//!
//! Nothing is ever overwritten: an existing destination is skipped and reported (and the
//! image's companions stay with it). Every action is appended to a manifest (see
//! [`undo`](crate::undo)) and flushed at once, so even an interrupted move can be undone. Rows
//! are streamed; only `--top N` keeps N rows.
//!
//! A score file is untrusted input: a row is acted on only when its path is an image file (by
//! its first bytes), `--by-tier` folders are named only after calibrated [`Tier`]s (a `tier`
//! cell that is not one makes the row unreadable), and a tier folder that is a link is not
//! entered.

use std::cmp::Ordering;
use std::collections::BinaryHeap;
use std::path::{Path, PathBuf};

use crate::captions::{CaptionChange, CaptionOptions, caption_path, write_caption};
use crate::error::{CurateError, Result};
use crate::manifest::{Manifest, ManifestRow, Status};
use crate::transfer::{TransferKind, absolute, refusal, transfer_file};
use animescore_fs::Shown;
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
    /// Captions not touched, and why (a link, a FIFO, too large, no tier).
    pub captions_skipped: Vec<(PathBuf, String)>,
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
    if let Some(caption) = &opts.caption {
        caption.validate()?;
    }
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
    let kind = opts.transfer.as_ref().map(|t| t.kind);
    if let Some(why) = refusal(&image, kind) {
        // Not an image: no caption beside it, no transfer.
        if let Some(transfer) = &opts.transfer {
            let mut destination = transfer.dest.clone();
            if let (true, Some(tier)) = (transfer.by_tier, row.tier) {
                destination.push(tier.name());
            }
            destination.extend(image.file_name());
            let (source, destination) = (absolute(&image), absolute(&destination));
            let entry = ManifestRow::new(transfer.kind, source, destination, Status::Failed, why);
            if let Some(m) = manifest.as_mut() {
                m.push(&entry)?;
            }
            each(&entry);
        } else {
            report.captions_skipped.push((image, why));
        }
        report.failed += 1;
        return Ok(());
    }
    if let Some(caption) = &opts.caption {
        match write_caption(row, caption, opts.dry_run) {
            Ok(CaptionChange::Written) => report.captions_written += 1,
            Ok(CaptionChange::Unchanged) => report.captions_unchanged += 1,
            Ok(CaptionChange::Skipped(why)) => {
                report.captions_skipped.push((caption_path(&image, &caption.ext), why));
            }
            Err(e) => {
                tracing::warn!(
                    "caption of {}: {}",
                    Shown::path(&image),
                    animescore_fs::ErrorChain(&e)
                );
                report.failed += 1;
            }
        }
    }
    let Some(transfer) = &opts.transfer else { return Ok(()) };
    let dir = match (transfer.by_tier, row.tier) {
        (true, Some(tier)) => transfer.dest.join(tier.name()),
        (true, None) => {
            tracing::warn!("{}: no tier in the score file; left where it is", Shown::path(&image));
            report.failed += 1;
            return Ok(());
        }
        (false, _) => transfer.dest.clone(),
    };
    // A tier folder someone replaced by a link would lead the files elsewhere.
    let linked_dir = std::fs::symlink_metadata(&dir).is_ok_and(|m| m.file_type().is_symlink());
    let mut files = vec![image.clone()];
    files.extend(companions(&image, opts.caption.as_ref().map(|c| c.ext.as_str())));
    for (i, source) in files.into_iter().enumerate() {
        let Some(name) = source.file_name() else { continue };
        let destination = dir.join(name);
        let (source, destination) = (absolute(&source), absolute(&destination));
        let planned = |status, reason: &str| {
            ManifestRow::new(
                transfer.kind,
                source.clone(),
                destination.clone(),
                status,
                reason.into(),
            )
        };
        let entry = if transfer.by_tier && linked_dir {
            planned(Status::Failed, "the tier folder is a link; not entered")
        } else if opts.dry_run {
            match destination.symlink_metadata() {
                Ok(_) => planned(Status::Skipped, "destination exists"),
                Err(_) if source.symlink_metadata().is_err() => {
                    planned(Status::Failed, "source missing")
                }
                Err(_) => planned(Status::Planned, ""),
            }
        } else {
            match transfer_file(transfer.kind, &source, &destination) {
                Ok(created) => {
                    ManifestRow::done(transfer.kind, source.clone(), destination.clone(), created)
                }
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                    planned(Status::Skipped, "destination exists")
                }
                Err(e) if source.symlink_metadata().is_err() => {
                    planned(Status::Failed, &format!("source missing ({e})"))
                }
                Err(e) => planned(Status::Failed, &e.to_string()),
            }
        };
        if let Some(m) = manifest.as_mut() {
            m.push(&entry)?;
        }
        each(&entry);
        match entry.status {
            Status::Done | Status::Planned => report.transferred += 1,
            Status::Skipped => report.skipped += 1,
            Status::Failed => report.failed += 1,
        }
        // An image that stays keeps its metadata and caption beside it.
        if i == 0 && !matches!(entry.status, Status::Done | Status::Planned) {
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
