//! `POST /api/v1/register`: hashes an organisation signed itself, with a client-held key whose public half
//! it registered (`POST /api/v1/keys/signing-keys` with `public_key`). The signature is verified over the
//! fingerprint rebuilt from the fields before anything is stored; the record has no files.
use axum::extract::State;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use proofmark_api::content::{RegisterContent, Signed};
use proofmark_api::ErrorBody;
use proofmark_store::{ContentRecord, EventType, KeyCustody, RecordId, RecordSource, Scope, Timestamp};
use sha2::{Digest, Sha256};

use super::extract::Caller;
use crate::error::{ApiError, Json};
use crate::AppState;

pub(super) fn router() -> Router<AppState> {
    Router::new().route("/api/v1/register", post(register))
}

/// How far a client's `signed_at` may be from the server's clock.
const SIGNED_AT_SKEW_SECS: i64 = 86_400;

fn hex_field(name: &str, value: &str, digits: usize) -> Result<String, ApiError> {
    let v = value.trim().to_ascii_lowercase();
    if v.len() != digits || !v.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(ApiError::Unprocessable(format!("{name} must be {digits} hex digits")));
    }
    Ok(v)
}

/// Register client-signed hashes: the signature must verify with the named client-held key over
/// `{sha256_hash}|{perceptual_hash}|{signed_at}|{signer}` (`signer`: `device_id`, else
/// `client:{signing_key_id}`).
#[utoipa::path(post, path = "/api/v1/register", tag = "content", security(("session" = []), ("api_key" = [])),
    request_body = RegisterContent,
    responses(
        (status = 201, body = Signed),
        (status = 401, body = ErrorBody, description = "Not authenticated"),
        (status = 403, body = ErrorBody, description = "The 'sign' scope is needed"),
        (status = 404, body = ErrorBody, description = "Signing key not found (also another organisation's)"),
        (status = 409, body = ErrorBody, description = "The key is server-held or retired"),
        (status = 422, body = ErrorBody, description = "Malformed field, signed_at too far off, or the signature does not verify"),
    ))]
#[tracing::instrument(skip_all)]
pub(super) async fn register(
    State(state): State<AppState>,
    caller: Caller,
    Json(body): Json<RegisterContent>,
) -> Result<Response, ApiError> {
    caller.require(Scope::Sign)?;
    let sha256 = hex_field("sha256_hash", &body.sha256_hash, 64)?;
    let phash_hex = hex_field("perceptual_hash", &body.perceptual_hash, 16)?;
    let signature = hex_field("signature_hex", &body.signature_hex, 128)?;
    let now = state.now();
    if (body.signed_at.unix() - now).abs() > SIGNED_AT_SKEW_SECS {
        return Err(ApiError::Unprocessable(format!(
            "signed_at {} is more than a day from the server's time {}",
            body.signed_at,
            Timestamp(now)
        )));
    }
    for (name, value) in
        [("device_id", &body.device_id), ("file_name", &body.file_name), ("content_type", &body.content_type)]
    {
        if let Some(v) = value {
            proofmark_store::names::check_field(name, v).map_err(ApiError::Unprocessable)?;
        }
    }
    let not_found = || ApiError::NotFound("Signing key not found".into());
    let key = state
        .store
        .signing_key(&body.signing_key_id)
        .await?
        .filter(|k| k.org_id == caller.org)
        .ok_or_else(not_found)?;
    if key.custody != KeyCustody::Client {
        return Err(ApiError::Conflict(
            "Signing key is held by the server: upload the file to POST /api/v1/sign instead".into(),
        ));
    }
    if key.retired_at.is_some() {
        return Err(ApiError::Conflict("Signing key is retired: it verifies old records but signs nothing new".into()));
    }
    let signer = body.device_id.clone().unwrap_or_else(|| format!("client:{}", key.key_id));
    let fingerprint = format!("{sha256}|{phash_hex}|{}|{signer}", body.signed_at);
    crate::accounts::verify(&key, fingerprint.as_bytes(), &signature).map_err(ApiError::Unprocessable)?;
    let derived = hex::encode(&Sha256::digest(hex::decode(&signature).map_err(anyhow::Error::from)?)[..16]);
    if let Some(p) = &body.watermark_payload_hex {
        if hex_field("watermark_payload_hex", p, 32)? != derived {
            return Err(ApiError::Unprocessable("watermark_payload_hex is not SHA256(signature)[:16]".into()));
        }
    }
    let record = ContentRecord {
        record_id: RecordId::random(),
        org_id: caller.org,
        signing_key_id: key.key_id,
        signer,
        origin_type: body.origin_type_code,
        sha256,
        watermarked_sha256: None,
        phash: u64::from_str_radix(&phash_hex, 16).map_err(anyhow::Error::from)?,
        fingerprint,
        signature,
        watermark_payload: body.watermark_payload_hex.as_ref().map(|_| derived),
        file_name: body.file_name,
        media_type: body.content_type.unwrap_or_else(|| "application/octet-stream".into()),
        file_size: body.file_size.unwrap_or(0).max(0),
        width: None,
        height: None,
        original_object: None,
        watermarked_object: None,
        source: RecordSource::Registered,
        // The time in the signed fingerprint: the certificate's `signed_at` must be the one that was signed.
        created_at: body.signed_at,
        deleted_at: None,
    };
    let data = super::records::record_json(&record);
    let jobs = crate::webhooks::jobs_for(
        state.store.as_ref(),
        &state.config.webhooks,
        record.org_id,
        EventType::ContentSigned,
        &data,
        Timestamp(now),
    )
    .await?;
    state.store.create_record(&record, &jobs).await?;
    state.log.record_added(state.config.log.batch_max);
    let org = state.store.publisher(&record.org_id).await?.map(|p| p.name).unwrap_or_default();
    let body = Signed {
        record_id: record.record_id,
        sha256: record.sha256.clone(),
        watermarked_sha256: None,
        phash: format!("{:016x}", record.phash),
        signature: record.signature.clone(),
        signing_key_id: record.signing_key_id,
        certificate: super::records::certificate(&record, &key, org),
        watermarked_file: None,
    };
    let mut response = (StatusCode::CREATED, axum::Json(body)).into_response();
    response.headers_mut().insert(
        header::LOCATION,
        HeaderValue::from_str(&format!("/api/v1/content-records/{}", record.record_id)).map_err(anyhow::Error::from)?,
    );
    Ok(response)
}
