//! A loaded run that explains its scores: images in, one [`Explanation`] each out, with the
//! method chosen for the model's feature grid ([`Explainer::choose`]).
//!
//! Memory is bounded by pixels, not by the number of images: an image is decoded, reduced to
//! the model's input and a picture of at most [`MAX_PICTURE_SIDE`] a side
//! ([`Explainer::load_image`]), and dropped; a batch closes at `batch_size` images or
//! [`MAX_BATCH_PIXELS`] pixels of pictures; the heat map at the image's own size is computed
//! row by row ([`ImageHeat`]). A 16000 × 16000 image costs its decode (the decoder's limits)
//! and nothing more of that size.

use std::path::{Path, PathBuf};

use animescore_backbones::{Backbone, BackboneError, Preprocess};
use animescore_heads::{HeadsConfig, KnownMetadata, ScoringModel, Variant, unscale_score};
use animescore_pipeline::{KnownLabels, known_metadata};
use animescore_run::{DeviceSpec, Placement, TrainedRun};
use animescore_scorefile::Tier;
use burn::prelude::*;
use image::{DynamicImage, RgbImage};

use crate::error::{ExplainError, Result};
use crate::gradcam::grad_cam;
use crate::heatmap::{HeatMap, ImageHeat, InputGeometry, MapState};
use crate::method::{Method, MethodChoice};
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
    /// Whether the map has anything to show (an all-zero map is black once normalised).
    pub state: MapState,
    /// Whether known metadata (from an index) replaced the model's own predictions.
    pub known_metadata: bool,
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

/// Row `b` of a batch's known metadata, `n` times (for the occluded copies of image `b`).
fn repeat_row(known: &KnownMetadata, b: usize, n: usize) -> KnownMetadata {
    KnownMetadata {
        ai: known.ai.clone().map(|t| t.narrow(0, b, 1).repeat_dim(0, n)),
        sanity: known.sanity.clone().map(|t| t.narrow(0, b, 1).repeat_dim(0, n)),
        tags: known.tags.clone().map(|t| t.narrow(0, b, 1).repeat_dim(0, n)),
    }
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
    /// The backbone's feature grid at the input size (columns, rows).
    grid: (usize, usize),
    /// Images per forward pass.
    pub batch_size: usize,
    /// Occlusion patches (default: [`OcclusionConfig::for_size`] of the input side).
    pub occlusion: OcclusionConfig,
}

impl Explainer {
    /// Loads a run directory's best weights.
    pub fn load(run_dir: &Path, device: DeviceSpec) -> Result<Self> {
        Ok(Self::from_run(TrainedRun::load(run_dir, device)?))
    }

    /// Explains with a loaded run (e.g. after reading its known metadata with
    /// [`animescore_pipeline::known_from_index`]).
    pub fn from_run(run: TrainedRun) -> Self {
        let batch_size = run.config.train.batch_size().clamp(1, 16);
        let mut explainer = Self::new(
            run.model,
            &run.config.model.heads,
            run.config.preprocess,
            run.placement,
            run.device,
        );
        explainer.batch_size = batch_size;
        explainer
    }

    /// An in-memory model (inference mode) built from `heads`; `placement` puts scores into
    /// percentiles and tiers (as `predict` does: against the run's calibration). The feature
    /// grid is measured with one forward pass of a blank image at the input size.
    pub fn new(
        model: ScoringModel,
        heads: &HeadsConfig,
        preprocess: Preprocess,
        placement: Placement,
        device: Device,
    ) -> Self {
        let size = preprocess.size;
        let blank = Tensor::<4>::zeros([1, 3, size, size], &device);
        let [_, _, rows, columns] = model.backbone.feature_map(blank).dims();
        Self {
            model,
            grid: (columns, rows),
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

    /// The backbone's last feature grid at the model's input size (columns, rows): the
    /// resolution of Grad-CAM and attention rollout.
    pub fn feature_grid(&self) -> (usize, usize) {
        self.grid
    }

    /// The method that `method` means on this model, and why (see [`Method::choose`]).
    pub fn choose(&self, method: Method) -> Result<MethodChoice> {
        method.choose(self.variant, self.grid)
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

    /// Explains a batch of decoded images with `method` (`auto`: see [`Explainer::choose`]).
    pub fn explain(&self, images: &[DynamicImage], method: Method) -> Result<Vec<Explanation>> {
        self.explain_known(images, method, &[])
    }

    /// [`explain`](Self::explain) with known metadata (e.g. from
    /// [`animescore_pipeline::known_from_index`]) in place of the model's own predictions, as
    /// `predict --metadata` scores: `known[i]` for `images[i]`; images past the end of `known`
    /// or with `None` use the predictions.
    pub fn explain_known(
        &self,
        images: &[DynamicImage],
        method: Method,
        known: &[Option<&KnownLabels>],
    ) -> Result<Vec<Explanation>> {
        let inputs: Vec<ExplainInput> = images.iter().map(|i| self.prepare(i)).collect();
        self.explain_inputs(&inputs, method, known)
    }

    /// Explains prepared images ([`prepare`](Self::prepare), [`load_image`](Self::load_image))
    /// with `method`, with known metadata as in [`explain_known`](Self::explain_known).
    pub fn explain_inputs(
        &self,
        images: &[ExplainInput],
        method: Method,
        known: &[Option<&KnownLabels>],
    ) -> Result<Vec<Explanation>> {
        let method = self.choose(method)?.method;
        let row = |i: usize| known.get(i).copied().flatten();
        // Known metadata is given per forward pass: images with and without it go apart.
        let (with, without): (Vec<usize>, Vec<usize>) =
            (0..images.len()).partition(|&i| row(i).is_some());
        let mut explained: Vec<(usize, Explanation)> = Vec::with_capacity(images.len());
        for group in [without, with] {
            if group.is_empty() {
                continue;
            }
            let batch: Vec<&ExplainInput> = group.iter().map(|&i| &images[i]).collect();
            let rows: Vec<&KnownLabels> = group.iter().filter_map(|&i| row(i)).collect();
            let known = (!rows.is_empty())
                .then(|| known_metadata(&rows, self.model.head.tag_vocab(), &self.device));
            let explanations = self.explain_batch(&batch, method, known.as_ref())?;
            explained.extend(group.into_iter().zip(explanations));
        }
        explained.sort_by_key(|(i, _)| *i);
        Ok(explained.into_iter().map(|(_, e)| e).collect())
    }

    /// Explains images that all have `known` metadata, or none, with a concrete method.
    fn explain_batch(
        &self,
        images: &[&ExplainInput],
        method: Method,
        known: Option<&KnownMetadata>,
    ) -> Result<Vec<Explanation>> {
        let chws = images.iter().map(|i| self.preprocess.normalize(i.input.as_raw())).collect();
        let input = self.preprocess.stack(chws, &self.device);
        let features = self.model.backbone.feature_map(input.clone());
        let [_, _, h, w] = features.dims();
        let out = self.model.head.forward(features.clone(), known)?;
        let scores = read(out.score.clone())?;
        let grids = match method {
            Method::Attention => {
                attention_rollout(out.attention.as_deref().unwrap_or(&[]), (w, h))?
            }
            Method::GradCam => grad_cam(&self.model.head, features.clone(), known)?,
            Method::Occlusion => {
                let score = |b: usize, copies: Tensor<4>| {
                    let n = copies.dims()[0];
                    let known = known.map(|k| repeat_row(k, b, n));
                    read(self.model.forward(copies, known)?.score)
                };
                occlusion(&score, input.clone(), &scores, self.occlusion)?
            }
            Method::Auto => {
                return Err(ExplainError::InvalidSetting("`auto` did not resolve".into()));
            }
        };
        let shares = if self.fields.any() {
            let grey = Tensor::<4>::zeros(input.dims(), &self.device);
            Some(metadata_shares(&self.model, self.fields, features, &out, known, grey)?)
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
                    state: grid.state(),
                    known_metadata: known.is_some(),
                    grid,
                    shares: shares.as_ref().map(|s| s[i]),
                }
            })
            .collect())
    }

    /// Explains image files in batches of at most `batch_size` images and
    /// [`MAX_BATCH_PIXELS`] pixels, with known metadata `known[i]` for `paths[i]` (as in
    /// [`explain_known`](Self::explain_known)); `each` gets every explained file with its
    /// picture, in input order; unreadable files are reported, not fatal.
    pub fn explain_files_with<E: From<ExplainError>>(
        &self,
        paths: &[PathBuf],
        method: Method,
        known: &[Option<&KnownLabels>],
        mut each: impl FnMut(&Path, &RgbImage, Explanation) -> std::result::Result<(), E>,
    ) -> std::result::Result<Vec<(PathBuf, String)>, E> {
        let mut failed = Vec::new();
        let mut batch: Vec<(usize, LoadedImage)> = Vec::new();
        let mut flush = |batch: &mut Vec<(usize, LoadedImage)>| -> std::result::Result<(), E> {
            let rows: Vec<_> =
                batch.iter().map(|(i, _)| known.get(*i).copied().flatten()).collect();
            // The inputs move into the forward pass; the pictures wait for their explanations.
            let (inputs, pictures): (Vec<ExplainInput>, Vec<(usize, RgbImage)>) =
                batch.drain(..).map(|(i, l)| (l.input, (i, l.picture))).unzip();
            let explained = self.explain_inputs(&inputs, method, &rows)?;
            for ((i, picture), e) in pictures.into_iter().zip(explained) {
                each(&paths[i], &picture, e)?;
            }
            Ok(())
        };
        let mut pixels = 0u64;
        for (i, path) in paths.iter().enumerate() {
            match self.load_image(path) {
                Ok(loaded) => {
                    pixels += loaded.pixels();
                    batch.push((i, loaded));
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
        let failed = self.explain_files_with(paths, method, &[], |path, _, e| {
            explanations.push((path.to_path_buf(), e));
            Ok::<(), ExplainError>(())
        })?;
        Ok(ExplainReport { explanations, failed })
    }
}
