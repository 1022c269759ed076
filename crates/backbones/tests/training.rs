//! Training-mode behaviour: freezing, gradients, BN statistics, stochastic depth.

use animescore_backbones::{Backbone, DropPathConfig, ResNetConfig};
use burn::prelude::*;
use burn::tensor::Distribution;

fn input(device: &Device) -> Tensor<4> {
    Tensor::random([4, 3, 32, 32], Distribution::Normal(0.0, 1.0), device)
}

fn all_zero(t: Tensor<1>) -> bool {
    t.abs().max().into_scalar::<f32>() == 0.0
}

#[test]
fn freeze_before_stops_gradients_and_keeps_frozen_bn_stats() {
    let device = Device::flex().autodiff();
    // Zero-init residual would make the gradient of a block's first conv exactly 0 at init.
    let model = ResNetConfig::tiny()
        .with_zero_init_residual(false)
        .init(&device)
        .freeze_before(Some("layer3"))
        .unwrap();
    let loss = model.pooled(input(&device)).powi_scalar(2).sum();
    let grads = loss.backward();

    // Frozen: stem, layer1, layer2 (weights and BN affine parameters).
    assert!(model.stem.conv.weight.val().grad(&grads).is_none());
    assert!(model.stem.bn.gamma.val().grad(&grads).is_none());
    assert!(model.layers[1][0].convs[1].conv.weight.val().grad(&grads).is_none());
    // Trainable: layer3 and layer4.
    let g = model.layers[2][0].convs[0].conv.weight.val().grad(&grads);
    assert!(g.is_some_and(|g| g.abs().sum().into_scalar::<f32>() > 0.0));
    assert!(model.layers[3][0].convs[1].bn.beta.val().grad(&grads).is_some());

    // Training mode updates the running statistics of trainable stages only.
    assert!(all_zero(model.stem.bn.running_mean.value_sync()), "frozen BN stats must not move");
    assert!(all_zero(model.layers[1][0].convs[0].bn.running_mean.value_sync()));
    assert!(
        !all_zero(model.layers[2][0].convs[0].bn.running_mean.value_sync()),
        "trainable BN stats must move"
    );
}

#[test]
fn freeze_all_and_unknown_stage() {
    let device = Device::flex().autodiff();
    let model = ResNetConfig::tiny().init(&device);
    let frozen = ResNetConfig::tiny().init(&device).freeze_before(None).unwrap();
    assert!(!frozen.stem.conv.weight.is_require_grad());
    assert!(!frozen.layers[3][0].convs[1].conv.weight.is_require_grad());
    assert!(model.layers[3][0].convs[1].conv.weight.is_require_grad());
    let err = model.freeze_before(Some("layer9")).unwrap_err().to_string();
    assert!(err.contains("layer9") && err.contains("layer4"), "{err}");
}

#[test]
fn efficientnet_freeze_before_head() {
    let device = Device::flex().autodiff();
    let model = animescore_backbones::EfficientNetConfig::new(0.25, 0.5, 64)
        .init(&device)
        .freeze_before(Some("head"))
        .unwrap();
    assert!(!model.stem.conv.weight.is_require_grad());
    assert!(model.stages.iter().flatten().all(|b| match &b.block[0] {
        animescore_backbones::MBConvLayer::Conv(c) => !c.conv.weight.is_require_grad(),
        animescore_backbones::MBConvLayer::Se(_) => false,
    }));
    assert!(model.head.conv.weight.is_require_grad());
}

#[test]
fn drop_path_is_per_sample_and_training_only() {
    let ones = |device: &Device| Tensor::<4>::ones([256, 2, 3, 3], device);
    let drop = DropPathConfig::new(0.5).init();

    // Training (autodiff device): each sample is all 0 or all 1/(1-p) = 2.
    let device = Device::flex().autodiff();
    let out = drop.forward(ones(&device));
    let per_sample = out.clone().reshape([256, 18]);
    let (min, max) = (per_sample.clone().min_dim(1), per_sample.max_dim(1));
    assert!(
        min.clone().equal(max).all().into_scalar::<bool>(),
        "whole samples are kept or dropped"
    );
    let values = min.into_data().try_to_vec::<f32>().unwrap();
    assert!(values.iter().all(|&v| v == 0.0 || v == 2.0), "{values:?}");
    let kept = values.iter().filter(|&&v| v == 2.0).count();
    assert!((80..=176).contains(&kept), "kept {kept} of 256 at p = 0.5");

    // Inference: identity, on a plain device and after `valid()`.
    let plain = Device::flex();
    assert_eq!(drop.forward(ones(&plain)).sum().into_scalar::<f32>(), 256.0 * 18.0);
    let valid = drop.valid();
    assert_eq!(valid.forward(ones(&device)).sum().into_scalar::<f32>(), 256.0 * 18.0);
}
