//! `animescore eval`.

use std::path::PathBuf;
use std::process::ExitCode;

use animescore_dataset::Split;
use animescore_fs::Shown;
use animescore_inference::{EvalOptions, evaluate_run};
use animescore_run::DeviceSpec;

#[derive(clap::Args)]
pub struct EvalArgs {
    /// A run directory written by `animescore train`.
    #[arg(long)]
    pub model: PathBuf,
    /// Dataset folder [default: the one the run was trained on].
    #[arg(long)]
    pub dataset: Option<PathBuf>,
    /// Which split to evaluate: test or validation.
    #[arg(long, default_value = "test")]
    pub split: String,
    /// Device: flex (CPU), cubecl-cpu, vulkan[:N] or cuda[:N].
    #[arg(long, default_value = "flex")]
    pub device: String,
    /// Images per batch, 1..=65536.
    #[arg(long, default_value_t = 32, value_parser = crate::bounds::batch_size)]
    pub batch_size: usize,
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub cache: crate::progress::CacheArgs,
}

pub fn run(args: &EvalArgs) -> anyhow::Result<ExitCode> {
    let split = match args.split.as_str() {
        "test" => Split::Test,
        "validation" | "valid" => Split::Validation,
        "train" => Split::Train,
        other => anyhow::bail!("unknown split `{other}` (expected test or validation)"),
    };
    let report = evaluate_run(&EvalOptions {
        run: args.model.clone(),
        dataset: args.dataset.clone(),
        split,
        device: args.device.parse::<DeviceSpec>()?,
        batch_size: args.batch_size.max(1),
        cache: args.cache.choice(),
    })?;
    for (path, reason) in &report.unreadable {
        eprintln!("skipped {}: {}", Shown::path(path), Shown::text(reason));
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        println!(
            "{} on the {} split of {} ({} images{})",
            Shown::path(&report.run),
            report.split,
            Shown::path(&report.dataset),
            report.metrics.n,
            if report.missing_images > 0 {
                format!(", {} records without image", report.missing_images)
            } else {
                String::new()
            }
        );
        print!(
            "{}",
            animescore_training::metrics_table(&[(report.split.as_str(), &report.metrics)])
        );
    }
    Ok(ExitCode::SUCCESS)
}
