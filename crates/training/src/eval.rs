//! Running a model over samples: batch outcomes, split metrics, and `eval` on a run.

use std::path::PathBuf;
use std::sync::Arc;

use animescore_dataset::Split;
use animescore_heads::{ModelOutput, ScoringModel};
use burn::module::Module;
use burn::tensor::{Device, Tensor};
use serde::{Deserialize, Serialize};

use crate::config::RunConfig;
use crate::data::{self, LoadedBatch, LoadedSample, LoaderSettings, SplitRecords, image_loader};
use crate::device::DeviceSpec;
use crate::error::{Result, TrainingError};
use crate::image_cache::{CacheChoice, NoCacheProgress, fill_image_cache};
use crate::loader::BatchLoader;
use crate::metrics::{MetricsAccumulator, SplitMetrics};
use crate::precision::Precision;
use crate::readback::{DEFAULT_READBACK_EVERY, Pending};
use crate::run::RunDir;

/// What the model is fed: images through the whole model, or cached feature maps of a
/// frozen backbone through the heads only.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Forward {
    /// Images, with the backbone computed in this precision.
    Images(Precision),
    /// Feature maps, heads only.
    Features,
}

impl Forward {
    /// The model's outputs for a batch.
    pub fn run(self, model: &ScoringModel, batch: Tensor<4>) -> Result<ModelOutput> {
        match self {
            Self::Images(precision) => precision.forward(model, batch),
            Self::Features => Ok(model.head.forward(batch, None)?),
        }
    }
}

/// Metrics of an inference-mode model over a loader's batches, and the unreadable images.
pub fn evaluate_samples(
    model: &ScoringModel,
    loader: &BatchLoader<LoadedSample, LoadedBatch>,
    forward: Forward,
) -> Result<(SplitMetrics, Vec<(PathBuf, String)>)> {
    let (acc, failed) = accumulate_samples(model, loader, forward)?;
    Ok((acc.finish(), failed))
}

/// [`evaluate_samples`] before the metrics are computed: the accumulator keeps the
/// predictions (calibration reads them).
pub fn accumulate_samples(
    model: &ScoringModel,
    loader: &BatchLoader<LoadedSample, LoadedBatch>,
    forward: Forward,
) -> Result<(MetricsAccumulator, Vec<(PathBuf, String)>)> {
    let tag_vocab = model.head.tag_vocab();
    let mut acc = MetricsAccumulator::default();
    let mut pending = Pending::new(DEFAULT_READBACK_EVERY, tag_vocab);
    let mut failed = Vec::new();
    for (i, loaded) in loader.sequential()?.enumerate() {
        let LoadedBatch { batch, failed: f } = loaded?;
        failed.extend(f);
        let Some(batch) = batch else { continue };
        let out = forward.run(model, batch.images)?;
        let loss = model.loss(&out, &batch.targets)?;
        pending.push(i, &out, &loss, batch.samples);
        if pending.is_due() {
            pending.flush(&mut acc)?;
        }
    }
    pending.flush(&mut acc)?;
    Ok((acc, failed))
}

/// Builds the model of a run and loads its best weights, in inference mode.
pub fn load_model(run: &RunDir, config: &RunConfig, device: &Device) -> Result<ScoringModel> {
    let model = config.model.init(device)?;
    let path = run.model();
    let model = crate::weights_file::load_checked(model, &path)?;
    Ok(model.valid())
}

/// An evaluation that saw no image, or whose model computed NaN, is an error, not a row of
/// zero losses.
fn check_evaluated(
    run: &RunDir,
    metrics: &SplitMetrics,
    unreadable: &[(PathBuf, String)],
) -> Result<()> {
    if metrics.n == 0 {
        let first = unreadable.first().map(|(p, why)| format!(" (first: {}: {why})", p.display()));
        return Err(TrainingError::NotEnoughData(format!(
            "none of the {} images of the split could be read{}",
            unreadable.len(),
            first.unwrap_or_default()
        )));
    }
    crate::weights_file::ensure_finite(&[metrics.loss], &run.model())
}

/// Options of [`evaluate_run`].
#[derive(Debug, Clone)]
pub struct EvalOptions {
    /// The run directory.
    pub run: PathBuf,
    /// Dataset folder; `None`: the one the run was trained on.
    pub dataset: Option<PathBuf>,
    /// Which split.
    pub split: Split,
    /// Device.
    pub device: DeviceSpec,
    /// Images per batch.
    pub batch_size: usize,
    /// Whether and where to cache decoded images.
    pub cache: CacheChoice,
}

/// What `eval` reports.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EvalReport {
    /// Run directory.
    pub run: PathBuf,
    /// Dataset folder.
    pub dataset: PathBuf,
    /// Split name.
    pub split: String,
    /// Metrics.
    pub metrics: SplitMetrics,
    /// Records of the split without an image file.
    pub missing_images: usize,
    /// Unreadable images.
    pub unreadable: Vec<(PathBuf, String)>,
}

/// Evaluates a run's best weights on a split of a dataset, with the run's own scorer and
/// vocabulary (never refitted).
pub fn evaluate_run(opts: &EvalOptions) -> Result<EvalReport> {
    let run = RunDir::new(&opts.run);
    let config = run.read_config()?;
    let scorer = run.read_scorer()?;
    let vocab = run.read_vocab()?;
    let dataset = opts.dataset.clone().unwrap_or_else(|| config.dataset.clone());
    let source = config.train.tags.source;
    let records = data::load_labelled_records(&dataset, &vocab, source)?;
    data::warn_unusual_values(&data::index_path(&dataset), &records);
    let records = SplitRecords::new(records, &config.train.split);
    let (samples, missing) =
        data::samples(records.get(opts.split), &dataset, &scorer, &vocab, config.train.tags.source);
    if samples.is_empty() {
        return Err(TrainingError::NotEnoughData(format!(
            "the {} split of {} has no image",
            opts.split.name(),
            dataset.display()
        )));
    }
    let device = opts.device.device()?;
    let model = load_model(&run, &config, &device)?;
    let settings = LoaderSettings {
        preprocess: config.preprocess.clone(),
        batch_size: opts.batch_size,
        workers: config.train.workers,
    };
    let cache =
        fill_image_cache(&opts.cache, &dataset, &samples, &config.preprocess, &NoCacheProgress)?;
    let tag_vocab = model.head.tag_vocab();
    let loader = image_loader(Arc::new(samples), cache, None, &settings, tag_vocab, &device);
    let (metrics, unreadable) = evaluate_samples(&model, &loader, Forward::Images(Precision::F32))?;
    check_evaluated(&run, &metrics, &unreadable)?;
    Ok(EvalReport {
        run: opts.run.clone(),
        dataset,
        split: opts.split.name().into(),
        metrics,
        missing_images: missing,
        unreadable,
    })
}
