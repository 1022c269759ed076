//! Running a model over samples: batch outcomes, split metrics, and `eval` on a run.

use std::path::PathBuf;
use std::sync::Arc;

use animescore_backbones::Preprocess;
use animescore_dataset::Split;
use animescore_heads::{ModelOutput, ScoringModel, unscale_score};
use burn::data::dataloader::DataLoaderBuilder;
use burn::module::Module;
use burn::tensor::Device;
use burn::tensor::activation::{sigmoid, softmax};
use serde::{Deserialize, Serialize};

use crate::config::RunConfig;
use crate::data::{self, ImageDataset, LoadedBatch, Sample, ScoringBatcher, SplitRecords};
use crate::device::DeviceSpec;
use crate::error::{Result, TrainingError};
use crate::metrics::{BatchOutcome, MetricsAccumulator, SplitMetrics};
use crate::run::RunDir;

fn floats<const D: usize>(t: burn::tensor::Tensor<D>) -> Vec<f64> {
    t.into_data().try_to_vec::<f32>().unwrap_or_default().into_iter().map(f64::from).collect()
}

/// Reads a batch's predictions and labels back from the device.
pub fn batch_outcome(
    out: &ModelOutput,
    samples: &[Sample],
    tag_vocab: Option<usize>,
) -> BatchOutcome {
    let score_pred = floats(out.score.clone().detach())
        .into_iter()
        .map(|s| f64::from(unscale_score(s as f32)))
        .collect();
    let ai_prob = floats(sigmoid(out.ai_logit.clone().detach()));
    let sanity_prob = floats(softmax(out.sanity_logits.clone().detach(), 1));
    let tag_prob = out.tag_logits.as_ref().map(|t| floats(sigmoid(t.clone().detach())));
    let tag_target = tag_vocab.map(|k| {
        samples
            .iter()
            .map(|s| {
                s.label.tags.as_ref().map(|tags| {
                    let mut row = vec![false; k];
                    for &t in tags.iter().filter(|&&t| t < k) {
                        row[t] = true;
                    }
                    row
                })
            })
            .collect()
    });
    BatchOutcome {
        score_pred,
        score_target: samples.iter().map(|s| s.label.score.map(f64::from)).collect(),
        ai_prob,
        ai_target: samples.iter().map(|s| s.label.ai).collect(),
        sanity_prob,
        sanity_target: samples
            .iter()
            .map(|s| s.label.sanity_level.and_then(|l| animescore_heads::sanity_class(l).ok()))
            .collect(),
        tag_prob: tag_prob.filter(|p| p.len() == samples.len() * tag_vocab.unwrap_or(0)),
        tag_target,
    }
}

/// How to run a model over samples.
#[derive(Debug, Clone)]
pub struct EvalSettings {
    /// Preprocessing (no augmentation).
    pub preprocess: Preprocess,
    /// Images per batch.
    pub batch_size: usize,
    /// Loader threads.
    pub workers: usize,
}

/// Metrics of an inference-mode model over `samples`, and the unreadable images.
pub fn evaluate_samples(
    model: &ScoringModel,
    samples: Vec<Sample>,
    settings: &EvalSettings,
    device: &Device,
) -> Result<(SplitMetrics, Vec<(PathBuf, String)>)> {
    let tag_vocab = model.head.tag_vocab();
    let batcher = ScoringBatcher { size: settings.preprocess.size, tag_vocab };
    let loader = DataLoaderBuilder::new(batcher)
        .batch_size(settings.batch_size)
        .num_workers(settings.workers)
        .set_device(device.clone())
        .build(ImageDataset::new(Arc::new(samples), settings.preprocess.clone()));
    let mut acc = MetricsAccumulator::default();
    let mut failed = Vec::new();
    for loaded in loader.iter() {
        let LoadedBatch { batch, failed: f } =
            loaded.map_err(|e| TrainingError::Data(e.to_string()))?;
        failed.extend(f);
        let Some(batch) = batch else { continue };
        let out = model.forward(batch.images, None)?;
        let loss = model.loss(&out, &batch.targets)?;
        acc.add(&loss, &batch_outcome(&out, &batch.samples, tag_vocab));
    }
    Ok((acc.finish(), failed))
}

/// Builds the model of a run and loads its best weights, in inference mode.
pub fn load_model(run: &RunDir, config: &RunConfig, device: &Device) -> Result<ScoringModel> {
    let model = config.model.init(device)?;
    let path = run.model();
    let model = model.try_load_file(&path).map_err(|e| TrainingError::Record {
        what: "loading weights",
        path: path.clone(),
        reason: e.to_string(),
    })?;
    Ok(model.valid())
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
    let records = SplitRecords::new(data::load_records(&dataset)?, &config.train.split);
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
    let settings = EvalSettings {
        preprocess: config.preprocess.clone(),
        batch_size: opts.batch_size,
        workers: config.train.workers,
    };
    let (metrics, unreadable) = evaluate_samples(&model, samples, &settings, &device)?;
    Ok(EvalReport {
        run: opts.run.clone(),
        dataset,
        split: opts.split.name().into(),
        metrics,
        missing_images: missing,
        unreadable,
    })
}
