#!/usr/bin/env bash
# POST /api/v1/verify at scale (issue 15, docs/benchmarks.md), against a release `proofmark serve` on loopback
# with PostgreSQL:
#  1. seed RECORDS content records in bulk (random SHA-256s, pHashes and watermark payloads, as signing makes
#     them: the lookup indexes hold them all);
#  2. sign a 12-MP JPEG through the API, wait for its log receipt;
#  3. verify it and copies of it (exact, re-encoded, resized) and an unsigned 12-MP photo: client p50/p95 and
#     the server's stages (decode, phash, watermark, lookup, judge).
# Usage: scripts/bench-verify-server.sh [RECORDS]   (PostgreSQL from PROOFMARK_TEST_DATABASE_URL; a fresh schema)
set -euo pipefail
cd "$(dirname "$0")/.."
records=${1:-1000000}
requests=${REQUESTS:-12}
cargo build --release --locked -p proofmark-cli -p proofmark-lab
bin=$PWD/target/release/proofmark
lab=$PWD/target/release/proofmark-lab
work=$(mktemp -d)
pid=""
pg_base=${PROOFMARK_TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/test}
schema="bench_verify_$(date +%s)_$$"
cleanup() {
  [ -n "$pid" ] && kill "$pid" 2>/dev/null
  psql "$pg_base" -qc "SET client_min_messages = warning; DROP SCHEMA IF EXISTS $schema CASCADE" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT
psql "$pg_base" -qc "CREATE SCHEMA $schema" >/dev/null
pg_url="$pg_base?options=-c%20search_path%3D$schema"

start() {
  env PROOFMARK_RATE_LIMIT_PER_IP=0 PROOFMARK_LOG=warn PROOFMARK_LOG_BATCH_INTERVAL_MS=500 \
    "$bin" serve --bind 127.0.0.1:18581 --data-dir "$work/data" --database-url "$pg_url" 2>"$work/server.log" &
  pid=$!
  for _ in $(seq 300); do curl -sf http://127.0.0.1:18581/health >/dev/null && return; sleep 0.1; done
  cat "$work/server.log"; exit 1
}

echo "==> seed $records records (PostgreSQL)"
start
# An organisation and key for the seeded rows to belong to.
curl -sf http://127.0.0.1:18581/api/v1/auth/register -H 'content-type: application/json' \
  -d '{"email":"seed@bench.example","password":"benchmark password","full_name":"Seed","organization_name":"Seed Org"}' \
  | python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])' > "$work/session"
curl -sf http://127.0.0.1:18581/api/v1/keys/signing-keys -H "authorization: Bearer $(cat "$work/session")" \
  -H 'content-type: application/json' -d '{"name":"seed"}' >/dev/null
kill "$pid"; wait "$pid" 2>/dev/null || true; pid=""
t0=$(date +%s)
psql "$pg_url" -q <<SQL
INSERT INTO content_records (record_id, org_id, signing_key_id, signer, sha256, watermarked_sha256, phash, fingerprint,
                             signature, watermark_payload, media_type, file_size, source, created_at)
SELECT gen_random_uuid()::text, k.org_id, k.key_id, 'seed', md5(i::text) || md5((-i)::text),
       md5((i + 0.5)::text) || md5((-i - 0.5)::text), (floor((random() - 0.5) * 1.8e19))::bigint, 'seed', 'seed',
       md5(random()::text), 'image/jpeg', 1, 'signed', k.created_at
FROM generate_series(1, $records) AS i, (SELECT org_id, key_id, created_at FROM signing_keys LIMIT 1) AS k;
ANALYZE content_records;
SQL
echo "seeded $records records in $(( $(date +%s) - t0 )) s"

echo "==> verify at $(psql "$pg_url" -tAc 'SELECT count(*) FROM content_records') records"
start
t0=$(date +%s%N)
curl -sf -o /dev/null "http://127.0.0.1:18581/api/v1/content-records/public/search?phash=0000000000000000"
echo "index load (first lookup): $(( ($(date +%s%N) - t0) / 1000000 )) ms"
"$lab" verify --server http://127.0.0.1:18581 --requests "$requests"
grep -i -E "error|panic" "$work/server.log" | head -5 || true
