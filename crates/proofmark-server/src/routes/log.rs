//! The transparency log (SPEC §5; docs/transparency-log.md): the C2SP `tlog-tiles` layout under `/log/`
//! (checkpoint, hash tiles, entry bundles) for generic tlog clients, the JSON conveniences under
//! `/api/v1/log/`, witness cosignatures, and each record's receipt.
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use proofmark_api::log::{ConsistencyProof, CosignaturesAdded, InclusionProof};
use proofmark_api::ErrorBody;
use proofmark_core::tlog::merkle::{self, tiles};
use proofmark_store::RecordId;
use serde::Deserialize;

use crate::error::ApiError;
use crate::transparency::{self, CosignError};
use crate::AppState;

pub(super) fn router() -> Router<AppState> {
    Router::new()
        .route("/log/checkpoint", get(checkpoint))
        .route("/log/tile/{*path}", get(tile))
        .route("/api/v1/log/key", get(key))
        .route("/api/v1/log/proof/inclusion", get(inclusion))
        .route("/api/v1/log/proof/consistency", get(consistency))
        .route("/api/v1/log/entries/{index}", get(entry))
        .route("/api/v1/log/cosignatures", post(cosign))
        .route("/api/v1/content-records/{id}/receipt", get(receipt))
}

const TEXT: &str = "text/plain; charset=utf-8";
const IMMUTABLE: &str = "public, max-age=31536000, immutable";

/// The newest checkpoint (C2SP `tlog-checkpoint`), with the witness cosignatures collected for it.
#[utoipa::path(get, path = "/log/checkpoint", tag = "log",
    responses((status = 200, content_type = "text/plain", body = String, description = "The signed note")))]
#[tracing::instrument(skip_all)]
pub(super) async fn checkpoint(State(state): State<AppState>) -> Result<Response, ApiError> {
    let cp = transparency::ensure_checkpoint(&state).await?;
    let note = transparency::served_note(&state, &cp).await?;
    Ok(([(header::CONTENT_TYPE, TEXT), (header::CACHE_CONTROL, "no-cache, max-age=2")], note).into_response())
}

/// A hash tile `tile/<L>/<N>[.p/<W>]` or an entry bundle `tile/entries/<N>[.p/<W>]` (C2SP `tlog-tiles`).
#[utoipa::path(get, path = "/log/tile/{path}", tag = "log",
    params(("path" = String, Path, description = "`<L>/<N>[.p/<W>]` or `entries/<N>[.p/<W>]`")),
    responses(
        (status = 200, content_type = "application/octet-stream", body = Vec<u8>),
        (status = 404, body = ErrorBody, description = "Not a tile path, or beyond the tree"),
    ))]
#[tracing::instrument(skip_all)]
pub(super) async fn tile(State(state): State<AppState>, Path(path): Path<String>) -> Result<Response, ApiError> {
    let not_found = || ApiError::NotFound(format!("no tile {path:?} in this log"));
    let t = tiles::parse(&path).ok_or_else(not_found)?;
    let size = transparency::ensure_checkpoint(&state).await?.tree_size;
    let width = t.partial.unwrap_or(tiles::WIDTH);
    let level = t.level.unwrap_or(0);
    // A tile exists once the tree holds all its hashes. Partial tiles of older sizes stay available (their
    // hashes never change), so a client checking an older checkpoint finds them.
    let available = tiles::hashes_at_level(level, size);
    let end = t.index.checked_mul(tiles::WIDTH).and_then(|s| s.checked_add(width)).ok_or_else(not_found)?;
    if end > available {
        return Err(not_found());
    }
    let body = match t.level {
        Some(level) => state.store.log_hashes(&tiles::indexes(level, t.index, width)).await?.concat(),
        None => {
            let start = t.index * tiles::WIDTH;
            let entries = state.store.log_entries(start, start + width).await?;
            let mut out = Vec::with_capacity(entries.iter().map(|e| e.len() + 2).sum());
            for e in entries {
                let len = u16::try_from(e.len()).map_err(|_| anyhow::anyhow!("a leaf over 65535 bytes"))?;
                out.extend_from_slice(&len.to_be_bytes());
                out.extend_from_slice(&e);
            }
            out
        }
    };
    Ok(([(header::CONTENT_TYPE, "application/octet-stream"), (header::CACHE_CONTROL, IMMUTABLE)], body).into_response())
}

/// The log's verifier key, in the C2SP `vkey` text form (`<origin>+<key id>+<base64 key>`).
#[utoipa::path(get, path = "/api/v1/log/key", tag = "log",
    responses((status = 200, content_type = "text/plain", body = String)))]
pub(super) async fn key(State(state): State<AppState>) -> Response {
    ([(header::CONTENT_TYPE, TEXT)], format!("{}\n", state.log.vkey())).into_response()
}

#[derive(Debug, Deserialize)]
pub(super) struct InclusionQuery {
    leaf_index: u64,
    tree_size: Option<u64>,
}

async fn current_size(state: &AppState) -> Result<u64, ApiError> {
    Ok(transparency::ensure_checkpoint(state).await?.tree_size)
}

async fn root_of(state: &AppState, size: u64) -> Result<[u8; 32], ApiError> {
    let plan = merkle::plan_root(size);
    let hashes = state.store.log_hashes(plan.indexes()).await?;
    Ok(plan.finish(&hashes).map_err(anyhow::Error::from)?.first().copied().unwrap_or_else(merkle::empty_root))
}

/// The inclusion path of leaf `leaf_index` in the tree of `tree_size` leaves (default: the newest
/// checkpoint's), computed from stored hashes.
#[utoipa::path(get, path = "/api/v1/log/proof/inclusion", tag = "log",
    params(("leaf_index" = u64, Query), ("tree_size" = Option<u64>, Query, description = "Default: the newest checkpoint's size")),
    responses(
        (status = 200, body = InclusionProof),
        (status = 422, body = ErrorBody, description = "Missing or malformed numbers, or a leaf or size beyond the log"),
    ))]
#[tracing::instrument(skip_all)]
pub(super) async fn inclusion(
    State(state): State<AppState>,
    query: Result<Query<InclusionQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(q) = query.map_err(|e| ApiError::Unprocessable(e.body_text()))?;
    let current = current_size(&state).await?;
    let size = q.tree_size.unwrap_or(current);
    if size > current {
        return Err(ApiError::Unprocessable(format!("tree_size {size} is beyond the log's {current}")));
    }
    let plan = merkle::plan_inclusion(q.leaf_index, size).map_err(|e| ApiError::Unprocessable(e.to_string()))?;
    let path = plan.finish(&state.store.log_hashes(plan.indexes()).await?).map_err(anyhow::Error::from)?;
    let root = root_of(&state, size).await?;
    Ok(axum::Json(InclusionProof {
        leaf_index: q.leaf_index,
        tree_size: size,
        root: hex::encode(root),
        inclusion_path: path.iter().map(hex::encode).collect(),
    })
    .into_response())
}

#[derive(Debug, Deserialize)]
pub(super) struct ConsistencyQuery {
    from: u64,
    to: Option<u64>,
}

/// The consistency path from tree size `from` to `to` (default: the newest checkpoint's size).
#[utoipa::path(get, path = "/api/v1/log/proof/consistency", tag = "log",
    params(("from" = u64, Query, description = "At least 1"), ("to" = Option<u64>, Query, description = "Default: the newest checkpoint's size")),
    responses(
        (status = 200, body = ConsistencyProof),
        (status = 422, body = ErrorBody, description = "Missing or malformed numbers, from > to, from = 0, or beyond the log"),
    ))]
#[tracing::instrument(skip_all)]
pub(super) async fn consistency(
    State(state): State<AppState>,
    query: Result<Query<ConsistencyQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(q) = query.map_err(|e| ApiError::Unprocessable(e.body_text()))?;
    let current = current_size(&state).await?;
    let to = q.to.unwrap_or(current);
    if to > current {
        return Err(ApiError::Unprocessable(format!("to {to} is beyond the log's size {current}")));
    }
    let plan = merkle::plan_consistency(q.from, to).map_err(|e| ApiError::Unprocessable(e.to_string()))?;
    let path = plan.finish(&state.store.log_hashes(plan.indexes()).await?).map_err(anyhow::Error::from)?;
    Ok(axum::Json(ConsistencyProof {
        from: q.from,
        to,
        from_root: hex::encode(root_of(&state, q.from).await?),
        to_root: hex::encode(root_of(&state, to).await?),
        consistency_path: path.iter().map(hex::encode).collect(),
    })
    .into_response())
}

/// One leaf's bytes: the record's canonical text (docs/transparency-log.md, "Leaf").
#[utoipa::path(get, path = "/api/v1/log/entries/{index}", tag = "log",
    params(("index" = u64, Path)),
    responses(
        (status = 200, content_type = "text/plain", body = String),
        (status = 404, body = ErrorBody, description = "No such leaf"),
    ))]
pub(super) async fn entry(State(state): State<AppState>, Path(index): Path<String>) -> Result<Response, ApiError> {
    let not_found = || ApiError::NotFound(format!("no leaf {index:?} in this log"));
    let i: u64 = index.parse().map_err(|_| not_found())?;
    let leaf = state.store.log_entries(i, i.saturating_add(1)).await?.pop().ok_or_else(not_found)?;
    Ok(([(header::CONTENT_TYPE, TEXT), (header::CACHE_CONTROL, IMMUTABLE)], leaf).into_response())
}

/// Witness cosignatures: the body is a checkpoint this log signed, with the witnesses' `cosignature/v1`
/// lines appended (C2SP `tlog-cosignature`). Lines by witnesses in `log.witnesses` are verified and stored,
/// and served on `/log/checkpoint` and in receipts from then on.
#[utoipa::path(post, path = "/api/v1/log/cosignatures", tag = "log",
    request_body(content = String, content_type = "text/plain", description = "The cosigned checkpoint note"),
    responses(
        (status = 201, body = CosignaturesAdded),
        (status = 404, body = ErrorBody, description = "This log never signed that checkpoint"),
        (status = 422, body = ErrorBody, description = "Not a signed note, or no cosignature by an accepted witness verifies"),
    ))]
#[tracing::instrument(skip_all)]
pub(super) async fn cosign(State(state): State<AppState>, body: Bytes) -> Result<Response, ApiError> {
    let size = proofmark_core::tlog::Note::parse(&body)
        .ok()
        .and_then(|n| proofmark_core::tlog::Checkpoint::parse_body(&n.text).ok())
        .map(|c| c.size);
    match transparency::add_cosignatures(&state, &body).await {
        Ok(added) => {
            Ok((StatusCode::CREATED, axum::Json(CosignaturesAdded { tree_size: size.unwrap_or_default(), added }))
                .into_response())
        }
        Err(e) => match e.downcast::<CosignError>() {
            Ok(e @ CosignError::UnknownCheckpoint(_)) => Err(ApiError::NotFound(e.to_string())),
            Ok(e) => Err(ApiError::Unprocessable(e.to_string())),
            Err(e) => Err(ApiError::Internal(e)),
        },
    }
}

/// The record's receipt against the newest checkpoint: its leaf, index, inclusion path, the signed
/// checkpoint with witness cosignatures, and the anchor. Public, like the certificate.
#[utoipa::path(get, path = "/api/v1/content-records/{id}/receipt", tag = "log",
    params(("id" = String, Path, format = Uuid)),
    responses(
        (status = 200, body = Object, description = "The receipt (docs/transparency-log.md, \"Receipts\")"),
        (status = 404, body = ErrorBody, description = "No such record, or not in the log yet (with Retry-After)"),
    ))]
#[tracing::instrument(skip_all)]
pub(super) async fn receipt(State(state): State<AppState>, Path(id): Path<String>) -> Result<Response, ApiError> {
    let not_found = || ApiError::NotFound("Content record not found".into());
    let id: RecordId = id.parse().map_err(|_| not_found())?;
    state.store.record(&id).await?.ok_or_else(not_found)?;
    match transparency::receipt(&state, &id).await? {
        Some(r) => Ok(axum::Json(r).into_response()),
        None => {
            let wait = state.config.log.batch_interval_ms.div_ceil(1000).max(1);
            let mut response = ApiError::NotFound(format!(
                "content record {id} is not in the log yet: it is appended within {} ms",
                state.config.log.batch_interval_ms
            ))
            .into_response();
            response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(wait));
            Ok(response)
        }
    }
}
