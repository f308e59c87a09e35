//! `GET /api/v1/dashboard/stats`: the organisation's records and keys at a glance.
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use proofmark_api::content::DashboardStats;
use proofmark_api::ErrorBody;
use proofmark_store::{Scope, Timestamp};

use super::extract::Caller;
use crate::error::ApiError;
use crate::AppState;

pub(super) fn router() -> Router<AppState> {
    Router::new().route("/api/v1/dashboard/stats", get(stats))
}

/// Counts of the caller's organisation: records (live, recent, watermarked, deleted, by origin) and keys.
#[utoipa::path(get, path = "/api/v1/dashboard/stats", tag = "content", security(("session" = []), ("api_key" = [])),
    responses(
        (status = 200, body = DashboardStats),
        (status = 401, body = ErrorBody, description = "Not authenticated"),
        (status = 403, body = ErrorBody, description = "The 'read' scope is needed"),
    ))]
#[tracing::instrument(skip_all)]
pub(super) async fn stats(State(state): State<AppState>, caller: Caller) -> Result<Response, ApiError> {
    caller.require(Scope::Read)?;
    let since = Timestamp(state.now() - 30 * 86_400);
    let r = state.store.record_stats(&caller.org, since).await?;
    let keys = state.store.signing_keys(&caller.org).await?;
    let active = keys.iter().filter(|k| k.retired_at.is_none()).count();
    let api_keys = state.store.api_keys(&caller.org).await?.len();
    let by_origin_type = r
        .by_origin
        .iter()
        .map(|(o, n)| (o.map(|o| o.to_string()).unwrap_or_else(|| "undeclared".into()), *n))
        .collect();
    Ok(axum::Json(DashboardStats {
        total_records: r.records,
        records_last_30_days: r.recent,
        watermarked_records: r.watermarked,
        deleted_records: r.deleted,
        by_origin_type,
        active_signing_keys: active,
        retired_signing_keys: keys.len() - active,
        active_api_keys: api_keys,
        last_signed_at: r.last_signed_at,
    })
    .into_response())
}
