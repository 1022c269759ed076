//! Typed errors of the explain crate.

use std::path::PathBuf;

use thiserror::Error;

/// Everything that can go wrong while explaining a score.
#[derive(Debug, Error)]
pub enum ExplainError {
    /// The method cannot run on this model (e.g. attention rollout without attention).
    #[error("method `{method}` is not available for the `{variant}` variant: {reason}")]
    Unavailable {
        /// The method asked for.
        method: &'static str,
        /// The model's variant.
        variant: &'static str,
        /// Why.
        reason: String,
    },
    /// An unknown method name.
    #[error("unknown method `{0}`: expected auto, attention, gradcam or occlusion")]
    UnknownMethod(String),
    /// A heat map whose values do not fill its grid, or another shape mismatch.
    #[error("shape mismatch: {0}")]
    Shape(String),
    /// A picture could not be encoded.
    #[error("encoding the heat map as PNG: {0}")]
    Encode(String),
    /// A setting out of range.
    #[error("invalid setting: {0}")]
    InvalidSetting(String),
    /// An image that could not be read.
    #[error("{path}: {reason}", path = .path.display())]
    Image {
        /// The image file.
        path: PathBuf,
        /// Why it could not be read.
        reason: String,
    },
    /// The model failed (heads error).
    #[error(transparent)]
    Heads(#[from] animescore_heads::HeadsError),
    /// Loading the run failed.
    #[error(transparent)]
    Run(#[from] animescore_run::RunError),
    /// Reading values back from the device failed.
    #[error(transparent)]
    Pipeline(#[from] animescore_pipeline::PipelineError),
    /// A gradient that the backward pass did not produce.
    #[error("the backward pass produced no gradient for the feature map")]
    NoGradient,
}

/// Result with [`ExplainError`].
pub type Result<T, E = ExplainError> = std::result::Result<T, E>;
