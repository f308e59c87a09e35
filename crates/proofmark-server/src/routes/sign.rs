//! `POST /api/v1/sign` (SPEC §2.2): an image uploaded by an organisation is hashed (SHA-256 and pHash),
//! its fingerprint `{sha256}|{phash}|{signed_at}|{signer}` signed with the organisation's Ed25519 key, the
//! watermark payload `SHA256(signature)[:16]` embedded with the deployment's watermark key, and the original
//! and the watermarked file stored with the record.
//!
//! Memory: the upload streams to a temporary file (hashed as it arrives, cut off at `sign.max_image_bytes`);
//! only `sign.max_concurrent` images are decoded and marked at once. One decode serves the pHash and the
//! watermark. Nothing is left behind by a request that fails: objects written before a failed database insert
//! are deleted again. The answer carries a `Server-Timing` header with each stage's time.
use std::io::Write;
use std::time::{Duration, Instant};

use axum::extract::multipart::{Field, MultipartError, MultipartRejection};
use axum::extract::{DefaultBodyLimit, Multipart, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use proofmark_api::content::{BatchItem, BatchSigned, SignForm, Signed};
use proofmark_api::ErrorBody;
use proofmark_media::image::{decode_image, Format};
use proofmark_media::{DecodeError, MarkError, MarkOptions};
use proofmark_store::{ContentRecord, OriginType, RecordId, RecordSource, Scope, SigningKey, SigningKeyId, Timestamp};
use sha2::{Digest, Sha256};

use super::announced_length;
use super::extract::Caller;
use crate::error::ApiError;
use crate::AppState;

/// Multipart framing and the small option fields, on top of the image.
const FORM_OVERHEAD: u64 = 64 * 1024;
/// The longest option value read.
const MAX_OPTION_BYTES: usize = 1024;

pub(super) fn router(max_image: u64, max_batch: usize) -> Router<AppState> {
    let limit = usize::try_from(max_image.saturating_add(FORM_OVERHEAD)).unwrap_or(usize::MAX);
    let batch_limit =
        usize::try_from(max_image.saturating_mul(max_batch as u64).saturating_add(FORM_OVERHEAD)).unwrap_or(usize::MAX);
    Router::new()
        .route(
            "/api/v1/sign",
            post(sign)
                .layer(DefaultBodyLimit::max(limit))
                .layer(middleware::from_fn(move |req, next| announced_length(limit, req, next))),
        )
        .route(
            "/api/v1/sign-batch",
            post(sign_batch)
                .layer(DefaultBodyLimit::max(batch_limit))
                .layer(middleware::from_fn(move |req, next| announced_length(batch_limit, req, next))),
        )
}

/// The options of a sign request.
#[derive(Debug, Default)]
struct Options {
    signing_key_id: Option<String>,
    origin_type: Option<OriginType>,
    watermark: Option<bool>,
}

/// An upload on disk: its SHA-256, size and name.
struct Upload {
    file: tempfile::NamedTempFile,
    sha256: String,
    size: u64,
    name: Option<String>,
}

/// Stage timings for `Server-Timing`.
#[derive(Default)]
struct Timings(Vec<(&'static str, Duration)>);

impl Timings {
    fn add(&mut self, stage: &'static str, d: Duration) {
        self.0.push((stage, d));
    }

    fn header(&self) -> Option<HeaderValue> {
        let parts: Vec<String> =
            self.0.iter().map(|(s, d)| format!("{s};dur={:.1}", d.as_secs_f64() * 1000.0)).collect();
        HeaderValue::from_str(&parts.join(", ")).ok()
    }
}

/// A multipart body that cannot be read further: its timeout, its size, or its framing.
pub(super) fn read_error(e: MultipartError) -> ApiError {
    if crate::error::is_body_timeout(&e) {
        crate::error::body_timeout()
    } else if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
        ApiError::TooLarge("Request body too large".into())
    } else {
        ApiError::BadRequest(format!("Malformed multipart body: {e}"))
    }
}

/// Sign an image: hash, pHash, fingerprint, Ed25519 signature, watermark, record.
#[utoipa::path(post, path = "/api/v1/sign", tag = "content", security(("session" = []), ("api_key" = [])),
    request_body(content = SignForm, content_type = "multipart/form-data"),
    responses(
        (status = 201, body = Signed, description = "Signed; `Server-Timing` gives each stage's time"),
        (status = 400, body = ErrorBody, description = "Malformed multipart body / more than one file"),
        (status = 401, body = ErrorBody, description = "Not authenticated"),
        (status = 403, body = ErrorBody, description = "The 'sign' scope is needed"),
        (status = 404, body = ErrorBody, description = "Signing key not found (also another organisation's)"),
        (status = 409, body = ErrorBody, description = "No current signing key / the key is retired"),
        (status = 413, body = ErrorBody, description = "Image larger than sign.max_image_bytes, or over the pixel limit"),
        (status = 415, body = ErrorBody, description = "Not a JPEG, PNG or WebP image (videos are not signed yet)"),
        (status = 422, body = ErrorBody, description = "Missing file, bad option, unreadable image, image too small for the watermark"),
    ))]
#[tracing::instrument(skip_all)]
pub(super) async fn sign(
    State(state): State<AppState>,
    caller: Caller,
    multipart: Result<Multipart, MultipartRejection>,
) -> Result<Response, ApiError> {
    caller.require(Scope::Sign)?;
    let started = Instant::now();
    let (options, mut uploads) = read_form(&state, multipart, 1).await?;
    let upload =
        uploads.pop().ok_or_else(|| ApiError::Unprocessable("Field required: file".into()))?.map_err(|(_, e)| e)?;
    let mut timings = Timings::default();
    timings.add("receive", started.elapsed());
    let key = signing_key(&state, &caller, options.signing_key_id.as_deref()).await?;
    let (signed, stages) = sign_upload(&state, &caller, &options, &key, upload).await?;
    timings.0.extend(stages.0);
    timings.add("total", started.elapsed());
    let mut response = (StatusCode::CREATED, axum::Json(&signed)).into_response();
    if let Some(v) = timings.header() {
        response.headers_mut().insert("server-timing", v);
    }
    response.headers_mut().insert(
        header::LOCATION,
        HeaderValue::from_str(&format!("/api/v1/content-records/{}", signed.record_id)).map_err(anyhow::Error::from)?,
    );
    Ok(response)
}

/// Sign several images in one request (`file` parts, the same options for all): one result per file, in
/// order; a file that fails does not sink the others.
#[utoipa::path(post, path = "/api/v1/sign-batch", tag = "content", security(("session" = []), ("api_key" = [])),
    request_body(content = SignForm, content_type = "multipart/form-data", description = "Several `file` parts (at most sign.max_batch_files)"),
    responses(
        (status = 200, body = BatchSigned, description = "One result per file, each with its own status"),
        (status = 400, body = ErrorBody, description = "Malformed multipart body"),
        (status = 401, body = ErrorBody, description = "Not authenticated"),
        (status = 403, body = ErrorBody, description = "The 'sign' scope is needed"),
        (status = 404, body = ErrorBody, description = "Signing key not found"),
        (status = 409, body = ErrorBody, description = "No current signing key / the key is retired"),
        (status = 422, body = ErrorBody, description = "No file, too many files, or a bad option"),
    ))]
#[tracing::instrument(skip_all)]
pub(super) async fn sign_batch(
    State(state): State<AppState>,
    caller: Caller,
    multipart: Result<Multipart, MultipartRejection>,
) -> Result<Response, ApiError> {
    caller.require(Scope::Sign)?;
    let max = state.config.sign.max_batch_files;
    let (options, uploads) = read_form(&state, multipart, max).await?;
    if uploads.is_empty() {
        return Err(ApiError::Unprocessable("Field required: file".into()));
    }
    let key = signing_key(&state, &caller, options.signing_key_id.as_deref()).await?;
    let mut results = Vec::with_capacity(uploads.len());
    for upload in uploads {
        let (file_name, outcome) = match upload {
            Ok(u) => (u.name.clone(), sign_upload(&state, &caller, &options, &key, u).await.map(|(s, _)| s)),
            Err((name, e)) => (name, Err(e)),
        };
        results.push(match outcome {
            Ok(signed) => BatchItem { file_name, status: 201, result: Some(signed), error: None },
            Err(e) => {
                let status = e.status().as_u16();
                if status >= 500 {
                    tracing::error!("signing {file_name:?} in a batch: {e:#}");
                }
                BatchItem { file_name, status, result: None, error: Some(e.to_string()) }
            }
        });
    }
    let signed = results.iter().filter(|r| r.result.is_some()).count();
    let failed = results.len() - signed;
    Ok(axum::Json(BatchSigned { results, signed, failed }).into_response())
}

/// A file part that was refused on arrival, with its name.
type Refused = (Option<String>, ApiError);

/// Read the form: the options, and up to `max_files` files streamed to disk. A file refused on arrival (its
/// type, its size) is kept as its error; a request that cannot be read further is the error.
async fn read_form(
    state: &AppState,
    multipart: Result<Multipart, MultipartRejection>,
    max_files: usize,
) -> Result<(Options, Vec<Result<Upload, Refused>>), ApiError> {
    let mut multipart =
        multipart.map_err(|e| ApiError::BadRequest(format!("Malformed multipart body: {}", e.body_text())))?;
    let mut options = Options::default();
    let mut uploads = Vec::new();
    while let Some(field) = multipart.next_field().await.map_err(read_error)? {
        match field.name() {
            Some("file") => {
                if uploads.len() == max_files {
                    return Err(if max_files == 1 {
                        ApiError::BadRequest(
                            "More than one file: send one file per request (or use /api/v1/sign-batch)".into(),
                        )
                    } else {
                        ApiError::Unprocessable(format!("At most {max_files} files per batch"))
                    });
                }
                let name = field.file_name().map(clean_name).filter(|n| !n.is_empty());
                uploads.push(receive(state, field).await?.map_err(|e| (name, e)));
            }
            Some(name @ ("signing_key_id" | "origin_type" | "watermark" | "c2pa")) => {
                let name = name.to_owned();
                let value = option_text(field, &name).await?;
                set_option(&mut options, &name, value.trim())?;
            }
            _ => {}
        }
    }
    // A single sign answers a refused file as the request's error.
    if max_files == 1 {
        if let Some(Err((_, _))) = uploads.last() {
            if let Some(Err((_, e))) = uploads.pop() {
                return Err(e);
            }
        }
    }
    Ok((options, uploads))
}

fn clean_name(name: &str) -> String {
    name.chars().filter(|c| !c.is_control()).take(255).collect()
}

/// Everything after receiving: process, store the files, then the record (the files go again if it cannot
/// be written).
async fn sign_upload(
    state: &AppState,
    caller: &Caller,
    options: &Options,
    key: &SigningKey,
    upload: Upload,
) -> Result<(Signed, Timings), ApiError> {
    let mut timings = Timings::default();
    let now = Timestamp(state.now());
    let signer = match (&caller.user, caller.api_key) {
        (Some(u), _) => u.user_id.to_string(),
        (None, Some(k)) => format!("api-key:{k}"),
        (None, None) => return Err(ApiError::Internal(anyhow::anyhow!("a caller without a principal"))),
    };
    let watermark = options.watermark.unwrap_or(true);

    // Decode, hash, sign and mark, off the async workers, a bounded number at a time.
    let slot = state.sign_slots.acquire().await.map_err(anyhow::Error::from)?;
    let work_state = state.clone();
    let sha256 = upload.sha256.clone();
    let path = upload.file.path().to_owned();
    let key_for_work = key.clone();
    let processed = tokio::task::spawn_blocking(move || {
        process(&work_state, &path, &sha256, &key_for_work, &signer, now, watermark)
    })
    .await
    .map_err(|e| ApiError::Internal(e.into()))??;
    drop(slot);
    for (stage, d) in &processed.timings {
        timings.add(stage, *d);
    }

    // Store the files, then the record; if the record cannot be written, the files go again.
    let record_id = RecordId::random();
    let ext = processed.format.extension();
    let original_key = format!("records/{record_id}/original.{ext}");
    let marked = processed.marked;
    let t = Instant::now();
    state.objects.put(&original_key, processed.bytes).await?;
    let marked_key = match &marked {
        Some(m) => {
            let k = format!("records/{record_id}/watermarked.{}", m.encoding.format().extension());
            if let Err(e) = state.objects.put(&k, m.bytes.clone()).await {
                let _ = state.objects.delete(&original_key).await;
                return Err(e.into());
            }
            Some(k)
        }
        None => None,
    };
    timings.add("store", t.elapsed());
    let record = ContentRecord {
        record_id,
        org_id: caller.org,
        signing_key_id: processed.key.key_id,
        signer: processed.signer,
        origin_type: options.origin_type,
        sha256: upload.sha256.clone(),
        watermarked_sha256: marked.as_ref().map(|m| hex::encode(Sha256::digest(&m.bytes))),
        phash: processed.phash,
        fingerprint: processed.fingerprint,
        signature: processed.signature,
        watermark_payload: marked.as_ref().map(|_| processed.payload.clone()),
        file_name: upload.name.clone(),
        media_type: media_type(processed.format).into(),
        file_size: i64::try_from(upload.size).unwrap_or(i64::MAX),
        width: Some(processed.width as i64),
        height: Some(processed.height as i64),
        original_object: Some(original_key.clone()),
        watermarked_object: marked_key.clone(),
        source: RecordSource::Signed,
        created_at: now,
        deleted_at: None,
    };
    // The `content.signed` event's deliveries are enqueued with the record: both or neither.
    let data = super::records::record_json(&record);
    let jobs = crate::webhooks::jobs_for(
        state.store.as_ref(),
        &state.config.webhooks,
        record.org_id,
        proofmark_store::EventType::ContentSigned,
        &data,
        now,
    )
    .await;
    let jobs = match jobs {
        Ok(jobs) => jobs,
        Err(e) => {
            let _ = state.objects.delete(&original_key).await;
            if let Some(k) = &marked_key {
                let _ = state.objects.delete(k).await;
            }
            return Err(e.into());
        }
    };
    let t = Instant::now();
    if let Err(e) = state.store.create_record(&record, &jobs).await {
        let _ = state.objects.delete(&original_key).await;
        if let Some(k) = &marked_key {
            let _ = state.objects.delete(k).await;
        }
        return Err(e.into());
    }
    timings.add("db", t.elapsed());
    state.log.record_added(state.config.log.batch_max);
    tracing::info!(record = %record.record_id, org = %record.org_id, "signed");
    let org = state.store.publisher(&record.org_id).await?.map(|p| p.name).unwrap_or_default();
    let certificate = super::records::certificate(&record, &processed.key, org);
    let watermarked_file = marked_key
        .as_ref()
        .map(|_| format!("{}/api/v1/content-records/{record_id}/file?variant=watermarked", state.issuer));
    let body = Signed {
        record_id,
        sha256: record.sha256.clone(),
        watermarked_sha256: record.watermarked_sha256.clone(),
        phash: format!("{:016x}", record.phash),
        signature: record.signature.clone(),
        signing_key_id: record.signing_key_id,
        certificate,
        watermarked_file,
    };
    Ok((body, timings))
}

/// Stream the file part to a private temporary file, hashing it, and stop at the size limit.
/// The outer error ends the request (the body cannot be read); the inner one refuses this file only.
async fn receive(state: &AppState, mut field: Field<'_>) -> Result<Result<Upload, ApiError>, ApiError> {
    let name = field.file_name().map(clean_name);
    let dir = state.config.data_dir.join("uploads");
    crate::create_private_dir(&dir)?;
    let mut file = tempfile::NamedTempFile::new_in(&dir).map_err(anyhow::Error::from)?;
    let mut hasher = Sha256::new();
    let mut size: u64 = 0;
    let limit = state.config.sign.max_image_bytes;
    // The type is known from the first bytes: a video or another type is refused before the rest arrives.
    let mut head = Vec::with_capacity(16);
    while let Some(chunk) = field.chunk().await.map_err(read_error)? {
        if head.len() < 16 {
            let take = (16 - head.len()).min(chunk.len());
            head.extend_from_slice(&chunk[..take]);
            if head.len() == 16 {
                if let Err(e) = sniff(&head) {
                    return Ok(Err(e));
                }
            }
        }
        size += chunk.len() as u64;
        if size > limit {
            return Ok(Err(ApiError::TooLarge(format!("The file is larger than the {limit}-byte limit for images"))));
        }
        hasher.update(&chunk);
        // Small synchronous writes to a local file: the page cache takes them without blocking for long.
        file.write_all(&chunk).map_err(anyhow::Error::from)?;
    }
    if size == 0 {
        return Ok(Err(ApiError::Unprocessable("The file is empty".into())));
    }
    if head.len() < 16 {
        if let Err(e) = sniff(&head) {
            return Ok(Err(e));
        }
    }
    Ok(Ok(Upload { file, sha256: hex::encode(hasher.finalize()), size, name: name.filter(|n| !n.is_empty()) }))
}

async fn option_text(mut field: Field<'_>, name: &str) -> Result<String, ApiError> {
    let mut bytes = Vec::new();
    while let Some(chunk) = field.chunk().await.map_err(read_error)? {
        if bytes.len() + chunk.len() > MAX_OPTION_BYTES {
            return Err(ApiError::Unprocessable(format!("{name} is longer than {MAX_OPTION_BYTES} bytes")));
        }
        bytes.extend_from_slice(&chunk);
    }
    String::from_utf8(bytes).map_err(|_| ApiError::Unprocessable(format!("{name} is not UTF-8 text")))
}

fn boolean(name: &str, value: &str) -> Result<bool, ApiError> {
    match value.to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "on" => Ok(true),
        "false" | "0" | "no" | "off" | "" => Ok(false),
        _ => Err(ApiError::Unprocessable(format!("{name} must be true or false, not {value:?}"))),
    }
}

fn set_option(options: &mut Options, name: &str, value: &str) -> Result<(), ApiError> {
    match name {
        "signing_key_id" if !value.is_empty() => options.signing_key_id = Some(value.to_owned()),
        "origin_type" if !value.is_empty() => {
            options.origin_type =
                Some(OriginType::parse(value).ok_or_else(|| ApiError::Unprocessable(OriginType::unknown(value)))?)
        }
        "watermark" => options.watermark = Some(boolean(name, value)?),
        "c2pa" if boolean(name, value)? => {
            return Err(ApiError::Unprocessable(
                "c2pa: Content Credentials are not produced yet; send c2pa=false or leave it out".into(),
            ))
        }
        _ => {}
    }
    Ok(())
}

/// The key named (it must be the caller's organisation's and current), or the organisation's newest
/// current key.
async fn signing_key(state: &AppState, caller: &Caller, id: Option<&str>) -> Result<SigningKey, ApiError> {
    let not_found = || ApiError::NotFound("Signing key not found".into());
    match id {
        Some(text) => {
            let id: SigningKeyId = text.parse().map_err(|_| not_found())?;
            let key = state.store.signing_key(&id).await?.filter(|k| k.org_id == caller.org).ok_or_else(not_found)?;
            if key.retired_at.is_some() {
                return Err(ApiError::Conflict(
                    "Signing key is retired: it verifies old records but signs nothing new".into(),
                ));
            }
            if key.custody != proofmark_store::KeyCustody::Server {
                return Err(ApiError::Conflict(
                    "Signing key is held by the client: sign the hashes yourself and use POST /api/v1/register".into(),
                ));
            }
            Ok(key)
        }
        None => state
            .store
            .signing_keys(&caller.org)
            .await?
            .into_iter()
            .rev()
            .find(|k| k.retired_at.is_none() && k.custody == proofmark_store::KeyCustody::Server)
            .ok_or_else(|| {
                ApiError::Conflict(
                    "The organisation has no current signing key: create one with POST /api/v1/keys/signing-keys"
                        .into(),
                )
            }),
    }
}

/// What the blocking stage produced.
struct Processed {
    bytes: Vec<u8>,
    format: Format,
    width: usize,
    height: usize,
    phash: u64,
    fingerprint: String,
    signature: String,
    payload: String,
    signer: String,
    key: SigningKey,
    marked: Option<proofmark_media::MarkedFile>,
    timings: Vec<(&'static str, Duration)>,
}

fn media_type(format: Format) -> &'static str {
    match format {
        Format::Jpeg => "image/jpeg",
        Format::Png => "image/png",
        Format::WebP => "image/webp",
        Format::Gif => "image/gif",
    }
}

/// The type from the first bytes: JPEG, PNG, WebP; videos and everything else are 415.
fn sniff(head: &[u8]) -> Result<Format, ApiError> {
    match Format::sniff(head) {
        Some(f @ (Format::Jpeg | Format::Png | Format::WebP)) => Ok(f),
        _ if is_video(head) => {
            Err(ApiError::UnsupportedMediaType("Videos cannot be signed yet: send a JPEG, PNG or WebP image".into()))
        }
        Some(Format::Gif) => {
            Err(ApiError::UnsupportedMediaType("GIF images cannot be signed: send a JPEG, PNG or WebP image".into()))
        }
        None => Err(ApiError::UnsupportedMediaType(
            "Unsupported file type: only JPEG, PNG and WebP images can be signed (the type is read from the bytes)"
                .into(),
        )),
    }
}

/// MP4/MOV (`ftyp` box) or Matroska/WebM (EBML magic).
fn is_video(head: &[u8]) -> bool {
    (head.len() >= 12 && &head[4..8] == b"ftyp") || head.starts_with(&[0x1a, 0x45, 0xdf, 0xa3])
}

fn decode_failure(e: DecodeError) -> ApiError {
    match e {
        DecodeError::TooLarge { .. } => ApiError::TooLarge(format!("{e}")),
        other => ApiError::Unprocessable(format!("The file is not a readable image: {other}")),
    }
}

fn process(
    state: &AppState,
    path: &std::path::Path,
    sha256: &str,
    key: &SigningKey,
    signer: &str,
    now: Timestamp,
    watermark: bool,
) -> Result<Processed, ApiError> {
    let mut timings = Vec::new();
    let bytes = std::fs::read(path).map_err(anyhow::Error::from)?;
    let format = sniff(&bytes)?;
    let t = Instant::now();
    let (image, _) = decode_image(&bytes).map_err(decode_failure)?;
    timings.push(("decode", t.elapsed()));
    let t = Instant::now();
    let phash = proofmark_media::mark::phash_decoded(&bytes, &image).map_err(decode_failure)?;
    timings.push(("phash", t.elapsed()));
    let t = Instant::now();
    let fingerprint = format!("{sha256}|{phash}|{now}|{signer}");
    let signature = crate::accounts::sign(state.keys.kek(), key, fingerprint.as_bytes())?;
    let signature_hex = hex::encode(signature.to_bytes());
    let digest = Sha256::digest(signature.to_bytes());
    let mut payload = [0u8; 16];
    payload.copy_from_slice(&digest[..16]);
    timings.push(("sign", t.elapsed()));
    let marked = if watermark {
        let options = MarkOptions { jpeg_quality: state.config.sign.jpeg_quality, output: None };
        let m = proofmark_media::mark_image(&image, &bytes, format, &state.watermark_key, &payload, options).map_err(
            |e| match e {
                MarkError::Decode(d) => decode_failure(d),
                other => ApiError::Unprocessable(format!(
                    "The image cannot carry the watermark: {other}; sign it with watermark=false"
                )),
            },
        )?;
        timings.push(("watermark", m.timings.embed));
        timings.push(("encode", m.timings.encode));
        timings.push(("verify", m.timings.verify));
        Some(m)
    } else {
        None
    };
    Ok(Processed {
        width: image.width,
        height: image.height,
        bytes,
        format,
        phash: phash.0,
        fingerprint,
        signature: signature_hex,
        payload: hex::encode(payload),
        signer: signer.to_owned(),
        key: key.clone(),
        marked,
        timings,
    })
}
