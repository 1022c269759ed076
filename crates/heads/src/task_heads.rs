//! The metadata task heads on the pooled image feature: AI flag, sanity level and tags.
//!
//! The score head is not here: its input depends on the variant (see `model.rs`).

use burn::prelude::*;

use crate::metadata::{MetadataLogits, SANITY_CLASSES};
use crate::mlp::{Mlp, MlpConfig};

/// Configuration of [`MetadataHeads`].
#[derive(Config, Debug)]
pub struct MetadataHeadsConfig {
    /// Width of the pooled feature.
    pub d_input: usize,
    /// Hidden width of each head (0: a single linear layer).
    pub hidden: usize,
    /// Dropout after the hidden layer.
    #[config(default = 0.0)]
    pub dropout: f64,
    /// Tag vocabulary; `None` builds no tag head.
    pub tag_vocab: Option<usize>,
}

impl MetadataHeadsConfig {
    /// Builds the heads.
    pub fn init(&self, device: &Device) -> MetadataHeads {
        let head = |d_output| {
            MlpConfig::new(self.d_input, hidden_widths(self.hidden), d_output)
                .with_dropout(self.dropout)
                .init(device)
        };
        MetadataHeads { ai: head(1), sanity: head(SANITY_CLASSES), tags: self.tag_vocab.map(head) }
    }
}

/// `0` means "no hidden layer".
pub(crate) fn hidden_widths(hidden: usize) -> Vec<usize> {
    if hidden == 0 { vec![] } else { vec![hidden] }
}

/// AI (binary logit), sanity ([`SANITY_CLASSES`](crate::SANITY_CLASSES) logits) and optional tag (multi-label logits) heads.
#[derive(Module, Debug)]
pub struct MetadataHeads {
    ai: Mlp,
    sanity: Mlp,
    tags: Option<Mlp>,
}

impl MetadataHeads {
    /// `pooled [B, C]` → logits of every metadata task.
    pub fn forward(&self, pooled: Tensor<2>) -> MetadataLogits {
        let batch = pooled.dims()[0];
        MetadataLogits {
            ai: self.ai.forward(pooled.clone()).reshape([batch]),
            sanity: self.sanity.forward(pooled.clone()),
            tags: self.tags.as_ref().map(|t| t.forward(pooled)),
        }
    }

    /// Tag vocabulary size, `None` without a tag head.
    pub fn tag_vocab(&self) -> Option<usize> {
        self.tags.as_ref().map(Mlp::d_output)
    }
}
