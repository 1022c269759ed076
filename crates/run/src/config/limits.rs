//! Documented ranges of the settings that size an allocation, a thread pool or a loop, checked
//! before anything is allocated: `--image-size 100000` would ask for a 30 GB batch and abort
//! the process, `--epochs 2^64-1` would never end.

use animescore_backbones::check_input_size;

use super::{RunConfig, TrainConfig};
use crate::error::{Result, RunError};

/// Most epochs a run may ask for.
pub const MAX_EPOCHS: usize = 100_000;
/// Largest batch.
pub const MAX_BATCH_SIZE: usize = 65_536;
/// Most image-loading threads.
pub const MAX_WORKERS: usize = 256;

fn above(name: &str, value: usize, max: usize) -> Result<()> {
    if value > max {
        return Err(RunError::InvalidConfig(format!("{name} {value} is above the limit of {max}")));
    }
    Ok(())
}

/// Checks the sizes of a training configuration.
pub(super) fn check_train(c: &TrainConfig) -> Result<()> {
    above("epochs", c.epochs(), MAX_EPOCHS)?;
    above("batch_size", c.batch_size(), MAX_BATCH_SIZE)?;
    above("workers", c.workers, MAX_WORKERS)?;
    if let Some(size) = c.image_size {
        check_input_size(size)?;
    }
    Ok(())
}

/// Checks a run's saved configuration (a hand-edited `config.toml` with `size = 0` or
/// `size = 100000` must not panic or abort `eval` / `predict`).
pub(crate) fn check_run(c: &RunConfig) -> Result<()> {
    check_input_size(c.preprocess.size)?;
    check_train(&c.train)
}
