//! `predict` over a whole collection: images found lazily, scored in windows of batches,
//! each batch's rows written and flushed before the next is read (a score file, see
//! [`animescore_scorefile`]). Memory stays flat in the number of images: a window of paths,
//! the batches in flight and, with `--resume`, a 16-byte hash per finished image.
//!
//! Two walks over the inputs: the first only counts (for the progress bar's total) and
//! checks that the output is none of the input images; the second feeds the model.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use crate::error::{InferenceError, Result};
use crate::inputs::{FoundImage, ImageWalk, Shard};
use crate::output_guard::OutputGuard;
use crate::predict::Predictor;
use animescore_pipeline::KnownLabels;
use animescore_scorefile::{
    ExistingRows, ScoreRow, ScoreTarget, ScoreWriter, WriteMode, path_key, read_rows,
    sort_best_first, sort_file,
};

/// Batches per window of paths handed to the loader at once.
const WINDOW_BATCHES: usize = 64;

/// What a streaming `predict` reports as it goes.
pub trait PredictProgress {
    /// Images to score (after shard and resume).
    fn start(&self, _todo: usize) {}
    /// `n` more images done (scored or failed).
    fn advance(&self, _n: usize) {}
    /// An image could not be read.
    fn failed(&self, _path: &Path, _reason: &str) {}
}

/// Progress that shows nothing.
pub struct NoPredictProgress;
impl PredictProgress for NoPredictProgress {}

/// Options of [`predict_to`].
#[derive(Debug, Clone)]
pub struct StreamOptions {
    /// Images or folders.
    pub inputs: Vec<PathBuf>,
    /// Where rows go.
    pub target: ScoreTarget,
    /// Skip images already in the target (a file).
    pub resume: bool,
    /// Score only this part of the inputs.
    pub shard: Option<Shard>,
    /// Rewrite the finished output best score first (holds every row in memory).
    pub sort: bool,
    /// The run directory and the index, which the output must not be.
    pub protected: Vec<(PathBuf, &'static str)>,
}

/// What [`predict_to`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StreamReport {
    /// Images found among the inputs.
    pub found: usize,
    /// Of these, in the shard.
    pub in_shard: usize,
    /// Of these, already in the output (`--resume`).
    pub already_done: usize,
    /// Scored now.
    pub scored: usize,
    /// Unreadable now.
    pub failed: usize,
    /// Bytes of a truncated last line dropped from a resumed file.
    pub dropped_tail: u64,
    /// Rows of a resumed file that could not be read (kept in the file).
    pub bad_existing: Vec<String>,
    /// Whether the output was written (nothing scored: an earlier file stays untouched).
    pub written: bool,
}

/// Scores the images of `opts.inputs` into `opts.target` (see the module doc).
pub fn predict_to(
    predictor: &Predictor,
    known: &HashMap<String, KnownLabels>,
    opts: &StreamOptions,
    progress: &dyn PredictProgress,
) -> Result<StreamReport> {
    let guard = OutputGuard::new(&opts.target);
    for (path, what) in &opts.protected {
        if path.is_dir() {
            guard.check_folder(path, what)?;
        } else {
            guard.check(path, what)?;
        }
    }
    let existing = existing_rows(opts)?;
    let mut report = StreamReport {
        dropped_tail: existing.truncated_tail,
        bad_existing: existing.bad.clone(),
        ..StreamReport::default()
    };
    let todo = |found: &FoundImage| {
        opts.shard.is_none_or(|s| s.contains(&found.relative))
            && !existing.done.contains(&path_key(&found.path.to_string_lossy()))
    };

    // First walk: count, and make sure no input is the output.
    for found in ImageWalk::new(&opts.inputs) {
        let found = found?;
        if guard.is_active() {
            guard.check(&found.path, "the input image")?;
        }
        report.found += 1;
        if opts.shard.is_none_or(|s| s.contains(&found.relative)) {
            report.in_shard += 1;
            if !todo(&found) {
                report.already_done += 1;
            }
        }
    }
    progress.start(report.in_shard - report.already_done);

    let mode = match (opts.resume, opts.target.format().is_line_based()) {
        (false, _) => WriteMode::Fresh,
        (true, true) => WriteMode::Append { keep: existing.complete_len },
        (true, false) if existing.rows > 0 => WriteMode::CarryJson,
        (true, false) => WriteMode::Fresh,
    };
    // Sorting a stream that cannot be read back (stdout, a FIFO) needs every row in memory.
    let sort_in_memory = opts.sort
        && !matches!(&opts.target, ScoreTarget::File(_) if !opts.target.is_special_file());
    let mut held: Vec<ScoreRow> = Vec::new();
    let mut writer = ScoreWriter::new(opts.target.clone(), mode);
    let window = predictor.batch_size.max(1) * WINDOW_BATCHES;
    let mut paths: Vec<PathBuf> = Vec::with_capacity(window);
    let mut walk = ImageWalk::new(&opts.inputs).filter(|f| f.as_ref().map_or(true, todo));
    loop {
        paths.clear();
        for found in walk.by_ref().take(window) {
            paths.push(found?.path);
        }
        if paths.is_empty() {
            break;
        }
        predictor.predict_each(&paths, known, |part| {
            for (path, reason) in &part.failed {
                progress.failed(path, reason);
            }
            let rows = part.predictions;
            if sort_in_memory {
                held.extend(rows.iter().cloned());
            } else {
                writer.write(&rows)?;
            }
            report.scored += rows.len();
            report.failed += part.failed.len();
            progress.advance(rows.len() + part.failed.len());
            Ok(())
        })?;
    }
    if sort_in_memory && !held.is_empty() {
        sort_best_first(&mut held);
        writer.write(&held)?;
    }
    report.written = writer.finish()?;
    if let (true, true, false, ScoreTarget::File(path)) =
        (opts.sort, report.written, sort_in_memory, &opts.target)
    {
        sort_file(path)?;
    }
    Ok(report)
}

/// The rows already in the output when resuming (none otherwise).
fn existing_rows(opts: &StreamOptions) -> Result<ExistingRows> {
    if !opts.resume {
        return Ok(ExistingRows::default());
    }
    let path = match &opts.target {
        ScoreTarget::File(p) if !opts.target.is_special_file() => p,
        _ => {
            return Err(InferenceError::InvalidInput(
                "--resume needs --out FILE (a regular file to continue)".into(),
            ));
        }
    };
    if !path.exists() {
        return Ok(ExistingRows::default());
    }
    read_rows(path, |_| Ok(()))
}
