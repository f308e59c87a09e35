//! Entry points for the server's fuzz targets (`fuzz/fuzz_targets/app_check.rs`, `requests.rs`) and for
//! `cargo test` over their seeds: never panic, and never answer a request with a 5xx, whatever the bytes.
use std::sync::OnceLock;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use tower::ServiceExt;

use crate::{app, AppState, Clock, Config};

/// App Check tokens and key sets: header checks, claim checks and the JWKS parser on arbitrary input.
pub fn app_check(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    if let Ok((jwt, _)) = crate::appcheck::decode_token(&text) {
        if let Ok(claims) = crate::appcheck::check_claims(&jwt, "project", 1_800_000_000) {
            // What was accepted is what the raw payload says: the app id is its `sub`, both audiences are
            // in its `aud`, and it has not expired.
            let payload = &jwt.payload;
            assert_eq!(payload.get("sub").and_then(|v| v.as_str()), Some(claims.app_id.as_str()));
            let aud = payload.get("aud").map(ToString::to_string).unwrap_or_default();
            assert!(aud.contains(&format!("projects/{}", claims.project_number)) && aud.contains("projects/project"));
            assert!(payload.get("exp").and_then(|v| v.as_i64()).is_some_and(|exp| exp > 1_800_000_000));
        }
    }
    if let Ok(keys) = crate::appcheck::parse_jwks(data) {
        // Every key kept came from an RSA entry with that kid.
        let text = String::from_utf8_lossy(data);
        for kid in keys.keys() {
            assert!(text.contains(kid.as_str()) || kid.is_empty() || text.contains('\\'), "{kid}");
        }
    }
}

struct Fixture {
    runtime: tokio::runtime::Runtime,
    state: AppState,
    _dir: tempfile::TempDir,
}

/// One server for all inputs: SQLite in a temporary directory, a fixed admin token, a publisher to PATCH
/// and register devices under, the rate limits off, `x-forwarded-for` read as the client address.
fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        let dir = tempfile::tempdir().expect("temporary directory");
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
        let mut config = Config {
            data_dir: dir.path().to_path_buf(),
            issuer: Some("https://fuzz.test".into()),
            admin_token: Some(crate::config::Secret("fuzz-admin".into())),
            max_upload_bytes: 1 << 20,
            ..Config::default()
        };
        config.rate_limit.per_ip_per_minute = 0;
        config.rate_limit.per_device_per_minute = 0;
        config.rate_limit.client_ip_header = Some("x-forwarded-for".into());
        let state = runtime.block_on(AppState::new(config, Clock::from_fn(|| 1_800_000_000))).expect("state");
        let publisher = proofmark_store::Publisher {
            publisher_id: PUBLISHER.parse().expect("publisher id"),
            name: "Fuzz".into(),
            sandbox: true,
            attestation_provider: proofmark_store::AttestationProvider::None,
            attestation_bundle_id: None,
            firebase_project_id: None,
            created_at: proofmark_store::Timestamp(0),
        };
        runtime.block_on(state.store.create_publisher(&publisher)).expect("publisher");
        // A registered device whose token the session and trust routes use, so their bodies reach the store.
        let key = proofmark_core::DeviceKey::from_scalar_bytes(&[0x42; 32]).expect("device key");
        let device = proofmark_store::Device {
            device_id: "9e8d7c6b-5a49-4382-9170-6f5e4d3c2b1a".parse().expect("device id"),
            publisher_id: PUBLISHER.parse().expect("publisher id"),
            external_id: "fuzz-phone".into(),
            public_key: key.public_key().to_base64(),
            public_key_fingerprint: key.public_key().fingerprint(),
            token_hash: crate::sha256_hex(DEVICE_TOKEN.as_bytes()),
            attestation_method: proofmark_core::AttestationMethod::Sandbox,
            app_id: None,
            created_at: proofmark_store::Timestamp(0),
        };
        runtime.block_on(state.store.create_device(&device)).expect("device");
        // An organisation whose owner is logged in with SESSION_TOKEN and has the password OWNER_PASSWORD.
        let hash = crate::accounts::hash_password(OWNER_PASSWORD).expect("hash");
        let (org, user) = crate::accounts::new_account(
            "Fuzz Org".into(),
            OWNER_EMAIL,
            hash,
            "Owner".into(),
            proofmark_store::Timestamp(0),
        );
        let session = proofmark_store::UserSession {
            token_hash: crate::sha256_hex(SESSION_TOKEN.as_bytes()),
            user_id: user.user_id,
            created_at: proofmark_store::Timestamp(0),
            expires_at: proofmark_store::Timestamp(i64::MAX),
        };
        runtime.block_on(state.store.create_account(&org, &user, Some(&session))).expect("account");
        let key = crate::accounts::new_signing_key(
            state.keys.kek(),
            org.publisher_id,
            "fuzz".into(),
            proofmark_store::Timestamp(0),
        );
        runtime.block_on(state.store.create_signing_key(&key)).expect("signing key");
        Fixture { runtime, state, _dir: dir }
    })
}

const PUBLISHER: &str = "0b0c1f3e-8a51-4b4e-9a53-6a1f6f0c2d11";
const DEVICE_TOKEN: &str = "fuzz-device-token";
const SESSION_TOKEN: &str = "pms_fuzz-session";
const OWNER_EMAIL: &str = "owner@fuzz.example";
const OWNER_PASSWORD: &str = "fuzz owner password";

/// One request from arbitrary bytes: the first byte picks the route, the next line is a header value
/// (Authorization, X-Forwarded-For, the multipart boundary or X-Publisher-ID, by route), the rest the body.
/// Covers the `/validate`, `/api/v1/sign` and `/api/v1/verify` multipart readers (the last with its receipt
/// and sidecar parts), the JSON bodies (with PATCH's `nullable`
/// fields; the account, login, API-key and webhook bodies of `/api/v1`), the bearer and client-address parsers. Every answer is a 2xx or a 4xx; returns it (`None` for bytes that are not a
/// request a client could send).
pub fn requests(data: &[u8]) -> Option<StatusCode> {
    const ROUTES: u8 = 12;
    let (&route, rest) = data.split_first()?;
    let (line, body) = match rest.iter().position(|&b| b == b'\n') {
        Some(i) => (&rest[..i], &rest[i + 1..]),
        None => (rest, &[][..]),
    };
    let value = String::from_utf8_lossy(line).replace(['\r', '\n'], "");
    let f = fixture();
    let json = "application/json";
    let (method, uri, headers): (Method, String, Vec<(&str, String)>) = match route % ROUTES {
        0 => {
            (Method::POST, "/validate".into(), vec![("content-type", format!("multipart/form-data; boundary={value}"))])
        }
        1 => (
            Method::POST,
            "/publishers".into(),
            vec![("authorization", format!("Bearer fuzz-admin{value}")), ("content-type", json.into())],
        ),
        2 => (
            Method::PATCH,
            format!("/publishers/{PUBLISHER}"),
            vec![("authorization", "Bearer fuzz-admin".into()), ("content-type", json.into())],
        ),
        3 => (Method::POST, "/devices".into(), vec![("x-publisher-id", value), ("content-type", json.into())]),
        // An empty header line means the registered device's token.
        4 => {
            let auth = if value.is_empty() { format!("Bearer {DEVICE_TOKEN}") } else { value };
            (Method::POST, "/capture/trust".into(), vec![("authorization", auth), ("content-type", json.into())])
        }
        5 => (
            Method::POST,
            "/capture/session".into(),
            vec![("x-forwarded-for", value), ("authorization", format!("Bearer {DEVICE_TOKEN}"))],
        ),
        6 => (
            Method::POST,
            "/api/v1/auth/register".into(),
            vec![("x-forwarded-for", value), ("content-type", json.into())],
        ),
        7 => {
            (Method::POST, "/api/v1/auth/login".into(), vec![("x-forwarded-for", value), ("content-type", json.into())])
        }
        // An empty header line means the fixture owner's session.
        8 => {
            let auth = if value.is_empty() { format!("Bearer {SESSION_TOKEN}") } else { value };
            (Method::POST, "/api/v1/keys/api-keys".into(), vec![("authorization", auth), ("content-type", json.into())])
        }
        // The header line is the multipart boundary.
        9 => (
            Method::POST,
            "/api/v1/sign".into(),
            vec![
                ("authorization", format!("Bearer {SESSION_TOKEN}")),
                ("content-type", format!("multipart/form-data; boundary={value}")),
            ],
        ),
        10 => {
            let auth = if value.is_empty() { format!("Bearer {SESSION_TOKEN}") } else { value };
            (Method::POST, "/api/v1/webhooks".into(), vec![("authorization", auth), ("content-type", json.into())])
        }
        // The header line is the multipart boundary; public, no credentials.
        _ => (
            Method::POST,
            "/api/v1/verify".into(),
            vec![("content-type", format!("multipart/form-data; boundary={value}"))],
        ),
    };
    let mut request = Request::builder().method(method).uri(uri);
    for (name, v) in &headers {
        match axum::http::HeaderValue::from_str(v) {
            Ok(v) => request = request.header(*name, v),
            Err(_) => return None, // not a value a client could send
        }
    }
    let Ok(request) = request.body(Body::from(body.to_vec())) else { return None };
    let router = app(f.state.clone());
    let status = f.runtime.block_on(async {
        let response = router.oneshot(request).await.expect("infallible");
        let status = response.status();
        let _ = axum::body::to_bytes(response.into_body(), 1 << 20).await;
        status
    });
    assert!(status.is_success() || status.is_client_error(), "route {} answered {status}", route % ROUTES);
    assert_ne!(status, StatusCode::METHOD_NOT_ALLOWED, "every route is one the server has");
    Some(status)
}
