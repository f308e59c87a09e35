#!/usr/bin/env python3
"""Copies of an image as a social-media pipeline makes them, written by an encoder Proofmark did not write
(Pillow, pinned in scripts/requirements-checkers.txt). Used by the recall tests and the verify benchmark.

    social_copies.py INPUT OUT_DIR [NAME ...]

writes OUT_DIR/NAME.EXT for each transformation named (default: all) and prints one line per copy:
NAME<TAB>PATH<TAB>WIDTHxHEIGHT. Every copy is re-encoded and carries no metadata (no EXIF, XMP, ICC).
"""
import io
import sys
from pathlib import Path

from PIL import Image


def rgb(im):
    return im.convert("RGB")


def jpeg(im, quality):
    buf = io.BytesIO()
    rgb(im).save(buf, "JPEG", quality=quality)
    buf.seek(0)
    return Image.open(buf)


def resize(im, factor):
    w, h = im.size
    return im.resize((max(1, round(w * factor)), max(1, round(h * factor))), Image.Resampling.LANCZOS)


def crop(im, share):
    """Cut `share` of the width and the height, split between the edges (10 %: 5 % each side)."""
    w, h = im.size
    dx, dy = round(w * share / 2), round(h * share / 2)
    return im.crop((dx, dy, w - dx, h - dy))


def screenshot(im):
    """Shown at 125 % on a screen and captured: upscaled (bicubic), then saved as JPEG 85."""
    w, h = im.size
    return jpeg(im.resize((round(w * 1.25), round(h * 1.25)), Image.Resampling.BICUBIC), 85)


# name -> (function, format to save, save options)
TRANSFORMS = {
    "jpeg_q60": (lambda im: im, "JPEG", {"quality": 60}),
    "resize_half": (lambda im: resize(im, 0.5), "JPEG", {"quality": 90}),
    "crop_10": (lambda im: crop(im, 0.10), "JPEG", {"quality": 90}),
    "screenshot": (screenshot, "JPEG", {"quality": 85}),
    "metadata_stripped": (lambda im: im, "JPEG", {"quality": 95}),
    "webp_q75": (lambda im: im, "WEBP", {"quality": 75}),
    "chained": (lambda im: crop(jpeg(resize(im, 0.75), 70), 0.06), "WEBP", {"quality": 80}),
    "social": (lambda im: crop(resize(im, 0.6), 0.05), "JPEG", {"quality": 80}),
}
EXT = {"JPEG": "jpg", "WEBP": "webp"}


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    src, out = Path(sys.argv[1]), Path(sys.argv[2])
    names = sys.argv[3:] or list(TRANSFORMS)
    out.mkdir(parents=True, exist_ok=True)
    original = Image.open(src)
    original.load()
    for name in names:
        fn, fmt, options = TRANSFORMS[name]
        copy = rgb(fn(original))
        path = out / f"{name}.{EXT[fmt]}"
        # No exif=, icc_profile= or xmp=: Pillow writes none of them unless asked.
        copy.save(path, fmt, **options)
        print(f"{name}\t{path}\t{copy.size[0]}x{copy.size[1]}")


if __name__ == "__main__":
    main()
