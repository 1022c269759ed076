#!/usr/bin/env python3
"""Pillow + numpy counterpart of `examples/decode_timing` (crates/backbones): decode, letterbox
(or stretch) to SIZE × SIZE with Pillow's bilinear filter (a convolution whose support widens
with the reduction, like ours), normalise with the ImageNet mean/std into channel-first
float32, on N processes.

    python3 scripts/bench/pillow_decode.py [--size 224] [--mode letterbox|stretch]
        [--processes 2] [--draft] --list FILE

--draft lets Pillow's JPEG decoder reduce in the DCT domain (`Image.draft`), as ours does;
without it Pillow decodes at full size, as `Image.open(...).convert("RGB")` code does.
Prints `images seconds images_per_second` (the pool is started and warmed before timing).
"""
import argparse
import multiprocessing as mp
import sys
import time

import numpy as np
from PIL import Image

MEAN = np.array([0.485, 0.456, 0.406], dtype=np.float32)
STD = np.array([0.229, 0.224, 0.225], dtype=np.float32)
ARGS = None


def load(path):
    size, mode, draft = ARGS
    try:
        with Image.open(path) as im:
            if draft:
                if mode == "stretch":
                    im.draft("RGB", (size, size))
                else:
                    s = size / max(im.size)
                    im.draft("RGB", (max(1, round(im.size[0] * s)), max(1, round(im.size[1] * s))))
            im = im.convert("RGB")
        if mode == "stretch":
            out = im.resize((size, size), Image.BILINEAR)
        else:
            s = size / max(im.size)
            w, h = max(1, round(im.size[0] * s)), max(1, round(im.size[1] * s))
            inner = im.resize((w, h), Image.BILINEAR)
            fill = tuple(int(round(m * 255)) for m in MEAN)
            out = Image.new("RGB", (size, size), fill)
            out.paste(inner, ((size - w) // 2, (size - h) // 2))
        chw = ((np.asarray(out, dtype=np.float32) / 255.0 - MEAN) / STD).transpose(2, 0, 1)
        return chw.shape[0] == 3
    except Exception as e:  # noqa: BLE001 - counted, like the Rust side
        print(f"{path}: {e}", file=sys.stderr)
        return False


def init(args):
    global ARGS
    ARGS = args


def noop(_):
    return 0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--size", type=int, default=224)
    ap.add_argument("--mode", choices=["letterbox", "stretch"], default="letterbox")
    ap.add_argument("--processes", type=int, default=2)
    ap.add_argument("--draft", action="store_true")
    ap.add_argument("--list", required=True)
    a = ap.parse_args()
    files = [l for l in open(a.list).read().splitlines() if l]
    args = (a.size, a.mode, a.draft)
    with mp.Pool(a.processes, initializer=init, initargs=(args,)) as pool:
        pool.map(noop, range(a.processes * 4))  # workers started and importing done
        start = time.perf_counter()
        done = sum(pool.imap_unordered(load, files, chunksize=4))
        seconds = time.perf_counter() - start
    print(f"{done} {seconds:.3f} {done / seconds:.1f}")


if __name__ == "__main__":
    main()
