//! The training input pipeline alone (no model): cached `u8` images → default augmentations
//! fused with normalisation → batches of `[64, 3, 224, 224]` on flex, through the ordered,
//! prefetching loader with 2 workers. Target (issue 9): ≥ 1,000 images/s on 2 cores.
//!
//! `cargo bench -p animescore-benches --bench loader`

use std::sync::Arc;

use animescore_backbones::{Preprocess, ResizeMode};
use animescore_heads::Label;
use animescore_pipeline::{
    CacheRoot, ImageCache, LoaderSettings, NoCacheProgress, Sample, image_loader,
};
use animescore_run::AugmentConfig;
use burn::prelude::*;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use rand::{Rng, SeedableRng};

const IMAGES: usize = 256;

fn bench(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1);
    let samples: Vec<Sample> = (0..IMAGES)
        .map(|i| {
            let path = dir.path().join(format!("{i}.png"));
            // Non-square, so the letterbox border is part of the work.
            let img = image::RgbImage::from_fn(300, 420, |_, _| image::Rgb(rng.random()));
            img.save(&path).expect("write png");
            Sample {
                filename: i.to_string(),
                image: path,
                label: Label {
                    score: Some(50.0),
                    ai: Some(false),
                    sanity_class: Some(0),
                    tags: None,
                },
            }
        })
        .collect();
    let preprocess = Preprocess::imagenet(224).with_mode(ResizeMode::Letterbox);
    let cache = ImageCache::new(&CacheRoot::dir(dir.path().join("cache")), &preprocess);
    let paths: Vec<_> = samples.iter().map(|s| s.image.clone()).collect();
    let (cached, _) = cache
        .fill(&paths, |p| p.to_string_lossy().into_owned(), &NoCacheProgress)
        .expect("fill cache");
    let samples = Arc::new(samples);
    let settings = LoaderSettings { preprocess, batch_size: 64, workers: 2 };
    let augment = AugmentConfig::default();
    let device = Device::flex();

    let mut group = c.benchmark_group("loader");
    group.sample_size(10);
    group.throughput(Throughput::Elements(IMAGES as u64));
    let mut epoch = 0u64;
    group.bench_function("cached/224px/augmented/batch64/2workers", |b| {
        b.iter(|| {
            epoch += 1;
            let loader = image_loader(
                samples.clone(),
                Some(cached.clone()),
                Some((&augment, epoch)),
                &settings,
                None,
                &device,
            );
            let mut n = 0;
            for batch in loader.shuffled(epoch).expect("loader") {
                let batch = batch.expect("batch").batch.expect("readable");
                n += batch.images.dims()[0];
            }
            assert_eq!(n, IMAGES);
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
