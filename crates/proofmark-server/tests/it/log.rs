//! The transparency log through the API, on SQLite + local files and on PostgreSQL + S3: a signed photo's
//! receipt within one batch interval that verifies offline and matches its certificate byte for byte; the
//! C2SP checkpoint, tiles and entry bundles that a generic client recomputes the root from; the JSON proofs;
//! witness cosignatures accepted only from configured witnesses and served with the checkpoint.
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::{header, Method, Request, StatusCode};
use ed25519_dalek::SigningKey as Ed25519Key;
use http_body_util::BodyExt;
use proofmark_core::tlog::merkle::{self, leaf_hash, tiles};
use proofmark_core::tlog::{
    verify_signed_checkpoint, Note, NoteSigner, NoteVerifier, Receipt, ReceiptPolicy, RecordLeaf, TYPE_COSIGNATURE,
};
use proofmark_server::transparency;
use proofmark_store::{ContentRecord, RecordId, Timestamp};
use serde_json::{json, Value};
use tower::ServiceExt;

use crate::support::TestServer;

fn image(name: &str) -> Vec<u8> {
    std::fs::read(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/images").join(name)).unwrap()
}

/// GET without credentials: (status, content type, body bytes).
async fn get(s: &TestServer, path: &str) -> (StatusCode, String, Vec<u8>) {
    let req = Request::builder().uri(path).body(Body::empty()).unwrap();
    let response = s.router.clone().oneshot(req).await.unwrap();
    let status = response.status();
    let ct = response.headers().get(header::CONTENT_TYPE).map(|v| v.to_str().unwrap().to_owned()).unwrap_or_default();
    (status, ct, response.into_body().collect().await.unwrap().to_bytes().to_vec())
}

async fn get_html(s: &TestServer, path: &str) -> (StatusCode, String, Vec<u8>) {
    let req = Request::builder().uri(path).header(header::ACCEPT, "text/html").body(Body::empty()).unwrap();
    let response = s.router.clone().oneshot(req).await.unwrap();
    let status = response.status();
    let ct = response.headers().get(header::CONTENT_TYPE).map(|v| v.to_str().unwrap().to_owned()).unwrap_or_default();
    (status, ct, response.into_body().collect().await.unwrap().to_bytes().to_vec())
}

async fn log_key(s: &TestServer) -> NoteVerifier {
    let (status, ct, body) = get(s, "/api/v1/log/key").await;
    assert_eq!((status, ct.as_str()), (StatusCode::OK, "text/plain; charset=utf-8"));
    NoteVerifier::parse(std::str::from_utf8(&body).unwrap()).unwrap()
}

fn witness() -> NoteSigner {
    NoteSigner::new("witness.test/w1", TYPE_COSIGNATURE, Ed25519Key::from_bytes(&[21; 32])).unwrap()
}

/// Rebuilds the leaf from the public certificate alone, as a third party would (docs/transparency-log.md).
fn leaf_from_certificate(cert: &Value) -> Vec<u8> {
    let h32 = |v: &Value| -> [u8; 32] { hex::decode(v.as_str().unwrap()).unwrap().try_into().unwrap() };
    RecordLeaf {
        record_id: cert["record_id"].as_str().unwrap().into(),
        organization_id: cert["signer"]["organization_id"].as_str().unwrap().into(),
        signer: h32(&cert["signer"]["public_key"]),
        sha256: h32(&cert["sha256"]),
        watermarked_sha256: cert["watermarked_sha256"].as_str().map(|_| h32(&cert["watermarked_sha256"])),
        phash: u64::from_str_radix(cert["phash"].as_str().unwrap(), 16).unwrap(),
        origin: cert["origin_type"].as_str().map(String::from),
        signed_at: cert["signed_at"].as_str().unwrap().into(),
        video_chain_head: None,
        capture_sidecar_sha256: None,
    }
    .encode()
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_signed_photo_has_a_receipt_within_one_batch_interval() {
    const INTERVAL_MS: u64 = 500;
    for s in TestServer::both_with(|c| c.log.batch_interval_ms = INTERVAL_MS).await {
        let b = s.backend();
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let batcher = tokio::spawn(transparency::run_batcher(s.state.clone(), async {
            let _ = stop_rx.await;
        }));
        let (_, key_id, api_key) = s.signer("Daily Planet", &["sign", "read"]).await;
        let png = image("chelsea.png");
        let r = s
            .sign(
                &api_key,
                &[
                    ("file", Some("cat.png"), &png),
                    ("signing_key_id", None, key_id.as_bytes()),
                    ("origin_type", None, b"CAMERA"),
                ],
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{b}: {:?}", r.body);
        let signed_at = Instant::now();
        let id = r.body["record_id"].as_str().unwrap().to_owned();
        let receipt = loop {
            let (status, _, body) = get(&s, &format!("/api/v1/content-records/{id}/receipt")).await;
            if status == StatusCode::OK {
                break Receipt::parse(&body).unwrap();
            }
            assert_eq!(status, StatusCode::NOT_FOUND, "{b}");
            let detail: Value = serde_json::from_slice(&body).unwrap();
            assert!(detail["detail"].as_str().unwrap().contains("is not in the log yet"), "{b}: {detail}");
            assert!(signed_at.elapsed() < Duration::from_secs(5), "{b}: no receipt after 5 s");
            tokio::time::sleep(Duration::from_millis(25)).await;
        };
        let waited = signed_at.elapsed();
        // One interval, plus the debug build's batch itself and the polling step.
        assert!(waited < Duration::from_millis(INTERVAL_MS + 1500), "{b}: receipt after {waited:?}");
        let _ = stop_tx.send(());
        batcher.await.unwrap();

        // Offline: the log key from the server is all a verifier needs.
        let policy = ReceiptPolicy { log: log_key(&s).await, witnesses: Vec::new(), min_witnesses: 0 };
        let ok = receipt.verify(&policy).unwrap();
        assert_eq!(ok.leaf.record_id, id, "{b}");
        // The leaf is exactly what the certificate's facts spell.
        let (status, _, cert) = get(&s, &format!("/api/v1/content-records/{id}/certificate")).await;
        assert_eq!(status, StatusCode::OK);
        let cert: Value = serde_json::from_slice(&cert).unwrap();
        assert_eq!(leaf_from_certificate(&cert), receipt.leaf.as_bytes(), "{b}");
        // The certificate and the record carry the same receipt.
        let carried: Receipt = serde_json::from_value(cert["receipt"].clone()).unwrap();
        assert_eq!(carried, receipt, "{b}");
        let shown = s.authed(Method::GET, &format!("/api/v1/content-records/{id}"), &api_key, Value::Null).await;
        assert_eq!(shown.status, StatusCode::OK, "{b}");
        assert_eq!(serde_json::from_value::<Receipt>(shown.body["receipt"].clone()).unwrap(), receipt, "{b}");
        let (status, _, html) = get_html(&s, &format!("/api/v1/content-records/{id}/certificate")).await;
        assert_eq!(status, StatusCode::OK);
        let html = String::from_utf8(html).unwrap();
        assert!(html.contains("leaf 0 of capture.test/log at tree size 1; not anchored on a chain yet"), "{b}: {html}");
        assert_eq!(ok.leaf.origin.as_deref(), Some("CAMERA"), "{b}");
        // A tampered receipt fails with a precise reason.
        let mut bad = receipt.clone();
        bad.leaf = bad.leaf.replace("origin CAMERA", "origin AI_FULL");
        assert_eq!(bad.verify(&policy).unwrap_err().code(), "inclusion_invalid", "{b}");
        // Unknown and malformed ids.
        let (status, _, _) = get(&s, &format!("/api/v1/content-records/{}/receipt", RecordId::random())).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{b}");
        let (status, _, _) = get(&s, "/api/v1/content-records/not-a-uuid/receipt").await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{b}");
    }
}

/// Records straight into the store (fast), signed by a key the API made.
pub async fn add_records(s: &TestServer, n: u64) -> Vec<RecordId> {
    add_records_with_session(s, n).await.1
}

/// [`add_records`], also returning the new organisation owner's session.
pub async fn add_records_with_session(s: &TestServer, n: u64) -> (String, Vec<RecordId>) {
    let (session, key_id, _) = s.signer(&format!("Org {}", uuid::Uuid::new_v4()), &["read"]).await;
    let key = s.state.store.signing_key(&key_id.parse().unwrap()).await.unwrap().unwrap();
    let mut ids = Vec::new();
    for i in 0..n {
        let r = ContentRecord {
            phash: i,
            ..ContentRecord::registered(key.org_id, key.key_id, format!("{i:064x}"), Timestamp(1_800_000_000))
        };
        s.state.store.create_record(&r, &[]).await.unwrap();
        ids.push(r.record_id);
    }
    (session, ids)
}

#[tokio::test]
async fn checkpoint_tiles_and_entries_follow_tlog_tiles() {
    for s in TestServer::both_with(|c| c.log.batch_max = 100).await {
        let b = s.backend();
        let key = log_key(&s).await;
        // Before any record: the empty tree's checkpoint, and no tiles.
        let (status, ct, body) = get(&s, "/log/checkpoint").await;
        assert_eq!((status, ct.as_str()), (StatusCode::OK, "text/plain; charset=utf-8"), "{b}");
        let empty = verify_signed_checkpoint(&body, &key, &[], 0).unwrap();
        assert_eq!((empty.checkpoint.size, empty.checkpoint.root), (0, merkle::empty_root()), "{b}");
        assert_eq!(get(&s, "/log/tile/0/000.p/1").await.0, StatusCode::NOT_FOUND, "{b}");

        add_records(&s, 300).await;
        let batches = transparency::batch_pending(&s.state).await.unwrap();
        assert_eq!(batches.iter().map(|x| x.count).collect::<Vec<_>>(), [100, 100, 100], "{b}");
        let (_, _, body) = get(&s, "/log/checkpoint").await;
        let cp = verify_signed_checkpoint(&body, &key, &[], 0).unwrap().checkpoint;
        assert_eq!(cp.size, 300, "{b}");

        // A generic client: entry bundles hash to the level-0 tiles, and the tiles give the root.
        let (status, ct, full) = get(&s, "/log/tile/0/000").await;
        assert_eq!((status, ct.as_str()), (StatusCode::OK, "application/octet-stream"), "{b}");
        assert_eq!(full.len(), 256 * 32, "{b}");
        let (_, _, partial) = get(&s, "/log/tile/0/001.p/44").await;
        assert_eq!(partial.len(), 44 * 32, "{b}");
        let (_, _, level1) = get(&s, "/log/tile/1/000.p/1").await;
        let mut leaf_hashes = Vec::new();
        for (tile, bundle) in [(&full, "/log/tile/entries/000"), (&partial, "/log/tile/entries/001.p/44")] {
            let (status, _, bundle) = get(&s, bundle).await;
            assert_eq!(status, StatusCode::OK, "{b}");
            let mut at = 0;
            let mut i = 0;
            while at < bundle.len() {
                let len = u16::from_be_bytes([bundle[at], bundle[at + 1]]) as usize;
                let entry = &bundle[at + 2..at + 2 + len];
                RecordLeaf::parse(entry).unwrap();
                assert_eq!(leaf_hash(entry).as_slice(), &tile[i * 32..(i + 1) * 32], "{b}: entry {i}");
                leaf_hashes.push(leaf_hash(entry));
                at += 2 + len;
                i += 1;
            }
            assert_eq!(i * 32, tile.len(), "{b}");
        }
        let mut f = merkle::Frontier::empty();
        for h in &leaf_hashes {
            f.append(*h);
        }
        assert_eq!(f.root(), cp.root, "{b}: the tiles' leaves give the signed root");
        // The level-1 hash is the root of the first 256 leaves.
        let mut first = merkle::Frontier::empty();
        for h in &leaf_hashes[..256] {
            first.append(*h);
        }
        assert_eq!(level1, first.root().to_vec(), "{b}");
        // Beyond the tree, malformed paths, widths that do not exist yet.
        for bad in [
            "/log/tile/0/001",
            "/log/tile/0/001.p/45",
            "/log/tile/1/000",
            "/log/tile/2/000.p/1",
            "/log/tile/0/1",
            "/log/tile/entries/x000/001",
            "/log/tile/0/000.p/256",
            "/log/tile/entries/002.p/1",
        ] {
            assert_eq!(get(&s, bad).await.0, StatusCode::NOT_FOUND, "{b}: {bad}");
        }
        assert_eq!(tiles::hashes_at_level(0, cp.size), 300);

        // JSON conveniences, checked against the signed root.
        let (status, _, body) = get(&s, "/api/v1/log/proof/inclusion?leaf_index=257&tree_size=300").await;
        assert_eq!(status, StatusCode::OK, "{b}");
        let p: Value = serde_json::from_slice(&body).unwrap();
        let path: Vec<[u8; 32]> = p["inclusion_path"]
            .as_array()
            .unwrap()
            .iter()
            .map(|h| hex::decode(h.as_str().unwrap()).unwrap().try_into().unwrap())
            .collect();
        merkle::verify_inclusion(&leaf_hashes[257], 257, 300, &path, &cp.root).unwrap();
        assert_eq!(p["root"], hex::encode(cp.root), "{b}");
        let (status, _, body) = get(&s, "/api/v1/log/proof/consistency?from=100&to=300").await;
        assert_eq!(status, StatusCode::OK, "{b}");
        let c: Value = serde_json::from_slice(&body).unwrap();
        let path: Vec<[u8; 32]> = c["consistency_path"]
            .as_array()
            .unwrap()
            .iter()
            .map(|h| hex::decode(h.as_str().unwrap()).unwrap().try_into().unwrap())
            .collect();
        let old = s.state.store.log_checkpoint_at(100).await.unwrap().unwrap();
        merkle::verify_consistency(100, 300, &path, &old.root, &cp.root).unwrap();
        let (_, _, entry) = get(&s, "/api/v1/log/entries/257").await;
        assert_eq!(leaf_hash(&entry), leaf_hashes[257], "{b}");
        for (bad, want) in [
            ("/api/v1/log/proof/inclusion?leaf_index=300&tree_size=300", StatusCode::UNPROCESSABLE_ENTITY),
            ("/api/v1/log/proof/inclusion?leaf_index=1&tree_size=301", StatusCode::UNPROCESSABLE_ENTITY),
            ("/api/v1/log/proof/inclusion?leaf_index=x", StatusCode::UNPROCESSABLE_ENTITY),
            ("/api/v1/log/proof/inclusion", StatusCode::UNPROCESSABLE_ENTITY),
            ("/api/v1/log/proof/consistency?from=0&to=5", StatusCode::UNPROCESSABLE_ENTITY),
            ("/api/v1/log/proof/consistency?from=6&to=5", StatusCode::UNPROCESSABLE_ENTITY),
            ("/api/v1/log/proof/consistency?from=1&to=301", StatusCode::UNPROCESSABLE_ENTITY),
            ("/api/v1/log/entries/300", StatusCode::NOT_FOUND),
            ("/api/v1/log/entries/-1", StatusCode::NOT_FOUND),
        ] {
            assert_eq!(get(&s, bad).await.0, want, "{b}: {bad}");
        }
    }
}

/// A generic tlog client over HTTP paths: Cloudflare's `tlog_tiles` (a port of Go's `sumdb/tlog`) asks for
/// the tiles it needs; this maps each to its C2SP `tlog-tiles` path (height 8) and fetches it from the server.
struct HttpTiles<'a> {
    server: &'a TestServer,
    fetched: std::cell::RefCell<Vec<String>>,
}

impl tlog_tiles::TileReader for HttpTiles<'_> {
    fn height(&self) -> u8 {
        8
    }

    fn read_tiles(&self, wanted: &[tlog_tiles::Tile]) -> Result<Vec<Vec<u8>>, tlog_tiles::Error> {
        wanted
            .iter()
            .map(|t| {
                // The tile's index in C2SP form: three-digit groups, all but the last prefixed with `x`.
                let mut n = t.level_index();
                let mut index = format!("{:03}", n % 1000);
                while n >= 1000 {
                    n /= 1000;
                    index = format!("x{:03}/{index}", n % 1000);
                }
                let width = if t.width() == 256 { String::new() } else { format!(".p/{}", t.width()) };
                let path = format!("/log/tile/{}/{index}{width}", t.level());
                let (status, _, body) =
                    tokio::task::block_in_place(|| tokio::runtime::Handle::current().block_on(get(self.server, &path)));
                self.fetched.borrow_mut().push(path.clone());
                if status != StatusCode::OK {
                    return Err(tlog_tiles::Error::InvalidInput(format!("{path}: {status}")));
                }
                Ok(body)
            })
            .collect()
    }

    fn save_tiles(&self, _: &[tlog_tiles::Tile], _: &[Vec<u8>]) {}
}

/// The served checkpoint, verified and parsed by `signed_note` and `tlog_tiles` alone.
async fn independent_checkpoint(s: &TestServer) -> tlog_tiles::Checkpoint {
    let (_, _, vkey) = get(s, "/api/v1/log/key").await;
    // The served vkey is one line, with its newline.
    let vkey = std::str::from_utf8(&vkey).unwrap().strip_suffix('\n').unwrap();
    let verifier = signed_note::StandardVerifier::new(vkey).unwrap();
    let (_, _, body) = get(s, "/log/checkpoint").await;
    let note = signed_note::Note::from_bytes(&body).unwrap();
    let (verified, _) = note.verify(&signed_note::VerifierList::new(vec![Box::new(verifier)])).unwrap();
    assert_eq!(verified.len(), 1);
    tlog_tiles::Checkpoint::from_bytes(note.text()).unwrap()
}

/// The log as an independent implementation reads it: `signed_note` verifies the checkpoint with the served
/// vkey, `tlog_tiles` authenticates every tile it fetches against the signed root, proves records and
/// consistency from tiles alone, and the entry bundles' leaves hash to those records.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_independent_tlog_client_reads_the_log_from_tiles() {
    for s in TestServer::both_with(|c| c.log.batch_max = 1000).await {
        let b = s.backend();
        add_records(&s, 200).await;
        transparency::batch_pending(&s.state).await.unwrap();
        let old = independent_checkpoint(&s).await;
        assert_eq!(old.size(), 200, "{b}");
        add_records(&s, 400).await;
        transparency::batch_pending(&s.state).await.unwrap();
        let new = independent_checkpoint(&s).await;
        assert_eq!((new.size(), new.origin()), (600, old.origin()), "{b}");

        let tiles = HttpTiles { server: &s, fetched: Default::default() };
        let reader = tlog_tiles::TileHashReader::new(new.size(), *new.hash(), &tiles);
        // The tree hash from tiles (every tile is checked against the signed root as it is read).
        assert_eq!(tlog_tiles::tree_hash(new.size(), &reader).unwrap(), *new.hash(), "{b}");
        // Every leaf in the entry bundles is the record hash the tiles hold, and its proof checks.
        let mut seen = 0u64;
        for bundle in ["/log/tile/entries/000", "/log/tile/entries/001", "/log/tile/entries/002.p/88"] {
            let (status, _, body) = get(&s, bundle).await;
            assert_eq!(status, StatusCode::OK, "{b}: {bundle}");
            let mut at = 0;
            while at < body.len() {
                let len = u16::from_be_bytes([body[at], body[at + 1]]) as usize;
                let leaf = &body[at + 2..at + 2 + len];
                at += 2 + len;
                let proof = tlog_tiles::prove_record(new.size(), seen, &reader).unwrap();
                tlog_tiles::check_record(&proof, new.size(), *new.hash(), seen, tlog_tiles::record_hash(leaf))
                    .unwrap_or_else(|e| panic!("{b}: leaf {seen}: {e}"));
                seen += 1;
            }
        }
        assert_eq!(seen, 600, "{b}");
        // A leaf that is not the logged one fails.
        let proof = tlog_tiles::prove_record(new.size(), 5, &reader).unwrap();
        assert!(tlog_tiles::check_record(&proof, new.size(), *new.hash(), 5, tlog_tiles::record_hash(b"x")).is_err());
        // The old checkpoint is a prefix of the new one.
        let proof = tlog_tiles::prove_tree(new.size(), old.size(), &reader).unwrap();
        tlog_tiles::check_tree(&proof, new.size(), *new.hash(), old.size(), *old.hash()).unwrap();
        // The client found each tile where C2SP puts it: full and partial level-0 tiles and a partial level 1.
        let fetched = tiles.fetched.borrow();
        for path in ["/log/tile/0/000", "/log/tile/0/002.p/88", "/log/tile/1/000.p/2"] {
            assert!(fetched.iter().any(|p| p == path), "{b}: {path} not read: {fetched:?}");
        }
    }
}

#[tokio::test]
async fn witness_cosignatures_are_verified_stored_and_served() {
    let w = witness();
    let vkey = w.verifier().vkey();
    for s in TestServer::both_with(|c| c.log.witnesses = vec![vkey.clone()]).await {
        let b = s.backend();
        let key = log_key(&s).await;
        let ids = add_records(&s, 5).await;
        transparency::batch_pending(&s.state).await.unwrap();
        let (_, _, body) = get(&s, "/log/checkpoint").await;
        let note = Note::parse(&body).unwrap();
        let post = |text: String| {
            let req = Request::builder()
                .method(Method::POST)
                .uri("/api/v1/log/cosignatures")
                .header(header::CONTENT_TYPE, "text/plain")
                .body(Body::from(text))
                .unwrap();
            let router = s.router.clone();
            async move {
                let response = router.oneshot(req).await.unwrap();
                let status = response.status();
                let body: Value =
                    serde_json::from_slice(&response.into_body().collect().await.unwrap().to_bytes()).unwrap();
                (status, body)
            }
        };
        let mut cosigned = note.clone();
        cosigned.signatures.push(w.cosign(&note.text, 1_800_000_100).unwrap());
        let (status, body) = post(cosigned.encode()).await;
        assert_eq!((status, body.clone()), (StatusCode::CREATED, json!({"tree_size": 5, "added": 1})), "{b}");
        let (status, body) = post(cosigned.encode()).await;
        assert_eq!((status, body["added"].clone()), (StatusCode::CREATED, json!(0)), "{b}: stored once");
        // Served with the checkpoint, and in receipts: a verifier demanding this witness accepts them.
        let (_, _, served) = get(&s, "/log/checkpoint").await;
        let v = verify_signed_checkpoint(&served, &key, &[w.verifier().clone()], 1).unwrap();
        assert_eq!(v.witnesses[0].timestamp, Some(1_800_000_100), "{b}");
        let (_, _, receipt) = get(&s, &format!("/api/v1/content-records/{}/receipt", ids[3])).await;
        let receipt = Receipt::parse(&receipt).unwrap();
        let policy = ReceiptPolicy { log: key.clone(), witnesses: vec![w.verifier().clone()], min_witnesses: 1 };
        receipt.verify(&policy).unwrap();
        let two = ReceiptPolicy { min_witnesses: 2, ..policy };
        assert_eq!(receipt.verify(&two).unwrap_err().code(), "witness_quorum_not_met", "{b}");

        // Refusals: a witness the log does not accept, a cosignature that does not verify, a checkpoint the
        // log never signed, garbage.
        let stranger = NoteSigner::new("stranger.test", TYPE_COSIGNATURE, Ed25519Key::from_bytes(&[22; 32])).unwrap();
        let mut other = note.clone();
        other.signatures.push(stranger.cosign(&note.text, 1_800_000_100).unwrap());
        let (status, body) = post(other.encode()).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{b}");
        assert_eq!(body["detail"], "no cosignature by a witness this log accepts verifies", "{b}");
        let mut broken = cosigned.clone();
        broken.signatures[1].bytes[20] ^= 1;
        let (status, body) = post(broken.encode()).await;
        assert_eq!(
            (status, body["detail"].as_str().unwrap()),
            (StatusCode::UNPROCESSABLE_ENTITY, "the cosignature by witness.test/w1 does not verify"),
            "{b}"
        );
        let forged_text = note.text.replacen("\n5\n", "\n6\n", 1);
        let forged = Note { text: forged_text.clone(), signatures: vec![w.cosign(&forged_text, 1).unwrap()] };
        let (status, body) = post(forged.encode()).await;
        assert_eq!(
            (status, body["detail"].as_str().unwrap()),
            (StatusCode::NOT_FOUND, "this log never signed a checkpoint of size 6 with that text"),
            "{b}"
        );
        let (status, _) = post("not a note".into()).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{b}");
        assert_eq!(s.state.store.cosignatures(5).await.unwrap().len(), 1, "{b}: nothing else stored");
    }
}
