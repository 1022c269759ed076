//! Per-step losses and predictions kept on the device and read back in bulk.
//!
//! Reading a value back waits for the device to finish everything queued before it. A loop
//! that reads the loss and the predictions after every step (a dozen small reads) keeps an
//! asynchronous GPU queue empty between steps. Instead each step's values stay on the
//! device (detached, a few floats per image) and [`Pending::flush`] concatenates them and
//! reads each kind once, every `every` steps and at the end of a pass.

use animescore_heads::{Label, LossOutput, ModelOutput, SANITY_CLASSES, Task, unscale_score};
use animescore_run::{BatchOutcome, MetricsAccumulator, StepLosses};
use burn::tensor::Tensor;
use burn::tensor::activation::{sigmoid, softmax};

use crate::error::{PipelineError, Result};

/// Steps between read-backs when training on a device with a queue.
pub const DEFAULT_READBACK_EVERY: usize = 32;

/// One step's detached values.
struct Step {
    step: usize,
    total: Tensor<1>,
    per_task: [Option<Tensor<1>>; 4],
    sigmas: Option<Tensor<1>>,
    score: Tensor<1>,
    ai: Tensor<1>,
    sanity: Tensor<2>,
    tags: Option<Tensor<2>>,
    labels: Vec<Label>,
}

/// What a flush read back for one step.
#[derive(Debug, Clone)]
pub struct StepValues {
    /// Global optimiser step (or batch number in evaluation).
    pub step: usize,
    /// Images in the batch.
    pub images: usize,
    /// The losses.
    pub losses: StepLosses,
}

/// Steps waiting to be read back.
pub struct Pending {
    every: usize,
    tag_vocab: Option<usize>,
    steps: Vec<Step>,
}

impl Pending {
    /// Reads back every `every` steps (at least 1).
    pub fn new(every: usize, tag_vocab: Option<usize>) -> Self {
        Self { every: every.max(1), tag_vocab, steps: Vec::new() }
    }

    /// Keeps a step's values (detached from the autodiff graph).
    pub fn push(&mut self, step: usize, out: &ModelOutput, loss: &LossOutput, labels: Vec<Label>) {
        let per_task = Task::ALL.map(|t| loss.per_task.get(t).map(|l| l.clone().detach()));
        self.steps.push(Step {
            step,
            total: loss.total.clone().detach(),
            per_task,
            sigmas: loss.sigmas.clone(),
            score: out.score.clone().detach(),
            ai: out.ai_logit.clone().detach(),
            sanity: out.sanity_logits.clone().detach(),
            tags: out.tag_logits.clone().map(Tensor::detach),
            labels,
        });
    }

    /// Whether a read-back is due.
    pub fn is_due(&self) -> bool {
        self.steps.len() >= self.every
    }

    /// Reads every kept step back (one read per kind of value), adds the steps to `acc` and
    /// returns their losses in step order.
    pub fn flush(&mut self, acc: &mut MetricsAccumulator) -> Result<Vec<StepValues>> {
        let steps = std::mem::take(&mut self.steps);
        if steps.is_empty() {
            return Ok(Vec::new());
        }
        let totals = read(Tensor::cat(steps.iter().map(|s| s.total.clone()).collect(), 0))?;
        let mut per_task: [Option<Vec<f64>>; 4] = Default::default();
        for (t, slot) in per_task.iter_mut().enumerate() {
            let parts: Option<Vec<Tensor<1>>> =
                steps.iter().map(|s| s.per_task[t].clone()).collect();
            if let Some(parts) = parts {
                *slot = Some(read(Tensor::cat(parts, 0))?);
            }
        }
        let sigmas = match steps.last().and_then(|s| s.sigmas.clone()) {
            Some(s) => read(s)?.try_into().ok(),
            None => None,
        };
        let scores = read(Tensor::cat(steps.iter().map(|s| s.score.clone()).collect(), 0))?;
        let ai = read(sigmoid(Tensor::cat(steps.iter().map(|s| s.ai.clone()).collect(), 0)))?;
        let sanity =
            read(softmax(Tensor::cat(steps.iter().map(|s| s.sanity.clone()).collect(), 0), 1))?;
        let tags: Option<Vec<Tensor<2>>> = steps.iter().map(|s| s.tags.clone()).collect();
        let tags = match tags {
            Some(parts) => Some(read(sigmoid(Tensor::cat(parts, 0)))?),
            None => None,
        };

        let mut values = Vec::with_capacity(steps.len());
        let (mut row, k) = (0, self.tag_vocab.unwrap_or(0));
        let sanity_width = SANITY_CLASSES;
        for (i, s) in steps.into_iter().enumerate() {
            let b = s.labels.len();
            let rows = row..row + b;
            let outcome = BatchOutcome::new(
                scores[rows.clone()].iter().map(|&v| f64::from(unscale_score(v as f32))).collect(),
                ai[rows.clone()].to_vec(),
                sanity[row * sanity_width..(row + b) * sanity_width].to_vec(),
                tags.as_ref().map(|t| t[row * k..(row + b) * k].to_vec()),
                &s.labels,
                self.tag_vocab,
            );
            let losses = StepLosses {
                total: totals[i],
                per_task: per_task.each_ref().map(|p| p.as_ref().map(|v| v[i])),
                sigmas,
            };
            acc.add_values(&losses, &outcome);
            values.push(StepValues { step: s.step, images: b, losses });
            row += b;
        }
        Ok(values)
    }
}

/// Reads a float tensor back as `f32`s (whatever its dtype on the device).
pub fn read_f32<const D: usize>(t: Tensor<D>) -> Result<Vec<f32>> {
    t.into_data()
        .try_into_vec_as::<f32>()
        .map_err(|e| PipelineError::Data(format!("reading values back from the device: {e:?}")))
}

/// Reads a float tensor back as `f64`s.
pub fn read<const D: usize>(t: Tensor<D>) -> Result<Vec<f64>> {
    Ok(read_f32(t)?.into_iter().map(f64::from).collect())
}
