#!/usr/bin/env python3
"""Streaming `predict` at scale: images/s and peak RSS for 1k vs 50k tiny images, a kill -9
followed by `--resume`, and a 3-way shard that must cover every image exactly once.

Usage: scripts/bench/predict_scale.py [--bin target/release/animescore] [--counts 1000,50000]
                                      [--work DIR]

A tiny model (`tiny` backbone, 32 px, 1 epoch on 60 synthetic images) scores copies of one
32 px PNG (1000 per folder). Peak RSS is the child's ru_maxrss (Linux: KiB). Prints one
Markdown table row per count and the kill/resume and shard results.
"""

import argparse
import os
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time


def run(cmd, **kw):
    return subprocess.run(cmd, check=True, capture_output=True, text=True, **kw)


def make_images(src, folder, n):
    os.makedirs(folder, exist_ok=True)
    for i in range(n):
        sub = os.path.join(folder, f"{i // 1000:04d}")
        if i % 1000 == 0:
            os.makedirs(sub, exist_ok=True)
        shutil.copyfile(src, os.path.join(sub, f"{i:07d}.png"))


def timed_predict(binary, args):
    """Runs predict as a child; returns (seconds, peak RSS MiB of that child)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    started = time.monotonic()
    proc = subprocess.run([binary, "predict", *args], capture_output=True, text=True)
    seconds = time.monotonic() - started
    if proc.returncode != 0:
        sys.exit(f"predict failed: {proc.stderr}")
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    # ru_maxrss of children is the maximum over all waited-for children: only meaningful
    # when this child is the largest so far, so each count runs in a fresh interpreter.
    return seconds, max(peak, before) / 1024.0


def rows(path):
    with open(path) as f:
        return [line for line in f.read().splitlines()[1:] if line]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", default="target/release/animescore")
    ap.add_argument("--counts", default="1000,50000")
    ap.add_argument("--work", default=None)
    ap.add_argument("--one", type=int, default=None, help=argparse.SUPPRESS)
    a = ap.parse_args()
    binary = os.path.abspath(a.bin)
    work = a.work or tempfile.mkdtemp(prefix="predict-scale-")
    run_dir = os.path.join(work, "run")
    data = os.path.join(work, "data")
    if not os.path.exists(os.path.join(run_dir, "summary.json")):
        run([binary, "synth", data, "--count", "60", "--size", "32", "--seed", "1"])
        run([binary, "ingest", data])
        run([binary, "train", "--dataset", data, "--out", run_dir, "--backbone", "tiny",
             "--image-size", "32", "--epochs", "1", "--batch-size", "16",
             "--variant", "multitask", "--embedding", "none"])
    src = next(os.path.join(r, f) for r, _, fs in os.walk(data) if ".database" not in r
               for f in fs if f.endswith(".png"))

    if a.one is not None:
        # One measurement in this (fresh) interpreter, so ru_maxrss is this run's alone.
        n = a.one
        folder = os.path.join(work, f"images-{n}")
        if not os.path.isdir(folder):
            make_images(src, folder, n)
        out = os.path.join(work, f"scores-{n}.csv")
        secs, rss = timed_predict(binary, ["--model", run_dir, "--batch-size", "32",
                                           "--out", out, folder])
        assert len(rows(out)) == n, f"{len(rows(out))} rows for {n} images"
        print(f"| {n} | {secs:.1f} s | {n / secs:.0f} | {rss:.0f} MiB |", flush=True)
        return

    print("| images | wall | images/s | peak RSS |\n|---:|---:|---:|---:|", flush=True)
    for n in [int(c) for c in a.counts.split(",")]:
        subprocess.run([sys.executable, __file__, "--bin", binary, "--work", work,
                        "--one", str(n)], check=True)

    # kill -9 a third of the way through the largest set, then --resume: exactly the clean
    # run's file.
    n = max(int(c) for c in a.counts.split(","))
    folder = os.path.join(work, f"images-{n}")
    clean = os.path.join(work, f"scores-{n}.csv")
    killed = os.path.join(work, "killed.csv")
    if os.path.exists(killed):
        os.remove(killed)
    third = os.path.getsize(clean) // 3
    args = [binary, "predict", "--model", run_dir, "--batch-size", "32", "--out", killed, folder]
    child = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    while child.poll() is None:
        if os.path.exists(killed) and os.path.getsize(killed) > third:
            break
        time.sleep(0.01)
    child.send_signal(signal.SIGKILL)
    child.wait()
    with open(killed, "rb") as f:
        data_bytes = f.read()
    kept = data_bytes.count(b"\n") - 1
    tail = len(data_bytes) - (data_bytes.rfind(b"\n") + 1)
    started = time.monotonic()
    run(args + ["--resume"])
    resumed = time.monotonic() - started
    same = open(killed).read() == open(clean).read()
    print(f"\n{n} images: kill -9 after {kept} complete rows (+{tail} bytes of a partial row); "
          f"--resume scored the rest in {resumed:.1f} s: {len(rows(killed))} rows, "
          f"byte-identical to the clean run: {same}")

    # Three shards: every image exactly once.
    seen = []
    sizes = []
    for k in (1, 2, 3):
        part = os.path.join(work, f"shard{k}.csv")
        run([binary, "predict", "--model", run_dir, "--shard", f"{k}/3", "--out", part, folder])
        r = rows(part)
        sizes.append(len(r))
        seen.extend(line.split(",")[0] for line in r)
    every = sorted(seen) == sorted(line.split(",")[0] for line in rows(clean))
    print(f"{n} images, shards 1/3, 2/3, 3/3: {sizes} rows; {len(seen)} in all, "
          f"{len(set(seen))} distinct, every image exactly once: {every}")


if __name__ == "__main__":
    main()
