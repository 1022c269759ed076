//! Weights files read whole, up front, and checked.
//!
//! burn's `try_load_file` maps a burnpack file lazily: a checkpoint deleted or replaced after
//! the load "succeeded" panics in the middle of training. Here the bytes are read once, from a
//! regular file of bounded size, before anything else happens. The best weights `model.bpk`
//! also get a checksum beside them (`model.bpk.xxh3`), written after the weights and verified
//! on load, so that bit flips in the tensor data are an error naming the file instead of NaN
//! predictions. The checksum detects damage, not tampering: whoever can rewrite the weights
//! can rewrite the checksum too.

use std::path::{Path, PathBuf};

use animescore_fs::{read_regular, read_regular_to_string};
use burn::module::Module;
use burn::optim::{ModuleOptimizer, OptimizerRecord};
use burn::store::ModuleRecord;
use burn::tensor::Bytes;

use crate::error::{Result, RunError};

/// Largest weights or optimiser file read (ResNet-152 with AdamW state is about 0.7 GB).
pub const MAX_WEIGHTS_BYTES: u64 = 8 << 30;

/// The checksum file of a weights file: `NAME.xxh3` beside it.
pub fn checksum_path(weights: &Path) -> PathBuf {
    let mut name = weights.file_name().unwrap_or_default().to_os_string();
    name.push(".xxh3");
    weights.with_file_name(name)
}

fn checksum(bytes: &[u8]) -> String {
    format!("{:016x}", xxhash_rust::xxh3::xxh3_64(bytes))
}

fn record_err(what: &'static str, path: &Path, reason: impl ToString) -> RunError {
    RunError::Record { what, path: path.to_path_buf(), reason: reason.to_string() }
}

fn read_bytes(what: &'static str, path: &Path) -> Result<Vec<u8>> {
    read_regular(path, MAX_WEIGHTS_BYTES).map_err(|e| record_err(what, path, e))
}

/// Saves `module` to `path` atomically, with its checksum file. While the weights are being
/// replaced the checksum file lists the old and the new checksum, so a process killed between
/// the two writes leaves a pair that still verifies.
pub fn save_checked<M: Module>(module: M, path: &Path) -> Result<()> {
    let bytes =
        module.into_record().into_bytes().map_err(|e| record_err("saving weights", path, e))?;
    let sum = checksum_path(path);
    let write_sums = |lines: &str| {
        animescore_fs::write_atomic(&sum, lines.as_bytes()).map_err(|e| RunError::io(&sum, e))
    };
    let new = format!("{}\n", checksum(&bytes));
    if let Ok(old) = read_regular_to_string(&sum, 4096) {
        write_sums(&format!("{}{new}", old.lines().map(|l| format!("{l}\n")).collect::<String>()))?;
    }
    animescore_fs::write_atomic(path, &bytes).map_err(|e| RunError::io(path, e))?;
    write_sums(&new)
}

/// Loads `path` into `module`. The file is read whole first; when a checksum file exists, the
/// bytes must match it (a run from before checksums has none and loads with a warning).
pub fn load_checked<M: Module>(module: M, path: &Path) -> Result<M> {
    load_identified(module, path).map(|(module, _)| module)
}

/// [`load_checked`], with the checksum of the bytes loaded (xxh3-64, 16 lowercase hex digits,
/// as in the checksum file): the identity of these weights, which `predict` records beside a
/// score file.
pub fn load_identified<M: Module>(module: M, path: &Path) -> Result<(M, String)> {
    let bytes = read_bytes("loading weights", path)?;
    let sum = checksum_path(path);
    let actual = checksum(&bytes);
    match read_regular_to_string(&sum, 4096) {
        Ok(expected) if expected.lines().any(|l| l.trim() == actual) => {}
        Ok(expected) => {
            return Err(record_err(
                "loading weights",
                path,
                format!(
                    "checksum mismatch ({} says {}, the file hashes to {}): the weights are \
                     damaged; retrain or restore the run",
                    sum.display(),
                    expected.trim(),
                    actual
                ),
            ));
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            tracing::warn!("{}: no checksum file; the weights are not verified", path.display());
        }
        Err(e) => return Err(RunError::io(&sum, e)),
    }
    Ok((load_bytes(module, path, bytes)?, actual))
}

/// Loads `path` into `module`, reading the whole file now (no checksum).
pub fn load_now<M: Module>(module: M, path: &Path) -> Result<M> {
    let bytes = read_bytes("loading checkpoint", path)?;
    load_bytes(module, path, bytes)
}

fn load_bytes<M: Module>(module: M, path: &Path, bytes: Vec<u8>) -> Result<M> {
    let record = ModuleRecord::from_bytes(Bytes::from_bytes_vec(bytes))
        .map_err(|e| record_err("loading weights", path, e))?;
    module.try_load_record(record).map_err(|e| record_err("loading weights", path, e))
}

/// Loads an optimiser state, reading the whole file now.
pub fn load_optimizer(optim: ModuleOptimizer, path: &Path) -> Result<ModuleOptimizer> {
    let bytes = read_bytes("loading optimiser state", path)?;
    let record = OptimizerRecord::from_bytes(Bytes::from_bytes_vec(bytes))
        .map_err(|e| record_err("loading optimiser state", path, e))?;
    Ok(optim.load_record(record))
}

/// Fails when a model computed NaN or infinite values from finite inputs: its weights are
/// damaged (a file from before checksums, or damaged in memory). Names the weights file.
pub fn ensure_finite(values: &[f64], weights: &Path) -> Result<()> {
    if values.iter().all(|v| v.is_finite()) {
        Ok(())
    } else {
        Err(record_err(
            "running the model of",
            weights,
            "it computed NaN or infinite outputs; the weights are damaged (retrain or restore \
             the run)",
        ))
    }
}
