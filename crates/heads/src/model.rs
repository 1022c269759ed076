//! The scoring model: a backbone plus the variant's head.
//!
//! All three variants share one forward pass: pooled feature → metadata heads, then a
//! [`Fusion`] step that decides what the score head sees — the pooled feature alone
//! (`multitask`), pooled feature ⧺ metadata embedding (`meta-embed`), or the mean token of
//! the attention fusion (`attention`) — and finally the score head.

use animescore_backbones::{AnyBackbone, Backbone, global_average_pool};
use burn::nn::Identity;
use burn::prelude::*;

use crate::attention::{AttentionFusion, AttentionFusionConfig};
use crate::config::{HeadsConfig, ModelConfig, Variant};
use crate::encoder::{MetadataEncoder, MetadataEncoderConfig};
use crate::error::HeadsError;
use crate::loss::{LossOutput, MultiTaskLoss, Targets};
use crate::metadata::{KnownMetadata, MetadataLogits, MetadataProbs};
use crate::mlp::{Mlp, MlpConfig};
use crate::task_heads::{MetadataHeads, MetadataHeadsConfig, hidden_widths};

/// What the score head is fed with.
#[derive(Module, Debug)]
#[allow(clippy::large_enum_variant)]
pub enum Fusion {
    /// `multitask`: the pooled feature itself (no parameters).
    Pooled(Identity),
    /// `meta-embed`: the pooled feature concatenated with one vector per metadata field.
    Concat(MetadataEncoder),
    /// `attention`: self-attention over patch and metadata tokens.
    Attention(AttentionFusion),
}

/// Everything of a model except the backbone: metadata heads, fusion, score head and the
/// multi-task loss (whose learned log-variances are part of the model's parameters).
#[derive(Module, Debug)]
pub struct ScoringHead {
    metadata_heads: MetadataHeads,
    fusion: Fusion,
    score: Mlp,
    loss: MultiTaskLoss,
    stop_gradient: bool,
}

/// Outputs of a forward pass.
#[derive(Debug, Clone)]
pub struct ModelOutput {
    /// Score on the `[0, 1]` training scale, `[B]` (see [`crate::unscale_score`]).
    pub score: Tensor<1>,
    /// AI-flag logit, `[B]`.
    pub ai_logit: Tensor<1>,
    /// Sanity logits, `[B, SANITY_CLASSES]`.
    pub sanity_logits: Tensor<2>,
    /// Tag logits, `[B, tag_vocab]`, when the model has a tag head.
    pub tag_logits: Option<Tensor<2>>,
    /// Attention weights of every block, `[B, heads, T, T]` (`attention` variant only).
    pub attention: Option<Vec<Tensor<4>>>,
}

impl HeadsConfig {
    /// Builds the head for a backbone whose feature map has `d_feature` channels.
    pub fn init(&self, d_feature: usize, device: &Device) -> Result<ScoringHead, HeadsError> {
        self.validate()?;
        if d_feature == 0 {
            return Err(HeadsError::InvalidConfig("backbone has 0 output channels".into()));
        }
        let tag_vocab = self.tag_head_vocab();
        let metadata_heads = MetadataHeadsConfig::new(d_feature, self.head_hidden)
            .with_dropout(self.head_dropout)
            .with_tag_vocab(tag_vocab)
            .init(device);
        let score_mlp = |d_input, hidden| {
            MlpConfig::new(d_input, hidden_widths(hidden), 1)
                .with_dropout(self.head_dropout)
                .init(device)
        };
        let (fusion, score) = match self.variant {
            Variant::Multitask => {
                (Fusion::Pooled(Identity::new()), score_mlp(d_feature, self.head_hidden))
            }
            Variant::MetaEmbed => {
                let encoder = MetadataEncoderConfig::for_embedding(
                    self.embedding,
                    self.tag_vocab,
                    self.embed_dim,
                )
                .init(device);
                let d_input = d_feature + encoder.n_fields() * encoder.d_output();
                (Fusion::Concat(encoder), score_mlp(d_input, self.head_hidden))
            }
            Variant::Attention => {
                let a = &self.attention;
                let fusion = AttentionFusionConfig::new(d_feature, self.embedding, a.clone())
                    .with_tag_vocab(tag_vocab)
                    .init(device);
                let score = MlpConfig::new(a.d_model, hidden_widths(a.score_hidden), 1)
                    .with_dropout(a.dropout)
                    .init(device);
                (Fusion::Attention(fusion), score)
            }
        };
        Ok(ScoringHead {
            metadata_heads,
            fusion,
            score,
            loss: self.loss.init(device),
            stop_gradient: self.stop_gradient,
        })
    }
}

impl ScoringHead {
    /// Runs the head on a backbone feature map `[B, C, h, w]`.
    pub fn forward(
        &self,
        feature_map: Tensor<4>,
        known: Option<&KnownMetadata>,
    ) -> Result<ModelOutput, HeadsError> {
        self.forward_edited(feature_map, known, &|_| {})
    }

    /// [`forward`](Self::forward) with `edit` applied to the metadata probabilities before
    /// they are embedded. Attribution uses it: a field set to zeros leaves only its
    /// embedding's bias, i.e. the field tells the score head nothing.
    pub fn forward_edited(
        &self,
        feature_map: Tensor<4>,
        known: Option<&KnownMetadata>,
        edit: &dyn Fn(&mut MetadataProbs),
    ) -> Result<ModelOutput, HeadsError> {
        let batch = feature_map.dims()[0];
        let pooled = global_average_pool(feature_map.clone());
        let metadata = self.metadata_heads.forward(pooled.clone());
        let probs = |m: &MetadataLogits| {
            let mut probs = m.probabilities(known, self.stop_gradient)?;
            edit(&mut probs);
            Ok::<_, HeadsError>(probs)
        };

        let (score_input, attention) = match &self.fusion {
            Fusion::Pooled(_) => (pooled, None),
            Fusion::Concat(encoder) => {
                let mut parts = vec![pooled];
                parts.extend(encoder.forward(&probs(&metadata)?));
                (Tensor::cat(parts, 1), None)
            }
            Fusion::Attention(fusion) => {
                let fused = fusion.forward(feature_map, &probs(&metadata)?)?;
                (fused.pooled, Some(fused.attention))
            }
        };
        let score = self.score.forward(score_input).reshape([batch]);
        Ok(ModelOutput {
            score,
            ai_logit: metadata.ai,
            sanity_logits: metadata.sanity,
            tag_logits: metadata.tags,
            attention,
        })
    }

    /// Multi-task loss of an output against its targets.
    pub fn loss(&self, output: &ModelOutput, targets: &Targets) -> Result<LossOutput, HeadsError> {
        let per_task = self.loss.task_losses(
            output.score.clone(),
            output.ai_logit.clone(),
            output.sanity_logits.clone(),
            output.tag_logits.clone(),
            targets,
        )?;
        Ok(self.loss.combine(per_task))
    }

    /// The multi-task loss module (learned `σ`s).
    pub fn loss_module(&self) -> &MultiTaskLoss {
        &self.loss
    }

    /// Replaces the loss's learned log-variances (see [`MultiTaskLoss::with_log_vars`]).
    pub fn with_log_vars(mut self, log_vars: Tensor<1>) -> Result<Self, HeadsError> {
        self.loss = self.loss.with_log_vars(log_vars)?;
        Ok(self)
    }

    /// Tag vocabulary of the tag head, `None` without one.
    pub fn tag_vocab(&self) -> Option<usize> {
        self.metadata_heads.tag_vocab()
    }
}

impl ModelConfig {
    /// Builds the backbone (randomly initialised; load pretrained weights afterwards) and
    /// the heads on top of it.
    pub fn init(&self, device: &Device) -> Result<ScoringModel<AnyBackbone>, HeadsError> {
        self.validate()?;
        ScoringModel::new(self.backbone.init(device), &self.heads, device)
    }
}

/// A backbone and a [`ScoringHead`]. Any [`Backbone`] works; [`ModelConfig::init`] builds
/// one with an [`AnyBackbone`].
#[derive(Module, Debug)]
pub struct ScoringModel<BB: Backbone = AnyBackbone> {
    /// Image feature extractor.
    pub backbone: BB,
    /// Heads, fusion and loss.
    pub head: ScoringHead,
}

impl<BB: Backbone> ScoringModel<BB> {
    /// Puts `heads` on top of an already built backbone.
    pub fn new(backbone: BB, heads: &HeadsConfig, device: &Device) -> Result<Self, HeadsError> {
        let head = heads.init(backbone.out_channels(), device)?;
        Ok(Self { backbone, head })
    }

    /// Normalised images `[B, 3, H, W]` → outputs. `known` metadata, field by field,
    /// replaces the model's predictions as input of the metadata embedding.
    pub fn forward(
        &self,
        images: Tensor<4>,
        known: Option<KnownMetadata>,
    ) -> Result<ModelOutput, HeadsError> {
        self.head.forward(self.backbone.feature_map(images), known.as_ref())
    }

    /// Multi-task loss of an output against its targets.
    pub fn loss(&self, output: &ModelOutput, targets: &Targets) -> Result<LossOutput, HeadsError> {
        self.head.loss(output, targets)
    }

    /// Freezes the backbone before `stage` (`None`: the whole backbone), see
    /// [`Backbone::freeze_before`]. The heads stay trainable.
    pub fn freeze_backbone_before(self, stage: Option<&str>) -> Result<Self, HeadsError> {
        Ok(Self { backbone: self.backbone.freeze_before(stage)?, head: self.head })
    }

    /// Current `σ` of each task (uncertainty mode), for logging.
    pub fn sigmas(&self) -> Option<[f32; 4]> {
        self.head.loss_module().sigmas()
    }
}
