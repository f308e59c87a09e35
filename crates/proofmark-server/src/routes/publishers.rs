//! Publishers (the capture plane's organisations): create, read, change. Admin only.
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use proofmark_api::capture::{PublisherCreate, PublisherPatch};
use proofmark_api::{ErrorBody, PublisherId, Timestamp};
use proofmark_store::{AttestationProvider, Publisher, StoreError};

use super::extract::{parse_publisher_id, Admin};
use crate::error::{ApiError, Json};
use crate::AppState;

pub(super) fn router() -> Router<AppState> {
    Router::new()
        .route("/publishers", post(create_publisher))
        .route("/publishers/{publisher_id}", get(get_publisher).patch(patch_publisher))
}

/// The wire form of a stored publisher.
pub(super) fn to_api(p: Publisher) -> proofmark_api::capture::Publisher {
    proofmark_api::capture::Publisher {
        publisher_id: p.publisher_id,
        name: p.name,
        sandbox: p.sandbox,
        attestation_provider: p.attestation_provider,
        attestation_bundle_id: p.attestation_bundle_id,
        firebase_project_id: p.firebase_project_id,
        created_at: p.created_at,
    }
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

/// Create a publisher.
#[utoipa::path(post, path = "/publishers", tag = "publishers", security(("admin" = [])),
    request_body = PublisherCreate,
    responses(
        (status = 201, body = proofmark_api::capture::Publisher),
        (status = 401, body = ErrorBody, description = "No or invalid admin token"),
        (status = 409, body = ErrorBody, description = "Publisher '<name>' already exists"),
        (status = 422, body = ErrorBody, description = "Invalid body"),
    ))]
#[tracing::instrument(skip_all)]
pub(super) async fn create_publisher(
    State(state): State<AppState>,
    _: Admin,
    Json(body): Json<PublisherCreate>,
) -> Result<Response, ApiError> {
    let p = Publisher {
        publisher_id: PublisherId::random(),
        name: body.name,
        sandbox: body.sandbox,
        attestation_provider: body.attestation_provider,
        attestation_bundle_id: body.attestation_bundle_id,
        firebase_project_id: body.firebase_project_id,
        created_at: Timestamp(state.now()),
    };
    check_publisher(&p)?;
    match state.store.create_publisher(&p).await {
        Ok(()) => Ok((StatusCode::CREATED, axum::Json(to_api(p))).into_response()),
        Err(StoreError::Conflict) => Err(ApiError::Conflict(format!("Publisher '{}' already exists", p.name))),
        Err(e) => Err(e.into()),
    }
}

async fn find_publisher(state: &AppState, id: &str) -> Result<Publisher, ApiError> {
    let id = parse_publisher_id(id)?;
    state.store.publisher(&id).await?.ok_or_else(|| ApiError::NotFound("Publisher not found".into()))
}

/// Read a publisher.
#[utoipa::path(get, path = "/publishers/{publisher_id}", tag = "publishers", security(("admin" = [])),
    params(("publisher_id" = String, Path, format = Uuid)),
    responses(
        (status = 200, body = proofmark_api::capture::Publisher),
        (status = 400, body = ErrorBody, description = "Invalid publisher ID format"),
        (status = 401, body = ErrorBody, description = "No or invalid admin token"),
        (status = 404, body = ErrorBody, description = "Publisher not found"),
    ))]
#[tracing::instrument(skip_all)]
pub(super) async fn get_publisher(
    State(state): State<AppState>,
    _: Admin,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    Ok(axum::Json(to_api(find_publisher(&state, &id).await?)).into_response())
}

/// Change a publisher: absent fields stay, `null` clears an optional one.
#[utoipa::path(patch, path = "/publishers/{publisher_id}", tag = "publishers", security(("admin" = [])),
    params(("publisher_id" = String, Path, format = Uuid)),
    request_body = PublisherPatch,
    responses(
        (status = 200, body = proofmark_api::capture::Publisher),
        (status = 400, body = ErrorBody, description = "Invalid publisher ID format"),
        (status = 401, body = ErrorBody, description = "No or invalid admin token"),
        (status = 404, body = ErrorBody, description = "Publisher not found"),
        (status = 409, body = ErrorBody, description = "Name taken"),
        (status = 422, body = ErrorBody, description = "Invalid body"),
    ))]
#[tracing::instrument(skip_all)]
pub(super) async fn patch_publisher(
    State(state): State<AppState>,
    _: Admin,
    Path(id): Path<String>,
    Json(body): Json<PublisherPatch>,
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
        Ok(()) => Ok(axum::Json(to_api(p)).into_response()),
        Err(StoreError::Conflict) => Err(ApiError::Conflict(format!("Publisher '{}' already exists", p.name))),
        Err(StoreError::NotFound) => Err(ApiError::NotFound("Publisher not found".into())),
        Err(e) => Err(e.into()),
    }
}
