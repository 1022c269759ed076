//! `--device` strings → burn [`Device`]s.

use std::fmt;
use std::str::FromStr;

use burn::tensor::Device;

use crate::error::RunError;

/// A parsed device choice.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DeviceSpec {
    /// burn-flex, the CPU backend.
    #[default]
    Flex,
    /// The GPU backends' CubeCL kernels compiled for the CPU through LLVM (Burn's `cpu`
    /// backend): the GPU code path (kernels, fusion, autotune, caches) on a machine without a
    /// GPU; needs the `cubecl-cpu` feature.
    CubeclCpu,
    /// The N-th discrete GPU through Vulkan (wgpu); needs the `vulkan` feature.
    Vulkan(usize),
    /// CUDA device N; needs the `cuda` feature.
    Cuda(usize),
}

impl FromStr for DeviceSpec {
    type Err = RunError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = |reason: &str| RunError::Device { spec: s.into(), reason: reason.into() };
        let (name, index) = match s.split_once(':') {
            Some((n, i)) => (n, Some(i.parse::<usize>().map_err(|_| err("bad device index"))?)),
            None => (s, None),
        };
        match (name, index) {
            ("flex" | "cpu", None) => Ok(Self::Flex),
            ("cubecl-cpu", None) => Ok(Self::CubeclCpu),
            ("vulkan", i) => Ok(Self::Vulkan(i.unwrap_or(0))),
            ("cuda", i) => Ok(Self::Cuda(i.unwrap_or(0))),
            _ => Err(err("expected flex, cubecl-cpu, vulkan[:N] or cuda[:N]")),
        }
    }
}

impl fmt::Display for DeviceSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Flex => f.write_str("flex"),
            Self::CubeclCpu => f.write_str("cubecl-cpu"),
            Self::Vulkan(i) => write!(f, "vulkan:{i}"),
            Self::Cuda(i) => write!(f, "cuda:{i}"),
        }
    }
}

impl DeviceSpec {
    #[cfg_attr(all(feature = "vulkan", feature = "cuda", feature = "cubecl-cpu"), allow(dead_code))]
    fn missing(self, feature: &str) -> RunError {
        RunError::Device {
            spec: self.to_string(),
            reason: format!(
                "this build has no `{feature}` support (rebuild with --features {feature})"
            ),
        }
    }

    /// The burn device (without autodiff). Errors when this build lacks the backend, or when
    /// the GPU cannot be started (no driver, no adapter) — the backends panic in their device
    /// threads then; the first message is passed on in the error. Before the first CubeCL
    /// device of the process, the kernel cache is configured (see [`set_kernel_cache`]).
    ///
    /// [`set_kernel_cache`]: crate::set_kernel_cache
    pub fn device(self) -> Result<Device, RunError> {
        if self == Self::Flex {
            return Ok(Device::flex());
        }
        let stores_kernels = matches!(self, Self::Cuda(_) | Self::Vulkan(_));
        if self.available() {
            crate::kernel_cache::install(stores_kernels);
        }
        let device = self.unchecked_device()?;
        probe(&device).map_err(|reason| RunError::Device {
            spec: self.to_string(),
            reason: format!("cannot start the device: {reason}"),
        })?;
        Ok(device)
    }

    /// Whether this build has the backend.
    pub fn available(self) -> bool {
        match self {
            Self::Flex => true,
            Self::CubeclCpu => cfg!(feature = "cubecl-cpu"),
            Self::Vulkan(_) => cfg!(feature = "vulkan"),
            Self::Cuda(_) => cfg!(feature = "cuda"),
        }
    }

    /// Whether this is a CubeCL device (kernels compiled and tuned at first use).
    pub fn is_cubecl(self) -> bool {
        self != Self::Flex
    }

    fn unchecked_device(self) -> Result<Device, RunError> {
        match self {
            Self::Flex => Ok(Device::flex()),
            #[cfg(feature = "cubecl-cpu")]
            Self::CubeclCpu => Ok(Device::cpu()),
            #[cfg(not(feature = "cubecl-cpu"))]
            Self::CubeclCpu => Err(self.missing("cubecl-cpu")),
            #[cfg(feature = "vulkan")]
            Self::Vulkan(i) => Ok(Device::vulkan(burn::tensor::DeviceKind::DiscreteGpu(i))),
            #[cfg(not(feature = "vulkan"))]
            Self::Vulkan(_) => Err(self.missing("vulkan")),
            #[cfg(feature = "cuda")]
            Self::Cuda(i) => Ok(Device::cuda(i)),
            #[cfg(not(feature = "cuda"))]
            Self::Cuda(_) => Err(self.missing("cuda")),
        }
    }
}

/// Runs one tiny operation on `device`, turning a panic (in any thread) into its message.
fn probe(device: &Device) -> Result<(), String> {
    use std::sync::{Arc, Mutex};
    let messages = Arc::new(Mutex::new(Vec::<String>::new()));
    let seen = messages.clone();
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let text = info
            .payload()
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| info.payload().downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_else(|| "unknown panic".into());
        if let Ok(mut m) = seen.lock() {
            m.push(text);
        }
    }));
    let d = device.clone();
    let outcome = std::panic::catch_unwind(move || {
        burn::tensor::Tensor::<1>::zeros([1], &d).into_data();
    });
    std::panic::set_hook(previous);
    match outcome {
        Ok(()) => Ok(()),
        Err(_) => {
            let m = messages.lock().map(|m| m.clone()).unwrap_or_default();
            Err(m.into_iter().next().unwrap_or_else(|| "the backend panicked".into()))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_device_strings() {
        assert_eq!("flex".parse::<DeviceSpec>().unwrap(), DeviceSpec::Flex);
        assert_eq!("cubecl-cpu".parse::<DeviceSpec>().unwrap(), DeviceSpec::CubeclCpu);
        assert_eq!(DeviceSpec::CubeclCpu.to_string(), "cubecl-cpu");
        assert_eq!("vulkan".parse::<DeviceSpec>().unwrap(), DeviceSpec::Vulkan(0));
        assert_eq!("vulkan:1".parse::<DeviceSpec>().unwrap(), DeviceSpec::Vulkan(1));
        assert_eq!("cuda:2".parse::<DeviceSpec>().unwrap(), DeviceSpec::Cuda(2));
        assert!("tpu".parse::<DeviceSpec>().is_err());
        assert!("cuda:x".parse::<DeviceSpec>().is_err());
        assert!(DeviceSpec::Flex.device().is_ok());
    }
}
