//! The first training step of a session: on a CubeCL device (CUDA, Vulkan, the CPU JIT) its
//! kernels are compiled and tuned before it can finish, so it can take minutes on a first run
//! and a second on later ones. Its wall time and what the kernel cache gained are measured
//! here.

use std::time::Instant;

use animescore_run::{KernelActivity, kernel_activity};
use burn::tensor::Device;
use serde::{Deserialize, Serialize};

use crate::error::{Result, TrainingError};

/// How the first training step of a session went.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Warmup {
    /// Seconds from the start of the first training step to its end on the device.
    pub seconds: f64,
    /// Kernels compiled and operations tuned during it (`None` on flex, or without a kernel
    /// cache; `compiled` is `None` on backends that keep compiled kernels in memory only).
    pub kernels: Option<KernelActivity>,
}

/// Started before the first step, finished after it.
pub(crate) struct WarmupClock {
    started: Instant,
    before: Option<KernelActivity>,
}

impl WarmupClock {
    pub(crate) fn start() -> Self {
        Self { started: Instant::now(), before: kernel_activity() }
    }

    /// Waits for the device to finish the step, then measures.
    pub(crate) fn finish(self, device: &Device) -> Result<Warmup> {
        device.sync().map_err(|e| TrainingError::Device(format!("{e:?}")))?;
        let seconds = self.started.elapsed().as_secs_f64();
        let kernels = self.before.zip(kernel_activity()).map(|(before, after)| after.since(before));
        Ok(Warmup { seconds, kernels })
    }
}
