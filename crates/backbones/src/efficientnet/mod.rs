//! EfficientNet-B0…B7 (Tan & Le 2019) in torchvision's layout: a 3×3/2 stem, seven stages of
//! MBConv blocks scaled by width and depth multipliers, and a 1×1 head conv (`features.0..8`);
//! the classifier is not part of the backbone.

mod mbconv;

pub use mbconv::{MBConv, MBConvConfig, MBConvLayer};

use burn::prelude::*;

use crate::backbone::{Backbone, InputSpec};
use crate::conv_bn_act::{Activation, ConvBnAct, ConvBnActConfig};
use crate::error::BackboneError;
use crate::size::NetworkSize;

/// torchvision's `_make_divisible`: round `v` to the nearest multiple of `divisor` (at least
/// `divisor`), but never more than 10 % below `v`.
pub fn make_divisible(v: f64, divisor: usize) -> usize {
    let d = divisor as f64;
    let mut new_v = ((v + d / 2.0) as usize / divisor * divisor).max(divisor);
    if (new_v as f64) < 0.9 * v {
        new_v += divisor;
    }
    new_v
}

/// One stage of the B0 baseline: `(expand_ratio, kernel, stride, in, out, layers)`.
type StageSpec = (f64, usize, usize, usize, usize, usize);

/// torchvision's `inverted_residual_setting` for EfficientNet-B0 (before scaling).
const B0_STAGES: [StageSpec; 7] = [
    (1.0, 3, 1, 32, 16, 1),
    (6.0, 3, 2, 16, 24, 2),
    (6.0, 5, 2, 24, 40, 2),
    (6.0, 3, 2, 40, 80, 3),
    (6.0, 5, 1, 80, 112, 3),
    (6.0, 5, 2, 112, 192, 4),
    (6.0, 3, 1, 192, 320, 1),
];

/// Configuration of an [`EfficientNet`].
#[derive(Config, Debug, PartialEq)]
pub struct EfficientNetConfig {
    /// Channel multiplier (rounded with [`make_divisible`] to multiples of 8).
    pub width_mult: f64,
    /// Layer-count multiplier (rounded up).
    pub depth_mult: f64,
    /// Default input side in pixels.
    pub image_size: usize,
    /// Batch-norm epsilon (torchvision: 1e-5 for B0–B4, 1e-3 for B5–B7).
    #[config(default = 1e-5)]
    pub bn_epsilon: f64,
    /// Batch-norm momentum (torchvision: 0.1 for B0–B4, 0.01 for B5–B7).
    #[config(default = 0.1)]
    pub bn_momentum: f64,
    /// Stochastic-depth rate of the last block; block `i` of `n` gets `rate · i / n`.
    #[config(default = 0.2)]
    pub stochastic_depth_prob: f64,
}

impl EfficientNetConfig {
    /// torchvision's `efficientnet_b{variant}` (0..=7); `None` for other numbers.
    pub fn variant(variant: usize) -> Option<Self> {
        // (width, depth, torchvision eval crop size)
        let (w, d, size) = match variant {
            0 => (1.0, 1.0, 224),
            1 => (1.0, 1.1, 240),
            2 => (1.1, 1.2, 288),
            3 => (1.2, 1.4, 300),
            4 => (1.4, 1.8, 380),
            5 => (1.6, 2.2, 456),
            6 => (1.8, 2.6, 528),
            7 => (2.0, 3.1, 600),
            _ => return None,
        };
        let cfg = Self::new(w, d, size);
        // B5–B7 weights were ported from TensorFlow, so torchvision uses TF's BN settings there.
        Some(match variant >= 5 {
            true => cfg.with_bn_epsilon(1e-3).with_bn_momentum(0.01),
            false => cfg,
        })
    }

    /// Checks the config describes a buildable network.
    pub fn validate(&self) -> Result<(), BackboneError> {
        let ok = |m: f64| m.is_finite() && m > 0.0 && m <= 16.0;
        if !ok(self.width_mult) || !ok(self.depth_mult) {
            return Err(BackboneError::InvalidConfig(
                "width_mult and depth_mult must be in (0, 16]".into(),
            ));
        }
        if self.image_size == 0 || !(0.0..1.0).contains(&self.stochastic_depth_prob) {
            return Err(BackboneError::InvalidConfig(
                "image_size must be positive and stochastic_depth_prob in [0, 1)".into(),
            ));
        }
        Ok(())
    }

    fn channels(&self, c: usize) -> usize {
        make_divisible(c as f64 * self.width_mult, 8)
    }

    fn depth(&self, n: usize) -> usize {
        (n as f64 * self.depth_mult).ceil() as usize
    }

    /// Channels of the final feature map (4 × the last stage's output).
    pub fn out_channels(&self) -> usize {
        4 * self.channels(B0_STAGES[B0_STAGES.len() - 1].4)
    }

    /// Parameters and activations at `image_size` px, and the feature map `[C, h, w]`,
    /// without building anything.
    pub fn size(&self, image_size: usize) -> (NetworkSize, [f64; 3]) {
        let mut s = NetworkSize::default();
        let mut h = image_size as f64;
        s.layer(0.0, 3.0 * h * h, 1.0);
        h = s.conv_bn(3.0, self.channels(B0_STAGES[0].3) as f64, 3.0, 2.0, 1.0, h);
        for &(expand, kernel, stride, cin, cout, layers) in &B0_STAGES {
            let (cin, cout) = (self.channels(cin), self.channels(cout));
            for i in 0..self.depth(layers) {
                let (block_in, block_stride) = if i == 0 { (cin, stride) } else { (cout, 1) };
                let expanded = make_divisible(block_in as f64 * expand, 8) as f64;
                let block_in = block_in as f64;
                if expanded != block_in {
                    s.conv_bn(block_in, expanded, 1.0, 1.0, 1.0, h);
                }
                h = s.conv_bn(expanded, expanded, kernel as f64, block_stride as f64, expanded, h);
                let squeeze = (block_in / 4.0).floor().max(1.0);
                s.layer(expanded * squeeze + squeeze, squeeze, 1.0);
                s.layer(squeeze * expanded + expanded, expanded * h * h, 2.0);
                s.conv_bn(expanded, cout as f64, 1.0, 1.0, 1.0, h);
            }
        }
        let last = self.channels(B0_STAGES[B0_STAGES.len() - 1].4) as f64;
        s.conv_bn(last, 4.0 * last, 1.0, 1.0, 1.0, h);
        (s, [4.0 * last, h, h])
    }

    /// Builds the network with torchvision's from-scratch init.
    pub fn init(&self, device: &Device) -> EfficientNet {
        let cba = |cin: usize, cout: usize, k: usize| {
            ConvBnActConfig::new(cin, cout, k)
                .with_activation(Activation::Silu)
                .with_bn_epsilon(self.bn_epsilon)
                .with_bn_momentum(self.bn_momentum)
        };
        let stem_out = self.channels(B0_STAGES[0].3);
        let stem = cba(3, stem_out, 3).with_stride(2).init(device);

        let total: usize = B0_STAGES.iter().map(|s| self.depth(s.5)).sum();
        let mut block_id = 0;
        let mut stages = Vec::with_capacity(B0_STAGES.len());
        for &(expand, kernel, stride, cin, cout, layers) in &B0_STAGES {
            let (cin, cout) = (self.channels(cin), self.channels(cout));
            let mut blocks = Vec::new();
            for i in 0..self.depth(layers) {
                let (block_in, block_stride) = if i == 0 { (cin, stride) } else { (cout, 1) };
                let prob = self.stochastic_depth_prob * block_id as f64 / total as f64;
                blocks.push(
                    MBConvConfig::new(expand, kernel, block_stride, block_in, cout)
                        .with_drop_path_prob(prob)
                        .with_bn_epsilon(self.bn_epsilon)
                        .with_bn_momentum(self.bn_momentum)
                        .init(device),
                );
                block_id += 1;
            }
            stages.push(blocks);
        }
        let last = self.channels(B0_STAGES[B0_STAGES.len() - 1].4);
        let head = cba(last, 4 * last, 1).init(device);
        EfficientNet { stem, stages, head, out_channels: 4 * last, image_size: self.image_size }
    }
}

/// An EfficientNet feature extractor (no classifier).
///
/// Parameter paths are torchvision's up to a fixed renaming (see `weights`): `stem` ↔
/// `features.0`, `stages.{i}` ↔ `features.{i+1}`, `head` ↔ `features.8`, and inside a
/// conv-BN piece `conv/bn` ↔ `0/1`.
#[derive(Module, Debug)]
pub struct EfficientNet {
    /// 3×3/2 conv, BN, SiLU (torchvision `features.0`).
    pub stem: ConvBnAct,
    /// MBConv stages (torchvision `features.1..7`).
    pub stages: Vec<Vec<MBConv>>,
    /// 1×1 conv to 4× channels, BN, SiLU (torchvision `features.8`).
    pub head: ConvBnAct,
    /// Channels of the final feature map.
    pub out_channels: usize,
    /// Default input side.
    pub image_size: usize,
}

impl EfficientNet {
    /// Names of the stages, in forward order: `stem`, `stage1`…`stage7`, `head`.
    pub fn stage_names(&self) -> Vec<String> {
        std::iter::once("stem".to_string())
            .chain((1..=self.stages.len()).map(|i| format!("stage{i}")))
            .chain(std::iter::once("head".to_string()))
            .collect()
    }
}

impl Backbone for EfficientNet {
    fn feature_map(&self, images: Tensor<4>) -> Tensor<4> {
        let x = self.stem.forward(images);
        let x = self.stages.iter().flatten().fold(x, |h, block| block.forward(h));
        self.head.forward(x)
    }

    fn out_channels(&self) -> usize {
        self.out_channels
    }

    fn input_spec(&self) -> InputSpec {
        InputSpec::imagenet(self.image_size)
    }

    fn stage_names(&self) -> Vec<String> {
        EfficientNet::stage_names(self)
    }

    fn freeze_before(mut self, stage: Option<&str>) -> Result<Self, BackboneError> {
        let names = EfficientNet::stage_names(&self);
        let first_trainable = crate::backbone::stage_index(&names, stage)?;
        if first_trainable > 0 {
            self.stem = self.stem.freeze();
        }
        let n = self.stages.len();
        self.stages = self
            .stages
            .into_iter()
            .enumerate()
            .map(|(i, blocks)| if i + 1 < first_trainable { blocks.freeze() } else { blocks })
            .collect();
        if first_trainable > n + 1 {
            self.head = self.head.freeze();
        }
        Ok(self)
    }
}
