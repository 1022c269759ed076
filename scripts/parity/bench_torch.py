#!/usr/bin/env python3
"""Side-by-side forward (inference) timing: PyTorch CPU vs animescore (burn flex).

Times torchvision resnet50 and efficientnet_b0 feature extraction (everything but the
classifier) at the same batch, size and thread count as our `forward_timing` example, then
runs that example (release build) and prints ms per forward and the ratio ours / PyTorch.

    python scripts/parity/bench_torch.py [--threads 2] [--batch 8] [--size 224] [--iters 5] [--no-ours]
        [--models resnet50 efficientnet-b0] [--ours-bin PATH/TO/forward_timing]

`--ours-bin` runs an already built `forward_timing` instead of `cargo run` (which, with `-p`,
may resolve features differently from the workspace build and rebuild burn).
"""
import argparse
import os
import subprocess
import time

import torch
import torchvision

MODELS = {"resnet50": "resnet50", "efficientnet-b0": "efficientnet_b0"}


def features(model):
    if hasattr(model, "fc"):
        model.fc = torch.nn.Identity()
    else:
        model.classifier = torch.nn.Identity()
    return model.eval()


def time_torch(name, batch, size, iters):
    model = features(getattr(torchvision.models, MODELS[name])(weights=None))
    x = torch.randn(batch, 3, size, size)
    with torch.inference_mode():
        model(x)  # warm-up
        start = time.perf_counter()
        for _ in range(iters):
            model(x)
        return (time.perf_counter() - start) * 1000 / iters


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--size", type=int, default=224)
    ap.add_argument("--iters", type=int, default=5)
    ap.add_argument("--no-ours", action="store_true")
    ap.add_argument("--models", nargs="+", default=list(MODELS), choices=list(MODELS))
    ap.add_argument("--ours-bin", help="a built forward_timing example (default: cargo run)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)

    torch_ms = {n: time_torch(n, args.batch, args.size, args.iters) for n in args.models}
    ours = {}
    if not args.no_ours:
        if args.ours_bin:
            cmd = [args.ours_bin]
        else:
            cmd = ["cargo", "run", "--release", "-q", "-p", "animescore-backbones", "--example",
                   "forward_timing", "--"]
        cmd += ["--batch", str(args.batch), "--size", str(args.size), "--iters", str(args.iters),
                *args.models]
        env = dict(os.environ, RAYON_NUM_THREADS=str(args.threads))
        out = subprocess.run(cmd, check=True, capture_output=True, text=True, env=env).stdout
        ours = {line.split()[0]: float(line.split()[1]) for line in out.splitlines() if line.strip()}

    print(f"torch {torch.__version__}, threads {args.threads}, batch {args.batch}, "
          f"{args.size}x{args.size}, mean of {args.iters} forwards")
    print(f"{'model':<16}{'pytorch ms':>12}{'ours ms':>10}{'ratio':>8}")
    for n, t in torch_ms.items():
        o = ours.get(n)
        print(f"{n:<16}{t:>12.1f}" + (f"{o:>10.1f}{o / t:>8.2f}" if o else f"{'-':>10}{'-':>8}"))


if __name__ == "__main__":
    main()
