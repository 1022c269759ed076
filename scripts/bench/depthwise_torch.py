#!/usr/bin/env python3
"""PyTorch CPU side of crates/backbones/examples/depthwise_repro.rs: the same depthwise
convolutions (EfficientNet-B0 at 224 px, batch 8) and the same SiLU / ReLU / affine on
[8, 96, 112, 112], ms per call (mean of --iters after one warm-up), on --threads threads.

    python scripts/bench/depthwise_torch.py --threads 2 [--iters 10]
"""
import argparse
import time

import torch
import torch.nn.functional as F

SHAPES = [(32, 112, 3, 1, 1), (96, 112, 3, 2, 1), (144, 56, 3, 1, 1), (144, 56, 5, 2, 1),
          (240, 28, 5, 1, 1), (240, 28, 3, 2, 1), (480, 14, 3, 1, 2), (480, 14, 5, 1, 1),
          (672, 14, 5, 1, 2), (672, 14, 5, 2, 1), (1152, 7, 5, 1, 3), (1152, 7, 3, 1, 1)]


def timed(iters, f):
    f()
    start = time.perf_counter()
    for _ in range(iters):
        f()
    return (time.perf_counter() - start) * 1000 / iters


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--iters", type=int, default=10)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    b = 8
    total = 0.0
    print(f"torch {torch.__version__}, {args.threads} threads, batch {b}, ms per call")
    with torch.inference_mode():
        for c, hw, k, s, count in SHAPES:
            x = torch.randn(b, c, hw, hw)
            w = torch.randn(c, 1, k, k) * 0.3
            t = timed(args.iters, lambda: F.conv2d(x, w, None, s, (k - 1) // 2, 1, c))
            total += t * count
            print(f"{c:>5} {hw:>4} {k:>2} {s:>2} {t:>10.2f}")
        print(f"all depthwise convs of one forward: {total:.1f} ms")
        x = torch.randn(b, 96, 112, 112)
        silu = timed(args.iters, lambda: F.silu(x))
        relu = timed(args.iters, lambda: F.relu(x))
        affine = timed(args.iters, lambda: x * 2.0 + 1.0)
        print(f"[8, 96, 112, 112]: silu {silu:.2f} ms, relu {relu:.2f} ms, x*2+1 {affine:.2f} ms")


if __name__ == "__main__":
    main()
