//! Each variant's training loss falls by a clear margin (below 30 % of its start) within 60
//! Adam steps on a tiny synthetic batch whose labels are functions of the pixels.

mod common;

use animescore_heads::{Embedding, HeadsConfig, ScoringModel, Task, Variant};
use burn::optim::{AdamConfig, GradientsParams};
use burn::prelude::*;
use common::{TAGS, TinyBackbone, scalar, synthetic_batch};

const STEPS: usize = 60;

/// Sum of the raw task losses: the weighted total can go negative as the σ's shrink, so
/// it is not a fair measure of progress.
fn raw_sum(loss: &animescore_heads::LossOutput) -> f32 {
    Task::ALL.iter().filter_map(|&t| loss.per_task.get(t)).map(|l| scalar(l.clone())).sum()
}

#[test]
fn every_variant_learns_a_tiny_batch() {
    let device = Device::flex().autodiff();
    device.seed(7);
    let (images, targets) = synthetic_batch(16, 11, &device);
    for variant in Variant::ALL {
        let heads = HeadsConfig::tiny(variant, Embedding::Both, TAGS);
        let mut model = ScoringModel::new(TinyBackbone::new(&device), &heads, &device).unwrap();
        let mut optim = AdamConfig::new().init();
        let mut first = None;
        let mut last = Vec::new();
        for _ in 0..STEPS {
            let out = model.forward(images.clone(), None).unwrap();
            let loss = model.loss(&out, &targets).unwrap();
            let raw = raw_sum(&loss);
            assert!(raw.is_finite(), "{variant}: loss became {raw}");
            first.get_or_insert(raw);
            last.push(raw);
            let grads = GradientsParams::from_grads(loss.total.backward(), &model);
            model = optim.step(1e-2, model, grads);
        }
        let first = first.unwrap();
        let end: f32 = last.iter().rev().take(5).sum::<f32>() / 5.0;
        assert!(
            end < 0.3 * first,
            "{variant}: raw loss {first} → {end} over {STEPS} steps: {last:?}"
        );
        // The σ's were optimised together with the model.
        let sigmas = model.sigmas().unwrap();
        assert!(sigmas.iter().all(|&s| (s - 1.0).abs() > 1e-3), "{variant}: σ {sigmas:?}");
    }
}
