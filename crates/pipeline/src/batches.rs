//! Samples to device batches: images decoded (or read from the image cache) and augmented in
//! the loader's workers, or cached feature maps, stacked with their labels.

use std::path::PathBuf;
use std::sync::Arc;

use animescore_backbones::Preprocess;
use animescore_heads::{Label, Targets};
use animescore_run::AugmentConfig;
use burn::data::dataloader::batcher::Batcher;
use burn::data::dataset::{Dataset, DatasetError};
use burn::tensor::{Device, Tensor, TensorData};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use crate::augment::{Affine, render};
use crate::feature_cache::CachedFeatures;
use crate::image_cache::CachedImages;
use crate::loader::BatchLoader;
use crate::samples::Sample;

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

impl Batch {
    /// The labels of the batch's samples, in batch order.
    pub fn labels(&self) -> Vec<Label> {
        self.samples.iter().map(|s| s.label.clone()).collect()
    }
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
