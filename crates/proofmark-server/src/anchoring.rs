//! The anchorer (docs/transparency-log.md, "Anchoring"): registers the log's newest checkpoint in the
//! `ProvenanceRegistry` on an EVM chain, waits for `anchor.confirmations`, and then says so in receipts and in a
//! `batch.anchored` webhook event. One anchorer at a time across processes (a lease in the store).
//!
//! States of an attempt: **submitted** (a signed transaction is stored, then broadcast) → **confirmed** (mined,
//! successful, k blocks deep) or **failed** (reverted). While submitted, each tick broadcasts the stored
//! transaction again (harmless: nodes know it), and after `anchor.bump_after_secs` signs a replacement with
//! the same nonce and higher fees, stored before it is broadcast. A restart therefore finds the attempt and
//! carries on with the same nonce: never a second registration in flight.
use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};
use proofmark_anchor::{Chain, Fees, Registration};
use proofmark_api::EventType;
use proofmark_store::{AnchorState, Store, StoredAnchor, Timestamp};
use serde::Serialize;
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use crate::keys::Kek;
use crate::AppState;

const KEY_LABEL: &str = "deployment:anchor_key";
const LEASE: &str = "anchorer";

/// The submitter's key: the stored one (sealed under the KEK), else the configured one (imported), else a new
/// one. A configured key that differs from the stored one is refused.
pub async fn load_or_create_key(
    store: &dyn Store,
    kek: &Kek,
    configured: Option<&str>,
    now: i64,
) -> Result<Zeroizing<[u8; 32]>> {
    let parse = |hex_text: &str| -> Result<Zeroizing<[u8; 32]>> {
        let mut key = Zeroizing::new([0u8; 32]);
        hex::decode_to_slice(hex_text.trim().trim_start_matches("0x"), key.as_mut())
            .map_err(|_| anyhow!("anchor.submitter_key is not 32 bytes of hex"))?;
        proofmark_anchor::address_of(&key)?;
        Ok(key)
    };
    if store.deployment_secret(KEY_LABEL).await?.is_none() {
        let key = match configured {
            Some(text) => parse(text)?,
            None => {
                let mut k = Zeroizing::new([0u8; 32]);
                loop {
                    rand_core::RngCore::fill_bytes(&mut rand_core::OsRng, k.as_mut());
                    if proofmark_anchor::address_of(&k).is_ok() {
                        break;
                    }
                }
                k
            }
        };
        if store.insert_deployment_secret(KEY_LABEL, &kek.seal(KEY_LABEL, key.as_ref()), Timestamp(now)).await? {
            tracing::info!(address = %proofmark_anchor::address_of(&key)?, "stored the anchor submitter key (sealed)");
        }
    }
    let sealed = store.deployment_secret(KEY_LABEL).await?.ok_or_else(|| anyhow!("no anchor key stored"))?;
    let bytes = kek.unseal(KEY_LABEL, &sealed)?;
    let mut key = Zeroizing::new([0u8; 32]);
    if bytes.len() != 32 {
        bail!("the stored anchor key is corrupt");
    }
    key.copy_from_slice(&bytes);
    if let Some(text) = configured {
        if *parse(text)? != *key {
            bail!("anchor.submitter_key differs from the key this database already holds; remove it from the configuration");
        }
    }
    Ok(key)
}

/// SHA-256 of the log's verifier key text: the `logKeyId` the contract records.
pub fn log_key_id(state: &AppState) -> [u8; 32] {
    Sha256::digest(state.log.vkey().as_bytes()).into()
}

/// The `batch.anchored` event's data.
#[derive(Debug, Serialize)]
struct Anchored<'a> {
    tree_size: u64,
    root: String,
    chain_id: u64,
    contract: &'a str,
    transaction: &'a str,
    block_number: u64,
}

/// The anchorer loop: one tick every `anchor.poll_ms` while this process holds the lease.
pub async fn run(state: AppState, key: Zeroizing<[u8; 32]>, stop: impl std::future::Future<Output = ()>) {
    let cfg = state.config.anchor.clone();
    let (Some(rpc), Some(contract)) = (cfg.rpc_url.clone(), cfg.contract.clone()) else { return };
    let holder = format!("anchorer-{}", uuid::Uuid::new_v4());
    let interval = Duration::from_millis(cfg.poll_ms);
    tokio::pin!(stop);
    let mut chain: Option<Chain> = None;
    loop {
        let lease_secs = (cfg.poll_ms / 1000) as i64 * 5 + 30;
        match state.store.try_lease(LEASE, &holder, Timestamp(state.now()), lease_secs).await {
            Ok(true) => {
                if chain.is_none() {
                    match Chain::connect(&rpc, cfg.chain_id, &key).await {
                        Ok(c) => chain = Some(c),
                        Err(e) => tracing::warn!("anchor: {e:#}"),
                    }
                }
                if let Some(c) = &chain {
                    if let Err(e) = tick(&state, c, &contract).await {
                        tracing::warn!("anchor: {e:#} (retried)");
                    }
                }
            }
            Ok(false) => {}
            Err(e) => tracing::warn!("anchor lease: {e}"),
        }
        tokio::select! {
            _ = &mut stop => return,
            _ = tokio::time::sleep(interval) => {}
        }
    }
}

fn tx_hex(h: &[u8; 32]) -> String {
    format!("0x{}", hex::encode(h))
}

fn parse_tx(h: &str) -> Result<[u8; 32]> {
    let mut out = [0u8; 32];
    hex::decode_to_slice(h.trim_start_matches("0x"), &mut out).with_context(|| format!("transaction hash {h:?}"))?;
    Ok(out)
}

/// One step of the state machine.
pub async fn tick(state: &AppState, chain: &Chain, contract: &str) -> Result<()> {
    let cfg = &state.config.anchor;
    let now = state.now();
    if let Some(a) = state.store.anchor_in_flight().await? {
        // Any of the transactions signed for this nonce may be the one mined.
        for h in a.transactions.iter().rev() {
            if let Some(m) = chain.mined(parse_tx(h)?).await? {
                if !m.success {
                    state.store.anchor_fail(&a.anchor_id, &format!("transaction {h} reverted"), Timestamp(now)).await?;
                    tracing::warn!(tree_size = a.tree_size, tx = %h, "anchor transaction reverted");
                    return Ok(());
                }
                let head = chain.block_number().await?;
                if head + 1 >= m.block_number + cfg.confirmations {
                    confirm(state, &a, h, m.block_number).await?;
                }
                return Ok(());
            }
        }
        if now - a.submitted_at.unix() >= cfg.bump_after_secs as i64 {
            let fees = Fees { max_fee_per_gas: a.max_fee, max_priority_fee_per_gas: a.priority_fee }.bumped();
            let reg = Registration {
                root: a.root,
                tree_size: a.tree_size,
                log_key_id: log_key_id(state),
                timestamp: a.created_at.unix() as u64,
            };
            let signed = chain.sign_register(proofmark_anchor::parse_address(contract)?, &reg, a.nonce, fees).await?;
            // Stored first: after a crash the replacement is what gets broadcast again.
            state
                .store
                .anchor_replace(
                    &a.anchor_id,
                    &tx_hex(&signed.hash),
                    &signed.raw,
                    fees.max_fee_per_gas,
                    fees.max_priority_fee_per_gas,
                    Timestamp(now),
                )
                .await?;
            tracing::info!(tree_size = a.tree_size, nonce = a.nonce, tx = %tx_hex(&signed.hash), fee = fees.max_fee_per_gas, "anchor fee bumped");
            chain.broadcast(&signed.raw).await?;
        } else {
            chain.broadcast(&a.raw_tx).await?;
        }
        return Ok(());
    }
    // Nothing in flight: register the newest checkpoint if it is larger than the last anchored one.
    let Some(cp) = state.store.log_checkpoint().await? else { return Ok(()) };
    let anchored = state.store.anchor_latest_confirmed().await?.map_or(0, |a| a.tree_size);
    if cp.tree_size == 0 || cp.tree_size <= anchored {
        return Ok(());
    }
    let fees = chain.fees().await?;
    let nonce = chain.nonce().await?;
    let reg =
        Registration { root: cp.root, tree_size: cp.tree_size, log_key_id: log_key_id(state), timestamp: now as u64 };
    let signed = chain.sign_register(proofmark_anchor::parse_address(contract)?, &reg, nonce, fees).await?;
    let attempt = StoredAnchor {
        anchor_id: uuid::Uuid::new_v4().to_string(),
        tree_size: cp.tree_size,
        root: cp.root,
        chain_id: chain.chain_id(),
        contract: contract.to_owned(),
        nonce,
        state: AnchorState::Submitted,
        transactions: vec![tx_hex(&signed.hash)],
        raw_tx: signed.raw.clone(),
        max_fee: fees.max_fee_per_gas,
        priority_fee: fees.max_priority_fee_per_gas,
        submitted_at: Timestamp(now),
        tx_hash: None,
        block_number: None,
        confirmed_at: None,
        last_error: None,
        created_at: Timestamp(now),
    };
    state.store.anchor_insert(&attempt).await?;
    tracing::info!(tree_size = cp.tree_size, nonce, tx = %tx_hex(&signed.hash), "anchor submitted");
    chain.broadcast(&signed.raw).await
}

/// Confirmed: the attempt and the `batch.anchored` deliveries of every organisation with records in the newly
/// anchored range, in one transaction.
async fn confirm(state: &AppState, a: &StoredAnchor, tx: &str, block: u64) -> Result<()> {
    let previous = state.store.anchor_latest_confirmed().await?.map_or(0, |p| p.tree_size);
    let data = Anchored {
        tree_size: a.tree_size,
        root: hex::encode(a.root),
        chain_id: a.chain_id,
        contract: &a.contract,
        transaction: tx,
        block_number: block,
    };
    let now = Timestamp(state.now());
    let mut jobs = Vec::new();
    for org in state.store.orgs_in_log_range(previous, a.tree_size).await? {
        jobs.extend(
            crate::webhooks::jobs_for(
                state.store.as_ref(),
                &state.config.webhooks,
                org,
                EventType::BatchAnchored,
                &data,
                now,
            )
            .await?,
        );
    }
    state.store.anchor_confirm(&a.anchor_id, tx, block, now, &jobs).await?;
    tracing::info!(tree_size = a.tree_size, block, tx, "checkpoint anchored");
    Ok(())
}
