//! `animescore explain`: heat maps of why each image got its score.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use animescore_explain::{Explainer, Explanation, MapState, Method, MethodChoice, overlay};
use animescore_fs::{OutputDir, Shown, Slot, lies_within};
use animescore_inference::collect_images;
use animescore_pipeline::{KnownLabels, known_from_index};
use animescore_run::{DeviceSpec, TrainedRun};
use anyhow::Context;
use image::{DynamicImage, ImageFormat, RgbImage};

#[derive(clap::Args)]
pub struct ExplainArgs {
    /// A run directory written by `animescore train`.
    #[arg(long)]
    pub model: PathBuf,
    /// Output folder: NAME.png (overlay), NAME.heatmap.png (greyscale, the input's size; not
    /// written for a map with nothing to show) and explanations.csv. Not an input folder.
    /// Files there that explain did not write are never replaced: the output takes the next
    /// free name (NAME-2.png) and says so.
    #[arg(long)]
    pub out: PathBuf,
    /// Replace regular files in --out that explain did not write (never links, FIFOs or
    /// folders).
    #[arg(long)]
    pub overwrite: bool,
    /// auto (Grad-CAM where the model's feature grid is at least 6x6 at its input size, else
    /// occlusion), attention (rollout; `attention` variant only), gradcam or occlusion.
    #[arg(long, default_value = "auto")]
    pub method: String,
    /// An index (metadata.sqlite3) whose known AI flag, sanity level and tags are fed to the
    /// meta-embed / attention variants instead of their own predictions, as `predict` does.
    #[arg(long)]
    pub metadata: Option<PathBuf>,
    /// Device: flex (CPU), cubecl-cpu, vulkan[:N] or cuda[:N].
    #[arg(long, default_value = "flex")]
    pub device: String,
    /// Images per forward pass, 1..=65536 [default: the run's batch size, at most 16].
    #[arg(long, value_parser = crate::bounds::batch_size)]
    pub batch_size: Option<usize>,
    /// Images or folders (searched recursively for PNG and JPEG files).
    #[arg(required = true)]
    pub inputs: Vec<PathBuf>,
}

/// CSV header of `explanations.csv`: `method_reason` says why the method ran (`auto`'s
/// choice, or a method asked for on a coarse feature grid); `map` is `ok`, `all-zero` or
/// `flat` (nothing to show: no NAME.heatmap.png); `metadata` is `index` (known from
/// `--metadata`) or `predicted`, empty for `multitask` models; the shares are empty for
/// `multitask` models and for tokens a model does not have.
pub const CSV_HEADER: [&str; 11] = [
    "path",
    "score",
    "tier",
    "method",
    "method_reason",
    "map",
    "metadata",
    "image_share",
    "ai_share",
    "sanity_share",
    "tags_share",
];

pub fn run(args: &ExplainArgs) -> anyhow::Result<ExitCode> {
    let method: Method = args.method.parse()?;
    refuse_input_folder(&args.out, &args.inputs)?;
    let paths = collect_images(&args.inputs)?;
    anyhow::ensure!(!paths.is_empty(), "no PNG or JPEG image among the inputs");
    let run = TrainedRun::load(&args.model, args.device.parse::<DeviceSpec>()?)?;
    let known: HashMap<String, KnownLabels> = match &args.metadata {
        Some(db) => known_from_index(&run, db)?,
        None => HashMap::new(),
    };
    let mut explainer = Explainer::from_run(run);
    if let Some(n) = args.batch_size {
        anyhow::ensure!(n > 0, "--batch-size must be positive");
        explainer.batch_size = n;
    }
    let choice = explainer.choose(method)?;
    if let Some(warning) = choice.warning() {
        eprintln!("{warning}");
    }
    let mut out = OutputDir::create(&args.out, args.overwrite)
        .with_context(|| format!("output folder {}", Shown::path(&args.out)))?;
    let mut csv = csv::Writer::from_writer(Vec::new());
    csv.write_record(CSV_HEADER)?;
    let mut names = OutputNames::default();
    let mut tally = Tally::default();
    let rows: Vec<Option<&KnownLabels>> = paths.iter().map(|p| known.get(&file_stem(p))).collect();
    // Batches are bounded by pixels as well as by count; each image's pictures are written as
    // soon as it is explained.
    let skipped =
        explainer.explain_files_with(&paths, choice.method, &rows, |path, picture, e| {
            let name = names.unique(&out, path);
            write_pictures(&mut out, &name, picture, &e)?;
            csv.write_record(csv_row(path, &choice, &e))?;
            if e.state != MapState::Ok {
                tally.empty.push((path.to_path_buf(), e.state));
            }
            tally.with_known += usize::from(e.known_metadata);
            tally.done += 1;
            if tally.done.is_multiple_of(explainer.batch_size.max(1)) {
                eprintln!("explained {}/{} images", tally.done, paths.len());
            }
            anyhow::Ok(())
        })?;
    for (path, e) in &skipped {
        eprintln!("skipped {}: {}", Shown::path(path), Shown::message(&e.to_string()));
    }
    tally.failed = skipped.len();
    let bytes = csv.into_inner().map_err(|e| anyhow::anyhow!("explanations.csv: {}", e.error()))?;
    let table = out.free_stem("explanations", &[".csv"], |_| false);
    if table != "explanations" {
        eprintln!("{}", not_ours(&out, "explanations.csv", &format!("{table}.csv")));
    }
    out.write(&format!("{table}.csv"), &bytes)?;
    tally.report(&args.out, &choice, args.metadata.is_some());
    Ok(if tally.done == 0 { ExitCode::FAILURE } else { ExitCode::SUCCESS })
}

/// What a run of explain did, for its summary.
#[derive(Default)]
struct Tally {
    done: usize,
    failed: usize,
    with_known: usize,
    /// Images whose map has nothing to show.
    empty: Vec<(PathBuf, MapState)>,
}

impl Tally {
    /// A line per empty map on stderr, and the summary line (method, why, counts).
    fn report(&self, out: &Path, choice: &MethodChoice, metadata: bool) {
        for (path, state) in &self.empty {
            eprintln!(
                "{}: the {} map is {} (nothing to show; no heatmap.png written)",
                Shown::path(path),
                choice.method,
                state.name()
            );
        }
        let mut summary = format!(
            "{}: {} images explained with {} ({}), {} skipped",
            Shown::path(out),
            self.done,
            choice.method,
            choice.reason(),
            self.failed
        );
        if !self.empty.is_empty() {
            summary += &format!(", {} with an empty map (see the `map` column)", self.empty.len());
        }
        if metadata {
            summary += &format!(", {} with metadata from the index", self.with_known);
        }
        println!("{summary}");
    }
}

/// A file's name without extension: the record name an index knows it by.
fn file_stem(path: &Path) -> String {
    path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default()
}

fn csv_row(path: &Path, choice: &MethodChoice, e: &Explanation) -> Vec<String> {
    let share = |v: Option<f64>| v.map_or_else(String::new, |v| format!("{v:.4}"));
    let s = e.shares;
    let metadata = match (s.is_some(), e.known_metadata) {
        (false, _) => "",
        (true, true) => "index",
        (true, false) => "predicted",
    };
    vec![
        // A name that is not UTF-8 is written with its foreign bytes as `\xNN`, not mangled.
        path.to_str().map_or_else(|| Shown::path(path).to_string(), str::to_string),
        format!("{:.2}", e.score),
        e.tier.to_string(),
        e.method.name().to_string(),
        choice.reason(),
        e.state.name().to_string(),
        metadata.to_string(),
        share(s.map(|s| s.image)),
        share(s.and_then(|s| s.ai)),
        share(s.and_then(|s| s.sanity)),
        share(s.and_then(|s| s.tags)),
    ]
}

/// Refuses an output folder that is, or lies inside, a folder of the inputs (the folder of an
/// image given directly counts): the overlays would replace or mix with the images.
fn refuse_input_folder(out: &Path, inputs: &[PathBuf]) -> anyhow::Result<()> {
    for input in inputs {
        let folder = if input.is_dir() {
            input.as_path()
        } else {
            input.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."))
        };
        anyhow::ensure!(
            !lies_within(out, folder),
            "--out {} is, or lies inside, the input folder {}: explain never writes among the \
             images it reads; choose another --out",
            Shown::path(out),
            Shown::path(folder)
        );
    }
    Ok(())
}

/// What is said when a wanted name is taken by a file explain did not write.
fn not_ours(out: &OutputDir, wanted: &str, used: &str) -> String {
    let why = match out.slot(wanted) {
        Ok(Slot::Taken(why)) => why,
        _ => "taken".into(),
    };
    format!(
        "{} is {why}: left as it is, wrote {used} instead (--overwrite replaces regular files)",
        Shown::path(&out.path().join(wanted))
    )
}

/// `NAME.png` (overlay with score and tier) and `NAME.heatmap.png` (8-bit greyscale at the
/// image's own size). A map with nothing to show gets no heatmap.png (it would be black) and
/// says so in the overlay's label.
fn write_pictures(
    out: &mut OutputDir,
    name: &str,
    image: &RgbImage,
    e: &Explanation,
) -> anyhow::Result<()> {
    let mut label = format!("{:.1} {}", e.score, e.tier);
    if e.state != MapState::Ok {
        label += &format!(" - {} map", e.state.name());
    }
    let overlay = DynamicImage::ImageRgb8(overlay(image, &e.heat, &label));
    write_png(out, &format!("{name}.png"), &overlay)?;
    let heatmap = format!("{name}.heatmap.png");
    if e.state != MapState::Ok {
        // A stale map of an earlier run would contradict the CSV; only explain's own,
        // unchanged file is removed.
        out.remove_own(&heatmap)
            .with_context(|| format!("removing {}", Shown::path(&out.path().join(&heatmap))))?;
        return Ok(());
    }
    // Encoded row by row: a huge image's map is never held whole.
    out.write(&heatmap, &e.heat.grey_png()?)?;
    Ok(())
}

fn write_png(out: &mut OutputDir, name: &str, image: &DynamicImage) -> anyhow::Result<()> {
    let mut bytes = std::io::Cursor::new(Vec::new());
    image.write_to(&mut bytes, ImageFormat::Png)?;
    out.write(name, bytes.get_ref())?;
    Ok(())
}

/// Output names from file stems; a stem used before in this run, or whose `.png` or
/// `.heatmap.png` is taken by a file explain did not write, gets `-2`, `-3`, … (the latter is
/// said on standard error).
#[derive(Default)]
struct OutputNames(HashSet<String>);

const PICTURES: [&str; 2] = [".png", ".heatmap.png"];

impl OutputNames {
    fn unique(&mut self, out: &OutputDir, path: &Path) -> String {
        let stem = path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
        let name = out.free_stem(&stem, &PICTURES, |n| self.0.contains(n));
        if name != stem && !self.0.contains(&stem) {
            let wanted = PICTURES.map(|ext| format!("{stem}{ext}"));
            if let Some(taken) = wanted.iter().find(|w| !out.is_writable(w)) {
                eprintln!("{}", not_ours(out, taken, &format!("{name}.png")));
            }
        }
        self.0.insert(name.clone());
        name
    }
}
