//! Human-readable reports: the model card and metric tables.

use std::fmt::Write as _;

use animescore_dataset::TagVocabulary;
use animescore_scoring::ScoreMethod;

use animescore_run::{EpochRecord, RunConfig, RunSummary, SplitMetrics};

fn f(v: Option<f64>) -> String {
    v.map(|v| format!("{v:.3}")).unwrap_or_else(|| "–".into())
}

/// Rows of a metrics table: `(name, value)`.
pub fn metric_rows(m: &SplitMetrics) -> Vec<(&'static str, String)> {
    vec![
        ("images", m.n.to_string()),
        ("loss (weighted)", format!("{:.4}", m.loss)),
        ("score loss", format!("{:.4}", m.loss_score)),
        ("AI loss", format!("{:.4}", m.loss_ai)),
        ("sanity loss", format!("{:.4}", m.loss_sanity)),
        ("tag loss", f(m.loss_tags)),
        ("score MAE (1..100)", f(m.mae)),
        ("score RMSE (1..100)", f(m.rmse)),
        ("score SRCC", f(m.srcc)),
        ("score PLCC", f(m.plcc)),
        ("AI accuracy", f(m.ai_accuracy)),
        ("AI precision", f(m.ai_precision)),
        ("AI recall", f(m.ai_recall)),
        ("sanity accuracy", f(m.sanity_accuracy)),
        ("tag mAP", f(m.tags_map)),
    ]
}

/// A Markdown table of one or two splits.
pub fn metrics_table(columns: &[(&str, &SplitMetrics)]) -> String {
    let mut out = String::from("| metric |");
    for (name, _) in columns {
        let _ = write!(out, " {name} |");
    }
    out.push_str("\n|---|");
    out.push_str(&"---:|".repeat(columns.len()));
    out.push('\n');
    let rows: Vec<_> = columns.iter().map(|(_, m)| metric_rows(m)).collect();
    for i in 0..rows.first().map_or(0, Vec::len) {
        let _ = write!(out, "| {} |", rows[0][i].0);
        for r in &rows {
            let _ = write!(out, " {} |", r[i].1);
        }
        out.push('\n');
    }
    out
}

/// `model-card.md`.
pub fn model_card(
    config: &RunConfig,
    summary: &RunSummary,
    vocab: &TagVocabulary,
    history: &[EpochRecord],
) -> String {
    let t = &config.train;
    let mut out = String::from("# Model card\n\n## Model\n\n");
    let _ = writeln!(
        out,
        "- Backbone: `{}`{}",
        t.backbone,
        match &t.weights {
            Some(w) => format!(" (pretrained weights `{}`)", w.display()),
            None => " (trained from scratch)".into(),
        }
    );
    let _ = writeln!(out, "- Variant: `{}`, metadata embedding: `{}`", t.variant, t.embedding);
    let _ = writeln!(out, "- Parameters: {}", summary.parameters);
    let _ = writeln!(
        out,
        "- Input: {0}×{0} px, {1:?} resize, ImageNet normalisation",
        config.preprocess.size, config.preprocess.mode
    );
    let _ = writeln!(
        out,
        "- Target: `{}` score (1..100), scaler fitted on the training split only",
        score_description(&t.score)
    );
    let _ = writeln!(out, "- Tags: {} labels ({})", vocab.len(), t.tags.source);
    out.push_str("\n## Data\n\n");
    let _ = writeln!(out, "- Dataset: `{}`", config.dataset.display());
    let [tr, va, te] = summary.images;
    let _ = writeln!(
        out,
        "- Images: {tr} train / {va} validation / {te} test (split by artwork, seed {}, test \
         {:.0} %, validation {:.0} % of the rest)",
        t.split.seed,
        100.0 * t.split.test_fraction,
        100.0 * t.split.validation_fraction
    );
    out.push_str("\n## Training\n\n");
    let _ = writeln!(
        out,
        "- AdamW (weight decay {}), lr {} with {:.0} % warm-up and cosine decay to {}, batch {}, \
         seed {}",
        t.weight_decay,
        t.lr(),
        100.0 * t.warmup_fraction,
        t.min_lr,
        t.batch_size(),
        t.seed
    );
    let best = summary.best_value.map(|v| format!(" = {v:.4}")).unwrap_or_default();
    let _ = writeln!(
        out,
        "- {} epochs ({}), best epoch {} by `{}`{best} (min_delta {}, patience {}), {:.0} s",
        summary.epochs,
        if summary.stopped_early { "early stopping" } else { "epoch limit" },
        summary.best_epoch,
        summary.monitor,
        t.min_delta,
        t.patience(),
        summary.train_seconds
    );
    out.push_str(
        "- Tiers: `predict` places percentiles and tiers against this model's own predictions \
         on the validation split (`calibration.json`; cut-offs 10/25/50/75/90/97, see \
         docs/predict.md)\n",
    );
    out.push_str("\n## Metrics (best weights)\n\n");
    let mut cols = vec![("validation", &summary.validation)];
    if let Some(test) = &summary.test {
        cols.push(("test", test));
    }
    out.push_str(&metrics_table(&cols));
    if let Some(last) = history.last().and_then(|r| r.validation.sigmas) {
        let _ = writeln!(
            out,
            "\nLearned task uncertainties σ (score, AI, sanity, tags) at the last epoch: \
             {:.3}, {:.3}, {:.3}, {:.3}",
            last[0], last[1], last[2], last[3]
        );
    }
    out.push_str(
        "\n## Known limits\n\n\
         - Popularity depends on much that is not in the image (the artist's following, the \
           time of posting, ranking placement); the score is a relative estimate within the \
           training distribution, not a bookmark count.\n\
         - The score scaler and tag vocabulary come from the training data; scores of other \
           collections are clamped to the training range.\n\
         - Small validation or test splits give noisy metrics; see `metrics.csv`.\n",
    );
    out
}

/// A score method with its parameters, e.g. `weighted-log (α = 0.7)`.
pub fn score_description(method: &ScoreMethod) -> String {
    let reference = |r: Option<String>| r.unwrap_or_else(|| "newest upload".into());
    let params = match method {
        ScoreMethod::WeightedLog { alpha } => format!("α = {alpha}"),
        ScoreMethod::TimeDecay { alpha, reference: r } => {
            format!("α = {alpha}, reference {}", reference(r.map(|d| d.to_string())))
        }
        ScoreMethod::CtrQuantile { lambda, reference: r } => {
            format!("λ = {lambda}, reference {}", reference(r.map(|d| d.to_string())))
        }
        ScoreMethod::BookmarkRatio => return method.name().into(),
    };
    format!("{} ({params})", method.name())
}
