//! What every Store must do for accounts: organisations (publisher rows), users, sessions, API keys and
//! signing keys — on both backends.
use proofmark_store::{
    ApiKey, ApiKeyId, AttestationProvider, OrgId, Publisher, Role, Scope, SigningAlgorithm, SigningKey, SigningKeyId,
    StoreError, Timestamp, User, UserId, UserSession,
};

use crate::support::backends;

fn org(name: &str) -> Publisher {
    Publisher {
        publisher_id: OrgId::random(),
        name: name.into(),
        sandbox: true,
        attestation_provider: AttestationProvider::None,
        attestation_bundle_id: None,
        firebase_project_id: None,
        created_at: Timestamp(1_000),
    }
}

fn user(org: &Publisher, email: &str) -> User {
    User {
        user_id: UserId::random(),
        org_id: org.publisher_id,
        email: email.into(),
        password_hash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA".into(),
        full_name: "Ada".into(),
        role: Role::Owner,
        created_at: Timestamp(1_000),
    }
}

fn session(user: &User, hash: &str, expires_at: i64) -> UserSession {
    UserSession {
        token_hash: hash.into(),
        user_id: user.user_id,
        created_at: Timestamp(1_000),
        expires_at: Timestamp(expires_at),
    }
}

#[tokio::test]
async fn accounts_are_created_whole_or_not_at_all() {
    let (_dir, stores) = backends().await;
    for s in stores {
        let b = s.backend();
        let o = org("Daily Planet");
        let u = user(&o, "Lois@Example.com ");
        s.create_account(&o, &u, Some(&session(&u, "t1", 5_000))).await.unwrap();
        // The organisation is the capture plane's publisher.
        assert_eq!(s.publisher(&o.publisher_id).await.unwrap().unwrap().name, "Daily Planet", "{b}");
        assert_eq!(s.user_by_email("lois@example.com").await.unwrap(), Some(u.clone()), "{b}");
        assert_eq!(s.user_by_session("t1", Timestamp(4_999)).await.unwrap(), Some(u.clone()), "{b}");
        assert_eq!(s.user_by_session("t1", Timestamp(5_000)).await.unwrap(), None, "{b}: expired at expires_at");
        assert_eq!(s.user_by_session("t2", Timestamp(10)).await.unwrap(), None, "{b}");

        // Same address, other organisation: refused, and the organisation is not left behind.
        let o2 = org("Other Paper");
        let dup = s.create_account(&o2, &user(&o2, "LOIS@example.com"), None).await;
        assert!(matches!(dup, Err(StoreError::Conflict)), "{b}");
        assert!(s.publisher(&o2.publisher_id).await.unwrap().is_none(), "{b}: no orphan organisation");
        // A look-alike organisation name: refused, and the user is not left behind.
        let o3 = org("DAILY PLANET");
        let dup = s.create_account(&o3, &user(&o3, "clark@example.com"), None).await;
        assert!(matches!(dup, Err(StoreError::Conflict)), "{b}");
        assert!(s.user_by_email("clark@example.com").await.unwrap().is_none(), "{b}: no orphan user");
        // A later session for the same user.
        s.create_user_session(&session(&u, "t3", 9_000)).await.unwrap();
        assert_eq!(s.user_by_session("t3", Timestamp(8_000)).await.unwrap().map(|u| u.user_id), Some(u.user_id));
    }
}

fn api_key(org: &OrgId, hash: &str, scopes: &[Scope], at: i64) -> ApiKey {
    ApiKey {
        key_id: ApiKeyId::random(),
        org_id: *org,
        name: format!("key {hash}"),
        prefix: "pmk_abcd".into(),
        key_hash: hash.into(),
        scopes: scopes.to_vec(),
        created_by: None,
        created_at: Timestamp(at),
        last_used_at: None,
        revoked_at: None,
    }
}

#[tokio::test]
async fn api_keys_belong_to_one_organisation() {
    let (_dir, stores) = backends().await;
    for s in stores {
        let b = s.backend();
        let (a, z) = (org("Alpha"), org("Zulu"));
        s.create_account(&a, &user(&a, "a@example.com"), None).await.unwrap();
        s.create_account(&z, &user(&z, "z@example.com"), None).await.unwrap();
        let k1 = api_key(&a.publisher_id, "h1", &[Scope::Read, Scope::Sign, Scope::Read], 10);
        let k2 = api_key(&a.publisher_id, "h2", &[Scope::Admin], 20);
        let kz = api_key(&z.publisher_id, "hz", &[Scope::Sign], 30);
        for k in [&k1, &k2, &kz] {
            s.create_api_key(k).await.unwrap();
        }
        assert!(matches!(s.create_api_key(&api_key(&a.publisher_id, "h1", &[], 1)).await, Err(StoreError::Conflict)));
        let listed = s.api_keys(&a.publisher_id).await.unwrap();
        assert_eq!(listed.iter().map(|k| k.key_id).collect::<Vec<_>>(), [k1.key_id, k2.key_id], "{b}");
        assert_eq!(listed[0].scopes, [Scope::Read, Scope::Sign], "{b}: sorted, without repeats");
        assert_eq!(s.api_key_by_hash("hz").await.unwrap().map(|k| k.org_id), Some(z.publisher_id), "{b}");

        s.touch_api_key(&k1.key_id, Timestamp(100)).await.unwrap();
        s.touch_api_key(&k1.key_id, Timestamp(130)).await.unwrap(); // within a minute: not written
        assert_eq!(s.api_key_by_hash("h1").await.unwrap().unwrap().last_used_at, Some(Timestamp(100)), "{b}");
        s.touch_api_key(&k1.key_id, Timestamp(160)).await.unwrap();
        assert_eq!(s.api_key_by_hash("h1").await.unwrap().unwrap().last_used_at, Some(Timestamp(160)), "{b}");

        // Another organisation cannot revoke it; its owner can, once.
        assert!(!s.revoke_api_key(&z.publisher_id, &k1.key_id, Timestamp(200)).await.unwrap(), "{b}");
        assert!(s.api_key_by_hash("h1").await.unwrap().is_some(), "{b}");
        assert!(s.revoke_api_key(&a.publisher_id, &k1.key_id, Timestamp(200)).await.unwrap(), "{b}");
        assert!(!s.revoke_api_key(&a.publisher_id, &k1.key_id, Timestamp(201)).await.unwrap(), "{b}: once");
        assert!(s.api_key_by_hash("h1").await.unwrap().is_none(), "{b}: a revoked key does not authenticate");
        assert_eq!(s.api_keys(&a.publisher_id).await.unwrap().len(), 1, "{b}");
    }
}

fn signing_key(org: &OrgId, at: i64) -> SigningKey {
    SigningKey {
        key_id: SigningKeyId::random(),
        org_id: *org,
        name: "newsroom".into(),
        algorithm: SigningAlgorithm::Ed25519,
        public_key: "ab".repeat(32),
        custody: proofmark_store::KeyCustody::Server,
        sealed_private_key: vec![9; 60],
        created_at: Timestamp(at),
        retired_at: None,
    }
}

#[tokio::test]
async fn signing_keys_retire_and_stay_readable() {
    let (_dir, stores) = backends().await;
    for s in stores {
        let b = s.backend();
        let (a, z) = (org("Alpha"), org("Zulu"));
        s.create_account(&a, &user(&a, "a@example.com"), None).await.unwrap();
        s.create_account(&z, &user(&z, "z@example.com"), None).await.unwrap();
        let (k1, k2) = (signing_key(&a.publisher_id, 10), signing_key(&a.publisher_id, 20));
        s.create_signing_key(&k1).await.unwrap();
        s.create_signing_key(&k2).await.unwrap();
        assert!(!s.retire_signing_key(&z.publisher_id, &k1.key_id, Timestamp(50)).await.unwrap(), "{b}");
        assert!(s.retire_signing_key(&a.publisher_id, &k1.key_id, Timestamp(50)).await.unwrap(), "{b}");
        assert!(!s.retire_signing_key(&a.publisher_id, &k1.key_id, Timestamp(60)).await.unwrap(), "{b}: once");
        let keys = s.signing_keys(&a.publisher_id).await.unwrap();
        assert_eq!(
            keys.iter().map(|k| (k.key_id, k.retired_at)).collect::<Vec<_>>(),
            [(k1.key_id, Some(Timestamp(50))), (k2.key_id, None)],
            "{b}"
        );
        let read = s.signing_key(&k1.key_id).await.unwrap().unwrap();
        assert_eq!((read.sealed_private_key, read.algorithm), (vec![9; 60], SigningAlgorithm::Ed25519), "{b}");
        assert!(s.signing_keys(&z.publisher_id).await.unwrap().is_empty(), "{b}");
    }
}

fn record(org: &OrgId, key: &SigningKeyId, sha: &str, at: i64) -> proofmark_store::ContentRecord {
    proofmark_store::ContentRecord {
        record_id: proofmark_store::RecordId::random(),
        org_id: *org,
        signing_key_id: *key,
        signer: "user".into(),
        origin_type: Some(proofmark_store::OriginType::Camera),
        sha256: sha.into(),
        watermarked_sha256: Some(format!("w{sha}")),
        phash: 0xc037_1bec_1be5_1267 | (1 << 63),
        fingerprint: "f".into(),
        signature: "s".into(),
        watermark_payload: Some(sha[sha.len() - 32..].into()),
        file_name: None,
        media_type: "image/png".into(),
        file_size: 10,
        width: Some(1),
        height: Some(1),
        original_object: Some("o".into()),
        watermarked_object: None,
        source: proofmark_store::RecordSource::Signed,
        created_at: Timestamp(at),
        deleted_at: None,
    }
}

#[tokio::test]
async fn records_page_by_cursor_tombstone_and_are_found_by_either_hash() {
    let (_dir, stores) = backends().await;
    for s in stores {
        let b = s.backend();
        let (a, z) = (org("Alpha"), org("Zulu"));
        s.create_account(&a, &user(&a, "a@example.com"), None).await.unwrap();
        s.create_account(&z, &user(&z, "z@example.com"), None).await.unwrap();
        let key = signing_key(&a.publisher_id, 1);
        s.create_signing_key(&key).await.unwrap();
        // Seven records, two sharing a second: the cursor orders by (created_at, record_id).
        let mut all = Vec::new();
        for (i, at) in [10, 20, 20, 30, 40, 50, 60].into_iter().enumerate() {
            let r = record(&a.publisher_id, &key.key_id, &format!("{i:064}"), at);
            s.create_record(&r, &[]).await.unwrap();
            all.push(r);
        }
        assert_eq!(
            s.record(&all[0].record_id).await.unwrap().as_ref(),
            Some(&all[0]),
            "{b}: every field round-trips (phash's top bit too)"
        );
        // Insertion order for the pHash index: positions grow, and reading on from one continues there.
        let hashes = s.record_hashes(0, 100).await.unwrap();
        let order: Vec<_> = hashes.iter().map(|h| h.record_id).collect();
        assert_eq!(order, all.iter().map(|r| r.record_id).collect::<Vec<_>>(), "{b}");
        assert!(hashes.windows(2).all(|w| w[0].seq < w[1].seq) && hashes[0].phash == all[0].phash, "{b}");
        for (h, r) in hashes.iter().zip(&all) {
            assert_eq!(h.watermark_payload.map(hex::encode), r.watermark_payload, "{b}");
        }
        let next = s.record_hashes(hashes[2].seq, 2).await.unwrap();
        assert_eq!(next.iter().map(|h| h.record_id).collect::<Vec<_>>(), [all[3].record_id, all[4].record_id], "{b}");
        let mut seen = Vec::new();
        let mut cursor = None;
        loop {
            let page = s.records(&a.publisher_id, cursor, 3).await.unwrap();
            if page.is_empty() {
                break;
            }
            cursor = page.last().map(|r| (r.created_at, r.record_id));
            seen.extend(page.into_iter().map(|r| r.record_id));
        }
        let mut want = all.clone();
        want.sort_by_key(|r| std::cmp::Reverse((r.created_at, r.record_id.to_string())));
        assert_eq!(seen, want.iter().map(|r| r.record_id).collect::<Vec<_>>(), "{b}");
        assert!(s.records(&z.publisher_id, None, 10).await.unwrap().is_empty(), "{b}");
        // Found by the original's or the watermarked file's hash; a tombstone hides it from both.
        let sha = all[3].sha256.clone();
        assert_eq!(s.records_by_sha256(&sha).await.unwrap().len(), 1, "{b}");
        assert_eq!(s.records_by_sha256(&format!("w{sha}")).await.unwrap().len(), 1, "{b}");
        assert!(!s.delete_record(&z.publisher_id, &all[3].record_id, Timestamp(99)).await.unwrap(), "{b}");
        assert!(s.delete_record(&a.publisher_id, &all[3].record_id, Timestamp(99)).await.unwrap(), "{b}");
        assert!(!s.delete_record(&a.publisher_id, &all[3].record_id, Timestamp(100)).await.unwrap(), "{b}");
        assert!(s.records_by_sha256(&sha).await.unwrap().is_empty(), "{b}");
        assert_eq!(s.record(&all[3].record_id).await.unwrap().unwrap().deleted_at, Some(Timestamp(99)), "{b}");
        assert_eq!(s.records(&a.publisher_id, None, 100).await.unwrap().len(), 6, "{b}");
    }
}

#[tokio::test]
async fn deployment_secrets_are_written_once() {
    let (_dir, stores) = backends().await;
    for s in stores {
        let b = s.backend();
        assert_eq!(s.deployment_secret("wm").await.unwrap(), None, "{b}");
        assert!(s.insert_deployment_secret("wm", b"first", Timestamp(1)).await.unwrap(), "{b}");
        assert!(!s.insert_deployment_secret("wm", b"second", Timestamp(2)).await.unwrap(), "{b}");
        assert_eq!(s.deployment_secret("wm").await.unwrap().as_deref(), Some(b"first".as_slice()), "{b}");
    }
}
