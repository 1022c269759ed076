//! Training animescore models: a dataset folder becomes a run directory.
//!
//! - [`train`] (or step by step, [`Trainer`]): the loop. Per epoch: shuffled, augmented
//!   batches with an AdamW step on a warm-up + cosine schedule ([`LrSchedule`]), a validation
//!   pass, the best weights by the monitored value, a checkpoint that `--resume` continues
//!   from. At the end: the calibration of tiers, the test metrics, the model card.
//! - [`run_grid`]: an experiment grid with a results table and chart.
//! - [`throughput`] / [`loader_throughput`]: images per second of a model on a device, and of
//!   the input pipeline alone.
//!
//! The run directory's layout and settings live in `animescore-run`, the data pipeline in
//! `animescore-pipeline`; scoring with a finished run is `animescore-inference`.
//! Design notes: `docs/training.md`.

mod bench;
mod error;
mod experiments;
mod parity;
mod plot;
mod report;
mod schedule;
mod step;
mod train;
mod warmup;

pub use bench::{
    BenchOptions, BenchReport, LoaderBenchOptions, LoaderBenchReport, loader_throughput, throughput,
};
pub use error::{Result, TrainingError};
pub use experiments::{GridConfig, GridProgress, GridRow, results_csv, results_md, run_grid};
pub use parity::{
    ParityBatches, ParityEpoch, ParityLosses, ParityRecord, ParitySettings, ParityStep,
    read_tensors, sample_tensors, write_tensors,
};
pub use plot::{bars_svg, curves_svg};
pub use report::{metric_rows, metrics_table, model_card, score_description};
pub use schedule::LrSchedule;
pub use step::{ADAMW_EPSILON, StepObserver, clip_grad_norm, optimizer, train_step};
pub use train::{
    NoTrainProgress, RUN_MARKER, RunInfo, TrainOptions, TrainProgress, TrainReport, Trainer, train,
};
pub use warmup::Warmup;
