//! The device layer (SPEC §1.1): the device signs `"{content_hash}:{capture_id}:{captured_at}"` with its
//! P-256 key (the Secure Enclave on iOS). The public key travels as the 65-byte uncompressed SEC1 point and the
//! signature as DER, both in standard padded base64. Secure Enclave signatures are not low-S normalised, so
//! high-S signatures are accepted.
use crate::codes::Reason;
use core::fmt;

use base64::Engine;
use p256::ecdsa::signature::{Signer, Verifier};
use p256::ecdsa::{Signature, SigningKey, VerifyingKey};
use p256::SecretKey;
use zeroize::Zeroizing;

use crate::b64;
use crate::hash::sha256_hex;

/// The message the device signs, built from the sidecar strings verbatim.
pub fn device_message(content_hash: &str, capture_id: &str, captured_at: &str) -> String {
    format!("{content_hash}:{capture_id}:{captured_at}")
}

/// A device's P-256 public key, from the sidecar's `public_key`.
#[derive(Clone, PartialEq, Eq)]
pub struct DevicePublicKey {
    key: VerifyingKey,
    raw: [u8; 65],
}

impl fmt::Debug for DevicePublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DevicePublicKey({})", self.to_base64())
    }
}

/// The sidecar's `public_key` is not a usable uncompressed P-256 point.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DeviceKeyError {
    #[error("public_key is not standard padded base64")]
    Base64,
    #[error("public_key is a 33-byte compressed point; SignedShot sidecars carry the 65-byte uncompressed point")]
    Compressed,
    #[error("public_key is {0} bytes; an uncompressed P-256 point is 65 bytes")]
    Length(usize),
    #[error("public_key does not start with 0x04 (uncompressed point marker)")]
    Prefix,
    #[error("public_key is not a point on the P-256 curve")]
    NotOnCurve,
}

impl DeviceKeyError {
    pub fn code(&self) -> Reason {
        match self {
            Self::Base64 => Reason::DeviceKeyBase64,
            Self::Compressed => Reason::DeviceKeyCompressed,
            Self::Length(_) => Reason::DeviceKeyLength,
            Self::Prefix => Reason::DeviceKeyPrefix,
            Self::NotOnCurve => Reason::DeviceKeyNotOnCurve,
        }
    }
}

impl DevicePublicKey {
    /// Parse the sidecar's base64 `public_key`.
    pub fn from_base64(text: &str) -> Result<Self, DeviceKeyError> {
        let bytes = b64::STD.decode(text).map_err(|_| DeviceKeyError::Base64)?;
        Self::from_sec1(&bytes)
    }

    /// Parse the raw 65-byte `0x04||X||Y` point.
    pub fn from_sec1(bytes: &[u8]) -> Result<Self, DeviceKeyError> {
        match bytes.len() {
            65 => {}
            33 if matches!(bytes[0], 2 | 3) => return Err(DeviceKeyError::Compressed),
            n => return Err(DeviceKeyError::Length(n)),
        }
        if bytes[0] != 0x04 {
            return Err(DeviceKeyError::Prefix);
        }
        let key = VerifyingKey::from_sec1_bytes(bytes).map_err(|_| DeviceKeyError::NotOnCurve)?;
        let mut raw = [0u8; 65];
        raw.copy_from_slice(bytes);
        Ok(Self { key, raw })
    }

    pub fn from_verifying_key(key: VerifyingKey) -> Self {
        let mut raw = [0u8; 65];
        raw.copy_from_slice(key.to_encoded_point(false).as_bytes());
        Self { key, raw }
    }

    /// Standard padded base64 of the 65 bytes, as the sidecar writes it.
    pub fn to_base64(&self) -> String {
        b64::std_encode(&self.raw)
    }

    pub fn as_sec1(&self) -> &[u8; 65] {
        &self.raw
    }

    /// Lower-case hex SHA-256 of the 65 raw bytes (the JWT's `device_public_key_fingerprint`).
    pub fn fingerprint(&self) -> String {
        sha256_hex(&self.raw)
    }

    /// Verify a device signature over `message`.
    pub fn verify(&self, message: &[u8], signature: &DeviceSignature) -> bool {
        self.key.verify(message, &signature.0).is_ok()
    }
}

/// A parsed device signature (DER, high-S allowed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceSignature(Signature);

/// The sidecar's `signature` is not a DER ECDSA signature.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DeviceSignatureError {
    #[error("signature is not standard padded base64")]
    Base64,
    #[error("signature is 64 raw bytes (r||s); SignedShot sidecars carry a DER (X9.62) signature")]
    RawNotDer,
    #[error("signature is not a DER-encoded ECDSA signature")]
    Der,
}

impl DeviceSignatureError {
    pub fn code(&self) -> Reason {
        match self {
            Self::Base64 => Reason::DeviceSignatureBase64,
            Self::RawNotDer => Reason::DeviceSignatureRaw,
            Self::Der => Reason::DeviceSignatureDer,
        }
    }
}

impl DeviceSignature {
    pub fn from_base64(text: &str) -> Result<Self, DeviceSignatureError> {
        let bytes = b64::STD.decode(text).map_err(|_| DeviceSignatureError::Base64)?;
        Self::from_der(&bytes)
    }

    pub fn from_der(bytes: &[u8]) -> Result<Self, DeviceSignatureError> {
        match Signature::from_der(bytes) {
            Ok(sig) => Ok(Self(sig)),
            Err(_) if bytes.len() == 64 && bytes[0] != 0x30 => Err(DeviceSignatureError::RawNotDer),
            Err(_) if bytes.len() == 64 && Signature::from_slice(bytes).is_ok() => Err(DeviceSignatureError::RawNotDer),
            Err(_) => Err(DeviceSignatureError::Der),
        }
    }

    pub fn to_der_base64(&self) -> String {
        b64::std_encode(self.0.to_der().as_bytes())
    }

    /// Whether `s` is in the upper half of the group order (as Secure Enclave signatures often are).
    pub fn is_high_s(&self) -> bool {
        self.0.normalize_s().is_some()
    }

    /// The same signature with `s` replaced by `n - s` (equally valid under plain ECDSA).
    pub fn flip_s(&self) -> Self {
        let (r, s) = self.0.split_scalars();
        Self(Signature::from_scalars(r, -*s).unwrap_or(self.0))
    }

    /// The raw 64-byte `r||s` form.
    pub fn to_raw(&self) -> [u8; 64] {
        self.0.to_bytes().into()
    }
}

/// A device's private key (software stand-in for the Secure Enclave). `Debug` hides the secret.
#[derive(Clone)]
pub struct DeviceKey {
    secret: SecretKey,
}

impl fmt::Debug for DeviceKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DeviceKey").field("public_key", &self.public_key().to_base64()).finish_non_exhaustive()
    }
}

impl DeviceKey {
    pub fn generate(rng: &mut impl p256::elliptic_curve::rand_core::CryptoRngCore) -> Self {
        Self { secret: SecretKey::random(rng) }
    }

    pub fn from_scalar_bytes(bytes: &[u8]) -> Option<Self> {
        SecretKey::from_slice(bytes).ok().map(|secret| Self { secret })
    }

    pub fn scalar_bytes(&self) -> Zeroizing<[u8; 32]> {
        Zeroizing::new(self.secret.to_bytes().into())
    }

    pub fn public_key(&self) -> DevicePublicKey {
        DevicePublicKey::from_verifying_key(VerifyingKey::from(&SigningKey::from(&self.secret)))
    }

    /// Deterministic (RFC 6979) ECDSA P-256 / SHA-256 signature over `message`.
    pub fn sign(&self, message: &[u8]) -> DeviceSignature {
        DeviceSignature(SigningKey::from(&self.secret).sign(message))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sign_verify_and_high_s() {
        let key = DeviceKey::from_scalar_bytes(&[3u8; 32]).unwrap();
        let msg = device_message(&"0".repeat(64), "id", "2026-01-01T00:00:00Z");
        let sig = key.sign(msg.as_bytes());
        let pk = DevicePublicKey::from_base64(&key.public_key().to_base64()).unwrap();
        assert!(pk.verify(msg.as_bytes(), &sig));
        let flipped = sig.flip_s();
        assert_ne!(flipped.is_high_s(), sig.is_high_s());
        assert!(pk.verify(msg.as_bytes(), &flipped), "high-S must be accepted");
        assert!(!pk.verify(b"other", &sig));
        let parsed = DeviceSignature::from_base64(&flipped.to_der_base64()).unwrap();
        assert_eq!(parsed, flipped);
    }

    #[test]
    fn key_and_signature_errors() {
        let key = DeviceKey::from_scalar_bytes(&[3u8; 32]).unwrap();
        let compressed = key.public_key().key.to_encoded_point(true);
        assert_eq!(DevicePublicKey::from_sec1(compressed.as_bytes()), Err(DeviceKeyError::Compressed));
        assert_eq!(DevicePublicKey::from_sec1(&[4u8; 64]), Err(DeviceKeyError::Length(64)));
        let mut wrong_prefix = *key.public_key().as_sec1();
        wrong_prefix[0] = 5;
        assert_eq!(DevicePublicKey::from_sec1(&wrong_prefix), Err(DeviceKeyError::Prefix));
        let mut off_curve = *key.public_key().as_sec1();
        off_curve[64] ^= 1;
        assert_eq!(DevicePublicKey::from_sec1(&off_curve), Err(DeviceKeyError::NotOnCurve));
        assert_eq!(DevicePublicKey::from_base64("not base64!"), Err(DeviceKeyError::Base64));
        let raw = key.sign(b"m").to_raw();
        assert_eq!(DeviceSignature::from_der(&raw), Err(DeviceSignatureError::RawNotDer));
        assert_eq!(DeviceSignature::from_der(&[0x30, 0x02, 0x01]), Err(DeviceSignatureError::Der));
    }
}
