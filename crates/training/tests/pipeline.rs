//! End to end on a tiny synthetic dataset: synth → ingest → train (every variant, 2 epochs,
//! `tiny` at 32 px) → eval → predict, the run directory's files, resume, and errors.

use std::cell::Cell;
use std::path::PathBuf;

use animescore_dataset::Split;
use animescore_heads::Variant;
use animescore_inference::{EvalOptions, Predictor, collect_images, evaluate_run};
use animescore_pipeline::PipelineError;
use animescore_run::{DeviceSpec, RunDir, TrainConfig};
use animescore_scorefile::{ScoreFormat, encode_all};
use animescore_scoring::ScoreMethod;
use animescore_testkit::{
    DatasetSpec, index_of, synthetic_dataset, tiny_config, train_options, trained_run,
};
use animescore_training::{
    NoTrainProgress, RunInfo, TrainOptions, TrainProgress, TrainingError, train,
};

#[derive(Default)]
struct Recorder {
    first_epoch: Cell<usize>,
    epochs_seen: Cell<usize>,
}

impl TrainProgress for Recorder {
    fn start(&self, info: &RunInfo) {
        self.first_epoch.set(info.first_epoch);
    }
    fn epoch_end(&self, _record: &animescore_run::EpochRecord, _improved: bool) {
        self.epochs_seen.set(self.epochs_seen.get() + 1);
    }
}

#[test]
fn train_eval_predict_every_variant_and_resume() {
    let tmp = tempfile::tempdir().unwrap();
    let data = synthetic_dataset(tmp.path(), DatasetSpec::new(60, 3, 32));

    for variant in Variant::ALL {
        let out = tmp.path().join(format!("run-{variant}"));
        let report = trained_run(&data, &out, tiny_config(variant, 32));
        assert_eq!(report.history.len(), 2, "{variant}");
        assert_eq!(report.summary.epochs, 2);
        let m = &report.summary.validation;
        assert!(m.n > 0 && m.loss.is_finite() && m.mae.is_some(), "{variant}: {m:?}");
        assert!(m.sigmas.is_some(), "uncertainty weighting logs σ");
        assert!(m.tags_map.is_some(), "{variant}: tag head evaluated");

        let run = RunDir::new(&out);
        for file in [
            run.config(),
            run.model(),
            run.scalers(),
            run.vocab(),
            run.distribution(),
            run.metrics(),
            run.curves(),
            run.summary(),
            run.model_card(),
            run.checkpoint_state(),
            run.checkpoint_model(2),
            run.checkpoint_optim(2),
        ] {
            assert!(file.is_file(), "{variant}: missing {}", file.display());
        }
        assert!(!run.checkpoint_model(1).exists(), "older checkpoints are removed");
        let csv = std::fs::read_to_string(run.metrics()).unwrap();
        assert!(csv.starts_with("epoch,split,lr,seconds,n,loss,"), "{csv}");
        assert_eq!(csv.lines().count(), 1 + 2 * 2, "{csv}");
        let card = std::fs::read_to_string(run.model_card()).unwrap();
        assert!(card.contains("score SRCC") && card.contains(variant.name()), "{card}");
        // The saved config alone rebuilds the model.
        let config = run.read_config().unwrap();
        assert_eq!(config.model.heads.variant, variant);
        assert!(config.model.heads.tag_vocab > 0);
    }

    // eval on the test split with the run's own scaler and vocabulary.
    let attention = tmp.path().join("run-attention");
    let eval = evaluate_run(&EvalOptions {
        run: attention.clone(),
        dataset: None,
        split: Split::Test,
        device: DeviceSpec::Flex,
        batch_size: 8,
        cache: Default::default(),
    })
    .unwrap();
    assert!(eval.metrics.n > 0 && eval.metrics.srcc.is_some(), "{:?}", eval.metrics);

    // predict a folder plus an unreadable file; the latter is reported, not fatal.
    let bad = tmp.path().join("broken.png");
    std::fs::write(&bad, b"not a png").unwrap();
    let images = collect_images(&[data.clone(), bad.clone()]).unwrap();
    assert_eq!(images.len(), 61, "60 images + the broken one; .database is skipped");
    let predictor = Predictor::load(&attention, DeviceSpec::Flex).unwrap();
    let report = predictor.predict(&images).unwrap();
    assert_eq!(report.predictions.len(), 60);
    assert_eq!(report.failed.len(), 1);
    assert_eq!(report.failed[0].0, bad);
    for p in &report.predictions {
        assert!((1.0..=100.0).contains(&p.score), "{p:?}");
        assert!(p.ai_probability.is_some_and(|a| (0.0..=1.0).contains(&a)));
        assert!(p.sanity_class.is_some_and(|c| c < 3));
        assert!(p.percentile.is_some_and(|q| (0.0..=100.0).contains(&q)) && p.tier.is_some());
    }
    // Input order is kept.
    let names: Vec<PathBuf> = report.predictions.iter().map(|p| PathBuf::from(&p.path)).collect();
    assert_eq!(names, images[..60].to_vec());
    let csv =
        String::from_utf8(encode_all(ScoreFormat::Csv, &report.predictions).unwrap()).unwrap();
    assert!(csv.starts_with(
        "path,filename,score,ai_probability,sanity_class,sanity_level,top_tags,percentile,tier\n"
    ));
    assert_eq!(csv.lines().count(), 61);

    // Known metadata from the index changes the attention variant's input.
    let known = predictor.known_from_index(&index_of(&data)).unwrap();
    assert_eq!(known.len(), 60);
    let with_known = predictor.predict_with_known(&images[..8], &known).unwrap();
    assert_eq!(with_known.with_known_metadata, with_known.predictions.len());

    // Resume: a 3-epoch run continues from the saved epoch 2.
    let recorder = Recorder::default();
    let config = TrainConfig { epochs: Some(3), ..tiny_config(Variant::Attention, 32) };
    let opts = TrainOptions { resume: true, ..train_options(&data, &attention, config) };
    // The saved config (2 epochs) wins on resume, so lift its limit the way a user would:
    // edit the run's config.toml.
    let run = RunDir::new(&attention);
    let mut saved = run.read_config().unwrap();
    saved.train.epochs = Some(3);
    std::fs::write(run.config(), saved.to_toml().unwrap()).unwrap();
    let report = train(&opts, &recorder).unwrap();
    assert_eq!(recorder.first_epoch.get(), 3);
    assert_eq!(recorder.epochs_seen.get(), 1, "only epoch 3 is trained");
    assert_eq!(report.history.len(), 3);
    assert_eq!(report.history.last().unwrap().epoch, 3);
    assert!(run.checkpoint_model(3).is_file());
}

#[test]
fn missing_index_says_how_to_build_it() {
    let tmp = tempfile::tempdir().unwrap();
    let opts =
        train_options(tmp.path(), &tmp.path().join("run"), tiny_config(Variant::Multitask, 32));
    let err = train(&opts, &NoTrainProgress).unwrap_err();
    assert!(matches!(err, TrainingError::Pipeline(PipelineError::MissingIndex { .. })), "{err:?}");
    assert!(err.to_string().contains("animescore ingest"), "{err}");
}

#[test]
fn bad_config_is_rejected_before_training() {
    let tmp = tempfile::tempdir().unwrap();
    let data = synthetic_dataset(tmp.path(), DatasetSpec::new(20, 3, 32));
    let config =
        TrainConfig { score: ScoreMethod::BookmarkRatio, ..tiny_config(Variant::Multitask, 32) };
    let opts = train_options(&data, &tmp.path().join("run"), config);
    let err = train(&opts, &NoTrainProgress).unwrap_err().to_string();
    assert!(err.contains("bookmark-ratio"), "{err}");
}
