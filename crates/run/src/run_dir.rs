//! The run directory: every file a training run leaves behind, and how each is read back.
//!
//! ```text
//! RUN_DIR/
//!   config.toml              RunConfig: everything to rebuild the model
//!   model.bpk                best weights (lowest validation loss), burnpack
//!   scalers.json             the score scaler fitted on the training split (scoring crate)
//!   vocab.json               tag vocabulary
//!   score-distribution.json  sorted training target scores (tiers of runs without calibration)
//!   calibration.json         the model's own validation predictions: percentiles, tiers
//!   metrics.csv              one row per epoch and split
//!   curves.svg               loss and SRCC per epoch
//!   summary.json             final metrics on validation and test; written last
//!   model-card.md            human summary
//!   checkpoint/              last complete epoch: state.json + model/optimiser, for --resume
//! ```
//! Every file is written to a temporary name and renamed, so a crash leaves either the old
//! or the new version. Every file is read back only when it is a regular file, with a cap:
//! [`MAX_CONFIG_BYTES`](animescore_fs::MAX_CONFIG_BYTES) for `config.toml`,
//! [`MAX_RUN_FILE_BYTES`] for the JSON files.

use std::path::{Path, PathBuf};

use animescore_dataset::TagVocabulary;
use animescore_scoring::Scorer;
use serde::{Deserialize, Serialize};

use crate::config::{RunConfig, check_run};
use crate::error::{Result, RunError};
use crate::metrics::SplitMetrics;
use crate::selection::Monitor;

/// Cap on a JSON file of a run directory (vocabulary, score distribution, summary, scalers,
/// calibration): 256 MiB, far above the score distribution of ten million images.
pub const MAX_RUN_FILE_BYTES: u64 = 256 << 20;

/// One epoch's metrics.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EpochRecord {
    /// 1-based epoch.
    pub epoch: usize,
    /// Learning rate at the end of the epoch.
    pub lr: f64,
    /// Wall time of the epoch (training + validation).
    pub seconds: f64,
    /// Training split (during the epoch, with augmentation).
    pub train: SplitMetrics,
    /// Validation split (end of the epoch).
    pub validation: SplitMetrics,
}

/// What `summary.json` holds: the finished run's result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunSummary {
    /// Epochs trained.
    pub epochs: usize,
    /// Epoch of the kept weights.
    pub best_epoch: usize,
    /// Whether early stopping ended the run.
    pub stopped_early: bool,
    /// The validation number that chose the best epoch (runs before it existed used the
    /// weighted total).
    #[serde(default = "total_monitor")]
    pub monitor: Monitor,
    /// Its value at the best epoch.
    #[serde(default)]
    pub best_value: Option<f64>,
    /// Trainable and frozen parameters.
    pub parameters: usize,
    /// Training wall time in seconds (all sessions of a resumed run).
    pub train_seconds: f64,
    /// Seconds of the last session's first training step (on a GPU: compiling and tuning
    /// its kernels); `None` when that session trained no step.
    #[serde(default)]
    pub warmup_seconds: Option<f64>,
    /// Images per split (train, validation, test).
    pub images: [usize; 3],
    /// Best weights on the validation split.
    pub validation: SplitMetrics,
    /// Best weights on the test split, when it has images.
    pub test: Option<SplitMetrics>,
}

fn total_monitor() -> Monitor {
    Monitor::ValTotal
}

/// Paths of a run directory.
#[derive(Debug, Clone)]
pub struct RunDir {
    /// The directory.
    pub dir: PathBuf,
}

impl RunDir {
    /// A run directory at `dir` (not created).
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self { dir: dir.into() }
    }

    /// `config.toml`.
    pub fn config(&self) -> PathBuf {
        self.dir.join("config.toml")
    }
    /// Best weights.
    pub fn model(&self) -> PathBuf {
        self.dir.join("model.bpk")
    }
    /// `scalers.json`.
    pub fn scalers(&self) -> PathBuf {
        self.dir.join("scalers.json")
    }
    /// `vocab.json`.
    pub fn vocab(&self) -> PathBuf {
        self.dir.join("vocab.json")
    }
    /// `score-distribution.json`.
    pub fn distribution(&self) -> PathBuf {
        self.dir.join("score-distribution.json")
    }
    /// `calibration.json`: the model's own validation predictions.
    pub fn calibration(&self) -> PathBuf {
        self.dir.join("calibration.json")
    }
    /// `metrics.csv`.
    pub fn metrics(&self) -> PathBuf {
        self.dir.join(METRICS_CSV)
    }
    /// `curves.svg`.
    pub fn curves(&self) -> PathBuf {
        self.dir.join("curves.svg")
    }
    /// `summary.json`.
    pub fn summary(&self) -> PathBuf {
        self.dir.join("summary.json")
    }
    /// `model-card.md`.
    pub fn model_card(&self) -> PathBuf {
        self.dir.join("model-card.md")
    }
    /// `checkpoint/`.
    pub fn checkpoint_dir(&self) -> PathBuf {
        self.dir.join("checkpoint")
    }
    /// `checkpoint/state.json`.
    pub fn checkpoint_state(&self) -> PathBuf {
        self.checkpoint_dir().join("state.json")
    }
    /// Checkpoint weights of an epoch.
    pub fn checkpoint_model(&self, epoch: usize) -> PathBuf {
        self.checkpoint_dir().join(format!("model-{epoch}.bpk"))
    }
    /// Checkpoint optimiser state of an epoch.
    pub fn checkpoint_optim(&self, epoch: usize) -> PathBuf {
        self.checkpoint_dir().join(format!("optim-{epoch}.bpk"))
    }

    /// Whether training finished (`summary.json` exists).
    pub fn is_finished(&self) -> bool {
        self.summary().is_file()
    }

    fn missing(&self, path: &Path, e: impl ToString) -> RunError {
        RunError::Run {
            dir: self.dir.clone(),
            reason: format!("cannot read {}: {}", display_name(path), e.to_string()),
        }
    }

    /// Reads `config.toml`.
    pub fn read_config(&self) -> Result<RunConfig> {
        let path = self.config();
        if std::fs::symlink_metadata(&path).is_err() {
            return Err(self.missing(&path, "no such file (is this a training run directory?)"));
        }
        let config = RunConfig::from_file(&path)?;
        check_run(&config).map_err(|e| self.missing(&path, e))?;
        Ok(config)
    }

    /// Reads the scorer.
    pub fn read_scorer(&self) -> Result<Scorer> {
        let path = self.scalers();
        let text = animescore_fs::read_regular_to_string(&path, MAX_RUN_FILE_BYTES)
            .map_err(|e| self.missing(&path, e))?;
        Ok(Scorer::from_json(&text)?)
    }

    /// Reads the tag vocabulary.
    pub fn read_vocab(&self) -> Result<TagVocabulary> {
        read_json(&self.vocab()).map_err(|e| self.missing(&self.vocab(), e))
    }

    /// Reads the sorted training score distribution.
    pub fn read_distribution(&self) -> Result<Vec<f64>> {
        read_json(&self.distribution()).map_err(|e| self.missing(&self.distribution(), e))
    }

    /// Reads `summary.json`.
    pub fn read_summary(&self) -> Result<RunSummary> {
        read_json(&self.summary()).map_err(|e| self.missing(&self.summary(), e))
    }
}

fn display_name(path: &Path) -> String {
    path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default()
}

/// Reads a JSON file (a regular file of at most [`MAX_RUN_FILE_BYTES`]).
pub fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T> {
    let text = animescore_fs::read_regular_to_string(path, MAX_RUN_FILE_BYTES)
        .map_err(|e| RunError::io(path, e))?;
    serde_json::from_str(&text).map_err(|e| RunError::format(path, e))
}

/// Writes a JSON file atomically.
pub fn write_json<T: Serialize>(path: &Path, value: &T) -> Result<()> {
    let text = serde_json::to_string_pretty(value).map_err(|e| RunError::format(path, e))?;
    write_text(path, &text)
}

/// Writes a text file atomically.
pub fn write_text(path: &Path, text: &str) -> Result<()> {
    animescore_fs::write_atomic(path, text.as_bytes()).map_err(|e| RunError::io(path, e))
}

/// File name of the per-epoch metrics in a run directory.
const METRICS_CSV: &str = "metrics.csv";

/// `metrics.csv`: one row per epoch and split.
pub fn metrics_csv(history: &[EpochRecord]) -> Result<String> {
    let err = |e: &dyn std::fmt::Display| RunError::format(METRICS_CSV, e);
    let mut csv = csv::Writer::from_writer(Vec::new());
    let mut header = vec!["epoch", "split", "lr", "seconds"];
    header.extend(SplitMetrics::csv_header());
    csv.write_record(&header).map_err(|e| err(&e))?;
    for r in history {
        for (split, m) in [("train", &r.train), ("validation", &r.validation)] {
            let mut row = vec![
                r.epoch.to_string(),
                split.into(),
                format!("{:.3e}", r.lr),
                format!("{:.2}", r.seconds),
            ];
            row.extend(m.csv_values());
            csv.write_record(&row).map_err(|e| err(&e))?;
        }
    }
    let bytes = csv.into_inner().map_err(|e| err(&e))?;
    String::from_utf8(bytes).map_err(|e| err(&e))
}
