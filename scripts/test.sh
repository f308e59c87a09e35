#!/usr/bin/env bash
# The project's test command (README): every test, against the real independent checkers.
#  0. PostgreSQL reachable at $PROOFMARK_TEST_DATABASE_URL (default postgres://postgres@127.0.0.1:5432/test)
#  1. a virtualenv (.venv, or $PROOFMARK_VENV) with the pinned checkers (scripts/requirements-checkers.txt)
#  2. anvil and solc from npm (tools/evm), and the committed contract build checked against solc's
#  2b. golden pHash vectors made by imagehash (scripts/phash_golden.py) in a temporary folder
#  3. cargo test over the whole workspace, with PROOFMARK_PYTHON and PROOFMARK_PHASH_GOLDEN set
#  4. proofmark-core builds for wasm32-unknown-unknown
#  5. the fuzz targets compile
#  6. the committed test vectors are exactly what `cargo xtask gen-vectors` writes
set -euo pipefail
cd "$(dirname "$0")/.."

# Wall time of each step, printed when the next one starts and in a table at the end.
step_started=$SECONDS
step_name=""
timings=()
step() {
  if [ -n "$step_name" ]; then timings+=("$(printf '%5d s  %s' $((SECONDS - step_started)) "$step_name")"); fi
  step_name=$1
  step_started=$SECONDS
  if [ -n "$1" ]; then echo "==> $1"; fi
}

venv=${PROOFMARK_VENV:-$PWD/.venv}
if ! "$venv/bin/python" -m pip --version >/dev/null 2>&1; then
  step "creating $venv"
  python3 -m venv --clear "$venv" || {
    echo "error: python3 -m venv failed; on Debian install python3-venv (apt-get install python3-venv)" >&2
    exit 1
  }
fi
step "installing the independent checkers into $venv"
"$venv/bin/pip" install --quiet --disable-pip-version-check -r scripts/requirements-checkers.txt
"$venv/bin/pip" install --quiet --disable-pip-version-check --no-deps invisible-watermark==0.2.0
export PROOFMARK_PYTHON="$venv/bin/python"
export PROOFMARK_REQUIRE_CHECKERS=1

# The local EVM node and the Solidity compiler (npm, pinned in tools/evm/package-lock.json): the anchor
# tests start anvil, and the committed contract build must be what solc 0.8.37 makes of the source.
step "installing anvil and solc (npm ci --prefix tools/evm)"
npm ci --prefix tools/evm --no-audit --no-fund --loglevel=error
scripts/build-contract.sh --check

step "golden pHash vectors from imagehash"
golden=$(mktemp -d)
"$venv/bin/python" scripts/phash_golden.py "$golden" ../shared/images
export PROOFMARK_PHASH_GOLDEN="$golden"

# PostgreSQL: the storage, server and CLI suites need it and fail without it (they never skip).
pg_url=${PROOFMARK_TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/test}
if command -v pg_isready >/dev/null && ! pg_isready -q -d "$pg_url"; then
  if command -v pg_ctlcluster >/dev/null; then
    step "starting the local PostgreSQL cluster"
    for v in /etc/postgresql/*; do pg_ctlcluster --skip-systemctl-redirect "$(basename "$v")" main start || true; done
    sleep 2
  fi
  pg_isready -q -d "$pg_url" || { echo "error: PostgreSQL at $pg_url is not reachable" >&2; exit 1; }
fi

step "cargo test"
log=$(mktemp)
trap 'rm -rf "$log" "$golden"' EXIT
cargo test --workspace --locked 2>&1 | tee "$log"

cat "$golden/checked.txt"

step "proofmark-core for wasm32-unknown-unknown"
if command -v rustup >/dev/null; then rustup target add wasm32-unknown-unknown >/dev/null 2>&1 || true; fi
cargo build --locked -p proofmark-core --target wasm32-unknown-unknown

step "fuzz targets build (running them needs nightly: see docs/fuzzing.md)"
cargo check --locked --quiet --manifest-path fuzz/Cargo.toml

step "test vectors are reproducible"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp" "$log" "$golden"' EXIT
cargo xtask gen-vectors --out "$tmp/capture" >/dev/null
diff -r testdata/capture "$tmp/capture"
echo "test vectors: identical to cargo xtask gen-vectors"

step ""
echo "==> wall time per step"
printf '%s\n' "${timings[@]}"
echo "==> test binaries by time (cargo's figures; integration suites are CRATE_it)"
awk '/^ +Running / { name = $2; if (match($0, /deps\/[A-Za-z0-9_]+-/)) name = substr($0, RSTART + 5, RLENGTH - 6) }
     /^test result:/ { t = $NF; sub(/s$/, "", t); printf "%8.2f s  %s (%s tests)\n", t, name, $4 }' "$log" | sort -rn | head -8

# One closing line for the whole run (cargo prints one "test result" line per test binary).
awk '/^test result:/ { for (i = 1; i <= NF; i++) { if ($i ~ /^passed/) p += $(i-1); if ($i ~ /^failed/) f += $(i-1) } }
     END { printf "%d passed, %d failed\n", p, f }' "$log"
