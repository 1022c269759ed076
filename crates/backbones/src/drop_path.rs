//! Stochastic depth ("drop path", Huang et al. 2016): during training, drop a residual branch
//! for a whole sample with probability `p`, and scale kept samples by `1 / (1 - p)` so the
//! expectation is unchanged; at inference it is the identity. burn-nn has no such module.

use burn::module::{Flag, Param};
use burn::prelude::*;
use burn::tensor::Distribution;

/// Configuration of a [`DropPath`].
#[derive(Config, Debug)]
pub struct DropPathConfig {
    /// Probability of dropping a sample's branch, in `[0, 1)`.
    pub prob: f64,
}

impl DropPathConfig {
    /// Builds the module. A probability outside `[0, 1)` is clamped into it (1 would divide by 0).
    pub fn init(&self) -> DropPath {
        let prob = if self.prob.is_finite() { self.prob.clamp(0.0, 0.999) } else { 0.0 };
        DropPath { prob, training: Param::from_bool(true) }
    }
}

/// Per-sample stochastic depth, active only in training (autodiff device and training flag on),
/// as torchvision's `StochasticDepth(p, "row")`.
#[derive(Module, Debug)]
pub struct DropPath {
    /// Drop probability.
    pub prob: f64,
    /// Whether the layer behaves as in training (cleared by `valid()`/`freeze()`).
    pub training: Param<Flag>,
}

impl DropPath {
    /// `[B, ...] -> [B, ...]`: each sample kept (scaled by `1/(1-p)`) or zeroed.
    pub fn forward<const D: usize>(&self, x: Tensor<D>) -> Tensor<D> {
        // Same rule as burn's Dropout: the device says a backward is possible, the flag says
        // this layer takes part in training.
        if self.prob == 0.0 || !self.training.is_enabled() || !x.device().is_autodiff() {
            return x;
        }
        let keep = 1.0 - self.prob;
        let mut shape = [1usize; D];
        shape[0] = x.dims()[0];
        // In the activations' dtype: under bf16 training a default-dtype (f32) mask would be
        // read as bf16 by the GPU kernels.
        let mask = Tensor::<D>::random(shape, Distribution::Bernoulli(keep), &x.device());
        let mask = mask.cast(x.dtype());
        x * mask.div_scalar(keep)
    }
}
