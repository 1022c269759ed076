//! Documented ranges of the settings that size an allocation, a thread pool or a loop, checked
//! before anything is allocated: `--image-size 100000` would ask for a 30 GB batch and abort
//! the process, `--epochs 2^64-1` would never end, `[heads] head_hidden = 4000000000` would
//! allocate until the kernel kills the process.
//!
//! A model is sized from its configuration before it is built ([`ModelConfig::size`]): its
//! parameters must not exceed [`MAX_PARAMETERS`], and its estimated memory must fit the
//! machine (see [`check_model_size`]).

use std::path::Path;

use animescore_backbones::check_input_size;
use animescore_heads::ModelConfig;

use super::{RunConfig, TrainConfig};
use crate::device::DeviceSpec;
use crate::error::{Result, RunError};

/// Most parameters a model may have: one billion (4 GB of `f32` weights, 16 GB to train with
/// Adam). ResNet-152 has 60 million, EfficientNet-B7 66 million.
pub const MAX_PARAMETERS: f64 = 1e9;
/// Most memory a model may be planned to need on a GPU (whose size is not asked): 192 GiB,
/// the largest single accelerator in common use. On the CPU device the limit is the machine's
/// physical memory (this value where that cannot be read).
pub const MAX_DEVICE_MEMORY: f64 = 192.0 * GIB;

const GIB: f64 = (1u64 << 30) as f64;

/// What a pass over a model keeps in memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pass {
    /// Training: weights, gradients and Adam's two moments (16 bytes per parameter) and every
    /// layer's output for the backward pass (the backbone's only when it trains).
    Train {
        /// Whether the backbone trains (not frozen as a whole, not on cached features).
        backbone: bool,
    },
    /// Inference: the weights and a few layer outputs at a time.
    Infer,
}

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
/// `size = 100000`, or huge widths, must not panic or abort `eval` / `predict`): the sizes,
/// and the model's parameters and the memory of inference on one image.
pub(crate) fn check_run(c: &RunConfig) -> Result<()> {
    check_input_size(c.preprocess.size)?;
    check_train(&c.train)?;
    let limit = (MAX_DEVICE_MEMORY, "the memory limit");
    check_size(&c.model, c.preprocess.size, 1, limit, Pass::Infer)
}

/// Refuses a model that cannot fit, from its configuration alone, before anything is built:
/// more than [`MAX_PARAMETERS`] parameters, or an estimated memory for `pass` at `batch`
/// images of `image_size` px above the device's limit (the machine's physical memory for the
/// CPU device, [`MAX_DEVICE_MEMORY`] for a GPU). The error gives the numbers.
pub fn check_model_size(
    model: &ModelConfig,
    image_size: usize,
    batch: usize,
    device: DeviceSpec,
    pass: Pass,
) -> Result<()> {
    let limit = match device {
        DeviceSpec::Flex => match host_memory() {
            Some(bytes) => (bytes, "this machine's memory"),
            None => (MAX_DEVICE_MEMORY, "the memory limit"),
        },
        _ => (MAX_DEVICE_MEMORY, "the GPU memory limit"),
    };
    check_size(model, image_size, batch, limit, pass)
}

fn check_size(
    model: &ModelConfig,
    image_size: usize,
    batch: usize,
    (limit, limit_name): (f64, &str),
    pass: Pass,
) -> Result<()> {
    let size = model.size(image_size);
    let total = size.total();
    // NaN (inf - inf of absurd widths) counts as too large.
    if total.parameters.is_nan() || total.parameters > MAX_PARAMETERS {
        return Err(RunError::InvalidConfig(format!(
            "the model would have about {} parameters (backbone {}, heads {}), above the limit \
             of {} (check the widths, blocks and head sizes)",
            count(total.parameters),
            count(size.backbone.parameters),
            count(size.heads.parameters),
            count(MAX_PARAMETERS)
        )));
    }
    let (per_parameter, per_image, what) = match pass {
        Pass::Train { backbone } => {
            let kept = if backbone { size.backbone.activations } else { 3.0 * size.backbone.peak };
            (16.0, kept + size.heads.activations, "train")
        }
        Pass::Infer => (4.0, 3.0 * total.peak, "run"),
    };
    let needed = per_parameter * total.parameters + 4.0 * batch as f64 * per_image;
    if needed.is_nan() || needed > limit {
        return Err(RunError::InvalidConfig(format!(
            "the model would need about {} to {what} on batches of {batch} images of \
             {image_size} px ({} parameters, {} of activations per image), more than {limit_name} \
             of {} (use smaller images, batches or widths)",
            gib(needed),
            count(total.parameters),
            gib(4.0 * per_image),
            gib(limit)
        )));
    }
    Ok(())
}

/// A count for messages: `1.2e11`, or the plain number below a million.
fn count(n: f64) -> String {
    if n < 1e6 { format!("{n:.0}") } else { format!("{n:.2e}") }
}

fn gib(bytes: f64) -> String {
    if bytes < 1e15 { format!("{:.1} GiB", bytes / GIB) } else { format!("{bytes:.2e} bytes") }
}

/// Physical memory of this machine (`MemTotal` of `/proc/meminfo`), when it can be read.
fn host_memory() -> Option<f64> {
    let text = animescore_fs::read_regular_to_string(Path::new("/proc/meminfo"), 1 << 16).ok()?;
    let line = text.lines().find(|l| l.starts_with("MemTotal:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024.0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use animescore_backbones::BackboneConfig;
    use animescore_heads::{Embedding, HeadsConfig, Variant};

    fn model(backbone: &str, heads: HeadsConfig) -> ModelConfig {
        ModelConfig::new(BackboneConfig::from_name(backbone).unwrap(), heads)
    }

    #[test]
    fn real_models_fit_and_absurd_ones_are_refused_with_numbers() {
        let gpu = DeviceSpec::Cuda(0);
        let train = Pass::Train { backbone: true };
        let original = HeadsConfig::new(Variant::Attention, Embedding::Both, 1000);
        // The original's setting: ResNet-152 at 224 px, batches of 64.
        check_model_size(&model("resnet152", original.clone()), 224, 64, gpu, train).unwrap();
        check_model_size(&model("efficientnet-b7", original), 600, 8, gpu, Pass::Infer).unwrap();

        let wide = HeadsConfig {
            head_hidden: 4_000_000_000,
            ..HeadsConfig::tiny(Variant::Multitask, Embedding::None, 0)
        };
        let err = check_model_size(&model("tiny", wide), 32, 1, gpu, Pass::Infer).unwrap_err();
        let text = err.to_string();
        assert!(text.contains("parameters") && text.contains("1.00e9"), "{text}");

        let tiny = HeadsConfig::tiny(Variant::Multitask, Embedding::None, 0);
        let err = check_model_size(&model("tiny", tiny), 4096, 65_536, gpu, train).unwrap_err();
        let text = err.to_string();
        assert!(text.contains("batches of 65536") && text.contains("192.0 GiB"), "{text}");
    }
}
