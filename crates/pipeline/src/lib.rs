//! The animescore data pipeline: from a dataset's index to batches on a Burn device.
//!
//! - Records and labels: [`load_records`], [`SplitRecords`] (by artwork), [`fit_scorer`] on the
//!   training split only, [`fit_vocab`], then [`samples`] (an image file and its [`Label`]s).
//! - Batches: [`image_loader`] decodes (or reads cached) images, augments them and stacks
//!   them with their labels through an ordered, prefetching [`BatchLoader`]; a frozen
//!   backbone's features come from [`feature_loader`] instead.
//! - Caches: images decoded once into an [`ImageCache`], frozen-backbone features computed
//!   once into a [`FeatureCache`], both on a crash-safe [`SlotStore`].
//! - Read-back: per-step values stay on the device and are read in bulk ([`Pending`]).
//! - Known metadata: [`known_from_index`] reads an index's labels for a run to use in place
//!   of its own metadata predictions, [`known_metadata`] makes them a batch's input.
//! - Evaluation: [`evaluate_samples`] runs an inference-mode model over a loader into
//!   [`SplitMetrics`](animescore_run::SplitMetrics).
//!
//! [`Label`]: animescore_heads::Label

mod augment;
mod batches;
mod error;
mod evaluate;
mod feature_cache;
mod image_cache;
mod known;
mod loader;
mod readback;
mod records;
mod samples;
mod slots;

pub use augment::{Affine, render};
pub use batches::{
    Batch, FeatureDataset, ImageDataset, LoadedBatch, LoadedSample, LoaderSettings, PixelSource,
    ScoringBatcher, feature_loader, image_loader,
};
pub use error::{PipelineError, Result};
pub use evaluate::{Forward, accumulate_samples, evaluate_samples};
pub use feature_cache::{CachedFeatures, FeatureCache, feature_dims};
pub use image_cache::{
    CacheChoice, CachedImages, ImageCache, cache_root, default_cache_root, fill_image_cache,
};
pub use known::{KnownLabels, known_from_index, known_metadata};
pub use loader::{BatchLoader, Batches, DEFAULT_PREFETCH};
pub use readback::{DEFAULT_READBACK_EVERY, Pending, StepValues, read, read_f32};
pub use records::{
    SplitRecords, fit_scorer, fit_vocab, index_path, labelled_records, load_labelled_records,
    load_records, resolve_tag_source, tag_names, unusual_values, warn_unusual_values,
};
pub use samples::{Sample, label, samples};
pub use slots::{
    CacheProgress, CacheRoot, ComputeSlots, FillStats, MAX_INDEX_BYTES, NoCacheProgress,
    RecomputeSlot, SlotStore, Slots,
};
