//! The training loop.
//!
//! A hand-written loop on burn's optimiser rather than burn-train's `Learner`: the metrics
//! that matter here (SRCC/PLCC over a whole split, tag mAP, the learned σ's) need every
//! prediction of an epoch rather than per-batch averages, the run directory has its own
//! layout (scalers, vocabulary, score distribution, model card) that `--resume` must restore
//! together with the optimiser state, and burn-train's renderer and system metrics would
//! add several minutes to a 2-core CI build for none of that.
//!
//! Per epoch: shuffled (seed + epoch), augmented training batches → AdamW step with the
//! warm-up + cosine learning rate → validation pass in inference mode → `metrics.csv`,
//! `curves.svg`, best weights when the monitored validation value improved (see
//! [`Monitor`](animescore_run::Monitor)), then a checkpoint of the
//! finished epoch (weights + optimiser + state, the state file written last).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use animescore_backbones::Preprocess;
use animescore_dataset::{IllustRecord, Split, TagFilter, TagVocabulary};
use animescore_fs::{RunLock, absolute_path, write_atomic};
use animescore_heads::ScoringModel;
use animescore_pipeline::{
    BatchLoader, CacheChoice, CacheProgress, CacheRoot, CachedFeatures, CachedImages,
    DEFAULT_READBACK_EVERY, FeatureCache, Forward, LoadedBatch, LoadedSample, LoaderSettings,
    NoCacheProgress, Pending, Sample, SplitRecords, StepValues, accumulate_samples, cache_root,
    evaluate_samples, feature_dims, feature_loader, fill_image_cache, fit_scorer, fit_vocab,
    image_loader, index_path, load_labelled_records, load_records, resolve_tag_source, samples,
    warn_unusual_values,
};
use animescore_run::{
    AugmentConfig, Calibration, DeviceSpec, EpochRecord, FeatureCacheMode, Freeze,
    MetricsAccumulator, Pass, Precision, RunConfig, RunDir, RunSummary, SplitMetrics, TagSource,
    TrainConfig, check_model_size, load_model, load_now, load_optimizer, metrics_csv, read_json,
    save_checked, write_json, write_text,
};
use animescore_scoring::Scorer;
use burn::module::Module;
use burn::optim::ModuleOptimizer;
use burn::tensor::Device;
use serde::{Deserialize, Serialize};

use crate::error::{Result, TrainingError};
use crate::plot;
use crate::report;
use crate::schedule::LrSchedule;
use crate::step::{NoObserver, StepObserver, optimizer, train_step};
use crate::warmup::{Warmup, WarmupClock};

mod guard;

pub use guard::RUN_MARKER;

/// What to train, where.
#[derive(Debug, Clone)]
pub struct TrainOptions {
    /// Dataset folder (with its index).
    pub dataset: PathBuf,
    /// Run directory.
    pub out: PathBuf,
    /// Settings.
    pub config: TrainConfig,
    /// Continue from the run directory's last complete epoch (its saved configuration wins).
    pub resume: bool,
    /// Replace what an earlier run left in `out` (without it, and without `resume`, a
    /// non-empty `out` is refused).
    pub overwrite: bool,
    /// Whether and where to keep decoded images between epochs (and runs).
    pub cache: CacheChoice,
}

/// Progress callbacks; all do nothing by default. The library never prints.
pub trait TrainProgress {
    /// Before the first epoch of this session.
    fn start(&self, _info: &RunInfo) {}
    /// An epoch begins with `batches` training batches.
    fn epoch_start(&self, _epoch: usize, _epochs: usize, _batches: usize) {}
    /// A training batch is done.
    fn batch(&self, _loss: f64) {}
    /// An epoch is done.
    fn epoch_end(&self, _record: &EpochRecord, _improved: bool) {}
    /// An image could not be read and was skipped.
    fn skipped(&self, _path: &Path, _reason: &str) {}
    /// The session's first training step starts (on a GPU: kernels are compiled and tuned
    /// until it ends).
    fn warmup_start(&self) {}
    /// The session's first training step is done.
    fn warmup_end(&self, _warmup: &Warmup) {}
    /// Progress of decoding images into the image cache (before the first epoch).
    fn cache(&self) -> &dyn CacheProgress {
        &NoCacheProgress
    }
}

/// A progress sink that ignores everything.
pub struct NoTrainProgress;
impl TrainProgress for NoTrainProgress {}

/// Facts about a run, given to [`TrainProgress::start`].
#[derive(Debug, Clone)]
pub struct RunInfo {
    /// Images per split (train, validation, test).
    pub images: [usize; 3],
    /// Model parameters.
    pub parameters: usize,
    /// Epoch this session starts at (1-based; > 1 when resumed).
    pub first_epoch: usize,
    /// Device.
    pub device: DeviceSpec,
    /// Whether only the heads run, on cached features of the frozen backbone.
    pub cached_features: bool,
    /// The settings in effect (recipe defaults written out, tag source resolved).
    pub config: TrainConfig,
    /// The settings that came from the backbone's recipe rather than from the user, and the
    /// recipe's name; `None` when the user set them all.
    pub recipe_defaults: Option<(&'static str, Vec<&'static str>)>,
}

/// Which of the recipe-dependent settings the user left to the recipe.
fn recipe_defaults(given: &TrainConfig) -> Option<(&'static str, Vec<&'static str>)> {
    let unset = [
        ("epochs", given.epochs.is_none()),
        ("batch_size", given.batch_size.is_none()),
        ("lr", given.lr.is_none()),
        ("patience", given.patience.is_none()),
    ];
    let names: Vec<&'static str> = unset.iter().filter(|(_, u)| *u).map(|(n, _)| *n).collect();
    (!names.is_empty()).then(|| (given.recipe().kind, names))
}

/// What a finished `train` returns (also written as `summary.json`).
#[derive(Debug, Clone)]
pub struct TrainReport {
    /// The run directory.
    pub run: PathBuf,
    /// The summary.
    pub summary: RunSummary,
    /// Per-epoch metrics.
    pub history: Vec<EpochRecord>,
}

/// Saved after every epoch; the commit point of a checkpoint.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct CheckpointState {
    epoch: usize,
    step: usize,
    /// The monitored value of the best epoch (`None` until one is defined).
    #[serde(alias = "best_loss")]
    best: Option<f64>,
    best_epoch: usize,
    wait: usize,
    seconds: f64,
    history: Vec<EpochRecord>,
}

/// Everything derived from the data that the run directory keeps.
struct Prepared {
    run_config: RunConfig,
    scorer: Scorer,
    vocab: TagVocabulary,
    train: Vec<Sample>,
    validation: Vec<Sample>,
    test: Vec<Sample>,
}

impl Prepared {
    /// Images per split (train, validation, test).
    fn images(&self) -> [usize; 3] {
        [self.train.len(), self.validation.len(), self.test.len()]
    }

    /// Optimiser steps in one epoch.
    fn batches_per_epoch(&self) -> usize {
        self.train.len().div_ceil(self.run_config.train.batch_size())
    }
}

/// The settings a run actually uses: the recipe's defaults written out, the tag source
/// resolved on the training records, and no augmentation when the heads train on cached
/// features. Returns them and whether the features are cached.
fn effective_config(
    given: &TrainConfig,
    train_records: &[IllustRecord],
    cache: &CacheChoice,
) -> (TrainConfig, bool) {
    let mut c = given.resolved();
    c.tags.source = resolve_tag_source(train_records, c.tags.source);
    let cached_features = match FeatureCacheMode::decide(&c) {
        _ if *cache == CacheChoice::Off => false,
        Ok(()) => {
            // Features of augmented images would differ: none is applied.
            c.augment = AugmentConfig::none();
            true
        }
        Err(why) => {
            tracing::info!("training end to end, not on cached features: {why}");
            false
        }
    };
    (c, cached_features)
}

fn prepare(opts: &TrainOptions, run: &RunDir) -> Result<Prepared> {
    let resuming = opts.resume && run.checkpoint_state().is_file();
    // Without tags first (tag lists are most of an index): enough to split, fit the score and
    // resolve the tag source; the vocabulary streams the tags past, and only its own tags are
    // then read for the labels.
    let untagged = load_records(&opts.dataset, TagFilter::None)?;
    warn_unusual_values(&index_path(&opts.dataset), &untagged);
    let (train_config, cached_features, scorer, vocab, saved) = if resuming {
        let saved = run.read_config()?;
        let split = SplitRecords::new(untagged.clone(), &saved.train.split);
        if effective_config(&opts.config, &split.train, &opts.cache).0 != saved.train {
            tracing::warn!("--resume: using the run's saved configuration, not the given one");
        }
        let scorer = run.read_scorer()?;
        (saved.train.clone(), saved.cached_features, scorer, run.read_vocab()?, Some(saved))
    } else {
        opts.config.validate()?;
        let split = SplitRecords::new(untagged.clone(), &opts.config.split);
        let (c, cached_features) = effective_config(&opts.config, &split.train, &opts.cache);
        let scorer = fit_scorer(&split.train, c.score_method()?)?;
        let vocab = fit_vocab(&opts.dataset, &split.train, &c.tags)?;
        (c, cached_features, scorer, vocab, None)
    };
    let source = train_config.tags.source;
    let records = match source {
        TagSource::TopK => load_labelled_records(&opts.dataset, &vocab, source)?,
        TagSource::Characters | TagSource::Auto => untagged,
    };
    let split = SplitRecords::new(records, &train_config.split);
    let take = |records: &[animescore_dataset::IllustRecord], name: &str| {
        let (s, missing) = samples(records, &opts.dataset, &scorer, &vocab, source);
        if missing > 0 {
            tracing::warn!("{name}: {missing} records have no image file and are left out");
        }
        s
    };
    let train = take(&split.train, "train");
    let validation = take(&split.validation, "validation");
    let test = take(&split.test, "test");
    if train.is_empty() || validation.is_empty() {
        return Err(TrainingError::NotEnoughData(format!(
            "{} training and {} validation images; need at least one of each",
            train.len(),
            validation.len()
        )));
    }
    let run_config = match saved {
        Some(saved) => saved,
        None => {
            let model = train_config.model_config(vocab.len())?;
            let preprocess: Preprocess = train_config.preprocess(model.backbone.input_spec());
            RunConfig {
                dataset: absolute_path(&opts.dataset),
                train: train_config,
                preprocess,
                model,
                cached_features,
            }
        }
    };
    Ok(Prepared { run_config, scorer, vocab, train, validation, test })
}

fn write_run_files(run: &RunDir, p: &Prepared) -> Result<()> {
    std::fs::create_dir_all(run.checkpoint_dir())
        .map_err(|e| TrainingError::io(run.checkpoint_dir(), e))?;
    write_text(&run.config(), &p.run_config.to_toml()?)?;
    write_text(&run.scalers(), &p.scorer.to_json()?)?;
    write_json(&run.vocab(), &p.vocab)?;
    let mut scores: Vec<f64> =
        p.train.iter().filter_map(|s| s.label.score.map(f64::from)).collect();
    scores.sort_by(f64::total_cmp);
    Ok(write_json(&run.distribution(), &scores)?)
}

fn record_err(what: &'static str, path: &Path, e: impl ToString) -> TrainingError {
    TrainingError::Record { what, path: path.to_path_buf(), reason: e.to_string() }
}

fn build_model(config: &RunConfig, device: &Device) -> Result<ScoringModel> {
    let mut model = config.model.init(device)?;
    if let Some(weights) = &config.train.weights {
        let path = animescore_backbones::resolve_weights(weights)?;
        model.backbone = model.backbone.load_weights(path)?;
    }
    Ok(match &config.train.freeze {
        Freeze::None => model,
        Freeze::All => model.freeze_backbone_before(None)?,
        Freeze::Before(stage) => model.freeze_backbone_before(Some(stage))?,
    })
}

/// Trains a model and fills its run directory: [`Trainer::prepare`], then for each epoch until
/// the last or early stopping [`Trainer::train_epoch`], [`Trainer::validate`] and
/// [`Trainer::checkpoint`], then [`Trainer::finish`].
pub fn train(opts: &TrainOptions, progress: &dyn TrainProgress) -> Result<TrainReport> {
    let mut trainer = Trainer::prepare(opts, progress)?;
    while let Some(epoch) = trainer.next_epoch() {
        let started = Instant::now();
        let (train, lr) = trainer.train_epoch(epoch)?;
        let validation = trainer.validate(epoch)?;
        let seconds = started.elapsed().as_secs_f64();
        trainer.checkpoint(EpochRecord { epoch, lr, seconds, train, validation })?;
    }
    trainer.finish()
}

/// One training session on a run directory, driven epoch by epoch (what [`train`] does).
///
/// Holds the run directory's lock from [`prepare`](Self::prepare) until it is dropped.
pub struct Trainer<'a> {
    opts: &'a TrainOptions,
    progress: &'a dyn TrainProgress,
    run: RunDir,
    prepared: Prepared,
    base_device: Device,
    train_device: Device,
    /// Taken out while an epoch trains (the optimiser updates the weights in place only when
    /// it owns them); `None` after an epoch failed part-way.
    model: Option<ScoringModel>,
    optim: ModuleOptimizer,
    state: CheckpointState,
    inputs: SplitInputs,
    loader_settings: LoaderSettings,
    schedule: LrSchedule,
    /// How training batches, and evaluation batches, reach the model.
    train_forward: Forward,
    eval_forward: Forward,
    validation_loader: BatchLoader<LoadedSample, LoadedBatch>,
    parameters: usize,
    stopped_early: bool,
    /// The first training step of this session, once it is done.
    warmup: Option<Warmup>,
    _lock: RunLock,
}

impl<'a> Trainer<'a> {
    /// Reads the index, splits and labels the data, builds (or, with `resume`, restores) the
    /// model and optimiser, fills the caches and writes the run's configuration files.
    /// Nothing is written before every input was checked.
    pub fn prepare(opts: &'a TrainOptions, progress: &'a dyn TrainProgress) -> Result<Self> {
        let run = RunDir::new(&opts.out);
        let prepared = prepare(opts, &run)?;
        let config = prepared.run_config.train.clone();
        let base_device = config.device.device()?;
        config.precision.check(&base_device, config.device)?;
        let train_device = base_device.clone().autodiff();
        train_device.seed(config.seed);
        // Before anything is built or written: a model that cannot fit is refused with its
        // numbers, and a missing or mismatched weights file or an unknown freeze stage must
        // not leave a half-made run directory behind.
        let c = &prepared.run_config;
        let backbone_trains = !c.cached_features && !matches!(config.freeze, Freeze::All);
        let pass = Pass::Train { backbone: backbone_trains };
        check_model_size(&c.model, c.preprocess.size, config.batch_size(), config.device, pass)?;
        let mut model = build_model(&prepared.run_config, &train_device)?;
        let lock = guard::claim(opts, &prepared.run_config)?;
        write_run_files(&run, &prepared)?;

        let mut optim = optimizer(&config);
        let mut state = CheckpointState::default();
        if opts.resume && run.checkpoint_state().is_file() {
            state = read_json(&run.checkpoint_state())?;
            let (mp, op) = (run.checkpoint_model(state.epoch), run.checkpoint_optim(state.epoch));
            // Both files are read whole now: one deleted later cannot fail the run mid-way.
            model = load_now(model, &mp)?;
            optim = load_optimizer(optim, &op)?;
            tracing::info!("resuming after epoch {}", state.epoch);
        }

        let p = &prepared;
        let total_steps = p.batches_per_epoch() * config.epochs();
        let schedule =
            LrSchedule::new(config.lr(), config.min_lr, config.warmup_fraction, total_steps);
        let parameters = model.num_params();
        progress.start(&RunInfo {
            images: p.images(),
            parameters,
            first_epoch: state.epoch + 1,
            device: config.device,
            cached_features: p.run_config.cached_features,
            config: config.clone(),
            recipe_defaults: recipe_defaults(&opts.config),
        });

        let loader_settings = LoaderSettings {
            preprocess: p.run_config.preprocess.clone(),
            batch_size: config.batch_size(),
            workers: config.workers,
        };
        let inputs = prepare_inputs(opts, p, &model, &base_device, progress)?;
        let (train_forward, eval_forward) = if p.run_config.cached_features {
            (Forward::Features, Forward::Features)
        } else {
            (Forward::Images(config.precision), Forward::Images(Precision::F32))
        };
        let tag_vocab = model.head.tag_vocab();
        let validation_loader =
            inputs.validation.loader(None, &loader_settings, tag_vocab, &base_device);
        let stopped_early = state.wait >= config.patience() && state.epoch > 0;
        Ok(Self {
            opts,
            progress,
            run,
            prepared,
            base_device,
            train_device,
            model: Some(model),
            optim,
            state,
            inputs,
            loader_settings,
            schedule,
            train_forward,
            eval_forward,
            validation_loader,
            parameters,
            stopped_early,
            warmup: None,
            _lock: lock,
        })
    }

    /// The next epoch to train (1-based), or `None` after the last one or early stopping.
    pub fn next_epoch(&self) -> Option<usize> {
        (self.state.epoch < self.config().epochs() && !self.stopped_early)
            .then_some(self.state.epoch + 1)
    }

    /// One pass over the shuffled, augmented training batches with an optimiser step each.
    /// Returns the epoch's training metrics and the last learning rate used.
    pub fn train_epoch(&mut self, epoch: usize) -> Result<(SplitMetrics, f64)> {
        self.train_epoch_observed(epoch, &mut NoObserver)
    }

    /// [`train_epoch`](Self::train_epoch), showing every step to `observer`.
    pub fn train_epoch_observed(
        &mut self,
        epoch: usize,
        observer: &mut dyn StepObserver,
    ) -> Result<(SplitMetrics, f64)> {
        let mut model = self.model.take().ok_or_else(|| self.failed_before())?;
        let c = &self.prepared.run_config.train;
        self.progress.epoch_start(epoch, c.epochs(), self.prepared.batches_per_epoch());
        let tag_vocab = model.head.tag_vocab();
        let epoch_seed = c.seed.wrapping_add(epoch as u64);
        let augment = Some((&c.augment, epoch_seed));
        let loader =
            self.inputs.train.loader(augment, &self.loader_settings, tag_vocab, &self.train_device);
        let mut acc = MetricsAccumulator::default();
        let mut pending = Pending::new(DEFAULT_READBACK_EVERY, tag_vocab);
        let mut lr = self.schedule.at(self.state.step);
        for loaded in loader.shuffled(epoch_seed)? {
            let LoadedBatch { batch, failed } = loaded?;
            for (path, reason) in &failed {
                self.progress.skipped(path, reason);
            }
            let Some(batch) = batch else { continue };
            let clock = self.warmup.is_none().then(|| {
                self.progress.warmup_start();
                WarmupClock::start()
            });
            let labels = batch.labels();
            lr = self.schedule.at(self.state.step);
            let (next, out, loss) = train_step(
                model,
                &mut self.optim,
                lr,
                self.prepared.run_config.train.grad_clip,
                self.train_forward,
                batch.images.clone(),
                &batch.targets,
            )?;
            model = next;
            pending.push(self.state.step, &out, &loss, labels);
            observer.step(self.state.step, lr, &batch, &out, &loss, &model)?;
            self.state.step += 1;
            if let Some(clock) = clock {
                let warmup = clock.finish(&self.train_device)?;
                self.progress.warmup_end(&warmup);
                self.warmup = Some(warmup);
            }
            if pending.is_due() {
                check_finite(epoch, &pending.flush(&mut acc)?, self.progress)?;
            }
        }
        check_finite(epoch, &pending.flush(&mut acc)?, self.progress)?;
        if acc.is_empty() {
            return Err(TrainingError::NotEnoughData(format!(
                "epoch {epoch}: no training image could be read"
            )));
        }
        self.model = Some(c.precision.settle(model));
        Ok((acc.finish(), lr))
    }

    /// The settings in effect (recipe defaults written out, tag source resolved).
    fn config(&self) -> &TrainConfig {
        &self.prepared.run_config.train
    }

    /// The current weights (an error after an epoch of this session failed part-way).
    pub fn model(&self) -> Result<&ScoringModel> {
        self.model.as_ref().ok_or_else(|| self.failed_before())
    }

    /// The run's resolved configuration: training settings, preprocessing and model.
    pub fn run_config(&self) -> &RunConfig {
        &self.prepared.run_config
    }

    /// The readable samples of a split, in the order its loaders index them.
    pub fn samples(&self, split: Split) -> &[Sample] {
        match split {
            Split::Train => &self.inputs.train.samples,
            Split::Validation => &self.inputs.validation.samples,
            Split::Test => &self.inputs.test.samples,
        }
    }

    /// The learning-rate schedule over the whole run.
    pub fn schedule(&self) -> LrSchedule {
        self.schedule
    }

    /// Optimiser steps in one epoch, as the schedule counts them.
    pub fn batches_per_epoch(&self) -> usize {
        self.prepared.batches_per_epoch()
    }

    fn failed_before(&self) -> TrainingError {
        TrainingError::Run {
            dir: self.opts.out.clone(),
            reason: "an epoch of this session failed part-way; continue from the last \
                     checkpoint with --resume"
                .into(),
        }
    }

    /// The validation split's metrics with the current weights (inference mode).
    pub fn validate(&self, epoch: usize) -> Result<SplitMetrics> {
        let model = self.model()?.valid();
        let (validation, failed) =
            evaluate_samples(&model, &self.validation_loader, self.eval_forward)?;
        for (path, reason) in &failed {
            self.progress.skipped(path, reason);
        }
        if !validation.loss.is_finite() {
            return Err(TrainingError::NonFinite {
                epoch,
                step: self.state.step,
                loss: validation.loss as f32,
                tasks: "validation".into(),
            });
        }
        Ok(validation)
    }

    /// Records a finished epoch: the best weights when the monitored value improved,
    /// `metrics.csv`, `curves.svg`, then the checkpoint (its state file last: the commit
    /// point `--resume` continues from).
    pub fn checkpoint(&mut self, record: EpochRecord) -> Result<()> {
        let (monitor, min_delta) = (self.config().monitor, self.config().min_delta);
        let value = monitor.value(&record.validation);
        let improved = monitor.improves(value, self.state.best, min_delta);
        if improved {
            save_checked(self.model()?.clone(), &self.run.model())?;
        }
        let state = &mut self.state;
        if improved {
            state.best = value.or(state.best);
            state.best_epoch = record.epoch;
            state.wait = 0;
        } else {
            state.wait += 1;
        }
        state.seconds += record.seconds;
        state.history.push(record.clone());
        state.epoch = record.epoch;
        self.stopped_early = state.wait >= self.prepared.run_config.train.patience();
        write_text(&self.run.metrics(), &metrics_csv(&self.state.history)?)?;
        let best = Some(self.state.best_epoch).filter(|&e| e > 0);
        let curves = plot::curves_svg(&self.state.history, monitor, best)?;
        write_text(&self.run.curves(), &curves)?;
        save_checkpoint(&self.run, self.model()?, &self.optim, &self.state)?;
        self.progress.epoch_end(&record, improved);
        Ok(())
    }

    /// Evaluates the best weights on validation (calibrating the score placement) and test,
    /// and writes the model card and `summary.json`.
    pub fn finish(self) -> Result<TrainReport> {
        let p = &self.prepared;
        let device = &self.base_device;
        let best = load_model(&self.run, &p.run_config, device)?;
        let forward = self.eval_forward;
        let validation =
            evaluate_and_calibrate(&self.run, &best, &self.validation_loader, forward)?;
        let test = if self.inputs.test.samples.is_empty() {
            None
        } else {
            let tag_vocab = best.head.tag_vocab();
            let loader = self.inputs.test.loader(None, &self.loader_settings, tag_vocab, device);
            Some(evaluate_samples(&best, &loader, forward)?.0)
        };
        let (monitor, images) = (self.config().monitor, self.prepared.images());
        let state = self.state;
        let summary = RunSummary {
            epochs: state.epoch,
            best_epoch: state.best_epoch,
            stopped_early: self.stopped_early,
            monitor,
            best_value: state.best,
            parameters: self.parameters,
            train_seconds: state.seconds,
            warmup_seconds: self.warmup.map(|w| w.seconds),
            images,
            validation,
            test,
        };
        let card = report::model_card(&p.run_config, &summary, &p.vocab, &state.history);
        write_text(&self.run.model_card(), &card)?;
        write_json(&self.run.summary(), &summary)?;
        Ok(TrainReport { run: self.opts.out.clone(), summary, history: state.history })
    }
}

/// Fails on the first non-finite step loss of a read-back, naming the step and the range
/// of steps read back together; reports every finite loss to `progress`.
fn check_finite(epoch: usize, steps: &[StepValues], progress: &dyn TrainProgress) -> Result<()> {
    for s in steps {
        if !s.losses.total.is_finite() {
            let first = steps.first().map_or(s.step, |f| f.step);
            let last = steps.last().map_or(s.step, |l| l.step);
            return Err(TrainingError::NonFinite {
                epoch,
                step: s.step,
                loss: s.losses.total as f32,
                tasks: format!(
                    "{} (losses are read back every {} steps; this read covered steps {first}..={last})",
                    s.losses.describe_tasks(),
                    DEFAULT_READBACK_EVERY
                ),
            });
        }
        progress.batch(s.losses.total);
    }
    Ok(())
}

/// What one split's batches are made from.
enum Source {
    /// Images, from the image cache when there is one.
    Images(Option<CachedImages>),
    /// Cached feature maps of the frozen backbone.
    Features(CachedFeatures),
}

/// One split's readable samples and where their batches come from.
struct SplitInput {
    samples: Arc<Vec<Sample>>,
    source: Source,
}

impl SplitInput {
    fn loader(
        &self,
        augment: Option<(&AugmentConfig, u64)>,
        settings: &LoaderSettings,
        tag_vocab: Option<usize>,
        device: &Device,
    ) -> BatchLoader<LoadedSample, LoadedBatch> {
        let samples = self.samples.clone();
        match &self.source {
            Source::Images(cache) => {
                image_loader(samples, cache.clone(), augment, settings, tag_vocab, device)
            }
            Source::Features(f) => feature_loader(samples, f.clone(), settings, tag_vocab, device),
        }
    }
}

struct SplitInputs {
    train: SplitInput,
    validation: SplitInput,
    test: SplitInput,
}

/// Fills the image cache (and, for heads-only runs, the feature cache) for every split.
/// Images that cannot be decoded are reported once here and left out of the run (the caches
/// remember them, so they are not retried).
fn prepare_inputs(
    opts: &TrainOptions,
    p: &Prepared,
    model: &ScoringModel,
    device: &Device,
    progress: &dyn TrainProgress,
) -> Result<SplitInputs> {
    let splits = [&p.train, &p.validation, &p.test];
    let all: Vec<Sample> = splits.iter().flat_map(|s| s.iter().cloned()).collect();
    let preprocess = &p.run_config.preprocess;
    let paths: Vec<PathBuf> = all.iter().map(|s| s.image.clone()).collect();
    let images =
        fill_image_cache(&opts.cache, &opts.dataset, &paths, preprocess, progress.cache())?;
    let features = match (p.run_config.cached_features, cache_root(&opts.cache, &opts.dataset)) {
        (true, Some(root)) => {
            Some(fill_features(opts, p, &root, &all, images.as_ref(), model, device, progress)?)
        }
        _ => None,
    };
    let failure = |i: usize| match (&features, &images) {
        (Some(f), _) => f.failure(i),
        (None, Some(c)) => c.failure(i),
        (None, None) => None,
    };
    let mut offset = 0;
    let mut split = |samples: &[Sample]| -> SplitInput {
        let mut kept = Vec::with_capacity(samples.len());
        let mut rows = Vec::with_capacity(samples.len());
        for (i, s) in samples.iter().enumerate() {
            match failure(offset + i) {
                Some(reason) => progress.skipped(&s.image, reason),
                None => {
                    kept.push(s.clone());
                    rows.push(offset + i);
                }
            }
        }
        offset += samples.len();
        let source = match (&features, &images) {
            (Some(f), _) => Source::Features(f.subset(&rows)),
            (None, cache) => Source::Images(cache.as_ref().map(|c| c.subset(&rows))),
        };
        SplitInput { samples: Arc::new(kept), source }
    };
    let inputs = SplitInputs {
        train: split(&p.train),
        validation: split(&p.validation),
        test: split(&p.test),
    };
    if inputs.train.samples.is_empty() || inputs.validation.samples.is_empty() {
        return Err(TrainingError::NotEnoughData(
            "no readable training or validation image (see the skipped images above)".into(),
        ));
    }
    Ok(inputs)
}

/// Runs the frozen backbone once over every image (reading them from the image cache when
/// there is one) and stores the feature maps.
#[allow(clippy::too_many_arguments)]
fn fill_features(
    opts: &TrainOptions,
    p: &Prepared,
    root: &CacheRoot,
    all: &[Sample],
    images: Option<&CachedImages>,
    model: &ScoringModel,
    device: &Device,
    progress: &dyn TrainProgress,
) -> Result<CachedFeatures> {
    let c = &p.run_config;
    let backbone = model.backbone.clone().valid();
    let dims = feature_dims(&backbone, c.preprocess.size, device);
    let cache = FeatureCache::new(root, &c.train, &c.model.backbone, &c.preprocess, dims)?;
    let paths: Vec<PathBuf> = all.iter().map(|s| s.image.clone()).collect();
    let read = |i: usize| match images {
        Some(cache) => cache.get(i),
        None => {
            c.preprocess.load_rgb(&paths[i]).map(|rgb| rgb.into_raw()).map_err(|e| e.to_string())
        }
    };
    let key = |p: &Path| p.strip_prefix(&opts.dataset).unwrap_or(p).to_string_lossy().into_owned();
    let (features, stats) = cache.fill(
        &paths,
        key,
        &read,
        &c.preprocess,
        &backbone,
        device,
        c.train.batch_size(),
        progress.cache(),
    )?;
    tracing::info!(
        "feature cache {}: {} cached, {} computed, {} unreadable",
        cache.dir().display(),
        stats.hits,
        stats.computed,
        stats.failed
    );
    Ok(features)
}

/// Metrics of the final model on the validation split, and `calibration.json` from its
/// predicted scores (one pass for both).
fn evaluate_and_calibrate(
    run: &RunDir,
    model: &ScoringModel,
    validation: &BatchLoader<LoadedSample, LoadedBatch>,
    forward: Forward,
) -> Result<SplitMetrics> {
    let (acc, _) = accumulate_samples(model, validation, forward)?;
    let calibration = Calibration::from_predictions(acc.score_predictions());
    write_json(&run.calibration(), &calibration)?;
    Ok(acc.finish())
}

fn save_checkpoint(
    run: &RunDir,
    model: &ScoringModel,
    optim: &ModuleOptimizer,
    state: &CheckpointState,
) -> Result<()> {
    let (mp, op) = (run.checkpoint_model(state.epoch), run.checkpoint_optim(state.epoch));
    model.clone().save_file(&mp).map_err(|e| record_err("saving checkpoint", &mp, e))?;
    optim.save(&op).map_err(|e| record_err("saving optimiser state", &op, e))?;
    let text = serde_json::to_vec_pretty(state)
        .map_err(|e| TrainingError::format(run.checkpoint_state(), e))?;
    // The state file is the commit point: it names the epoch whose files are complete.
    write_atomic(&run.checkpoint_state(), &text)
        .map_err(|e| TrainingError::io(run.checkpoint_state(), e))?;
    // Everything else in checkpoint/ is stale: the previous epoch's files, and files a killed
    // session left half-written (an uncommitted epoch, temporary files of atomic writes).
    let keep = [run.checkpoint_state(), mp, op];
    if let Ok(entries) = std::fs::read_dir(run.checkpoint_dir()) {
        for path in entries.filter_map(|e| e.ok().map(|e| e.path())) {
            if path.is_file() && !keep.contains(&path) {
                let _ = std::fs::remove_file(path);
            }
        }
    }
    Ok(())
}
