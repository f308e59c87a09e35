//! The issuer's published key set.
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use serde_json::Value;

use crate::error::ApiError;
use crate::AppState;

pub(super) fn router() -> Router<AppState> {
    Router::new().route("/.well-known/jwks.json", get(jwks))
}

#[tracing::instrument(skip_all)]
async fn jwks(State(state): State<AppState>) -> Result<Response, ApiError> {
    let set = crate::keys::published(state.store.as_ref()).await?;
    let body: Value = serde_json::from_str(&set.to_json()).map_err(anyhow::Error::from)?;
    // Short, because a rotated key is used within REFRESH_SECS and verifiers must see it by then.
    let cache = format!("public, max-age={}", crate::keys::REFRESH_SECS);
    Ok(([(header::CACHE_CONTROL, cache)], axum::Json(body)).into_response())
}
