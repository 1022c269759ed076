//! Loss math against hand-computed values, and the learned log-variances' gradients.

mod common;

use animescore_heads::{
    LossConfig, LossWeighting, RegressionLoss, Targets, TaskLosses, TaskMasks, scale_score,
    unscale_score,
};
use burn::module::Module;
use burn::optim::{AdamConfig, GradientsParams};
use burn::prelude::*;
use common::{scalar, values};

fn one(v: f32, device: &Device) -> Tensor<1> {
    Tensor::from_floats([v], device)
}

fn raw(device: &Device, tags: bool) -> TaskLosses {
    TaskLosses {
        score: one(0.5, device),
        ai: one(0.3, device),
        sanity: one(0.8, device),
        tags: tags.then(|| one(0.2, device)),
    }
}

fn close(a: f32, b: f64) {
    assert!((a as f64 - b).abs() < 1e-5, "{a} != {b}");
}

#[test]
fn uncertainty_total_at_zero_log_variance() {
    let device = Device::flex();
    let loss = LossConfig::default().init(&device);
    // s = 0: ½·0.5 (regression) + 0.3 + 0.8 + 0.2 (classification), no ½·s terms.
    close(scalar(loss.combine(raw(&device, true)).total), 1.55);
    // Without a tag loss the tag term disappears.
    close(scalar(loss.combine(raw(&device, false)).total), 1.35);
    let sigmas = loss.sigmas().expect("uncertainty mode");
    assert_eq!(sigmas, [1.0; 4]);
}

#[test]
fn uncertainty_total_at_given_log_variances() {
    let device = Device::flex();
    let loss = LossConfig::default()
        .init(&device)
        .with_log_vars(Tensor::from_floats([1.0, -0.5, 0.2, 2.0], &device))
        .unwrap();
    let out = loss.combine(raw(&device, true));
    let expected = 0.5 * (-1.0f64).exp() * 0.5 + 0.5 * 1.0 // score
        + 0.5f64.exp() * 0.3 + 0.5 * -0.5 // ai
        + (-0.2f64).exp() * 0.8 + 0.5 * 0.2 // sanity
        + (-2.0f64).exp() * 0.2 + 0.5 * 2.0; // tags
    close(scalar(out.total), expected);
    let sigmas = values(out.sigmas.expect("uncertainty mode"));
    for (got, s) in sigmas.iter().zip([1.0f64, -0.5, 0.2, 2.0]) {
        close(*got, (s / 2.0).exp());
    }
}

#[test]
fn uncertainty_total_can_be_negative() {
    let device = Device::flex();
    let loss = LossConfig::default()
        .init(&device)
        .with_log_vars(Tensor::from_floats([-3.0, -3.0, -3.0, -3.0], &device))
        .unwrap();
    let tiny = TaskLosses {
        score: one(1e-4, &device),
        ai: one(1e-4, &device),
        sanity: one(1e-4, &device),
        tags: None,
    };
    let expected = 0.5 * 3f64.exp() * 1e-4 + 2.0 * 3f64.exp() * 1e-4 - 3.0 * 1.5;
    let total = scalar(loss.combine(tiny).total);
    close(total, expected);
    assert!(total < 0.0);
}

#[test]
fn fixed_weights_total() {
    let device = Device::flex();
    let config = LossConfig { weighting: LossWeighting::original_fixed(), ..LossConfig::default() };
    let loss = config.init(&device);
    let out = loss.combine(raw(&device, true));
    close(scalar(out.total), 0.01 * 0.5 + 0.3 + 0.8 + 0.2);
    assert!(out.sigmas.is_none());
    assert!(loss.sigmas().is_none());

    let custom = LossConfig {
        weighting: LossWeighting::Fixed { score: 2.0, ai: 0.5, sanity: 0.0, tags: 3.0 },
        ..LossConfig::default()
    };
    close(scalar(custom.init(&device).combine(raw(&device, true)).total), 1.0 + 0.15 + 0.6);
}

fn targets(device: &Device, masks: TaskMasks) -> Targets {
    Targets {
        score: Tensor::from_floats([0.0, 1.0], device),
        ai: Tensor::from_floats([1.0, 0.0], device),
        sanity: Tensor::<1, Int>::from_ints([0, 2], device),
        tags: Some(Tensor::from_floats([[1.0, 0.0], [0.0, 0.0]], device)),
        masks,
    }
}

type Outputs = (Tensor<1>, Tensor<1>, Tensor<2>, Option<Tensor<2>>);

fn outputs(device: &Device) -> Outputs {
    (
        Tensor::from_floats([0.2, 0.9], device),
        Tensor::from_floats([0.0, 2.0], device),
        Tensor::from_floats([[0.0, 0.0, 0.0], [1.0, 2.0, 3.0]], device),
        Some(Tensor::from_floats([[0.0, 0.0], [-1.0, 3.0]], device)),
    )
}

#[test]
fn raw_task_losses_match_hand_values() {
    let device = Device::flex();
    let loss = LossConfig::default().init(&device);
    let (s, a, z, t) = outputs(&device);
    let per = loss.task_losses(s, a, z, t, &targets(&device, TaskMasks::default())).unwrap();
    // MSE: (0.2² + 0.1²) / 2.
    close(scalar(per.score), 0.025);
    // BCE: ln 2 (logit 0, target 1) and 2 + ln(1 + e⁻²) (logit 2, target 0).
    close(scalar(per.ai), (2f64.ln() + 2.0 + (1.0 + (-2f64).exp()).ln()) / 2.0);
    // CE: ln 3 for uniform logits; ln(e + e² + e³) − 3 for class 2 of [1, 2, 3].
    let lse = (1f64.exp() + 2f64.exp() + 3f64.exp()).ln();
    close(scalar(per.sanity), (3f64.ln() + lse - 3.0) / 2.0);
    // Tags: row 1 = [ln2, ln2]; row 2 = [ln(1+e⁻¹), 3 + ln(1+e⁻³)]; mean over labels then rows.
    let row1 = 2f64.ln();
    let row2 = ((1.0 + (-1f64).exp()).ln() + 3.0 + (1.0 + (-3f64).exp()).ln()) / 2.0;
    close(scalar(per.tags.expect("tags")), (row1 + row2) / 2.0);
}

#[test]
fn alternative_score_losses() {
    let device = Device::flex();
    for (kind, expected) in [
        (RegressionLoss::Mae, (0.2 + 0.1) / 2.0),
        // δ = 0.15: 0.2 is linear (0.15·(0.2 − 0.075)), 0.1 is quadratic (½·0.01).
        (RegressionLoss::Huber { delta: 0.15 }, (0.15 * (0.2 - 0.075) + 0.005) / 2.0),
    ] {
        let loss = LossConfig { score_loss: kind, ..LossConfig::default() }.init(&device);
        let (s, a, z, t) = outputs(&device);
        let per = loss.task_losses(s, a, z, t, &targets(&device, TaskMasks::default())).unwrap();
        close(scalar(per.score), expected);
    }
}

#[test]
fn masks_drop_missing_labels() {
    let device = Device::flex();
    let loss = LossConfig::default().init(&device);
    let masks = TaskMasks {
        score: Some(Tensor::from_floats([1.0, 0.0], &device)),
        tags: Some(Tensor::from_floats([0.0, 0.0], &device)),
        ..TaskMasks::default()
    };
    let (s, a, z, t) = outputs(&device);
    let per = loss.task_losses(s, a, z, t, &targets(&device, masks)).unwrap();
    close(scalar(per.score), 0.04);
    // Every tag label missing: the task contributes 0, not NaN.
    close(scalar(per.tags.expect("tags")), 0.0);
}

#[test]
fn wrong_target_shape_is_an_error() {
    let device = Device::flex();
    let loss = LossConfig::default().init(&device);
    let mut t = targets(&device, TaskMasks::default());
    t.score = Tensor::from_floats([0.0, 1.0, 0.5], &device);
    let (s, a, z, tags) = outputs(&device);
    assert!(loss.task_losses(s, a, z, tags, &t).is_err());
}

#[test]
fn score_scaling() {
    assert_eq!(scale_score(1.0).unwrap(), 0.0);
    assert_eq!(scale_score(100.0).unwrap(), 1.0);
    assert!(scale_score(0.5).is_err());
    assert_eq!(unscale_score(0.5), 50.5);
    assert_eq!(unscale_score(1.7), 100.0);
}

#[test]
fn log_variances_get_gradients_and_move() {
    let device = Device::flex().autodiff();
    let mut loss = LossConfig::default().init(&device);
    let out = loss.combine(raw(&device, true));
    let grads = out.total.backward();
    let grad = values(loss.log_vars().grad(&grads).expect("log_vars has a gradient"));
    // d/ds of ½e^{−s}L + ½s at s = 0 is ½ − ½L; of e^{−s}L + ½s it is ½ − L.
    for (g, expected) in grad.iter().zip([0.5 - 0.25, 0.5 - 0.3, 0.5 - 0.8, 0.5 - 0.2]) {
        close(*g, expected);
    }

    let grads = GradientsParams::from_grads(grads, &loss);
    let mut optim = AdamConfig::new().init();
    loss = optim.step(0.1, loss, grads);
    let s = values(loss.log_vars());
    // Adam's first step moves every parameter by ≈ lr against the gradient's sign.
    for (s, g) in s.iter().zip(grad) {
        assert!((s + 0.1 * g.signum()).abs() < 1e-3, "s = {s}, grad = {g}");
    }
    let sigmas = loss.sigmas().expect("uncertainty mode");
    assert!(sigmas.iter().all(|&sigma| sigma != 1.0));
    // The module really holds them as a parameter: 4 of them.
    assert_eq!(loss.num_params(), 4);
}

#[test]
fn targets_from_labels_scale_map_and_mask() {
    use animescore_heads::Label;
    let device = Device::flex();
    let labels = [
        Label { score: Some(100.0), ai: Some(true), sanity_class: Some(2), tags: Some(vec![0, 2]) },
        Label { score: Some(1.0), ai: None, sanity_class: Some(0), tags: None },
    ];
    let t = Targets::from_labels(&labels, Some(3), &device).unwrap();
    assert_eq!(values(t.score), [1.0, 0.0]);
    assert_eq!(values(t.ai), [1.0, 0.0]);
    assert_eq!(t.sanity.into_data().convert::<i64>().try_to_vec::<i64>().unwrap(), [2, 0]);
    assert_eq!(values(t.tags.unwrap()), [1.0, 0.0, 1.0, 0.0, 0.0, 0.0]);
    assert!(t.masks.score.is_none() && t.masks.sanity.is_none());
    assert_eq!(values(t.masks.ai.unwrap()), [1.0, 0.0]);
    assert_eq!(values(t.masks.tags.unwrap()), [1.0, 0.0]);
    // Without a tag vocabulary there are no tag targets.
    assert!(Targets::from_labels(&labels, None, &device).unwrap().tags.is_none());
    // Out-of-range values are errors.
    let bad_tag = [Label { tags: Some(vec![3]), ..labels[0].clone() }];
    assert!(Targets::from_labels(&bad_tag, Some(3), &device).is_err());
    let bad_class = [Label { sanity_class: Some(3), ..labels[0].clone() }];
    assert!(Targets::from_labels(&bad_class, None, &device).is_err());
    let bad_score = [Label { score: Some(0.0), ..labels[0].clone() }];
    assert!(Targets::from_labels(&bad_score, None, &device).is_err());
}
