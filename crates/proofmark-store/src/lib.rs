//! Proofmark's persistence: one [`Store`] trait, implemented for SQLite (the embedded default) and
//! PostgreSQL (scale-out). The only crate that contains SQL. Each backend has its own migrations
//! (`migrations/sqlite`, `migrations/postgres`), applied by [`open`].
//!
//! Invariants:
//! - Redeeming a capture nonce is one `UPDATE … RETURNING` statement: of any number of concurrent
//!   redemptions, in one process or many sharing a database, exactly one succeeds (SPEC §1.6).
//! - At most one issuer key is current (a partial unique index); making a new key current retires the old one
//!   in the same transaction.
//! - The transparency log's batches are atomic and elected (see [`LogStore`]).
//! - Secrets are stored only as hashes (device and admin tokens, nonces) or sealed (issuer private keys; the
//!   sealing happens in the caller, this crate sees only ciphertext).
use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use serde::Serialize;

mod anchor;
mod log;
pub mod names;
mod sql;

pub use anchor::{AnchorState, AnchorStore, StoredAnchor};
pub use log::{LogBatch, LogStore, StoredCheckpoint, StoredCosignature};
pub use sql::{PostgresStore, SqliteStore};

pub use proofmark_api::{
    ApiKeyId, AttestationProvider, CaptureId, DeviceId, EventId, EventType, JobId, JobState, KeyCustody, OrgId,
    OriginType, PublisherId, RecordId, RecordSource, Role, Scope, SigningAlgorithm, SigningKeyId, Timestamp, UserId,
    WebhookId,
};
pub use proofmark_core::AttestationMethod;

/// A publisher (an app vendor whose devices capture media).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Publisher {
    pub publisher_id: PublisherId,
    pub name: String,
    pub sandbox: bool,
    pub attestation_provider: AttestationProvider,
    pub attestation_bundle_id: Option<String>,
    pub firebase_project_id: Option<String>,
    pub created_at: Timestamp,
}

/// A registered device.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Device {
    pub device_id: DeviceId,
    pub publisher_id: PublisherId,
    pub external_id: String,
    pub public_key: String,
    pub public_key_fingerprint: String,
    pub token_hash: String,
    pub attestation_method: AttestationMethod,
    pub app_id: Option<String>,
    pub created_at: Timestamp,
}

/// An open capture session; its nonce is stored as a hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaptureSession {
    pub capture_id: CaptureId,
    pub device_id: DeviceId,
    pub nonce_hash: String,
    pub created_at: Timestamp,
    pub expires_at: Timestamp,
}

/// An issuer signing key: public JWK and the sealed private key.
#[derive(Clone, PartialEq, Eq)]
pub struct StoredIssuerKey {
    pub kid: String,
    pub public_jwk: String,
    pub sealed_private_key: Vec<u8>,
    pub is_current: bool,
    pub created_at: Timestamp,
    pub retired_at: Option<Timestamp>,
}

impl fmt::Debug for StoredIssuerKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StoredIssuerKey")
            .field("kid", &self.kid)
            .field("is_current", &self.is_current)
            .field("created_at", &self.created_at)
            .field("retired_at", &self.retired_at)
            .finish_non_exhaustive()
    }
}

/// A person's account in an organisation.
#[derive(Clone, PartialEq, Eq)]
pub struct User {
    pub user_id: UserId,
    pub org_id: OrgId,
    /// As given at registration (trimmed); uniqueness is on [`email_key`].
    pub email: String,
    /// Argon2id, PHC string form.
    pub password_hash: String,
    pub full_name: String,
    pub role: Role,
    pub created_at: Timestamp,
}

impl fmt::Debug for User {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("User")
            .field("user_id", &self.user_id)
            .field("org_id", &self.org_id)
            .field("role", &self.role)
            .finish_non_exhaustive()
    }
}

/// The key one account per address is kept on: trimmed and lower-cased.
pub fn email_key(email: &str) -> String {
    email.trim().to_lowercase()
}

/// A logged-in session; the token is stored as its SHA-256.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserSession {
    pub token_hash: String,
    pub user_id: UserId,
    pub created_at: Timestamp,
    pub expires_at: Timestamp,
}

/// An API key of an organisation; the key is stored as its SHA-256.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiKey {
    pub key_id: ApiKeyId,
    pub org_id: OrgId,
    pub name: String,
    pub prefix: String,
    pub key_hash: String,
    /// Sorted, without repeats.
    pub scopes: Vec<Scope>,
    pub created_by: Option<UserId>,
    pub created_at: Timestamp,
    pub last_used_at: Option<Timestamp>,
    pub revoked_at: Option<Timestamp>,
}

/// An organisation's signing key: the public key and the sealed private key.
#[derive(Clone, PartialEq, Eq)]
pub struct SigningKey {
    pub key_id: SigningKeyId,
    pub org_id: OrgId,
    pub name: String,
    pub algorithm: SigningAlgorithm,
    /// Lower-case hex.
    pub public_key: String,
    pub custody: KeyCustody,
    /// Empty for a client-held key.
    pub sealed_private_key: Vec<u8>,
    pub created_at: Timestamp,
    pub retired_at: Option<Timestamp>,
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningKey")
            .field("key_id", &self.key_id)
            .field("org_id", &self.org_id)
            .field("public_key", &self.public_key)
            .field("retired_at", &self.retired_at)
            .finish_non_exhaustive()
    }
}

/// One signed (or client-registered) file of an organisation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContentRecord {
    pub record_id: RecordId,
    pub org_id: OrgId,
    pub signing_key_id: SigningKeyId,
    /// The principal named in the fingerprint: a user id, or `api-key:{id}`.
    pub signer: String,
    pub origin_type: Option<OriginType>,
    /// Lower-case hex SHA-256 of the original.
    pub sha256: String,
    pub watermarked_sha256: Option<String>,
    pub phash: u64,
    /// The exact string that was signed.
    pub fingerprint: String,
    /// Ed25519 signature of `fingerprint`, lower-case hex.
    pub signature: String,
    /// `SHA256(signature)[:16]`, hex, when the file was watermarked.
    pub watermark_payload: Option<String>,
    pub file_name: Option<String>,
    pub media_type: String,
    pub file_size: i64,
    pub width: Option<i64>,
    pub height: Option<i64>,
    /// Object-store keys (none for client-registered hashes).
    pub original_object: Option<String>,
    pub watermarked_object: Option<String>,
    pub source: RecordSource,
    pub created_at: Timestamp,
    pub deleted_at: Option<Timestamp>,
}

impl ContentRecord {
    /// A client-registered record of a SHA-256 alone: pHash 0, no file, no watermark, no origin. The smallest
    /// valid record, for tests and benchmarks that fill a store; set other fields with struct update syntax.
    pub fn registered(org_id: OrgId, signing_key_id: SigningKeyId, sha256: String, created_at: Timestamp) -> Self {
        ContentRecord {
            record_id: RecordId::random(),
            org_id,
            signing_key_id,
            signer: "client".into(),
            origin_type: None,
            sha256,
            watermarked_sha256: None,
            phash: 0,
            fingerprint: "f".into(),
            signature: "s".into(),
            watermark_payload: None,
            file_name: None,
            media_type: "image/png".into(),
            file_size: 1,
            width: None,
            height: None,
            original_object: None,
            watermarked_object: None,
            source: RecordSource::Registered,
            created_at,
            deleted_at: None,
        }
    }
}

/// A durable job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Job {
    pub job_id: JobId,
    /// What runs it (`webhook`, …).
    pub kind: String,
    /// The kind's own JSON.
    pub payload: String,
    pub state: JobState,
    /// Attempts started, this one included once claimed.
    pub attempts: i64,
    pub max_attempts: i64,
    pub run_after: Timestamp,
    pub last_error: Option<String>,
    pub created_at: Timestamp,
    pub finished_at: Option<Timestamp>,
}

impl Job {
    /// A job to run as soon as a worker is free.
    pub fn new(kind: &str, payload: String, max_attempts: i64, now: Timestamp) -> Self {
        Job {
            job_id: JobId::random(),
            kind: kind.into(),
            payload,
            state: JobState::Queued,
            attempts: 0,
            max_attempts,
            run_after: now,
            last_error: None,
            created_at: now,
            finished_at: None,
        }
    }
}

/// A webhook endpoint of an organisation; its secret is sealed by the caller.
#[derive(Clone, PartialEq, Eq)]
pub struct Webhook {
    pub webhook_id: WebhookId,
    pub org_id: OrgId,
    pub url: String,
    pub events: Vec<EventType>,
    pub sealed_secret: Vec<u8>,
    pub created_at: Timestamp,
    pub deleted_at: Option<Timestamp>,
}

impl fmt::Debug for Webhook {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Webhook").field("webhook_id", &self.webhook_id).field("url", &self.url).finish_non_exhaustive()
    }
}

/// One record as the lookup indexes hold it ([`Store::record_hashes`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IndexRow {
    /// Insertion position.
    pub seq: i64,
    pub record_id: RecordId,
    pub phash: u64,
    /// The watermark payload, when the record's file was watermarked.
    pub watermark_payload: Option<[u8; 16]>,
}

/// Counts over an organisation's records.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RecordStats {
    /// Live records.
    pub records: i64,
    /// Live records with a watermarked file.
    pub watermarked: i64,
    /// Tombstoned records.
    pub deleted: i64,
    /// Live records since the time asked for.
    pub recent: i64,
    /// Live records per declared origin (`None`: not declared), by origin code.
    pub by_origin: Vec<(Option<OriginType>, i64)>,
    pub last_signed_at: Option<Timestamp>,
}

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// A uniqueness rule was violated (the caller maps this to 409).
    #[error("already exists")]
    Conflict,
    #[error("not found")]
    NotFound,
    /// The URL does not name a supported database.
    /// Only the URL's scheme is kept: the rest may hold a password.
    #[error("unsupported database URL scheme {0:?}: use sqlite://PATH or postgres://…")]
    UnsupportedUrl(String),
    #[error("database error: {0}")]
    Backend(#[from] sqlx::Error),
    #[error("migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("{0}")]
    Io(String),
}

/// Everything the capture plane persists.
#[async_trait]
pub trait Store: LogStore + AnchorStore + Send + Sync + fmt::Debug {
    /// `"sqlite"` or `"postgres"`.
    fn backend(&self) -> &'static str;

    /// Insert; [`StoreError::Conflict`] when the name exists (case-insensitively).
    async fn create_publisher(&self, p: &Publisher) -> Result<(), StoreError>;
    async fn publisher(&self, publisher_id: &PublisherId) -> Result<Option<Publisher>, StoreError>;
    /// Replace all fields; [`StoreError::NotFound`] or [`StoreError::Conflict`] (name taken).
    async fn update_publisher(&self, p: &Publisher) -> Result<(), StoreError>;

    /// Insert; [`StoreError::Conflict`] when the publisher has a device with this external id.
    async fn create_device(&self, d: &Device) -> Result<(), StoreError>;
    async fn device_by_token_hash(&self, token_hash: &str) -> Result<Option<Device>, StoreError>;

    async fn create_session(&self, s: &CaptureSession) -> Result<(), StoreError>;
    /// Atomically mark the session with this nonce as redeemed, if it belongs to `device_id`, is unexpired at
    /// `now` and was never redeemed. Returns its capture id, or `None` (unknown, expired, used, other device).
    async fn redeem_nonce(
        &self,
        nonce_hash: &str,
        device_id: &DeviceId,
        now: Timestamp,
    ) -> Result<Option<CaptureId>, StoreError>;

    /// Delete sessions that expired before `before` without being redeemed. (Redeemed ones stay: they
    /// record which device each capture id was issued to.) Returns how many were deleted.
    async fn prune_sessions(&self, before: Timestamp) -> Result<u64, StoreError>;

    /// All issuer keys, current first, then newest first.
    async fn issuer_keys(&self) -> Result<Vec<StoredIssuerKey>, StoreError>;
    /// Insert `key` as the current key only if there is no current key yet. `Ok(false)` when there is one
    /// (also when another process inserted its first key at the same moment): the caller reads that one.
    async fn insert_first_issuer_key(&self, key: &StoredIssuerKey) -> Result<bool, StoreError>;
    /// Insert `key` as the current key and retire the previous current key, in one transaction.
    /// [`StoreError::Conflict`] if another process made a key current at the same moment.
    async fn rotate_issuer_key(&self, key: &StoredIssuerKey, now: Timestamp) -> Result<(), StoreError>;

    async fn create_admin_token(&self, token_hash: &str, label: &str, now: Timestamp) -> Result<(), StoreError>;
    async fn admin_token_exists(&self, token_hash: &str) -> Result<bool, StoreError>;

    // Accounts (publisher plane). An organisation is a publisher row.

    /// Create an organisation, its first user and (optionally) a session, in one transaction: all or nothing.
    /// [`StoreError::Conflict`] when the organisation's name or the user's e-mail address is taken.
    async fn create_account(
        &self,
        org: &Publisher,
        user: &User,
        session: Option<&UserSession>,
    ) -> Result<(), StoreError>;
    /// The user with this address ([`email_key`] is applied here).
    async fn user_by_email(&self, email: &str) -> Result<Option<User>, StoreError>;
    async fn create_user_session(&self, session: &UserSession) -> Result<(), StoreError>;
    /// The user a session token hash belongs to, if the session is unexpired at `now`.
    async fn user_by_session(&self, token_hash: &str, now: Timestamp) -> Result<Option<User>, StoreError>;

    async fn create_api_key(&self, key: &ApiKey) -> Result<(), StoreError>;
    /// The organisation's keys, revoked ones excluded, oldest first.
    async fn api_keys(&self, org: &OrgId) -> Result<Vec<ApiKey>, StoreError>;
    /// The unrevoked key with this hash.
    async fn api_key_by_hash(&self, key_hash: &str) -> Result<Option<ApiKey>, StoreError>;
    /// Record a use at `now`; writes at most once a minute per key.
    async fn touch_api_key(&self, key: &ApiKeyId, now: Timestamp) -> Result<(), StoreError>;
    /// Revoke the key if it belongs to `org` and is not revoked yet; `false` otherwise (nothing written).
    async fn revoke_api_key(&self, org: &OrgId, key: &ApiKeyId, now: Timestamp) -> Result<bool, StoreError>;

    async fn create_signing_key(&self, key: &SigningKey) -> Result<(), StoreError>;
    /// The organisation's signing keys, retired ones included, oldest first.
    async fn signing_keys(&self, org: &OrgId) -> Result<Vec<SigningKey>, StoreError>;
    /// The key with this id, whoever owns it (callers check `org_id`: verifying old records needs any key).
    async fn signing_key(&self, key: &SigningKeyId) -> Result<Option<SigningKey>, StoreError>;
    /// Retire the key if it belongs to `org` and is current; `false` otherwise (nothing written).
    async fn retire_signing_key(&self, org: &OrgId, key: &SigningKeyId, now: Timestamp) -> Result<bool, StoreError>;

    // Content records (publisher plane).

    /// Insert the record and enqueue `jobs` (its events' deliveries) in one transaction.
    async fn create_record(&self, record: &ContentRecord, jobs: &[Job]) -> Result<(), StoreError>;
    /// The record, tombstoned or not.
    async fn record(&self, id: &RecordId) -> Result<Option<ContentRecord>, StoreError>;
    /// The organisation's live records, newest first, after the `(created_at, record_id)` cursor when given.
    async fn records(
        &self,
        org: &OrgId,
        before: Option<(Timestamp, RecordId)>,
        limit: u32,
    ) -> Result<Vec<ContentRecord>, StoreError>;
    /// Tombstone the record if it belongs to `org` and is live; `false` otherwise (nothing written).
    async fn delete_record(&self, org: &OrgId, id: &RecordId, now: Timestamp) -> Result<bool, StoreError>;
    /// Live records whose original or watermarked file has this SHA-256.
    async fn records_by_sha256(&self, sha256: &str) -> Result<Vec<ContentRecord>, StoreError>;

    /// What the lookup indexes hold of each record (pHash and watermark payload), in insertion order, from the
    /// `after`-th on (exclusive), at most `limit`. Positions grow with insertion but may have gaps, and under
    /// concurrent inserts on PostgreSQL a lower one can become visible after a higher one: callers re-read a
    /// window. Tombstoned records are included (callers filter when they read the record).
    async fn record_hashes(&self, after: i64, limit: u32) -> Result<Vec<IndexRow>, StoreError>;

    /// Counts over the organisation's records; `recent` counts those created at or after `since`.
    async fn record_stats(&self, org: &OrgId, since: Timestamp) -> Result<RecordStats, StoreError>;

    // Durable jobs. A claim is a lease: a job whose worker does not finish by `locked_until` is claimed again.

    async fn enqueue(&self, jobs: &[Job]) -> Result<(), StoreError>;
    /// Claim up to `limit` jobs of `kinds` that are due at `now` (queued, or running with an expired lease) for
    /// `worker` until `now + lease_secs`; each claim counts an attempt. PostgreSQL: `FOR UPDATE SKIP LOCKED`,
    /// so any number of processes claim disjoint jobs.
    async fn claim_jobs(
        &self,
        kinds: &[&str],
        worker: &str,
        now: Timestamp,
        lease_secs: i64,
        limit: u32,
    ) -> Result<Vec<Job>, StoreError>;
    /// Mark a claimed job done; `false` if `worker` no longer holds it (its lease ran out and it was claimed
    /// again): then nothing is written.
    async fn finish_job(&self, job: &JobId, worker: &str, now: Timestamp) -> Result<bool, StoreError>;
    /// Record a failed attempt: queued again at `retry_at`, or dead when out of attempts; `false` if `worker`
    /// no longer holds it.
    async fn fail_job(&self, job: &JobId, worker: &str, error: &str, retry_at: Timestamp) -> Result<bool, StoreError>;
    async fn job(&self, job: &JobId) -> Result<Option<Job>, StoreError>;
    /// Jobs of `kind` whose payload contains `needle` (a webhook's deliveries), newest first.
    async fn jobs_matching(&self, kind: &str, needle: &str, limit: u32) -> Result<Vec<Job>, StoreError>;

    async fn create_webhook(&self, webhook: &Webhook) -> Result<(), StoreError>;
    /// The organisation's live webhooks, oldest first.
    async fn webhooks(&self, org: &OrgId) -> Result<Vec<Webhook>, StoreError>;
    /// The webhook, deleted or not.
    async fn webhook(&self, id: &WebhookId) -> Result<Option<Webhook>, StoreError>;
    /// Delete it if it belongs to `org` and is live; `false` otherwise (nothing written).
    async fn delete_webhook(&self, org: &OrgId, id: &WebhookId, now: Timestamp) -> Result<bool, StoreError>;

    /// A deployment secret (sealed by the caller), if one was stored.
    async fn deployment_secret(&self, name: &str) -> Result<Option<Vec<u8>>, StoreError>;
    /// Store `sealed` under `name` unless a secret of that name exists (also one another process stored at
    /// the same moment); `Ok(false)` then: the caller reads that one.
    async fn insert_deployment_secret(&self, name: &str, sealed: &[u8], now: Timestamp) -> Result<bool, StoreError>;
}

/// Open (and migrate) the database a URL names: `sqlite://PATH` (created if missing) or `postgres://…`.
pub async fn open(url: &str) -> Result<Arc<dyn Store>, StoreError> {
    if url.starts_with("sqlite:") {
        Ok(Arc::new(SqliteStore::open(url).await?))
    } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        Ok(Arc::new(PostgresStore::open(url).await?))
    } else {
        Err(StoreError::UnsupportedUrl(url.split(':').next().unwrap_or("").chars().take(32).collect()))
    }
}

/// The PostgreSQL test suites' database: `PROOFMARK_TEST_DATABASE_URL`, or the local default.
pub fn test_postgres_url() -> String {
    std::env::var("PROOFMARK_TEST_DATABASE_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into())
}

/// For test suites and benchmarks: create a new, empty schema in the PostgreSQL database at `base_url` and
/// return a URL that selects it (`options=-c search_path=…`), so runs never see each other's rows.
pub async fn create_postgres_schema(base_url: &str) -> Result<String, StoreError> {
    use sqlx::Connection;
    let mut conn = sqlx::PgConnection::connect(base_url).await?;
    // Names carry their creation time; schemas left by runs over an hour ago are dropped here.
    let stale: Vec<String> = sqlx::query_scalar(
        "SELECT nspname::text FROM pg_namespace WHERE nspname ~ '^pm_test_[0-9]+_' \
         AND split_part(nspname::text, '_', 3)::bigint < extract(epoch FROM now())::bigint - 3600",
    )
    .fetch_all(&mut conn)
    .await?;
    for old in stale {
        sqlx::query(&format!("DROP SCHEMA IF EXISTS {old} CASCADE")).execute(&mut conn).await?;
    }
    let name: String = sqlx::query_scalar(
        "SELECT 'pm_test_' || extract(epoch FROM now())::bigint || '_' || \
         substr(md5(random()::text || clock_timestamp()::text), 1, 12)",
    )
    .fetch_one(&mut conn)
    .await?;
    sqlx::query(&format!("CREATE SCHEMA {name}")).execute(&mut conn).await?;
    conn.close().await?;
    let sep = if base_url.contains('?') { '&' } else { '?' };
    Ok(format!("{base_url}{sep}options=-c%20search_path%3D{name}"))
}
