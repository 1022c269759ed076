//! Training configuration: what to build, on which data, and how to optimise it.
//!
//! [`TrainConfig`] is what a user writes (TOML, every key optional); [`RunConfig`] is what a
//! run directory stores as `config.toml`: the user's settings plus the resolved model
//! ([`ModelConfig`] with the tag vocabulary size filled in) and the preprocessing, i.e.
//! everything needed to rebuild the model without the dataset.

use std::path::{Path, PathBuf};

use animescore_backbones::{BackboneConfig, InputSpec, Preprocess, ResizeMode};
use animescore_dataset::SplitConfig;
use animescore_heads::{Embedding, HeadsConfig, ModelConfig, Variant};
use animescore_scoring::ScoreMethod;
use serde::{Deserialize, Serialize};

use crate::device::DeviceSpec;
use crate::error::{Result, RunError};
use crate::precision::Precision;
use crate::selection::Monitor;

mod heads_table;
mod limits;
mod recipe;

pub use heads_table::HeadsTable;
pub(crate) use limits::check_run;
pub use limits::{
    MAX_BATCH_SIZE, MAX_DEVICE_MEMORY, MAX_EPOCHS, MAX_PARAMETERS, MAX_WORKERS, Pass,
    check_model_size,
};
pub use recipe::Recipe;

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
    /// Characters when the training split has any (the index was ingested with a
    /// character-alias table that matched), otherwise the top-K Pixiv tags. A run directory
    /// stores the resolved choice, never `auto`.
    #[default]
    Auto,
    /// Character names (`tag_character`).
    Characters,
    /// The most frequent Pixiv tags.
    TopK,
}

impl TagSource {
    /// The name as the config and `--tags` spell it.
    pub fn name(self) -> &'static str {
        match self {
            Self::Auto => "auto",
            Self::Characters => "characters",
            Self::TopK => "top-k",
        }
    }
}

impl std::str::FromStr for TagSource {
    type Err = RunError;

    fn from_str(s: &str) -> Result<Self> {
        [Self::Auto, Self::Characters, Self::TopK].into_iter().find(|t| t.name() == s).ok_or_else(
            || {
                RunError::InvalidConfig(format!(
                    "unknown tag source `{s}` (expected auto, characters or top-k)"
                ))
            },
        )
    }
}

impl std::fmt::Display for TagSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
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
        Self { source: TagSource::Auto, k: 1000, min_count: 1 }
    }
}

/// How much of the backbone trains.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Freeze {
    /// Train everything (`"none"`).
    #[default]
    None,
    /// Freeze the whole backbone; only the heads train (`"all"`).
    All,
    /// Freeze the stages before this one (e.g. `"layer3"`) and fine-tune from it on.
    Before(String),
}

impl Freeze {
    /// The name as the config and `--freeze` spell it.
    pub fn name(&self) -> &str {
        match self {
            Self::None => "none",
            Self::All => "all",
            Self::Before(stage) => stage,
        }
    }
}

impl std::str::FromStr for Freeze {
    type Err = RunError;

    fn from_str(s: &str) -> Result<Self> {
        match s {
            "none" => Ok(Self::None),
            "all" => Ok(Self::All),
            // Stage names are checked against the backbone before a run writes anything.
            stage
                if !stage.is_empty()
                    && stage.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.') =>
            {
                Ok(Self::Before(stage.to_string()))
            }
            other => Err(RunError::InvalidConfig(format!(
                "freeze `{other}`: expected none, all or a stage name such as layer3"
            ))),
        }
    }
}

impl std::fmt::Display for Freeze {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Whether `train` computes the frozen backbone once and trains the heads on cached features.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FeatureCacheMode {
    /// When the whole backbone is frozen and augmentation is off.
    #[default]
    Auto,
    /// Whenever the whole backbone is frozen, turning augmentation off.
    On,
    /// Never: the backbone runs every step.
    Off,
}

impl std::str::FromStr for FeatureCacheMode {
    type Err = RunError;

    fn from_str(s: &str) -> Result<Self> {
        match s {
            "auto" => Ok(Self::Auto),
            "on" => Ok(Self::On),
            "off" => Ok(Self::Off),
            other => Err(RunError::InvalidConfig(format!(
                "unknown feature cache mode `{other}` (expected auto, on or off)"
            ))),
        }
    }
}

impl FeatureCacheMode {
    /// Whether a run with this configuration trains on cached features, and why not.
    pub fn decide(config: &TrainConfig) -> std::result::Result<(), &'static str> {
        let frozen = config.freeze == Freeze::All;
        match config.feature_cache {
            Self::Off => Err("feature_cache = off"),
            _ if !frozen => Err("the backbone is trained (freeze is not \"all\")"),
            Self::Auto if config.augment.is_active() => {
                Err("augmentation is on (features of augmented images differ; set \
                     feature_cache = \"on\" to train without augmentation on cached features)")
            }
            Self::Auto | Self::On => Ok(()),
        }
    }
}

/// Serde through the `FromStr`/`Display` spelling, so a typo fails when the file is read.
macro_rules! serde_as_str {
    ($ty:ty) => {
        impl Serialize for $ty {
            fn serialize<S: serde::Serializer>(
                &self,
                s: S,
            ) -> std::result::Result<S::Ok, S::Error> {
                s.collect_str(self)
            }
        }
        impl<'de> Deserialize<'de> for $ty {
            fn deserialize<D: serde::Deserializer<'de>>(
                d: D,
            ) -> std::result::Result<Self, D::Error> {
                let text = String::deserialize(d)?;
                text.parse().map_err(serde::de::Error::custom)
            }
        }
    };
}
serde_as_str!(Freeze);
serde_as_str!(DeviceSpec);

/// Backbone spec: a preset name (checked when the config is read) or `custom:FILE.json`
/// (read when the model is built).
pub fn check_backbone_spec(spec: &str) -> Result<()> {
    if spec.starts_with("custom:") {
        return Ok(());
    }
    BackboneConfig::from_name(spec).map(|_| ()).map_err(RunError::from)
}

fn backbone_spec<'de, D: serde::Deserializer<'de>>(d: D) -> std::result::Result<String, D::Error> {
    let spec = String::deserialize(d)?;
    check_backbone_spec(&spec).map_err(serde::de::Error::custom)?;
    Ok(spec)
}

/// `score = "time-decay"` (the method with its default parameters) or a table
/// `[score] method = "time-decay", alpha = 0.5, reference = "2024-01-01T00:00:00"`.
fn score_method<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> std::result::Result<ScoreMethod, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum NameOrTable {
        Name(String),
        Table(ScoreMethod),
    }
    match NameOrTable::deserialize(d) {
        Ok(NameOrTable::Name(name)) => {
            ScoreMethod::from_name(&name).map_err(serde::de::Error::custom)
        }
        Ok(NameOrTable::Table(method)) => Ok(method),
        Err(_) => Err(serde::de::Error::custom(
            "score: expected a method name (weighted-log, time-decay, ctr-quantile) or a \
             table with `method` and its parameters (alpha, lambda, reference)",
        )),
    }
}

/// Everything a user chooses for a training run. Every key is optional in TOML.
///
/// ```toml
/// backbone = "tiny"
/// variant = "attention"
/// embedding = "both"
/// image_size = 64
/// epochs = 20
/// monitor = "val-srcc"
/// [score]
/// method = "weighted-log"
/// alpha = 0.5
/// [augment]
/// rotation = 0.1
/// ```
///
/// `epochs`, `batch_size`, `lr` and `patience` left out take the backbone's
/// [recipe](Self::recipe); a run directory stores the values used.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TrainConfig {
    /// Backbone preset (`tiny`, `resnet50`, `efficientnet-b0`, …) or `custom:FILE.json`.
    #[serde(deserialize_with = "backbone_spec")]
    pub backbone: String,
    /// Pretrained backbone weights: a torchvision name such as `resnet50:imagenet` (recorded
    /// as the name; resolved to the verified file in the weights folder, downloaded if needed,
    /// each time the run loads it), or a `.pth` / `.safetensors` file with torchvision names.
    pub weights: Option<PathBuf>,
    /// How much of the backbone trains.
    pub freeze: Freeze,
    /// Model variant.
    pub variant: Variant,
    /// Metadata embedding.
    pub embedding: Embedding,
    /// Head widths given (`[heads]`): keys left out take small heads for the `tiny` backbone
    /// and the original's widths otherwise. `variant`, `embedding` and `tag_vocab` in here are
    /// overwritten.
    pub heads: Option<HeadsTable>,
    /// The score the model learns, with its parameters.
    #[serde(deserialize_with = "score_method")]
    pub score: ScoreMethod,
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
    /// Maximum number of epochs; `None`: the backbone's recipe.
    pub epochs: Option<usize>,
    /// Images per batch; `None`: the backbone's recipe.
    pub batch_size: Option<usize>,
    /// Peak learning rate; `None`: the backbone's recipe.
    pub lr: Option<f64>,
    /// Final learning rate of the cosine decay.
    pub min_lr: f64,
    /// Fraction of all steps spent in the linear warm-up.
    pub warmup_fraction: f64,
    /// AdamW weight decay (0: plain Adam).
    pub weight_decay: f64,
    /// Clip the norm of all gradients together to this value (PyTorch's `clip_grad_norm_`).
    pub grad_clip: Option<f64>,
    /// The validation number that picks the best epoch and stops training early.
    pub monitor: Monitor,
    /// How much the monitored value must improve to count (in its own units).
    pub min_delta: f64,
    /// Stop after this many epochs without improvement; `None`: the backbone's recipe.
    pub patience: Option<usize>,
    /// Seed of initialisation, shuffling and augmentation.
    pub seed: u64,
    /// Data-loading threads (0: load on the training thread).
    pub workers: usize,
    /// Where to train.
    pub device: DeviceSpec,
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
            freeze: Freeze::None,
            variant: Variant::Attention,
            embedding: Embedding::Both,
            heads: None,
            score: ScoreMethod::default(),
            tags: TagConfig::default(),
            image_size: None,
            resize: ResizeMode::Letterbox,
            augment: AugmentConfig::default(),
            split: SplitConfig::default(),
            epochs: None,
            batch_size: None,
            lr: None,
            min_lr: 1e-6,
            warmup_fraction: 0.1,
            weight_decay: 1e-4,
            grad_clip: None,
            monitor: Monitor::default(),
            min_delta: 0.0,
            patience: None,
            seed: 42,
            workers: 2,
            device: DeviceSpec::Flex,
            precision: Precision::F32,
            feature_cache: FeatureCacheMode::Auto,
        }
    }
}

impl TrainConfig {
    /// Reads a TOML file.
    pub fn from_file(path: &Path) -> Result<Self> {
        let text = animescore_fs::read_config(path).map_err(|e| RunError::io(path, e))?;
        // A run's own config.toml holds these settings under [train]: accept it too.
        if let Ok(run) = toml::from_str::<RunConfig>(&text) {
            return Ok(run.train);
        }
        toml::from_str(&text).map_err(|e| RunError::format(path, e))
    }

    /// The defaults for this backbone, pretrained or not.
    pub fn recipe(&self) -> Recipe {
        recipe::recipe(&self.backbone, self.weights.is_some(), &self.freeze)
    }

    /// Maximum epochs (set, or the recipe's).
    pub fn epochs(&self) -> usize {
        self.epochs.unwrap_or(self.recipe().epochs)
    }

    /// Images per batch (set, or the recipe's).
    pub fn batch_size(&self) -> usize {
        self.batch_size.unwrap_or(self.recipe().batch_size)
    }

    /// Peak learning rate (set, or the recipe's).
    pub fn lr(&self) -> f64 {
        self.lr.unwrap_or(self.recipe().lr)
    }

    /// Early-stopping patience (set, or the recipe's).
    pub fn patience(&self) -> usize {
        self.patience.unwrap_or(self.recipe().patience)
    }

    /// The same settings with every recipe default written out, as a run stores them (so a
    /// later change of the defaults cannot change a resumed run).
    pub fn resolved(&self) -> Self {
        Self {
            epochs: Some(self.epochs()),
            batch_size: Some(self.batch_size()),
            lr: Some(self.lr()),
            patience: Some(self.patience()),
            ..self.clone()
        }
    }

    /// Checks ranges.
    pub fn validate(&self) -> Result<()> {
        let bad = |m: String| Err(RunError::InvalidConfig(m));
        if self.epochs() == 0 || self.batch_size() == 0 {
            return bad("epochs and batch_size must be positive".into());
        }
        if self.patience() == 0 {
            // 0 would stop after the first epoch whatever happens.
            return bad("patience must be at least 1".into());
        }
        let (lr, min_lr) = (self.lr(), self.min_lr);
        let lr_ok = lr.is_finite() && lr > 0.0;
        if !(lr_ok && min_lr >= 0.0 && min_lr <= lr) {
            return bad(format!("need 0 <= min_lr ({min_lr}) <= lr ({lr}), lr > 0"));
        }
        if !(self.min_delta >= 0.0 && self.min_delta.is_finite()) {
            return bad(format!("min_delta {} must be >= 0", self.min_delta));
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
        self.heads(0)?;
        self.score_method()?;
        self.check_pretrained_name()?;
        limits::check_train(self)
    }

    /// A pretrained name (`resnet50:imagenet`) must be for the run's backbone: caught here, at
    /// the start, instead of as a long shape-mismatch list after the download.
    fn check_pretrained_name(&self) -> Result<()> {
        let Some(spec) = self.weights.as_ref().and_then(|w| w.to_str()) else { return Ok(()) };
        match animescore_backbones::parse_pretrained_name(spec)? {
            Some(w) if w.backbone != self.backbone => Err(RunError::InvalidConfig(format!(
                "weights `{spec}` are for backbone {}, but the backbone is {} (set --backbone {})",
                w.backbone, self.backbone, w.backbone
            ))),
            _ => Ok(()),
        }
    }

    /// The score method, checked (only the methods that give 1..100 scores can be learned).
    pub fn score_method(&self) -> Result<ScoreMethod> {
        if matches!(self.score, ScoreMethod::BookmarkRatio) {
            return Err(RunError::InvalidConfig(
                "bookmark-ratio is not on the 1..100 scale; train on weighted-log, time-decay \
                 or ctr-quantile"
                    .into(),
            ));
        }
        self.score.validate()?;
        Ok(self.score)
    }

    /// The backbone configuration named by [`backbone`](Self::backbone).
    pub fn backbone_config(&self) -> Result<BackboneConfig> {
        Ok(BackboneConfig::from_spec(&self.backbone)?)
    }

    /// The heads: the backbone's defaults (small for `tiny`), with the keys of `[heads]` over
    /// them.
    fn heads(&self, tag_vocab: usize) -> Result<HeadsConfig> {
        let base = match self.backbone.as_str() {
            "tiny" => HeadsConfig::tiny(self.variant, self.embedding, tag_vocab),
            _ => HeadsConfig::default(),
        };
        match &self.heads {
            Some(table) => table.apply(&base),
            None => Ok(base),
        }
    }

    /// Resolves the model for a tag vocabulary of `tag_vocab` labels.
    pub fn model_config(&self, tag_vocab: usize) -> Result<ModelConfig> {
        let backbone = self.backbone_config()?;
        let mut heads = self.heads(tag_vocab)?;
        heads.variant = self.variant;
        heads.embedding = self.embedding;
        heads.tag_vocab = tag_vocab;
        if self.embedding.uses_tags() && tag_vocab == 0 {
            return Err(RunError::NotEnoughData(format!(
                "embedding `{}` needs tags, but no {} tag of the training split passes \
                 tags.min_count = {} (ingest with --character-aliases, set tags.source = \
                 \"top-k\", or use --embedding none / ai-sanity)",
                self.embedding, self.tags.source, self.tags.min_count
            )));
        }
        let config = ModelConfig::new(backbone, heads);
        config.validate()?;
        Ok(config)
    }

    /// Preprocessing for a backbone's input `spec` ([`BackboneConfig::input_spec`]): its
    /// normalisation at `image_size` (or its default).
    pub fn preprocess(&self, spec: InputSpec) -> Preprocess {
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
    /// Reads `config.toml` (a regular file of at most
    /// [`MAX_CONFIG_BYTES`](animescore_fs::MAX_CONFIG_BYTES)).
    pub fn from_file(path: &Path) -> Result<Self> {
        let text = animescore_fs::read_config(path).map_err(|e| RunError::io(path, e))?;
        toml::from_str(&text).map_err(|e| RunError::format(path, e))
    }

    /// As TOML text.
    pub fn to_toml(&self) -> Result<String> {
        toml::to_string(self).map_err(|e| RunError::format("config.toml", e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<TrainConfig> {
        toml::from_str(text).map_err(|e| RunError::format("test.toml", e))
    }

    #[test]
    fn score_is_a_name_or_a_table_with_parameters() {
        assert_eq!(
            parse("score = \"time-decay\"").unwrap().score,
            ScoreMethod::from_name("time-decay").unwrap()
        );
        let c = parse("[score]\nmethod = \"weighted-log\"\nalpha = 0.5\n").unwrap();
        assert_eq!(c.score, ScoreMethod::WeightedLog { alpha: 0.5 });
        let c = parse("[score]\nmethod = \"ctr-quantile\"\nreference = \"2024-01-01T00:00:00\"\n")
            .unwrap();
        match c.score {
            ScoreMethod::CtrQuantile { lambda, reference } => {
                assert_eq!(lambda, animescore_scoring::DEFAULT_CTR_LAMBDA);
                assert_eq!(
                    reference.map(|d| d.to_string()).as_deref(),
                    Some("2024-01-01 00:00:00")
                );
            }
            other => panic!("{other:?}"),
        }
        assert!(parse("score = \"weighted-logg\"").is_err());
        assert!(
            parse("[score]\nmethod = \"weighted-log\"\nlambda = 0.5\n").is_err(),
            "unknown key"
        );
        let alpha_out_of_range =
            parse("[score]\nmethod = \"weighted-log\"\nalpha = 7.0\n").unwrap();
        assert!(alpha_out_of_range.validate().is_err());
    }

    #[test]
    fn typos_fail_when_the_file_is_read() {
        for text in [
            "device = \"cdua\"",
            "backbone = \"resnet5\"",
            "freeze = \"layer 3\"",
            "monitor = \"val-loss\"",
            "tags = { source = \"charcters\" }",
        ] {
            assert!(parse(text).is_err(), "{text}");
        }
        let c = parse("device = \"cuda:1\"\nfreeze = \"layer3\"\nbackbone = \"custom:x.json\"")
            .unwrap();
        assert_eq!(c.device, DeviceSpec::Cuda(1));
        assert_eq!(c.freeze, Freeze::Before("layer3".into()));
    }

    #[test]
    fn recipe_defaults_are_written_out_and_explicit_values_win() {
        let tiny = TrainConfig::default();
        assert_eq!((tiny.epochs, tiny.batch_size, tiny.lr), (None, None, None));
        let resolved = tiny.resolved();
        assert_eq!(resolved.batch_size, Some(tiny.recipe().batch_size));
        assert_eq!(resolved.lr, Some(tiny.recipe().lr));
        let pretrained =
            TrainConfig { backbone: "resnet50".into(), weights: Some("w.pth".into()), ..tiny };
        assert_eq!((pretrained.lr(), pretrained.batch_size()), (3e-4, 64));
        let explicit = TrainConfig { lr: Some(1e-2), ..pretrained };
        assert_eq!(explicit.resolved().lr, Some(1e-2));
    }

    #[test]
    fn a_run_config_round_trips() {
        let c = TrainConfig {
            score: ScoreMethod::TimeDecay { alpha: 0.5, reference: None },
            freeze: Freeze::All,
            device: DeviceSpec::Vulkan(0),
            ..TrainConfig::default()
        }
        .resolved();
        let text = toml::to_string(&c).unwrap();
        assert_eq!(parse(&text).unwrap(), c, "{text}");
    }
}
