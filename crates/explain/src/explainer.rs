//! A loaded run that explains its scores: images in, one [`Explanation`] each out.
//!
//! Memory is bounded by pixels, not by the number of images: an image is decoded, reduced to
//! the model's input and a picture of at most [`MAX_PICTURE_SIDE`] a side
//! ([`Explainer::load_image`]), and dropped; a batch closes at `batch_size` images or
//! [`MAX_BATCH_PIXELS`] pixels of pictures; the heat map at the image's own size is computed
//! row by row ([`ImageHeat`]). A 16000 × 16000 image costs its decode (the decoder's limits)
//! and nothing more of that size.

use std::path::{Path, PathBuf};

use animescore_backbones::{Backbone, BackboneError, Preprocess};
use animescore_heads::{HeadsConfig, ScoringModel, Variant, unscale_score};
use animescore_run::{DeviceSpec, Placement, TrainedRun};
use animescore_scorefile::Tier;
use burn::prelude::*;
use image::{DynamicImage, RgbImage};

use crate::error::{ExplainError, Result};
use crate::gradcam::grad_cam;
use crate::heatmap::{HeatMap, ImageHeat, InputGeometry};
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
    /// Influence at the original image's size, `0..=1`, letterbox or stretch undone
    /// (computed row by row when drawn).
    pub heat: ImageHeat,
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

/// Longest side of the picture kept of each image for drawing its overlay: a larger image is
/// drawn smaller (its heat map keeps the full size).
pub const MAX_PICTURE_SIDE: u32 = 2048;
/// Most pixels (pictures and model inputs) in one batch, sixteen images of 2048 × 2048: a
/// batch closes at this or at the batch size, whichever comes first.
pub const MAX_BATCH_PIXELS: u64 = 16 * 2048 * 2048;

/// An image ready to explain: the model's input and the image's size; the full-size pixels
/// are not kept.
#[derive(Debug, Clone)]
pub struct ExplainInput {
    /// The preprocessed input square (`size × size` RGB).
    input: RgbImage,
    /// The image's width and height.
    width: u32,
    height: u32,
}

/// An image file loaded for explaining: the model's input and a picture of the image of at
/// most [`MAX_PICTURE_SIDE`] a side, to draw the overlay on.
#[derive(Debug, Clone)]
pub struct LoadedImage {
    /// What the model sees.
    pub input: ExplainInput,
    /// The image, reduced when larger than [`MAX_PICTURE_SIDE`].
    pub picture: RgbImage,
}

impl LoadedImage {
    /// Pixels held: the picture and the model's input square.
    pub fn pixels(&self) -> u64 {
        let area = |i: &RgbImage| u64::from(i.width()) * u64::from(i.height());
        area(&self.picture) + area(&self.input.input)
    }
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

    /// The model's input for a decoded image.
    pub fn prepare(&self, image: &DynamicImage) -> ExplainInput {
        ExplainInput {
            input: self.preprocess.resize(image),
            width: image.width(),
            height: image.height(),
        }
    }

    /// Decodes an image file (at full size: its heat map has the file's size) into the
    /// model's input and a picture of at most [`MAX_PICTURE_SIDE`] a side; the full-size
    /// pixels are dropped before this returns.
    pub fn load_image(&self, path: &Path) -> std::result::Result<LoadedImage, BackboneError> {
        let rgb = animescore_backbones::load_rgb(path, |_, _| 1.0)?;
        let (width, height) = rgb.dimensions();
        let longer = width.max(height);
        let picture = if longer > MAX_PICTURE_SIDE {
            let scale = f64::from(MAX_PICTURE_SIDE) / f64::from(longer);
            let side = |v: u32| ((f64::from(v) * scale).round() as u32).max(1);
            image::imageops::thumbnail(&rgb, side(width), side(height))
        } else {
            rgb.clone()
        };
        let input = ExplainInput { input: self.preprocess.fit(rgb), width, height };
        Ok(LoadedImage { input, picture })
    }

    /// Explains a batch of decoded images with `method`.
    pub fn explain(&self, images: &[DynamicImage], method: Method) -> Result<Vec<Explanation>> {
        let inputs: Vec<ExplainInput> = images.iter().map(|i| self.prepare(i)).collect();
        self.explain_inputs(&inputs, method)
    }

    /// Explains a batch of prepared images ([`prepare`](Self::prepare),
    /// [`load_image`](Self::load_image)) with `method`.
    pub fn explain_inputs(
        &self,
        images: &[ExplainInput],
        method: Method,
    ) -> Result<Vec<Explanation>> {
        if images.is_empty() {
            return Ok(Vec::new());
        }
        let method = method.resolve(self.variant)?;
        let chws = images.iter().map(|i| self.preprocess.normalize(i.input.as_raw())).collect();
        let input = self.preprocess.stack(chws, &self.device);
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
                    image_width: image.width,
                    image_height: image.height,
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
                    heat: ImageHeat::new(grid.clone(), geometry),
                    grid,
                    shares: shares.as_ref().map(|s| s[i]),
                }
            })
            .collect())
    }

    /// Explains image files in batches of at most `batch_size` images and
    /// [`MAX_BATCH_PIXELS`] pixels; `each` gets every explained file with its picture, in
    /// input order; unreadable files are reported, not fatal.
    pub fn explain_files_with<E: From<ExplainError>>(
        &self,
        paths: &[PathBuf],
        method: Method,
        mut each: impl FnMut(&Path, &RgbImage, Explanation) -> std::result::Result<(), E>,
    ) -> std::result::Result<Vec<(PathBuf, String)>, E> {
        let mut failed = Vec::new();
        let mut batch: Vec<(&PathBuf, LoadedImage)> = Vec::new();
        let mut flush = |batch: &mut Vec<(&PathBuf, LoadedImage)>| -> std::result::Result<(), E> {
            let inputs: Vec<ExplainInput> = batch.iter().map(|(_, l)| l.input.clone()).collect();
            let explained = self.explain_inputs(&inputs, method)?;
            for ((path, loaded), e) in batch.drain(..).zip(explained) {
                each(path, &loaded.picture, e)?;
            }
            Ok(())
        };
        let mut pixels = 0u64;
        for path in paths {
            match self.load_image(path) {
                Ok(loaded) => {
                    pixels += loaded.pixels();
                    batch.push((path, loaded));
                }
                Err(e) => failed.push((path.clone(), e.to_string())),
            }
            if batch.len() >= self.batch_size.max(1) || pixels >= MAX_BATCH_PIXELS {
                flush(&mut batch)?;
                pixels = 0;
            }
        }
        flush(&mut batch)?;
        Ok(failed)
    }

    /// Explains image files (see [`explain_files_with`](Self::explain_files_with)), keeping
    /// every explanation.
    pub fn explain_files(&self, paths: &[PathBuf], method: Method) -> Result<ExplainReport> {
        let mut explanations = Vec::new();
        let failed = self.explain_files_with(paths, method, |path, _, e| {
            explanations.push((path.to_path_buf(), e));
            Ok::<(), ExplainError>(())
        })?;
        Ok(ExplainReport { explanations, failed })
    }
}
