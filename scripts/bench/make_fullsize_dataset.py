#!/usr/bin/env python3
"""Full-size and thumbnail copies of a synthetic dataset, to measure what image decoding costs.

Takes a dataset folder written by `animescore synth DIR` (shard folders of `<id>_p<n>.png|jpg`
images with gallery-dl `<id>_p<n>.<ext>.json` metadata beside them, `character_aliases.csv` at
the top) and writes two new dataset folders with the same artworks:

  FULL   every image re-rendered at 1200×1700 px (--width/--height): the synthetic picture
         stretched up (animescore stretch-resizes to a square, so the content the model sees
         is unchanged), with smooth shading, antialiased line-art strokes, a screentone patch
         and per-pixel grain, so that it compresses like an illustration (PNG about 2–6 MB,
         JPEG quality 92, 4:4:4, about 0.5–1.5 MB). Half of the images are written as PNG and half as
         JPEG (.jpg), whatever they were before.
  SMALL  the same rendered images shrunk to 64×64 (--small-size), each in its FULL format.

Metadata files are copied under their own names (the scanner pairs `X.jpg.json` with `X.png`
and the other way round, by base name), with `width`/`height` set to the new size; every other
non-hidden file (character_aliases.csv) is copied as is. Hidden files and folders (`.database`)
are skipped: run `animescore ingest` on each output.

    python3 scripts/bench/make_fullsize_dataset.py SRC --full FULL_DIR --small SMALL_DIR [--jobs N]

Needs Pillow and numpy.
"""
import argparse
import json
import math
import multiprocessing as mp
import os
import shutil
import sys
import time
import zlib
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

# The scanner's image extensions, in its order of preference (crates/dataset/src/scan.rs).
IMAGE_EXTENSIONS = ("png", "jpg", "jpeg")
MARKER = ".make_fullsize_dataset"


def classify(name):
    """(base, kind, rank) as crates/dataset/src/scan.rs pairs files; None for other files."""
    if name.endswith(".json"):
        stem = name[: -len(".json")]
        base, dot, ext = stem.rpartition(".")
        if not (dot and ext.lower() in IMAGE_EXTENSIONS):
            base = stem
        return (base, "metadata", None) if base else None
    base, dot, ext = name.rpartition(".")
    if dot and base and ext.lower() in IMAGE_EXTENSIONS:
        return base, "image", IMAGE_EXTENSIONS.index(ext.lower())
    return None


def walk(src):
    """Images to render (one per folder and base name: the one the scanner would pick),
    metadata files, other files, and images left out because a preferred one shares the name."""
    images, metadata, others, shadowed = [], [], [], []
    for folder, dirs, files in os.walk(src):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        best = {}
        for name in sorted(files):
            if name.startswith("."):
                continue
            rel = Path(folder, name).relative_to(src)
            c = classify(name)
            if c is None:
                others.append(rel)
            elif c[1] == "metadata":
                metadata.append(rel)
            else:
                base, _, rank = c
                if base in best:
                    keep, drop = sorted([best[base], (rank, rel)])
                    best[base] = keep
                    shadowed.append(drop[1])
                else:
                    best[base] = (rank, rel)
        images.extend(rel for _, rel in best.values())
    images.sort()
    return images, metadata, others, shadowed


def smooth_field(rng, w, h, cells, channels):
    """Low-frequency noise in [-1, 1]: a coarse random grid upscaled bicubically."""
    grid = rng.integers(0, 256, size=(cells[1], cells[0], channels), dtype=np.uint8)
    mode = "RGB" if channels == 3 else "L"
    img = Image.fromarray(grid if channels == 3 else grid[:, :, 0], mode)
    a = np.asarray(img.resize((w, h), Image.BICUBIC), dtype=np.float32)
    a = (a - 127.5) / 127.5
    return a if channels == 3 else a[:, :, None]


def strokes(rng, w, h, count):
    """Antialiased line art: random smooth curves, as an ink coverage map in [0, 1]."""
    layer = Image.new("L", (w, h), 0)
    draw = ImageDraw.Draw(layer)
    for _ in range(count):
        x, y = rng.uniform(0, w), rng.uniform(0, h)
        angle = rng.uniform(0, 2 * math.pi)
        step = rng.uniform(6, 30)
        points = [(x, y)]
        for _ in range(int(rng.integers(6, 40))):
            angle += rng.normal(0, 0.35)
            x += step * math.cos(angle)
            y += step * math.sin(angle)
            points.append((x, y))
        width = int(rng.choice([1, 2, 2, 3, 3, 4, 6]))
        draw.line(points, fill=int(rng.integers(150, 256)), width=width, joint="curve")
    layer = layer.filter(ImageFilter.GaussianBlur(0.8))
    return np.asarray(layer, dtype=np.float32)[:, :, None] / 255.0


def screentone(rng, w, h):
    """A dotted or hatched patch (manga screentone) as coverage in [0, 1]."""
    x0, y0 = int(rng.uniform(0, w * 0.6)), int(rng.uniform(0, h * 0.6))
    pw, ph = int(rng.uniform(w * 0.15, w * 0.4)), int(rng.uniform(h * 0.1, h * 0.3))
    yy, xx = np.mgrid[0:ph, 0:pw].astype(np.float32)
    period = rng.uniform(5, 9)
    if rng.random() < 0.5:
        tone = ((np.sin(xx * 2 * math.pi / period) * np.sin(yy * 2 * math.pi / period)) > 0.3)
    else:
        tone = (((xx + yy) % period) < period * 0.35)
    out = np.zeros((h, w, 1), dtype=np.float32)
    out[y0:y0 + ph, x0:x0 + pw, 0] = tone.astype(np.float32) * 0.5
    return out


def render(src_img, w, h, rng, grain):
    """The synthetic picture at w×h with illustration-like detail, as uint8 RGB."""
    a = np.asarray(src_img.convert("RGB").resize((w, h), Image.BICUBIC), dtype=np.float32)
    a += 18.0 * smooth_field(rng, w, h, (5, 7), 3)          # colour shading
    a += 10.0 * smooth_field(rng, w, h, (40, 56), 1)        # brush texture
    tone = screentone(rng, w, h)
    a = a * (1.0 - tone) + 30.0 * tone
    ink = strokes(rng, w, h, int(rng.integers(120, 220)))
    ink_colour = rng.uniform(10, 70, size=3).astype(np.float32)
    a = a * (1.0 - ink) + ink_colour * ink
    a += rng.normal(0.0, grain, size=a.shape).astype(np.float32)  # paper / sensor grain
    return np.clip(a + 0.5, 0, 255).astype(np.uint8)


def save(img, path, fmt, jpeg):
    """Writes `img` as PNG or JPEG (`jpeg`: quality, Pillow subsampling code); returns bytes."""
    if fmt == "png":
        img.save(path, format="PNG")  # Pillow's default compression level (6)
    else:
        img.save(path, format="JPEG", quality=jpeg[0], subsampling=jpeg[1])
    return path.stat().st_size


def work(task):
    rel, out_rel, fmt, seed, opt = task
    rng = np.random.default_rng(seed)
    w = opt["width"]
    h = opt["height"]
    if opt["vary"] > 0:
        f = 1.0 + rng.uniform(0, opt["vary"])
        w, h = int(w * f), int(h * f)
    try:
        with Image.open(opt["src"] / rel) as src_img:
            src_img.load()
            full = Image.fromarray(render(src_img, w, h, rng, opt["grain"]), "RGB")
    except Exception as e:  # noqa: BLE001 - an unreadable input is reported, not fatal
        return rel, None, f"{type(e).__name__}: {e}"
    sizes = []
    for root, img in ((opt["full"], full), (opt["small"], None)):
        if img is None:
            s = opt["small_size"]
            img = full.resize((s, s), Image.BOX)
        path = root / out_rel
        path.parent.mkdir(parents=True, exist_ok=True)
        sizes.append(save(img, path, fmt, (opt["quality"], opt["subsampling"])))
    return rel, (fmt, sizes[0], sizes[1], w, h), None


def copy_metadata(src, dst, rel, size):
    """The metadata file with width/height set to `size` when it is a JSON object that has them;
    byte for byte otherwise."""
    raw = (src / rel).read_bytes()
    out = raw
    try:
        meta = json.loads(raw.decode("utf-8"))
        if isinstance(meta, dict) and ("width" in meta or "height" in meta):
            meta["width"], meta["height"] = size
            out = json.dumps(meta, ensure_ascii=False, indent=2).encode("utf-8")
    except (UnicodeDecodeError, ValueError):
        pass
    path = dst / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(out)


def prepare_out(path, force):
    if path.exists() and any(path.iterdir()):
        if not force:
            sys.exit(f"make_fullsize_dataset: {path} is not empty (use --force to replace a "
                     "folder this script wrote)")
        if not (path / MARKER).exists():
            sys.exit(f"make_fullsize_dataset: {path} was not written by this script; "
                     "not removing it")
        shutil.rmtree(path)
    path.mkdir(parents=True, exist_ok=True)
    (path / MARKER).write_text("written by scripts/bench/make_fullsize_dataset.py\n")


def mib(n):
    return n / 2**20


def describe(label, rows, col):
    for fmt in ("png", "jpg"):
        sizes = [r[col] for r in rows if r[0] == fmt]
        if sizes:
            print(f"  {label:<5} {fmt}: {len(sizes):>5} files, mean {mib(sum(sizes) / len(sizes)):7.3f} "
                  f"MiB, min {mib(min(sizes)):7.3f}, max {mib(max(sizes)):7.3f}, "
                  f"total {mib(sum(sizes)):9.1f} MiB")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("src", type=Path, help="dataset folder written by `animescore synth`")
    ap.add_argument("--full", type=Path, required=True, help="folder for the full-size copy")
    ap.add_argument("--small", type=Path, required=True, help="folder for the 64×64 copy")
    ap.add_argument("--width", type=int, default=1200)
    ap.add_argument("--height", type=int, default=1700)
    ap.add_argument("--vary", type=float, default=0.0,
                    help="grow each image by a random factor up to 1+VARY (0: all the same size)")
    ap.add_argument("--small-size", type=int, default=64)
    ap.add_argument("--jpeg-fraction", type=float, default=0.5, help="share written as JPEG")
    ap.add_argument("--quality", type=int, default=92, help="JPEG quality")
    ap.add_argument("--subsampling", default="4:4:4", choices=["4:4:4", "4:2:2", "4:2:0"],
                    help="JPEG chroma subsampling (4:4:4, as high-quality exports use)")
    ap.add_argument("--grain", type=float, default=5.0,
                    help="per-pixel noise σ (sets how well the images compress)")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--jobs", type=int, default=os.cpu_count())
    ap.add_argument("--force", action="store_true",
                    help="replace output folders that this script wrote before")
    args = ap.parse_args()

    src = args.src.resolve()
    if not src.is_dir():
        sys.exit(f"make_fullsize_dataset: {src} is not a folder")
    full, small = args.full.resolve(), args.small.resolve()
    for out in (full, small):
        if out == src or src in out.parents or out in src.parents:
            sys.exit(f"make_fullsize_dataset: {out} overlaps the source {src}")
    if full == small:
        sys.exit("make_fullsize_dataset: --full and --small must differ")
    started = time.perf_counter()
    images, metadata, others, shadowed = walk(src)
    if not images:
        sys.exit(f"make_fullsize_dataset: no PNG or JPEG image under {src}")
    prepare_out(full, args.force)
    prepare_out(small, args.force)

    opt = {"src": src, "full": full, "small": small, "width": args.width,
           "height": args.height, "vary": args.vary, "small_size": args.small_size,
           "quality": args.quality, "grain": args.grain,
           "subsampling": {"4:4:4": 0, "4:2:2": 1, "4:2:0": 2}[args.subsampling]}
    tasks = []
    for i, rel in enumerate(images):
        as_jpeg = math.floor((i + 1) * args.jpeg_fraction) > math.floor(i * args.jpeg_fraction)
        fmt = "jpg" if as_jpeg else "png"
        base = classify(rel.name)[0]
        # A seed per file from its path, so the output does not depend on --jobs.
        seed = (args.seed << 32) ^ zlib.crc32(str(rel).encode("utf-8"))
        tasks.append((rel, rel.with_name(f"{base}.{fmt}"), fmt, seed, opt))

    done, failed, sizes_by_base = [], [], {}
    with mp.Pool(max(1, args.jobs)) as pool:
        for rel, result, error in pool.imap_unordered(work, tasks, chunksize=1):
            if error:
                failed.append((rel, error))
            else:
                done.append(result)
                sizes_by_base[(rel.parent, classify(rel.name)[0])] = result

    for rel in metadata:
        r = sizes_by_base.get((rel.parent, classify(rel.name)[0]))
        copy_metadata(src, full, rel, (r[3], r[4]) if r else (args.width, args.height))
        copy_metadata(src, small, rel, (args.small_size, args.small_size))
    for rel in others:
        for out in (full, small):
            (out / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src / rel, out / rel)

    secs = time.perf_counter() - started
    print(f"{src}: {len(images)} images, {len(metadata)} metadata files, {len(others)} other "
          f"files; {len(done)} rendered in {secs:.1f} s with {args.jobs} processes")
    describe("FULL", done, 1)
    describe("SMALL", done, 2)
    print(f"  FULL  {full}: {mib(sum(r[1] for r in done)):.1f} MiB of images")
    print(f"  SMALL {small}: {mib(sum(r[2] for r in done)):.1f} MiB of images")
    for rel in shadowed:
        print(f"  left out {rel}: another image has the same base name", file=sys.stderr)
    for rel, error in failed:
        print(f"  failed {rel}: {error}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
