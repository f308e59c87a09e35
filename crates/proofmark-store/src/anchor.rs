//! Anchor attempts (registering a checkpoint on an EVM chain) and leader leases, on both backends through one
//! body of code.
//!
//! Invariants:
//! - An attempt's signed transaction is stored before it is broadcast; a replacement (same nonce, higher
//!   fees) is appended to the attempt's transactions before it is broadcast. At most one attempt is in flight.
//! - Confirming an attempt and enqueuing its `batch.anchored` deliveries is one transaction.
use async_trait::async_trait;
use sqlx::Row;

use crate::{Job, StoreError, Timestamp};

/// One attempt to register a checkpoint on chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredAnchor {
    pub anchor_id: String,
    pub tree_size: u64,
    pub root: [u8; 32],
    pub chain_id: u64,
    pub contract: String,
    pub nonce: u64,
    pub state: AnchorState,
    /// Hashes of the transactions signed for this nonce, oldest first (`0x…`).
    pub transactions: Vec<String>,
    /// The newest signed transaction.
    pub raw_tx: Vec<u8>,
    pub max_fee: u128,
    pub priority_fee: u128,
    pub submitted_at: Timestamp,
    pub tx_hash: Option<String>,
    pub block_number: Option<u64>,
    pub confirmed_at: Option<Timestamp>,
    pub last_error: Option<String>,
    pub created_at: Timestamp,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AnchorState {
    Submitted,
    Confirmed,
    Failed,
}

impl AnchorState {
    pub fn as_str(self) -> &'static str {
        match self {
            AnchorState::Submitted => "submitted",
            AnchorState::Confirmed => "confirmed",
            AnchorState::Failed => "failed",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "submitted" => AnchorState::Submitted,
            "confirmed" => AnchorState::Confirmed,
            "failed" => AnchorState::Failed,
            _ => return None,
        })
    }
}

/// Anchor attempts and leases; every [`crate::Store`] is one.
#[async_trait]
pub trait AnchorStore: Send + Sync {
    /// Stores a new attempt (state `submitted`); [`StoreError::Conflict`] if one is in flight or the checkpoint
    /// already has a live attempt.
    async fn anchor_insert(&self, a: &StoredAnchor) -> Result<(), StoreError>;
    /// The attempt in flight, if any.
    async fn anchor_in_flight(&self) -> Result<Option<StoredAnchor>, StoreError>;
    /// Records a replacement transaction (same nonce) before it is broadcast.
    async fn anchor_replace(
        &self,
        anchor_id: &str,
        tx_hash: &str,
        raw_tx: &[u8],
        max_fee: u128,
        priority_fee: u128,
        now: Timestamp,
    ) -> Result<(), StoreError>;
    /// Marks the attempt confirmed by `tx_hash` in `block_number` and enqueues `jobs`, in one transaction.
    async fn anchor_confirm(
        &self,
        anchor_id: &str,
        tx_hash: &str,
        block_number: u64,
        now: Timestamp,
        jobs: &[Job],
    ) -> Result<(), StoreError>;
    /// Marks the attempt failed (e.g. reverted); the next checkpoint is tried afresh.
    async fn anchor_fail(&self, anchor_id: &str, error: &str, now: Timestamp) -> Result<(), StoreError>;
    /// The confirmed anchor with the largest tree size.
    async fn anchor_latest_confirmed(&self) -> Result<Option<StoredAnchor>, StoreError>;
    /// The newest confirmed anchor whose tree contains leaf `leaf_index` and is no larger than `max_size`.
    async fn anchor_covering(&self, leaf_index: u64, max_size: u64) -> Result<Option<StoredAnchor>, StoreError>;
    /// The organisations with records at leaf indexes `[from, to)`.
    async fn orgs_in_log_range(&self, from: u64, to: u64) -> Result<Vec<crate::OrgId>, StoreError>;
    /// Takes or renews the lease `name` for `holder` until `now + ttl_secs`, if it is free, expired, or
    /// already `holder`'s.
    async fn try_lease(&self, name: &str, holder: &str, now: Timestamp, ttl_secs: i64) -> Result<bool, StoreError>;
}

const ANCHOR_COLUMNS: &str = "anchor_id, tree_size, root, chain_id, contract, nonce, state, transactions, raw_tx, \
    max_fee, priority_fee, submitted_at, tx_hash, block_number, confirmed_at, last_error, created_at";

fn bad(what: &str) -> StoreError {
    StoreError::Backend(sqlx::Error::Decode(format!("log_anchors: {what}").into()))
}

macro_rules! impl_anchor_store {
    ($store:ty, $db:ty) => {
        fn anchor_from_row(r: &<$db as sqlx::Database>::Row) -> Result<StoredAnchor, StoreError> {
            let u128_of = |c: &str| -> Result<u128, StoreError> {
                r.try_get::<String, _>(c)?.parse().map_err(|_| bad(&format!("{c} is not a number")))
            };
            Ok(StoredAnchor {
                anchor_id: r.try_get("anchor_id")?,
                tree_size: r.try_get::<i64, _>("tree_size")? as u64,
                root: r.try_get::<Vec<u8>, _>("root")?.try_into().map_err(|_| bad("root is not 32 bytes"))?,
                chain_id: r.try_get::<i64, _>("chain_id")? as u64,
                contract: r.try_get("contract")?,
                nonce: r.try_get::<i64, _>("nonce")? as u64,
                state: AnchorState::parse(&r.try_get::<String, _>("state")?).ok_or_else(|| bad("unknown state"))?,
                transactions: r.try_get::<String, _>("transactions")?.split_whitespace().map(String::from).collect(),
                raw_tx: r.try_get("raw_tx")?,
                max_fee: u128_of("max_fee")?,
                priority_fee: u128_of("priority_fee")?,
                submitted_at: Timestamp(r.try_get("submitted_at")?),
                tx_hash: r.try_get("tx_hash")?,
                block_number: r.try_get::<Option<i64>, _>("block_number")?.map(|b| b as u64),
                confirmed_at: r.try_get::<Option<i64>, _>("confirmed_at")?.map(Timestamp),
                last_error: r.try_get("last_error")?,
                created_at: Timestamp(r.try_get("created_at")?),
            })
        }

        #[async_trait]
        impl AnchorStore for $store {
            async fn anchor_insert(&self, a: &StoredAnchor) -> Result<(), StoreError> {
                sqlx::query(&format!(
                    "INSERT INTO log_anchors ({ANCHOR_COLUMNS}) VALUES \
                     ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)"
                ))
                .bind(&a.anchor_id)
                .bind(a.tree_size as i64)
                .bind(a.root.to_vec())
                .bind(a.chain_id as i64)
                .bind(&a.contract)
                .bind(a.nonce as i64)
                .bind(a.state.as_str())
                .bind(a.transactions.join(" "))
                .bind(&a.raw_tx)
                .bind(a.max_fee.to_string())
                .bind(a.priority_fee.to_string())
                .bind(a.submitted_at.unix())
                .bind(&a.tx_hash)
                .bind(a.block_number.map(|b| b as i64))
                .bind(a.confirmed_at.map(Timestamp::unix))
                .bind(&a.last_error)
                .bind(a.created_at.unix())
                .execute(&self.pool)
                .await
                .map_err(crate::sql::map_unique)?;
                Ok(())
            }

            async fn anchor_in_flight(&self) -> Result<Option<StoredAnchor>, StoreError> {
                let row = sqlx::query(&format!("SELECT {ANCHOR_COLUMNS} FROM log_anchors WHERE state = 'submitted'"))
                    .fetch_optional(&self.pool)
                    .await?;
                row.map(|r| anchor_from_row(&r)).transpose()
            }

            async fn anchor_replace(
                &self,
                anchor_id: &str,
                tx_hash: &str,
                raw_tx: &[u8],
                max_fee: u128,
                priority_fee: u128,
                now: Timestamp,
            ) -> Result<(), StoreError> {
                let done = sqlx::query(
                    "UPDATE log_anchors SET transactions = transactions || ' ' || $2, raw_tx = $3, max_fee = $4, \
                     priority_fee = $5, submitted_at = $6 WHERE anchor_id = $1 AND state = 'submitted'",
                )
                .bind(anchor_id)
                .bind(tx_hash)
                .bind(raw_tx)
                .bind(max_fee.to_string())
                .bind(priority_fee.to_string())
                .bind(now.unix())
                .execute(&self.pool)
                .await?;
                if done.rows_affected() == 1 {
                    Ok(())
                } else {
                    Err(StoreError::NotFound)
                }
            }

            async fn anchor_confirm(
                &self,
                anchor_id: &str,
                tx_hash: &str,
                block_number: u64,
                now: Timestamp,
                jobs: &[Job],
            ) -> Result<(), StoreError> {
                let mut tx = self.pool.begin().await?;
                let done = sqlx::query(
                    "UPDATE log_anchors SET state = 'confirmed', tx_hash = $2, block_number = $3, confirmed_at = $4 \
                     WHERE anchor_id = $1 AND state = 'submitted'",
                )
                .bind(anchor_id)
                .bind(tx_hash)
                .bind(block_number as i64)
                .bind(now.unix())
                .execute(&mut *tx)
                .await?;
                if done.rows_affected() != 1 {
                    return Err(StoreError::NotFound);
                }
                for j in jobs {
                    sqlx::query(crate::sql::INSERT_JOB)
                        .bind(j.job_id.to_string())
                        .bind(&j.kind)
                        .bind(&j.payload)
                        .bind(j.state.as_str())
                        .bind(j.attempts)
                        .bind(j.max_attempts)
                        .bind(j.run_after.unix())
                        .bind(j.created_at.unix())
                        .execute(&mut *tx)
                        .await
                        .map_err(crate::sql::map_unique)?;
                }
                tx.commit().await?;
                Ok(())
            }

            async fn anchor_fail(&self, anchor_id: &str, error: &str, now: Timestamp) -> Result<(), StoreError> {
                sqlx::query(
                    "UPDATE log_anchors SET state = 'failed', last_error = $2, confirmed_at = $3 \
                     WHERE anchor_id = $1 AND state = 'submitted'",
                )
                .bind(anchor_id)
                .bind(error)
                .bind(now.unix())
                .execute(&self.pool)
                .await?;
                Ok(())
            }

            async fn anchor_latest_confirmed(&self) -> Result<Option<StoredAnchor>, StoreError> {
                let row = sqlx::query(&format!(
                    "SELECT {ANCHOR_COLUMNS} FROM log_anchors WHERE state = 'confirmed' ORDER BY tree_size DESC LIMIT 1"
                ))
                .fetch_optional(&self.pool)
                .await?;
                row.map(|r| anchor_from_row(&r)).transpose()
            }

            async fn anchor_covering(&self, leaf_index: u64, max_size: u64) -> Result<Option<StoredAnchor>, StoreError> {
                let row = sqlx::query(&format!(
                    "SELECT {ANCHOR_COLUMNS} FROM log_anchors WHERE state = 'confirmed' AND tree_size > $1 \
                     AND tree_size <= $2 ORDER BY tree_size DESC LIMIT 1"
                ))
                .bind(leaf_index as i64)
                .bind(max_size as i64)
                .fetch_optional(&self.pool)
                .await?;
                row.map(|r| anchor_from_row(&r)).transpose()
            }

            async fn orgs_in_log_range(&self, from: u64, to: u64) -> Result<Vec<crate::OrgId>, StoreError> {
                let rows: Vec<(String,)> = sqlx::query_as(
                    "SELECT DISTINCT c.org_id FROM log_leaves l JOIN content_records c ON c.record_id = l.record_id \
                     WHERE l.leaf_index >= $1 AND l.leaf_index < $2 ORDER BY c.org_id",
                )
                .bind(from as i64)
                .bind(to as i64)
                .fetch_all(&self.pool)
                .await?;
                rows.into_iter().map(|(o,)| o.parse().map_err(|_| bad("an org id is not a UUID"))).collect()
            }

            async fn try_lease(&self, name: &str, holder: &str, now: Timestamp, ttl_secs: i64) -> Result<bool, StoreError> {
                let done = sqlx::query(
                    "INSERT INTO leases (name, holder, until) VALUES ($1, $2, $3) \
                     ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, until = excluded.until \
                     WHERE leases.until < $4 OR leases.holder = excluded.holder",
                )
                .bind(name)
                .bind(holder)
                .bind(now.unix() + ttl_secs)
                .bind(now.unix())
                .execute(&self.pool)
                .await?;
                Ok(done.rows_affected() == 1)
            }
        }
    };
}

mod sqlite_impl {
    use super::*;
    impl_anchor_store!(crate::SqliteStore, sqlx::Sqlite);
}

mod postgres_impl {
    use super::*;
    impl_anchor_store!(crate::PostgresStore, sqlx::Postgres);
}
