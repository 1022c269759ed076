//! `animescore experiments`.

use std::path::PathBuf;
use std::process::ExitCode;

use animescore_training::{GridConfig, GridProgress, TrainProgress, run_grid};

use crate::train::EpochDisplay;
use animescore_fs::Shown;

#[derive(clap::Args)]
pub struct ExperimentsArgs {
    /// Grid file (TOML): backbones, variants, embeddings, scores and a [base] config.
    #[arg(long)]
    pub grid: PathBuf,
    /// The dataset folder (indexed with `animescore ingest`).
    #[arg(long)]
    pub dataset: PathBuf,
    /// Output folder: one run directory per grid point, results.md/.csv/.svg.
    #[arg(long)]
    pub out: PathBuf,
}

struct Display(EpochDisplay);

impl GridProgress for Display {
    fn run_start(&self, index: usize, total: usize, name: &str, skipped: bool) {
        let what = if skipped { "already finished" } else { "training" };
        eprintln!("[{}/{total}] {name}: {what}", index + 1);
    }

    fn train_progress(&self) -> &dyn TrainProgress {
        &self.0
    }
}

pub fn run(args: &ExperimentsArgs) -> anyhow::Result<ExitCode> {
    let grid = GridConfig::from_file(&args.grid)?;
    let rows = run_grid(&grid, &args.dataset, &args.out, &Display(EpochDisplay::new()))?;
    print!("{}", animescore_training::results_md(&rows));
    println!("\nresults in {}", Shown::path(&args.out.join("results.md")));
    Ok(ExitCode::SUCCESS)
}
