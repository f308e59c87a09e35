//! Issuer signing keys: sealed at rest with a key-encryption key (KEK), rotated by command, all published.
//!
//! The KEK comes from configuration (`kek`, 32 bytes base64) or, for the embedded default, from
//! `{data_dir}/kek` (generated with mode 0600, with a warning). Private keys are sealed with AES-256-GCM, the
//! key id as associated data, so a database dump alone does not reveal them. Servers re-read the current key
//! every [`REFRESH_SECS`] seconds, so `proofmark keys rotate` reaches every process sharing the database.
use std::path::Path;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, RwLock};

use aes_gcm::aead::{Aead, Payload};
use aes_gcm::{Aes256Gcm, KeyInit, Nonce};
use anyhow::{anyhow, bail, Context, Result};
use base64::Engine;
use proofmark_core::{IssuerKey, Jwk, Jwks};
use proofmark_store::{Store, StoredIssuerKey};
use rand::RngCore;
use zeroize::Zeroizing;

use crate::config::Config;

/// How often a server checks the database for a rotated key.
pub const REFRESH_SECS: i64 = 10;
const SEAL_MAGIC: &[u8; 4] = b"PMK1";

/// The key-encryption key. `Debug` hides it.
pub struct Kek(Zeroizing<[u8; 32]>);

impl std::fmt::Debug for Kek {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Kek(<redacted>)")
    }
}

impl Kek {
    /// From configuration, or the data directory's `kek` file (created if missing). The bool says whether
    /// the KEK lives beside the data (the embedded default), which deserves a warning.
    pub fn load(config: &Config) -> Result<(Self, bool)> {
        if let Some(kek) = Self::load_existing(config)? {
            return Ok((kek, config.kek.is_none()));
        }
        let path = config.data_dir.join("kek");
        let mut bytes = Zeroizing::new([0u8; 32]);
        rand::rngs::OsRng.fill_bytes(bytes.as_mut());
        let text = Zeroizing::new(base64::engine::general_purpose::STANDARD.encode(bytes.as_ref()));
        // Write a temporary file, then link it into place: a concurrent starter either wins or reads the
        // complete file the winner wrote; a crash never leaves a half-written `kek`.
        let tmp = config.data_dir.join(format!("kek.tmp.{}", std::process::id()));
        let _ = std::fs::remove_file(&tmp);
        write_private_file(&tmp, text.as_bytes())?;
        let linked = std::fs::hard_link(&tmp, &path);
        let _ = std::fs::remove_file(&tmp);
        match linked {
            Ok(()) => Ok((Self(bytes), true)),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                Ok((Self::load_existing(config)?.ok_or_else(|| anyhow!("{} vanished", path.display()))?, true))
            }
            Err(e) => Err(e).with_context(|| format!("creating {}", path.display())),
        }
    }

    /// From configuration or an existing `{data_dir}/kek`; never generates one (for `keys rotate`).
    pub fn load_existing(config: &Config) -> Result<Option<Self>> {
        if let Some(secret) = &config.kek {
            return Ok(Some(Self::from_base64(&secret.0).context("kek")?));
        }
        let path = config.data_dir.join("kek");
        match std::fs::read_to_string(&path) {
            Ok(text) => Ok(Some(Self::from_base64(text.trim()).with_context(|| path.display().to_string())?)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e).with_context(|| format!("reading {}", path.display())),
        }
    }

    pub fn from_base64(text: &str) -> Result<Self> {
        let bytes = Zeroizing::new(
            base64::engine::general_purpose::STANDARD.decode(text.trim()).map_err(|_| anyhow!("not base64"))?,
        );
        let array: [u8; 32] = bytes.as_slice().try_into().map_err(|_| anyhow!("must be 32 bytes"))?;
        Ok(Self(Zeroizing::new(array)))
    }

    /// A KEK from its 32 bytes.
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(Zeroizing::new(bytes))
    }

    pub fn seal(&self, kid: &str, plaintext: &[u8]) -> Vec<u8> {
        let cipher = Aes256Gcm::new(self.0.as_ref().into());
        let mut nonce = [0u8; 12];
        rand::rngs::OsRng.fill_bytes(&mut nonce);
        let sealed =
            cipher.encrypt(&Nonce::from(nonce), Payload { msg: plaintext, aad: kid.as_bytes() }).unwrap_or_default();
        [SEAL_MAGIC.as_slice(), &nonce, &sealed].concat()
    }

    pub fn unseal(&self, kid: &str, blob: &[u8]) -> Result<Zeroizing<Vec<u8>>> {
        if blob.len() < 4 + 12 + 16 || &blob[..4] != SEAL_MAGIC {
            bail!("sealed key {kid} is not in the PMK1 format");
        }
        let cipher = Aes256Gcm::new(self.0.as_ref().into());
        let mut nonce = [0u8; 12];
        nonce.copy_from_slice(&blob[4..16]);
        let plain = cipher
            .decrypt(&Nonce::from(nonce), Payload { msg: &blob[16..], aad: kid.as_bytes() })
            .map_err(|_| anyhow!("cannot unseal key {kid}: wrong key-encryption key, or the data was altered"))?;
        Ok(Zeroizing::new(plain))
    }
}

/// Write a file readable only by its owner.
fn write_private_file(path: &Path, bytes: &[u8]) -> Result<()> {
    proofmark_os::write_private_file(path, bytes).with_context(|| format!("creating {}", path.display()))
}

fn seal_new_key(kek: &Kek, now: i64) -> (IssuerKey, StoredIssuerKey) {
    let key = IssuerKey::generate(&mut rand::rngs::OsRng);
    let stored = StoredIssuerKey {
        kid: key.kid().to_owned(),
        public_jwk: key.public_jwk().to_json().to_string(),
        sealed_private_key: kek.seal(key.kid(), key.scalar_bytes().as_ref()),
        is_current: true,
        created_at: proofmark_store::Timestamp(now),
        retired_at: None,
    };
    (key, stored)
}

/// Make a new key current, retiring the previous one (`proofmark keys rotate`). Returns the new kid.
/// Refuses unless `kek` opens the current key: a key sealed under another KEK would stop every server.
pub async fn rotate(store: &dyn Store, kek: &Kek, now: i64) -> Result<String> {
    match IssuerKeys::read_current(store, kek).await {
        Ok(Some(_)) => {}
        Ok(None) => bail!("the store has no issuer key yet; start `proofmark serve` once to create the first one"),
        Err(e) => return Err(e.context("this key-encryption key does not open the current issuer key; give the servers' KEK (PROOFMARK_KEK or the same --data-dir)")),
    }
    let (key, stored) = seal_new_key(kek, now);
    store.rotate_issuer_key(&stored, proofmark_store::Timestamp(now)).await.context("storing the new issuer key")?;
    Ok(key.kid().to_owned())
}

/// Every published key (current first), for the JWKS.
pub async fn published(store: &dyn Store) -> Result<Jwks> {
    let mut keys = Vec::new();
    let mut skipped = Vec::new();
    for (index, k) in store.issuer_keys().await?.into_iter().enumerate() {
        let doc = format!("{{\"keys\":[{}]}}", k.public_jwk);
        match Jwks::parse(doc.as_bytes()) {
            Ok(mut set) if set.keys.len() == 1 => keys.push(set.keys.remove(0)),
            _ => skipped.push(proofmark_core::jwks::SkippedKey {
                index,
                kid: Some(k.kid),
                reason: "stored JWK unreadable".into(),
            }),
        }
    }
    Ok(Jwks { keys, skipped })
}

/// The current signing key, cached, re-read from the store every [`REFRESH_SECS`].
#[derive(Debug)]
pub struct IssuerKeys {
    kek: Kek,
    /// The signing key and its `created_at`; a refresh only ever moves to a newer key.
    current: RwLock<(Arc<IssuerKey>, i64)>,
    checked_at: AtomicI64,
}

impl IssuerKeys {
    /// Load the current key, creating the first one if the store has none.
    pub async fn load_or_create(store: &dyn Store, kek: Kek, now: i64) -> Result<Self> {
        let key = match Self::read_current(store, &kek).await? {
            Some(found) => found,
            None => {
                let (key, stored) = seal_new_key(&kek, now);
                if store.insert_first_issuer_key(&stored).await? {
                    tracing::info!(kid = key.kid(), "generated the first issuer key");
                    (key, stored.created_at.unix())
                } else {
                    // Another process created the first key at the same moment: use that one.
                    Self::read_current(store, &kek).await?.ok_or_else(|| anyhow!("no current issuer key"))?
                }
            }
        };
        Ok(Self { kek, current: RwLock::new((Arc::new(key.0), key.1)), checked_at: AtomicI64::new(now) })
    }

    async fn read_current(store: &dyn Store, kek: &Kek) -> Result<Option<(IssuerKey, i64)>> {
        let keys = store.issuer_keys().await?;
        let Some(k) = keys.into_iter().find(|k| k.is_current) else { return Ok(None) };
        let scalar = kek.unseal(&k.kid, &k.sealed_private_key)?;
        let key = IssuerKey::from_scalar_bytes(&scalar).ok_or_else(|| anyhow!("issuer key {} is corrupt", k.kid))?;
        if key.kid() != k.kid {
            bail!("issuer key {} does not match its kid", k.kid);
        }
        Ok(Some((key, k.created_at.unix())))
    }

    /// The key-encryption key everything private is sealed under (issuer keys, signing keys).
    pub fn kek(&self) -> &Kek {
        &self.kek
    }

    /// The key to sign with now.
    pub async fn current(&self, store: &dyn Store, now: i64) -> Result<Arc<IssuerKey>> {
        let checked = self.checked_at.load(Ordering::Relaxed);
        if now - checked >= REFRESH_SECS
            && self.checked_at.compare_exchange(checked, now, Ordering::AcqRel, Ordering::Relaxed).is_ok()
        {
            match Self::read_current(store, &self.kek).await {
                Ok(Some((key, created_at))) => {
                    let mut slot = self.current.write().map_err(|_| anyhow!("key cache poisoned"))?;
                    if slot.0.kid() != key.kid() && created_at >= slot.1 {
                        tracing::info!(kid = key.kid(), "issuer key rotated");
                        *slot = (Arc::new(key), created_at);
                    }
                }
                Ok(None) => tracing::warn!("no current issuer key in the store; keeping the cached one"),
                Err(e) => {
                    tracing::error!("cannot use the current issuer key, still signing with the cached one: {e:#}")
                }
            }
        }
        let slot = self.current.read().map_err(|_| anyhow!("key cache poisoned"))?;
        Ok(slot.0.clone())
    }

    pub fn current_jwk(&self) -> Option<Jwk> {
        self.current.read().ok().map(|k| k.0.public_jwk())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seal_round_trip_and_tamper() {
        let kek = Kek::from_base64(&base64::engine::general_purpose::STANDARD.encode([7u8; 32])).unwrap();
        let blob = kek.seal("kid-1", b"secret scalar");
        assert_eq!(kek.unseal("kid-1", &blob).unwrap().as_slice(), b"secret scalar");
        let sealed_for_other_kid = |e: anyhow::Error| format!("{e:#}");
        assert_eq!(
            kek.unseal("kid-2", &blob).map(|_| ()).map_err(sealed_for_other_kid),
            Err("cannot unseal key kid-2: wrong key-encryption key, or the data was altered".into()),
            "bound to the kid"
        );
        let mut bad = blob.clone();
        let last = bad.len() - 1;
        bad[last] ^= 1;
        let unseal_error = |k: &Kek, b: &[u8]| k.unseal("kid-1", b).map(|_| ()).map_err(|e| format!("{e:#}"));
        let altered = Err("cannot unseal key kid-1: wrong key-encryption key, or the data was altered".to_owned());
        assert_eq!(unseal_error(&kek, &bad), altered);
        let other = Kek::from_base64(&base64::engine::general_purpose::STANDARD.encode([8u8; 32])).unwrap();
        assert_eq!(unseal_error(&other, &blob), altered);
        assert!(!blob.windows(13).any(|w| w == b"secret scalar"), "ciphertext, not plaintext");
        assert_eq!(
            Kek::from_base64("c2hvcnQ=").map(|_| ()).map_err(|e| format!("{e:#}")),
            Err("must be 32 bytes".into())
        );
    }
}
