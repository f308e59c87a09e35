//! The issuer's published key set.
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use proofmark_api::capture::Jwks;

use crate::error::ApiError;
use crate::AppState;

pub(super) fn router() -> Router<AppState> {
    Router::new().route("/.well-known/jwks.json", get(jwks))
}

/// The issuer's keys, current and retired; cached for at most the key refresh interval.
#[utoipa::path(get, path = "/.well-known/jwks.json", tag = "capture", responses((status = 200, body = Jwks)))]
#[tracing::instrument(skip_all)]
pub(super) async fn jwks(State(state): State<AppState>) -> Result<Response, ApiError> {
    let set = crate::keys::published(state.store.as_ref()).await?;
    let body = Jwks { keys: set.keys.iter().map(proofmark_core::jwks::Jwk::to_json).collect() };
    // Short, because a rotated key is used within REFRESH_SECS and verifiers must see it by then.
    let cache = format!("public, max-age={}", crate::keys::REFRESH_SECS);
    Ok(([(header::CACHE_CONTROL, cache)], axum::Json(body)).into_response())
}
