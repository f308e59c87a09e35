//! The HTTP API (SPEC §1.4): paths, JSON shapes, status codes and `{"detail"}` messages of the reference
//! server, so the SignedShot iOS app can point at Proofmark unchanged. Datetimes are `%Y-%m-%dT%H:%M:%SZ`.
//!
//! One module per resource (`publishers`, `devices`, `capture`, `keys`, `validate`), each with its own
//! `router()`; the shared request preambles are extractors in `extract`.
use std::time::Duration;

use axum::extract::DefaultBodyLimit;
use axum::http::{header, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use base64::Engine;
use proofmark_api::{ErrorBody, Health};
use rand::RngCore;
use sha2::{Digest, Sha256};

use crate::error::ApiError;
use crate::AppState;

mod auth;
mod capture;
mod dashboard;
mod devices;
mod extract;
mod jwks;
mod keys;
mod log;
mod openapi;
mod publishers;
mod records;
mod register;
mod sign;
mod validate;
mod verify;
mod webhooks;

/// The router: one module per resource, each with its own `router()`, merged here with the limits and
/// timeouts every route shares. Tests call it with `oneshot`; [`crate::serve`] binds it.
pub fn app(state: AppState) -> Router {
    let max_body = state.config.max_body_bytes;
    let max_upload = state.config.max_upload_bytes;
    let max_image = state.config.sign.max_image_bytes;
    let max_batch = state.config.sign.max_batch_files;
    let http = &state.config.http;
    let request_timeout = Duration::from_secs(http.request_timeout_secs);
    let body_timeout = Duration::from_secs(http.body_read_timeout_secs);
    Router::new()
        .route("/health", get(health))
        .route("/openapi.json", get(openapi_json))
        .merge(publishers::router())
        .merge(devices::router())
        .merge(capture::router())
        .merge(jwks::router())
        .merge(auth::router())
        .merge(keys::router())
        .merge(records::router())
        .merge(dashboard::router())
        .merge(register::router())
        .merge(webhooks::router())
        .merge(log::router())
        // Only the routes above: /validate, /api/v1/sign and /api/v1/verify, merged after, have their own limits.
        .route_layer(middleware::from_fn(move |req, next| announced_length(max_body, req, next)))
        .merge(validate::router(max_upload))
        .merge(sign::router(max_image, max_batch))
        .merge(verify::router(max_image))
        .fallback(|| async { (StatusCode::NOT_FOUND, axum::Json(ErrorBody { detail: "Not Found".into() })) })
        .method_not_allowed_fallback(|| async {
            (StatusCode::METHOD_NOT_ALLOWED, axum::Json(ErrorBody { detail: "Method Not Allowed".into() }))
        })
        .layer(DefaultBodyLimit::max(max_body))
        .layer(tower_http::timeout::RequestBodyTimeoutLayer::new(body_timeout))
        .layer(middleware::from_fn(move |req, next| request_deadline(request_timeout, req, next)))
        .layer(tower_http::trace::TraceLayer::new_for_http())
        .with_state(state)
}

/// 413 at once for a body announced (`Content-Length`) larger than the route takes, before any of it is
/// read; a body without a length is cut off by `DefaultBodyLimit` as it streams in.
pub(super) async fn announced_length(limit: usize, req: axum::extract::Request, next: Next) -> Response {
    let announced = req.headers().get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()?.trim().parse::<u64>().ok());
    match announced {
        Some(n) if n > limit as u64 => {
            ApiError::TooLarge(format!("Request body too large: {n} bytes announced, the limit is {limit}"))
                .into_response()
        }
        _ => next.run(req).await,
    }
}

/// 408 when a request (its body upload included) is not answered within `http.request_timeout_secs`.
async fn request_deadline(limit: Duration, req: axum::extract::Request, next: Next) -> Response {
    match tokio::time::timeout(limit, next.run(req)).await {
        Ok(response) => response,
        Err(_) => ApiError::Timeout(format!("The request took longer than {} s", limit.as_secs())).into_response(),
    }
}

/// Lower-case hex SHA-256 (how tokens and nonces are stored).
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// 32 random bytes, base64url without padding (device tokens, nonces, admin tokens).
pub fn random_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// Liveness.
#[utoipa::path(get, path = "/health", tag = "service", responses((status = 200, body = Health)))]
pub(super) async fn health() -> impl IntoResponse {
    axum::Json(Health { status: "ok".into(), version: env!("CARGO_PKG_VERSION").into() })
}

/// This document (OpenAPI 3.1).
#[utoipa::path(get, path = "/openapi.json", tag = "service", responses((status = 200, description = "OpenAPI 3.1")))]
pub(super) async fn openapi_json() -> impl IntoResponse {
    axum::Json(openapi::document())
}
