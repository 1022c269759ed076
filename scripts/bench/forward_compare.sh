#!/usr/bin/env bash
# Backbone forward (inference) at SIZE px, batch BATCH: ours (burn flex, release build of the
# `forward_timing` example) against PyTorch CPU (scripts/parity/bench_torch.py) on the same
# THREADS threads, REPEAT times, alternating the two sides in each repeat. Prints every run,
# then the median of each side and the ratio ours / PyTorch.
#
#   bash scripts/bench/forward_compare.sh                 # efficientnet-b0, 3 repeats
#   MODELS="efficientnet-b0 resnet50" REPEAT=5 bash scripts/bench/forward_compare.sh
#
# Environment: MODELS (efficientnet-b0), THREADS (2), BATCH (8), SIZE (224), ITERS (5 forwards
# per run, after one warm-up), REPEAT (3), PYTHON (python with torch + torchvision; default
# /tmp/torchvenv/bin/python if present, else python3), FORWARD_TIMING (the example binary;
# default: built with `cargo build --release --workspace --examples`), ALT ("label=path ..."
# more forward_timing binaries, e.g. a build with a change reverted, timed in the same repeats).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
models="${MODELS:-efficientnet-b0}"; threads="${THREADS:-2}"; batch="${BATCH:-8}"
size="${SIZE:-224}"; iters="${ITERS:-5}"; repeat="${REPEAT:-3}"
python="${PYTHON:-}"
if [[ -z "$python" ]]; then
  if [[ -x /tmp/torchvenv/bin/python ]]; then python=/tmp/torchvenv/bin/python; else python=python3; fi
fi
"$python" -c 'import torch, torchvision' || { echo "forward_compare: $python lacks torch/torchvision" >&2; exit 1; }
target="${CARGO_TARGET_DIR:-$root/target}"
timing="${FORWARD_TIMING:-}"
if [[ -z "$timing" ]]; then
  (cd "$root" && cargo build --release -q --workspace --examples)
  timing="$target/release/examples/forward_timing"
fi
sides=("ours=$timing")
for alt in ${ALT:-}; do sides+=("$alt"); done

echo "forward_compare: $models, batch $batch, ${size} px, $threads threads, mean of $iters forwards per run, $repeat repeats; load average $(cut -d' ' -f1-3 /proc/loadavg)"
declare -A ms
for r in $(seq "$repeat"); do
  # shellcheck disable=SC2086
  out="$("$python" "$root/scripts/parity/bench_torch.py" --no-ours --threads "$threads" \
    --batch "$batch" --size "$size" --iters "$iters" --models $models)"
  for m in $models; do
    t="$(awk -v m="$m" '$1 == m {print $2}' <<<"$out")"
    ms["pytorch|$m"]+="$t "
    line="repeat $r $m: pytorch $t ms"
    for side in "${sides[@]}"; do
      label="${side%%=*}"; bin="${side#*=}"
      o="$(RAYON_NUM_THREADS="$threads" "$bin" --batch "$batch" --size "$size" --iters "$iters" "$m" | awk '{print $2}')"
      ms["$label|$m"]+="$o "
      line+=", $label $o ms ($(awk -v a="$o" -v b="$t" 'BEGIN {printf "%.2fx", a / b}'))"
    done
    echo "$line"
  done
done

median() { tr ' ' '\n' <<<"$1" | grep -v '^$' | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
echo
printf '%-18s %-10s %12s %10s\n' model side "median ms" "ratio"
for m in $models; do
  t="$(median "${ms[pytorch|$m]}")"
  printf '%-18s %-10s %12s %10s\n' "$m" pytorch "$t" "1.00x"
  for side in "${sides[@]}"; do
    label="${side%%=*}"; o="$(median "${ms[$label|$m]}")"
    printf '%-18s %-10s %12s %10s\n' "$m" "$label" "$o" "$(awk -v a="$o" -v b="$t" 'BEGIN {printf "%.2fx", a / b}')"
  done
done
