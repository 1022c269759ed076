//! Scoring new images with a trained run: score, AI probability, sanity class, top tags,
//! and the score's percentile and tier (placed against the model's own validation
//! predictions, see [`Placement`]), as [`ScoreRow`]s.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use animescore_dataset::sanity_level;
use animescore_heads::{KnownMetadata, Label, SANITY_CLASSES, unscale_score};
use animescore_pipeline::{
    KnownLabels, LoadedBatch, LoaderSettings, Sample, image_loader, known_from_index,
    known_metadata, read,
};
use animescore_run::{DeviceSpec, Placement, RunConfig, TrainedRun, ensure_finite};
use animescore_scorefile::{ScoreRow, TierCuts};
use burn::tensor::activation::{sigmoid, softmax};
use burn::tensor::{Int, Tensor};

use crate::error::Result;

/// Tags reported per image at most, and the probability they need.
const TOP_TAGS: usize = 5;
const TAG_THRESHOLD: f64 = 0.5;

/// Predictions and the images that could not be read.
#[derive(Debug, Clone, Default)]
pub struct PredictReport {
    /// One per readable image, in input order.
    pub predictions: Vec<ScoreRow>,
    /// Unreadable images and why.
    pub failed: Vec<(PathBuf, String)>,
    /// How many predictions were fed known metadata from an index.
    pub with_known_metadata: usize,
}

/// A loaded run, ready to score images.
pub struct Predictor {
    run: TrainedRun,
    /// Images per forward pass.
    pub batch_size: usize,
}

impl Predictor {
    /// Loads a run directory's best weights.
    pub fn load(run_dir: &Path, device: DeviceSpec) -> Result<Self> {
        Ok(Self::new(TrainedRun::load(run_dir, device)?))
    }

    /// Scores with an already loaded run.
    pub fn new(run: TrainedRun) -> Self {
        let batch_size = run.config.train.batch_size().min(32);
        Self { run, batch_size }
    }

    /// The run's configuration.
    pub fn config(&self) -> &RunConfig {
        &self.run.config
    }

    /// The run directory and the checksum of its best weights: which model this is.
    pub fn identity(&self) -> (&Path, &str) {
        (&self.run.dir.dir, &self.run.weights_checksum)
    }

    /// How percentiles and tiers are placed.
    pub fn placement(&self) -> &Placement {
        &self.run.placement
    }

    /// Replaces the tier cut-offs (`--tiers`).
    pub fn set_tiers(&mut self, tiers: TierCuts) {
        self.run.placement = self.run.placement.clone().with_tiers(tiers);
    }

    /// Known metadata of every record of an index, by record name, encoded with this run's
    /// vocabulary (see [`known_from_index`]).
    pub fn known_from_index(&self, db: &Path) -> Result<HashMap<String, KnownLabels>> {
        Ok(known_from_index(&self.run, db)?)
    }

    /// Scores images with the model's own metadata predictions.
    pub fn predict(&self, images: &[PathBuf]) -> Result<PredictReport> {
        self.predict_with_known(images, &HashMap::new())
    }

    /// [`predict`](Self::predict) with known metadata (by file name without extension, e.g.
    /// from [`known_from_index`](Self::known_from_index)) replacing the model's own metadata
    /// predictions as input of the embedding (variants `meta-embed`, `attention`).
    pub fn predict_with_known(
        &self,
        images: &[PathBuf],
        known: &HashMap<String, KnownLabels>,
    ) -> Result<PredictReport> {
        let mut report = PredictReport::default();
        self.predict_each(images, known, |part| {
            report.predictions.extend(part.predictions);
            report.failed.extend(part.failed);
            report.with_known_metadata += part.with_known_metadata;
            Ok(())
        })?;
        Ok(report)
    }

    /// [`Predictor::predict`] batch by batch: `on_batch` gets each batch's predictions (in
    /// input order) and unreadable images as soon as they are known.
    pub fn predict_each(
        &self,
        images: &[PathBuf],
        known: &HashMap<String, KnownLabels>,
        mut on_batch: impl FnMut(PredictReport) -> Result<()>,
    ) -> Result<()> {
        let samples: Vec<Sample> = images
            .iter()
            .map(|p| Sample { filename: file_stem(p), image: p.clone(), label: Label::default() })
            .collect();
        let (config, device) = (&self.run.config, &self.run.device);
        let settings = LoaderSettings {
            preprocess: config.preprocess.clone(),
            batch_size: self.batch_size,
            workers: config.train.workers,
        };
        let loader = image_loader(Arc::new(samples), None, None, &settings, None, device);
        for loaded in loader.sequential()? {
            let LoadedBatch { batch, failed } = loaded?;
            let mut part = PredictReport { failed, ..PredictReport::default() };
            if let Some(batch) = batch {
                // Images with and without known metadata go through separate forward
                // passes, since known metadata is given per batch.
                let (with, without): (Vec<usize>, Vec<usize>) = (0..batch.samples.len())
                    .partition(|&i| known.contains_key(&batch.samples[i].filename));
                for (group, use_known) in [(without, false), (with, true)] {
                    if group.is_empty() {
                        continue;
                    }
                    let ids: Vec<i64> = group.iter().map(|&i| i as i64).collect();
                    let index = Tensor::<1, Int>::from_ints(ids.as_slice(), device);
                    let images = batch.images.clone().select(0, index);
                    let samples: Vec<&Sample> = group.iter().map(|&i| &batch.samples[i]).collect();
                    let meta = use_known.then(|| self.known_metadata(&samples, known));
                    part.predictions.extend(self.forward(images, &samples, meta)?);
                    if use_known {
                        part.with_known_metadata += samples.len();
                    }
                }
                // Back to input order.
                let order: HashMap<String, usize> = batch
                    .samples
                    .iter()
                    .enumerate()
                    .map(|(i, s)| (s.image.to_string_lossy().into_owned(), i))
                    .collect();
                part.predictions.sort_by_key(|p| order.get(&p.path).copied().unwrap_or(usize::MAX));
            }
            on_batch(part)?;
        }
        Ok(())
    }

    fn known_metadata(
        &self,
        samples: &[&Sample],
        known: &HashMap<String, KnownLabels>,
    ) -> KnownMetadata {
        let rows: Vec<&KnownLabels> =
            samples.iter().filter_map(|s| known.get(&s.filename)).collect();
        known_metadata(&rows, self.run.model.head.tag_vocab(), &self.run.device)
    }

    fn forward(
        &self,
        images: Tensor<4>,
        samples: &[&Sample],
        known: Option<KnownMetadata>,
    ) -> Result<Vec<ScoreRow>> {
        let out = self.run.model.forward(images, known)?;
        let scores = read(out.score)?;
        ensure_finite(&scores, &self.run.dir.model())?;
        let ai = read(sigmoid(out.ai_logit))?;
        let sanity = read(softmax(out.sanity_logits, 1))?;
        let tags = out.tag_logits.map(|t| read(sigmoid(t))).transpose()?;
        Ok(samples
            .iter()
            .enumerate()
            .map(|(i, s)| {
                let score = f64::from(unscale_score(scores[i] as f32));
                let class = most_likely(&sanity[i * SANITY_CLASSES..(i + 1) * SANITY_CLASSES]);
                let (percentile, tier) = self.run.placement.place(score);
                ScoreRow {
                    path: s.image.to_string_lossy().into_owned(),
                    filename: s.filename.clone(),
                    score,
                    ai_probability: Some(ai[i]),
                    sanity_class: Some(class),
                    sanity_level: Some(sanity_level(class).unwrap_or(2)),
                    top_tags: self.top_tags(tags.as_deref(), i),
                    percentile: Some(percentile),
                    tier: Some(tier),
                }
            })
            .collect())
    }

    /// The tags of image `i` above [`TAG_THRESHOLD`], most likely first, at most [`TOP_TAGS`].
    fn top_tags(&self, probabilities: Option<&[f64]>, i: usize) -> Vec<(String, f64)> {
        let k = self.run.vocab.len();
        let Some(row) = probabilities.and_then(|p| p.get(i * k..(i + 1) * k)) else {
            return Vec::new();
        };
        let mut top: Vec<(String, f64)> = row
            .iter()
            .zip(&self.run.vocab.tags)
            .filter(|(p, _)| **p >= TAG_THRESHOLD)
            .map(|(p, name)| (name.clone(), *p))
            .collect();
        top.sort_by(|a, b| b.1.total_cmp(&a.1));
        top.truncate(TOP_TAGS);
        top
    }
}

/// The index of the largest probability (the first on ties).
fn most_likely(probabilities: &[f64]) -> usize {
    probabilities
        .iter()
        .enumerate()
        .fold((0, f64::NEG_INFINITY), |best, (i, &p)| if p > best.1 { (i, p) } else { best })
        .0
}

/// Image name without its extension.
fn file_stem(path: &Path) -> String {
    path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default()
}
