//! `animescore warmup`: compiles and tunes a model's GPU kernels on synthetic batches, so that
//! the first `train` or `predict` with real data starts at once.

use std::process::ExitCode;

use animescore_run::{DeviceSpec, kernel_cache_in_use};
use animescore_training::BenchOptions;

use crate::benchmark::{ModelArgs, report_error, run_one, setting, warmup_text};
use crate::cache;

#[derive(clap::Args)]
pub struct WarmupArgs {
    #[command(flatten)]
    pub model: ModelArgs,
    /// Device: cubecl-cpu, vulkan[:N] or cuda[:N] (flex compiles nothing).
    #[arg(long)]
    pub device: DeviceSpec,
    /// Training and inference steps per setting (the first compiles and tunes; the second
    /// catches what the first step's state left out, such as optimiser moments).
    #[arg(long, default_value_t = 2)]
    pub steps: usize,
}

pub fn run(args: &WarmupArgs) -> anyhow::Result<ExitCode> {
    anyhow::ensure!(args.steps > 0, "--steps must be positive");
    if !args.device.is_cubecl() {
        eprintln!("{}: nothing to prepare (the CPU backend compiles no kernels)", args.device);
        return Ok(ExitCode::SUCCESS);
    }
    let mut failed = false;
    for config in args.model.configs(args.device)? {
        let opts =
            BenchOptions { config, steps: 0, warmup: args.steps, train: true, predict: true };
        match run_one(&opts) {
            Ok(report) => println!("{}: ready ({})", setting(&report), warmup_text(&report)),
            Err(e) => {
                report_error(&opts, e);
                failed = true;
            }
        }
    }
    match kernel_cache_in_use().and_then(|c| c.dir()) {
        Some(dir) => println!("kernel cache: {} ({})", dir.display(), cache::size_text(dir)),
        None => println!("kernel cache: off (nothing was kept for later runs)"),
    }
    Ok(if failed { ExitCode::FAILURE } else { ExitCode::SUCCESS })
}
