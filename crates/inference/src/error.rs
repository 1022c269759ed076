//! Typed errors of the inference crate.

use std::path::PathBuf;

use thiserror::Error;

/// What can stop scoring or evaluating with a trained run.
#[derive(Debug, Error)]
pub enum InferenceError {
    /// An option or an output that cannot be used (a bad `--shard`, an output that is one of
    /// the inputs, `--resume` without a file).
    #[error("{0}")]
    InvalidInput(String),

    /// Not enough usable data (a split without images, none readable).
    #[error("not enough data: {0}")]
    NotEnoughData(String),

    /// File system error.
    #[error("{path}", path = .path.display())]
    Io {
        /// The file or folder.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },

    /// From the run crate (the run directory, its weights, the device).
    #[error(transparent)]
    Run(#[from] animescore_run::RunError),

    /// From the data pipeline.
    #[error(transparent)]
    Pipeline(#[from] animescore_pipeline::PipelineError),

    /// From the dataset crate (the index given with known metadata).
    #[error(transparent)]
    Dataset(#[from] animescore_dataset::DatasetError),

    /// From the heads crate.
    #[error(transparent)]
    Heads(#[from] animescore_heads::HeadsError),

    /// Reading or writing a score file.
    #[error(transparent)]
    ScoreFile(#[from] animescore_scorefile::ScoreFileError),
}

impl InferenceError {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Self::Io { path: path.into(), source }
    }
}

/// Result alias of this crate.
pub type Result<T, E = InferenceError> = std::result::Result<T, E>;
