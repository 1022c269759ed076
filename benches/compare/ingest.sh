#!/usr/bin/env bash
# Times our `animescore ingest` against a faithful Python re-implementation of the original
# tool (ingest_original.py) on the same synthetic files, and prints the ratio.
#
#   benches/compare/ingest.sh [RECORDS]      (default 20000; needs python3)
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
n="${1:-20000}"
cargo build --release -q -p animescore-cli --manifest-path "$root/Cargo.toml"
bin="${CARGO_TARGET_DIR:-$root/target}/release/animescore"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
"$bin" synth "$work/data" --count "$n" --size 16 >/dev/null

now() { date +%s.%N; }
t0=$(now); python3 "$here/ingest_original.py" "$work/data" "$work/python.sqlite3" >/dev/null; t1=$(now)
"$bin" ingest "$work/data" --db "$work/ours.sqlite3" >/dev/null; t2=$(now)
"$bin" ingest "$work/data" --db "$work/ours.sqlite3" >/dev/null; t3=$(now)
py=$(echo "$t1 - $t0" | bc -l); ours=$(echo "$t2 - $t1" | bc -l); rerun=$(echo "$t3 - $t2" | bc -l)
printf 'records: %d   cores: %d\n' "$n" "$(nproc)"
printf 'python original (json+sqlite3+multiprocessing): %.2f s\n' "$py"
printf 'animescore ingest (fresh index):                 %.2f s  (%.1fx faster)\n' "$ours" "$(echo "$py / $ours" | bc -l)"
printf 'animescore ingest (re-run, nothing changed):     %.2f s  (%.1fx faster)\n' "$rerun" "$(echo "$py / $rerun" | bc -l)"
