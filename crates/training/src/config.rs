//! Training configuration: what to build, on which data, and how to optimise it.
//!
//! [`TrainConfig`] is what a user writes (TOML, every key optional); [`RunConfig`] is what a
//! run directory stores as `config.toml`: the user's settings plus the resolved model
//! ([`ModelConfig`] with the tag vocabulary size filled in) and the preprocessing, i.e.
//! everything needed to rebuild the model without the dataset.

use std::path::{Path, PathBuf};

use animescore_backbones::{Backbone, BackboneConfig, Preprocess, ResizeMode};
use animescore_dataset::SplitConfig;
use animescore_heads::{Embedding, HeadsConfig, ModelConfig, Variant};
use animescore_scoring::ScoreMethod;
use serde::{Deserialize, Serialize};

use crate::error::{Result, TrainingError};
use crate::feature_cache::FeatureCacheMode;
use crate::precision::Precision;

/// Random training augmentations (SPEC defaults: zoom 0.15, rotation 0.2, flip), applied
/// after the resize and never at evaluation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AugmentConfig {
    /// Mirror left–right with probability ½.
    pub flip: bool,
    /// Zoom by a factor drawn from `1 ± zoom`.
    pub zoom: f64,
    /// Rotate by an angle drawn from `± rotation · 2π` (Keras' `RandomRotation` factor).
    pub rotation: f64,
}

impl Default for AugmentConfig {
    fn default() -> Self {
        Self { flip: true, zoom: 0.15, rotation: 0.2 }
    }
}

impl AugmentConfig {
    /// No augmentation at all.
    pub fn none() -> Self {
        Self { flip: false, zoom: 0.0, rotation: 0.0 }
    }

    /// Whether any augmentation is active.
    pub fn is_active(&self) -> bool {
        self.flip || self.zoom > 0.0 || self.rotation > 0.0
    }
}

/// Where the tag vocabulary comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum TagSource {
    /// Character names (`tag_character`).
    #[default]
    Characters,
    /// The most frequent Pixiv tags.
    TopK,
}

/// Tag vocabulary settings (fitted on the training split).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TagConfig {
    /// Characters or top-K Pixiv tags.
    pub source: TagSource,
    /// Vocabulary size at most.
    pub k: usize,
    /// Minimum number of training images a tag needs.
    pub min_count: usize,
}

impl Default for TagConfig {
    fn default() -> Self {
        Self { source: TagSource::Characters, k: 1000, min_count: 1 }
    }
}

/// Everything a user chooses for a training run. Every key is optional in TOML.
///
/// ```toml
/// backbone = "tiny"
/// variant = "attention"
/// embedding = "both"
/// score = "weighted-log"
/// image_size = 64
/// epochs = 20
/// [augment]
/// rotation = 0.1
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TrainConfig {
    /// Backbone preset (`tiny`, `resnet50`, `efficientnet-b0`, …) or `custom:FILE.json`.
    pub backbone: String,
    /// Pretrained backbone weights (`.pth` / `.safetensors`, torchvision names).
    pub weights: Option<PathBuf>,
    /// `None`: train everything; `"all"`: freeze the whole backbone; a stage name (e.g.
    /// `"layer3"`): freeze the stages before it and fine-tune from it on.
    pub freeze: Option<String>,
    /// Model variant.
    pub variant: Variant,
    /// Metadata embedding.
    pub embedding: Embedding,
    /// Head widths; `None` picks small heads for the `tiny` backbone and the original's
    /// widths otherwise. `variant`, `embedding` and `tag_vocab` in here are overwritten.
    pub heads: Option<HeadsConfig>,
    /// Score method: `weighted-log`, `time-decay` or `ctr-quantile`.
    pub score: String,
    /// Tag vocabulary.
    pub tags: TagConfig,
    /// Input side in pixels; `None`: the backbone's default.
    pub image_size: Option<usize>,
    /// How images become square.
    pub resize: ResizeMode,
    /// Training augmentations.
    pub augment: AugmentConfig,
    /// Train / validation / test split by artwork.
    pub split: SplitConfig,
    /// Maximum number of epochs.
    pub epochs: usize,
    /// Images per batch.
    pub batch_size: usize,
    /// Peak learning rate.
    pub lr: f64,
    /// Final learning rate of the cosine decay.
    pub min_lr: f64,
    /// Fraction of all steps spent in the linear warm-up.
    pub warmup_fraction: f64,
    /// AdamW weight decay (0: plain Adam).
    pub weight_decay: f64,
    /// Clip the gradient norm of every parameter tensor to this value.
    pub grad_clip: Option<f64>,
    /// Stop after this many epochs without a better validation loss.
    pub patience: usize,
    /// Seed of initialisation, shuffling and augmentation.
    pub seed: u64,
    /// Data-loading threads (0: load on the training thread).
    pub workers: usize,
    /// `flex`, `vulkan[:N]` or `cuda[:N]`.
    pub device: String,
    /// Precision of the backbone's training computation (`f32` or `bf16`).
    pub precision: Precision,
    /// Train the heads on cached backbone features when the backbone is frozen
    /// (`auto`: only without augmentation; `on`: turn augmentation off; `off`).
    pub feature_cache: FeatureCacheMode,
}

impl Default for TrainConfig {
    fn default() -> Self {
        Self {
            backbone: "tiny".into(),
            weights: None,
            freeze: None,
            variant: Variant::Attention,
            embedding: Embedding::Both,
            heads: None,
            score: "weighted-log".into(),
            tags: TagConfig::default(),
            image_size: None,
            resize: ResizeMode::Letterbox,
            augment: AugmentConfig::default(),
            split: SplitConfig::default(),
            epochs: 30,
            batch_size: 64,
            lr: 3e-4,
            min_lr: 1e-6,
            warmup_fraction: 0.1,
            weight_decay: 1e-4,
            grad_clip: None,
            patience: 5,
            seed: 42,
            workers: 2,
            device: "flex".into(),
            precision: Precision::F32,
            feature_cache: FeatureCacheMode::Auto,
        }
    }
}

impl TrainConfig {
    /// Reads a TOML file.
    pub fn from_file(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| TrainingError::io(path, e))?;
        // A run's own config.toml holds these settings under [train]: accept it too.
        if let Ok(run) = toml::from_str::<RunConfig>(&text) {
            return Ok(run.train);
        }
        toml::from_str(&text).map_err(|e| TrainingError::format(path, e))
    }

    /// Checks ranges.
    pub fn validate(&self) -> Result<()> {
        let bad = |m: String| Err(TrainingError::InvalidConfig(m));
        if self.epochs == 0 || self.batch_size == 0 {
            return bad("epochs and batch_size must be positive".into());
        }
        if self.patience == 0 {
            // 0 would stop after the first epoch whatever happens.
            return bad("patience must be at least 1".into());
        }
        let lr_ok = self.lr.is_finite() && self.lr > 0.0;
        if !(lr_ok && self.min_lr >= 0.0 && self.min_lr <= self.lr) {
            return bad(format!("need 0 <= min_lr ({}) <= lr ({}), lr > 0", self.min_lr, self.lr));
        }
        if !(0.0..1.0).contains(&self.warmup_fraction) {
            return bad(format!("warmup_fraction {} is outside [0, 1)", self.warmup_fraction));
        }
        if !(self.weight_decay >= 0.0 && self.weight_decay.is_finite()) {
            return bad(format!("weight_decay {} must be >= 0", self.weight_decay));
        }
        if self.grad_clip.is_some_and(|c| !(c.is_finite() && c > 0.0)) {
            return bad("grad_clip must be positive".into());
        }
        let a = &self.augment;
        if !(0.0..1.0).contains(&a.zoom) || !(0.0..=0.5).contains(&a.rotation) {
            return bad("augment.zoom must lie in [0, 1) and augment.rotation in [0, 0.5]".into());
        }
        if self.image_size == Some(0) {
            return bad("image_size must be positive".into());
        }
        self.split.validate()?;
        self.score_method()?;
        crate::bounds::check_train(self)
    }

    /// The parsed score method (only the methods that give 1..100 scores can be learned).
    pub fn score_method(&self) -> Result<ScoreMethod> {
        let method = ScoreMethod::from_name(&self.score)?;
        if matches!(method, ScoreMethod::BookmarkRatio) {
            return Err(TrainingError::InvalidConfig(
                "bookmark-ratio is not on the 1..100 scale; train on weighted-log, time-decay \
                 or ctr-quantile"
                    .into(),
            ));
        }
        Ok(method)
    }

    /// The backbone configuration named by [`backbone`](Self::backbone).
    pub fn backbone_config(&self) -> Result<BackboneConfig> {
        Ok(BackboneConfig::from_spec(&self.backbone)?)
    }

    /// Resolves the model for a tag vocabulary of `tag_vocab` labels.
    pub fn model_config(&self, tag_vocab: usize) -> Result<ModelConfig> {
        let backbone = self.backbone_config()?;
        let mut heads = match &self.heads {
            Some(h) => h.clone(),
            None if self.backbone == "tiny" => {
                HeadsConfig::tiny(self.variant, self.embedding, tag_vocab)
            }
            None => HeadsConfig::default(),
        };
        heads.variant = self.variant;
        heads.embedding = self.embedding;
        heads.tag_vocab = tag_vocab;
        if self.embedding.uses_tags() && tag_vocab == 0 {
            return Err(TrainingError::NotEnoughData(format!(
                "embedding `{}` needs tags, but no {:?} tag of the training split passes \
                 tags.min_count = {} (ingest with --character-aliases, set tags.source = \
                 \"top-k\", or use --embedding none / ai-sanity)",
                self.embedding, self.tags.source, self.tags.min_count
            )));
        }
        let config = ModelConfig::new(backbone, heads);
        config.validate()?;
        Ok(config)
    }

    /// Preprocessing for a backbone: its normalisation at `image_size` (or its default).
    pub fn preprocess(&self, backbone: &impl Backbone) -> Preprocess {
        let spec = backbone.input_spec();
        let mut p = Preprocess::from_spec(spec).with_mode(self.resize);
        if let Some(size) = self.image_size {
            p.size = size;
        }
        p
    }
}

/// What a run directory stores in `config.toml`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunConfig {
    /// The dataset the run was trained on (as given).
    pub dataset: PathBuf,
    /// The user's settings.
    pub train: TrainConfig,
    /// Image preprocessing at inference.
    pub preprocess: Preprocess,
    /// The model, with `tag_vocab` resolved.
    pub model: ModelConfig,
    /// Whether the heads were trained on cached features of the frozen backbone (then
    /// `train.augment` is what was applied: none).
    #[serde(default)]
    pub cached_features: bool,
}

impl RunConfig {
    /// Reads `config.toml`.
    pub fn from_file(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| TrainingError::io(path, e))?;
        toml::from_str(&text).map_err(|e| TrainingError::format(path, e))
    }

    /// As TOML text.
    pub fn to_toml(&self) -> Result<String> {
        toml::to_string(self).map_err(|e| TrainingError::format("config.toml", e))
    }
}
