//! `animescore benchmark`: training and inference images/s of a model on a device.

use std::process::ExitCode;

use animescore_heads::{Embedding, Variant};
use animescore_run::{DeviceSpec, Precision, TrainConfig};
use animescore_training::{
    BenchOptions, BenchReport, LoaderBenchOptions, loader_throughput, throughput,
};

#[derive(clap::Args)]
pub struct BenchmarkArgs {
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
    /// Images per batch, 1..=65536; a comma-separated list measures each in turn in this
    /// process (GPU kernels compiled for the first are reused by the others).
    #[arg(long, value_delimiter = ',', default_value = "32", value_parser = crate::bounds::batch_size)]
    pub batch_size: Vec<usize>,
    /// Timed steps, 0..=100000.
    #[arg(long, default_value_t = 20, value_parser = crate::bounds::bench_steps)]
    pub steps: usize,
    /// Untimed steps first (kernel compilation and autotuning on GPUs), 0..=100000.
    #[arg(long, default_value_t = 3, value_parser = crate::bounds::bench_steps)]
    pub warmup: usize,
    /// Device: flex (CPU), vulkan[:N] or cuda[:N].
    #[arg(long, default_value = "flex")]
    pub device: DeviceSpec,
    /// Training precision: f32 or bf16; a comma-separated list measures each in turn.
    #[arg(long, value_delimiter = ',', default_value = "f32")]
    pub precision: Vec<Precision>,
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
    anyhow::ensure!(
        args.steps > 0 && !args.batch_size.is_empty() && args.batch_size.iter().all(|&b| b > 0),
        "--steps and --batch-size must be positive"
    );
    let mut failed = false;
    for &precision in &args.precision {
        for &batch_size in &args.batch_size {
            let config = TrainConfig {
                backbone: args.backbone.clone(),
                variant: args.variant,
                embedding: args.embedding,
                image_size: args.image_size,
                batch_size: Some(batch_size),
                device: args.device,
                precision,
                ..TrainConfig::default()
            };
            let opts = BenchOptions {
                config,
                steps: args.steps,
                warmup: args.warmup,
                train: args.mode != "predict",
                predict: args.mode != "train",
            };
            // One failed setting (e.g. out of memory at a large batch) does not stop the rest.
            match throughput(&opts) {
                Ok(report) => print_report(&report, args.json)?,
                Err(e) => {
                    failed = true;
                    eprintln!(
                        "error: batch {batch_size}, {precision}: {:#}",
                        anyhow::Error::new(e)
                    );
                }
            }
        }
    }
    Ok(if failed { ExitCode::FAILURE } else { ExitCode::SUCCESS })
}

fn print_report(report: &BenchReport, json: bool) -> anyhow::Result<()> {
    if json {
        println!("{}", serde_json::to_string(report)?);
        return Ok(());
    }
    let rate = |v: Option<f64>| v.map_or("-".to_string(), |v| format!("{v:.1}"));
    println!(
        "{} {} at {} px, batch {}, {} on {}: train {} images/s, predict {} images/s \
         (warm-up {:.1} s{})",
        report.backbone,
        report.variant,
        report.image_size,
        report.batch_size,
        report.precision,
        report.device,
        rate(report.train_images_per_s),
        rate(report.predict_images_per_s),
        report.warmup_seconds,
        report.device_reserved_mib.map(|m| format!(", {m:.0} MiB held")).unwrap_or_default()
    );
    Ok(())
}

fn run_loader(args: &BenchmarkArgs) -> anyhow::Result<ExitCode> {
    let Some(dataset) = &args.dataset else {
        anyhow::bail!("--mode loader needs --dataset DIR (an indexed dataset folder)");
    };
    let config = TrainConfig {
        backbone: args.backbone.clone(),
        image_size: args.image_size,
        ..TrainConfig::default()
    };
    let input_spec = config.backbone_config()?.input_spec();
    let report = loader_throughput(&LoaderBenchOptions {
        dataset: dataset.clone(),
        preprocess: config.preprocess(input_spec),
        augment: config.augment.clone(),
        batch_size: args.batch_size[0],
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
            args.batch_size[0],
            report.fill_seconds
        );
    }
    Ok(ExitCode::SUCCESS)
}
