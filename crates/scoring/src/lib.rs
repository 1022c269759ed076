//! Popularity targets for animescore, usable on their own (no Burn dependency).
//!
//! Every score is computed from an artwork's bookmark and view counts (and, for the time-aware
//! methods, its upload date). Scalers are *fitted* on one set of records (the training split) and
//! then only *applied* to others (validation, test, new images), so a score means the same thing
//! everywhere. See [`ScoreMethod`] for the formulas and [`Scorer`] for fit/transform.
//!
//! Differences from the original Python code, on purpose:
//! - The original rescaled each split to 1..100 with that split's own min/max; we rescale with
//!   the range fitted on the training split and clamp values outside it.
//! - The time decay divided by `log1p(0) = 0` for an artwork uploaded on the reference day; we
//!   clip the age to at least one day.
//! - `QuantileTransformer` subsampled 10 000 rows at random when fitting; we use every row.

mod minmax;
mod quantile;
mod scorer;

pub use minmax::{LogMinMaxScaler, MinMaxScaler};
pub use quantile::QuantileUniform;
pub use scorer::{
    Counts, DEFAULT_ALPHA, DEFAULT_CTR_LAMBDA, RATIO_EPSILON, ScoreMethod, Scorer, ScoringError,
    bookmark_ratio, weighted_log_average,
};
