//! Metadata encoders: one vector per metadata field from its probability vector.
//!
//! Each field is a linear map of its probability vector, i.e. the probability-weighted sum
//! of the rows of an embedding table (plus a bias). For a one-hot input that is exactly one
//! row; for tags it is an embedding bag (sum mode) over the multi-hot or probability vector.
//! `meta-embed` uses the vectors as they are; `attention` uses them as tokens with a ReLU,
//! as the original's `Linear(768) → ReLU` token layers did.

use burn::prelude::*;

use crate::config::Embedding;
use crate::metadata::{MetadataProbs, SANITY_CLASSES};
use crate::mlp::{Mlp, MlpConfig};

/// Configuration of a [`MetadataEncoder`].
#[derive(Config, Debug)]
pub struct MetadataEncoderConfig {
    /// Embed AI flag and sanity level.
    pub ai_sanity: bool,
    /// Embed tags over a vocabulary of this size (`None`: no tag field).
    pub tag_vocab: Option<usize>,
    /// Width of each field vector.
    pub d_output: usize,
    /// ReLU on each field vector (token layers of the attention variant).
    #[config(default = false)]
    pub relu: bool,
}

impl MetadataEncoderConfig {
    /// Encoder for an [`Embedding`] setting. `tag_vocab` is only read when tags are embedded.
    pub fn for_embedding(embedding: Embedding, tag_vocab: usize, d_output: usize) -> Self {
        Self::new(embedding.uses_ai_sanity(), d_output)
            .with_tag_vocab(embedding.uses_tags().then_some(tag_vocab))
    }

    /// Builds the per-field tables.
    pub fn init(&self, device: &Device) -> MetadataEncoder {
        let field = |d_input| {
            MlpConfig::new(d_input, vec![], self.d_output).with_relu_output(self.relu).init(device)
        };
        MetadataEncoder {
            ai: self.ai_sanity.then(|| field(2)),
            sanity: self.ai_sanity.then(|| field(SANITY_CLASSES)),
            tags: self.tag_vocab.map(field),
            d_output: self.d_output,
        }
    }
}

/// Embeds each enabled metadata field into one `[B, d_output]` vector.
#[derive(Module, Debug)]
pub struct MetadataEncoder {
    ai: Option<Mlp>,
    sanity: Option<Mlp>,
    tags: Option<Mlp>,
    d_output: usize,
}

impl MetadataEncoder {
    /// One vector per enabled field, in the order AI, sanity, tags.
    ///
    /// A tag field whose probabilities are missing (no tag head) is skipped; the model
    /// builder never creates that combination.
    pub fn forward(&self, probs: &MetadataProbs) -> Vec<Tensor<2>> {
        let mut fields = Vec::with_capacity(self.n_fields());
        if let Some(ai) = &self.ai {
            fields.push(ai.forward(probs.ai.clone()));
        }
        if let Some(sanity) = &self.sanity {
            fields.push(sanity.forward(probs.sanity.clone()));
        }
        if let (Some(tags), Some(p)) = (&self.tags, &probs.tags) {
            fields.push(tags.forward(p.clone()));
        }
        fields
    }

    /// Number of vectors [`forward`](Self::forward) returns.
    pub fn n_fields(&self) -> usize {
        usize::from(self.ai.is_some())
            + usize::from(self.sanity.is_some())
            + usize::from(self.tags.is_some())
    }

    /// Width of each vector.
    pub fn d_output(&self) -> usize {
        self.d_output
    }
}
