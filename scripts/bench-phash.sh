#!/usr/bin/env bash
# pHash speed (issue 4 goal: ≥ 20× imagehash on a 512×512 PNG, ≥ 2× on a 12-MP camera JPEG), decode included
# on both sides, one core; and the similarity index at 1M and 10M hashes (goal: 100 % recall at ≤ 10 bits,
# ≤ 20 ms per query at 10M), next to the reference's 4-hex-prefix buckets.
# Usage: scripts/bench-phash.sh
set -euo pipefail
cd "$(dirname "$0")/.."
venv=${PROOFMARK_VENV:-$PWD/.venv}
[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
"$venv/bin/pip" install --quiet --disable-pip-version-check -r scripts/requirements-checkers.txt
# libjpeg-turbo's SIMD code is assembled with nasm when mozjpeg-sys builds; without it the crate silently builds
# plain C (JPEG decoding ~1.5× slower than Pillow's libjpeg-turbo), and the comparison would not be fair.
if ! command -v nasm >/dev/null 2>&1; then
  echo "nasm is missing: install it (apt-get install nasm), then run: cargo clean --release -p mozjpeg-sys" >&2
  exit 1
fi
cargo build --release --locked -p proofmark-cli -p proofmark-lab
bin=$PWD/target/release/proofmark
lab=$PWD/target/release/proofmark-lab
png=../shared/images/astronaut.png
jpeg=../shared/signedshot-vectors/ios-sandbox-2026-01-27/photo_20260127_073124.jpg

echo "==> proofmark (decode + pHash, median of 20)"
taskset -c 0 "$lab" phash --runs 20 "$png" "$jpeg"
echo "==> imagehash $("$venv/bin/python" -c 'import imagehash; print(imagehash.__version__)') (Image.open + phash, median of 20)"
taskset -c 0 "$venv/bin/python" - "$png" "$jpeg" <<'PY'
import statistics, sys, time
import imagehash
from PIL import Image
for path in sys.argv[1:]:
    times = []
    for _ in range(20):
        t = time.perf_counter()
        with Image.open(path) as im:
            h = imagehash.phash(im)
        times.append((time.perf_counter() - t) * 1000)
    print(f"{path}  median {statistics.median(times):.2f} ms  min {min(times):.2f} ms  ({h})")
PY
echo "==> similarity index"
taskset -c 0 "$lab" phash-index --hashes 1000000 --queries 200
taskset -c 0 "$lab" phash-index --hashes 10000000 --queries 100
