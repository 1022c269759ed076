//! A scoring model's tensors under PyTorch names, to export to and import from a plain
//! PyTorch re-implementation (the training parity harness, `scripts/parity/train_parity.py`).
//!
//! - Backbone: `backbone.` + torchvision's state-dict key (`backbone.conv1.weight`,
//!   `backbone.layer1.0.bn1.running_var`), the same map pretrained weights load through.
//! - Heads: the Rust module path (`head.score.layers.0.weight`,
//!   `head.fusion.blocks.0.attn.query.bias`, `head.loss.log_vars`), with PyTorch's leaf names
//!   for layer norms (`gamma`/`beta` → `weight`/`bias`) and every linear weight transposed to
//!   PyTorch's `[out, in]` (burn stores `[in, out]`).

use std::collections::BTreeMap;

use animescore_backbones::{AnyBackbone, TorchvisionNames};
use burn::module::Module;
use burn::store::{ModuleSnapshot, bridge};
use burn::tensor::TensorData;

use crate::error::HeadsError;
use crate::model::ScoringModel;

/// One tensor under its PyTorch name, in PyTorch's layout, as `f32`.
#[derive(Debug, Clone, PartialEq)]
pub struct TorchTensor {
    /// PyTorch state-dict key.
    pub key: String,
    /// Shape in PyTorch's layout.
    pub shape: Vec<usize>,
    /// Row-major values.
    pub values: Vec<f32>,
}

/// The PyTorch key of one of our tensor paths, and whether its layout is transposed there
/// (linear weights). `None`: the path has no PyTorch counterpart.
fn torch_key(path: &str, rank: usize, backbone: &impl TorchvisionNames) -> Option<(String, bool)> {
    if let Some(rest) = path.strip_prefix("backbone.") {
        return backbone.torchvision_key(rest).map(|k| (format!("backbone.{k}"), false));
    }
    let (parent, leaf) = path.rsplit_once('.')?;
    if !path.starts_with("head.") {
        return None;
    }
    Some(match leaf {
        "gamma" => (format!("{parent}.weight"), false),
        "beta" => (format!("{parent}.bias"), false),
        "weight" if rank == 2 => (path.to_string(), true),
        _ => (path.to_string(), false),
    })
}

/// `[rows, cols]` row-major → `[cols, rows]`.
fn transpose(values: &[f32], rows: usize, cols: usize) -> Vec<f32> {
    let mut out = vec![0.0; values.len()];
    for r in 0..rows {
        for c in 0..cols {
            out[c * rows + r] = values[r * cols + c];
        }
    }
    out
}

fn state_error(reason: impl Into<String>) -> HeadsError {
    HeadsError::TorchState(reason.into())
}

impl ScoringModel<AnyBackbone> {
    /// Every parameter and batch-norm running statistic under its PyTorch name, in module
    /// order. Running statistics are synchronised first (burn's module visitors otherwise see
    /// them one training step late).
    pub fn torch_state(&self) -> Result<Vec<TorchTensor>, HeadsError> {
        let model = self.valid();
        model
            .collect(None, None, true)
            .into_iter()
            .map(|snapshot| {
                let shape = snapshot.shape.to_vec();
                let (key, transposed) = torch_key(&snapshot.name, shape.len(), &model.backbone)
                    .ok_or_else(|| {
                        state_error(format!("`{}` has no PyTorch name", snapshot.name))
                    })?;
                let name = snapshot.name.clone();
                let data = bridge::into_data(snapshot)
                    .map_err(|e| state_error(format!("reading `{name}`: {e}")))?;
                let values = data
                    .convert::<f32>()
                    .try_to_vec::<f32>()
                    .map_err(|e| state_error(format!("reading `{name}`: {e:?}")))?;
                Ok(if transposed {
                    let values = transpose(&values, shape[0], shape[1]);
                    TorchTensor { key, shape: vec![shape[1], shape[0]], values }
                } else {
                    TorchTensor { key, shape, values }
                })
            })
            .collect()
    }

    /// Replaces every parameter and running statistic with the tensor of its PyTorch name
    /// (the inverse of [`torch_state`](Self::torch_state)). All or nothing: a missing key, a
    /// wrong shape or a tensor the model has no place for is an error listing them all.
    pub fn load_torch_state(
        self,
        tensors: &BTreeMap<String, TorchTensor>,
    ) -> Result<Self, HeadsError> {
        let mut unused: BTreeMap<&str, ()> = tensors.keys().map(|k| (k.as_str(), ())).collect();
        let mut problems = Vec::new();
        let mut snapshots = Vec::new();
        for snapshot in self.collect(None, None, true) {
            let shape = snapshot.shape.to_vec();
            let Some((key, transposed)) = torch_key(&snapshot.name, shape.len(), &self.backbone)
            else {
                problems.push(format!("`{}` has no PyTorch name", snapshot.name));
                continue;
            };
            let Some(t) = tensors.get(&key) else {
                problems.push(format!("missing `{key}`"));
                continue;
            };
            unused.remove(key.as_str());
            let expected: Vec<usize> =
                if transposed { vec![shape[1], shape[0]] } else { shape.clone() };
            if t.shape != expected || t.values.len() != expected.iter().product::<usize>() {
                problems.push(format!("`{key}`: shape {:?}, model {expected:?}", t.shape));
                continue;
            }
            let values = if transposed {
                transpose(&t.values, shape[1], shape[0])
            } else {
                t.values.clone()
            };
            snapshots.push(bridge::from_data(
                TensorData::new(values, shape),
                snapshot.name.clone(),
                None,
            ));
        }
        problems.extend(unused.keys().map(|k| format!("unexpected `{k}`")));
        if !problems.is_empty() {
            return Err(state_error(problems.join("; ")));
        }
        let mut model = self;
        let result = model.apply(snapshots, None, None, true);
        if !result.errors.is_empty() || !result.missing.is_empty() || !result.unused.is_empty() {
            return Err(state_error(format!(
                "applying tensors failed: errors {:?}, missing {:?}, unused {:?}",
                result.errors, result.missing, result.unused
            )));
        }
        Ok(model)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transpose_swaps_rows_and_columns() {
        assert_eq!(
            transpose(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0], 2, 3),
            [1.0, 4.0, 2.0, 5.0, 3.0, 6.0]
        );
    }
}
