//! `animescore curate` and the curation flags shared with `predict`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use animescore_curate::{
    CaptionMode, CaptionOptions, CurateOptions, CurateReport, ManifestRow, Selection, Status,
    Transfer, TransferKind, curate, undo,
};
use animescore_fs::Shown;
use animescore_scorefile::Tier;

/// Selection, transfer and caption flags (`predict` applies them to its output file).
#[derive(clap::Args, Debug, Clone, Default)]
pub struct CurateArgs {
    /// Act only on images scoring at least X (1..100).
    #[arg(long, value_name = "X")]
    pub min_score: Option<f64>,
    /// Act only on images of tier T or better (worst, low, normal, good, great, best,
    /// masterpiece).
    #[arg(long, value_name = "T")]
    pub min_tier: Option<Tier>,
    /// Act only on the N best-scoring images (after --min-score / --min-tier).
    #[arg(long, value_name = "N")]
    pub top: Option<usize>,
    /// Copy the selected images (with their metadata JSON and caption) into DIR.
    #[arg(long, value_name = "DIR", group = "transfer")]
    pub copy_to: Option<PathBuf>,
    /// Move the selected images (with their metadata JSON and caption) into DIR.
    #[arg(long, value_name = "DIR", group = "transfer")]
    pub move_to: Option<PathBuf>,
    /// Link the selected images (with their metadata JSON and caption) into DIR.
    #[arg(long, value_name = "DIR", group = "transfer")]
    pub link_to: Option<PathBuf>,
    /// Kind of link of --link-to: `symbolic` (absolute path of the image) or `hard` (same
    /// file system only).
    #[arg(long, value_name = "KIND", default_value = "symbolic", value_parser = ["symbolic", "hard"])]
    pub link_kind: String,
    /// One sub-folder per tier inside the destination.
    #[arg(long)]
    pub by_tier: bool,
    /// Print the plan; change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Where to record every copy / move / link [default: DIR/animescore-manifest-TIME.csv].
    #[arg(long, value_name = "FILE")]
    pub manifest: Option<PathBuf>,
    /// Write or update a caption file with this extension (e.g. `.txt`) beside each selected
    /// image: its tier tag and `score_NN`.
    #[arg(long, value_name = "EXT")]
    pub caption_ext: Option<String>,
    /// How an existing caption is updated: append, prepend or skip-existing.
    #[arg(long, value_name = "MODE", default_value = "append", requires = "caption_ext")]
    pub caption_mode: String,
}

impl CurateArgs {
    /// Whether any action was asked for (selection flags alone do nothing).
    pub fn acts(&self) -> bool {
        self.transfer().is_some() || self.caption_ext.is_some()
    }

    fn transfer(&self) -> Option<Transfer> {
        let (kind, dest) = match (&self.copy_to, &self.move_to, &self.link_to) {
            (Some(d), _, _) => (TransferKind::Copy, d),
            (_, Some(d), _) => (TransferKind::Move, d),
            (_, _, Some(d)) if self.link_kind == "hard" => (TransferKind::Hardlink, d),
            (_, _, Some(d)) => (TransferKind::Symlink, d),
            _ => return None,
        };
        Some(Transfer { kind, dest: dest.clone(), by_tier: self.by_tier })
    }

    /// The library's options (checks the values).
    pub fn options(&self) -> anyhow::Result<CurateOptions> {
        if let Some(x) = self.min_score {
            anyhow::ensure!(x.is_finite(), "--min-score must be a number");
        }
        let transfer = self.transfer();
        // Time and process id: two runs started in the same second never share a manifest
        // (and an existing file is never replaced in any case).
        let manifest = match (&self.manifest, &transfer) {
            (Some(m), _) => Some(m.clone()),
            (None, Some(t)) => Some(t.dest.join(format!(
                "animescore-manifest-{}-{}.csv",
                chrono::Utc::now().format("%Y%m%d-%H%M%S"),
                std::process::id()
            ))),
            (None, None) => None,
        };
        let caption = match &self.caption_ext {
            Some(ext) => {
                let caption = CaptionOptions {
                    ext: ext.clone(),
                    mode: self.caption_mode.parse::<CaptionMode>()?,
                };
                caption.validate()?;
                Some(caption)
            }
            None => None,
        };
        Ok(CurateOptions {
            selection: Selection {
                min_score: self.min_score,
                min_tier: self.min_tier,
                top: self.top,
            },
            transfer,
            caption,
            dry_run: self.dry_run,
            manifest,
        })
    }
}

#[derive(clap::Args)]
pub struct CurateCommandArgs {
    /// A score file written by `animescore predict` (.csv, .jsonl or .json).
    #[arg(long, value_name = "FILE", required_unless_present = "undo")]
    pub scores: Option<PathBuf>,
    /// Revert the copies, moves and links recorded in a manifest (last first).
    #[arg(long, value_name = "MANIFEST", conflicts_with = "scores")]
    pub undo: Option<PathBuf>,
    #[command(flatten)]
    pub curate: CurateArgs,
}

pub fn run(args: &CurateCommandArgs) -> anyhow::Result<ExitCode> {
    if let Some(manifest) = &args.undo {
        let report = undo(manifest, args.curate.dry_run)?;
        for (path, why) in &report.kept {
            eprintln!("kept {}: {why}", Shown::path(path));
        }
        for f in &report.failed {
            eprintln!("failed {f}");
        }
        eprintln!(
            "{}: {} actions {}, {} with nothing to revert, {} kept, {} failed",
            Shown::path(manifest),
            report.reverted,
            if args.curate.dry_run { "would be reverted" } else { "reverted" },
            report.skipped,
            report.kept.len(),
            report.failed.len()
        );
        let complete = report.failed.is_empty() && report.kept.is_empty();
        return Ok(if complete { ExitCode::SUCCESS } else { ExitCode::FAILURE });
    }
    let Some(scores) = &args.scores else { anyhow::bail!("--scores FILE is required") };
    anyhow::ensure!(
        args.curate.acts(),
        "nothing to do: give --copy-to, --move-to, --link-to or --caption-ext"
    );
    apply(scores, &args.curate)
}

/// Applies the curation flags to a score file and prints the outcome.
pub fn apply(scores: &Path, args: &CurateArgs) -> anyhow::Result<ExitCode> {
    let opts = args.options()?;
    let report = curate(scores, &opts, &mut |row| print_action(row))?;
    print_report(scores, &opts, &report);
    // An unreadable row (a `tier` that is not a tier, say) is an image not acted on.
    let clean = report.failed == 0 && report.bad_rows.is_empty();
    Ok(if clean { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}

fn print_action(row: &ManifestRow) {
    let verb = row.action.name();
    let (source, destination) = (Shown::path(&row.source), Shown::path(&row.destination));
    match row.status {
        Status::Planned => eprintln!("would {verb} {source} -> {destination}"),
        Status::Skipped | Status::Failed => eprintln!(
            "{} {verb} {source} -> {destination}: {}",
            if row.status == Status::Skipped { "skipped" } else { "failed" },
            Shown::text(&row.reason)
        ),
        Status::Done => {}
    }
}

fn print_report(scores: &Path, opts: &CurateOptions, r: &CurateReport) {
    let scores_shown = Shown::path(scores);
    for bad in &r.bad_rows {
        eprintln!("unreadable row of {scores_shown} (left alone): {}", Shown::text(bad));
    }
    for (path, why) in &r.captions_skipped {
        eprintln!("skipped caption {}: {}", Shown::path(path), Shown::text(why));
    }
    let dry = if opts.dry_run { " (dry run: nothing changed)" } else { "" };
    let mut line = format!("{scores_shown}: {} of {} images selected", r.selected, r.rows);
    if opts.caption.is_some() {
        line += &format!(
            ", {} captions written, {} unchanged, {} skipped",
            r.captions_written,
            r.captions_unchanged,
            r.captions_skipped.len()
        );
    }
    if let Some(t) = &opts.transfer {
        line += &format!(
            ", {} files {} to {}, {} skipped, {} failed",
            r.transferred,
            if opts.dry_run { "planned" } else { "transferred" },
            Shown::path(&t.dest),
            r.skipped,
            r.failed
        );
        if let (Some(m), false) = (&opts.manifest, opts.dry_run) {
            line += &format!("; manifest {} (undo: animescore curate --undo FILE)", Shown::path(m));
        }
    }
    eprintln!("{line}{dry}");
}
