//! Ranges of the command line's numeric size flags, checked when the arguments are parsed, so
//! that no value reaches an allocation, a thread pool or a loop unchecked (`predict
//! --batch-size 18446744073709551615` used to panic with "capacity overflow"). Each flag's
//! help names its range; `docs/reliability.md` lists them all.

use std::ops::RangeInclusive;

use animescore_backbones::INPUT_SIZE_RANGE;
use animescore_dataset::{MAX_JOBS, MAX_SYNTH_COUNT};
use animescore_run::{MAX_BATCH_SIZE, MAX_EPOCHS, MAX_WORKERS};

/// Rows per ingest transaction.
pub const INGEST_BATCH: RangeInclusive<usize> = 1..=1_000_000;
/// Timed or untimed benchmark steps, and loader passes.
pub const BENCH_STEPS: RangeInclusive<usize> = 0..=100_000;

fn within(text: &str, range: RangeInclusive<usize>) -> Result<usize, String> {
    let n: usize = text.trim().parse().map_err(|e| format!("`{text}`: {e}"))?;
    if range.contains(&n) {
        Ok(n)
    } else {
        Err(format!("{n} is outside {}..={}", range.start(), range.end()))
    }
}

/// Images per batch: 1..=[`MAX_BATCH_SIZE`].
pub fn batch_size(text: &str) -> Result<usize, String> {
    within(text, 1..=MAX_BATCH_SIZE)
}

/// Input side in pixels: [`INPUT_SIZE_RANGE`].
pub fn image_size(text: &str) -> Result<usize, String> {
    within(text, INPUT_SIZE_RANGE)
}

/// Epochs (and patience, in epochs): 1..=[`MAX_EPOCHS`].
pub fn epochs(text: &str) -> Result<usize, String> {
    within(text, 1..=MAX_EPOCHS)
}

/// Loading threads: 0..=[`MAX_WORKERS`].
pub fn workers(text: &str) -> Result<usize, String> {
    within(text, 0..=MAX_WORKERS)
}

/// Parser threads: 1..=[`MAX_JOBS`].
pub fn jobs(text: &str) -> Result<usize, String> {
    within(text, 1..=MAX_JOBS)
}

/// Synthetic images: 1..=[`MAX_SYNTH_COUNT`].
pub fn synth_count(text: &str) -> Result<usize, String> {
    within(text, 1..=MAX_SYNTH_COUNT)
}

/// Rows per ingest transaction: [`INGEST_BATCH`].
pub fn ingest_batch(text: &str) -> Result<usize, String> {
    within(text, INGEST_BATCH)
}

/// Benchmark steps and passes: [`BENCH_STEPS`].
pub fn bench_steps(text: &str) -> Result<usize, String> {
    within(text, BENCH_STEPS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_outside_the_range_are_refused_with_the_range() {
        assert_eq!(batch_size("32"), Ok(32));
        let err = batch_size("18446744073709551615").unwrap_err();
        assert!(err.contains("1..=65536"), "{err}");
        assert!(batch_size("0").is_err() && batch_size("-1").is_err());
        assert!(batch_size("99999999999999999999999").is_err());
        assert_eq!(workers("0"), Ok(0));
        assert!(image_size("100000").is_err());
    }
}
