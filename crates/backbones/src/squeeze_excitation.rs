//! Squeeze-and-excitation (Hu et al. 2018) as torchvision's `SqueezeExcitation`: global average
//! pool, 1×1 conv down, activation, 1×1 conv up, sigmoid, rescale the input channels.

use burn::nn::Initializer;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::prelude::*;
use burn::tensor::activation::sigmoid;

use crate::conv_bn_act::Activation;

/// Configuration of a [`SqueezeExcitation`].
#[derive(Config, Debug)]
pub struct SqueezeExcitationConfig {
    /// Channels of the input (and output).
    pub channels: usize,
    /// Channels of the bottleneck.
    pub squeeze_channels: usize,
    /// Activation between the two convs (SiLU in EfficientNet).
    #[config(default = "Activation::Silu")]
    pub activation: Activation,
}

/// Channel attention: `x · sigmoid(fc2(act(fc1(mean_hw(x)))))`.
#[derive(Module, Debug)]
pub struct SqueezeExcitation {
    /// 1×1 conv, channels → squeeze (with bias).
    pub fc1: Conv2d,
    /// 1×1 conv, squeeze → channels (with bias).
    pub fc2: Conv2d,
    /// Activation between them.
    #[module(skip)]
    pub activation: Activation,
}

impl SqueezeExcitationConfig {
    /// Builds the module with torchvision's init (Kaiming normal fan_out weights, zero bias).
    pub fn init(&self, device: &Device) -> SqueezeExcitation {
        let conv = |cin: usize, cout: usize| {
            Conv2dConfig::new([cin, cout], [1, 1])
                .with_initializer(Initializer::Normal {
                    mean: 0.0,
                    std: (2.0 / cout as f64).sqrt(),
                })
                .init(device)
        };
        let zero_bias = |mut c: Conv2d, n: usize| {
            c.bias = Some(Initializer::Zeros.init([n], device));
            c
        };
        SqueezeExcitation {
            fc1: zero_bias(conv(self.channels, self.squeeze_channels), self.squeeze_channels),
            fc2: zero_bias(conv(self.squeeze_channels, self.channels), self.channels),
            activation: self.activation,
        }
    }
}

impl SqueezeExcitation {
    /// `[B, C, H, W] -> [B, C, H, W]`.
    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let squeezed = x.clone().mean_dim(3).mean_dim(2);
        let scale = self.fc2.forward(self.activation.apply(self.fc1.forward(squeezed)));
        x * sigmoid(scale)
    }
}
