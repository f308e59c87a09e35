//! The transparency log's service side (SPEC §5; docs/transparency-log.md): the log key (sealed in the store
//! like every other secret), the batcher that appends pending records, receipts, and the served checkpoint
//! with the witness cosignatures it collected. The math is `proofmark_core::tlog`; the storage,
//! `proofmark_store::LogStore`.
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};
use proofmark_core::tlog::{
    merkle, Anchor, EvmAnchor, Note, NoteError, NoteSigner, NoteVerifier, Receipt, TYPE_COSIGNATURE, TYPE_ED25519,
};
use proofmark_store::{LogBatch, RecordId, Store, StoredCheckpoint, StoredCosignature, Timestamp};
use zeroize::Zeroizing;

use crate::keys::Kek;
use crate::AppState;

/// The seal label of the log's key.
const LOG_KEY: &str = "deployment:log_key";

/// The log's signer, its witnesses, and the batcher's wake-up.
#[derive(Debug)]
pub struct Log {
    pub signer: NoteSigner,
    /// Witnesses whose cosignatures are accepted (`log.witnesses`).
    pub witnesses: Vec<NoteVerifier>,
    wake: tokio::sync::Notify,
    /// Records added in this process since its last batch.
    added: AtomicU64,
}

impl Log {
    /// Reads the log key from the store (sealed under `kek`), or makes it on first start with the configured
    /// origin. Two processes starting at once on an empty database agree on one key.
    pub async fn load_or_create(
        store: &dyn Store,
        kek: &Kek,
        config: &crate::config::Config,
        now: i64,
    ) -> Result<Self> {
        let origin = config.log_origin();
        if store.deployment_secret(LOG_KEY).await?.is_none() {
            let mut seed = Zeroizing::new([0u8; 32]);
            rand_core::RngCore::fill_bytes(&mut rand_core::OsRng, seed.as_mut());
            let signer = NoteSigner::new(&origin, TYPE_ED25519, ed25519_dalek::SigningKey::from_bytes(&seed))
                .map_err(|e| anyhow!("log origin {origin:?}: {e}"))?;
            let sealed = kek.seal(LOG_KEY, signer.to_private_text().as_bytes());
            if store.insert_deployment_secret(LOG_KEY, &sealed, Timestamp(now)).await? {
                tracing::info!(origin, vkey = signer.verifier().vkey(), "generated the transparency log's key");
            }
        }
        let sealed = store.deployment_secret(LOG_KEY).await?.ok_or_else(|| anyhow!("no log key stored"))?;
        let text =
            Zeroizing::new(String::from_utf8(kek.unseal(LOG_KEY, &sealed)?.to_vec()).context("the stored log key")?);
        let signer = NoteSigner::parse(&text).map_err(|e| anyhow!("the stored log key is corrupt: {e}"))?;
        let name = &signer.verifier().name;
        if config.log.origin.is_some() && *name != origin {
            bail!(
                "log.origin is {origin:?} but this database's log is {name:?}: a log's name cannot change \
                 (unset log.origin, or use a new database for a new log)"
            );
        }
        let witnesses = config
            .log
            .witnesses
            .iter()
            .map(|w| NoteVerifier::parse(w).map_err(|e| anyhow!("log.witnesses {w:?}: {e}")))
            .collect::<Result<Vec<_>>>()?;
        Ok(Log { signer, witnesses, wake: tokio::sync::Notify::new(), added: AtomicU64::new(0) })
    }

    /// The log's verifier key (C2SP `vkey`).
    pub fn vkey(&self) -> String {
        self.signer.verifier().vkey()
    }

    /// Called after a record is stored: once `batch_max` records wait, the batcher starts early.
    pub fn record_added(&self, batch_max: u32) {
        if self.added.fetch_add(1, Ordering::Relaxed) + 1 >= u64::from(batch_max) {
            self.wake.notify_one();
        }
    }
}

/// Appends what is pending, one batch of at most `log.batch_max` records after another, until nothing is
/// left or another process holds the batch lock. Returns the batches made.
pub async fn batch_pending(state: &AppState) -> Result<Vec<LogBatch>> {
    let max = state.config.log.batch_max;
    state.log.added.store(0, Ordering::Relaxed);
    let mut batches = Vec::new();
    while let Some(b) = state.store.log_append(&state.log.signer, max, Timestamp(state.now())).await? {
        tracing::info!(first = b.first_index, count = b.count, tree_size = b.checkpoint.tree_size, "log batch");
        let full = b.count == u64::from(max);
        batches.push(b);
        if !full {
            break;
        }
    }
    Ok(batches)
}

/// The batcher: every `log.batch_interval_ms`, or sooner when `log.batch_max` records wait. Pending records
/// live in the store, so nothing is lost when the process stops; the next batcher, here or elsewhere, takes
/// them.
pub async fn run_batcher(state: AppState, stop: impl std::future::Future<Output = ()>) {
    let interval = Duration::from_millis(state.config.log.batch_interval_ms);
    tokio::pin!(stop);
    loop {
        if let Err(e) = batch_pending(&state).await {
            tracing::warn!("log batch failed (retried next interval): {e:#}");
        }
        tokio::select! {
            _ = &mut stop => return,
            _ = tokio::time::sleep(interval) => {}
            _ = state.log.wake.notified() => {}
        }
    }
}

/// Makes sure the log has a checkpoint (of the empty tree, the first time), so `/log/checkpoint` always
/// answers and witnesses can start from size 0.
pub async fn ensure_checkpoint(state: &AppState) -> Result<StoredCheckpoint> {
    if let Some(c) = state.store.log_checkpoint().await? {
        return Ok(c);
    }
    state.store.log_init(&state.log.signer, Timestamp(state.now())).await?;
    state.store.log_checkpoint().await?.ok_or_else(|| anyhow!("the log has no checkpoint"))
}

/// The checkpoint as served: the log's note with the cosignatures stored for its size appended.
pub async fn served_note(state: &AppState, cp: &StoredCheckpoint) -> Result<String> {
    let mut note = cp.note.clone();
    for c in state.store.cosignatures(cp.tree_size).await? {
        note.push_str(&c.line);
    }
    Ok(note)
}

/// The record's receipt against the newest checkpoint, or `None` while it waits for its batch.
pub async fn receipt(state: &AppState, record: &RecordId) -> Result<Option<Receipt>> {
    let Some(index) = state.store.log_leaf_index(record).await? else {
        return Ok(None);
    };
    let cp = state.store.log_checkpoint().await?.ok_or_else(|| anyhow!("a logged record but no checkpoint"))?;
    let plan = merkle::plan_inclusion(index, cp.tree_size)?;
    let path = plan.finish(&state.store.log_hashes(plan.indexes()).await?)?;
    let leaf = state.store.log_entries(index, index + 1).await?.pop().ok_or_else(|| anyhow!("leaf {index} missing"))?;
    let anchor = match state.store.anchor_covering(index, cp.tree_size).await? {
        None => Anchor::NotAnchored,
        Some(a) => {
            let inclusion = merkle::plan_inclusion(index, a.tree_size)?;
            let inclusion = inclusion.finish(&state.store.log_hashes(inclusion.indexes()).await?)?;
            let consistency = merkle::plan_consistency(a.tree_size, cp.tree_size)?;
            let consistency = consistency.finish(&state.store.log_hashes(consistency.indexes()).await?)?;
            Anchor::Anchored(EvmAnchor {
                chain_id: a.chain_id,
                contract: a.contract.clone(),
                transaction: a.tx_hash.clone().ok_or_else(|| anyhow!("a confirmed anchor without its transaction"))?,
                block_number: a.block_number.unwrap_or_default(),
                tree_size: a.tree_size,
                root: hex::encode(a.root),
                inclusion_path: inclusion.iter().map(hex::encode).collect(),
                consistency_path: consistency.iter().map(hex::encode).collect(),
            })
        }
    };
    Ok(Some(Receipt {
        leaf_index: index,
        tree_size: cp.tree_size,
        leaf: String::from_utf8(leaf).context("a leaf is not text")?,
        inclusion_path: path.iter().map(hex::encode).collect(),
        checkpoint: served_note(state, &cp).await?,
        anchor,
    }))
}

/// Why a cosignature was refused.
#[derive(Debug, thiserror::Error)]
pub enum CosignError {
    #[error("the body is not a signed checkpoint: {0}")]
    Malformed(String),
    #[error("this log never signed a checkpoint of size {0} with that text")]
    UnknownCheckpoint(u64),
    #[error("no cosignature by a witness this log accepts verifies{0}")]
    NoKnownWitness(String),
    #[error("the cosignature by {0} does not verify")]
    BadSignature(String),
}

/// Takes a checkpoint note carrying witness cosignatures: the note text must be one this log signed, and
/// every cosignature by a configured witness must verify. Returns how many new ones were stored.
pub async fn add_cosignatures(state: &AppState, body: &[u8]) -> Result<usize, anyhow::Error> {
    let note = Note::parse(body).map_err(|e| CosignError::Malformed(e.to_string()))?;
    let cp =
        proofmark_core::tlog::Checkpoint::parse_body(&note.text).map_err(|e| CosignError::Malformed(e.to_string()))?;
    let stored = state.store.log_checkpoint_at(cp.size).await?.ok_or(CosignError::UnknownCheckpoint(cp.size))?;
    let stored_text = Note::parse(stored.note.as_bytes()).map_err(|e| anyhow!("stored checkpoint: {e}"))?.text;
    if stored_text != note.text {
        return Err(CosignError::UnknownCheckpoint(cp.size).into());
    }
    let verified = match note.verify(&state.log.witnesses) {
        Ok(v) => v,
        Err(NoteError::BadSignature { name }) => return Err(CosignError::BadSignature(name).into()),
        Err(_) => {
            let hint = if state.log.witnesses.is_empty() { " (none is configured: log.witnesses)" } else { "" };
            return Err(CosignError::NoKnownWitness(hint.into()).into());
        }
    };
    let mut added = 0;
    for v in verified {
        let sig = note
            .signatures
            .iter()
            .find(|s| s.name == v.name && s.key_id == v.key_id)
            .expect("a verified signature is in the note");
        debug_assert_eq!(v.kind, TYPE_COSIGNATURE);
        let c = StoredCosignature {
            tree_size: cp.size,
            witness: v.name.clone(),
            key_id: v.key_id,
            line: sig.line(),
            cosigned_at: Timestamp(v.timestamp.unwrap_or(0) as i64),
        };
        if state.store.add_cosignature(&c, Timestamp(state.now())).await? {
            added += 1;
        }
    }
    Ok(added)
}
