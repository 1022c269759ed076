//! `animescore scores`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use animescore_dataset::{Database, TagFilter};
use animescore_fs::{is_stdout, write_output};
use animescore_scoring::{Counts, ScoreMethod, Scorer};
use anyhow::{Context, bail};

use crate::score_args::ScoreParams;
use animescore_fs::Shown;

#[derive(clap::Args)]
pub struct ScoresArgs {
    /// The index (from `animescore ingest`).
    #[arg(long)]
    pub db: PathBuf,
    /// weighted-log | time-decay | ctr-quantile | bookmark-ratio.
    #[arg(long, default_value = "weighted-log")]
    pub method: String,
    #[command(flatten)]
    pub params: ScoreParams,
    /// Fitted scalers to apply (transform only). Without it, the score is fitted on the rows it
    /// scores, as the original tool did.
    #[arg(long)]
    pub scalers: Option<PathBuf>,
    /// Also save the fitted scalers here (JSON).
    #[arg(long)]
    pub save_scalers: Option<PathBuf>,
    /// Output CSV (`-`: standard output) [default: standard output].
    #[arg(long)]
    pub out: Option<PathBuf>,
}

fn method(args: &ScoresArgs) -> anyhow::Result<ScoreMethod> {
    args.params.apply(ScoreMethod::from_name(&args.method)?)
}

pub fn run(args: &ScoresArgs) -> anyhow::Result<ExitCode> {
    // Bad parameters are reported before any work starts.
    method(args)?;
    let inputs: Vec<&Path> =
        std::iter::once(args.db.as_path()).chain(args.scalers.as_deref()).collect();
    for output in [&args.out, &args.save_scalers].into_iter().flatten() {
        crate::outputs::refuse_clobbering(output, &inputs)?;
    }
    let db = Database::open_read_only(&args.db)?;
    // Scores need counts and dates only: tag lists, most of an index, are never read.
    let records = db.records_with(TagFilter::None)?;
    let scorer = match &args.scalers {
        Some(path) => {
            let text = animescore_fs::read_config(path)
                .with_context(|| format!("reading {}", path.display()))?;
            let scorer =
                Scorer::from_json(&text).with_context(|| format!("reading {}", path.display()))?;
            if scorer.method.name() != args.method && args.method != "weighted-log" {
                bail!(
                    "{} holds a {} scorer, not {}",
                    Shown::path(path),
                    scorer.method.name(),
                    args.method
                );
            }
            Some(scorer)
        }
        None => None,
    };
    let method = scorer.as_ref().map_or_else(|| method(args), |s| Ok(s.method))?;
    let needs_date =
        matches!(method, ScoreMethod::TimeDecay { .. } | ScoreMethod::CtrQuantile { .. });

    let mut usable = Vec::new();
    let mut skipped = 0usize;
    for r in &records {
        match (r.counts(), r.bookmarks, r.views) {
            (Some(counts), Some(b), Some(v)) if !needs_date || counts.uploaded.is_some() => {
                usable.push((r.filename.as_str(), b, v, counts));
            }
            _ => skipped += 1,
        }
    }
    if skipped > 0 {
        eprintln!(
            "skipped {skipped} rows without (non-negative) bookmark/view counts{}",
            if needs_date { " or upload date" } else { "" }
        );
    }
    let counts: Vec<Counts> = usable.iter().map(|u| u.3).collect();
    let scorer = match scorer {
        Some(s) => s,
        None => Scorer::fit(method, &counts)?,
    };
    if let Some(path) = &args.save_scalers {
        write_output(path, scorer.to_json()?.as_bytes())
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    let scores = scorer.score_all(&counts)?;

    let mut buf = csv::Writer::from_writer(Vec::new());
    buf.write_record(["filename", "score", "total_bookmarks", "total_view"])?;
    for ((filename, b, v, _), score) in usable.iter().zip(&scores) {
        buf.write_record([filename.to_string(), format!("{score}"), b.to_string(), v.to_string()])?;
    }
    let bytes = buf.into_inner().context("writing CSV")?;
    match &args.out {
        Some(path) if !is_stdout(path) => {
            write_output(path, &bytes)
                .with_context(|| format!("cannot write {}", path.display()))?;
            eprintln!("{}: {} scores ({})", Shown::path(path), scores.len(), method.name());
        }
        _ => write_output(Path::new("-"), &bytes).context("cannot write to standard output")?,
    }
    Ok(ExitCode::SUCCESS)
}
