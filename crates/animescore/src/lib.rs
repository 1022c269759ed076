//! Predict how popular an anime illustration will be — bookmarks and views folded into a
//! 1–100 score — from its pixels and its metadata, on [Burn](https://burn.dev).
//!
//! This crate is one dependency for the animescore library crates; each is re-exported as a
//! module under a feature of the same name:
//!
//! | module | feature | what it is for |
//! | --- | --- | --- |
//! | [`fs`] | `fs` (default) | atomic writes, bounded reads, cycle-safe walks, run locks |
//! | [`scoring`] | `scoring` (default) | popularity scores from bookmarks and views (no Burn) |
//! | [`scorefile`] | `scorefile` (default) | predict's output: columns, reader, resumable writer |
//! | [`dataset`] | `dataset` (default) | gallery-dl metadata, the SQLite index, splits, synthetic data |
//! | [`backbones`] | `backbones` (default) | ResNet, EfficientNet, image decoding, pretrained weights |
//! | [`heads`] | `heads` (default) | task heads, the multi-task loss, the three model variants |
//! | [`run`] | `run` (default) | the run directory and its settings, devices, metrics, tiers |
//! | [`pipeline`] | `pipeline` (default) | labelled samples, caches, the loader, the evaluation pass |
//! | [`training`] | `training` (default) | the training loop, experiment grids, benchmarks |
//! | [`inference`] | `inference` (default) | predict, streaming into a score file, `eval` |
//! | `curate` | `curate` | select, copy/move/link, captions and undo on a score file (no Burn) |
//! | `explain` | `explain` | attention rollout, Grad-CAM, occlusion, metadata shares |
//! | `gallery` | `gallery` | one self-contained HTML page of a score file |
//!
//! Further features: `download` (fetch torchvision weights by name), `vulkan` and `cuda`
//! (GPU backends). The [`prelude`] holds what the walk below uses.
//!
//! # From a dataset folder to a prediction
//!
//! A folder of gallery-dl downloads (images with their `.json` metadata) is indexed, a model
//! is trained into a run directory, and the run scores new images:
//!
//! ```no_run
//! use std::path::{Path, PathBuf};
//!
//! use animescore::prelude::*;
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let dataset = Path::new("pixiv-downloads");
//! // 1. Index the metadata into `pixiv-downloads/.database/metadata.sqlite3`.
//! let indexed = ingest(&IngestOptions::new(dataset), &NoProgress)?;
//! println!("{} images indexed", indexed.total_rows);
//!
//! // 2. Train the `attention` variant on the small `tiny` backbone (CPU by default).
//! let config = TrainConfig {
//!     backbone: "tiny".into(),
//!     variant: Variant::Attention,
//!     ..TrainConfig::default()
//! };
//! let options = TrainOptions {
//!     dataset: dataset.to_path_buf(),
//!     out: PathBuf::from("run"),
//!     config,
//!     resume: false,
//!     overwrite: false,
//!     cache: Default::default(),
//! };
//! let trained = train(&options, &NoTrainProgress)?;
//! println!("best epoch {}", trained.summary.best_epoch);
//!
//! // 3. Score new images with the trained run.
//! let predictor = Predictor::load(Path::new("run"), DeviceSpec::Flex)?;
//! let images = collect_images(&[PathBuf::from("new-images")])?;
//! for p in predictor.predict(&images)?.predictions {
//!     let tier = p.tier.map_or("", |t| t.name());
//!     println!("{:>6.2} {tier:<12} {}", p.score, p.filename);
//! }
//! # Ok(())
//! # }
//! ```
//!
//! The scores alone, without Burn, come from [`scoring`] (or the `animescore-scoring` crate
//! on its own).

#[cfg(feature = "backbones")]
#[doc(inline)]
pub use animescore_backbones as backbones;
#[cfg(feature = "curate")]
#[doc(inline)]
pub use animescore_curate as curate;
#[cfg(feature = "dataset")]
#[doc(inline)]
pub use animescore_dataset as dataset;
#[cfg(feature = "explain")]
#[doc(inline)]
pub use animescore_explain as explain;
#[cfg(feature = "fs")]
#[doc(inline)]
pub use animescore_fs as fs;
#[cfg(feature = "gallery")]
#[doc(inline)]
pub use animescore_gallery as gallery;
#[cfg(feature = "heads")]
#[doc(inline)]
pub use animescore_heads as heads;
#[cfg(feature = "inference")]
#[doc(inline)]
pub use animescore_inference as inference;
#[cfg(feature = "pipeline")]
#[doc(inline)]
pub use animescore_pipeline as pipeline;
#[cfg(feature = "run")]
#[doc(inline)]
pub use animescore_run as run;
#[cfg(feature = "scorefile")]
#[doc(inline)]
pub use animescore_scorefile as scorefile;
#[cfg(feature = "scoring")]
#[doc(inline)]
pub use animescore_scoring as scoring;
#[cfg(feature = "training")]
#[doc(inline)]
pub use animescore_training as training;

/// The types of the usual path from a dataset folder to a prediction:
/// `use animescore::prelude::*;`.
pub mod prelude {
    #[cfg(feature = "backbones")]
    pub use animescore_backbones::{Backbone, BackboneConfig};
    #[cfg(feature = "dataset")]
    pub use animescore_dataset::{IngestOptions, NoProgress, Split, ingest};
    #[cfg(feature = "explain")]
    pub use animescore_explain::Explainer;
    #[cfg(feature = "gallery")]
    pub use animescore_gallery::{GalleryOptions, write_gallery};
    #[cfg(feature = "heads")]
    pub use animescore_heads::{Embedding, ModelConfig, ScoringModel, Variant};
    #[cfg(feature = "inference")]
    pub use animescore_inference::{Predictor, collect_images};
    #[cfg(feature = "run")]
    pub use animescore_run::{DeviceSpec, TrainConfig};
    #[cfg(feature = "scorefile")]
    pub use animescore_scorefile::{ScoreRow, read_rows, read_scores};
    #[cfg(feature = "scoring")]
    pub use animescore_scoring::{ScoreMethod, Scorer};
    #[cfg(feature = "training")]
    pub use animescore_training::{NoTrainProgress, TrainOptions, train};
}
