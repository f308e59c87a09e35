#!/usr/bin/env bash
# The transparency log's benchmark (docs/benchmarks.md, "Transparency log"): leaves appended per second in
# batches on SQLite and PostgreSQL through the store's real batch path, proof generation from stored hashes at
# 1M and 10M leaves, verification time, proof sizes, storage per leaf.
#   SQLITE_RECORDS (default 1000000) records seeded in bulk with a recursive CTE (python3's sqlite3 module;
#     0 skips SQLite);
#   PG_RECORDS (default 10000000) records seeded in bulk with generate_series (psql needed; 0 skips
#     PostgreSQL).
# Both seed random UUID record ids, as the server makes, so index work is what a real log sees.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --locked -p proofmark-lab >/dev/null
lab=target/release/proofmark-lab
sqlite_n=${SQLITE_RECORDS:-1000000}
pg_n=${PG_RECORDS:-10000000}
batch=${BATCH:-10000}

dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
if [ "$sqlite_n" -gt 0 ]; then
  echo "== SQLite: $sqlite_n records"
  read -r org key < <("$lab" log --database-url "sqlite://$dir/bench.db" --org-only)
  started=$SECONDS
  python3 - "$dir/bench.db" "$org" "$key" "$sqlite_n" <<'PY'
import sqlite3, sys
db, org, key, n = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
c = sqlite3.connect(db)
c.executescript(f"""
BEGIN;
WITH RECURSIVE i(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM i WHERE n < {n})
INSERT INTO content_records (record_id, org_id, signing_key_id, signer, sha256, phash, fingerprint, signature,
                             media_type, file_size, source, created_at)
SELECT lower(hex(randomblob(4)) || '-' || hex(randomblob(2)) || '-4' || substr(hex(randomblob(2)), 2) || '-a'
             || substr(hex(randomblob(2)), 2) || '-' || hex(randomblob(6))),
       '{org}', '{key}', 'bench', printf('%064x', n), n, 'f', 's', 'image/png', 1, 'registered', 1800000000
FROM i;
INSERT INTO log_queue (record_id) SELECT record_id FROM content_records ORDER BY rowid;
COMMIT;
ANALYZE;
""")
PY
  echo "seeded $sqlite_n records with SQL in $((SECONDS - started)) s"
  "$lab" log --database-url "sqlite://$dir/bench.db" --batch "$batch" --proofs "$sqlite_n"
fi

if [ "$pg_n" -eq 0 ]; then exit 0; fi
echo "== PostgreSQL: $pg_n records"
pg_base=${PROOFMARK_TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/test}
schema="bench_log_$$"
psql "$pg_base" -qc "CREATE SCHEMA $schema" >/dev/null
pg_url="$pg_base?options=-c%20search_path%3D$schema"
cleanup() { psql "$pg_base" -qc "SET client_min_messages = warning; DROP SCHEMA $schema CASCADE" >/dev/null; rm -rf "$dir"; }
trap cleanup EXIT
read -r org key < <("$lab" log --database-url "$pg_url" --org-only)
started=$SECONDS
# Random record ids in insertion order, as the server makes them: the records' id indexes grow at random
# places (slow to seed: about 15 minutes for 10M here), and a batch's records are neighbours on the heap.
psql "$pg_url" -q <<SQL
INSERT INTO content_records (record_id, org_id, signing_key_id, signer, sha256, phash, fingerprint, signature,
                             media_type, file_size, source, created_at)
SELECT md5(i::text || 'bench')::uuid::text, '$org', '$key', 'bench', lpad(to_hex(i), 64, '0'), i, 'f', 's',
       'image/png', 1, 'registered', 1800000000
FROM generate_series(1, $pg_n) AS i;
INSERT INTO log_queue (record_id) SELECT record_id FROM content_records ORDER BY seq;
ANALYZE content_records;
ANALYZE log_queue;
SQL
echo "seeded $pg_n records with SQL in $((SECONDS - started)) s"
proofs="1000000,$pg_n"
[ "$pg_n" -lt 1000000 ] && proofs="$pg_n"
echo "-- proofs right after the append (autovacuum and the checkpointer still at work on the new rows)"
"$lab" log --database-url "$pg_url" --batch "$batch" --proofs "$proofs"
echo "-- proofs once the log's tables are vacuumed and checkpointed, as a log serving between batches is"
psql "$pg_url" -qc "VACUUM ANALYZE log_hashes" -qc "VACUUM ANALYZE log_leaves" -qc "CHECKPOINT"
"$lab" log --database-url "$pg_url" --batch "$batch" --proofs "$proofs"
