//! `predict` over a whole collection: images found lazily, scored in windows of batches,
//! each batch's rows written and flushed before the next is read (a score file, see
//! [`animescore_scorefile`]). Memory stays flat in the number of images: a window of paths,
//! the batches in flight and, with `--resume`, a 16-byte hash per finished image.
//!
//! Two walks over the inputs: the first only counts (for the progress bar's total) and
//! checks that the output is none of the input images; the second feeds the model.
//!
//! A score file written to a regular file gets `OUT.model` beside it, naming the model (see
//! `model_record`): `--resume` continues only a file of the same model. A shard that selects
//! no image still writes a file (a header only), so an older file never passes for its result.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use crate::error::{InferenceError, Result};
use crate::inputs::{FoundImage, ImageWalk, Shard};
use crate::model_record::ModelRecord;
use crate::predict::Predictor;
use animescore_fs::OutputGuard;
use animescore_pipeline::KnownLabels;
use animescore_scorefile::{
    ExistingRows, ScoreRow, ScoreTarget, ScoreWriter, WriteMode, encode_all, path_key, read_rows,
    sort_best_first, sort_file,
};

/// Why an image whose name is not UTF-8 is skipped.
pub(crate) const NOT_UTF8: &str = "the file name is not valid UTF-8, and a score file holds \
     UTF-8 text (its path could not be matched again by --resume or curate); rename the file";

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
    let regular = match &opts.target {
        ScoreTarget::File(p) if !opts.target.is_special_file() => Some(p.as_path()),
        _ => None,
    };
    let guard = OutputGuard::new(regular.unwrap_or(Path::new("-")));
    let refuse = |e: std::io::Error| InferenceError::InvalidInput(e.to_string());
    for (path, what) in &opts.protected {
        if path.is_dir() {
            guard.check_folder(path, what).map_err(refuse)?;
        } else {
            guard.check(path, what).map_err(refuse)?;
        }
    }
    let existing = existing_rows(opts)?;
    let (run, checksum) = predictor.identity();
    let model = ModelRecord::new(run, checksum);
    let continued = opts.resume && existing.rows + existing.bad.len() > 0;
    if let (true, Some(path)) = (continued, regular) {
        model.check_resumable(path)?;
    }
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
            guard.check(&found.path, "the input image").map_err(refuse)?;
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

    let line_based = opts.target.format().is_line_based();
    let mode = match (opts.resume, line_based) {
        (false, _) => WriteMode::Fresh,
        (true, true) => WriteMode::Append { keep: existing.complete_len },
        (true, false) if existing.rows > 0 => WriteMode::CarryJson,
        (true, false) => WriteMode::Fresh,
    };
    // The model record of a line-based file is written once the old rows are gone (the file
    // emptied to its header) and before any new row is in, so that at no moment does a record
    // name another model than the rows'. (A JSON array replaces its file at the end.)
    let mut record_pending = regular.filter(|_| !continued);
    let mut record_first_rows = |writer: &mut ScoreWriter, rows: &[ScoreRow]| -> Result<()> {
        if let Some(path) = record_pending.filter(|_| line_based && !rows.is_empty()) {
            writer.begin()?;
            model.write(path)?;
            record_pending = None;
        }
        Ok(writer.write(rows)?)
    };
    // Sorting a stream that cannot be read back (stdout, a FIFO) needs every row in memory.
    let sort_in_memory = opts.sort && regular.is_none();
    let mut held: Vec<ScoreRow> = Vec::new();
    let mut writer = ScoreWriter::new(opts.target.clone(), mode);
    let window = predictor.batch_size.max(1) * WINDOW_BATCHES;
    let mut paths: Vec<PathBuf> = Vec::with_capacity(window);
    let mut walk = ImageWalk::new(&opts.inputs).filter(|f| f.as_ref().map_or(true, todo));
    loop {
        paths.clear();
        let mut seen = 0usize;
        for found in walk.by_ref().take(window) {
            let path = found?.path;
            seen += 1;
            if path.to_str().is_none() {
                progress.failed(&path, NOT_UTF8);
                report.failed += 1;
                progress.advance(1);
            } else {
                paths.push(path);
            }
        }
        if seen == 0 {
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
                record_first_rows(&mut writer, &rows)?;
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
    let json_record = record_pending.filter(|_| !line_based && writer.rows() > 0);
    if let Some(path) = json_record {
        ModelRecord::remove(path)?;
    }
    report.written = writer.finish()?;
    if let Some(path) = json_record {
        model.write(path)?;
    }
    if let (Some(path), false, 0) = (regular, report.written, report.in_shard)
        && report.found > 0
        && !continued
    {
        // Nothing selected: a file with the header only, so that no older file stands in for
        // this shard's result.
        let empty = encode_all(opts.target.format(), &[])?;
        animescore_fs::write_atomic(path, &empty).map_err(|e| InferenceError::io(path, e))?;
        model.write(path)?;
        report.written = true;
    }
    if let (true, true, false, Some(path)) = (opts.sort, report.written, sort_in_memory, regular) {
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
