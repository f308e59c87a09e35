//! Firebase App Check tokens (SPEC §1.4): RS256 JWTs verified against the App Check JWKS (a URL, or a file
//! so tests can use their own RSA key). Checks: alg RS256, typ JWT, kid in the set, signature,
//! `iss = https://firebaseappcheck.googleapis.com/<project_number>`, `aud` contains `projects/<that number>`
//! and `projects/<the publisher's firebase_project_id>`, not expired. The app id is the token's `sub`.
use std::collections::HashMap;
use std::sync::RwLock;
use std::time::{Duration, Instant};

use base64::Engine;
use proofmark_core::jwt::DecodedJwt;
use rsa::pkcs1v15::{Signature, VerifyingKey};
use rsa::signature::Verifier;
use rsa::{BigUint, RsaPublicKey};
use serde_json::Value;
use sha2::Sha256;

const ISSUER_PREFIX: &str = "https://firebaseappcheck.googleapis.com/";
/// Firebase publishes its App Check keys for hours; re-fetch after this long, or on an unknown kid.
const CACHE_TTL: Duration = Duration::from_secs(6 * 3600);
const MIN_REFETCH: Duration = Duration::from_secs(60);

#[derive(Debug)]
pub struct AppCheckVerifier {
    source: String,
    cache: RwLock<Option<(Instant, HashMap<String, RsaPublicKey>)>>,
}

/// What a valid App Check token says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppCheckClaims {
    /// The Firebase app id (`sub`).
    pub app_id: String,
    pub project_number: String,
}

impl AppCheckVerifier {
    pub fn new(source: String) -> Self {
        Self { source, cache: RwLock::new(None) }
    }

    /// Verify `token` for the publisher's Firebase project. `Err` is a message for the 401 detail.
    pub async fn verify(&self, token: &str, project_id: &str, now: i64) -> Result<AppCheckClaims, String> {
        let jwt = DecodedJwt::decode(token).map_err(|e| e.to_string())?;
        if jwt.header.alg.as_deref() != Some("RS256") {
            return Err(format!("algorithm {:?} is not RS256", jwt.header.alg.as_deref().unwrap_or("")));
        }
        if jwt.header.typ.as_deref() != Some("JWT") {
            return Err("typ is not JWT".into());
        }
        let kid = jwt.header.kid.clone().ok_or("no kid in the header")?;
        let key = self.key(&kid).await?;
        let signature = Signature::try_from(jwt.signature.as_slice()).map_err(|_| "malformed signature")?;
        VerifyingKey::<Sha256>::new(key)
            .verify(jwt.signing_input.as_bytes(), &signature)
            .map_err(|_| "signature does not verify")?;
        let claims = &jwt.payload;
        let iss = claims.get("iss").and_then(Value::as_str).unwrap_or("");
        let project_number = iss.strip_prefix(ISSUER_PREFIX).unwrap_or("");
        if project_number.is_empty() || !project_number.bytes().all(|b| b.is_ascii_digit()) {
            return Err(format!("issuer {iss:?} is not Firebase App Check"));
        }
        let audiences: Vec<&str> = match claims.get("aud") {
            Some(Value::Array(a)) => a.iter().filter_map(Value::as_str).collect(),
            Some(Value::String(s)) => vec![s.as_str()],
            _ => Vec::new(),
        };
        for wanted in [format!("projects/{project_number}"), format!("projects/{project_id}")] {
            if !audiences.contains(&wanted.as_str()) {
                return Err(format!("audience does not include {wanted}"));
            }
        }
        match claims.get("exp").and_then(Value::as_i64) {
            Some(exp) if exp > now => {}
            Some(_) => return Err("token expired".into()),
            None => return Err("no exp claim".into()),
        }
        let app_id = claims.get("sub").and_then(Value::as_str).filter(|s| !s.is_empty()).ok_or("no sub claim")?;
        Ok(AppCheckClaims { app_id: app_id.to_owned(), project_number: project_number.to_owned() })
    }

    async fn key(&self, kid: &str) -> Result<RsaPublicKey, String> {
        let fresh = |age: Duration| age < CACHE_TTL;
        if let Ok(cache) = self.cache.read() {
            if let Some((at, keys)) = cache.as_ref() {
                match keys.get(kid) {
                    Some(k) if fresh(at.elapsed()) => return Ok(k.clone()),
                    None if at.elapsed() < MIN_REFETCH => return Err(format!("unknown kid {kid}")),
                    _ => {}
                }
            }
        }
        let source = self.source.clone();
        let keys = tokio::task::spawn_blocking(move || load_jwks(&source))
            .await
            .map_err(|e| e.to_string())?
            .map_err(|e| format!("App Check keys unavailable: {e}"))?;
        let key = keys.get(kid).cloned();
        if let Ok(mut cache) = self.cache.write() {
            *cache = Some((Instant::now(), keys));
        }
        key.ok_or_else(|| format!("unknown kid {kid}"))
    }
}

fn load_jwks(source: &str) -> Result<HashMap<String, RsaPublicKey>, String> {
    let body = if source.starts_with("https://") || source.starts_with("http://") {
        let agent = ureq::AgentBuilder::new().timeout(Duration::from_secs(10)).build();
        let response = agent.get(source).call().map_err(|e| e.to_string())?;
        let mut buf = Vec::new();
        std::io::Read::read_to_end(&mut std::io::Read::take(response.into_reader(), 1 << 20), &mut buf)
            .map_err(|e| e.to_string())?;
        buf
    } else {
        std::fs::read(source).map_err(|e| format!("{source}: {e}"))?
    };
    let doc: Value = serde_json::from_slice(&body).map_err(|e| e.to_string())?;
    let mut keys = HashMap::new();
    for k in doc.get("keys").and_then(Value::as_array).ok_or("no keys array")? {
        let field = |name: &str| k.get(name).and_then(Value::as_str);
        if field("kty") != Some("RSA") {
            continue;
        }
        let decode = |name: &str| {
            field(name)
                .and_then(|v| base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(v.trim_end_matches('=')).ok())
        };
        let (Some(kid), Some(n), Some(e)) = (field("kid"), decode("n"), decode("e")) else { continue };
        if let Ok(key) = RsaPublicKey::new(BigUint::from_bytes_be(&n), BigUint::from_bytes_be(&e)) {
            keys.insert(kid.to_owned(), key);
        }
    }
    Ok(keys)
}
