//! MBConv, the inverted-residual block of EfficientNet (torchvision's `MBConv`): optional 1×1
//! expansion, depthwise k×k conv, squeeze-excitation, 1×1 projection, and a residual connection
//! with stochastic depth when input and output shapes agree.

use burn::prelude::*;

use crate::conv_bn_act::{Activation, ConvBnAct, ConvBnActConfig};
use crate::drop_path::{DropPath, DropPathConfig};
use crate::squeeze_excitation::{SqueezeExcitation, SqueezeExcitationConfig};

use super::make_divisible;

/// Configuration of an [`MBConv`] block (channels already width-scaled).
#[derive(Config, Debug)]
pub struct MBConvConfig {
    /// Channel expansion of the hidden layer (1 or 6 in EfficientNet).
    pub expand_ratio: f64,
    /// Depthwise kernel side.
    pub kernel_size: usize,
    /// Stride of the depthwise conv.
    pub stride: usize,
    /// Input channels.
    pub in_channels: usize,
    /// Output channels.
    pub out_channels: usize,
    /// Stochastic-depth drop probability of this block.
    #[config(default = 0.0)]
    pub drop_path_prob: f64,
    /// Batch-norm epsilon.
    #[config(default = 1e-5)]
    pub bn_epsilon: f64,
    /// Batch-norm momentum (PyTorch convention).
    #[config(default = 0.1)]
    pub bn_momentum: f64,
}

/// One layer of the block's sequence. An enum so that the layers sit in one list whose indices
/// are torchvision's `block.{i}` (the expansion conv is absent when the ratio is 1, which shifts
/// the indices exactly as in torchvision).
#[derive(Module, Debug)]
pub enum MBConvLayer {
    /// A conv-BN(-SiLU): expansion, depthwise or projection.
    Conv(ConvBnAct),
    /// Squeeze-and-excitation.
    Se(SqueezeExcitation),
}

impl MBConvLayer {
    fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        match self {
            Self::Conv(c) => c.forward(x),
            Self::Se(se) => se.forward(x),
        }
    }
}

/// The MBConv block.
#[derive(Module, Debug)]
pub struct MBConv {
    /// `[expand,] depthwise, se, project` (torchvision `block`).
    pub block: Vec<MBConvLayer>,
    /// Stochastic depth on the residual branch (torchvision `stochastic_depth`).
    pub drop_path: DropPath,
    /// Whether the block adds its input (stride 1 and same channels).
    pub use_residual: bool,
}

impl MBConvConfig {
    /// Builds the block.
    pub fn init(&self, device: &Device) -> MBConv {
        let cba = |cin: usize, cout: usize, k: usize| {
            ConvBnActConfig::new(cin, cout, k)
                .with_activation(Activation::Silu)
                .with_bn_epsilon(self.bn_epsilon)
                .with_bn_momentum(self.bn_momentum)
        };
        let expanded = make_divisible(self.in_channels as f64 * self.expand_ratio, 8);
        let mut block = Vec::with_capacity(4);
        if expanded != self.in_channels {
            block.push(MBConvLayer::Conv(cba(self.in_channels, expanded, 1).init(device)));
        }
        block.push(MBConvLayer::Conv(
            cba(expanded, expanded, self.kernel_size)
                .with_stride(self.stride)
                .with_groups(expanded)
                .init(device),
        ));
        let squeeze = (self.in_channels / 4).max(1);
        block.push(MBConvLayer::Se(SqueezeExcitationConfig::new(expanded, squeeze).init(device)));
        block.push(MBConvLayer::Conv(
            cba(expanded, self.out_channels, 1).with_activation(Activation::Identity).init(device),
        ));
        MBConv {
            block,
            drop_path: DropPathConfig::new(self.drop_path_prob).init(),
            use_residual: self.stride == 1 && self.in_channels == self.out_channels,
        }
    }
}

impl MBConv {
    /// `[B, C_in, H, W] -> [B, C_out, H / stride, W / stride]`.
    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let out = self.block.iter().fold(x.clone(), |h, layer| layer.forward(h));
        match self.use_residual {
            true => self.drop_path.forward(out) + x,
            false => out,
        }
    }
}
