//! Model throughput on a device: training steps and inference passes per second on
//! synthetic batches, without the data pipeline.
//!
//! Each step uploads a fresh host batch (as the loader does), runs forward, loss, backward
//! and an AdamW update; values are read back only at the end of the timed steps, so the
//! figure is what the device sustains with a full queue. Warm-up steps (kernel compilation
//! and autotuning on the GPU backends) are timed separately.

use std::time::Instant;

use animescore_dataset::TagFilter;
use animescore_heads::{Label, Targets};
use burn::module::Module;
use burn::optim::{AdamWConfig, GradientsParams};
use burn::tensor::{Device, Tensor, TensorData};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::Serialize;

use animescore_pipeline::{
    CacheChoice, LoaderSettings, NoCacheProgress, Sample, fill_image_cache, image_loader,
    load_records,
};
use animescore_run::{AugmentConfig, KernelActivity, TrainConfig, kernel_activity};

use crate::error::{Result, TrainingError};

/// Tag vocabulary of the synthetic labels when the embedding uses tags.
const BENCH_TAGS: usize = 64;

/// What to measure.
#[derive(Debug, Clone)]
pub struct BenchOptions {
    /// Model, image size, batch size, precision and device (other training settings unused).
    pub config: TrainConfig,
    /// Timed steps (0: warm-up only, as `animescore warmup` runs it).
    pub steps: usize,
    /// Untimed steps first.
    pub warmup: usize,
    /// Measure training steps.
    pub train: bool,
    /// Measure inference passes.
    pub predict: bool,
}

/// Images per second.
#[derive(Debug, Clone, Serialize)]
pub struct BenchReport {
    /// Backbone.
    pub backbone: String,
    /// Variant.
    pub variant: String,
    /// Device.
    pub device: String,
    /// Precision.
    pub precision: String,
    /// Images per batch.
    pub batch_size: usize,
    /// Image side.
    pub image_size: usize,
    /// Timed steps.
    pub steps: usize,
    /// Training images per second (forward, backward, AdamW update).
    pub train_images_per_s: Option<f64>,
    /// Inference images per second.
    pub predict_images_per_s: Option<f64>,
    /// Seconds of the warm-up steps (training and inference together).
    pub warmup_seconds: f64,
    /// Seconds of the first training step alone (on a GPU's first run: mostly compiling and
    /// tuning its kernels); `None` without warm-up steps or training.
    pub first_step_seconds: Option<f64>,
    /// Kernels compiled and operations tuned during the whole measurement (`None` on flex or
    /// without a kernel cache).
    pub kernels: Option<KernelActivity>,
    /// Memory the device's allocator holds at the end (MiB; its pools keep pages, so this
    /// is close to the peak), when the backend reports it.
    pub device_reserved_mib: Option<f64>,
}

/// Measures training and inference throughput.
pub fn throughput(opts: &BenchOptions) -> Result<BenchReport> {
    let c = &opts.config;
    c.validate()?;
    let device = c.device.device()?;
    c.precision.check(&device, c.device)?;
    let kernels_before = kernel_activity();
    let tags = if c.embedding.uses_tags() { BENCH_TAGS } else { 0 };
    let model_config = c.model_config(tags)?;
    let size = match c.image_size {
        Some(size) => size,
        None => model_config.backbone.input_spec().image_size,
    };
    let batch = SyntheticBatch::new(c.batch_size(), size, tags, c.seed);
    let mut report = BenchReport {
        backbone: c.backbone.clone(),
        variant: c.variant.to_string(),
        device: c.device.to_string(),
        precision: c.precision.to_string(),
        batch_size: c.batch_size(),
        image_size: size,
        steps: opts.steps,
        train_images_per_s: None,
        predict_images_per_s: None,
        warmup_seconds: 0.0,
        first_step_seconds: None,
        kernels: None,
        device_reserved_mib: None,
    };
    let train_device = device.clone().autodiff();
    train_device.seed(c.seed);
    let mut model = model_config.init(&train_device)?;
    if opts.train {
        let mut optim = AdamWConfig::new().init();
        let mut timer = Timer::new(&device);
        for step in 0..opts.warmup + opts.steps {
            timer.before_step(step, opts.warmup)?;
            let (images, targets) = batch.upload(&train_device)?;
            let out = c.precision.forward(&model, images)?;
            let loss = model.loss(&out, &targets)?;
            let grads = GradientsParams::from_grads(loss.total.backward(), &model);
            model = optim.step(1e-4, model, grads);
        }
        let (warmup, seconds) = timer.finish()?;
        report.first_step_seconds = timer.first_step;
        report.warmup_seconds += warmup;
        report.train_images_per_s = rate(opts.steps * c.batch_size(), seconds);
        model = c.precision.settle(model);
    }
    if opts.predict {
        let model = model.valid();
        let mut timer = Timer::new(&device);
        for step in 0..opts.warmup + opts.steps {
            timer.before_step(step, opts.warmup)?;
            let (images, _) = batch.upload(&device)?;
            drop(model.forward(images, None)?);
        }
        let (warmup, seconds) = timer.finish()?;
        report.warmup_seconds += warmup;
        report.predict_images_per_s = rate(opts.steps * c.batch_size(), seconds);
    }
    report.kernels = kernels_before.zip(kernel_activity()).map(|(b, a)| a.since(b));
    report.device_reserved_mib =
        device.memory_pool_usage().map(|u| u.bytes_reserved as f64 / (1024.0 * 1024.0));
    Ok(report)
}

/// Images per second; `None` when nothing was timed.
fn rate(images: usize, seconds: f64) -> Option<f64> {
    (images > 0).then(|| images as f64 / seconds.max(1e-9))
}

/// Warm-up and timed phases, each ended by waiting for the device's queue to drain.
struct Timer<'a> {
    device: &'a Device,
    start: Instant,
    timed_from: Option<Instant>,
    warmup: f64,
    /// Seconds of step 0, measured when warm-up steps are synchronised.
    first_step: Option<f64>,
    /// Steps begun so far.
    steps: usize,
}

impl<'a> Timer<'a> {
    fn new(device: &'a Device) -> Self {
        Self {
            device,
            start: Instant::now(),
            timed_from: None,
            warmup: 0.0,
            first_step: None,
            steps: 0,
        }
    }

    fn sync(&self) -> Result<()> {
        self.device.sync().map_err(|e| TrainingError::Device(format!("{e:?}")))
    }

    /// Before step `step`: during the warm-up, waits for the previous step and logs its
    /// time (kernel compilation and autotuning show up here); at the first timed step, ends
    /// the warm-up.
    fn before_step(&mut self, step: usize, warmup: usize) -> Result<()> {
        self.steps = step + 1;
        if step > 0 && step <= warmup {
            self.sync()?;
            if step == 1 {
                self.first_step = Some(self.start.elapsed().as_secs_f64());
            }
            tracing::info!(
                "warm-up step {step}/{warmup} done at {:.2} s",
                self.start.elapsed().as_secs_f64()
            );
        }
        if step == warmup {
            self.warmup = self.start.elapsed().as_secs_f64();
            self.timed_from = Some(Instant::now());
        }
        Ok(())
    }

    /// Waits for the device; returns the warm-up and the timed seconds.
    /// Without timed steps, everything was warm-up (and a single step is the first step).
    fn finish(&mut self) -> Result<(f64, f64)> {
        self.sync()?;
        if self.steps == 1 && self.timed_from.is_none() {
            self.first_step = Some(self.start.elapsed().as_secs_f64());
        }
        Ok(match self.timed_from {
            Some(from) => (self.warmup, from.elapsed().as_secs_f64()),
            None => (self.start.elapsed().as_secs_f64(), 0.0),
        })
    }
}

/// One random batch on the host, uploaded anew every step.
struct SyntheticBatch {
    images: TensorData,
    labels: Vec<Label>,
    tags: usize,
}

impl SyntheticBatch {
    fn new(batch: usize, size: usize, tags: usize, seed: u64) -> Self {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let pixels: Vec<f32> =
            (0..batch * 3 * size * size).map(|_| rng.random_range(-2.0f32..2.0)).collect();
        let labels = (0..batch)
            .map(|i| Label {
                score: Some(rng.random_range(1.0f32..100.0)),
                ai: Some(i % 2 == 0),
                sanity_class: Some(i % 3),
                tags: (tags > 0).then(|| vec![i % tags]),
            })
            .collect();
        Self { images: TensorData::new(pixels, [batch, 3, size, size]), labels, tags }
    }

    fn upload(&self, device: &Device) -> Result<(Tensor<4>, Targets)> {
        let tags = (self.tags > 0).then_some(self.tags);
        let targets = Targets::from_labels(&self.labels, tags, device)?;
        Ok((Tensor::from_data(self.images.clone(), device), targets))
    }
}

/// What [`loader_throughput`] measures.
#[derive(Debug, Clone)]
pub struct LoaderBenchOptions {
    /// A dataset folder (indexed); its images are the input.
    pub dataset: std::path::PathBuf,
    /// Preprocessing (size, resize mode, normalisation).
    pub preprocess: animescore_backbones::Preprocess,
    /// Augmentation applied to every image.
    pub augment: AugmentConfig,
    /// Images per batch.
    pub batch_size: usize,
    /// Loading threads.
    pub workers: usize,
    /// Timed passes over the images.
    pub passes: usize,
    /// Whether and where to cache decoded images.
    pub cache: CacheChoice,
}

/// Images per second of the input pipeline alone.
#[derive(Debug, Clone, Serialize)]
pub struct LoaderBenchReport {
    /// Images per pass.
    pub images: usize,
    /// Seconds to fill the cache (0 when it was already filled, or when it is off).
    pub fill_seconds: f64,
    /// Images per second over the timed passes (read, augment, normalise, batch to flex).
    pub images_per_s: f64,
}

/// Measures the training input pipeline without a model: a pass is the dataset's images
/// read (from the image cache unless it is off), augmented and normalised, and batched into
/// `[B, 3, size, size]` tensors on flex by the ordered, prefetching loader.
pub fn loader_throughput(opts: &LoaderBenchOptions) -> Result<LoaderBenchReport> {
    let records = load_records(&opts.dataset, TagFilter::None)?;
    let samples: Vec<Sample> = records
        .iter()
        .filter_map(|r| {
            let image = r.resolve_image(&opts.dataset).filter(|p| p.is_file())?;
            Some(Sample {
                filename: r.filename.clone(),
                image,
                label: Label {
                    score: Some(50.0),
                    ai: Some(r.ai_flag),
                    sanity_class: None,
                    tags: None,
                },
            })
        })
        .collect();
    if samples.is_empty() {
        return Err(TrainingError::NotEnoughData(format!(
            "{} has no indexed image",
            opts.dataset.display()
        )));
    }
    let started = Instant::now();
    let paths: Vec<std::path::PathBuf> = samples.iter().map(|s| s.image.clone()).collect();
    let cache =
        fill_image_cache(&opts.cache, &opts.dataset, &paths, &opts.preprocess, &NoCacheProgress)?;
    let fill_seconds = started.elapsed().as_secs_f64();
    let settings = LoaderSettings {
        preprocess: opts.preprocess.clone(),
        batch_size: opts.batch_size,
        workers: opts.workers,
    };
    let device = Device::flex();
    let samples = std::sync::Arc::new(samples);
    let started = Instant::now();
    for pass in 0..opts.passes.max(1) {
        let seed = pass as u64 + 1;
        let loader = image_loader(
            samples.clone(),
            cache.clone(),
            Some((&opts.augment, seed)),
            &settings,
            None,
            &device,
        );
        for batch in loader.shuffled(seed)? {
            drop(batch?);
        }
    }
    let seconds = started.elapsed().as_secs_f64();
    Ok(LoaderBenchReport {
        images: samples.len(),
        fill_seconds,
        images_per_s: rate(samples.len() * opts.passes.max(1), seconds).unwrap_or(0.0),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The first step's time after `warmup` warm-up and `timed` timed steps.
    fn first_step(warmup: usize, timed: usize) -> Option<f64> {
        let device = Device::flex();
        let mut timer = Timer::new(&device);
        for step in 0..warmup + timed {
            timer.before_step(step, warmup).unwrap();
        }
        timer.finish().unwrap();
        timer.first_step
    }

    #[test]
    fn the_first_step_is_timed_whenever_it_is_a_warm_up_step() {
        // `animescore warmup --steps 1`: one warm-up step and nothing after it.
        assert!(first_step(1, 0).is_some());
        assert!(first_step(1, 3).is_some());
        assert!(first_step(2, 0).is_some());
        // Without warm-up the first step is a timed one.
        assert!(first_step(0, 2).is_none());
    }
}
