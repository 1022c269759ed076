//! A loaded run that explains its scores: images in, one [`Explanation`] each out.

use std::path::{Path, PathBuf};

use animescore_backbones::{Backbone, Preprocess, load_image};
use animescore_heads::{HeadsConfig, ScoringModel, Variant, unscale_score};
use animescore_run::{DeviceSpec, Placement, TrainedRun};
use animescore_scorefile::Tier;
use burn::prelude::*;
use image::DynamicImage;

use crate::error::{ExplainError, Result};
use crate::gradcam::grad_cam;
use crate::heatmap::{HeatMap, InputGeometry};
use crate::method::Method;
use crate::occlusion::{OcclusionConfig, occlusion};
use crate::rollout::{attention_rollout, read};
use crate::shares::{MetadataFields, MetadataShares, metadata_shares};

/// Why one image got its score.
#[derive(Debug, Clone)]
pub struct Explanation {
    /// Predicted score, 1..100.
    pub score: f64,
    /// Percentile of the score (against the run's calibration, as `predict` places it).
    pub percentile: f64,
    /// Tier of that percentile.
    pub tier: Tier,
    /// The method that made the maps (never `Auto`).
    pub method: Method,
    /// Raw influence over the model's grid: the feature map for rollout and Grad-CAM, the
    /// input square for occlusion.
    pub grid: HeatMap,
    /// Influence at the original image's size, `0..=1`, letterbox or stretch undone.
    pub heat: HeatMap,
    /// Shares of the image and each metadata token (metadata-aware variants only).
    pub shares: Option<MetadataShares>,
}

/// Explanations of a list of files and the files that could not be read.
#[derive(Debug, Default)]
pub struct ExplainReport {
    /// One per readable image, in input order.
    pub explanations: Vec<(PathBuf, Explanation)>,
    /// Unreadable images and why.
    pub failed: Vec<(PathBuf, String)>,
}

/// A model with what it takes to explain its scores.
pub struct Explainer {
    model: ScoringModel,
    variant: Variant,
    fields: MetadataFields,
    preprocess: Preprocess,
    placement: Placement,
    device: Device,
    /// Images per forward pass.
    pub batch_size: usize,
    /// Occlusion patches (default: [`OcclusionConfig::for_size`] of the input side).
    pub occlusion: OcclusionConfig,
}

impl Explainer {
    /// Loads a run directory's best weights.
    pub fn load(run_dir: &Path, device: DeviceSpec) -> Result<Self> {
        let run = TrainedRun::load(run_dir, device)?;
        let batch_size = run.config.train.batch_size().clamp(1, 16);
        let mut explainer = Self::new(
            run.model,
            &run.config.model.heads,
            run.config.preprocess,
            run.placement,
            run.device,
        );
        explainer.batch_size = batch_size;
        Ok(explainer)
    }

    /// An in-memory model (inference mode) built from `heads`; `placement` puts scores into
    /// percentiles and tiers (as `predict` does: against the run's calibration).
    pub fn new(
        model: ScoringModel,
        heads: &HeadsConfig,
        preprocess: Preprocess,
        placement: Placement,
        device: Device,
    ) -> Self {
        Self {
            model,
            variant: heads.variant,
            fields: MetadataFields::of(heads),
            occlusion: OcclusionConfig::for_size(preprocess.size),
            preprocess,
            placement,
            device,
            batch_size: 16,
        }
    }

    /// The model's variant.
    pub fn variant(&self) -> Variant {
        self.variant
    }

    /// Explains a batch of decoded images with `method`.
    pub fn explain(&self, images: &[DynamicImage], method: Method) -> Result<Vec<Explanation>> {
        if images.is_empty() {
            return Ok(Vec::new());
        }
        let method = method.resolve(self.variant)?;
        let input = self.preprocess.batch(images, &self.device);
        let features = self.model.backbone.feature_map(input.clone());
        let [_, _, h, w] = features.dims();
        let out = self.model.head.forward(features.clone(), None)?;
        let scores = read(out.score.clone())?;
        let grids = match method {
            Method::Attention => {
                attention_rollout(out.attention.as_deref().unwrap_or(&[]), (w, h))?
            }
            Method::GradCam => grad_cam(&self.model.head, features.clone())?,
            Method::Occlusion => {
                let score = |batch: Tensor<4>| read(self.model.forward(batch, None)?.score);
                occlusion(&score, input.clone(), &scores, self.occlusion)?
            }
            Method::Auto => {
                return Err(ExplainError::InvalidSetting("`auto` did not resolve".into()));
            }
        };
        let shares = if self.fields.any() {
            let grey = Tensor::<4>::zeros(input.dims(), &self.device);
            Some(metadata_shares(&self.model, self.fields, features, &out, grey)?)
        } else {
            None
        };
        Ok(grids
            .into_iter()
            .zip(images)
            .enumerate()
            .map(|(i, (grid, image))| {
                let geometry = InputGeometry {
                    image_width: image.width(),
                    image_height: image.height(),
                    size: self.preprocess.size,
                    mode: self.preprocess.mode,
                };
                let score = f64::from(unscale_score(scores[i]));
                let (pct, tier) = self.placement.place(score);
                Explanation {
                    score,
                    percentile: pct,
                    tier,
                    method,
                    heat: grid.to_image(&geometry).normalized(),
                    grid,
                    shares: shares.as_ref().map(|s| s[i]),
                }
            })
            .collect())
    }

    /// Explains image files, `batch_size` at a time; unreadable files are reported, not fatal.
    pub fn explain_files(&self, paths: &[PathBuf], method: Method) -> Result<ExplainReport> {
        let mut report = ExplainReport::default();
        for chunk in paths.chunks(self.batch_size.max(1)) {
            let mut loaded = Vec::with_capacity(chunk.len());
            for path in chunk {
                match load_image(path) {
                    Ok(image) => loaded.push((path.clone(), image)),
                    Err(e) => report.failed.push((path.clone(), e.to_string())),
                }
            }
            let images: Vec<DynamicImage> = loaded.iter().map(|(_, i)| i.clone()).collect();
            let explained = self.explain(&images, method)?;
            report.explanations.extend(loaded.into_iter().map(|(p, _)| p).zip(explained));
        }
        Ok(report)
    }
}
