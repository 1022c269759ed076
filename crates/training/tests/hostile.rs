//! Hostile images: the committed corpus in `tests/data/images/` (regenerate with
//! `scripts/make_bad_images.py`) through the decoder and the preprocessing, and a training run
//! on a dataset where some images are broken. `ok_*` files must load, `bad_*` files must be an
//! error that names the file; nothing may panic, and a decompression bomb is refused quickly
//! without allocating its pixels.

use std::cell::RefCell;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use animescore_backbones::{Preprocess, ResizeMode, load_image};
use animescore_heads::{Embedding, Variant};
use animescore_run::{AugmentConfig, TrainConfig};
use animescore_testkit::{DatasetSpec, images_of, synthetic_dataset, tiny_config, train_options};
use animescore_training::{TrainProgress, train};

/// The tests of this file measure the process' peak memory, so they run one at a time.
static SERIAL: Mutex<()> = Mutex::new(());

fn corpus_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/data/images")
}

fn corpus() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(corpus_dir())
        .expect("tests/data/images exists")
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    files
}

fn name(path: &Path) -> String {
    path.file_name().unwrap().to_string_lossy().into_owned()
}

/// Peak resident memory of this process (Linux), in bytes.
fn peak_rss() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

#[test]
fn every_corpus_file_loads_or_is_a_named_error() {
    let _guard = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let files = corpus();
    let total: u64 = files.iter().map(|p| p.metadata().unwrap().len()).sum();
    assert!(files.len() >= 20, "corpus has {} files", files.len());
    assert!(total < 200 * 1024, "corpus is {total} bytes");

    let preprocess =
        [Preprocess::imagenet(32), Preprocess::imagenet(32).with_mode(ResizeMode::Letterbox)];
    let (mut loaded, mut refused) = (0, 0);
    for path in &files {
        let file = name(path);
        let rss_before = peak_rss();
        let started = Instant::now();
        let result = std::panic::catch_unwind(|| load_image(path))
            .unwrap_or_else(|_| panic!("{file}: the decoder panicked"));
        let elapsed = started.elapsed();
        assert!(elapsed < Duration::from_secs(1), "{file}: took {elapsed:?}");
        if let (Some(before), Some(after)) = (rss_before, peak_rss()) {
            let grown = after.saturating_sub(before);
            assert!(grown < 64 << 20, "{file}: peak memory grew by {grown} bytes");
        }
        let outcome = if result.is_ok() { "loaded" } else { "refused" };
        eprintln!("{file}: {outcome} ({elapsed:?})");
        if file.starts_with("ok_") {
            let image = result.unwrap_or_else(|e| panic!("{file} must load: {e}"));
            assert_eq!((image.width(), image.height()), (24, 16), "{file}");
            for p in &preprocess {
                let chw = p.load_chw(path).unwrap_or_else(|e| panic!("{file}: {e}"));
                assert_eq!(chw.len(), 3 * 32 * 32, "{file}");
                assert!(chw.iter().all(|v| v.is_finite()), "{file}: non-finite value");
            }
            loaded += 1;
        } else {
            assert!(file.starts_with("bad_"), "{file}: name it ok_* or bad_*");
            let err = match result {
                Ok(image) => panic!("{file} must be refused, loaded {:?}", image.color()),
                Err(e) => e.to_string(),
            };
            assert!(err.contains(&file), "{file}: the error does not name the file: {err}");
            assert!(preprocess[0].load_chw(path).is_err(), "{file}");
            refused += 1;
        }
    }
    eprintln!("{loaded} loaded, {refused} refused");
    assert!(loaded >= 10 && refused >= 10, "{loaded} loaded, {refused} refused");
}

#[derive(Default)]
struct Skips(RefCell<Vec<(PathBuf, String)>>);

impl TrainProgress for Skips {
    fn skipped(&self, path: &Path, reason: &str) {
        self.0.borrow_mut().push((path.to_path_buf(), reason.to_string()));
    }
}

#[test]
fn training_skips_broken_images_and_finishes() {
    let _guard = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let tmp = tempfile::tempdir().unwrap();
    let data = synthetic_dataset(tmp.path(), DatasetSpec::new(40, 9, 32));

    // Every second image is replaced by a broken corpus file, keeping the dataset's file
    // name (so the index still points at it); odd-but-valid files replace a few more.
    let bad: Vec<PathBuf> = corpus()
        .into_iter()
        .filter(|p| name(p).starts_with("bad_") && !name(p).ends_with(".gif"))
        .collect();
    let odd: Vec<PathBuf> = corpus().into_iter().filter(|p| name(p).starts_with("ok_")).collect();
    let images = images_of(&data);
    assert_eq!(images.len(), 40);
    let mut broken = BTreeSet::new();
    for (i, target) in images.iter().enumerate() {
        let source = if i % 2 == 0 { &bad[(i / 2) % bad.len()] } else { &odd[(i / 2) % odd.len()] };
        std::fs::copy(source, target).unwrap();
        if i % 2 == 0 {
            broken.insert(target.clone());
        }
    }

    let skips = Skips::default();
    let config = TrainConfig {
        embedding: Embedding::None,
        epochs: Some(1),
        batch_size: Some(8),
        lr: Some(1e-3),
        workers: 2,
        augment: AugmentConfig::none(),
        ..tiny_config(Variant::Multitask, 32)
    };
    let report = train(&train_options(&data, &tmp.path().join("run"), config), &skips).unwrap();
    assert_eq!(report.summary.epochs, 1);
    assert!(report.history[0].train.loss.is_finite());
    let skipped = skips.0.into_inner();
    assert!(!skipped.is_empty());
    for (path, reason) in &skipped {
        assert!(
            broken.contains(path),
            "a readable image was skipped: {}: {reason}",
            path.display()
        );
        assert!(!reason.is_empty());
    }
    // Every image of every split is either used or reported, and each broken one exactly once
    // (the image cache reports them when it is filled, whichever split they are in).
    let unique: BTreeSet<&PathBuf> = skipped.iter().map(|(p, _)| p).collect();
    assert_eq!(unique.len(), skipped.len(), "reported twice in one epoch");
    let [tr, va, te] = report.summary.images;
    let tested = report.summary.test.as_ref().map_or(0, |t| t.n);
    let used = report.history[0].train.n + report.history[0].validation.n + tested;
    assert_eq!(used + skipped.len(), tr + va + te);
}
