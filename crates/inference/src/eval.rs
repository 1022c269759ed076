//! `eval`: a run's metrics on a split of a dataset, with the run's own scorer and vocabulary.

use std::path::PathBuf;
use std::sync::Arc;

use animescore_dataset::Split;
use animescore_pipeline::{
    CacheChoice, Forward, LoaderSettings, NoCacheProgress, SplitRecords, evaluate_samples,
    fill_image_cache, image_loader, index_path, load_labelled_records, samples,
    warn_unusual_values,
};
use animescore_run::{
    DeviceSpec, Pass, Precision, RunDir, SplitMetrics, check_model_size, ensure_finite, load_model,
};
use serde::{Deserialize, Serialize};

use crate::error::{InferenceError, Result};

/// An evaluation that saw no image, or whose model computed NaN, is an error, not a row of
/// zero losses.
fn check_evaluated(
    run: &RunDir,
    metrics: &SplitMetrics,
    unreadable: &[(PathBuf, String)],
) -> Result<()> {
    if metrics.n == 0 {
        let first = unreadable.first().map(|(p, why)| format!(" (first: {}: {why})", p.display()));
        return Err(InferenceError::NotEnoughData(format!(
            "none of the {} images of the split could be read{}",
            unreadable.len(),
            first.unwrap_or_default()
        )));
    }
    Ok(ensure_finite(&[metrics.loss], &run.model())?)
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
    let (model_config, size) = (&config.model, config.preprocess.size);
    check_model_size(model_config, size, opts.batch_size, opts.device, Pass::Infer)?;
    let scorer = run.read_scorer()?;
    let vocab = run.read_vocab()?;
    let dataset = opts.dataset.clone().unwrap_or_else(|| config.dataset.clone());
    let source = config.train.tags.source;
    let records = load_labelled_records(&dataset, &vocab, source)?;
    warn_unusual_values(&index_path(&dataset), &records);
    let records = SplitRecords::new(records, &config.train.split);
    let (samples, missing) =
        samples(records.get(opts.split), &dataset, &scorer, &vocab, config.train.tags.source);
    if samples.is_empty() {
        return Err(InferenceError::NotEnoughData(format!(
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
    let paths: Vec<PathBuf> = samples.iter().map(|s| s.image.clone()).collect();
    let cache =
        fill_image_cache(&opts.cache, &dataset, &paths, &config.preprocess, &NoCacheProgress)?;
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
