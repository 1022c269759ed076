//! What a whole scoring model will cost, from its configuration alone: the backbone's
//! [`NetworkSize`] plus the heads' (task heads, fusion, score head, loss weights), so that a
//! run can be refused before anything is built (see `animescore_run`'s limits).

use animescore_backbones::NetworkSize;

use crate::config::{ModelConfig, Variant};
use crate::loss::Task;
use crate::metadata::SANITY_CLASSES;

/// Parameters and activations of a model, per image.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct ModelSize {
    /// The backbone.
    pub backbone: NetworkSize,
    /// Everything above it.
    pub heads: NetworkSize,
}

impl ModelSize {
    /// Backbone and heads together.
    pub fn total(&self) -> NetworkSize {
        self.backbone.then(self.heads)
    }
}

/// A multi-layer perceptron `d_in → hidden… → d_out` on `tokens` rows.
fn mlp(s: &mut NetworkSize, d_in: f64, hidden: &[f64], d_out: f64, tokens: f64) {
    let mut d = d_in;
    for &h in hidden.iter().chain(std::iter::once(&d_out)) {
        s.linear(d, h, tokens);
        d = h;
    }
}

/// `0` means "no hidden layer", as the heads are built.
fn hidden(width: usize) -> Vec<f64> {
    if width == 0 { Vec::new() } else { vec![width as f64] }
}

impl ModelConfig {
    /// Parameters and activations at `image_size` px, computed without building anything.
    /// Parameter counts are exact; activations an estimate.
    pub fn size(&self, image_size: usize) -> ModelSize {
        let (backbone, [c, h, w]) = self.backbone.size(image_size);
        let heads = &self.heads;
        let mut s = NetworkSize::default();
        let head = hidden(heads.head_hidden);
        // Metadata heads on the pooled feature.
        mlp(&mut s, c, &head, 1.0, 1.0);
        mlp(&mut s, c, &head, SANITY_CLASSES as f64, 1.0);
        let tags = heads.tag_head_vocab().map(|v| v as f64);
        if let Some(v) = tags {
            mlp(&mut s, c, &head, v, 1.0);
        }
        // One linear map per embedded metadata field, `width` wide.
        let fields = |s: &mut NetworkSize, width: f64| -> f64 {
            let mut n = 0.0;
            if heads.embedding.uses_ai_sanity() {
                s.linear(2.0, width, 1.0);
                s.linear(SANITY_CLASSES as f64, width, 1.0);
                n += 2.0;
            }
            if let Some(v) = tags {
                s.linear(v, width, 1.0);
                n += 1.0;
            }
            n
        };
        match heads.variant {
            Variant::Multitask => mlp(&mut s, c, &head, 1.0, 1.0),
            Variant::MetaEmbed => {
                let e = heads.embed_dim as f64;
                let n = fields(&mut s, e);
                mlp(&mut s, c + n * e, &head, 1.0, 1.0);
            }
            Variant::Attention => {
                let a = &heads.attention;
                let d = a.d_model as f64;
                let patches = (h * w).min(a.max_patch_tokens as f64);
                mlp(&mut s, c, &[a.patch_hidden as f64], d, patches);
                let n = fields(&mut s, d);
                let tokens = patches + n;
                s.layer((a.max_patch_tokens as f64 + n) * d, tokens * d, 1.0);
                let mut block = NetworkSize::default();
                let heads_n = a.n_heads as f64;
                // LayerNorm, query/key/value/output projections, attention weights (softmax
                // and dropout), LayerNorm, feed-forward network, residual sums.
                block.layer(2.0 * d, tokens * d, 1.0);
                block.layer(4.0 * (d * d + d), 4.0 * tokens * d, 1.0);
                block.layer(0.0, heads_n * tokens * tokens, 2.0);
                block.layer(2.0 * d, tokens * d, 1.0);
                mlp(&mut block, d, &[a.d_ff as f64], d, tokens);
                block.layer(0.0, tokens * d, 2.0);
                let blocks = a.n_blocks as f64;
                s = s.then(NetworkSize {
                    parameters: block.parameters * blocks,
                    activations: block.activations * blocks,
                    peak: block.peak,
                });
                s.layer(2.0 * d, tokens * d, 1.0);
                mlp(&mut s, d, &hidden(a.score_hidden), 1.0, 1.0);
            }
        }
        // The learned log-variances of the multi-task loss.
        s.layer(Task::ALL.len() as f64, 0.0, 0.0);
        ModelSize { backbone, heads: s }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Embedding, HeadsConfig};
    use animescore_backbones::BackboneConfig;
    use burn::module::Module;
    use burn::tensor::Device;

    #[test]
    fn parameter_counts_are_those_of_the_built_models() {
        let device = Device::flex();
        let backbone = BackboneConfig::from_name("tiny").unwrap();
        for variant in Variant::ALL {
            for embedding in Embedding::ALL {
                for head_hidden in [0, 16] {
                    let heads =
                        HeadsConfig { head_hidden, ..HeadsConfig::tiny(variant, embedding, 7) };
                    let config = ModelConfig::new(backbone.clone(), heads);
                    let built = config.init(&device).unwrap().num_params() as f64;
                    let size = config.size(32).total();
                    assert_eq!(size.parameters, built, "{variant} {embedding} {head_hidden}");
                }
            }
        }
    }

    #[test]
    fn a_huge_head_is_a_huge_number() {
        let backbone = BackboneConfig::from_name("tiny").unwrap();
        let heads = HeadsConfig {
            head_hidden: 4_000_000_000,
            ..HeadsConfig::tiny(Variant::Multitask, Embedding::None, 0)
        };
        let size = ModelConfig::new(backbone, heads).size(32);
        assert!(size.heads.parameters > 1e11, "{size:?}");
    }
}
