//! `animescore quickstart`: the whole chain on synthetic data, with CPU defaults.

use std::path::PathBuf;
use std::process::ExitCode;

use animescore_dataset::{IngestOptions, SynthOptions, ingest, synthesize};

use crate::progress::Bar;
use crate::scores::{self, ScoresArgs};

#[derive(clap::Args)]
pub struct QuickstartArgs {
    /// Working folder for the synthetic dataset and outputs.
    #[arg(long, default_value = "quickstart")]
    pub dir: PathBuf,
    /// Number of synthetic images.
    #[arg(long, default_value_t = 400)]
    pub count: usize,
}

pub fn run(args: &QuickstartArgs) -> anyhow::Result<ExitCode> {
    let dataset = args.dir.join("dataset");
    println!("1/3 synth: writing {} synthetic images to {}", args.count, dataset.display());
    let synth = synthesize(&dataset, &SynthOptions { count: args.count, seed: 42, size: 64 })?;

    println!("2/3 ingest: indexing {}", dataset.display());
    let mut opts = IngestOptions::new(&dataset);
    opts.characters = Some(synth.aliases);
    let bar = Bar::new("ingest");
    let report = ingest(&opts, &bar)?;
    bar.finish();
    println!(
        "    {} added, {} updated, {} unchanged, {} skipped; {} rows",
        report.added,
        report.updated,
        report.unchanged,
        report.skipped(),
        report.total_rows
    );

    let out = args.dir.join("scores.csv");
    println!("3/3 scores: weighted-log (alpha 0.7) to {}", out.display());
    scores::run(&ScoresArgs {
        db: opts.db_path(),
        method: "weighted-log".into(),
        alpha: animescore_scoring::DEFAULT_ALPHA,
        lambda: animescore_scoring::DEFAULT_CTR_LAMBDA,
        reference_date: None,
        scalers: None,
        save_scalers: Some(args.dir.join("scalers.json")),
        out: Some(out),
    })?;
    Ok(ExitCode::SUCCESS)
}
