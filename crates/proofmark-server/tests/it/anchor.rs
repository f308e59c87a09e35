//! Anchoring on a real local chain (anvil), on SQLite and on PostgreSQL: the newest checkpoint registered in
//! the deployed `ProvenanceRegistry`, confirmed after k blocks, the receipts carrying the anchor (verified
//! offline, and on chain by the contract itself), `batch.anchored` enqueued for the organisations whose records
//! the anchor covers; and a restart in the middle that broadcasts the same nonce again and then a fee-bumped
//! replacement, never a second registration.
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

use axum::http::{Method, StatusCode};
use proofmark_anchor::testing::{Anvil, CHAIN_ID, DEV_KEY};
use proofmark_anchor::{read_anchor, verify_anchored_inclusion, Chain};
use proofmark_core::tlog::merkle::leaf_hash;
use proofmark_core::tlog::{Anchor, NoteVerifier, ReceiptPolicy};
use proofmark_server::config::Secret;
use proofmark_server::{anchoring, transparency, AppState, Clock};
use proofmark_store::AnchorState;
use serde_json::json;

use crate::log::add_records_with_session;
use crate::support::TestServer;

async fn deploy(anvil: &Anvil) -> String {
    let chain = Chain::connect(&anvil.url, CHAIN_ID, &DEV_KEY).await.unwrap();
    chain.deploy().await.unwrap().to_string()
}

fn anchored(anvil: &Anvil, contract: &str, c: &mut proofmark_server::Config) {
    c.anchor.rpc_url = Some(anvil.url.clone());
    c.anchor.chain_id = CHAIN_ID;
    c.anchor.contract = Some(contract.to_owned());
    c.anchor.submitter_key = Some(Secret(hex::encode(DEV_KEY)));
    c.anchor.confirmations = 2;
    c.anchor.bump_after_secs = 60;
}

async fn chain_of(s: &TestServer) -> Chain {
    chain_of_state(&s.state).await
}

#[tokio::test]
async fn checkpoints_are_anchored_confirmed_and_carried_by_receipts() {
    let anvil = Anvil::start(&[]);
    let contract = deploy(&anvil).await;
    for s in TestServer::both_with(|c| anchored(&anvil, &contract, c)).await {
        let b = s.backend();
        let (session, ids) = add_records_with_session(&s, 6).await;
        let r = s
            .authed(
                Method::POST,
                "/api/v1/webhooks",
                &session,
                json!({"url": "https://hooks.example.com/proofmark", "events": ["batch.anchored"]}),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{b}: {:?}", r.body);
        transparency::batch_pending(&s.state).await.unwrap();
        let chain = chain_of(&s).await;
        let contract_addr = proofmark_anchor::parse_address(&contract).unwrap();

        // Submitted, mined at once by anvil, confirmed once a second block is on top.
        anchoring::tick(&s.state, &chain, &contract).await.unwrap();
        let a = s.state.store.anchor_in_flight().await.unwrap().expect("submitted");
        assert_eq!((a.tree_size, a.state), (6, AnchorState::Submitted), "{b}");
        anchoring::tick(&s.state, &chain, &contract).await.unwrap();
        assert!(s.state.store.anchor_in_flight().await.unwrap().is_some(), "{b}: one block is not two confirmations");
        anvil.rpc("evm_mine", json!([]));
        anchoring::tick(&s.state, &chain, &contract).await.unwrap();
        assert!(s.state.store.anchor_in_flight().await.unwrap().is_none(), "{b}");
        let confirmed = s.state.store.anchor_latest_confirmed().await.unwrap().unwrap();
        assert_eq!((confirmed.tree_size, confirmed.state), (6, AnchorState::Confirmed), "{b}");
        // Nothing new to anchor: no second attempt.
        anchoring::tick(&s.state, &chain, &contract).await.unwrap();
        assert!(s.state.store.anchor_in_flight().await.unwrap().is_none(), "{b}");

        // On chain: the root, its size, and the log's key id.
        let on_chain = read_anchor(&anvil.url, contract_addr, confirmed.root).await.unwrap().unwrap();
        assert_eq!((on_chain.tree_size, on_chain.log_key_id), (6, anchoring::log_key_id(&s.state)), "{b}");
        assert_eq!(Some(on_chain.block_number), confirmed.block_number, "{b}");

        // The log grows past the anchor: receipts against size 9 carry the anchor at 6 with a consistency path.
        add_records_with_session(&s, 3).await;
        transparency::batch_pending(&s.state).await.unwrap();
        let receipt = transparency::receipt(&s.state, &ids[4]).await.unwrap().unwrap();
        assert_eq!(receipt.tree_size, 9, "{b}");
        let Anchor::Anchored(anchor) = &receipt.anchor else { panic!("{b}: not anchored: {receipt:?}") };
        assert_eq!(
            (anchor.tree_size, anchor.chain_id, anchor.contract.to_lowercase()),
            (6, CHAIN_ID, contract.to_lowercase()),
            "{b}"
        );
        let log = NoteVerifier::parse(&s.state.log.vkey()).unwrap();
        let ok = receipt.verify(&ReceiptPolicy { log, witnesses: vec![], min_witnesses: 0 }).unwrap();
        assert_eq!(ok.anchor.as_ref().unwrap().block_number, on_chain.block_number, "{b}");
        // The contract's own verifier accepts the anchored inclusion path.
        let path: Vec<[u8; 32]> =
            anchor.inclusion_path.iter().map(|h| hex::decode(h).unwrap().try_into().unwrap()).collect();
        assert!(
            verify_anchored_inclusion(
                &anvil.url,
                contract_addr,
                leaf_hash(receipt.leaf.as_bytes()),
                4,
                &path,
                confirmed.root
            )
            .await
            .unwrap(),
            "{b}"
        );
        // A record after the anchor: not anchored yet.
        let later = transparency::receipt(
            &s.state,
            &s.state
                .store
                .log_entries(8, 9)
                .await
                .unwrap()
                .first()
                .map(|e| proofmark_core::tlog::RecordLeaf::parse(e).unwrap().record_id.parse().unwrap())
                .unwrap(),
        )
        .await
        .unwrap()
        .unwrap();
        assert_eq!(later.anchor, Anchor::NotAnchored, "{b}");
        // batch.anchored was enqueued for the organisation with records in 0..6 (and its webhook).
        let jobs = s.state.store.jobs_matching("webhook", "batch.anchored", 10).await.unwrap();
        assert_eq!(jobs.len(), 1, "{b}: {jobs:?}");
        assert!(jobs[0].payload.contains("\\\"tree_size\\\":6"), "{b}: {}", jobs[0].payload);
    }
}

#[tokio::test]
async fn a_restart_rebroadcasts_the_same_nonce_and_bumps_the_fee_never_a_second_registration() {
    let anvil = Anvil::start(&["--no-mining"]);
    anvil.rpc("evm_setAutomine", json!([true]));
    let contract = deploy(&anvil).await;
    anvil.rpc("evm_setAutomine", json!([false]));
    let s = TestServer::with(|c| anchored(&anvil, &contract, c)).await;
    add_records_with_session(&s, 4).await;
    transparency::batch_pending(&s.state).await.unwrap();
    let chain = chain_of(&s).await;
    let nonce_before = chain.nonce().await.unwrap();
    anchoring::tick(&s.state, &chain, &contract).await.unwrap();
    let first = s.state.store.anchor_in_flight().await.unwrap().unwrap();
    assert_eq!(first.nonce, nonce_before);

    // "Restart": a new process state on the same data directory and database, its own clock.
    let time = Arc::new(AtomicI64::new(s.state.now()));
    let t = time.clone();
    let restarted =
        AppState::new(s.state.config.clone(), Clock::from_fn(move || t.load(Ordering::SeqCst))).await.unwrap();
    let chain2 = chain_of_state(&restarted).await;
    anchoring::tick(&restarted, &chain2, &contract).await.unwrap();
    let same = restarted.store.anchor_in_flight().await.unwrap().unwrap();
    assert_eq!(
        (same.anchor_id.as_str(), same.transactions.len()),
        (first.anchor_id.as_str(), 1),
        "broadcast again, not re-signed"
    );
    // Not mined for longer than bump_after_secs: a replacement with the same nonce and higher fees.
    time.fetch_add(61, Ordering::SeqCst);
    anchoring::tick(&restarted, &chain2, &contract).await.unwrap();
    let bumped = restarted.store.anchor_in_flight().await.unwrap().unwrap();
    assert_eq!((bumped.nonce, bumped.transactions.len()), (first.nonce, 2));
    assert!(bumped.max_fee > first.max_fee && bumped.priority_fee > first.priority_fee);
    anvil.rpc("evm_mine", json!([]));
    anvil.rpc("evm_mine", json!([]));
    anchoring::tick(&restarted, &chain2, &contract).await.unwrap();
    let done = restarted.store.anchor_latest_confirmed().await.unwrap().unwrap();
    assert_eq!(done.tx_hash.as_deref(), Some(bumped.transactions[1].as_str()), "the replacement is the one mined");
    assert_eq!(chain.nonce().await.unwrap(), nonce_before + 1, "one transaction from the submitter");
    let on_chain =
        read_anchor(&anvil.url, proofmark_anchor::parse_address(&contract).unwrap(), done.root).await.unwrap();
    assert_eq!(on_chain.map(|a| a.tree_size), Some(4));
}

async fn chain_of_state(state: &AppState) -> Chain {
    let cfg = &state.config.anchor;
    let key = anchoring::load_or_create_key(
        state.store.as_ref(),
        state.keys.kek(),
        cfg.submitter_key.as_ref().map(|k| k.0.as_str()),
        state.now(),
    )
    .await
    .unwrap();
    Chain::connect(cfg.rpc_url.as_deref().unwrap(), CHAIN_ID, &key).await.unwrap()
}
