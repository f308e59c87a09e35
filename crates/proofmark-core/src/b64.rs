//! Base64 flavours used on the wire: standard padded (sidecar fields) and URL-safe unpadded (JWS, JWK).
use base64::alphabet;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use base64::Engine;

/// Standard alphabet, padding required (the sidecar's `signature` and `public_key`).
pub(crate) const STD: GeneralPurpose = base64::engine::general_purpose::STANDARD;

/// URL-safe alphabet, no padding written; padding tolerated when reading (JWK coordinates).
pub(crate) const URL_LENIENT: GeneralPurpose = GeneralPurpose::new(
    &alphabet::URL_SAFE,
    GeneralPurposeConfig::new().with_encode_padding(false).with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// URL-safe alphabet, no padding (compact JWS segments, RFC 7515 §2).
pub(crate) const URL: GeneralPurpose = base64::engine::general_purpose::URL_SAFE_NO_PAD;

pub(crate) fn std_encode(bytes: &[u8]) -> String {
    STD.encode(bytes)
}

pub(crate) fn url_encode(bytes: &[u8]) -> String {
    URL.encode(bytes)
}
