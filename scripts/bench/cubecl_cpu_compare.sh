#!/usr/bin/env bash
# Burn's two CPU paths side by side: flex (the default backend) against cubecl-cpu (the GPU
# backends' CubeCL kernels compiled for the CPU through LLVM), with `animescore benchmark` on
# the same model, shapes and thread count. The two alternate round by round (the 2-core VMs
# are noisy), each round in a new process with a warm kernel cache. Prints every run, then the
# median images/s of each side and the ratio cubecl-cpu / flex for training and inference, and
# the first training step of a cold (empty cache) and a warm cubecl-cpu process.
#
#   bash scripts/bench/cubecl_cpu_compare.sh
#
# Environment: ANIMESCORE (a binary built with `--features cubecl-cpu`; default
# debug/animescore under $CARGO_TARGET_DIR or ./target: dependencies build at opt-level 3 in
# the dev profile), BACKBONE (tiny), SIZE (64), BATCH (16), VARIANT (multitask), STEPS (10),
# REPEAT (3).
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
die() { echo "cubecl_cpu_compare: $*" >&2; exit 1; }

bin="${ANIMESCORE:-${CARGO_TARGET_DIR:-$root/target}/debug/animescore}"
[[ -x "$bin" ]] || die "no binary at $bin (cargo build -p animescore-cli --features cubecl-cpu)"
backbone="${BACKBONE:-tiny}"; size="${SIZE:-64}"; batch="${BATCH:-16}"
variant="${VARIANT:-multitask}"; steps="${STEPS:-10}"; repeat="${REPEAT:-3}"
work="$(mktemp -d "${TMPDIR:-/tmp}/cubecl-compare.XXXXXX")"
trap 'rm -rf "$work"' EXIT
export ANIMESCORE_KERNEL_CACHE="$work/kernels"

bench() {  # DEVICE -> one JSON line
  "$bin" benchmark --device "$1" --backbone "$backbone" --image-size "$size" \
    --batch-size "$batch" --variant "$variant" --steps "$steps" --warmup 2 --json 2>/dev/null
}

echo "machine: $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg); $backbone $variant," \
  "$size px, batch $batch, $steps timed steps"
cold=$(bench cubecl-cpu)  # fills the kernel cache
warm=$(bench cubecl-cpu)
for round in $(seq "$repeat"); do
  for device in flex cubecl-cpu; do
    line=$(bench "$device")
    echo "$device $line" >> "$work/runs"
    echo "round $round $device: $line"
  done
done

python3 - "$work/runs" "$cold" "$warm" <<'EOF'
import json, statistics, sys
runs = {}
for line in open(sys.argv[1]):
    device, report = line.split(" ", 1)
    runs.setdefault(device, []).append(json.loads(report))
def median(device, key):
    return statistics.median(r[key] for r in runs[device])
for key, what in [("train_images_per_s", "train"), ("predict_images_per_s", "predict")]:
    flex, cubecl = median("flex", key), median("cubecl-cpu", key)
    print(f"{what}: flex {flex:.1f} img/s, cubecl-cpu {cubecl:.3g} img/s, "
          f"ratio cubecl-cpu / flex {cubecl / flex:.3g}")
cold, warm = json.loads(sys.argv[2]), json.loads(sys.argv[3])
print(f"cubecl-cpu first training step: cold {cold['first_step_seconds']:.2f} s "
      f"({cold['kernels']}), warm {warm['first_step_seconds']:.2f} s ({warm['kernels']})")
EOF
