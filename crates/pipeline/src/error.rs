//! Typed errors of the data pipeline.

use std::path::PathBuf;

use thiserror::Error;

/// What can go wrong between a dataset's index and the model's batches.
#[derive(Debug, Error)]
pub enum PipelineError {
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

    /// Not enough usable data for a split or a pass.
    #[error("not enough data: {0}")]
    NotEnoughData(String),

    /// Loading data failed (loader threads, a cache slot of the wrong size, a feature map of
    /// the wrong shape).
    #[error("data loading: {0}")]
    Data(String),

    /// File system error.
    #[error("{path}", path = .path.display())]
    Io {
        /// The file or folder.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },

    /// A cache index or settings that could not be serialised.
    #[error("{path}: {reason}", path = .path.display())]
    Format {
        /// The file.
        path: PathBuf,
        /// The serialiser's message.
        reason: String,
    },

    /// From the run crate (settings, device, metrics).
    #[error(transparent)]
    Run(#[from] animescore_run::RunError),

    /// From the dataset crate.
    #[error(transparent)]
    Dataset(#[from] animescore_dataset::DatasetError),

    /// From the scoring crate.
    #[error(transparent)]
    Scoring(#[from] animescore_scoring::ScoringError),

    /// From the backbones crate.
    #[error(transparent)]
    Backbone(#[from] animescore_backbones::BackboneError),

    /// From the heads crate.
    #[error(transparent)]
    Heads(#[from] animescore_heads::HeadsError),
}

impl PipelineError {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Self::Io { path: path.into(), source }
    }

    pub(crate) fn format(path: impl Into<PathBuf>, reason: impl ToString) -> Self {
        Self::Format { path: path.into(), reason: reason.to_string() }
    }
}

/// Result alias of this crate.
pub type Result<T, E = PipelineError> = std::result::Result<T, E>;
