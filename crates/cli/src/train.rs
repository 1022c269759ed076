//! `animescore train`.

use std::cell::{Cell, RefCell};
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use animescore_heads::{Embedding, Variant};
use animescore_pipeline::CacheProgress;
use animescore_run::{
    DeviceSpec, EpochRecord, FeatureCacheMode, Freeze, Monitor, Precision, TagSource, TrainConfig,
    check_backbone_spec,
};
use animescore_scoring::ScoreMethod;
use animescore_training::{
    RunInfo, TrainOptions, TrainProgress, Warmup, metrics_table, score_description, train,
};

use crate::progress::{Bar, CacheArgs};
use crate::score_args::ScoreParams;
use crate::warmup_status::{self, WarmupStatus};
use animescore_fs::Shown;
use indicatif::{ProgressBar, ProgressStyle};

#[derive(clap::Args)]
pub struct TrainArgs {
    /// The dataset folder (indexed with `animescore ingest`).
    #[arg(long)]
    pub dataset: PathBuf,
    /// Run directory to write (weights, config, metrics, model card).
    #[arg(long)]
    pub out: PathBuf,
    /// TOML file with any training settings; the flags below override it.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Backbone: tiny, resnet18..152, efficientnet-b0..b7, or custom:FILE.json.
    #[arg(long, value_parser = parse_backbone)]
    pub backbone: Option<String>,
    /// Pretrained backbone weights: a torchvision name such as resnet50:imagenet (downloaded
    /// once, SHA-256 verified, recorded by name in the run's config), or a .pth/.safetensors
    /// file with torchvision names.
    #[arg(long)]
    pub weights: Option<PathBuf>,
    /// Freeze the backbone: none, all, or a stage name to fine-tune from (e.g. layer3).
    #[arg(long)]
    pub freeze: Option<Freeze>,
    /// Model variant: multitask, meta-embed or attention.
    #[arg(long)]
    pub variant: Option<Variant>,
    /// Metadata embedding: none, ai-sanity, tags or both.
    #[arg(long)]
    pub embedding: Option<Embedding>,
    /// Score method: weighted-log, time-decay or ctr-quantile [default: weighted-log].
    #[arg(long, value_parser = parse_score)]
    pub score: Option<ScoreMethod>,
    #[command(flatten)]
    pub score_params: ScoreParams,
    /// Tag vocabulary: characters, top-k (Pixiv tags) or auto (characters when the index has
    /// them) [default: auto].
    #[arg(long)]
    pub tags: Option<TagSource>,
    /// Input side in pixels [default: the backbone's].
    #[arg(long)]
    pub image_size: Option<usize>,
    /// Maximum epochs [default: the backbone's recipe, 30–40].
    #[arg(long)]
    pub epochs: Option<usize>,
    /// Images per batch [default: the backbone's recipe, 32 or 64].
    #[arg(long)]
    pub batch_size: Option<usize>,
    /// Peak learning rate [default: the backbone's recipe, 3e-4 to 2e-3].
    #[arg(long)]
    pub lr: Option<f64>,
    /// What picks the best epoch and stops early: val-score-loss, val-srcc or val-total
    /// [default: val-score-loss].
    #[arg(long)]
    pub monitor: Option<Monitor>,
    /// How much the monitored value must improve to count [default: 0].
    #[arg(long)]
    pub min_delta: Option<f64>,
    /// Epochs without improvement before stopping [default: the backbone's recipe].
    #[arg(long)]
    pub patience: Option<usize>,
    /// Random seed.
    #[arg(long)]
    pub seed: Option<u64>,
    /// Device: flex (CPU), cubecl-cpu, vulkan[:N] or cuda[:N].
    #[arg(long)]
    pub device: Option<DeviceSpec>,
    /// Precision of the backbone's computation: f32, or bf16 (CUDA; f32 master weights).
    #[arg(long)]
    pub precision: Option<Precision>,
    /// Image-loading threads.
    #[arg(long)]
    pub workers: Option<usize>,
    /// With --freeze all: train the heads on backbone features computed once (auto: only
    /// when augmentation is off; on: turn augmentation off; off: run the backbone every step).
    #[arg(long)]
    pub feature_cache: Option<FeatureCacheMode>,
    #[command(flatten)]
    pub cache: CacheArgs,
    /// Continue the run in --out from its last complete epoch.
    #[arg(long)]
    pub resume: bool,
    /// Replace the run already in --out: only a folder `train` made (it holds a
    /// `.animescore-run` marker), never other files or one inside the dataset. Without it, a
    /// non-empty --out is refused.
    #[arg(long, conflicts_with = "resume")]
    pub overwrite: bool,
}

impl TrainArgs {
    /// The config file (or defaults) with the flags applied.
    pub fn config(&self) -> anyhow::Result<TrainConfig> {
        let mut c = match &self.config {
            Some(path) => TrainConfig::from_file(path)?,
            None => TrainConfig::default(),
        };
        macro_rules! set {
            ($($field:ident),*) => {$(
                if let Some(v) = &self.$field {
                    c.$field = v.clone();
                }
            )*};
        }
        set!(backbone, variant, embedding, seed, device, precision, workers, feature_cache);
        set!(freeze, monitor, min_delta);
        if let Some(source) = self.tags {
            c.tags.source = source;
        }
        // Explicit flags win over the config file and over the backbone's recipe.
        for (field, flag) in [
            (&mut c.epochs, self.epochs),
            (&mut c.batch_size, self.batch_size),
            (&mut c.patience, self.patience),
        ] {
            if flag.is_some() {
                *field = flag;
            }
        }
        if self.lr.is_some() {
            c.lr = self.lr;
        }
        if self.weights.is_some() {
            c.weights = self.weights.clone();
        }
        if self.image_size.is_some() {
            c.image_size = self.image_size;
        }
        // A method named on the command line keeps the config's parameters when the config
        // names the same method; the parameter flags then override single values.
        let method = match self.score {
            Some(m) if m.name() != c.score.name() => m,
            _ => c.score,
        };
        c.score = self.score_params.apply(method)?;
        Ok(c)
    }
}

fn parse_backbone(spec: &str) -> Result<String, String> {
    check_backbone_spec(spec).map_err(|e| e.to_string())?;
    Ok(spec.to_string())
}

fn parse_score(name: &str) -> Result<ScoreMethod, String> {
    ScoreMethod::from_name(name).map_err(|e| e.to_string())
}

/// The settings in effect, as two lines: the model and the optimisation, with the settings
/// the backbone's recipe chose marked.
fn settings_summary(info: &RunInfo) -> String {
    let c = &info.config;
    let weights = match &c.weights {
        Some(w) => format!("weights {}", Shown::path(w)),
        None => "from scratch".into(),
    };
    let size = c.image_size.map(|s| format!(", {s} px")).unwrap_or_default();
    let recipe = match &info.recipe_defaults {
        Some((kind, names)) => format!(" ({} from the recipe for: {kind})", names.join(", ")),
        None => String::new(),
    };
    format!(
        "settings: {} ({weights}, freeze {}), {} variant, embedding {}, score {}, tags {}{size}\n\
         \x20         {} epochs, batch {}, lr {:.1e}, patience {}{recipe}; monitor {} \
         (min_delta {}), seed {}, {} workers, {}",
        c.backbone,
        c.freeze,
        c.variant,
        c.embedding,
        score_description(&c.score),
        c.tags.source,
        c.epochs(),
        c.batch_size(),
        c.lr(),
        c.patience(),
        c.monitor,
        c.min_delta,
        c.seed,
        c.workers,
        c.precision,
    )
}

/// A bar per epoch on a terminal, one line per epoch otherwise; a status line while a GPU
/// backend prepares the first step's kernels.
pub struct EpochDisplay {
    bar: RefCell<Option<ProgressBar>>,
    cache_bar: Bar,
    terminal: bool,
    device: Cell<DeviceSpec>,
    warmup: RefCell<Option<WarmupStatus>>,
}

impl EpochDisplay {
    pub fn new() -> Self {
        Self {
            bar: RefCell::new(None),
            cache_bar: Bar::new("caching images"),
            terminal: std::io::stderr().is_terminal(),
            device: Cell::new(DeviceSpec::Flex),
            warmup: RefCell::new(None),
        }
    }

    fn line(&self, text: &str) {
        match self.bar.borrow().as_ref() {
            Some(bar) => bar.println(text),
            None => eprintln!("{text}"),
        }
    }
}

fn f(v: Option<f64>) -> String {
    v.map(|v| format!("{v:.3}")).unwrap_or_else(|| "-".into())
}

impl TrainProgress for EpochDisplay {
    fn start(&self, info: &RunInfo) {
        self.device.set(info.device);
        let [tr, va, te] = info.images;
        eprintln!(
            "training on {}: {tr} train / {va} validation / {te} test images, {} parameters{}",
            info.device,
            info.parameters,
            if info.first_epoch > 1 {
                format!(", resuming at epoch {}", info.first_epoch)
            } else {
                String::new()
            }
        );
        eprintln!("{}", settings_summary(info));
        if info.cached_features {
            eprintln!("frozen backbone: training the heads on cached features (no augmentation)");
        }
    }

    fn epoch_start(&self, epoch: usize, epochs: usize, batches: usize) {
        if self.terminal {
            let bar = ProgressBar::new(batches as u64);
            bar.set_style(
                ProgressStyle::with_template("epoch {msg} [{bar:30}] {pos}/{len} ({eta})")
                    .unwrap_or_else(|_| ProgressStyle::default_bar())
                    .progress_chars("=> "),
            );
            bar.set_message(format!("{epoch}/{epochs}"));
            *self.bar.borrow_mut() = Some(bar);
        }
    }

    fn batch(&self, _loss: f64) {
        if let Some(bar) = self.bar.borrow().as_ref() {
            bar.inc(1);
        }
    }

    fn epoch_end(&self, r: &EpochRecord, improved: bool) {
        if let Some(bar) = self.bar.borrow_mut().take() {
            bar.finish_and_clear();
        }
        let (t, v) = (&r.train, &r.validation);
        let sigmas = v
            .sigmas
            .map(|s| format!(" σ {:.2}/{:.2}/{:.2}/{:.2}", s[0], s[1], s[2], s[3]))
            .unwrap_or_default();
        self.line(&format!(
            "epoch {:>3}  lr {:.2e}  loss {:.4} / val {:.4}{}  val MAE {}  SRCC {}  PLCC {}  \
             AI acc {}  sanity acc {}  tag mAP {}{sigmas}  ({:.1} s)",
            r.epoch,
            r.lr,
            t.loss,
            v.loss,
            if improved { " *" } else { "" },
            f(v.mae),
            f(v.srcc),
            f(v.plcc),
            f(v.ai_accuracy),
            f(v.sanity_accuracy),
            f(v.tags_map),
            r.seconds
        ));
    }

    fn skipped(&self, path: &Path, reason: &str) {
        self.line(&format!("skipped {}: {}", Shown::path(path), Shown::text(reason)));
    }

    fn warmup_start(&self) {
        if self.device.get().is_cubecl() {
            // The epoch bar would sit at 0 while kernels compile: the status line replaces it.
            if let Some(bar) = self.bar.borrow().as_ref() {
                bar.set_draw_target(indicatif::ProgressDrawTarget::hidden());
            }
            *self.warmup.borrow_mut() = Some(WarmupStatus::start("first training step"));
        }
    }

    fn warmup_end(&self, warmup: &Warmup) {
        if let Some(status) = self.warmup.borrow_mut().take() {
            status.finish();
            if let Some(bar) = self.bar.borrow().as_ref() {
                bar.set_draw_target(indicatif::ProgressDrawTarget::stderr());
            }
            self.line(&warmup_status::summary(warmup));
        }
    }

    fn cache(&self) -> &dyn CacheProgress {
        &self.cache_bar
    }
}

pub fn run(args: &TrainArgs) -> anyhow::Result<ExitCode> {
    let config = args.config()?;
    if let Some(weights) = &config.weights
        && !args.resume
    {
        // Checked and downloaded up front, with a bar; training finds the verified file.
        config.validate()?;
        crate::weights::resolve(weights, &config.backbone)?;
    }
    let opts = TrainOptions {
        dataset: args.dataset.clone(),
        out: args.out.clone(),
        config,
        resume: args.resume,
        overwrite: args.overwrite,
        cache: args.cache.choice(),
    };
    let report = train(&opts, &EpochDisplay::new())?;
    let s = &report.summary;
    println!(
        "{}: {} epochs{}, best epoch {}, {:.0} s{}",
        Shown::path(&report.run),
        s.epochs,
        if s.stopped_early { " (early stopping)" } else { "" },
        s.best_epoch,
        s.train_seconds,
        s.warmup_seconds.map(|w| format!(" (first step {w:.1} s)")).unwrap_or_default()
    );
    let mut cols = vec![("validation", &s.validation)];
    if let Some(test) = &s.test {
        cols.push(("test", test));
    }
    print!("{}", metrics_table(&cols));
    Ok(ExitCode::SUCCESS)
}
