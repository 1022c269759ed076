//! `animescore train`.

use std::cell::RefCell;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use animescore_training::{
    CacheProgress, Embedding, EpochRecord, FeatureCacheMode, Precision, RunInfo, TrainConfig,
    TrainOptions, TrainProgress, Variant, train,
};

use crate::progress::{Bar, CacheArgs};
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
    #[arg(long)]
    pub backbone: Option<String>,
    /// Pretrained backbone weights (.pth or .safetensors, torchvision names).
    #[arg(long)]
    pub weights: Option<PathBuf>,
    /// Freeze the backbone: `all`, or a stage name to fine-tune from (e.g. layer3).
    #[arg(long)]
    pub freeze: Option<String>,
    /// Model variant: multitask, meta-embed or attention.
    #[arg(long)]
    pub variant: Option<Variant>,
    /// Metadata embedding: none, ai-sanity, tags or both.
    #[arg(long)]
    pub embedding: Option<Embedding>,
    /// Score method: weighted-log, time-decay or ctr-quantile.
    #[arg(long)]
    pub score: Option<String>,
    /// Input side in pixels [default: the backbone's].
    #[arg(long)]
    pub image_size: Option<usize>,
    /// Maximum epochs.
    #[arg(long)]
    pub epochs: Option<usize>,
    /// Images per batch.
    #[arg(long)]
    pub batch_size: Option<usize>,
    /// Peak learning rate.
    #[arg(long)]
    pub lr: Option<f64>,
    /// Random seed.
    #[arg(long)]
    pub seed: Option<u64>,
    /// Device: flex (CPU), vulkan[:N] or cuda[:N].
    #[arg(long)]
    pub device: Option<String>,
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
    /// Replace the run already in --out (without it, a non-empty --out is refused).
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
        set!(backbone, variant, embedding, score, epochs, batch_size, lr, seed, device);
        set!(precision, workers, feature_cache);
        if self.weights.is_some() {
            c.weights = self.weights.clone();
        }
        if self.freeze.is_some() {
            c.freeze = self.freeze.clone();
        }
        if self.image_size.is_some() {
            c.image_size = self.image_size;
        }
        Ok(c)
    }
}

/// A bar per epoch on a terminal, one line per epoch otherwise.
pub struct EpochDisplay {
    bar: RefCell<Option<ProgressBar>>,
    cache_bar: Bar,
    terminal: bool,
}

impl EpochDisplay {
    pub fn new() -> Self {
        Self {
            bar: RefCell::new(None),
            cache_bar: Bar::new("caching images"),
            terminal: std::io::stderr().is_terminal(),
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
        self.line(&format!("skipped {}: {reason}", path.display()));
    }

    fn cache(&self) -> &dyn CacheProgress {
        &self.cache_bar
    }
}

pub fn run(args: &TrainArgs) -> anyhow::Result<ExitCode> {
    let opts = TrainOptions {
        dataset: args.dataset.clone(),
        out: args.out.clone(),
        config: args.config()?,
        resume: args.resume,
        overwrite: args.overwrite,
        cache: args.cache.choice(),
    };
    let report = train(&opts, &EpochDisplay::new())?;
    let s = &report.summary;
    println!(
        "{}: {} epochs{}, best epoch {}, {:.0} s",
        report.run.display(),
        s.epochs,
        if s.stopped_early { " (early stopping)" } else { "" },
        s.best_epoch,
        s.train_seconds
    );
    let mut cols = vec![("validation", &s.validation)];
    if let Some(test) = &s.test {
        cols.push(("test", test));
    }
    print!("{}", animescore_training::report::metrics_table(&cols));
    Ok(ExitCode::SUCCESS)
}
