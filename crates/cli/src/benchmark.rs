//! `animescore benchmark`: training and inference images/s of a model on a device.

use std::process::ExitCode;

use animescore_heads::{Embedding, Variant};
use animescore_run::{DeviceSpec, Precision, TrainConfig};
use animescore_training::{
    BenchOptions, BenchReport, LoaderBenchOptions, loader_throughput, throughput,
};

use crate::warmup_status::{self, WarmupStatus};

/// The model and the shapes to run: what decides which kernels a GPU compiles and tunes.
#[derive(clap::Args)]
pub struct ModelArgs {
    /// Backbone: tiny, resnet18..152, efficientnet-b0..b7, or custom:FILE.json.
    #[arg(long, default_value = "resnet50")]
    pub backbone: String,
    /// Model variant: multitask, meta-embed or attention.
    #[arg(long, default_value = "multitask")]
    pub variant: Variant,
    /// Metadata embedding: none, ai-sanity, tags or both.
    #[arg(long, default_value = "none")]
    pub embedding: Embedding,
    /// Input side in pixels, 8..=4096 [default: the backbone's].
    #[arg(long, value_parser = crate::bounds::image_size)]
    pub image_size: Option<usize>,
    /// Images per batch, 1..=65536; a comma-separated list runs each in turn in this
    /// process (GPU kernels compiled for the first are reused by the others).
    #[arg(long, value_delimiter = ',', default_value = "32", value_parser = crate::bounds::batch_size)]
    pub batch_size: Vec<usize>,
    /// Training precision: f32 or bf16; a comma-separated list runs each in turn.
    #[arg(long, value_delimiter = ',', default_value = "f32")]
    pub precision: Vec<Precision>,
}

impl ModelArgs {
    /// One configuration per (precision, batch size), in that order.
    pub fn configs(&self, device: DeviceSpec) -> anyhow::Result<Vec<TrainConfig>> {
        anyhow::ensure!(
            !self.batch_size.is_empty() && self.batch_size.iter().all(|&b| b > 0),
            "--batch-size must be positive"
        );
        let mut configs = Vec::new();
        for &precision in &self.precision {
            for &batch_size in &self.batch_size {
                configs.push(TrainConfig {
                    backbone: self.backbone.clone(),
                    variant: self.variant,
                    embedding: self.embedding,
                    image_size: self.image_size,
                    batch_size: Some(batch_size),
                    device,
                    precision,
                    ..TrainConfig::default()
                });
            }
        }
        Ok(configs)
    }
}

#[derive(clap::Args)]
pub struct BenchmarkArgs {
    #[command(flatten)]
    pub model: ModelArgs,
    /// Timed steps, 0..=100000.
    #[arg(long, default_value_t = 20, value_parser = crate::bounds::bench_steps)]
    pub steps: usize,
    /// Untimed steps first (kernel compilation and autotuning on GPUs), 0..=100000.
    #[arg(long, default_value_t = 3, value_parser = crate::bounds::bench_steps)]
    pub warmup: usize,
    /// Device: flex (CPU), cubecl-cpu, vulkan[:N] or cuda[:N].
    #[arg(long, default_value = "flex")]
    pub device: DeviceSpec,
    /// What to measure: training steps and inference passes of the model (`both`, `train`,
    /// `predict`), or the input pipeline alone on a dataset's images (`loader`, needs
    /// --dataset).
    #[arg(long, value_parser = ["both", "train", "predict", "loader"], default_value = "both")]
    pub mode: String,
    /// `--mode loader`: an indexed dataset folder whose images are read.
    #[arg(long)]
    pub dataset: Option<std::path::PathBuf>,
    /// `--mode loader`: loading threads, 0..=256.
    #[arg(long, default_value_t = 2, value_parser = crate::bounds::workers)]
    pub workers: usize,
    /// `--mode loader`: timed passes over the images, 0..=100000.
    #[arg(long, default_value_t = 3, value_parser = crate::bounds::bench_steps)]
    pub passes: usize,
    #[command(flatten)]
    pub cache: crate::progress::CacheArgs,
    /// Print one JSON line instead of text.
    #[arg(long)]
    pub json: bool,
}

pub fn run(args: &BenchmarkArgs) -> anyhow::Result<ExitCode> {
    if args.mode == "loader" {
        return run_loader(args);
    }
    anyhow::ensure!(args.steps > 0, "--steps must be positive");
    let mut failed = false;
    for config in args.model.configs(args.device)? {
        let opts = BenchOptions {
            config,
            steps: args.steps,
            warmup: args.warmup,
            train: args.mode != "predict",
            predict: args.mode != "train",
        };
        // One failed setting (e.g. out of memory at a large batch) does not stop the rest.
        match run_one(&opts) {
            Ok(report) => print_report(&report, args.json)?,
            Err(e) => {
                report_error(&opts, e);
                failed = true;
            }
        }
    }
    Ok(if failed { ExitCode::FAILURE } else { ExitCode::SUCCESS })
}

/// Measures one setting, with the kernel status line during its warm-up on a GPU backend.
pub fn run_one(opts: &BenchOptions) -> Result<BenchReport, animescore_training::TrainingError> {
    let status = opts.config.device.is_cubecl().then(|| WarmupStatus::start("warm-up steps"));
    let report = throughput(opts);
    if let Some(status) = status {
        status.finish();
    }
    report
}

/// Prints why a setting failed.
pub fn report_error(opts: &BenchOptions, e: animescore_training::TrainingError) {
    let c = &opts.config;
    eprintln!("error: batch {}, {}: {:#}", c.batch_size(), c.precision, anyhow::Error::new(e));
}

fn print_report(report: &BenchReport, json: bool) -> anyhow::Result<()> {
    if json {
        println!("{}", serde_json::to_string(report)?);
        return Ok(());
    }
    let rate = |v: Option<f64>| v.map_or("-".to_string(), |v| format!("{v:.1}"));
    println!(
        "{}: train {} images/s, predict {} images/s ({}{})",
        setting(report),
        rate(report.train_images_per_s),
        rate(report.predict_images_per_s),
        warmup_text(report),
        report.device_reserved_mib.map(|m| format!(", {m:.0} MiB held")).unwrap_or_default()
    );
    Ok(())
}

/// `resnet50 multitask at 224 px, batch 64, bf16 on cuda:0`.
pub fn setting(report: &BenchReport) -> String {
    format!(
        "{} {} at {} px, batch {}, {} on {}",
        report.backbone,
        report.variant,
        report.image_size,
        report.batch_size,
        report.precision,
        report.device
    )
}

/// `warm-up 95.2 s, first training step 60.1 s, 312 kernels compiled, 60 operations tuned`.
pub fn warmup_text(report: &BenchReport) -> String {
    let first = report.first_step_seconds.map(|s| format!(", first training step {s:.1} s"));
    format!(
        "warm-up {:.1} s{}{}",
        report.warmup_seconds,
        first.unwrap_or_default(),
        warmup_status::counts(report.kernels)
    )
}

fn run_loader(args: &BenchmarkArgs) -> anyhow::Result<ExitCode> {
    let Some(dataset) = &args.dataset else {
        anyhow::bail!("--mode loader needs --dataset DIR (an indexed dataset folder)");
    };
    let config = TrainConfig {
        backbone: args.model.backbone.clone(),
        image_size: args.model.image_size,
        ..TrainConfig::default()
    };
    let input_spec = config.backbone_config()?.input_spec();
    let report = loader_throughput(&LoaderBenchOptions {
        dataset: dataset.clone(),
        preprocess: config.preprocess(input_spec),
        augment: config.augment.clone(),
        batch_size: args.model.batch_size[0],
        workers: args.workers,
        passes: args.passes,
        cache: args.cache.choice(),
    })?;
    if args.json {
        println!("{}", serde_json::to_string(&report)?);
    } else {
        println!(
            "loader: {} images, {:.1} images/s over {} passes ({} workers, batch {}, \
             default augmentations); cache fill {:.1} s",
            report.images,
            report.images_per_s,
            args.passes,
            args.workers,
            args.model.batch_size[0],
            report.fill_seconds
        );
    }
    Ok(ExitCode::SUCCESS)
}
