#!/usr/bin/env bash
# Verification speed and memory (issue 2 goals), printed next to the references on the same files:
#   - `proofmark verify` whole-process time for a 12 MB capture (hyperfine), vs `sha256sum` on the same file
#   - in-process: proofmark-core (criterion) vs the official validator's validate_with_jwks (Python timeit)
#   - peak RSS of `proofmark verify` on 12 MB and 240 MB files (must not grow with the file)
# Usage: scripts/bench-verify.sh   (release build; installs hyperfine and GNU time from Debian if missing)
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
command -v hyperfine >/dev/null || need+=(hyperfine)
[ -x /usr/bin/time ] || need+=(time)
if [ ${#need[@]} -gt 0 ]; then apt-get update -qq && apt-get install -y -qq "${need[@]}" >/dev/null; fi

venv=${PROOFMARK_VENV:-$PWD/.venv}
[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
"$venv/bin/pip" install --quiet --disable-pip-version-check -r scripts/requirements-checkers.txt

cargo build --release --locked -p proofmark-cli
bin=$PWD/target/release/proofmark
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cargo xtask bench-fixture "$work/12mb" 12000000
cargo xtask bench-fixture "$work/240mb" 240000000

echo "==> whole process (hyperfine, page cache warm)"
hyperfine -N --warmup 10 --runs 100 --export-json "$work/hf.json" \
  "$bin verify --jwks $work/12mb/jwks.json $work/12mb/media.bin" \
  "sha256sum $work/12mb/media.bin"

echo "==> in process: official validator (validate_with_jwks)"
"$venv/bin/python" - "$work/12mb" <<'PY' | tee "$work/validator.txt"
import signedshot, statistics, sys, timeit
d = sys.argv[1]
s = open(f"{d}/media.sidecar.json").read(); m = open(f"{d}/media.bin", "rb").read(); j = open(f"{d}/jwks.json").read()
assert signedshot.validate_with_jwks(s, m, j).valid
t = [x / 10 * 1000 for x in timeit.repeat(lambda: signedshot.validate_with_jwks(s, m, j), number=10, repeat=20)]
print(f"validator_ms_median={statistics.median(t):.2f} validator_ms_min={min(t):.2f}")
PY

echo "==> in process: proofmark-core (criterion)"
PROOFMARK_BENCH_DIR="$work/12mb" cargo bench --locked -p proofmark-core --bench verify 2>&1 | tee "$work/criterion.txt" | grep -E "^verify_12mb|time:"

echo "==> peak memory"
for size in 12mb 240mb; do
  /usr/bin/time -f "$size max_rss_kib=%M" "$bin" verify --jwks "$work/$size/jwks.json" "$work/$size/media.bin" >/dev/null
done 2>&1 | tee "$work/rss.txt"

python3 - "$work" <<'PY'
import json, re, sys
w = sys.argv[1]
hf = json.load(open(f"{w}/hf.json"))["results"]
cli, sha = hf[0], hf[1]
val = dict(kv.split("=") for kv in open(f"{w}/validator.txt").read().split())
crit = open(f"{w}/criterion.txt").read()
m = re.search(r"sha256_plus_verify\s+time:\s+\[\S+ \S+ (\S+) (\S+)", crit)
lib_ms = float(m.group(1)) * (1000 if m.group(2) == "s" else 1 if m.group(2) == "ms" else 0.001)
rss = dict(re.findall(r"(\w+) max_rss_kib=(\d+)", open(f"{w}/rss.txt").read()))
print()
print("| measurement (12 MB capture) | Proofmark | reference |")
print("|---|---|---|")
print(f"| whole `proofmark verify` process, mean ± σ | {cli['mean']*1000:.1f} ± {cli['stddev']*1000:.1f} ms (goal ≤ 15 ms) | `sha256sum`: {sha['mean']*1000:.1f} ± {sha['stddev']*1000:.1f} ms |")
print(f"| in-process SHA-256 + verify | {lib_ms:.2f} ms (criterion median) | validator `validate_with_jwks`: {float(val['validator_ms_median']):.2f} ms median, {float(val['validator_ms_min']):.2f} ms min |")
print(f"| peak RSS, 12 MB / 240 MB file | {int(rss['12mb'])/1024:.1f} MiB / {int(rss['240mb'])/1024:.1f} MiB | – |")
PY
