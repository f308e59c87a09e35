//! Content records (`/api/v1/content-records`): the organisation's listing (cursor pages), one record, the
//! tombstone delete, the file downloads, the public certificate (JSON, or an HTML page with the same facts),
//! the public search by SHA-256 — and the origin codes.
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use proofmark_api::content::{Certificate, CertificateSigner, ContentRecord, OriginTypeInfo, RecordPage, SearchHit};
use proofmark_api::ErrorBody;
use proofmark_store::{OriginType, RecordId, Scope, SigningKey, Timestamp};
use serde::Deserialize;

use super::extract::Caller;
use crate::error::ApiError;
use crate::AppState;

pub(super) fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/content-records", get(list))
        .route("/api/v1/content-records/public/search", get(search))
        .route("/api/v1/content-records/{id}", get(show).delete(remove))
        .route("/api/v1/content-records/{id}/certificate", get(certificate_route))
        .route("/api/v1/content-records/{id}/file", get(file))
        .route("/api/v1/origin-types", get(origin_types))
}

/// The certificate of a record signed with `key`.
pub(super) fn certificate(r: &proofmark_store::ContentRecord, key: &SigningKey, org_name: String) -> Certificate {
    Certificate {
        record_id: r.record_id,
        fingerprint: r.fingerprint.clone(),
        signature: r.signature.clone(),
        signer: CertificateSigner {
            organization_id: r.org_id,
            organization_name: org_name,
            signing_key_id: key.key_id,
            algorithm: key.algorithm,
            public_key: key.public_key.clone(),
            key_retired_at: key.retired_at,
        },
        sha256: r.sha256.clone(),
        watermarked_sha256: r.watermarked_sha256.clone(),
        phash: format!("{:016x}", r.phash),
        watermark_payload: r.watermark_payload.clone(),
        origin_type: r.origin_type,
        signed_at: r.created_at,
        deleted_at: r.deleted_at,
        receipt: None,
    }
}

pub(super) fn record_json(r: &proofmark_store::ContentRecord) -> ContentRecord {
    ContentRecord {
        id: r.record_id,
        organization_id: r.org_id,
        signing_key_id: r.signing_key_id,
        source: r.source,
        origin_type: r.origin_type,
        sha256: r.sha256.clone(),
        watermarked_sha256: r.watermarked_sha256.clone(),
        phash: format!("{:016x}", r.phash),
        signature: r.signature.clone(),
        fingerprint: r.fingerprint.clone(),
        watermark_payload: r.watermark_payload.clone(),
        file_name: r.file_name.clone(),
        media_type: r.media_type.clone(),
        file_size: r.file_size,
        width: r.width,
        height: r.height,
        created_at: r.created_at,
        deleted_at: r.deleted_at,
        receipt: None,
    }
}

/// [`record_json`] with the record's log receipt, once it has one.
async fn record_with_receipt(state: &AppState, r: &proofmark_store::ContentRecord) -> Result<ContentRecord, ApiError> {
    let mut json = record_json(r);
    json.receipt = crate::transparency::receipt(state, &r.record_id).await?;
    Ok(json)
}

fn not_found() -> ApiError {
    ApiError::NotFound("Content record not found".into())
}

/// The record if it exists and belongs to the caller's organisation (another organisation's is "not found").
async fn own_record(state: &AppState, caller: &Caller, id: &str) -> Result<proofmark_store::ContentRecord, ApiError> {
    let id: RecordId = id.parse().map_err(|_| not_found())?;
    state.store.record(&id).await?.filter(|r| r.org_id == caller.org).ok_or_else(not_found)
}

#[derive(Debug, Deserialize)]
pub(super) struct ListQuery {
    cursor: Option<String>,
    limit: Option<u32>,
}

fn cursor_text(r: &proofmark_store::ContentRecord) -> String {
    format!("{}_{}", r.created_at.unix(), r.record_id)
}

fn parse_cursor(text: &str) -> Result<(Timestamp, RecordId), ApiError> {
    let bad = || ApiError::Unprocessable(format!("cursor {text:?} is not one this server gave out"));
    let (at, id) = text.split_once('_').ok_or_else(bad)?;
    Ok((Timestamp(at.parse().map_err(|_| bad())?), id.parse().map_err(|_| bad())?))
}

/// The organisation's live records, newest first, `limit` (1–200, default 50) at a time.
#[utoipa::path(get, path = "/api/v1/content-records", tag = "content", security(("session" = []), ("api_key" = [])),
    params(("cursor" = Option<String>, Query), ("limit" = Option<u32>, Query, description = "1–200, default 50")),
    responses(
        (status = 200, body = RecordPage),
        (status = 401, body = ErrorBody, description = "Not authenticated"),
        (status = 403, body = ErrorBody, description = "The 'read' scope is needed"),
        (status = 422, body = ErrorBody, description = "Bad cursor or limit"),
    ))]
#[tracing::instrument(skip_all)]
pub(super) async fn list(
    State(state): State<AppState>,
    caller: Caller,
    query: Result<Query<ListQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    caller.require(Scope::Read)?;
    let Query(q) = query.map_err(|e| ApiError::Unprocessable(e.body_text()))?;
    let limit = q.limit.unwrap_or(50);
    if !(1..=200).contains(&limit) {
        return Err(ApiError::Unprocessable("limit must be between 1 and 200".into()));
    }
    let before = q.cursor.as_deref().map(parse_cursor).transpose()?;
    // One more than asked tells whether there is a next page.
    let mut rows = state.store.records(&caller.org, before, limit + 1).await?;
    let more = rows.len() > limit as usize;
    rows.truncate(limit as usize);
    let next_cursor = if more { rows.last().map(cursor_text) } else { None };
    let mut items = Vec::with_capacity(rows.len());
    for r in &rows {
        items.push(record_with_receipt(&state, r).await?);
    }
    Ok(axum::Json(RecordPage { items, next_cursor }).into_response())
}

/// One of the organisation's records (tombstoned ones too, with `deleted_at`).
#[utoipa::path(get, path = "/api/v1/content-records/{id}", tag = "content", security(("session" = []), ("api_key" = [])),
    params(("id" = String, Path, format = Uuid)),
    responses(
        (status = 200, body = ContentRecord),
        (status = 401, body = ErrorBody, description = "Not authenticated"),
        (status = 403, body = ErrorBody, description = "The 'read' scope is needed"),
        (status = 404, body = ErrorBody, description = "Content record not found (also another organisation's)"),
    ))]
#[tracing::instrument(skip_all)]
pub(super) async fn show(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    caller.require(Scope::Read)?;
    let r = own_record(&state, &caller, &id).await?;
    Ok(axum::Json(record_with_receipt(&state, &r).await?).into_response())
}

/// Delete a record: a tombstone. It leaves listings and searches, and its certificate says it was deleted;
/// the record and its signature stay provable.
#[utoipa::path(delete, path = "/api/v1/content-records/{id}", tag = "content", security(("session" = []), ("api_key" = [])),
    params(("id" = String, Path, format = Uuid)),
    responses(
        (status = 204, description = "Tombstoned"),
        (status = 401, body = ErrorBody, description = "Not authenticated"),
        (status = 403, body = ErrorBody, description = "The 'sign' scope is needed"),
        (status = 404, body = ErrorBody, description = "Content record not found (also another organisation's, or deleted already)"),
    ))]
#[tracing::instrument(skip_all)]
pub(super) async fn remove(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    caller.require(Scope::Sign)?;
    let id: RecordId = id.parse().map_err(|_| not_found())?;
    if !state.store.delete_record(&caller.org, &id, Timestamp(state.now())).await? {
        return Err(not_found());
    }
    Ok(StatusCode::NO_CONTENT.into_response())
}

#[derive(Debug, Deserialize)]
pub(super) struct FileQuery {
    variant: Option<String>,
}

/// Download the watermarked (default) or the original file of one of the organisation's records.
#[utoipa::path(get, path = "/api/v1/content-records/{id}/file", tag = "content", security(("session" = []), ("api_key" = [])),
    params(("id" = String, Path, format = Uuid), ("variant" = Option<String>, Query, description = "watermarked (default) or original")),
    responses(
        (status = 200, description = "The file, with its media type"),
        (status = 404, body = ErrorBody, description = "Content record not found / no such file"),
        (status = 422, body = ErrorBody, description = "Unknown variant"),
    ))]
#[tracing::instrument(skip_all)]
pub(super) async fn file(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Query(q): Query<FileQuery>,
) -> Result<Response, ApiError> {
    caller.require(Scope::Read)?;
    let r = own_record(&state, &caller, &id).await?;
    let key = match q.variant.as_deref().unwrap_or("watermarked") {
        "watermarked" => r.watermarked_object.clone(),
        "original" => r.original_object.clone(),
        other => {
            return Err(ApiError::Unprocessable(format!(
                "variant {other:?} is not one of \"watermarked\", \"original\""
            )))
        }
    };
    let key = key.ok_or_else(|| ApiError::NotFound("This record has no such file".into()))?;
    let bytes = state.objects.get(&key).await?;
    let media_type = match key.rsplit('.').next() {
        Some("jpg") => "image/jpeg",
        Some("png") => "image/png",
        Some("webp") => "image/webp",
        _ => "application/octet-stream",
    };
    let name = key.rsplit('/').next().unwrap_or("file");
    let disposition = format!("attachment; filename=\"{}-{name}\"", r.record_id);
    Ok(([(header::CONTENT_TYPE, media_type.to_owned()), (header::CONTENT_DISPOSITION, disposition)], bytes)
        .into_response())
}

/// The public certificate of a record: JSON, or an HTML page with the same facts when the client asks for
/// `text/html` (a browser).
#[utoipa::path(get, path = "/api/v1/content-records/{id}/certificate", tag = "content",
    params(("id" = String, Path, format = Uuid)),
    responses(
        (status = 200, body = Certificate, description = "JSON; `text/html` when asked for"),
        (status = 404, body = ErrorBody, description = "Content record not found"),
    ))]
#[tracing::instrument(skip_all)]
pub(super) async fn certificate_route(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let id: RecordId = id.parse().map_err(|_| not_found())?;
    let r = state.store.record(&id).await?.ok_or_else(not_found)?;
    let cert = public_certificate(&state, &r)
        .await?
        .ok_or_else(|| ApiError::Internal(anyhow::anyhow!("record {} has no signing key", r.record_id)))?;
    let wants_html = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| a.split(',').any(|m| m.trim().starts_with("text/html")));
    if wants_html {
        return Ok(Html(certificate_html(&cert)).into_response());
    }
    Ok(axum::Json(cert).into_response())
}

/// Text for HTML: `&`, `<`, `>`, `"` and `'` escaped.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn certificate_html(c: &Certificate) -> String {
    let opt = |v: &Option<String>| v.as_deref().map(escape).unwrap_or_else(|| "—".into());
    let rows = [
        ("Record", c.record_id.to_string()),
        ("Signed by", escape(&c.signer.organization_name)),
        ("Organisation id", c.signer.organization_id.to_string()),
        ("Signed at", c.signed_at.to_string()),
        (
            "Origin",
            c.origin_type.map(|o| format!("{} — {}", o, o.description())).unwrap_or_else(|| "not declared".into()),
        ),
        ("SHA-256 (original)", escape(&c.sha256)),
        ("SHA-256 (watermarked)", opt(&c.watermarked_sha256)),
        ("Perceptual hash", escape(&c.phash)),
        ("Watermark payload", opt(&c.watermark_payload)),
        ("Signing key", format!("{} ({})", c.signer.signing_key_id, c.signer.algorithm)),
        ("Public key", escape(&c.signer.public_key)),
        ("Key retired", c.signer.key_retired_at.map(|t| t.to_string()).unwrap_or_else(|| "no".into())),
        ("Signed fingerprint", escape(&c.fingerprint)),
        ("Signature", escape(&c.signature)),
        (
            "Transparency log",
            match &c.receipt {
                Some(r) => {
                    let origin = r.checkpoint.lines().next().unwrap_or_default();
                    let anchor = match &r.anchor {
                        proofmark_core::tlog::Anchor::NotAnchored => "not anchored on a chain yet".to_owned(),
                        proofmark_core::tlog::Anchor::Anchored(a) => {
                            format!("anchored on chain {} in block {}", a.chain_id, a.block_number)
                        }
                    };
                    format!("leaf {} of {} at tree size {}; {anchor}", r.leaf_index, escape(origin), r.tree_size)
                }
                None => "pending: appended within the next batch".into(),
            },
        ),
    ];
    let table: String = rows.iter().map(|(k, v)| format!("<tr><th>{k}</th><td><code>{v}</code></td></tr>\n")).collect();
    let deleted = match c.deleted_at {
        Some(t) => format!(
            "<p class=\"warn\">The organisation deleted this record on {t}. The signature below stays valid.</p>"
        ),
        None => String::new(),
    };
    format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>Proofmark certificate {id}</title>\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <style>body{{font-family:system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem}}\
         th{{text-align:left;vertical-align:top;padding:.3rem 1rem .3rem 0;white-space:nowrap}}\
         td code{{word-break:break-all}}.warn{{color:#a00}}</style></head><body>\n\
         <h1>Content certificate</h1>\n{deleted}<table>\n{table}</table>\n\
         <p>To check it yourself: verify the Ed25519 signature over the UTF-8 bytes of the signed fingerprint with \
         the public key; the fingerprint's first field is the SHA-256 of the original file.</p>\n\
         <p>Its receipt (<a href=\"receipt\" type=\"application/json\">JSON</a>) proves the log holds this record: \
         <code>proofmark log verify-receipt</code> checks it offline.</p>\n\
         <p><a href=\"certificate\" type=\"application/json\">This certificate as JSON</a></p>\n</body></html>\n",
        id = c.record_id,
    )
}

#[derive(Debug, Deserialize)]
pub(super) struct SearchQuery {
    sha256: Option<String>,
    phash: Option<String>,
    max_distance: Option<u32>,
}

/// The most hits one search answers.
const MAX_HITS: usize = 100;
/// The widest pHash search (SPEC §2.3: Hamming ≤ 10 of 64).
const MAX_PHASH_DISTANCE: u32 = 10;

/// Public search by SHA-256 (original or watermarked file: exact) or by pHash (Hamming distance ≤
/// `max_distance`, default and at most 10, through the exact-recall index: every record that close is
/// found, nearest first). Live records only, at most 100.
#[utoipa::path(get, path = "/api/v1/content-records/public/search", tag = "content",
    params(
        ("sha256" = Option<String>, Query, description = "64 hex digits"),
        ("phash" = Option<String>, Query, description = "16 hex digits"),
        ("max_distance" = Option<u32>, Query, description = "0–10, default 10 (pHash only)"),
    ),
    responses(
        (status = 200, body = Vec<SearchHit>),
        (status = 422, body = ErrorBody, description = "Neither or both of sha256 and phash, or a malformed value"),
    ))]
#[tracing::instrument(skip_all)]
pub(super) async fn search(
    State(state): State<AppState>,
    query: Result<Query<SearchQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(q) = query.map_err(|e| ApiError::Unprocessable(e.body_text()))?;
    let mut hits = Vec::new();
    match (q.sha256, q.phash) {
        (Some(sha), None) => {
            let sha = sha.trim().to_ascii_lowercase();
            if sha.len() != 64 || !sha.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err(ApiError::Unprocessable("sha256 must be 64 hex digits".into()));
            }
            for r in state.store.records_by_sha256(&sha).await?.into_iter().take(MAX_HITS) {
                let match_type = if r.sha256 == sha { "sha256" } else { "watermarked_sha256" };
                if let Some(certificate) = public_certificate(&state, &r).await? {
                    hits.push(SearchHit { match_type: match_type.into(), distance: None, certificate });
                }
            }
        }
        (None, Some(text)) => {
            let text = text.trim();
            let hash = (text.len() == 16)
                .then(|| u64::from_str_radix(text, 16).ok())
                .flatten()
                .ok_or_else(|| ApiError::Unprocessable("phash must be 16 hex digits".into()))?;
            let max = q.max_distance.unwrap_or(MAX_PHASH_DISTANCE);
            if max > MAX_PHASH_DISTANCE {
                return Err(ApiError::Unprocessable(format!("max_distance must be at most {MAX_PHASH_DISTANCE}")));
            }
            state.phash_index.refresh_tail(state.store.as_ref()).await?;
            for (id, distance) in state.phash_index.search(proofmark_media::PHash(hash), max).await {
                if hits.len() == MAX_HITS {
                    break;
                }
                let Some(r) = state.store.record(&id).await?.filter(|r| r.deleted_at.is_none()) else { continue };
                if let Some(certificate) = public_certificate(&state, &r).await? {
                    hits.push(SearchHit { match_type: "phash".into(), distance: Some(distance), certificate });
                }
            }
        }
        _ => return Err(ApiError::Unprocessable("Give exactly one of sha256 and phash".into())),
    }
    Ok(axum::Json(hits).into_response())
}

async fn public_certificate(
    state: &AppState,
    r: &proofmark_store::ContentRecord,
) -> Result<Option<Certificate>, ApiError> {
    let Some(key) = state.store.signing_key(&r.signing_key_id).await? else { return Ok(None) };
    let org = state.store.publisher(&r.org_id).await?.map(|p| p.name).unwrap_or_default();
    let mut cert = certificate(r, &key, org);
    cert.receipt = crate::transparency::receipt(state, &r.record_id).await?;
    Ok(Some(cert))
}

/// The origin codes a record may declare (SPEC §2.1).
#[utoipa::path(get, path = "/api/v1/origin-types", tag = "content", responses((status = 200, body = Vec<OriginTypeInfo>)))]
pub(super) async fn origin_types() -> Response {
    let all: Vec<OriginTypeInfo> =
        OriginType::ALL.iter().map(|&o| OriginTypeInfo { code: o, description: o.description().into() }).collect();
    axum::Json(all).into_response()
}
