//! The evaluation pass: a model in inference mode over a loader's batches, into split metrics
//! (and the predictions the calibration reads).

use std::path::PathBuf;

use animescore_heads::{ModelOutput, ScoringModel};
use animescore_run::{MetricsAccumulator, Precision, SplitMetrics};
use burn::tensor::Tensor;

use crate::batches::{LoadedBatch, LoadedSample};
use crate::error::Result;
use crate::loader::BatchLoader;
use crate::readback::{DEFAULT_READBACK_EVERY, Pending};

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
            Self::Images(precision) => Ok(precision.forward(model, batch)?),
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
        let labels = batch.labels();
        let out = forward.run(model, batch.images)?;
        let loss = model.loss(&out, &batch.targets)?;
        pending.push(i, &out, &loss, labels);
        if pending.is_due() {
            pending.flush(&mut acc)?;
        }
    }
    pending.flush(&mut acc)?;
    Ok((acc, failed))
}
