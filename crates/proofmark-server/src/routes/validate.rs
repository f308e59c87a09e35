//! `POST /validate`: a capture verified against this server's own keys, in the reference's response shape.
use axum::extract::multipart::MultipartRejection;
use axum::extract::{DefaultBodyLimit, Multipart, State};
use axum::http::StatusCode;
use axum::middleware;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use proofmark_api::capture::{CaptureTrust, MediaIntegrity, ValidateForm, Validation};
use proofmark_api::ErrorBody;
use proofmark_core::sidecar::MAX_SIDECAR_BYTES;
use proofmark_core::{CheckCode, ContentHasher, KeyRing, KeySource, Policy, Report, Status, Verdict, Verification};

use super::announced_length;
use super::extract::IpBudget;
use crate::error::ApiError;
use crate::AppState;

/// `/validate` takes uploads up to `max_upload` bytes (announced lengths over it get 413 at once).
pub(super) fn router(max_upload: usize) -> Router<AppState> {
    Router::new().route(
        "/validate",
        post(validate)
            .layer(DefaultBodyLimit::max(max_upload))
            .layer(middleware::from_fn(move |req, next| announced_length(max_upload, req, next))),
    )
}

/// `POST /validate`: multipart `media` and `sidecar`, verified against this server's keys (current and
/// retired). The media is hashed as it streams in. Answers 200 with the reference's shape plus `report`,
/// also when invalid; 400 when the sidecar cannot be read at all.
#[utoipa::path(post, path = "/validate", tag = "capture",
    request_body(content = ValidateForm, content_type = "multipart/form-data"),
    responses(
        (status = 200, body = Validation, description = "Verified (valid or not)"),
        (status = 400, body = ErrorBody, description = "Validation failed: <reason>"),
        (status = 408, body = ErrorBody, description = "Body or request timeout"),
        (status = 413, body = ErrorBody, description = "Upload too large"),
        (status = 422, body = ErrorBody, description = "Missing part"),
        (status = 429, body = ErrorBody, description = "Rate limited (Retry-After)"),
    ))]
#[tracing::instrument(skip_all)]
pub(super) async fn validate(
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
    // The core pipeline, with everything it can ask for supplied: this server's own keys (no fetching) and
    // the digest of the media as it streamed in.
    let mut verification =
        Verification::new(Policy::permissive().trusting(state.issuer.clone()), Some(state.now())).with_keys(keys);
    verification.add_sidecar(&sidecar);
    verification.supply_media_digest(media_hash);
    let report = verification.finish();
    if let Some(c) = report.check(CheckCode::SidecarFormat).filter(|c| c.status == Status::Fail) {
        return Err(ApiError::BadRequest(format!("Validation failed: {}", c.message)));
    }
    Ok(axum::Json(reference_shape(&report)).into_response())
}

/// The reference server's `/validate` response, with Proofmark's report under `report`.
fn reference_shape(report: &Report) -> Validation {
    let pass = |code| report.check(code).is_some_and(|c| c.status == Status::Pass);
    let c = report.capture.clone().unwrap_or_default();
    Validation {
        valid: matches!(report.verdict, Verdict::Trusted | Verdict::Valid),
        version: "1.0".into(),
        capture_trust: CaptureTrust {
            signature_valid: pass(CheckCode::JwtSignature),
            issuer: c.issuer,
            publisher_id: c.publisher_id,
            device_id: c.device_id,
            capture_id: c.capture_id.clone(),
            method: c.method.map(|m| m.as_str().to_owned()),
            app_id: c.app_id,
            issued_at: c.issued_at,
            key_id: c.key_id,
            device_public_key_fingerprint: c.device_public_key_fingerprint,
        },
        media_integrity: MediaIntegrity {
            content_hash_valid: pass(CheckCode::ContentHash),
            signature_valid: pass(CheckCode::DeviceSignature),
            capture_id_match: pass(CheckCode::CaptureIdMatch),
            fingerprint_match: pass(CheckCode::DeviceKeyFingerprint),
            content_hash: c.content_hash,
            capture_id: c.capture_id,
            captured_at: c.captured_at,
        },
        error: report.first_failure().map(|f| f.message.clone()),
        report: report.clone(),
    }
}
