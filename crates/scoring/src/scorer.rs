//! Score methods and the fitted [`Scorer`] that applies them.

use chrono::NaiveDateTime;
use serde::{Deserialize, Serialize};

use crate::minmax::{LogMinMaxScaler, MinMaxScaler};
use crate::quantile::{DEFAULT_QUANTILES, QuantileUniform};

/// The original's weight of bookmarks against views.
pub const DEFAULT_ALPHA: f64 = 0.7;
/// Weight of the time decay in the CTR-quantile score.
pub const DEFAULT_CTR_LAMBDA: f64 = 0.2;
/// Added to views before dividing, as the original, so zero views stay finite.
pub const RATIO_EPSILON: f64 = 1e-5;
const SECONDS_PER_DAY: f64 = 86_400.0;

/// One artwork's popularity counts.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Counts {
    /// `total_bookmarks`.
    pub bookmarks: f64,
    /// `total_view`.
    pub views: f64,
    /// Upload time (naive UTC); needed by the time-aware methods only.
    pub uploaded: Option<NaiveDateTime>,
}

impl Counts {
    /// Counts without an upload date.
    pub fn new(bookmarks: f64, views: f64) -> Self {
        Self { bookmarks, views, uploaded: None }
    }
}

/// How counts become a score.
///
/// Serialised with the method's name in `method` and its parameters beside it; a missing
/// parameter takes its default, so `{"method": "time-decay"}` (or the TOML table
/// `method = "time-decay"`) is the method with α = 0.7 and the newest upload as reference.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "method", rename_all = "kebab-case", deny_unknown_fields)]
pub enum ScoreMethod {
    /// `α·mm(log1p b) + (1−α)·mm(log1p v)`, rescaled to 1..100 (the original README's score).
    WeightedLog {
        /// Weight of bookmarks (0..=1).
        #[serde(default = "default_alpha")]
        alpha: f64,
    },
    /// Weighted-log divided by `log1p(age_days)` (age ≥ 1 day), rescaled to 1..100: what the
    /// original models trained on.
    TimeDecay {
        /// Weight of bookmarks (0..=1).
        #[serde(default = "default_alpha")]
        alpha: f64,
        /// Date ages are measured to; `None` = the newest upload in the fitted data.
        #[serde(default)]
        reference: Option<NaiveDateTime>,
    },
    /// `(0.6·q(log1p b) + 0.2·q(log1p v) + 0.2·q(log1p ratio)) · ((1−λ) + λ/√(1+age))` with
    /// uniform quantile transforms, rescaled to 1..100 (the original's latest score).
    CtrQuantile {
        /// Weight of the time decay (0..=1).
        #[serde(default = "default_lambda")]
        lambda: f64,
        /// Date ages are measured to; `None` = the newest upload in the fitted data.
        #[serde(default)]
        reference: Option<NaiveDateTime>,
    },
    /// `b / (v + 1e-5)` as it is (not rescaled).
    BookmarkRatio,
}

fn default_alpha() -> f64 {
    DEFAULT_ALPHA
}

fn default_lambda() -> f64 {
    DEFAULT_CTR_LAMBDA
}

impl Default for ScoreMethod {
    fn default() -> Self {
        Self::WeightedLog { alpha: DEFAULT_ALPHA }
    }
}

impl ScoreMethod {
    /// Parses a method name (`weighted-log`, `time-decay`, `ctr-quantile`, `bookmark-ratio`)
    /// with default parameters.
    pub fn from_name(name: &str) -> Result<Self, ScoringError> {
        Ok(match name {
            "weighted-log" => Self::WeightedLog { alpha: DEFAULT_ALPHA },
            "time-decay" => Self::TimeDecay { alpha: DEFAULT_ALPHA, reference: None },
            "ctr-quantile" => Self::CtrQuantile { lambda: DEFAULT_CTR_LAMBDA, reference: None },
            "bookmark-ratio" => Self::BookmarkRatio,
            other => return Err(ScoringError::UnknownMethod(other.to_string())),
        })
    }

    /// The method's name as [`from_name`](Self::from_name) accepts it.
    pub fn name(&self) -> &'static str {
        match self {
            Self::WeightedLog { .. } => "weighted-log",
            Self::TimeDecay { .. } => "time-decay",
            Self::CtrQuantile { .. } => "ctr-quantile",
            Self::BookmarkRatio => "bookmark-ratio",
        }
    }

    fn needs_dates(&self) -> bool {
        matches!(self, Self::TimeDecay { .. } | Self::CtrQuantile { .. })
    }

    /// Checks that the parameters are in range (alpha and lambda within 0..=1).
    pub fn validate(&self) -> Result<(), ScoringError> {
        let check = |name: &'static str, v: f64| {
            if (0.0..=1.0).contains(&v) {
                Ok(())
            } else {
                Err(ScoringError::OutOfRange { name, value: v })
            }
        };
        match *self {
            Self::WeightedLog { alpha } | Self::TimeDecay { alpha, .. } => check("alpha", alpha),
            Self::CtrQuantile { lambda, .. } => check("lambda", lambda),
            Self::BookmarkRatio => Ok(()),
        }
    }
}

/// Errors from fitting or applying a score.
#[derive(Debug, thiserror::Error)]
pub enum ScoringError {
    /// No record with usable counts to fit on.
    #[error("no records with finite, non-negative counts to fit the score on")]
    NoData,
    /// A count that is negative, NaN or infinite.
    #[error("record {index}: {field} = {value} is not a finite, non-negative count")]
    InvalidCount {
        /// Position of the record in the input.
        index: usize,
        /// `bookmarks` or `views`.
        field: &'static str,
        /// The offending value.
        value: f64,
    },
    /// A time-aware method met a record without an upload date.
    #[error("record {index}: the {method} score needs an upload date, and this record has none")]
    MissingDate {
        /// Position of the record in the input.
        index: usize,
        /// The method's name.
        method: &'static str,
    },
    /// A parameter outside its range.
    #[error("{name} = {value} is outside 0..=1")]
    OutOfRange {
        /// Parameter name.
        name: &'static str,
        /// Its value.
        value: f64,
    },
    /// An unknown method name.
    #[error(
        "unknown score method `{0}` (expected weighted-log, time-decay, ctr-quantile or bookmark-ratio)"
    )]
    UnknownMethod(String),
    /// A saved scorer that could not be read.
    #[error("invalid scorer JSON")]
    Json(#[from] serde_json::Error),
    /// A saved scorer whose fitted values cannot be applied.
    #[error("invalid scorer: {0}")]
    InvalidScaler(String),
}

/// `b / (v + 1e-5)`.
pub fn bookmark_ratio(bookmarks: f64, views: f64) -> f64 {
    bookmarks / (views + RATIO_EPSILON)
}

/// `α·mm(log1p b) + (1−α)·mm(log1p v)` with given scalers: the original's
/// `score_weighted_log_average`.
pub fn weighted_log_average(
    counts: &Counts,
    alpha: f64,
    bookmarks: &LogMinMaxScaler,
    views: &LogMinMaxScaler,
) -> f64 {
    alpha * bookmarks.transform(counts.bookmarks) + (1.0 - alpha) * views.transform(counts.views)
}

/// A score method with everything fitted on one set of records (normally the training split).
///
/// Serialise it (`serde_json`) next to a model so validation, test and prediction reuse exactly
/// the same transform.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Scorer {
    /// The method and its parameters.
    pub method: ScoreMethod,
    /// `log1p` min–max of bookmarks (weighted-log, time-decay).
    pub bookmarks: Option<LogMinMaxScaler>,
    /// `log1p` min–max of views (weighted-log, time-decay).
    pub views: Option<LogMinMaxScaler>,
    /// Quantile transforms of `log1p` bookmarks, views and ratio (ctr-quantile).
    pub quantiles: Option<[QuantileUniform; 3]>,
    /// Date ages are measured to (time-aware methods).
    pub reference: Option<NaiveDateTime>,
    /// Range of the unscaled score on the fitted data, mapped to 1..100.
    pub output_range: Option<MinMaxScaler>,
}

impl Scorer {
    /// Fits `method` on `records`.
    pub fn fit(method: ScoreMethod, records: &[Counts]) -> Result<Self, ScoringError> {
        method.validate()?;
        validate_counts(records)?;
        if records.is_empty() {
            return Err(ScoringError::NoData);
        }
        let mut scorer = Self {
            method,
            bookmarks: None,
            views: None,
            quantiles: None,
            reference: None,
            output_range: None,
        };
        if method.needs_dates() {
            let dates = records
                .iter()
                .enumerate()
                .map(|(index, r)| {
                    r.uploaded.ok_or(ScoringError::MissingDate { index, method: method.name() })
                })
                .collect::<Result<Vec<_>, _>>()?;
            let given = match method {
                ScoreMethod::TimeDecay { reference, .. }
                | ScoreMethod::CtrQuantile { reference, .. } => reference,
                _ => None,
            };
            scorer.reference = given.or_else(|| dates.iter().max().copied());
        }
        match method {
            ScoreMethod::WeightedLog { .. } | ScoreMethod::TimeDecay { .. } => {
                scorer.bookmarks = LogMinMaxScaler::fit(records.iter().map(|r| r.bookmarks));
                scorer.views = LogMinMaxScaler::fit(records.iter().map(|r| r.views));
            }
            ScoreMethod::CtrQuantile { .. } => {
                let fit = |f: &dyn Fn(&Counts) -> f64| {
                    QuantileUniform::fit(records.iter().map(f), DEFAULT_QUANTILES)
                        .ok_or(ScoringError::NoData)
                };
                scorer.quantiles = Some([
                    fit(&|r| r.bookmarks.ln_1p())?,
                    fit(&|r| r.views.ln_1p())?,
                    fit(&|r| bookmark_ratio(r.bookmarks, r.views).ln_1p())?,
                ]);
            }
            ScoreMethod::BookmarkRatio => return Ok(scorer),
        }
        let raw = records
            .iter()
            .enumerate()
            .map(|(i, r)| scorer.unscaled(i, r))
            .collect::<Result<Vec<_>, _>>()?;
        scorer.output_range = MinMaxScaler::fit(raw);
        Ok(scorer)
    }

    /// The method's value before the 1..100 rescale (for bookmark-ratio, the ratio itself).
    pub fn unscaled(&self, index: usize, r: &Counts) -> Result<f64, ScoringError> {
        validate_count(index, r)?;
        let age_days = |r: &Counts| -> Result<f64, ScoringError> {
            let uploaded = r
                .uploaded
                .ok_or(ScoringError::MissingDate { index, method: self.method.name() })?;
            let reference = self.reference.unwrap_or(uploaded);
            Ok((reference - uploaded).num_milliseconds() as f64 / 1000.0 / SECONDS_PER_DAY)
        };
        let (Some(b), Some(v)) = (&self.bookmarks, &self.views) else {
            return match (&self.method, &self.quantiles) {
                (ScoreMethod::CtrQuantile { lambda, .. }, Some([qb, qv, qr])) => {
                    let ratio = bookmark_ratio(r.bookmarks, r.views);
                    let combined = 0.6 * qb.transform(r.bookmarks.ln_1p())
                        + 0.2 * qv.transform(r.views.ln_1p())
                        + 0.2 * qr.transform(ratio.ln_1p());
                    // An upload after the reference date counts as age 0.
                    let decay = 1.0 / (1.0 + age_days(r)?.max(0.0)).sqrt();
                    Ok(combined * ((1.0 - lambda) + lambda * decay))
                }
                _ => Ok(bookmark_ratio(r.bookmarks, r.views)),
            };
        };
        match self.method {
            ScoreMethod::WeightedLog { alpha } => Ok(weighted_log_average(r, alpha, b, v)),
            ScoreMethod::TimeDecay { alpha, .. } => {
                // The original divided by log1p(0) = 0 on the reference day: clip to one day.
                let age = age_days(r)?.max(1.0);
                Ok(weighted_log_average(r, alpha, b, v) / age.ln_1p())
            }
            _ => Ok(bookmark_ratio(r.bookmarks, r.views)),
        }
    }

    /// The score of one record: 1..100 (clamped to the fitted range), or the raw ratio for
    /// bookmark-ratio.
    pub fn score(&self, r: &Counts) -> Result<f64, ScoringError> {
        self.score_at(0, r)
    }

    /// Scores every record; an error names the index of the first bad one.
    pub fn score_all(&self, records: &[Counts]) -> Result<Vec<f64>, ScoringError> {
        records.iter().enumerate().map(|(i, r)| self.score_at(i, r)).collect()
    }

    fn score_at(&self, index: usize, r: &Counts) -> Result<f64, ScoringError> {
        let raw = self.unscaled(index, r)?;
        Ok(match &self.output_range {
            Some(range) => rescale_1_100(raw, range),
            None => raw,
        })
    }

    /// Maps a 1..100 score back to the unscaled value (`None` for bookmark-ratio).
    pub fn unscale(&self, score: f64) -> Option<f64> {
        self.output_range.map(|range| (score - 1.0) / 99.0 * range_width(&range) + range.min)
    }

    /// Serialises to pretty JSON (the `scalers.json` of a run).
    pub fn to_json(&self) -> Result<String, ScoringError> {
        Ok(serde_json::to_string_pretty(self)?)
    }

    /// Reads what [`to_json`](Self::to_json) wrote.
    /// The file is checked as the command line is: parameters in range, every fitted range
    /// finite with min <= max, quantiles finite and non-decreasing.
    pub fn from_json(text: &str) -> Result<Self, ScoringError> {
        let scorer: Self = serde_json::from_str(text)?;
        scorer.method.validate()?;
        scorer.check_fitted()?;
        Ok(scorer)
    }

    fn check_fitted(&self) -> Result<(), ScoringError> {
        let bad =
            |what: &str, why: String| Err(ScoringError::InvalidScaler(format!("{what}: {why}")));
        let ranges = [
            ("bookmarks", self.bookmarks.as_ref().map(|s| &s.log_range)),
            ("views", self.views.as_ref().map(|s| &s.log_range)),
            ("output_range", self.output_range.as_ref()),
        ];
        for (what, range) in ranges {
            if let Some(r) = range
                && !(r.min.is_finite() && r.max.is_finite() && r.min <= r.max)
            {
                return bad(
                    what,
                    format!("min {} and max {} must be finite with min <= max", r.min, r.max),
                );
            }
        }
        for (i, q) in self.quantiles.iter().flatten().enumerate() {
            let sorted = q.quantiles.windows(2).all(|w| w[0] <= w[1]);
            if q.quantiles.is_empty() || !sorted || q.quantiles.iter().any(|v| !v.is_finite()) {
                return bad(
                    &format!("quantiles[{i}]"),
                    "must be finite, non-decreasing and not empty".into(),
                );
            }
        }
        Ok(())
    }
}

fn range_width(range: &MinMaxScaler) -> f64 {
    let width = range.max - range.min;
    if width < 10.0 * f64::EPSILON { 1.0 } else { width }
}

/// The original's `(w − min) / (max − min) · 99 + 1`, with the fitted range and clamped.
fn rescale_1_100(raw: f64, range: &MinMaxScaler) -> f64 {
    ((raw - range.min) / range_width(range) * 99.0 + 1.0).clamp(1.0, 100.0)
}

fn validate_count(index: usize, r: &Counts) -> Result<(), ScoringError> {
    for (field, value) in [("bookmarks", r.bookmarks), ("views", r.views)] {
        if !value.is_finite() || value < 0.0 {
            return Err(ScoringError::InvalidCount { index, field, value });
        }
    }
    Ok(())
}

fn validate_counts(records: &[Counts]) -> Result<(), ScoringError> {
    records.iter().enumerate().try_for_each(|(i, r)| validate_count(i, r))
}
