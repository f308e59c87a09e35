//! The capture protocol: a session (nonce) for a device, then the nonce redeemed for a trust token.
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use proofmark_core::jwt::{self, Attestation, CaptureClaims, ClaimLayout};
use proofmark_core::sidecar::format_timestamp;
use proofmark_store::CaptureSession;
use serde::Deserialize;
use serde_json::json;

use super::extract::AuthedDevice;
use super::{random_token, sha256_hex};
use crate::error::{ApiError, Json};
use crate::AppState;

pub(super) fn router() -> Router<AppState> {
    Router::new().route("/capture/session", post(create_session)).route("/capture/trust", post(trust))
}

#[tracing::instrument(skip_all)]
async fn create_session(
    State(state): State<AppState>,
    AuthedDevice(device): AuthedDevice,
) -> Result<Response, ApiError> {
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
    AuthedDevice(device): AuthedDevice,
    Json(body): Json<TrustRequest>,
) -> Result<Response, ApiError> {
    let now = state.now();
    // Everything that could fail comes before the nonce is spent.
    let method = device.attestation_method;
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
