//! Issue 15 (hardening) for training, evaluation and prediction: a finished run is never
//! replaced by accident, one writer per run directory, a run resumes only on its own dataset
//! (stored as an absolute path), damaged weights are an error naming the model, `eval` that
//! reads no image is an error, image discovery survives link cycles and never blocks on a FIFO,
//! and sizes are checked before anything is allocated. Each test fails on the code before the
//! fix.
#![cfg(unix)]

use std::path::{Path, PathBuf};
use std::sync::{OnceLock, mpsc};
use std::time::Duration;

use animescore_backbones::load_image;
use animescore_dataset::Split;
use animescore_fs::RunLock;
use animescore_heads::{Embedding, Variant};
use animescore_inference::{EvalOptions, Predictor, collect_images, evaluate_run};
use animescore_pipeline::CacheChoice;
use animescore_run::{AugmentConfig, DeviceSpec, RunDir, TrainConfig};
use animescore_testkit::{DatasetSpec, RunFixture, tiny_config, train_options};
use animescore_training::{TrainOptions, train};

fn config() -> TrainConfig {
    TrainConfig {
        embedding: Embedding::None,
        epochs: Some(1),
        lr: Some(1e-3),
        workers: 0,
        augment: AugmentConfig::none(),
        ..tiny_config(Variant::Multitask, 32)
    }
}

fn options(data: &Path, out: &Path) -> TrainOptions {
    TrainOptions { cache: CacheChoice::Off, ..train_options(data, out, config()) }
}

/// A 40-image dataset and a finished 1-epoch run on it, shared (tests copy what they change).
fn fixture() -> &'static RunFixture {
    static FIXTURE: OnceLock<RunFixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        RunFixture::new(DatasetSpec::new(40, 6, 32), |data, run| {
            train(&options(data, run), &animescore_training::NoTrainProgress).unwrap();
        })
    })
}

fn copy_dir(from: &Path, to: &Path) {
    let status = std::process::Command::new("cp").arg("-a").arg(from).arg(to).status().unwrap();
    assert!(status.success());
}

fn err_text<T, E: std::fmt::Display>(r: Result<T, E>) -> String {
    match r {
        Ok(_) => panic!("expected an error"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn a_finished_run_is_replaced_only_when_asked() {
    let fx = fixture();
    let before = std::fs::read(fx.run.join("model.bpk")).unwrap();
    let text = err_text(train(&options(&fx.data, &fx.run), &animescore_training::NoTrainProgress));
    assert!(text.contains("--resume") && text.contains("--overwrite"), "{text}");
    assert_eq!(std::fs::read(fx.run.join("model.bpk")).unwrap(), before, "model replaced");
    assert!(fx.run.join("checkpoint").is_dir(), "checkpoints deleted");

    // --overwrite deletes only run directories `train` made (issue 23: a folder that merely
    // looks like one, with `config.toml` and `checkpoint/`, is the user's).
    let tmp = tempfile::tempdir().unwrap();
    let home = tmp.path().join("home");
    std::fs::create_dir_all(home.join("checkpoint")).unwrap();
    std::fs::write(home.join("thesis.tex"), b"years of work").unwrap();
    std::fs::write(home.join("config.toml"), b"[train]\n").unwrap();
    assert!(fx.run.join(animescore_training::RUN_MARKER).is_file());
    let mut opts = options(&fx.data, &home);
    opts.overwrite = true;
    let text = err_text(train(&opts, &animescore_training::NoTrainProgress));
    assert!(text.contains("was not made by `animescore train`"), "{text}");
    assert!(!text.contains("--overwrite to"), "{text}");
    assert_eq!(std::fs::read(home.join("thesis.tex")).unwrap(), b"years of work");
    assert_eq!(std::fs::read(home.join("config.toml")).unwrap(), b"[train]\n");

    // On a run, --overwrite trains afresh.
    let copy = tmp.path().join("run");
    copy_dir(&fx.run, &copy);
    std::fs::write(copy.join("stale.txt"), b"from the old run").unwrap();
    let mut opts = options(&fx.data, &copy);
    opts.overwrite = true;
    let report = train(&opts, &animescore_training::NoTrainProgress).unwrap();
    assert_eq!(report.summary.epochs, 1);
    assert!(!copy.join("stale.txt").exists());
}

#[test]
fn a_session_killed_while_claiming_its_folder_resumes() {
    // What a SIGKILL between creating the lock and renaming the marker's temporary left (seen
    // in CI's crash test): the next `--resume` must start the run, not call the folder foreign.
    let fx = fixture();
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("run");
    std::fs::create_dir(&out).unwrap();
    std::fs::write(out.join(animescore_fs::LOCK_FILE), b"").unwrap();
    let stray = out.join(format!("{}.AbC123.tmp", animescore_training::RUN_MARKER));
    std::fs::write(&stray, b"").unwrap();
    let mut opts = options(&fx.data, &out);
    opts.resume = true;
    let report = train(&opts, &animescore_training::NoTrainProgress).unwrap();
    assert_eq!(report.summary.epochs, 1);
    assert!(out.join(animescore_training::RUN_MARKER).is_file());

    // The marker itself is written in place: no temporary is ever left beside it.
    let names: Vec<String> = std::fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".tmp") && n.starts_with(animescore_training::RUN_MARKER))
        .collect();
    assert_eq!(names, [stray.file_name().unwrap().to_string_lossy().into_owned()]);
}

#[test]
fn a_second_writer_of_a_run_directory_is_refused() {
    let fx = fixture();
    let tmp = tempfile::tempdir().unwrap();
    let copy = tmp.path().join("run");
    copy_dir(&fx.run, &copy);
    let held = RunLock::try_acquire(&copy).unwrap();
    let mut opts = options(&fx.data, &copy);
    opts.resume = true;
    let text = err_text(train(&opts, &animescore_training::NoTrainProgress));
    assert!(text.contains("another animescore process"), "{text}");
    drop(held);
    train(&opts, &animescore_training::NoTrainProgress).unwrap();
}

/// Deletes the checkpoint's weight files as soon as the resumed run starts.
struct DeleteCheckpointFiles(PathBuf);

impl animescore_training::TrainProgress for DeleteCheckpointFiles {
    fn start(&self, _info: &animescore_training::RunInfo) {
        for entry in std::fs::read_dir(&self.0).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "bpk") {
                std::fs::remove_file(path).unwrap();
            }
        }
    }
}

#[test]
fn a_resumed_run_survives_its_checkpoint_files_vanishing() {
    let fx = fixture();
    let tmp = tempfile::tempdir().unwrap();
    let copy = tmp.path().join("run");
    copy_dir(&fx.run, &copy);
    // One more epoch to train, set where a user would: the run's own config.toml.
    let run = RunDir::new(&copy);
    let mut saved = run.read_config().unwrap();
    saved.train.epochs = Some(2);
    std::fs::write(run.config(), saved.to_toml().unwrap()).unwrap();
    assert!(run.checkpoint_optim(1).is_file() && run.checkpoint_model(1).is_file());

    let mut opts = options(&fx.data, &copy);
    opts.resume = true;
    // The files were read whole before training went on (the run used to panic, exit 101,
    // when burn read the optimiser state lazily at the first step).
    let report = train(&opts, &DeleteCheckpointFiles(run.checkpoint_dir())).unwrap();
    assert_eq!(report.history.last().unwrap().epoch, 2);
    assert!(run.checkpoint_optim(2).is_file());
}

#[test]
fn resume_refuses_another_dataset_and_the_dataset_is_stored_absolute() {
    let fx = fixture();
    let saved = RunDir::new(&fx.run).read_config().unwrap();
    assert!(saved.dataset.is_absolute(), "{}", saved.dataset.display());
    // A run's own config.toml is accepted by --config.
    let reread = TrainConfig::from_file(&fx.run.join("config.toml")).unwrap();
    assert_eq!(reread.epochs, Some(1));

    let tmp = tempfile::tempdir().unwrap();
    let other = tmp.path().join("other");
    copy_dir(&fx.data, &other);
    let copy = tmp.path().join("run");
    copy_dir(&fx.run, &copy);
    let config_before = std::fs::read(copy.join("config.toml")).unwrap();
    let mut opts = options(&other, &copy);
    opts.resume = true;
    let text = err_text(train(&opts, &animescore_training::NoTrainProgress));
    assert!(text.contains("was trained on"), "{text}");
    assert_eq!(std::fs::read(copy.join("config.toml")).unwrap(), config_before);
}

fn device() -> DeviceSpec {
    "flex".parse().unwrap()
}

fn some_images(data: &Path) -> Vec<PathBuf> {
    let images = collect_images(&[data.to_path_buf()]).unwrap();
    images.into_iter().take(4).collect()
}

#[test]
fn damaged_weights_are_an_error_that_names_the_model() {
    let fx = fixture();
    let tmp = tempfile::tempdir().unwrap();
    let copy = tmp.path().join("run");
    copy_dir(&fx.run, &copy);
    let model = copy.join("model.bpk");
    let mut bytes = std::fs::read(&model).unwrap();
    let n = bytes.len();
    // Bit flips inside the tensor data (the file ends with it).
    for i in (n - n / 4..n).step_by(97) {
        bytes[i] ^= 0x40;
    }
    std::fs::write(&model, &bytes).unwrap();
    let text = err_text(Predictor::load(&copy, device()));
    assert!(text.contains("model.bpk") && text.contains("checksum"), "{text}");

    // Without a checksum (a run from before them), NaN weights give an error, not NaN rows.
    std::fs::remove_file(copy.join("model.bpk.xxh3")).unwrap();
    for b in &mut bytes[n - n / 2..] {
        *b = 0xFF;
    }
    std::fs::write(&model, &bytes).unwrap();
    let predictor = Predictor::load(&copy, device()).unwrap();
    let result = predictor.predict(&some_images(&fx.data));
    let text = err_text(result);
    assert!(text.contains("model.bpk") && text.contains("NaN"), "{text}");
}

#[test]
fn eval_that_reads_no_image_is_an_error() {
    let fx = fixture();
    let tmp = tempfile::tempdir().unwrap();
    let broken = tmp.path().join("data");
    copy_dir(&fx.data, &broken);
    for image in collect_images(std::slice::from_ref(&broken)).unwrap() {
        std::fs::write(image, b"not an image").unwrap();
    }
    let opts = EvalOptions {
        run: fx.run.clone(),
        dataset: Some(broken),
        split: Split::Validation,
        device: device(),
        batch_size: 8,
        cache: CacheChoice::Off,
    };
    let text = err_text(evaluate_run(&opts));
    assert!(text.contains("none of the"), "{text}");
}

#[test]
fn image_discovery_survives_link_cycles_and_special_files() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path().join("d");
    let real = d.join("real");
    std::fs::create_dir_all(real.join("deep")).unwrap();
    let png = collect_images(&[fixture().data.clone()]).unwrap().remove(0);
    std::fs::copy(&png, real.join("a.png")).unwrap();
    std::os::unix::fs::symlink(&real, d.join("link")).unwrap();
    std::os::unix::fs::symlink(&d, real.join("deep/loop")).unwrap();
    std::os::unix::fs::symlink("/dev/zero", real.join("z.png")).unwrap();
    let fifo = real.join("f.png");
    assert!(std::process::Command::new("mkfifo").arg(&fifo).status().unwrap().success());

    let (tx, rx) = mpsc::channel();
    let input = d.clone();
    std::thread::spawn(move || {
        let _ = tx.send(collect_images(&[input]));
    });
    let found = rx.recv_timeout(Duration::from_secs(30)).expect("walk ended").unwrap();
    let names: Vec<String> =
        found.iter().map(|p| p.file_name().unwrap().to_string_lossy().into_owned()).collect();
    assert_eq!(names.iter().filter(|n| *n == "a.png").count(), 1, "{found:?}");

    // Reading them neither blocks nor grows without bound.
    let (tx, rx) = mpsc::channel();
    let paths = [fifo, real.join("z.png")];
    std::thread::spawn(move || {
        let _ = tx.send(paths.iter().map(|p| load_image(p).map(|_| ())).collect::<Vec<_>>());
    });
    let results = rx.recv_timeout(Duration::from_secs(30)).expect("reads ended");
    for r in results {
        let text = r.unwrap_err().to_string();
        assert!(text.contains("not a regular file"), "{text}");
    }
}

#[test]
fn sizes_are_checked_before_anything_is_allocated() {
    for bad in [
        TrainConfig { epochs: Some(usize::MAX), ..config() },
        TrainConfig { image_size: Some(100_000), ..config() },
        TrainConfig { image_size: Some(0), ..config() },
        TrainConfig { workers: 100_000, ..config() },
    ] {
        assert!(bad.validate().is_err(), "{bad:?}");
    }
    // A hand-edited config.toml of a run.
    let fx = fixture();
    let tmp = tempfile::tempdir().unwrap();
    let copy = tmp.path().join("run");
    copy_dir(&fx.run, &copy);
    let text = std::fs::read_to_string(copy.join("config.toml")).unwrap();
    for size in ["0", "100000"] {
        let edited = text.replace("size = 32", &format!("size = {size}"));
        assert_ne!(edited, text);
        std::fs::write(copy.join("config.toml"), edited).unwrap();
        let text = err_text(Predictor::load(&copy, device()));
        assert!(text.contains("image size"), "{text}");
    }
}

#[test]
fn unusual_sanity_levels_and_ai_types_are_counted_for_a_warning() {
    use animescore_dataset::IllustRow;
    use animescore_dataset::{Database, PixivMetadata};
    let tmp = tempfile::tempdir().unwrap();
    let mut db = Database::open(&animescore_pipeline::index_path(tmp.path())).unwrap();
    let row = |name: &str, sanity: i64, ai: i64| IllustRow {
        filename: name.into(),
        meta: PixivMetadata {
            sanity_level: Some(sanity),
            illust_ai_type: Some(ai),
            ..PixivMetadata::default()
        },
        tag_character: animescore_dataset::ORIGINAL.into(),
        image_path: None,
        metadata_path: format!("{name}.json"),
        source_size: 0,
        source_mtime_ns: 0,
        source_hash: String::new(),
        source_ctime_ns: 0,
        source_inode: 0,
    };
    db.upsert(&[row("1_p0", 2, 0), row("2_p0", 99, 1), row("3_p0", 4, 7), row("4_p0", 6, 2)])
        .unwrap();
    drop(db);
    let records =
        animescore_pipeline::load_records(tmp.path(), animescore_dataset::TagFilter::None).unwrap();
    assert_eq!(animescore_pipeline::unusual_values(&records), (1, 1));
}

#[test]
fn a_grid_cell_is_finished_only_for_the_same_settings_and_names_never_collide() {
    use animescore_training::{GridConfig, GridProgress, TrainProgress};
    struct Quiet(animescore_training::NoTrainProgress);
    impl GridProgress for Quiet {
        fn train_progress(&self) -> &dyn TrainProgress {
            &self.0
        }
    }
    let names = GridConfig {
        backbones: vec!["custom:x.y.json".into(), "custom:x_y.json".into()],
        variants: vec![Variant::Multitask],
        embeddings: vec![Embedding::None],
        scores: vec!["weighted-log".into()],
        base: config(),
    };
    let runs = names.runs().unwrap();
    assert_ne!(runs[0].0, runs[1].0, "two backbones share a run directory");

    let fx = fixture();
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("grid");
    let mut grid = GridConfig {
        backbones: vec!["tiny".into()],
        variants: vec![Variant::Multitask],
        embeddings: vec![Embedding::None],
        scores: vec!["weighted-log".into()],
        base: config(),
    };
    let quiet = Quiet(animescore_training::NoTrainProgress);
    let first = animescore_training::run_grid(&grid, &fx.data, &out, &quiet).unwrap();
    assert!(!first[0].skipped);
    let again = animescore_training::run_grid(&grid, &fx.data, &out, &quiet).unwrap();
    assert!(again[0].skipped, "an unchanged cell is reused");
    grid.base.lr = Some(2e-3);
    let changed = animescore_training::run_grid(&grid, &fx.data, &out, &quiet).unwrap();
    assert!(!changed[0].skipped, "a cell with other settings was republished");
    let saved = RunDir::new(out.join(&changed[0].name)).read_config().unwrap();
    assert_eq!(saved.train.lr, Some(2e-3));
}
