//! One optimiser step, shared by the training loop and the PyTorch parity replay: the run's
//! AdamW, a step of forward pass, multi-task loss, backward, gradient clipping and update, and
//! the observer the parity harness records steps through.

use animescore_heads::{LossOutput, ModelOutput, ScoringModel, Targets};
use animescore_pipeline::{Batch, Forward};
use animescore_run::TrainConfig;
use burn::module::{Module, ModuleVisitor, Param, ParamId};
use burn::optim::{AdamWConfig, GradientsParams, ModuleOptimizer};
use burn::tensor::Tensor;

use crate::error::Result;

/// AdamW's ε, PyTorch's default (burn's is 1e-5).
pub const ADAMW_EPSILON: f32 = 1e-8;

/// The optimiser of a run: AdamW with `torch.optim.AdamW`'s β₁ 0.9, β₂ 0.999 and ε 1e-8, and
/// the config's decoupled weight decay on every parameter (as `AdamW(model.parameters())`
/// decays them all). `grad_clip` is applied before it, by [`clip_grad_norm`].
pub fn optimizer(c: &TrainConfig) -> ModuleOptimizer {
    AdamWConfig::new()
        .with_beta_1(0.9)
        .with_beta_2(0.999)
        .with_epsilon(ADAMW_EPSILON)
        .with_weight_decay(c.weight_decay as f32)
        .init()
}

/// One optimiser step: forward pass on `images`, multi-task loss against `targets`, backward,
/// gradients clipped to a global norm of `grad_clip` (if any), AdamW at learning rate `lr`.
/// Returns the updated model with the forward pass's outputs and losses (computed with the
/// weights before the update).
pub fn train_step(
    model: ScoringModel,
    optim: &mut ModuleOptimizer,
    lr: f64,
    grad_clip: Option<f64>,
    forward: Forward,
    images: Tensor<4>,
    targets: &Targets,
) -> Result<(ScoringModel, ModelOutput, LossOutput)> {
    let out = forward.run(&model, images)?;
    let loss = model.loss(&out, targets)?;
    let mut grads = GradientsParams::from_grads(loss.total.backward(), &model);
    if let Some(max_norm) = grad_clip {
        grads = clip_grad_norm(&model, grads, max_norm);
    }
    let model = optim.step(lr, model, grads);
    Ok((model, out, loss))
}

/// Scales the gradients of `module`'s parameters together so that their joint L2 norm (all
/// gradients as one vector) is at most `max_norm`: each is multiplied by
/// `min(1, max_norm / (norm + 1e-6))`, as PyTorch's `torch.nn.utils.clip_grad_norm_` does
/// (burn's own `GradientClipping::Norm` clips each tensor on its own, Keras' `clipnorm`). The
/// factor stays on the device: no read-back per step.
pub fn clip_grad_norm<M: Module>(
    module: &M,
    mut grads: GradientsParams,
    max_norm: f64,
) -> GradientsParams {
    let mut squares = SumOfSquares { grads: &grads, total: None };
    module.visit(&mut squares);
    let Some(total) = squares.total else {
        return grads; // no parameter has a gradient
    };
    let factor = (total.sqrt().add_scalar(1e-6).recip() * max_norm).clamp_max(1.0);
    module.visit(&mut Scale { grads: &mut grads, factor });
    grads
}

/// Adds up the squared gradient of every float parameter that has one.
struct SumOfSquares<'a> {
    grads: &'a GradientsParams,
    total: Option<Tensor<1>>,
}

impl ModuleVisitor for SumOfSquares<'_> {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        if let Some(grad) = self.grads.get::<D>(param.id) {
            let sum = grad.square().sum();
            self.total = Some(match self.total.take() {
                Some(total) => total + sum,
                None => sum,
            });
        }
    }
}

/// Multiplies every float parameter's gradient by `factor` (one element).
struct Scale<'a> {
    grads: &'a mut GradientsParams,
    factor: Tensor<1>,
}

impl ModuleVisitor for Scale<'_> {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        let id: ParamId = param.id;
        if let Some(grad) = self.grads.remove::<D>(id) {
            let factor = self.factor.clone().reshape([1; D]);
            self.grads.register(id, grad * factor);
        }
    }
}

/// Watches every optimiser step of
/// [`Trainer::train_epoch_observed`](crate::Trainer::train_epoch_observed) (the PyTorch
/// parity harness records the batches, losses and weights through it). Reading tensors back
/// here waits for the device at every step.
pub trait StepObserver {
    /// Global step `step` (0-based) was taken on `batch` at learning rate `lr`; `output` and
    /// `loss` are its forward pass (weights before the update), `model` holds the weights
    /// after it.
    fn step(
        &mut self,
        step: usize,
        lr: f64,
        batch: &Batch,
        output: &ModelOutput,
        loss: &LossOutput,
        model: &ScoringModel,
    ) -> Result<()>;
}

/// Observes nothing.
pub(crate) struct NoObserver;

impl StepObserver for NoObserver {
    fn step(
        &mut self,
        _: usize,
        _: f64,
        _: &Batch,
        _: &ModelOutput,
        _: &LossOutput,
        _: &ScoringModel,
    ) -> Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use burn::nn::{Linear, LinearConfig};
    use burn::tensor::{Device, TensorData};

    use super::*;

    /// A 2→2 linear layer's gradients: `weight` (2×2, row-major) and `bias`.
    fn grads(linear: &Linear, weight: [f32; 4], bias: [f32; 2]) -> GradientsParams {
        let device = Device::flex();
        let mut grads = GradientsParams::new();
        let w = Tensor::<2>::from_data(TensorData::new(weight.to_vec(), [2, 2]), &device);
        grads.register(linear.weight.id, w);
        let b = Tensor::<1>::from_data(TensorData::new(bias.to_vec(), [2]), &device);
        grads.register(linear.bias.as_ref().map(|b| b.id).unwrap(), b);
        grads
    }

    fn values(linear: &Linear, grads: &GradientsParams) -> (Vec<f32>, Vec<f32>) {
        let read = |t: Option<Tensor<1>>| t.unwrap().into_data().try_to_vec::<f32>().unwrap();
        let weight = grads.get::<2>(linear.weight.id).map(|w| w.reshape([4]));
        let bias = grads.get::<1>(linear.bias.as_ref().map(|b| b.id).unwrap());
        (read(weight), read(bias))
    }

    fn assert_near(ours: &[f32], want: &[f32]) {
        for (a, b) in ours.iter().zip(want) {
            assert!((a - b).abs() < 1e-6, "{ours:?} vs {want:?}");
        }
    }

    #[test]
    fn gradients_are_clipped_by_their_joint_norm_as_pytorch_does() {
        let linear = LinearConfig::new(2, 2).init(&Device::flex());
        // Joint norm 5 (3 in the weight, 4 in the bias). Clipped to 1, every gradient is
        // scaled by 1 / (5 + 1e-6); clipping each tensor on its own would give 1 and 1.
        let clipped =
            clip_grad_norm(&linear, grads(&linear, [3.0, 0.0, 0.0, 0.0], [0.0, 4.0]), 1.0);
        let (weight, bias) = values(&linear, &clipped);
        let scale = 1.0 / (5.0 + 1e-6);
        assert_near(&weight, &[3.0 * scale, 0.0, 0.0, 0.0]);
        assert_near(&bias, &[0.0, 4.0 * scale]);

        // Under the limit nothing changes.
        let kept = clip_grad_norm(&linear, grads(&linear, [3.0, 0.0, 0.0, 0.0], [0.0, 4.0]), 10.0);
        let (weight, bias) = values(&linear, &kept);
        assert_eq!(weight, [3.0, 0.0, 0.0, 0.0]);
        assert_eq!(bias, [0.0, 4.0]);
    }
}
