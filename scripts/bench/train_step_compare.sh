#!/usr/bin/env bash
# One CPU training step (forward + loss + backward + AdamW) at SIZE px, batch BATCH: ours
# through the project's training path (`animescore benchmark --mode train`: the `multitask`
# model, synthetic batch uploaded every step, AdamW — crates/training/src/bench.rs) against
# PyTorch CPU (scripts/bench/train_step_torch.py: the same heads and loss on torchvision's
# backbone) on the same THREADS threads, REPEAT times, alternating the two sides in each
# repeat. Prints every run, then the median ms per step of each side and the ratio.
#
#   bash scripts/bench/train_step_compare.sh                  # resnet18, batch 8, 224 px, 3 repeats
#
# Environment: MODEL (resnet18), THREADS (2), BATCH (8), SIZE (224), STEPS (5 timed steps per
# run, after WARMUP=1), REPEAT (3), PYTHON (default /tmp/torchvenv/bin/python if present),
# ANIMESCORE (the binary; default release/animescore under $CARGO_TARGET_DIR or ./target).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
model="${MODEL:-resnet18}"; threads="${THREADS:-2}"; batch="${BATCH:-8}"; size="${SIZE:-224}"
steps="${STEPS:-5}"; warmup="${WARMUP:-1}"; repeat="${REPEAT:-3}"
python="${PYTHON:-}"
if [[ -z "$python" ]]; then
  if [[ -x /tmp/torchvenv/bin/python ]]; then python=/tmp/torchvenv/bin/python; else python=python3; fi
fi
target="${CARGO_TARGET_DIR:-$root/target}"
bin="${ANIMESCORE:-$target/release/animescore}"
[[ -x "$bin" ]] || { echo "train_step_compare: no binary at $bin (cargo build --release --workspace --bins)" >&2; exit 1; }

echo "train_step_compare: $model multitask, batch $batch, ${size} px, $threads threads, $warmup warm-up + $steps timed steps per run, $repeat repeats; load average $(cut -d' ' -f1-3 /proc/loadavg)"
torch_ms=""; ours_ms=""
for r in $(seq "$repeat"); do
  t="$("$python" "$here/train_step_torch.py" --threads "$threads" --model "$model" --batch "$batch" \
    --size "$size" --steps "$steps" --warmup "$warmup" 2>/dev/null | awk '{print $1}')"
  rate="$(RAYON_NUM_THREADS="$threads" "$bin" benchmark --backbone "$model" --variant multitask \
    --embedding none --mode train --batch-size "$batch" --image-size "$size" --steps "$steps" \
    --warmup "$warmup" --json | sed -n 's/.*"train_images_per_s":\([0-9.e+-]*\).*/\1/p')"
  o="$(awk -v r="$rate" -v b="$batch" 'BEGIN {printf "%.1f", 1000 * b / r}')"
  torch_ms+="$t "; ours_ms+="$o "
  echo "repeat $r: pytorch $t ms/step, ours $o ms/step ($(awk -v a="$o" -v b="$t" 'BEGIN {printf "%.2fx", a / b}'))"
done
median() { tr ' ' '\n' <<<"$1" | grep -v '^$' | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
t="$(median "$torch_ms")"; o="$(median "$ours_ms")"
echo
echo "median: pytorch $t ms/step, ours $o ms/step, ours / pytorch $(awk -v a="$o" -v b="$t" 'BEGIN {printf "%.2fx", a / b}')"
