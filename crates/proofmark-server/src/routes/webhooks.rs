//! An organisation's webhooks (`/api/v1/webhooks`): create (the secret is shown once), list, read, delete,
//! and each one's deliveries. Scoped to the caller's organisation; another's webhook is "not found".
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use proofmark_api::account::{Webhook, WebhookCreate, WebhookDelivery};
use proofmark_api::ErrorBody;
use proofmark_store::{EventType, JobState, Scope, Timestamp, WebhookId};

use super::extract::Caller;
use crate::error::{ApiError, Json};
use crate::webhooks::{self, Delivery};
use crate::AppState;

pub(super) fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/webhooks", get(list).post(create))
        .route("/api/v1/webhooks/{id}", get(show).delete(remove))
        .route("/api/v1/webhooks/{id}/deliveries", get(deliveries))
}

fn webhook_json(w: &proofmark_store::Webhook, secret: Option<String>) -> Webhook {
    Webhook { id: w.webhook_id, url: w.url.clone(), events: w.events.clone(), created_at: w.created_at, secret }
}

fn not_found() -> ApiError {
    ApiError::NotFound("Webhook not found".into())
}

async fn own(state: &AppState, caller: &Caller, id: &str) -> Result<proofmark_store::Webhook, ApiError> {
    let id: WebhookId = id.parse().map_err(|_| not_found())?;
    state.store.webhook(&id).await?.filter(|w| w.org_id == caller.org && w.deleted_at.is_none()).ok_or_else(not_found)
}

/// Add a webhook. Its secret (`whsec_…`) is in this answer only; deliveries are signed with it.
#[utoipa::path(post, path = "/api/v1/webhooks", tag = "webhooks", security(("session" = []), ("api_key" = [])),
    request_body = WebhookCreate,
    responses(
        (status = 201, body = Webhook),
        (status = 403, body = ErrorBody, description = "The 'admin' scope is needed"),
        (status = 422, body = ErrorBody, description = "Bad URL (or one into a private network), unknown or no event type"),
    ))]
#[tracing::instrument(skip_all)]
pub(super) async fn create(
    State(state): State<AppState>,
    caller: Caller,
    Json(body): Json<WebhookCreate>,
) -> Result<Response, ApiError> {
    caller.require(Scope::Admin)?;
    if body.url.len() > 2048 {
        return Err(ApiError::Unprocessable("url must be at most 2048 characters".into()));
    }
    let url = webhooks::check_url(body.url.trim(), state.config.webhooks.allow_private_targets)
        .map_err(ApiError::Unprocessable)?;
    let mut events = body.events.unwrap_or_else(|| EventType::ALL.to_vec());
    events.sort_by_key(|e| e.as_str());
    events.dedup();
    if events.is_empty() {
        return Err(ApiError::Unprocessable("events must name at least one event type".into()));
    }
    let secret = format!("whsec_{}", crate::random_token());
    let id = WebhookId::random();
    let hook = proofmark_store::Webhook {
        webhook_id: id,
        org_id: caller.org,
        url: url.to_string(),
        events,
        sealed_secret: state.keys.kek().seal(&webhooks::seal_label(&id), secret.as_bytes()),
        created_at: Timestamp(state.now()),
        deleted_at: None,
    };
    state.store.create_webhook(&hook).await?;
    Ok((StatusCode::CREATED, axum::Json(webhook_json(&hook, Some(secret)))).into_response())
}

/// The organisation's webhooks (never their secrets).
#[utoipa::path(get, path = "/api/v1/webhooks", tag = "webhooks", security(("session" = []), ("api_key" = [])),
    responses((status = 200, body = Vec<Webhook>), (status = 403, body = ErrorBody, description = "The 'admin' scope is needed")))]
#[tracing::instrument(skip_all)]
pub(super) async fn list(State(state): State<AppState>, caller: Caller) -> Result<Response, ApiError> {
    caller.require(Scope::Admin)?;
    let hooks: Vec<Webhook> = state.store.webhooks(&caller.org).await?.iter().map(|w| webhook_json(w, None)).collect();
    Ok(axum::Json(hooks).into_response())
}

/// One webhook.
#[utoipa::path(get, path = "/api/v1/webhooks/{id}", tag = "webhooks", security(("session" = []), ("api_key" = [])),
    params(("id" = String, Path, format = Uuid)),
    responses((status = 200, body = Webhook), (status = 404, body = ErrorBody, description = "Webhook not found")))]
#[tracing::instrument(skip_all)]
pub(super) async fn show(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    caller.require(Scope::Admin)?;
    Ok(axum::Json(webhook_json(&own(&state, &caller, &id).await?, None)).into_response())
}

/// Delete a webhook; deliveries still pending are dropped.
#[utoipa::path(delete, path = "/api/v1/webhooks/{id}", tag = "webhooks", security(("session" = []), ("api_key" = [])),
    params(("id" = String, Path, format = Uuid)),
    responses((status = 204, description = "Deleted"), (status = 404, body = ErrorBody, description = "Webhook not found")))]
#[tracing::instrument(skip_all)]
pub(super) async fn remove(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    caller.require(Scope::Admin)?;
    let id: WebhookId = id.parse().map_err(|_| not_found())?;
    if !state.store.delete_webhook(&caller.org, &id, Timestamp(state.now())).await? {
        return Err(not_found());
    }
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// The webhook's deliveries, newest first (at most 100): state, attempts, the last error.
#[utoipa::path(get, path = "/api/v1/webhooks/{id}/deliveries", tag = "webhooks", security(("session" = []), ("api_key" = [])),
    params(("id" = String, Path, format = Uuid)),
    responses((status = 200, body = Vec<WebhookDelivery>), (status = 404, body = ErrorBody, description = "Webhook not found")))]
#[tracing::instrument(skip_all)]
pub(super) async fn deliveries(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    caller.require(Scope::Admin)?;
    let hook = own(&state, &caller, &id).await?;
    let needle = format!("\"webhook_id\":\"{}\"", hook.webhook_id);
    let mut out = Vec::new();
    for job in state.store.jobs_matching(webhooks::JOB_KIND, &needle, 100).await? {
        let Ok(d) = serde_json::from_str::<Delivery>(&job.payload) else { continue };
        if d.webhook_id != hook.webhook_id {
            continue;
        }
        out.push(WebhookDelivery {
            job_id: job.job_id,
            event_id: d.event_id,
            event_type: d.event_type,
            state: job.state,
            attempts: job.attempts,
            next_attempt_at: (job.state == JobState::Queued).then_some(job.run_after),
            last_error: job.last_error,
            created_at: job.created_at,
            finished_at: job.finished_at,
        });
    }
    Ok(axum::Json(out).into_response())
}
