//! Experiment grids (SPEC §4): backbones × embeddings × variants × score methods, one run
//! directory each, finished runs skipped, unfinished ones resumed, and a results table.
//!
//! ```toml
//! backbones = ["tiny"]
//! variants = ["multitask", "attention"]
//! embeddings = ["none", "both"]
//! scores = ["weighted-log"]
//! [base]            # any TrainConfig key, shared by every run
//! epochs = 10
//! image_size = 64
//! ```

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use animescore_heads::{Embedding, Variant};
use animescore_scoring::ScoreMethod;
use serde::{Deserialize, Serialize};

use animescore_fs::absolute_path;
use animescore_run::{
    RunDir, RunSummary, SplitMetrics, TrainConfig, check_backbone_spec, write_text,
};

use crate::error::{Result, TrainingError};
use crate::plot::bars_svg;
use crate::train::{TrainOptions, TrainProgress, train};

/// A grid file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GridConfig {
    /// Backbone names (or `custom:FILE`).
    pub backbones: Vec<String>,
    /// Model variants.
    #[serde(default = "all_variants")]
    pub variants: Vec<Variant>,
    /// Metadata embeddings.
    #[serde(default = "all_embeddings")]
    pub embeddings: Vec<Embedding>,
    /// Score methods.
    #[serde(default = "default_scores")]
    pub scores: Vec<String>,
    /// Settings shared by every run.
    #[serde(default)]
    pub base: TrainConfig,
}

fn all_variants() -> Vec<Variant> {
    Variant::ALL.to_vec()
}
fn all_embeddings() -> Vec<Embedding> {
    Embedding::ALL.to_vec()
}
fn default_scores() -> Vec<String> {
    vec!["weighted-log".into()]
}

impl GridConfig {
    /// Reads a TOML grid file.
    pub fn from_file(path: &Path) -> Result<Self> {
        let text = animescore_fs::read_config(path).map_err(|e| TrainingError::io(path, e))?;
        toml::from_str(&text).map_err(|e| TrainingError::format(path, e))
    }

    /// Every run of the grid: `(name, config)`. A score method named in `scores` takes the
    /// parameters of `[base.score]` when that is the same method, its defaults otherwise.
    pub fn runs(&self) -> Result<Vec<(String, TrainConfig)>> {
        let mut out = Vec::new();
        for backbone in &self.backbones {
            check_backbone_spec(backbone)?;
            for &variant in &self.variants {
                for &embedding in &self.embeddings {
                    for score in &self.scores {
                        let method = match ScoreMethod::from_name(score)? {
                            m if m.name() == self.base.score.name() => self.base.score,
                            m => m,
                        };
                        let name = format!("{}-{variant}-{embedding}-{score}", sanitize(backbone));
                        let config = TrainConfig {
                            backbone: backbone.clone(),
                            variant,
                            embedding,
                            score: method,
                            ..self.base.clone()
                        };
                        out.push((name, config));
                    }
                }
            }
        }
        if out.is_empty() {
            return Err(TrainingError::InvalidGrid(format!(
                "it has no run: backbones ({}), variants ({}), embeddings ({}) and scores ({}) \
                 must each list at least one value",
                self.backbones.len(),
                self.variants.len(),
                self.embeddings.len(),
                self.scores.len()
            )));
        }
        Ok(out)
    }
}

/// A folder-name form of `s`. When characters had to be replaced, a hash of the original
/// is appended, so `custom:x.y.json` and `custom:x_y.json` never share a run directory.
fn sanitize(s: &str) -> String {
    let safe: String =
        s.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' { c } else { '_' }).collect();
    if safe == s {
        safe
    } else {
        format!("{safe}-{:08x}", animescore_fs::stable_hash::<u64>(s.as_bytes()) as u32)
    }
}

/// What a grid cell was started with: it is finished (or resumable) only for the same
/// settings and dataset. Kept in `OUT/.cells/NAME.json`, outside the cell's run directory.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct CellIdentity {
    config: TrainConfig,
    dataset: PathBuf,
}

fn cell_identity_path(out: &Path, name: &str) -> PathBuf {
    out.join(".cells").join(format!("{name}.json"))
}

/// The identity recorded for a cell, if any is readable.
fn recorded_identity(out: &Path, name: &str) -> Option<CellIdentity> {
    let text = animescore_fs::read_config(&cell_identity_path(out, name)).ok()?;
    serde_json::from_str(&text).ok()
}

fn record_identity(out: &Path, name: &str, identity: &CellIdentity) -> Result<()> {
    let path = cell_identity_path(out, name);
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| TrainingError::io(dir, e))?;
    }
    let text =
        serde_json::to_string_pretty(identity).map_err(|e| TrainingError::format(&path, e))?;
    Ok(write_text(&path, &text)?)
}

/// One finished run of a grid.
#[derive(Debug, Clone)]
pub struct GridRow {
    /// Run name (its directory under the grid's output).
    pub name: String,
    /// Its configuration.
    pub config: TrainConfig,
    /// Its summary.
    pub summary: RunSummary,
    /// Whether it was already finished before this call.
    pub skipped: bool,
}

/// Calls around each run of a grid.
pub trait GridProgress {
    /// A run starts (`skipped`: already finished).
    fn run_start(&self, _index: usize, _total: usize, _name: &str, _skipped: bool) {}
    /// Progress of the current run's training.
    fn train_progress(&self) -> &dyn TrainProgress;
}

/// Runs every run of the grid not yet finished, then writes `results.csv`, `results.md` and
/// `results.svg` under `out`.
pub fn run_grid(
    grid: &GridConfig,
    dataset: &Path,
    out: &Path,
    progress: &dyn GridProgress,
) -> Result<Vec<GridRow>> {
    let runs = grid.runs()?;
    std::fs::create_dir_all(out).map_err(|e| TrainingError::io(out, e))?;
    let total = runs.len();
    let mut rows = Vec::with_capacity(total);
    for (i, (name, config)) in runs.into_iter().enumerate() {
        let dir: PathBuf = out.join(&name);
        let run = RunDir::new(&dir);
        let identity = CellIdentity { config: config.clone(), dataset: absolute_path(dataset) };
        // A cell started with other settings or another dataset is trained again from scratch.
        let same = recorded_identity(out, &name).as_ref() == Some(&identity);
        let skipped = same && run.is_finished();
        progress.run_start(i, total, &name, skipped);
        let summary = if skipped {
            run.read_summary()?
        } else {
            record_identity(out, &name, &identity)?;
            let opts = TrainOptions {
                dataset: dataset.to_path_buf(),
                out: dir.clone(),
                config: config.clone(),
                resume: same,
                overwrite: !same,
                cache: Default::default(),
            };
            train(&opts, progress.train_progress())?.summary
        };
        rows.push(GridRow { name, config, summary, skipped });
    }
    write_text(&out.join("results.csv"), &results_csv(&rows)?)?;
    write_text(&out.join("results.md"), &results_md(&rows))?;
    let bars: Vec<(String, f64)> = rows
        .iter()
        .map(|r| (r.name.clone(), test_or_validation(&r.summary).srcc.unwrap_or(f64::NAN)))
        .collect();
    let title = "score SRCC per run (test split, else validation)";
    write_text(&out.join("results.svg"), &bars_svg(title, "score SRCC (Spearman)", &bars)?)?;
    Ok(rows)
}

fn test_or_validation(s: &RunSummary) -> &SplitMetrics {
    s.test.as_ref().unwrap_or(&s.validation)
}

const COLUMNS: [&str; 17] = [
    "run",
    "backbone",
    "variant",
    "embedding",
    "score",
    "eval_split",
    "srcc",
    "plcc",
    "mae",
    "rmse",
    "ai_accuracy",
    "sanity_accuracy",
    "tags_map",
    "parameters",
    "epochs",
    "best_epoch",
    "train_seconds",
];

fn row_values(r: &GridRow) -> Vec<String> {
    let m = test_or_validation(&r.summary);
    let o = |v: Option<f64>| v.map(|v| format!("{v:.4}")).unwrap_or_default();
    vec![
        r.name.clone(),
        r.config.backbone.clone(),
        r.config.variant.to_string(),
        r.config.embedding.to_string(),
        r.config.score.name().to_string(),
        if r.summary.test.is_some() { "test" } else { "validation" }.into(),
        o(m.srcc),
        o(m.plcc),
        o(m.mae),
        o(m.rmse),
        o(m.ai_accuracy),
        o(m.sanity_accuracy),
        o(m.tags_map),
        r.summary.parameters.to_string(),
        r.summary.epochs.to_string(),
        r.summary.best_epoch.to_string(),
        format!("{:.1}", r.summary.train_seconds),
    ]
}

/// `results.csv`: one row per run.
pub fn results_csv(rows: &[GridRow]) -> Result<String> {
    let mut w = csv::Writer::from_writer(Vec::new());
    let fail = |e: csv::Error| TrainingError::format("results.csv", e);
    w.write_record(COLUMNS).map_err(fail)?;
    for r in rows {
        w.write_record(row_values(r)).map_err(fail)?;
    }
    let bytes = w.into_inner().map_err(|e| TrainingError::format("results.csv", e))?;
    String::from_utf8(bytes).map_err(|e| TrainingError::format("results.csv", e))
}

/// `results.md`: the same table in Markdown, best SRCC first.
pub fn results_md(rows: &[GridRow]) -> String {
    let mut sorted: Vec<&GridRow> = rows.iter().collect();
    sorted.sort_by(|a, b| {
        let s = |r: &GridRow| test_or_validation(&r.summary).srcc.unwrap_or(f64::NEG_INFINITY);
        s(b).total_cmp(&s(a))
    });
    let mut out = String::from("# Experiment results\n\n| ");
    out.push_str(&COLUMNS.join(" | "));
    out.push_str(" |\n|");
    out.push_str(&"---|".repeat(COLUMNS.len()));
    out.push('\n');
    for r in sorted {
        let _ = writeln!(out, "| {} |", row_values(r).join(" | "));
    }
    out
}
