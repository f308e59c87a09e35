#!/usr/bin/env bash
# Watermark robustness benchmark (issue 4, SPEC §3.3): every image in ../shared/images plus two synthesised
# 12-MP photos, the full attack suite, our exact-payload rate and raw bit accuracy beside the Python
# invisible-watermark dwtDctSvd baseline on the same images and attacks, minimum PSNR(Y), embed/extract time
# on a 12-MP photo (one core), and false accepts on 1,000 unmarked images.
# Usage: scripts/bench-watermark.sh [extra `proofmark-lab watermark` flags]
set -euo pipefail
cd "$(dirname "$0")/.."
venv=${PROOFMARK_VENV:-$PWD/.venv}
[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
"$venv/bin/pip" install --quiet --disable-pip-version-check -r scripts/requirements-checkers.txt
# invisible-watermark imports torch for a method the benchmark does not use: installed without dependencies
# (its real ones — numpy, OpenCV, PyWavelets — are pinned in the requirements file).
"$venv/bin/pip" install --quiet --disable-pip-version-check --no-deps invisible-watermark==0.2.0
# libjpeg-turbo's SIMD code is assembled with nasm when mozjpeg-sys builds; without it the crate silently builds
# plain C (JPEG decoding ~1.5× slower than Pillow's libjpeg-turbo), and the comparison would not be fair.
if ! command -v nasm >/dev/null 2>&1; then
  echo "nasm is missing: install it (apt-get install nasm), then run: cargo clean --release -p mozjpeg-sys" >&2
  exit 1
fi
cargo build --release --locked -p proofmark-cli -p proofmark-lab
./target/release/proofmark-lab watermark --baseline-python "$venv/bin/python" "$@"
