//! The capture-trust JWT (SPEC §1.2): a compact JWS, ES256, issued by the capture server.
//!
//! Decoding is split into steps so the verifier can report each one with its own code: structure
//! ([`DecodedJwt::decode`]), algorithm ([`check_alg`]), claims ([`CaptureClaims::from_payload`]) and signature
//! ([`verify_es256`]).
use crate::codes::Reason;
use base64::Engine;
use p256::ecdsa::signature::{Signer, Verifier};
use p256::ecdsa::{Signature, VerifyingKey};
use serde::Serialize;
use serde_json::{Map, Value};

use crate::b64;
use crate::jwks::IssuerKey;

/// The audience every capture-trust token carries.
pub const AUDIENCE: &str = "signedshot";
/// The subject every capture-trust token carries.
pub const SUBJECT: &str = "capture-service";
/// Tokens longer than this are refused before decoding.
pub const MAX_JWT_BYTES: usize = 16 * 1024;

/// The JOSE header fields the verifier reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    pub alg: Option<String>,
    pub kid: Option<String>,
    pub typ: Option<String>,
}

/// A structurally valid compact JWS, not yet checked.
#[derive(Debug, Clone, PartialEq)]
pub struct DecodedJwt {
    pub header: Header,
    pub payload: Map<String, Value>,
    /// `base64url(header) "." base64url(payload)`, the bytes the signature covers.
    pub signing_input: String,
    pub signature: Vec<u8>,
}

/// The token is not a well-formed compact JWS.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum JwtFormatError {
    #[error("token is {size} bytes; the limit is {max}")]
    TooLarge { size: usize, max: usize },
    #[error("a compact JWS has 3 dot-separated parts; this token has {0}")]
    Segments(usize),
    #[error("the JWT {0} is not base64url")]
    Base64(&'static str),
    #[error("the JWT header is not a JSON object: {0}")]
    HeaderJson(String),
    #[error("the JWT payload is not a JSON object: {0}")]
    PayloadJson(String),
    /// RFC 7515 §4.1.11: a recipient must refuse a JWS whose `crit` names extensions it does not understand.
    /// Proofmark understands none, so any `crit` is refused.
    #[error("the JWT header marks {0} as critical; no header extension is understood, so the token is refused")]
    Crit(String),
}

impl JwtFormatError {
    /// The report's reason code.
    pub fn code(&self) -> Reason {
        match self {
            Self::Crit(_) => Reason::JwtCritUnsupported,
            _ => Reason::JwtMalformed,
        }
    }
}

impl DecodedJwt {
    /// Split and decode a compact JWS without checking anything else.
    pub fn decode(token: &str) -> Result<Self, JwtFormatError> {
        if token.len() > MAX_JWT_BYTES {
            return Err(JwtFormatError::TooLarge { size: token.len(), max: MAX_JWT_BYTES });
        }
        let parts: Vec<&str> = token.split('.').collect();
        if parts.len() != 3 {
            return Err(JwtFormatError::Segments(parts.len()));
        }
        let header_bytes = b64::URL.decode(parts[0]).map_err(|_| JwtFormatError::Base64("header"))?;
        let payload_bytes = b64::URL.decode(parts[1]).map_err(|_| JwtFormatError::Base64("payload"))?;
        let signature = b64::URL.decode(parts[2]).map_err(|_| JwtFormatError::Base64("signature"))?;
        let header: Map<String, Value> =
            serde_json::from_slice(&header_bytes).map_err(|e| JwtFormatError::HeaderJson(e.to_string()))?;
        let payload: Map<String, Value> =
            serde_json::from_slice(&payload_bytes).map_err(|e| JwtFormatError::PayloadJson(e.to_string()))?;
        if let Some(crit) = header.get("crit") {
            let shown: String = crit.to_string().chars().take(80).collect();
            return Err(JwtFormatError::Crit(shown));
        }
        let text = |name: &str| header.get(name).and_then(Value::as_str).map(str::to_owned);
        Ok(Self {
            header: Header { alg: text("alg"), kid: text("kid"), typ: text("typ") },
            payload,
            signing_input: format!("{}.{}", parts[0], parts[1]),
            signature,
        })
    }
}

/// The header names an algorithm other than ES256. Each class has its own code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AlgError {
    #[error("the JWT header has no \"alg\"")]
    Missing,
    #[error("alg \"none\" (an unsigned token) is refused")]
    None,
    #[error("alg {0:?} is an HMAC algorithm; refused (a public key is not a shared secret)")]
    Hmac(String),
    #[error("alg {0:?} is an RSA algorithm; capture-trust tokens are ES256")]
    Rsa(String),
    #[error("alg {0:?} is not ES256")]
    Other(String),
}

impl AlgError {
    pub fn code(&self) -> Reason {
        match self {
            Self::Missing => Reason::JwtAlgMissing,
            Self::None => Reason::JwtAlgNone,
            Self::Hmac(_) => Reason::JwtAlgHmac,
            Self::Rsa(_) => Reason::JwtAlgRsa,
            Self::Other(_) => Reason::JwtAlgUnsupported,
        }
    }
}

/// Accept exactly `ES256` (case-sensitive, RFC 7518).
pub fn check_alg(header: &Header) -> Result<(), AlgError> {
    match header.alg.as_deref() {
        Some("ES256") => Ok(()),
        None => Err(AlgError::Missing),
        Some(a) if a.eq_ignore_ascii_case("none") => Err(AlgError::None),
        Some(a) if a.starts_with("HS") => Err(AlgError::Hmac(a.to_owned())),
        Some(a) if a.starts_with("RS") || a.starts_with("PS") => Err(AlgError::Rsa(a.to_owned())),
        Some(a) => Err(AlgError::Other(a.to_owned())),
    }
}

/// How the device was attested at registration.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AttestationMethod {
    Sandbox,
    AppCheck,
    AppAttest,
}

impl AttestationMethod {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Sandbox => "sandbox",
            Self::AppCheck => "app_check",
            Self::AppAttest => "app_attest",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "sandbox" => Some(Self::Sandbox),
            "app_check" => Some(Self::AppCheck),
            "app_attest" => Some(Self::AppAttest),
            _ => None,
        }
    }
}

/// The `attestation` claim.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Attestation {
    pub method: AttestationMethod,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub app_id: Option<String>,
}

/// Which claim layout the token uses (SPEC §1.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ClaimLayout {
    /// `attestation` object and `device_public_key_fingerprint`.
    Current,
    /// Before 2026-01-28: top-level `method`, no fingerprint.
    Legacy,
}

/// The capture-trust claims.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CaptureClaims {
    pub iss: String,
    pub aud: String,
    pub sub: String,
    pub iat: i64,
    pub capture_id: String,
    pub publisher_id: String,
    pub device_id: String,
    pub attestation: Attestation,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub device_public_key_fingerprint: Option<String>,
    #[serde(skip)]
    pub layout: ClaimLayout,
}

/// The claims are missing, mistyped or out of the allowed values.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ClaimsError {
    #[error("required claim {0:?} is missing")]
    Missing(&'static str),
    #[error("claim {name:?} must be {expected}")]
    WrongType { name: &'static str, expected: &'static str },
    #[error("aud is {0}; it must be the string \"signedshot\"")]
    Audience(String),
    #[error("attestation method {0:?} is not one of sandbox, app_check, app_attest")]
    UnknownMethod(String),
}

impl ClaimsError {
    pub fn code(&self) -> Reason {
        match self {
            Self::Missing(_) => Reason::JwtClaimMissing,
            Self::WrongType { .. } => Reason::JwtClaimType,
            Self::Audience(_) => Reason::JwtAudMismatch,
            Self::UnknownMethod(_) => Reason::JwtUnknownAttestationMethod,
        }
    }
}

impl CaptureClaims {
    /// Read the claims from a decoded payload, accepting both layouts.
    pub fn from_payload(p: &Map<String, Value>) -> Result<Self, ClaimsError> {
        let string = |name: &'static str| -> Result<String, ClaimsError> {
            match p.get(name) {
                None | Some(Value::Null) => Err(ClaimsError::Missing(name)),
                Some(Value::String(s)) => Ok(s.clone()),
                Some(_) => Err(ClaimsError::WrongType { name, expected: "a string" }),
            }
        };
        let iss = string("iss")?;
        let aud = match p.get("aud") {
            None | Some(Value::Null) => return Err(ClaimsError::Missing("aud")),
            Some(Value::String(s)) if s == AUDIENCE => s.clone(),
            Some(other) => return Err(ClaimsError::Audience(other.to_string())),
        };
        let sub = string("sub")?;
        let iat = match p.get("iat") {
            None | Some(Value::Null) => return Err(ClaimsError::Missing("iat")),
            Some(Value::Number(n)) => {
                n.as_i64().ok_or(ClaimsError::WrongType { name: "iat", expected: "an integer" })?
            }
            Some(_) => return Err(ClaimsError::WrongType { name: "iat", expected: "an integer" }),
        };
        let capture_id = string("capture_id")?;
        let publisher_id = string("publisher_id")?;
        let device_id = string("device_id")?;
        let method_of = |s: String| AttestationMethod::parse(&s).ok_or(ClaimsError::UnknownMethod(s));
        let (attestation, layout) = match p.get("attestation") {
            Some(Value::Object(att)) => {
                let method = match att.get("method") {
                    Some(Value::String(m)) => method_of(m.clone())?,
                    None | Some(Value::Null) => return Err(ClaimsError::Missing("attestation.method")),
                    Some(_) => return Err(ClaimsError::WrongType { name: "attestation.method", expected: "a string" }),
                };
                let app_id = match att.get("app_id") {
                    None | Some(Value::Null) => None,
                    Some(Value::String(s)) => Some(s.clone()),
                    Some(_) => return Err(ClaimsError::WrongType { name: "attestation.app_id", expected: "a string" }),
                };
                (Attestation { method, app_id }, ClaimLayout::Current)
            }
            Some(Value::Null) | None => match p.get("method") {
                Some(Value::String(m)) => {
                    let app_id = p.get("app_id").and_then(Value::as_str).map(str::to_owned);
                    (Attestation { method: method_of(m.clone())?, app_id }, ClaimLayout::Legacy)
                }
                Some(_) => return Err(ClaimsError::WrongType { name: "method", expected: "a string" }),
                None => return Err(ClaimsError::Missing("attestation")),
            },
            Some(_) => return Err(ClaimsError::WrongType { name: "attestation", expected: "an object" }),
        };
        let device_public_key_fingerprint = match p.get("device_public_key_fingerprint") {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) => Some(s.clone()),
            Some(_) => {
                return Err(ClaimsError::WrongType { name: "device_public_key_fingerprint", expected: "a string" })
            }
        };
        Ok(Self {
            iss,
            aud,
            sub,
            iat,
            capture_id,
            publisher_id,
            device_id,
            attestation,
            device_public_key_fingerprint,
            layout,
        })
    }

    /// The payload JSON in SPEC §1.2 claim order (the legacy layout writes top-level `method`).
    pub fn to_payload_json(&self) -> String {
        let mut m = Map::new();
        m.insert("iss".into(), self.iss.clone().into());
        m.insert("aud".into(), self.aud.clone().into());
        m.insert("sub".into(), self.sub.clone().into());
        m.insert("iat".into(), self.iat.into());
        m.insert("capture_id".into(), self.capture_id.clone().into());
        m.insert("publisher_id".into(), self.publisher_id.clone().into());
        m.insert("device_id".into(), self.device_id.clone().into());
        match self.layout {
            ClaimLayout::Current => {
                m.insert("attestation".into(), serde_json::to_value(&self.attestation).unwrap_or(Value::Null));
                if let Some(fp) = &self.device_public_key_fingerprint {
                    m.insert("device_public_key_fingerprint".into(), fp.clone().into());
                }
            }
            ClaimLayout::Legacy => {
                m.insert("method".into(), self.attestation.method.as_str().into());
            }
        }
        Value::Object(m).to_string()
    }
}

/// The ES256 signature does not verify.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SignatureError {
    #[error("an ES256 signature is 64 bytes (r||s); this one is {0}")]
    Length(usize),
    #[error("the signature's r or s is out of range")]
    Scalar,
    #[error("the signature does not verify with this key")]
    Mismatch,
}

/// Verify a JWS ES256 signature (raw `r||s`; high-S accepted).
pub fn verify_es256(signing_input: &str, signature: &[u8], key: &VerifyingKey) -> Result<(), SignatureError> {
    if signature.len() != 64 {
        return Err(SignatureError::Length(signature.len()));
    }
    let sig = Signature::from_slice(signature).map_err(|_| SignatureError::Scalar)?;
    key.verify(signing_input.as_bytes(), &sig).map_err(|_| SignatureError::Mismatch)
}

/// Sign a compact JWS with the issuer key: header `{"alg":"ES256","kid":…,"typ":"JWT"}`.
pub fn mint(claims: &CaptureClaims, key: &IssuerKey) -> String {
    let header = format!(r#"{{"alg":"ES256","kid":"{}","typ":"JWT"}}"#, key.kid());
    sign_compact(&header, &claims.to_payload_json(), key)
}

/// Sign arbitrary header and payload JSON (test vectors and tools; the server uses [`mint`]).
pub fn sign_compact(header_json: &str, payload_json: &str, key: &IssuerKey) -> String {
    let input = format!("{}.{}", b64::url_encode(header_json.as_bytes()), b64::url_encode(payload_json.as_bytes()));
    let sig: Signature = key.signing_key().sign(input.as_bytes());
    format!("{input}.{}", b64::url_encode(&sig.to_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims() -> CaptureClaims {
        CaptureClaims {
            iss: "https://issuer.example".into(),
            aud: AUDIENCE.into(),
            sub: SUBJECT.into(),
            iat: 1_769_509_885,
            capture_id: "4451b09d-a46a-4664-a860-60bf30673ae9".into(),
            publisher_id: "9a5b1062-a8fe-4871-bdc1-fe54e96cbf1c".into(),
            device_id: "09030332-05b0-4507-82eb-4620bf228381".into(),
            attestation: Attestation { method: AttestationMethod::AppCheck, app_id: Some("io.example.app".into()) },
            device_public_key_fingerprint: Some("ab".repeat(32)),
            layout: ClaimLayout::Current,
        }
    }

    #[test]
    fn mint_decode_verify_round_trip() {
        let key = IssuerKey::from_scalar_bytes(&[9u8; 32]).unwrap();
        let token = mint(&claims(), &key);
        let jwt = DecodedJwt::decode(&token).unwrap();
        assert_eq!(jwt.header.kid.as_deref(), Some(key.kid()));
        check_alg(&jwt.header).unwrap();
        assert_eq!(CaptureClaims::from_payload(&jwt.payload).unwrap(), claims());
        verify_es256(&jwt.signing_input, &jwt.signature, &key.public_jwk().key).unwrap();
        let other = IssuerKey::from_scalar_bytes(&[8u8; 32]).unwrap();
        assert_eq!(
            verify_es256(&jwt.signing_input, &jwt.signature, &other.public_jwk().key),
            Err(SignatureError::Mismatch)
        );
        let payload = claims().to_payload_json();
        assert!(payload.starts_with(r#"{"iss":"https://issuer.example","aud":"signedshot","sub":"capture-service","iat":1769509885,"capture_id""#));
    }

    #[test]
    fn alg_classes() {
        let h = |a: Option<&str>| Header { alg: a.map(str::to_owned), kid: None, typ: None };
        assert_eq!(check_alg(&h(Some("none"))).unwrap_err().code(), "jwt_alg_none");
        assert_eq!(check_alg(&h(Some("HS256"))).unwrap_err().code(), "jwt_alg_hmac");
        assert_eq!(check_alg(&h(Some("RS256"))).unwrap_err().code(), "jwt_alg_rsa");
        assert_eq!(check_alg(&h(Some("PS512"))).unwrap_err().code(), "jwt_alg_rsa");
        assert_eq!(check_alg(&h(Some("ES384"))).unwrap_err().code(), "jwt_alg_unsupported");
        assert_eq!(check_alg(&h(Some("es256"))).unwrap_err().code(), "jwt_alg_unsupported");
        assert_eq!(check_alg(&h(None)).unwrap_err().code(), "jwt_alg_missing");
    }

    #[test]
    fn legacy_layout_and_claim_errors() {
        let mut c = claims();
        c.layout = ClaimLayout::Legacy;
        c.attestation.app_id = None;
        c.device_public_key_fingerprint = None;
        let p: Map<String, Value> = serde_json::from_str(&c.to_payload_json()).unwrap();
        assert_eq!(CaptureClaims::from_payload(&p).unwrap(), c);

        let mut p: Map<String, Value> = serde_json::from_str(&claims().to_payload_json()).unwrap();
        p.insert("aud".into(), serde_json::json!(["signedshot"]));
        assert_eq!(CaptureClaims::from_payload(&p).unwrap_err().code(), "jwt_aud_mismatch");
        p.insert("aud".into(), "signedshot".into());
        p.insert("iat".into(), "yesterday".into());
        assert_eq!(CaptureClaims::from_payload(&p).unwrap_err().code(), "jwt_claim_type");
        p.remove("iat");
        assert_eq!(CaptureClaims::from_payload(&p).unwrap_err(), ClaimsError::Missing("iat"));
    }

    #[test]
    fn malformed_tokens() {
        assert_eq!(DecodedJwt::decode("a.b").unwrap_err(), JwtFormatError::Segments(2));
        assert_eq!(DecodedJwt::decode("!!.e30.").unwrap_err(), JwtFormatError::Base64("header"));
        assert!(matches!(DecodedJwt::decode("e30.W10.").unwrap_err(), JwtFormatError::PayloadJson(_)));
    }
}
