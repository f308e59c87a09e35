#!/usr/bin/env python3
"""Driver for the Python `invisible-watermark` 0.2.0 `dwtDctSvd` baseline of `proofmark-lab watermark`.

  iwm_baseline.py embed SRC_DIR DST_DIR PAYLOAD_HEX   mark every SRC_DIR/*.png into DST_DIR (same names)
  iwm_baseline.py decode DIR PAYLOAD_HEX              decode every DIR/*.png

Prints one JSON object per file: {"file", "ms"} for embed, {"file", "ms", "accuracy"} for decode (share of
the 128 payload bits read correctly; 0.5 when the library refuses the image, e.g. too small).

invisible-watermark imports torch at module load for its rivaGan method, which this benchmark does not use;
the package is installed without dependencies and an empty `torch` module stands in, so the multi-gigabyte
wheel is not needed. `dwtDctSvd` itself uses only numpy, OpenCV and PyWavelets.
"""
import json
import os
import sys
import time
import types

sys.modules.setdefault("torch", types.ModuleType("torch"))

import cv2  # noqa: E402
import numpy as np  # noqa: E402
from imwatermark import WatermarkDecoder, WatermarkEncoder  # noqa: E402


def bits_of(payload: bytes):
    return list(np.unpackbits(np.frombuffer(payload, dtype=np.uint8)))


def embed(src, dst, payload):
    for name in sorted(os.listdir(src)):
        if not name.endswith(".png"):
            continue
        bgr = cv2.imread(os.path.join(src, name), cv2.IMREAD_COLOR)
        enc = WatermarkEncoder()
        enc.set_watermark("bytes", payload)
        t = time.perf_counter()
        try:
            out = enc.encode(bgr, "dwtDctSvd")
        except Exception as e:  # the library refuses small images
            print(f"{name}: {e}; copied unmarked", file=sys.stderr)
            out = bgr
        ms = (time.perf_counter() - t) * 1e3
        cv2.imwrite(os.path.join(dst, name), out)
        print(json.dumps({"file": name, "ms": ms}), flush=True)


def decode(folder, payload):
    want = bits_of(payload)
    for name in sorted(os.listdir(folder)):
        if not name.endswith(".png"):
            continue
        bgr = cv2.imread(os.path.join(folder, name), cv2.IMREAD_COLOR)
        dec = WatermarkDecoder("bits", len(want))
        t = time.perf_counter()
        try:
            got = list(dec.decode(bgr, "dwtDctSvd"))
            acc = sum(int(a) == int(b) for a, b in zip(got, want)) / len(want)
        except Exception:
            acc = 0.5
        ms = (time.perf_counter() - t) * 1e3
        print(json.dumps({"file": name, "ms": ms, "accuracy": acc}), flush=True)


def main():
    if len(sys.argv) == 5 and sys.argv[1] == "embed":
        embed(sys.argv[2], sys.argv[3], bytes.fromhex(sys.argv[4]))
    elif len(sys.argv) == 4 and sys.argv[1] == "decode":
        decode(sys.argv[2], bytes.fromhex(sys.argv[3]))
    else:
        print(__doc__, file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()
