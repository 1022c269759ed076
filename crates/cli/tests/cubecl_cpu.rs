//! The GPU code path without a GPU: Burn's `cpu` backend runs the CubeCL kernels (fusion,
//! autotune, the kernel cache) compiled for the CPU through LLVM. Built only with the
//! `cubecl-cpu` feature, after `scripts/setup-cuda-build.sh`:
//!
//! `cargo test -p animescore-cli --features cubecl-cpu --test cubecl_cpu`
//!
//! - a training step and a prediction give what flex gives, on the same weights and batch;
//! - the kernel cache lands in the chosen folder and nowhere else, also inside a Cargo project;
//! - a second process finds its tuned operations in the cache;
//! - `train --device cubecl-cpu` records its first step's time in `summary.json`.
#![cfg(feature = "cubecl-cpu")]

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use animescore_heads::{Embedding, Label, ScoringModel, Targets, Variant};
use animescore_run::{
    DeviceSpec, KernelCache, RunDir, RunSummary, TrainConfig, read_json, set_kernel_cache,
};
use animescore_testkit::{Cli, DatasetSpec, arg, synthetic_dataset, text};
use burn::module::Module;
use burn::optim::{AdamWConfig, GradientsParams};
use burn::tensor::{Device, Tensor, TensorData};

const SIZE: usize = 32;
const BATCH: usize = 4;
const TAGS: usize = 8;

fn cli(cache_home: &Path) -> Cli {
    Cli::new(env!("CARGO_BIN_EXE_animescore"))
        .without_env("ANIMESCORE_KERNEL_CACHE")
        .with_env("XDG_CACHE_HOME", arg(cache_home))
}

fn config() -> TrainConfig {
    TrainConfig {
        backbone: "tiny".into(),
        variant: Variant::Attention,
        embedding: Embedding::Both,
        image_size: Some(SIZE),
        ..TrainConfig::default()
    }
}

/// A fixed batch: pixels from a simple formula, labels covering every task.
fn batch(device: &Device) -> (Tensor<4>, Targets) {
    let pixels: Vec<f32> =
        (0..BATCH * 3 * SIZE * SIZE).map(|i| ((i * 7919) % 255) as f32 / 64.0 - 2.0).collect();
    let labels: Vec<Label> = (0..BATCH)
        .map(|i| Label {
            score: Some(10.0 + 20.0 * i as f32),
            ai: Some(i % 2 == 0),
            sanity_class: Some(i % 3),
            tags: Some(vec![i % TAGS, (i + 3) % TAGS]),
        })
        .collect();
    let images = Tensor::from_data(TensorData::new(pixels, [BATCH, 3, SIZE, SIZE]), device);
    (images, Targets::from_labels(&labels, Some(TAGS), device).unwrap())
}

/// Losses of three AdamW steps of `model` on the fixed batch.
fn losses(mut model: ScoringModel, device: &Device) -> Vec<f32> {
    let mut optim = AdamWConfig::new().init();
    let mut out = Vec::new();
    for _ in 0..3 {
        let (images, targets) = batch(device);
        let outputs = model.forward(images, None).unwrap();
        let loss = model.loss(&outputs, &targets).unwrap();
        out.extend(loss.total.clone().into_data().try_into_vec_as::<f32>().unwrap());
        let grads = GradientsParams::from_grads(loss.total.backward(), &model);
        model = optim.step(1e-3, model, grads);
    }
    out
}

fn scores(model: ScoringModel, device: &Device) -> Vec<f32> {
    let (images, _) = batch(device);
    let out = model.valid().forward(images, None).unwrap();
    out.score.into_data().try_into_vec_as::<f32>().unwrap()
}

fn assert_close(what: &str, ours: &[f32], flex: &[f32]) {
    assert_eq!(ours.len(), flex.len());
    for (i, (a, b)) in ours.iter().zip(flex).enumerate() {
        let relative = (a - b).abs() / b.abs().max(1e-6);
        assert!(
            relative < 1e-3,
            "{what} {i}: cubecl-cpu {a} vs flex {b} (relative {relative:.2e})"
        );
    }
}

#[test]
fn a_training_step_and_a_prediction_match_flex() {
    // In this process: nothing goes to the user's own kernel cache.
    set_kernel_cache(KernelCache::Off).unwrap();
    let model_config = config().model_config(TAGS).unwrap();
    let flex = DeviceSpec::Flex.device().unwrap().autodiff();
    flex.seed(7);
    let cubecl = DeviceSpec::CubeclCpu.device().unwrap().autodiff();
    // The same initial weights on both devices (their random generators differ).
    let model = model_config.init(&flex).unwrap();
    let on_cubecl = model.clone().to_device(&cubecl);
    assert_close("loss", &losses(on_cubecl.clone(), &cubecl), &losses(model.clone(), &flex));
    assert_close("score", &scores(on_cubecl, &cubecl), &scores(model, &flex));
}

/// Every file under `dir`, relative to it.
fn files_under(dir: &Path) -> BTreeSet<PathBuf> {
    let mut out = BTreeSet::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else if let Ok(rel) = path.strip_prefix(dir) {
                out.insert(rel.to_path_buf());
            }
        }
    }
    out
}

/// `… N operations tuned` of a `warmup` line.
fn tuned(stdout: &str) -> u64 {
    let before = stdout.split(" operations tuned").next().unwrap_or_default();
    before.rsplit(' ').next().and_then(|n| n.parse().ok()).unwrap_or_else(|| panic!("{stdout}"))
}

/// `first training step X s` of a `warmup` line.
fn first_step_seconds(stdout: &str) -> f64 {
    let after = stdout.split("first training step ").nth(1).unwrap_or_else(|| panic!("{stdout}"));
    after.split(' ').next().and_then(|n| n.parse().ok()).unwrap_or_else(|| panic!("{stdout}"))
}

#[test]
fn the_kernel_cache_stays_in_its_folder_and_serves_a_second_process() {
    let tmp = tempfile::tempdir().unwrap();
    // A working directory inside a Cargo project: CubeCL's default would write into its
    // `target/`.
    let project = tmp.path().join("project");
    std::fs::create_dir_all(project.join("src")).unwrap();
    std::fs::write(project.join("Cargo.toml"), "[package]\nname = \"p\"\nversion = \"0.1.0\"\n")
        .unwrap();
    let before = files_under(&project);
    let home = tmp.path().join("cache-home");
    let warmup = [
        "warmup",
        "--device",
        "cubecl-cpu",
        "--backbone",
        "tiny",
        "--image-size",
        "32",
        "--batch-size",
        "4",
        "--variant",
        "attention",
        "--embedding",
        "both",
    ];
    let run = || {
        let out = cli(&home).command(&warmup).current_dir(&project).output().unwrap();
        assert!(out.status.success(), "{}", text(&out.stderr));
        text(&out.stdout)
    };
    let first = run();
    let second = run();
    assert_eq!(files_under(&project), before, "nothing may be written into the project");
    let kernels = home.join("animescore").join("kernels");
    assert!(kernels.join("default.db").is_file(), "{:?}", files_under(&home));
    assert!(first.contains(&format!("kernel cache: {}", kernels.display())), "{first}");
    // Only the kernel folder under the cache home.
    assert!(files_under(&home).iter().all(|f| f.starts_with("animescore/kernels")));
    assert!(tuned(&first) > 0, "the first process tunes: {first}");
    assert_eq!(tuned(&second), 0, "the second finds every tuned operation: {second}");
    eprintln!(
        "first step: cold {:.2} s, warm {:.2} s",
        first_step_seconds(&first),
        first_step_seconds(&second)
    );
}

#[test]
fn an_unusable_or_disabled_cache_warns_once_and_keeps_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let home = tmp.path().join("home");
    std::fs::create_dir_all(&home).unwrap();
    let file = tmp.path().join("a-file");
    std::fs::write(&file, b"x").unwrap();
    let args = |cache: &str| {
        vec![
            "--kernel-cache".to_string(),
            cache.to_string(),
            "warmup".into(),
            "--device".into(),
            "cubecl-cpu".into(),
            "--backbone".into(),
            "tiny".into(),
            "--image-size".into(),
            "32".into(),
            "--batch-size".into(),
            "2".into(),
            "--steps".into(),
            "1".into(),
        ]
    };
    for cache in [arg(&file).to_string(), "off".to_string()] {
        let args = args(&cache);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let out = cli(&home).command(&args).current_dir(tmp.path()).output().unwrap();
        let stderr = text(&out.stderr);
        assert!(out.status.success(), "{stderr}");
        let warnings = stderr.matches("kernel cache").count();
        assert_eq!(warnings, usize::from(cache != "off"), "{stderr}");
        assert!(text(&out.stdout).contains("kernel cache: off"), "{}", text(&out.stdout));
    }
    assert_eq!(std::fs::read(&file).unwrap(), b"x");
    assert!(files_under(&home).is_empty(), "{:?}", files_under(&home));
    let stray: Vec<PathBuf> = files_under(tmp.path())
        .into_iter()
        .filter(|f| f.extension().is_some_and(|e| e == "db"))
        .collect();
    assert!(stray.is_empty(), "{stray:?}");
}

#[test]
fn train_on_cubecl_cpu_records_its_first_step() {
    let tmp = tempfile::tempdir().unwrap();
    let data = synthetic_dataset(tmp.path(), DatasetSpec::new(24, 5, 32));
    let run = tmp.path().join("run");
    let home = tmp.path().join("home");
    cli(&home).ok(&[
        "train",
        "--dataset",
        arg(&data),
        "--out",
        arg(&run),
        "--device",
        "cubecl-cpu",
        "--backbone",
        "tiny",
        "--image-size",
        "32",
        "--epochs",
        "1",
        "--batch-size",
        "8",
        "--workers",
        "1",
    ]);
    let summary: RunSummary = read_json(&RunDir::new(&run).summary()).unwrap();
    assert!(summary.warmup_seconds.is_some_and(|s| s > 0.0), "{summary:?}");
}
