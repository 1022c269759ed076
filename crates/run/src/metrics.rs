//! Evaluation metrics: score regression (MAE, RMSE, SRCC, PLCC on the 1..100 scale), AI
//! flag (accuracy, precision, recall), sanity accuracy and tag mAP, plus the per-epoch
//! accumulator that gathers them over a whole split.

use animescore_heads::{Label, SANITY_CLASSES, Task};
use serde::{Deserialize, Serialize};

/// Mean absolute error.
pub fn mae(pred: &[f64], target: &[f64]) -> Option<f64> {
    (!pred.is_empty() && pred.len() == target.len()).then(|| {
        pred.iter().zip(target).map(|(p, t)| (p - t).abs()).sum::<f64>() / pred.len() as f64
    })
}

/// Root mean squared error.
pub fn rmse(pred: &[f64], target: &[f64]) -> Option<f64> {
    (!pred.is_empty() && pred.len() == target.len()).then(|| {
        (pred.iter().zip(target).map(|(p, t)| (p - t).powi(2)).sum::<f64>() / pred.len() as f64)
            .sqrt()
    })
}

/// Pearson correlation; `None` for fewer than 2 pairs or a constant side.
pub fn pearson(x: &[f64], y: &[f64]) -> Option<f64> {
    let n = x.len();
    if n < 2 || n != y.len() {
        return None;
    }
    let mx = x.iter().sum::<f64>() / n as f64;
    let my = y.iter().sum::<f64>() / n as f64;
    let (mut sxy, mut sxx, mut syy) = (0.0, 0.0, 0.0);
    for (a, b) in x.iter().zip(y) {
        sxy += (a - mx) * (b - my);
        sxx += (a - mx).powi(2);
        syy += (b - my).powi(2);
    }
    (sxx > 0.0 && syy > 0.0).then(|| sxy / (sxx * syy).sqrt())
}

/// Ranks starting at 1, ties sharing the mean of their ranks (as scipy's `rankdata`).
fn average_ranks(values: &[f64]) -> Vec<f64> {
    let mut order: Vec<usize> = (0..values.len()).collect();
    order.sort_by(|&a, &b| values[a].total_cmp(&values[b]));
    let mut ranks = vec![0.0; values.len()];
    let mut i = 0;
    while i < order.len() {
        let mut j = i;
        while j + 1 < order.len() && values[order[j + 1]] == values[order[i]] {
            j += 1;
        }
        // Positions i..=j (0-based) hold ranks i+1..=j+1; their mean is (i + j)/2 + 1.
        let rank = (i + j) as f64 / 2.0 + 1.0;
        for &k in &order[i..=j] {
            ranks[k] = rank;
        }
        i = j + 1;
    }
    ranks
}

/// Spearman rank correlation (Pearson of average ranks, so ties are handled).
pub fn spearman(x: &[f64], y: &[f64]) -> Option<f64> {
    if x.len() != y.len() {
        return None;
    }
    pearson(&average_ranks(x), &average_ranks(y))
}

/// Binary classification counts at a 0.5 threshold.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BinaryCounts {
    /// True positives.
    pub tp: usize,
    /// False positives.
    pub fp: usize,
    /// True negatives.
    pub tn: usize,
    /// False negatives.
    pub fn_: usize,
}

impl BinaryCounts {
    /// Adds one prediction.
    pub fn add(&mut self, predicted: bool, actual: bool) {
        match (predicted, actual) {
            (true, true) => self.tp += 1,
            (true, false) => self.fp += 1,
            (false, false) => self.tn += 1,
            (false, true) => self.fn_ += 1,
        }
    }

    /// Fraction correct.
    pub fn accuracy(&self) -> Option<f64> {
        let n = self.tp + self.fp + self.tn + self.fn_;
        (n > 0).then(|| (self.tp + self.tn) as f64 / n as f64)
    }

    /// `tp / (tp + fp)`; `None` when nothing was predicted positive.
    pub fn precision(&self) -> Option<f64> {
        let d = self.tp + self.fp;
        (d > 0).then(|| self.tp as f64 / d as f64)
    }

    /// `tp / (tp + fn)`; `None` without positives.
    pub fn recall(&self) -> Option<f64> {
        let d = self.tp + self.fn_;
        (d > 0).then(|| self.tp as f64 / d as f64)
    }
}

/// Average precision of one label: mean of the precision at the rank of each positive
/// (scores sorted descending; tied scores are ranked pessimistically, negatives first).
pub fn average_precision(scores: &[f64], positive: &[bool]) -> Option<f64> {
    let n_pos = positive.iter().filter(|&&p| p).count();
    if n_pos == 0 || scores.len() != positive.len() {
        return None;
    }
    let mut order: Vec<usize> = (0..scores.len()).collect();
    order.sort_by(|&a, &b| scores[b].total_cmp(&scores[a]).then(positive[a].cmp(&positive[b])));
    let (mut hits, mut sum) = (0usize, 0.0);
    for (rank, &i) in order.iter().enumerate() {
        if positive[i] {
            hits += 1;
            sum += hits as f64 / (rank + 1) as f64;
        }
    }
    Some(sum / n_pos as f64)
}

/// Mean over labels (columns) with at least one positive of their average precision.
/// `scores` and `labels` are row-major `[n, k]`.
pub fn mean_average_precision(scores: &[f64], labels: &[bool], k: usize) -> Option<f64> {
    if k == 0 || scores.len() != labels.len() || !scores.len().is_multiple_of(k) {
        return None;
    }
    let n = scores.len() / k;
    let aps: Vec<f64> = (0..k)
        .filter_map(|j| {
            let s: Vec<f64> = (0..n).map(|i| scores[i * k + j]).collect();
            let l: Vec<bool> = (0..n).map(|i| labels[i * k + j]).collect();
            average_precision(&s, &l)
        })
        .collect();
    (!aps.is_empty()).then(|| aps.iter().sum::<f64>() / aps.len() as f64)
}

/// All metrics of one split, one epoch. Missing values (e.g. no positive AI example) are
/// `None` and written as empty CSV cells.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SplitMetrics {
    /// Images evaluated.
    pub n: usize,
    /// Mean weighted total loss.
    pub loss: f64,
    /// Mean raw score loss.
    pub loss_score: f64,
    /// Mean raw AI loss.
    pub loss_ai: f64,
    /// Mean raw sanity loss.
    pub loss_sanity: f64,
    /// Mean raw tag loss (models with a tag head).
    pub loss_tags: Option<f64>,
    /// σ of score, AI, sanity, tags (uncertainty weighting) at the end of the pass.
    pub sigmas: Option<[f64; 4]>,
    /// Score MAE on 1..100.
    pub mae: Option<f64>,
    /// Score RMSE on 1..100.
    pub rmse: Option<f64>,
    /// Spearman correlation of predicted and target scores.
    pub srcc: Option<f64>,
    /// Pearson correlation of predicted and target scores.
    pub plcc: Option<f64>,
    /// AI-flag accuracy.
    pub ai_accuracy: Option<f64>,
    /// AI-flag precision.
    pub ai_precision: Option<f64>,
    /// AI-flag recall.
    pub ai_recall: Option<f64>,
    /// Sanity accuracy.
    pub sanity_accuracy: Option<f64>,
    /// Tag mean average precision.
    pub tags_map: Option<f64>,
}

impl SplitMetrics {
    /// Column names of [`csv_values`](Self::csv_values).
    pub const CSV_COLUMNS: [&'static str; 18] = [
        "n",
        "loss",
        "loss_score",
        "loss_ai",
        "loss_sanity",
        "loss_tags",
        "sigma_score",
        "sigma_ai",
        "sigma_sanity",
        "sigma_tags",
        "mae",
        "rmse",
        "srcc",
        "plcc",
        "ai_accuracy",
        "ai_precision",
        "ai_recall",
        "sanity_accuracy",
    ];

    /// Values in [`CSV_COLUMNS`](Self::CSV_COLUMNS) order, then `tags_map`.
    pub fn csv_values(&self) -> Vec<String> {
        let opt = |v: Option<f64>| v.map(|v| format!("{v:.6}")).unwrap_or_default();
        let sigma = |i: usize| opt(self.sigmas.map(|s| s[i]));
        let mut v = vec![
            self.n.to_string(),
            format!("{:.6}", self.loss),
            format!("{:.6}", self.loss_score),
            format!("{:.6}", self.loss_ai),
            format!("{:.6}", self.loss_sanity),
            opt(self.loss_tags),
            sigma(0),
            sigma(1),
            sigma(2),
            sigma(3),
            opt(self.mae),
            opt(self.rmse),
            opt(self.srcc),
            opt(self.plcc),
            opt(self.ai_accuracy),
            opt(self.ai_precision),
            opt(self.ai_recall),
            opt(self.sanity_accuracy),
        ];
        v.push(opt(self.tags_map));
        v
    }

    /// All column names including `tags_map`.
    pub fn csv_header() -> Vec<&'static str> {
        let mut h = Self::CSV_COLUMNS.to_vec();
        h.push("tags_map");
        h
    }
}

/// Predictions and targets of one batch, read back from the device.
#[derive(Debug, Clone, Default)]
pub struct BatchOutcome {
    /// Predicted scores, 1..100.
    pub score_pred: Vec<f64>,
    /// Target scores, 1..100 (`None`: missing label).
    pub score_target: Vec<Option<f64>>,
    /// Predicted AI probability.
    pub ai_prob: Vec<f64>,
    /// AI label.
    pub ai_target: Vec<Option<bool>>,
    /// Predicted sanity class probabilities, `[B, 3]` row-major.
    pub sanity_prob: Vec<f64>,
    /// Sanity class label.
    pub sanity_target: Vec<Option<usize>>,
    /// Tag probabilities `[B, k]` row-major, when the model has a tag head.
    pub tag_prob: Option<Vec<f64>>,
    /// Tag multi-hot targets `[B, k]` (rows of images without tag labels are skipped).
    pub tag_target: Option<Vec<Option<Vec<bool>>>>,
}

impl BatchOutcome {
    /// Predictions read back (`score_pred` on the 1..100 scale, probabilities elsewhere)
    /// with the targets `labels` (one per image, in batch order).
    pub fn new(
        score_pred: Vec<f64>,
        ai_prob: Vec<f64>,
        sanity_prob: Vec<f64>,
        tag_prob: Option<Vec<f64>>,
        labels: &[Label],
        tag_vocab: Option<usize>,
    ) -> Self {
        let tag_target = tag_vocab.map(|k| {
            labels
                .iter()
                .map(|l| {
                    l.tags.as_ref().map(|tags| {
                        let mut row = vec![false; k];
                        for &t in tags.iter().filter(|&&t| t < k) {
                            row[t] = true;
                        }
                        row
                    })
                })
                .collect()
        });
        Self {
            score_pred,
            score_target: labels.iter().map(|l| l.score.map(f64::from)).collect(),
            ai_prob,
            ai_target: labels.iter().map(|l| l.ai).collect(),
            sanity_prob,
            sanity_target: labels.iter().map(|l| l.sanity_class).collect(),
            tag_prob: tag_prob.filter(|p| p.len() == labels.len() * tag_vocab.unwrap_or(0)),
            tag_target,
        }
    }
}

/// Sums over a split: losses weighted by batch size, predictions for the rank metrics.
#[derive(Debug, Clone, Default)]
pub struct MetricsAccumulator {
    n: usize,
    loss: f64,
    per_task: [f64; 4],
    has_tags: bool,
    sigmas: Option<[f64; 4]>,
    score_pred: Vec<f64>,
    score_target: Vec<f64>,
    ai: BinaryCounts,
    sanity_correct: usize,
    sanity_total: usize,
    tag_k: usize,
    tag_scores: Vec<f64>,
    tag_labels: Vec<bool>,
}

/// The losses of one batch, read back.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StepLosses {
    /// The weighted total.
    pub total: f64,
    /// Raw per-task losses in [`Task::ALL`] order (`None`: not computed).
    pub per_task: [Option<f64>; 4],
    /// Learned σ's, in uncertainty mode.
    pub sigmas: Option<[f64; 4]>,
}

impl StepLosses {
    /// `score 0.41, ai 0.69, …` for messages.
    pub fn describe_tasks(&self) -> String {
        Task::ALL
            .iter()
            .filter_map(|&t| self.per_task[t.index()].map(|l| format!("{} {l}", t.name())))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

impl MetricsAccumulator {
    /// Adds one batch: its losses and its predictions.
    pub fn add_values(&mut self, losses: &StepLosses, outcome: &BatchOutcome) {
        let b = outcome.score_pred.len();
        self.n += b;
        self.loss += losses.total * b as f64;
        for task in Task::ALL {
            if let Some(l) = losses.per_task[task.index()] {
                self.per_task[task.index()] += l * b as f64;
                self.has_tags |= task == Task::Tags;
            }
        }
        self.sigmas = losses.sigmas;
        self.add_outcome(outcome);
    }

    fn add_outcome(&mut self, o: &BatchOutcome) {
        for (p, t) in o.score_pred.iter().zip(&o.score_target) {
            if let Some(t) = t {
                self.score_pred.push(*p);
                self.score_target.push(*t);
            }
        }
        for (p, t) in o.ai_prob.iter().zip(&o.ai_target) {
            if let Some(t) = t {
                self.ai.add(*p >= 0.5, *t);
            }
        }
        for (row, t) in o.sanity_target.iter().enumerate() {
            if let Some(t) = t {
                let probs = &o.sanity_prob[row * SANITY_CLASSES..(row + 1) * SANITY_CLASSES];
                let arg = argmax(probs);
                self.sanity_total += 1;
                self.sanity_correct += usize::from(arg == *t);
            }
        }
        if let (Some(probs), Some(targets)) = (&o.tag_prob, &o.tag_target) {
            let b = targets.len().max(1);
            let k = probs.len() / b;
            self.tag_k = k;
            for (row, t) in targets.iter().enumerate() {
                if let Some(t) = t {
                    self.tag_scores.extend_from_slice(&probs[row * k..(row + 1) * k]);
                    self.tag_labels.extend_from_slice(t);
                }
            }
        }
    }

    /// Whether nothing was added.
    pub fn is_empty(&self) -> bool {
        self.n == 0
    }

    /// Predicted scores (1..100) of the images with a score target, in the order added.
    pub fn score_predictions(&self) -> &[f64] {
        &self.score_pred
    }

    /// The metrics of everything added.
    pub fn finish(&self) -> SplitMetrics {
        let n = self.n.max(1) as f64;
        SplitMetrics {
            n: self.n,
            loss: self.loss / n,
            loss_score: self.per_task[0] / n,
            loss_ai: self.per_task[1] / n,
            loss_sanity: self.per_task[2] / n,
            loss_tags: self.has_tags.then(|| self.per_task[3] / n),
            sigmas: self.sigmas,
            mae: mae(&self.score_pred, &self.score_target),
            rmse: rmse(&self.score_pred, &self.score_target),
            srcc: spearman(&self.score_pred, &self.score_target),
            plcc: pearson(&self.score_pred, &self.score_target),
            ai_accuracy: self.ai.accuracy(),
            ai_precision: self.ai.precision(),
            ai_recall: self.ai.recall(),
            sanity_accuracy: (self.sanity_total > 0)
                .then(|| self.sanity_correct as f64 / self.sanity_total as f64),
            tags_map: mean_average_precision(&self.tag_scores, &self.tag_labels, self.tag_k),
        }
    }
}

/// Index of the largest value (first on ties).
fn argmax(values: &[f64]) -> usize {
    values
        .iter()
        .enumerate()
        .fold((0, f64::NEG_INFINITY), |best, (i, &v)| if v > best.1 { (i, v) } else { best })
        .0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: Option<f64>, b: f64) -> bool {
        a.is_some_and(|a| (a - b).abs() < 1e-9)
    }

    #[test]
    fn regression_errors_by_hand() {
        let p = [1.0, 2.0, 4.0];
        let t = [2.0, 2.0, 1.0];
        assert!(close(mae(&p, &t), 4.0 / 3.0));
        assert!(close(rmse(&p, &t), (10.0f64 / 3.0).sqrt()));
        assert_eq!(mae(&[], &[]), None);
    }

    #[test]
    fn pearson_by_hand() {
        // x = 1,2,3 ; y = 1,3,2: cov = 0.5·(…) → r = 0.5.
        assert!(close(pearson(&[1.0, 2.0, 3.0], &[1.0, 3.0, 2.0]), 0.5));
        assert!(close(pearson(&[1.0, 2.0, 3.0], &[6.0, 4.0, 2.0]), -1.0));
        assert_eq!(pearson(&[1.0, 1.0], &[1.0, 2.0]), None);
    }

    #[test]
    fn ranks_average_ties() {
        assert_eq!(average_ranks(&[10.0, 20.0, 10.0, 30.0]), [1.5, 3.0, 1.5, 4.0]);
        assert_eq!(average_ranks(&[5.0, 5.0, 5.0]), [2.0, 2.0, 2.0]);
    }

    #[test]
    fn spearman_with_ties_by_hand() {
        // x ranks: 1.5, 1.5, 3, 4 ; y ranks: 1, 2, 3, 4.
        // mean 2.5 both; dx = -1,-1,.5,1.5 ; dy = -1.5,-.5,.5,1.5
        // sxy = 1.5+0.5+0.25+2.25 = 4.5 ; sxx = 1+1+.25+2.25 = 4.5 ; syy = 5
        // r = 4.5 / sqrt(4.5·5) = 0.948683…
        let r = spearman(&[1.0, 1.0, 2.0, 3.0], &[10.0, 20.0, 30.0, 40.0]);
        assert!(close(r, 4.5 / (4.5f64 * 5.0).sqrt()), "{r:?}");
        // A monotone transform keeps SRCC at 1 while PLCC is below 1.
        let x = [1.0, 2.0, 3.0, 4.0];
        let y = [1.0, 8.0, 27.0, 64.0];
        assert!(close(spearman(&x, &y), 1.0));
        assert!(pearson(&x, &y).unwrap() < 0.99);
    }

    #[test]
    fn binary_counts_by_hand() {
        let mut c = BinaryCounts::default();
        for (p, a) in [(true, true), (true, false), (false, true), (false, false), (true, true)] {
            c.add(p, a);
        }
        assert!(close(c.accuracy(), 3.0 / 5.0));
        assert!(close(c.precision(), 2.0 / 3.0));
        assert!(close(c.recall(), 2.0 / 3.0));
        assert_eq!(BinaryCounts::default().precision(), None);
    }

    #[test]
    fn average_precision_by_hand() {
        // Ranked: pos, neg, pos → AP = (1/1 + 2/3) / 2.
        let ap = average_precision(&[0.9, 0.8, 0.7], &[true, false, true]);
        assert!(close(ap, (1.0 + 2.0 / 3.0) / 2.0));
        assert_eq!(average_precision(&[0.1], &[false]), None);
        // Two labels, the second without positives is left out of the mean.
        let scores = [0.9, 0.1, 0.2, 0.3];
        let labels = [true, false, false, false];
        assert!(close(mean_average_precision(&scores, &labels, 2), 1.0));
        // Ties rank negatives first: AP = 1/2.
        assert!(close(average_precision(&[0.5, 0.5], &[true, false]), 0.5));
    }

    #[test]
    fn accumulator_merges_batches() {
        let mut acc = MetricsAccumulator::default();
        let outcome = BatchOutcome {
            score_pred: vec![10.0, 20.0, 30.0],
            score_target: vec![Some(12.0), None, Some(33.0)],
            ai_prob: vec![0.9, 0.2, 0.6],
            ai_target: vec![Some(true), Some(false), Some(false)],
            sanity_prob: vec![0.7, 0.2, 0.1, 0.1, 0.8, 0.1, 0.3, 0.3, 0.4],
            sanity_target: vec![Some(0), Some(2), None],
            tag_prob: None,
            tag_target: None,
        };
        acc.add_outcome(&outcome);
        let m = acc.finish();
        assert!(close(m.mae, 2.5));
        assert!(close(m.ai_accuracy, 2.0 / 3.0));
        assert!(close(m.sanity_accuracy, 0.5));
        assert_eq!(m.tags_map, None);
    }
}
