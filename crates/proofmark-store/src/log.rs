//! The transparency log's storage (SPEC §5): leaves, stored hashes, checkpoints and witness cosignatures, on
//! both backends through one body of code ([`impl_log_store!`]).
//!
//! Invariants:
//! - A batch assigns dense leaf indexes, writes the stored hashes the new leaves complete, takes the records
//!   off the queue, and stores the checkpoint it signed, all in one transaction: a crash leaves either the whole
//!   batch or none of it, and the stored tree always has exactly the size of the newest checkpoint.
//! - A record is queued (`log_queue`) in the transaction that creates it, and leaves the queue in the batch
//!   that appends it.
//! - One batcher at a time: on PostgreSQL a transaction-scoped advisory lock per schema
//!   (`pg_try_advisory_xact_lock(key, hashtext(current_schema()))`;
//!   a process that does not get it skips its turn), on SQLite `BEGIN IMMEDIATE` (one writer).
//! - The tree is append-only: rows are only ever inserted, so any two checkpoints are consistent.
use async_trait::async_trait;
use proofmark_core::tlog::{merkle, Checkpoint, Frontier, Hash, NoteSigner, RecordLeaf};
use sqlx::Row;

use crate::{RecordId, StoreError, Timestamp};

/// The advisory lock that elects the one batcher among processes sharing a PostgreSQL database.
const BATCH_LOCK: i32 = 727_273;

/// A checkpoint as the log stored it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredCheckpoint {
    pub tree_size: u64,
    pub root: Hash,
    /// The signed note, as the log signed it (witness cosignatures are kept apart).
    pub note: String,
    pub created_at: Timestamp,
}

/// What one batch appended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogBatch {
    pub first_index: u64,
    pub count: u64,
    pub checkpoint: StoredCheckpoint,
}

/// A witness's cosignature on a checkpoint (verified by the caller before it is stored).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredCosignature {
    pub tree_size: u64,
    pub witness: String,
    pub key_id: u32,
    /// The note signature line, with its newline.
    pub line: String,
    pub cosigned_at: Timestamp,
}

/// The log's persistence; every [`crate::Store`] is one.
#[async_trait]
pub trait LogStore: Send + Sync {
    /// Appends up to `max` pending records, in insertion order, signs the new checkpoint with `signer` (its
    /// name is the origin) and stores it, in one transaction. `None` when nothing is pending, or when another
    /// process holds the batch lock.
    async fn log_append(&self, signer: &NoteSigner, max: u32, now: Timestamp) -> Result<Option<LogBatch>, StoreError>;
    /// Signs and stores the empty tree's checkpoint if the log has none (idempotent; concurrent callers
    /// store one).
    async fn log_init(&self, signer: &NoteSigner, now: Timestamp) -> Result<(), StoreError>;
    /// Bytes the log's tables and their indexes take (leaves, stored hashes, checkpoints, cosignatures).
    async fn log_storage_bytes(&self) -> Result<u64, StoreError>;
    /// How many records wait for the log.
    async fn log_pending(&self) -> Result<u64, StoreError>;
    /// The newest checkpoint.
    async fn log_checkpoint(&self) -> Result<Option<StoredCheckpoint>, StoreError>;
    /// The sizes of every stored checkpoint, ascending (audits).
    async fn log_checkpoint_sizes(&self) -> Result<Vec<u64>, StoreError>;
    /// The checkpoint of one tree size, if the log signed one.
    async fn log_checkpoint_at(&self, tree_size: u64) -> Result<Option<StoredCheckpoint>, StoreError>;
    /// Stored hashes, in the order asked (repeats allowed); [`StoreError::NotFound`] if one is missing.
    async fn log_hashes(&self, indexes: &[u64]) -> Result<Vec<Hash>, StoreError>;
    /// The leaves `[start, end)`, in order; fewer if the log is shorter.
    async fn log_entries(&self, start: u64, end: u64) -> Result<Vec<Vec<u8>>, StoreError>;
    /// The leaf index of a record, once logged.
    async fn log_leaf_index(&self, record: &RecordId) -> Result<Option<u64>, StoreError>;
    /// Stores a verified cosignature; a second one by the same witness on the same size replaces nothing and
    /// answers `false`.
    async fn add_cosignature(&self, c: &StoredCosignature, now: Timestamp) -> Result<bool, StoreError>;
    /// The cosignatures on one checkpoint, by witness name.
    async fn cosignatures(&self, tree_size: u64) -> Result<Vec<StoredCosignature>, StoreError>;
}

fn corrupt(what: String) -> StoreError {
    StoreError::Backend(sqlx::Error::Decode(what.into()))
}

fn hash_of(bytes: Vec<u8>, what: &str) -> Result<Hash, StoreError> {
    bytes.try_into().map_err(|_| corrupt(format!("{what} is not 32 bytes")))
}

fn size(v: i64) -> u64 {
    u64::try_from(v).unwrap_or(0)
}

/// A record waiting for the log: its row and its signing key's public key.
struct Pending {
    record_id: String,
    org_id: String,
    public_key: String,
    sha256: String,
    watermarked_sha256: Option<String>,
    phash: i64,
    origin_type: Option<String>,
    created_at: i64,
}

impl Pending {
    /// The record's leaf (docs/transparency-log.md).
    fn leaf(&self) -> Result<Vec<u8>, StoreError> {
        let id = &self.record_id;
        let h32 = |s: &str, what: &str| -> Result<[u8; 32], StoreError> {
            let mut out = [0u8; 32];
            hex::decode_to_slice(s, &mut out).map_err(|_| corrupt(format!("record {id}: {what} is not hex")))?;
            Ok(out)
        };
        let leaf = RecordLeaf {
            record_id: id.clone(),
            organization_id: self.org_id.clone(),
            signer: h32(&self.public_key, "the signer's public key")?,
            sha256: h32(&self.sha256, "sha256")?,
            watermarked_sha256: self.watermarked_sha256.as_deref().map(|w| h32(w, "watermarked_sha256")).transpose()?,
            phash: self.phash as u64,
            origin: self.origin_type.clone(),
            signed_at: Timestamp(self.created_at).to_string(),
            video_chain_head: None,
            capture_sidecar_sha256: None,
        };
        leaf.encode().map_err(|e| corrupt(format!("record {id} has no canonical leaf: {e}")))
    }
}

/// Rows per multi-row INSERT (well under both backends' bind-parameter limits).
const CHUNK: usize = 2000;

/// SQLite: multi-row INSERTs, `CHUNK` rows each.
async fn insert_batch_sqlite(
    conn: &mut sqlx::SqliteConnection,
    leaves: &[(i64, String, Vec<u8>)],
    hashes: &[(i64, Vec<u8>)],
    now: Timestamp,
) -> Result<(), StoreError> {
    for chunk in leaves.chunks(CHUNK) {
        let mut q = sqlx::QueryBuilder::<sqlx::Sqlite>::new(
            "INSERT INTO log_leaves (leaf_index, record_id, data, created_at) ",
        );
        q.push_values(chunk, |mut b, (i, id, data)| {
            b.push_bind(*i).push_bind(id).push_bind(data).push_bind(now.unix());
        });
        q.build().execute(&mut *conn).await?;
    }
    for chunk in hashes.chunks(CHUNK) {
        let mut q = sqlx::QueryBuilder::<sqlx::Sqlite>::new("INSERT INTO log_hashes (idx, hash) ");
        q.push_values(chunk, |mut b, (i, h)| {
            b.push_bind(*i).push_bind(h);
        });
        q.build().execute(&mut *conn).await?;
    }
    Ok(())
}

/// PostgreSQL: one statement per table, the columns bound as arrays (`UNNEST`), instead of tens of thousands
/// of parameters.
async fn insert_batch_postgres(
    conn: &mut sqlx::PgConnection,
    leaves: &[(i64, String, Vec<u8>)],
    hashes: &[(i64, Vec<u8>)],
    now: Timestamp,
) -> Result<(), StoreError> {
    let (idx, ids, data): (Vec<i64>, Vec<String>, Vec<Vec<u8>>) =
        leaves.iter().cloned().fold((Vec::new(), Vec::new(), Vec::new()), |mut acc, (i, id, d)| {
            acc.0.push(i);
            acc.1.push(id);
            acc.2.push(d);
            acc
        });
    sqlx::query(
        "INSERT INTO log_leaves (leaf_index, record_id, data, created_at) \
         SELECT i, r, d, $4 FROM UNNEST($1::bigint[], $2::text[], $3::bytea[]) AS t(i, r, d)",
    )
    .bind(idx)
    .bind(ids)
    .bind(data)
    .bind(now.unix())
    .execute(&mut *conn)
    .await?;
    let (hidx, hs): (Vec<i64>, Vec<Vec<u8>>) = hashes.iter().cloned().unzip();
    sqlx::query("INSERT INTO log_hashes (idx, hash) SELECT * FROM UNNEST($1::bigint[], $2::bytea[])")
        .bind(hidx)
        .bind(hs)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

macro_rules! impl_log_store {
    ($store:ty, $backend:literal, $db:ty, $insert:ident) => {
        #[async_trait]
        impl LogStore for $store {
            #[tracing::instrument(skip_all)]
            async fn log_append(
                &self,
                signer: &NoteSigner,
                max: u32,
                now: Timestamp,
            ) -> Result<Option<LogBatch>, StoreError> {
                let mut tx = if $backend == "sqlite" {
                    self.pool.begin_with("BEGIN IMMEDIATE").await?
                } else {
                    let mut tx = self.pool.begin().await?;
                    // Scoped to the schema: logs in other schemas of the same database batch independently.
                    let got: bool = sqlx::query_scalar(
                        "SELECT pg_try_advisory_xact_lock($1, hashtext(current_schema()))",
                    )
                    .bind(BATCH_LOCK)
                        .fetch_one(&mut *tx)
                        .await?;
                    if !got {
                        return Ok(None);
                    }
                    tx
                };
                // The oldest queued ids first (an index range), then their rows by primary key.
                let pending = sqlx::query(
                    "WITH batch AS MATERIALIZED (SELECT seq, record_id FROM log_queue ORDER BY seq LIMIT $1) \
                     SELECT q.seq, c.record_id, c.org_id, k.public_key, c.sha256, c.watermarked_sha256, c.phash, \
                     c.origin_type, c.created_at FROM batch q \
                     JOIN content_records c ON c.record_id = q.record_id \
                     JOIN signing_keys k ON k.key_id = c.signing_key_id \
                     ORDER BY q.seq",
                )
                .bind(i64::from(max))
                .fetch_all(&mut *tx)
                .await?;
                if pending.is_empty() {
                    return Ok(None);
                }
                let old: Option<(i64,)> =
                    sqlx::query_as("SELECT tree_size FROM log_checkpoints ORDER BY tree_size DESC LIMIT 1")
                        .fetch_optional(&mut *tx)
                        .await?;
                let old = old.map_or(0, |(s,)| size(s));
                let wanted = Frontier::indexes(old);
                let edge = read_hashes(&mut *tx, &wanted).await?;
                let mut frontier = Frontier::from_stored(old, edge).map_err(|e| corrupt(e.to_string()))?;
                let mut leaves: Vec<(i64, String, Vec<u8>)> = Vec::with_capacity(pending.len());
                let mut queued: Vec<i64> = Vec::with_capacity(pending.len());
                let mut hashes: Vec<(i64, Vec<u8>)> = Vec::with_capacity(2 * pending.len());
                for r in &pending {
                    queued.push(r.try_get("seq")?);
                    let p = Pending {
                        record_id: r.try_get("record_id")?,
                        org_id: r.try_get("org_id")?,
                        public_key: r.try_get("public_key")?,
                        sha256: r.try_get("sha256")?,
                        watermarked_sha256: r.try_get("watermarked_sha256")?,
                        phash: r.try_get("phash")?,
                        origin_type: r.try_get("origin_type")?,
                        created_at: r.try_get("created_at")?,
                    };
                    let data = p.leaf()?;
                    let record_id = p.record_id;
                    let index = frontier.size();
                    let first = merkle::stored_hash_index(0, index);
                    for (k, h) in frontier.append(merkle::leaf_hash(&data)).into_iter().enumerate() {
                        hashes.push(((first + k as u64) as i64, h.to_vec()));
                    }
                    leaves.push((index as i64, record_id, data));
                }
                $insert(&mut *tx, &leaves, &hashes, now).await?;
                // Out of the queue: exactly the batch's entries, by key.
                for chunk in queued.chunks(CHUNK) {
                    let mut q = sqlx::QueryBuilder::<$db>::new("DELETE FROM log_queue WHERE seq IN (");
                    let mut sep = q.separated(", ");
                    for seq in chunk {
                        sep.push_bind(*seq);
                    }
                    q.push(")");
                    q.build().execute(&mut *tx).await?;
                }
                let tree_size = frontier.size();
                let root = frontier.root();
                let note = Checkpoint::new(&signer.verifier().name, tree_size, root)
                    .sign(signer)
                    .map_err(|e| StoreError::Io(format!("signing the checkpoint: {e}")))?
                    .encode();
                sqlx::query("INSERT INTO log_checkpoints (tree_size, root, note, created_at) VALUES ($1, $2, $3, $4)")
                    .bind(tree_size as i64)
                    .bind(root.to_vec())
                    .bind(&note)
                    .bind(now.unix())
                    .execute(&mut *tx)
                    .await?;
                tx.commit().await?;
                Ok(Some(LogBatch {
                    first_index: old,
                    count: tree_size - old,
                    checkpoint: StoredCheckpoint { tree_size, root, note, created_at: now },
                }))
            }

            async fn log_init(&self, signer: &NoteSigner, now: Timestamp) -> Result<(), StoreError> {
                let root = merkle::empty_root();
                let note = Checkpoint::new(&signer.verifier().name, 0, root)
                    .sign(signer)
                    .map_err(|e| StoreError::Io(format!("signing the checkpoint: {e}")))?
                    .encode();
                sqlx::query(
                    "INSERT INTO log_checkpoints (tree_size, root, note, created_at) \
                     SELECT 0, $1, $2, $3 WHERE NOT EXISTS (SELECT 1 FROM log_checkpoints) ON CONFLICT DO NOTHING",
                )
                .bind(root.to_vec())
                .bind(&note)
                .bind(now.unix())
                .execute(&self.pool)
                .await?;
                Ok(())
            }

            async fn log_storage_bytes(&self) -> Result<u64, StoreError> {
                let sql = if $backend == "sqlite" {
                    // dbstat: the pages each table and index uses (libsqlite3-sys builds it in).
                    "SELECT CAST(COALESCE(SUM(d.pgsize), 0) AS INTEGER) FROM dbstat d \
                     JOIN sqlite_master m ON m.name = d.name \
                     WHERE m.tbl_name IN ('log_leaves', 'log_hashes', 'log_checkpoints', 'log_cosignatures')"
                } else {
                    "SELECT CAST(pg_total_relation_size('log_leaves') + pg_total_relation_size('log_hashes') + \
                     pg_total_relation_size('log_checkpoints') + pg_total_relation_size('log_cosignatures') AS BIGINT)"
                };
                let (n,): (i64,) = sqlx::query_as(sql).fetch_one(&self.pool).await?;
                Ok(size(n))
            }

            async fn log_pending(&self) -> Result<u64, StoreError> {
                let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM log_queue")
                    .fetch_one(&self.pool)
                    .await?;
                Ok(size(n))
            }

            async fn log_checkpoint(&self) -> Result<Option<StoredCheckpoint>, StoreError> {
                let row = sqlx::query(
                    "SELECT tree_size, root, note, created_at FROM log_checkpoints ORDER BY tree_size DESC LIMIT 1",
                )
                .fetch_optional(&self.pool)
                .await?;
                row.map(|r| checkpoint_from_row(&r)).transpose()
            }

            async fn log_checkpoint_sizes(&self) -> Result<Vec<u64>, StoreError> {
                let rows: Vec<(i64,)> = sqlx::query_as("SELECT tree_size FROM log_checkpoints ORDER BY tree_size")
                    .fetch_all(&self.pool)
                    .await?;
                Ok(rows.into_iter().map(|(s,)| size(s)).collect())
            }

            async fn log_checkpoint_at(&self, tree_size: u64) -> Result<Option<StoredCheckpoint>, StoreError> {
                let row =
                    sqlx::query("SELECT tree_size, root, note, created_at FROM log_checkpoints WHERE tree_size = $1")
                        .bind(tree_size as i64)
                        .fetch_optional(&self.pool)
                        .await?;
                row.map(|r| checkpoint_from_row(&r)).transpose()
            }

            async fn log_hashes(&self, indexes: &[u64]) -> Result<Vec<Hash>, StoreError> {
                let mut conn = self.pool.acquire().await?;
                read_hashes(&mut *conn, indexes).await
            }

            async fn log_entries(&self, start: u64, end: u64) -> Result<Vec<Vec<u8>>, StoreError> {
                let rows: Vec<(Vec<u8>,)> = sqlx::query_as(
                    "SELECT data FROM log_leaves WHERE leaf_index >= $1 AND leaf_index < $2 ORDER BY leaf_index",
                )
                .bind(start as i64)
                .bind(end as i64)
                .fetch_all(&self.pool)
                .await?;
                Ok(rows.into_iter().map(|(d,)| d).collect())
            }

            async fn log_leaf_index(&self, record: &RecordId) -> Result<Option<u64>, StoreError> {
                let row: Option<(i64,)> = sqlx::query_as("SELECT leaf_index FROM log_leaves WHERE record_id = $1")
                    .bind(record.to_string())
                    .fetch_optional(&self.pool)
                    .await?;
                Ok(row.map(|(i,)| size(i)))
            }

            async fn add_cosignature(&self, c: &StoredCosignature, now: Timestamp) -> Result<bool, StoreError> {
                let done = sqlx::query(
                    "INSERT INTO log_cosignatures (tree_size, witness, key_id, line, cosigned_at, created_at) \
                     VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING",
                )
                .bind(c.tree_size as i64)
                .bind(&c.witness)
                .bind(i64::from(c.key_id))
                .bind(&c.line)
                .bind(c.cosigned_at.unix())
                .bind(now.unix())
                .execute(&self.pool)
                .await?;
                Ok(done.rows_affected() == 1)
            }

            async fn cosignatures(&self, tree_size: u64) -> Result<Vec<StoredCosignature>, StoreError> {
                let rows = sqlx::query(
                    "SELECT tree_size, witness, key_id, line, cosigned_at FROM log_cosignatures \
                     WHERE tree_size = $1 ORDER BY witness, key_id",
                )
                .bind(tree_size as i64)
                .fetch_all(&self.pool)
                .await?;
                rows.iter()
                    .map(|r| {
                        Ok(StoredCosignature {
                            tree_size: size(r.try_get("tree_size")?),
                            witness: r.try_get("witness")?,
                            key_id: u32::try_from(r.try_get::<i64, _>("key_id")?)
                                .map_err(|_| corrupt("a cosignature's key id is not 32 bits".into()))?,
                            line: r.try_get("line")?,
                            cosigned_at: Timestamp(r.try_get("cosigned_at")?),
                        })
                    })
                    .collect()
            }
        }

        fn checkpoint_from_row(r: &<$db as sqlx::Database>::Row) -> Result<StoredCheckpoint, StoreError> {
            Ok(StoredCheckpoint {
                tree_size: size(r.try_get("tree_size")?),
                root: hash_of(r.try_get("root")?, "a checkpoint's root")?,
                note: r.try_get("note")?,
                created_at: Timestamp(r.try_get("created_at")?),
            })
        }

        /// Reads stored hashes by index, in the order asked.
        async fn read_hashes(
            conn: &mut <$db as sqlx::Database>::Connection,
            indexes: &[u64],
        ) -> Result<Vec<Hash>, StoreError> {
            if indexes.is_empty() {
                return Ok(Vec::new());
            }
            let mut found = std::collections::HashMap::with_capacity(indexes.len());
            for chunk in indexes.chunks(CHUNK) {
                let mut q = sqlx::QueryBuilder::<$db>::new("SELECT idx, hash FROM log_hashes WHERE idx IN (");
                let mut sep = q.separated(", ");
                for i in chunk {
                    sep.push_bind(*i as i64);
                }
                q.push(")");
                let rows: Vec<(i64, Vec<u8>)> = q.build_query_as().fetch_all(&mut *conn).await?;
                for (i, h) in rows {
                    found.insert(size(i), hash_of(h, "a stored hash")?);
                }
            }
            indexes.iter().map(|i| found.get(i).copied().ok_or(StoreError::NotFound)).collect()
        }
    };
}

mod sqlite_impl {
    use super::*;
    impl_log_store!(crate::SqliteStore, "sqlite", sqlx::Sqlite, insert_batch_sqlite);
}

mod postgres_impl {
    use super::*;
    impl_log_store!(crate::PostgresStore, "postgres", sqlx::Postgres, insert_batch_postgres);
}
