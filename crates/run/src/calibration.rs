//! Calibrated tiers: percentiles and tiers of predicted scores placed against the model's own
//! predictions on its validation split (`calibration.json`), not against the training targets.
//!
//! A model's outputs cluster nearer the middle than the targets do, so against the targets
//! few predictions would ever reach the top tiers. Against the model's own validation
//! predictions, the tiers hold the stated shares of a collection like the validation split:
//! with the default cut-offs 10 % worst, 15 % low, 25 % normal, 25 % good, 15 % great, 7 % best,
//! 3 % masterpiece (after deepghs imgutils' anime aesthetic tiers).
//!
//! `calibration.json` keeps at most [`MAX_QUANTILES`] sorted values (every prediction of a
//! small split, evenly spaced quantiles of a large one) and the tier cut-offs, which can be
//! edited there or overridden with `predict --tiers`. Runs trained before calibration existed
//! fall back to the training targets (`score-distribution.json`) with a warning.

use animescore_scorefile::{Tier, TierCuts};
use serde::{Deserialize, Serialize};

use crate::error::{Result, RunError};
use crate::run_dir::{RunDir, read_json};

/// Sorted values kept in `calibration.json` at most.
pub const MAX_QUANTILES: usize = 1001;

/// `calibration.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Calibration {
    /// Predictions the quantiles summarise.
    pub count: usize,
    /// Sorted predicted scores (1..100): all of them, or evenly spaced quantiles.
    pub quantiles: Vec<f64>,
    /// Tier cut-offs used by `predict` unless `--tiers` is given.
    pub tiers: TierCuts,
}

impl Calibration {
    /// The calibration of a set of predicted scores (any order; non-finite values dropped).
    pub fn from_predictions(scores: &[f64]) -> Self {
        let mut sorted: Vec<f64> = scores.iter().copied().filter(|s| s.is_finite()).collect();
        sorted.sort_by(f64::total_cmp);
        let quantiles = if sorted.len() <= MAX_QUANTILES {
            sorted.clone()
        } else {
            (0..MAX_QUANTILES)
                .map(|i| quantile(&sorted, i as f64 / (MAX_QUANTILES - 1) as f64))
                .collect()
        };
        Self { count: sorted.len(), quantiles, tiers: TierCuts::default() }
    }
}

/// Linear-interpolated quantile `q` (0..=1) of sorted values.
fn quantile(sorted: &[f64], q: f64) -> f64 {
    let pos = q * (sorted.len() - 1) as f64;
    let (lo, hi) = (pos.floor() as usize, pos.ceil() as usize);
    sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo as f64)
}

/// Where a run's percentiles and tiers come from.
#[derive(Debug, Clone, PartialEq)]
pub struct Placement {
    sorted: Vec<f64>,
    /// Cut-offs in use.
    pub tiers: TierCuts,
    /// Whether the reference is the model's own validation predictions (else the training
    /// targets of an older run).
    pub calibrated: bool,
}

impl Placement {
    /// Against a calibration.
    pub fn calibrated(c: Calibration) -> Self {
        Self { sorted: c.quantiles, tiers: c.tiers, calibrated: true }
    }

    /// Against the sorted training targets (runs without `calibration.json`).
    pub fn targets(sorted: Vec<f64>) -> Self {
        Self { sorted, tiers: TierCuts::default(), calibrated: false }
    }

    /// A run's placement: its calibration, or its training targets with a warning.
    pub fn of_run(run: &RunDir) -> Result<Self> {
        let path = run.calibration();
        if path.is_file() {
            let c: Calibration = read_json(&path)?;
            c.tiers.validate().map_err(|e| RunError::format(&path, e))?;
            return Ok(Self::calibrated(c));
        }
        tracing::warn!(
            "{} has no calibration.json (trained before calibrated tiers): percentiles and tiers \
             are placed against the training targets, so few images reach the top tiers",
            run.dir.display()
        );
        Ok(Self::targets(run.read_distribution()?))
    }

    /// Replaces the tier cut-offs.
    pub fn with_tiers(mut self, tiers: TierCuts) -> Self {
        self.tiers = tiers;
        self
    }

    /// Percentile (0..100) and tier of a predicted score.
    pub fn place(&self, score: f64) -> (f64, Tier) {
        let p = percentile(&self.sorted, score);
        (p, self.tiers.tier(p))
    }
}

/// Percentile (0..100) of `score` among sorted reference scores (mid-rank, so a score equal to
/// many reference scores sits in their middle; 50 without references).
pub fn percentile(sorted: &[f64], score: f64) -> f64 {
    if sorted.is_empty() {
        return 50.0;
    }
    let below = sorted.partition_point(|&s| s < score);
    let at_or_below = sorted.partition_point(|&s| s <= score);
    100.0 * (below + at_or_below) as f64 / (2 * sorted.len()) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Validation predictions placed against their own calibration fill the tiers in the
    /// stated proportions, for a small split (all values kept) and a large one (quantiles).
    #[test]
    fn validation_predictions_fill_tiers_in_stated_proportions() {
        let expected = [0.10, 0.15, 0.25, 0.25, 0.15, 0.07, 0.03];
        for n in [400usize, 20_000] {
            // Clustered, skewed outputs, like a model's: most near 50.
            let scores: Vec<f64> = (0..n)
                .map(|i| {
                    let u = (i as f64 * 0.618_033_988_7).fract();
                    50.0 + 8.0 * (u - 0.5).powi(3) * 8.0
                })
                .collect();
            let placement = Placement::calibrated(Calibration::from_predictions(&scores));
            let mut counts = [0usize; 7];
            for &s in &scores {
                counts[placement.place(s).1.rank()] += 1;
            }
            for (t, (&c, &share)) in counts.iter().zip(&expected).enumerate() {
                let got = c as f64 / n as f64;
                assert!((got - share).abs() < 0.006, "n={n} {}: {got} vs {share}", Tier::ALL[t]);
            }
        }
    }

    #[test]
    fn percentiles_are_mid_ranks() {
        let s = [10.0, 20.0, 30.0, 40.0];
        assert_eq!(percentile(&s, 5.0), 0.0);
        assert_eq!(percentile(&s, 50.0), 100.0);
        assert_eq!(percentile(&s, 20.0), 37.5);
        assert_eq!(percentile(&s, 25.0), 50.0);
    }

    #[test]
    fn large_sets_keep_quantiles_only() {
        let scores: Vec<f64> = (0..10_000).map(|i| f64::from(i) / 100.0).collect();
        let c = Calibration::from_predictions(&scores);
        assert_eq!((c.count, c.quantiles.len()), (10_000, MAX_QUANTILES));
        assert_eq!(c.quantiles[0], 0.0);
        assert_eq!(*c.quantiles.last().unwrap(), 99.99);
        assert!(c.quantiles.windows(2).all(|w| w[0] <= w[1]));
    }
}
