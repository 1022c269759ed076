//! Training parity with PyTorch: what this crate and `scripts/parity/train_parity.py` exchange.
//!
//! - `record.json` ([`ParityRecord`]): the model and optimiser settings, and per optimiser
//!   step the learning rate, the samples of its batch and the losses (ours, or PyTorch's in a
//!   reference fixture); per epoch the validation numbers of a whole short training.
//! - `*.safetensors` ([`write_tensors`], [`read_tensors`]): weights under PyTorch names
//!   ([`ScoringModel::torch_state`]); the samples as the model sees them
//!   ([`sample_tensors`]): preprocessed images and raw labels, per split.
//!
//! [`ParityBatches`] rebuilds a step's batch from those samples exactly as the loader built
//! it ([`Targets::from_labels`] on the same labels), for replays without a dataset.

use std::collections::BTreeMap;
use std::path::Path;

use animescore_backbones::BackboneConfig;
use animescore_fs::{read_regular, write_atomic};
use animescore_heads::{HeadsConfig, Label, LossOutput, ModelConfig, Targets, TorchTensor};
use burn::tensor::{Device, Tensor, TensorData};
use safetensors::tensor::{Dtype, SafeTensors, TensorView};
use serde::{Deserialize, Serialize};

use crate::error::{Result, TrainingError};
use crate::schedule::LrSchedule;

/// Largest `record.json` read.
const MAX_RECORD_BYTES: u64 = 64 << 20;
/// Largest safetensors file read.
const MAX_TENSOR_BYTES: u64 = 4 << 30;

/// The settings both implementations train with.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ParitySettings {
    /// Backbone and heads (widths, variant, embedding, tag vocabulary, loss).
    pub model: ModelConfig,
    /// Input side in pixels.
    pub image_size: usize,
    /// Images per batch.
    pub batch_size: usize,
    /// Seed of the initialisation and the shuffles.
    pub seed: u64,
    /// Peak learning rate.
    pub lr: f64,
    /// Floor of the cosine decay.
    pub min_lr: f64,
    /// Steps of linear warm-up.
    pub warmup_steps: usize,
    /// Steps of the whole schedule.
    pub total_steps: usize,
    /// AdamW's decoupled weight decay.
    pub weight_decay: f64,
    /// AdamW's β₁.
    pub beta1: f64,
    /// AdamW's β₂.
    pub beta2: f64,
    /// AdamW's ε.
    pub epsilon: f64,
}

impl ParitySettings {
    /// The learning-rate schedule.
    pub fn schedule(&self) -> LrSchedule {
        LrSchedule {
            peak: self.lr,
            min: self.min_lr,
            warmup_steps: self.warmup_steps,
            total_steps: self.total_steps,
        }
    }

    /// The backbone's configuration.
    pub fn backbone(&self) -> &BackboneConfig {
        &self.model.backbone
    }

    /// The heads' configuration.
    pub fn heads(&self) -> &HeadsConfig {
        &self.model.heads
    }
}

/// Raw and weighted losses of one step.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ParityLosses {
    /// The weighted total (what is minimised).
    pub total: f64,
    /// Raw score loss.
    pub score: f64,
    /// Raw AI loss.
    pub ai: f64,
    /// Raw sanity loss.
    pub sanity: f64,
    /// Raw tag loss (models with a tag head).
    pub tags: Option<f64>,
}

impl ParityLosses {
    /// Reads a step's losses back from the device.
    pub fn read(loss: &LossOutput) -> Result<Self> {
        let scalar = |t: &Tensor<1>| -> Result<f64> {
            t.clone()
                .into_data()
                .convert::<f32>()
                .try_to_vec::<f32>()
                .ok()
                .and_then(|v| v.first().copied())
                .map(f64::from)
                .ok_or_else(|| TrainingError::Device("reading a loss back".into()))
        };
        let p = &loss.per_task;
        Ok(Self {
            total: scalar(&loss.total)?,
            score: scalar(&p.score)?,
            ai: scalar(&p.ai)?,
            sanity: scalar(&p.sanity)?,
            tags: p.tags.as_ref().map(scalar).transpose()?,
        })
    }
}

/// One optimiser step.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ParityStep {
    /// Global step, 0-based.
    pub step: usize,
    /// Learning rate of the step.
    pub lr: f64,
    /// Indices of the batch's samples in the training split's sample tensors.
    pub samples: Vec<usize>,
    /// Losses of the step's forward pass (weights before the update).
    pub losses: ParityLosses,
}

/// Validation numbers after one epoch of a whole short training.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ParityEpoch {
    /// Epoch, 1-based.
    pub epoch: usize,
    /// The validation split's raw score loss (the default monitor).
    pub val_score_loss: f64,
    /// Spearman correlation of predicted and true scores on the validation split.
    pub val_srcc: Option<f64>,
}

/// Everything one side recorded.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ParityRecord {
    /// Settings.
    pub settings: ParitySettings,
    /// Steps, in order.
    pub steps: Vec<ParityStep>,
    /// Epochs of a whole short training (empty in step mode).
    #[serde(default)]
    pub epochs: Vec<ParityEpoch>,
    /// Best epoch by the validation score loss (whole training only).
    #[serde(default)]
    pub best_epoch: Option<usize>,
    /// Test-split SRCC of the best epoch's weights (whole training only).
    #[serde(default)]
    pub test_srcc: Option<f64>,
}

impl ParityRecord {
    /// Reads a record.
    pub fn read(path: &Path) -> Result<Self> {
        let bytes = read_regular(path, MAX_RECORD_BYTES).map_err(|e| TrainingError::io(path, e))?;
        serde_json::from_slice(&bytes).map_err(|e| TrainingError::format(path, e))
    }

    /// Writes a record (atomically).
    pub fn write(&self, path: &Path) -> Result<()> {
        let text = serde_json::to_vec_pretty(self).map_err(|e| TrainingError::format(path, e))?;
        write_atomic(path, &text).map_err(|e| TrainingError::io(path, e))
    }
}

/// Writes `f32` tensors as a safetensors file.
pub fn write_tensors(path: &Path, tensors: &[TorchTensor]) -> Result<()> {
    let bytes: Vec<Vec<u8>> =
        tensors.iter().map(|t| t.values.iter().flat_map(|v| v.to_le_bytes()).collect()).collect();
    let views = tensors
        .iter()
        .zip(&bytes)
        .map(|(t, b)| {
            TensorView::new(Dtype::F32, t.shape.clone(), b)
                .map(|v| (t.key.clone(), v))
                .map_err(|e| TrainingError::format(path, format!("tensor `{}`: {e}", t.key)))
        })
        .collect::<Result<Vec<_>>>()?;
    let data = safetensors::serialize(views, None).map_err(|e| TrainingError::format(path, e))?;
    write_atomic(path, &data).map_err(|e| TrainingError::io(path, e))
}

/// Reads every tensor of a safetensors file as `f32` (f32 files only).
pub fn read_tensors(path: &Path) -> Result<BTreeMap<String, TorchTensor>> {
    let bytes = read_regular(path, MAX_TENSOR_BYTES).map_err(|e| TrainingError::io(path, e))?;
    let file = SafeTensors::deserialize(&bytes).map_err(|e| TrainingError::format(path, e))?;
    file.tensors()
        .into_iter()
        .map(|(key, view)| {
            if view.dtype() != Dtype::F32 {
                return Err(TrainingError::format(
                    path,
                    format!("tensor `{key}` is {:?}, expected F32", view.dtype()),
                ));
            }
            let values = view
                .data()
                .chunks_exact(4)
                .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                .collect();
            Ok((key.clone(), TorchTensor { key, shape: view.shape().to_vec(), values }))
        })
        .collect()
}

/// The tensors of one split's samples under `{split}.` keys: `images` `[n, 3, s, s]`
/// (preprocessed, as the model sees them), and the raw labels: `score` (1..100), `ai`,
/// `sanity` (class), `tags` (multi-hot over `tag_vocab`), each with a `*_present` 0/1 vector.
/// Missing values are 0.
pub fn sample_tensors(
    split: &str,
    images: Vec<f32>,
    image_size: usize,
    labels: &[Label],
    tag_vocab: Option<usize>,
) -> Vec<TorchTensor> {
    let n = labels.len();
    let vector = |name: &str, values: Vec<f32>| TorchTensor {
        key: format!("{split}.{name}"),
        shape: vec![values.len()],
        values,
    };
    let present = |p: &dyn Fn(&Label) -> bool| -> Vec<f32> {
        labels.iter().map(|l| f32::from(u8::from(p(l)))).collect()
    };
    let mut out = vec![
        TorchTensor {
            key: format!("{split}.images"),
            shape: vec![n, 3, image_size, image_size],
            values: images,
        },
        vector("score", labels.iter().map(|l| l.score.unwrap_or(0.0)).collect()),
        vector("score_present", present(&|l| l.score.is_some())),
        vector("ai", labels.iter().map(|l| l.ai.map_or(0.0, |a| f32::from(u8::from(a)))).collect()),
        vector("ai_present", present(&|l| l.ai.is_some())),
        vector("sanity", labels.iter().map(|l| l.sanity_class.unwrap_or(0) as f32).collect()),
        vector("sanity_present", present(&|l| l.sanity_class.is_some())),
    ];
    if let Some(k) = tag_vocab {
        let mut multi_hot = vec![0.0f32; n * k];
        for (row, l) in labels.iter().enumerate() {
            for &t in l.tags.iter().flatten().filter(|&&t| t < k) {
                multi_hot[row * k + t] = 1.0;
            }
        }
        out.push(TorchTensor {
            key: format!("{split}.tags"),
            shape: vec![n, k],
            values: multi_hot,
        });
        out.push(vector("tags_present", present(&|l| l.tags.is_some())));
    }
    out
}

/// One split's samples read back from [`sample_tensors`]' keys.
#[derive(Debug, Clone)]
pub struct ParityBatches {
    images: TorchTensor,
    labels: Vec<Label>,
    tag_vocab: Option<usize>,
}

impl ParityBatches {
    /// The `split`'s samples in `tensors` (read from `path`, named in errors).
    pub fn from_tensors(
        path: &Path,
        tensors: &BTreeMap<String, TorchTensor>,
        split: &str,
    ) -> Result<Self> {
        let get = |name: &str| {
            let key = format!("{split}.{name}");
            tensors
                .get(&key)
                .ok_or_else(|| TrainingError::format(path, format!("tensor `{key}` is missing")))
        };
        let images = get("images")?.clone();
        let n = images.shape.first().copied().unwrap_or(0);
        if images.shape.len() != 4 || images.values.len() != images.shape.iter().product::<usize>()
        {
            return Err(TrainingError::format(
                path,
                format!("tensor `{split}.images` must be [n, 3, s, s], is {:?}", images.shape),
            ));
        }
        let column = |name: &str| -> Result<Vec<f32>> {
            let t = get(name)?;
            if t.values.len() != n {
                return Err(TrainingError::format(
                    path,
                    format!("tensor `{split}.{name}` has {} values for {n} images", t.values.len()),
                ));
            }
            Ok(t.values.clone())
        };
        let (score, score_p) = (column("score")?, column("score_present")?);
        let (ai, ai_p) = (column("ai")?, column("ai_present")?);
        let (sanity, sanity_p) = (column("sanity")?, column("sanity_present")?);
        let tags = match tensors.get(&format!("{split}.tags")) {
            Some(t) => Some((t.clone(), column("tags_present")?)),
            None => None,
        };
        let tag_vocab = tags.as_ref().and_then(|(t, _)| t.shape.get(1).copied());
        let labels = (0..n)
            .map(|i| Label {
                score: (score_p[i] > 0.5).then_some(score[i]),
                ai: (ai_p[i] > 0.5).then_some(ai[i] > 0.5),
                sanity_class: (sanity_p[i] > 0.5).then_some(sanity[i] as usize),
                tags: tags.as_ref().and_then(|(t, p)| {
                    let k = tag_vocab.unwrap_or(0);
                    (p[i] > 0.5).then(|| (0..k).filter(|&j| t.values[i * k + j] > 0.5).collect())
                }),
            })
            .collect();
        Ok(Self { images, labels, tag_vocab })
    }

    /// Number of samples.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// Whether there is no sample.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// The images `[B, 3, s, s]` and targets of the samples at `indices`, built as the
    /// loader builds a batch.
    pub fn batch(&self, indices: &[usize], device: &Device) -> Result<(Tensor<4>, Targets)> {
        let dims = &self.images.shape;
        let per_image: usize = dims.iter().skip(1).product();
        let mut pixels = Vec::with_capacity(indices.len() * per_image);
        let mut labels = Vec::with_capacity(indices.len());
        for &i in indices {
            let label = self.labels.get(i).ok_or_else(|| {
                TrainingError::NotEnoughData(format!("sample {i} of {}", self.labels.len()))
            })?;
            pixels.extend_from_slice(&self.images.values[i * per_image..(i + 1) * per_image]);
            labels.push(label.clone());
        }
        let shape = [indices.len(), dims[1], dims[2], dims[3]];
        let images = Tensor::<4>::from_data(TensorData::new(pixels, shape), device);
        let targets = Targets::from_labels(&labels, self.tag_vocab, device)?;
        Ok((images, targets))
    }
}
