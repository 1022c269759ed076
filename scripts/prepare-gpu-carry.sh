#!/usr/bin/env bash
# Prepare what a GPU device run needs, on the development machine:
#
#   .gpu/animescore.xz   the release CLI built with --features cuda,vulkan (CUDA_COMPILER=llvm,
#                        the default) or cuda-nvrtc,vulkan (CUDA_COMPILER=nvrtc), stripped, xz'd
#   .gpu/build.txt       which features and commit it was built from
#   .gpu/kernels.tar.xz  kept when present: the kernel cache an earlier gpu-check packed
#                        (copy it from that run's $OUT); it serves the same binary only, so
#                        reuse it with SKIP_BUILD=1
#   .gl/*.deb            the Vulkan/EGL loader packages (fetched once; the device has none)
#
# Both folders are listed in .git/info/exclude, so they travel only when a device run names
# them in `carry`. Idempotent: re-running rebuilds (cargo is incremental) and re-packs the
# binary, and leaves the .gl packages alone once they are there.
#
#   bash scripts/prepare-gpu-carry.sh             # then carry [".gpu"] and run
#                                                 #   bash scripts/gpu-check.sh
#
# Environment: CARGO_TARGET_DIR (default $HOME/.cache/animescore-target, as CI uses),
# SKIP_BUILD=1 to re-pack an existing binary without calling cargo, MAX_XZ_MIB (default 56:
# the whole carried tree may be 64 MiB at most).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

die() { echo "prepare-gpu-carry: $*" >&2; exit 1; }
say() { echo "prepare-gpu-carry: $*"; }

export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/animescore-target}"
max_mib="${MAX_XZ_MIB:-56}"
case "${CUDA_COMPILER:-llvm}" in
  llvm) features=cuda,vulkan ;;
  nvrtc) features=cuda-nvrtc,vulkan ;;
  *) die "CUDA_COMPILER must be llvm or nvrtc" ;;
esac

# 0. Keep the carried folders out of git.
exclude="$(git rev-parse --git-path info/exclude)"
mkdir -p "$(dirname "$exclude")"
touch "$exclude"
for pattern in /.gpu/ /.gl/; do
  grep -qxF "$pattern" "$exclude" || echo "$pattern" >>"$exclude"
done

# 1. The binary.
if [[ "${SKIP_BUILD:-0}" != 1 ]]; then
  bash scripts/setup-cuda-build.sh
  say "cargo build --release -p animescore-cli --features $features (target dir $CARGO_TARGET_DIR)"
  cargo build --release -p animescore-cli --features "$features"
  rm -f .gpu/kernels.tar.xz  # compiled kernels are keyed by the binary: a new one starts cold
  mkdir -p .gpu
  printf 'features %s, commit %s, built %s\n' "$features" "$(git rev-parse --short HEAD)" "$(date -u '+%F %T')" >.gpu/build.txt
fi
bin="$CARGO_TARGET_DIR/release/animescore"
[[ -x "$bin" ]] || die "no binary at $bin (build failed, or another CARGO_TARGET_DIR?)"
[[ "$(uname -m)" == x86_64 ]] || die "this machine is $(uname -m); the device is x86-64: build there instead"

mkdir -p .gpu
# Only the .xz may be in .gpu when it travels: everything under it counts towards 64 MiB.
tmp="$(mktemp -d "$root/.gpu/.pack.XXXXXX")"
trap 'rm -rf "$tmp"' EXIT
cp "$bin" "$tmp/animescore"
strip "$tmp/animescore" 2>/dev/null || say "warning: strip failed; packing the unstripped binary"
raw=$(stat -c %s "$tmp/animescore")
say "stripped binary: $((raw / 1024 / 1024)) MiB; compressing (xz -T2 -6)"
xz -T2 -6 -c "$tmp/animescore" >"$tmp/animescore.xz"
mv -f "$tmp/animescore.xz" .gpu/animescore.xz
rm -rf "$tmp"
trap - EXIT
# Anything else left in .gpu by hand would travel too: remove it.
find .gpu -mindepth 1 -maxdepth 1 ! -name animescore.xz ! -name kernels.tar.xz ! -name build.txt \
  -exec rm -rf {} +
packed=$(stat -c %s .gpu/animescore.xz)
say ".gpu/animescore.xz: $packed bytes ($(awk -v b="$packed" 'BEGIN{printf "%.1f", b/1048576}') MiB), from $(date -r "$bin" '+%F %T') $bin"
if (( packed > max_mib * 1024 * 1024 )); then
  rm -f .gpu/animescore.xz  # so that it cannot travel by mistake
  die "the packed binary is over $max_mib MiB (removed); the carried tree must stay under 64 MiB"
fi

# 2. The Vulkan loader packages, once (exactly as the device README says).
if compgen -G ".gl/*.deb" >/dev/null; then
  say ".gl already holds $(find .gl -name '*.deb' | wc -l) packages; not fetching again"
else
  mkdir -p .gl /tmp/amd64/partial
  o='-oAPT::Architecture=amd64 -oAPT::Architectures=amd64 -oDir::State::Lists=/tmp/amd64'
  # shellcheck disable=SC2086
  apt-get $o update
  # shellcheck disable=SC2086
  (cd .gl && apt-get $o download libvulkan1 libegl1 libglvnd0 libopengl0 libgl1 libglx0 libgles2)
fi
for p in libvulkan1 libegl1 libglvnd0 libopengl0 libgl1 libglx0 libgles2; do
  compgen -G ".gl/${p}_*.deb" >/dev/null || die ".gl has no ${p}_*.deb (remove .gl and run again)"
done

# 3. How much would travel: tracked + untracked-not-ignored files, plus the carried folders.
tree_bytes=$(git ls-files -z --cached --others --exclude-standard \
  | xargs -0 -r stat -c %s 2>/dev/null | awk '{s += $1} END {print s + 0}')
carry_bytes=$(du -sb .gpu .gl | awk '{s += $1} END {print s + 0}')
total=$((tree_bytes + carry_bytes))
say "working tree $((tree_bytes / 1024)) KiB + .gpu/.gl $((carry_bytes / 1024)) KiB = $(awk -v b="$total" 'BEGIN{printf "%.1f", b/1048576}') MiB of 64 MiB"
(( total <= 64 * 1024 * 1024 )) || die "that is over the 64 MiB a device run may carry"
say 'ready. carry: [".gpu"]   command: bash scripts/gpu-check.sh   timeout_s: 560'
echo 'carry: [".gpu"]'
