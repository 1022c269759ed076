//! Metadata as the model sees it: logits from the heads, probability vectors fed to the
//! embeddings, and metadata a caller already knows.

use burn::prelude::*;
use burn::tensor::activation::{sigmoid, softmax};

use crate::error::HeadsError;

/// Number of sanity classes (general, sensitive, NSFW). Which Pixiv `sanity_level` belongs
/// to which class is the dataset crate's business (`animescore_dataset::sanity_class`); the
/// model only sees classes.
pub const SANITY_CLASSES: usize = 3;

/// Metadata a caller knows for every image of the batch (e.g. real Pixiv metadata when
/// scoring a new upload). Fields left `None` fall back to the model's own predictions.
#[derive(Debug, Clone, Default)]
pub struct KnownMetadata {
    /// AI flag per image, 0 or 1, `[B]`.
    pub ai: Option<Tensor<1>>,
    /// Sanity class per image (`0..SANITY_CLASSES`), `[B]`.
    pub sanity: Option<Tensor<1, Int>>,
    /// Multi-hot tags, `[B, tag_vocab]`.
    pub tags: Option<Tensor<2>>,
}

/// Raw outputs of the metadata heads.
#[derive(Debug, Clone)]
pub struct MetadataLogits {
    /// AI-flag logit, `[B]`.
    pub ai: Tensor<1>,
    /// Sanity logits, `[B, SANITY_CLASSES]`.
    pub sanity: Tensor<2>,
    /// Tag logits, `[B, tag_vocab]`, when the model has a tag head.
    pub tags: Option<Tensor<2>>,
}

/// One probability vector per metadata field: the input of every metadata encoder.
///
/// Predicted probabilities make a *soft* embedding (probability-weighted rows of the
/// embedding table, differentiable); one-hot vectors of known metadata select single rows.
#[derive(Debug, Clone)]
pub struct MetadataProbs {
    /// `[P(human), P(AI)]`, `[B, 2]`.
    pub ai: Tensor<2>,
    /// Sanity class probabilities, `[B, SANITY_CLASSES]`.
    pub sanity: Tensor<2>,
    /// Per-tag probabilities (or multi-hot), `[B, tag_vocab]`.
    pub tags: Option<Tensor<2>>,
}

impl MetadataLogits {
    /// Batch size.
    pub fn batch_size(&self) -> usize {
        self.ai.dims()[0]
    }

    /// Probabilities of the predictions, with `known` fields substituted; `detach` cuts the
    /// gradient from the embedding back into the heads.
    pub fn probabilities(
        &self,
        known: Option<&KnownMetadata>,
        detach: bool,
    ) -> Result<MetadataProbs, HeadsError> {
        let batch = self.batch_size();
        let cut = |t: Tensor<2>| if detach { t.detach() } else { t };
        let known_ai = known.and_then(|k| k.ai.clone());
        let known_sanity = known.and_then(|k| k.sanity.clone());
        let known_tags = known.and_then(|k| k.tags.clone());

        let p_ai = match known_ai {
            Some(ai) => {
                check_shape("known ai", &ai.dims(), &[batch])?;
                ai
            }
            None => sigmoid(self.ai.clone()),
        };
        let p_ai = p_ai.unsqueeze_dim::<2>(1);
        let ai = cut(Tensor::cat(vec![p_ai.clone().neg().add_scalar(1.0), p_ai], 1));

        let sanity = match known_sanity {
            Some(s) => {
                check_shape("known sanity", &s.dims(), &[batch])?;
                s.one_hot::<2>(SANITY_CLASSES).float()
            }
            None => cut(softmax(self.sanity.clone(), 1)),
        };

        let tags = match (&self.tags, known_tags) {
            (Some(logits), Some(t)) => {
                check_shape("known tags", &t.dims(), &logits.dims())?;
                Some(t)
            }
            (Some(logits), None) => Some(cut(sigmoid(logits.clone()))),
            (None, Some(_)) => {
                return Err(HeadsError::Tags(
                    "known tags were given but the model has no tag head".into(),
                ));
            }
            (None, None) => None,
        };
        Ok(MetadataProbs { ai, sanity, tags })
    }
}

pub(crate) fn check_shape(
    what: &'static str,
    got: &[usize],
    expected: &[usize],
) -> Result<(), HeadsError> {
    if got == expected {
        Ok(())
    } else {
        Err(HeadsError::Shape { what, expected: format!("{expected:?}"), got: got.to_vec() })
    }
}
