//! The residual block, both torchvision kinds: basic (3×3, 3×3) and bottleneck (1×1, 3×3, 1×1
//! with 4× expansion, stride on the 3×3 as in torchvision's "ResNet v1.5").
//!
//! Both kinds are one chain of [`ConvBnAct`] pieces plus a shortcut; only the list of kernel
//! sizes and widths differs, so there is a single implementation.

use burn::prelude::*;
use burn::tensor::activation::relu;

use crate::conv_bn_act::{Activation, ConvBnAct, ConvBnActConfig};

/// Which residual block a ResNet stage is built from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BlockKind {
    /// Two 3×3 convs, expansion 1 (ResNet-18/34).
    Basic,
    /// 1×1 reduce, 3×3, 1×1 expand ×4 (ResNet-50/101/152).
    Bottleneck,
}

impl BlockKind {
    /// Ratio of a block's output channels to its stage width.
    pub fn expansion(self) -> usize {
        match self {
            BlockKind::Basic => 1,
            BlockKind::Bottleneck => 4,
        }
    }
}

/// Configuration of a [`ResidualBlock`].
#[derive(Config, Debug)]
pub struct ResidualBlockConfig {
    /// Block kind.
    pub kind: BlockKind,
    /// Input channels.
    pub in_channels: usize,
    /// Stage width (output channels are `width · expansion`).
    pub width: usize,
    /// Stride of the block (on the 3×3 conv).
    #[config(default = 1)]
    pub stride: usize,
    /// Initialise the last BN's γ to 0 so the block starts as the identity.
    #[config(default = true)]
    pub zero_init_residual: bool,
}

/// One residual block: `relu(branch(x) + shortcut(x))`.
#[derive(Module, Debug)]
pub struct ResidualBlock {
    /// The branch, in torchvision order (`conv1/bn1`, `conv2/bn2`[, `conv3/bn3`]).
    pub convs: Vec<ConvBnAct>,
    /// Projection shortcut (torchvision `downsample.0/1`) when shape changes.
    pub downsample: Option<ConvBnAct>,
}

impl ResidualBlockConfig {
    /// Output channels of the block.
    pub fn out_channels(&self) -> usize {
        self.width * self.kind.expansion()
    }

    /// Builds the block.
    pub fn init(&self, device: &Device) -> ResidualBlock {
        let w = self.width;
        let out = self.out_channels();
        // (in, out, kernel, stride) of each conv of the branch.
        let layout: Vec<(usize, usize, usize, usize)> = match self.kind {
            BlockKind::Basic => vec![(self.in_channels, w, 3, self.stride), (w, out, 3, 1)],
            BlockKind::Bottleneck => {
                vec![(self.in_channels, w, 1, 1), (w, w, 3, self.stride), (w, out, 1, 1)]
            }
        };
        let last = layout.len() - 1;
        let convs = layout
            .into_iter()
            .enumerate()
            .map(|(i, (cin, cout, k, s))| {
                ConvBnActConfig::new(cin, cout, k)
                    .with_stride(s)
                    .with_activation(if i == last {
                        Activation::Identity
                    } else {
                        Activation::Relu
                    })
                    .with_zero_gamma(i == last && self.zero_init_residual)
                    .init(device)
            })
            .collect();
        let downsample = (self.stride != 1 || self.in_channels != out).then(|| {
            ConvBnActConfig::new(self.in_channels, out, 1)
                .with_stride(self.stride)
                .with_activation(Activation::Identity)
                .init(device)
        });
        ResidualBlock { convs, downsample }
    }
}

impl ResidualBlock {
    /// `[B, C_in, H, W] -> [B, C_out, H / stride, W / stride]`.
    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let identity = match &self.downsample {
            Some(ds) => ds.forward(x.clone()),
            None => x.clone(),
        };
        let branch = self.convs.iter().fold(x, |h, c| c.forward(h));
        relu(branch + identity)
    }
}
