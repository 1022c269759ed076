#!/usr/bin/env bash
# GPU check, run ON the device machine from the repository root, as one call of at most
# 9 minutes:
#
#   device run, carry [".gpu"], timeout_s 560, command:  bash scripts/gpu-check.sh
#
# (prepare .gpu here first with scripts/prepare-gpu-carry.sh). What it does, each step in its
# own time box inside GPU_CHECK_BUDGET_S:
#
#   0. prints the driver, nvcc and the GPU; unpacks the binary and, when .gpu/kernels.tar.xz
#      was carried, the kernel cache of an earlier run (compiled kernels only serve the same
#      binary: they are keyed by its build-id; autotune results serve any build)
#   A. cold: `animescore benchmark` ResNet-50 multitask, batch 64, bf16 (training and
#      inference); if A cannot finish its warm-up, batch 32 f32 with the time left
#   B. warm: the same command in a new process, with the kernel cache A left
#   C. B with fusion off (BURN_FUSION_MAX_EXPLORATIONS=0), if time remains
#   D. PyTorch on the same card (scripts/bench/torch_gpu.py, resnet50 b64 bf16), if time remains
#
# After every step, and when the time box kills the script (TERM), the kernel cache is packed
# into $OUT/kernels.tar.xz (at most KERNELS_MAX_MIB) with the binary's SHA-256, and a summary
# of CubeCL's records (kernels compiled, seconds per compile, operations tuned) goes to
# $OUT/kernel-records.txt: copy kernels.tar.xz into .gpu/ and keep .gpu/animescore.xz
# (SKIP_BUILD=1 for prepare-gpu-carry.sh) so that the next GPU session starts warm.
#
# Writes $OUT/gpu-check.md (the table), $OUT/gpu-check.log (every command's output),
# $OUT/results.jsonl (every JSON line); without $OUT, under /tmp/gpu-check.
#
# Environment: GPU_CHECK_BUDGET_S (default 500), STEPS (20 timed steps), WARMUP (2),
# ANIMESCORE_BIN (use this binary instead of unpacking .gpu/), KERNELS_MAX_MIB (40),
# CUBECL_AUTOTUNE_LEVEL (minimal|balanced|extensive|full) passes through.
set -u
cd "$(dirname "$0")/.." || exit 1

OUTDIR="${OUT:-/tmp/gpu-check}"
mkdir -p "$OUTDIR"
LOG="$OUTDIR/gpu-check.log"
JSONL="$OUTDIR/results.jsonl"
MD="$OUTDIR/gpu-check.md"
: >"$LOG"
: >"$JSONL"
WORK="$(mktemp -d /tmp/gpu-check-work.XXXXXX)"
ROWS="$WORK/rows.md"
: >"$ROWS"

STEPS="${STEPS:-20}"
WARMUP="${WARMUP:-2}"
BUDGET="${GPU_CHECK_BUDGET_S:-500}"
KERNELS_MAX_MIB="${KERNELS_MAX_MIB:-40}"
MIN_STEP_S=20
T0=$(date +%s)
DEADLINE=$((T0 + BUDGET))
BIN="${ANIMESCORE_BIN:-/tmp/animescore}"
export ANIMESCORE_KERNEL_CACHE=/tmp/animescore-kernels
mkdir -p "$ANIMESCORE_KERNEL_CACHE"

elapsed() { echo $(($(date +%s) - T0)); }
say() { printf '[%4ss] %s\n' "$(elapsed)" "$*" | tee -a "$LOG"; }
clean() { printf '%s' "$*" | tr '\n|' ' /' | cut -c1-500; }
row() { # what model batch precision first-step train predict peak note
  printf '| %s | %s | %s | %s | %s | %s | %s | %s | %s |\n' \
    "$(clean "$1")" "$(clean "$2")" "$(clean "$3")" "$(clean "$4")" "$(clean "$5")" \
    "$(clean "$6")" "$(clean "$7")" "$(clean "$8")" "$(clean "$9")" >>"$ROWS"
  write_md
}
jget() { # a value of a flat one-line JSON object
  printf '%s' "$1" | sed -n -E 's/.*"'"$2"'"[[:space:]]*:[[:space:]]*("([^"]*)"|([^,}[:space:]]+)).*/\2\3/p'
}
num() { if [[ "$1" =~ ^[0-9.eE+-]+$ ]]; then awk -v v="$1" 'BEGIN { printf "%.1f", v }'; else echo "-"; fi; }

# --- peak GPU memory while a step runs --------------------------------------------------------
HAVE_SMI=0
command -v nvidia-smi >/dev/null && HAVE_SMI=1
SAMPLER=""
start_sampler() {
  MEMFILE="$WORK/$1.mem"
  : >"$MEMFILE"
  SAMPLER=""
  ((HAVE_SMI)) || return 0
  nvidia-smi -i 0 --query-gpu=memory.used --format=csv,noheader,nounits -lms 100 >"$MEMFILE" 2>/dev/null &
  SAMPLER=$!
}
stop_sampler() {
  if [[ -n "$SAMPLER" ]]; then
    kill "$SAMPLER" 2>/dev/null
    wait "$SAMPLER" 2>/dev/null
    SAMPLER=""
  fi
  PEAK=$(awk '$1 ~ /^[0-9]+$/ && $1 + 0 > m { m = $1 + 0 } END { if (m > 0) print m; else print "-" }' "$MEMFILE")
}

# --- the kernel cache, packed after every step and at exit --------------------------------------
pack_kernels() {
  [[ -x "$BIN" ]] && timeout 30 "$BIN" cache list kernels >"$OUTDIR/kernel-records.txt" 2>&1
  sha256sum "$BIN" 2>/dev/null | cut -d' ' -f1 >"$ANIMESCORE_KERNEL_CACHE/binary.sha256"
  # CubeCL's database keeps recent writes in its -wal file: both travel.
  tar -C "$ANIMESCORE_KERNEL_CACHE" -cJf "$WORK/kernels.tar.xz" . 2>/dev/null || return 0
  local bytes
  bytes=$(stat -c %s "$WORK/kernels.tar.xz")
  if ((bytes <= KERNELS_MAX_MIB * 1024 * 1024)); then
    mv -f "$WORK/kernels.tar.xz" "$OUTDIR/kernels.tar.xz"
  else
    say "kernel cache packs to $((bytes / 1048576)) MiB, over KERNELS_MAX_MIB=$KERNELS_MAX_MIB: not kept"
  fi
}

# --- one time-boxed step ------------------------------------------------------------------------
# run_step ID NOMINAL RESERVE CMD...: stdout/stderr in $WORK/ID.out/err, under min(NOMINAL,
# time left - RESERVE). Sets RC, SECS, PEAK and WHY (empty on success).
CHILD=""
run_step() {
  local id=$1 nominal=$2 reserve=$3
  shift 3
  OUTF="$WORK/$id.out"
  ERRF="$WORK/$id.err"
  : >"$OUTF"
  : >"$ERRF"
  RC="" SECS="" PEAK="-" WHY=""
  local left=$((DEADLINE - $(date +%s) - reserve))
  local t=$((nominal < left ? nominal : left))
  if ((t < MIN_STEP_S)); then
    RC=skip
    WHY="skipped: time budget spent"
    say "$id: $WHY"
    return 1
  fi
  say "$id: running (timeout $t s): $*"
  start_sampler "$id"
  local s0 s1
  s0=$(date +%s.%N)
  timeout -k 5 "$t" "$@" >"$OUTF" 2>"$ERRF" &
  CHILD=$!
  wait "$CHILD"
  RC=$?
  CHILD=""
  s1=$(date +%s.%N)
  stop_sampler
  SECS=$(awk -v a="$s0" -v b="$s1" 'BEGIN { printf "%.1f", b - a }')
  { echo "=== $id: $* → exit $RC, $SECS s, peak $PEAK MiB"; echo "--- stdout"; cat "$OUTF"
    echo "--- stderr (last 200 lines)"; tail -n 200 "$ERRF"; } >>"$LOG"
  if ((RC == 124 || RC == 137)); then
    WHY="timed out after $t s"
  elif ((RC != 0)); then
    WHY="exit $RC: $(grep -E -i 'error|panick' "$ERRF" | tail -n 1)"
  fi
  [[ -n "$WHY" ]] && say "$id: $WHY"
  pack_kernels
  [[ -z "$WHY" ]]
}

write_md() {
  {
    echo "# GPU check $(date -u '+%F %T') UTC"
    echo
    echo "$GPU_LINE"
    echo
    echo "binary: $BIN_LINE; kernel cache at start: $CACHE_LINE; $STEPS timed steps after $WARMUP warm-up; 224 px; $(elapsed) s of a ${BUDGET} s budget"
    echo
    echo "| run | model | batch | precision | first step s | train img/s | predict img/s | peak GPU MiB | note |"
    echo "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"
    cat "$ROWS"
    echo
    echo "first step: seconds of the first training step in a new process (kernels compiled and tuned on a cold cache); peak: nvidia-smi memory.used of the whole device, 100 ms samples."
  } >"$MD"
}
finish() {
  [[ -n "$CHILD" ]] && kill "$CHILD" 2>/dev/null
  [[ -n "$SAMPLER" ]] && kill "$SAMPLER" 2>/dev/null
  pack_kernels
  write_md
  cat "$MD"
  rm -rf "$WORK"
}
GPU_LINE="GPU: unknown"
BIN_LINE="none"
CACHE_LINE="empty"
trap finish EXIT
trap 'exit 143' TERM INT

# --- 0. set-up ----------------------------------------------------------------------------------
say "gpu-check: budget ${BUDGET} s, $STEPS steps after $WARMUP warm-up"
if ((HAVE_SMI)); then
  nvidia-smi | tee -a "$LOG" | head -n 12
  GPU_LINE="GPU: $(nvidia-smi -i 0 --query-gpu=name,memory.total,driver_version --format=csv,noheader | sed 's/, / · /g') (name · memory · driver)"
fi
say "$GPU_LINE"
say "nvcc: $(nvcc --version 2>/dev/null | tail -n 1 || echo none)"
if [[ -z "${ANIMESCORE_BIN:-}" ]]; then
  if [[ -f .gpu/animescore.xz ]] && timeout 120 xz -dc .gpu/animescore.xz >"$BIN"; then
    chmod +x "$BIN"
  else
    say "error: could not unpack .gpu/animescore.xz (carry .gpu; run scripts/prepare-gpu-carry.sh first)"
    rm -f "$BIN"
  fi
fi
[[ -x "$BIN" ]] && BIN_LINE="$(timeout 20 "$BIN" --version 2>&1 | head -n 1), $(cat .gpu/build.txt 2>/dev/null | tr -d '\n'), sha256 $(sha256sum "$BIN" | cut -c1-12)"
say "binary: $BIN_LINE"
if [[ -f .gpu/kernels.tar.xz ]] && tar -C "$ANIMESCORE_KERNEL_CACHE" -xJf .gpu/kernels.tar.xz; then
  made_by=$(cat "$ANIMESCORE_KERNEL_CACHE/binary.sha256" 2>/dev/null)
  if [[ "$made_by" == "$(sha256sum "$BIN" | cut -d' ' -f1)" ]]; then
    CACHE_LINE="carried, same binary (compiled kernels and autotune results apply)"
  else
    CACHE_LINE="carried from another binary (autotune results apply; kernels compile again)"
  fi
fi
say "kernel cache: $CACHE_LINE"
[[ -x "$BIN" ]] && timeout 30 "$BIN" cache list kernels | tee -a "$LOG"

# --- the runs -------------------------------------------------------------------------------------
# -v with this filter prints each warm-up step's time (CubeCL's own logs stay quiet).
export RUST_LOG="${RUST_LOG:-warn,animescore_training=info}"
bench() { # id batch precision timeout reserve [env...]
  local id=$1 batch=$2 prec=$3 nominal=$4 reserve=$5
  shift 5
  run_step "$id" "$nominal" "$reserve" env "$@" "$BIN" -v benchmark --backbone resnet50 \
    --variant multitask --image-size 224 --batch-size "$batch" --precision "$prec" \
    --device cuda --steps "$STEPS" --warmup "$WARMUP" --json
  local ok=$?
  local json
  json=$(grep -E '^\{' "$OUTF" | tail -n 1)
  [[ -n "$json" ]] && echo "$json" >>"$JSONL"
  local first tr pr kern note
  first=$(num "$(jget "$json" first_step_seconds)")
  tr=$(num "$(jget "$json" train_images_per_s)")
  pr=$(num "$(jget "$json" predict_images_per_s)")
  kern=$(printf '%s' "$json" | sed -n -E 's/.*"kernels":\{"compiled":([0-9null]+),"tuned":([0-9]+)\}.*/\1 kernels compiled, \2 operations tuned/p')
  note="${kern:-no kernel counts}; warm-up $(num "$(jget "$json" warmup_seconds)") s"
  [[ -n "$WHY" ]] && note="$WHY; last warm-up lines: $(grep -o 'warm-up step [0-9/]* done at [0-9.]* s' "$ERRF" | tail -n 2 | tr '\n' ';'); $note"
  row "$id" "resnet50 multitask" "$batch" "$prec" "$first" "$tr" "$pr" "$PEAK" "$note"
  return $ok
}

A_BATCH=64 A_PREC=bf16
if ! bench A-cold 64 bf16 240 150; then
  say "A did not finish: falling back to batch 32 f32"
  A_BATCH=32 A_PREC=f32
  bench A-cold-fallback 32 f32 180 120
fi
bench B-warm "$A_BATCH" "$A_PREC" 120 60
bench C-warm-unfused "$A_BATCH" "$A_PREC" 100 40 BURN_FUSION_MAX_EXPLORATIONS=0

if timeout 60 python3 -c 'import torch, torchvision' >>"$LOG" 2>&1; then
  if run_step D-torch 90 0 env PYTHONUNBUFFERED=1 python3 scripts/bench/torch_gpu.py --device cuda \
    --models resnet50 --batches 64 --precisions bf16 --steps "$STEPS" --warmup 3; then
    tv=$(python3 -c 'import torch; print(torch.__version__)' 2>/dev/null)
    while IFS= read -r json; do
      echo "$json" >>"$JSONL"
      layout=contiguous
      [[ "$(jget "$json" channels_last)" == true ]] && layout=channels_last
      row D-pytorch "resnet50 (torchvision)" 64 "bf16 autocast, $layout" - \
        "$(num "$(jget "$json" train_images_per_s)")" "$(num "$(jget "$json" predict_images_per_s)")" \
        "$PEAK" "torch $tv; peak of the whole script"
    done < <(grep -E '^\{' "$OUTF")
  fi
else
  say "D: no torch/torchvision in python3"
fi
say "done in $(elapsed) s"
