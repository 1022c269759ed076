//! Typed errors of the training crate.

use std::path::PathBuf;

use thiserror::Error;

/// Everything that can stop a training run, a grid or a benchmark.
#[derive(Debug, Error)]
pub enum TrainingError {
    /// Not enough usable data for a split or an epoch.
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

    /// A run directory that this session may not write into, or cannot continue.
    #[error("run directory {dir}: {reason}", dir = .dir.display())]
    Run {
        /// The run directory.
        dir: PathBuf,
        /// What is wrong.
        reason: String,
    },

    /// An experiment grid that names no run (an empty list of backbones, variants, embeddings
    /// or scores).
    #[error("invalid experiment grid: {0}")]
    InvalidGrid(String),

    /// The device failed while training or measuring.
    #[error("device: {0}")]
    Device(String),

    /// File system error.
    #[error("{path}", path = .path.display())]
    Io {
        /// The file or folder.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },

    /// Saving a checkpoint or the optimiser state.
    #[error("{what} {path}: {reason}", path = .path.display())]
    Record {
        /// What was saved.
        what: &'static str,
        /// The file.
        path: PathBuf,
        /// burn's message.
        reason: String,
    },

    /// A grid file, a checkpoint state or a results table that could not be read or written.
    #[error("{path}: {reason}", path = .path.display())]
    Format {
        /// The file.
        path: PathBuf,
        /// The parser's message.
        reason: String,
    },

    /// A chart that could not be drawn.
    #[error("{chart}: {reason}")]
    Plot {
        /// The chart's file name.
        chart: &'static str,
        /// plotters' message.
        reason: String,
    },

    /// From the run crate (settings, run directory, weights).
    #[error(transparent)]
    Settings(#[from] animescore_run::RunError),

    /// From the data pipeline.
    #[error(transparent)]
    Pipeline(#[from] animescore_pipeline::PipelineError),

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
