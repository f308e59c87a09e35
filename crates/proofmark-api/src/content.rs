//! Signing and content records (SPEC §2.2, under `/api/v1`): the sign response, the record, the certificate
//! a third party checks the signature with, and the record listing.
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::{OrgId, OriginType, RecordId, RecordSource, SigningAlgorithm, SigningKeyId, Timestamp};

/// The `multipart/form-data` body of `POST /api/v1/sign`.
#[derive(Debug, ToSchema)]
#[allow(dead_code)]
pub struct SignForm {
    /// The image (JPEG, PNG or WebP; the type is read from the bytes).
    #[schema(value_type = String, format = Binary)]
    pub file: Vec<u8>,
    /// Which of the organisation's signing keys to use; default: its newest current key.
    #[schema(value_type = Option<String>, format = Uuid)]
    pub signing_key_id: Option<String>,
    /// The declared origin (`CAMERA`, `EDIT`, `AI_FULL`, `AI_EDIT`, `COMPOSITE`, `SCAN`, `SCREEN`).
    pub origin_type: Option<OriginType>,
    /// `true` (default) or `false`: embed the invisible watermark.
    pub watermark: Option<bool>,
    /// Reserved for C2PA manifests; only `false` is accepted today.
    pub c2pa: Option<bool>,
}

/// The organisation and key that signed a record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct CertificateSigner {
    pub organization_id: OrgId,
    pub organization_name: String,
    pub signing_key_id: SigningKeyId,
    pub algorithm: SigningAlgorithm,
    /// Lower-case hex of the Ed25519 public key.
    pub public_key: String,
    /// Set when the key was retired after signing (its signatures stay valid).
    pub key_retired_at: Option<Timestamp>,
}

/// What a third party needs to check a record's signature alone: Ed25519 over the UTF-8 bytes of
/// `fingerprint`, with `signer.public_key`; the fingerprint is `{sha256}|{phash}|{signed_at}|{signer_id}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Certificate {
    pub record_id: RecordId,
    /// The exact string that was signed.
    pub fingerprint: String,
    /// Ed25519 signature, lower-case hex (64 bytes).
    pub signature: String,
    pub signer: CertificateSigner,
    /// SHA-256 of the original, lower-case hex.
    pub sha256: String,
    /// SHA-256 of the watermarked file, when one was made.
    pub watermarked_sha256: Option<String>,
    /// 64-bit perceptual hash (imagehash `phash`), 16 hex digits.
    pub phash: String,
    /// `SHA256(signature)[:16]`, the watermark's payload, when the file was watermarked.
    pub watermark_payload: Option<String>,
    pub origin_type: Option<OriginType>,
    pub signed_at: Timestamp,
    /// Set when the organisation deleted the record: it stays provable, and says so.
    pub deleted_at: Option<Timestamp>,
    /// The record's transparency-log receipt against the newest checkpoint (docs/transparency-log.md,
    /// "Receipts"); `null` until the record's batch is appended (within `log.batch_interval_ms`).
    #[schema(value_type = Option<Object>)]
    pub receipt: Option<proofmark_core::tlog::Receipt>,
}

/// The answer to `POST /api/v1/sign` (201).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Signed {
    pub record_id: RecordId,
    pub sha256: String,
    pub watermarked_sha256: Option<String>,
    pub phash: String,
    pub signature: String,
    pub signing_key_id: SigningKeyId,
    pub certificate: Certificate,
    /// Where the watermarked file can be downloaded (with the same credentials); none without a watermark.
    pub watermarked_file: Option<String>,
}

/// A content record, as the organisation sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ContentRecord {
    pub id: RecordId,
    pub organization_id: OrgId,
    pub signing_key_id: SigningKeyId,
    pub source: RecordSource,
    pub origin_type: Option<OriginType>,
    pub sha256: String,
    pub watermarked_sha256: Option<String>,
    pub phash: String,
    pub signature: String,
    pub fingerprint: String,
    pub watermark_payload: Option<String>,
    pub file_name: Option<String>,
    pub media_type: String,
    pub file_size: i64,
    pub width: Option<i64>,
    pub height: Option<i64>,
    pub created_at: Timestamp,
    pub deleted_at: Option<Timestamp>,
    /// The transparency-log receipt (as in [`Certificate::receipt`]); `null` while the record waits for its
    /// batch.
    #[schema(value_type = Option<Object>)]
    pub receipt: Option<proofmark_core::tlog::Receipt>,
}

/// A page of records, newest first; pass `next_cursor` as `cursor` for the next page.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct RecordPage {
    pub items: Vec<ContentRecord>,
    pub next_cursor: Option<String>,
}

/// `GET /api/v1/origin-types`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct OriginTypeInfo {
    pub code: OriginType,
    pub description: String,
}

/// One hit of `GET /api/v1/content-records/public/search`. A pHash match says only that the picture looks
/// like the record's: it never authenticates a file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct SearchHit {
    /// `sha256` (the original), `watermarked_sha256` or `phash`.
    #[serde(rename = "match")]
    pub match_type: String,
    /// Hamming distance of the pHashes (pHash matches only).
    pub distance: Option<u32>,
    pub certificate: Certificate,
}

/// One file's outcome in `POST /api/v1/sign-batch`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct BatchItem {
    pub file_name: Option<String>,
    /// The status a single sign would have answered: 201, or the error's.
    pub status: u16,
    pub result: Option<Signed>,
    /// The error's `detail`.
    pub error: Option<String>,
}

/// The answer to `POST /api/v1/sign-batch`: one item per file, in order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct BatchSigned {
    pub results: Vec<BatchItem>,
    pub signed: usize,
    pub failed: usize,
}

/// `GET /api/v1/dashboard/stats`: the organisation at a glance.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct DashboardStats {
    /// Live records.
    pub total_records: i64,
    /// Live records signed in the last 30 days.
    pub records_last_30_days: i64,
    pub watermarked_records: i64,
    pub deleted_records: i64,
    /// Live records per declared origin code (`"undeclared"` for none).
    pub by_origin_type: std::collections::BTreeMap<String, i64>,
    pub active_signing_keys: usize,
    pub retired_signing_keys: usize,
    pub active_api_keys: usize,
    pub last_signed_at: Option<Timestamp>,
}

/// `POST /api/v1/register`: hashes signed by the client with a client-held key the organisation registered.
/// The signed message is the fingerprint `{sha256_hash}|{perceptual_hash}|{signed_at}|{signer}`, where
/// `signer` is `device_id` when given, else `client:{signing_key_id}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct RegisterContent {
    /// SHA-256 of the file, 64 hex digits.
    pub sha256_hash: String,
    /// The imagehash pHash, 16 hex digits.
    pub perceptual_hash: String,
    /// Ed25519 signature of the fingerprint, 128 hex digits.
    pub signature_hex: String,
    #[schema(value_type = String, format = Uuid)]
    pub signing_key_id: SigningKeyId,
    /// When the client signed (`YYYY-MM-DDTHH:MM:SSZ`), within a day of the server's clock.
    pub signed_at: Timestamp,
    /// `SHA256(signature)[:16]` in hex, if the client embedded a watermark with it; checked.
    #[serde(default)]
    pub watermark_payload_hex: Option<String>,
    #[serde(default)]
    pub origin_type_code: Option<OriginType>,
    #[serde(default)]
    pub device_id: Option<String>,
    #[serde(default)]
    pub file_name: Option<String>,
    #[serde(default)]
    pub file_size: Option<i64>,
    #[serde(default)]
    pub content_type: Option<String>,
}

/// The `multipart/form-data` body of `POST /api/v1/verify`.
#[derive(Debug, ToSchema)]
#[allow(dead_code)]
pub struct VerifyForm {
    /// The file to verify (any type; images are also decoded, the type read from the bytes).
    #[schema(value_type = String, format = Binary)]
    pub file: Vec<u8>,
    /// A capture sidecar (SignedShot v1.0 JSON) that travels with the file, verified against this server's
    /// capture keys.
    #[schema(value_type = Option<String>, format = Binary)]
    pub sidecar: Option<Vec<u8>>,
    /// A log receipt the caller holds for the file's record (JSON, as `GET …/receipt` serves it): checked
    /// instead of the server's own for that record.
    #[schema(value_type = Option<String>, format = Binary)]
    pub receipt: Option<Vec<u8>>,
}

/// One check in the reference's shape (SPEC §2.3).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ReferenceCheck {
    pub passed: bool,
    /// Bits off: of 128 (watermark) or of 64 (pHash).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub distance: Option<u32>,
    /// `original` or `watermarked` (sha256).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub match_type: Option<String>,
    /// `0x` and the anchored tree's root (blockchain).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub batch_root: Option<String>,
    /// Why it did not pass (`no_watermark`, `no_signature_data`, `not_anchored`, …).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// The reference's five checks.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ReferenceChecks {
    pub watermark: ReferenceCheck,
    pub sha256: ReferenceCheck,
    pub phash: ReferenceCheck,
    pub blockchain: ReferenceCheck,
    pub signature: ReferenceCheck,
}

/// Where the matched record says the file comes from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Origin {
    /// The declared origin code, when the record has one.
    pub code: Option<OriginType>,
    pub description: Option<String>,
    pub organization_id: OrgId,
    pub organization_name: String,
    pub signed_at: Timestamp,
}

/// What the server read of the file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct MediaInfo {
    pub size: u64,
    pub sha256: String,
    /// From the bytes (`image/jpeg`, `image/png`, `image/webp`, `image/gif`, `video/mp4`, …); `null` when
    /// unknown. The part's name and content type are ignored.
    pub media_type: Option<String>,
    pub width: Option<usize>,
    pub height: Option<usize>,
    /// 16 hex digits, when the file decoded as an image.
    pub phash: Option<String>,
    /// Why an image did not decode (truncated, corrupt): the exact-bytes checks still ran.
    pub decode_error: Option<String>,
    /// The watermark payload read (32 hex digits): when its CRC passed, or when a guess that failed it matched
    /// a record within 6 bits; and whether the CRC passed.
    pub watermark_payload: Option<String>,
    pub watermark_crc_ok: bool,
}

/// The answer to `POST /api/v1/verify`: the reference's fields (SPEC §2.3) for its clients, then
/// Proofmark's verdict and full report (docs/verification.md, "Content verdicts").
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct VerifyResult {
    /// The file is authenticated: `authentic` (the reference's clients read either).
    pub verified: bool,
    /// Reference scoring: checks passed / checks that could run. Informative only: it never makes a file
    /// authentic.
    pub confidence: f64,
    pub checks: ReferenceChecks,
    /// The matched record.
    pub content_id: Option<RecordId>,
    pub origin_code: Option<OriginType>,
    /// The signing organisation's name.
    pub signer: Option<String>,
    /// Exact bytes or the record's watermark, with a valid signature and log proof. pHash alone never.
    pub authentic: bool,
    pub origin: Option<Origin>,
    /// Proofmark's verdict: `intact_original`, `derived_from_signed_original`, `signed_not_yet_logged`,
    /// `signed_log_unchecked`, `looks_like_record`, `no_record` or `invalid`.
    pub verdict: String,
    /// The verdict as a sentence, with "captured by device D of publisher P" when a capture sidecar verified.
    pub summary: String,
    /// What differs between this file and the signed one, when a record matched: the bytes, the format, the
    /// dimensions, the pixels' perceptual hash, the watermark's bits.
    #[serde(default)]
    pub changes: Vec<String>,
    pub media: MediaInfo,
    /// `proofmark_core::provenance::ContentReport`: each check's code, status, reason and message, how the
    /// record was matched, the record with its receipt, and near-duplicates.
    #[schema(value_type = Object)]
    pub content: serde_json::Value,
    /// The capture sidecar's report (docs/verification.md), when one was sent.
    #[schema(value_type = Option<Object>)]
    pub capture: Option<serde_json::Value>,
}
