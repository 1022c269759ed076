//! Minimal, Burn-only reproduction for Burn's maintainers: burn-flex's depthwise `conv2d`
//! (groups = channels) on EfficientNet-B0's depthwise shapes, against equivalent
//! formulations written with other Burn ops, and SiLU against ReLU. Uses nothing from
//! animescore: copy it into any crate with
//! `burn = { version = "0.22.1", features = ["flex", "simd", "rayon"] }`.
//!
//! `RAYON_NUM_THREADS=2 cargo run --release --example depthwise_repro [-- --iters 10]`
//!
//! For each shape (batch 8, EfficientNet-B0 at 224 px: channels, side, kernel, stride), prints
//! ms per call of
//! - `conv2d`: `burn::tensor::module::conv2d` with `groups = C` (burn-flex's depthwise path);
//! - `shift-add`: pad once, then `Σ_{kh,kw} slice(x_pad, kh, kw, stride) · w[:, kh, kw]`;
//! - `unfold` (with `--unfold`; seconds per call, so timed once): `unfold4d` to
//!   `[B, C·k², L]`, multiply by the weights, sum over `k²`;
//!
//! and the largest absolute difference of each formulation from `conv2d`.
//! `scripts/bench/depthwise_torch.py` times PyTorch on the same shapes.

use std::time::Instant;

use burn::prelude::*;
use burn::tensor::module::{conv2d, unfold4d};
use burn::tensor::ops::{ConvOptions, PadMode, UnfoldOptions};
use burn::tensor::{Distribution, Slice, activation};

/// EfficientNet-B0's depthwise convolutions at 224 px: (channels, input side, kernel, stride,
/// how many blocks have this shape).
const SHAPES: [(usize, usize, usize, usize, usize); 12] = [
    (32, 112, 3, 1, 1),
    (96, 112, 3, 2, 1),
    (144, 56, 3, 1, 1),
    (144, 56, 5, 2, 1),
    (240, 28, 5, 1, 1),
    (240, 28, 3, 2, 1),
    (480, 14, 3, 1, 2),
    (480, 14, 5, 1, 1),
    (672, 14, 5, 1, 2),
    (672, 14, 5, 2, 1),
    (1152, 7, 5, 1, 3),
    (1152, 7, 3, 1, 1),
];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let (mut iters, mut with_unfold) = (10usize, false);
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--iters" => iters = args.next().ok_or("--iters N")?.parse()?,
            // Seconds per call on the larger shapes: off unless asked for.
            "--unfold" => with_unfold = true,
            other => return Err(format!("unknown argument {other}").into()),
        }
    }
    let device = Device::flex();
    let batch = 8;
    println!("batch {batch}, ms per call (mean of {iters}); max |diff| vs conv2d");
    println!(
        "{:>5} {:>4} {:>2} {:>2} {:>10} {:>10} {:>10} {:>10} {:>10}",
        "C", "HW", "k", "s", "conv2d", "shift-add", "unfold", "diff s-a", "diff unf"
    );
    let mut totals = [0.0f64; 3];
    for (c, hw, k, s, count) in SHAPES {
        let x = Tensor::<4>::random([batch, c, hw, hw], Distribution::Normal(0.0, 1.0), &device);
        let w = Tensor::<4>::random([c, 1, k, k], Distribution::Normal(0.0, 0.3), &device);
        let p = (k - 1) / 2;
        let options = ConvOptions::new([s, s], [p, p], [1, 1], c);
        let reference = conv2d(x.clone(), w.clone(), None, options.clone());
        let a = shift_add(x.clone(), w.clone(), k, s);
        let diff =
            |t: Tensor<4>| -> f32 { (t - reference.clone()).abs().max().into_scalar::<f32>() };
        let da = diff(a);
        let t0 = time(iters, || conv2d(x.clone(), w.clone(), None, options.clone()));
        let t1 = time(iters, || shift_add(x.clone(), w.clone(), k, s));
        let (t2, db) = if with_unfold {
            let t = time(1, || unfold(x.clone(), w.clone(), k, s));
            (t, diff(unfold(x.clone(), w.clone(), k, s)))
        } else {
            (f64::NAN, f32::NAN)
        };
        for (total, t) in totals.iter_mut().zip([t0, t1, t2]) {
            *total += t * count as f64;
        }
        println!(
            "{c:>5} {hw:>4} {k:>2} {s:>2} {t0:>10.2} {t1:>10.2} {t2:>10.2} {da:>10.1e} {db:>10.1e}"
        );
    }
    println!(
        "all depthwise convs of one forward: conv2d {:.1} ms, shift-add {:.1} ms, unfold {:.1} ms",
        totals[0], totals[1], totals[2]
    );

    // SiLU against ReLU and a two-op affine on the largest activation of EfficientNet-B0.
    let x = Tensor::<4>::random([batch, 96, 112, 112], Distribution::Normal(0.0, 1.0), &device);
    let silu = time(iters, || activation::silu(x.clone()));
    let relu = time(iters, || activation::relu(x.clone()));
    let affine = time(iters, || x.clone() * 2.0 + 1.0);
    println!("[8, 96, 112, 112]: silu {silu:.2} ms, relu {relu:.2} ms, x*2+1 {affine:.2} ms");
    Ok(())
}

/// Mean ms per call of `f` (the result read back), after one warm-up call.
fn time<const D: usize>(iters: usize, f: impl Fn() -> Tensor<D>) -> f64 {
    f().into_data();
    let start = Instant::now();
    for _ in 0..iters {
        f().into_data();
    }
    start.elapsed().as_secs_f64() * 1000.0 / iters as f64
}

/// Depthwise conv as a sum of `k²` strided slices of the padded input, each scaled by its
/// per-channel weight.
fn shift_add(x: Tensor<4>, w: Tensor<4>, k: usize, s: usize) -> Tensor<4> {
    let [_, c, h, wd] = x.dims();
    let p = (k - 1) / 2;
    let (oh, ow) = ((h + 2 * p - k) / s + 1, (wd + 2 * p - k) / s + 1);
    let xp = x.pad((p, p, p, p), PadMode::Constant(0.0));
    let term = |kh: usize, kw: usize| {
        let window = xp.clone().slice([
            Slice::full(),
            Slice::full(),
            Slice::new(kh as isize, Some((kh + s * (oh - 1) + 1) as isize), s as isize),
            Slice::new(kw as isize, Some((kw + s * (ow - 1) + 1) as isize), s as isize),
        ]);
        let weight = w
            .clone()
            .slice([
                Slice::full(),
                Slice::full(),
                Slice::index(kh as isize),
                Slice::index(kw as isize),
            ])
            .reshape([1, c, 1, 1]);
        window * weight
    };
    let mut out = term(0, 0);
    for i in 1..k * k {
        out = out + term(i / k, i % k);
    }
    out
}

/// Depthwise conv as `unfold4d` → multiply by the weights → sum over the kernel positions.
fn unfold(x: Tensor<4>, w: Tensor<4>, k: usize, s: usize) -> Tensor<4> {
    let [b, c, h, wd] = x.dims();
    let p = (k - 1) / 2;
    let (oh, ow) = ((h + 2 * p - k) / s + 1, (wd + 2 * p - k) / s + 1);
    let cols = unfold4d(x, [k, k], UnfoldOptions::new([s, s], [p, p], [1, 1])); // [B, C·k², L]
    let cols = cols.reshape([b, c, k * k, oh * ow]);
    let w = w.reshape([1, c, k * k, 1]);
    (cols * w).sum_dim(2).reshape([b, c, oh, ow])
}
