//! Refuses a `predict --out` that is one of the files the run reads: an input image, a file
//! of the model's run directory, or the metadata index. Compared by file identity (device and
//! inode, via `animescore_fs::FileId`), so a symbolic or hard link under another name is caught too.

use std::path::Path;

use animescore_fs::FileId;

use crate::error::{InferenceError, Result};
use animescore_scorefile::ScoreTarget;

/// The output's identity, when it exists already.
pub struct OutputGuard {
    out: Option<FileId>,
    target: ScoreTarget,
}

impl OutputGuard {
    /// Remembers the output file's identity (nothing to guard when it does not exist yet:
    /// it cannot be one of the existing files read).
    pub fn new(target: &ScoreTarget) -> Self {
        // Only a regular file can be one of the files read (identity from metadata: nothing
        // is opened, so a FIFO cannot block here).
        let out = match target {
            ScoreTarget::File(p) => std::fs::metadata(p)
                .ok()
                .filter(std::fs::Metadata::is_file)
                .map(|m| FileId::from_metadata(&m)),
            _ => None,
        };
        Self { out, target: target.clone() }
    }

    /// Whether the output exists (checks do something).
    pub fn is_active(&self) -> bool {
        self.out.is_some()
    }

    /// Fails when `path` is the output file; `what` names the role of `path`.
    pub fn check(&self, path: &Path, what: &str) -> Result<()> {
        let Some(out) = &self.out else { return Ok(()) };
        match FileId::of(path) {
            Some(id) if &id == out => Err(InferenceError::InvalidInput(format!(
                "--out {} is the same file as {what} {}: refusing to overwrite it",
                self.target.display().display(),
                path.display()
            ))),
            _ => Ok(()),
        }
    }

    /// Checks every file of a folder and of its sub-folders one level down (a run directory
    /// and its `checkpoint/`).
    pub fn check_folder(&self, dir: &Path, what: &str) -> Result<()> {
        if self.out.is_none() {
            return Ok(());
        }
        let entries = std::fs::read_dir(dir).map_err(|e| InferenceError::io(dir, e))?;
        for entry in entries.filter_map(|e| e.ok()).map(|e| e.path()) {
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
