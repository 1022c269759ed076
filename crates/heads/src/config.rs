//! User-facing configuration: which variant, which metadata embedding, and every width.
//!
//! These are plain serde structs rather than `burn::config::Config`: burn's derive ignores
//! `#[serde(...)]` attributes, so it can neither give defaults for missing keys nor reject
//! typos, and experiment files should be writable by hand with only the keys that differ.
//! The building blocks below them (`MlpConfig`, `AttentionFusionConfig`, …) use burn's
//! `Config` as burn-nn does.

use std::fmt;
use std::str::FromStr;

use animescore_backbones::BackboneConfig;
use serde::{Deserialize, Serialize};

use crate::error::HeadsError;
use crate::loss::LossConfig;

/// Which model is built on top of the backbone (SPEC §3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Variant {
    /// Pooled feature → independent task heads.
    #[default]
    Multitask,
    /// Multitask + the metadata embedding concatenated with the pooled feature before the
    /// score head.
    MetaEmbed,
    /// Multitask + self-attention over patch tokens and metadata tokens before the score head.
    Attention,
}

impl Variant {
    /// All variants, in SPEC order.
    pub const ALL: [Variant; 3] = [Variant::Multitask, Variant::MetaEmbed, Variant::Attention];

    /// The kebab-case name used in configs and on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Variant::Multitask => "multitask",
            Variant::MetaEmbed => "meta-embed",
            Variant::Attention => "attention",
        }
    }
}

/// Which predicted (or known) metadata feeds the score.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Embedding {
    /// No metadata reaches the score head.
    #[default]
    None,
    /// The AI flag and the sanity level, one vector (token) each.
    AiSanity,
    /// The tag vector, one vector (token).
    Tags,
    /// AI flag, sanity level and tags: three vectors (tokens).
    Both,
}

impl Embedding {
    /// All settings, in SPEC order.
    pub const ALL: [Embedding; 4] =
        [Embedding::None, Embedding::AiSanity, Embedding::Tags, Embedding::Both];

    /// Whether the AI flag and sanity level are embedded.
    pub fn uses_ai_sanity(self) -> bool {
        matches!(self, Embedding::AiSanity | Embedding::Both)
    }

    /// Whether the tags are embedded (and so whether a tag head exists).
    pub fn uses_tags(self) -> bool {
        matches!(self, Embedding::Tags | Embedding::Both)
    }

    /// Number of metadata vectors / tokens this setting produces.
    pub fn n_fields(self) -> usize {
        2 * usize::from(self.uses_ai_sanity()) + usize::from(self.uses_tags())
    }

    /// The kebab-case name used in configs and on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Embedding::None => "none",
            Embedding::AiSanity => "ai-sanity",
            Embedding::Tags => "tags",
            Embedding::Both => "both",
        }
    }
}

macro_rules! name_conversions {
    ($ty:ty) => {
        impl fmt::Display for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.name())
            }
        }

        impl FromStr for $ty {
            type Err = HeadsError;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                <$ty>::ALL.into_iter().find(|v| v.name() == s).ok_or_else(|| {
                    let names: Vec<_> = <$ty>::ALL.iter().map(|v| v.name()).collect();
                    HeadsError::InvalidConfig(format!(
                        "unknown {} `{s}` (expected one of {})",
                        stringify!($ty).to_lowercase(),
                        names.join(", ")
                    ))
                })
            }
        }
    };
}
name_conversions!(Variant);
name_conversions!(Embedding);

/// Dimensions of the attention fusion (variant 3). Defaults are the original's.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AttentionConfig {
    /// Token width.
    pub d_model: usize,
    /// Hidden width of the patch projection `Linear → ReLU → Linear(d_model)`.
    pub patch_hidden: usize,
    /// Attention heads; must divide `d_model`.
    pub n_heads: usize,
    /// Hidden width of each block's feed-forward network.
    pub d_ff: usize,
    /// Number of pre-LN transformer blocks.
    pub n_blocks: usize,
    /// Dropout in attention, feed-forward and residual branches.
    pub dropout: f64,
    /// Rows of the learned positional embedding for patch tokens: the largest `h·w` feature
    /// map the model accepts. 361 = 19×19, EfficientNet-B7 at 600 px.
    pub max_patch_tokens: usize,
    /// Hidden width of the MLP from the mean token to the score.
    pub score_hidden: usize,
}

impl Default for AttentionConfig {
    fn default() -> Self {
        Self {
            d_model: 768,
            patch_hidden: 1536,
            n_heads: 4,
            d_ff: 2048,
            n_blocks: 2,
            dropout: 0.1,
            max_patch_tokens: 361,
            score_hidden: 2048,
        }
    }
}

/// Everything above the backbone: variant, embedding, widths, loss.
///
/// The tag head exists exactly when the embedding includes tags (`tags` or `both`); that
/// holds for every variant, so for `multitask` the embedding setting decides whether tags
/// are learned as an auxiliary task. `tag_vocab` must then be positive; it is ignored
/// otherwise.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HeadsConfig {
    /// Model variant.
    pub variant: Variant,
    /// Which metadata is embedded (and whether a tag head exists).
    pub embedding: Embedding,
    /// Size of the tag vocabulary.
    pub tag_vocab: usize,
    /// Hidden width of the score, AI, sanity and tag heads (0: a single linear layer).
    pub head_hidden: usize,
    /// Dropout inside the task heads.
    pub head_dropout: f64,
    /// Width of each metadata field's embedding in `meta-embed`.
    pub embed_dim: usize,
    /// Detach the predicted metadata before it is embedded, so the score loss does not train
    /// the metadata heads through the embedding. The original had no such cut.
    pub stop_gradient: bool,
    /// Attention fusion dimensions (used by `attention` only).
    pub attention: AttentionConfig,
    /// Multi-task loss.
    pub loss: LossConfig,
}

impl Default for HeadsConfig {
    fn default() -> Self {
        Self {
            variant: Variant::Multitask,
            embedding: Embedding::None,
            tag_vocab: 0,
            head_hidden: 512,
            head_dropout: 0.2,
            embed_dim: 64,
            stop_gradient: false,
            attention: AttentionConfig::default(),
            loss: LossConfig::default(),
        }
    }
}

impl HeadsConfig {
    /// Default widths for the given variant and embedding.
    pub fn new(variant: Variant, embedding: Embedding, tag_vocab: usize) -> Self {
        Self { variant, embedding, tag_vocab, ..Self::default() }
    }

    /// Widths of 8–16 everywhere, no dropout: for tests and quick starts on a CPU.
    pub fn tiny(variant: Variant, embedding: Embedding, tag_vocab: usize) -> Self {
        Self {
            variant,
            embedding,
            tag_vocab,
            head_hidden: 16,
            head_dropout: 0.0,
            embed_dim: 8,
            stop_gradient: false,
            attention: AttentionConfig {
                d_model: 16,
                patch_hidden: 16,
                n_heads: 2,
                d_ff: 16,
                n_blocks: 1,
                dropout: 0.0,
                max_patch_tokens: 64,
                score_hidden: 16,
            },
            loss: LossConfig::default(),
        }
    }

    /// Tag vocabulary of the tag head, `None` when there is no tag head.
    pub fn tag_head_vocab(&self) -> Option<usize> {
        self.embedding.uses_tags().then_some(self.tag_vocab)
    }

    /// Checks ranges and consistency.
    pub fn validate(&self) -> Result<(), HeadsError> {
        let bad = |msg: String| Err(HeadsError::InvalidConfig(msg));
        if self.embedding.uses_tags() && self.tag_vocab == 0 {
            return bad(format!("embedding `{}` needs tag_vocab > 0", self.embedding));
        }
        for (name, p) in
            [("head_dropout", self.head_dropout), ("attention.dropout", self.attention.dropout)]
        {
            if !(0.0..1.0).contains(&p) {
                return bad(format!("{name} must lie in [0, 1), got {p}"));
            }
        }
        if self.variant == Variant::MetaEmbed && self.embed_dim == 0 {
            return bad("embed_dim must be positive".into());
        }
        if self.variant == Variant::Attention {
            let a = &self.attention;
            if a.d_model == 0 || a.n_heads == 0 || !a.d_model.is_multiple_of(a.n_heads) {
                return bad(format!(
                    "attention.d_model ({}) must be a positive multiple of attention.n_heads ({})",
                    a.d_model, a.n_heads
                ));
            }
            if a.patch_hidden == 0 || a.d_ff == 0 || a.max_patch_tokens == 0 {
                return bad("attention widths and max_patch_tokens must be positive".into());
            }
        }
        self.loss.validate()
    }
}

/// A whole scoring model: which backbone and which heads.
///
/// ```toml
/// [backbone]
/// kind = "resnet"      # or e.g. the output of BackboneConfig::from_name("resnet152")
/// # ...
/// [heads]
/// variant = "attention"
/// embedding = "both"
/// tag_vocab = 1000
/// ```
///
/// The heads sit under their own key (rather than flattened next to `backbone`) so that
/// unknown keys are still rejected, and so that [`HeadsConfig`] can be used on its own with
/// any other [`Backbone`](animescore_backbones::Backbone).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelConfig {
    /// The image backbone.
    pub backbone: BackboneConfig,
    /// Variant, embedding, widths and loss (defaults when omitted).
    #[serde(default)]
    pub heads: HeadsConfig,
}

impl ModelConfig {
    /// Pairs a backbone with heads.
    pub fn new(backbone: BackboneConfig, heads: HeadsConfig) -> Self {
        Self { backbone, heads }
    }

    /// Checks both parts.
    pub fn validate(&self) -> Result<(), HeadsError> {
        self.backbone.validate()?;
        self.heads.validate()
    }
}
