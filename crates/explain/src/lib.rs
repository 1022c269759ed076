//! Why did an image get its score? Attribution maps for animescore models.
//!
//! - [`attention_rollout`]: attention rollout over the `attention` variant's blocks.
//! - [`grad_cam`]: Grad-CAM on the backbone's last feature map, for every variant.
//! - [`occlusion`]: the model-agnostic reference (a grey patch slid over the image).
//! - [`metadata_shares`]: the share of a score due to the image and to each metadata token.
//!
//! [`Explainer`] loads a run and returns, per image, the score, tier, the raw map and the map
//! at the image's own size with the letterbox undone ([`ImageHeat`], computed row by row so
//! that memory is bounded by pixels, not images). `auto` ([`Method::choose`]) takes Grad-CAM
//! where the model's feature grid is fine enough to localise and occlusion where it is not; a
//! map with nothing to show is flagged ([`MapState`]). Known metadata from an index can replace
//! the model's own predictions ([`Explainer::explain_known`]). [`overlay`]
//! draws a map over its image with a label. [`probe_image`] draws images with a known
//! score-driving region for testing. Reading the maps and their limits: `docs/explain.md`.

mod error;
mod explainer;
mod gradcam;
mod heatmap;
mod method;
mod occlusion;
mod probe;
mod render;
mod rollout;
mod shares;

pub use error::{ExplainError, Result};
pub use explainer::{
    ExplainInput, ExplainReport, Explainer, Explanation, LoadedImage, MAX_BATCH_PIXELS,
    MAX_PICTURE_SIDE,
};
pub use gradcam::grad_cam;
pub use heatmap::{HeatMap, ImageHeat, InputGeometry, MapState};
pub use method::{MIN_GRID_SIDE, Method, MethodChoice};
pub use occlusion::{OcclusionConfig, occlusion};
pub use probe::{ProbeImage, Region, centred_probe_image, probe_image};
pub use render::{colormap, draw_label, overlay};
pub use rollout::{attention_rollout, rollout_importance};
pub use shares::{MetadataFields, MetadataShares, metadata_shares};
