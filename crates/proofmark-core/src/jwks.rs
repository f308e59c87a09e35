//! JSON Web Key Sets (SPEC §1.3) and the issuer's signing key.
//!
//! A JWKS is parsed key by key: a key this verifier cannot use (another key type or curve, a bad
//! coordinate) is skipped and reported in [`Jwks::skipped`], and the usable keys still work.
use core::fmt;

use base64::Engine;
use p256::ecdsa::{SigningKey, VerifyingKey};
use p256::SecretKey;
use serde::Serialize;
use serde_json::Value;
use zeroize::Zeroizing;

use crate::b64;
use crate::decimal::be_bytes_to_decimal;
use crate::hash::sha256_hex;

/// JWKS documents larger than this are refused.
pub const MAX_JWKS_BYTES: usize = 1024 * 1024;

/// A usable ES256 public key from a JWKS.
#[derive(Clone, PartialEq, Eq)]
pub struct Jwk {
    /// The key id: as published, or derived (SPEC §1.3) when the JWK has none.
    pub kid: String,
    pub key: VerifyingKey,
}

impl fmt::Debug for Jwk {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Jwk").field("kid", &self.kid).finish_non_exhaustive()
    }
}

impl Jwk {
    /// The JWK JSON object for this key (`kty`, `crv`, `x`, `y`, `use`, `alg`, `kid`).
    pub fn to_json(&self) -> Value {
        let point = self.key.to_encoded_point(false);
        let (x, y) =
            (point.x().map(|x| x.to_vec()).unwrap_or_default(), point.y().map(|y| y.to_vec()).unwrap_or_default());
        serde_json::json!({
            "kty": "EC", "crv": "P-256",
            "x": b64::url_encode(&x), "y": b64::url_encode(&y),
            "use": "sig", "alg": "ES256", "kid": self.kid,
        })
    }
}

/// A key of the set that was not loaded, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SkippedKey {
    /// Position in the `keys` array.
    pub index: usize,
    pub kid: Option<String>,
    pub reason: String,
}

/// A parsed key set: the usable keys and the skipped ones.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Jwks {
    pub keys: Vec<Jwk>,
    pub skipped: Vec<SkippedKey>,
}

/// Why a whole key set could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum JwksError {
    #[error("JWKS is {size} bytes; the limit is {max}")]
    TooLarge { size: usize, max: usize },
    #[error("JWKS is not valid JSON: {0}")]
    Json(String),
    #[error("JWKS has no \"keys\" array")]
    NoKeysArray,
}

impl Jwks {
    /// Parse a JWKS document, skipping (and recording) keys that cannot be used for ES256.
    pub fn parse(bytes: &[u8]) -> Result<Self, JwksError> {
        if bytes.len() > MAX_JWKS_BYTES {
            return Err(JwksError::TooLarge { size: bytes.len(), max: MAX_JWKS_BYTES });
        }
        let doc: Value = serde_json::from_slice(bytes).map_err(|e| JwksError::Json(e.to_string()))?;
        let Some(Value::Array(entries)) = doc.get("keys") else {
            return Err(JwksError::NoKeysArray);
        };
        let mut set = Jwks::default();
        for (index, entry) in entries.iter().enumerate() {
            match parse_jwk(entry) {
                Ok(jwk) => set.keys.push(jwk),
                Err(reason) => set.skipped.push(SkippedKey {
                    index,
                    kid: entry.get("kid").and_then(Value::as_str).map(str::to_owned),
                    reason,
                }),
            }
        }
        Ok(set)
    }

    /// The key with this id, if the set has it.
    pub fn find(&self, kid: &str) -> Option<&Jwk> {
        self.keys.iter().find(|k| k.kid == kid)
    }

    /// The JWKS JSON document (`{"keys":[…]}`).
    pub fn to_json(&self) -> String {
        let keys: Vec<Value> = self.keys.iter().map(Jwk::to_json).collect();
        serde_json::json!({ "keys": keys }).to_string()
    }
}

fn parse_jwk(entry: &Value) -> Result<Jwk, String> {
    let field = |name: &str| entry.get(name).and_then(Value::as_str);
    if !entry.is_object() {
        return Err("not a JSON object".into());
    }
    match field("kty") {
        Some("EC") => {}
        Some(other) => return Err(format!("key type {other:?} is not EC")),
        None => return Err("no \"kty\"".into()),
    }
    match field("crv") {
        Some("P-256") => {}
        Some(other) => return Err(format!("curve {other:?} is not P-256")),
        None => return Err("no \"crv\"".into()),
    }
    if let Some(alg) = field("alg") {
        if alg != "ES256" {
            return Err(format!("algorithm {alg:?} is not ES256"));
        }
    }
    if let Some(usage) = field("use") {
        if usage != "sig" {
            return Err(format!("use {usage:?} is not \"sig\""));
        }
    }
    let coord = |name: &str| -> Result<[u8; 32], String> {
        let text = field(name).ok_or_else(|| format!("no \"{name}\" coordinate"))?;
        let bytes = b64::URL_LENIENT.decode(text).map_err(|_| format!("\"{name}\" is not base64url"))?;
        bytes.try_into().map_err(|b: Vec<u8>| format!("\"{name}\" is {} bytes, not 32", b.len()))
    };
    let (x, y) = (coord("x")?, coord("y")?);
    let mut sec1 = [0u8; 65];
    sec1[0] = 0x04;
    sec1[1..33].copy_from_slice(&x);
    sec1[33..].copy_from_slice(&y);
    let key = VerifyingKey::from_sec1_bytes(&sec1).map_err(|_| "the point is not on the P-256 curve".to_owned())?;
    let kid = match entry.get("kid") {
        Some(Value::String(kid)) => kid.clone(),
        Some(_) => return Err("\"kid\" is not a string".into()),
        None => derive_kid(&key),
    };
    Ok(Jwk { kid, key })
}

/// The SignedShot key id: lower-case hex SHA-256 of `"{x}:{y}"` with the affine coordinates as decimal
/// integers (SPEC §1.3).
pub fn derive_kid(key: &VerifyingKey) -> String {
    let point = key.to_encoded_point(false);
    let x = point.x().map(|x| be_bytes_to_decimal(x)).unwrap_or_default();
    let y = point.y().map(|y| be_bytes_to_decimal(y)).unwrap_or_default();
    sha256_hex(format!("{x}:{y}").as_bytes())
}

/// The capture-trust issuer's ES256 private key (the server side). `Debug` does not show the secret.
#[derive(Clone)]
pub struct IssuerKey {
    /// The signing key keeps its public key precomputed (deriving it costs a scalar multiplication).
    signing: SigningKey,
    kid: String,
}

impl fmt::Debug for IssuerKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IssuerKey").field("kid", &self.kid).field("secret", &"<redacted>").finish()
    }
}

impl IssuerKey {
    /// A new random key from the caller's RNG.
    pub fn generate(rng: &mut impl p256::elliptic_curve::rand_core::CryptoRngCore) -> Self {
        Self::from_secret(SecretKey::random(rng))
    }

    /// Load from the 32-byte big-endian scalar.
    pub fn from_scalar_bytes(bytes: &[u8]) -> Option<Self> {
        SecretKey::from_slice(bytes).ok().map(Self::from_secret)
    }

    fn from_secret(secret: SecretKey) -> Self {
        let signing = SigningKey::from(&secret);
        let kid = derive_kid(signing.verifying_key());
        Self { signing, kid }
    }

    /// The 32-byte scalar (for encrypted storage by the caller).
    pub fn scalar_bytes(&self) -> Zeroizing<[u8; 32]> {
        Zeroizing::new(self.signing.to_bytes().into())
    }

    pub fn kid(&self) -> &str {
        &self.kid
    }

    pub fn public_jwk(&self) -> Jwk {
        Jwk { kid: self.kid.clone(), key: *self.signing.verifying_key() }
    }

    pub(crate) fn signing_key(&self) -> &SigningKey {
        &self.signing
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn skips_unusable_keys_and_keeps_the_rest() {
        let key = IssuerKey::from_scalar_bytes(&[7u8; 32]).unwrap();
        let good = key.public_jwk().to_json();
        let doc = serde_json::json!({"keys": [
            {"kty": "RSA", "n": "AQAB", "e": "AQAB", "kid": "rsa-1"},
            {"kty": "EC", "crv": "P-384", "x": "AA", "y": "AA", "kid": "p384"},
            {"kty": "EC", "crv": "P-256", "x": "AAAA", "y": "AAAA", "kid": "short"},
            {"kty": "EC", "crv": "P-256", "x": good["x"], "y": good["x"], "kid": "off-curve"},
            good,
        ]});
        let set = Jwks::parse(doc.to_string().as_bytes()).unwrap();
        assert_eq!(set.keys.len(), 1);
        assert_eq!(set.keys[0].kid, key.kid());
        let reasons: Vec<String> = set.skipped.iter().map(|s| format!("{}: {}", s.index, s.reason)).collect();
        assert_eq!(
            reasons,
            [
                "0: key type \"RSA\" is not EC",
                "1: curve \"P-384\" is not P-256",
                "2: \"x\" is 3 bytes, not 32",
                "3: the point is not on the P-256 curve",
            ]
        );
        assert_eq!(Jwks::parse(b"{}"), Err(JwksError::NoKeysArray));
        assert!(matches!(Jwks::parse(b"{"), Err(JwksError::Json(_))));
    }

    #[test]
    fn kid_derivation_matches_signedshot_dev_key() {
        // The SignedShot dev API key (shared/signedshot-vectors): its published kid is the SPEC §1.3 derivation.
        let doc = r#"{"keys": [{"kty": "EC", "crv": "P-256", "x": "LmdkDwtdlUNhSJhEO78bnWx7GOeq8KPjP6kVEDAlpZY", "y": "hMuNCbaiyjqajZ9Tmgu9CYdy5Vn6gFZK4CyZwTGmrmw", "use": "sig", "alg": "ES256"}]}"#;
        let set = Jwks::parse(doc.as_bytes()).unwrap();
        assert_eq!(set.keys[0].kid, "2ad290db4bb09b4144d614f5e12c83e9bf6bf55b6189fbeac1209935b04bb1ee");
    }
}
