//! Training precision: `f32`, or `bf16` compute with `f32` master weights.
//!
//! Burn 0.22 has no autocast, no module-level cast and no master copy in its optimisers
//! (AdamW updates in the parameters' dtype, where bf16 rounds small updates away). So the
//! mixed-precision step is built here: the model stays `f32` (the optimiser's master copy);
//! each step casts the backbone's parameters to bf16 *inside* the autodiff graph, runs the
//! backbone on bf16 images, and casts its feature map back to `f32` for the heads and the
//! loss. The cast's backward hands `f32` gradients to the `f32` parameters, so AdamW updates
//! in `f32`, as PyTorch's autocast does. The heads stay `f32`: they are small, and they
//! build tensors (one-hot labels, masks) in the default dtype, which must match their input.
//!
//! Caveats: BatchNorm running statistics are shared between the bf16 view and the master
//! (burn maps them in place), so they are updated in bf16 during an epoch and cast back to
//! `f32` by [`Precision::settle`] before validation and checkpoints. bf16 needs a device
//! that computes in it: CUDA, or flex (correct but slow, for tests); Vulkan has bf16 storage
//! only. No loss scaling is needed for bf16 (f32's exponent range); f16, which would need
//! it, is not offered.

use std::fmt;
use std::str::FromStr;

use animescore_backbones::Backbone;
use animescore_heads::{ModelOutput, ScoringModel};
use burn::module::{Module, ModuleMapper, Param};
use burn::tensor::{Device, FloatDType, Tensor};
use serde::{Deserialize, Serialize};

use crate::device::DeviceSpec;
use crate::error::{Result, RunError};

/// The precision of the training step's backbone computation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Precision {
    /// Everything in `f32`.
    #[default]
    F32,
    /// Backbone forward and backward in bf16, master weights, heads and loss in `f32`.
    Bf16,
}

impl FromStr for Precision {
    type Err = RunError;

    fn from_str(s: &str) -> Result<Self> {
        match s {
            "f32" | "fp32" => Ok(Self::F32),
            "bf16" => Ok(Self::Bf16),
            "f16" | "fp16" => Err(RunError::InvalidConfig(
                "precision f16 is not offered: it needs loss scaling, which burn 0.22 lacks; \
                 use bf16 (CUDA) or f32"
                    .into(),
            )),
            other => Err(RunError::InvalidConfig(format!(
                "unknown precision `{other}` (expected f32 or bf16)"
            ))),
        }
    }
}

impl fmt::Display for Precision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::F32 => "f32",
            Self::Bf16 => "bf16",
        })
    }
}

/// Casts every float tensor of a module (parameters and running statistics) to a dtype,
/// inside the autodiff graph: gradients flow back to the original parameters.
pub struct CastFloats(pub FloatDType);

impl ModuleMapper for CastFloats {
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        let dtype = self.0;
        param.map(|t| t.cast(dtype))
    }
}

impl Precision {
    /// Errors when `device` cannot compute in this precision.
    pub fn check(self, device: &Device, spec: DeviceSpec) -> Result<()> {
        match self {
            Self::F32 => Ok(()),
            Self::Bf16 if device.supports_dtype(FloatDType::BF16) => Ok(()),
            Self::Bf16 => Err(RunError::Device {
                spec: spec.to_string(),
                reason: "this device cannot compute in bf16 (Vulkan stores bf16 but has no bf16 \
                         arithmetic; the CubeCL CPU backend has no bf16); use --precision f32 or \
                         a CUDA device"
                    .into(),
            }),
        }
    }

    /// The training forward pass in this precision.
    pub fn forward(self, model: &ScoringModel, images: Tensor<4>) -> Result<ModelOutput> {
        match self {
            Self::F32 => Ok(model.forward(images, None)?),
            Self::Bf16 => {
                let backbone = model.backbone.clone().map(&mut CastFloats(FloatDType::BF16));
                let features = backbone.feature_map(images.cast(FloatDType::BF16));
                Ok(model.head.forward(features.cast(FloatDType::F32), None)?)
            }
        }
    }

    /// Brings state that the bf16 steps changed in place (BatchNorm running statistics)
    /// back to `f32`; parameters are already `f32`, so their casts do nothing.
    pub fn settle(self, model: ScoringModel) -> ScoringModel {
        match self {
            Self::F32 => model,
            Self::Bf16 => {
                // Merge the running statistics' pending updates first: `map` reads the last
                // merged value, and a pending bf16 update would land on top of the cast.
                drop(model.valid());
                model.map(&mut CastFloats(FloatDType::F32))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_prints() {
        assert_eq!("bf16".parse::<Precision>().unwrap(), Precision::Bf16);
        assert_eq!("f32".parse::<Precision>().unwrap(), Precision::F32);
        assert!("f16".parse::<Precision>().unwrap_err().to_string().contains("loss scaling"));
        assert!("f8".parse::<Precision>().is_err());
        assert_eq!(Precision::Bf16.to_string(), "bf16");
    }
}
