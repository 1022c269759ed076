//! `animescore gallery`: one self-contained HTML page of `predict`'s output.

use std::path::PathBuf;
use std::process::ExitCode;

use animescore_fs::Shown;
use animescore_gallery::{GalleryOptions, write_gallery};

#[derive(clap::Args)]
pub struct GalleryArgs {
    /// predict's output: FILE.csv, FILE.jsonl or FILE.json.
    #[arg(long)]
    pub scores: PathBuf,
    /// The page to write (FILE.html).
    #[arg(long)]
    pub out: PathBuf,
    /// Longer side of the embedded thumbnails in pixels.
    #[arg(long, default_value_t = 256)]
    pub thumb_size: u32,
    /// A folder written by `animescore explain`: cards link to their explanation picture.
    #[arg(long)]
    pub explanations: Option<PathBuf>,
    /// Page title.
    #[arg(long, default_value = "animescore gallery")]
    pub title: String,
}

pub fn run(args: &GalleryArgs) -> anyhow::Result<ExitCode> {
    let options = GalleryOptions {
        thumb_size: args.thumb_size,
        explanations: args.explanations.clone(),
        title: args.title.clone(),
    };
    let report = write_gallery(&args.scores, &args.out, &options)?;
    for (record, reason) in &report.skipped_rows {
        eprintln!(
            "skipped record {record} of {}: {}",
            Shown::path(&args.scores),
            Shown::text(reason)
        );
    }
    for (path, reason) in &report.missing_images {
        eprintln!("no thumbnail for {}: {}", Shown::path(path), Shown::text(reason));
    }
    println!(
        "{}: {} cards ({} without thumbnail, {} with an explanation), {} records skipped",
        Shown::path(&args.out),
        report.cards,
        report.missing_images.len(),
        report.explained,
        report.skipped_rows.len()
    );
    Ok(if report.cards == 0 { ExitCode::FAILURE } else { ExitCode::SUCCESS })
}
