//! Publishers (the capture plane's organisations): create, read, change. Admin only.
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use proofmark_core::sidecar::format_timestamp;
use proofmark_store::{AttestationProvider, Publisher, StoreError};
use serde::{Deserialize, Deserializer};
use serde_json::{json, Value};

use super::extract::{parse_publisher_id, Admin};
use crate::error::{ApiError, Json};
use crate::AppState;

pub(super) fn router() -> Router<AppState> {
    Router::new()
        .route("/publishers", post(create_publisher))
        .route("/publishers/{publisher_id}", get(get_publisher).patch(patch_publisher))
}

fn publisher_json(p: &Publisher) -> Value {
    json!({
        "publisher_id": p.publisher_id,
        "name": p.name,
        "sandbox": p.sandbox,
        "attestation_provider": p.attestation_provider.as_str(),
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

/// The provider named in a request (422 for another spelling).
fn provider(text: &str) -> Result<AttestationProvider, ApiError> {
    AttestationProvider::parse(text).ok_or_else(|| {
        ApiError::Unprocessable(format!("attestation_provider {text:?} is not one of \"none\", \"firebase_app_check\""))
    })
}

fn check_publisher(p: &Publisher) -> Result<(), ApiError> {
    proofmark_store::names::check_name(&p.name).map_err(ApiError::Unprocessable)?;
    if p.attestation_provider == AttestationProvider::FirebaseAppCheck
        && p.firebase_project_id.as_deref().is_none_or(str::is_empty)
    {
        return Err(ApiError::Unprocessable(
            "firebase_project_id is required when attestation_provider is firebase_app_check".into(),
        ));
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
        attestation_provider: provider(&body.attestation_provider)?,
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
    if let Some(text) = body.attestation_provider {
        p.attestation_provider = provider(&text)?;
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
