//! The registry on a real local chain (anvil): deployed from the committed bytecode, checkpoints registered
//! once per root by the submitter only, the on-chain RFC 9162 verifier agreeing with proofmark-core, and a
//! fee-bumped replacement that leaves exactly one registration.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use proofmark_anchor::testing::{Anvil, CHAIN_ID, DEV_KEY};
use proofmark_anchor::{read_anchor, verify_anchored_inclusion, Chain, Registration};
use proofmark_core::tlog::merkle::{self, leaf_hash, Frontier};

fn reg(root: [u8; 32], tree_size: u64, log_key_id: [u8; 32], timestamp: u64) -> Registration {
    Registration { root, tree_size, log_key_id, timestamp }
}

fn tree(n: u32) -> (Vec<[u8; 32]>, Vec<[u8; 32]>, Frontier) {
    let mut f = Frontier::empty();
    let mut stored = Vec::new();
    let mut leaves = Vec::new();
    for i in 0..n {
        let h = leaf_hash(&i.to_be_bytes());
        leaves.push(h);
        stored.extend(f.append(h));
    }
    (leaves, stored, f)
}

/// The receipt of a transaction anvil mines on arrival. Its automine runs beside the RPC answer, so under
/// load the receipt can lag the broadcast by a moment: polled for up to 10 s.
async fn mined_soon(chain: &Chain, hash: [u8; 32]) -> proofmark_anchor::Mined {
    for _ in 0..200 {
        if let Some(m) = chain.mined(hash).await.unwrap() {
            return m;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("transaction {} not mined within 10 s", hex::encode(hash));
}

#[tokio::test]
async fn checkpoints_register_once_and_the_contract_verifies_inclusion() {
    let anvil = Anvil::start(&[]);
    let chain = Chain::connect(&anvil.url, CHAIN_ID, &DEV_KEY).await.unwrap();
    assert!(Chain::connect(&anvil.url, 1, &DEV_KEY)
        .await
        .unwrap_err()
        .to_string()
        .contains("serves chain 31337, not the configured 1"));
    let contract = chain.deploy().await.unwrap();
    let (leaves, stored, f) = tree(13);
    let root = f.root();
    assert_eq!(read_anchor(&anvil.url, contract, root).await.unwrap(), None);
    let key_id = [7u8; 32];
    let fees = chain.fees().await.unwrap();
    let tx = chain
        .sign_register(contract, &reg(root, 13, key_id, 1_800_000_000), chain.nonce().await.unwrap(), fees)
        .await
        .unwrap();
    chain.broadcast(&tx.raw).await.unwrap();
    chain.broadcast(&tx.raw).await.unwrap(); // again: "already known" or mined, not an error
    let mined = mined_soon(&chain, tx.hash).await;
    assert!(mined.success);
    let a = read_anchor(&anvil.url, contract, root).await.unwrap().unwrap();
    assert_eq!(
        (a.tree_size, a.timestamp, a.block_number, a.log_key_id),
        (13, 1_800_000_000, mined.block_number, key_id)
    );
    // The same root again: the transaction succeeds and changes nothing.
    let again =
        chain.sign_register(contract, &reg(root, 99, [9; 32], 1), chain.nonce().await.unwrap(), fees).await.unwrap();
    chain.broadcast(&again.raw).await.unwrap();
    assert!(mined_soon(&chain, again.hash).await.success);
    assert_eq!(read_anchor(&anvil.url, contract, root).await.unwrap().unwrap().tree_size, 13);
    // Inclusion on chain, for every leaf, with proofmark-core's proofs; a flipped bit is refused.
    for i in 0..13u64 {
        let plan = merkle::plan_inclusion(i, 13).unwrap();
        let hashes: Vec<[u8; 32]> = plan.indexes().iter().map(|&j| stored[j as usize]).collect();
        let proof = plan.finish(&hashes).unwrap();
        assert!(
            verify_anchored_inclusion(&anvil.url, contract, leaves[i as usize], i, &proof, root).await.unwrap(),
            "leaf {i}"
        );
        let mut bad = proof.clone();
        bad[0][0] ^= 1;
        assert!(!verify_anchored_inclusion(&anvil.url, contract, leaves[i as usize], i, &bad, root).await.unwrap());
    }
    // Another account may not register.
    let other = [
        0x59, 0xc6, 0x99, 0x5e, 0x99, 0x8f, 0x97, 0xa5, 0xa0, 0x04, 0x49, 0x66, 0xf0, 0x94, 0x53, 0x89, 0xdc, 0x9e,
        0x86, 0xda, 0xe8, 0x8c, 0x7a, 0x84, 0x12, 0xf4, 0x60, 0x3b, 0x6b, 0x78, 0x69, 0x0d,
    ];
    let intruder = Chain::connect(&anvil.url, CHAIN_ID, &other).await.unwrap();
    let tx = intruder
        .sign_register(contract, &reg([1; 32], 5, key_id, 1), intruder.nonce().await.unwrap(), fees)
        .await
        .unwrap();
    intruder.broadcast(&tx.raw).await.unwrap();
    assert!(!mined_soon(&intruder, tx.hash).await.success, "reverted: NotSubmitter");
    assert_eq!(read_anchor(&anvil.url, contract, [1; 32]).await.unwrap(), None);
}

#[tokio::test]
async fn a_fee_bumped_replacement_is_the_only_one_mined() {
    let anvil = Anvil::start(&["--no-mining"]);
    let chain = Chain::connect(&anvil.url, CHAIN_ID, &DEV_KEY).await.unwrap();
    // Deploy with mining on, then stop it again.
    anvil.rpc("evm_setAutomine", serde_json::json!([true]));
    let contract = chain.deploy().await.unwrap();
    anvil.rpc("evm_setAutomine", serde_json::json!([false]));
    let (_, _, f) = tree(5);
    let nonce = chain.nonce().await.unwrap();
    let fees = chain.fees().await.unwrap();
    let first = chain.sign_register(contract, &reg(f.root(), 5, [3; 32], 10), nonce, fees).await.unwrap();
    chain.broadcast(&first.raw).await.unwrap();
    let second = chain.sign_register(contract, &reg(f.root(), 5, [3; 32], 10), nonce, fees.bumped()).await.unwrap();
    assert_ne!(first.hash, second.hash);
    chain.broadcast(&second.raw).await.unwrap();
    anvil.rpc("evm_mine", serde_json::json!([]));
    assert!(mined_soon(&chain, second.hash).await.success);
    assert_eq!(chain.mined(first.hash).await.unwrap(), None, "the replaced transaction is never mined");
    assert_eq!(chain.nonce().await.unwrap(), nonce + 1);
    assert_eq!(read_anchor(&anvil.url, contract, f.root()).await.unwrap().unwrap().tree_size, 5);
}
