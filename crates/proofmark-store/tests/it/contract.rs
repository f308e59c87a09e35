//! What every Store must do.
use std::sync::Arc;

use proofmark_store::{
    AttestationMethod, AttestationProvider, CaptureId, CaptureSession, Device, DeviceId, Publisher, PublisherId, Store,
    StoreError, StoredIssuerKey, Timestamp,
};

use crate::support::backends;

/// A distinct UUID per short label (labels of up to 16 bytes map one to one), so the cases read as names.
fn uid(label: &str) -> uuid::Uuid {
    assert!(label.len() <= 16);
    let mut bytes = [0u8; 16];
    bytes[..label.len()].copy_from_slice(label.as_bytes());
    uuid::Uuid::from_bytes(bytes)
}

fn pid(label: &str) -> PublisherId {
    PublisherId(uid(label))
}

fn did(label: &str) -> DeviceId {
    DeviceId(uid(label))
}

fn cid(label: &str) -> CaptureId {
    CaptureId(uid(label))
}

fn publisher(id: &str, name: &str) -> Publisher {
    Publisher {
        publisher_id: pid(id),
        name: name.into(),
        sandbox: true,
        attestation_provider: AttestationProvider::None,
        attestation_bundle_id: None,
        firebase_project_id: None,
        created_at: Timestamp(1_000),
    }
}

fn device(id: &str, publisher_id: &str, external_id: &str, token_hash: &str) -> Device {
    Device {
        device_id: did(id),
        publisher_id: pid(publisher_id),
        external_id: external_id.into(),
        public_key: "BASE64".into(),
        public_key_fingerprint: "f".repeat(64),
        token_hash: token_hash.into(),
        attestation_method: AttestationMethod::Sandbox,
        app_id: None,
        created_at: Timestamp(1_001),
    }
}

fn session(capture_id: &str, device_id: &str, nonce_hash: &str, expires_at: i64) -> CaptureSession {
    CaptureSession {
        capture_id: cid(capture_id),
        device_id: did(device_id),
        nonce_hash: nonce_hash.into(),
        created_at: Timestamp(1_000),
        expires_at: Timestamp(expires_at),
    }
}

/// Look-alike names are one name: full-width letters, other scripts' look-alike letters, case, spacing and
/// invisible joiners do not make a second publisher that people could mistake for the first.
#[tokio::test]
async fn look_alike_publisher_names_are_refused() {
    let (_dir, stores) = backends().await;
    for s in stores {
        let b = s.backend();
        s.create_publisher(&publisher("p1", "Demo News")).await.unwrap();
        for (i, alike) in
            ["ＤＥＭＯ ＮＥＷＳ", "D\u{0435}mo News", "demo  news", "Demo Ne\u{200D}ws", "Dern\u{043E} News"]
                .iter()
                .enumerate()
        {
            let r = s.create_publisher(&publisher(&format!("x{i}"), alike)).await;
            assert!(matches!(r, Err(StoreError::Conflict)), "{b}: {alike:?} was accepted beside \"Demo News\"");
        }
        s.create_publisher(&publisher("p2", "Demo Newz")).await.unwrap();
        let mut renamed = publisher("p2", "D\u{0435}mo News");
        assert!(matches!(s.update_publisher(&renamed).await, Err(StoreError::Conflict)), "{b}: rename to a look-alike");
        renamed.name = "Other Desk".into();
        s.update_publisher(&renamed).await.unwrap();
    }
}

/// Keys stored by an older version (the lower-cased name) are recomputed when the store opens.
#[tokio::test]
async fn old_name_keys_are_recomputed_at_open() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("proofmark.db").display());
    let s = proofmark_store::SqliteStore::open(&url).await.unwrap();
    s.create_publisher(&publisher("p1", "Demo News")).await.unwrap();
    drop(s);
    let pool = sqlx::SqlitePool::connect(&url).await.unwrap();
    sqlx::query("UPDATE publishers SET name_key = 'demo news'").execute(&pool).await.unwrap();
    pool.close().await;
    let s = proofmark_store::SqliteStore::open(&url).await.unwrap();
    let r = s.create_publisher(&publisher("p2", "D\u{0435}mo News")).await;
    assert!(matches!(r, Err(StoreError::Conflict)), "the old key was recomputed: {r:?}");
}

#[tokio::test]
async fn publishers() {
    let (_dir, stores) = backends().await;
    for s in stores {
        let b = s.backend();
        let mut p = publisher("p1", "Newsroom");
        s.create_publisher(&p).await.unwrap();
        assert_eq!(s.publisher(&pid("p1")).await.unwrap(), Some(p.clone()), "{b}");
        assert!(s.publisher(&pid("nope")).await.unwrap().is_none(), "{b}");
        let dup = s.create_publisher(&publisher("p2", "NEWSROOM")).await;
        assert!(matches!(dup, Err(StoreError::Conflict)), "{b}: names are unique case-insensitively");
        assert!(s.publisher(&pid("p2")).await.unwrap().is_none(), "{b}: nothing written on conflict");

        s.create_publisher(&publisher("p3", "Agency")).await.unwrap();
        p.name = "Agency".into();
        assert!(matches!(s.update_publisher(&p).await, Err(StoreError::Conflict)), "{b}");
        p.name = "Newsroom Ltd".into();
        p.sandbox = false;
        p.attestation_provider = AttestationProvider::FirebaseAppCheck;
        p.firebase_project_id = Some("demo-123".into());
        s.update_publisher(&p).await.unwrap();
        assert_eq!(s.publisher(&pid("p1")).await.unwrap(), Some(p), "{b}");
        assert!(matches!(s.update_publisher(&publisher("ghost", "Ghost")).await, Err(StoreError::NotFound)), "{b}");
    }
}

#[tokio::test]
async fn devices() {
    let (_dir, stores) = backends().await;
    for s in stores {
        let b = s.backend();
        s.create_publisher(&publisher("p1", "One")).await.unwrap();
        s.create_publisher(&publisher("p2", "Two")).await.unwrap();
        let d = device("d1", "p1", "phone-1", "hash-1");
        s.create_device(&d).await.unwrap();
        assert_eq!(s.device_by_token_hash("hash-1").await.unwrap(), Some(d), "{b}");
        assert!(s.device_by_token_hash("hash-x").await.unwrap().is_none(), "{b}");
        let again = s.create_device(&device("d2", "p1", "phone-1", "hash-2")).await;
        assert!(matches!(again, Err(StoreError::Conflict)), "{b}: external id unique per publisher");
        s.create_device(&device("d3", "p2", "phone-1", "hash-3")).await.unwrap();
        let unknown_publisher = s.create_device(&device("d4", "missing", "x", "hash-4")).await;
        assert!(unknown_publisher.is_err(), "{b}: foreign key");
    }
}

#[tokio::test]
async fn nonce_redemption_rules() {
    let (_dir, stores) = backends().await;
    for s in stores {
        let b = s.backend();
        s.create_publisher(&publisher("p1", "One")).await.unwrap();
        s.create_device(&device("d1", "p1", "a", "h1")).await.unwrap();
        s.create_device(&device("d2", "p1", "b", "h2")).await.unwrap();
        s.create_session(&session("c1", "d1", "n1", 2_000)).await.unwrap();
        s.create_session(&session("c2", "d1", "n2", 2_000)).await.unwrap();
        assert!(
            s.redeem_nonce("n1", &did("d2"), Timestamp(1_500)).await.unwrap().is_none(),
            "{b}: another device's nonce"
        );
        assert!(
            s.redeem_nonce("n1", &did("d1"), Timestamp(2_000)).await.unwrap().is_none(),
            "{b}: expired at expires_at"
        );
        assert_eq!(s.redeem_nonce("n1", &did("d1"), Timestamp(1_999)).await.unwrap(), Some(cid("c1")), "{b}");
        assert!(s.redeem_nonce("n1", &did("d1"), Timestamp(1_999)).await.unwrap().is_none(), "{b}: single use");
        assert!(s.redeem_nonce("unknown", &did("d1"), Timestamp(1_500)).await.unwrap().is_none(), "{b}");
        assert_eq!(s.redeem_nonce("n2", &did("d1"), Timestamp(1_500)).await.unwrap(), Some(cid("c2")), "{b}");
        let dup = s.create_session(&session("c3", "d1", "n2", 3_000)).await;
        assert!(matches!(dup, Err(StoreError::Conflict)), "{b}");
        s.create_session(&session("c4", "d1", "n4", 2_500)).await.unwrap();
        s.create_session(&session("c5", "d1", "n5", 9_000)).await.unwrap();
        assert_eq!(s.prune_sessions(Timestamp(3_000)).await.unwrap(), 1, "{b}: only c4 (expired, never redeemed)");
        assert_eq!(s.redeem_nonce("n5", &did("d1"), Timestamp(5_000)).await.unwrap(), Some(cid("c5")), "{b}");
    }
}

/// SPEC §1.6: N concurrent redemptions of one nonce give exactly one capture id.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_redemption_is_single_use() {
    let (_dir, stores) = backends().await;
    for s in stores {
        let b = s.backend();
        s.create_publisher(&publisher("p1", "One")).await.unwrap();
        s.create_device(&device("d1", "p1", "a", "h1")).await.unwrap();
        for round in 0..10 {
            let nonce = format!("nonce-{round}");
            s.create_session(&session(&format!("c{round}"), "d1", &nonce, 10_000)).await.unwrap();
            let tasks: Vec<_> = (0..32)
                .map(|_| {
                    let s: Arc<dyn Store> = s.clone();
                    let nonce = nonce.clone();
                    tokio::spawn(async move { s.redeem_nonce(&nonce, &did("d1"), Timestamp(5_000)).await.unwrap() })
                })
                .collect();
            let mut winners = 0;
            for t in tasks {
                winners += usize::from(t.await.unwrap().is_some());
            }
            assert_eq!(winners, 1, "{b}: round {round}");
        }
    }
}

fn key(kid: &str, created_at: i64) -> StoredIssuerKey {
    StoredIssuerKey {
        kid: kid.into(),
        public_jwk: format!("{{\"kid\":\"{kid}\"}}"),
        sealed_private_key: vec![1, 2, 3, kid.len() as u8],
        is_current: true,
        created_at: Timestamp(created_at),
        retired_at: None,
    }
}

#[tokio::test]
async fn issuer_key_rotation() {
    let (_dir, stores) = backends().await;
    for s in stores {
        let b = s.backend();
        assert!(s.issuer_keys().await.unwrap().is_empty(), "{b}");
        assert!(s.insert_first_issuer_key(&key("k1", 100)).await.unwrap(), "{b}");
        assert!(!s.insert_first_issuer_key(&key("k0", 100)).await.unwrap(), "{b}: only while there is no current key");
        s.rotate_issuer_key(&key("k2", 200), Timestamp(200)).await.unwrap();
        s.rotate_issuer_key(&key("k3", 300), Timestamp(300)).await.unwrap();
        let keys = s.issuer_keys().await.unwrap();
        let summary: Vec<(String, bool, Option<Timestamp>)> =
            keys.iter().map(|k| (k.kid.clone(), k.is_current, k.retired_at)).collect();
        assert_eq!(
            summary,
            [
                ("k3".into(), true, None),
                ("k2".into(), false, Some(Timestamp(300))),
                ("k1".into(), false, Some(Timestamp(200)))
            ],
            "{b}"
        );
        assert_eq!(keys[0].sealed_private_key, vec![1, 2, 3, 2], "{b}");
        let dup = s.rotate_issuer_key(&key("k3", 400), Timestamp(400)).await;
        assert!(matches!(dup, Err(StoreError::Conflict)), "{b}");
        assert_eq!(s.issuer_keys().await.unwrap()[0].kid, "k3", "{b}: a failed rotation changes nothing");
    }
}

/// Several processes starting at once on an empty database agree on one first key.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_first_keys_leave_exactly_one_current() {
    let (_dir, stores) = backends().await;
    for s in stores {
        let b = s.backend();
        let tasks: Vec<_> = (0..8)
            .map(|i| {
                let s = s.clone();
                tokio::spawn(async move { s.insert_first_issuer_key(&key(&format!("first-{i}"), 10)).await.unwrap() })
            })
            .collect();
        let mut inserted = 0;
        for t in tasks {
            inserted += usize::from(t.await.unwrap());
        }
        assert_eq!(inserted, 1, "{b}");
        let keys = s.issuer_keys().await.unwrap();
        assert_eq!(keys.len(), 1, "{b}");
        assert!(keys[0].is_current, "{b}");
    }
}

#[tokio::test]
async fn admin_tokens() {
    let (_dir, stores) = backends().await;
    for s in stores {
        let b = s.backend();
        assert!(!s.admin_token_exists("h").await.unwrap(), "{b}");
        s.create_admin_token("h", "ops", Timestamp(5)).await.unwrap();
        assert!(s.admin_token_exists("h").await.unwrap(), "{b}");
        assert!(matches!(s.create_admin_token("h", "again", Timestamp(6)).await, Err(StoreError::Conflict)), "{b}");
    }
}

#[tokio::test]
async fn unsupported_url() {
    let e = proofmark_store::open("mysql://root:hunter2@db/x").await.unwrap_err();
    assert!(matches!(&e, StoreError::UnsupportedUrl(s) if s == "mysql"));
    assert!(!e.to_string().contains("hunter2"));
}

/// Enumerations are typed: a stored value the code does not know is refused when the row is read, never
/// handed on as text.
#[tokio::test]
async fn unknown_stored_enum_values_are_refused_on_read() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("proofmark.db").display());
    let s = proofmark_store::SqliteStore::open(&url).await.unwrap();
    s.create_publisher(&publisher("p1", "Typed")).await.unwrap();
    assert_eq!(s.publisher(&pid("p1")).await.unwrap().unwrap().attestation_provider, AttestationProvider::None);
    let pool = sqlx::SqlitePool::connect(&url).await.unwrap();
    sqlx::query("UPDATE publishers SET attestation_provider = 'magic'").execute(&pool).await.unwrap();
    let e = s.publisher(&pid("p1")).await.unwrap_err();
    assert!(e.to_string().contains("attestation_provider \"magic\" is not a known value"), "{e}");
}
