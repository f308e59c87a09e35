#!/usr/bin/env bash
# Publisher-plane benchmarks (issue 13, docs/benchmarks.md) against a release `proofmark serve` on loopback:
#  1. POST /api/v1/sign of a 12-MP JPEG: p50/p95 and images/s at concurrency 1 and 4, by server stage
#     (SQLite + local files).
#  2. Peak RSS with concurrent 48 MB uploads: 4 and 8 at once, with sign.max_concurrent 1 and 2 — memory
#     follows the setting, not the uploads.
#  3. GET /api/v1/content-records/public/search?phash= at 1,000,000 records (PostgreSQL, seeded in bulk).
# Usage: scripts/bench-sign.sh [RECORDS]   (PostgreSQL from PROOFMARK_TEST_DATABASE_URL; a fresh schema)
set -euo pipefail
cd "$(dirname "$0")/.."
records=${1:-1000000}
cargo build --release --locked -p proofmark-cli -p proofmark-lab
bin=$PWD/target/release/proofmark
lab=$PWD/target/release/proofmark-lab
python=${PROOFMARK_PYTHON:-$PWD/.venv/bin/python}
work=$(mktemp -d)
pid=""
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT

start() { # start PORT DATA_DIR [env…] → pid
  local port=$1 dir=$2; shift 2
  env PROOFMARK_RATE_LIMIT_PER_IP=0 PROOFMARK_LOG=warn "$@" \
    "$bin" serve --bind "127.0.0.1:$port" --data-dir "$dir" ${DB_ARGS:-} 2>"$dir.log" &
  pid=$!
  for _ in $(seq 100); do curl -sf "http://127.0.0.1:$port/health" >/dev/null && return; sleep 0.1; done
  cat "$dir.log"; exit 1
}
stop() { kill "$pid"; wait "$pid" 2>/dev/null || true; pid=""; }

echo "==> sign a 12-MP JPEG (SQLite + local files; sign.max_concurrent = one per core)"
start 18571 "$work/sqlite"
"$lab" sign --server http://127.0.0.1:18571 --server-pid "$pid" --requests 12 --concurrency 1,4 --also-without-watermark
stop

echo "==> peak RSS with concurrent 48 MB uploads (a 4000x4000 noise PNG)"
"$python" -c "import numpy as np; from PIL import Image; Image.fromarray(np.random.default_rng(7).integers(0,256,(4000,4000,3),dtype=np.uint8)).save('$work/big.png', compress_level=1)"
ls -l "$work/big.png" | awk '{printf "upload: %.1f MB\n", $5/1e6}'
for slots in 1 2; do
  for uploads in 4 8; do
    start 18572 "$work/rss-$slots-$uploads" PROOFMARK_SIGN_MAX_CONCURRENT=$slots
    echo "--- sign.max_concurrent=$slots, $uploads uploads at once"
    "$lab" sign --server http://127.0.0.1:18572 --server-pid "$pid" --image "$work/big.png" \
      --requests "$uploads" --concurrency "$uploads" | grep -E "peak RSS|^\| on"
    stop
  done
done

echo "==> public search by pHash at $records records (PostgreSQL)"
pg_base=${PROOFMARK_TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/test}
schema="bench_$(date +%s)_$$"
psql "$pg_base" -qc "CREATE SCHEMA $schema" >/dev/null
pg_url="$pg_base?options=-c%20search_path%3D$schema"
DB_ARGS="--database-url $pg_url" start 18573 "$work/pg"
"$lab" sign --server http://127.0.0.1:18573 --requests 1 --concurrency 1 >/dev/null
t0=$(date +%s)
psql "$pg_url" -q <<SQL
INSERT INTO content_records (record_id, org_id, signing_key_id, signer, sha256, phash, fingerprint, signature,
                             media_type, file_size, source, created_at)
SELECT gen_random_uuid()::text, r.org_id, r.signing_key_id, 'seed', md5(i::text) || md5((-i)::text),
       (floor((random() - 0.5) * 1.8e19))::bigint, 'seed', 'seed', 'image/jpeg', 1, 'signed', r.created_at
FROM generate_series(1, $records - 2) AS i, (SELECT org_id, signing_key_id, created_at FROM content_records LIMIT 1) AS r;
SQL
echo "seeded $records records in $(( $(date +%s) - t0 )) s"
planted=$(psql "$pg_url" -tAc "SELECT string_agg(lpad(to_hex(phash), 16, '0'), ',') FROM content_records WHERE signer <> 'seed'")
"$lab" search --server http://127.0.0.1:18573 --queries 200 --planted "$planted"
stop
psql "$pg_base" -qc "SET client_min_messages = warning; DROP SCHEMA $schema CASCADE" >/dev/null
