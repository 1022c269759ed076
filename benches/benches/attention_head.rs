//! Forward + backward of the attention-variant head alone (no backbone) at the original's
//! sizes: an EfficientNet-B7 feature map at 600 px (2560 channels, 19×19 = 361 patch
//! tokens) plus AI, sanity and tag tokens, d_model 768, 4 heads, FFN 2048, 2 blocks,
//! batch 8, on the flex CPU backend.
//!
//! Run: `cargo bench -p animescore-benches --bench attention_head`

use animescore_heads::{Embedding, HeadsConfig, Targets, TaskMasks, Variant};
use burn::prelude::*;
use burn::tensor::Distribution;
use criterion::{Criterion, criterion_group, criterion_main};

const BATCH: usize = 8;
const CHANNELS: usize = 2560;
const SIDE: usize = 19;
/// The original's tag vocabulary is configurable (top-K Pixiv tags); 1000 is a typical K.
const TAG_VOCAB: usize = 1000;

fn bench(c: &mut Criterion) {
    let device = Device::flex().autodiff();
    device.seed(0);
    let config = HeadsConfig::new(Variant::Attention, Embedding::Both, TAG_VOCAB);
    let head = config.init(CHANNELS, &device).expect("default attention config is valid");
    let feature_map = Tensor::<4>::random(
        [BATCH, CHANNELS, SIDE, SIDE],
        Distribution::Uniform(0.0, 1.0),
        &device,
    );
    let targets = Targets {
        score: Tensor::random([BATCH], Distribution::Uniform(0.0, 1.0), &device),
        ai: Tensor::zeros([BATCH], &device),
        sanity: Tensor::<1, Int>::zeros([BATCH], &device),
        tags: Some(Tensor::zeros([BATCH, TAG_VOCAB], &device)),
        masks: TaskMasks::default(),
    };

    let mut group = c.benchmark_group("attention_head");
    group.sample_size(10);
    group.bench_function("forward_backward_b8_361tok_d768", |b| {
        b.iter(|| {
            let out = head.forward(feature_map.clone(), None).expect("361 tokens fit");
            let loss = head.loss(&out, &targets).expect("shapes match");
            let grads = loss.total.backward();
            // Reading one gradient back waits for the whole backward pass to finish.
            let g = head.loss_module().log_vars().grad(&grads).expect("σ gets a gradient");
            g.into_data()
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
