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
    if let Ok((jwt, kid)) = crate::appcheck::decode_token(&text) {
        assert!(!kid.is_empty() || jwt.header.kid.as_deref() == Some(""));
        if let Ok(claims) = crate::appcheck::check_claims(&jwt, "project", 1_800_000_000) {
            assert!(!claims.app_id.is_empty());
            assert!(claims.project_number.bytes().all(|b| b.is_ascii_digit()));
        }
    }
    if let Ok(keys) = crate::appcheck::parse_jwks(data) {
        assert!(keys.len() <= data.len());
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
            publisher_id: PUBLISHER.into(),
            name: "Fuzz".into(),
            sandbox: true,
            attestation_provider: proofmark_store::AttestationProvider::None,
            attestation_bundle_id: None,
            firebase_project_id: None,
            created_at: 0,
        };
        runtime.block_on(state.store.create_publisher(&publisher)).expect("publisher");
        Fixture { runtime, state, _dir: dir }
    })
}

const PUBLISHER: &str = "0b0c1f3e-8a51-4b4e-9a53-6a1f6f0c2d11";

/// One request from arbitrary bytes: the first byte picks the route, the next line is a header value
/// (Authorization, X-Forwarded-For, the multipart boundary or X-Publisher-ID, by route), the rest the body.
/// Covers the `/validate` multipart reader, the JSON bodies (with PATCH's `nullable` fields), the bearer and
/// client-address parsers. Every answer is a 2xx or a 4xx; returns it (`None` for bytes that are not a
/// request a client could send).
pub fn requests(data: &[u8]) -> Option<StatusCode> {
    let (&route, rest) = data.split_first()?;
    let (line, body) = match rest.iter().position(|&b| b == b'\n') {
        Some(i) => (&rest[..i], &rest[i + 1..]),
        None => (rest, &[][..]),
    };
    let value = String::from_utf8_lossy(line).replace(['\r', '\n'], "");
    let f = fixture();
    let json = "application/json";
    let (method, uri, headers): (Method, String, Vec<(&str, String)>) = match route % 6 {
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
        4 => (Method::POST, "/capture/trust".into(), vec![("authorization", value), ("content-type", json.into())]),
        _ => (
            Method::POST,
            "/capture/session".into(),
            vec![("x-forwarded-for", value), ("authorization", "Bearer x".into())],
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
    assert!(status.is_success() || status.is_client_error(), "route {} answered {status}", route % 6);
    assert_ne!(status, StatusCode::METHOD_NOT_ALLOWED, "every route is one the server has");
    Some(status)
}
