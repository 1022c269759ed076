#!/usr/bin/env python3
"""Regenerates tests/data/images/: odd-but-valid and broken image files for the hostile-input
tests (crates/training/tests/hostile.rs). Deterministic; needs Pillow. The expected outcome of
each file is in its name: `ok_*` must load, `bad_*` must be refused with an error."""

import io
import struct
import zlib
from pathlib import Path

from PIL import Image

OUT = Path(__file__).resolve().parent.parent / "tests" / "data" / "images"


def gradient(mode, size=(24, 16)):
    img = Image.new("RGB", size)
    img.putdata([(x * 10 % 256, y * 15 % 256, (x + y) * 7 % 256)
                 for y in range(size[1]) for x in range(size[0])])
    return img if mode == "RGB" else img.convert(mode)


def encode(img, fmt, **kw):
    buf = io.BytesIO()
    img.save(buf, fmt, **kw)
    return buf.getvalue()


def chunk(kind, data):
    body = kind + data
    return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))


def png_bomb(side):
    """A valid-looking PNG whose header claims side×side pixels with a tiny IDAT."""
    ihdr = struct.pack(">IIBBBBB", side, side, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\x00" * 1024, 9)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def main():
    OUT.mkdir(parents=True, exist_ok=True)
    png = encode(gradient("RGB"), "PNG")
    jpg = encode(gradient("RGB"), "JPEG", quality=80)
    # Larger noisy images, so that a cut lands inside the pixel data rather than the headers.
    noise = Image.frombytes("RGB", (64, 64), bytes((i * 7919 + (i >> 5) * 104729) % 251 for i in range(64 * 64 * 3)))
    big_jpg = encode(noise, "JPEG", quality=90)
    big_png = encode(noise, "PNG")
    frames = [gradient("RGB"), gradient("RGB").transpose(Image.FLIP_LEFT_RIGHT)]
    files = {
        # Valid but unusual: must load.
        "ok_rgb.png": png,
        "ok_rgb.jpg": jpg,
        "ok_png_named.jpg": png,
        "ok_jpeg_named.png": jpg,
        "ok_palette.png": encode(gradient("P"), "PNG"),
        "ok_grey16.png": encode(gradient("L").convert("I;16"), "PNG"),
        "ok_rgba.png": encode(gradient("RGBA"), "PNG"),
        "ok_grey.jpg": encode(gradient("L"), "JPEG"),
        "ok_cmyk.jpg": encode(gradient("CMYK"), "JPEG"),
        "ok_animated.png": encode(frames[0], "PNG", save_all=True,
                                  append_images=frames[1:], duration=100),
        "ok_uppercase.JPG": jpg,
        # Broken or hostile: must be an error naming the file.
        "bad_truncated.png": png[: len(png) // 2],
        "bad_truncated.jpg": jpg[: len(jpg) // 2],
        "bad_empty.png": b"",
        "bad_empty.jpg": b"",
        "bad_text.png": b"this is not an image, just text\n",
        "bad_html.jpg": b"<!doctype html><html><body>404 Not Found</body></html>\n",
        "bad_animated.gif": encode(frames[0], "GIF", save_all=True,
                                   append_images=frames[1:], duration=100),
        "bad_bomb_60000.png": png_bomb(60000),
        "bad_bomb_16385.png": png_bomb(16385),
        "bad_bomb_16000.png": png_bomb(16000),  # within the side limit, over the memory one
        # The JPEG decoder (zune-jpeg, non-strict in `image`) fills a cut scan with grey;
        # `load_image` refuses JPEGs without an end-of-image marker for that reason.
        "bad_truncated_scan.jpg": big_jpg[: len(big_jpg) * 9 // 10],
        "bad_truncated_scan.png": big_png[: len(big_png) * 9 // 10],
        "bad_png_header_only.png": png[:33],
        "bad_jpeg_soi_only.jpg": b"\xff\xd8\xff",
        "bad_corrupt_idat.png": png[:41] + bytes(b ^ 0x5A for b in png[41:-12]) + png[-12:],
    }
    for name, data in files.items():
        (OUT / name).write_bytes(data)
    total = sum(len(d) for d in files.values())
    print(f"{len(files)} files, {total} bytes in {OUT}")


if __name__ == "__main__":
    main()
