//! Configurable ResNet in torchvision's layout (stem conv 7×7/2 + max-pool 3×3/2, then stages
//! of residual blocks, the first stage at stride 1 and every later one at stride 2).
//!
//! ResNet-18…152 are presets of [`ResNetConfig`]; the "custom ResNet" is the same config with
//! other widths, block kind and counts.

mod block;

pub use block::{BlockKind, ResidualBlock, ResidualBlockConfig};

use burn::nn::PaddingConfig2d;
use burn::nn::pool::{MaxPool2d, MaxPool2dConfig};
use burn::prelude::*;

use crate::backbone::{Backbone, InputSpec};
use crate::conv_bn_act::{Activation, ConvBnAct, ConvBnActConfig};
use crate::error::BackboneError;
use crate::size::NetworkSize;

/// Configuration of a [`ResNet`]. Serialisable, so a custom network is a JSON file.
#[derive(Config, Debug, PartialEq)]
pub struct ResNetConfig {
    /// Channels of the stem conv (64 in torchvision).
    #[config(default = 64)]
    pub stem_width: usize,
    /// Width of each stage (block output is `width · expansion`).
    pub widths: Vec<usize>,
    /// Number of blocks in each stage (same length as `widths`).
    pub blocks: Vec<usize>,
    /// Residual block kind.
    pub block: BlockKind,
    /// Initialise each block's last BN γ to 0 (Goyal et al.; the original animescore choice).
    #[config(default = true)]
    pub zero_init_residual: bool,
    /// Default input side in pixels.
    #[config(default = 224)]
    pub image_size: usize,
}

impl ResNetConfig {
    fn standard(block: BlockKind, blocks: [usize; 4]) -> Self {
        Self::new(vec![64, 128, 256, 512], blocks.to_vec(), block)
    }

    /// torchvision `resnet18`.
    pub fn resnet18() -> Self {
        Self::standard(BlockKind::Basic, [2, 2, 2, 2])
    }
    /// torchvision `resnet34`.
    pub fn resnet34() -> Self {
        Self::standard(BlockKind::Basic, [3, 4, 6, 3])
    }
    /// torchvision `resnet50`.
    pub fn resnet50() -> Self {
        Self::standard(BlockKind::Bottleneck, [3, 4, 6, 3])
    }
    /// torchvision `resnet101`.
    pub fn resnet101() -> Self {
        Self::standard(BlockKind::Bottleneck, [3, 4, 23, 3])
    }
    /// torchvision `resnet152`.
    pub fn resnet152() -> Self {
        Self::standard(BlockKind::Bottleneck, [3, 8, 36, 3])
    }
    /// A ~170k-parameter ResNet for tests and quick experiments (works from 32 px up).
    pub fn tiny() -> Self {
        Self::new(vec![8, 16, 32, 64], vec![1, 1, 1, 1], BlockKind::Basic)
            .with_stem_width(8)
            .with_image_size(64)
    }

    /// Checks the config describes a buildable network.
    pub fn validate(&self) -> Result<(), BackboneError> {
        let bad = |reason: String| Err(BackboneError::InvalidConfig(reason));
        if self.widths.is_empty() {
            return bad("a ResNet needs at least one stage".into());
        }
        if self.widths.len() != self.blocks.len() {
            return bad(format!(
                "`widths` has {} stages but `blocks` has {}",
                self.widths.len(),
                self.blocks.len()
            ));
        }
        if self.stem_width == 0 || self.widths.contains(&0) || self.blocks.contains(&0) {
            return bad("stem width, stage widths and block counts must be positive".into());
        }
        if self.image_size == 0 {
            return bad("image_size must be positive".into());
        }
        Ok(())
    }

    /// Channels of the final feature map.
    pub fn out_channels(&self) -> usize {
        self.widths.last().copied().unwrap_or(self.stem_width) * self.block.expansion()
    }

    /// Parameters and activations at `image_size` px, and the feature map `[C, h, w]`,
    /// without building anything (a stage of a million blocks costs no more to size than one).
    pub fn size(&self, image_size: usize) -> (NetworkSize, [f64; 3]) {
        let mut s = NetworkSize::default();
        let mut h = image_size as f64;
        s.layer(0.0, 3.0 * h * h, 1.0);
        h = s.conv_bn(3.0, self.stem_width as f64, 7.0, 2.0, 1.0, h);
        h = (h / 2.0).ceil();
        s.layer(0.0, self.stem_width as f64 * h * h, 1.0);
        let mut cin = self.stem_width as f64;
        let expansion = self.block.expansion() as f64;
        for (stage, (&width, &count)) in self.widths.iter().zip(&self.blocks).enumerate() {
            let (w, out) = (width as f64, width as f64 * expansion);
            let block = |s: &mut NetworkSize, cin: f64, stride: f64, h: f64| -> f64 {
                let h_out = match self.block {
                    BlockKind::Basic => {
                        let h1 = s.conv_bn(cin, w, 3.0, stride, 1.0, h);
                        s.conv_bn(w, out, 3.0, 1.0, 1.0, h1)
                    }
                    BlockKind::Bottleneck => {
                        let h1 = s.conv_bn(cin, w, 1.0, 1.0, 1.0, h);
                        let h2 = s.conv_bn(w, w, 3.0, stride, 1.0, h1);
                        s.conv_bn(w, out, 1.0, 1.0, 1.0, h2)
                    }
                };
                if stride != 1.0 || cin != out {
                    s.conv_bn(cin, out, 1.0, stride, 1.0, h);
                }
                // The residual sum and its ReLU.
                s.layer(0.0, out * h_out * h_out, 2.0);
                h_out
            };
            let stride = if stage > 0 { 2.0 } else { 1.0 };
            let mut first = NetworkSize::default();
            h = block(&mut first, cin, stride, h);
            s = s.then(first);
            if count > 1 {
                let mut rest = NetworkSize::default();
                block(&mut rest, out, 1.0, h);
                let n = (count - 1) as f64;
                s = s.then(NetworkSize {
                    parameters: rest.parameters * n,
                    activations: rest.activations * n,
                    peak: rest.peak,
                });
            }
            cin = out;
        }
        (s, [cin, h, h])
    }

    /// Builds the network with from-scratch (Kaiming) init. Call [`validate`](Self::validate)
    /// first on configs that come from users: zero widths make the batch norms panic.
    pub fn init(&self, device: &Device) -> ResNet {
        let stem = ConvBnActConfig::new(3, self.stem_width, 7)
            .with_stride(2)
            .with_activation(Activation::Relu)
            .init(device);
        let maxpool = MaxPool2dConfig::new([3, 3])
            .with_strides([2, 2])
            .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
            .init();
        let mut in_channels = self.stem_width;
        let mut layers = Vec::with_capacity(self.widths.len());
        for (stage, (&width, &count)) in self.widths.iter().zip(&self.blocks).enumerate() {
            let mut blocks = Vec::with_capacity(count);
            for i in 0..count {
                let stride = if stage > 0 && i == 0 { 2 } else { 1 };
                let cfg = ResidualBlockConfig::new(self.block, in_channels, width)
                    .with_stride(stride)
                    .with_zero_init_residual(self.zero_init_residual);
                in_channels = cfg.out_channels();
                blocks.push(cfg.init(device));
            }
            layers.push(blocks);
        }
        ResNet { stem, maxpool, layers, out_channels: in_channels, image_size: self.image_size }
    }
}

/// A ResNet feature extractor (no classifier).
///
/// Parameter paths are torchvision's up to a fixed renaming (see `weights::torchvision_key`):
/// `stem.conv` ↔ `conv1`, `layers.{i}` ↔ `layer{i+1}`, `convs.{j}.conv/bn` ↔ `conv{j+1}/bn{j+1}`,
/// `downsample.conv/bn` ↔ `downsample.0/1`.
#[derive(Module, Debug)]
pub struct ResNet {
    /// 7×7/2 conv, BN, ReLU (torchvision `conv1`, `bn1`).
    pub stem: ConvBnAct,
    /// 3×3/2 max-pool.
    pub maxpool: MaxPool2d,
    /// Stages (torchvision `layer1..layerN`), each a list of blocks.
    pub layers: Vec<Vec<ResidualBlock>>,
    /// Channels of the final feature map.
    pub out_channels: usize,
    /// Default input side.
    pub image_size: usize,
}

impl ResNet {
    /// Names of the stages, in forward order: `stem`, `layer1`, …
    pub fn stage_names(&self) -> Vec<String> {
        std::iter::once("stem".to_string())
            .chain((1..=self.layers.len()).map(|i| format!("layer{i}")))
            .collect()
    }
}

impl Backbone for ResNet {
    fn feature_map(&self, images: Tensor<4>) -> Tensor<4> {
        let x = self.maxpool.forward(self.stem.forward(images));
        self.layers.iter().flatten().fold(x, |h, block| block.forward(h))
    }

    fn out_channels(&self) -> usize {
        self.out_channels
    }

    fn input_spec(&self) -> InputSpec {
        InputSpec::imagenet(self.image_size)
    }

    fn stage_names(&self) -> Vec<String> {
        ResNet::stage_names(self)
    }

    fn freeze_before(mut self, stage: Option<&str>) -> Result<Self, BackboneError> {
        let names = ResNet::stage_names(&self);
        let first_trainable = crate::backbone::stage_index(&names, stage)?;
        if first_trainable > 0 {
            self.stem = self.stem.freeze();
        }
        self.layers = self
            .layers
            .into_iter()
            .enumerate()
            .map(|(i, blocks)| if i + 1 < first_trainable { blocks.freeze() } else { blocks })
            .collect();
        Ok(self)
    }
}
