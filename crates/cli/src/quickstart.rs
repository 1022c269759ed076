//! `animescore quickstart`: the whole chain on synthetic data with the CPU defaults —
//! synth → ingest → train (`attention` on `tiny`) → eval → predict.

use std::path::PathBuf;
use std::process::ExitCode;

use animescore_dataset::{IngestOptions, SynthOptions, ingest, synthesize};
use anyhow::Context;
use clap::{Args, FromArgMatches};

use crate::progress::Bar;
use crate::{eval, predict, train};

#[derive(clap::Args)]
pub struct QuickstartArgs {
    /// Working folder for the synthetic dataset, the run and the predictions.
    #[arg(long, default_value = "quickstart")]
    pub dir: PathBuf,
    /// Number of synthetic images, 1..=1000000.
    #[arg(long, default_value_t = 1000, value_parser = crate::bounds::synth_count)]
    pub count: usize,
    /// Maximum training epochs, 1..=100000 (early stopping usually ends sooner).
    #[arg(long, default_value_t = 40, value_parser = crate::bounds::epochs)]
    pub epochs: usize,
    /// Seed of the training run (the synthetic data is always the same).
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
}

/// Parses a subcommand's arguments as the command line would, so defaults stay in one place.
fn parse<T: Args + FromArgMatches>(name: &'static str, argv: &[String]) -> anyhow::Result<T> {
    let cmd = T::augment_args(clap::Command::new(name).no_binary_name(true));
    let matches = cmd.try_get_matches_from(argv).context("quickstart arguments")?;
    Ok(T::from_arg_matches(&matches)?)
}

pub fn run(args: &QuickstartArgs) -> anyhow::Result<ExitCode> {
    let dataset = args.dir.join("dataset");
    let run_dir = args.dir.join("run");
    let s = |p: &PathBuf| p.display().to_string();

    println!("1/5 synth: {} synthetic 64 px images in {}", args.count, dataset.display());
    let synth = synthesize(&dataset, &SynthOptions { count: args.count, seed: 42, size: 64 })?;

    println!("2/5 ingest: indexing {} (with its character aliases)", dataset.display());
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

    println!(
        "3/5 train: attention variant on the tiny backbone, CPU (flex) -> {}",
        run_dir.display()
    );
    let argv: Vec<String> = [
        "--dataset",
        &s(&dataset),
        "--out",
        &s(&run_dir),
        "--backbone",
        "tiny",
        "--variant",
        "attention",
        "--image-size",
        "64",
        "--epochs",
        &args.epochs.to_string(),
        "--seed",
        &args.seed.to_string(),
        // Batch size and learning rate come from the recipe for a tiny backbone trained from
        // scratch (see `animescore_run::Recipe`).
        // A finished run of an earlier quickstart is retrained from scratch (`--overwrite`
        // replaces only a folder `train` made; anything else there is refused, not deleted).
        "--overwrite",
    ]
    .map(String::from)
    .to_vec();
    train::run(&parse::<train::TrainArgs>("train", &argv)?)?;

    println!("4/5 eval: held-out test split");
    eval::run(&parse::<eval::EvalArgs>("eval", &["--model".into(), s(&run_dir)])?)?;

    let out = args.dir.join("predictions.csv");
    println!("5/5 predict: every image of the dataset -> {}", out.display());
    let argv =
        ["--model", &s(&run_dir), "--sort", "--out", &s(&out), &s(&dataset)].map(String::from);
    predict::run(&parse::<predict::PredictArgs>("predict", &argv)?)?;
    println!("done: run artifacts in {}, predictions in {}", run_dir.display(), out.display());
    Ok(ExitCode::SUCCESS)
}
