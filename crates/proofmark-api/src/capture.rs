//! The capture plane (SPEC §1.4): publishers, devices, capture sessions, trust tokens and `/validate`, in the
//! reference server's shapes so the SignedShot iOS app can point at Proofmark unchanged.
use serde::{Deserialize, Deserializer, Serialize};
use utoipa::ToSchema;

use crate::{AttestationProvider, CaptureId, DeviceId, PublisherId, Timestamp};

/// `POST /publishers`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct PublisherCreate {
    /// 1–255 characters, no control, bidi or invisible characters, unique among look-alikes.
    pub name: String,
    #[serde(default = "yes")]
    #[schema(default = true)]
    pub sandbox: bool,
    #[serde(default = "provider_none")]
    #[schema(default = "none")]
    pub attestation_provider: AttestationProvider,
    #[serde(default)]
    pub attestation_bundle_id: Option<String>,
    /// Required when `attestation_provider` is `firebase_app_check`.
    #[serde(default)]
    pub firebase_project_id: Option<String>,
}

fn yes() -> bool {
    true
}

fn provider_none() -> AttestationProvider {
    AttestationProvider::None
}

/// `PATCH /publishers/{publisher_id}`: an absent field is unchanged; `null` clears an optional one.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct PublisherPatch {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sandbox: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attestation_provider: Option<AttestationProvider>,
    #[serde(default, deserialize_with = "nullable", skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    pub attestation_bundle_id: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable", skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    pub firebase_project_id: Option<Option<String>>,
}

/// A present field (`null` included) is `Some`; an absent one stays `None` through `#[serde(default)]`.
fn nullable<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Option<String>>, D::Error> {
    Option::<String>::deserialize(d).map(Some)
}

/// A publisher, as every publisher route answers it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Publisher {
    pub publisher_id: PublisherId,
    pub name: String,
    pub sandbox: bool,
    pub attestation_provider: AttestationProvider,
    pub attestation_bundle_id: Option<String>,
    pub firebase_project_id: Option<String>,
    pub created_at: Timestamp,
}

/// `POST /devices` (with the `X-Publisher-ID` header, and `X-Attestation-Token` for attested publishers).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct DeviceCreate {
    /// The device's name at its publisher, 1–255 characters, unique per publisher.
    pub external_id: String,
    /// Standard base64 of the 65-byte uncompressed P-256 point.
    pub public_key: String,
}

/// The answer to `POST /devices`; `device_token` is shown this once (the server keeps its hash).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[schema(as = Device)]
pub struct DeviceRegistered {
    pub device_id: DeviceId,
    pub publisher_id: PublisherId,
    pub external_id: String,
    pub device_token: String,
    pub created_at: Timestamp,
}

/// The answer to `POST /capture/session`: the nonce is single-use and expires at `expires_at`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Session {
    pub capture_id: CaptureId,
    pub nonce: String,
    pub expires_at: Timestamp,
}

/// `POST /capture/trust`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct TrustRequest {
    pub nonce: String,
}

/// The answer to `POST /capture/trust`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct TrustToken {
    /// ES256 JWT (SPEC §1.2).
    pub trust_token: String,
}

/// The `multipart/form-data` body of `POST /validate`.
#[derive(Debug, ToSchema)]
#[allow(dead_code)]
pub struct ValidateForm {
    /// The media file's bytes.
    #[schema(value_type = String, format = Binary)]
    pub media: Vec<u8>,
    /// The sidecar JSON (at most 1 MiB).
    #[schema(value_type = String, format = Binary)]
    pub sidecar: Vec<u8>,
}

/// The answer to `POST /validate`: the reference server's shape, plus Proofmark's full report under `report`
/// (docs/verification.md).
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(as = Validation)]
pub struct Validation {
    pub valid: bool,
    pub version: String,
    pub capture_trust: CaptureTrust,
    pub media_integrity: MediaIntegrity,
    /// The first failed check's message, when invalid.
    pub error: Option<String>,
    #[schema(value_type = Object)]
    pub report: proofmark_core::Report,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct CaptureTrust {
    pub signature_valid: bool,
    pub issuer: Option<String>,
    pub publisher_id: Option<String>,
    pub device_id: Option<String>,
    pub capture_id: String,
    /// `sandbox`, `app_check` or `app_attest`.
    pub method: Option<String>,
    pub app_id: Option<String>,
    /// The token's `iat`, Unix seconds.
    pub issued_at: Option<i64>,
    pub key_id: Option<String>,
    pub device_public_key_fingerprint: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct MediaIntegrity {
    pub content_hash_valid: bool,
    pub signature_valid: bool,
    pub capture_id_match: bool,
    pub fingerprint_match: bool,
    pub content_hash: String,
    pub capture_id: String,
    pub captured_at: String,
}

/// `GET /.well-known/jwks.json`: the issuer's keys, current and retired (RFC 7517).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Jwks {
    #[schema(value_type = Vec<Object>)]
    pub keys: Vec<serde_json::Value>,
}
