//! Multi-task loss: per-task raw losses and their uncertainty-weighted (Kendall, Gal &
//! Cipolla, CVPR 2018) or fixed-weight sum.
//!
//! With `s = log σ²` learned per task, a regression task contributes `½·e^{−s}·L + ½·s`
//! and a classification task `e^{−s}·L + ½·s`. The `½·s` terms make the total negative
//! once the raw losses are small; that is expected, not a bug.

use burn::module::Param;
use burn::prelude::*;
use burn::tensor::activation::log_softmax;
use serde::{Deserialize, Serialize};

use crate::error::HeadsError;
use crate::metadata::SANITY_CLASSES;

/// The tasks, in the order of [`MultiTaskLoss`]'s log-variance vector.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Task {
    /// Score regression.
    Score,
    /// AI flag (binary).
    Ai,
    /// Sanity level (3 classes).
    Sanity,
    /// Tags (multi-label).
    Tags,
}

impl Task {
    /// All tasks, index order.
    pub const ALL: [Task; 4] = [Task::Score, Task::Ai, Task::Sanity, Task::Tags];

    /// Position in the log-variance vector.
    pub fn index(self) -> usize {
        self as usize
    }

    /// Name for logs.
    pub fn name(self) -> &'static str {
        match self {
            Task::Score => "score",
            Task::Ai => "ai",
            Task::Sanity => "sanity",
            Task::Tags => "tags",
        }
    }

    /// Regression tasks get the extra `½` on the weighted loss.
    pub fn is_regression(self) -> bool {
        self == Task::Score
    }
}

/// How the per-task losses are combined.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "mode", rename_all = "kebab-case", deny_unknown_fields)]
pub enum LossWeighting {
    /// Learned `s_i = log σ_i²` per task, initialised to 0.
    Uncertainty,
    /// Fixed weights (the original's Keras `loss_weights`).
    Fixed {
        /// Score weight.
        score: f64,
        /// AI-flag weight.
        ai: f64,
        /// Sanity weight.
        sanity: f64,
        /// Tags weight.
        tags: f64,
    },
}

impl LossWeighting {
    /// The original's Keras weights: score 0.01, every other task 1.
    pub fn original_fixed() -> Self {
        LossWeighting::Fixed { score: 0.01, ai: 1.0, sanity: 1.0, tags: 1.0 }
    }
}

/// Raw loss of the score regression (on the score scaled to `[0, 1]`).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case", deny_unknown_fields)]
pub enum RegressionLoss {
    /// Mean squared error.
    Mse,
    /// Mean absolute error.
    Mae,
    /// Huber loss: quadratic below `delta`, linear above.
    Huber {
        /// Transition point.
        delta: f64,
    },
}

/// Configuration of the multi-task loss.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LossConfig {
    /// Weighting mode.
    pub weighting: LossWeighting,
    /// Raw score loss.
    pub score_loss: RegressionLoss,
}

impl Default for LossConfig {
    fn default() -> Self {
        Self { weighting: LossWeighting::Uncertainty, score_loss: RegressionLoss::Mse }
    }
}

impl LossConfig {
    /// Checks weights and the Huber delta.
    pub fn validate(&self) -> Result<(), HeadsError> {
        if let LossWeighting::Fixed { score, ai, sanity, tags } = self.weighting
            && [score, ai, sanity, tags].iter().any(|w| !w.is_finite() || *w < 0.0)
        {
            return Err(HeadsError::InvalidConfig(
                "fixed loss weights must be finite and non-negative".into(),
            ));
        }
        if let RegressionLoss::Huber { delta } = self.score_loss
            && !(delta.is_finite() && delta > 0.0)
        {
            return Err(HeadsError::InvalidConfig(format!(
                "huber delta must be positive, got {delta}"
            )));
        }
        Ok(())
    }

    /// Builds the loss module (its log-variances start at 0).
    pub fn init(&self, device: &Device) -> MultiTaskLoss {
        MultiTaskLoss {
            log_vars: Param::from_tensor(Tensor::zeros([Task::ALL.len()], device)),
            weighting: self.weighting.clone(),
            score_loss: self.score_loss,
        }
    }
}

/// Score in `1..=100` → regression target in `[0, 1]`.
pub fn scale_score(score: f32) -> Result<f32, HeadsError> {
    if (1.0..=100.0).contains(&score) {
        Ok((score - 1.0) / 99.0)
    } else {
        Err(HeadsError::ScoreRange(score))
    }
}

/// Regression output → score in `1..=100` (clamped).
pub fn unscale_score(scaled: f32) -> f32 {
    (scaled.clamp(0.0, 1.0) * 99.0) + 1.0
}

/// Training targets of a batch.
#[derive(Debug, Clone)]
pub struct Targets {
    /// Score scaled to `[0, 1]` (see [`scale_score`]), `[B]`.
    pub score: Tensor<1>,
    /// AI flag 0/1, `[B]`.
    pub ai: Tensor<1>,
    /// Sanity class (`0..SANITY_CLASSES`), `[B]`.
    pub sanity: Tensor<1, Int>,
    /// Multi-hot tags `[B, tag_vocab]`; `None` leaves the tag task out of this batch.
    pub tags: Option<Tensor<2>>,
    /// Per-sample masks of labels that are present.
    pub masks: TaskMasks,
}

/// The labels of one image, as a data pipeline has them; `None` marks a missing label.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Label {
    /// Target score in `1..=100`.
    pub score: Option<f32>,
    /// AI-generated flag.
    pub ai: Option<bool>,
    /// Sanity class, `0..SANITY_CLASSES` (general, sensitive, NSFW).
    pub sanity_class: Option<usize>,
    /// Indices of the image's tags in the vocabulary.
    pub tags: Option<Vec<usize>>,
}

impl Targets {
    /// Batches labels into targets: scales scores to `[0, 1]`, maps sanity levels to
    /// classes, builds multi-hot tags over `tag_vocab` (`None`: no tag targets), and masks
    /// missing labels (a mask is only created for a task with a missing label).
    pub fn from_labels(
        labels: &[Label],
        tag_vocab: Option<usize>,
        device: &Device,
    ) -> Result<Self, HeadsError> {
        let batch = labels.len();
        let mask_of = |present: Vec<bool>| -> Option<Tensor<1>> {
            present.iter().any(|p| !p).then(|| {
                let values: Vec<f32> = present.iter().map(|&p| f32::from(u8::from(p))).collect();
                Tensor::from_floats(values.as_slice(), device)
            })
        };

        let mut score = Vec::with_capacity(batch);
        let mut ai = Vec::with_capacity(batch);
        let mut sanity = Vec::with_capacity(batch);
        for label in labels {
            score.push(label.score.map(scale_score).transpose()?.unwrap_or(0.0));
            ai.push(label.ai.map_or(0.0, |a| f32::from(u8::from(a))));
            let class = match label.sanity_class {
                Some(c) if c >= crate::SANITY_CLASSES => return Err(HeadsError::SanityClass(c)),
                c => c.unwrap_or(0),
            };
            sanity.push(class as i64);
        }
        let tags = match tag_vocab {
            None => None,
            Some(vocab) => {
                let mut multi_hot = vec![0.0f32; batch * vocab];
                for (row, label) in labels.iter().enumerate() {
                    for &tag in label.tags.iter().flatten() {
                        if tag >= vocab {
                            return Err(HeadsError::Tags(format!(
                                "tag index {tag} outside the vocabulary of {vocab}"
                            )));
                        }
                        multi_hot[row * vocab + tag] = 1.0;
                    }
                }
                Some(Tensor::<1>::from_floats(multi_hot.as_slice(), device).reshape([batch, vocab]))
            }
        };
        let masks = TaskMasks {
            score: mask_of(labels.iter().map(|l| l.score.is_some()).collect()),
            ai: mask_of(labels.iter().map(|l| l.ai.is_some()).collect()),
            sanity: mask_of(labels.iter().map(|l| l.sanity_class.is_some()).collect()),
            tags: tags
                .as_ref()
                .and_then(|_| mask_of(labels.iter().map(|l| l.tags.is_some()).collect())),
        };
        Ok(Targets {
            score: Tensor::from_floats(score.as_slice(), device),
            ai: Tensor::from_floats(ai.as_slice(), device),
            sanity: Tensor::<1, Int>::from_ints(sanity.as_slice(), device),
            tags,
            masks,
        })
    }
}

/// Per-sample masks, `[B]`, 1 where the label exists and 0 where it is missing; `None`
/// means every label of that task is present. A missing label contributes nothing, and the
/// task's loss is the mean over the present ones.
#[derive(Debug, Clone, Default)]
pub struct TaskMasks {
    /// Score mask.
    pub score: Option<Tensor<1>>,
    /// AI-flag mask.
    pub ai: Option<Tensor<1>>,
    /// Sanity mask.
    pub sanity: Option<Tensor<1>>,
    /// Tags mask.
    pub tags: Option<Tensor<1>>,
}

/// Raw (unweighted) loss of each task, each a one-element tensor.
#[derive(Debug, Clone)]
pub struct TaskLosses {
    /// Score regression loss.
    pub score: Tensor<1>,
    /// AI binary cross-entropy.
    pub ai: Tensor<1>,
    /// Sanity cross-entropy.
    pub sanity: Tensor<1>,
    /// Tags binary cross-entropy, mean over labels; `None` when not computed.
    pub tags: Option<Tensor<1>>,
}

impl TaskLosses {
    /// The loss of a task, if it was computed.
    pub fn get(&self, task: Task) -> Option<&Tensor<1>> {
        match task {
            Task::Score => Some(&self.score),
            Task::Ai => Some(&self.ai),
            Task::Sanity => Some(&self.sanity),
            Task::Tags => self.tags.as_ref(),
        }
    }
}

/// The combined loss with its parts.
#[derive(Debug, Clone)]
pub struct LossOutput {
    /// What to call `backward` on, one element.
    pub total: Tensor<1>,
    /// Raw per-task losses.
    pub per_task: TaskLosses,
    /// `σ_i = exp(s_i / 2)` for every task in [`Task::ALL`] order (detached), in
    /// uncertainty mode; `None` with fixed weights.
    pub sigmas: Option<Tensor<1>>,
}

/// Combines the task losses. Holds the learned log-variances as a module parameter, so
/// they are optimised with the model and saved in its checkpoints.
#[derive(Module, Debug)]
pub struct MultiTaskLoss {
    /// `s_i = log σ_i²`, `[4]`, in [`Task::ALL`] order. Present (and saved) in fixed mode
    /// too, where it is unused, so that both modes share one record layout.
    log_vars: Param<Tensor<1>>,
    #[module(skip)]
    weighting: LossWeighting,
    #[module(skip)]
    score_loss: RegressionLoss,
}

impl MultiTaskLoss {
    /// Raw per-task losses. `tag_logits` and `targets.tags` must both be present for the
    /// tag loss to be computed.
    pub fn task_losses(
        &self,
        score: Tensor<1>,
        ai_logit: Tensor<1>,
        sanity_logits: Tensor<2>,
        tag_logits: Option<Tensor<2>>,
        targets: &Targets,
    ) -> Result<TaskLosses, HeadsError> {
        let batch = score.dims()[0];
        let expect = |what, dims: Vec<usize>, want: &[usize]| {
            crate::metadata::check_shape(what, &dims, want)
        };
        expect("score target", targets.score.dims().to_vec(), &[batch])?;
        expect("ai target", targets.ai.dims().to_vec(), &[batch])?;
        expect("sanity target", targets.sanity.dims().to_vec(), &[batch])?;
        for (what, mask) in [
            ("score mask", &targets.masks.score),
            ("ai mask", &targets.masks.ai),
            ("sanity mask", &targets.masks.sanity),
            ("tags mask", &targets.masks.tags),
        ] {
            if let Some(m) = mask {
                expect(what, m.dims().to_vec(), &[batch])?;
            }
        }

        let residual = score - targets.score.clone();
        let score_per_sample = match self.score_loss {
            RegressionLoss::Mse => residual.powi_scalar(2),
            RegressionLoss::Mae => residual.abs(),
            RegressionLoss::Huber { delta } => huber(residual, delta),
        };
        let sanity_per_sample = log_softmax(sanity_logits, 1)
            .mul(targets.sanity.clone().one_hot::<2>(SANITY_CLASSES).float())
            .sum_dim(1)
            .neg()
            .reshape([batch]);
        let tags = match (tag_logits, &targets.tags) {
            (Some(logits), Some(t)) => {
                expect("tags target", t.dims().to_vec(), &logits.dims())?;
                let per_sample = bce_with_logits(logits, t.clone()).mean_dim(1).reshape([batch]);
                Some(masked_mean(per_sample, targets.masks.tags.clone()))
            }
            _ => None,
        };
        Ok(TaskLosses {
            score: masked_mean(score_per_sample, targets.masks.score.clone()),
            ai: masked_mean(
                bce_with_logits(ai_logit, targets.ai.clone()),
                targets.masks.ai.clone(),
            ),
            sanity: masked_mean(sanity_per_sample, targets.masks.sanity.clone()),
            tags,
        })
    }

    /// Weighted sum of the raw losses (tasks absent from `losses` are left out).
    pub fn combine(&self, per_task: TaskLosses) -> LossOutput {
        let present = Task::ALL.into_iter().filter_map(|t| per_task.get(t).map(|l| (t, l.clone())));
        let (total, sigmas) = match &self.weighting {
            LossWeighting::Uncertainty => {
                let s = self.log_vars.val();
                let total = present
                    .map(|(task, loss)| {
                        let s_i = s.clone().narrow(0, task.index(), 1);
                        let precision = s_i.clone().neg().exp();
                        let data = if task.is_regression() {
                            precision.mul(loss).mul_scalar(0.5)
                        } else {
                            precision.mul(loss)
                        };
                        data + s_i.mul_scalar(0.5)
                    })
                    .reduce(|a, b| a + b);
                (total, Some(s.detach().mul_scalar(0.5).exp()))
            }
            LossWeighting::Fixed { score, ai, sanity, tags } => {
                let weight = |t: Task| match t {
                    Task::Score => *score,
                    Task::Ai => *ai,
                    Task::Sanity => *sanity,
                    Task::Tags => *tags,
                };
                let total =
                    present.map(|(task, loss)| loss.mul_scalar(weight(task))).reduce(|a, b| a + b);
                (total, None)
            }
        };
        // Score, AI and sanity are always present, so the sum is never empty.
        let total = total.unwrap_or_else(|| per_task.score.zeros_like());
        LossOutput { total, per_task, sigmas }
    }

    /// Replaces the log-variances (e.g. to start from a prior), keeping the parameter's id.
    pub fn with_log_vars(mut self, log_vars: Tensor<1>) -> Result<Self, HeadsError> {
        crate::metadata::check_shape("log_vars", &log_vars.dims(), &[Task::ALL.len()])?;
        let device = self.log_vars.val().device();
        self.log_vars = self.log_vars.map(|_| log_vars.to_device(&device));
        Ok(self)
    }

    /// The learned `s_i = log σ_i²`, `[4]` in [`Task::ALL`] order.
    pub fn log_vars(&self) -> Tensor<1> {
        self.log_vars.val()
    }

    /// Current `σ_i` of each task in [`Task::ALL`] order, for logging; `None` with fixed
    /// weights. Reads the values back from the device.
    pub fn sigmas(&self) -> Option<[f32; 4]> {
        if !matches!(self.weighting, LossWeighting::Uncertainty) {
            return None;
        }
        let values = self.log_vars.val().detach().mul_scalar(0.5).exp().into_data();
        let values = values.try_to_vec::<f32>().ok()?;
        values.try_into().ok()
    }

    /// The weighting mode.
    pub fn weighting(&self) -> &LossWeighting {
        &self.weighting
    }
}

/// Numerically stable binary cross-entropy on logits, element-wise:
/// `max(x, 0) − x·y + log(1 + e^{−|x|})`. Accepts soft targets.
pub fn bce_with_logits<const D: usize>(logits: Tensor<D>, targets: Tensor<D>) -> Tensor<D> {
    logits.clone().clamp_min(0.0) - logits.clone() * targets + logits.abs().neg().exp().log1p()
}

fn huber(residual: Tensor<1>, delta: f64) -> Tensor<1> {
    let abs = residual.abs();
    let quadratic = abs.clone().powi_scalar(2).mul_scalar(0.5);
    let linear = abs.clone().sub_scalar(0.5 * delta).mul_scalar(delta);
    quadratic.mask_where(abs.greater_elem(delta), linear)
}

fn masked_mean(per_sample: Tensor<1>, mask: Option<Tensor<1>>) -> Tensor<1> {
    match mask {
        None => per_sample.mean(),
        Some(mask) => (per_sample * mask.clone()).sum().div(mask.sum().clamp_min(1.0)),
    }
}
