//! Typed errors of the run crate.

use std::path::PathBuf;

use thiserror::Error;

/// What can go wrong with a run's settings, files or device.
#[derive(Debug, Error)]
pub enum RunError {
    /// A configuration value is out of range or inconsistent.
    #[error("invalid training configuration: {0}")]
    InvalidConfig(String),

    /// The data cannot support the configuration (e.g. tags asked for, none found).
    #[error("not enough data: {0}")]
    NotEnoughData(String),

    /// A run directory lacks a file or holds an unreadable one.
    #[error("run directory {dir}: {reason}", dir = .dir.display())]
    Run {
        /// The run directory.
        dir: PathBuf,
        /// What is wrong.
        reason: String,
    },

    /// The requested device is not available in this build or does not parse.
    #[error("device `{spec}`: {reason}")]
    Device {
        /// What was asked for.
        spec: String,
        /// Why it cannot be used.
        reason: String,
    },

    /// File system error.
    #[error("{path}", path = .path.display())]
    Io {
        /// The file or folder.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },

    /// Saving or loading weights / optimiser state.
    #[error("{what} {path}: {reason}", path = .path.display())]
    Record {
        /// What was saved or loaded.
        what: &'static str,
        /// The file.
        path: PathBuf,
        /// burn's message.
        reason: String,
    },

    /// Serialisation of a config / JSON / CSV file.
    #[error("{path}: {reason}", path = .path.display())]
    Format {
        /// The file.
        path: PathBuf,
        /// The parser's message.
        reason: String,
    },

    /// Reading values back from the device failed.
    #[error("reading values back from the device: {0}")]
    Readback(String),

    /// From the dataset crate.
    #[error(transparent)]
    Dataset(#[from] animescore_dataset::DatasetError),

    /// From the scoring crate.
    #[error(transparent)]
    Scoring(#[from] animescore_scoring::ScoringError),

    /// From the backbones crate.
    #[error(transparent)]
    Backbone(#[from] animescore_backbones::BackboneError),

    /// From the score-file crate (tiers and their cut-offs).
    #[error(transparent)]
    ScoreFile(#[from] animescore_scorefile::ScoreFileError),

    /// From the heads crate.
    #[error(transparent)]
    Heads(#[from] animescore_heads::HeadsError),
}

impl RunError {
    /// An I/O error with the path it happened on.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Self::Io { path: path.into(), source }
    }

    /// A file that could not be parsed or serialised.
    pub fn format(path: impl Into<PathBuf>, reason: impl ToString) -> Self {
        Self::Format { path: path.into(), reason: reason.to_string() }
    }
}

/// Result alias of this crate.
pub type Result<T, E = RunError> = std::result::Result<T, E>;
