#!/usr/bin/env python3
"""Golden pHash vectors from Python imagehash (SPEC §3.1).

usage: phash_golden.py OUT_DIR [IMAGES_DIR]

Writes OUT_DIR/<name> for every derived variant of every image in IMAGES_DIR (default ../shared/images)
and OUT_DIR/golden.tsv: `file<TAB>imagehash.phash hex`, one line per file (the originals are listed with
their path relative to IMAGES_DIR, prefixed `shared:`). The first lines are comments with the versions.
Variants: JPEG q95/q75/q50 (4:2:0), palette PNG, RGBA PNG, alpha-gradient PNG, 16-bit grey PNG (also with
tRNS), 16-bit RGB PNG, Adam7-interlaced PNGs (8-bit RGB, 16-bit RGB, grey+alpha; written by pypng), grey PNG,
a tiny 7x5 PNG, a 256-colour GIF and an animated GIF with transparency (first frame), and uniform grey /
black / white images; plus dct.tsv (see below).
"""
import os
import sys

import imagehash
import numpy as np
import PIL
import png as pypng
from PIL import Image


def strip_adobe(data: bytes) -> bytes:
    """The JPEG without its Adobe APP14 segment(s)."""
    out, i = bytearray(data[:2]), 2
    while data[i + 1] != 0xDA:
        length = int.from_bytes(data[i + 2 : i + 4], "big")
        segment = data[i : i + 2 + length]
        if not (data[i + 1] == 0xEE and segment[4:9] == b"Adobe"):
            out += segment
        i += 2 + length
    return bytes(out + data[i:])


def main() -> int:
    out = sys.argv[1]
    images = sys.argv[2] if len(sys.argv) > 2 else os.path.join(os.path.dirname(__file__), "..", "..", "shared", "images")
    os.makedirs(out, exist_ok=True)
    rows = []

    def add(label: str, path: str) -> None:
        with Image.open(path) as im:
            rows.append((label, str(imagehash.phash(im))))

    for name in sorted(os.listdir(images)):
        if not name.lower().endswith((".png", ".jpg", ".jpeg")):
            continue
        src = os.path.join(images, name)
        add(f"shared:{name}", src)
        stem = os.path.splitext(name)[0]
        with Image.open(src) as im:
            im.load()
            rgb = im.convert("RGB")
            for q in (95, 75, 50):
                p = os.path.join(out, f"{stem}.q{q}.jpg")
                rgb.save(p, "JPEG", quality=q, subsampling="4:2:0")
                add(os.path.basename(p), p)
            variants = {
                "palette.png": rgb.quantize(colors=64),
                "rgba.png": rgb.convert("RGBA"),
                "grey.png": rgb.convert("L"),
                "tiny.png": rgb.resize((7, 5), Image.Resampling.BILINEAR),
            }
            alpha = rgb.convert("RGBA")
            a = np.array(alpha)
            a[..., 3] = np.linspace(0, 255, a.shape[1], dtype=np.uint8)[None, :]
            variants["alpha-gradient.png"] = Image.fromarray(a, "RGBA")
            for suffix, img in variants.items():
                p = os.path.join(out, f"{stem}.{suffix}")
                img.save(p, "PNG")
                add(os.path.basename(p), p)
            # GIF, first frame: a 256-colour image, and one with a transparent index and a smaller frame
            # offset on its canvas (a second frame follows and must be ignored).
            p = os.path.join(out, f"{stem}.gif")
            rgb.quantize(colors=256).save(p, "GIF")
            add(os.path.basename(p), p)
            for q, lossless in ((75, False), (90, False), (100, True)):
                kind = "lossless" if lossless else f"q{q}"
                p = os.path.join(out, f"{stem}.{kind}.webp")
                rgb.save(p, "WEBP", quality=q, lossless=lossless)
                add(os.path.basename(p), p)
            p = os.path.join(out, f"{stem}.alpha.webp")
            variants["alpha-gradient.png"].save(p, "WEBP", quality=80)
            add(os.path.basename(p), p)
            small = rgb.resize((max(1, rgb.width // 2), max(1, rgb.height // 2))).quantize(colors=32)
            p = os.path.join(out, f"{stem}.anim.gif")
            small.save(p, "GIF", save_all=True, append_images=[small.rotate(90)], transparency=3, duration=100)
            add(os.path.basename(p), p)
            # CMYK JPEGs (Pillow writes the Adobe marker, inverted samples) and the same file with the marker
            # removed; Pillow's RGB of each beside it, for the colour decoder's pixel-exact test.
            p = os.path.join(out, f"{stem}.cmyk.jpg")
            rgb.convert("CMYK").save(p, "JPEG", quality=90)
            add(os.path.basename(p), p)
            bare = os.path.join(out, f"{stem}.cmyk-noadobe.jpg")
            with open(p, "rb") as f_in, open(bare, "wb") as f_out:
                f_out.write(strip_adobe(f_in.read()))
            add(os.path.basename(bare), bare)
            for q in (p, bare):
                with Image.open(q) as cmyk:
                    cmyk.convert("RGB").save(q[: -len(".jpg")] + ".rgb.png", "PNG")
            # PNGs Pillow cannot write (pypng does): 16-bit RGB with low bytes that must be ignored, and
            # Adam7-interlaced 8-bit RGB, 16-bit RGB and grey+alpha (decoded in passes, not row by row).
            arr = np.array(rgb, dtype=np.uint16)
            rgb16 = arr * 256 + (arr * 7 + 13) % 256
            grey_alpha = np.stack([np.array(rgb.convert("L")), a[..., 3]], axis=-1)
            pngs = [("rgb16.png", rgb16, 16, False, False, False)]
            if rgb.width * rgb.height <= 400_000:  # pypng is pure Python: interlacing a large image is slow
                pngs += [
                    ("interlaced.png", np.array(rgb), 8, False, False, True),
                    ("interlaced-rgb16.png", rgb16, 16, False, False, True),
                    ("interlaced-la.png", grey_alpha, 8, True, True, True),
                ]
            for suffix, pixels, depth, greyscale, has_alpha, interlace in pngs:
                p = os.path.join(out, f"{stem}.{suffix}")
                writer = pypng.Writer(
                    pixels.shape[1], pixels.shape[0], greyscale=greyscale, alpha=has_alpha, bitdepth=depth,
                    interlace=interlace,
                )
                with open(p, "wb") as f:
                    writer.write(f, pixels.reshape(pixels.shape[0], -1).tolist())
                add(os.path.basename(p), p)
            # 16-bit grey: values spread over the full 16-bit range (Pillow clamps to 255 in convert("L")).
            grey16 = (np.array(rgb.convert("L"), dtype=np.uint16) * 257).astype(np.uint16)
            p = os.path.join(out, f"{stem}.grey16.png")
            Image.fromarray(grey16).save(p, "PNG")
            add(os.path.basename(p), p)
            # The same with a tRNS chunk (one grey value transparent): Pillow keeps it "I;16" and clamps.
            p = os.path.join(out, f"{stem}.grey16-trns.png")
            with open(p, "wb") as f:
                pypng.Writer(
                    grey16.shape[1], grey16.shape[0], greyscale=True, bitdepth=16, transparent=int(grey16[0, 0])
                ).write(f, grey16.tolist())
            add(os.path.basename(p), p)
    # A real 12-MP camera JPEG (the SignedShot iOS capture beside the shared images).
    ios = os.path.join(images, "..", "signedshot-vectors", "ios-sandbox-2026-01-27", "photo_20260127_073124.jpg")
    if os.path.exists(ios):
        add("shared:../signedshot-vectors/ios-sandbox-2026-01-27/photo_20260127_073124.jpg", ios)
    for label, value in (("uniform-grey", 128), ("uniform-black", 0), ("uniform-white", 255)):
        p = os.path.join(out, f"{label}.png")
        Image.new("L", (64, 48), value).save(p, "PNG")
        add(os.path.basename(p), p)
    # The DCT itself, bit for bit: scipy.fftpack.dct of pixel rows and of arbitrary doubles (dct.tsv: 32 inputs
    # then 32 outputs, each as the hex of its IEEE-754 bits).
    import scipy
    import scipy.fftpack
    rng = np.random.default_rng(20261122)
    vectors = [rng.integers(0, 256, 32).astype(np.float64) for _ in range(500)]
    vectors += [rng.normal(0.0, 1000.0, 32) for _ in range(500)]
    vectors += [np.full(32, 128.0), np.zeros(32), np.arange(32, dtype=np.float64)]
    with open(os.path.join(out, "dct.tsv"), "w") as f:
        f.write(f"# scipy {scipy.__version__} scipy.fftpack.dct (type II, norm None), n=32\n")
        for v in vectors:
            y = scipy.fftpack.dct(v)
            f.write(" ".join(float(x).hex() for x in v) + "\t" + " ".join(float(x).hex() for x in y) + "\n")
    with open(os.path.join(out, "golden.tsv"), "w") as f:
        f.write(f"# imagehash {imagehash.__version__}, Pillow {PIL.__version__}, numpy {np.__version__}\n")
        f.write(f"# files\t{len(rows)}\n")
        f.write("# file\tphash (imagehash.phash, hash_size=8, highfreq_factor=4)\n")
        for label, h in rows:
            f.write(f"{label}\t{h}\n")
    print(f"{len(rows)} golden hashes in {os.path.join(out, 'golden.tsv')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
