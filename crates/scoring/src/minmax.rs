//! Min–max scaling with scikit-learn's `MinMaxScaler` semantics.

use serde::{Deserialize, Serialize};

/// Scales values to `0..1` using the minimum and maximum seen when fitting.
///
/// Matches scikit-learn's `MinMaxScaler(feature_range=(0, 1))` arithmetic exactly:
/// `x * scale + offset` with `scale = 1 / (max - min)` and `offset = -min * scale`, and a
/// zero range treated as 1 so that a constant column maps to 0 instead of dividing by zero.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct MinMaxScaler {
    /// Smallest value seen when fitting.
    pub min: f64,
    /// Largest value seen when fitting.
    pub max: f64,
}

impl MinMaxScaler {
    /// Fits on the finite values of `values`; `None` when there is none.
    pub fn fit(values: impl IntoIterator<Item = f64>) -> Option<Self> {
        let mut range: Option<(f64, f64)> = None;
        for v in values.into_iter().filter(|v| v.is_finite()) {
            range = Some(match range {
                None => (v, v),
                Some((lo, hi)) => (lo.min(v), hi.max(v)),
            });
        }
        range.map(|(min, max)| Self { min, max })
    }

    /// `1 / (max - min)`, with a zero range treated as 1 (scikit-learn's `_handle_zeros_in_scale`).
    pub fn scale(&self) -> f64 {
        let range = self.max - self.min;
        // scikit-learn treats any range below 10·eps (absolute) as zero.
        if range < 10.0 * f64::EPSILON { 1.0 } else { 1.0 / range }
    }

    /// Maps `x` to `0..1` (values outside the fitted range go outside `0..1`).
    pub fn transform(&self, x: f64) -> f64 {
        let scale = self.scale();
        let offset = -self.min * scale;
        x * scale + offset
    }

    /// Like [`transform`](Self::transform), clamped to `0..1`.
    pub fn transform_clamped(&self, x: f64) -> f64 {
        self.transform(x).clamp(0.0, 1.0)
    }

    /// Inverse of [`transform`](Self::transform).
    pub fn inverse(&self, y: f64) -> f64 {
        let scale = self.scale();
        let offset = -self.min * scale;
        (y - offset) / scale
    }
}

/// `log1p` followed by min–max scaling: the transform applied to bookmark and view counts.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct LogMinMaxScaler {
    /// Min–max range of `log1p(count)` on the fitted data.
    pub log_range: MinMaxScaler,
}

impl LogMinMaxScaler {
    /// Fits on `log1p` of the counts; `None` when there is no finite value.
    pub fn fit(counts: impl IntoIterator<Item = f64>) -> Option<Self> {
        MinMaxScaler::fit(counts.into_iter().map(f64::ln_1p)).map(|log_range| Self { log_range })
    }

    /// `mm(log1p(count))`, unclamped (as scikit-learn's `transform`).
    pub fn transform(&self, count: f64) -> f64 {
        self.log_range.transform(count.ln_1p())
    }

    /// Inverse: the count whose transform is `y`.
    pub fn inverse(&self, y: f64) -> f64 {
        self.log_range.inverse(y).exp_m1()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn constant_column_maps_to_zero() {
        let s = MinMaxScaler::fit([3.0, 3.0, 3.0]).unwrap();
        assert_eq!(s.transform(3.0), 0.0);
        assert_eq!(s.transform(4.0), 1.0);
    }

    #[test]
    fn inverse_round_trips() {
        let s = LogMinMaxScaler::fit([0.0, 10.0, 1000.0]).unwrap();
        for c in [0.0, 3.0, 10.0, 999.0] {
            assert!((s.inverse(s.transform(c)) - c).abs() < 1e-9 * (1.0 + c));
        }
        assert_eq!(s.transform(0.0), 0.0);
        assert!((s.transform(1000.0) - 1.0).abs() < 1e-15);
    }

    #[test]
    fn empty_or_non_finite_fits_nothing() {
        assert!(MinMaxScaler::fit([]).is_none());
        assert!(MinMaxScaler::fit([f64::NAN]).is_none());
    }
}
