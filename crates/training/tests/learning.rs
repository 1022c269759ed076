//! Learning, not just running: on a few hundred synthetic images the `attention` variant on
//! `tiny` ranks held-out images by popularity (test SRCC ≥ 0.7). About 45 s of 2-core CPU in
//! the dev profile, so it is left out of CI; run it with
//! `cargo test -p animescore-training --test learning -- --ignored --nocapture`.

use animescore_dataset::{IngestOptions, NoProgress, SynthOptions, ingest, synthesize};
use animescore_heads::{Embedding, Variant};
use animescore_run::TrainConfig;
use animescore_training::{NoTrainProgress, TrainOptions, train};

#[test]
#[ignore = "minutes of CPU; run in release"]
fn attention_on_tiny_reaches_srcc_0_7() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let synth = synthesize(&data, &SynthOptions { count: 600, seed: 11, size: 64 }).unwrap();
    let mut opts = IngestOptions::new(&data);
    opts.characters = Some(synth.aliases);
    ingest(&opts, &NoProgress).unwrap();

    let config = TrainConfig {
        backbone: "tiny".into(),
        variant: Variant::Attention,
        embedding: Embedding::Both,
        image_size: Some(64),
        epochs: Some(30),
        batch_size: Some(32),
        lr: Some(2e-3),
        patience: Some(8),
        workers: 2,
        ..TrainConfig::default()
    };
    let out = tmp.path().join("run");
    let report = train(
        &TrainOptions {
            dataset: data,
            out,
            config,
            resume: false,
            overwrite: false,
            cache: Default::default(),
        },
        &NoTrainProgress,
    )
    .unwrap();
    let test = report.summary.test.expect("the synthetic dataset has a test split");
    eprintln!(
        "test SRCC {:?} PLCC {:?} MAE {:?} on {} images after {} epochs (best {})",
        test.srcc, test.plcc, test.mae, test.n, report.summary.epochs, report.summary.best_epoch
    );
    assert!(test.srcc.unwrap_or(0.0) >= 0.7, "{test:?}");
}
