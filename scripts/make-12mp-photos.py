"""Noisy 12-MP JPEGs from a folder of images, for the watermark's diagnostics (`wm_shifts`, `wm_sync`,
`wm_stages`): each image upscaled with Pillow's Lanczos to 4000x3000 (3000x4000 if portrait), Gaussian
noise of sigma 3 added (a seeded generator), saved at JPEG quality 92.

Usage: .venv/bin/python scripts/make-12mp-photos.py SRC_DIR OUT_DIR
"""
import os
import sys

import numpy as np
from PIL import Image


def main() -> None:
    src, out = sys.argv[1], sys.argv[2]
    os.makedirs(out, exist_ok=True)
    rng = np.random.default_rng(1)
    for name in sorted(os.listdir(src)):
        if not name.lower().endswith((".png", ".jpg", ".jpeg", ".webp")):
            continue
        im = Image.open(os.path.join(src, name)).convert("RGB")
        size = (4000, 3000) if im.width >= im.height else (3000, 4000)
        pixels = np.asarray(im.resize(size, Image.LANCZOS)).astype(np.float32)
        pixels += rng.normal(0, 3, pixels.shape)
        noisy = Image.fromarray(np.clip(pixels + 0.5, 0, 255).astype(np.uint8))
        noisy.save(os.path.join(out, name.rsplit(".", 1)[0] + ".jpg"), quality=92)


if __name__ == "__main__":
    main()
