//! Firebase App Check at registration, with a local RSA key standing in for Firebase's.
use axum::http::{Method, StatusCode};
use base64::Engine;
use proofmark_core::jwt::{CaptureClaims, DecodedJwt};
use proofmark_core::{AttestationMethod, DeviceKey};
use rsa::pkcs1v15::SigningKey;
use rsa::pkcs8::DecodePrivateKey;
use rsa::signature::{SignatureEncoding, Signer};
use rsa::traits::PublicKeyParts;
use rsa::RsaPrivateKey;
use serde_json::{json, Value};
use sha2::Sha256;

use crate::support::*;

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

fn token(key: &RsaPrivateKey, header: Value, claims: Value) -> String {
    let input = format!("{}.{}", b64(header.to_string().as_bytes()), b64(claims.to_string().as_bytes()));
    let sig = SigningKey::<Sha256>::new(key.clone()).sign(input.as_bytes());
    format!("{input}.{}", b64(&sig.to_bytes()))
}

/// Fixed RSA test keys (testdata/appcheck, made once with `openssl genpkey`): no key generation per run.
fn test_key(name: &str) -> RsaPrivateKey {
    let path = format!("{}/../../testdata/appcheck/{name}.pem", env!("CARGO_MANIFEST_DIR"));
    RsaPrivateKey::from_pkcs8_pem(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn jwks_of(entries: &[(&str, &RsaPrivateKey)]) -> String {
    let mut keys: Vec<Value> = entries
        .iter()
        .map(|(kid, key)| {
            let public = key.to_public_key();
            json!({"kty": "RSA", "kid": kid, "alg": "RS256", "use": "sig",
                   "n": b64(&public.n().to_bytes_be()), "e": b64(&public.e().to_bytes_be())})
        })
        .collect();
    keys.push(json!({"kty": "EC", "kid": "ignored"}));
    json!({ "keys": keys }).to_string()
}

#[tokio::test]
async fn app_check_tokens_decide_registration() {
    let firebase = test_key("firebase");
    let impostor = test_key("impostor");
    let dir = tempfile::tempdir().unwrap();
    let jwks_path = dir.path().join("appcheck-jwks.json");
    std::fs::write(&jwks_path, jwks_of(&[("fb-1", &firebase)])).unwrap();
    let path = jwks_path.display().to_string();
    let s = TestServer::with(move |c| c.firebase.jwks = path).await;
    let publisher = s
        .publisher(json!({"name": "Attested", "sandbox": false, "attestation_provider": "firebase_app_check",
                          "firebase_project_id": "demo-project", "attestation_bundle_id": "io.demo.capture"}))
        .await;
    let now = 1_800_000_000i64;
    let header = json!({"alg": "RS256", "kid": "fb-1", "typ": "JWT"});
    let claims = json!({"iss": "https://firebaseappcheck.googleapis.com/123456789",
                        "aud": ["projects/123456789", "projects/demo-project"],
                        "sub": "1:123456789:ios:abcdef", "iat": now, "exp": now + 3600});
    let register = |token: String, external: &'static str| {
        let key = DeviceKey::generate(&mut rand::rngs::OsRng);
        let publisher = publisher.clone();
        let s = &s;
        async move {
            s.json(
                Method::POST,
                "/devices",
                &[("x-publisher-id", &publisher), ("x-attestation-token", &token)],
                json!({"external_id": external, "public_key": key.public_key().to_base64()}),
            )
            .await
        }
    };

    let mut expired = claims.clone();
    expired["exp"] = json!(now - 1);
    let mut wrong_project = claims.clone();
    wrong_project["aud"] = json!(["projects/123456789", "projects/other-project"]);
    let mut wrong_issuer = claims.clone();
    wrong_issuer["iss"] = json!("https://evil.example/123456789");
    let without = |name: &str| {
        let mut c = claims.clone();
        c.as_object_mut().unwrap().remove(name);
        c
    };
    let mut aud_string = claims.clone();
    aud_string["aud"] = json!("projects/123456789");
    let refusals = [
        (token(&impostor, header.clone(), claims.clone()), "signature does not verify"),
        (token(&firebase, header.clone(), expired), "token expired"),
        (token(&firebase, header.clone(), wrong_project), "audience does not include projects/demo-project"),
        (token(&firebase, header.clone(), wrong_issuer), "is not Firebase App Check"),
        (token(&firebase, json!({"alg": "RS256", "kid": "fb-2", "typ": "JWT"}), claims.clone()), "unknown kid"),
        (format!("{}.{}.", b64(br#"{"alg":"none","typ":"JWT"}"#), b64(claims.to_string().as_bytes())), "not RS256"),
        ("garbage".to_owned(), "3 dot-separated parts"),
        (token(&firebase, json!({"alg": "RS256", "kid": "fb-1", "typ": "JWS"}), claims.clone()), "typ is not JWT"),
        (token(&firebase, json!({"alg": "RS256", "kid": "fb-1"}), claims.clone()), "typ is not JWT"),
        (token(&firebase, header.clone(), without("exp")), "no exp claim"),
        (token(&firebase, header.clone(), without("sub")), "no sub claim"),
        // One audience as a string cannot name both the project number and the project id.
        (token(&firebase, header.clone(), aud_string), "audience does not include projects/demo-project"),
    ];
    let names = ["r0", "r1", "r2", "r3", "r4", "r5", "r6", "r7", "r8", "r9", "r10", "r11"];
    for (i, (bad, why)) in refusals.into_iter().enumerate() {
        let r = register(bad, names[i]).await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{why}");
        assert!(
            r.detail().starts_with("Invalid attestation token: ") && r.detail().contains(why),
            "{why}: {}",
            r.detail()
        );
    }

    let r = register(token(&firebase, header, claims), "attested-phone").await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let device_token = r.body["device_token"].as_str().unwrap().to_owned();
    let (_, nonce) = s.session(&device_token).await;
    let jwt = s.trust(&device_token, &nonce).await.body["trust_token"].as_str().unwrap().to_owned();
    let claims = CaptureClaims::from_payload(&DecodedJwt::decode(&jwt).unwrap().payload).unwrap();
    assert_eq!(claims.attestation.method, AttestationMethod::AppCheck);
    assert_eq!(claims.attestation.app_id.as_deref(), Some("io.demo.capture"), "the publisher's bundle id");
}

/// The publisher has no bundle id: the app id is the token's `sub`. Keys at an http URL are never used.
/// An unknown kid refetches the key set, but not within the refetch throttle.
#[tokio::test]
async fn app_id_fallback_http_refusal_and_refetch_throttle() {
    let firebase = test_key("firebase");
    let rotated = test_key("impostor");
    let dir = tempfile::tempdir().unwrap();
    let jwks_path = dir.path().join("jwks.json");
    std::fs::write(&jwks_path, jwks_of(&[("fb-1", &firebase)])).unwrap();
    let now = 1_800_000_000i64;
    let claims = json!({"iss": "https://firebaseappcheck.googleapis.com/42", "aud": ["projects/42", "projects/p"],
                        "sub": "1:42:ios:fallback", "iat": now, "exp": now + 600});
    let path = jwks_path.display().to_string();
    let s = TestServer::with(move |c| c.firebase.jwks = path).await;
    let publisher = s
        .publisher(json!({"name": "No Bundle", "sandbox": false, "attestation_provider": "firebase_app_check",
                          "firebase_project_id": "p"}))
        .await;
    let register = |kid: &str, key: &RsaPrivateKey, external: &str| {
        let t = token(key, json!({"alg": "RS256", "kid": kid, "typ": "JWT"}), claims.clone());
        let device = DeviceKey::generate(&mut rand::rngs::OsRng);
        let body = json!({"external_id": external, "public_key": device.public_key().to_base64()});
        let publisher = publisher.clone();
        let s = &s;
        async move {
            s.json(Method::POST, "/devices", &[("x-publisher-id", &publisher), ("x-attestation-token", &t)], body).await
        }
    };
    let r = register("fb-1", &firebase, "a").await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let (_, nonce) = s.session(r.body["device_token"].as_str().unwrap()).await;
    let jwt = s.trust(r.body["device_token"].as_str().unwrap(), &nonce).await.body["trust_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let c = CaptureClaims::from_payload(&DecodedJwt::decode(&jwt).unwrap().payload).unwrap();
    assert_eq!(c.attestation.app_id.as_deref(), Some("1:42:ios:fallback"));

    // Firebase rotates: the new kid is not known yet, and within the throttle the set is not read again.
    std::fs::write(&jwks_path, jwks_of(&[("fb-1", &firebase), ("fb-2", &rotated)])).unwrap();
    let r = register("fb-2", &rotated, "b").await;
    assert_eq!((r.status, r.detail()), (StatusCode::UNAUTHORIZED, "Invalid attestation token: unknown kid fb-2"));
    let r = register("fb-2", &rotated, "c").await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED, "throttled: the set is not fetched per request");

    // With a short throttle (the verifier on its own), the next unknown kid after it reads the set again.
    let v = proofmark_server::appcheck::AppCheckVerifier::with_min_refetch(
        jwks_path.display().to_string(),
        std::time::Duration::from_millis(300),
    );
    std::fs::write(&jwks_path, jwks_of(&[("fb-1", &firebase)])).unwrap();
    let t2 = token(&rotated, json!({"alg": "RS256", "kid": "fb-2", "typ": "JWT"}), claims.clone());
    assert_eq!(v.verify(&t2, "p", now).await.unwrap_err(), "unknown kid fb-2");
    std::fs::write(&jwks_path, jwks_of(&[("fb-1", &firebase), ("fb-2", &rotated)])).unwrap();
    assert_eq!(v.verify(&t2, "p", now).await.unwrap_err(), "unknown kid fb-2", "within the throttle");
    tokio::time::sleep(std::time::Duration::from_millis(350)).await;
    assert_eq!(v.verify(&t2, "p", now).await.unwrap().app_id, "1:42:ios:fallback", "after it");

    // Plain http is refused outright: a server on this machine that would hand out the right key set over
    // http is never contacted, and the token is not accepted.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/jwks", listener.local_addr().unwrap());
    listener.set_nonblocking(true).unwrap();
    let h = proofmark_server::appcheck::AppCheckVerifier::new(url);
    let t1 = token(&firebase, json!({"alg": "RS256", "kid": "fb-1", "typ": "JWT"}), claims);
    assert_eq!(h.verify(&t1, "p", now).await.unwrap_err(), "App Check keys are unavailable");
    assert!(listener.accept().is_err(), "no connection was made to the http key set");
}
