//! SiLU (`x · sigmoid(x)`) with a vectorised exponential for inference on flex.
//!
//! burn-flex 0.22.1 evaluates `sigmoid` one element at a time with libm's `expf` and a branch;
//! in EfficientNet that was 37 % of the forward (docs/efficientnet-cpu.md). Here, when the
//! tensor is on flex, f32 and outside autodiff (inference, a frozen backbone), the values
//! are taken out of the tensor (no copy for a tensor nothing else holds), computed as
//! `x / (1 + e^-x)` with a branch-free `exp` the compiler vectorises, and put back. Anything
//! else (training, GPUs, other dtypes) uses Burn's own `silu`.

use burn::prelude::*;
use burn::tensor::{DType, activation};
use rayon::prelude::*;

/// Values per parallel task: large enough that scheduling is noise.
const CHUNK: usize = 1 << 15;

/// `x · sigmoid(x)`, element-wise.
pub fn silu<const D: usize>(x: Tensor<D>) -> Tensor<D> {
    let device = x.device();
    if x.is_autodiff() || x.dtype() != DType::F32 || device != Device::flex() {
        return activation::silu(x);
    }
    let mut data = x.into_data();
    match data.as_mut_slice::<f32>() {
        Ok(values) => values.par_chunks_mut(CHUNK).for_each(silu_in_place),
        // The dtype was checked above; should the layout still surprise us, Burn's op is exact.
        Err(_) => return activation::silu(Tensor::from_data(data, &device)),
    }
    Tensor::from_data(data, &device)
}

/// `v ← v / (1 + e^-v)` for every value.
fn silu_in_place(values: &mut [f32]) {
    for v in values {
        *v /= 1.0 + exp(-*v);
    }
}

/// `e^x` to about 1 ulp (Cephes' `expf`): `x = n·ln 2 + r` with `|r| ≤ ln 2 / 2`, a degree-6
/// polynomial for `e^r`, `2^n` built in the exponent bits. No branch and no libm call, so a
/// loop over it compiles to SIMD. Inputs are clamped to where `e^x` is a normal f32
/// (`e^-87.3 ≈ 1.2e-38`, `e^88.3 ≈ 2.2e38`), which for SiLU gives the right limits.
#[inline(always)]
fn exp(x: f32) -> f32 {
    const LOG2E: f32 = std::f32::consts::LOG2_E;
    const LN2_HI: f32 = 0.693_359_4;
    const LN2_LO: f32 = -2.121_944_4e-4;
    // Adding and subtracting 1.5 · 2^23 rounds to the nearest integer without a libm call.
    const ROUND: f32 = 12_582_912.0;
    let x = x.clamp(-87.3, 88.3);
    let n = (x * LOG2E + ROUND) - ROUND;
    let r = x - n * LN2_HI - n * LN2_LO;
    let p = ((((1.987_569_1e-4 * r + 1.398_199_9e-3) * r + 8.333_452e-3) * r + 4.166_579_6e-2) * r
        + 1.666_666_5e-1)
        * r
        + 0.5;
    let e_r = p * r * r + r + 1.0;
    let two_n = f32::from_bits(((n as i32 + 127) as u32) << 23);
    e_r * two_n
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exp_matches_std_to_a_few_ulp() {
        let mut x = -87.0f32;
        while x < 88.0 {
            let (ours, std) = (exp(x), x.exp());
            assert!(((ours - std) / std).abs() < 4e-7, "{x}: {ours} vs {std}");
            x += 0.01;
        }
    }

    #[test]
    fn silu_matches_burn_on_flex() {
        let device = Device::flex();
        let mut values: Vec<f32> = (-2000..2000).map(|i| i as f32 * 0.05).collect();
        values.extend([-1e4, -100.0, -88.5, 88.5, 100.0, 1e4, 0.0, -0.0]);
        let x = Tensor::<1>::from_floats(values.as_slice(), &device);
        let ours = silu(x.clone()).into_data().try_to_vec::<f32>().unwrap_or_default();
        let burn = activation::silu(x).into_data().try_to_vec::<f32>().unwrap_or_default();
        assert_eq!(ours.len(), values.len());
        for ((o, b), v) in ours.iter().zip(&burn).zip(&values) {
            assert!((o - b).abs() <= 1e-6 * b.abs().max(1.0), "{v}: {o} vs {b}");
        }
    }
}
