//! `animescore synth`.

use std::path::PathBuf;
use std::process::ExitCode;

use animescore_dataset::{SynthOptions, synthesize};
use animescore_fs::Shown;

#[derive(clap::Args)]
pub struct SynthArgs {
    /// Folder to write the dataset into (created if missing).
    pub dir: PathBuf,
    /// Number of images, 1..=1000000.
    #[arg(long, default_value_t = 500, value_parser = crate::bounds::synth_count)]
    pub count: usize,
    /// Random seed.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Image side in pixels, 16..=4096.
    #[arg(long, default_value_t = 64)]
    pub size: u32,
}

pub fn run(args: &SynthArgs) -> anyhow::Result<ExitCode> {
    let report = synthesize(
        &args.dir,
        &SynthOptions { count: args.count, seed: args.seed, size: args.size },
    )?;
    println!(
        "{}: {} images of {} artworks; character aliases in {}",
        Shown::path(&args.dir),
        report.images,
        report.artworks,
        Shown::path(&report.aliases)
    );
    Ok(ExitCode::SUCCESS)
}
