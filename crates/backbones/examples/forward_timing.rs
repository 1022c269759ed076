//! Times the inference forward of backbones on flex, for the side-by-side with PyTorch
//! (`scripts/parity/bench_torch.py` runs this and prints the ratio).
//!
//! `cargo run --release -p animescore-backbones --example forward_timing -- [--batch 8]
//!  [--size 224] [--iters 5] resnet50 efficientnet-b0`
//!
//! Prints one line per model: `name ms_per_forward`.

use std::time::Instant;

use animescore_backbones::{Backbone, BackboneConfig};
use burn::prelude::*;
use burn::tensor::Distribution;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let (mut batch, mut size, mut iters, mut names) = (8usize, 224usize, 5usize, Vec::new());
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--batch" => batch = args.next().ok_or("--batch N")?.parse()?,
            "--size" => size = args.next().ok_or("--size N")?.parse()?,
            "--iters" => iters = args.next().ok_or("--iters N")?.parse()?,
            name => names.push(name.to_string()),
        }
    }
    let device = Device::flex();
    for name in names {
        let model = BackboneConfig::from_name(&name)?.init(&device).valid();
        let x =
            Tensor::<4>::random([batch, 3, size, size], Distribution::Normal(0.0, 1.0), &device);
        model.pooled(x.clone()).into_data(); // warm-up (also materialises lazy weights)
        let start = Instant::now();
        for _ in 0..iters {
            model.pooled(x.clone()).into_data();
        }
        let ms = start.elapsed().as_secs_f64() * 1000.0 / iters as f64;
        println!("{name} {ms:.1}");
    }
    Ok(())
}
