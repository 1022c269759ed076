//! Claiming a run directory before training writes into it.
//!
//! - One writer per run directory: an exclusive advisory lock (`RUN/.lock`) held for the whole
//!   training session; a second `train` into the same `--out` fails at once.
//! - A finished or half-finished run is never replaced by accident: a non-empty directory is
//!   refused unless the run is resumed or `overwrite` is asked for; `overwrite` only deletes a
//!   directory that looks like a run (it has a `config.toml` or a `checkpoint/`).
//! - A run resumes only on the dataset it was trained on (by folder identity).

use std::path::{Path, PathBuf};

use animescore_fs::{FileId, LOCK_FILE, RunLock, absolute_path};
use animescore_run::{RunConfig, RunDir};

use super::TrainOptions;
use crate::error::{Result, TrainingError};

fn refuse(dir: &Path, reason: impl Into<String>) -> TrainingError {
    TrainingError::Run { dir: dir.to_path_buf(), reason: reason.into() }
}

/// Locks `opts.out` (creating it) and checks that this session may write into it. `config` is
/// the configuration the session trains with (a resumed run's saved one).
pub(super) fn claim(opts: &TrainOptions, config: &RunConfig) -> Result<RunLock> {
    let dir = opts.out.as_path();
    if opts.resume && opts.overwrite {
        return Err(refuse(dir, "--resume and --overwrite exclude each other"));
    }
    std::fs::create_dir_all(dir).map_err(|e| TrainingError::io(dir, e))?;
    let created_lock = !dir.join(LOCK_FILE).exists();
    let lock = RunLock::try_acquire(dir).map_err(|e| match e.kind() {
        std::io::ErrorKind::WouldBlock => refuse(dir, e.to_string()),
        _ => TrainingError::io(dir.join(LOCK_FILE), e),
    })?;
    let checked = check_claim(opts, config, dir);
    if checked.is_err() && created_lock {
        // A refused folder keeps exactly what it had: no lock file left behind.
        let _ = std::fs::remove_file(lock.path());
    }
    checked.map(|()| lock)
}

/// With the lock held: whether this session may write into `dir` (and, with `--overwrite`,
/// the old run removed).
fn check_claim(opts: &TrainOptions, config: &RunConfig, dir: &Path) -> Result<()> {
    let leftovers = leftovers(dir)?;
    if opts.resume {
        check_same_dataset(dir, config, &opts.dataset)?;
    } else if !leftovers.is_empty() {
        if !opts.overwrite {
            return Err(refuse(
                dir,
                "already holds a run (or other files); pass --resume to continue it, \
                 --overwrite to replace it, or choose another --out",
            ));
        }
        let run = RunDir::new(dir);
        if !run.config().is_file() && !run.checkpoint_dir().is_dir() {
            return Err(refuse(
                dir,
                "is not a run directory (no config.toml or checkpoint/); --overwrite only \
                 replaces runs",
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

/// Entries of `dir` other than the lock file.
fn leftovers(dir: &Path) -> Result<Vec<PathBuf>> {
    let entries = std::fs::read_dir(dir).map_err(|e| TrainingError::io(dir, e))?;
    Ok(entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.file_name().is_some_and(|n| n != LOCK_FILE))
        .collect())
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
                saved.display(),
                given.display()
            ),
        ))
    }
}
