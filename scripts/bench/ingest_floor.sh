#!/usr/bin/env bash
# `animescore ingest` against the I/O floor on the same files, in one run
# (benches/src/bin/ingest_floor.rs): walk, stat floor, read floor (every JSON file read with
# the same threads), insert floor (the same rows into a fresh SQLite file from memory), our
# fresh ingest and our unchanged re-run; prints each, the medians, and the ratios
# fresh / (read + insert) (goal <= 1.5) and re-run / stat (goal <= 2).
#
#   bash scripts/bench/ingest_floor.sh [RECORDS]        (default 20000)
#
# Environment: THREADS (2), RUNS (3), ANIMESCORE (the binary under test; default
# release/animescore under $CARGO_TARGET_DIR or ./target, built with
# `cargo build --release --workspace --bins` if missing), WORK_DIR (keep the dataset there and
# reuse it; default a temporary folder, removed).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
records="${1:-20000}"
target="${CARGO_TARGET_DIR:-$root/target}"
bin="${ANIMESCORE:-$target/release/animescore}"
floor="$target/release/ingest_floor"
if [[ ! -x "$bin" || ! -x "$floor" ]]; then
  (cd "$root" && cargo build --release -q --workspace --bins)
fi
args=(--bin "$bin" --records "$records" --threads "${THREADS:-2}" --runs "${RUNS:-3}")
[[ -n "${WORK_DIR:-}" ]] && args+=(--work "$WORK_DIR")
"$floor" "${args[@]}"
