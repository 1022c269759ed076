//! Shared fixtures of the animescore tests, so that each test file states what it checks and
//! not how to build a dataset:
//!
//! - [`DatasetSpec`] / [`synthetic_dataset`]: a synthetic gallery-dl dataset, indexed;
//! - [`tiny_config`]: a `tiny` backbone trained for a couple of epochs at a small size;
//! - [`trained_run`]: such a run, trained;
//! - [`Cli`]: the `animescore` binary run with arguments, its output as text.
//!
//! Not published: only the workspace's tests use it.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use animescore_dataset::{IngestOptions, NoProgress, SynthOptions, ingest, synthesize};
use animescore_heads::{Embedding, Variant};
use animescore_run::TrainConfig;
use animescore_training::{NoTrainProgress, TrainOptions, TrainReport, train};

/// What [`synthetic_dataset`] writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DatasetSpec {
    /// Images.
    pub count: usize,
    /// Seed of the synthetic generator.
    pub seed: u64,
    /// Image side in pixels.
    pub size: u32,
    /// Whether ingest gets the character-alias table (so `tag_character` is filled).
    pub aliases: bool,
}

impl DatasetSpec {
    /// `count` images of `size` px from `seed`, ingested with the alias table.
    pub fn new(count: usize, seed: u64, size: u32) -> Self {
        Self { count, seed, size, aliases: true }
    }

    /// Without the character-alias table.
    pub fn without_aliases(self) -> Self {
        Self { aliases: false, ..self }
    }
}

/// Writes a synthetic dataset to `root/data`, indexes it, and returns the folder.
///
/// # Panics
/// When synthesis or ingest fails: a fixture that cannot be built is a broken test.
pub fn synthetic_dataset(root: &Path, spec: DatasetSpec) -> PathBuf {
    let data = root.join("data");
    let options = SynthOptions { count: spec.count, seed: spec.seed, size: spec.size };
    let synth = synthesize(&data, &options).expect("synthesize the fixture dataset");
    let mut ingest_options = IngestOptions::new(&data);
    if spec.aliases {
        ingest_options.characters = Some(synth.aliases);
    }
    ingest(&ingest_options, &NoProgress).expect("ingest the fixture dataset");
    data
}

/// The index file of a dataset folder written by [`synthetic_dataset`].
pub fn index_of(dataset: &Path) -> PathBuf {
    dataset.join(animescore_dataset::DEFAULT_DB_RELATIVE)
}

/// A quick training configuration: the `tiny` backbone at `size` px with every metadata
/// embedding, 2 epochs of batch 16 at lr 3e-3, one loading thread.
pub fn tiny_config(variant: Variant, size: usize) -> TrainConfig {
    TrainConfig {
        backbone: "tiny".into(),
        variant,
        embedding: Embedding::Both,
        image_size: Some(size),
        epochs: Some(2),
        batch_size: Some(16),
        lr: Some(3e-3),
        workers: 1,
        ..TrainConfig::default()
    }
}

/// Options that train `config` on `dataset` into `out` (a new run, default cache).
pub fn train_options(dataset: &Path, out: &Path, config: TrainConfig) -> TrainOptions {
    TrainOptions {
        dataset: dataset.to_path_buf(),
        out: out.to_path_buf(),
        config,
        resume: false,
        overwrite: false,
        cache: Default::default(),
    }
}

/// Trains `config` on `dataset` into `out`.
///
/// # Panics
/// When training fails.
pub fn trained_run(dataset: &Path, out: &Path, config: TrainConfig) -> TrainReport {
    train(&train_options(dataset, out, config), &NoTrainProgress).expect("train the fixture run")
}

/// The `animescore` binary, run with arguments.
#[derive(Debug, Clone)]
pub struct Cli {
    binary: PathBuf,
    env: Vec<(String, String)>,
}

impl Cli {
    /// The binary at `binary` (in the CLI crate's tests: `env!("CARGO_BIN_EXE_animescore")`).
    pub fn new(binary: impl Into<PathBuf>) -> Self {
        Self { binary: binary.into(), env: Vec::new() }
    }

    /// The same binary with an environment variable set for every run.
    pub fn with_env(mut self, key: &str, value: &str) -> Self {
        self.env.push((key.into(), value.into()));
        self
    }

    /// A command for `args`, to add to before running it.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(&self.binary);
        command.args(args).envs(self.env.iter().map(|(k, v)| (k, v)));
        command
    }

    /// Runs `args` to completion.
    ///
    /// # Panics
    /// When the binary cannot be started.
    pub fn run(&self, args: &[&str]) -> Output {
        self.command(args).output().expect("the animescore binary runs")
    }

    /// Runs `args`, which must succeed; returns standard output.
    ///
    /// # Panics
    /// When the command fails (the message holds its standard error).
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(out.status.success(), "animescore {args:?} failed:\n{}", text(&out.stderr));
        text(&out.stdout)
    }

    /// Runs `args`, which must fail; returns standard error.
    ///
    /// # Panics
    /// When the command succeeds.
    pub fn fails(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(!out.status.success(), "animescore {args:?} succeeded:\n{}", text(&out.stdout));
        text(&out.stderr)
    }
}

/// Output bytes as text (invalid UTF-8 replaced).
pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// A path as a command-line argument.
///
/// # Panics
/// When the path is not UTF-8 (test paths are).
pub fn arg(path: &Path) -> &str {
    path.to_str().expect("a UTF-8 test path")
}
