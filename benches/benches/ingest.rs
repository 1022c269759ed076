//! Ingest throughput: metadata files per second into a fresh SQLite index.
//!
//! Dataset: 20 000 synthetic records (`synth`, 16 px images, since only the metadata is read).
//! `ANIMESCORE_BENCH_RECORDS` overrides the count.

use std::time::Duration;

use animescore_dataset::{IngestOptions, NoProgress, SynthOptions, ingest, synthesize};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};

fn bench(c: &mut Criterion) {
    let count: usize = std::env::var("ANIMESCORE_BENCH_RECORDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20_000);
    let dir = tempfile::tempdir().expect("temp dir");
    synthesize(dir.path(), &SynthOptions { count, seed: 1, size: 16 }).expect("synth");
    let db_dir = tempfile::tempdir().expect("temp dir");

    let mut group = c.benchmark_group("ingest");
    group.sample_size(10).measurement_time(Duration::from_secs(40));
    group.throughput(Throughput::Elements(count as u64));
    group.bench_function(format!("fresh_index_{count}_records"), |b| {
        b.iter(|| {
            let db = db_dir.path().join("metadata.sqlite3");
            for suffix in ["", "-wal", "-shm"] {
                let _ = std::fs::remove_file(format!("{}{suffix}", db.display()));
            }
            let mut opts = IngestOptions::new(dir.path());
            opts.db_path = Some(db);
            let report = ingest(&opts, &NoProgress).expect("ingest");
            assert_eq!(report.added, count);
        })
    });
    group.bench_function(format!("rerun_unchanged_{count}_records"), |b| {
        let mut opts = IngestOptions::new(dir.path());
        opts.db_path = Some(db_dir.path().join("rerun.sqlite3"));
        ingest(&opts, &NoProgress).expect("ingest");
        b.iter(|| {
            let report = ingest(&opts, &NoProgress).expect("ingest");
            assert_eq!(report.unchanged, count);
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
