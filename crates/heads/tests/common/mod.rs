//! A private one-conv backbone and synthetic batches shared by the integration tests.
#![allow(dead_code)]

use animescore_backbones::{Backbone, BackboneError, InputSpec};
use animescore_heads::{Targets, TaskMasks};
use burn::nn::PaddingConfig2d;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::prelude::*;
use burn::tensor::activation::relu;

pub const CHANNELS: usize = 12;

/// Two stride-2 convolutions: 32×32 → 8×8×12, i.e. 64 patch tokens.
#[derive(Module, Debug)]
pub struct TinyBackbone {
    conv1: Conv2d,
    conv2: Conv2d,
}

impl TinyBackbone {
    pub fn new(device: &Device) -> Self {
        let conv = |c_in, c_out| {
            Conv2dConfig::new([c_in, c_out], [3, 3])
                .with_stride([2, 2])
                .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
                .init(device)
        };
        Self { conv1: conv(3, 8), conv2: conv(8, CHANNELS) }
    }
}

impl Backbone for TinyBackbone {
    fn feature_map(&self, images: Tensor<4>) -> Tensor<4> {
        relu(self.conv2.forward(relu(self.conv1.forward(images))))
    }

    fn out_channels(&self) -> usize {
        CHANNELS
    }

    fn input_spec(&self) -> InputSpec {
        InputSpec::imagenet(32)
    }

    fn stage_names(&self) -> Vec<String> {
        vec!["conv1".into(), "conv2".into()]
    }

    fn freeze_before(self, stage: Option<&str>) -> Result<Self, BackboneError> {
        Ok(match stage {
            None => self.no_grad(),
            Some(_) => self,
        })
    }
}

pub const TAGS: usize = 5;
const TAG_THRESHOLDS: [f32; TAGS] = [0.5, 0.5, 0.5, 0.3, 0.7];

/// A deterministic synthetic batch whose labels are simple functions of the pixels, so a
/// model can actually learn them: score = mean brightness, AI = red > blue, sanity = which
/// third the green mean falls in, tag k = channel `k mod 3` above a threshold. The row bands
/// only add spatial variety: every label is recoverable from the pooled feature.
pub fn synthetic_batch(batch: usize, seed: u64, device: &Device) -> (Tensor<4>, Targets) {
    let mut state = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
    let mut next = || {
        state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        ((state >> 33) as f32) / ((1u64 << 31) as f32)
    };
    let side = 32;
    let mut pixels = Vec::with_capacity(batch * 3 * side * side);
    let (mut score, mut ai, mut sanity, mut tags) = (vec![], vec![], vec![], vec![]);
    for _ in 0..batch {
        // Per-image channel levels and per-band offsets, plus a little noise.
        let level = [next(), next(), next()];
        let bands: Vec<f32> = (0..TAGS).map(|_| next()).collect();
        let mut sums = [0.0f32; 3];
        for (c, lvl) in level.iter().enumerate() {
            for y in 0..side {
                for _x in 0..side {
                    let band = bands[(y * TAGS / side).min(TAGS - 1)];
                    let v = 0.5 * lvl + 0.5 * band + 0.05 * (next() - 0.5);
                    sums[c] += v;
                    // Centred, as ImageNet normalisation would leave them.
                    pixels.push(2.0 * v - 1.0);
                }
            }
        }
        let n = (side * side) as f32;
        let means = sums.map(|s| s / n);
        score.push((means.iter().sum::<f32>() / 3.0).clamp(0.0, 1.0));
        ai.push(if level[0] > level[2] { 1.0 } else { 0.0 });
        sanity.push(((level[1] * 3.0) as i64).min(2));
        tags.extend((0..TAGS).map(|k| if level[k % 3] > TAG_THRESHOLDS[k] { 1.0f32 } else { 0.0 }));
    }
    let images =
        Tensor::<1>::from_floats(pixels.as_slice(), device).reshape([batch, 3, side, side]);
    let targets = Targets {
        score: Tensor::from_floats(score.as_slice(), device),
        ai: Tensor::from_floats(ai.as_slice(), device),
        sanity: Tensor::<1, Int>::from_ints(sanity.as_slice(), device),
        tags: Some(Tensor::<1>::from_floats(tags.as_slice(), device).reshape([batch, TAGS])),
        masks: TaskMasks::default(),
    };
    (images, targets)
}

pub fn values<const D: usize>(t: Tensor<D>) -> Vec<f32> {
    t.into_data().convert::<f32>().try_to_vec::<f32>().expect("float data")
}

pub fn scalar(t: Tensor<1>) -> f32 {
    values(t)[0]
}
