//! The v1.0 sidecar (SPEC §1.1): `photo.jpg` travels with `photo.sidecar.json`.
//!
//! Parsing is tolerant of the iOS app's formatting (sorted keys, `"key" : value`, `\/` escapes) and of
//! unknown fields, and strict about everything else: a size cap, UTF-8, the exact version string, and
//! every required field present with the right JSON type.
use crate::codes::Reason;
use serde::{Deserialize, Serialize};

use crate::device::{device_message, DeviceKey};
use crate::hash::ContentHash;

/// Sidecars larger than this are refused before parsing (a real one is about 1.1 KB).
pub const MAX_SIDECAR_BYTES: usize = 64 * 1024;

/// The only sidecar version this verifier understands.
pub const SIDECAR_VERSION: &str = "1.0";

/// A parsed sidecar. Field strings are kept verbatim: the device signature covers them as written.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sidecar {
    pub version: String,
    pub capture_trust: CaptureTrust,
    pub media_integrity: MediaIntegrity,
}

/// Layer 1: the server-signed capture-trust token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CaptureTrust {
    pub jwt: String,
}

/// Layer 2: the device's signature over the content hash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MediaIntegrity {
    pub content_hash: String,
    pub signature: String,
    pub public_key: String,
    pub capture_id: String,
    pub captured_at: String,
}

/// Why a sidecar could not be read. Each variant has a stable code ([`SidecarError::code`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SidecarError {
    #[error("sidecar is {size} bytes; the limit is {max} bytes")]
    TooLarge { size: usize, max: usize },
    #[error("sidecar is not UTF-8 (invalid byte at offset {offset})")]
    NotUtf8 { offset: usize },
    #[error("sidecar JSON ends early at line {line}, column {column}: the file is truncated")]
    Truncated { line: usize, column: usize },
    #[error("sidecar is not valid JSON: {message}")]
    Malformed { message: String },
    #[error("sidecar does not have the v1.0 shape: {message}")]
    Schema { message: String },
    #[error("sidecar version {found:?} is not supported (this verifier reads \"1.0\")")]
    UnsupportedVersion { found: String },
    #[error("capture_trust.jwt is empty")]
    EmptyJwt,
}

impl SidecarError {
    /// Stable snake_case code, used in reports.
    pub fn code(&self) -> Reason {
        match self {
            Self::TooLarge { .. } => Reason::SidecarTooLarge,
            Self::NotUtf8 { .. } => Reason::SidecarNotUtf8,
            Self::Truncated { .. } => Reason::SidecarTruncated,
            Self::Malformed { .. } => Reason::SidecarMalformedJson,
            Self::Schema { .. } => Reason::SidecarSchema,
            Self::UnsupportedVersion { .. } => Reason::SidecarUnsupportedVersion,
            Self::EmptyJwt => Reason::SidecarEmptyJwt,
        }
    }
}

impl Sidecar {
    /// Parse sidecar bytes (see the module docs for what is tolerated).
    pub fn parse(bytes: &[u8]) -> Result<Self, SidecarError> {
        if bytes.len() > MAX_SIDECAR_BYTES {
            return Err(SidecarError::TooLarge { size: bytes.len(), max: MAX_SIDECAR_BYTES });
        }
        let text = core::str::from_utf8(bytes).map_err(|e| SidecarError::NotUtf8 { offset: e.valid_up_to() })?;
        // A UTF-8 byte-order mark is not JSON, but editors add one; skip it rather than refuse.
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        let sidecar: Sidecar = serde_json::from_str(text).map_err(|e| match e.classify() {
            serde_json::error::Category::Eof => SidecarError::Truncated { line: e.line(), column: e.column() },
            serde_json::error::Category::Data => SidecarError::Schema { message: e.to_string() },
            _ => SidecarError::Malformed { message: e.to_string() },
        })?;
        if sidecar.version != SIDECAR_VERSION {
            return Err(SidecarError::UnsupportedVersion { found: sidecar.version });
        }
        if sidecar.capture_trust.jwt.trim().is_empty() {
            return Err(SidecarError::EmptyJwt);
        }
        Ok(sidecar)
    }

    /// Pretty JSON (2-space indent, fields in SPEC order, trailing newline), as Proofmark writes it.
    pub fn to_json_pretty(&self) -> String {
        let mut s = serde_json::to_string_pretty(self).unwrap_or_default();
        s.push('\n');
        s
    }
}

impl Sidecar {
    /// Sign a capture on the device side: hash, device signature over
    /// `"{content_hash}:{capture_id}:{captured_at}"`, and the server's trust token.
    pub fn build(
        media_hash: &ContentHash,
        device: &DeviceKey,
        capture_id: &str,
        captured_at: &str,
        jwt: String,
    ) -> Self {
        let content_hash = media_hash.to_hex();
        let signature = device.sign(device_message(&content_hash, capture_id, captured_at).as_bytes());
        Sidecar {
            version: SIDECAR_VERSION.to_owned(),
            capture_trust: CaptureTrust { jwt },
            media_integrity: MediaIntegrity {
                content_hash,
                signature: signature.to_der_base64(),
                public_key: device.public_key().to_base64(),
                capture_id: capture_id.to_owned(),
                captured_at: captured_at.to_owned(),
            },
        }
    }
}

/// Format Unix seconds as `YYYY-MM-DDTHH:MM:SSZ` (UTC), the sidecar's and the API's datetime format.
pub fn format_timestamp(unix_seconds: i64) -> String {
    let days = unix_seconds.div_euclid(86_400);
    let secs = unix_seconds.rem_euclid(86_400);
    // Civil-from-days (H. Hinnant), proleptic Gregorian calendar.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z", secs / 3600, secs % 3600 / 60, secs % 60)
}

/// The sidecar file name for a media file name: `photo.jpg` → `photo.sidecar.json` (SPEC §1.1).
/// A name without an extension gets `.sidecar.json` appended.
pub fn sidecar_file_name(media_file_name: &str) -> String {
    let stem = match media_file_name.rfind('.') {
        Some(i) if i > 0 => &media_file_name[..i],
        _ => media_file_name,
    };
    format!("{stem}.sidecar.json")
}

#[cfg(test)]
mod tests {
    use super::*;

    const IOS_STYLE: &str = "{\n  \"capture_trust\" : {\n    \"jwt\" : \"a.b.c\"\n  },\n  \"media_integrity\" : {\n    \"capture_id\" : \"id\",\n    \"captured_at\" : \"2026-01-27T10:31:24Z\",\n    \"content_hash\" : \"00\",\n    \"public_key\" : \"ab\\/c=\",\n    \"signature\" : \"sig\",\n    \"extra\" : [1, 2]\n  },\n  \"version\" : \"1.0\",\n  \"unknown\" : {}\n}";

    #[test]
    fn ios_formatting_and_unknown_fields() {
        let s = Sidecar::parse(IOS_STYLE.as_bytes()).unwrap();
        assert_eq!(s.media_integrity.public_key, "ab/c=");
        assert_eq!(s.capture_trust.jwt, "a.b.c");
        let again = Sidecar::parse(s.to_json_pretty().as_bytes()).unwrap();
        assert_eq!(again, s);
    }

    #[test]
    fn error_codes() {
        let code = |b: &[u8]| Sidecar::parse(b).unwrap_err().code();
        assert_eq!(code(&vec![b' '; MAX_SIDECAR_BYTES + 1]), "sidecar_too_large");
        assert_eq!(code(b"{\"version\": \"\xff\"}"), "sidecar_not_utf8");
        assert_eq!(code(&IOS_STYLE.as_bytes()[..40]), "sidecar_truncated");
        assert_eq!(code(b"{version: 1}"), "sidecar_malformed_json");
        assert_eq!(code(b"{\"version\": 1}"), "sidecar_schema");
        assert_eq!(code(IOS_STYLE.replace("1.0", "1.1").as_bytes()), "sidecar_unsupported_version");
        assert_eq!(code(IOS_STYLE.replace("a.b.c", "").as_bytes()), "sidecar_empty_jwt");
        assert_eq!(code(b""), "sidecar_truncated");
    }

    #[test]
    fn timestamps() {
        assert_eq!(format_timestamp(0), "1970-01-01T00:00:00Z");
        assert_eq!(format_timestamp(1_769_509_884), "2026-01-27T10:31:24Z");
        assert_eq!(format_timestamp(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(format_timestamp(-1), "1969-12-31T23:59:59Z");
    }

    #[test]
    fn file_names() {
        assert_eq!(sidecar_file_name("photo.jpg"), "photo.sidecar.json");
        assert_eq!(sidecar_file_name("IMG_1234.HEIC"), "IMG_1234.sidecar.json");
        assert_eq!(sidecar_file_name("a.b.mp4"), "a.b.sidecar.json");
        assert_eq!(sidecar_file_name("noext"), "noext.sidecar.json");
        assert_eq!(sidecar_file_name(".hidden"), ".hidden.sidecar.json");
    }
}
