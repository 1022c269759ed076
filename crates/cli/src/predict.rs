//! `animescore predict`: streams scores of images into a score file, then optionally acts on
//! them (the curation flags of `curate`).

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::ExitCode;

use animescore_inference::{Predictor, Shard, StreamOptions, predict_to};
use animescore_run::{DeviceSpec, Pass, check_model_size};
use animescore_scorefile::{ScoreTarget, TierCuts};

use crate::curate::{CurateArgs, apply};
use crate::progress::Bar;
use animescore_fs::Shown;

#[derive(clap::Args)]
pub struct PredictArgs {
    /// A run directory written by `animescore train`.
    #[arg(long)]
    pub model: PathBuf,
    /// An index (metadata.sqlite3) whose known AI flag, sanity level and tags are fed to
    /// the meta-embed / attention variants instead of their own predictions.
    #[arg(long)]
    pub metadata: Option<PathBuf>,
    /// Sort the finished output by score, best first (the whole output is rewritten at the
    /// end; to stdout, every row is held until the end).
    #[arg(long)]
    pub sort: bool,
    /// Score file: FILE.csv, FILE.jsonl (rows appended batch by batch) or FILE.json (written
    /// at the end); `-` or nothing: CSV on stdout.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Skip images already in --out (a truncated last line of a killed run is dropped).
    #[arg(long)]
    pub resume: bool,
    /// Score only part K of N (1 <= K <= N) of the inputs, chosen by a hash of each image's
    /// path relative to its input folder: N runs cover every image exactly once.
    #[arg(long, value_name = "K/N")]
    pub shard: Option<String>,
    /// Tier cut-offs: lower percentiles of low, normal, good, great, best, masterpiece
    /// [default: the run's calibration.json, else 10,25,50,75,90,97].
    #[arg(long, value_name = "P,P,P,P,P,P")]
    pub tiers: Option<String>,
    /// Device: flex (CPU), cubecl-cpu, vulkan[:N] or cuda[:N].
    #[arg(long, default_value = "flex")]
    pub device: String,
    /// Images per forward pass, 1..=65536 [default: the run's batch size, at most 32].
    #[arg(long, value_parser = crate::bounds::batch_size)]
    pub batch_size: Option<usize>,
    #[command(flatten)]
    pub curate: CurateArgs,
    /// Images or folders (searched recursively for image files).
    #[arg(required = true)]
    pub inputs: Vec<PathBuf>,
}

pub fn run(args: &PredictArgs) -> anyhow::Result<ExitCode> {
    let target = ScoreTarget::new(args.out.as_deref().unwrap_or(std::path::Path::new("-")));
    let shard = args.shard.as_deref().map(str::parse::<Shard>).transpose()?;
    let tiers = args
        .tiers
        .as_deref()
        .map(str::parse::<TierCuts>)
        .transpose()
        .map_err(|e| anyhow::anyhow!("--tiers: {e}"))?;
    if let Some(n) = args.batch_size {
        anyhow::ensure!(n > 0, "--batch-size must be positive");
    }
    if args.curate.acts() || args.curate.dry_run {
        anyhow::ensure!(
            matches!(target, ScoreTarget::File(_)) && !target.is_special_file(),
            "the curation flags act on the finished score file: give --out FILE"
        );
    }
    args.curate.options()?; // checks the curation values before any scoring
    let device = args.device.parse::<DeviceSpec>()?;
    let mut predictor = Predictor::load(&args.model, device)?;
    if let Some(n) = args.batch_size {
        predictor.batch_size = n;
    }
    let (model, size) = (&predictor.config().model, predictor.config().preprocess.size);
    check_model_size(model, size, predictor.batch_size, device, Pass::Infer)?;
    if let Some(t) = tiers {
        predictor.set_tiers(t);
    }
    let known = match &args.metadata {
        Some(db) => predictor.known_from_index(db)?,
        None => HashMap::new(),
    };
    let mut protected = vec![(args.model.clone(), "a file of the model")];
    if let Some(db) = &args.metadata {
        protected.push((db.clone(), "the index"));
    }
    let opts = StreamOptions {
        inputs: args.inputs.clone(),
        target: target.clone(),
        resume: args.resume,
        shard,
        sort: args.sort,
        protected,
    };
    let bar = Bar::new("scoring");
    let result = predict_to(&predictor, &known, &opts, &bar);
    bar.finish();
    let report = result?;
    let out = target.display();
    if report.found == 0 {
        anyhow::bail!("no PNG or JPEG image among the inputs");
    }
    if report.dropped_tail > 0 {
        eprintln!(
            "{}: dropped a truncated last line ({} bytes)",
            Shown::path(&out),
            report.dropped_tail
        );
    }
    for bad in &report.bad_existing {
        eprintln!("{}: unreadable row kept as it is: {}", Shown::path(&out), Shown::text(bad));
    }
    let todo = report.in_shard - report.already_done;
    let mut summary = format!(
        "{}: {} images scored, {} skipped",
        Shown::path(&out),
        report.scored,
        report.failed
    );
    if report.already_done > 0 {
        summary += &format!(", {} already there", report.already_done);
    }
    if shard.is_some() {
        summary += &format!(" (shard: {} of {} images)", report.in_shard, report.found);
        if report.in_shard == 0 && report.written {
            summary += "; the shard selects no image, so the file holds the header only";
        }
    }
    eprintln!("{summary}");
    if todo > 0 && report.scored == 0 {
        eprintln!("no image could be read; {} left as it was", Shown::path(&out));
        return Ok(ExitCode::FAILURE);
    }
    match (&target, args.curate.acts()) {
        (ScoreTarget::File(path), true) => apply(path, &args.curate),
        _ => Ok(ExitCode::SUCCESS),
    }
}
