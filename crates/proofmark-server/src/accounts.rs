//! Account secrets of the publisher plane: Argon2id password hashes, session tokens and API keys (random,
//! stored as SHA-256), and organisations' Ed25519 signing keys (generated here, sealed under the KEK).
//! The private half of a signing key leaves this module only as a `SigningKey` value used to sign.
use std::sync::OnceLock;

use anyhow::{anyhow, Result};
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use ed25519_dalek::Signer;
use proofmark_store::{
    AttestationProvider, OrgId, Publisher, Role, SigningAlgorithm, SigningKeyId, Store, StoreError, Timestamp, User,
    UserId, UserSession,
};
use zeroize::Zeroizing;

use crate::keys::Kek;

/// API keys start with this, so a bearer credential can be told from a session token at a glance.
pub const API_KEY_PREFIX: &str = "pmk_";
/// Session tokens start with this.
pub const SESSION_PREFIX: &str = "pms_";
/// How many characters of an API key are kept in clear to tell keys apart in listings.
pub const SHOWN_PREFIX_LEN: usize = 12;

pub const MIN_PASSWORD_CHARS: usize = 8;
pub const MAX_PASSWORD_CHARS: usize = 1024;

/// What a registration (over HTTP, or `proofmark admin create-org`) must satisfy; the message names the
/// field.
pub fn check_registration(email: &str, password: &str, full_name: &str, org_name: &str) -> Result<(), String> {
    check_email(email)?;
    let n = password.chars().count();
    if !(MIN_PASSWORD_CHARS..=MAX_PASSWORD_CHARS).contains(&n) {
        return Err(format!("password must be {MIN_PASSWORD_CHARS} to {MAX_PASSWORD_CHARS} characters"));
    }
    proofmark_store::names::check_field("full_name", full_name)?;
    proofmark_store::names::check_field("organization_name", org_name)
}

/// A plausible address: one `@`, something on each side, a dot inside the domain, no spaces or controls.
fn check_email(email: &str) -> Result<(), String> {
    let invalid = || format!("email {email:?} is not a valid e-mail address");
    let e = email.trim();
    if e.len() < 3 || e.len() > 254 || e.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(invalid());
    }
    let (local, domain) = e.split_once('@').ok_or_else(invalid)?;
    let bad_domain = domain.contains('@') || !domain.contains('.') || domain.starts_with('.') || domain.ends_with('.');
    if local.is_empty() || bad_domain {
        return Err(invalid());
    }
    Ok(())
}

/// An organisation record (a sandbox publisher until an operator configures attestation) and its owner.
pub fn new_account(
    org_name: String,
    email: &str,
    password_hash: String,
    full_name: String,
    now: Timestamp,
) -> (Publisher, User) {
    let org = Publisher {
        publisher_id: OrgId::random(),
        name: org_name,
        sandbox: true,
        attestation_provider: AttestationProvider::None,
        attestation_bundle_id: None,
        firebase_project_id: None,
        created_at: now,
    };
    let user = User {
        user_id: UserId::random(),
        org_id: org.publisher_id,
        email: email.trim().to_owned(),
        password_hash,
        full_name,
        role: Role::Owner,
        created_at: now,
    };
    (org, user)
}

#[derive(Debug, thiserror::Error)]
pub enum AccountError {
    #[error("Email already registered")]
    EmailTaken,
    #[error("Organization '{0}' already exists")]
    OrgTaken(String),
    #[error(transparent)]
    Store(StoreError),
}

/// Store a new organisation with its owner (and a session), naming what was taken when refused.
pub async fn create_account(
    store: &dyn Store,
    org: &Publisher,
    user: &User,
    session: Option<&UserSession>,
) -> Result<(), AccountError> {
    match store.create_account(org, user, session).await {
        Ok(()) => Ok(()),
        Err(StoreError::Conflict) => match store.user_by_email(&user.email).await {
            Ok(Some(_)) => Err(AccountError::EmailTaken),
            Ok(None) => Err(AccountError::OrgTaken(org.name.clone())),
            Err(e) => Err(AccountError::Store(e)),
        },
        Err(e) => Err(AccountError::Store(e)),
    }
}

/// Argon2id with the library's defaults (RFC 9106's second recommendation: 19 MiB, 2 passes, 1 lane).
fn argon2() -> Argon2<'static> {
    Argon2::default()
}

/// Hash a password for storage (PHC string with a random salt).
pub fn hash_password(password: &str) -> Result<String> {
    let salt = SaltString::generate(&mut rand_core::OsRng);
    argon2().hash_password(password.as_bytes(), &salt).map(|h| h.to_string()).map_err(|e| anyhow!("argon2: {e}"))
}

/// Whether `password` matches `stored`. With no stored hash (unknown address) a dummy hash is checked all the
/// same, so the answer takes as long for an unknown address as for a wrong password.
pub fn verify_password(password: &str, stored: Option<&str>) -> bool {
    static DUMMY: OnceLock<String> = OnceLock::new();
    let dummy = DUMMY.get_or_init(|| hash_password("not a password anyone has").unwrap_or_default());
    let Ok(parsed) = PasswordHash::new(stored.unwrap_or(dummy)) else { return false };
    argon2().verify_password(password.as_bytes(), &parsed).is_ok() && stored.is_some()
}

/// A new session token and its stored hash.
pub fn new_session_token() -> (String, String) {
    let token = format!("{SESSION_PREFIX}{}", crate::random_token());
    let hash = crate::sha256_hex(token.as_bytes());
    (token, hash)
}

/// A new API key, its shown prefix and its stored hash.
pub fn new_api_key() -> (String, String, String) {
    let key = format!("{API_KEY_PREFIX}{}", crate::random_token());
    let prefix = key.chars().take(SHOWN_PREFIX_LEN).collect();
    let hash = crate::sha256_hex(key.as_bytes());
    (key, prefix, hash)
}

/// What the private key is sealed to: a sealed key moved to another row does not open.
pub fn seal_label(id: &SigningKeyId) -> String {
    format!("signing-key:{id}")
}

/// Generate an Ed25519 signing key for `org`, sealed under `kek`.
pub fn new_signing_key(kek: &Kek, org: OrgId, name: String, now: Timestamp) -> proofmark_store::SigningKey {
    let key = ed25519_dalek::SigningKey::generate(&mut rand_core::OsRng);
    let id = SigningKeyId::random();
    let secret = Zeroizing::new(key.to_bytes());
    proofmark_store::SigningKey {
        key_id: id,
        org_id: org,
        name,
        algorithm: SigningAlgorithm::Ed25519,
        public_key: hex::encode(key.verifying_key().as_bytes()),
        custody: proofmark_store::KeyCustody::Server,
        sealed_private_key: kek.seal(&seal_label(&id), secret.as_ref()),
        created_at: now,
        retired_at: None,
    }
}

/// A client-held key: only its public half, checked to be a valid Ed25519 point.
pub fn client_signing_key(
    org: OrgId,
    name: String,
    public_hex: &str,
    now: Timestamp,
) -> Result<proofmark_store::SigningKey, String> {
    let bytes: [u8; 32] = hex::decode(public_hex.trim())
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| "public_key must be 64 hex digits (an Ed25519 public key)".to_owned())?;
    // A point that does not decode, or one of small order (a "weak" key, which verifies forged signatures).
    let key = ed25519_dalek::VerifyingKey::from_bytes(&bytes).ok().filter(|k| !k.is_weak());
    if key.is_none() {
        return Err("public_key is not a valid Ed25519 public key".to_owned());
    }
    Ok(proofmark_store::SigningKey {
        key_id: SigningKeyId::random(),
        org_id: org,
        name,
        algorithm: SigningAlgorithm::Ed25519,
        public_key: hex::encode(bytes),
        custody: proofmark_store::KeyCustody::Client,
        sealed_private_key: Vec::new(),
        created_at: now,
        retired_at: None,
    })
}

/// Verify an Ed25519 signature (hex) over `message` with a stored key's public half (strict: no malleable
/// or small-order forms).
pub fn verify(stored: &proofmark_store::SigningKey, message: &[u8], signature_hex: &str) -> Result<(), String> {
    let public: [u8; 32] = hex::decode(&stored.public_key)
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| format!("signing key {} is corrupt", stored.key_id))?;
    let key = ed25519_dalek::VerifyingKey::from_bytes(&public).map_err(|e| e.to_string())?;
    let sig: [u8; 64] = hex::decode(signature_hex.trim())
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| "signature_hex must be 128 hex digits (an Ed25519 signature)".to_owned())?;
    key.verify_strict(message, &ed25519_dalek::Signature::from_bytes(&sig))
        .map_err(|_| "The signature does not verify with the signing key over the fingerprint".to_owned())
}

/// Open a stored signing key and sign `message` with it; checks that the key opens to its public half.
pub fn sign(kek: &Kek, stored: &proofmark_store::SigningKey, message: &[u8]) -> Result<ed25519_dalek::Signature> {
    if stored.custody != proofmark_store::KeyCustody::Server {
        return Err(anyhow!("signing key {} is held by the client", stored.key_id));
    }
    let secret = kek.unseal(&seal_label(&stored.key_id), &stored.sealed_private_key)?;
    let bytes: [u8; 32] =
        secret.as_slice().try_into().map_err(|_| anyhow!("signing key {} is corrupt", stored.key_id))?;
    let key = ed25519_dalek::SigningKey::from_bytes(&bytes);
    if hex::encode(key.verifying_key().as_bytes()) != stored.public_key {
        return Err(anyhow!("signing key {} does not match its public key", stored.key_id));
    }
    Ok(key.sign(message))
}

/// The seal label of the deployment's watermark key.
const WATERMARK_KEY: &str = "deployment:watermark_key";

/// The deployment's watermark key: read from the store (sealed under `kek`), or made on first start. Two
/// processes starting at once on an empty database agree on one key (the store keeps the first insert).
pub async fn load_or_create_watermark_key(
    store: &dyn Store,
    kek: &Kek,
    now: i64,
) -> Result<proofmark_media::watermark::WatermarkKey> {
    if store.deployment_secret(WATERMARK_KEY).await?.is_none() {
        let mut bytes = Zeroizing::new([0u8; 32]);
        rand_core::RngCore::fill_bytes(&mut rand_core::OsRng, bytes.as_mut());
        let sealed = kek.seal(WATERMARK_KEY, bytes.as_ref());
        if store.insert_deployment_secret(WATERMARK_KEY, &sealed, Timestamp(now)).await? {
            tracing::info!("generated the deployment's watermark key");
        }
    }
    let sealed = store.deployment_secret(WATERMARK_KEY).await?.ok_or_else(|| anyhow!("no watermark key stored"))?;
    let bytes = kek.unseal(WATERMARK_KEY, &sealed)?;
    let bytes: [u8; 32] = bytes.as_slice().try_into().map_err(|_| anyhow!("the stored watermark key is corrupt"))?;
    Ok(proofmark_media::watermark::WatermarkKey::from_bytes(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_verify_only_against_their_hash() {
        let h = hash_password("correct horse").unwrap();
        assert!(h.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{h}");
        assert!(verify_password("correct horse", Some(&h)));
        assert!(!verify_password("correct horsf", Some(&h)));
        assert!(!verify_password("correct horse", None), "no stored hash never verifies");
        assert!(!verify_password("x", Some("not a phc string")));
        assert_ne!(h, hash_password("correct horse").unwrap(), "salted");
    }

    #[test]
    fn signing_keys_seal_and_sign() {
        let kek = Kek::from_bytes([7; 32]);
        let k = new_signing_key(&kek, OrgId::random(), "desk".into(), Timestamp(1));
        assert!(!k.sealed_private_key.is_empty());
        let sig = sign(&kek, &k, b"fingerprint").unwrap();
        let public: [u8; 32] = hex::decode(&k.public_key).unwrap().try_into().unwrap();
        let vk = ed25519_dalek::VerifyingKey::from_bytes(&public).unwrap();
        vk.verify_strict(b"fingerprint", &sig).unwrap();
        // Another KEK, or the sealed bytes moved to another key's row, do not open.
        assert!(sign(&Kek::from_bytes([8; 32]), &k, b"x").is_err());
        let mut moved = k.clone();
        moved.key_id = SigningKeyId::random();
        assert!(sign(&kek, &moved, b"x").is_err());
    }
}
