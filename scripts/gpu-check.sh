#!/usr/bin/env bash
# GPU throughput check, run ON the device machine from the repository root:
#
#   device run, carry [".gpu", ".gl"], command:  bash scripts/gpu-check.sh
#
# (prepare .gpu and .gl here first with scripts/prepare-gpu-carry.sh). Finishes in under
# 8 minutes: every step has its own timeout, cut further so that the whole run stays inside
# GPU_CHECK_BUDGET_S; a failed or timed-out row is recorded ("failed: …") and the script goes
# on. Rows, in this order:
#
#   1. `animescore benchmark` on cuda, ONE process for resnet50/multitask at batch 32 and 64
#      × f32 and bf16 (kernels compiled for the first setting serve the others)
#   2. end to end on cuda: synth 400 images (256 px) → ingest → train resnet50 2 epochs batch
#      64 → predict (epoch seconds from metrics.csv; predict timed by wall clock)
#   3. PyTorch reference, scripts/bench/torch_gpu.py, if python3 has torch and torchvision
#   4. one process for efficientnet-b0/attention on cuda (32, 64 × f32, bf16), then one for
#      resnet50/multitask on vulkan (batch 32, f32), with the time that is left
#
# The first session with a GPU (2026-11-26, H200) found that burn 0.22's first use of each
# kernel (JIT compilation through LLVM, then autotuning) dominates a fresh process: no
# ResNet-50 training step finished within 120 s, and even `tiny` at 64 px took over 50 s.
# Hence one process per backend and model, long first timeouts, and the warm-up step times
# in the log. CUBECL_AUTOTUNE_LEVEL (minimal|balanced|extensive|full) passes through.
#
# Peak GPU memory per row: nvidia-smi's memory.used sampled every 100 ms while the row runs
# (the whole device, so it includes the CUDA context and whatever the allocator keeps).
#
# Writes $OUT/gpu-check.md (the table), $OUT/gpu-check.log (every command's output),
# $OUT/results.jsonl (every JSON line the benchmarks printed) and $OUT/e2e-metrics.csv;
# without $OUT, under /tmp/gpu-check.
#
# Environment: GPU_CHECK_BUDGET_S (default 450), GPU_CHECK_ONLY (an extended regex: run only
# the rows whose id matches, e.g. 'cuda/resnet50|torch'; the ids are
# DEVICE/BACKBONE/VARIANT/bBATCH/PRECISION, e2e/cuda/resnet50/b64 and torch/cuda),
# STEPS (20), WARMUP (3), FIRST_ROW_TIMEOUT_S (240: each benchmark process), ANIMESCORE_BIN (use this binary instead of
# unpacking .gpu/).
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
WARMUP="${WARMUP:-3}"
BUDGET="${GPU_CHECK_BUDGET_S:-450}"
ONLY="${GPU_CHECK_ONLY:-}"
ROW_TIMEOUT="${ROW_TIMEOUT_S:-60}"
FIRST_ROW_TIMEOUT="${FIRST_ROW_TIMEOUT_S:-240}"
MIN_STEP_S=15
T0=$(date +%s)
DEADLINE=$((T0 + BUDGET))
BIN="${ANIMESCORE_BIN:-/tmp/animescore}"

elapsed() { echo $(($(date +%s) - T0)); }
say() { printf '[%4ss] %s\n' "$(elapsed)" "$*" | tee -a "$LOG"; }
# A table cell: no pipes or newlines.
clean() { printf '%s' "$*" | tr '\n|' ' /' | cut -c1-400; }
row() { # what backend model batch precision train predict peak note
  printf '| %s | %s | %s | %s | %s | %s | %s | %s | %s |\n' \
    "$(clean "$1")" "$(clean "$2")" "$(clean "$3")" "$(clean "$4")" "$(clean "$5")" \
    "$(clean "$6")" "$(clean "$7")" "$(clean "$8")" "$(clean "$9")" >>"$ROWS"
  write_md  # after every row, so that a run cut short still leaves its table
}
selected() { [[ -z "$ONLY" ]] || [[ "$1" =~ $ONLY ]]; }
# A value from a flat one-line JSON object: string, number, null or bool.
jget() {
  printf '%s' "$1" | sed -n -E 's/.*"'"$2"'"[[:space:]]*:[[:space:]]*("([^"]*)"|([^,}[:space:]]+)).*/\2\3/p'
}
rate() { # images/s → one decimal, or "-"
  if [[ "$1" =~ ^[0-9.eE+-]+$ ]]; then awk -v v="$1" 'BEGIN { printf "%.1f", v }'; else echo "-"; fi
}
div() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.1f", a / b; else print "-" }'; }

# --- memory sampler: one per step ---------------------------------------------------------
HAVE_SMI=0
command -v nvidia-smi >/dev/null && HAVE_SMI=1
SAMPLER=""
CHILD=""
start_sampler() {
  MEMFILE="$WORK/$1.mem"
  : >"$MEMFILE"
  SAMPLER=""
  ((HAVE_SMI)) || return 0
  local buf=()
  command -v stdbuf >/dev/null && buf=(stdbuf -oL)
  "${buf[@]}" nvidia-smi -i 0 --query-gpu=memory.used --format=csv,noheader,nounits -lms 100 \
    >"$MEMFILE" 2>/dev/null &
  SAMPLER=$!
  sleep 0.3
}
stop_sampler() {
  if [[ -n "$SAMPLER" ]]; then
    kill -INT "$SAMPLER" 2>/dev/null
    sleep 0.2
    kill "$SAMPLER" 2>/dev/null
    wait "$SAMPLER" 2>/dev/null
    SAMPLER=""
  fi
  PEAK=$(awk '$1 ~ /^[0-9]+$/ && $1 + 0 > m { m = $1 + 0 } END { if (m > 0) print m; else print "-" }' "$MEMFILE")
}

# --- one timed step -------------------------------------------------------------------------
# run_step ID NOMINAL_TIMEOUT RESERVE_S CMD...: runs CMD with stdout/stderr in $WORK/ID.out/err
# under min(NOMINAL, time left - RESERVE). Sets RC (124 = timed out, "skip" = no time left),
# SECS, PEAK and WHY (a "failed: …" / "skipped: …" text, empty on success).
run_step() {
  local id=$1 nominal=$2 reserve=$3
  shift 3
  local file=${id//\//_}
  OUTF="$WORK/$file.out"
  ERRF="$WORK/$file.err"
  : >"$OUTF"
  : >"$ERRF"
  RC=""
  SECS=""
  PEAK="-"
  WHY=""
  local left=$((DEADLINE - $(date +%s) - reserve))
  local t=$((nominal < left ? nominal : left))
  if ((t < MIN_STEP_S)); then
    RC=skip
    WHY="skipped: time budget spent (${BUDGET} s)"
    say "$id: $WHY"
    return 1
  fi
  say "$id: running (timeout $t s)"
  start_sampler "$file"
  local s0 s1
  s0=$(date +%s.%N)
  # In the background and waited for, so that a TERM to this script is handled at once.
  timeout -k 5 "$t" "$@" >"$OUTF" 2>"$ERRF" &
  CHILD=$!
  wait "$CHILD"
  RC=$?
  CHILD=""
  s1=$(date +%s.%N)
  stop_sampler
  SECS=$(awk -v a="$s0" -v b="$s1" 'BEGIN { printf "%.2f", b - a }')
  {
    echo "=== $id: $* (timeout $t s) → exit $RC, $SECS s, peak $PEAK MiB"
    echo "--- stdout"
    cat "$OUTF"
    echo "--- stderr (last 200 lines)"
    tail -n 200 "$ERRF"
  } >>"$LOG"
  if ((RC == 124 || RC == 137)); then
    WHY="failed: timed out after $t s"
  elif ((RC != 0)); then
    # The last line that says something: clap and our CLI print "error: …".
    local msg
    msg=$(grep -E -i 'error|panick|fail' "$ERRF" | tail -n 1)
    [[ -n "$msg" ]] || msg=$(grep -v '^[[:space:]]*$' "$ERRF" | tail -n 1)
    WHY="failed: exit $RC: $msg"
  fi
  if [[ -n "$WHY" ]]; then
    say "$id: $WHY ($SECS s)"
    tail -n 3 "$ERRF" | sed 's/^/      /'
  fi
  [[ -z "$WHY" ]]
}

write_md() {
  {
    echo "# GPU check $(date -u '+%F %T') UTC"
    echo
    echo "$GPU_LINE"
    echo
    echo "binary: $BIN_LINE; steps $STEPS after $WARMUP warm-up; image 224 px; total $(elapsed) s of a ${BUDGET} s budget"
    echo
    echo "| what | backend | model | batch | precision | train img/s | predict img/s | peak GPU MiB | note |"
    echo "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"
    cat "$ROWS"
    echo
    echo "peak GPU MiB: nvidia-smi memory.used (whole device, 100 ms samples) during the row, idle baseline ${BASE_MIB} MiB; PyTorch rows: the device memory in use right after each phase (torch.cuda.mem_get_info, before emptying the cache; about what nvidia-smi would show for that row), with torch.cuda.max_memory_allocated in the note."
  } >"$MD"
}
finish() {
  [[ -n "$CHILD" ]] && kill "$CHILD" 2>/dev/null
  [[ -n "$SAMPLER" ]] && kill "$SAMPLER" 2>/dev/null
  write_md
  echo
  cat "$MD"
  rm -rf "$WORK"
}
GPU_LINE="GPU: unknown"
BIN_LINE="none"
BASE_MIB="-"
trap finish EXIT
trap 'exit 143' TERM INT  # so that finish runs when the caller stops the script

# --- 0. set-up ------------------------------------------------------------------------------
say "gpu-check: budget ${BUDGET} s, steps $STEPS, warm-up $WARMUP${ONLY:+, only /$ONLY/}"
if compgen -G ".gl/*.deb" >/dev/null; then
  for f in .gl/*.deb; do dpkg -x "$f" / || say "warning: dpkg -x $f failed"; done
  ldconfig
else
  say "warning: no .gl/*.deb (carry .gl): Vulkan rows will likely fail"
fi
icd=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json
egl=/usr/local/nvidia/share/glvnd/egl_vendor.d/10_nvidia.json
[[ -f "$icd" ]] && export VK_DRIVER_FILES="$icd"
[[ -f "$egl" ]] && export __EGL_VENDOR_LIBRARY_FILENAMES="$egl"
say "libvulkan: $(ldconfig -p | grep -c 'libvulkan.so') entries; VK_DRIVER_FILES=${VK_DRIVER_FILES:-unset}"

if [[ -z "${ANIMESCORE_BIN:-}" ]]; then
  if [[ -f .gpu/animescore.xz ]] && timeout 120 xz -dc .gpu/animescore.xz >"$BIN"; then
    chmod +x "$BIN"
  else
    say "error: could not unpack .gpu/animescore.xz (carry .gpu; run scripts/prepare-gpu-carry.sh here first)"
    rm -f "$BIN"
  fi
fi
if [[ -x "$BIN" ]]; then
  BIN_LINE="$(timeout 20 "$BIN" --version 2>&1 | head -n 1) ($(stat -c %s "$BIN") bytes)"
else
  BIN_LINE="missing"
fi
say "binary: $BIN_LINE"

if ((HAVE_SMI)); then
  nvidia-smi -L | tee -a "$LOG"
  GPU_LINE="GPU: $(nvidia-smi -i 0 --query-gpu=name,memory.total,driver_version --format=csv,noheader | sed 's/, / · /g') (name · memory · driver)"
  BASE_MIB=$(nvidia-smi -i 0 --query-gpu=memory.used --format=csv,noheader,nounits | head -n 1)
  nvidia-smi >>"$LOG" 2>&1
else
  say "warning: no nvidia-smi: no GPU name or memory figures"
fi
say "$GPU_LINE"
if [[ -d target/environment ]]; then
  say "CubeCL cache target/environment exists from an earlier run ($(find target/environment -type f | wc -l) files): autotune may be skipped"
fi

HAVE_BENCH=0
if [[ -x "$BIN" ]] && timeout 20 "$BIN" benchmark --help >"$WORK/bench-help" 2>&1; then
  HAVE_BENCH=1
  { echo "=== animescore benchmark --help"; cat "$WORK/bench-help"; } >>"$LOG"
else
  say "warning: this binary has no 'benchmark' subcommand; benchmark rows will be recorded as failed"
fi

# --- benchmark rows -------------------------------------------------------------------------
# One process per backend and model measures every batch size and precision in turn, so GPU
# kernels compiled (and autotuned) for the first setting serve the others: on a fresh machine
# that first-use cost dominates (seen on an H200 with burn 0.22: over 120 s before the first
# ResNet-50 training step finished). `-v` with this RUST_LOG prints the time of every warm-up
# step to the log (cubecl's own info logs stay off), so a timed-out row still shows how far
# it got.
export RUST_LOG="${RUST_LOG:-warn,animescore_training=info}"
declare -A TIMEOUTS=([cuda]=0 [vulkan]=0)
bench_group() { # device backbone variant batches precisions timeout reserve
  local dev=$1 bb=$2 var=$3 batches=$4 precs=$5 nominal=$6 reserve=$7
  local id="$dev/$bb/$var/b${batches//,/+}/${precs//,/+}"
  selected "$id" || return 0
  local model="$bb $var"
  if ((!HAVE_BENCH)); then
    row benchmark "$dev" "$model" "$batches" "$precs" - - - "failed: binary missing or without 'benchmark'"
    return 0
  fi
  if ((TIMEOUTS[$dev] >= 1)); then
    say "$id: skipped: an earlier $dev group timed out"
    row benchmark "$dev" "$model" "$batches" "$precs" - - - "skipped: an earlier $dev group timed out"
    return 0
  fi
  run_step "$id" "$nominal" "$reserve" "$BIN" -v benchmark --backbone "$bb" --variant "$var" \
    --image-size 224 --batch-size "$batches" --steps "$STEPS" --warmup "$WARMUP" --device "$dev" \
    --precision "$precs" --json
  [[ "$RC" == 124 || "$RC" == 137 ]] && TIMEOUTS[$dev]=$((TIMEOUTS[$dev] + 1))
  local warm
  warm=$(grep -o 'warm-up step [0-9/]* done at [0-9.]* s' "$ERRF" | tr '\n' ';' | cut -c1-300)
  local json any=0
  while IFS= read -r json; do
    any=1
    echo "$json" >>"$JSONL"
    local tr pr wu bs prec mib note=""
    tr=$(jget "$json" train_images_per_s)
    pr=$(jget "$json" predict_images_per_s)
    wu=$(jget "$json" warmup_seconds)
    bs=$(jget "$json" batch_size)
    prec=$(jget "$json" precision)
    mib=$(jget "$json" device_reserved_mib)
    [[ "$tr" == null || -z "$tr" ]] && tr="-" || tr=$(rate "$tr")
    [[ "$pr" == null || -z "$pr" ]] && pr="-" || pr=$(rate "$pr")
    [[ -n "$wu" && "$wu" != null ]] && note+="warm-up $(rate "$wu") s; "
    [[ -n "$mib" && "$mib" != null ]] && note+="allocator holds $(rate "$mib") MiB; "
    note+="process peak over all its settings"
    say "$id: batch $bs $prec: train $tr, predict $pr img/s"
    row benchmark "$dev" "$model" "$bs" "$prec" "$tr" "$pr" "$PEAK" "$note"
  done < <(grep -E '^[[:space:]]*\{' "$OUTF")
  if [[ -n "$WHY" ]]; then
    local done_n
    done_n=$(grep -c -E '^[[:space:]]*\{' "$OUTF")
    row benchmark "$dev" "$model" "$batches" "$precs" - - "$PEAK" "$WHY after $done_n settings; warm-up: ${warm:-no warm-up step finished}"
  elif ((!any)); then
    row benchmark "$dev" "$model" "$batches" "$precs" - - "$PEAK" "failed: no JSON line on stdout"
  fi
}

# Seconds kept back for the rows that come later, when they are selected: PyTorch (~40 s)
# and the end-to-end row. Then EfficientNet and Vulkan get what is left.
TORCH_RES=0
E2E_RES=0
selected torch/cuda && TORCH_RES=40
selected e2e/cuda/resnet50/b64 && E2E_RES=120
bench_group cuda resnet50 multitask 32,64 f32,bf16 "${FIRST_ROW_TIMEOUT}" $((E2E_RES + TORCH_RES))

# --- end to end on cuda ---------------------------------------------------------------------
e2e() {
  local id="e2e/cuda/resnet50/b64"
  selected "$id" || return 0
  local model="resnet50 multitask, embedding none"
  if [[ ! -x "$BIN" ]]; then
    row "e2e train+predict" cuda "$model" 64 f32 - - - "failed: binary missing"
    return 0
  fi
  local ds=/tmp/ds run=/tmp/run pred=/tmp/pred.csv
  rm -rf "$ds" "$run" "$pred"
  if ! run_step e2e-synth 60 $((TORCH_RES + 60)) "$BIN" synth "$ds" --count 400 --size 256; then
    row "e2e train+predict" cuda "$model" 64 f32 - - - "synth $WHY"
    return 0
  fi
  if ! run_step e2e-ingest 60 $((TORCH_RES + 50)) "$BIN" ingest "$ds"; then
    row "e2e train+predict" cuda "$model" 64 f32 - - - "ingest $WHY"
    return 0
  fi
  run_step e2e-train 180 $((TORCH_RES + 20)) "$BIN" train --dataset "$ds" --out "$run" --backbone resnet50 \
    --image-size 224 --epochs 2 --batch-size 64 --device cuda --embedding none --variant multitask
  local train_why="$WHY" train_peak="$PEAK" train_secs="$SECS"
  local counts ntrain="" tr="-" note=""
  counts=$(sed -n -E 's/.* ([0-9]+) train \/ ([0-9]+) validation \/ ([0-9]+) test images.*/\1 \2 \3/p' "$ERRF" | tail -n 1)
  ntrain=${counts%% *}
  [[ -f "$run/metrics.csv" ]] && cp "$run/metrics.csv" "$OUTDIR/e2e-metrics.csv"
  local ep1="" ep2=""
  if [[ -f "$run/metrics.csv" ]]; then
    read -r ep1 ep2 < <(awk -F, 'NR == 1 { for (i = 1; i <= NF; i++) col[$i] = i; next }
      $col["split"] == "train" { s[$col["epoch"]] = $col["seconds"] }
      END { print (1 in s ? s[1] : "-"), (2 in s ? s[2] : "-") }' "$run/metrics.csv")
  fi
  if [[ -n "$ntrain" && "$ep2" =~ ^[0-9.]+$ ]]; then
    tr=$(div "$ntrain" "$ep2")
  fi
  local splits="${counts// //}"
  note="epoch 1 ${ep1:--} s ($(div "${ntrain:-0}" "${ep1:-0}") img/s), epoch 2 ${ep2:--} s (epoch s include validation); ${splits:-?} train/val/test images; train process $train_secs s, peak $train_peak MiB"
  [[ -n "$train_why" ]] && note="train $train_why; $note"
  local pr="-" pred_peak="-"
  if [[ -f "$run/model.bpk" ]]; then
    local bsflag=()
    if timeout 20 "$BIN" predict --help 2>/dev/null | grep -q -- '--batch-size'; then
      bsflag=(--batch-size 64)
    else
      note+="; predict has no --batch-size here"
    fi
    if run_step e2e-predict 90 "$TORCH_RES" "$BIN" predict --model "$run" --device cuda "${bsflag[@]}" --out "$pred" "$ds"; then
      local n
      n=$(sed -n -E 's/.*: ([0-9]+) images scored.*/\1/p' "$OUTF" | tail -n 1)
      [[ -n "$n" ]] || n=$(($(wc -l <"$pred") - 1))
      pr=$(div "$n" "$SECS")
      note+="; predict $n images in $SECS s wall (start-up, load, decode, compile included), peak $PEAK MiB"
    else
      note+="; predict $WHY"
    fi
    pred_peak="$PEAK"
  else
    note+="; predict not run: no $run/model.bpk"
  fi
  local peak="$train_peak"
  [[ "$pred_peak" =~ ^[0-9]+$ && ( ! "$peak" =~ ^[0-9]+$ || "$pred_peak" -gt "$peak" ) ]] && peak="$pred_peak"
  say "$id: train $tr img/s (epoch 2), predict $pr img/s"
  row "e2e train+predict" cuda "$model" 64 f32 "$tr" "$pr" "$peak" "$note"
}
e2e

# --- PyTorch reference ----------------------------------------------------------------------
torch_rows() {
  local id="torch/cuda"
  selected "$id" || return 0
  if ! timeout 60 python3 -c 'import torch, torchvision' >>"$LOG" 2>&1; then
    say "$id: skipped: python3 cannot import torch and torchvision"
    row pytorch cuda "torchvision" - - - - - "skipped: no torch/torchvision in python3"
    return 0
  fi
  run_step torch 120 0 env PYTHONUNBUFFERED=1 python3 scripts/bench/torch_gpu.py --device cuda \
    --steps "$STEPS" --warmup "$WARMUP"
  local whole_peak="$PEAK" any=0 line
  local tv
  tv=$(grep -m1 '^# torch' "$ERRF" | sed -E 's/^# torch ([^,]+),.*/\1/')
  while IFS= read -r line; do
    any=1
    echo "$line" >>"$JSONL"
    local bb bs prec cl tr pr tp pp dp dev err note
    bb=$(jget "$line" backbone)
    bs=$(jget "$line" batch_size)
    prec=$(jget "$line" precision)
    cl=$(jget "$line" channels_last)
    tr=$(rate "$(jget "$line" train_images_per_s)")
    pr=$(rate "$(jget "$line" predict_images_per_s)")
    tp=$(jget "$line" train_peak_mib)
    pp=$(jget "$line" predict_peak_mib)
    dp=$(jget "$line" device_peak_mib)
    dev=$(jget "$line" device)
    [[ "$tp" == null ]] && tp="-"
    [[ "$pp" == null ]] && pp="-"
    [[ "$dp" =~ ^[0-9.]+$ ]] && dp=$(awk -v v="$dp" 'BEGIN { printf "%.0f", v }') || dp="-"
    err=$(jget "$line" error)
    [[ "$prec" == bf16 ]] && prec="bf16 autocast"
    [[ "$cl" == true ]] && prec+=", channels_last"
    note="max_memory_allocated train ${tp} / predict ${pp} MiB; nvidia-smi peak of the whole script ${whole_peak} MiB"
    [[ -n "$err" && "$err" != null ]] && note="failed: $err; $note"
    row pytorch "${dev:-cuda}, torch ${tv:-?}" "$bb (torchvision)" "$bs" "$prec" "$tr" "$pr" "$dp" "$note"
  done < <(grep -E '^\{' "$OUTF")
  if ((!any)); then
    row pytorch cuda "torchvision" - - - - "$whole_peak" "${WHY:-failed: no JSON lines}"
  elif [[ -n "$WHY" ]]; then
    say "$id: $WHY (rows it finished are in the table)"
  fi
  # The torch script's own table, for the log's reader.
  sed -n '/^| model/,$p' "$OUTF" >>"$LOG"
}
torch_rows

# --- EfficientNet (attention variant) on cuda, then Vulkan, with what is left ----------------
bench_group cuda efficientnet-b0 attention 32,64 f32,bf16 "${FIRST_ROW_TIMEOUT}" 60
bench_group vulkan resnet50 multitask 32 f32 "${FIRST_ROW_TIMEOUT}" 0

say "done in $(elapsed) s"
