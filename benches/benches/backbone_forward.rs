//! Forward (inference) of ResNet-50 and EfficientNet-B0 at 224 px, batch 8, on flex.
//!
//! `cargo bench -p animescore-benches --bench backbone_forward`

use animescore_backbones::{Backbone, BackboneConfig};
use burn::prelude::*;
use burn::tensor::Distribution;
use criterion::{Criterion, criterion_group, criterion_main};

fn bench(c: &mut Criterion) {
    let device = Device::flex();
    let mut group = c.benchmark_group("backbone_forward");
    group.sample_size(10);
    for name in ["resnet50", "efficientnet-b0"] {
        let model = BackboneConfig::from_name(name).expect("preset").init(&device).valid();
        let x = Tensor::<4>::random([8, 3, 224, 224], Distribution::Normal(0.0, 1.0), &device);
        // Reading the result back forces the whole forward to run.
        group.bench_function(format!("{name}/224px/batch8"), |b| {
            b.iter(|| model.pooled(x.clone()).into_data())
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
