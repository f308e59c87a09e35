//! An organisation's keys (`/api/v1/keys`): API keys (shown once, stored hashed, scoped) and Ed25519
//! signing keys (made here, sealed at rest; the private half never leaves the server — there is no export).
//! Every route is scoped to the caller's organisation: another organisation's key is "not found", and
//! nothing is written.
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get};
use axum::Router;
use proofmark_api::account::{ApiKeyCreate, ApiKeyCreated, ApiKeyInfo, SigningKey, SigningKeyCreate};
use proofmark_api::ErrorBody;
use proofmark_store::{ApiKey, ApiKeyId, Scope, SigningKeyId, Timestamp};

use super::extract::Caller;
use crate::accounts;
use crate::error::{ApiError, Json};
use crate::AppState;

pub(super) fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/keys/api-keys", get(list_api_keys).post(create_api_key))
        .route("/api/v1/keys/api-keys/{id}", delete(revoke_api_key))
        .route("/api/v1/keys/signing-keys", get(list_signing_keys).post(create_signing_key))
        .route("/api/v1/keys/signing-keys/{id}", delete(retire_signing_key))
}

fn key_info(k: &ApiKey) -> ApiKeyInfo {
    ApiKeyInfo {
        id: k.key_id,
        name: k.name.clone(),
        prefix: k.prefix.clone(),
        scopes: k.scopes.clone(),
        created_at: k.created_at,
        last_used_at: k.last_used_at,
    }
}

pub(super) fn signing_key_json(k: &proofmark_store::SigningKey) -> SigningKey {
    SigningKey {
        id: k.key_id,
        name: k.name.clone(),
        public_key: k.public_key.clone(),
        algorithm: k.algorithm,
        custody: k.custody,
        created_at: k.created_at,
        retired_at: k.retired_at,
    }
}

fn name(value: &str) -> Result<(), ApiError> {
    proofmark_store::names::check_field("name", value).map_err(ApiError::Unprocessable)
}

/// Create an API key. The key is in this answer only; the server keeps its SHA-256.
#[utoipa::path(post, path = "/api/v1/keys/api-keys", tag = "keys", security(("session" = []), ("api_key" = [])),
    request_body = ApiKeyCreate,
    responses(
        (status = 201, body = ApiKeyCreated),
        (status = 401, body = ErrorBody, description = "Not authenticated"),
        (status = 403, body = ErrorBody, description = "The 'admin' scope is needed"),
        (status = 422, body = ErrorBody, description = "Invalid name or scopes"),
    ))]
#[tracing::instrument(skip_all)]
pub(super) async fn create_api_key(
    State(state): State<AppState>,
    caller: Caller,
    Json(body): Json<ApiKeyCreate>,
) -> Result<Response, ApiError> {
    caller.require(Scope::Admin)?;
    name(&body.name)?;
    if body.scopes.is_empty() {
        return Err(ApiError::Unprocessable("scopes must name at least one of \"sign\", \"read\", \"admin\"".into()));
    }
    let (key, prefix, key_hash) = accounts::new_api_key();
    let mut scopes = body.scopes;
    scopes.sort_by_key(|s| s.as_str());
    scopes.dedup();
    let stored = ApiKey {
        key_id: ApiKeyId::random(),
        org_id: caller.org,
        name: body.name,
        prefix,
        key_hash,
        scopes,
        created_by: caller.user.as_ref().map(|u| u.user_id),
        created_at: Timestamp(state.now()),
        last_used_at: None,
        revoked_at: None,
    };
    state.store.create_api_key(&stored).await?;
    let body = ApiKeyCreated {
        id: stored.key_id,
        name: stored.name,
        key,
        prefix: stored.prefix,
        scopes: stored.scopes,
        created_at: stored.created_at,
    };
    Ok((StatusCode::CREATED, axum::Json(body)).into_response())
}

/// The organisation's API keys (never the keys themselves), oldest first; revoked keys are not listed.
#[utoipa::path(get, path = "/api/v1/keys/api-keys", tag = "keys", security(("session" = []), ("api_key" = [])),
    responses(
        (status = 200, body = Vec<ApiKeyInfo>),
        (status = 401, body = ErrorBody, description = "Not authenticated"),
        (status = 403, body = ErrorBody, description = "The 'admin' scope is needed"),
    ))]
#[tracing::instrument(skip_all)]
pub(super) async fn list_api_keys(State(state): State<AppState>, caller: Caller) -> Result<Response, ApiError> {
    caller.require(Scope::Admin)?;
    let keys: Vec<ApiKeyInfo> = state.store.api_keys(&caller.org).await?.iter().map(key_info).collect();
    Ok(axum::Json(keys).into_response())
}

/// Revoke an API key of the caller's organisation; it stops working at once.
#[utoipa::path(delete, path = "/api/v1/keys/api-keys/{id}", tag = "keys", security(("session" = []), ("api_key" = [])),
    params(("id" = String, Path, format = Uuid)),
    responses(
        (status = 204, description = "Revoked"),
        (status = 401, body = ErrorBody, description = "Not authenticated"),
        (status = 403, body = ErrorBody, description = "The 'admin' scope is needed"),
        (status = 404, body = ErrorBody, description = "API key not found (also another organisation's)"),
    ))]
#[tracing::instrument(skip_all)]
pub(super) async fn revoke_api_key(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    caller.require(Scope::Admin)?;
    let not_found = || ApiError::NotFound("API key not found".into());
    let id: ApiKeyId = id.parse().map_err(|_| not_found())?;
    if !state.store.revoke_api_key(&caller.org, &id, Timestamp(state.now())).await? {
        return Err(not_found());
    }
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// Create an Ed25519 signing key (only the public key is ever answered), or register a client-held one by
/// its public key.
#[utoipa::path(post, path = "/api/v1/keys/signing-keys", tag = "keys", security(("session" = []), ("api_key" = [])),
    request_body = SigningKeyCreate,
    responses(
        (status = 201, body = SigningKey),
        (status = 401, body = ErrorBody, description = "Not authenticated"),
        (status = 403, body = ErrorBody, description = "The 'admin' scope is needed"),
        (status = 422, body = ErrorBody, description = "Invalid name"),
    ))]
#[tracing::instrument(skip_all)]
pub(super) async fn create_signing_key(
    State(state): State<AppState>,
    caller: Caller,
    Json(body): Json<SigningKeyCreate>,
) -> Result<Response, ApiError> {
    caller.require(Scope::Admin)?;
    name(&body.name)?;
    let now = Timestamp(state.now());
    let key = match &body.public_key {
        Some(public) => {
            accounts::client_signing_key(caller.org, body.name, public, now).map_err(ApiError::Unprocessable)?
        }
        None => accounts::new_signing_key(state.keys.kek(), caller.org, body.name, now),
    };
    state.store.create_signing_key(&key).await?;
    Ok((StatusCode::CREATED, axum::Json(signing_key_json(&key))).into_response())
}

/// The organisation's signing keys, retired ones included (they still verify what they signed).
#[utoipa::path(get, path = "/api/v1/keys/signing-keys", tag = "keys", security(("session" = []), ("api_key" = [])),
    responses(
        (status = 200, body = Vec<SigningKey>),
        (status = 401, body = ErrorBody, description = "Not authenticated"),
        (status = 403, body = ErrorBody, description = "The 'read' scope is needed"),
    ))]
#[tracing::instrument(skip_all)]
pub(super) async fn list_signing_keys(State(state): State<AppState>, caller: Caller) -> Result<Response, ApiError> {
    caller.require(Scope::Read)?;
    let keys: Vec<SigningKey> = state.store.signing_keys(&caller.org).await?.iter().map(signing_key_json).collect();
    Ok(axum::Json(keys).into_response())
}

/// Retire a signing key (rotation): it signs nothing new, stays listed and still verifies old records.
#[utoipa::path(delete, path = "/api/v1/keys/signing-keys/{id}", tag = "keys", security(("session" = []), ("api_key" = [])),
    params(("id" = String, Path, format = Uuid)),
    responses(
        (status = 200, body = SigningKey, description = "Retired"),
        (status = 401, body = ErrorBody, description = "Not authenticated"),
        (status = 403, body = ErrorBody, description = "The 'admin' scope is needed"),
        (status = 404, body = ErrorBody, description = "Signing key not found (also another organisation's)"),
        (status = 409, body = ErrorBody, description = "Already retired"),
    ))]
#[tracing::instrument(skip_all)]
pub(super) async fn retire_signing_key(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    caller.require(Scope::Admin)?;
    let not_found = || ApiError::NotFound("Signing key not found".into());
    let id: SigningKeyId = id.parse().map_err(|_| not_found())?;
    let key = state.store.signing_key(&id).await?.filter(|k| k.org_id == caller.org).ok_or_else(not_found)?;
    if key.retired_at.is_some() {
        return Err(ApiError::Conflict("Signing key is already retired".into()));
    }
    if !state.store.retire_signing_key(&caller.org, &id, Timestamp(state.now())).await? {
        return Err(ApiError::Conflict("Signing key is already retired".into()));
    }
    let key = state.store.signing_key(&id).await?.ok_or_else(not_found)?;
    Ok(axum::Json(signing_key_json(&key)).into_response())
}
