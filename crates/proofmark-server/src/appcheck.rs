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
    /// No new fetch within this long of the last attempt (an unknown kid cannot make us fetch per request).
    min_refetch: Duration,
    cache: RwLock<Cache>,
    /// One fetch at a time: concurrent registrations wait for it instead of each starting their own.
    fetching: tokio::sync::Mutex<()>,
}

#[derive(Debug, Default)]
struct Cache {
    keys: HashMap<String, RsaPublicKey>,
    /// When the keys were last fetched successfully.
    fetched: Option<Instant>,
    /// When a fetch was last attempted (successful or not): no new attempt within [`MIN_REFETCH`].
    attempted: Option<Instant>,
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
        Self::with_min_refetch(source, MIN_REFETCH)
    }

    /// As [`AppCheckVerifier::new`], with another refetch throttle (tests use a short one).
    pub fn with_min_refetch(source: String, min_refetch: Duration) -> Self {
        Self { source, min_refetch, cache: RwLock::new(Cache::default()), fetching: tokio::sync::Mutex::new(()) }
    }

    /// Verify `token` for the publisher's Firebase project. `Err` is a message for the 401 detail.
    pub async fn verify(&self, token: &str, project_id: &str, now: i64) -> Result<AppCheckClaims, String> {
        let (jwt, kid) = decode_token(token)?;
        let key = self.key(&kid).await?;
        let signature = Signature::try_from(jwt.signature.as_slice()).map_err(|_| "malformed signature")?;
        VerifyingKey::<Sha256>::new(key)
            .verify(jwt.signing_input.as_bytes(), &signature)
            .map_err(|_| "signature does not verify")?;
        check_claims(&jwt, project_id, now)
    }

    async fn key(&self, kid: &str) -> Result<RsaPublicKey, String> {
        let lookup = |cache: &Cache| -> Option<Result<RsaPublicKey, String>> {
            let fresh = cache.fetched.is_some_and(|at| at.elapsed() < CACHE_TTL);
            let recently_tried = cache.attempted.is_some_and(|at| at.elapsed() < self.min_refetch);
            match cache.keys.get(kid) {
                Some(k) if fresh || recently_tried => Some(Ok(k.clone())),
                None if recently_tried => Some(Err(format!("unknown kid {kid}"))),
                _ => None,
            }
        };
        if let Some(answer) = self.cache.read().ok().and_then(|c| lookup(&c)) {
            return answer;
        }
        let _one_fetch = self.fetching.lock().await;
        if let Some(answer) = self.cache.read().ok().and_then(|c| lookup(&c)) {
            return answer; // another request fetched while this one waited
        }
        let source = self.source.clone();
        let fetched = tokio::task::spawn_blocking(move || load_jwks(&source)).await.map_err(|e| e.to_string())?;
        let mut cache = self.cache.write().map_err(|_| "App Check key cache poisoned".to_owned())?;
        cache.attempted = Some(Instant::now());
        match fetched {
            Ok(keys) => {
                cache.keys = keys;
                cache.fetched = cache.attempted;
            }
            // Keep serving the keys we had; the cause goes to the log, not to the client.
            Err(e) => tracing::error!("fetching the App Check JWKS from {}: {e}", self.source),
        }
        match cache.keys.get(kid) {
            Some(k) => Ok(k.clone()),
            None if cache.keys.is_empty() => Err("App Check keys are unavailable".into()),
            None => Err(format!("unknown kid {kid}")),
        }
    }
}

/// Split a token and check its header: RS256, `typ` JWT, a `kid`. Pure (the fuzz target runs it).
pub fn decode_token(token: &str) -> Result<(DecodedJwt, String), String> {
    let jwt = DecodedJwt::decode(token).map_err(|e| e.to_string())?;
    if jwt.header.alg.as_deref() != Some("RS256") {
        return Err(format!("algorithm {:?} is not RS256", jwt.header.alg.as_deref().unwrap_or("")));
    }
    if jwt.header.typ.as_deref() != Some("JWT") {
        return Err("typ is not JWT".into());
    }
    let kid = jwt.header.kid.clone().ok_or("no kid in the header")?;
    Ok((jwt, kid))
}

/// The claim checks after the signature: issuer, both audiences, expiry, app id. Pure.
pub fn check_claims(jwt: &DecodedJwt, project_id: &str, now: i64) -> Result<AppCheckClaims, String> {
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

fn load_jwks(source: &str) -> Result<HashMap<String, RsaPublicKey>, String> {
    if source.starts_with("http://") {
        return Err("the App Check JWKS must be fetched over https".into());
    }
    let body = if source.starts_with("https://") {
        let agent = ureq::AgentBuilder::new().timeout(Duration::from_secs(10)).build();
        let response = agent.get(source).call().map_err(|e| e.to_string())?;
        let mut buf = Vec::new();
        std::io::Read::read_to_end(&mut std::io::Read::take(response.into_reader(), 1 << 20), &mut buf)
            .map_err(|e| e.to_string())?;
        buf
    } else {
        std::fs::read(source).map_err(|e| format!("{source}: {e}"))?
    };
    parse_jwks(&body)
}

/// The RSA keys of an App Check key set (other key types and malformed entries are skipped). Pure.
pub fn parse_jwks(body: &[u8]) -> Result<HashMap<String, RsaPublicKey>, String> {
    let doc: Value = serde_json::from_slice(body).map_err(|e| e.to_string())?;
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
