//! Typed errors of the heads crate.

use thiserror::Error;

/// Everything that can go wrong while building or running a scoring model.
#[derive(Debug, Error)]
pub enum HeadsError {
    /// A configuration value is out of range or inconsistent with another one.
    #[error("invalid heads configuration: {0}")]
    InvalidConfig(String),

    /// More tokens reached the attention fusion than its positional embedding has rows.
    #[error(
        "attention fusion got {got} tokens ({patches} patches + {metadata} metadata) but was \
         built for at most {max}; raise `max_patch_tokens` or use smaller images"
    )]
    TooManyTokens {
        /// Total tokens of this batch.
        got: usize,
        /// Patch tokens (h·w of the feature map).
        patches: usize,
        /// Metadata tokens.
        metadata: usize,
        /// Rows of the positional embedding.
        max: usize,
    },

    /// An input tensor does not have the shape the model expects.
    #[error("shape mismatch for {what}: expected {expected}, got {got:?}")]
    Shape {
        /// Which input.
        what: &'static str,
        /// Human-readable expectation.
        expected: String,
        /// The shape that was passed.
        got: Vec<usize>,
    },

    /// Tag targets or tag metadata were passed to a model without a tag head, or missing
    /// where the model needs them.
    #[error("tags: {0}")]
    Tags(String),

    /// A sanity class outside `0..SANITY_CLASSES`.
    #[error("sanity class must be 0, 1 or 2, got {0}")]
    SanityClass(usize),

    /// A score outside 1..=100.
    #[error("score must lie in 1..=100, got {0}")]
    ScoreRange(f32),

    /// Tensors under PyTorch names do not fit the model (see `ScoringModel::torch_state`).
    #[error("PyTorch state: {0}")]
    TorchState(String),

    /// The backbone could not be built or frozen.
    #[error(transparent)]
    Backbone(#[from] animescore_backbones::BackboneError),
}
