//! Real-scale training paths on tiny data: the image cache changes nothing but speed, batch
//! order does not depend on the number of workers, heads-only training on cached features,
//! and bf16 steps (on flex, which computes in bf16 slowly but correctly).

use std::path::{Path, PathBuf};

use animescore_heads::Variant;
use animescore_inference::{Predictor, collect_images};
use animescore_pipeline::{CacheChoice, default_cache_root};
use animescore_run::{
    AugmentConfig, DeviceSpec, FeatureCacheMode, Freeze, Precision, RunDir, TrainConfig,
};
use animescore_testkit::{DatasetSpec, synthetic_dataset, tiny_config, train_options};
use animescore_training::{BenchOptions, NoTrainProgress, TrainOptions, throughput, train};

fn config(workers: usize) -> TrainConfig {
    TrainConfig { batch_size: Some(8), workers, ..tiny_config(Variant::Attention, 32) }
}

/// `metrics.csv` without its timing column.
fn metrics_without_time(run: &Path) -> String {
    let text = std::fs::read_to_string(RunDir::new(run).metrics()).unwrap();
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let seconds = header.iter().position(|h| *h == "seconds").expect("seconds column");
    lines
        .map(|l| {
            let mut cells: Vec<&str> = l.split(',').collect();
            cells.remove(seconds);
            cells.join(",")
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Trainings in one process share the device's random generator (`device.seed`), so the
/// tests of this file train one at a time: concurrent runs would interleave their draws.
static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn run(data: &Path, out: PathBuf, config: TrainConfig, cache: CacheChoice) -> PathBuf {
    let _guard = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let opts = TrainOptions { cache, ..train_options(data, &out, config) };
    train(&opts, &NoTrainProgress).unwrap();
    out
}

#[test]
fn same_seed_same_metrics_with_any_workers_and_with_or_without_the_cache() {
    let tmp = tempfile::tempdir().unwrap();
    let data = synthetic_dataset(tmp.path(), DatasetSpec::new(40, 5, 40));
    let reference = run(&data, tmp.path().join("w0"), config(0), CacheChoice::Off);
    let cached = run(&data, tmp.path().join("w3"), config(3), CacheChoice::Dataset);
    assert!(default_cache_root(&data).is_dir(), "the default cache lives under .database/");
    let again = run(&data, tmp.path().join("w2"), config(2), CacheChoice::Dataset);
    let want = metrics_without_time(&reference);
    assert_eq!(metrics_without_time(&cached), want, "3 workers, cache filled now");
    assert_eq!(metrics_without_time(&again), want, "2 workers, cache reused");
    // The same predictions to the bit. (`model.bpk` files differ in their bytes: burn gives
    // every parameter a fresh random id.)
    let images = collect_images(std::slice::from_ref(&data)).unwrap();
    let scores = |run: &Path| -> Vec<(String, f64, Option<f64>)> {
        let predictor = Predictor::load(run, DeviceSpec::Flex).unwrap();
        let report = predictor.predict(&images).unwrap();
        report.predictions.into_iter().map(|p| (p.filename, p.score, p.ai_probability)).collect()
    };
    let want = scores(&reference);
    assert_eq!(want.len(), images.len());
    assert_eq!(scores(&cached), want);
    assert_eq!(scores(&again), want);
}

#[test]
fn frozen_backbone_trains_the_heads_on_cached_features() {
    let tmp = tempfile::tempdir().unwrap();
    let data = synthetic_dataset(tmp.path(), DatasetSpec::new(40, 5, 40));
    let frozen = |mode| TrainConfig { freeze: Freeze::All, feature_cache: mode, ..config(1) };
    // Auto with the default augmentation: end to end, and the config says so.
    let end_to_end =
        run(&data, tmp.path().join("e2e"), frozen(FeatureCacheMode::Auto), CacheChoice::Dataset);
    let saved = RunDir::new(&end_to_end).read_config().unwrap();
    assert!(!saved.cached_features);
    assert!(saved.train.augment.is_active());

    // On: heads on cached features, augmentation recorded as off.
    let heads =
        run(&data, tmp.path().join("heads"), frozen(FeatureCacheMode::On), CacheChoice::Dataset);
    let saved = RunDir::new(&heads).read_config().unwrap();
    assert!(saved.cached_features);
    assert!(!saved.train.augment.is_active());
    let features: Vec<_> = std::fs::read_dir(default_cache_root(&data))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("features-"))
        .collect();
    assert_eq!(features.len(), 1, "{features:?}");

    // Without augmentation, features or not, the frozen backbone sees the same inputs: the
    // two runs learn alike. (Not bit for bit: the end-to-end run's forward draws from the
    // device's random generator in other places, so the heads' dropout masks differ.)
    let plain = TrainConfig {
        augment: AugmentConfig::none(),
        feature_cache: FeatureCacheMode::Off,
        ..frozen(FeatureCacheMode::Off)
    };
    let images = run(&data, tmp.path().join("images"), plain, CacheChoice::Dataset);
    let a = RunDir::new(&heads).read_summary().unwrap();
    let b = RunDir::new(&images).read_summary().unwrap();
    let (la, lb) = (a.validation.loss, b.validation.loss);
    assert!((la - lb).abs() < 0.02 * lb.abs(), "validation loss {la} vs {lb}");
}

#[test]
fn bf16_training_steps_run_and_stay_finite() {
    let guard = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let bench = TrainConfig { batch_size: Some(4), precision: Precision::Bf16, ..config(0) };
    let report = throughput(&BenchOptions {
        config: bench,
        steps: 2,
        warmup: 1,
        train: true,
        predict: true,
    })
    .unwrap();
    assert!(report.train_images_per_s.is_some_and(|v| v > 0.0));
    assert!(report.predict_images_per_s.is_some_and(|v| v > 0.0));
    drop(guard);

    // A real bf16 run: finite losses, f32 checkpoints that load for evaluation.
    let tmp = tempfile::tempdir().unwrap();
    let data = synthetic_dataset(tmp.path(), DatasetSpec::new(24, 5, 40));
    let bf16 = TrainConfig { precision: Precision::Bf16, epochs: Some(1), ..config(0) };
    let out = run(&data, tmp.path().join("bf16"), bf16, CacheChoice::Off);
    let summary = RunDir::new(&out).read_summary().unwrap();
    assert!(summary.validation.loss.is_finite());
    assert!(summary.validation.srcc.is_some_and(f64::is_finite));
}

/// Issue 23: an edit that keeps an image's length and puts its mtime back (`cp -p`, `rsync
/// -t`, `touch -r`) reaches training: the cached run equals a `--no-cache` run of the edited
/// data, and differs from the run before the edit.
#[test]
fn an_edit_that_keeps_length_and_mtime_reaches_training() {
    let tmp = tempfile::tempdir().unwrap();
    let data = synthetic_dataset(tmp.path(), DatasetSpec::new(40, 5, 40));
    let before = run(&data, tmp.path().join("before"), config(1), CacheChoice::Dataset);
    let edited = edit_keeping_length_and_mtime(&data, 12);
    assert!(edited >= 8, "only {edited} images could be edited");
    let cached = run(&data, tmp.path().join("cached"), config(1), CacheChoice::Dataset);
    let reference = run(&data, tmp.path().join("off"), config(1), CacheChoice::Off);
    let want = metrics_without_time(&reference);
    assert_eq!(metrics_without_time(&cached), want, "the cache served the old pixels");
    assert_ne!(metrics_without_time(&before), want, "the edit must change what training sees");
}

/// Gives up to `n` images another image's content, zero-padded to their own length, and
/// their old modification time. Returns how many were edited.
fn edit_keeping_length_and_mtime(data: &Path, n: usize) -> usize {
    let mut images = animescore_testkit::images_of(data);
    images.sort_by_key(|p| std::fs::metadata(p).unwrap().len());
    let (mut edited, count) = (0, images.len());
    // The longer half takes the content of the shorter half, same format only.
    for (short, long) in images[..count / 2].iter().zip(&images[count / 2..]).rev() {
        if edited == n || short.extension() != long.extension() {
            continue;
        }
        let meta = std::fs::metadata(long).unwrap();
        let mut bytes = std::fs::read(short).unwrap();
        assert!(bytes.len() as u64 <= meta.len());
        bytes.resize(meta.len() as usize, 0);
        std::fs::write(long, &bytes).unwrap();
        let file = std::fs::File::options().write(true).open(long).unwrap();
        file.set_modified(meta.modified().unwrap()).unwrap();
        drop(file);
        let after = std::fs::metadata(long).unwrap();
        assert_eq!(
            (after.len(), after.modified().unwrap()),
            (meta.len(), meta.modified().unwrap())
        );
        edited += 1;
    }
    edited
}
