//! Learning, not just running: on a few hundred synthetic images the `attention` variant on
//! `tiny` ranks held-out images by popularity (test SRCC ≥ 0.7). About 45 s of 2-core CPU in
//! the dev profile, so it is left out of CI; run it with
//! `cargo test -p animescore-training --test learning -- --ignored --nocapture`.

use animescore_heads::Variant;
use animescore_run::TrainConfig;
use animescore_testkit::{DatasetSpec, synthetic_dataset, tiny_config, trained_run};

#[test]
#[ignore = "minutes of CPU; run in release"]
fn attention_on_tiny_reaches_srcc_0_7() {
    let tmp = tempfile::tempdir().unwrap();
    let data = synthetic_dataset(tmp.path(), DatasetSpec::new(600, 11, 64));

    let config = TrainConfig {
        epochs: Some(30),
        batch_size: Some(32),
        lr: Some(2e-3),
        patience: Some(8),
        workers: 2,
        ..tiny_config(Variant::Attention, 64)
    };
    let report = trained_run(&data, &tmp.path().join("run"), config);
    let test = report.summary.test.expect("the synthetic dataset has a test split");
    eprintln!(
        "test SRCC {:?} PLCC {:?} MAE {:?} on {} images after {} epochs (best {})",
        test.srcc, test.plcc, test.mae, test.n, report.summary.epochs, report.summary.best_epoch
    );
    assert!(test.srcc.unwrap_or(0.0) >= 0.7, "{test:?}");
}
