//! Which model wrote a score file: `OUT.model` beside it, so that `--resume` never appends one
//! model's scores to another's. A small JSON object:
//!
//! ```json
//! {"format":"animescore-model","weights_xxh3":"0123456789abcdef","run":"/abs/path/run"}
//! ```
//!
//! `weights_xxh3` is the xxh3-64 of the run's `model.bpk` (the same value as
//! `model.bpk.xxh3`): the identity of the model. `run` is where it was loaded from, for the
//! message only (a copied run directory is the same model).

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{InferenceError, Result};

/// The value of `format`.
const FORMAT: &str = "animescore-model";

/// Largest record read.
const MAX_RECORD_BYTES: u64 = 64 * 1024;

/// The record of the model that wrote a score file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct ModelRecord {
    format: String,
    /// xxh3-64 of `model.bpk`, 16 hex digits.
    weights_xxh3: String,
    /// The run directory (absolute), for messages.
    run: PathBuf,
}

impl ModelRecord {
    /// The record of the model in `run` whose weights hash to `weights_xxh3`.
    pub(crate) fn new(run: &Path, weights_xxh3: &str) -> Self {
        Self {
            format: FORMAT.into(),
            weights_xxh3: weights_xxh3.into(),
            run: animescore_fs::absolute_path(run),
        }
    }

    /// The record's file beside a score file: `OUT.model`.
    pub(crate) fn path_of(out: &Path) -> PathBuf {
        let mut name = out.file_name().unwrap_or_default().to_os_string();
        name.push(".model");
        out.with_file_name(name)
    }

    /// The record beside `out`, `None` when there is none.
    pub(crate) fn read(out: &Path) -> Result<Option<Self>> {
        let path = Self::path_of(out);
        let bytes = match animescore_fs::read_regular(&path, MAX_RECORD_BYTES) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(InferenceError::io(&path, e)),
        };
        match serde_json::from_slice::<Self>(&bytes) {
            Ok(record) if record.format == FORMAT => Ok(Some(record)),
            _ => Err(InferenceError::InvalidInput(format!(
                "{}: not a model record of animescore (expected {{\"format\":\"{FORMAT}\", \
                 \"weights_xxh3\": …, \"run\": …}})",
                animescore_fs::Shown::path(&path)
            ))),
        }
    }

    /// Fails unless the score file `out` (which holds rows) was written by this model.
    pub(crate) fn check_resumable(&self, out: &Path) -> Result<()> {
        let shown = animescore_fs::Shown::path(out);
        match Self::read(out)? {
            Some(found) if found.weights_xxh3 == self.weights_xxh3 => Ok(()),
            Some(found) => Err(InferenceError::InvalidInput(format!(
                "--resume: {shown} holds scores of another model ({}, weights xxh3 {}), not of \
                 {} (weights xxh3 {}); refusing to mix them: choose another --out",
                animescore_fs::Shown::path(&found.run),
                found.weights_xxh3,
                animescore_fs::Shown::path(&self.run),
                self.weights_xxh3
            ))),
            None => Err(InferenceError::InvalidInput(format!(
                "--resume: {shown} has no {} saying which model wrote its rows; refusing to add \
                 this model's scores to them: choose another --out",
                animescore_fs::Shown::path(&Self::path_of(out))
            ))),
        }
    }

    /// Removes the record beside `out` (before rows of another model replace the file).
    pub(crate) fn remove(out: &Path) -> Result<()> {
        let path = Self::path_of(out);
        match std::fs::remove_file(&path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(InferenceError::io(&path, e)),
            _ => Ok(()),
        }
    }

    /// Writes the record beside `out` (atomically; a link there is replaced, never followed).
    pub(crate) fn write(&self, out: &Path) -> Result<()> {
        let path = Self::path_of(out);
        let mut bytes = serde_json::to_vec(self)
            .map_err(|e| InferenceError::InvalidInput(format!("model record: {e}")))?;
        bytes.push(b'\n');
        animescore_fs::replace_file(&path, &bytes).map_err(|e| InferenceError::io(&path, e))
    }
}
