//! `POST /api/v1/verify` (SPEC §2.3): everything that travels with a file, judged in one report. The file is
//! read once (SHA-256 as it streams in) and decoded once (pHash and watermark from the same pixels); the
//! lookups use the server's indexes (exact SHA-256 in the store, the watermark payload exactly or within 6 of
//! 128 bits by pigeonhole, the pHash within 10 through the exact-recall index); the candidates' signatures,
//! receipts and anchors are judged by `proofmark_core::provenance`, a capture sidecar by the core pipeline.
//! The answer has the reference's fields for its clients, then Proofmark's verdict and report.
use std::io::Write;
use std::time::{Duration, Instant};

use axum::extract::multipart::{Field, MultipartRejection};
use axum::extract::{DefaultBodyLimit, Multipart, State};
use axum::http::HeaderValue;
use axum::middleware;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use proofmark_api::content::{MediaInfo, Origin, ReferenceCheck, ReferenceChecks, VerifyForm, VerifyResult};
use proofmark_api::ErrorBody;
use proofmark_core::provenance::{
    ContentReport, ContentVerdict, MatchedBy, Observation, SignedRecord, WatermarkRead, MAX_PHASH_DISTANCE,
    MAX_WATERMARK_BITS_OFF,
};
use proofmark_core::sidecar::MAX_SIDECAR_BYTES;
use proofmark_core::tlog::{Anchor, Receipt, RecordLeaf};
use proofmark_core::{CheckCode, ContentHash, KeyRing, KeySource, Need, Policy, Report, Status, Verdict, Verification};
use proofmark_media::image::{decode_image, Format};
use proofmark_store::{EventType, RecordId, Timestamp};
use serde::Serialize;

use super::announced_length;
use super::extract::IpBudget;
use super::sign::read_error;
use crate::error::ApiError;
use crate::AppState;

/// Multipart framing, the sidecar and the receipt, on top of the file.
const FORM_OVERHEAD: u64 = 2 * 1024 * 1024;
/// The largest receipt read (a receipt of a billion-leaf log with an anchor is about 5 KB).
const MAX_RECEIPT_BYTES: usize = 256 * 1024;
/// `content.verified` is raised at most once per record and verdict in this window (per server process).
const VERIFIED_EVENT_WINDOW: Duration = Duration::from_secs(60);
/// Remembered (record, verdict) pairs before the expired ones are dropped.
const VERIFIED_EVENT_MEMORY: usize = 10_000;

/// Records compared per lookup: the nearest pHash matches (the others are listed as similar, never matched).
const MAX_PHASH_CANDIDATES: usize = 8;

pub(super) fn router(max_file: u64) -> Router<AppState> {
    let limit = usize::try_from(max_file.saturating_add(FORM_OVERHEAD)).unwrap_or(usize::MAX);
    Router::new().route(
        "/api/v1/verify",
        post(verify)
            .layer(DefaultBodyLimit::max(limit))
            .layer(middleware::from_fn(move |req, next| announced_length(limit, req, next))),
    )
}

/// The form as received: the file on disk (hashed as it arrived), the small parts in memory.
struct Form {
    file: tempfile::NamedTempFile,
    size: u64,
    sha256: ContentHash,
    sidecar: Option<Vec<u8>>,
    receipt: Option<Receipt>,
}

/// Verify a file: every check that applies to it, in one report.
#[utoipa::path(post, path = "/api/v1/verify", tag = "content",
    request_body(content = VerifyForm, content_type = "multipart/form-data"),
    responses(
        (status = 200, body = VerifyResult, description = "Judged (whatever the verdict); `Server-Timing` gives each stage's time"),
        (status = 400, body = ErrorBody, description = "Malformed multipart body, or a part sent twice"),
        (status = 408, body = ErrorBody, description = "Body or request timeout"),
        (status = 413, body = ErrorBody, description = "File over sign.max_image_bytes, sidecar over 64 KiB, receipt over 256 KiB"),
        (status = 422, body = ErrorBody, description = "No file, an empty file, or a receipt that is not receipt JSON"),
        (status = 429, body = ErrorBody, description = "Rate limited (Retry-After)"),
    ))]
#[tracing::instrument(skip_all)]
pub(super) async fn verify(
    State(state): State<AppState>,
    _: IpBudget,
    multipart: Result<Multipart, MultipartRejection>,
) -> Result<Response, ApiError> {
    let started = Instant::now();
    let mut timings: Vec<(&'static str, Duration)> = Vec::new();
    let form = read_form(&state, multipart).await?;
    timings.push(("receive", started.elapsed()));

    // Decode once: the pHash and the watermark come from the same pixels.
    let permit = state.sign_slots.acquire().await.map_err(anyhow::Error::from)?;
    let path = form.file.path().to_owned();
    let key = state.watermark_key.clone();
    let measured = tokio::task::spawn_blocking(move || measure(&path, &key))
        .await
        .map_err(anyhow::Error::from)?
        .map_err(|e| ApiError::Internal(e.into()))?;
    drop(permit);
    timings.extend(measured.timings.iter().copied());
    let obs = Observation { sha256: form.sha256, phash: measured.phash, watermark: measured.watermark };

    // The core pipeline: the capture sidecar against this server's capture keys, the observation, the log
    // key; the route answers what it asks for (the record lookup).
    let mut keys = KeyRing::new();
    let published = crate::keys::published(state.store.as_ref()).await?;
    keys.add_jwks(&published, KeySource::Issuer { url: state.issuer.clone() });
    let mut verification =
        Verification::new(Policy::permissive().trusting(state.issuer.clone()), Some(state.now())).with_keys(keys);
    if let Some(bytes) = &form.sidecar {
        verification.add_sidecar(bytes);
    }
    verification.observe(obs);
    let mut candidates = Vec::new();
    for need in verification.needs() {
        match need {
            Need::LogKey => verification.supply_log_key(state.log.signer.verifier().clone()),
            Need::RecordLookup { sha256, phash, watermark } => {
                let t = Instant::now();
                let ids = lookup(&state, sha256, phash, watermark, form.receipt.as_ref()).await?;
                timings.push(("lookup", t.elapsed()));
                let t = Instant::now();
                candidates = records(&state, &ids, form.receipt.as_ref()).await?;
                verification.supply_records(candidates.iter().map(|(_, r)| r.clone()).collect());
                timings.push(("records", t.elapsed()));
            }
            // The digest came with the observation; this server fetches no one's keys.
            Need::MediaDigest | Need::IssuerKeys { .. } => {}
        }
    }
    let t = Instant::now();
    let finished = verification.finish_all();
    timings.push(("judge", t.elapsed()));
    let content = finished.content.ok_or_else(|| anyhow::anyhow!("the pipeline judged no content"))?;
    let capture = finished.capture;

    let matched = content
        .record
        .as_ref()
        .and_then(|r| candidates.iter().find(|(_, c)| c.record_id == r.record_id).map(|(stored, _)| stored));
    let result = result(&content, capture.as_ref(), matched, &form, &measured)?;
    notify(&state, &content).await?;
    timings.push(("total", started.elapsed()));
    tracing::info!(verdict = result.verdict, record = ?result.content_id, "verified");
    let mut response = axum::Json(&result).into_response();
    let header: Vec<String> = timings.iter().map(|(s, d)| format!("{s};dur={:.1}", d.as_secs_f64() * 1000.0)).collect();
    if let Ok(v) = HeaderValue::from_str(&header.join(", ")) {
        response.headers_mut().insert("server-timing", v);
    }
    Ok(response)
}

async fn read_form(state: &AppState, multipart: Result<Multipart, MultipartRejection>) -> Result<Form, ApiError> {
    let mut multipart =
        multipart.map_err(|e| ApiError::BadRequest(format!("Malformed multipart body: {}", e.body_text())))?;
    let mut file = None;
    let mut sidecar = None;
    let mut receipt = None;
    while let Some(field) = multipart.next_field().await.map_err(read_error)? {
        match field.name() {
            Some("file") => {
                if file.is_some() {
                    return Err(ApiError::BadRequest("More than one file: send one file per request".into()));
                }
                file = Some(receive(state, field).await?);
            }
            Some("sidecar") => {
                if sidecar.is_some() {
                    return Err(ApiError::BadRequest("More than one sidecar part".into()));
                }
                sidecar = Some(small_part(field, "sidecar", MAX_SIDECAR_BYTES).await?);
            }
            Some("receipt") => {
                if receipt.is_some() {
                    return Err(ApiError::BadRequest("More than one receipt part".into()));
                }
                let bytes = small_part(field, "receipt", MAX_RECEIPT_BYTES).await?;
                receipt = Some(
                    Receipt::parse(&bytes)
                        .map_err(|e| ApiError::Unprocessable(format!("receipt: {e} ({})", e.code())))?,
                );
            }
            _ => {}
        }
    }
    let (file, size, sha256) = file.ok_or_else(|| ApiError::Unprocessable("Field required: file".into()))?;
    Ok(Form { file, size, sha256, sidecar, receipt })
}

/// Stream the file to a private temporary file, hashing it, and stop at the size limit.
async fn receive(
    state: &AppState,
    mut field: Field<'_>,
) -> Result<(tempfile::NamedTempFile, u64, ContentHash), ApiError> {
    let dir = state.config.data_dir.join("uploads");
    crate::create_private_dir(&dir)?;
    let mut file = tempfile::NamedTempFile::new_in(&dir).map_err(anyhow::Error::from)?;
    let mut hasher = proofmark_core::ContentHasher::new();
    let mut size: u64 = 0;
    let limit = state.config.sign.max_image_bytes;
    while let Some(chunk) = field.chunk().await.map_err(read_error)? {
        size += chunk.len() as u64;
        if size > limit {
            return Err(ApiError::TooLarge(format!("The file is larger than the {limit}-byte limit")));
        }
        hasher.update(&chunk);
        file.write_all(&chunk).map_err(anyhow::Error::from)?;
    }
    if size == 0 {
        return Err(ApiError::Unprocessable("The file is empty".into()));
    }
    Ok((file, size, hasher.finish()))
}

async fn small_part(mut field: Field<'_>, name: &str, max: usize) -> Result<Vec<u8>, ApiError> {
    let mut bytes = Vec::new();
    while let Some(chunk) = field.chunk().await.map_err(read_error)? {
        if bytes.len() + chunk.len() > max {
            return Err(ApiError::TooLarge(format!("The {name} is larger than {max} bytes")));
        }
        bytes.extend_from_slice(&chunk);
    }
    Ok(bytes)
}

/// The ids of the records that match: exact SHA-256, the watermark payload (exact when its CRC passed, else
/// within 6 bits), the nearest pHashes, and the record a held receipt names.
async fn lookup(
    state: &AppState,
    sha256: ContentHash,
    phash: Option<u64>,
    watermark: Option<WatermarkRead>,
    held: Option<&Receipt>,
) -> Result<Vec<RecordId>, ApiError> {
    let mut ids: Vec<RecordId> = Vec::new();
    let mut push = |id: RecordId| {
        if !ids.contains(&id) {
            ids.push(id);
        }
    };
    for r in state.store.records_by_sha256(&sha256.to_string()).await? {
        push(r.record_id);
    }
    state.phash_index.refresh_tail(state.store.as_ref()).await?;
    if let Some(w) = watermark {
        for (id, _) in state.phash_index.search_payload(w.payload, w.crc_ok, MAX_WATERMARK_BITS_OFF).await {
            push(id);
        }
    }
    if let Some(p) = phash {
        let near = state.phash_index.search(proofmark_media::PHash(p), MAX_PHASH_DISTANCE).await;
        for (id, _) in near.into_iter().take(MAX_PHASH_CANDIDATES) {
            push(id);
        }
    }
    // A receipt the caller holds names its record: that record is a candidate, judged by that receipt.
    if let Some(r) = held {
        push(held_receipt_record(r)?);
    }
    Ok(ids)
}

/// The live records among `ids`, each with its signing key, organisation and receipt (the caller's receipt
/// for the record it names, else the server's).
async fn records(
    state: &AppState,
    ids: &[RecordId],
    held: Option<&Receipt>,
) -> Result<Vec<(proofmark_store::ContentRecord, SignedRecord)>, ApiError> {
    let held_id = held.map(held_receipt_record).transpose()?;
    let mut out = Vec::with_capacity(ids.len());
    for id in ids {
        let Some(record) = state.store.record(id).await?.filter(|r| r.deleted_at.is_none()) else { continue };
        let Some(key) = state.store.signing_key(&record.signing_key_id).await? else { continue };
        let org = state.store.publisher(&record.org_id).await?.map(|p| p.name).unwrap_or_default();
        let receipt = match (held, held_id) {
            (Some(r), Some(h)) if h == *id => Some(r.clone()),
            _ => crate::transparency::receipt(state, id).await?,
        };
        let signed = signed_record(&record, &key, org, receipt);
        out.push((record, signed));
    }
    Ok(out)
}

/// The record a held receipt's leaf names.
fn held_receipt_record(r: &Receipt) -> Result<RecordId, ApiError> {
    let leaf = RecordLeaf::parse(r.leaf.as_bytes())
        .map_err(|e| ApiError::Unprocessable(format!("receipt: the leaf is not a record leaf: {e}")))?;
    leaf.record_id.parse().map_err(|_| ApiError::Unprocessable("receipt: the leaf's record id is not a UUID".into()))
}

/// What one read and one decode of the file gave.
struct Measured {
    media_type: Option<&'static str>,
    width: Option<usize>,
    height: Option<usize>,
    phash: Option<u64>,
    watermark: Option<WatermarkRead>,
    decode_error: Option<String>,
    timings: Vec<(&'static str, Duration)>,
}

fn measure(path: &std::path::Path, key: &proofmark_media::watermark::WatermarkKey) -> std::io::Result<Measured> {
    let bytes = std::fs::read(path)?;
    let format = Format::sniff(&bytes);
    let mut m = Measured {
        media_type: media_type(&bytes, format),
        width: None,
        height: None,
        phash: None,
        watermark: None,
        decode_error: None,
        timings: Vec::new(),
    };
    if format.is_none() {
        return Ok(m);
    }
    let t = Instant::now();
    let image = match decode_image(&bytes) {
        Ok((image, _)) => image,
        Err(e) => {
            m.decode_error = Some(e.to_string());
            return Ok(m);
        }
    };
    m.timings.push(("decode", t.elapsed()));
    (m.width, m.height) = (Some(image.width), Some(image.height));
    // The pHash on a thread of its own beside the watermark, whose searches leave gaps on the cores.
    let ((phash, phash_time), (detection, watermark_time)) = std::thread::scope(|s| {
        let phash = s.spawn(|| {
            let t = Instant::now();
            (proofmark_media::mark::phash_decoded(&bytes, &image), t.elapsed())
        });
        let t = Instant::now();
        let detection = proofmark_media::watermark::extract(&image, key);
        let watermark = (detection, t.elapsed());
        (phash.join().unwrap_or_else(|p| std::panic::resume_unwind(p)), watermark)
    });
    match phash {
        Ok(p) => m.phash = Some(p.0),
        Err(e) => m.decode_error = Some(e.to_string()),
    }
    m.timings.push(("phash", phash_time));
    m.watermark =
        detection.payload_guess(key).map(|payload| WatermarkRead { payload, crc_ok: detection.payload.is_some() });
    m.timings.push(("watermark", watermark_time));
    Ok(m)
}

/// The type from the bytes (the reference's clients name every upload `image.png`).
fn media_type(bytes: &[u8], format: Option<Format>) -> Option<&'static str> {
    match format {
        Some(Format::Jpeg) => Some("image/jpeg"),
        Some(Format::Png) => Some("image/png"),
        Some(Format::WebP) => Some("image/webp"),
        Some(Format::Gif) => Some("image/gif"),
        None if bytes.len() >= 12 && &bytes[4..8] == b"ftyp" => {
            Some(if &bytes[8..10] == b"qt" { "video/quicktime" } else { "video/mp4" })
        }
        None if bytes.starts_with(&[0x1a, 0x45, 0xdf, 0xa3]) => Some("video/webm"),
        None => None,
    }
}

fn signed_record(
    r: &proofmark_store::ContentRecord,
    key: &proofmark_store::SigningKey,
    organization_name: String,
    receipt: Option<Receipt>,
) -> SignedRecord {
    SignedRecord {
        record_id: r.record_id.to_string(),
        organization_id: r.org_id.to_string(),
        organization_name,
        public_key: key.public_key.clone(),
        fingerprint: r.fingerprint.clone(),
        signature: r.signature.clone(),
        sha256: r.sha256.clone(),
        watermarked_sha256: r.watermarked_sha256.clone(),
        phash: format!("{:016x}", r.phash),
        watermark_payload: r.watermark_payload.clone(),
        origin: r.origin_type.map(|o| o.as_str().to_owned()),
        signed_at: r.created_at.to_string(),
        deleted_at: r.deleted_at.map(|t| t.to_string()),
        receipt,
    }
}

fn result(
    content: &ContentReport,
    capture: Option<&Report>,
    matched: Option<&proofmark_store::ContentRecord>,
    form: &Form,
    m: &Measured,
) -> Result<VerifyResult, ApiError> {
    let status = |code| content.checks.iter().find(|c| c.code == code).map(|c| c.status);
    let passed = |code| status(code) == Some(Status::Pass);
    let record = content.record.as_ref();
    let no_record = |reason: &str| if record.is_none() { Some(reason.to_owned()) } else { None };
    let watermark = ReferenceCheck {
        passed: passed(CheckCode::RecordWatermark),
        distance: match content.matched_by {
            Some(MatchedBy::Watermark { bits_off }) => Some(bits_off),
            _ if passed(CheckCode::RecordWatermark) => Some(0),
            _ => None,
        },
        reason: (!passed(CheckCode::RecordWatermark)).then(|| {
            if m.watermark.is_some_and(|w| w.crc_ok) { "no_matching_record" } else { "no_watermark" }.to_owned()
        }),
        ..ReferenceCheck::default()
    };
    let sha256 = ReferenceCheck {
        passed: passed(CheckCode::RecordSha256),
        match_type: match content.matched_by {
            Some(MatchedBy::Sha256) => Some("original".into()),
            Some(MatchedBy::WatermarkedSha256) => Some("watermarked".into()),
            _ => None,
        },
        reason: (!passed(CheckCode::RecordSha256)).then(|| "no_exact_match".to_owned()),
        ..ReferenceCheck::default()
    };
    let phash = ReferenceCheck {
        passed: passed(CheckCode::RecordPhash),
        distance: match (m.phash, record.and_then(|r| u64::from_str_radix(&r.phash, 16).ok())) {
            (Some(a), Some(b)) => Some((a ^ b).count_ones()),
            _ => None,
        },
        reason: (!passed(CheckCode::RecordPhash))
            .then(|| if m.phash.is_none() { "not_an_image" } else { "no_similar_record" }.to_owned()),
        ..ReferenceCheck::default()
    };
    let anchor = record.and_then(|r| match r.receipt.as_ref().map(|x| &x.anchor) {
        Some(Anchor::Anchored(a)) => Some(format!("0x{}", a.root)),
        _ => None,
    });
    let logged = passed(CheckCode::LogInclusion) && passed(CheckCode::LogAnchor);
    let blockchain = ReferenceCheck {
        passed: logged,
        batch_root: anchor.filter(|_| logged),
        reason: (!logged).then(|| {
            match status(CheckCode::LogInclusion) {
                Some(Status::Pass) => "not_anchored",
                Some(Status::Unavailable) => "not_logged_yet",
                Some(Status::Fail) => "proof_invalid",
                _ => "no_record",
            }
            .to_owned()
        }),
        ..ReferenceCheck::default()
    };
    let signature = ReferenceCheck {
        passed: passed(CheckCode::RecordSignature),
        reason: no_record("no_signature_data")
            .or_else(|| (!passed(CheckCode::RecordSignature)).then(|| "signature_invalid".to_owned())),
        ..ReferenceCheck::default()
    };
    let checks = ReferenceChecks { watermark, sha256, phash, blockchain, signature };
    let attempted = [&checks.watermark, &checks.sha256, &checks.phash, &checks.blockchain, &checks.signature];
    let ran = content.checks.iter().filter(|c| matches!(c.status, Status::Pass | Status::Fail)).count();
    let passed_n = attempted.iter().filter(|c| c.passed).count();
    let confidence = if ran == 0 { 0.0 } else { (passed_n as f64 / ran.max(passed_n) as f64 * 100.0).round() / 100.0 };
    let authentic = content.verdict.authentic();
    let mut summary = content.summary.clone();
    if let Some(c) = capture {
        if matches!(c.verdict, Verdict::Trusted | Verdict::Valid) {
            if let Some(s) = &c.capture {
                summary.push_str(&format!(
                    "; captured by device {} of publisher {} at {} (capture sidecar {})",
                    s.device_id.as_deref().unwrap_or("?"),
                    s.publisher_id.as_deref().unwrap_or("?"),
                    s.captured_at,
                    c.verdict
                ));
            }
        } else {
            summary.push_str(&format!("; the capture sidecar is {}", c.verdict_text()));
        }
    }
    let origin_type = matched.and_then(|m| m.origin_type);
    let origin = matched.zip(record).map(|(m, r)| Origin {
        code: m.origin_type,
        description: m.origin_type.map(|o| o.description().to_owned()),
        organization_id: m.org_id,
        organization_name: r.organization_name.clone(),
        signed_at: m.created_at,
    });
    Ok(VerifyResult {
        verified: authentic,
        confidence,
        checks,
        content_id: matched.map(|m| m.record_id),
        origin_code: origin_type,
        signer: record.map(|r| r.organization_name.clone()),
        authentic,
        origin,
        verdict: content.verdict.as_str().to_owned(),
        summary,
        changes: matched.map(|r| changes(content, r, m)).unwrap_or_default(),
        media: MediaInfo {
            size: form.size,
            sha256: form.sha256.to_string(),
            media_type: m.media_type.map(str::to_owned),
            width: m.width,
            height: m.height,
            phash: m.phash.map(|p| format!("{p:016x}")),
            decode_error: m.decode_error.clone(),
            // A guess that failed its CRC is shown only when it matched a record: otherwise it is noise.
            watermark_payload: m
                .watermark
                .filter(|w| w.crc_ok || passed(CheckCode::RecordWatermark))
                .map(|w| hex::encode(w.payload)),
            watermark_crc_ok: m.watermark.is_some_and(|w| w.crc_ok),
        },
        content: serde_json::to_value(content).map_err(anyhow::Error::from)?,
        capture: capture.map(serde_json::to_value).transpose().map_err(anyhow::Error::from)?,
    })
}

/// What differs between the file and the matched record's file, for people.
fn changes(content: &ContentReport, r: &proofmark_store::ContentRecord, m: &Measured) -> Vec<String> {
    let mut out = Vec::new();
    match content.matched_by {
        Some(MatchedBy::Sha256) => {
            out.push("none: the file is the signed original, byte for byte".into());
            return out;
        }
        Some(MatchedBy::WatermarkedSha256) => {
            out.push("none: the file is the record's watermarked copy, byte for byte".into());
            return out;
        }
        _ => out.push("the bytes differ from the signed file and its watermarked copy (re-encoded or edited)".into()),
    }
    if let Some(now) = m.media_type {
        if now != r.media_type {
            out.push(format!("format: {} → {now}", r.media_type));
        }
    }
    if let (Some(w0), Some(h0), Some(w), Some(h)) = (r.width, r.height, m.width, m.height) {
        let (w0, h0) = (usize::try_from(w0).unwrap_or(0), usize::try_from(h0).unwrap_or(0));
        if (w0, h0) != (w, h) {
            let (sx, sy) = (w as f64 / w0 as f64, h as f64 / h0 as f64);
            let how = if (sx - sy).abs() < 0.02 {
                format!("scaled {sx:.2}×")
            } else {
                format!("cropped or stretched: {sx:.2}× wide, {sy:.2}× high")
            };
            out.push(format!("dimensions: {w0}×{h0} → {w}×{h} ({how})"));
        }
    }
    if let Some(now) = m.phash {
        let d = (now ^ r.phash).count_ones();
        out.push(format!("pixels: perceptual hash {d} of 64 bits from the signed image's"));
    }
    if let Some(MatchedBy::Watermark { bits_off }) = content.matched_by {
        out.push(if bits_off == 0 {
            "watermark: intact (its CRC passed)".into()
        } else {
            format!("watermark: damaged, read {bits_off} of 128 bits off")
        });
    }
    out
}

/// The webhook payload of `content.verified`, sent to the matched record's organisation.
#[derive(Debug, Serialize)]
struct VerifiedEvent<'a> {
    record_id: &'a str,
    verdict: &'static str,
    matched_by: Option<MatchedBy>,
    sha256: String,
}

async fn notify(state: &AppState, content: &ContentReport) -> Result<(), ApiError> {
    let Some(record) = &content.record else { return Ok(()) };
    if content.verdict == ContentVerdict::NoRecord {
        return Ok(());
    }
    let Ok(org) = record.organization_id.parse() else { return Ok(()) };
    let Ok(record_id) = record.record_id.parse::<RecordId>() else { return Ok(()) };
    // Anyone may verify: the same record and verdict raise one event per window, not one per request.
    {
        let mut seen = state.verified_events.lock().map_err(|_| anyhow::anyhow!("event memory poisoned"))?;
        let now = Instant::now();
        if seen.len() >= VERIFIED_EVENT_MEMORY {
            seen.retain(|_, at| now.duration_since(*at) < VERIFIED_EVENT_WINDOW);
        }
        let key = (record_id, content.verdict.as_str());
        if seen.get(&key).is_some_and(|at| now.duration_since(*at) < VERIFIED_EVENT_WINDOW) {
            return Ok(());
        }
        seen.insert(key, now);
    }
    let data = VerifiedEvent {
        record_id: &record.record_id,
        verdict: content.verdict.as_str(),
        matched_by: content.matched_by,
        sha256: content.observation.sha256.to_string(),
    };
    let now = Timestamp(state.now());
    let jobs = crate::webhooks::jobs_for(
        state.store.as_ref(),
        &state.config.webhooks,
        org,
        EventType::ContentVerified,
        &data,
        now,
    )
    .await?;
    if !jobs.is_empty() {
        state.store.enqueue(&jobs).await?;
    }
    Ok(())
}
