//! The capture API: shapes, status codes, `{"detail"}` messages, and nothing persisted on bad input.
use axum::body::Body;
use axum::http::{Method, StatusCode};
use proofmark_core::jwt::{CaptureClaims, ClaimLayout, DecodedJwt};
use proofmark_core::sidecar::format_timestamp;
use proofmark_core::{ContentHash, DeviceKey, Jwks, Sidecar};
use serde_json::json;

use crate::support::*;

fn is_api_datetime(v: &serde_json::Value) -> bool {
    v.as_str().is_some_and(proofmark_core::verify::is_canonical_timestamp)
}

#[tokio::test]
async fn health_and_unknown_routes() {
    let s = TestServer::new().await;
    let r = s.send(Method::GET, "/health", &[], Body::empty()).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body["status"], "ok");
    assert_eq!(r.body["version"], env!("CARGO_PKG_VERSION"));
    let r = s.send(Method::GET, "/nope", &[], Body::empty()).await;
    assert_eq!((r.status, r.detail()), (StatusCode::NOT_FOUND, "Not Found"));
    let r = s.send(Method::DELETE, "/health", &[], Body::empty()).await;
    assert_eq!((r.status, r.detail()), (StatusCode::METHOD_NOT_ALLOWED, "Method Not Allowed"));
}

#[tokio::test]
async fn publishers_need_an_admin_and_are_unique() {
    let s = TestServer::new().await;
    let body = json!({"name": "Daily Planet"});
    let r = s.json(Method::POST, "/publishers", &[], body.clone()).await;
    assert_eq!((r.status, r.detail()), (StatusCode::UNAUTHORIZED, "Admin token required"));
    let r = s.json(Method::POST, "/publishers", &[("authorization", "Bearer wrong")], body.clone()).await;
    assert_eq!((r.status, r.detail()), (StatusCode::UNAUTHORIZED, "Invalid admin token"));
    // Authentication comes before the body is read.
    let r = s.send(Method::POST, "/publishers", &[("content-type", "application/json")], Body::from("{oops")).await;
    assert_eq!((r.status, r.detail()), (StatusCode::UNAUTHORIZED, "Admin token required"));

    let id = s.publisher(body.clone()).await;
    let auth = format!("Bearer {ADMIN}");
    let r = s.send(Method::GET, &format!("/publishers/{id}"), &[("authorization", &auth)], Body::empty()).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body["name"], "Daily Planet");
    assert_eq!(r.body["sandbox"], true);
    assert_eq!(r.body["attestation_provider"], "none");
    assert!(is_api_datetime(&r.body["created_at"]), "{}", r.body);

    let r = s.json(Method::POST, "/publishers", &[("authorization", &auth)], json!({"name": "DAILY planet"})).await;
    assert_eq!((r.status, r.detail()), (StatusCode::CONFLICT, "Publisher 'DAILY planet' already exists"));
    // 255 characters at most (characters, not bytes).
    let r = s.json(Method::POST, "/publishers", &[("authorization", &auth)], json!({"name": "ü".repeat(255)})).await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    let r = s.json(Method::POST, "/publishers", &[("authorization", &auth)], json!({"name": "n".repeat(256)})).await;
    assert_eq!((r.status, r.detail()), (StatusCode::UNPROCESSABLE_ENTITY, "name must be 1 to 255 characters"));
    // Look-alikes are the same name; control and bidi-override characters are refused outright.
    let r = s.json(Method::POST, "/publishers", &[("authorization", &auth)], json!({"name": "Ｄaily Рlanet"})).await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{:?}", r.body);
    for bad in ["Daily\u{202E}tenalP", "Daily\nPlanet", "\u{2066}Daily", "Daily\u{200B}Planet"] {
        let r = s.json(Method::POST, "/publishers", &[("authorization", &auth)], json!({ "name": bad })).await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{bad:?}");
        assert!(r.detail().contains("bidirectional-override"), "{}", r.detail());
    }

    let r = s.send(Method::GET, "/publishers/not-a-uuid", &[("authorization", &auth)], Body::empty()).await;
    assert_eq!((r.status, r.detail()), (StatusCode::BAD_REQUEST, "Invalid publisher ID format"));
    let missing = uuid::Uuid::new_v4();
    let r = s.send(Method::GET, &format!("/publishers/{missing}"), &[("authorization", &auth)], Body::empty()).await;
    assert_eq!((r.status, r.detail()), (StatusCode::NOT_FOUND, "Publisher not found"));

    let r = s
        .json(
            Method::PATCH,
            &format!("/publishers/{id}"),
            &[("authorization", &auth)],
            json!({"sandbox": false, "attestation_bundle_id": "io.planet"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(
        (r.body["sandbox"].clone(), r.body["attestation_bundle_id"].clone()),
        (json!(false), json!("io.planet"))
    );
    let r = s
        .json(
            Method::PATCH,
            &format!("/publishers/{id}"),
            &[("authorization", &auth)],
            json!({"attestation_bundle_id": null}),
        )
        .await;
    assert_eq!(r.body["attestation_bundle_id"], json!(null));
    let r = s
        .json(
            Method::PATCH,
            &format!("/publishers/{id}"),
            &[("authorization", &auth)],
            json!({"attestation_provider": "firebase_app_check"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "a provider without a project is refused");
}

#[tokio::test]
async fn bad_bodies_are_422_or_413_and_write_nothing() {
    let s = TestServer::with(|c| c.max_body_bytes = 1024).await;
    let auth = format!("Bearer {ADMIN}");
    let h = [("authorization", auth.as_str()), ("content-type", "application/json")];
    let cases: [(&str, &str); 6] = [
        ("{\"name\": ", "JSON decode error"),
        ("{\"name\": 42}", "Invalid request body"),
        ("{}", "Invalid request body"),
        ("[1, 2]", "Invalid request body"),
        ("{\"name\": \"\"}", "name must be 1 to 255 characters"),
        ("{\"name\": \"x\", \"attestation_provider\": \"magic\"}", "attestation_provider"),
    ];
    for (body, detail) in cases {
        let r = s.send(Method::POST, "/publishers", &h, Body::from(body)).await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        assert!(r.detail().contains(detail), "{body}: {}", r.detail());
    }
    let big = json!({"name": "x".repeat(2000)}).to_string();
    let r = s.send(Method::POST, "/publishers", &h, Body::from(big)).await;
    assert_eq!((r.status, r.detail()), (StatusCode::PAYLOAD_TOO_LARGE, "Request body too large"));
    let r = s.send(Method::POST, "/publishers", &[("authorization", &auth)], Body::from("{\"name\":\"x\"}")).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "no content type");
    // None of that created anything: the name is still free.
    s.publisher(json!({"name": "x"})).await;
}

#[tokio::test]
async fn device_registration() {
    let s = TestServer::new().await;
    let sandbox = s.publisher(json!({"name": "Sandbox Co"})).await;
    let (device_id, token, key) = s.device(&sandbox, "phone-1").await;
    assert_eq!(device_id.len(), 36);
    assert_eq!(token.len(), 43, "32 bytes base64url");

    let body = json!({"external_id": "phone-1", "public_key": key.public_key().to_base64()});
    let r = s.json(Method::POST, "/devices", &[("x-publisher-id", &sandbox)], body.clone()).await;
    assert_eq!((r.status, r.detail()), (StatusCode::CONFLICT, "Device 'phone-1' already exists"));
    let r = s.json(Method::POST, "/devices", &[("x-publisher-id", "nope")], body.clone()).await;
    assert_eq!((r.status, r.detail()), (StatusCode::BAD_REQUEST, "Invalid publisher ID format"));
    let r = s.json(Method::POST, "/devices", &[], body.clone()).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    let ghost = uuid::Uuid::new_v4().to_string();
    let r = s.json(Method::POST, "/devices", &[("x-publisher-id", &ghost)], body.clone()).await;
    assert_eq!((r.status, r.detail()), (StatusCode::NOT_FOUND, "Publisher not found"));
    // external_id: 1 to 255 characters (counted as characters, not bytes).
    for (external_id, ok) in
        [("é".repeat(255), true), ("x".repeat(256), false), (" ".into(), false), (String::new(), false)]
    {
        let key = DeviceKey::generate(&mut rand::rngs::OsRng);
        let body = json!({"external_id": external_id, "public_key": key.public_key().to_base64()});
        let r = s.json(Method::POST, "/devices", &[("x-publisher-id", &sandbox)], body).await;
        if ok {
            assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
        } else {
            assert_eq!(
                (r.status, r.detail()),
                (StatusCode::UNPROCESSABLE_ENTITY, "external_id must be 1 to 255 characters")
            );
        }
    }
    let compressed = json!({"external_id": "phone-2", "public_key": "AnR5"});
    let r = s.json(Method::POST, "/devices", &[("x-publisher-id", &sandbox)], compressed).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.detail().starts_with("Invalid public key: "), "{}", r.detail());

    let strict = s.publisher(json!({"name": "Strict Co", "sandbox": false})).await;
    let r = s.json(Method::POST, "/devices", &[("x-publisher-id", &strict)], body).await;
    assert_eq!(
        (r.status, r.detail()),
        (StatusCode::UNAUTHORIZED, "Attestation token required for non-sandbox publishers")
    );
}

#[tokio::test]
async fn capture_flow_issues_a_token_that_verifies() {
    let s = TestServer::new().await;
    let publisher = s.publisher(json!({"name": "Flow"})).await;
    let (device_id, token, key) = s.device(&publisher, "phone").await;
    let r =
        s.send(Method::POST, "/capture/session", &[("authorization", &format!("Bearer {token}"))], Body::empty()).await;
    assert_eq!(r.status, StatusCode::CREATED);
    assert_eq!(r.body["expires_at"], format_timestamp(1_800_000_000 + 300));
    let (capture_id, nonce) =
        (r.body["capture_id"].as_str().unwrap().to_owned(), r.body["nonce"].as_str().unwrap().to_owned());

    let r = s.trust(&token, &nonce).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let jwt_text = r.body["trust_token"].as_str().unwrap().to_owned();
    let jwt = DecodedJwt::decode(&jwt_text).unwrap();
    let claims = CaptureClaims::from_payload(&jwt.payload).unwrap();
    assert_eq!(claims.layout, ClaimLayout::Current);
    assert_eq!(
        (claims.iss.as_str(), claims.capture_id.as_str(), claims.device_id.as_str()),
        (ISSUER, capture_id.as_str(), device_id.as_str())
    );
    assert_eq!(claims.publisher_id, publisher);
    assert_eq!(claims.device_public_key_fingerprint, Some(key.public_key().fingerprint()));
    let payload_keys: Vec<&String> = jwt.payload.keys().collect();
    assert_eq!(
        payload_keys,
        [
            "iss",
            "aud",
            "sub",
            "iat",
            "capture_id",
            "publisher_id",
            "device_id",
            "attestation",
            "device_public_key_fingerprint"
        ]
    );

    // The sidecar built from it validates on /validate and against the published JWKS.
    let media = b"a photo".to_vec();
    let sidecar = Sidecar::build(&ContentHash::of(&media), &key, &capture_id, "2027-01-15T08:00:00Z", jwt_text);
    let r = validate(&s, &media, sidecar.to_json_pretty().as_bytes()).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["valid"], true, "{}", r.body);
    assert_eq!(r.body["report"]["verdict"], "trusted");
    assert_eq!(r.body["media_integrity"]["fingerprint_match"], true);
    let r = validate(&s, b"another photo", sidecar.to_json_pretty().as_bytes()).await;
    assert_eq!(
        (r.body["valid"].clone(), r.body["media_integrity"]["content_hash_valid"].clone()),
        (json!(false), json!(false))
    );
    assert!(r.body["error"].as_str().unwrap().contains("changed after capture"));
    let r = validate(&s, &media, b"{not json").await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.detail().starts_with("Validation failed: "), "{}", r.detail());
    let r = validate(&s, &media, &vec![b' '; 70_000]).await;
    assert_eq!((r.status, r.detail()), (StatusCode::PAYLOAD_TOO_LARGE, "The sidecar is larger than 65536 bytes"));
    let r = s.send(Method::POST, "/validate", &[("content-type", "application/json")], Body::from("{}")).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.detail().starts_with("Validation failed: "), "errors are JSON too: {}", r.detail());

    let jwks = s.send(Method::GET, "/.well-known/jwks.json", &[], Body::empty()).await;
    let set = Jwks::parse(jwks.body.to_string().as_bytes()).unwrap();
    assert_eq!(set.keys.len(), 1);
    assert_eq!(Some(set.keys[0].kid.as_str()), jwt.header.kid.as_deref());
}

async fn validate(s: &TestServer, media: &[u8], sidecar: &[u8]) -> Reply {
    let boundary = "XyZ0123boundary";
    let mut body = Vec::new();
    for (name, bytes) in [("media", media), ("sidecar", sidecar)] {
        body.extend_from_slice(
            format!("--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"; filename=\"{name}\"\r\n\r\n")
                .as_bytes(),
        );
        body.extend_from_slice(bytes);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    let ct = format!("multipart/form-data; boundary={boundary}");
    s.send(Method::POST, "/validate", &[("content-type", &ct)], Body::from(body)).await
}

#[tokio::test]
async fn nonces_are_single_use_bound_to_the_device_and_expire() {
    let s = TestServer::new().await;
    let publisher = s.publisher(json!({"name": "Nonce"})).await;
    let (_, token_a, _) = s.device(&publisher, "a").await;
    let (_, token_b, _) = s.device(&publisher, "b").await;

    let r = s.send(Method::POST, "/capture/session", &[], Body::empty()).await;
    assert_eq!((r.status, r.detail()), (StatusCode::UNAUTHORIZED, "Invalid device token"));
    let r = s.send(Method::POST, "/capture/session", &[("authorization", "Bearer forged")], Body::empty()).await;
    assert_eq!((r.status, r.detail()), (StatusCode::UNAUTHORIZED, "Invalid device token"));

    let (_, nonce) = s.session(&token_a).await;
    let r = s.trust(&token_b, &nonce).await;
    assert_eq!((r.status, r.detail()), (StatusCode::BAD_REQUEST, "Invalid or expired nonce"), "another device's nonce");
    assert_eq!(s.trust(&token_a, &nonce).await.status, StatusCode::OK);
    let r = s.trust(&token_a, &nonce).await;
    assert_eq!((r.status, r.detail()), (StatusCode::BAD_REQUEST, "Invalid or expired nonce"), "replay");
    let r = s.trust(&token_a, "never-issued").await;
    assert_eq!((r.status, r.detail()), (StatusCode::BAD_REQUEST, "Invalid or expired nonce"));
    let r = s.trust("forged", &nonce).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    let r = s
        .json(Method::POST, "/capture/trust", &[("authorization", &format!("Bearer {token_a}"))], json!({"nonce": 7}))
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);

    let (_, nonce) = s.session(&token_a).await;
    s.advance(300);
    let r = s.trust(&token_a, &nonce).await;
    assert_eq!((r.status, r.detail()), (StatusCode::BAD_REQUEST, "Invalid or expired nonce"), "expired session");
}

#[tokio::test]
async fn rate_limits_answer_429_with_retry_after() {
    let s = TestServer::with(|c| {
        c.rate_limit.per_device_per_minute = 3;
        c.rate_limit.per_ip_per_minute = 0;
    })
    .await;
    let publisher = s.publisher(json!({"name": "Limits"})).await;
    let (_, token, _) = s.device(&publisher, "a").await;
    for _ in 0..3 {
        s.session(&token).await;
    }
    let r =
        s.send(Method::POST, "/capture/session", &[("authorization", &format!("Bearer {token}"))], Body::empty()).await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(r.headers.get("retry-after").unwrap(), "20");
    assert!(r.detail().starts_with("Too many requests"), "{}", r.detail());
}

/// The per-IP budget is spent before the body is read: a client over it gets 429 whatever it sends, so a
/// malformed body cannot tell it anything (before, malformed bodies got 422 with the bucket empty).
#[tokio::test]
async fn the_ip_budget_is_checked_before_the_body_is_parsed() {
    let s = TestServer::with(|c| c.rate_limit.per_ip_per_minute = 3).await;
    for (path, body) in [("/devices", "{not json"), ("/capture/trust", "[1, 2]"), ("/capture/session", "")] {
        let r = s.send(Method::POST, path, &[("content-type", "application/json")], Body::from(body)).await;
        assert_ne!(r.status, StatusCode::TOO_MANY_REQUESTS, "{path}: within the budget");
    }
    for (path, body) in
        [("/devices", "{not json"), ("/capture/trust", "{\"nonce\": 1}"), ("/devices", ""), ("/validate", "--x")]
    {
        let r = s.send(Method::POST, path, &[("content-type", "application/json")], Body::from(body)).await;
        assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS, "{path} {body}: {:?}", r.body);
        assert!(r.headers.contains_key("retry-after"));
    }
}

#[tokio::test]
async fn key_rotation_keeps_old_tokens_verifiable() {
    let s = TestServer::new().await;
    let before = s.state.keys.current_jwk().unwrap().kid;
    let (kek, _) = proofmark_server::keys::Kek::load(&s.state.config).unwrap();
    let after = proofmark_server::keys::rotate(s.state.store.as_ref(), &kek, s.state.now()).await.unwrap();
    assert_ne!(before, after);
    s.advance(proofmark_server::keys::REFRESH_SECS);
    let publisher = s.publisher(json!({"name": "Rotate"})).await;
    let (_, token, _) = s.device(&publisher, "a").await;
    let (_, nonce) = s.session(&token).await;
    let jwt = s.trust(&token, &nonce).await.body["trust_token"].as_str().unwrap().to_owned();
    assert_eq!(DecodedJwt::decode(&jwt).unwrap().header.kid.as_deref(), Some(after.as_str()), "signs with the new key");
    let jwks = s.send(Method::GET, "/.well-known/jwks.json", &[], Body::empty()).await;
    let kids: Vec<String> =
        Jwks::parse(jwks.body.to_string().as_bytes()).unwrap().keys.into_iter().map(|k| k.kid).collect();
    assert_eq!(kids, [after, before], "current first, the retired key still published");
}

#[tokio::test]
async fn issuer_private_keys_are_not_in_the_database_in_clear() {
    let s = TestServer::new().await;
    let stored = s.state.store.issuer_keys().await.unwrap();
    let db = std::fs::read(s.dir.path().join("proofmark.db")).unwrap();
    let wal = std::fs::read(s.dir.path().join("proofmark.db-wal")).unwrap_or_default();
    let (kek, _) = proofmark_server::keys::Kek::load(&s.state.config).unwrap();
    let scalar = kek.unseal(&stored[0].kid, &stored[0].sealed_private_key).unwrap();
    for file in [db, wal] {
        assert!(!file.windows(32).any(|w| w == scalar.as_slice()), "the private scalar appears in the database");
    }
}

#[tokio::test]
async fn openapi_names_every_route() {
    let s = TestServer::new().await;
    let doc = s.send(Method::GET, "/openapi.json", &[], Body::empty()).await.body;
    assert_eq!(doc["openapi"], "3.1.0");
    // Each documented path, probed with GET: the exact answer shows it is routed (a POST-only route says 405,
    // an admin route 401 without a token), not merely "not 404".
    let routes = [
        ("/health", StatusCode::OK),
        ("/publishers", StatusCode::METHOD_NOT_ALLOWED),
        ("/publishers/{publisher_id}", StatusCode::UNAUTHORIZED),
        ("/devices", StatusCode::METHOD_NOT_ALLOWED),
        ("/capture/session", StatusCode::METHOD_NOT_ALLOWED),
        ("/capture/trust", StatusCode::METHOD_NOT_ALLOWED),
        ("/validate", StatusCode::METHOD_NOT_ALLOWED),
        ("/.well-known/jwks.json", StatusCode::OK),
        ("/openapi.json", StatusCode::OK),
        ("/api/v1/auth/register", StatusCode::METHOD_NOT_ALLOWED),
        ("/api/v1/auth/login", StatusCode::METHOD_NOT_ALLOWED),
        ("/api/v1/auth/me", StatusCode::UNAUTHORIZED),
        ("/api/v1/keys/api-keys", StatusCode::UNAUTHORIZED),
        ("/api/v1/keys/api-keys/{id}", StatusCode::METHOD_NOT_ALLOWED),
        ("/api/v1/keys/signing-keys", StatusCode::UNAUTHORIZED),
        ("/api/v1/keys/signing-keys/{id}", StatusCode::METHOD_NOT_ALLOWED),
        ("/api/v1/sign", StatusCode::METHOD_NOT_ALLOWED),
        ("/api/v1/sign-batch", StatusCode::METHOD_NOT_ALLOWED),
        ("/api/v1/verify", StatusCode::METHOD_NOT_ALLOWED),
        ("/api/v1/register", StatusCode::METHOD_NOT_ALLOWED),
        ("/api/v1/content-records", StatusCode::UNAUTHORIZED),
        ("/api/v1/content-records/{id}", StatusCode::UNAUTHORIZED),
        ("/api/v1/content-records/{id}/file", StatusCode::UNAUTHORIZED),
        ("/api/v1/content-records/{id}/certificate", StatusCode::NOT_FOUND),
        ("/api/v1/content-records/public/search", StatusCode::UNPROCESSABLE_ENTITY),
        ("/api/v1/origin-types", StatusCode::OK),
        ("/api/v1/dashboard/stats", StatusCode::UNAUTHORIZED),
        ("/api/v1/webhooks", StatusCode::UNAUTHORIZED),
        ("/api/v1/webhooks/{id}", StatusCode::UNAUTHORIZED),
        ("/api/v1/webhooks/{id}/deliveries", StatusCode::UNAUTHORIZED),
        ("/log/checkpoint", StatusCode::OK),
        ("/log/tile/{path}", StatusCode::NOT_FOUND),
        ("/api/v1/log/key", StatusCode::OK),
        ("/api/v1/log/proof/inclusion", StatusCode::UNPROCESSABLE_ENTITY),
        ("/api/v1/log/proof/consistency", StatusCode::UNPROCESSABLE_ENTITY),
        ("/api/v1/log/entries/{index}", StatusCode::NOT_FOUND),
        ("/api/v1/log/cosignatures", StatusCode::METHOD_NOT_ALLOWED),
        ("/api/v1/content-records/{id}/receipt", StatusCode::NOT_FOUND),
    ];
    let documented: Vec<&String> = doc["paths"].as_object().unwrap().keys().collect();
    assert_eq!(documented.len(), routes.len());
    for (r, want) in routes {
        assert!(doc["paths"].get(r).is_some(), "{r} is not documented");
        let probe = r
            .replace("{publisher_id}", &uuid::Uuid::new_v4().to_string())
            .replace("{id}", &uuid::Uuid::new_v4().to_string());
        let reply = s.send(Method::GET, &probe, &[], Body::empty()).await;
        assert_eq!(reply.status, want, "GET {r}");
        if want == StatusCode::NOT_FOUND {
            // The route's own 404 (no such record), not the router's fallback.
            assert_ne!(reply.detail(), "Not Found", "GET {r} fell through to the router");
        }
    }
    // Generated, not hand-written: every reference resolves, and the schemas carry the types' fields.
    let mut refs = Vec::new();
    collect_refs(&doc, &mut refs);
    assert!(refs.len() > 20, "{refs:?}");
    for r in refs {
        let name = r.strip_prefix("#/components/schemas/").unwrap_or_else(|| panic!("{r}"));
        assert!(doc["components"]["schemas"].get(name).is_some(), "{r} does not resolve");
    }
    let publisher = &doc["components"]["schemas"]["Publisher"]["properties"];
    for field in ["publisher_id", "name", "sandbox", "attestation_provider", "created_at"] {
        assert!(publisher.get(field).is_some(), "Publisher.{field}");
    }
    assert_eq!(publisher["publisher_id"]["$ref"], "#/components/schemas/PublisherId");
    assert_eq!(doc["components"]["schemas"]["PublisherId"]["format"], "uuid");
    assert_eq!(doc["components"]["schemas"]["AttestationProvider"]["enum"], json!(["none", "firebase_app_check"]));
    assert_eq!(
        doc["paths"]["/devices"]["post"]["responses"]["201"]["content"]["application/json"]["schema"]["$ref"],
        "#/components/schemas/Device"
    );
    assert!(doc["components"]["securitySchemes"].get("admin").is_some());
    // And no route writes a body the document cannot describe: no JSON built by hand.
    let routes = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/routes");
    for entry in std::fs::read_dir(&routes).unwrap() {
        let path = entry.unwrap().path();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(!text.contains("json!("), "{} builds JSON by hand", path.display());
    }
}

fn collect_refs(v: &serde_json::Value, out: &mut Vec<String>) {
    match v {
        serde_json::Value::Object(map) => {
            for (k, v) in map {
                match (k.as_str(), v) {
                    ("$ref", serde_json::Value::String(r)) => out.push(r.clone()),
                    _ => collect_refs(v, out),
                }
            }
        }
        serde_json::Value::Array(items) => items.iter().for_each(|v| collect_refs(v, out)),
        _ => {}
    }
}

/// The data directory and every file the server writes in it are the owner's alone, whatever the umask.
#[cfg(unix)]
#[tokio::test]
async fn data_files_are_private() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("nested/data");
    let mut c = config(&data);
    c.kek = None;
    let state = proofmark_server::AppState::new(c, proofmark_server::Clock::system()).await.unwrap();
    // Write something so that SQLite has made its -wal and -shm files.
    let p = proofmark_store::Publisher {
        publisher_id: "0b0c1f3e-8a51-4b4e-9a53-6a1f6f0c2d11".parse().unwrap(),
        name: "Private".into(),
        sandbox: true,
        attestation_provider: proofmark_store::AttestationProvider::None,
        attestation_bundle_id: None,
        firebase_project_id: None,
        created_at: proofmark_store::Timestamp(0),
    };
    state.store.create_publisher(&p).await.unwrap();
    let mode = |name: &str| std::fs::metadata(data.join(name)).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(""), 0o700, "data directory");
    for name in ["proofmark.db", "proofmark.db-wal", "proofmark.db-shm", "kek"] {
        assert_eq!(mode(name), 0o600, "{name}");
    }
    assert!(proofmark_server::open_to_others(&data).is_empty());
    // An existing directory that is open to others is reported (and left as the operator made it).
    std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::set_permissions(data.join("proofmark.db"), std::fs::Permissions::from_mode(0o644)).unwrap();
    let warnings = proofmark_server::open_to_others(&data);
    assert_eq!(warnings.len(), 2, "{warnings:?}");
    assert!(warnings[0].contains("has mode 755") && warnings[1].contains("proofmark.db has mode 644"), "{warnings:?}");
}

/// `/validate` at its edges: a missing part is 422, a repeated one 400, an upload over `max_upload_bytes`
/// 413; a token naming another issuer, or signed by a key this server does not have, is invalid; a token
/// signed by a retired key is still trusted.
#[tokio::test]
async fn validate_route_edges() {
    let s = TestServer::with(|c| c.max_upload_bytes = 100_000).await;
    let publisher = s.publisher(json!({"name": "Edges"})).await;
    let (_, token, key) = s.device(&publisher, "phone").await;
    let (capture_id, nonce) = s.session(&token).await;
    let old_jwt = s.trust(&token, &nonce).await.body["trust_token"].as_str().unwrap().to_owned();
    let media = b"edge photo".to_vec();
    let sidecar = |jwt: String| {
        Sidecar::build(&ContentHash::of(&media), &key, &capture_id, "2027-01-15T08:00:00Z", jwt).to_json_pretty()
    };
    let multipart = |parts: &[(&str, &[u8])]| {
        let mut body = Vec::new();
        for (name, bytes) in parts {
            body.extend_from_slice(
                format!("--b0\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n").as_bytes(),
            );
            body.extend_from_slice(bytes);
            body.extend_from_slice(b"\r\n");
        }
        body.extend_from_slice(b"--b0--\r\n");
        body
    };
    let post = |body: Vec<u8>| {
        s.send(Method::POST, "/validate", &[("content-type", "multipart/form-data; boundary=b0")], Body::from(body))
    };
    let good = sidecar(old_jwt.clone());
    let r = post(multipart(&[("media", &media)])).await;
    assert_eq!((r.status, r.detail()), (StatusCode::UNPROCESSABLE_ENTITY, "Field required: sidecar"));
    let r = post(multipart(&[("sidecar", good.as_bytes())])).await;
    assert_eq!((r.status, r.detail()), (StatusCode::UNPROCESSABLE_ENTITY, "Field required: media"));
    let r = post(multipart(&[("media", &media), ("media", &media), ("sidecar", good.as_bytes())])).await;
    assert_eq!((r.status, r.detail()), (StatusCode::BAD_REQUEST, "Validation failed: more than one media part"));
    let r = post(multipart(&[("media", &media), ("sidecar", good.as_bytes()), ("sidecar", good.as_bytes())])).await;
    assert_eq!((r.status, r.detail()), (StatusCode::BAD_REQUEST, "Validation failed: more than one sidecar part"));
    let r = post(multipart(&[("media", &vec![0u8; 150_000]), ("sidecar", good.as_bytes())])).await;
    assert_eq!((r.status, r.detail()), (StatusCode::PAYLOAD_TOO_LARGE, "Request body too large"));

    // A token signed with this server's key but naming another issuer: the key is not that issuer's.
    let (kek, _) = proofmark_server::keys::Kek::load(&s.state.config).unwrap();
    let server_key = s.state.keys.current(s.state.store.as_ref(), s.state.now()).await.unwrap();
    let mut claims = CaptureClaims::from_payload(&DecodedJwt::decode(&old_jwt).unwrap().payload).unwrap();
    claims.iss = "https://someone-else.example".into();
    let r = post(multipart(&[
        ("media", &media),
        ("sidecar", sidecar(proofmark_core::jwt::mint(&claims, &server_key)).as_bytes()),
    ]))
    .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body["valid"], false);
    let reasons: Vec<&str> =
        r.body["report"]["checks"].as_array().unwrap().iter().filter_map(|c| c["reason"].as_str()).collect();
    assert_eq!(reasons, ["jwt_key_wrong_issuer"], "{}", r.body);
    // A token of this issuer signed by a key it never had.
    claims.iss = ISSUER.into();
    let stranger = proofmark_core::IssuerKey::from_scalar_bytes(&[0x3c; 32]).unwrap();
    let r = post(multipart(&[
        ("media", &media),
        ("sidecar", sidecar(proofmark_core::jwt::mint(&claims, &stranger)).as_bytes()),
    ]))
    .await;
    assert_eq!(r.body["valid"], false);
    let reasons: Vec<&str> =
        r.body["report"]["checks"].as_array().unwrap().iter().filter_map(|c| c["reason"].as_str()).collect();
    assert_eq!(reasons, ["jwt_unknown_kid"], "{}", r.body);

    // After a rotation the old key is retired but still verifies its tokens, as trusted.
    proofmark_server::keys::rotate(s.state.store.as_ref(), &kek, s.state.now()).await.unwrap();
    let r = post(multipart(&[("media", &media), ("sidecar", good.as_bytes())])).await;
    assert_eq!((r.status, r.body["report"]["verdict"].clone()), (StatusCode::OK, json!("trusted")), "{}", r.body);

    // The key set is served with a short cache lifetime, so rotations are seen within REFRESH_SECS.
    let r = s.send(Method::GET, "/.well-known/jwks.json", &[], Body::empty()).await;
    assert_eq!(
        r.headers.get("cache-control").unwrap(),
        &format!("public, max-age={}", proofmark_server::keys::REFRESH_SECS)
    );
}

#[tokio::test]
async fn admin_edges() {
    let s = TestServer::new().await;
    let auth = format!("Bearer {ADMIN}");
    let a = s.publisher(json!({"name": "Alpha Desk"})).await;
    s.publisher(json!({"name": "Beta Desk"})).await;
    let missing = uuid::Uuid::new_v4();
    let r = s
        .json(Method::PATCH, &format!("/publishers/{missing}"), &[("authorization", &auth)], json!({"sandbox": true}))
        .await;
    assert_eq!((r.status, r.detail()), (StatusCode::NOT_FOUND, "Publisher not found"));
    let r = s
        .json(Method::PATCH, &format!("/publishers/{a}"), &[("authorization", &auth)], json!({"name": "beta desk"}))
        .await;
    assert_eq!((r.status, r.detail()), (StatusCode::CONFLICT, "Publisher 'beta desk' already exists"));
    assert_eq!(
        s.state.store.publisher(&a.parse().unwrap()).await.unwrap().unwrap().name,
        "Alpha Desk",
        "nothing written"
    );

    // A token made by `proofmark admin token` (stored as its hash) works over HTTP; a made-up one does not.
    let stored = "a-stored-admin-token";
    s.state
        .store
        .create_admin_token(&proofmark_server::sha256_hex(stored.as_bytes()), "ops", proofmark_store::Timestamp(0))
        .await
        .unwrap();
    let r = s
        .json(Method::POST, "/publishers", &[("authorization", &format!("Bearer {stored}"))], json!({"name": "Gamma"}))
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    let r = s.json(Method::POST, "/publishers", &[("authorization", "Bearer made-up")], json!({"name": "Delta"})).await;
    assert_eq!((r.status, r.detail()), (StatusCode::UNAUTHORIZED, "Invalid admin token"));

    // A publisher that requires attestation but has no provider: a device that offers a token is refused.
    let strict = s.publisher(json!({"name": "Strict Desk", "sandbox": false})).await;
    let key = DeviceKey::generate(&mut rand::rngs::OsRng);
    let r = s
        .json(
            Method::POST,
            "/devices",
            &[("x-publisher-id", &strict), ("x-attestation-token", "some.token.here")],
            json!({"external_id": "p", "public_key": key.public_key().to_base64()}),
        )
        .await;
    assert_eq!((r.status, r.detail()), (StatusCode::UNAUTHORIZED, "Publisher has no attestation provider configured"));
}

/// Per-IP limits with the limiter on: IPv6 clients count per /64, IPv4 per address, `client_ip_header` is
/// read only when configured; per-device limits on the trust route answer 429 with Retry-After, and
/// made-up device tokens cost the device budget nothing.
#[tokio::test]
async fn rate_limits_by_address_and_device() {
    use axum::extract::ConnectInfo;
    use http_body_util::BodyExt;
    use tower::ServiceExt;

    async fn from(s: &TestServer, peer: &str, headers: &[(&str, &str)]) -> StatusCode {
        let mut req = axum::http::Request::builder().method(Method::POST).uri("/capture/session");
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let mut req = req.body(Body::empty()).unwrap();
        req.extensions_mut().insert(ConnectInfo(peer.parse::<std::net::SocketAddr>().unwrap()));
        let response = s.router.clone().oneshot(req).await.unwrap();
        let status = response.status();
        let _ = response.into_body().collect().await;
        status
    }
    let s = TestServer::with(|c| {
        c.rate_limit.per_ip_per_minute = 2;
        c.rate_limit.per_device_per_minute = 0;
    })
    .await;
    // Two addresses in one /64 share a budget; another /64 and an IPv4 client have their own.
    assert_eq!(from(&s, "[2001:db8:1:2::1]:1000", &[]).await, StatusCode::UNAUTHORIZED);
    assert_eq!(from(&s, "[2001:db8:1:2::ffff]:1000", &[]).await, StatusCode::UNAUTHORIZED);
    assert_eq!(from(&s, "[2001:db8:1:2:aaaa::1]:1000", &[]).await, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(from(&s, "[2001:db8:1:3::1]:1000", &[]).await, StatusCode::UNAUTHORIZED);
    assert_eq!(from(&s, "192.0.2.7:1000", &[]).await, StatusCode::UNAUTHORIZED);
    assert_eq!(from(&s, "192.0.2.7:2000", &[]).await, StatusCode::UNAUTHORIZED);
    assert_eq!(from(&s, "192.0.2.7:3000", &[]).await, StatusCode::TOO_MANY_REQUESTS);
    // Without client_ip_header a forwarded-for header is ignored: the spent peer stays limited.
    let spoof = [("x-forwarded-for", "198.51.100.9")];
    assert_eq!(from(&s, "192.0.2.7:4000", &spoof).await, StatusCode::TOO_MANY_REQUESTS);

    // Behind a proxy (configured), the last address in the header is the client.
    let p = TestServer::with(|c| {
        c.rate_limit.per_ip_per_minute = 1;
        c.rate_limit.client_ip_header = Some("x-forwarded-for".into());
    })
    .await;
    let proxy = "10.0.0.2:5000";
    assert_eq!(from(&p, proxy, &[("x-forwarded-for", "203.0.113.1, 198.51.100.1")]).await, StatusCode::UNAUTHORIZED);
    assert_eq!(from(&p, proxy, &[("x-forwarded-for", "198.51.100.2")]).await, StatusCode::UNAUTHORIZED);
    // The budget spent was the last address's (the proxy appends the real client), not the first's, which
    // the client wrote itself.
    assert_eq!(from(&p, proxy, &[("x-forwarded-for", "198.51.100.1")]).await, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(from(&p, proxy, &[("x-forwarded-for", "203.0.113.1")]).await, StatusCode::UNAUTHORIZED);

    // Per device, on the trust route: 429 with Retry-After; made-up tokens do not spend it.
    let d = TestServer::with(|c| {
        c.rate_limit.per_ip_per_minute = 0;
        c.rate_limit.per_device_per_minute = 2;
    })
    .await;
    let publisher = d.publisher(json!({"name": "Budget"})).await;
    let (_, token, _) = d.device(&publisher, "a").await;
    for i in 0..20 {
        let r = d.trust(&format!("made-up-token-{i}"), "n").await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    }
    assert_eq!(d.state.devices_rate_limited(), 0, "made-up tokens leave no state in the device limiter");
    let (_, nonce) = d.session(&token).await;
    assert_eq!(d.trust(&token, &nonce).await.status, StatusCode::OK);
    let r = d.trust(&token, "whatever").await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS, "{:?}", r.body);
    assert_eq!(r.headers.get("retry-after").unwrap(), "30");
}

/// Housekeeping by the state's clock: an unredeemed session is kept until a day after it expired, then
/// deleted; a redeemed one stays.
#[tokio::test]
async fn session_pruning_follows_the_clock() {
    let s = TestServer::new().await;
    let publisher = s.publisher(json!({"name": "Prune"})).await;
    let (_, token, _) = s.device(&publisher, "a").await;
    let (_, _unused) = s.session(&token).await;
    let (_, used) = s.session(&token).await;
    assert_eq!(s.trust(&token, &used).await.status, StatusCode::OK);
    s.advance(300 + 86_400);
    assert_eq!(proofmark_server::prune_sessions(&s.state).await.unwrap(), 0, "a day after expiry: kept");
    s.advance(1);
    assert_eq!(proofmark_server::prune_sessions(&s.state).await.unwrap(), 1, "only the unredeemed one");
    assert_eq!(proofmark_server::prune_sessions(&s.state).await.unwrap(), 0);
}
