//! One optimiser step, shared by the training loop and the PyTorch parity replay: the run's
//! AdamW, a step of forward pass, multi-task loss, backward and update, and the observer the
//! parity harness records steps through.

use animescore_heads::{LossOutput, ModelOutput, ScoringModel, Targets};
use animescore_pipeline::{Batch, Forward};
use animescore_run::TrainConfig;
use burn::optim::grad_clipping::GradientClippingConfig;
use burn::optim::{AdamWConfig, GradientsParams, ModuleOptimizer};
use burn::tensor::Tensor;

use crate::error::Result;

/// AdamW's ε, PyTorch's default (burn's is 1e-5).
pub const ADAMW_EPSILON: f32 = 1e-8;

/// The optimiser of a run: AdamW with `torch.optim.AdamW`'s β₁ 0.9, β₂ 0.999 and ε 1e-8, the
/// config's decoupled weight decay on every parameter (as `AdamW(model.parameters())` decays
/// them all), and `grad_clip` as a per-parameter gradient norm limit (Keras' `clipnorm`;
/// PyTorch's `clip_grad_norm_` clips the global norm).
pub fn optimizer(c: &TrainConfig) -> ModuleOptimizer {
    AdamWConfig::new()
        .with_beta_1(0.9)
        .with_beta_2(0.999)
        .with_epsilon(ADAMW_EPSILON)
        .with_weight_decay(c.weight_decay as f32)
        .with_grad_clipping(c.grad_clip.map(|v| GradientClippingConfig::Norm(v as f32)))
        .init()
}

/// One optimiser step: forward pass on `images`, multi-task loss against `targets`, backward,
/// AdamW at learning rate `lr`. Returns the updated model with the forward pass's outputs and
/// losses (computed with the weights before the update).
pub fn train_step(
    model: ScoringModel,
    optim: &mut ModuleOptimizer,
    lr: f64,
    forward: Forward,
    images: Tensor<4>,
    targets: &Targets,
) -> Result<(ScoringModel, ModelOutput, LossOutput)> {
    let out = forward.run(&model, images)?;
    let loss = model.loss(&out, targets)?;
    let grads = GradientsParams::from_grads(loss.total.backward(), &model);
    let model = optim.step(lr, model, grads);
    Ok((model, out, loss))
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
