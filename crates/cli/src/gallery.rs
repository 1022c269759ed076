//! `animescore gallery`: an HTML page of `predict`'s output, thumbnails embedded or in a
//! folder beside it.

use std::path::PathBuf;
use std::process::ExitCode;

use animescore_fs::Shown;
use animescore_gallery::{EMBED_LIMIT, Embed, GalleryOptions, write_gallery};

use crate::progress::Bar;

#[derive(clap::Args)]
pub struct GalleryArgs {
    /// predict's output: FILE.csv, FILE.jsonl or FILE.json.
    #[arg(long)]
    pub scores: PathBuf,
    /// The page to write (FILE.html); above 2,000 cards its thumbnails go into FILE-thumbs/
    /// beside it.
    #[arg(long)]
    pub out: PathBuf,
    /// Longer side of the thumbnails in pixels.
    #[arg(long, default_value_t = 256)]
    pub thumb_size: u32,
    /// Embed the thumbnails in the page whatever the number of cards (one file).
    #[arg(long, conflicts_with = "no_embed")]
    pub embed: bool,
    /// Write the thumbnails into FILE-thumbs/ beside the page whatever the number of cards.
    #[arg(long)]
    pub no_embed: bool,
    /// A folder written by `animescore explain`: cards link to their explanation picture.
    #[arg(long)]
    pub explanations: Option<PathBuf>,
    /// Page title.
    #[arg(long, default_value = "animescore gallery")]
    pub title: String,
}

pub fn run(args: &GalleryArgs) -> anyhow::Result<ExitCode> {
    let embed = match (args.embed, args.no_embed) {
        (true, _) => Embed::Always,
        (_, true) => Embed::Never,
        _ => Embed::Auto,
    };
    let options = GalleryOptions {
        thumb_size: args.thumb_size,
        explanations: args.explanations.clone(),
        title: args.title.clone(),
        embed,
    };
    let bar = Bar::new("thumbnails");
    let result = write_gallery(&args.scores, &args.out, &options, &bar);
    bar.finish();
    let report = result?;
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
    let thumbs = match &report.thumbs_dir {
        Some(dir) => format!("thumbnails in {}", Shown::path(dir)),
        None if embed == Embed::Auto => format!("thumbnails embedded (up to {EMBED_LIMIT} cards)"),
        None => "thumbnails embedded".into(),
    };
    println!(
        "{}: {} cards, {} KB, {thumbs} ({} without thumbnail, {} with an explanation), {} \
         records skipped",
        Shown::path(&args.out),
        report.cards,
        report.page_bytes.div_ceil(1024),
        report.missing_images.len(),
        report.explained,
        report.skipped_rows.len()
    );
    Ok(if report.cards == 0 { ExitCode::FAILURE } else { ExitCode::SUCCESS })
}
