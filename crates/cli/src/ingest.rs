//! `animescore ingest`.

use std::path::PathBuf;
use std::process::ExitCode;

use animescore_dataset::{IngestOptions, ingest};

use crate::progress::Bar;
use animescore_fs::Shown;

#[derive(clap::Args)]
pub struct IngestArgs {
    /// The dataset folder (shard folders of images and gallery-dl `.json` files).
    pub dataset: PathBuf,
    /// Index file [default: DATASET/.database/metadata.sqlite3].
    #[arg(long)]
    pub db: Option<PathBuf>,
    /// Character-alias table (SQLite `character_tags`, CSV or JSON) for `tag_character`.
    #[arg(long)]
    pub character_aliases: Option<PathBuf>,
    /// Parser threads, 1..=512 [default: all cores].
    #[arg(long, short, value_parser = crate::bounds::jobs)]
    pub jobs: Option<usize>,
    /// Rows per transaction, 1..=1000000.
    #[arg(long, default_value_t = 1000, value_parser = crate::bounds::ingest_batch)]
    pub batch_size: usize,
}

pub fn run(args: &IngestArgs) -> anyhow::Result<ExitCode> {
    let opts = IngestOptions {
        root: args.dataset.clone(),
        db_path: args.db.clone(),
        characters: args.character_aliases.clone(),
        jobs: args.jobs,
        batch_size: args.batch_size,
    };
    let bar = Bar::new("ingest");
    let report = ingest(&opts, &bar)?;
    bar.finish();
    println!(
        "{}: {} added, {} updated, {} unchanged, {} skipped ({} rows in the index{})",
        Shown::path(&report.db_path),
        report.added,
        report.updated,
        report.unchanged,
        report.skipped(),
        report.total_rows,
        if report.characters_refreshed > 0 {
            format!(", tag_character refreshed for {}", report.characters_refreshed)
        } else {
            String::new()
        }
    );
    // Failure only when there was input and none of it could be used.
    let nothing_done = report.total_rows == 0 && report.skipped() > 0;
    Ok(if nothing_done { ExitCode::FAILURE } else { ExitCode::SUCCESS })
}
