//! Typed errors of the training crate.

use std::path::PathBuf;

use thiserror::Error;

/// Everything that can go wrong while training, evaluating or predicting.
#[derive(Debug, Error)]
pub enum TrainingError {
    /// The dataset folder has no index yet.
    #[error(
        "no index at {path}: build it first with `animescore ingest {dataset}`",
        path = .path.display(),
        dataset = .dataset.display()
    )]
    MissingIndex {
        /// Expected index file.
        path: PathBuf,
        /// The dataset folder.
        dataset: PathBuf,
    },

    /// A configuration value is out of range or inconsistent.
    #[error("invalid training configuration: {0}")]
    InvalidConfig(String),

    /// Not enough usable data for a split.
    #[error("not enough data: {0}")]
    NotEnoughData(String),

    /// The loss became NaN or infinite.
    #[error(
        "training diverged at epoch {epoch}, step {step}: loss is {loss} (per task: {tasks}); \
         lower the learning rate (--lr), enable gradient clipping (grad_clip) or check the data"
    )]
    NonFinite {
        /// Epoch (1-based).
        epoch: usize,
        /// Global optimiser step.
        step: usize,
        /// The total loss.
        loss: f32,
        /// Per-task raw losses, for the message.
        tasks: String,
    },

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

    /// A data-loading error (image decode) that aborted an epoch.
    #[error("data loading: {0}")]
    Data(String),

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

    /// From the dataset crate.
    #[error(transparent)]
    Dataset(#[from] animescore_dataset::DatasetError),

    /// From the scoring crate.
    #[error(transparent)]
    Scoring(#[from] animescore_scoring::ScoringError),

    /// From the backbones crate.
    #[error(transparent)]
    Backbone(#[from] animescore_backbones::BackboneError),

    /// Reading or writing a score file.
    #[error(transparent)]
    ScoreFile(#[from] animescore_scorefile::ScoreFileError),

    /// From the heads crate.
    #[error(transparent)]
    Heads(#[from] animescore_heads::HeadsError),
}

impl TrainingError {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Self::Io { path: path.into(), source }
    }

    pub(crate) fn format(path: impl Into<PathBuf>, reason: impl ToString) -> Self {
        Self::Format { path: path.into(), reason: reason.to_string() }
    }
}

/// Result alias of this crate.
pub type Result<T, E = TrainingError> = std::result::Result<T, E>;
