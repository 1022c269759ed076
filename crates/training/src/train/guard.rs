//! Claiming a run directory before training writes into it.
//!
//! - One writer per run directory: an exclusive advisory lock (`RUN/.lock`) held for the whole
//!   training session; a second `train` into the same `--out` fails at once.
//! - A finished or half-finished run is never replaced by accident: a non-empty directory is
//!   refused unless the run is resumed or `overwrite` is asked for; `overwrite` only deletes a
//!   directory that `train` made itself, recognised by the marker file [`RUN_MARKER`] it
//!   writes when it claims a directory. A folder without it (the user's files, a dataset, a run
//!   of a version before markers) is never emptied, and no message suggests `--overwrite` for it.
//! - A run directory never shares a folder with its dataset: one that is the dataset, lies
//!   inside it or holds it is refused, whatever the flags.
//! - A run resumes only on the dataset it was trained on (by folder identity).

use std::path::{Path, PathBuf};

use animescore_fs::{FileId, LOCK_FILE, RunLock, Shown, absolute_path, lies_within};
use animescore_run::{RunConfig, RunDir};

use super::TrainOptions;
use crate::error::{Result, TrainingError};

fn refuse(dir: &Path, reason: impl Into<String>) -> TrainingError {
    TrainingError::Run { dir: dir.to_path_buf(), reason: reason.into() }
}

/// The file that marks a directory as made by `train` (the only kind `--overwrite` empties).
pub const RUN_MARKER: &str = ".animescore-run";

const MARKER_TEXT: &str = "This folder is a run directory made by `animescore train`.\n\
    `train --overwrite` replaces only folders holding this file.\n";

/// Locks `opts.out` (creating it) and checks that this session may write into it. `config` is
/// the configuration the session trains with (a resumed run's saved one).
pub(super) fn claim(opts: &TrainOptions, config: &RunConfig) -> Result<RunLock> {
    let dir = opts.out.as_path();
    if opts.resume && opts.overwrite {
        return Err(refuse(dir, "--resume and --overwrite exclude each other"));
    }
    check_apart_from_dataset(dir, &opts.dataset)?;
    std::fs::create_dir_all(dir).map_err(|e| TrainingError::io(dir, e))?;
    let created_lock = !dir.join(LOCK_FILE).exists();
    let lock = RunLock::try_acquire(dir).map_err(|e| match e.kind() {
        std::io::ErrorKind::WouldBlock => refuse(dir, e.to_string()),
        _ => TrainingError::io(dir.join(LOCK_FILE), e),
    })?;
    let checked = check_claim(opts, config, dir).and_then(|()| mark(dir));
    if checked.is_err() && created_lock {
        // A refused folder keeps exactly what it had: no lock file left behind.
        let _ = std::fs::remove_file(lock.path());
    }
    checked.map(|()| lock)
}

/// Refuses a run directory that is the dataset, lies inside it, or holds it.
fn check_apart_from_dataset(dir: &Path, dataset: &Path) -> Result<()> {
    let relation = if lies_within(dir, dataset) && lies_within(dataset, dir) {
        "is the dataset folder"
    } else if lies_within(dir, dataset) {
        "lies inside the dataset folder"
    } else if lies_within(dataset, dir) {
        "holds the dataset folder"
    } else {
        return Ok(());
    };
    Err(refuse(
        dir,
        format!(
            "{relation} {}; a run directory never shares a folder with its dataset (nothing was \
             changed): choose an --out outside the dataset",
            Shown::path(dataset)
        ),
    ))
}

/// Whether `dir` holds the marker as a regular file (a link under its name does not count).
fn is_marked(dir: &Path) -> bool {
    std::fs::symlink_metadata(dir.join(RUN_MARKER)).is_ok_and(|m| m.is_file())
}

/// Writes the marker (a link under its name is replaced, never followed).
///
/// Created in place, not through a temporary file and a rename: the marker's existence is the
/// claim, so a process killed right after creating it leaves a marked (perhaps empty) file,
/// where a killed atomic write would leave a stray temporary that makes the folder look like
/// someone else's files to the next `--resume`.
fn mark(dir: &Path) -> Result<()> {
    let path = dir.join(RUN_MARKER);
    if is_marked(dir) {
        return Ok(());
    }
    let io = |e| TrainingError::io(&path, e);
    if std::fs::symlink_metadata(&path).is_ok() {
        std::fs::remove_file(&path).map_err(io)?;
    }
    // `create_new` fails on anything at the name, a dangling link included: nothing is followed.
    let mut file =
        std::fs::OpenOptions::new().write(true).create_new(true).open(&path).map_err(io)?;
    std::io::Write::write_all(&mut file, MARKER_TEXT.as_bytes()).map_err(io)?;
    file.sync_all().map_err(io)
}

/// With the lock held: whether this session may write into `dir` (and, with `--overwrite`,
/// the old run removed).
fn check_claim(opts: &TrainOptions, config: &RunConfig, dir: &Path) -> Result<()> {
    let leftovers = leftovers(dir)?;
    let marked = is_marked(dir);
    if opts.resume {
        let run = RunDir::new(dir);
        // An empty folder starts afresh, and a run of a version before markers resumes too
        // (resuming deletes nothing); a folder of other files is not written into.
        let old_run = run.config().is_file() && run.checkpoint_dir().is_dir();
        if !marked && !old_run && !leftovers.is_empty() {
            return Err(refuse(
                dir,
                "is not empty and is not a run directory made by `animescore train` (no \
                 config.toml and checkpoint/): nothing to resume; choose another --out",
            ));
        }
        check_same_dataset(dir, config, &opts.dataset)?;
    } else if !leftovers.is_empty() {
        if !marked {
            return Err(refuse(
                dir,
                format!(
                    "is not empty and was not made by `animescore train` (no {RUN_MARKER} \
                     marker), so nothing in it is replaced (nothing was changed): choose another \
                     --out"
                ),
            ));
        }
        if !opts.overwrite {
            return Err(refuse(
                dir,
                "already holds a run; pass --resume to continue it, --overwrite to replace it, \
                 or choose another --out",
            ));
        }
        for path in leftovers {
            let removed = if path.is_dir() && !path.is_symlink() {
                std::fs::remove_dir_all(&path)
            } else {
                std::fs::remove_file(&path)
            };
            removed.map_err(|e| TrainingError::io(&path, e))?;
        }
    }
    Ok(())
}

/// Entries of `dir` other than the lock file, the marker and strays of the marker's write.
fn leftovers(dir: &Path) -> Result<Vec<PathBuf>> {
    let entries = std::fs::read_dir(dir).map_err(|e| TrainingError::io(dir, e))?;
    Ok(entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_none_or(|n| n != LOCK_FILE && n != RUN_MARKER && !is_stray_marker_temporary(n))
        })
        .collect())
}

/// Earlier versions wrote the marker through a temporary `.animescore-run.XXXXXX.tmp` and a
/// rename; a session killed between the two left only that behind, in a folder it had claimed.
fn is_stray_marker_temporary(name: &str) -> bool {
    name.strip_prefix(RUN_MARKER)
        .and_then(|rest| rest.strip_prefix('.'))
        .is_some_and(|rest| rest.ends_with(".tmp"))
}

/// A resumed run must train on the folder it started with: same folder by identity when both
/// exist, same absolute path otherwise.
fn check_same_dataset(dir: &Path, config: &RunConfig, given: &Path) -> Result<()> {
    let saved = &config.dataset;
    let same = match (FileId::of(saved), FileId::of(given)) {
        (Some(a), Some(b)) => a == b,
        _ => absolute_path(saved) == absolute_path(given),
    };
    if same {
        Ok(())
    } else {
        Err(refuse(
            dir,
            format!(
                "was trained on {}, not {}; resume with the same --dataset (or start a new run)",
                Shown::path(saved),
                Shown::path(given)
            ),
        ))
    }
}
