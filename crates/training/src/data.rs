//! From the index to batches: records → split → labels (score from a scorer fitted on the
//! training split only, AI flag, sanity class, tags) → burn `Dataset` of images → `Batcher`.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use animescore_backbones::Preprocess;
use animescore_dataset::{
    DEFAULT_DB_RELATIVE, Database, IllustRecord, ORIGINAL, Split, SplitConfig, TagCounter,
    TagFilter, TagIndex, TagVocabulary,
};
use animescore_heads::{Label, Targets};
use animescore_scoring::{Counts, ScoreMethod, Scorer};
use burn::data::dataloader::batcher::Batcher;
use burn::data::dataset::{Dataset, DatasetError};
use burn::tensor::{Device, Tensor, TensorData};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use crate::augment::{Affine, render};
use crate::config::{AugmentConfig, TagConfig, TagSource};
use crate::error::{Result, TrainingError};
use crate::feature_cache::CachedFeatures;
use crate::image_cache::CachedImages;
use crate::loader::BatchLoader;

/// The index file of a dataset folder.
pub fn index_path(dataset: &Path) -> PathBuf {
    dataset.join(DEFAULT_DB_RELATIVE)
}

/// The records of a dataset's index with the tags `tags` lets through (sorted by file name),
/// or [`TrainingError::MissingIndex`] with the command that builds it.
///
/// Read the tags a command needs and no more: tag lists are most of an index's size, and
/// [`TagFilter::None`] or [`TagFilter::Within`] a vocabulary keeps memory bounded by the row
/// count whatever the metadata files list.
pub fn load_records(dataset: &Path, tags: TagFilter<'_>) -> Result<Vec<IllustRecord>> {
    Ok(open_index(dataset)?.records_with(tags)?)
}

/// The records of a dataset with the tags that labels under `vocab` need.
pub fn load_labelled_records(
    dataset: &Path,
    vocab: &TagVocabulary,
    source: TagSource,
) -> Result<Vec<IllustRecord>> {
    labelled_records(&open_index(dataset)?, vocab, source)
}

/// The records of an index with the tags that labels under `vocab` need: none when the
/// vocabulary is characters (they come from `tag_character`), else only the vocabulary's own
/// tags, each once.
pub fn labelled_records(
    index: &Database,
    vocab: &TagVocabulary,
    source: TagSource,
) -> Result<Vec<IllustRecord>> {
    let vocab_tags: HashSet<String> = vocab.tags.iter().cloned().collect();
    let filter = match source {
        TagSource::TopK => TagFilter::Within(&vocab_tags),
        TagSource::Characters | TagSource::Auto => TagFilter::None,
    };
    Ok(index.records_with(filter)?)
}

/// A dataset's index, opened read-only, or [`TrainingError::MissingIndex`].
fn open_index(dataset: &Path) -> Result<Database> {
    let path = index_path(dataset);
    if !path.is_file() {
        return Err(TrainingError::MissingIndex { path, dataset: dataset.to_path_buf() });
    }
    Ok(Database::open_read_only(&path)?)
}

/// Records whose `sanity_level` is none of Pixiv's (2, 4, 6) and whose `illust_ai_type` is none
/// of 0, 1, 2: they are still used (a level above 6 counts as 6, an unknown AI type as "not
/// AI" unless the tags say otherwise), so the user is told how many there are.
pub fn unusual_values(records: &[IllustRecord]) -> (usize, usize) {
    let sanity = records
        .iter()
        .filter(|r| r.sanity_level.is_some_and(|l| !animescore_dataset::SANITY_LEVELS.contains(&l)))
        .count();
    let ai =
        records.iter().filter(|r| r.illust_ai_type.is_some_and(|t| !(0..=2).contains(&t))).count();
    (sanity, ai)
}

/// Tells the user (tracing) about the records [`unusual_values`] counts.
pub fn warn_unusual_values(index: &Path, records: &[IllustRecord]) {
    let (sanity, ai) = unusual_values(records);
    if sanity > 0 {
        tracing::warn!(
            "{}: {sanity} records have a sanity_level other than 2, 4 or 6 (above 6 counts as 6)",
            index.display()
        );
    }
    if ai > 0 {
        tracing::warn!(
            "{}: {ai} records have an illust_ai_type other than 0, 1 or 2 (read as not AI unless tagged)",
            index.display()
        );
    }
}

/// Popularity counts of a record, when it has both.
pub fn counts(r: &IllustRecord) -> Option<Counts> {
    let (b, v) = (r.bookmarks?, r.views?);
    (b >= 0 && v >= 0).then_some(Counts { bookmarks: b as f64, views: v as f64, uploaded: r.date })
}

/// Records divided by split (records without an artwork id cannot be split and are dropped).
#[derive(Debug, Clone, Default)]
pub struct SplitRecords {
    /// Training records.
    pub train: Vec<IllustRecord>,
    /// Validation records.
    pub validation: Vec<IllustRecord>,
    /// Test records.
    pub test: Vec<IllustRecord>,
}

impl SplitRecords {
    /// Splits by artwork id.
    pub fn new(records: Vec<IllustRecord>, config: &SplitConfig) -> Self {
        let mut out = Self::default();
        for r in records {
            match r.artwork_id().map(|id| config.assign(id)) {
                Some(Split::Train) => out.train.push(r),
                Some(Split::Validation) => out.validation.push(r),
                Some(Split::Test) => out.test.push(r),
                None => tracing::warn!("{}: no artwork id, left out", r.filename),
            }
        }
        out
    }

    /// The records of one split.
    pub fn get(&self, split: Split) -> &[IllustRecord] {
        match split {
            Split::Train => &self.train,
            Split::Validation => &self.validation,
            Split::Test => &self.test,
        }
    }
}

/// Fits the score on the training records only.
pub fn fit_scorer(train: &[IllustRecord], method: ScoreMethod) -> Result<Scorer> {
    let counts: Vec<Counts> = train.iter().filter_map(counts).collect();
    Ok(Scorer::fit(method, &counts)?)
}

/// The tag names of a record as the vocabulary sees them.
/// (`auto` here reads characters; runs resolve it first with [`resolve_tag_source`].)
pub fn tag_names(r: &IllustRecord, source: TagSource) -> Vec<&str> {
    match source {
        TagSource::TopK => r.tags.iter().map(String::as_str).collect(),
        TagSource::Characters | TagSource::Auto => character_names(r).collect(),
    }
}

fn character_names(r: &IllustRecord) -> impl Iterator<Item = &str> {
    r.tag_character.split(',').filter(|c| !c.is_empty() && *c != ORIGINAL)
}

/// `auto` → characters when any training record has a character (the index was ingested
/// with an alias table that matched), otherwise the top-K Pixiv tags; other choices stay.
pub fn resolve_tag_source(train: &[IllustRecord], source: TagSource) -> TagSource {
    match source {
        TagSource::Auto if train.iter().any(|r| character_names(r).next().is_some()) => {
            tracing::info!("tags: characters (the index has character names)");
            TagSource::Characters
        }
        TagSource::Auto => {
            tracing::info!(
                "tags: top-k Pixiv tags (no character names in the index; ingest with \
                 --character-aliases to use characters)"
            );
            TagSource::TopK
        }
        chosen => chosen,
    }
}

/// Fits the tag vocabulary on the training records (`auto` resolved first). Top-K tags are
/// counted while the index streams past (`train` may be loaded without tags): memory is
/// bounded by the number of distinct tags.
pub fn fit_vocab(
    dataset: &Path,
    train: &[IllustRecord],
    config: &TagConfig,
) -> Result<TagVocabulary> {
    match resolve_tag_source(train, config.source) {
        TagSource::TopK => {
            // Only training rows are counted; the others' tag lists are not even decoded.
            let wanted: HashSet<&str> = train.iter().map(|r| r.filename.as_str()).collect();
            let mut counter = TagCounter::default();
            open_index(dataset)?.count_tags(|name| wanted.contains(name), &mut counter)?;
            Ok(counter.vocabulary(config.k, config.min_count))
        }
        TagSource::Characters | TagSource::Auto => {
            Ok(TagVocabulary::characters(train, config.k, config.min_count))
        }
    }
}

// The dataset crate owns the sanity level ↔ class mapping; the heads only know the count.
const _: () = assert!(animescore_heads::SANITY_CLASSES == animescore_dataset::SANITY_LEVELS.len());

/// One image and its labels.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    /// Record key (image name without extension).
    pub filename: String,
    /// Image file.
    pub image: PathBuf,
    /// Labels; `label.tags` indexes the vocabulary.
    pub label: Label,
}

/// The labels of a record under a fitted scorer and vocabulary (`vocab` from
/// [`TagVocabulary::index`], built once for all records).
pub fn label(r: &IllustRecord, scorer: &Scorer, vocab: &TagIndex<'_>, source: TagSource) -> Label {
    let score = counts(r).and_then(|c| scorer.score(&c).ok()).map(|s| s.clamp(1.0, 100.0) as f32);
    let sanity_class = r.sanity_level.and_then(animescore_dataset::sanity_class);
    let tags = vocab.positions(tag_names(r, source));
    Label { score, ai: Some(r.ai_flag), sanity_class, tags: Some(tags) }
}

/// Samples of the records whose image file exists; returns them and how many were left out.
pub fn samples(
    records: &[IllustRecord],
    root: &Path,
    scorer: &Scorer,
    vocab: &TagVocabulary,
    source: TagSource,
) -> (Vec<Sample>, usize) {
    let mut out = Vec::with_capacity(records.len());
    let mut missing = 0;
    let vocab = vocab.index();
    for r in records {
        match r.resolve_image(root).filter(|p| p.is_file()) {
            Some(image) => out.push(Sample {
                filename: r.filename.clone(),
                image,
                label: label(r, scorer, &vocab, source),
            }),
            None => missing += 1,
        }
    }
    (out, missing)
}

/// A sample with its decoded, preprocessed (and maybe augmented) image.
#[derive(Debug, Clone)]
pub struct LoadedSample {
    /// The sample.
    pub sample: Sample,
    /// `3 · size · size` normalised values, or why the image could not be read.
    pub chw: std::result::Result<Vec<f32>, String>,
}

/// Where an [`ImageDataset`] gets its resized pixels.
#[derive(Debug, Clone)]
pub enum PixelSource {
    /// Decode and resize the image file every time.
    Decode,
    /// The image cache, filled for the same samples in the same order.
    Cache(CachedImages),
}

/// Images decoded (or read from the image cache) on demand, in the loader's workers.
#[derive(Debug, Clone)]
pub struct ImageDataset {
    samples: Arc<Vec<Sample>>,
    preprocess: Preprocess,
    source: PixelSource,
    augment: Option<(AugmentConfig, u64)>,
}

impl ImageDataset {
    /// Without augmentation (evaluation, prediction), decoding every image.
    pub fn new(samples: Arc<Vec<Sample>>, preprocess: Preprocess) -> Self {
        Self { samples, preprocess, source: PixelSource::Decode, augment: None }
    }

    /// Reads pixels from `cache`, which must hold the same samples in the same order.
    pub fn with_cache(mut self, cache: Option<CachedImages>) -> Self {
        self.source = cache.map_or(PixelSource::Decode, PixelSource::Cache);
        self
    }

    /// With augmentation drawn from `seed` (use a new seed every epoch).
    pub fn with_augment(mut self, config: &AugmentConfig, seed: u64) -> Self {
        self.augment = config.is_active().then(|| (config.clone(), seed));
        self
    }

    /// The resized RGB bytes of sample `index`.
    fn rgb(&self, index: usize, sample: &Sample) -> std::result::Result<Vec<u8>, String> {
        match &self.source {
            PixelSource::Decode => self
                .preprocess
                .load_rgb(&sample.image)
                .map(image::RgbImage::into_raw)
                .map_err(|e| e.to_string()),
            PixelSource::Cache(cache) => cache.get(index),
        }
    }
}

/// Sample `index`, or the dataset error burn's loaders expect.
fn sample_at(samples: &[Sample], index: usize) -> std::result::Result<Sample, DatasetError> {
    samples.get(index).cloned().ok_or_else(|| {
        DatasetError::new(std::io::Error::other(format!("index {index} out of range")))
    })
}

impl Dataset<LoadedSample> for ImageDataset {
    fn get(&self, index: usize) -> std::result::Result<LoadedSample, DatasetError> {
        let sample = sample_at(&self.samples, index)?;
        let affine = match &self.augment {
            Some((config, seed)) => {
                // Per image and epoch, independent of which worker loads it.
                let key = seed ^ (index as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
                Affine::draw(config, &mut ChaCha8Rng::seed_from_u64(key))
            }
            None => Affine::IDENTITY,
        };
        let chw = self.rgb(index, &sample).map(|rgb| render(&rgb, &self.preprocess, affine));
        Ok(LoadedSample { sample, chw })
    }

    fn len(&self) -> usize {
        self.samples.len()
    }
}

/// A batch on the device.
#[derive(Debug, Clone)]
pub struct Batch {
    /// Normalised images `[B, 3, size, size]`.
    pub images: Tensor<4>,
    /// Training targets.
    pub targets: Targets,
    /// The samples, in batch order.
    pub samples: Vec<Sample>,
}

/// What the batcher makes of a list of loaded samples: the readable ones batched, the
/// others reported.
#[derive(Debug, Clone)]
pub struct LoadedBatch {
    /// `None` when no image of the batch could be read.
    pub batch: Option<Batch>,
    /// Unreadable images and why.
    pub failed: Vec<(PathBuf, String)>,
}

/// Stacks images (or cached feature maps) and labels.
#[derive(Debug, Clone)]
pub struct ScoringBatcher {
    /// `[C, H, W]` of one item: `[3, size, size]` for images.
    pub shape: [usize; 3],
    /// Tag vocabulary of the model's tag head (`None`: no tag targets).
    pub tag_vocab: Option<usize>,
}

impl Batcher<LoadedSample, LoadedBatch> for ScoringBatcher {
    fn batch(&self, items: Vec<LoadedSample>, device: &Device) -> LoadedBatch {
        let mut failed = Vec::new();
        let mut samples = Vec::with_capacity(items.len());
        let mut pixels = Vec::with_capacity(items.len() * self.shape.iter().product::<usize>());
        for item in items {
            match item.chw {
                Ok(chw) => {
                    pixels.extend_from_slice(&chw);
                    samples.push(item.sample);
                }
                Err(reason) => failed.push((item.sample.image, reason)),
            }
        }
        if samples.is_empty() {
            return LoadedBatch { batch: None, failed };
        }
        let labels: Vec<Label> = samples.iter().map(|s| s.label.clone()).collect();
        match Targets::from_labels(&labels, self.tag_vocab, device) {
            Ok(targets) => {
                let [c, h, w] = self.shape;
                // Moves the buffer into the tensor data (no second copy of the batch).
                let data = TensorData::new(pixels, [samples.len(), c, h, w]);
                let images = Tensor::<4>::from_data(data, device);
                LoadedBatch { batch: Some(Batch { images, targets, samples }), failed }
            }
            Err(e) => {
                failed.extend(samples.into_iter().map(|s| (s.image, e.to_string())));
                LoadedBatch { batch: None, failed }
            }
        }
    }
}

/// How a pass over images is loaded.
#[derive(Debug, Clone)]
pub struct LoaderSettings {
    /// Preprocessing.
    pub preprocess: Preprocess,
    /// Images per batch.
    pub batch_size: usize,
    /// Loading threads (0: load on the consuming thread).
    pub workers: usize,
}

/// The one way training, evaluation and prediction turn samples into device batches:
/// ordered, prefetched, from the image cache when given one (filled for the same samples).
pub fn image_loader(
    samples: Arc<Vec<Sample>>,
    cache: Option<CachedImages>,
    augment: Option<(&AugmentConfig, u64)>,
    settings: &LoaderSettings,
    tag_vocab: Option<usize>,
    device: &Device,
) -> BatchLoader<LoadedSample, LoadedBatch> {
    let mut dataset = ImageDataset::new(samples, settings.preprocess.clone()).with_cache(cache);
    if let Some((config, seed)) = augment {
        dataset = dataset.with_augment(config, seed);
    }
    let size = settings.preprocess.size;
    let batcher = ScoringBatcher { shape: [3, size, size], tag_vocab };
    BatchLoader::new(
        Arc::new(dataset),
        Arc::new(batcher),
        settings.batch_size,
        settings.workers,
        device.clone(),
    )
}

/// Cached backbone feature maps instead of images (heads-only training on a frozen
/// backbone). `chw` of each item holds the feature map.
#[derive(Debug, Clone)]
pub struct FeatureDataset {
    samples: Arc<Vec<Sample>>,
    features: CachedFeatures,
}

impl Dataset<LoadedSample> for FeatureDataset {
    fn get(&self, index: usize) -> std::result::Result<LoadedSample, DatasetError> {
        let sample = sample_at(&self.samples, index)?;
        Ok(LoadedSample { chw: self.features.get(index), sample })
    }

    fn len(&self) -> usize {
        self.samples.len()
    }
}

/// Batches of cached feature maps `[B, C, h, w]` (filled for the same samples, in order).
pub fn feature_loader(
    samples: Arc<Vec<Sample>>,
    features: CachedFeatures,
    settings: &LoaderSettings,
    tag_vocab: Option<usize>,
    device: &Device,
) -> BatchLoader<LoadedSample, LoadedBatch> {
    let batcher = ScoringBatcher { shape: features.dims, tag_vocab };
    BatchLoader::new(
        Arc::new(FeatureDataset { samples, features }),
        Arc::new(batcher),
        settings.batch_size,
        settings.workers,
        device.clone(),
    )
}
