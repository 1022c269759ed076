#!/usr/bin/env bash
# Make `--features cuda` build without internet access beyond PyPI.
#
# burn's `cuda` backend pulls cubecl-cuda → cubecl-llvm, whose build dependency
# `tracel-llvm-bundler` downloads an LLVM bundle from GitHub unless its install folder
#   ${XDG_DATA_HOME:-$HOME/.local/share}/tracel/tracel-llvm-<bundler version>/
# already holds an LLVM install and a `.tracel-llvm-installed` marker. This script fills that
# folder from PyPI's `mlc-llvm-static[all]` (a static LLVM with the NVPTX target and a
# Python `llvm-config`), so the build script returns early and never downloads.
#
# Idempotent: a second run only checks. Fails loudly, and never downloads from GitHub, when
# the LLVM major version does not match the bundler version pinned in Cargo.lock.
#
#   bash scripts/setup-cuda-build.sh        # then: cargo build --release -p animescore-cli --features cuda
#
# Environment: ANIMESCORE_LLVM_VENV (default ${XDG_CACHE_HOME:-$HOME/.cache}/animescore/llvm-venv),
# PYTHON (default python3, needs >= 3.10).
set -euo pipefail
cd "$(dirname "$0")/.."

readonly wheel_spec='mlc-llvm-static[all]==23.1.1.post0'
readonly venv="${ANIMESCORE_LLVM_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/animescore/llvm-venv}"
readonly python="${PYTHON:-python3}"

die() { echo "setup-cuda-build: $*" >&2; exit 1; }

# The bundler version fixes the folder name and the LLVM major version it expects.
bundler_version=$(awk '/^name = "tracel-llvm-bundler"$/ { getline; gsub(/version = |"/, ""); print; exit }' Cargo.lock)
[[ -n "$bundler_version" ]] || die "tracel-llvm-bundler is not in Cargo.lock (is the cuda feature still in the workspace?)"
wanted_major=${bundler_version%%.*}

install_dir="${XDG_DATA_HOME:-$HOME/.local/share}/tracel/tracel-llvm-${bundler_version}"
marker="$install_dir/.tracel-llvm-installed"

# 1. The wheel, in a venv of its own under the user's cache.
if [[ ! -x "$venv/bin/python" ]]; then
  "$python" -c 'import sys; sys.exit(sys.version_info < (3, 10))' \
    || die "$python is older than 3.10; set PYTHON to a newer interpreter"
  echo "setup-cuda-build: creating $venv"
  "$python" -m venv "$venv"
fi
if ! "$venv/bin/python" -c 'import mlc_llvm_static' 2>/dev/null; then
  echo "setup-cuda-build: installing $wheel_spec (about 1 GB unpacked)"
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check "$wheel_spec"
fi
prefix=$("$venv/bin/python" -m mlc_llvm_static.config --prefix)
[[ -x "$prefix/bin/llvm-config" ]] || die "no bin/llvm-config under $prefix"

# 2. The LLVM version must match what the bundler was built for.
llvm_version=$("$prefix/bin/llvm-config" --version)
[[ "${llvm_version%%.*}" == "$wanted_major" ]] \
  || die "LLVM $llvm_version from $wheel_spec, but tracel-llvm-bundler $bundler_version needs LLVM $wanted_major.x"
"$prefix/bin/llvm-config" --targets-built | grep -qw NVPTX \
  || die "the LLVM under $prefix was built without the NVPTX target (install the [all] extra)"

# 3. The bundler's folder: links into the wheel's install, then the marker.
mkdir -p "$install_dir"
for part in bin include lib; do
  [[ -e "$prefix/$part" ]] || die "missing $prefix/$part"
  ln -sfn "$prefix/$part" "$install_dir/$part"
done
if [[ ! -e "$marker" ]]; then
  printf 'LLVM %s from %s (%s)\n' "$llvm_version" "$wheel_spec" "$prefix" > "$marker.tmp"
  mv "$marker.tmp" "$marker"
fi
echo "setup-cuda-build: LLVM $llvm_version ready in $install_dir for tracel-llvm-bundler $bundler_version"
