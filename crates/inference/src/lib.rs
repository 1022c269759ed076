//! Scoring images with a trained animescore run.
//!
//! - [`Predictor`]: a run's best model applied to images: score, AI probability, sanity
//!   class, top tags, percentile and tier, as [`ScoreRow`](animescore_scorefile::ScoreRow)s.
//! - [`predict_to`]: a whole collection streamed into a resumable score file, optionally one
//!   [`Shard`] of it; images found lazily by [`ImageWalk`].
//! - [`evaluate_run`]: a run's metrics on a split of a dataset.
//!
//! Training (`animescore-training`) is not a dependency: inference needs only the run
//! directory (`animescore-run`) and the data pipeline (`animescore-pipeline`).

mod error;
mod eval;
mod inputs;
mod model_record;
mod predict;
mod stream;

pub use error::{InferenceError, Result};
pub use eval::{EvalOptions, EvalReport, evaluate_run};
pub use inputs::{FoundImage, ImageWalk, Shard, collect_images, is_image};
pub use predict::{PredictReport, Predictor};
pub use stream::{NoPredictProgress, PredictProgress, StreamOptions, StreamReport, predict_to};
