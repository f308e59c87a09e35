#!/usr/bin/env bash
# Capture hot path load (issue 3 goal: ≥ 2,000 trust tokens/s, p99 < 20 ms, no errors, no duplicate
# redemptions) against a release `proofmark serve` on loopback, with SQLite and with PostgreSQL.
# Usage: scripts/bench-capture.sh [SECONDS] [CONCURRENCY]   (PostgreSQL from PROOFMARK_TEST_DATABASE_URL,
# default postgres://postgres@127.0.0.1:5432/test; a fresh schema per run)
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-10}
concurrency=${2:-16}
cargo build --release --locked -p proofmark-cli -p proofmark-lab
bin=$PWD/target/release/proofmark
lab=$PWD/target/release/proofmark-lab
work=$(mktemp -d)
pid=""
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT

pg_base=${PROOFMARK_TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/test}
schema="bench_$(date +%s)_$$"
psql "$pg_base" -qc "CREATE SCHEMA $schema" >/dev/null
pg_url="$pg_base?options=-c%20search_path%3D$schema"

port=18480
for backend in sqlite postgres; do
  port=$((port + 1))
  args=(serve --bind "127.0.0.1:$port" --data-dir "$work/$backend")
  [ "$backend" = postgres ] && args+=(--database-url "$pg_url")
  PROOFMARK_ADMIN_TOKEN=bench PROOFMARK_RATE_LIMIT_PER_IP=0 PROOFMARK_RATE_LIMIT_PER_DEVICE=0 PROOFMARK_LOG=warn \
    "$bin" "${args[@]}" 2>"$work/$backend.log" &
  pid=$!
  for _ in $(seq 100); do curl -sf "http://127.0.0.1:$port/health" >/dev/null && break; sleep 0.1; done
  echo "==> $backend, $concurrency clients, $seconds s"
  "$lab" capture --server "http://127.0.0.1:$port" --admin-token bench \
    --concurrency "$concurrency" --duration "$seconds"
  kill "$pid"; wait "$pid" 2>/dev/null || true; pid=""
done
psql "$pg_base" -qc "SET client_min_messages = warning; DROP SCHEMA $schema CASCADE" >/dev/null
