//! How much of a score each input accounts for, by ablation: the image (replaced by the mean
//! colour, metadata inputs kept) and each metadata token (its probability vector set to
//! zeros, which leaves only the embedding's bias: the token says nothing). The absolute score
//! changes, divided by their sum, are the shares. Ablation effects need not add up to the
//! score (the model is not linear); the shares compare them, they do not decompose the score.

use animescore_heads::{
    HeadsConfig, KnownMetadata, MetadataLogits, MetadataProbs, ModelOutput, ScoringModel, Variant,
};
use burn::prelude::*;

use animescore_backbones::Backbone;

use crate::error::Result;
use crate::rollout::read;

/// Which metadata tokens reach a model's score.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct MetadataFields {
    /// AI and sanity tokens.
    pub ai_sanity: bool,
    /// The tag token.
    pub tags: bool,
}

impl MetadataFields {
    /// The tokens of a model built from `heads` (none for `multitask`).
    pub fn of(heads: &HeadsConfig) -> Self {
        if heads.variant == Variant::Multitask {
            return Self::default();
        }
        Self { ai_sanity: heads.embedding.uses_ai_sanity(), tags: heads.embedding.uses_tags() }
    }

    /// Whether any token reaches the score.
    pub fn any(self) -> bool {
        self.ai_sanity || self.tags
    }
}

/// Shares of one score, summing to 1 (all 0 when nothing moves the score). A token the model
/// does not have is `None`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MetadataShares {
    /// The pixels.
    pub image: f64,
    /// The AI token.
    pub ai: Option<f64>,
    /// The sanity token.
    pub sanity: Option<f64>,
    /// The tag token.
    pub tags: Option<f64>,
}

/// Shares of each image of a batch. `feature_map` is the backbone's output for the images,
/// `full` the model's output for them with their `known` metadata (if any); `grey` is a
/// batch of mean-colour images.
pub fn metadata_shares(
    model: &ScoringModel,
    fields: MetadataFields,
    feature_map: Tensor<4>,
    full: &ModelOutput,
    known: Option<&KnownMetadata>,
    grey: Tensor<4>,
) -> Result<Vec<MetadataShares>> {
    let base = read(full.score.clone())?;
    // What the embedding saw: the known metadata, else the model's own predictions.
    let logits = MetadataLogits {
        ai: full.ai_logit.clone(),
        sanity: full.sanity_logits.clone(),
        tags: full.tag_logits.clone(),
    };
    let probs = logits.probabilities(known, false)?;
    let change = |scores: Vec<f32>| -> Vec<f64> {
        base.iter().zip(scores).map(|(b, s)| f64::from((b - s).abs())).collect()
    };
    // The image: grey pixels, the metadata the real image led to.
    let grey_map = model.backbone.feature_map(grey);
    let same = probs.clone();
    let image = model.head.forward_edited(grey_map, None, &move |p| *p = same.clone())?;
    let image = change(read(image.score)?);
    let ablate = |edit: &dyn Fn(&mut MetadataProbs)| -> Result<Vec<f64>> {
        let out = model.head.forward_edited(feature_map.clone(), known, edit)?;
        Ok(change(read(out.score)?))
    };
    let zero = |t: &Tensor<2>| t.zeros_like();
    let ai = fields.ai_sanity.then(|| ablate(&|p| p.ai = zero(&p.ai))).transpose()?;
    let sanity = fields.ai_sanity.then(|| ablate(&|p| p.sanity = zero(&p.sanity))).transpose()?;
    let tags = fields.tags.then(|| ablate(&|p| p.tags = p.tags.as_ref().map(zero))).transpose()?;
    Ok((0..base.len())
        .map(|i| {
            let pick = |v: &Option<Vec<f64>>| v.as_ref().map(|v| v[i]);
            let (ai, sanity, tags) = (pick(&ai), pick(&sanity), pick(&tags));
            let total = image[i] + ai.unwrap_or(0.0) + sanity.unwrap_or(0.0) + tags.unwrap_or(0.0);
            let share = |v: f64| if total > 0.0 { v / total } else { 0.0 };
            MetadataShares {
                image: share(image[i]),
                ai: ai.map(share),
                sanity: sanity.map(share),
                tags: tags.map(share),
            }
        })
        .collect())
}
