//! Pretrained weights from files the user supplies: torchvision `.pth` state dicts, and
//! `.safetensors` files in torchvision's naming (timm/Hugging Face ResNets use it too) or in
//! timm's EfficientNet naming (renamed here, see [`timm_efficientnet_to_torchvision`]).
//!
//! Kept apart from the architecture: the networks name their parameters the Rust way
//! (`stem.conv.weight`, `layers.0.1.convs.0.bn.gamma`) and this module owns the one fixed
//! mapping to torchvision's names (`conv1.weight`, `layer1.1.bn1.weight`). Loading is
//! all-or-nothing: every parameter of the network must be in the file with the right shape, and
//! every non-classifier tensor of the file must be used, or a [`BackboneError::Weights`] lists
//! what is wrong. Where the file comes from (a path, the weights folder, a torchvision name):
//! [`crate::weights_source`].

use std::collections::BTreeMap;
use std::path::Path;

use burn::prelude::*;
use burn::store::{ModuleSnapshot, ModuleStore, PytorchStore, SafetensorsStore, bridge};

use crate::config::AnyBackbone;
use crate::efficientnet::EfficientNet;
use crate::error::BackboneError;
use crate::resnet::ResNet;

/// A network whose parameters have torchvision names.
pub trait TorchvisionNames {
    /// torchvision's state-dict key for one of our parameter paths (`None`: no counterpart).
    fn torchvision_key(&self, path: &str) -> Option<String>;
}

/// PyTorch batch-norm names for burn's.
fn bn_leaf(leaf: &str) -> &str {
    match leaf {
        "gamma" => "weight",
        "beta" => "bias",
        other => other,
    }
}

/// Maps the tail of a [`crate::ConvBnAct`] path (`conv.weight`, `bn.gamma`, …) under the
/// torchvision names of its conv and its BN.
fn conv_bn_key(rest: &[&str], conv: &str, bn: &str) -> Option<String> {
    match rest {
        ["conv", leaf] => Some(format!("{conv}.{leaf}")),
        ["bn", leaf] => Some(format!("{bn}.{}", bn_leaf(leaf))),
        _ => None,
    }
}

fn plus_one(index: &str) -> Option<usize> {
    index.parse::<usize>().ok().map(|i| i + 1)
}

impl TorchvisionNames for ResNet {
    fn torchvision_key(&self, path: &str) -> Option<String> {
        let tokens: Vec<&str> = path.split('.').collect();
        match tokens.as_slice() {
            ["stem", rest @ ..] => conv_bn_key(rest, "conv1", "bn1"),
            ["layers", stage, block, tail @ ..] => {
                let prefix = format!("layer{}.{block}", plus_one(stage)?);
                match tail {
                    ["convs", k, rest @ ..] => {
                        let k = plus_one(k)?;
                        conv_bn_key(rest, &format!("{prefix}.conv{k}"), &format!("{prefix}.bn{k}"))
                    }
                    ["downsample", rest @ ..] => conv_bn_key(
                        rest,
                        &format!("{prefix}.downsample.0"),
                        &format!("{prefix}.downsample.1"),
                    ),
                    _ => None,
                }
            }
            _ => None,
        }
    }
}

impl TorchvisionNames for EfficientNet {
    fn torchvision_key(&self, path: &str) -> Option<String> {
        let tokens: Vec<&str> = path.split('.').collect();
        let piece = |rest: &[&str], prefix: String| {
            conv_bn_key(rest, &format!("{prefix}.0"), &format!("{prefix}.1"))
        };
        match tokens.as_slice() {
            ["stem", rest @ ..] => piece(rest, "features.0".into()),
            ["head", rest @ ..] => piece(rest, format!("features.{}", self.stages.len() + 1)),
            ["stages", stage, block, "block", k, tail @ ..] => {
                let prefix = format!("features.{}.{block}.block.{k}", plus_one(stage)?);
                match tail {
                    [fc @ ("fc1" | "fc2"), leaf] => Some(format!("{prefix}.{fc}.{leaf}")),
                    rest => piece(rest, prefix),
                }
            }
            _ => None,
        }
    }
}

impl TorchvisionNames for AnyBackbone {
    fn torchvision_key(&self, path: &str) -> Option<String> {
        match self {
            Self::ResNet(m) => m.torchvision_key(path),
            Self::EfficientNet(m) => m.torchvision_key(path),
        }
    }
}

/// Keys of a torchvision state dict that are not backbone parameters: the classifier and BN's
/// batch counter (which burn does not keep).
pub fn is_ignored_key(key: &str) -> bool {
    key.starts_with("fc.") || key.starts_with("classifier.") || key.ends_with("num_batches_tracked")
}

/// The torchvision name and shape of every parameter of `module`, in module order, paired with
/// our path: `(our_path, torchvision_key, shape)`. Errors if a path has no torchvision name.
pub fn torchvision_state<M>(module: &M) -> Result<Vec<(String, String, Vec<usize>)>, BackboneError>
where
    M: Module + TorchvisionNames,
{
    module
        .collect(None, None, true)
        .into_iter()
        .map(|t| match module.torchvision_key(&t.name) {
            Some(key) => Ok((t.name.clone(), key, t.shape.to_vec())),
            None => Err(BackboneError::InvalidConfig(format!(
                "parameter `{}` has no torchvision name",
                t.name
            ))),
        })
        .collect()
}

/// Loads a weights file into `module`. The format follows the extension: `.pth`/`.pt`/`.bin`
/// (PyTorch pickle; a checkpoint's `state_dict`/`model` entry is used when present) or
/// `.safetensors`.
pub fn load_weights<M>(mut module: M, path: impl AsRef<Path>) -> Result<M, BackboneError>
where
    M: Module + TorchvisionNames,
{
    let path = path.as_ref();
    let source = timm_efficientnet_to_torchvision(read_tensors(path)?);
    let expected = torchvision_state(&module)?;

    let mut by_key: BTreeMap<&str, &burn::store::burn_pack::Tensor> =
        source.iter().filter(|(k, _)| !is_ignored_key(k)).map(|(k, t)| (k.as_str(), t)).collect();
    let mut missing = Vec::new();
    let mut mismatched = Vec::new();
    let mut renamed = Vec::with_capacity(expected.len());
    for (ours, key, shape) in &expected {
        match by_key.remove(key.as_str()) {
            None => missing.push(key.clone()),
            Some(t) if t.shape.as_slice() != shape.as_slice() => {
                mismatched.push(format!("{key}: file {:?}, model {:?}", t.shape.as_slice(), shape))
            }
            Some(t) if !t.dtype.is_float() => {
                mismatched.push(format!("{key}: dtype {:?} is not a float type", t.dtype))
            }
            Some(t) => {
                let mut t = t.clone();
                t.name = ours.clone();
                renamed.push(t);
            }
        }
    }
    let unexpected: Vec<String> = by_key.keys().map(|k| k.to_string()).collect();
    if !missing.is_empty() || !unexpected.is_empty() || !mismatched.is_empty() {
        return Err(BackboneError::Weights {
            path: path.to_path_buf(),
            missing,
            unexpected,
            mismatched,
        });
    }

    // Half-precision files load as f32 so the network keeps one float type.
    let renamed = renamed
        .into_iter()
        .map(|t| {
            if t.dtype == burn::tensor::DType::F32 {
                return Ok(t);
            }
            let name = t.name.clone();
            let data = bridge::into_data(t).map_err(|e| file_error(path, e))?;
            Ok(bridge::from_data(data.convert::<f32>(), name, None))
        })
        .collect::<Result<Vec<_>, BackboneError>>()?;

    let result = module.apply(renamed, None, None, true);
    if !result.errors.is_empty() || !result.missing.is_empty() || !result.unused.is_empty() {
        return Err(BackboneError::File {
            path: path.to_path_buf(),
            reason: format!(
                "applying weights failed: errors {:?}, missing {:?}, unused {:?}",
                result.errors, result.missing, result.unused
            ),
        });
    }
    tracing::info!(path = %path.display(), tensors = result.applied.len(), "loaded weights");
    Ok(module)
}

/// Renames timm's EfficientNet layout (`conv_stem`, `blocks.i.j.conv_dw`, `se.conv_reduce`,
/// `conv_head`, …) to torchvision's (`features.*`); other files are returned unchanged. timm's
/// ResNets already use torchvision's names. Only timm's PyTorch-native `efficientnet_b*` models
/// have torchvision's architecture; the `tf_efficientnet_*` ports use TensorFlow's asymmetric
/// "same" padding and load (same shapes) but do not compute the same function.
pub fn timm_efficientnet_to_torchvision<T>(tensors: BTreeMap<String, T>) -> BTreeMap<String, T> {
    if !tensors.contains_key("conv_stem.weight") {
        return tensors;
    }
    let stages = tensors
        .keys()
        .filter_map(|k| k.strip_prefix("blocks.")?.split('.').next()?.parse::<usize>().ok())
        .max()
        .map_or(0, |s| s + 1);
    // Blocks with a `conv_pwl` are inverted residuals (expand, depthwise, SE, project); the others
    // are timm's depthwise-separable blocks (depthwise, SE, project), torchvision's MBConv
    // without the expansion conv.
    let inverted: std::collections::BTreeSet<String> = tensors
        .keys()
        .filter_map(|k| k.strip_suffix(".conv_pwl.weight").map(str::to_string))
        .collect();
    let rename = |key: &str| -> String {
        let tokens: Vec<&str> = key.split('.').collect();
        let head = format!("features.{}", stages + 1);
        match tokens.as_slice() {
            ["conv_stem", leaf] => format!("features.0.0.{leaf}"),
            ["bn1", leaf] => format!("features.0.1.{leaf}"),
            ["conv_head", leaf] => format!("{head}.0.{leaf}"),
            ["bn2", leaf] => format!("{head}.1.{leaf}"),
            ["blocks", i, j, rest @ ..] => {
                let Some(stage) = plus_one(i) else { return key.to_string() };
                let prefix = format!("features.{stage}.{j}.block");
                let layer = if inverted.contains(&format!("blocks.{i}.{j}")) {
                    match rest {
                        ["conv_pw", leaf] => Some(format!("0.0.{leaf}")),
                        ["bn1", leaf] => Some(format!("0.1.{leaf}")),
                        ["conv_dw", leaf] => Some(format!("1.0.{leaf}")),
                        ["bn2", leaf] => Some(format!("1.1.{leaf}")),
                        ["se", "conv_reduce", leaf] => Some(format!("2.fc1.{leaf}")),
                        ["se", "conv_expand", leaf] => Some(format!("2.fc2.{leaf}")),
                        ["conv_pwl", leaf] => Some(format!("3.0.{leaf}")),
                        ["bn3", leaf] => Some(format!("3.1.{leaf}")),
                        _ => None,
                    }
                } else {
                    match rest {
                        ["conv_dw", leaf] => Some(format!("0.0.{leaf}")),
                        ["bn1", leaf] => Some(format!("0.1.{leaf}")),
                        ["se", "conv_reduce", leaf] => Some(format!("1.fc1.{leaf}")),
                        ["se", "conv_expand", leaf] => Some(format!("1.fc2.{leaf}")),
                        ["conv_pw", leaf] => Some(format!("2.0.{leaf}")),
                        ["bn2", leaf] => Some(format!("2.1.{leaf}")),
                        _ => None,
                    }
                };
                // Unknown names stay as they are and are then reported as unexpected.
                layer.map_or_else(|| key.to_string(), |l| format!("{prefix}.{l}"))
            }
            _ => key.to_string(),
        }
    };
    tensors.into_iter().map(|(k, v)| (rename(&k), v)).collect()
}

fn file_error(path: &Path, e: impl std::fmt::Display) -> BackboneError {
    BackboneError::File { path: path.to_path_buf(), reason: e.to_string() }
}

/// All tensors of a weights file, by key.
fn read_tensors(
    path: &Path,
) -> Result<BTreeMap<String, burn::store::burn_pack::Tensor>, BackboneError> {
    if !path.is_file() {
        return Err(file_error(path, "no such file"));
    }
    let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("").to_ascii_lowercase();
    match ext.as_str() {
        "safetensors" => {
            let mut store = SafetensorsStore::from_file(path);
            store.get_all_tensors().cloned().map_err(|e| file_error(path, e))
        }
        "pth" | "pt" | "bin" | "ckpt" => {
            let mut store = PytorchStore::from_file(path);
            let tensors = store.get_all_tensors().cloned().map_err(|e| file_error(path, e))?;
            // Training checkpoints wrap the state dict; torchvision files are the bare dict.
            for wrapper in ["state_dict", "model"] {
                if tensors.keys().all(|k| k.starts_with(&format!("{wrapper}.")))
                    && !tensors.is_empty()
                {
                    let mut store = PytorchStore::from_file(path).with_top_level_key(wrapper);
                    return store.get_all_tensors().cloned().map_err(|e| file_error(path, e));
                }
            }
            Ok(tensors)
        }
        _ => Err(file_error(
            path,
            "unknown weights format (expected .pth, .pt, .bin or .safetensors)",
        )),
    }
}

impl AnyBackbone {
    /// Loads pretrained weights (see [`load_weights`]).
    pub fn load_weights(self, path: impl AsRef<Path>) -> Result<Self, BackboneError> {
        load_weights(self, path)
    }
}
