# animescore with Burn's CUDA backend.
#
#   docker build -t animescore .
#   docker run --gpus all -it --rm -v /path/to/dataset:/data animescore \
#       train --dataset /data --out /data/runs/first --device cuda:0
#
# Untested: our development machines have no Docker engine and no internet (burn-cuda's build
# downloads an LLVM bundle, so this build needs network access).

FROM nvidia/cuda:12.6.3-devel-ubuntu24.04 AS build
RUN apt-get update && apt-get install -y --no-install-recommends curl ca-certificates build-essential pkg-config \
    && rm -rf /var/lib/apt/lists/*
RUN curl -sSf https://sh.rustup.rs | sh -s -- -y --profile minimal --default-toolchain 1.95.0
ENV PATH=/root/.cargo/bin:$PATH
WORKDIR /src
COPY . .
RUN cargo build --release -p animescore-cli --features cuda

FROM nvidia/cuda:12.6.3-runtime-ubuntu24.04
COPY --from=build /src/target/release/animescore /usr/local/bin/animescore
VOLUME /data
WORKDIR /data
ENTRYPOINT ["animescore"]
CMD ["--help"]
