//! The one conv → batch-norm → activation piece that every backbone is assembled from.
//!
//! ResNet's stem, its residual convolutions and downsample shortcuts, and every EfficientNet
//! convolution (stem, expand, depthwise, project, head) are all this module with different
//! settings, so numerical behaviour (padding, BN epsilon, init) is defined in one place.

use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::{BatchNorm, BatchNormConfig, Initializer, PaddingConfig2d};
use burn::prelude::*;
use burn::tensor::activation;

/// Activation applied after the batch norm.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Activation {
    /// No activation (e.g. the last conv of a residual branch, before the addition).
    Identity,
    /// `max(0, x)`, ResNet.
    Relu,
    /// `x · sigmoid(x)`, EfficientNet.
    Silu,
}

impl Activation {
    /// Applies the activation.
    pub fn apply<const D: usize>(self, x: Tensor<D>) -> Tensor<D> {
        match self {
            Activation::Identity => x,
            Activation::Relu => activation::relu(x),
            Activation::Silu => crate::silu::silu(x),
        }
    }
}

/// Configuration of a [`ConvBnAct`].
#[derive(Config, Debug)]
pub struct ConvBnActConfig {
    /// Input channels.
    pub in_channels: usize,
    /// Output channels.
    pub out_channels: usize,
    /// Square kernel side.
    pub kernel_size: usize,
    /// Stride (both directions).
    #[config(default = 1)]
    pub stride: usize,
    /// Convolution groups (`in_channels` for a depthwise conv).
    #[config(default = 1)]
    pub groups: usize,
    /// Activation after the batch norm.
    #[config(default = "Activation::Relu")]
    pub activation: Activation,
    /// Batch-norm epsilon (PyTorch default 1e-5).
    #[config(default = 1e-5)]
    pub bn_epsilon: f64,
    /// Batch-norm momentum in PyTorch's convention (weight of the new batch statistic).
    #[config(default = 0.1)]
    pub bn_momentum: f64,
    /// Start the batch-norm scale γ at 0 instead of 1, so that a residual branch ending in this
    /// piece starts as the identity (Goyal et al. 2017; torchvision's `zero_init_residual`).
    #[config(default = false)]
    pub zero_gamma: bool,
}

/// `activation(batch_norm(conv(x)))`, with a bias-free conv and "same"-style padding
/// `(k - 1) / 2` as torchvision uses for every conv in ResNet and EfficientNet.
#[derive(Module, Debug)]
pub struct ConvBnAct {
    /// The convolution (no bias: the batch norm's β takes that role).
    pub conv: Conv2d,
    /// The batch norm.
    pub bn: BatchNorm,
    /// The activation.
    #[module(skip)]
    pub activation: Activation,
}

impl ConvBnActConfig {
    /// Builds the module with torchvision's from-scratch init: conv weights Kaiming normal
    /// (`fan_out`, ReLU gain), BN γ = 1 (or 0 with `zero_gamma`), β = 0.
    pub fn init(&self, device: &Device) -> ConvBnAct {
        let k = self.kernel_size;
        let pad = (k - 1) / 2;
        // PyTorch's fan_out is `out_channels · k²` regardless of groups (burn's Kaiming divides
        // by groups), so compute the std here to match torchvision for depthwise convs too.
        let fan_out = (self.out_channels * k * k) as f64;
        let std = (2.0 / fan_out).sqrt();
        let conv = Conv2dConfig::new([self.in_channels, self.out_channels], [k, k])
            .with_stride([self.stride, self.stride])
            .with_groups(self.groups)
            .with_padding(PaddingConfig2d::Explicit(pad, pad, pad, pad))
            .with_bias(false)
            .with_initializer(Initializer::Normal { mean: 0.0, std })
            .init(device);
        let mut bn = BatchNormConfig::new(self.out_channels)
            .with_epsilon(self.bn_epsilon)
            .with_momentum(self.bn_momentum)
            .init(device);
        if self.zero_gamma {
            bn.gamma = Initializer::Zeros.init([self.out_channels], device);
        }
        ConvBnAct { conv, bn, activation: self.activation }
    }
}

impl ConvBnAct {
    /// `[B, C_in, H, W] -> [B, C_out, H / stride, W / stride]`.
    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        self.activation.apply(self.bn.forward(self.conv.forward(x)))
    }

    /// Output channels.
    pub fn out_channels(&self) -> usize {
        self.conv.weight.dims()[0]
    }
}
