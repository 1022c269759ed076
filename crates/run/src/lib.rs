//! The run directory of an animescore model and the settings behind it.
//!
//! - [`TrainConfig`]: what a user chooses (TOML, every key optional), with each backbone's
//!   [`Recipe`] and the documented limits; [`RunConfig`]: what a run stores to rebuild its
//!   model.
//! - [`DeviceSpec`] and [`Precision`]: where and in which precision a model computes;
//!   [`KernelCache`]: where the GPU backends keep compiled kernels and autotune results.
//! - [`SplitMetrics`] and [`MetricsAccumulator`]: the metrics of a split; [`Monitor`]: the
//!   validation number that picks the best epoch.
//! - [`RunDir`]: every file of a run directory, and how each is read back.
//! - [`save_checked`] / [`load_checked`]: weights files read whole and checksummed.
//! - [`Placement`]: calibrated percentiles and tiers of predicted scores.
//! - [`TrainedRun`]: a run's best model loaded for inference.
//!
//! Training (`animescore-training`) writes run directories; inference (`animescore-inference`)
//! and explanations (`animescore-explain`) read them.

mod calibration;
mod config;
mod device;
mod error;
mod kernel_cache;
mod metrics;
mod precision;
mod run_dir;
mod selection;
mod trained;
mod weights_file;

pub use calibration::{Calibration, MAX_QUANTILES, Placement, percentile};
pub use config::{
    AugmentConfig, FeatureCacheMode, Freeze, HeadsTable, MAX_BATCH_SIZE, MAX_DEVICE_MEMORY,
    MAX_EPOCHS, MAX_PARAMETERS, MAX_WORKERS, Pass, Recipe, RunConfig, TagConfig, TagSource,
    TrainConfig, check_backbone_spec, check_model_size,
};
pub use device::DeviceSpec;
pub use error::{Result, RunError};
pub use kernel_cache::{
    KERNEL_CACHE_ENV, KERNEL_DATABASE, KernelActivity, KernelCache, KernelRecords, kernel_activity,
    kernel_cache_in_use, kernel_records, set_kernel_cache,
};
pub use metrics::{
    BatchOutcome, BinaryCounts, MetricsAccumulator, SplitMetrics, StepLosses, average_precision,
    mae, mean_average_precision, pearson, rmse, spearman,
};
pub use precision::{CastFloats, Precision};
pub use run_dir::{
    EpochRecord, MAX_RUN_FILE_BYTES, RunDir, RunSummary, metrics_csv, read_json, write_json,
    write_text,
};
pub use selection::Monitor;
pub use trained::{TrainedRun, load_model};
pub use weights_file::{
    MAX_WEIGHTS_BYTES, checksum_path, ensure_finite, load_checked, load_identified, load_now,
    load_optimizer, save_checked,
};
