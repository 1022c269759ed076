//! `animescore embed`: the pooled backbone feature of each image, one JSON object per line
//! (`{"path": "...", "features": [...]}`) — the first piece of the feature cache.

use std::io::{BufWriter, Write};
use std::path::PathBuf;

use animescore_backbones::{BackboneConfig, Embedder};
use anyhow::{Context, Result};

/// Arguments of `animescore embed`.
#[derive(clap::Args, Debug, Clone)]
pub struct EmbedArgs {
    /// Backbone: resnet18|resnet34|resnet50|resnet101|resnet152, efficientnet-b0..b7, tiny,
    /// or custom:FILE (a JSON backbone config).
    #[arg(long, default_value = "resnet50")]
    pub backbone: String,
    /// Pretrained weights: a torchvision name such as resnet50:imagenet (downloaded once into
    /// the weights folder and SHA-256 verified; :imagenet-v1/:imagenet-v2 pick a version), or a
    /// .pth/.safetensors file with torchvision names (a bare file name is also looked up in the
    /// weights folder, $ANIMESCORE_WEIGHTS, default ~/.cache/animescore/weights).
    /// Without it the backbone is randomly initialised.
    #[arg(long)]
    pub weights: Option<PathBuf>,
    /// Square input side in pixels (default: the backbone's, e.g. 224, or 600 for B7).
    #[arg(long)]
    pub image_size: Option<usize>,
    /// Output JSON-lines file (default: standard output).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Images per forward pass, 1..=65536.
    #[arg(long, default_value_t = 8, value_parser = crate::bounds::batch_size)]
    pub batch_size: usize,
    /// Device: flex (CPU), cubecl-cpu, vulkan[:N] or cuda[:N].
    #[arg(long, default_value = "flex")]
    pub device: String,
    /// Image files (PNG or JPEG).
    #[arg(required = true)]
    pub images: Vec<PathBuf>,
}

/// Runs `embed`.
pub fn run(args: &EmbedArgs) -> Result<()> {
    if let Some(out) = &args.out {
        let inputs: Vec<&std::path::Path> =
            args.images.iter().map(PathBuf::as_path).chain(args.weights.as_deref()).collect();
        crate::outputs::refuse_clobbering(out, &inputs)?;
    }
    if let Some(size) = args.image_size {
        animescore_backbones::check_input_size(size)?;
    }
    let device = args.device.parse::<animescore_run::DeviceSpec>()?.device()?;
    let config = BackboneConfig::from_spec(&args.backbone)?;
    config.validate()?;
    // Resolved (and downloaded) before the network is built: a bad name fails at once.
    let weights = args
        .weights
        .as_ref()
        .map(|spec| crate::weights::resolve(spec, &args.backbone))
        .transpose()?;
    let mut backbone = config.init(&device);
    match &weights {
        Some(path) => {
            backbone = backbone.load_weights(path)?;
        }
        None => {
            tracing::warn!("no --weights given: features come from a randomly initialised backbone")
        }
    }
    let mut embedder = Embedder::new(backbone, &device).with_batch_size(args.batch_size);
    if let Some(size) = args.image_size {
        anyhow::ensure!(size > 0, "--image-size must be positive");
        let mut preprocess = embedder.preprocess().clone();
        preprocess.size = size;
        embedder = embedder.with_preprocess(preprocess);
    }

    // A file is written whole and renamed into place, so a crash never leaves half of it.
    let mut buffer = Vec::new();
    let mut stdout = BufWriter::new(std::io::stdout().lock());
    let to_file = args.out.as_deref().is_some_and(|p| !animescore_fs::is_stdout(p));
    let out: &mut dyn Write = if to_file { &mut buffer } else { &mut stdout };
    let (mut written, mut skipped) = (0usize, 0usize);
    embedder.embed_files(&args.images, |path, features| {
        match features {
            Ok(features) => {
                let line =
                    serde_json::json!({ "path": path.display().to_string(), "features": features });
                serde_json::to_writer(&mut *out, &line)?;
                out.write_all(b"\n")?;
                written += 1;
            }
            // An unreadable image is reported and skipped; the others go on.
            Err(e) => {
                eprintln!("skipped {e}");
                skipped += 1;
            }
        }
        Ok::<_, anyhow::Error>(())
    })?;
    out.flush().context("cannot write to standard output")?;
    if let Some(path) = args.out.as_ref().filter(|_| to_file) {
        animescore_dataset::write_atomic(path, &buffer)
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    anyhow::ensure!(written > 0 || skipped == 0, "none of the {skipped} images could be read");
    Ok(())
}
