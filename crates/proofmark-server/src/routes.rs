//! The HTTP API (SPEC §1.4): paths, JSON shapes, status codes and `{"detail"}` messages of the reference
//! server, so the SignedShot iOS app can point at Proofmark unchanged. Datetimes are `%Y-%m-%dT%H:%M:%SZ`.
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use axum::extract::multipart::MultipartRejection;
use axum::extract::{ConnectInfo, DefaultBodyLimit, FromRequestParts, Multipart, Path, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use base64::Engine;
use proofmark_core::jwt::{self, Attestation, AttestationMethod, CaptureClaims, ClaimLayout};
use proofmark_core::sidecar::{format_timestamp, MAX_SIDECAR_BYTES};
use proofmark_core::verify::{verify, VerifyInput};
use proofmark_core::{CheckCode, ContentHasher, DevicePublicKey, KeyRing, KeySource, Policy, Report, Status, Verdict};
use proofmark_store::{CaptureSession, Device, Publisher, StoreError};
use rand::RngCore;
use serde::{Deserialize, Deserializer};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::error::{ApiError, Json};
use crate::{openapi, AppState};

/// The router. Tests call it with `oneshot`; [`crate::serve`] binds it.
pub fn app(state: AppState) -> Router {
    let max_body = state.config.max_body_bytes;
    let max_upload = state.config.max_upload_bytes;
    let http = &state.config.http;
    let request_timeout = Duration::from_secs(http.request_timeout_secs);
    let body_timeout = Duration::from_secs(http.body_read_timeout_secs);
    Router::new()
        .route("/health", get(health))
        .route("/publishers", post(create_publisher))
        .route("/publishers/{publisher_id}", get(get_publisher).patch(patch_publisher))
        .route("/devices", post(register_device))
        .route("/capture/session", post(create_session))
        .route("/capture/trust", post(trust))
        .route("/.well-known/jwks.json", get(jwks))
        .route("/openapi.json", get(|| async { axum::Json(openapi::document()) }))
        // Only the routes above: /validate, added after, has its own limit.
        .route_layer(middleware::from_fn(move |req, next| announced_length(max_body, req, next)))
        .route(
            "/validate",
            post(validate)
                .layer(DefaultBodyLimit::max(max_upload))
                .layer(middleware::from_fn(move |req, next| announced_length(max_upload, req, next))),
        )
        .fallback(|| async { (StatusCode::NOT_FOUND, axum::Json(json!({"detail": "Not Found"}))) })
        .method_not_allowed_fallback(|| async {
            (StatusCode::METHOD_NOT_ALLOWED, axum::Json(json!({"detail": "Method Not Allowed"})))
        })
        .layer(DefaultBodyLimit::max(max_body))
        .layer(tower_http::timeout::RequestBodyTimeoutLayer::new(body_timeout))
        .layer(middleware::from_fn(move |req, next| request_deadline(request_timeout, req, next)))
        .layer(tower_http::trace::TraceLayer::new_for_http())
        .with_state(state)
}

/// 413 at once for a body announced (`Content-Length`) larger than the route takes, before any of it is
/// read; a body without a length is cut off by `DefaultBodyLimit` as it streams in.
async fn announced_length(limit: usize, req: axum::extract::Request, next: Next) -> Response {
    let announced = req.headers().get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()?.trim().parse::<u64>().ok());
    match announced {
        Some(n) if n > limit as u64 => {
            ApiError::TooLarge(format!("Request body too large: {n} bytes announced, the limit is {limit}"))
                .into_response()
        }
        _ => next.run(req).await,
    }
}

/// 408 when a request (its body upload included) is not answered within `http.request_timeout_secs`.
async fn request_deadline(limit: Duration, req: axum::extract::Request, next: Next) -> Response {
    match tokio::time::timeout(limit, next.run(req)).await {
        Ok(response) => response,
        Err(_) => ApiError::Timeout(format!("The request took longer than {} s", limit.as_secs())).into_response(),
    }
}

/// Lower-case hex SHA-256 (how tokens and nonces are stored).
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// 32 random bytes, base64url without padding (device tokens, nonces, admin tokens).
pub fn random_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// The client address for per-IP rate limits: the peer address, or — when `rate_limit.client_ip_header` names
/// a header set by a trusted reverse proxy — the last address in that header. IPv6 clients are grouped by
/// their /64, which one subscriber usually holds whole.
struct ClientIp(String);

impl FromRequestParts<AppState> for ClientIp {
    type Rejection = std::convert::Infallible;
    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let from_header = state.config.rate_limit.client_ip_header.as_deref().and_then(|name| {
            let value = parts.headers.get(name)?.to_str().ok()?;
            value.rsplit(',').next()?.trim().parse::<std::net::IpAddr>().ok()
        });
        let ip = from_header.or_else(|| parts.extensions.get::<ConnectInfo<SocketAddr>>().map(|c| c.0.ip()));
        let key = match ip {
            Some(std::net::IpAddr::V6(v6)) => match v6.to_ipv4_mapped() {
                Some(v4) => v4.to_string(),
                None => {
                    let s = v6.segments();
                    format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
                }
            },
            Some(ip) => ip.to_string(),
            None => "unknown".into(),
        };
        Ok(ClientIp(key))
    }
}

fn limit_ip(state: &AppState, ip: &ClientIp) -> Result<(), ApiError> {
    state.ip_limiter.check(&ip.0, Instant::now()).map_err(|retry_after| ApiError::RateLimited { retry_after })
}

/// One request from the client's per-IP budget. As an extractor it runs before the body is read or
/// parsed, so a client over its budget gets 429 whatever it sends.
struct IpBudget;

impl FromRequestParts<AppState> for IpBudget {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let Ok(ip) = ClientIp::from_request_parts(parts, state).await;
        limit_ip(state, &ip)?;
        Ok(IpBudget)
    }
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim()).filter(|t| !t.is_empty())
}

/// An authenticated admin. As an extractor it runs before the body is read, so an unauthenticated request
/// gets 401 whatever its body; attempts count against the client's IP budget.
struct Admin;

impl FromRequestParts<AppState> for Admin {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        IpBudget::from_request_parts(parts, state).await?;
        let token = bearer(&parts.headers).ok_or_else(|| ApiError::Unauthorized("Admin token required".into()))?;
        if let Some(configured) = &state.config.admin_token {
            if bool::from(configured.0.as_bytes().ct_eq(token.as_bytes())) {
                return Ok(Admin);
            }
        }
        if state.store.admin_token_exists(&sha256_hex(token.as_bytes())).await? {
            return Ok(Admin);
        }
        Err(ApiError::Unauthorized("Invalid admin token".into()))
    }
}

/// The device a Bearer device token belongs to (401 `Invalid device token` otherwise), rate-limited.
async fn require_device(state: &AppState, headers: &HeaderMap) -> Result<Device, ApiError> {
    let invalid = || ApiError::Unauthorized("Invalid device token".into());
    let token = bearer(headers).ok_or_else(invalid)?;
    let hash = sha256_hex(token.as_bytes());
    let device = match state.devices.get(&hash) {
        Some(device) => device,
        None => {
            let device = state.store.device_by_token_hash(&hash).await?.ok_or_else(invalid)?;
            state.devices.put(hash, device.clone());
            device
        }
    };
    // Keyed by device id after the lookup: made-up tokens cannot fill the limiter.
    state
        .device_limiter
        .check(&device.device_id, Instant::now())
        .map_err(|retry_after| ApiError::RateLimited { retry_after })?;
    Ok(device)
}

fn parse_publisher_id(id: &str) -> Result<String, ApiError> {
    uuid::Uuid::parse_str(id)
        .map(|u| u.hyphenated().to_string())
        .map_err(|_| ApiError::BadRequest("Invalid publisher ID format".into()))
}

async fn health() -> impl IntoResponse {
    axum::Json(json!({"status": "ok", "version": env!("CARGO_PKG_VERSION")}))
}

fn publisher_json(p: &Publisher) -> Value {
    json!({
        "publisher_id": p.publisher_id,
        "name": p.name,
        "sandbox": p.sandbox,
        "attestation_provider": p.attestation_provider,
        "attestation_bundle_id": p.attestation_bundle_id,
        "firebase_project_id": p.firebase_project_id,
        "created_at": format_timestamp(p.created_at),
    })
}

#[derive(Debug, Deserialize)]
struct CreatePublisher {
    name: String,
    #[serde(default = "yes")]
    sandbox: bool,
    #[serde(default = "provider_none")]
    attestation_provider: String,
    #[serde(default)]
    attestation_bundle_id: Option<String>,
    #[serde(default)]
    firebase_project_id: Option<String>,
}

fn yes() -> bool {
    true
}

fn provider_none() -> String {
    "none".into()
}

/// PATCH fields: absent = unchanged, `null` = cleared (for the optional ones).
#[derive(Debug, Deserialize)]
struct PatchPublisher {
    name: Option<String>,
    sandbox: Option<bool>,
    attestation_provider: Option<String>,
    #[serde(default, deserialize_with = "nullable")]
    attestation_bundle_id: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    firebase_project_id: Option<Option<String>>,
}

fn nullable<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Option<String>>, D::Error> {
    Option::<String>::deserialize(d).map(Some)
}

fn check_publisher(p: &Publisher) -> Result<(), ApiError> {
    proofmark_store::names::check_name(&p.name).map_err(ApiError::Unprocessable)?;
    match p.attestation_provider.as_str() {
        "none" => {}
        "firebase_app_check" if p.firebase_project_id.as_deref().is_some_and(|s| !s.is_empty()) => {}
        "firebase_app_check" => {
            return Err(ApiError::Unprocessable(
                "firebase_project_id is required when attestation_provider is firebase_app_check".into(),
            ))
        }
        other => {
            return Err(ApiError::Unprocessable(format!(
                "attestation_provider {other:?} is not one of \"none\", \"firebase_app_check\""
            )))
        }
    }
    for (field, value) in
        [("attestation_bundle_id", &p.attestation_bundle_id), ("firebase_project_id", &p.firebase_project_id)]
    {
        if value.as_ref().is_some_and(|v| v.chars().count() > 255) {
            return Err(ApiError::Unprocessable(format!("{field} must be at most 255 characters")));
        }
    }
    Ok(())
}

#[tracing::instrument(skip_all)]
async fn create_publisher(
    State(state): State<AppState>,
    _: Admin,
    Json(body): Json<CreatePublisher>,
) -> Result<Response, ApiError> {
    let p = Publisher {
        publisher_id: uuid::Uuid::new_v4().to_string(),
        name: body.name,
        sandbox: body.sandbox,
        attestation_provider: body.attestation_provider,
        attestation_bundle_id: body.attestation_bundle_id,
        firebase_project_id: body.firebase_project_id,
        created_at: state.now(),
    };
    check_publisher(&p)?;
    match state.store.create_publisher(&p).await {
        Ok(()) => Ok((StatusCode::CREATED, axum::Json(publisher_json(&p))).into_response()),
        Err(StoreError::Conflict) => Err(ApiError::Conflict(format!("Publisher '{}' already exists", p.name))),
        Err(e) => Err(e.into()),
    }
}

async fn find_publisher(state: &AppState, id: &str) -> Result<Publisher, ApiError> {
    let id = parse_publisher_id(id)?;
    state.store.publisher(&id).await?.ok_or_else(|| ApiError::NotFound("Publisher not found".into()))
}

#[tracing::instrument(skip_all)]
async fn get_publisher(State(state): State<AppState>, _: Admin, Path(id): Path<String>) -> Result<Response, ApiError> {
    Ok(axum::Json(publisher_json(&find_publisher(&state, &id).await?)).into_response())
}

#[tracing::instrument(skip_all)]
async fn patch_publisher(
    State(state): State<AppState>,
    _: Admin,
    Path(id): Path<String>,
    Json(body): Json<PatchPublisher>,
) -> Result<Response, ApiError> {
    let mut p = find_publisher(&state, &id).await?;
    if let Some(name) = body.name {
        p.name = name;
    }
    if let Some(sandbox) = body.sandbox {
        p.sandbox = sandbox;
    }
    if let Some(provider) = body.attestation_provider {
        p.attestation_provider = provider;
    }
    if let Some(v) = body.attestation_bundle_id {
        p.attestation_bundle_id = v;
    }
    if let Some(v) = body.firebase_project_id {
        p.firebase_project_id = v;
    }
    check_publisher(&p)?;
    match state.store.update_publisher(&p).await {
        Ok(()) => Ok(axum::Json(publisher_json(&p)).into_response()),
        Err(StoreError::Conflict) => Err(ApiError::Conflict(format!("Publisher '{}' already exists", p.name))),
        Err(StoreError::NotFound) => Err(ApiError::NotFound("Publisher not found".into())),
        Err(e) => Err(e.into()),
    }
}

#[derive(Debug, Deserialize)]
struct RegisterDevice {
    external_id: String,
    public_key: String,
}

#[tracing::instrument(skip_all)]
async fn register_device(
    State(state): State<AppState>,
    _: IpBudget,
    headers: HeaderMap,
    Json(body): Json<RegisterDevice>,
) -> Result<Response, ApiError> {
    let publisher_header = headers
        .get("x-publisher-id")
        .ok_or_else(|| ApiError::Unprocessable("Header X-Publisher-ID is required".into()))?
        .to_str()
        .map_err(|_| ApiError::BadRequest("Invalid publisher ID format".into()))?;
    let publisher_id = parse_publisher_id(publisher_header)?;
    let external_len = body.external_id.chars().count();
    if body.external_id.trim().is_empty() || external_len > 255 {
        return Err(ApiError::Unprocessable("external_id must be 1 to 255 characters".into()));
    }
    let key = DevicePublicKey::from_base64(&body.public_key)
        .map_err(|e| ApiError::BadRequest(format!("Invalid public key: {e}")))?;
    let publisher =
        state.store.publisher(&publisher_id).await?.ok_or_else(|| ApiError::NotFound("Publisher not found".into()))?;
    let token = headers.get("x-attestation-token").and_then(|v| v.to_str().ok()).filter(|t| !t.is_empty());
    let (method, app_id) = match (token, publisher.attestation_provider.as_str()) {
        (None, _) if publisher.sandbox => (AttestationMethod::Sandbox, None),
        (None, _) => {
            return Err(ApiError::Unauthorized("Attestation token required for non-sandbox publishers".into()))
        }
        (Some(token), "firebase_app_check") => {
            let project = publisher.firebase_project_id.clone().unwrap_or_default();
            let claims = state
                .appcheck
                .verify(token, &project, state.now())
                .await
                .map_err(|e| ApiError::Unauthorized(format!("Invalid attestation token: {e}")))?;
            (AttestationMethod::AppCheck, Some(publisher.attestation_bundle_id.clone().unwrap_or(claims.app_id)))
        }
        (Some(_), _) if publisher.sandbox => (AttestationMethod::Sandbox, None),
        (Some(_), _) => return Err(ApiError::Unauthorized("Publisher has no attestation provider configured".into())),
    };
    let device_token = random_token();
    let device = Device {
        device_id: uuid::Uuid::new_v4().to_string(),
        publisher_id: publisher.publisher_id,
        external_id: body.external_id,
        public_key: key.to_base64(),
        public_key_fingerprint: key.fingerprint(),
        token_hash: sha256_hex(device_token.as_bytes()),
        attestation_method: method.as_str().to_owned(),
        app_id,
        created_at: state.now(),
    };
    match state.store.create_device(&device).await {
        Ok(()) => Ok((
            StatusCode::CREATED,
            axum::Json(json!({
                "device_id": device.device_id,
                "publisher_id": device.publisher_id,
                "external_id": device.external_id,
                "device_token": device_token,
                "created_at": format_timestamp(device.created_at),
            })),
        )
            .into_response()),
        Err(StoreError::Conflict) => Err(ApiError::Conflict(format!("Device '{}' already exists", device.external_id))),
        Err(e) => Err(e.into()),
    }
}

#[tracing::instrument(skip_all)]
async fn create_session(State(state): State<AppState>, _: IpBudget, headers: HeaderMap) -> Result<Response, ApiError> {
    let device = require_device(&state, &headers).await?;
    let now = state.now();
    let nonce = random_token();
    let session = CaptureSession {
        capture_id: uuid::Uuid::new_v4().to_string(),
        device_id: device.device_id,
        nonce_hash: sha256_hex(nonce.as_bytes()),
        created_at: now,
        expires_at: now + state.config.nonce_ttl_secs as i64,
    };
    state.store.create_session(&session).await?;
    Ok((
        StatusCode::CREATED,
        axum::Json(json!({
            "capture_id": session.capture_id,
            "nonce": nonce,
            "expires_at": format_timestamp(session.expires_at),
        })),
    )
        .into_response())
}

#[derive(Debug, Deserialize)]
struct TrustRequest {
    nonce: String,
}

#[tracing::instrument(skip_all)]
async fn trust(
    State(state): State<AppState>,
    _: IpBudget,
    headers: HeaderMap,
    Json(body): Json<TrustRequest>,
) -> Result<Response, ApiError> {
    let device = require_device(&state, &headers).await?;
    let now = state.now();
    // Everything that could fail comes before the nonce is spent.
    let method = AttestationMethod::parse(&device.attestation_method).ok_or_else(|| {
        anyhow::anyhow!("device {} has unknown method {}", device.device_id, device.attestation_method)
    })?;
    let key = state.keys.current(state.store.as_ref(), now).await?;
    let Some(capture_id) = state.store.redeem_nonce(&sha256_hex(body.nonce.as_bytes()), &device.device_id, now).await?
    else {
        return Err(ApiError::BadRequest("Invalid or expired nonce".into()));
    };
    let claims = CaptureClaims {
        iss: state.issuer.clone(),
        aud: jwt::AUDIENCE.into(),
        sub: jwt::SUBJECT.into(),
        iat: now,
        capture_id,
        publisher_id: device.publisher_id,
        device_id: device.device_id,
        attestation: Attestation { method, app_id: device.app_id },
        device_public_key_fingerprint: Some(device.public_key_fingerprint),
        layout: ClaimLayout::Current,
    };
    Ok(axum::Json(json!({ "trust_token": jwt::mint(&claims, &key) })).into_response())
}

#[tracing::instrument(skip_all)]
async fn jwks(State(state): State<AppState>) -> Result<Response, ApiError> {
    let set = crate::keys::published(state.store.as_ref()).await?;
    let body: Value = serde_json::from_str(&set.to_json()).map_err(anyhow::Error::from)?;
    // Short, because a rotated key is used within REFRESH_SECS and verifiers must see it by then.
    let cache = format!("public, max-age={}", crate::keys::REFRESH_SECS);
    Ok(([(header::CACHE_CONTROL, cache)], axum::Json(body)).into_response())
}

/// `POST /validate`: multipart `media` and `sidecar`, verified against this server's keys (current and
/// retired). The media is hashed as it streams in. Answers 200 with the reference's shape plus `report`,
/// also when invalid; 400 when the sidecar cannot be read at all.
#[tracing::instrument(skip_all)]
async fn validate(
    State(state): State<AppState>,
    _: IpBudget,
    multipart: Result<Multipart, MultipartRejection>,
) -> Result<Response, ApiError> {
    let mut multipart = multipart.map_err(|e| ApiError::BadRequest(format!("Validation failed: {}", e.body_text())))?;
    let mut media_hash = None;
    let mut sidecar: Option<Vec<u8>> = None;
    let read_error = |e: axum::extract::multipart::MultipartError| {
        if crate::error::is_body_timeout(&e) {
            crate::error::body_timeout()
        } else if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::TooLarge("Request body too large".into())
        } else {
            ApiError::BadRequest(format!("Validation failed: malformed multipart body: {e}"))
        }
    };
    while let Some(mut field) = multipart.next_field().await.map_err(read_error)? {
        match field.name() {
            Some("media") => {
                if media_hash.is_some() {
                    return Err(ApiError::BadRequest("Validation failed: more than one media part".into()));
                }
                let mut hasher = ContentHasher::new();
                while let Some(chunk) = field.chunk().await.map_err(read_error)? {
                    hasher.update(&chunk);
                }
                media_hash = Some(hasher.finish());
            }
            Some("sidecar") => {
                if sidecar.is_some() {
                    return Err(ApiError::BadRequest("Validation failed: more than one sidecar part".into()));
                }
                let mut bytes = Vec::new();
                while let Some(chunk) = field.chunk().await.map_err(read_error)? {
                    if bytes.len() + chunk.len() > MAX_SIDECAR_BYTES {
                        return Err(ApiError::TooLarge(format!(
                            "The sidecar is larger than {MAX_SIDECAR_BYTES} bytes"
                        )));
                    }
                    bytes.extend_from_slice(&chunk);
                }
                sidecar = Some(bytes);
            }
            _ => {}
        }
    }
    let media_hash = media_hash.ok_or_else(|| ApiError::Unprocessable("Field required: media".into()))?;
    let sidecar = sidecar.ok_or_else(|| ApiError::Unprocessable("Field required: sidecar".into()))?;
    let mut keys = KeyRing::new();
    let published = crate::keys::published(state.store.as_ref()).await?;
    keys.add_jwks(&published, KeySource::Issuer { url: state.issuer.clone() });
    let policy = Policy { trusted_issuers: vec![state.issuer.clone()], ..Policy::default() };
    let report = verify(VerifyInput {
        sidecar: &sidecar,
        media_hash: &media_hash,
        keys: &keys,
        policy: &policy,
        now: Some(state.now()),
    });
    if let Some(c) = report.check(CheckCode::SidecarFormat).filter(|c| c.status == Status::Fail) {
        return Err(ApiError::BadRequest(format!("Validation failed: {}", c.message)));
    }
    Ok(axum::Json(reference_shape(&report)).into_response())
}

/// The reference server's `/validate` response, with Proofmark's report under `report`.
fn reference_shape(report: &Report) -> Value {
    let pass = |code| report.check(code).is_some_and(|c| c.status == Status::Pass);
    let c = report.capture.clone().unwrap_or_default();
    json!({
        "valid": report.verdict != Verdict::Invalid,
        "version": "1.0",
        "capture_trust": {
            "signature_valid": pass(CheckCode::JwtSignature),
            "issuer": c.issuer,
            "publisher_id": c.publisher_id,
            "device_id": c.device_id,
            "capture_id": c.capture_id,
            "method": c.method.map(|m| m.as_str()),
            "app_id": c.app_id,
            "issued_at": c.issued_at,
            "key_id": c.key_id,
            "device_public_key_fingerprint": c.device_public_key_fingerprint,
        },
        "media_integrity": {
            "content_hash_valid": pass(CheckCode::ContentHash),
            "signature_valid": pass(CheckCode::DeviceSignature),
            "capture_id_match": pass(CheckCode::CaptureIdMatch),
            "fingerprint_match": pass(CheckCode::DeviceKeyFingerprint),
            "content_hash": c.content_hash,
            "capture_id": c.capture_id,
            "captured_at": c.captured_at,
        },
        "error": report.first_failure().map(|f| f.message.clone()),
        "report": report,
    })
}
