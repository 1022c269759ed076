//! `animescore`: predict how popular a Pixiv illustration will be.

mod benchmark;
mod bounds;
mod cache;
mod curate;
mod embed;
mod eval;
mod experiments;
mod explain;
mod gallery;
mod ingest;
mod outputs;
mod predict;
mod progress;
mod quickstart;
mod score_args;
mod scores;
mod synth;
mod train;
mod warmup;
mod warmup_status;
mod weights;

use std::process::ExitCode;

use animescore_run::KernelCache;
use clap::{Parser, Subcommand};

/// mimalloc instead of the system allocator: ingest allocates a few dozen strings per file on
/// parser threads and frees them on the writer thread, which glibc's per-thread arenas handle
/// poorly (measured in docs/benchmarks.md, "Ingest against its floor").
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    name = "animescore",
    version,
    about = "Predict the popularity of anime illustrations from pixels and Pixiv metadata"
)]
struct Cli {
    /// More log output (-v info, -vv debug); RUST_LOG overrides.
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    verbose: u8,
    /// Where GPU backends keep compiled kernels and autotune results, or `off`
    /// [default: $ANIMESCORE_KERNEL_CACHE, else ${XDG_CACHE_HOME:-~/.cache}/animescore/kernels].
    #[arg(long, global = true, value_name = "DIR|off")]
    kernel_cache: Option<KernelCache>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Build or update the SQLite index of a gallery-dl dataset folder.
    Ingest(ingest::IngestArgs),
    /// Compute popularity scores for the rows of an index and write them as CSV.
    Scores(scores::ScoresArgs),
    /// Write a synthetic gallery-dl-shaped dataset (images + metadata).
    Synth(synth::SynthArgs),
    /// Pooled backbone features of images, as JSON lines.
    Embed(embed::EmbedArgs),
    /// Train a model on an ingested dataset.
    Train(train::TrainArgs),
    /// Evaluate a trained run on a split of its dataset.
    Eval(eval::EvalArgs),
    /// Score images with a trained run (streamed into a score file), and act on the scores.
    Predict(predict::PredictArgs),
    /// Act on an earlier score file: select, copy / move / link, write captions, undo.
    Curate(curate::CurateCommandArgs),
    /// Heat maps of why a trained run gave each image its score.
    Explain(explain::ExplainArgs),
    /// One self-contained HTML page of predict's output (thumbnails, scores, filters).
    Gallery(gallery::GalleryArgs),
    /// Run a grid of backbones × embeddings × methods and tabulate the results.
    Experiments(experiments::ExperimentsArgs),
    /// Run the whole chain on synthetic data with the CPU defaults.
    Quickstart(quickstart::QuickstartArgs),
    /// Training and inference images/s of a model on a device (synthetic batches).
    Benchmark(benchmark::BenchmarkArgs),
    /// Compile and tune a model's GPU kernels ahead of real data (kept in the kernel cache).
    Warmup(warmup::WarmupArgs),
    /// Where each cache is and what it holds; clear one.
    Cache(cache::CacheCommandArgs),
}

/// Chooses the kernel cache before any device exists, and points the CUDA driver's own cache
/// of compiled code into it unless the user chose a place.
fn choose_kernel_cache(flag: Option<KernelCache>) -> anyhow::Result<KernelCache> {
    let choice = flag.unwrap_or_else(KernelCache::from_env);
    if let Some(dir) = choice.dir()
        && std::env::var_os("CUDA_CACHE_PATH").is_none()
    {
        // SAFETY: called first thing in `main`, before any thread of ours exists, so nothing
        // reads the environment concurrently.
        unsafe { std::env::set_var("CUDA_CACHE_PATH", dir.join(cache::CUDA_DRIVER_FOLDER)) };
    }
    animescore_run::set_kernel_cache(choice.clone())?;
    Ok(choice)
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let kernel_cache = match choose_kernel_cache(cli.kernel_cache.clone()) {
        Ok(choice) => choice,
        Err(e) => {
            eprintln!("error: {e:#}");
            return ExitCode::FAILURE;
        }
    };
    let default_level = match cli.verbose {
        0 => "warn",
        1 => "info",
        _ => "debug",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default_level));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();

    let result = match cli.command {
        Command::Ingest(args) => ingest::run(&args),
        Command::Scores(args) => scores::run(&args),
        Command::Synth(args) => synth::run(&args),
        Command::Embed(args) => embed::run(&args).map(|()| ExitCode::SUCCESS),
        Command::Train(args) => train::run(&args),
        Command::Eval(args) => eval::run(&args),
        Command::Predict(args) => predict::run(&args),
        Command::Curate(args) => curate::run(&args),
        Command::Explain(args) => explain::run(&args),
        Command::Gallery(args) => gallery::run(&args),
        Command::Experiments(args) => experiments::run(&args),
        Command::Quickstart(args) => quickstart::run(&args),
        Command::Benchmark(args) => benchmark::run(&args),
        Command::Warmup(args) => warmup::run(&args),
        Command::Cache(args) => cache::run(&args, &kernel_cache),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            // `{:#}`: the error and each of its causes, `: `-separated. Library errors keep
            // their cause as `source()` and leave it out of their own message.
            // File names inside the message cannot reach the terminal raw (NUL, escape
            // sequences, direction overrides).
            eprintln!("error: {}", animescore_fs::Shown::message(&format!("{e:#}")));
            ExitCode::FAILURE
        }
    }
}
