//! The Rust side of the PyTorch training-parity harness (`scripts/parity/train_parity.py`,
//! which runs this example itself; see docs/training.md, "Parity with PyTorch").
//!
//!     cargo build --workspace --example train_parity   # target/debug/examples/train_parity
//!     train_parity --out DIR --variant attention [--dataset DATASET | --synth 120]
//!         [--embedding both] [--backbone tiny|resnet18] [--steps 50 | --epochs E]
//!         [--batch-size 8] [--image-size 48] [--lr 2e-3] [--weight-decay 1e-4] [--seed 42]
//!
//! Trains with the real `Trainer` (augmentation off, small dropout-free heads) and writes to
//! `DIR`:
//! - `initial.safetensors`: the seeded initial weights under PyTorch names;
//! - `samples.safetensors`: every training sample (validation and test too with `--epochs`)
//!   as the model sees it: preprocessed images and raw labels;
//! - `record.json`: settings, and per step its learning rate, batch (sample indices) and
//!   losses; with `--epochs`, the validation score loss and SRCC per epoch, the best epoch
//!   and the test SRCC of its weights;
//! - `after.safetensors` (step mode): weights and batch-norm statistics after `--steps` steps.
//!
//! With `--synth N` (or without `--dataset`), a synthetic dataset of N images (default 120) is
//! written and indexed at `--dataset` (default `DIR/../dataset`) unless one is indexed there.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use animescore::dataset::{IngestOptions, NoProgress, Split, SynthOptions, ingest, synthesize};
use animescore::heads::{
    Embedding, HeadsConfig, LossOutput, ModelOutput, ScoringModel, TorchTensor, Variant,
};
use animescore::pipeline::{Batch, CacheChoice, LoaderSettings, image_loader};
use animescore::run::{AugmentConfig, EpochRecord, HeadsTable, TrainConfig};
use animescore::training::{
    ADAMW_EPSILON, NoTrainProgress, ParityEpoch, ParityLosses, ParityRecord, ParitySettings,
    ParityStep, StepObserver, TrainOptions, Trainer, TrainingError, sample_tensors, write_tensors,
};

type Error = Box<dyn std::error::Error>;

struct Args {
    out: PathBuf,
    dataset: Option<PathBuf>,
    synth: usize,
    synth_given: bool,
    variant: Variant,
    embedding: Embedding,
    backbone: String,
    steps: usize,
    epochs: Option<usize>,
    batch_size: usize,
    image_size: usize,
    lr: f64,
    weight_decay: f64,
    seed: u64,
}

fn parse_args() -> Result<Args, Error> {
    let mut a = Args {
        out: PathBuf::new(),
        dataset: None,
        synth: 120,
        synth_given: false,
        variant: Variant::Multitask,
        embedding: Embedding::Both,
        backbone: "tiny".into(),
        steps: 50,
        epochs: None,
        batch_size: 8,
        image_size: 48,
        lr: 2e-3,
        weight_decay: TrainConfig::default().weight_decay,
        seed: 42,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or_else(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--out" => a.out = PathBuf::from(value()?),
            "--dataset" => a.dataset = Some(PathBuf::from(value()?)),
            "--synth" => {
                a.synth = value()?.parse()?;
                a.synth_given = true;
            }
            "--variant" => a.variant = value()?.parse()?,
            "--embedding" => a.embedding = value()?.parse()?,
            "--backbone" => a.backbone = value()?,
            "--steps" => a.steps = value()?.parse()?,
            "--epochs" => a.epochs = Some(value()?.parse()?),
            "--batch-size" => a.batch_size = value()?.parse()?,
            "--image-size" => a.image_size = value()?.parse()?,
            "--lr" => a.lr = value()?.parse()?,
            "--weight-decay" => a.weight_decay = value()?.parse()?,
            "--seed" => a.seed = value()?.parse()?,
            other => return Err(format!("unknown argument `{other}`").into()),
        }
    }
    if a.out.as_os_str().is_empty() {
        return Err("--out DIR is required".into());
    }
    Ok(a)
}

/// The dataset: `--dataset`, or with `--synth` a synthetic one written and indexed there (or
/// next to the output folder) once.
fn dataset(args: &Args) -> Result<PathBuf, Error> {
    let parent = args.out.parent().unwrap_or(Path::new("."));
    let dataset = args.dataset.clone().unwrap_or_else(|| parent.join("dataset"));
    let indexed = dataset.join(animescore::dataset::DEFAULT_DB_RELATIVE).is_file();
    if !indexed && (args.synth_given || args.dataset.is_none()) {
        synthesize(&dataset, &SynthOptions { count: args.synth, seed: 7, size: 64 })?;
        let mut options = IngestOptions::new(&dataset);
        options.characters = Some(dataset.join("character_aliases.csv"));
        ingest(&options, &NoProgress)?;
    }
    Ok(dataset)
}

fn train_config(args: &Args, epochs: usize) -> Result<TrainConfig, Error> {
    // Dropout-free heads: PyTorch cannot draw burn's dropout masks.
    let heads = HeadsConfig::tiny(args.variant, args.embedding, 0);
    Ok(TrainConfig {
        backbone: args.backbone.clone(),
        variant: args.variant,
        embedding: args.embedding,
        heads: Some(HeadsTable::of(&heads)?),
        image_size: Some(args.image_size),
        augment: AugmentConfig::none(),
        epochs: Some(epochs),
        batch_size: Some(args.batch_size),
        lr: Some(args.lr),
        weight_decay: args.weight_decay,
        patience: Some(epochs + 1),
        seed: args.seed,
        workers: 0,
        ..TrainConfig::default()
    })
}

fn options(dataset: &Path, out: &Path, config: TrainConfig) -> TrainOptions {
    TrainOptions {
        dataset: dataset.to_path_buf(),
        out: out.to_path_buf(),
        config,
        resume: false,
        overwrite: true,
        cache: CacheChoice::Off,
    }
}

/// Every sample of a split as the model sees it, in the split's order.
fn split_tensors(trainer: &Trainer<'_>, split: Split) -> Result<Vec<TorchTensor>, Error> {
    let samples = trainer.samples(split).to_vec();
    let config = trainer.run_config();
    let size = config.preprocess.size;
    let settings = LoaderSettings {
        preprocess: config.preprocess.clone(),
        batch_size: config.train.batch_size(),
        workers: 0,
    };
    let tag_vocab = trainer.model()?.head.tag_vocab();
    let device = burn::tensor::Device::flex();
    let labels: Vec<_> = samples.iter().map(|s| s.label.clone()).collect();
    let loader = image_loader(Arc::new(samples), None, None, &settings, tag_vocab, &device);
    let mut images = Vec::new();
    for loaded in loader.sequential()? {
        let loaded = loaded?;
        if let Some((path, reason)) = loaded.failed.first() {
            return Err(format!("{}: {reason}", path.display()).into());
        }
        if let Some(batch) = loaded.batch {
            images.extend(batch.images.into_data().convert::<f32>().try_to_vec::<f32>()?);
        }
    }
    Ok(sample_tensors(split.name(), images, size, &labels, tag_vocab))
}

/// Records every step; checks that each batch holds exactly the exported samples' pixels.
struct Recorder<'a> {
    index: HashMap<String, usize>,
    images: &'a [f32],
    per_image: usize,
    steps: Vec<ParityStep>,
    /// Step after which the weights are written, and where.
    snapshot: Option<(usize, PathBuf)>,
}

impl StepObserver for Recorder<'_> {
    fn step(
        &mut self,
        step: usize,
        lr: f64,
        batch: &Batch,
        _output: &ModelOutput,
        loss: &LossOutput,
        model: &ScoringModel,
    ) -> Result<(), TrainingError> {
        let samples = batch
            .samples
            .iter()
            .map(|s| {
                self.index.get(&s.filename).copied().ok_or_else(|| {
                    TrainingError::NotEnoughData(format!("{} is not exported", s.filename))
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let pixels = batch.images.clone().into_data().convert::<f32>();
        let pixels =
            pixels.try_to_vec::<f32>().map_err(|e| TrainingError::Device(format!("{e:?}")))?;
        for (k, &i) in samples.iter().enumerate() {
            let exported = &self.images[i * self.per_image..(i + 1) * self.per_image];
            if exported != &pixels[k * self.per_image..(k + 1) * self.per_image] {
                return Err(TrainingError::Device(format!(
                    "step {step}: the batch's image {k} differs from the exported sample {i}"
                )));
            }
        }
        self.steps.push(ParityStep { step, lr, samples, losses: ParityLosses::read(loss)? });
        if let Some((at, path)) = &self.snapshot
            && *at == step + 1
        {
            write_tensors(path, &model.torch_state()?)?;
        }
        Ok(())
    }
}

fn main() -> Result<(), Error> {
    let args = parse_args()?;
    std::fs::create_dir_all(&args.out)?;
    let dataset = dataset(&args)?;
    let run = args.out.join("run");
    // Step mode: as many epochs as `--steps` needs, so the schedule spans about those steps.
    let epochs = match args.epochs {
        Some(e) => e,
        None => {
            let probe = options(&dataset, &run, train_config(&args, 1)?);
            let per_epoch = Trainer::prepare(&probe, &NoTrainProgress)?.batches_per_epoch();
            args.steps.div_ceil(per_epoch.max(1))
        }
    };
    let opts = options(&dataset, &run, train_config(&args, epochs)?);
    let mut trainer = Trainer::prepare(&opts, &NoTrainProgress)?;

    write_tensors(&args.out.join("initial.safetensors"), &trainer.model()?.torch_state()?)?;
    let mut tensors = split_tensors(&trainer, Split::Train)?;
    if args.epochs.is_some() {
        tensors.extend(split_tensors(&trainer, Split::Validation)?);
        tensors.extend(split_tensors(&trainer, Split::Test)?);
    }
    write_tensors(&args.out.join("samples.safetensors"), &tensors)?;

    let config = trainer.run_config().clone();
    let schedule = trainer.schedule();
    let settings = ParitySettings {
        model: config.model.clone(),
        image_size: config.preprocess.size,
        batch_size: config.train.batch_size(),
        seed: config.train.seed,
        lr: schedule.peak,
        min_lr: schedule.min,
        warmup_steps: schedule.warmup_steps,
        total_steps: schedule.total_steps,
        weight_decay: config.train.weight_decay,
        beta1: 0.9,
        beta2: 0.999,
        epsilon: f64::from(ADAMW_EPSILON),
    };
    let train_images = &tensors[0];
    let index = trainer
        .samples(Split::Train)
        .iter()
        .enumerate()
        .map(|(i, s)| (s.filename.clone(), i))
        .collect();
    let step_mode = args.epochs.is_none();
    let mut recorder = Recorder {
        index,
        images: &train_images.values,
        per_image: train_images.shape[1..].iter().product(),
        steps: Vec::new(),
        snapshot: step_mode.then(|| (args.steps, args.out.join("after.safetensors"))),
    };
    let mut epochs_done = Vec::new();
    while let Some(epoch) = trainer.next_epoch() {
        let (train, lr) = trainer.train_epoch_observed(epoch, &mut recorder)?;
        if step_mode {
            if recorder.steps.len() >= args.steps {
                break;
            }
            continue;
        }
        let validation = trainer.validate(epoch)?;
        epochs_done.push(ParityEpoch {
            epoch,
            val_score_loss: validation.loss_score,
            val_srcc: validation.srcc,
        });
        trainer.checkpoint(EpochRecord { epoch, lr, seconds: 0.0, train, validation })?;
    }
    if step_mode && recorder.steps.len() < args.steps {
        return Err(format!("only {} steps were taken", recorder.steps.len()).into());
    }
    let mut steps = recorder.steps;
    let (mut best_epoch, mut test_srcc) = (None, None);
    if step_mode {
        steps.truncate(args.steps);
    } else {
        let report = trainer.finish()?;
        best_epoch = Some(report.summary.best_epoch);
        test_srcc = report.summary.test.and_then(|t| t.srcc);
    }
    let record = ParityRecord { settings, steps, epochs: epochs_done, best_epoch, test_srcc };
    record.write(&args.out.join("record.json"))?;
    println!("wrote {} steps to {}", record.steps.len(), args.out.display());
    Ok(())
}
