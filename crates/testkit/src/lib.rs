//! Shared fixtures of the animescore tests, so that each test file states what it checks and
//! not how to build a dataset:
//!
//! - [`DatasetSpec`] / [`synthetic_dataset`]: a synthetic gallery-dl dataset, indexed
//!   ([`synthetic_files`] and [`index_dataset`]: the two steps apart, for tests that change the
//!   files in between);
//! - [`images_of`] / [`metadata_of`]: the files of such a dataset;
//! - [`tiny_config`]: a `tiny` backbone trained for a couple of epochs at a small size;
//! - [`trained_run`]: such a run, trained;
//! - [`RunFixture`]: a dataset and a run trained on it, for a test file to share;
//! - [`Cli`]: the `animescore` binary run with arguments (within a time box, if asked), its
//!   output as text (and, on Linux, its peak resident size: [`Cli::run_measured`]);
//! - [`Snapshot`]: every file under a folder, byte for byte, to show that a command left its
//!   inputs as they were.
//!
//! Not published: only the workspace's tests use it.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use animescore_dataset::{
    IngestOptions, IngestReport, NoProgress, SynthOptions, ingest, synthesize,
};
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
    pub const fn new(count: usize, seed: u64, size: u32) -> Self {
        Self { count, seed, size, aliases: true }
    }

    /// Without the character-alias table.
    pub const fn without_aliases(self) -> Self {
        Self { aliases: false, ..self }
    }
}

/// Writes a synthetic dataset to `root/data`, indexes it, and returns the folder.
///
/// # Panics
/// When synthesis or ingest fails: a fixture that cannot be built is a broken test.
pub fn synthetic_dataset(root: &Path, spec: DatasetSpec) -> PathBuf {
    let data = synthetic_files(root, spec);
    index_dataset(&data, spec.aliases);
    data
}

/// Writes a synthetic dataset to `root/data` without indexing it, and returns the folder
/// (`spec.aliases` does not matter here). Writing a larger `count` into the same folder again
/// adds images, as `animescore synth` does.
///
/// # Panics
/// When synthesis fails.
pub fn synthetic_files(root: &Path, spec: DatasetSpec) -> PathBuf {
    let data = root.join("data");
    let options = SynthOptions { count: spec.count, seed: spec.seed, size: spec.size };
    synthesize(&data, &options).expect("synthesize the fixture dataset");
    data
}

/// Indexes a dataset folder written by [`synthetic_files`] into its default index, with its
/// character-alias table ([`aliases_of`]) when `aliases`.
///
/// # Panics
/// When ingest fails.
pub fn index_dataset(dataset: &Path, aliases: bool) -> IngestReport {
    let mut options = IngestOptions::new(dataset);
    if aliases {
        options.characters = Some(aliases_of(dataset));
    }
    ingest(&options, &NoProgress).expect("ingest the fixture dataset")
}

/// The character-alias table that synthesis writes into a dataset folder.
pub fn aliases_of(dataset: &Path) -> PathBuf {
    dataset.join("character_aliases.csv")
}

/// The index file of a dataset folder written by [`synthetic_dataset`].
pub fn index_of(dataset: &Path) -> PathBuf {
    dataset.join(animescore_dataset::DEFAULT_DB_RELATIVE)
}

/// The image files (`*.png`, `*.jpg`) of a synthetic dataset, in path order.
///
/// # Panics
/// When the folder cannot be read.
pub fn images_of(dataset: &Path) -> Vec<PathBuf> {
    shard_files(dataset, |path| path.extension().is_some_and(|e| e == "png" || e == "jpg"))
}

/// The metadata files (`*.json`) of a synthetic dataset, in path order.
///
/// # Panics
/// When the folder cannot be read.
pub fn metadata_of(dataset: &Path) -> Vec<PathBuf> {
    shard_files(dataset, |path| path.extension().is_some_and(|e| e == "json"))
}

/// The files that `keep` accepts in the shard folders of `dataset` (its subfolders, but not
/// hidden ones such as `.database`), in path order.
fn shard_files(dataset: &Path, keep: impl Fn(&Path) -> bool) -> Vec<PathBuf> {
    let entries = |dir: &Path| -> Vec<PathBuf> {
        let listing = std::fs::read_dir(dir).expect("read the fixture dataset");
        listing.map(|e| e.expect("read the fixture dataset").path()).collect()
    };
    let hidden =
        |path: &Path| path.file_name().is_some_and(|n| n.to_string_lossy().starts_with('.'));
    let mut files: Vec<PathBuf> = entries(dataset)
        .into_iter()
        .filter(|shard| shard.is_dir() && !hidden(shard))
        .flat_map(|shard| entries(&shard))
        .filter(|file| file.is_file() && keep(file))
        .collect();
    files.sort();
    files
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

/// A dataset and a run trained on it, in a temporary folder removed with the value (a test file
/// keeps one in a `static` [`OnceLock`](std::sync::OnceLock) to share it between its tests).
#[derive(Debug)]
pub struct RunFixture {
    _dir: tempfile::TempDir,
    /// The dataset folder, indexed.
    pub data: PathBuf,
    /// The run directory, as `train` left it.
    pub run: PathBuf,
}

impl RunFixture {
    /// Writes the dataset `spec` (see [`synthetic_dataset`]) and calls `train(dataset, run)`
    /// to train a run on it.
    ///
    /// # Panics
    /// When the temporary folder or the dataset cannot be made.
    pub fn new(spec: DatasetSpec, train: impl FnOnce(&Path, &Path)) -> Self {
        let dir = tempfile::tempdir().expect("a temporary folder for the fixture");
        let data = synthetic_dataset(dir.path(), spec);
        let run = dir.path().join("run");
        train(&data, &run);
        Self { _dir: dir, data, run }
    }
}

/// The `animescore` binary, run with arguments.
#[derive(Debug, Clone)]
pub struct Cli {
    binary: PathBuf,
    /// Set (`Some`) or removed (`None`), in this order.
    env: Vec<(String, Option<String>)>,
}

impl Cli {
    /// The binary at `binary` (in the CLI crate's tests: `env!("CARGO_BIN_EXE_animescore")`).
    pub fn new(binary: impl Into<PathBuf>) -> Self {
        Self { binary: binary.into(), env: Vec::new() }
    }

    /// The same binary with an environment variable set for every run.
    pub fn with_env(mut self, key: &str, value: &str) -> Self {
        self.env.push((key.into(), Some(value.into())));
        self
    }

    /// The same binary with an environment variable removed for every run (one the test's
    /// own environment may set); a later [`with_env`](Self::with_env) sets it again.
    pub fn without_env(mut self, key: &str) -> Self {
        self.env.push((key.into(), None));
        self
    }

    /// A command for `args`, to add to before running it.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(&self.binary);
        command.args(args);
        for (key, value) in &self.env {
            match value {
                Some(value) => command.env(key, value),
                None => command.env_remove(key),
            };
        }
        command
    }

    /// Runs `args` to completion.
    ///
    /// # Panics
    /// When the binary cannot be started.
    pub fn run(&self, args: &[&str]) -> Output {
        self.command(args).output().expect("the animescore binary runs")
    }

    /// Runs `args` like [`run`](Self::run), but kills the command and fails the test when it
    /// has not ended after `limit` (a command that blocks on a FIFO, say). Standard input is
    /// closed.
    ///
    /// # Panics
    /// When the binary cannot be started, or the command outlives `limit`.
    pub fn run_within(&self, args: &[&str], limit: Duration) -> Output {
        let mut child = self
            .command(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("the animescore binary runs");
        let started = Instant::now();
        // Read both pipes on threads so that a chatty command cannot block on a full pipe.
        let mut stdout = child.stdout.take().expect("piped stdout");
        let mut stderr = child.stderr.take().expect("piped stderr");
        let out = std::thread::spawn(move || {
            let mut v = Vec::new();
            let _ = std::io::Read::read_to_end(&mut stdout, &mut v);
            v
        });
        let err = std::thread::spawn(move || {
            let mut v = Vec::new();
            let _ = std::io::Read::read_to_end(&mut stderr, &mut v);
            v
        });
        let status = loop {
            if let Some(status) = child.try_wait().expect("wait for the binary") {
                break status;
            }
            if started.elapsed() > limit {
                let _ = child.kill();
                let _ = child.wait();
                panic!("animescore {args:?} did not end within {limit:?}");
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        let stdout = out.join().unwrap_or_default();
        let stderr = err.join().unwrap_or_default();
        Output { status, stdout, stderr }
    }

    /// Runs `args`, which must succeed; returns standard output.
    ///
    /// # Panics
    /// When the command fails (the message holds its standard error).
    pub fn ok(&self, args: &[&str]) -> String {
        text(&self.succeeds(args).stdout)
    }

    /// Runs `args`, which must succeed; returns its whole output (for a test that reads
    /// standard error as well).
    ///
    /// # Panics
    /// When the command fails (the message holds its standard error).
    pub fn succeeds(&self, args: &[&str]) -> Output {
        let out = self.run(args);
        assert!(out.status.success(), "animescore {args:?} failed:\n{}", text(&out.stderr));
        out
    }

    /// Trains a quick run: `animescore train --dataset DATASET --out RUN --backbone tiny
    /// --epochs 1` and `settings`, flags and values split at white space (`"--image-size 32
    /// --variant multitask"`), which must succeed; returns standard output.
    ///
    /// # Panics
    /// When training fails.
    pub fn train_one_epoch(&self, dataset: &Path, run: &Path, settings: &str) -> String {
        let mut args = vec!["train", "--dataset", arg(dataset), "--out", arg(run)];
        args.extend(["--backbone", "tiny", "--epochs", "1"]);
        args.extend(settings.split_whitespace());
        self.ok(&args)
    }

    /// Runs `args` to completion; returns its output and its peak resident size in MiB (from
    /// `wait4(2)`, this child's alone). Standard output and error go through temporary files.
    ///
    /// # Panics
    /// When the binary cannot be started or waited for.
    #[cfg(target_os = "linux")]
    pub fn run_measured(&self, args: &[&str]) -> (Output, u64) {
        use std::os::unix::process::ExitStatusExt;
        let dir = tempfile::tempdir().expect("a temporary folder for the output");
        let (out_log, err_log) = (dir.path().join("stdout"), dir.path().join("stderr"));
        let child = self
            .command(args)
            .stdout(std::fs::File::create(&out_log).expect("stdout file"))
            .stderr(std::fs::File::create(&err_log).expect("stderr file"))
            .spawn()
            .expect("the animescore binary runs");
        let pid = child.id() as libc::pid_t;
        let mut status = 0;
        // SAFETY: `rusage` is plain data that wait4 fills; `pid` is our own child, reaped here
        // exactly once (std's `Child` is dropped without waiting, which does not reap it).
        let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
        let reaped = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
        drop(child);
        assert_eq!(reaped, pid, "wait4 failed");
        let output = Output {
            status: std::process::ExitStatus::from_raw(status),
            stdout: std::fs::read(&out_log).unwrap_or_default(),
            stderr: std::fs::read(&err_log).unwrap_or_default(),
        };
        // Linux reports ru_maxrss in KiB.
        (output, usage.ru_maxrss as u64 / 1024)
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

/// What a [`Snapshot`] records for a folder.
const FOLDER: &[u8] = b"folder";

/// Every entry under a folder, byte for byte: regular files by content, links by target,
/// anything else (a FIFO, a folder) by its kind. Two snapshots compare equal when nothing
/// under the folder changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snapshot(pub BTreeMap<PathBuf, Vec<u8>>);

impl Snapshot {
    /// Takes a snapshot of `dir` (links are recorded, never followed); a folder that does not
    /// exist has nothing under it.
    ///
    /// # Panics
    /// When the folder cannot be read.
    pub fn of(dir: &Path) -> Self {
        let mut entries = BTreeMap::new();
        if !dir.exists() {
            return Self(entries);
        }
        let mut pending = vec![dir.to_path_buf()];
        while let Some(folder) = pending.pop() {
            for entry in std::fs::read_dir(&folder).expect("read a snapshot folder") {
                let path = entry.expect("read a snapshot folder").path();
                let meta = std::fs::symlink_metadata(&path).expect("stat a snapshot entry");
                let relative = path.strip_prefix(dir).expect("under the folder").to_path_buf();
                let value = if meta.file_type().is_symlink() {
                    let target = std::fs::read_link(&path).expect("read a link");
                    [b"link -> ".as_slice(), target.as_os_str().as_encoded_bytes()].concat()
                } else if meta.is_file() {
                    std::fs::read(&path).expect("read a snapshot file")
                } else if meta.is_dir() {
                    pending.push(path);
                    FOLDER.to_vec()
                } else {
                    b"special file".to_vec()
                };
                entries.insert(relative, value);
            }
        }
        Self(entries)
    }

    /// Every entry that is not a folder (files, links, special files), as its path relative to
    /// the snapshot's folder with `/` between components.
    pub fn files(&self) -> BTreeSet<String> {
        self.0
            .iter()
            .filter(|(_, value)| value.as_slice() != FOLDER)
            .map(|(path, _)| {
                let parts: Vec<_> = path.iter().map(|p| p.to_string_lossy()).collect();
                parts.join("/")
            })
            .collect()
    }

    /// The entries of `self` that are missing or different in `later`, and the entries
    /// `later` added, each with a word saying which (for an assertion's message).
    pub fn changes(&self, later: &Snapshot) -> Vec<String> {
        let mut out = Vec::new();
        for (path, bytes) in &self.0 {
            match later.0.get(path) {
                None => out.push(format!("removed {}", path.display())),
                Some(b) if b != bytes => out.push(format!("changed {}", path.display())),
                _ => {}
            }
        }
        for path in later.0.keys().filter(|p| !self.0.contains_key(*p)) {
            out.push(format!("added {}", path.display()));
        }
        out
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
