//! `POST /api/v1/verify`, on SQLite + local files and on PostgreSQL: every kind of evidence a file can carry
//! (exact bytes, the watermark, the pHash, the record's signature and log receipt, a capture sidecar), the
//! verdict each gives, the reference's fields, the `content.verified` webhook, and the refusals.
use axum::body::Body;
use axum::http::{Method, StatusCode};
use proofmark_core::tlog::Receipt;
use proofmark_core::{ContentHash, Sidecar};
use proofmark_media::{attack, decode_image, encode_image, Encoding};
use serde_json::{json, Value};

use crate::support::{multipart, Reply, TestServer};

fn image(name: &str) -> Vec<u8> {
    std::fs::read(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/images").join(name)).unwrap()
}

pub async fn verify(s: &TestServer, parts: &[(&str, Option<&str>, &[u8])]) -> Reply {
    let (content_type, body) = multipart(parts);
    s.send(Method::POST, "/api/v1/verify", &[("content-type", &content_type)], Body::from(body)).await
}

async fn verify_file(s: &TestServer, bytes: &[u8]) -> Reply {
    // The reference's clients call every upload image.png, whatever it is.
    verify(s, &[("file", Some("image.png"), bytes)]).await
}

fn check<'a>(r: &'a Value, code: &str) -> &'a Value {
    r["content"]["checks"].as_array().unwrap().iter().find(|c| c["code"] == code).unwrap()
}

#[tokio::test]
async fn each_kind_of_evidence_gives_its_verdict() {
    for s in TestServer::both().await {
        let b = s.backend();
        let (session, _, key) = s.signer("Verify Times", &["sign", "read"]).await;
        let hook = s
            .authed(
                Method::POST,
                "/api/v1/webhooks",
                &session,
                json!({"url": "https://hooks.example.com/verified", "events": ["content.verified"]}),
            )
            .await;
        assert_eq!(hook.status, StatusCode::CREATED, "{b}: {:?}", hook.body);
        let coffee = image("coffee.png");
        let signed = s.sign(&key, &[("file", Some("coffee.png"), &coffee), ("origin_type", None, b"CAMERA")]).await;
        assert_eq!(signed.status, StatusCode::CREATED, "{b}: {:?}", signed.body);
        let id = signed.body["record_id"].as_str().unwrap().to_owned();
        let (status, _, marked) =
            s.get_bytes(&format!("/api/v1/content-records/{id}/file?variant=watermarked"), &key).await;
        assert_eq!(status, StatusCode::OK, "{b}");

        // Before the log batch: signed, not yet logged, not authentic.
        let r = verify_file(&s, &marked).await;
        assert_eq!(r.status, StatusCode::OK, "{b}: {:?}", r.body);
        assert_eq!(r.body["verdict"], "signed_not_yet_logged", "{b}: {}", r.body);
        assert_eq!(r.body["authentic"], false, "{b}");
        assert_eq!(check(&r.body, "log_inclusion")["reason"], "log_receipt_pending", "{b}");

        proofmark_server::transparency::batch_pending(&s.state).await.unwrap();

        // The watermarked copy, byte for byte: intact original.
        let r = verify_file(&s, &marked).await;
        assert_eq!(r.body["verdict"], "intact_original", "{b}: {}", r.body);
        assert_eq!((r.body["verified"].clone(), r.body["authentic"].clone()), (json!(true), json!(true)), "{b}");
        assert_eq!(r.body["content_id"], id.as_str(), "{b}");
        assert_eq!(r.body["origin_code"], "CAMERA", "{b}");
        assert_eq!(r.body["signer"], "Verify Times", "{b}");
        assert_eq!(r.body["origin"]["organization_name"], "Verify Times", "{b}");
        assert_eq!(r.body["checks"]["sha256"], json!({"passed": true, "match_type": "watermarked"}), "{b}");
        assert_eq!(r.body["checks"]["watermark"], json!({"passed": true, "distance": 0}), "{b}");
        assert_eq!(r.body["checks"]["signature"], json!({"passed": true}), "{b}");
        assert_eq!(r.body["checks"]["blockchain"]["reason"], "not_anchored", "{b}");
        assert_eq!(r.body["media"]["media_type"], "image/png", "{b}");
        assert_eq!(r.body["media"]["watermark_crc_ok"], true, "{b}");
        assert!(r.body["summary"].as_str().unwrap().starts_with(&format!("intact original: record {id}")), "{b}");
        assert!(r.headers.get("server-timing").unwrap().to_str().unwrap().contains("watermark;dur="), "{b}");
        // The original as uploaded: intact original too (it carries no watermark).
        let r = verify_file(&s, &coffee).await;
        assert_eq!(r.body["verdict"], "intact_original", "{b}: {}", r.body);
        assert_eq!(r.body["checks"]["sha256"]["match_type"], "original", "{b}");
        assert_eq!(r.body["checks"]["watermark"]["reason"], "no_watermark", "{b}");

        // Re-encoded by another encoder path (resized, JPEG q70): the watermark names the record.
        let (pixels, _) = decode_image(&marked).unwrap();
        let small = attack::resize(&pixels, pixels.width * 3 / 4, pixels.height * 3 / 4);
        let jpeg = encode_image(&small, Encoding::Jpeg { quality: 70, subsample: true }).unwrap();
        let r = verify_file(&s, &jpeg).await;
        assert_eq!(r.body["verdict"], "derived_from_signed_original", "{b}: {}", r.body);
        assert_eq!(r.body["authentic"], true, "{b}");
        assert_eq!(r.body["media"]["media_type"], "image/jpeg", "{b}: the type comes from the bytes");
        assert_eq!(r.body["checks"]["sha256"]["passed"], false, "{b}");
        assert_eq!(r.body["content"]["matched_by"]["by"], "watermark", "{b}");
        let changes: Vec<&str> = r.body["changes"].as_array().unwrap().iter().map(|c| c.as_str().unwrap()).collect();
        assert!(changes.contains(&"format: image/png → image/jpeg"), "{b}: {changes:?}");
        let (w, h) = (pixels.width, pixels.height);
        let scaled = format!("dimensions: {w}×{h} → {}×{} (scaled 0.75×)", w * 3 / 4, h * 3 / 4);
        assert!(changes.contains(&scaled.as_str()), "{b}: {changes:?}");

        // Signed without a watermark, then re-encoded: only the pHash is near. Never authentic.
        let camera = image("camera.png");
        let r = s.sign(&key, &[("watermark", None, b"false"), ("file", Some("camera.png"), &camera)]).await;
        let camera_id = r.body["record_id"].as_str().unwrap().to_owned();
        proofmark_server::transparency::batch_pending(&s.state).await.unwrap();
        let (pixels, _) = decode_image(&camera).unwrap();
        let copy = encode_image(&pixels, Encoding::Jpeg { quality: 60, subsample: true }).unwrap();
        let r = verify_file(&s, &copy).await;
        assert_eq!(r.body["verdict"], "looks_like_record", "{b}: {}", r.body);
        assert_eq!((r.body["verified"].clone(), r.body["authentic"].clone()), (json!(false), json!(false)), "{b}");
        assert_eq!(r.body["content_id"], camera_id.as_str(), "{b}");
        assert_eq!(r.body["checks"]["phash"]["passed"], true, "{b}");

        // An unrelated image: no record.
        let r = verify_file(&s, &image("astronaut.png")).await;
        assert_eq!(r.body["verdict"], "no_record", "{b}: {}", r.body);
        assert_eq!(r.body["checks"]["signature"], json!({"passed": false, "reason": "no_signature_data"}), "{b}");
        assert_eq!(r.body["confidence"], 0.0, "{b}");
        assert!(r.body["content_id"].is_null(), "{b}");

        // The receipt the caller holds is the one judged; another record's receipt is refused.
        let (_, _, receipt) = s.get_bytes(&format!("/api/v1/content-records/{id}/receipt"), &key).await;
        let r = verify(&s, &[("file", Some("a"), &marked), ("receipt", None, &receipt)]).await;
        assert_eq!(r.body["verdict"], "intact_original", "{b}: {}", r.body);
        let (_, _, other) = s.get_bytes(&format!("/api/v1/content-records/{camera_id}/receipt"), &key).await;
        let mut swapped: Value = serde_json::from_slice(&other).unwrap();
        let mine: Receipt = serde_json::from_slice(&receipt).unwrap();
        swapped["leaf"] = serde_json::to_value(&mine.leaf).unwrap();
        let r = verify(&s, &[("file", Some("a"), &marked), ("receipt", None, swapped.to_string().as_bytes())]).await;
        assert_eq!(r.body["verdict"], "invalid", "{b}: {}", r.body);
        assert_eq!(check(&r.body, "log_inclusion")["status"], "fail", "{b}");

        // Matches told the record's organisation (content.verified): once per record and verdict a minute,
        // however often the same file is verified.
        let jobs = s.state.store.jobs_matching("webhook", "content.verified", 100).await.unwrap();
        let verdicts = [
            "signed_not_yet_logged",
            "intact_original",
            "derived_from_signed_original",
            "looks_like_record",
            "invalid",
        ];
        assert_eq!(jobs.len(), verdicts.len(), "{b}: {:?}", jobs.iter().map(|j| &j.payload).collect::<Vec<_>>());
        for v in verdicts {
            assert_eq!(
                jobs.iter().filter(|j| j.payload.contains(&format!("\\\"verdict\\\":\\\"{v}\\\""))).count(),
                1,
                "{b}: {v}"
            );
        }
        assert!(jobs.iter().any(|j| j.payload.contains(&id)), "{b}");
    }
}

#[tokio::test]
async fn a_capture_sidecar_adds_its_report_and_who_captured_it() {
    let s = TestServer::new().await;
    let publisher = s.publisher(json!({"name": "Field Desk"})).await;
    let (device_id, token, device) = s.device(&publisher, "phone").await;
    let (capture_id, nonce) = s.session(&token).await;
    let jwt = s.trust(&token, &nonce).await.body["trust_token"].as_str().unwrap().to_owned();
    let media = image("rocket.jpg");
    let sidecar =
        Sidecar::build(&ContentHash::of(&media), &device, &capture_id, "2027-01-15T08:00:00Z", jwt).to_json_pretty();
    let r = verify(&s, &[("file", Some("rocket.jpg"), &media), ("sidecar", None, sidecar.as_bytes())]).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!(r.body["capture"]["verdict"], "trusted", "{}", r.body);
    assert_eq!(r.body["verdict"], "no_record", "no publisher record: the capture stands alone");
    let summary = r.body["summary"].as_str().unwrap();
    assert!(summary.contains(&format!("captured by device {device_id} of publisher {publisher}")), "{summary}");
    // The same sidecar beside other bytes: the capture report says invalid.
    let r = verify(&s, &[("file", Some("x"), b"other bytes"), ("sidecar", None, sidecar.as_bytes())]).await;
    assert_eq!(r.body["capture"]["verdict"], "invalid", "{}", r.body);
    assert!(r.body["summary"].as_str().unwrap().contains("the capture sidecar is invalid"), "{}", r.body);
}

#[tokio::test]
async fn bad_input_gets_a_precise_error() {
    let s = TestServer::new().await;
    let r = verify(&s, &[("sidecar", None, b"{}")]).await;
    assert_eq!((r.status, r.detail()), (StatusCode::UNPROCESSABLE_ENTITY, "Field required: file"));
    let r = verify(&s, &[("file", Some("a"), b"")]).await;
    assert_eq!((r.status, r.detail()), (StatusCode::UNPROCESSABLE_ENTITY, "The file is empty"));
    let r = verify(&s, &[("file", Some("a"), b"x"), ("file", Some("b"), b"y")]).await;
    assert_eq!((r.status, r.detail()), (StatusCode::BAD_REQUEST, "More than one file: send one file per request"));
    let r = verify(&s, &[("file", Some("a"), b"x"), ("receipt", None, b"{\"leaf_index\": 1}")]).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r.detail().starts_with("receipt: the receipt is not valid JSON of the receipt's shape"), "{}", r.detail());
    assert!(r.detail().ends_with("(receipt_malformed)"), "{}", r.detail());
    let big = vec![b' '; 70 * 1024];
    let r = verify(&s, &[("file", Some("a"), b"x"), ("sidecar", None, &big)]).await;
    assert_eq!((r.status, r.detail()), (StatusCode::PAYLOAD_TOO_LARGE, "The sidecar is larger than 65536 bytes"));
    let r = s.send(Method::POST, "/api/v1/verify", &[("content-type", "text/plain")], Body::from("hi")).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{:?}", r.body);
    // A truncated image is still looked up by its bytes, and says why its pixels were not read.
    let jpeg = image("rocket.jpg");
    let r = verify_file(&s, &jpeg[..jpeg.len() / 3]).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!(r.body["verdict"], "no_record");
    assert!(r.body["media"]["decode_error"].as_str().is_some_and(|e| !e.is_empty()), "{}", r.body);
    assert_eq!(r.body["checks"]["phash"]["reason"], "not_an_image", "{}", r.body);
    // Not an image at all: the bytes alone.
    let r = verify_file(&s, b"\x00\x00\x00\x18ftypmp42 not really a video").await;
    assert_eq!(
        (r.body["verdict"].as_str(), r.body["media"]["media_type"].as_str()),
        (Some("no_record"), Some("video/mp4"))
    );
    // Nothing was written: no record, no job.
    assert!(s.state.store.jobs_matching("webhook", "", 10).await.unwrap().is_empty());
}

#[tokio::test]
async fn oversize_files_are_413() {
    let s = TestServer::with(|c| c.sign.max_image_bytes = 1000).await;
    let r = verify(&s, &[("file", Some("a"), &vec![1u8; 1001])]).await;
    assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE, "{:?}", r.body);
    let r = verify(&s, &[("file", Some("a"), &vec![1u8; 1000])]).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
}
