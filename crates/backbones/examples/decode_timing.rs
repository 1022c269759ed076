//! Times the decode + letterbox (or stretch) of image files with the project's decode path
//! (`Preprocess::load_rgb`), on N threads, for the side-by-side with Pillow + numpy
//! (`scripts/bench/decode_compare.sh` runs both and prints the ratio).
//!
//! `cargo run --release -p animescore-backbones --example decode_timing -- [--size 224]
//!  [--mode letterbox|stretch] [--threads 2] [--list FILE] [FILES…]`
//!
//! `--list FILE` reads one path per line. Prints `images seconds images_per_second` on one
//! line (the time of the decoding alone, after the threads started) and the first error, if
//! any, on stderr.

use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use animescore_backbones::{Preprocess, ResizeMode};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let (mut size, mut mode, mut threads) = (224usize, ResizeMode::Letterbox, 2usize);
    let mut files: Vec<PathBuf> = Vec::new();
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--size" => size = args.next().ok_or("--size N")?.parse()?,
            "--threads" => threads = args.next().ok_or("--threads N")?.parse()?,
            "--mode" => {
                mode = match args.next().as_deref() {
                    Some("letterbox") => ResizeMode::Letterbox,
                    Some("stretch") => ResizeMode::Stretch,
                    other => return Err(format!("--mode letterbox|stretch, not {other:?}").into()),
                }
            }
            "--list" => {
                let list = std::fs::read_to_string(args.next().ok_or("--list FILE")?)?;
                files.extend(list.lines().filter(|l| !l.is_empty()).map(PathBuf::from));
            }
            file => files.push(file.into()),
        }
    }
    let preprocess = Preprocess::imagenet(size).with_mode(mode);
    let next = AtomicUsize::new(0);
    let start = Instant::now();
    let (done, failed) = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads.max(1))
            .map(|_| {
                scope.spawn(|| {
                    let (mut done, mut failed) = (0usize, Vec::new());
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        let Some(path) = files.get(i) else { break };
                        match preprocess.load_rgb(path) {
                            // Normalising is part of what a caller pays for.
                            Ok(rgb) => done += usize::from(!preprocess.normalize(&rgb).is_empty()),
                            Err(e) => failed.push(e.to_string()),
                        }
                    }
                    (done, failed)
                })
            })
            .collect();
        workers.into_iter().filter_map(|w| w.join().ok()).fold(
            (0usize, Vec::new()),
            |(d, mut f), (wd, wf)| {
                f.extend(wf);
                (d + wd, f)
            },
        )
    });
    let seconds = start.elapsed().as_secs_f64();
    if let Some(first) = failed.first() {
        eprintln!("{} images failed; first: {first}", failed.len());
    }
    println!("{done} {seconds:.3} {:.1}", done as f64 / seconds);
    Ok(())
}
