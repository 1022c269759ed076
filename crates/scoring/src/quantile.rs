//! Quantile transform to a uniform distribution, with scikit-learn's
//! `QuantileTransformer(output_distribution="uniform")` semantics.

use serde::{Deserialize, Serialize};

/// Maps a value to its (interpolated) rank in the fitted data, in `0..1`.
///
/// Fitting stores `n_quantiles = min(max_quantiles, n)` quantiles of the data at evenly spaced
/// probabilities (numpy's linear percentile method). Transforming interpolates forwards and
/// backwards and averages both, as scikit-learn does, so tied values land in the middle of their
/// run; the fitted minimum maps to exactly 0, the maximum to 1 and values beyond clamp to 0 or 1.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QuantileUniform {
    /// Fitted quantiles, non-decreasing.
    pub quantiles: Vec<f64>,
}

/// scikit-learn's default `n_quantiles`.
pub const DEFAULT_QUANTILES: usize = 1000;

impl QuantileUniform {
    /// Fits on the finite values of `values` with at most `max_quantiles` quantiles.
    /// `None` when there is no finite value.
    pub fn fit(values: impl IntoIterator<Item = f64>, max_quantiles: usize) -> Option<Self> {
        let mut sorted: Vec<f64> = values.into_iter().filter(|v| v.is_finite()).collect();
        if sorted.is_empty() {
            return None;
        }
        sorted.sort_by(f64::total_cmp);
        let n_quantiles = max_quantiles.clamp(1, sorted.len());
        let mut quantiles: Vec<f64> = references(n_quantiles)
            .into_iter()
            // numpy receives percentiles (×100) and divides them back: keep that rounding.
            .map(|r| percentile_linear(&sorted, r * 100.0 / 100.0))
            .collect();
        // scikit-learn enforces monotonicity against floating-point noise.
        for i in 1..quantiles.len() {
            if quantiles[i] < quantiles[i - 1] {
                quantiles[i] = quantiles[i - 1];
            }
        }
        Some(Self { quantiles })
    }

    /// The value's position in the fitted distribution, in `0..1`; NaN stays NaN.
    pub fn transform(&self, x: f64) -> f64 {
        if x.is_nan() {
            return x;
        }
        let q = &self.quantiles;
        let (lo, hi) = (q[0], q[q.len() - 1]);
        // scikit-learn pins the fitted bounds exactly, the lower one last (it wins for a
        // constant column).
        if x == lo {
            return 0.0;
        }
        if x == hi {
            return 1.0;
        }
        let n = q.len();
        let r = |i: usize| reference(i, n);
        // scikit-learn averages a forward interpolation with one over the reversed, negated
        // arrays, so that a run of tied quantiles maps to its middle. Indexing the arrays in
        // reverse gives the same arithmetic without building them.
        let forward = interp(x, n, |i| q[i], r);
        let backward = interp(-x, n, |i| -q[n - 1 - i], |i| -r(n - 1 - i));
        0.5 * (forward - backward)
    }
}

/// The `i`-th of `n` evenly spaced points of `np.linspace(0, 1, n)`.
fn reference(i: usize, n: usize) -> f64 {
    if n == 1 {
        return 0.0;
    }
    if i == n - 1 { 1.0 } else { i as f64 * (1.0 / (n - 1) as f64) }
}

/// `np.linspace(0, 1, n)`.
fn references(n: usize) -> Vec<f64> {
    (0..n).map(|i| reference(i, n)).collect()
}

/// numpy's default (`linear`) quantile of sorted data at probability `q`.
fn percentile_linear(sorted: &[f64], q: f64) -> f64 {
    let n = sorted.len();
    let virtual_index = q * (n - 1) as f64;
    let below = virtual_index.floor().clamp(0.0, (n - 1) as f64);
    let above = (below + 1.0).min((n - 1) as f64);
    let t = virtual_index - below;
    let (a, b) = (sorted[below as usize], sorted[above as usize]);
    // numpy's `_lerp`, which interpolates from the nearer end for accuracy.
    let diff = b - a;
    if t >= 0.5 { b - diff * (1.0 - t) } else { a + diff * t }
}

/// `np.interp(x, xp, fp)` for increasing `xp` of length `n` (given as index functions),
/// including its handling of ties.
fn interp(x: f64, n: usize, xp: impl Fn(usize) -> f64, fp: impl Fn(usize) -> f64) -> f64 {
    let last = n - 1;
    if x < xp(0) {
        return fp(0);
    }
    if x > xp(last) {
        return fp(last);
    }
    // Last index with xp[j] <= x (binary search; xp(0) <= x holds here).
    let (mut lo, mut hi) = (0, n);
    while hi - lo > 1 {
        let mid = lo + (hi - lo) / 2;
        if xp(mid) <= x { lo = mid } else { hi = mid }
    }
    let j = lo;
    if j == last || xp(j) == x {
        return fp(j);
    }
    let slope = (fp(j + 1) - fp(j)) / (xp(j + 1) - xp(j));
    let y = slope * (x - xp(j)) + fp(j);
    if y.is_nan() {
        let y2 = slope * (x - xp(j + 1)) + fp(j + 1);
        if y2.is_nan() && fp(j) == fp(j + 1) {
            return fp(j);
        }
        return y2;
    }
    y
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranks_distinct_values_evenly() {
        let qt = QuantileUniform::fit([1.0, 2.0, 3.0, 4.0, 5.0], DEFAULT_QUANTILES).unwrap();
        for (x, want) in [(1.0, 0.0), (2.0, 0.25), (3.0, 0.5), (5.0, 1.0), (9.0, 1.0), (0.0, 0.0)] {
            assert!((qt.transform(x) - want).abs() < 1e-12, "{x}");
        }
    }

    #[test]
    fn ties_land_mid_run() {
        let qt = QuantileUniform::fit([1.0, 2.0, 2.0, 2.0, 3.0], DEFAULT_QUANTILES).unwrap();
        assert!((qt.transform(2.0) - 0.5).abs() < 1e-12);
    }
}
