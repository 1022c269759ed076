#!/usr/bin/env bash
# Decode + letterbox of full-size images: ours (crates/backbones example `decode_timing`, the
# same `Preprocess::load_rgb` that predict, embed and the caches use) against Pillow + numpy
# (scripts/bench/pillow_decode.py), with the same number of threads / processes, on COUNT
# artworks re-rendered at 1200×1700 px (half PNG, half JPEG quality 92; see
# make_fullsize_dataset.py). Prints each run, then min/median images/s per side and the ratio
# ours / Pillow (also against Pillow with its JPEG DCT-domain reduction, `--draft`).
#
#   bash scripts/bench/decode_compare.sh
#
# Environment: THREADS (default 2), SIZE (224), MODE (letterbox), REPEAT (3), COUNT (240),
# WORK_DIR (default: a new temporary folder, removed unless KEEP=1; one holding full/ is reused),
# ANIMESCORE (binary for `synth`; default release/animescore under $CARGO_TARGET_DIR or
# ./target), DECODE_TIMING (the example binary; default: built with cargo --release),
# PYTHON (python3 with Pillow and numpy).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
die() { echo "decode_compare: $*" >&2; exit 1; }

threads="${THREADS:-2}"; size="${SIZE:-224}"; mode="${MODE:-letterbox}"
repeat="${REPEAT:-3}"; count="${COUNT:-240}"
python="${PYTHON:-python3}"
"$python" -c 'import PIL, numpy' 2>/dev/null || die "$python lacks Pillow or numpy"
target="${CARGO_TARGET_DIR:-$root/target}"

if [[ -n "${WORK_DIR:-}" ]]; then
  work="$WORK_DIR"; mkdir -p "$work"
else
  work="$(mktemp -d "${TMPDIR:-/tmp}/decode-compare.XXXXXX")"
  [[ "${KEEP:-0}" == 1 ]] || trap 'rm -rf "$work"' EXIT
fi

if [[ ! -d "$work/full" ]]; then
  bin="${ANIMESCORE:-$target/release/animescore}"
  [[ -x "$bin" ]] || (cd "$root" && cargo build --release -p animescore-cli)
  "$bin" synth "$work/src" --count "$count" --size 256
  "$python" "$here/make_fullsize_dataset.py" "$work/src" --full "$work/full" --small "$work/small"
fi
find "$work/full" -type f \( -name '*.png' -o -name '*.jpg' \) | sort > "$work/files.txt"
n_png=$(grep -c '\.png$' "$work/files.txt" || true); n_jpg=$(grep -c '\.jpg$' "$work/files.txt" || true)

timing="${DECODE_TIMING:-}"
if [[ -z "$timing" ]]; then
  (cd "$root" && cargo build --release -q -p animescore-backbones --example decode_timing)
  timing="$target/release/examples/decode_timing"
fi
echo "decode_compare: $n_png PNG + $n_jpg JPEG in $work/full, ${size} px $mode, $threads threads/processes, $repeat repeats"

declare -A rates
run() { # name command...
  local name="$1"; shift
  local line; line="$("$@")"
  echo "  $name: $line  (images seconds images/s)"
  rates[$name]+="$(awk '{print $3}' <<<"$line") "
}
for r in $(seq "$repeat"); do
  echo "repeat $r"
  run ours "$timing" --size "$size" --mode "$mode" --threads "$threads" --list "$work/files.txt"
  run pillow "$python" "$here/pillow_decode.py" --size "$size" --mode "$mode" --processes "$threads" --list "$work/files.txt"
  run pillow_draft "$python" "$here/pillow_decode.py" --size "$size" --mode "$mode" --processes "$threads" --draft --list "$work/files.txt"
done

stat() { tr ' ' '\n' <<<"$1" | grep -v '^$' | sort -g | awk '{a[NR]=$1} END {printf "%s %s", a[1], a[int((NR+1)/2)]}'; }
read -r ours_min ours_med <<<"$(stat "${rates[ours]}")"
echo
printf '%-14s %10s %10s %16s\n' side "min img/s" "median" "ours/side (med)"
for side in ours pillow pillow_draft; do
  read -r mn md <<<"$(stat "${rates[$side]}")"
  printf '%-14s %10s %10s %16s\n' "$side" "$mn" "$md" "$(awk -v a="$ours_med" -v b="$md" 'BEGIN {printf "%.2fx", a / b}')"
done
