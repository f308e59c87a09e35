//! The capture protocol: a session (nonce) for a device, then the nonce redeemed for a trust token.
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use proofmark_api::capture::{Session, TrustRequest, TrustToken};
use proofmark_api::{CaptureId, ErrorBody, Timestamp};
use proofmark_core::jwt::{self, Attestation, CaptureClaims, ClaimLayout};
use proofmark_store::CaptureSession;

use super::extract::AuthedDevice;
use super::{random_token, sha256_hex};
use crate::error::{ApiError, Json};
use crate::AppState;

pub(super) fn router() -> Router<AppState> {
    Router::new().route("/capture/session", post(create_session)).route("/capture/trust", post(trust))
}

/// Open a capture session: a single-use nonce, valid for `nonce_ttl_secs`.
#[utoipa::path(post, path = "/capture/session", tag = "capture", security(("device" = [])),
    responses(
        (status = 201, body = Session),
        (status = 401, body = ErrorBody, description = "Invalid device token"),
        (status = 429, body = ErrorBody, description = "Rate limited (Retry-After)"),
    ))]
#[tracing::instrument(skip_all)]
pub(super) async fn create_session(
    State(state): State<AppState>,
    AuthedDevice(device): AuthedDevice,
) -> Result<Response, ApiError> {
    let now = state.now();
    let nonce = random_token();
    let session = CaptureSession {
        capture_id: CaptureId::random(),
        device_id: device.device_id,
        nonce_hash: sha256_hex(nonce.as_bytes()),
        created_at: Timestamp(now),
        expires_at: Timestamp(now + state.config.nonce_ttl_secs as i64),
    };
    state.store.create_session(&session).await?;
    let body = Session { capture_id: session.capture_id, nonce, expires_at: session.expires_at };
    Ok((StatusCode::CREATED, axum::Json(body)).into_response())
}

/// Redeem the session's nonce for a trust token (ES256 JWT, SPEC §1.2). The nonce is spent at most once.
#[utoipa::path(post, path = "/capture/trust", tag = "capture", security(("device" = [])),
    request_body = TrustRequest,
    responses(
        (status = 200, body = TrustToken),
        (status = 400, body = ErrorBody, description = "Invalid or expired nonce"),
        (status = 401, body = ErrorBody, description = "Invalid device token"),
        (status = 408, body = ErrorBody, description = "Body or request timeout"),
        (status = 413, body = ErrorBody, description = "Body too large"),
        (status = 422, body = ErrorBody, description = "Invalid body"),
        (status = 429, body = ErrorBody, description = "Rate limited (Retry-After)"),
    ))]
#[tracing::instrument(skip_all)]
pub(super) async fn trust(
    State(state): State<AppState>,
    AuthedDevice(device): AuthedDevice,
    Json(body): Json<TrustRequest>,
) -> Result<Response, ApiError> {
    let now = state.now();
    // Everything that could fail comes before the nonce is spent.
    let method = device.attestation_method;
    let key = state.keys.current(state.store.as_ref(), now).await?;
    let Some(capture_id) =
        state.store.redeem_nonce(&sha256_hex(body.nonce.as_bytes()), &device.device_id, Timestamp(now)).await?
    else {
        return Err(ApiError::BadRequest("Invalid or expired nonce".into()));
    };
    let claims = CaptureClaims {
        iss: state.issuer.clone(),
        aud: jwt::AUDIENCE.into(),
        sub: jwt::SUBJECT.into(),
        iat: now,
        capture_id: capture_id.to_string(),
        publisher_id: device.publisher_id.to_string(),
        device_id: device.device_id.to_string(),
        attestation: Attestation { method, app_id: device.app_id },
        device_public_key_fingerprint: Some(device.public_key_fingerprint),
        layout: ClaimLayout::Current,
    };
    Ok(axum::Json(TrustToken { trust_token: jwt::mint(&claims, &key) }).into_response())
}
