//! Training, evaluation, prediction and experiment grids for animescore models.
//!
//! - [`train`] (or step by step, [`Trainer`]): dataset folder → run directory (weights, config, scalers,
//!   vocabulary, metrics, curves, model card), resumable.
//! - [`evaluate_run`]: metrics of a run on a split.
//! - [`Predictor`]: scores, AI probability, sanity class, tags, percentile and tier of new
//!   images.
//! - [`run_grid`]: an experiment grid with a results table.
//! - [`bench::throughput`]: training and inference images/s of a model on a device.
//!
//! Real-scale pieces: images are decoded once into an [`ImageCache`]; a frozen backbone's
//! features are computed once ([`feature_cache`]); batches come from an ordered, prefetching
//! [`loader::BatchLoader`]; per-step values are read back in bulk ([`readback`]); the
//! backbone can train in bf16 ([`Precision`]).
//!
//! Design notes: `docs/training.md`.

pub mod augment;
pub mod bench;
pub mod bounds;
pub mod calibration;
pub mod captions;
pub mod config;
pub mod curate;
pub mod data;
pub mod defaults;
pub mod device;
mod error;
pub mod eval;
pub mod experiments;
pub mod feature_cache;
pub mod image_cache;
pub mod inputs;
pub mod loader;
pub mod metrics;
pub mod output_guard;
pub mod plot;
pub mod precision;
pub mod predict;
pub mod predict_stream;
pub mod readback;
pub mod report;
pub mod run;
mod run_guard;
pub mod schedule;
mod score_rows;
pub mod selection;
pub mod slots;
mod train;
pub mod weights_file;

pub use animescore_dataset::Split;
pub use animescore_heads::{Embedding, Variant};
pub use config::{AugmentConfig, Freeze, RunConfig, TagConfig, TagSource, TrainConfig};
pub use device::DeviceSpec;
pub use error::{Result, TrainingError};
pub use eval::{EvalOptions, EvalReport, evaluate_run};
pub use experiments::{GridConfig, GridProgress, GridRow, run_grid};
pub use feature_cache::FeatureCacheMode;
pub use image_cache::{CacheChoice, CacheProgress, ImageCache};
pub use metrics::SplitMetrics;
pub use precision::Precision;
pub use predict::{KnownLabels, PredictReport, Prediction, Predictor};
pub use predict_stream::{PredictProgress, StreamOptions, StreamReport, predict_to};
pub use run::{EpochRecord, RunDir, RunSummary};
pub use selection::Monitor;
pub use train::{
    NoTrainProgress, RunInfo, TrainOptions, TrainProgress, TrainReport, Trainer, train,
};
