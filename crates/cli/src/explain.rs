//! `animescore explain`: heat maps of why each image got its score.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use animescore_backbones::load_image;
use animescore_dataset::write_atomic;
use animescore_explain::{Explainer, Explanation, Method, overlay};
use animescore_inference::collect_images;
use animescore_run::DeviceSpec;
use anyhow::Context;
use image::{DynamicImage, GrayImage, ImageFormat, RgbImage};

#[derive(clap::Args)]
pub struct ExplainArgs {
    /// A run directory written by `animescore train`.
    #[arg(long)]
    pub model: PathBuf,
    /// Output folder: NAME.png (overlay), NAME.heatmap.png (greyscale, the input's size) and
    /// explanations.csv.
    #[arg(long)]
    pub out: PathBuf,
    /// auto (Grad-CAM), attention (rollout; `attention` variant only), gradcam or occlusion.
    #[arg(long, default_value = "auto")]
    pub method: String,
    /// Device: flex (CPU), cubecl-cpu, vulkan[:N] or cuda[:N].
    #[arg(long, default_value = "flex")]
    pub device: String,
    /// Images per forward pass [default: the run's batch size, at most 16].
    #[arg(long)]
    pub batch_size: Option<usize>,
    /// Images or folders (searched recursively for PNG and JPEG files).
    #[arg(required = true)]
    pub inputs: Vec<PathBuf>,
}

/// CSV header of `explanations.csv`; the shares are empty for `multitask` models and for
/// tokens a model does not have.
pub const CSV_HEADER: [&str; 8] =
    ["path", "score", "tier", "method", "image_share", "ai_share", "sanity_share", "tags_share"];

pub fn run(args: &ExplainArgs) -> anyhow::Result<ExitCode> {
    let method: Method = args.method.parse()?;
    let paths = collect_images(&args.inputs)?;
    anyhow::ensure!(!paths.is_empty(), "no PNG or JPEG image among the inputs");
    let mut explainer = Explainer::load(&args.model, args.device.parse::<DeviceSpec>()?)?;
    if let Some(n) = args.batch_size {
        anyhow::ensure!(n > 0, "--batch-size must be positive");
        explainer.batch_size = n;
    }
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("creating {}", args.out.display()))?;
    let mut csv = csv::Writer::from_writer(Vec::new());
    csv.write_record(CSV_HEADER)?;
    let mut names = OutputNames::default();
    let (mut done, mut failed) = (0usize, 0usize);
    for chunk in paths.chunks(explainer.batch_size) {
        let mut loaded: Vec<(&PathBuf, DynamicImage)> = Vec::with_capacity(chunk.len());
        for path in chunk {
            match load_image(path) {
                Ok(image) => loaded.push((path, image)),
                Err(e) => {
                    eprintln!("skipped {}: {e}", path.display());
                    failed += 1;
                }
            }
        }
        let images: Vec<DynamicImage> = loaded.iter().map(|(_, i)| i.clone()).collect();
        for ((path, image), e) in loaded.iter().zip(explainer.explain(&images, method)?) {
            let name = names.unique(path);
            write_pictures(&args.out, &name, &image.to_rgb8(), &e)?;
            csv.write_record(csv_row(path, &e))?;
            done += 1;
        }
        eprintln!("explained {done}/{} images", paths.len());
    }
    let csv_path = args.out.join("explanations.csv");
    let bytes = csv
        .into_inner()
        .map_err(|e| anyhow::anyhow!("writing {}: {}", csv_path.display(), e.error()))?;
    write_atomic(&csv_path, &bytes)?;
    println!("{}: {done} images explained, {failed} skipped", args.out.display());
    Ok(if done == 0 { ExitCode::FAILURE } else { ExitCode::SUCCESS })
}

fn csv_row(path: &Path, e: &Explanation) -> Vec<String> {
    let share = |v: Option<f64>| v.map_or_else(String::new, |v| format!("{v:.4}"));
    let s = e.shares;
    vec![
        path.display().to_string(),
        format!("{:.2}", e.score),
        e.tier.to_string(),
        e.method.name().to_string(),
        share(s.map(|s| s.image)),
        share(s.and_then(|s| s.ai)),
        share(s.and_then(|s| s.sanity)),
        share(s.and_then(|s| s.tags)),
    ]
}

/// `NAME.png` (overlay with score and tier) and `NAME.heatmap.png` (8-bit greyscale at the
/// image's own size).
fn write_pictures(dir: &Path, name: &str, image: &RgbImage, e: &Explanation) -> anyhow::Result<()> {
    let label = format!("{:.1} {}", e.score, e.tier);
    let overlay = DynamicImage::ImageRgb8(overlay(image, &e.heat, &label));
    write_png(&dir.join(format!("{name}.png")), &overlay)?;
    let gray = GrayImage::from_raw(e.heat.width as u32, e.heat.height as u32, e.heat.to_gray8())
        .context("heat map size does not match its values")?;
    write_png(&dir.join(format!("{name}.heatmap.png")), &DynamicImage::ImageLuma8(gray))
}

fn write_png(path: &Path, image: &DynamicImage) -> anyhow::Result<()> {
    let mut bytes = std::io::Cursor::new(Vec::new());
    image.write_to(&mut bytes, ImageFormat::Png)?;
    Ok(write_atomic(path, bytes.get_ref())?)
}

/// Output names from file stems; a stem seen before gets `-2`, `-3`, … so that two images
/// of the same name in different folders do not overwrite each other.
#[derive(Default)]
struct OutputNames(HashSet<String>);

impl OutputNames {
    fn unique(&mut self, path: &Path) -> String {
        let stem = path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
        let mut name = stem.clone();
        let mut n = 1;
        while !self.0.insert(name.clone()) {
            n += 1;
            name = format!("{stem}-{n}");
        }
        name
    }
}
