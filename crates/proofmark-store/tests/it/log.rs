//! The transparency log's storage on both backends: dense indexes in insertion order, stored hashes that
//! give the same roots and proofs as the leaves themselves, signed checkpoints, idempotent cosignatures, and
//! two batchers (two pools: two processes) racing on one database without assigning an index twice or
//! skipping a record.
use std::collections::HashSet;
use std::sync::Arc;

use ed25519_dalek::SigningKey as Ed25519Key;
use proofmark_core::tlog::merkle::{self, leaf_hash, plan_consistency, plan_inclusion, plan_root};
use proofmark_core::tlog::{verify_signed_checkpoint, NoteSigner, RecordLeaf, TYPE_ED25519};
use proofmark_store::{
    AttestationProvider, ContentRecord, OrgId, OriginType, PostgresStore, Publisher, RecordSource, Role,
    SigningAlgorithm, SigningKey, SigningKeyId, Store, StoredCosignature, Timestamp, User, UserId,
};

use crate::support::{backends, fresh_postgres_url};

fn log_key() -> NoteSigner {
    NoteSigner::new("log.proofmark.test", TYPE_ED25519, Ed25519Key::from_bytes(&[7; 32])).unwrap()
}

/// An organisation with one signing key; returns (org, key id, public key hex).
async fn org_with_key(s: &dyn Store) -> (OrgId, SigningKeyId, String) {
    let org = Publisher {
        publisher_id: OrgId::random(),
        name: format!("Org {}", uuid::Uuid::new_v4()),
        sandbox: true,
        attestation_provider: AttestationProvider::None,
        attestation_bundle_id: None,
        firebase_project_id: None,
        created_at: Timestamp(1_000),
    };
    let user = User {
        user_id: UserId::random(),
        org_id: org.publisher_id,
        email: format!("{}@example.com", uuid::Uuid::new_v4()),
        password_hash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA".into(),
        full_name: "Ada".into(),
        role: Role::Owner,
        created_at: Timestamp(1_000),
    };
    s.create_account(&org, &user, None).await.unwrap();
    let public_key = hex::encode(Ed25519Key::from_bytes(&[3; 32]).verifying_key().as_bytes());
    let key = SigningKey {
        key_id: SigningKeyId::random(),
        org_id: org.publisher_id,
        name: "newsroom".into(),
        algorithm: SigningAlgorithm::Ed25519,
        public_key: public_key.clone(),
        custody: proofmark_store::KeyCustody::Server,
        sealed_private_key: vec![9; 60],
        created_at: Timestamp(1_000),
        retired_at: None,
    };
    s.create_signing_key(&key).await.unwrap();
    (org.publisher_id, key.key_id, public_key)
}

fn record(org: &OrgId, key: &SigningKeyId, n: u64) -> ContentRecord {
    ContentRecord {
        origin_type: if n.is_multiple_of(3) { None } else { Some(OriginType::Camera) },
        watermarked_sha256: n.is_multiple_of(2).then(|| format!("{:064x}", n + 1_000_000)),
        phash: n.wrapping_mul(0x9e37_79b9_7f4a_7c15),
        source: RecordSource::Signed,
        ..ContentRecord::registered(*org, *key, format!("{n:064x}"), Timestamp(1_700_000_000 + n as i64))
    }
}

/// Checks the whole stored log against its leaves: every checkpoint signed and of the root its leaves give,
/// every inclusion proof (for a sample) and the consistency between successive checkpoints.
async fn audit(s: &dyn Store, sizes: &[u64]) {
    let b = s.backend();
    let log = log_key();
    let last = *sizes.last().unwrap();
    let entries = s.log_entries(0, last + 10).await.unwrap();
    assert_eq!(entries.len() as u64, last, "{b}: as many leaves as the newest checkpoint says");
    let leaves: Vec<_> = entries.iter().map(|e| leaf_hash(e)).collect();
    for e in &entries {
        RecordLeaf::parse(e).unwrap();
    }
    let mut previous: Option<(u64, [u8; 32])> = None;
    for &size in sizes {
        let cp = s.log_checkpoint_at(size).await.unwrap().unwrap();
        let verified = verify_signed_checkpoint(cp.note.as_bytes(), log.verifier(), &[], 0).unwrap();
        assert_eq!((verified.checkpoint.size, verified.checkpoint.root), (size, cp.root), "{b}");
        let plan = plan_root(size);
        let root = plan.finish(&s.log_hashes(plan.indexes()).await.unwrap()).unwrap()[0];
        assert_eq!(root, cp.root, "{b}: stored hashes give the signed root at {size}");
        let mut f = merkle::Frontier::empty();
        for l in &leaves[..size as usize] {
            f.append(*l);
        }
        assert_eq!(f.root(), cp.root, "{b}: the leaves give the signed root at {size}");
        for i in [0, size / 2, size - 1] {
            let plan = plan_inclusion(i, size).unwrap();
            let proof = plan.finish(&s.log_hashes(plan.indexes()).await.unwrap()).unwrap();
            merkle::verify_inclusion(&leaves[i as usize], i, size, &proof, &cp.root).unwrap();
        }
        if let Some((old, old_root)) = previous {
            let plan = plan_consistency(old, size).unwrap();
            let proof = plan.finish(&s.log_hashes(plan.indexes()).await.unwrap()).unwrap();
            merkle::verify_consistency(old, size, &proof, &old_root, &cp.root).unwrap();
        }
        previous = Some((size, cp.root));
    }
}

#[tokio::test]
async fn batches_append_in_insertion_order_with_signed_consistent_checkpoints() {
    let (_dir, stores) = backends().await;
    for s in stores {
        let b = s.backend();
        let log = log_key();
        assert!(s.log_append(&log, 100, Timestamp(5)).await.unwrap().is_none(), "{b}: nothing pending");
        assert!(s.log_checkpoint().await.unwrap().is_none(), "{b}");
        let (org, key, public_key) = org_with_key(s.as_ref()).await;
        let mut records = Vec::new();
        for n in 0..23 {
            let r = record(&org, &key, n);
            s.create_record(&r, &[]).await.unwrap();
            records.push(r);
        }
        assert_eq!(s.log_pending().await.unwrap(), 23, "{b}");
        let mut sizes = Vec::new();
        for (want_first, want_count) in [(0, 10), (10, 10), (20, 3)] {
            let batch = s.log_append(&log, 10, Timestamp(100)).await.unwrap().unwrap();
            assert_eq!((batch.first_index, batch.count), (want_first, want_count), "{b}");
            sizes.push(batch.checkpoint.tree_size);
        }
        assert!(s.log_append(&log, 10, Timestamp(100)).await.unwrap().is_none(), "{b}");
        assert_eq!(s.log_pending().await.unwrap(), 0, "{b}");
        // Leaf i is record i, with the fields the docs name.
        for (i, r) in records.iter().enumerate() {
            assert_eq!(s.log_leaf_index(&r.record_id).await.unwrap(), Some(i as u64), "{b}");
        }
        let entries = s.log_entries(3, 5).await.unwrap();
        let leaf = RecordLeaf::parse(&entries[1]).unwrap();
        assert_eq!(leaf.record_id, records[4].record_id.to_string(), "{b}");
        assert_eq!(leaf.organization_id, org.to_string(), "{b}");
        assert_eq!(hex::encode(leaf.signer), public_key, "{b}");
        assert_eq!(hex::encode(leaf.sha256), records[4].sha256, "{b}");
        assert_eq!(leaf.watermarked_sha256.map(hex::encode), records[4].watermarked_sha256, "{b}");
        assert_eq!(leaf.phash, records[4].phash, "{b}");
        assert_eq!(leaf.origin.as_deref(), Some("CAMERA"), "{b}");
        assert_eq!(leaf.signed_at, "2023-11-14T22:13:24Z", "{b}");
        assert_eq!(RecordLeaf::parse(&entries[0]).unwrap().origin, None, "{b}: record 3 has no origin");
        assert_eq!(s.log_checkpoint().await.unwrap().unwrap().tree_size, 23, "{b}");
        let bytes = s.log_storage_bytes().await.unwrap();
        assert!(bytes > 23 * (32 + 300), "{b}: the log's tables take {bytes} bytes");
        audit(s.as_ref(), &sizes).await;
        // A tombstoned record stays in the log.
        assert!(s.delete_record(&org, &records[0].record_id, Timestamp(200)).await.unwrap(), "{b}");
        assert_eq!(s.log_entries(0, 1).await.unwrap().len(), 1, "{b}");
        // Cosignatures: stored once per witness and size.
        let c = StoredCosignature {
            tree_size: 23,
            witness: "witness.test/w1".into(),
            key_id: 0xdead_beef,
            line: "— witness.test/w1 AAAA\n".into(),
            cosigned_at: Timestamp(300),
        };
        assert!(s.add_cosignature(&c, Timestamp(301)).await.unwrap(), "{b}");
        assert!(!s.add_cosignature(&c, Timestamp(302)).await.unwrap(), "{b}: once");
        assert_eq!(s.cosignatures(23).await.unwrap(), vec![c], "{b}");
        assert!(s.cosignatures(10).await.unwrap().is_empty(), "{b}");
        // A missing stored hash is an error, not a made-up value.
        assert!(s.log_hashes(&[10_000]).await.is_err(), "{b}");
    }
}

/// Two pools on one PostgreSQL database are two processes: both batch in a loop while records keep
/// arriving. The advisory lock lets one at a time in; at the end every record has exactly one index, the
/// indexes are 0..n, and every checkpoint is consistent with the next.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_batchers_on_one_postgres_never_assign_an_index_twice() {
    let url = fresh_postgres_url().await;
    let a: Arc<dyn Store> = Arc::new(PostgresStore::open(&url).await.unwrap());
    let b: Arc<dyn Store> = Arc::new(PostgresStore::open(&url).await.unwrap());
    let (org, key, _) = org_with_key(a.as_ref()).await;
    const N: u64 = 600;
    let writer = {
        let a = a.clone();
        tokio::spawn(async move {
            for n in 0..N {
                a.create_record(&record(&org, &key, n), &[]).await.unwrap();
            }
        })
    };
    let batcher = |s: Arc<dyn Store>| {
        tokio::spawn(async move {
            let log = log_key();
            let mut mine = Vec::new();
            for _ in 0..2000 {
                if let Some(batch) = s.log_append(&log, 25, Timestamp(100)).await.unwrap() {
                    mine.push(batch);
                }
                if s.log_checkpoint().await.unwrap().is_some_and(|c| c.tree_size == N) {
                    break;
                }
                tokio::task::yield_now().await;
            }
            mine
        })
    };
    let (ta, tb) = (batcher(a.clone()), batcher(b.clone()));
    writer.await.unwrap();
    let (ba, bb) = (ta.await.unwrap(), tb.await.unwrap());
    assert!(!ba.is_empty() && !bb.is_empty(), "both processes batched ({} and {} batches)", ba.len(), bb.len());
    let mut ranges: Vec<(u64, u64)> = ba.iter().chain(&bb).map(|x| (x.first_index, x.count)).collect();
    ranges.sort();
    let mut next = 0;
    for (first, count) in &ranges {
        assert_eq!(*first, next, "batches tile the index space: {ranges:?}");
        next += count;
    }
    assert_eq!(next, N);
    let entries = a.log_entries(0, N + 1).await.unwrap();
    let ids: HashSet<String> = entries.iter().map(|e| RecordLeaf::parse(e).unwrap().record_id).collect();
    assert_eq!(ids.len() as u64, N, "every record exactly once");
    assert_eq!(a.log_pending().await.unwrap(), 0);
    let mut sizes: Vec<u64> = ranges.iter().map(|(f, c)| f + c).collect();
    sizes.sort();
    audit(a.as_ref(), &sizes).await;
}
