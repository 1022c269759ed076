# animescore with Burn's CUDA backend.
#
#   docker build -t animescore .
#   docker run --gpus all -it --rm -v /path/to/dataset:/data animescore \
#       train --dataset /data --out /data/runs/first --device cuda:0
#
# Untested: our development machines have no Docker engine. With internet access, burn-cuda's
# build script downloads its LLVM bundle by itself. Offline (PyPI reachable, GitHub not), run
# `bash scripts/setup-cuda-build.sh` before the cargo build: it installs LLVM 23 from PyPI
# (mlc-llvm-static) where that build script looks for it, so nothing is downloaded at build time.
# The runtime image needs only the driver's libcuda.so.1 (the NVIDIA container runtime mounts it).

FROM nvidia/cuda:12.6.3-devel-ubuntu24.04 AS build
RUN apt-get update && apt-get install -y --no-install-recommends curl ca-certificates build-essential pkg-config \
    && rm -rf /var/lib/apt/lists/*
RUN curl -sSf https://sh.rustup.rs | sh -s -- -y --profile minimal --default-toolchain 1.95.0
ENV PATH=/root/.cargo/bin:$PATH
WORKDIR /src
COPY . .
RUN cargo build --release -p animescore-cli --features cuda,vulkan

FROM nvidia/cuda:12.6.3-runtime-ubuntu24.04
COPY --from=build /src/target/release/animescore /usr/local/bin/animescore
VOLUME /data
WORKDIR /data
ENTRYPOINT ["animescore"]
CMD ["--help"]
