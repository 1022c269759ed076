//! Typed errors of the score-file crate.

use std::path::PathBuf;

use thiserror::Error;

/// What can stop a score file from being read or written (a bad row is listed, not fatal).
#[derive(Debug, Error)]
pub enum ScoreFileError {
    /// Reading or writing the file failed.
    #[error("{path}", path = .path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The file is not a score file (unknown format, foreign columns, invalid JSON array).
    #[error("{path}: {reason}", path = .path.display())]
    Format {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// A value that is not what a score file may hold (a tier name, tier cut-offs).
    #[error("{0}")]
    Invalid(String),
}

impl ScoreFileError {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Self::Io { path: path.into(), source }
    }

    pub(crate) fn format(path: impl Into<PathBuf>, reason: impl ToString) -> Self {
        Self::Format { path: path.into(), reason: reason.to_string() }
    }
}

/// Result with [`ScoreFileError`].
pub type Result<T, E = ScoreFileError> = std::result::Result<T, E>;
