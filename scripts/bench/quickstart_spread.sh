#!/usr/bin/env bash
# The quickstart as a new user runs it, several times: every run's held-out test SRCC and the
# spread, plus one repeat of the first seed to show the same seed gives the same result.
#   bash scripts/bench/quickstart_spread.sh [BINARY] [SEEDS...]
# BINARY defaults to target/release/animescore; SEEDS to 42 1 2 3 4.
set -euo pipefail
bin="${1:-target/release/animescore}"
shift || true
seeds=("${@:-42 1 2 3 4}")
read -r -a seeds <<< "${seeds[*]}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

srcc() {
    python3 - "$1" <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))
print("%.4f %d %d" % (s["test"]["srcc"], s["epochs"], s["best_epoch"]))
PY
}

printf '%-8s %-8s %-7s %-5s %s\n' seed "test SRCC" epochs best seconds
values=()
for seed in "${seeds[@]}" "${seeds[0]}"; do
    dir="$work/s$seed-$RANDOM"
    start=$(date +%s)
    "$bin" quickstart --dir "$dir" --seed "$seed" > "$dir.log" 2>&1
    read -r value epochs best <<< "$(srcc "$dir/run/summary.json")"
    printf '%-8s %-8s %-7s %-5s %s\n' "$seed" "$value" "$epochs" "$best" $(( $(date +%s) - start ))
    values+=("$value")
    metrics+=("$dir/run/metrics.csv")
done
python3 - "${values[@]}" <<'PY'
import sys
v = [float(x) for x in sys.argv[1:-1]]  # the last value is the repeat of the first seed
print(f"seeds: min {min(v):.4f}  max {max(v):.4f}  spread {max(v) - min(v):.4f}  mean {sum(v)/len(v):.4f}")
print("repeat of the first seed identical:", sys.argv[1] == sys.argv[-1])
PY
# Same seed: metrics.csv identical apart from the seconds column.
strip() { cut -d, -f1-3,5- "$1"; }
if diff <(strip "${metrics[0]}") <(strip "${metrics[-1]}") > /dev/null; then
    echo "metrics.csv of the two runs with seed ${seeds[0]}: identical (timing column aside)"
else
    echo "metrics.csv of the two runs with seed ${seeds[0]}: DIFFERENT"
fi
