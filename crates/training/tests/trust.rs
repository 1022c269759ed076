//! Results a user can trust: model selection follows the configured monitor, the tag source
//! `auto` resolves on the data, and Pixiv's sanity level 8 works from ingest to prediction.

use std::path::{Path, PathBuf};

use animescore_dataset::TagFilter;
use animescore_heads::Variant;
use animescore_inference::{Predictor, collect_images};
use animescore_pipeline as data;
use animescore_run::{DeviceSpec, Monitor, RunDir, RunSummary, TagConfig, TagSource, TrainConfig};
use animescore_scoring::ScoreMethod;
use animescore_testkit::{
    DatasetSpec, index_dataset, index_of, metadata_of, synthetic_dataset, synthetic_files,
    tiny_config, trained_run,
};
use animescore_training::TrainReport;

/// Trainings in one process share the device's random generator: one at a time.
static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn config() -> TrainConfig {
    TrainConfig { epochs: Some(4), patience: Some(10), ..tiny_config(Variant::Attention, 32) }
}

fn run(data: &Path, out: PathBuf, config: TrainConfig) -> TrainReport {
    let _guard = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    trained_run(data, &out, config)
}

/// The epoch the monitor should have picked from the history (first of equals).
fn expected_best(report: &TrainReport, monitor: Monitor) -> usize {
    let values = report.history.iter().map(|r| (r.epoch, monitor.value(&r.validation)));
    let better = |a: f64, b: f64| if monitor.higher_is_better() { a > b } else { a < b };
    let mut best: Option<(usize, f64)> = None;
    for (epoch, value) in values {
        match (value, best) {
            (Some(v), Some((_, b))) if better(v, b) => best = Some((epoch, v)),
            (Some(v), None) => best = Some((epoch, v)),
            _ => {}
        }
    }
    best.expect("a defined value").0
}

#[test]
fn the_best_epoch_follows_the_monitor() {
    let tmp = tempfile::tempdir().unwrap();
    let data = synthetic_dataset(tmp.path(), DatasetSpec::new(60, 11, 32));
    for monitor in [Monitor::ValScoreLoss, Monitor::ValSrcc, Monitor::ValTotal] {
        let out = tmp.path().join(monitor.name());
        let report = run(&data, out.clone(), TrainConfig { monitor, ..config() });
        let s = &report.summary;
        assert_eq!(s.monitor, monitor);
        assert_eq!(s.best_epoch, expected_best(&report, monitor), "{monitor}");
        let best = &report.history[s.best_epoch - 1].validation;
        assert_eq!(s.best_value, monitor.value(best), "{monitor}");
        // The summary written to disk says the same.
        let text = std::fs::read_to_string(RunDir::new(&out).summary()).unwrap();
        let saved: RunSummary = serde_json::from_str(&text).unwrap();
        assert_eq!((saved.monitor, saved.best_epoch), (monitor, s.best_epoch));
        // model.bpk holds the best epoch's weights: its validation metrics are the summary's.
        assert_eq!(s.validation.loss_score, best.loss_score, "{monitor}");
    }
}

#[test]
fn a_large_min_delta_keeps_the_first_epoch() {
    let tmp = tempfile::tempdir().unwrap();
    let data = synthetic_dataset(tmp.path(), DatasetSpec::new(40, 11, 32));
    let config = TrainConfig { min_delta: 1e9, epochs: Some(3), patience: Some(2), ..config() };
    let report = run(&data, tmp.path().join("run"), config);
    assert_eq!(report.summary.best_epoch, 1);
    assert!(report.summary.stopped_early, "two epochs without a real improvement stop the run");
    assert_eq!(report.summary.epochs, 3);
}

#[test]
fn tag_source_auto_resolves_on_the_index_and_the_run_records_it() {
    let tmp = tempfile::tempdir().unwrap();
    let config = TrainConfig { epochs: Some(1), ..config() };
    assert_eq!(config.tags.source, TagSource::Auto, "auto is the default");
    for (aliases, want) in [(true, TagSource::Characters), (false, TagSource::TopK)] {
        let dir = tmp.path().join(format!("aliases-{aliases}"));
        let data = synthetic_dataset(&dir, DatasetSpec { aliases, ..DatasetSpec::new(30, 11, 32) });
        // `--embedding both` works on an index ingested without character aliases.
        let out = dir.join("run");
        run(&data, out.clone(), config.clone());
        let saved = RunDir::new(&out).read_config().unwrap();
        assert_eq!(saved.train.tags.source, want, "aliases: {aliases}");
        assert!(saved.model.heads.tag_vocab > 0);
    }
}

/// Pixiv's newer data marks R-18 as sanity level 8: the dataset crate maps it to the NSFW
/// class, and training and prediction take that class without complaint.
#[test]
fn sanity_level_8_from_ingest_to_predict() {
    let tmp = tempfile::tempdir().unwrap();
    let dataset_dir = synthetic_files(tmp.path(), DatasetSpec::new(40, 3, 32));
    let mut rewritten = 0;
    for path in metadata_of(&dataset_dir) {
        let text = std::fs::read_to_string(&path).unwrap();
        let mut meta: serde_json::Value = serde_json::from_str(&text).unwrap();
        if meta["sanity_level"] == 6 {
            meta["sanity_level"] = 8.into();
            std::fs::write(&path, meta.to_string()).unwrap();
            rewritten += 1;
        }
    }
    assert!(rewritten > 0, "the synthetic data has level-6 images to rewrite");
    index_dataset(&dataset_dir, true);
    let records = data::load_records(&dataset_dir, TagFilter::All).unwrap();
    let level8: Vec<_> = records.iter().filter(|r| r.sanity_level == Some(8)).collect();
    assert_eq!(level8.len(), rewritten);
    let scorer = data::fit_scorer(&records, ScoreMethod::default()).unwrap();
    let vocab = data::fit_vocab(&dataset_dir, &records, &TagConfig::default()).unwrap();
    for r in level8 {
        let label = data::label(r, &scorer, &vocab.index(), TagSource::Characters);
        assert_eq!(label.sanity_class, Some(2), "level 8 is the NSFW class");
    }

    let out = tmp.path().join("run");
    let report = run(&dataset_dir, out.clone(), TrainConfig { epochs: Some(1), ..config() });
    assert!(report.summary.validation.sanity_accuracy.is_some());

    let predictor = Predictor::load(&out, DeviceSpec::Flex).unwrap();
    let known = predictor.known_from_index(&index_of(&dataset_dir)).unwrap();
    assert_eq!(known.len(), records.len(), "level-8 records keep their known sanity class");
    let images = collect_images(std::slice::from_ref(&dataset_dir)).unwrap();
    let with_known = predictor.predict_with_known(&images, &known).unwrap();
    assert_eq!(with_known.predictions.len(), images.len());
    let without = predictor.predict(&images).unwrap();
    assert!(
        without.predictions.iter().all(|p| p.sanity_level.is_some_and(|l| [2, 4, 6].contains(&l)))
    );
}
