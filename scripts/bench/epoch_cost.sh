#!/usr/bin/env bash
# What full-size images cost a training epoch: the same 240 artworks as 1200×1700 PNG/JPEG
# files (FULL) and as 64×64 copies (SMALL), trained alike; prints the seconds of epochs 2..3
# of each and the ratio FULL/SMALL. Epoch 1 is left out: it pays for start-up, kernel
# compilation and any image cache being filled.
#
#   bash scripts/bench/epoch_cost.sh [EXTRA TRAIN ARGS...]      e.g. --no-cache, --device cuda
#
# Steps: `animescore synth` (240 images, 256 px) → scripts/bench/make_fullsize_dataset.py
# (FULL and SMALL) → `animescore ingest` of each → per repeat, `animescore train --backbone
# tiny --image-size 224 --epochs 3 --batch-size 16 --embedding none --variant multitask
# EXTRA…` on SMALL and on FULL (the order alternates between repeats) → seconds from each
# run's metrics.csv.
#
# Environment: ANIMESCORE (the binary; default: release/animescore under $CARGO_TARGET_DIR,
# ./target or ~/.cache/animescore-target, the first that exists), REPEAT (default 1), COUNT
# (240), SYNTH_SIZE (256), JOBS (processes for the image rendering; all cores), WORK_DIR
# (default: a new temporary folder, removed at the end unless KEEP=1; an existing WORK_DIR
# with datasets in it is reused), PYTHON (python3, with Pillow and numpy).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"

die() { echo "epoch_cost: $*" >&2; exit 1; }

bin="${ANIMESCORE:-}"
if [[ -z "$bin" ]]; then
  for c in ${CARGO_TARGET_DIR:+"$CARGO_TARGET_DIR/release/animescore"} \
    "$root/target/release/animescore" "$HOME/.cache/animescore-target/release/animescore"; do
    if [[ -x "$c" ]]; then bin="$c"; break; fi
  done
fi
[[ -n "$bin" && -x "$bin" ]] || die "no animescore binary (build it, or set ANIMESCORE)"
python="${PYTHON:-python3}"
"$python" -c 'import PIL, numpy' 2>/dev/null || die "$python lacks Pillow or numpy (pip install pillow numpy)"
repeat="${REPEAT:-1}"
count="${COUNT:-240}"
jobs="${JOBS:-$(nproc)}"
extra=("$@")

if [[ -n "${WORK_DIR:-}" ]]; then
  work="$WORK_DIR"
  mkdir -p "$work"
else
  work="$(mktemp -d "${TMPDIR:-/tmp}/epoch-cost.XXXXXX")"
  [[ "${KEEP:-0}" == 1 ]] || trap 'rm -rf "$work"' EXIT
fi
echo "epoch_cost: binary $bin ($("$bin" --version 2>/dev/null || echo '?')); work in $work"

# 1. The datasets (reused when WORK_DIR already holds them).
if [[ ! -f "$work/full/.database/metadata.sqlite3" || ! -f "$work/small/.database/metadata.sqlite3" ]]; then
  rm -rf "$work/src" "$work/full" "$work/small"
  "$bin" synth "$work/src" --count "$count" --size "${SYNTH_SIZE:-256}"
  "$python" "$here/make_fullsize_dataset.py" "$work/src" --full "$work/full" --small "$work/small" --jobs "$jobs"
  for d in small full; do
    "$bin" ingest "$work/$d"
  done
fi
echo "epoch_cost: FULL $(du -sh --exclude=.database "$work/full" | cut -f1), SMALL $(du -sh --exclude=.database "$work/small" | cut -f1)"

# Seconds of epochs 2..3 (train rows of metrics.csv) as "e2 e3".
epoch_seconds() {
  awk -F, 'NR == 1 { for (i = 1; i <= NF; i++) col[$i] = i; next }
    $col["split"] == "train" && $col["epoch"] >= 2 && $col["epoch"] <= 3 { s[$col["epoch"]] = $col["seconds"] }
    END { printf "%s %s\n", (2 in s ? s[2] : "-"), (3 in s ? s[3] : "-") }' "$1"
}

# 2. The runs.
results="$work/results.txt"
: >"$results"
for ((r = 1; r <= repeat; r++)); do
  order=(small full)
  ((r % 2 == 0)) && order=(full small)
  for d in "${order[@]}"; do
    out="$work/run-$d-$r"
    rm -rf "$out"
    echo "epoch_cost: repeat $r/$repeat, ${d^^}: training"
    if ! "$bin" train --dataset "$work/$d" --out "$out" --backbone tiny --image-size 224 \
      --epochs 3 --batch-size 16 --embedding none --variant multitask "${extra[@]}" \
      >"$out.log" 2>&1; then
      tail -n 20 "$out.log" >&2
      die "training on ${d^^} failed (log above, whole log in $out.log)"
    fi
    grep -E '^training on|^epoch ' "$out.log" | sed 's/^/    /' || true
    read -r e2 e3 < <(epoch_seconds "$out/metrics.csv")
    echo "$r $d $e2 $e3" >>"$results"
  done
done

# 3. The table and the ratio.
echo
echo "extra train args: ${extra[*]:-(none)}; $count images; tiny backbone, 224 px, batch 16"
printf '%-7s %-6s %10s %10s %10s\n' repeat set "epoch 2 s" "epoch 3 s" "mean s"
awk '{ m = "-"; n = 0; t = 0
       for (i = 3; i <= 4; i++) if ($i != "-") { t += $i; n++ }
       if (n) m = sprintf("%.2f", t / n)
       printf "%-7s %-6s %10s %10s %10s\n", $1, toupper($2), $3, $4, m }' "$results"
awk '{ for (i = 3; i <= 4; i++) if ($i != "-") { t[$2] += $i; n[$2]++ } }
     END {
       if (!n["full"] || !n["small"]) { print "ratio FULL/SMALL: - (missing epochs)"; exit }
       f = t["full"] / n["full"]; s = t["small"] / n["small"]
       printf "mean epoch (2..3): FULL %.2f s, SMALL %.2f s; ratio FULL/SMALL %.2f\n", f, s, (s > 0 ? f / s : 0)
     }' "$results"
