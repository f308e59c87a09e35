//! `POST /api/v1/sign` and the content records, on SQLite + local files and on PostgreSQL: the hashes,
//! the signature a third party can check from the certificate alone, the watermark carrying
//! `SHA256(signature)[:16]`, the files kept — and every refusal with its exact status and message, leaving
//! neither a record nor an object behind.
use axum::http::{Method, StatusCode};
use ed25519_dalek::Verifier;
use proofmark_media::Format;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use crate::support::TestServer;

/// A multipart part: name, file name, bytes.
type Part<'a> = (&'a str, Option<&'a str>, Vec<u8>);

fn image(name: &str) -> Vec<u8> {
    std::fs::read(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/images").join(name)).unwrap()
}

fn app_segment(marker: u8, body: &[u8]) -> Vec<u8> {
    let mut s = vec![0xff, marker];
    s.extend_from_slice(&u16::try_from(body.len() + 2).unwrap().to_be_bytes());
    s.extend_from_slice(body);
    s
}

/// rocket.jpg with an EXIF segment saying "rotate 90°" (orientation 6) in front.
fn oriented_jpeg() -> (Vec<u8>, Vec<u8>) {
    let jpeg = image("rocket.jpg");
    let exif = app_segment(
        0xe1,
        &[b"Exif\0\0MM\0\x2a\0\0\0\x08\0\x01".as_slice(), &[0x01, 0x12, 0, 3, 0, 0, 0, 1, 0, 6, 0, 0], &[0, 0, 0, 0]]
            .concat(),
    );
    ([&jpeg[..2], &exif, &jpeg[2..]].concat(), exif)
}

fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// The certificate alone proves the signature: Ed25519 over the fingerprint with the public key in it.
fn check_certificate(cert: &Value) {
    let public: [u8; 32] = hex::decode(cert["signer"]["public_key"].as_str().unwrap()).unwrap().try_into().unwrap();
    let signature: [u8; 64] = hex::decode(cert["signature"].as_str().unwrap()).unwrap().try_into().unwrap();
    let key = ed25519_dalek::VerifyingKey::from_bytes(&public).unwrap();
    let fingerprint = cert["fingerprint"].as_str().unwrap();
    key.verify(fingerprint.as_bytes(), &ed25519_dalek::Signature::from_bytes(&signature)).expect("signature verifies");
    let fields: Vec<&str> = fingerprint.split('|').collect();
    assert_eq!(fields.len(), 4, "{fingerprint}");
    assert_eq!(
        (fields[0], fields[1], fields[2]),
        (cert["sha256"].as_str().unwrap(), cert["phash"].as_str().unwrap(), cert["signed_at"].as_str().unwrap())
    );
}

#[tokio::test]
async fn a_signed_jpeg_keeps_its_metadata_and_every_fact_checks_out() {
    for s in TestServer::both().await {
        let b = s.backend();
        let (session, key_id, api_key) = s.signer("Daily Planet", &["sign", "read"]).await;
        // SQLite keeps files in the data directory; the PostgreSQL configuration in S3 (moto).
        assert_eq!(s.state.objects.describe().starts_with("s3://"), b == "postgres", "{b}");
        let (jpeg, exif) = oriented_jpeg();
        let r = s.sign(&api_key, &[("origin_type", None, b"CAMERA"), ("file", Some("image.png"), &jpeg)]).await;
        assert_eq!(r.status, StatusCode::CREATED, "{b}: {:?}", r.body);
        let id = r.body["record_id"].as_str().unwrap().to_owned();
        assert_eq!(r.body["sha256"], sha256_hex(&jpeg), "{b}");
        // The pHash imagehash gives rocket.jpg (testdata/phash/golden.tsv): EXIF does not change pixels.
        assert_eq!(r.body["phash"], "c0371bec1be51267", "{b}");
        assert_eq!(r.body["signing_key_id"], key_id.as_str(), "{b}");
        let cert = &r.body["certificate"];
        check_certificate(cert);
        assert_eq!(cert["origin_type"], "CAMERA", "{b}");
        assert_eq!(cert["signer"]["organization_name"], "Daily Planet", "{b}");
        assert!(cert["fingerprint"].as_str().unwrap().split('|').nth(3).unwrap().starts_with("api-key:"), "{b}");
        // Server-Timing names every stage.
        let timing = r.headers.get("server-timing").unwrap().to_str().unwrap().to_owned();
        for stage in ["receive", "decode", "phash", "sign", "watermark", "encode", "verify", "store", "db", "total"] {
            assert!(timing.contains(&format!("{stage};dur=")), "{b}: {timing}");
        }

        // The watermarked file: a JPEG, its SHA-256 the one recorded, its EXIF kept, its mark the payload.
        let url = r.body["watermarked_file"].as_str().unwrap();
        let path = &url[url.find("/api/v1/").unwrap()..];
        let (status, headers, marked) = s.get_bytes(path, &api_key).await;
        assert_eq!(status, StatusCode::OK, "{b}");
        assert_eq!(headers["content-type"], "image/jpeg", "{b}");
        assert_eq!(Format::sniff(&marked), Some(Format::Jpeg), "{b}");
        assert_eq!(r.body["watermarked_sha256"], sha256_hex(&marked), "{b}");
        assert_eq!(proofmark_media::mark::jpeg_metadata_segments(&marked)[0], exif.as_slice(), "{b}: EXIF kept");
        let signature = hex::decode(r.body["signature"].as_str().unwrap()).unwrap();
        let want_payload: [u8; 16] = Sha256::digest(&signature)[..16].try_into().unwrap();
        let (pixels, _) = proofmark_media::decode_image(&marked).unwrap();
        let found = proofmark_media::watermark::extract(&pixels, &s.state.watermark_key);
        assert_eq!(found.payload, Some(want_payload), "{b}: the mark carries SHA256(signature)[:16]");
        assert_eq!(cert["watermark_payload"], hex::encode(want_payload), "{b}");
        let (status, _, original) =
            s.get_bytes(&format!("/api/v1/content-records/{id}/file?variant=original"), &api_key).await;
        assert_eq!((status, original == jpeg), (StatusCode::OK, true), "{b}: the original is kept byte for byte");

        // Public: the certificate (JSON and HTML), and search by either SHA-256.
        let c = s
            .send(Method::GET, &format!("/api/v1/content-records/{id}/certificate"), &[], axum::body::Body::empty())
            .await;
        assert_eq!((c.status, &c.body), (StatusCode::OK, cert), "{b}");
        let (status, headers, html) = {
            let req = axum::http::Request::get(format!("/api/v1/content-records/{id}/certificate"))
                .header("accept", "text/html,application/xhtml+xml")
                .body(axum::body::Body::empty())
                .unwrap();
            let resp = tower::ServiceExt::oneshot(s.router.clone(), req).await.unwrap();
            let (st, h) = (resp.status(), resp.headers().clone());
            (st, h, http_body_util::BodyExt::collect(resp.into_body()).await.unwrap().to_bytes())
        };
        let html = String::from_utf8(html.to_vec()).unwrap();
        assert_eq!(status, StatusCode::OK);
        assert!(headers["content-type"].to_str().unwrap().starts_with("text/html"), "{b}");
        for fact in
            [&id, cert["signature"].as_str().unwrap(), cert["fingerprint"].as_str().unwrap(), "Daily Planet", "CAMERA"]
        {
            assert!(html.contains(fact), "{b}: the page shows {fact}");
        }
        for sha in [sha256_hex(&jpeg), sha256_hex(&marked)] {
            let found = s
                .send(
                    Method::GET,
                    &format!("/api/v1/content-records/public/search?sha256={sha}"),
                    &[],
                    axum::body::Body::empty(),
                )
                .await;
            assert_eq!(found.body.as_array().map(|a| a.len()), Some(1), "{b}: {:?}", found.body);
            assert_eq!(found.body[0]["certificate"]["record_id"], id.as_str(), "{b}");
            let want = if sha == sha256_hex(&jpeg) { "sha256" } else { "watermarked_sha256" };
            assert_eq!(found.body[0]["match"], want, "{b}");
        }
        // The organisation's listing and record.
        let list = s.authed(Method::GET, "/api/v1/content-records", &session, Value::Null).await;
        assert_eq!(list.body["items"][0]["id"], id.as_str(), "{b}");
        assert_eq!(list.body["items"][0]["file_name"], "image.png", "{b}");
        assert_eq!(list.body["items"][0]["media_type"], "image/jpeg", "{b}: the type comes from the bytes");
        assert_eq!(s.state.objects.list("records").await.unwrap().len(), 2, "{b}");
    }
}

#[tokio::test]
async fn png_and_webp_keep_their_format() {
    let s = TestServer::new().await;
    let (_, _, key) = s.signer("Formats", &["sign", "read"]).await;
    let png = image("astronaut.png");
    let (photo, _) = proofmark_media::decode_image(&image("chelsea.png")).unwrap();
    let webp = proofmark_media::encode_image(&photo, proofmark_media::Encoding::WebPLossless).unwrap();
    for (bytes, want, phash) in [(png, Format::Png, Some("c2924c5532bddfc8")), (webp, Format::WebP, None)] {
        let r = s.sign(&key, &[("file", Some("x"), &bytes)]).await;
        assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
        if let Some(p) = phash {
            assert_eq!(r.body["phash"], p);
        }
        let url = r.body["watermarked_file"].as_str().unwrap();
        let (_, _, marked) = s.get_bytes(&url[url.find("/api/v1/").unwrap()..], &key).await;
        assert_eq!(Format::sniff(&marked), Some(want));
        assert!(r.body["certificate"]["origin_type"].is_null());
    }
}

/// Every refusal: the exact status and message, and nothing written — no record, no object.
#[tokio::test]
async fn refusals_are_precise_and_leave_nothing_behind() {
    for s in TestServer::both().await {
        let b = s.backend();
        let (session, key_id, signer) = s.signer("Refusals", &["sign", "read"]).await;
        let (_, other_key, _) = s.signer("Other Org", &["sign"]).await;
        let (_, _, reader) = s.signer("Readers", &["read"]).await;
        let png = image("camera.png");
        let mut mp4 = vec![0, 0, 0, 0x18];
        mp4.extend_from_slice(b"ftypisom\0\0\0\0isomiso2");
        mp4.resize(4096, 0);
        let mut tiny = Vec::new();
        {
            let img = proofmark_media::Image { width: 40, height: 40, channels: 3, pixels: vec![128; 40 * 40 * 3] };
            tiny.extend(proofmark_media::encode_image(&img, proofmark_media::Encoding::Png).unwrap());
        }
        let truncated = image("rocket.jpg")[..5000].to_vec();
        let gif = b"GIF89a\x01\x00\x01\x00\x00\x00\x00;".to_vec();
        let cases: Vec<(&str, Vec<Part>, StatusCode, &str)> = vec![
            (&reader, vec![("file", Some("a"), png.clone())], StatusCode::FORBIDDEN, "This API key lacks the 'sign' scope"),
            (&signer, vec![("file", Some("a"), gif)], StatusCode::UNSUPPORTED_MEDIA_TYPE, "GIF images cannot be signed: send a JPEG, PNG or WebP image"),
            (&signer, vec![("file", Some("a"), mp4)], StatusCode::UNSUPPORTED_MEDIA_TYPE, "Videos cannot be signed yet: send a JPEG, PNG or WebP image"),
            (&signer, vec![("file", Some("a"), b"%PDF-1.7 not an image at all".to_vec())], StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "Unsupported file type: only JPEG, PNG and WebP images can be signed (the type is read from the bytes)"),
            (&signer, vec![("file", Some("a"), Vec::new())], StatusCode::UNPROCESSABLE_ENTITY, "The file is empty"),
            (&signer, vec![("origin_type", None, b"CAMERA".to_vec())], StatusCode::UNPROCESSABLE_ENTITY, "Field required: file"),
            (&signer, vec![("origin_type", None, b"PAINTING".to_vec()), ("file", Some("a"), png.clone())], StatusCode::UNPROCESSABLE_ENTITY,
                "origin_type \"PAINTING\" is not one of \"CAMERA\", \"EDIT\", \"AI_FULL\", \"AI_EDIT\", \"COMPOSITE\", \"SCAN\", \"SCREEN\""),
            (&signer, vec![("watermark", None, b"maybe".to_vec()), ("file", Some("a"), png.clone())], StatusCode::UNPROCESSABLE_ENTITY,
                "watermark must be true or false, not \"maybe\""),
            (&signer, vec![("c2pa", None, b"true".to_vec()), ("file", Some("a"), png.clone())], StatusCode::UNPROCESSABLE_ENTITY,
                "c2pa: Content Credentials are not produced yet; send c2pa=false or leave it out"),
            (&signer, vec![("signing_key_id", None, other_key.into_bytes()), ("file", Some("a"), png.clone())], StatusCode::NOT_FOUND, "Signing key not found"),
            (&signer, vec![("file", Some("a"), png.clone()), ("file", Some("b"), png.clone())], StatusCode::BAD_REQUEST,
                "More than one file: send one file per request (or use /api/v1/sign-batch)"),
            (&signer, vec![("file", Some("a"), truncated)], StatusCode::UNPROCESSABLE_ENTITY,
                "The file is not a readable image: the JPEG image is truncated or corrupt: "),
            (&signer, vec![("file", Some("a"), tiny.clone())], StatusCode::UNPROCESSABLE_ENTITY,
                "The image cannot carry the watermark: the image is 40x40; a watermark needs at least 96 pixels on each side; sign it with watermark=false"),
            ("pmk_not-a-key", vec![("file", Some("a"), png.clone())], StatusCode::UNAUTHORIZED, "Invalid or revoked API key"),
        ];
        for (token, parts, status, detail) in cases {
            let parts: Vec<(&str, Option<&str>, &[u8])> =
                parts.iter().map(|(n, f, b)| (*n, *f, b.as_slice())).collect();
            let r = s.sign(token, &parts).await;
            assert_eq!(r.status, status, "{b}: {detail}: {:?}", r.body);
            assert!(r.detail().starts_with(detail), "{b}: {:?} does not start with {detail:?}", r.detail());
        }
        // Malformed multipart: a body that is not what its boundary says.
        let r = s
            .send(
                Method::POST,
                "/api/v1/sign",
                &[("authorization", &format!("Bearer {signer}")), ("content-type", "multipart/form-data; boundary=x")],
                axum::body::Body::from("--x\r\nContent-Disposition: form-data; name=\"file\"\r\n\r\nabc"),
            )
            .await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{b}: {:?}", r.body);
        assert!(r.detail().starts_with("Malformed multipart body"), "{b}: {}", r.detail());
        // Nothing of all that was kept.
        assert!(s.state.objects.list("records").await.unwrap().is_empty(), "{b}: no orphan object");
        let list = s.authed(Method::GET, "/api/v1/content-records", &session, Value::Null).await;
        assert_eq!(list.body["items"], json!([]), "{b}: no record");
        let uploads = s.dir.path().join("uploads");
        assert_eq!(std::fs::read_dir(&uploads).map(|d| d.count()).unwrap_or(0), 0, "{b}: no temporary upload left");

        // Without a watermark the tiny image signs; then a retired key is refused, and with no current key
        // the organisation is told to make one.
        let r = s.sign(&signer, &[("watermark", None, b"false"), ("file", Some("a"), &tiny)]).await;
        assert_eq!(r.status, StatusCode::CREATED, "{b}: {:?}", r.body);
        assert!(r.body["watermarked_sha256"].is_null() && r.body["watermarked_file"].is_null(), "{b}");
        check_certificate(&r.body["certificate"]);
        let retired =
            s.authed(Method::DELETE, &format!("/api/v1/keys/signing-keys/{key_id}"), &session, Value::Null).await;
        assert_eq!(retired.status, StatusCode::OK, "{b}");
        let r = s.sign(&signer, &[("signing_key_id", None, key_id.as_bytes()), ("file", Some("a"), &png)]).await;
        assert_eq!(
            (r.status, r.detail()),
            (StatusCode::CONFLICT, "Signing key is retired: it verifies old records but signs nothing new"),
            "{b}"
        );
        let r = s.sign(&signer, &[("file", Some("a"), &png)]).await;
        assert_eq!(r.status, StatusCode::CONFLICT, "{b}");
        assert!(r.detail().starts_with("The organisation has no current signing key"), "{b}: {}", r.detail());
        assert_eq!(s.state.objects.list("records").await.unwrap().len(), 1, "{b}: only the unwatermarked original");
    }
}

#[tokio::test]
async fn oversize_uploads_are_413_before_and_while_they_stream() {
    let s = TestServer::with(|c| c.sign.max_image_bytes = 100_000).await;
    let (_, _, key) = s.signer("Big", &["sign", "read"]).await;
    let big = image("astronaut.png");
    assert!(big.len() > 100_000);
    let r = s.sign(&key, &[("file", Some("a"), &big)]).await;
    assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE, "{:?}", r.body);
    assert!(
        r.detail() == "The file is larger than the 100000-byte limit for images"
            || r.detail().starts_with("Request body too large"),
        "{}",
        r.detail()
    );
    assert!(s.state.objects.list("records").await.unwrap().is_empty());
}

#[tokio::test]
async fn a_retired_key_still_verifies_and_a_deleted_record_stays_provable() {
    let s = TestServer::new().await;
    let (session, key_id, key) = s.signer("Keeper", &["sign", "read"]).await;
    let (other_session, _, other_key) = s.signer("Snooper", &["sign", "read"]).await;
    let r = s.sign(&key, &[("file", Some("a"), &image("coffee.png"))]).await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    let id = r.body["record_id"].as_str().unwrap().to_owned();
    // Another organisation sees nothing of it and cannot delete it.
    for path in [format!("/api/v1/content-records/{id}"), format!("/api/v1/content-records/{id}/file")] {
        let r = s.authed(Method::GET, &path, &other_key, Value::Null).await;
        assert_eq!((r.status, r.detail()), (StatusCode::NOT_FOUND, "Content record not found"), "{path}");
    }
    let r = s.authed(Method::DELETE, &format!("/api/v1/content-records/{id}"), &other_session, Value::Null).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert!(s.authed(Method::GET, &format!("/api/v1/content-records/{id}"), &key, Value::Null).await.body
        ["deleted_at"]
        .is_null());
    // Rotation: retire the key; the certificate still carries it and the signature still verifies.
    s.authed(Method::DELETE, &format!("/api/v1/keys/signing-keys/{key_id}"), &session, Value::Null).await;
    let cert =
        s.send(Method::GET, &format!("/api/v1/content-records/{id}/certificate"), &[], axum::body::Body::empty()).await;
    assert!(cert.body["signer"]["key_retired_at"].is_string(), "{:?}", cert.body);
    check_certificate(&cert.body);
    // Tombstone: gone from the listing and search, still readable, the certificate says so.
    s.advance(10);
    let r = s.authed(Method::DELETE, &format!("/api/v1/content-records/{id}"), &session, Value::Null).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    let r = s.authed(Method::DELETE, &format!("/api/v1/content-records/{id}"), &session, Value::Null).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "deleted once");
    assert_eq!(s.authed(Method::GET, "/api/v1/content-records", &key, Value::Null).await.body["items"], json!([]));
    let shown = s.authed(Method::GET, &format!("/api/v1/content-records/{id}"), &key, Value::Null).await;
    assert!(shown.body["deleted_at"].is_string());
    let cert =
        s.send(Method::GET, &format!("/api/v1/content-records/{id}/certificate"), &[], axum::body::Body::empty()).await;
    assert!(cert.body["deleted_at"].is_string());
    check_certificate(&cert.body);
    let sha = r#"0000000000000000000000000000000000000000000000000000000000000000"#;
    let none = s
        .send(
            Method::GET,
            &format!("/api/v1/content-records/public/search?sha256={sha}"),
            &[],
            axum::body::Body::empty(),
        )
        .await;
    assert_eq!(none.body, json!([]));
    let bad =
        s.send(Method::GET, "/api/v1/content-records/public/search?sha256=xyz", &[], axum::body::Body::empty()).await;
    assert_eq!((bad.status, bad.detail()), (StatusCode::UNPROCESSABLE_ENTITY, "sha256 must be 64 hex digits"));
}

#[tokio::test]
async fn listing_pages_by_cursor_and_origin_types_are_listed() {
    let s = TestServer::new().await;
    let (_, _, key) = s.signer("Pager", &["sign", "read"]).await;
    let mut ids = Vec::new();
    for _ in 0..5 {
        let r = s.sign(&key, &[("watermark", None, b"false"), ("file", Some("a"), &image("camera.png"))]).await;
        assert_eq!(r.status, StatusCode::CREATED);
        ids.push(r.body["record_id"].as_str().unwrap().to_owned());
        s.advance(1);
    }
    ids.reverse(); // newest first
    let mut seen = Vec::new();
    let mut path = "/api/v1/content-records?limit=2".to_owned();
    loop {
        let page = s.authed(Method::GET, &path, &key, Value::Null).await;
        assert_eq!(page.status, StatusCode::OK, "{:?}", page.body);
        seen.extend(page.body["items"].as_array().unwrap().iter().map(|r| r["id"].as_str().unwrap().to_owned()));
        match page.body["next_cursor"].as_str() {
            Some(c) => path = format!("/api/v1/content-records?limit=2&cursor={c}"),
            None => break,
        }
    }
    assert_eq!(seen, ids);
    let bad = s.authed(Method::GET, "/api/v1/content-records?cursor=nonsense", &key, Value::Null).await;
    assert_eq!(
        (bad.status, bad.detail()),
        (StatusCode::UNPROCESSABLE_ENTITY, "cursor \"nonsense\" is not one this server gave out")
    );
    let bad = s.authed(Method::GET, "/api/v1/content-records?limit=0", &key, Value::Null).await;
    assert_eq!((bad.status, bad.detail()), (StatusCode::UNPROCESSABLE_ENTITY, "limit must be between 1 and 200"));
    let codes = s.send(Method::GET, "/api/v1/origin-types", &[], axum::body::Body::empty()).await;
    let codes: Vec<&str> = codes.body.as_array().unwrap().iter().map(|c| c["code"].as_str().unwrap()).collect();
    assert_eq!(codes, ["CAMERA", "EDIT", "AI_FULL", "AI_EDIT", "COMPOSITE", "SCAN", "SCREEN"]);
}

/// Search by pHash finds a signed picture from a copy re-encoded and resized by other software (exact
/// recall within Hamming 10), nearest first, never a tombstoned record; on both stores (PostgreSQL's
/// insertion order is its identity column, SQLite's the rowid).
#[tokio::test]
async fn search_by_phash_finds_a_transformed_copy() {
    use proofmark_media::{attack, decode_image, encode_image, Encoding};
    for s in TestServer::both().await {
        let b = s.backend();
        let (_, _, key) = s.signer("Lookalikes", &["sign", "read"]).await;
        let mut ids = std::collections::HashMap::new();
        for name in ["camera.png", "coffee.png", "astronaut.png", "rocket.jpg"] {
            let r = s.sign(&key, &[("watermark", None, b"false"), ("file", Some(name), &image(name))]).await;
            assert_eq!(r.status, StatusCode::CREATED, "{b}: {:?}", r.body);
            ids.insert(name, r.body["record_id"].as_str().unwrap().to_owned());
        }
        // coffee.png at half size, as a JPEG q60: a different file, nearly the same pHash.
        let (coffee, _) = decode_image(&image("coffee.png")).unwrap();
        let small = attack::resize(&coffee, coffee.width / 2, coffee.height / 2);
        let copy = encode_image(&small, Encoding::Jpeg { quality: 60, subsample: true }).unwrap();
        let query = proofmark_media::phash(&copy).unwrap();
        let r = search(&s, format!("phash={query}")).await;
        assert_eq!(r.status, StatusCode::OK, "{b}: {:?}", r.body);
        let hits = r.body.as_array().unwrap();
        assert!(!hits.is_empty(), "{b}: the copy is found");
        assert_eq!(hits[0]["certificate"]["record_id"], ids["coffee.png"].as_str(), "{b}");
        assert_eq!(hits[0]["match"], "phash", "{b}");
        let d = hits[0]["distance"].as_u64().unwrap();
        assert!(d <= 10, "{b}: {d}");
        let distances: Vec<u64> = hits.iter().map(|h| h["distance"].as_u64().unwrap()).collect();
        assert!(distances.windows(2).all(|w| w[0] <= w[1]), "{b}: nearest first");
        // An exact query finds distance 0; max_distance narrows.
        let exact =
            search(&s, format!("phash={}&max_distance=0", hits[0]["certificate"]["phash"].as_str().unwrap())).await;
        assert_eq!(exact.body[0]["distance"], 0, "{b}");
        assert!(exact.body.as_array().unwrap().iter().all(|h| h["distance"] == 0), "{b}");
        // A record signed after the index was built is found (the index refreshes before each search).
        let r =
            s.sign(&key, &[("watermark", None, b"false"), ("file", Some("chelsea.png"), &image("chelsea.png"))]).await;
        let chelsea = r.body["record_id"].as_str().unwrap().to_owned();
        let r = search(&s, format!("phash={}&max_distance=0", r.body["phash"].as_str().unwrap())).await;
        assert!(r.body.as_array().unwrap().iter().any(|h| h["certificate"]["record_id"] == chelsea.as_str()), "{b}");
        // Tombstoned: not found any more.
        let coffee_path = format!("/api/v1/content-records/{}", ids["coffee.png"]);
        assert_eq!(s.authed(Method::DELETE, &coffee_path, &key, Value::Null).await.status, StatusCode::NO_CONTENT);
        let r = search(&s, format!("phash={query}")).await;
        assert!(
            r.body.as_array().unwrap().iter().all(|h| h["certificate"]["record_id"] != ids["coffee.png"].as_str()),
            "{b}"
        );
        for (q, detail) in [
            ("phash=xyz".to_owned(), "phash must be 16 hex digits"),
            (format!("phash={query}&max_distance=11"), "max_distance must be at most 10"),
            ("".to_owned(), "Give exactly one of sha256 and phash"),
            (format!("phash={query}&sha256={}", "0".repeat(64)), "Give exactly one of sha256 and phash"),
        ] {
            let r = search(&s, q.clone()).await;
            assert_eq!((r.status, r.detail()), (StatusCode::UNPROCESSABLE_ENTITY, detail), "{b}: {q}");
        }
    }
}

async fn search(s: &TestServer, query: String) -> crate::support::Reply {
    let path = format!("/api/v1/content-records/public/search?{query}");
    s.send(Method::GET, &path, &[], axum::body::Body::empty()).await
}

/// A batch answers one result per file, in order; the refused ones leave nothing behind and do not sink
/// the others.
#[tokio::test]
async fn a_batch_signs_what_it_can_and_says_why_for_the_rest() {
    for s in TestServer::both().await {
        let b = s.backend();
        let (session, _, key) = s.signer("Batcher", &["sign", "read"]).await;
        let tiny = proofmark_media::encode_image(
            &proofmark_media::Image { width: 40, height: 40, channels: 3, pixels: vec![90; 40 * 40 * 3] },
            proofmark_media::Encoding::Png,
        )
        .unwrap();
        let gif = b"GIF89a\x01\x00\x01\x00\x00\x00\x00;".to_vec();
        let (png, jpeg) = (image("camera.png"), image("rocket.jpg"));
        let parts: Vec<(&str, Option<&str>, &[u8])> = vec![
            ("origin_type", None, b"EDIT"),
            ("file", Some("one.png"), &png),
            ("file", Some("two.gif"), &gif),
            ("file", Some("three.jpg"), &jpeg),
            ("file", Some("four.png"), &tiny),
        ];
        let (content_type, body) = crate::support::multipart(&parts);
        let auth = format!("Bearer {key}");
        let r = s
            .send(
                Method::POST,
                "/api/v1/sign-batch",
                &[("authorization", &auth), ("content-type", &content_type)],
                axum::body::Body::from(body),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{b}: {:?}", r.body);
        let results = r.body["results"].as_array().unwrap();
        let summary: Vec<(&str, u64)> =
            results.iter().map(|x| (x["file_name"].as_str().unwrap(), x["status"].as_u64().unwrap())).collect();
        assert_eq!(summary, [("one.png", 201), ("two.gif", 415), ("three.jpg", 201), ("four.png", 422)], "{b}");
        assert_eq!((r.body["signed"].as_u64(), r.body["failed"].as_u64()), (Some(2), Some(2)), "{b}");
        assert!(results[1]["error"].as_str().unwrap().starts_with("GIF images cannot be signed"), "{b}");
        assert!(results[3]["error"].as_str().unwrap().starts_with("The image cannot carry the watermark"), "{b}");
        for i in [0, 2] {
            check_certificate(&results[i]["result"]["certificate"]);
            assert_eq!(results[i]["result"]["certificate"]["origin_type"], "EDIT", "{b}");
        }
        let list = s.authed(Method::GET, "/api/v1/content-records", &session, Value::Null).await;
        assert_eq!(list.body["items"].as_array().unwrap().len(), 2, "{b}");
        assert_eq!(
            s.state.objects.list("records").await.unwrap().len(),
            4,
            "{b}: originals and marked files of the two"
        );
        // The dashboard counts them; one deleted moves between the counts.
        let id = list.body["items"][0]["id"].as_str().unwrap().to_owned();
        s.authed(Method::DELETE, &format!("/api/v1/content-records/{id}"), &session, Value::Null).await;
        let stats = s.authed(Method::GET, "/api/v1/dashboard/stats", &key, Value::Null).await;
        assert_eq!(stats.status, StatusCode::OK, "{b}: {:?}", stats.body);
        let want = json!({"total_records": 1, "records_last_30_days": 1, "watermarked_records": 1, "deleted_records": 1,
            "by_origin_type": {"EDIT": 1}, "active_signing_keys": 1, "retired_signing_keys": 0, "active_api_keys": 1});
        for (k, v) in want.as_object().unwrap() {
            assert_eq!(&stats.body[k], v, "{b}: {k}");
        }
        assert!(stats.body["last_signed_at"].is_string(), "{b}");
    }
    // More files than a batch takes: refused whole.
    let s = TestServer::with(|c| c.sign.max_batch_files = 2).await;
    let (_, _, key) = s.signer("Small Batches", &["sign"]).await;
    let png = image("camera.png");
    let parts: Vec<(&str, Option<&str>, &[u8])> =
        vec![("file", Some("a"), &png), ("file", Some("b"), &png), ("file", Some("c"), &png)];
    let (content_type, body) = crate::support::multipart(&parts);
    let auth = format!("Bearer {key}");
    let r = s
        .send(
            Method::POST,
            "/api/v1/sign-batch",
            &[("authorization", &auth), ("content-type", &content_type)],
            axum::body::Body::from(body),
        )
        .await;
    assert_eq!((r.status, r.detail()), (StatusCode::UNPROCESSABLE_ENTITY, "At most 2 files per batch"));
    assert!(s.state.objects.list("records").await.unwrap().is_empty());
}

/// POST /api/v1/register: hashes signed by the client with a key whose public half the organisation
/// registered; the signature is verified before anything is stored.
#[tokio::test]
async fn client_signed_hashes_are_verified_before_they_are_registered() {
    use ed25519_dalek::Signer;
    for s in TestServer::both().await {
        let b = s.backend();
        let (session, server_key, api_key) = s.signer("Field Desk", &["sign", "read"]).await;
        let (_, other_key, _) = s.signer("Elsewhere", &["sign"]).await;
        let client = ed25519_dalek::SigningKey::from_bytes(&[7; 32]);
        let public = hex::encode(client.verifying_key().as_bytes());
        for (bad, detail) in [
            ("zz", "public_key must be 64 hex digits (an Ed25519 public key)"),
            (&*format!("01{}", "00".repeat(31)), "public_key is not a valid Ed25519 public key"),
        ] {
            let r = s
                .authed(
                    Method::POST,
                    "/api/v1/keys/signing-keys",
                    &session,
                    json!({"name": "phone", "public_key": bad}),
                )
                .await;
            assert_eq!((r.status, r.detail()), (StatusCode::UNPROCESSABLE_ENTITY, detail), "{b}");
        }
        let r = s
            .authed(Method::POST, "/api/v1/keys/signing-keys", &session, json!({"name": "phone", "public_key": public}))
            .await;
        assert_eq!((r.status, r.body["custody"].clone()), (StatusCode::CREATED, json!("client")), "{b}: {:?}", r.body);
        let client_id = r.body["id"].as_str().unwrap().to_owned();
        // The server cannot sign with it.
        let png = image("camera.png");
        let r = s.sign(&api_key, &[("signing_key_id", None, client_id.as_bytes()), ("file", Some("a"), &png)]).await;
        assert_eq!(r.status, StatusCode::CONFLICT, "{b}");
        assert!(r.detail().starts_with("Signing key is held by the client"), "{b}: {}", r.detail());

        let sha = sha256_hex(&png);
        let phash = "9ee11c1ee11ec1e1";
        let signed_at = proofmark_api::Timestamp(1_800_000_000 - 60);
        let fingerprint = format!("{sha}|{phash}|{signed_at}|cam-42");
        let signature = hex::encode(client.sign(fingerprint.as_bytes()).to_bytes());
        let payload = hex::encode(&Sha256::digest(hex::decode(&signature).unwrap())[..16]);
        let good = json!({"sha256_hash": sha, "perceptual_hash": phash, "signature_hex": signature, "signing_key_id": client_id,
            "signed_at": signed_at.to_string(), "device_id": "cam-42", "origin_type_code": "CAMERA", "file_name": "a.png",
            "file_size": png.len(), "content_type": "image/png", "watermark_payload_hex": payload});
        let mutate = |k: &str, v: Value| {
            let mut body = good.clone();
            body[k] = v;
            body
        };
        let other_sig = hex::encode(client.sign(b"something else").to_bytes());
        let cases = [
            (
                mutate("signature_hex", json!(other_sig)),
                StatusCode::UNPROCESSABLE_ENTITY,
                "The signature does not verify with the signing key over the fingerprint",
            ),
            (
                mutate("device_id", json!("cam-43")),
                StatusCode::UNPROCESSABLE_ENTITY,
                "The signature does not verify with the signing key over the fingerprint",
            ),
            (
                mutate("signed_at", json!("2027-01-20T00:00:00Z")),
                StatusCode::UNPROCESSABLE_ENTITY,
                "signed_at 2027-01-20T00:00:00Z is more than a day from the server's time 2027-01-15T08:00:00Z",
            ),
            (
                mutate("sha256_hash", json!("abc")),
                StatusCode::UNPROCESSABLE_ENTITY,
                "sha256_hash must be 64 hex digits",
            ),
            (
                mutate("watermark_payload_hex", json!("00".repeat(16))),
                StatusCode::UNPROCESSABLE_ENTITY,
                "watermark_payload_hex is not SHA256(signature)[:16]",
            ),
            (
                mutate("signing_key_id", json!(server_key)),
                StatusCode::CONFLICT,
                "Signing key is held by the server: upload the file to POST /api/v1/sign instead",
            ),
            (mutate("signing_key_id", json!(other_key)), StatusCode::NOT_FOUND, "Signing key not found"),
        ];
        for (body, status, detail) in cases {
            let r = s.authed(Method::POST, "/api/v1/register", &api_key, body).await;
            assert_eq!((r.status, r.detail()), (status, detail), "{b}");
        }
        let list = s.authed(Method::GET, "/api/v1/content-records", &api_key, Value::Null).await;
        assert_eq!(list.body["items"], json!([]), "{b}: nothing written");

        let r = s.authed(Method::POST, "/api/v1/register", &api_key, good).await;
        assert_eq!(r.status, StatusCode::CREATED, "{b}: {:?}", r.body);
        check_certificate(&r.body["certificate"]);
        assert_eq!(r.body["certificate"]["fingerprint"], fingerprint.as_str(), "{b}");
        assert_eq!(r.body["certificate"]["watermark_payload"], payload.as_str(), "{b}");
        let found = search(&s, format!("sha256={sha}")).await;
        assert_eq!(found.body[0]["certificate"]["record_id"], r.body["record_id"], "{b}");
        let record = s
            .authed(
                Method::GET,
                &format!("/api/v1/content-records/{}", r.body["record_id"].as_str().unwrap()),
                &api_key,
                Value::Null,
            )
            .await;
        assert_eq!(
            (record.body["source"].clone(), record.body["origin_type"].clone()),
            (json!("registered"), json!("CAMERA")),
            "{b}"
        );
    }
}
