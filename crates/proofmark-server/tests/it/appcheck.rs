//! Firebase App Check at registration, with a local RSA key standing in for Firebase's.
use axum::http::{Method, StatusCode};
use base64::Engine;
use proofmark_core::jwt::{CaptureClaims, DecodedJwt};
use proofmark_core::{AttestationMethod, DeviceKey};
use rsa::pkcs1v15::SigningKey;
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

#[tokio::test]
async fn app_check_tokens_decide_registration() {
    let mut rng = rand::rngs::OsRng;
    let firebase = RsaPrivateKey::new(&mut rng, 2048).unwrap();
    let impostor = RsaPrivateKey::new(&mut rng, 2048).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let jwks_path = dir.path().join("appcheck-jwks.json");
    let public = firebase.to_public_key();
    let jwks = json!({"keys": [
        {"kty": "RSA", "kid": "fb-1", "alg": "RS256", "use": "sig", "n": b64(&public.n().to_bytes_be()), "e": b64(&public.e().to_bytes_be())},
        {"kty": "EC", "kid": "ignored"}
    ]});
    std::fs::write(&jwks_path, jwks.to_string()).unwrap();
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
    let refusals = [
        (token(&impostor, header.clone(), claims.clone()), "signature does not verify"),
        (token(&firebase, header.clone(), expired), "token expired"),
        (token(&firebase, header.clone(), wrong_project), "audience does not include projects/demo-project"),
        (token(&firebase, header.clone(), wrong_issuer), "is not Firebase App Check"),
        (token(&firebase, json!({"alg": "RS256", "kid": "fb-2", "typ": "JWT"}), claims.clone()), "unknown kid"),
        (format!("{}.{}.", b64(br#"{"alg":"none","typ":"JWT"}"#), b64(claims.to_string().as_bytes())), "not RS256"),
        ("garbage".to_owned(), "3 dot-separated parts"),
    ];
    for (i, (bad, why)) in refusals.into_iter().enumerate() {
        let r = register(bad, ["r0", "r1", "r2", "r3", "r4", "r5", "r6"][i]).await;
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
