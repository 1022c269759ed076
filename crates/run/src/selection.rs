//! Model selection: which validation number picks the best epoch and stops training early.
//!
//! The default is the *unweighted* score-task loss on the validation split. The total loss
//! that training minimises is a poor criterion: with learned uncertainty weights
//! (`L = Σ exp(−s_t)·L_t + s_t`) its scale moves as the `s_t` move, and the AI, sanity and tag
//! terms dominate it: in the quickstart, selecting by the total stopped at epoch 11 and kept
//! epoch 6, although the validation SRCC of the score rose from 0.654 to 0.785 by epoch 10.
//! The score is what this tool exists to predict, so it is what selects the model.

use serde::{Deserialize, Serialize};

use crate::error::{Result, RunError};
use crate::metrics::SplitMetrics;

/// The validation number that decides the best epoch and early stopping.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Monitor {
    /// The score task's own loss on the validation split, without uncertainty weighting
    /// (lower is better).
    #[default]
    ValScoreLoss,
    /// Spearman's rank correlation of predicted and true scores (higher is better).
    ValSrcc,
    /// The uncertainty-weighted total of all tasks, what the optimiser minimises (lower is
    /// better).
    ValTotal,
}

const MONITORS: [Monitor; 3] = [Monitor::ValScoreLoss, Monitor::ValSrcc, Monitor::ValTotal];

impl Monitor {
    /// The name as the config and `--monitor` spell it.
    pub fn name(self) -> &'static str {
        match self {
            Self::ValScoreLoss => "val-score-loss",
            Self::ValSrcc => "val-srcc",
            Self::ValTotal => "val-total",
        }
    }

    /// Whether a larger value is better.
    pub fn higher_is_better(self) -> bool {
        matches!(self, Self::ValSrcc)
    }

    /// The monitored value of a validation pass; `None` when it is undefined (SRCC of
    /// constant predictions, or a split without any score label).
    pub fn value(self, validation: &SplitMetrics) -> Option<f64> {
        let v = match self {
            Self::ValScoreLoss => Some(validation.loss_score),
            Self::ValSrcc => validation.srcc,
            Self::ValTotal => Some(validation.loss),
        };
        v.filter(|v| v.is_finite())
    }

    /// Whether `value` beats `best` by more than `min_delta`. Anything beats having no best
    /// yet, so the first epoch's weights are always kept; an undefined value beats nothing.
    pub fn improves(self, value: Option<f64>, best: Option<f64>, min_delta: f64) -> bool {
        match (value, best) {
            (_, None) => true,
            (None, Some(_)) => false,
            (Some(v), Some(b)) if self.higher_is_better() => v > b + min_delta,
            (Some(v), Some(b)) => v < b - min_delta,
        }
    }
}

impl std::str::FromStr for Monitor {
    type Err = RunError;

    fn from_str(s: &str) -> Result<Self> {
        MONITORS.into_iter().find(|m| m.name() == s).ok_or_else(|| {
            RunError::InvalidConfig(format!(
                "unknown monitor `{s}` (expected val-score-loss, val-srcc or val-total)"
            ))
        })
    }
}

impl std::fmt::Display for Monitor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lower_and_higher_is_better_with_min_delta() {
        let loss = Monitor::ValScoreLoss;
        assert!(loss.improves(Some(0.5), None, 0.0));
        assert!(loss.improves(None, None, 0.0));
        assert!(loss.improves(Some(0.4), Some(0.5), 0.05));
        assert!(!loss.improves(Some(0.46), Some(0.5), 0.05));
        assert!(!loss.improves(None, Some(0.5), 0.0));
        let srcc = Monitor::ValSrcc;
        assert!(srcc.improves(Some(0.6), Some(0.5), 0.0));
        assert!(!srcc.improves(Some(0.4), Some(0.5), 0.0));
        assert!(!srcc.improves(Some(0.5), Some(0.5), 0.0), "a tie is no improvement");
    }

    #[test]
    fn names_round_trip() {
        for m in MONITORS {
            assert_eq!(m.name().parse::<Monitor>().ok(), Some(m));
        }
        assert!("val-loss".parse::<Monitor>().is_err());
    }

    #[test]
    fn undefined_values_are_none() {
        let m = SplitMetrics { loss: f64::NAN, loss_score: 0.25, ..SplitMetrics::default() };
        assert_eq!(Monitor::ValScoreLoss.value(&m), Some(0.25));
        assert_eq!(Monitor::ValTotal.value(&m), None);
        assert_eq!(Monitor::ValSrcc.value(&m), None);
    }
}
