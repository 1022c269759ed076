//! Scoring new images with a trained run: score, AI probability, sanity class, top tags,
//! and the score's percentile and tier (placed by [`Placement`]: the model's own
//! validation predictions, see [`crate::calibration`]).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use animescore_dataset::{Database, TagVocabulary, sanity_level};
use animescore_heads::{KnownMetadata, Label, SANITY_CLASSES, ScoringModel, unscale_score};
use burn::tensor::activation::{sigmoid, softmax};
use burn::tensor::{Device, Int, Tensor};
use serde::{Deserialize, Serialize};

use crate::calibration::{Placement, TierCuts};
use crate::config::RunConfig;
use crate::data::{LoadedBatch, LoaderSettings, Sample, image_loader, tag_names};
use crate::device::DeviceSpec;
use crate::error::{Result, TrainingError};
use crate::eval::load_model;
use crate::inputs::ImageWalk;
use crate::metrics::argmax;
use crate::readback::read;
use crate::run::RunDir;
use animescore_scorefile::{ScoreFormat, ScoreRow, encode_all};

/// Tags reported per image at most, and the probability they need.
const TOP_TAGS: usize = 5;
const TAG_THRESHOLD: f64 = 0.5;

/// One image's prediction.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Prediction {
    /// Image file name without extension.
    pub filename: String,
    /// The image file.
    pub path: PathBuf,
    /// Predicted score, 1..100.
    pub score: f64,
    /// Probability that the image is AI-generated.
    pub ai_probability: f64,
    /// Predicted sanity class (0, 1, 2).
    pub sanity_class: usize,
    /// Pixiv sanity level of that class (2, 4, 6).
    pub sanity_level: i64,
    /// Tags above 0.5 probability, most likely first (at most 5).
    pub tags: Vec<(String, f64)>,
    /// Percentile of the score (see [`Placement`]).
    pub percentile: f64,
    /// Tier label of the percentile (worst … masterpiece).
    pub tier: String,
    /// Whether known metadata from an index was fed to the model.
    pub known_metadata: bool,
}

/// Metadata of an image known from an index.
#[derive(Debug, Clone, PartialEq)]
pub struct KnownLabels {
    /// AI flag.
    pub ai: bool,
    /// Sanity class.
    pub sanity_class: usize,
    /// Tag indices in the run's vocabulary.
    pub tags: Vec<usize>,
}

/// Predictions and the images that could not be read.
#[derive(Debug, Clone, Default)]
pub struct PredictReport {
    /// One per readable image, in input order.
    pub predictions: Vec<Prediction>,
    /// Unreadable images and why.
    pub failed: Vec<(PathBuf, String)>,
}

/// A loaded run, ready to score images.
pub struct Predictor {
    model: ScoringModel,
    config: RunConfig,
    vocab: TagVocabulary,
    placement: Placement,
    device: Device,
    /// The weights file, named when its outputs are not finite.
    weights: PathBuf,
    /// Images per forward pass.
    pub batch_size: usize,
}

impl Predictor {
    /// Loads a run directory's best weights.
    pub fn load(run_dir: &Path, device: DeviceSpec) -> Result<Self> {
        let run = RunDir::new(run_dir);
        let config = run.read_config()?;
        let device = device.device()?;
        let model = load_model(&run, &config, &device)?;
        Ok(Self {
            model,
            vocab: run.read_vocab()?,
            placement: Placement::of_run(&run)?,
            batch_size: config.train.batch_size().min(32),
            weights: run.model(),
            config,
            device,
        })
    }

    /// The run's configuration.
    pub fn config(&self) -> &RunConfig {
        &self.config
    }

    /// How percentiles and tiers are placed.
    pub fn placement(&self) -> &Placement {
        &self.placement
    }

    /// Replaces the tier cut-offs (`--tiers`).
    pub fn set_tiers(&mut self, tiers: TierCuts) {
        self.placement = self.placement.clone().with_tiers(tiers);
    }

    /// Known metadata of every record of an index, by record name, encoded with this run's
    /// vocabulary.
    pub fn known_from_index(&self, db: &Path) -> Result<HashMap<String, KnownLabels>> {
        let source = self.config.train.tags.source;
        let records =
            crate::data::labelled_records(&Database::open_read_only(db)?, &self.vocab, source)?;
        let vocab = self.vocab.index();
        Ok(records
            .iter()
            .filter_map(|r| {
                let sanity_class = r.sanity_level.and_then(animescore_dataset::sanity_class)?;
                let tags = vocab.positions(tag_names(r, source));
                Some((r.filename.clone(), KnownLabels { ai: r.ai_flag, sanity_class, tags }))
            })
            .collect())
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
        let settings = LoaderSettings {
            preprocess: self.config.preprocess.clone(),
            batch_size: self.batch_size,
            workers: self.config.train.workers,
        };
        let loader = image_loader(Arc::new(samples), None, None, &settings, None, &self.device);
        for loaded in loader.sequential()? {
            let LoadedBatch { batch, failed } = loaded?;
            let mut part = PredictReport { predictions: Vec::new(), failed };
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
                    let index = Tensor::<1, Int>::from_ints(ids.as_slice(), &self.device);
                    let images = batch.images.clone().select(0, index);
                    let samples: Vec<&Sample> = group.iter().map(|&i| &batch.samples[i]).collect();
                    let meta = use_known.then(|| self.known_metadata(&samples, known));
                    part.predictions.extend(self.forward(images, &samples, meta, use_known)?);
                }
                // Back to input order.
                let order: HashMap<&Path, usize> =
                    batch.samples.iter().enumerate().map(|(i, s)| (s.image.as_path(), i)).collect();
                part.predictions
                    .sort_by_key(|p| order.get(p.path.as_path()).copied().unwrap_or(usize::MAX));
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
        let ai: Vec<f32> = rows.iter().map(|k| f32::from(u8::from(k.ai))).collect();
        let sanity: Vec<i64> = rows.iter().map(|k| k.sanity_class as i64).collect();
        let tags = self.model.head.tag_vocab().map(|k| {
            let mut hot = vec![0.0f32; rows.len() * k];
            for (r, row) in rows.iter().enumerate() {
                for &t in row.tags.iter().filter(|&&t| t < k) {
                    hot[r * k + t] = 1.0;
                }
            }
            Tensor::<1>::from_floats(hot.as_slice(), &self.device).reshape([rows.len(), k])
        });
        KnownMetadata {
            ai: Some(Tensor::from_floats(ai.as_slice(), &self.device)),
            sanity: Some(Tensor::from_ints(sanity.as_slice(), &self.device)),
            tags,
        }
    }

    fn forward(
        &self,
        images: Tensor<4>,
        samples: &[&Sample],
        known: Option<KnownMetadata>,
        used_known: bool,
    ) -> Result<Vec<Prediction>> {
        let out = self.model.forward(images, known)?;
        let scores = read(out.score)?;
        crate::weights_file::ensure_finite(&scores, &self.weights)?;
        let ai = read(sigmoid(out.ai_logit))?;
        let sanity = read(softmax(out.sanity_logits, 1))?;
        let tags = out.tag_logits.map(|t| read(sigmoid(t))).transpose()?;
        let k = self.vocab.len();
        Ok(samples
            .iter()
            .enumerate()
            .map(|(i, s)| {
                let score = f64::from(unscale_score(scores[i] as f32));
                let class = argmax(&sanity[i * SANITY_CLASSES..(i + 1) * SANITY_CLASSES]);
                let (pct, tier) = self.placement.place(score);
                let mut top: Vec<(String, f64)> = match &tags {
                    Some(t) if k > 0 && t.len() >= (i + 1) * k => t[i * k..(i + 1) * k]
                        .iter()
                        .zip(&self.vocab.tags)
                        .filter(|(p, _)| **p >= TAG_THRESHOLD)
                        .map(|(p, name)| (name.clone(), *p))
                        .collect(),
                    _ => Vec::new(),
                };
                top.sort_by(|a, b| b.1.total_cmp(&a.1));
                top.truncate(TOP_TAGS);
                Prediction {
                    filename: s.filename.clone(),
                    path: s.image.clone(),
                    score,
                    ai_probability: ai[i],
                    sanity_class: class,
                    sanity_level: sanity_level(class).unwrap_or(2),
                    tags: top,
                    percentile: pct,
                    tier: tier.into(),
                    known_metadata: used_known,
                }
            })
            .collect())
    }
}

/// Image name without its extension.
pub(crate) fn file_stem(path: &Path) -> String {
    path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default()
}

/// Image files among `inputs`: files as given, folders searched recursively for image
/// files (hidden folders such as `.database` skipped), in name order (see [`ImageWalk`]).
pub fn collect_images(inputs: &[PathBuf]) -> Result<Vec<PathBuf>> {
    ImageWalk::new(inputs).map(|found| found.map(|f| f.path)).collect()
}

/// Predictions as a CSV score file ([`animescore_scorefile::COLUMNS`]).
pub fn predictions_csv(predictions: &[Prediction]) -> Result<String> {
    let rows: Vec<ScoreRow> = predictions.iter().map(ScoreRow::from).collect();
    let bytes = encode_all(ScoreFormat::Csv, &rows)?;
    String::from_utf8(bytes).map_err(|e| TrainingError::format("predictions.csv", e))
}
