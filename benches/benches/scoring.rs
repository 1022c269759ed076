//! Scoring throughput on one million rows: fitting and applying each score method.

use animescore_scoring::{Counts, ScoreMethod, Scorer};
use chrono::{Duration, NaiveDate};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

const ROWS: usize = 1_000_000;

fn rows() -> Vec<Counts> {
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    let reference = NaiveDate::from_ymd_opt(2024, 6, 1).and_then(|d| d.and_hms_opt(0, 0, 0));
    let reference = reference.expect("valid date");
    (0..ROWS)
        .map(|_| {
            let views = (rng.random_range(2.0..14.0f64)).exp().floor();
            let bookmarks = (views * rng.random_range(0.0..0.3)).floor();
            let age = Duration::seconds(rng.random_range(0..80_000_000));
            Counts { bookmarks, views, uploaded: Some(reference - age) }
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    let data = rows();
    let mut group = c.benchmark_group("scoring_1m");
    group.sample_size(10);
    group.throughput(Throughput::Elements(ROWS as u64));
    for name in ["weighted-log", "time-decay", "ctr-quantile", "bookmark-ratio"] {
        let method = ScoreMethod::from_name(name).expect("known method");
        group.bench_function(format!("fit_{name}"), |b| {
            b.iter(|| Scorer::fit(method, &data).expect("fit"))
        });
        let scorer = Scorer::fit(method, &data).expect("fit");
        group.bench_function(format!("score_{name}"), |b| {
            b.iter(|| scorer.score_all(&data).expect("score"))
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
