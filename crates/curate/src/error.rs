//! Typed errors of the curation crate.

use std::path::PathBuf;

use thiserror::Error;

/// What can stop curation (a failed action on one file is reported, not fatal).
#[derive(Debug, Error)]
pub enum CurateError {
    /// An option that cannot be used (an unknown action or caption mode).
    #[error("{0}")]
    InvalidInput(String),

    /// File system error.
    #[error("{path}", path = .path.display())]
    Io {
        /// The file or folder.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },

    /// A manifest that could not be written or read.
    #[error("{path}: {reason}", path = .path.display())]
    Format {
        /// The file.
        path: PathBuf,
        /// The parser's message.
        reason: String,
    },

    /// Reading the score file.
    #[error(transparent)]
    ScoreFile(#[from] animescore_scorefile::ScoreFileError),
}

impl CurateError {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Self::Io { path: path.into(), source }
    }

    pub(crate) fn format(path: impl Into<PathBuf>, reason: impl ToString) -> Self {
        Self::Format { path: path.into(), reason: reason.to_string() }
    }
}

/// Result alias of this crate.
pub type Result<T, E = CurateError> = std::result::Result<T, E>;
