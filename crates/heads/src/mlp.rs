//! The one small multi-layer perceptron every head, fusion and projection is built from.
//!
//! `Linear → activation → Dropout` for each hidden width, then a final `Linear`, optionally
//! followed by a ReLU (metadata tokens in the attention variant end in one). The activation
//! is ReLU for heads and projections, GELU for the transformer feed-forward network.

use burn::nn::{Dropout, DropoutConfig, Linear, LinearConfig};
use burn::prelude::*;
use burn::tensor::activation::{gelu, relu};

/// Configuration of an [`Mlp`].
#[derive(Config, Debug)]
pub struct MlpConfig {
    /// Input width.
    pub d_input: usize,
    /// Hidden widths, in order; empty gives a single linear layer.
    pub hidden: Vec<usize>,
    /// Output width.
    pub d_output: usize,
    /// Dropout after every hidden activation.
    #[config(default = 0.0)]
    pub dropout: f64,
    /// Apply a ReLU to the output as well.
    #[config(default = false)]
    pub relu_output: bool,
    /// Activation after each hidden layer.
    #[config(default = "MlpActivation::Relu")]
    pub activation: MlpActivation,
}

/// Hidden-layer activation of an [`Mlp`].
#[derive(Config, Debug, Copy, PartialEq, Eq)]
pub enum MlpActivation {
    /// Rectified linear unit.
    Relu,
    /// Gaussian error linear unit (exact, erf-based).
    Gelu,
}

impl MlpActivation {
    fn apply<const D: usize>(self, x: Tensor<D>) -> Tensor<D> {
        match self {
            MlpActivation::Relu => relu(x),
            MlpActivation::Gelu => gelu(x),
        }
    }
}

/// A stack of linear layers with ReLU and dropout in between.
#[derive(Module, Debug)]
pub struct Mlp {
    layers: Vec<Linear>,
    dropout: Dropout,
    relu_output: bool,
    #[module(skip)]
    activation: MlpActivation,
    d_output: usize,
}

impl MlpConfig {
    /// Builds the layers.
    pub fn init(&self, device: &Device) -> Mlp {
        let widths: Vec<usize> = std::iter::once(self.d_input)
            .chain(self.hidden.iter().copied())
            .chain(std::iter::once(self.d_output))
            .collect();
        let layers =
            widths.windows(2).map(|w| LinearConfig::new(w[0], w[1]).init(device)).collect();
        Mlp {
            layers,
            dropout: DropoutConfig::new(self.dropout).init(),
            relu_output: self.relu_output,
            activation: self.activation,
            d_output: self.d_output,
        }
    }
}

impl Mlp {
    /// `[..., d_input] -> [..., d_output]`.
    pub fn forward<const D: usize>(&self, input: Tensor<D>) -> Tensor<D> {
        let last = self.layers.len().saturating_sub(1);
        let mut x = input;
        for (i, layer) in self.layers.iter().enumerate() {
            x = layer.forward(x);
            if i < last {
                x = self.dropout.forward(self.activation.apply(x));
            }
        }
        if self.relu_output { relu(x) } else { x }
    }

    /// Output width.
    pub fn d_output(&self) -> usize {
        self.d_output
    }
}
