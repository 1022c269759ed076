//! The one conv → batch-norm → activation piece that every backbone is assembled from.
//!
//! ResNet's stem, its residual convolutions and downsample shortcuts, and every EfficientNet
//! convolution (stem, expand, depthwise, project, head) are all this module with different
//! settings, so numerical behaviour (padding, BN epsilon, init) is defined in one place.

use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::{BatchNorm, BatchNormConfig, Initializer, PaddingConfig2d};
use burn::prelude::*;
use burn::tensor::activation;
use burn::tensor::module::conv2d;
use burn::tensor::ops::ConvOptions;

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

/// Training-mode batch norm with PyTorch's running statistics: normalises with the batch's
/// mean and biased variance, and moves the running variance towards the *unbiased* batch
/// variance (`n / (n − 1)` times the biased one, `n = B·H·W`), as `torch.nn.BatchNorm2d`
/// does. Burn's `BatchNorm` moves it towards the biased variance, which makes the running
/// variance, and so every evaluation after training, differ from PyTorch's by up to
/// `1 / (n − 1)` (3 % for a 2×2 map in a batch of 8).
fn batch_norm_train(bn: &BatchNorm, x: Tensor<4>) -> Tensor<4> {
    let [batch, _, h, w] = x.dims();
    let device = x.device();
    let n = (batch * h * w) as f64;
    let result =
        burn::tensor::module::batch_norm_train(x, bn.gamma.val(), bn.beta.val(), bn.epsilon);
    let unbiased = if n > 1.0 { n / (n - 1.0) } else { 1.0 };
    let m = bn.momentum;
    let mean = bn.running_mean.value_sync().to_device(&device);
    let var = bn.running_var.value_sync().to_device(&device);
    let mean = mean.mul_scalar(1.0 - m).add(result.mean.detach().mul_scalar(m));
    let var = var.mul_scalar(1.0 - m).add(result.variance.detach().mul_scalar(m * unbiased));
    bn.running_mean.update(mean.detach());
    bn.running_var.update(var.detach());
    result.output
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
    ///
    /// Outside autodiff (inference, a frozen backbone's features) the batch norm is folded
    /// into the convolution: `conv(x, w · s) + (β − μ · s)` with `s = γ / √(σ² + ε)`, one
    /// bias pass over the output instead of Burn's four broadcast passes (subtract, divide,
    /// multiply, add). On a training device the batch norm normalises with the batch's
    /// statistics and updates the running ones as PyTorch does (unbiased variance); a frozen
    /// batch norm uses its running statistics.
    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let y = match self.folded_padding() {
            Some(padding) if !x.device().is_autodiff() => self.forward_folded(x, padding),
            _ if x.device().is_autodiff() && self.bn.training.is_enabled() => {
                batch_norm_train(&self.bn, self.conv.forward(x))
            }
            _ => self.bn.forward(self.conv.forward(x)),
        };
        self.activation.apply(y)
    }

    /// `((top, bottom), (left, right))` when the conv's padding is explicit (always, as
    /// [`ConvBnActConfig::init`] builds it), `None` otherwise.
    fn folded_padding(&self) -> Option<[(usize, usize); 2]> {
        match self.conv.padding {
            PaddingConfig2d::Explicit(top, left, bottom, right) => {
                Some([(top, bottom), (left, right)])
            }
            PaddingConfig2d::Valid => Some([(0, 0), (0, 0)]),
            PaddingConfig2d::Same => None,
        }
    }

    /// Convolution and inference-mode batch norm as one convolution with a bias.
    fn forward_folded(&self, x: Tensor<4>, padding: [(usize, usize); 2]) -> Tensor<4> {
        let device = x.device();
        let bn = &self.bn;
        let mean = bn.running_mean.value().to_device(&device);
        let var = bn.running_var.value().to_device(&device);
        let scale = bn.gamma.val() / (var + bn.epsilon).sqrt();
        let mut shift = bn.beta.val() - mean * scale.clone();
        if let Some(bias) = &self.conv.bias {
            shift = shift + bias.val() * scale.clone();
        }
        let c_out = self.out_channels();
        let weight = self.conv.weight.val() * scale.reshape([c_out, 1, 1, 1]);
        let options = ConvOptions::new_with_padding(
            self.conv.stride,
            padding,
            self.conv.dilation,
            self.conv.groups,
        );
        conv2d(x, weight, Some(shift), options)
    }

    /// Output channels.
    pub fn out_channels(&self) -> usize {
        self.conv.weight.dims()[0]
    }
}
