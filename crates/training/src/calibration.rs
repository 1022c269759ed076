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

use std::path::PathBuf;
use std::str::FromStr;

use animescore_heads::ScoringModel;
use serde::{Deserialize, Serialize};

use crate::data::{LoadedBatch, LoadedSample};
use crate::error::{Result, TrainingError};
use crate::eval::{Forward, accumulate_samples};
use crate::loader::BatchLoader;
use crate::metrics::SplitMetrics;
use crate::run::{RunDir, percentile, read_json, write_json};

/// Sorted values kept in `calibration.json` at most.
pub const MAX_QUANTILES: usize = 1001;

/// Tier names, lowest first.
pub const TIER_NAMES: [&str; 7] =
    ["worst", "low", "normal", "good", "great", "best", "masterpiece"];

/// Default lower percentile bound of each tier above `worst`.
pub const DEFAULT_CUTS: [f64; 6] = [10.0, 25.0, 50.0, 75.0, 90.0, 97.0];

/// Lower percentile bounds of the tiers above `worst` (ascending, within 0..=100).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct TierCuts(pub [f64; 6]);

impl Default for TierCuts {
    fn default() -> Self {
        Self(DEFAULT_CUTS)
    }
}

impl TierCuts {
    /// The tier of a percentile.
    pub fn tier(&self, percentile: f64) -> &'static str {
        let above = self.0.iter().filter(|&&cut| percentile >= cut).count();
        TIER_NAMES[above]
    }

    fn validate(self) -> Result<Self> {
        let ascending = self.0.windows(2).all(|w| w[0] <= w[1]);
        let in_range = self.0.iter().all(|c| (0.0..=100.0).contains(c));
        if ascending && in_range {
            Ok(self)
        } else {
            Err(TrainingError::InvalidConfig(format!(
                "tier cut-offs {:?} must be 6 ascending percentiles within 0..=100",
                self.0
            )))
        }
    }
}

impl FromStr for TierCuts {
    type Err = TrainingError;

    /// `10,25,50,75,90,97`: lower bounds of low, normal, good, great, best, masterpiece.
    fn from_str(s: &str) -> Result<Self> {
        let values: Vec<f64> = s
            .split(',')
            .map(|v| v.trim().parse::<f64>())
            .collect::<std::result::Result<_, _>>()
            .map_err(|e| TrainingError::InvalidConfig(format!("--tiers {s}: {e}")))?;
        let cuts: [f64; 6] = values.try_into().map_err(|v: Vec<f64>| {
            TrainingError::InvalidConfig(format!(
                "--tiers {s}: {} values, expected 6 (lower bounds of {})",
                v.len(),
                TIER_NAMES[1..].join(", ")
            ))
        })?;
        Self(cuts).validate()
    }
}

/// Position of a tier name in [`TIER_NAMES`].
pub fn tier_rank(name: &str) -> Option<usize> {
    TIER_NAMES.iter().position(|t| t.eq_ignore_ascii_case(name))
}

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
        let path = calibration_path(run);
        if path.is_file() {
            let c: Calibration = read_json(&path)?;
            c.tiers.validate().map_err(|e| TrainingError::format(&path, e))?;
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
    pub fn place(&self, score: f64) -> (f64, &'static str) {
        let p = percentile(&self.sorted, score);
        (p, self.tiers.tier(p))
    }
}

/// `RUN/calibration.json`.
pub fn calibration_path(run: &RunDir) -> PathBuf {
    run.dir.join("calibration.json")
}

/// Metrics of the final model on the validation split, and `calibration.json` from its
/// predicted scores (one pass for both). Called once at the end of training.
pub fn evaluate_and_calibrate(
    run: &RunDir,
    model: &ScoringModel,
    validation: &BatchLoader<LoadedSample, LoadedBatch>,
    forward: Forward,
) -> Result<(SplitMetrics, Vec<(PathBuf, String)>)> {
    let (acc, failed) = accumulate_samples(model, validation, forward)?;
    let calibration = Calibration::from_predictions(acc.score_predictions());
    write_json(&calibration_path(run), &calibration)?;
    Ok((acc.finish(), failed))
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
                counts[tier_rank(placement.place(s).1).unwrap()] += 1;
            }
            for (t, (&c, &share)) in counts.iter().zip(&expected).enumerate() {
                let got = c as f64 / n as f64;
                assert!((got - share).abs() < 0.006, "n={n} {}: {got} vs {share}", TIER_NAMES[t]);
            }
        }
    }

    #[test]
    fn cuts_parse_and_place() {
        let cuts: TierCuts = "5, 20, 50, 80, 95, 99".parse().unwrap();
        assert_eq!(cuts.tier(4.9), "worst");
        assert_eq!(cuts.tier(5.0), "low");
        assert_eq!(cuts.tier(98.0), "best");
        assert_eq!(cuts.tier(99.5), "masterpiece");
        assert_eq!(TierCuts::default().tier(96.9), "best");
        for bad in ["1,2,3", "10,5,50,75,90,97", "10,25,50,75,90,101", "a,b,c,d,e,f"] {
            assert!(bad.parse::<TierCuts>().is_err(), "{bad}");
        }
        assert_eq!(tier_rank("Great"), Some(4));
        assert_eq!(tier_rank("awful"), None);
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
