//! Device registration under a publisher, with App Check attestation or as a sandbox device.
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use proofmark_api::capture::{DeviceCreate, DeviceRegistered};
use proofmark_api::{DeviceId, ErrorBody, Timestamp};
use proofmark_core::jwt::AttestationMethod;
use proofmark_core::DevicePublicKey;
use proofmark_store::{AttestationProvider, Device, StoreError};

use super::extract::{parse_publisher_id, IpBudget};
use super::{random_token, sha256_hex};
use crate::error::{ApiError, Json};
use crate::AppState;

pub(super) fn router() -> Router<AppState> {
    Router::new().route("/devices", post(register_device))
}

/// Register a device under a publisher: sandbox publishers take any device, others an App Check token.
#[utoipa::path(post, path = "/devices", tag = "capture",
    params(
        ("X-Publisher-ID" = String, Header, format = Uuid, description = "The publisher to register under"),
        ("X-Attestation-Token" = Option<String>, Header, description = "Firebase App Check token"),
    ),
    request_body = DeviceCreate,
    responses(
        (status = 201, body = DeviceRegistered),
        (status = 400, body = ErrorBody, description = "Invalid publisher ID or public key"),
        (status = 401, body = ErrorBody, description = "Attestation required or invalid"),
        (status = 404, body = ErrorBody, description = "Publisher not found"),
        (status = 408, body = ErrorBody, description = "Body or request timeout"),
        (status = 409, body = ErrorBody, description = "Device '<external_id>' already exists"),
        (status = 413, body = ErrorBody, description = "Body too large"),
        (status = 422, body = ErrorBody, description = "Invalid body"),
        (status = 429, body = ErrorBody, description = "Rate limited (Retry-After)"),
    ))]
#[tracing::instrument(skip_all)]
pub(super) async fn register_device(
    State(state): State<AppState>,
    _: IpBudget,
    headers: HeaderMap,
    Json(body): Json<DeviceCreate>,
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
    let (method, app_id) = match (token, publisher.attestation_provider) {
        (None, _) if publisher.sandbox => (AttestationMethod::Sandbox, None),
        (None, _) => {
            return Err(ApiError::Unauthorized("Attestation token required for non-sandbox publishers".into()))
        }
        (Some(token), AttestationProvider::FirebaseAppCheck) => {
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
        device_id: DeviceId::random(),
        publisher_id: publisher.publisher_id,
        external_id: body.external_id,
        public_key: key.to_base64(),
        public_key_fingerprint: key.fingerprint(),
        token_hash: sha256_hex(device_token.as_bytes()),
        attestation_method: method,
        app_id,
        created_at: Timestamp(state.now()),
    };
    match state.store.create_device(&device).await {
        Ok(()) => {
            let body = DeviceRegistered {
                device_id: device.device_id,
                publisher_id: device.publisher_id,
                external_id: device.external_id,
                device_token,
                created_at: device.created_at,
            };
            Ok((StatusCode::CREATED, axum::Json(body)).into_response())
        }
        Err(StoreError::Conflict) => Err(ApiError::Conflict(format!("Device '{}' already exists", device.external_id))),
        Err(e) => Err(e.into()),
    }
}
