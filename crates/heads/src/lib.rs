//! Task heads, metadata embeddings, the uncertainty-weighted multi-task loss and the three
//! animescore model variants (`multitask`, `meta-embed`, `attention`) on top of any
//! [`animescore_backbones::Backbone`].
//!
//! Build a model from a [`ModelConfig`] (backbone + heads) with [`ModelConfig::init`], or
//! put a [`HeadsConfig`] on any backbone with [`ScoringModel::new`]; call
//! [`ScoringModel::forward`] and then [`ScoringModel::loss`] on the output. Design notes:
//! `docs/heads.md`.

mod attention;
mod config;
mod encoder;
mod error;
mod loss;
mod metadata;
mod mlp;
mod model;
mod size;
mod task_heads;
mod torch_names;

pub use attention::{
    AttentionFusion, AttentionFusionConfig, FusionOutput, TransformerBlock, TransformerBlockConfig,
};
pub use config::{AttentionConfig, Embedding, HeadsConfig, ModelConfig, Variant};
pub use encoder::{MetadataEncoder, MetadataEncoderConfig};
pub use error::HeadsError;
pub use loss::{
    Label, LossConfig, LossOutput, LossWeighting, MultiTaskLoss, RegressionLoss, Targets, Task,
    TaskLosses, TaskMasks, bce_with_logits, scale_score, unscale_score,
};
pub use metadata::{KnownMetadata, MetadataLogits, MetadataProbs, SANITY_CLASSES};
pub use mlp::{Mlp, MlpActivation, MlpConfig};
pub use model::{Fusion, ModelOutput, ScoringHead, ScoringModel};
pub use size::ModelSize;
pub use task_heads::{MetadataHeads, MetadataHeadsConfig};
pub use torch_names::TorchTensor;
