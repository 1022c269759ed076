//! Self-attention fusion (variant 3): patch tokens from the spatial feature map plus one
//! token per metadata field, pre-LN transformer blocks, mean over tokens.

use burn::module::Param;
use burn::nn::attention::{MhaInput, MultiHeadAttention, MultiHeadAttentionConfig};
use burn::nn::{Dropout, DropoutConfig, Initializer, LayerNorm, LayerNormConfig};
use burn::prelude::*;
use burn::tensor::Distribution;

use crate::config::{AttentionConfig, Embedding};
use crate::encoder::{MetadataEncoder, MetadataEncoderConfig};
use crate::error::HeadsError;
use crate::metadata::MetadataProbs;
use crate::mlp::{Mlp, MlpActivation, MlpConfig};

/// Configuration of a [`TransformerBlock`].
#[derive(Config, Debug)]
pub struct TransformerBlockConfig {
    /// Token width.
    pub d_model: usize,
    /// Attention heads.
    pub n_heads: usize,
    /// Feed-forward hidden width.
    pub d_ff: usize,
    /// Dropout on attention weights, inside the FFN and on both residual branches.
    #[config(default = 0.1)]
    pub dropout: f64,
}

impl TransformerBlockConfig {
    /// Builds the block.
    pub fn init(&self, device: &Device) -> TransformerBlock {
        TransformerBlock {
            norm_attn: LayerNormConfig::new(self.d_model).init(device),
            attn: torch_style_attention(self.d_model, self.n_heads, self.dropout, device),
            norm_ffn: LayerNormConfig::new(self.d_model).init(device),
            ffn: MlpConfig::new(self.d_model, vec![self.d_ff], self.d_model)
                .with_dropout(self.dropout)
                .with_activation(MlpActivation::Gelu)
                .init(device),
            dropout: DropoutConfig::new(self.dropout).init(),
        }
    }
}

/// Burn's multi-head attention initialised as `torch.nn.MultiheadAttention` is: the query,
/// key and value weights Xavier-uniform over PyTorch's packed `[3d, d]` input projection
/// (`±√(6 / 4d)`), the output weight uniform in `±1/√d` (PyTorch's `Linear` default), every
/// bias 0. Burn's default draws all four weights *and* biases uniformly in `±1/√d`.
fn torch_style_attention(
    d_model: usize,
    n_heads: usize,
    dropout: f64,
    device: &Device,
) -> MultiHeadAttention {
    let bound = (6.0 / (4 * d_model) as f64).sqrt();
    let mut attn = MultiHeadAttentionConfig::new(d_model, n_heads)
        .with_dropout(dropout)
        .with_initializer(Initializer::Uniform { min: -bound, max: bound })
        .init(device);
    let output_bound = 1.0 / (d_model as f64).sqrt();
    attn.output.weight = Initializer::Uniform { min: -output_bound, max: output_bound }
        .init([d_model, d_model], device);
    for linear in [&mut attn.query, &mut attn.key, &mut attn.value, &mut attn.output] {
        linear.bias = Some(Initializer::Zeros.init([d_model], device));
    }
    attn
}

/// Pre-LN transformer encoder block: `x + MHA(LN(x))`, then `x + FFN(LN(x))`.
#[derive(Module, Debug)]
pub struct TransformerBlock {
    norm_attn: LayerNorm,
    attn: MultiHeadAttention,
    norm_ffn: LayerNorm,
    ffn: Mlp,
    dropout: Dropout,
}

impl TransformerBlock {
    /// `[B, T, d]` → (`[B, T, d]`, attention weights `[B, heads, T, T]`).
    pub fn forward(&self, x: Tensor<3>) -> (Tensor<3>, Tensor<4>) {
        let attended = self.attn.forward(MhaInput::self_attn(self.norm_attn.forward(x.clone())));
        let x = x + self.dropout.forward(attended.context);
        let x = x.clone() + self.dropout.forward(self.ffn.forward(self.norm_ffn.forward(x)));
        (x, attended.weights)
    }
}

/// Configuration of an [`AttentionFusion`]: the widths of [`AttentionConfig`] (the
/// `[heads.attention]` table of a run's config) on a backbone's feature map.
#[derive(Config, Debug)]
pub struct AttentionFusionConfig {
    /// Channels of the backbone feature map.
    pub d_feature: usize,
    /// Which metadata becomes tokens: AI and sanity give two tokens; the tag token also
    /// needs [`tag_vocab`](Self::tag_vocab).
    pub embedding: Embedding,
    /// Token width, heads, blocks, dropout, positional rows.
    pub attention: AttentionConfig,
    /// Tag token over a vocabulary of this size (`None`: no tag token).
    pub tag_vocab: Option<usize>,
}

impl AttentionFusionConfig {
    /// Builds the fusion.
    pub fn init(&self, device: &Device) -> AttentionFusion {
        let a = &self.attention;
        let metadata_tokens =
            MetadataEncoderConfig::new(self.embedding.uses_ai_sanity(), a.d_model)
                .with_tag_vocab(self.tag_vocab)
                .with_relu(true)
                .init(device);
        let rows = a.max_patch_tokens + metadata_tokens.n_fields();
        // Small random init, as ViT does, so that positions are distinguishable from step 0.
        let position = Tensor::random([rows, a.d_model], Distribution::Normal(0.0, 0.02), device);
        let block =
            TransformerBlockConfig::new(a.d_model, a.n_heads, a.d_ff).with_dropout(a.dropout);
        AttentionFusion {
            patch_projection: MlpConfig::new(self.d_feature, vec![a.patch_hidden], a.d_model)
                .init(device),
            metadata_tokens,
            position: Param::from_tensor(position),
            blocks: (0..a.n_blocks).map(|_| block.init(device)).collect(),
            norm: LayerNormConfig::new(a.d_model).init(device),
            max_patch_tokens: a.max_patch_tokens,
        }
    }
}

/// Patch and metadata tokens → transformer → mean token.
#[derive(Module, Debug)]
pub struct AttentionFusion {
    patch_projection: Mlp,
    metadata_tokens: MetadataEncoder,
    /// Learned positions: rows `0..max_patch_tokens` for patches in raster order, then one
    /// row per metadata field, so a metadata token keeps its position whatever the image size.
    position: Param<Tensor<2>>,
    blocks: Vec<TransformerBlock>,
    /// Final LayerNorm, customary after pre-LN blocks since their residual stream is
    /// never normalised otherwise.
    norm: LayerNorm,
    max_patch_tokens: usize,
}

/// Output of the attention fusion.
#[derive(Debug, Clone)]
pub struct FusionOutput {
    /// Mean over all tokens after the last block, `[B, d_model]`.
    pub pooled: Tensor<2>,
    /// Attention weights of each block, `[B, heads, T, T]`; tokens are the `h·w` patches in
    /// raster order followed by the metadata tokens (AI, sanity, tags as enabled).
    pub attention: Vec<Tensor<4>>,
}

impl AttentionFusion {
    /// Fuses the feature map `[B, C, h, w]` with the metadata probabilities.
    pub fn forward(
        &self,
        feature_map: Tensor<4>,
        metadata: &MetadataProbs,
    ) -> Result<FusionOutput, HeadsError> {
        let [batch, channels, h, w] = feature_map.dims();
        let patches = h * w;
        let n_meta = self.metadata_tokens.n_fields();
        if patches > self.max_patch_tokens {
            return Err(HeadsError::TooManyTokens {
                got: patches + n_meta,
                patches,
                metadata: n_meta,
                max: self.max_patch_tokens + n_meta,
            });
        }
        let tokens = feature_map.reshape([batch, channels, patches]).swap_dims(1, 2);
        let mut tokens = vec![self.patch_projection.forward(tokens)];
        tokens.extend(
            self.metadata_tokens.forward(metadata).into_iter().map(|t| t.unsqueeze_dim::<3>(1)),
        );
        let tokens = Tensor::cat(tokens, 1);

        let position = self.position.val();
        let d_model = position.dims()[1];
        let mut rows = vec![position.clone().narrow(0, 0, patches)];
        if n_meta > 0 {
            rows.push(position.narrow(0, self.max_patch_tokens, n_meta));
        }
        let position = Tensor::cat(rows, 0);
        let mut x = tokens + position.reshape([1, patches + n_meta, d_model]);

        let mut attention = Vec::with_capacity(self.blocks.len());
        for block in &self.blocks {
            let (next, weights) = block.forward(x);
            x = next;
            attention.push(weights);
        }
        let pooled = self.norm.forward(x).mean_dim(1).reshape([batch, d_model]);
        Ok(FusionOutput { pooled, attention })
    }

    /// Number of metadata tokens appended after the patches.
    pub fn n_metadata_tokens(&self) -> usize {
        self.metadata_tokens.n_fields()
    }
}
