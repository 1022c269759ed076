//! `animescore predict`.

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::ExitCode;

use animescore_training::predict::{collect_images, predictions_csv, write_predictions};
use animescore_training::{DeviceSpec, Predictor};

#[derive(clap::Args)]
pub struct PredictArgs {
    /// A run directory written by `animescore train`.
    #[arg(long)]
    pub model: PathBuf,
    /// An index (metadata.sqlite3) whose known AI flag, sanity level and tags are fed to
    /// the meta-embed / attention variants instead of their own predictions.
    #[arg(long)]
    pub metadata: Option<PathBuf>,
    /// Sort by score, best first.
    #[arg(long)]
    pub sort: bool,
    /// Write to FILE.csv or FILE.json instead of printing CSV.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Device: flex (CPU), vulkan[:N] or cuda[:N].
    #[arg(long, default_value = "flex")]
    pub device: String,
    /// Images per forward pass [default: the run's batch size, at most 32].
    #[arg(long)]
    pub batch_size: Option<usize>,
    /// Images or folders (searched recursively for PNG and JPEG files).
    #[arg(required = true)]
    pub inputs: Vec<PathBuf>,
}

pub fn run(args: &PredictArgs) -> anyhow::Result<ExitCode> {
    let images = collect_images(&args.inputs)?;
    if images.is_empty() {
        anyhow::bail!("no PNG or JPEG image among the inputs");
    }
    let mut predictor = Predictor::load(&args.model, args.device.parse::<DeviceSpec>()?)?;
    if let Some(n) = args.batch_size {
        anyhow::ensure!(n > 0, "--batch-size must be positive");
        predictor.batch_size = n;
    }
    let known = match &args.metadata {
        Some(db) => predictor.known_from_index(db)?,
        None => HashMap::new(),
    };
    let mut report = predictor.predict(&images, &known)?;
    for (path, reason) in &report.failed {
        eprintln!("skipped {}: {reason}", path.display());
    }
    if args.sort {
        report.predictions.sort_by(|a, b| b.score.total_cmp(&a.score));
    }
    match &args.out {
        Some(path) => {
            write_predictions(path, &report.predictions)?;
            println!(
                "{}: {} images scored, {} skipped",
                path.display(),
                report.predictions.len(),
                report.failed.len()
            );
        }
        None => print!("{}", predictions_csv(&report.predictions)?),
    }
    Ok(if report.predictions.is_empty() { ExitCode::FAILURE } else { ExitCode::SUCCESS })
}
