//! The SQLite and PostgreSQL implementations. The statements are the same text for both (`$n` placeholders,
//! `RETURNING`); [`impl_store!`] writes the one body of code for each pool type, so the two backends cannot
//! drift apart. Connection setup and migrations differ.
use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous};
use sqlx::Row;

use crate::{
    ApiKey, ApiKeyId, CaptureId, CaptureSession, ContentRecord, Device, DeviceId, Job, JobId, OrgId, Publisher,
    PublisherId, RecordId, RecordStats, SigningKey, SigningKeyId, Store, StoreError, StoredIssuerKey, Timestamp, User,
    UserSession, Webhook, WebhookId,
};

/// The embedded default: one file, WAL mode.
#[derive(Debug, Clone)]
pub struct SqliteStore {
    pub(crate) pool: SqlitePool,
}

impl SqliteStore {
    /// `sqlite://PATH` (created if missing) or `sqlite::memory:`.
    pub async fn open(url: &str) -> Result<Self, StoreError> {
        let options = SqliteConnectOptions::from_str(url)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(10))
            // 32 MiB of page cache per connection (SQLite's default is 2 MiB): a log batch looks its records
            // up and inserts its leaves at random places in the record-id indexes.
            .pragma("cache_size", "-32768");
        let in_memory = url.contains(":memory:");
        if !in_memory {
            create_private(options.get_filename())?;
        }
        let pool = SqlitePoolOptions::new()
            // An in-memory database exists per connection: keep exactly one.
            .max_connections(if in_memory { 1 } else { 4 })
            .connect_with(options)
            .await?;
        sqlx::migrate!("./migrations/sqlite").run(&pool).await?;
        let store = Self { pool };
        store.rekey_names().await?;
        Ok(store)
    }
}

/// Create the database file readable only by its owner before SQLite opens it: SQLite then gives the `-wal`
/// and `-shm` files it creates beside it the same mode. An existing file is left as it is.
fn create_private(path: &std::path::Path) -> Result<(), StoreError> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    match options.open(path) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(StoreError::Io(format!("creating the database file {}: {e}", path.display()))),
    }
}

/// The scale-out store: any number of server processes share one PostgreSQL database.
#[derive(Debug, Clone)]
pub struct PostgresStore {
    pub(crate) pool: PgPool,
}

impl PostgresStore {
    /// A `postgres://` URL; `?options=-c search_path=NAME` selects a schema.
    pub async fn open(url: &str) -> Result<Self, StoreError> {
        let options = PgConnectOptions::from_str(url)?;
        let pool = PgPoolOptions::new()
            .max_connections(16)
            .acquire_timeout(Duration::from_secs(10))
            .connect_with(options)
            .await?;
        // Two processes starting at once must not run the migrations twice.
        let mut conn = pool.acquire().await?;
        sqlx::query("SELECT pg_advisory_lock(727272)").execute(&mut *conn).await?;
        let result = sqlx::migrate!("./migrations/postgres").run(&mut *conn).await;
        sqlx::query("SELECT pg_advisory_unlock(727272)").execute(&mut *conn).await?;
        result?;
        let store = Self { pool };
        store.rekey_names().await?;
        Ok(store)
    }
}

pub(crate) fn map_unique(e: sqlx::Error) -> StoreError {
    match e.as_database_error() {
        Some(db) if db.is_unique_violation() => StoreError::Conflict,
        _ => StoreError::Backend(e),
    }
}

/// A stored value that is not one the code knows: the row is refused when read, not carried as text.
fn decode_error(column: &str, value: &str) -> sqlx::Error {
    sqlx::Error::Decode(format!("{column} {value:?} is not a known value").into())
}

const PUBLISHER_COLUMNS: &str = "publisher_id, name, sandbox, attestation_provider, attestation_bundle_id, \
                                 firebase_project_id, created_at";
const USER_COLUMNS: &str = "user_id, org_id, email, password_hash, full_name, role, created_at";
const API_KEY_COLUMNS: &str =
    "key_id, org_id, name, prefix, key_hash, scopes, created_by, created_at, last_used_at, revoked_at";
const SIGNING_KEY_COLUMNS: &str =
    "key_id, org_id, name, algorithm, public_key, sealed_private_key, created_at, retired_at, custody";

/// Scopes as stored: sorted, space-separated.
fn scopes_text(scopes: &[crate::Scope]) -> String {
    let mut names: Vec<&str> = scopes.iter().map(|s| s.as_str()).collect();
    names.sort_unstable();
    names.dedup();
    names.join(" ")
}

fn parse_scopes(text: &str) -> Result<Vec<crate::Scope>, sqlx::Error> {
    let mut scopes = text
        .split_whitespace()
        .map(|s| crate::Scope::parse(s).ok_or_else(|| decode_error("scopes", text)))
        .collect::<Result<Vec<_>, _>>()?;
    scopes.sort_by_key(|s| s.as_str());
    scopes.dedup();
    Ok(scopes)
}

const DEVICE_COLUMNS: &str = "device_id, publisher_id, external_id, public_key, public_key_fingerprint, \
                              token_hash, attestation_method, app_id, created_at";

const RECORD_COLUMNS: &str = "record_id, org_id, signing_key_id, signer, origin_type, sha256, watermarked_sha256, \
    phash, fingerprint, signature, watermark_payload, file_name, media_type, file_size, width, height, \
    original_object, watermarked_object, source, created_at, deleted_at";

const JOB_COLUMNS: &str =
    "job_id, kind, payload, state, attempts, max_attempts, run_after, last_error, created_at, finished_at";
const WEBHOOK_COLUMNS: &str = "webhook_id, org_id, url, events, sealed_secret, created_at, deleted_at";
pub(crate) const INSERT_JOB: &str =
    "INSERT INTO jobs (job_id, kind, payload, state, attempts, max_attempts, run_after, \
    created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)";

/// Event types as stored: space-separated.
fn events_text(events: &[crate::EventType]) -> String {
    events.iter().map(|e| e.as_str()).collect::<Vec<_>>().join(" ")
}

const INSERT_SESSION: &str =
    "INSERT INTO user_sessions (token_hash, user_id, created_at, expires_at) VALUES ($1, $2, $3, $4)";

/// The one INSERT of a publisher (alone, or as an organisation with its first user), bound to `$p`.
macro_rules! insert_publisher {
    ($p:expr) => {
        sqlx::query(
            "INSERT INTO publishers (publisher_id, name, name_key, sandbox, attestation_provider, \
             attestation_bundle_id, firebase_project_id, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind($p.publisher_id.to_string())
        .bind(&$p.name)
        .bind(crate::names::name_key(&$p.name))
        .bind($p.sandbox)
        .bind($p.attestation_provider.as_str())
        .bind(&$p.attestation_bundle_id)
        .bind(&$p.firebase_project_id)
        .bind($p.created_at.unix())
    };
}

/// The one INSERT of a job, bound to `$j` (alone, or with the record whose events it delivers).
macro_rules! insert_job {
    ($j:expr) => {
        sqlx::query(INSERT_JOB)
            .bind($j.job_id.to_string())
            .bind(&$j.kind)
            .bind(&$j.payload)
            .bind($j.state.as_str())
            .bind($j.attempts)
            .bind($j.max_attempts)
            .bind($j.run_after.unix())
            .bind($j.created_at.unix())
    };
}

macro_rules! impl_store {
    ($store:ty, $backend:literal, $row:ty) => {
        /// A stored id (text); a value that is not a UUID refuses the row.
        fn id<T: std::str::FromStr>(r: &$row, column: &str) -> Result<T, sqlx::Error> {
            let text: String = r.try_get(column)?;
            text.parse().map_err(|_| decode_error(column, &text))
        }

        /// A stored value of a closed set; one the code does not know refuses the row.
        fn parsed<T>(r: &$row, column: &str, parse: impl Fn(&str) -> Option<T>) -> Result<T, sqlx::Error> {
            let text: String = r.try_get(column)?;
            parse(&text).ok_or_else(|| decode_error(column, &text))
        }

        fn time(r: &$row, column: &str) -> Result<Timestamp, sqlx::Error> {
            Ok(Timestamp(r.try_get(column)?))
        }

        fn time_opt(r: &$row, column: &str) -> Result<Option<Timestamp>, sqlx::Error> {
            Ok(r.try_get::<Option<i64>, _>(column)?.map(Timestamp))
        }

        fn publisher_from_row(r: &$row) -> Result<Publisher, sqlx::Error> {
            Ok(Publisher {
                publisher_id: id(r, "publisher_id")?,
                name: r.try_get("name")?,
                sandbox: r.try_get("sandbox")?,
                attestation_provider: parsed(r, "attestation_provider", crate::AttestationProvider::parse)?,
                attestation_bundle_id: r.try_get("attestation_bundle_id")?,
                firebase_project_id: r.try_get("firebase_project_id")?,
                created_at: time(r, "created_at")?,
            })
        }

        fn device_from_row(r: &$row) -> Result<Device, sqlx::Error> {
            Ok(Device {
                device_id: id(r, "device_id")?,
                publisher_id: id(r, "publisher_id")?,
                external_id: r.try_get("external_id")?,
                public_key: r.try_get("public_key")?,
                public_key_fingerprint: r.try_get("public_key_fingerprint")?,
                token_hash: r.try_get("token_hash")?,
                attestation_method: parsed(r, "attestation_method", crate::AttestationMethod::parse)?,
                app_id: r.try_get("app_id")?,
                created_at: time(r, "created_at")?,
            })
        }

        fn user_from_row(r: &$row) -> Result<User, sqlx::Error> {
            Ok(User {
                user_id: id(r, "user_id")?,
                org_id: id(r, "org_id")?,
                email: r.try_get("email")?,
                password_hash: r.try_get("password_hash")?,
                full_name: r.try_get("full_name")?,
                role: parsed(r, "role", crate::Role::parse)?,
                created_at: time(r, "created_at")?,
            })
        }

        fn api_key_from_row(r: &$row) -> Result<ApiKey, sqlx::Error> {
            Ok(ApiKey {
                key_id: id(r, "key_id")?,
                org_id: id(r, "org_id")?,
                name: r.try_get("name")?,
                prefix: r.try_get("prefix")?,
                key_hash: r.try_get("key_hash")?,
                scopes: parse_scopes(&r.try_get::<String, _>("scopes")?)?,
                created_by: r
                    .try_get::<Option<String>, _>("created_by")?
                    .map(|t| t.parse().map_err(|_| decode_error("created_by", &t)))
                    .transpose()?,
                created_at: time(r, "created_at")?,
                last_used_at: time_opt(r, "last_used_at")?,
                revoked_at: time_opt(r, "revoked_at")?,
            })
        }

        fn signing_key_from_row(r: &$row) -> Result<SigningKey, sqlx::Error> {
            Ok(SigningKey {
                key_id: id(r, "key_id")?,
                org_id: id(r, "org_id")?,
                name: r.try_get("name")?,
                algorithm: parsed(r, "algorithm", crate::SigningAlgorithm::parse)?,
                public_key: r.try_get("public_key")?,
                custody: parsed(r, "custody", crate::KeyCustody::parse)?,
                sealed_private_key: r.try_get("sealed_private_key")?,
                created_at: time(r, "created_at")?,
                retired_at: time_opt(r, "retired_at")?,
            })
        }

        fn record_from_row(r: &$row) -> Result<ContentRecord, sqlx::Error> {
            Ok(ContentRecord {
                record_id: id(r, "record_id")?,
                org_id: id(r, "org_id")?,
                signing_key_id: id(r, "signing_key_id")?,
                signer: r.try_get("signer")?,
                origin_type: r
                    .try_get::<Option<String>, _>("origin_type")?
                    .map(|t| crate::OriginType::parse(&t).ok_or_else(|| decode_error("origin_type", &t)))
                    .transpose()?,
                sha256: r.try_get("sha256")?,
                watermarked_sha256: r.try_get("watermarked_sha256")?,
                // The 64 bits are stored as a signed integer (both backends' BIGINT).
                phash: r.try_get::<i64, _>("phash")? as u64,
                fingerprint: r.try_get("fingerprint")?,
                signature: r.try_get("signature")?,
                watermark_payload: r.try_get("watermark_payload")?,
                file_name: r.try_get("file_name")?,
                media_type: r.try_get("media_type")?,
                file_size: r.try_get("file_size")?,
                width: r.try_get("width")?,
                height: r.try_get("height")?,
                original_object: r.try_get("original_object")?,
                watermarked_object: r.try_get("watermarked_object")?,
                source: parsed(r, "source", crate::RecordSource::parse)?,
                created_at: time(r, "created_at")?,
                deleted_at: time_opt(r, "deleted_at")?,
            })
        }

        fn job_from_row(r: &$row) -> Result<Job, sqlx::Error> {
            Ok(Job {
                job_id: id(r, "job_id")?,
                kind: r.try_get("kind")?,
                payload: r.try_get("payload")?,
                state: parsed(r, "state", crate::JobState::parse)?,
                attempts: r.try_get("attempts")?,
                max_attempts: r.try_get("max_attempts")?,
                run_after: time(r, "run_after")?,
                last_error: r.try_get("last_error")?,
                created_at: time(r, "created_at")?,
                finished_at: time_opt(r, "finished_at")?,
            })
        }

        fn webhook_from_row(r: &$row) -> Result<Webhook, sqlx::Error> {
            let text: String = r.try_get("events")?;
            Ok(Webhook {
                webhook_id: id(r, "webhook_id")?,
                org_id: id(r, "org_id")?,
                url: r.try_get("url")?,
                events: text
                    .split_whitespace()
                    .map(|e| crate::EventType::parse(e).ok_or_else(|| decode_error("events", &text)))
                    .collect::<Result<_, _>>()?,
                sealed_secret: r.try_get("sealed_secret")?,
                created_at: time(r, "created_at")?,
                deleted_at: time_opt(r, "deleted_at")?,
            })
        }

        impl $store {
            /// Set `stamp` (revoked_at, retired_at, deleted_at) to `now` on the row `id` of `org`, if it is not
            /// set yet: the one shape of every organisation-scoped revoke, retire and delete. `false` (nothing
            /// written) for another organisation's row, a missing one, or one stamped already.
            async fn stamp_once(
                &self,
                table: &'static str,
                id_column: &'static str,
                stamp: &'static str,
                id: &str,
                org: &OrgId,
                now: Timestamp,
            ) -> Result<bool, StoreError> {
                let sql = format!(
                    "UPDATE {table} SET {stamp} = $3 WHERE {id_column} = $1 AND org_id = $2 AND {stamp} IS NULL"
                );
                let done =
                    sqlx::query(&sql).bind(id).bind(org.to_string()).bind(now.unix()).execute(&self.pool).await?;
                Ok(done.rows_affected() == 1)
            }

            /// Recompute every publisher's name key under the current rules ([`crate::names::name_key`]; older
            /// versions stored the lower-cased name). A name that now collides with another keeps its old key,
            /// with a warning: the operator should rename one of the two.
            pub(crate) async fn rekey_names(&self) -> Result<(), StoreError> {
                let rows =
                    sqlx::query("SELECT publisher_id, name, name_key FROM publishers").fetch_all(&self.pool).await?;
                for r in rows {
                    let (id, name, key): (String, String, String) =
                        (r.try_get("publisher_id")?, r.try_get("name")?, r.try_get("name_key")?);
                    let want = crate::names::name_key(&name);
                    if want == key {
                        continue;
                    }
                    let updated = sqlx::query("UPDATE publishers SET name_key = $2 WHERE publisher_id = $1")
                        .bind(&id)
                        .bind(&want)
                        .execute(&self.pool)
                        .await
                        .map_err(map_unique);
                    match updated {
                        Ok(_) => {}
                        Err(StoreError::Conflict) => tracing::warn!(
                            "publisher {id} ({name:?}) looks like another publisher's name; rename one of them"
                        ),
                        Err(e) => return Err(e),
                    }
                }
                Ok(())
            }
        }

        #[async_trait]
        impl Store for $store {
            fn backend(&self) -> &'static str {
                $backend
            }

            #[tracing::instrument(skip_all)]
            async fn create_publisher(&self, p: &Publisher) -> Result<(), StoreError> {
                insert_publisher!(p).execute(&self.pool).await.map_err(map_unique)?;
                Ok(())
            }

            #[tracing::instrument(skip_all)]
            async fn publisher(&self, publisher_id: &PublisherId) -> Result<Option<Publisher>, StoreError> {
                let sql = format!("SELECT {PUBLISHER_COLUMNS} FROM publishers WHERE publisher_id = $1");
                let row = sqlx::query(&sql).bind(publisher_id.to_string()).fetch_optional(&self.pool).await?;
                Ok(row.as_ref().map(publisher_from_row).transpose()?)
            }

            #[tracing::instrument(skip_all)]
            async fn update_publisher(&self, p: &Publisher) -> Result<(), StoreError> {
                let done = sqlx::query(
                    "UPDATE publishers SET name = $2, name_key = $3, sandbox = $4, attestation_provider = $5, \
                     attestation_bundle_id = $6, firebase_project_id = $7 WHERE publisher_id = $1",
                )
                .bind(p.publisher_id.to_string())
                .bind(&p.name)
                .bind(crate::names::name_key(&p.name))
                .bind(p.sandbox)
                .bind(p.attestation_provider.as_str())
                .bind(&p.attestation_bundle_id)
                .bind(&p.firebase_project_id)
                .execute(&self.pool)
                .await
                .map_err(map_unique)?;
                if done.rows_affected() == 0 {
                    return Err(StoreError::NotFound);
                }
                Ok(())
            }

            #[tracing::instrument(skip_all)]
            async fn create_device(&self, d: &Device) -> Result<(), StoreError> {
                let sql = format!("INSERT INTO devices ({DEVICE_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)");
                sqlx::query(&sql)
                    .bind(d.device_id.to_string())
                    .bind(d.publisher_id.to_string())
                    .bind(&d.external_id)
                    .bind(&d.public_key)
                    .bind(&d.public_key_fingerprint)
                    .bind(&d.token_hash)
                    .bind(d.attestation_method.as_str())
                    .bind(&d.app_id)
                    .bind(d.created_at.unix())
                    .execute(&self.pool)
                    .await
                    .map_err(map_unique)?;
                Ok(())
            }

            #[tracing::instrument(skip_all)]
            async fn device_by_token_hash(&self, token_hash: &str) -> Result<Option<Device>, StoreError> {
                let sql = format!("SELECT {DEVICE_COLUMNS} FROM devices WHERE token_hash = $1");
                let row = sqlx::query(&sql).bind(token_hash).fetch_optional(&self.pool).await?;
                Ok(row.as_ref().map(device_from_row).transpose()?)
            }

            #[tracing::instrument(skip_all)]
            async fn create_session(&self, s: &CaptureSession) -> Result<(), StoreError> {
                sqlx::query(
                    "INSERT INTO capture_sessions (capture_id, device_id, nonce_hash, created_at, expires_at) \
                     VALUES ($1, $2, $3, $4, $5)",
                )
                .bind(s.capture_id.to_string())
                .bind(s.device_id.to_string())
                .bind(&s.nonce_hash)
                .bind(s.created_at.unix())
                .bind(s.expires_at.unix())
                .execute(&self.pool)
                .await
                .map_err(map_unique)?;
                Ok(())
            }

            #[tracing::instrument(skip_all)]
            async fn redeem_nonce(
                &self,
                nonce_hash: &str,
                device_id: &DeviceId,
                now: Timestamp,
            ) -> Result<Option<CaptureId>, StoreError> {
                let row = sqlx::query(
                    "UPDATE capture_sessions SET redeemed_at = $3 \
                     WHERE nonce_hash = $1 AND device_id = $2 AND redeemed_at IS NULL AND expires_at > $3 \
                     RETURNING capture_id",
                )
                .bind(nonce_hash)
                .bind(device_id.to_string())
                .bind(now.unix())
                .fetch_optional(&self.pool)
                .await?;
                Ok(row.map(|r| id(&r, "capture_id")).transpose()?)
            }

            #[tracing::instrument(skip_all)]
            async fn prune_sessions(&self, before: Timestamp) -> Result<u64, StoreError> {
                let done = sqlx::query("DELETE FROM capture_sessions WHERE redeemed_at IS NULL AND expires_at < $1")
                    .bind(before.unix())
                    .execute(&self.pool)
                    .await?;
                Ok(done.rows_affected())
            }

            #[tracing::instrument(skip_all)]
            async fn issuer_keys(&self) -> Result<Vec<StoredIssuerKey>, StoreError> {
                let rows = sqlx::query(
                    "SELECT kid, public_jwk, sealed_private_key, is_current, created_at, retired_at \
                     FROM issuer_keys ORDER BY is_current DESC, created_at DESC, kid",
                )
                .fetch_all(&self.pool)
                .await?;
                let keys = rows
                    .iter()
                    .map(|r| {
                        Ok(StoredIssuerKey {
                            kid: r.try_get("kid")?,
                            public_jwk: r.try_get("public_jwk")?,
                            sealed_private_key: r.try_get("sealed_private_key")?,
                            is_current: r.try_get("is_current")?,
                            created_at: time(r, "created_at")?,
                            retired_at: time_opt(r, "retired_at")?,
                        })
                    })
                    .collect::<Result<Vec<_>, sqlx::Error>>()?;
                Ok(keys)
            }

            #[tracing::instrument(skip_all)]
            async fn insert_first_issuer_key(&self, key: &StoredIssuerKey) -> Result<bool, StoreError> {
                let done = sqlx::query(
                    "INSERT INTO issuer_keys (kid, public_jwk, sealed_private_key, is_current, created_at) \
                     SELECT $1, $2, $3, TRUE, $4 WHERE NOT EXISTS (SELECT 1 FROM issuer_keys WHERE is_current)",
                )
                .bind(&key.kid)
                .bind(&key.public_jwk)
                .bind(&key.sealed_private_key)
                .bind(key.created_at.unix())
                .execute(&self.pool)
                .await
                .map_err(map_unique);
                match done {
                    Ok(r) => Ok(r.rows_affected() == 1),
                    // Two first keys at once: the partial unique index lets one in.
                    Err(StoreError::Conflict) => Ok(false),
                    Err(e) => Err(e),
                }
            }

            #[tracing::instrument(skip_all)]
            async fn rotate_issuer_key(&self, key: &StoredIssuerKey, now: Timestamp) -> Result<(), StoreError> {
                let mut tx = self.pool.begin().await?;
                sqlx::query("UPDATE issuer_keys SET is_current = FALSE, retired_at = $1 WHERE is_current")
                    .bind(now.unix())
                    .execute(&mut *tx)
                    .await?;
                sqlx::query(
                    "INSERT INTO issuer_keys (kid, public_jwk, sealed_private_key, is_current, created_at) \
                     VALUES ($1, $2, $3, TRUE, $4)",
                )
                .bind(&key.kid)
                .bind(&key.public_jwk)
                .bind(&key.sealed_private_key)
                .bind(key.created_at.unix())
                .execute(&mut *tx)
                .await
                .map_err(map_unique)?;
                tx.commit().await.map_err(map_unique)?;
                Ok(())
            }

            #[tracing::instrument(skip_all)]
            async fn create_admin_token(
                &self,
                token_hash: &str,
                label: &str,
                now: Timestamp,
            ) -> Result<(), StoreError> {
                sqlx::query("INSERT INTO admin_tokens (token_hash, label, created_at) VALUES ($1, $2, $3)")
                    .bind(token_hash)
                    .bind(label)
                    .bind(now.unix())
                    .execute(&self.pool)
                    .await
                    .map_err(map_unique)?;
                Ok(())
            }

            #[tracing::instrument(skip_all)]
            async fn create_account(
                &self,
                org: &Publisher,
                user: &User,
                session: Option<&UserSession>,
            ) -> Result<(), StoreError> {
                let mut tx = self.pool.begin().await?;
                insert_publisher!(org).execute(&mut *tx).await.map_err(map_unique)?;
                let sql =
                    format!("INSERT INTO users ({USER_COLUMNS}, email_key) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)");
                sqlx::query(&sql)
                    .bind(user.user_id.to_string())
                    .bind(user.org_id.to_string())
                    .bind(&user.email)
                    .bind(&user.password_hash)
                    .bind(&user.full_name)
                    .bind(user.role.as_str())
                    .bind(user.created_at.unix())
                    .bind(crate::email_key(&user.email))
                    .execute(&mut *tx)
                    .await
                    .map_err(map_unique)?;
                if let Some(session) = session {
                    sqlx::query(INSERT_SESSION)
                        .bind(&session.token_hash)
                        .bind(session.user_id.to_string())
                        .bind(session.created_at.unix())
                        .bind(session.expires_at.unix())
                        .execute(&mut *tx)
                        .await
                        .map_err(map_unique)?;
                }
                tx.commit().await.map_err(map_unique)?;
                Ok(())
            }

            #[tracing::instrument(skip_all)]
            async fn user_by_email(&self, email: &str) -> Result<Option<User>, StoreError> {
                let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE email_key = $1");
                let row = sqlx::query(&sql).bind(crate::email_key(email)).fetch_optional(&self.pool).await?;
                Ok(row.as_ref().map(user_from_row).transpose()?)
            }

            #[tracing::instrument(skip_all)]
            async fn create_user_session(&self, session: &UserSession) -> Result<(), StoreError> {
                sqlx::query(INSERT_SESSION)
                    .bind(&session.token_hash)
                    .bind(session.user_id.to_string())
                    .bind(session.created_at.unix())
                    .bind(session.expires_at.unix())
                    .execute(&self.pool)
                    .await
                    .map_err(map_unique)?;
                Ok(())
            }

            #[tracing::instrument(skip_all)]
            async fn user_by_session(&self, token_hash: &str, now: Timestamp) -> Result<Option<User>, StoreError> {
                let columns: Vec<String> = USER_COLUMNS.split(", ").map(|c| format!("u.{c}")).collect();
                let sql = format!(
                    "SELECT {} FROM user_sessions s JOIN users u ON u.user_id = s.user_id \
                     WHERE s.token_hash = $1 AND s.expires_at > $2",
                    columns.join(", ")
                );
                let row = sqlx::query(&sql).bind(token_hash).bind(now.unix()).fetch_optional(&self.pool).await?;
                Ok(row.as_ref().map(user_from_row).transpose()?)
            }

            #[tracing::instrument(skip_all)]
            async fn create_api_key(&self, key: &ApiKey) -> Result<(), StoreError> {
                let sql = format!(
                    "INSERT INTO api_keys ({API_KEY_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"
                );
                sqlx::query(&sql)
                    .bind(key.key_id.to_string())
                    .bind(key.org_id.to_string())
                    .bind(&key.name)
                    .bind(&key.prefix)
                    .bind(&key.key_hash)
                    .bind(scopes_text(&key.scopes))
                    .bind(key.created_by.map(|u| u.to_string()))
                    .bind(key.created_at.unix())
                    .bind(key.last_used_at.map(Timestamp::unix))
                    .bind(key.revoked_at.map(Timestamp::unix))
                    .execute(&self.pool)
                    .await
                    .map_err(map_unique)?;
                Ok(())
            }

            #[tracing::instrument(skip_all)]
            async fn api_keys(&self, org: &OrgId) -> Result<Vec<ApiKey>, StoreError> {
                let sql = format!(
                    "SELECT {API_KEY_COLUMNS} FROM api_keys WHERE org_id = $1 AND revoked_at IS NULL \
                     ORDER BY created_at, key_id"
                );
                let rows = sqlx::query(&sql).bind(org.to_string()).fetch_all(&self.pool).await?;
                Ok(rows.iter().map(api_key_from_row).collect::<Result<_, _>>()?)
            }

            #[tracing::instrument(skip_all)]
            async fn api_key_by_hash(&self, key_hash: &str) -> Result<Option<ApiKey>, StoreError> {
                let sql = format!("SELECT {API_KEY_COLUMNS} FROM api_keys WHERE key_hash = $1 AND revoked_at IS NULL");
                let row = sqlx::query(&sql).bind(key_hash).fetch_optional(&self.pool).await?;
                Ok(row.as_ref().map(api_key_from_row).transpose()?)
            }

            #[tracing::instrument(skip_all)]
            async fn touch_api_key(&self, key: &ApiKeyId, now: Timestamp) -> Result<(), StoreError> {
                sqlx::query(
                    "UPDATE api_keys SET last_used_at = $2 \
                     WHERE key_id = $1 AND (last_used_at IS NULL OR last_used_at <= $2 - 60)",
                )
                .bind(key.to_string())
                .bind(now.unix())
                .execute(&self.pool)
                .await?;
                Ok(())
            }

            #[tracing::instrument(skip_all)]
            async fn revoke_api_key(&self, org: &OrgId, key: &ApiKeyId, now: Timestamp) -> Result<bool, StoreError> {
                self.stamp_once("api_keys", "key_id", "revoked_at", &key.to_string(), org, now).await
            }

            #[tracing::instrument(skip_all)]
            async fn create_signing_key(&self, key: &SigningKey) -> Result<(), StoreError> {
                let sql =
                    format!("INSERT INTO signing_keys ({SIGNING_KEY_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)");
                sqlx::query(&sql)
                    .bind(key.key_id.to_string())
                    .bind(key.org_id.to_string())
                    .bind(&key.name)
                    .bind(key.algorithm.as_str())
                    .bind(&key.public_key)
                    .bind(&key.sealed_private_key)
                    .bind(key.created_at.unix())
                    .bind(key.retired_at.map(Timestamp::unix))
                    .bind(key.custody.as_str())
                    .execute(&self.pool)
                    .await
                    .map_err(map_unique)?;
                Ok(())
            }

            #[tracing::instrument(skip_all)]
            async fn signing_keys(&self, org: &OrgId) -> Result<Vec<SigningKey>, StoreError> {
                let sql = format!(
                    "SELECT {SIGNING_KEY_COLUMNS} FROM signing_keys WHERE org_id = $1 ORDER BY created_at, key_id"
                );
                let rows = sqlx::query(&sql).bind(org.to_string()).fetch_all(&self.pool).await?;
                Ok(rows.iter().map(signing_key_from_row).collect::<Result<_, _>>()?)
            }

            #[tracing::instrument(skip_all)]
            async fn signing_key(&self, key: &SigningKeyId) -> Result<Option<SigningKey>, StoreError> {
                let sql = format!("SELECT {SIGNING_KEY_COLUMNS} FROM signing_keys WHERE key_id = $1");
                let row = sqlx::query(&sql).bind(key.to_string()).fetch_optional(&self.pool).await?;
                Ok(row.as_ref().map(signing_key_from_row).transpose()?)
            }

            #[tracing::instrument(skip_all)]
            async fn retire_signing_key(
                &self,
                org: &OrgId,
                key: &SigningKeyId,
                now: Timestamp,
            ) -> Result<bool, StoreError> {
                self.stamp_once("signing_keys", "key_id", "retired_at", &key.to_string(), org, now).await
            }

            #[tracing::instrument(skip_all)]
            async fn create_record(&self, c: &ContentRecord, jobs: &[Job]) -> Result<(), StoreError> {
                let mut tx = self.pool.begin().await?;
                let placeholders: Vec<String> = (1..=21).map(|i| format!("${i}")).collect();
                let sql = format!("INSERT INTO content_records ({RECORD_COLUMNS}) VALUES ({})", placeholders.join(", "));
                sqlx::query(&sql)
                    .bind(c.record_id.to_string())
                    .bind(c.org_id.to_string())
                    .bind(c.signing_key_id.to_string())
                    .bind(&c.signer)
                    .bind(c.origin_type.map(|o| o.as_str()))
                    .bind(&c.sha256)
                    .bind(&c.watermarked_sha256)
                    .bind(c.phash as i64)
                    .bind(&c.fingerprint)
                    .bind(&c.signature)
                    .bind(&c.watermark_payload)
                    .bind(&c.file_name)
                    .bind(&c.media_type)
                    .bind(c.file_size)
                    .bind(c.width)
                    .bind(c.height)
                    .bind(&c.original_object)
                    .bind(&c.watermarked_object)
                    .bind(c.source.as_str())
                    .bind(c.created_at.unix())
                    .bind(c.deleted_at.map(Timestamp::unix))
                    .execute(&mut *tx)
                    .await
                    .map_err(map_unique)?;
                // Queued for the transparency log in the same transaction.
                sqlx::query("INSERT INTO log_queue (record_id) VALUES ($1)")
                    .bind(c.record_id.to_string())
                    .execute(&mut *tx)
                    .await
                    .map_err(map_unique)?;
                for j in jobs {
                    insert_job!(j).execute(&mut *tx).await.map_err(map_unique)?;
                }
                tx.commit().await.map_err(map_unique)?;
                Ok(())
            }

            #[tracing::instrument(skip_all)]
            async fn enqueue(&self, jobs: &[Job]) -> Result<(), StoreError> {
                let mut tx = self.pool.begin().await?;
                for j in jobs {
                    insert_job!(j).execute(&mut *tx).await.map_err(map_unique)?;
                }
                tx.commit().await.map_err(map_unique)?;
                Ok(())
            }

            #[tracing::instrument(skip_all)]
            async fn claim_jobs(
                &self,
                kinds: &[&str],
                worker: &str,
                now: Timestamp,
                lease_secs: i64,
                limit: u32,
            ) -> Result<Vec<Job>, StoreError> {
                let mut claimed = Vec::new();
                for kind in kinds {
                    // PostgreSQL: rows another transaction is claiming are skipped, not waited for. SQLite: one
                    // writer at a time, so the statement is atomic as it stands.
                    let lock = if $backend == "postgres" { "FOR UPDATE SKIP LOCKED" } else { "" };
                    let sql = format!(
                        "UPDATE jobs SET state = 'running', attempts = attempts + 1, locked_by = $2, locked_until = $3 + $4 \
                         WHERE job_id IN (SELECT job_id FROM jobs WHERE kind = $1 AND \
                           ((state = 'queued' AND run_after <= $3) OR (state = 'running' AND locked_until < $3)) \
                           ORDER BY run_after, job_id LIMIT $5 {lock}) \
                         RETURNING {JOB_COLUMNS}"
                    );
                    let rows = sqlx::query(&sql)
                        .bind(*kind)
                        .bind(worker)
                        .bind(now.unix())
                        .bind(lease_secs)
                        .bind(i64::from(limit))
                        .fetch_all(&self.pool)
                        .await?;
                    for r in &rows {
                        claimed.push(job_from_row(r)?);
                    }
                }
                Ok(claimed)
            }

            #[tracing::instrument(skip_all)]
            async fn finish_job(&self, job: &JobId, worker: &str, now: Timestamp) -> Result<bool, StoreError> {
                let done = sqlx::query(
                    "UPDATE jobs SET state = 'done', finished_at = $3, locked_by = NULL, locked_until = NULL \
                     WHERE job_id = $1 AND locked_by = $2 AND state = 'running'",
                )
                .bind(job.to_string())
                .bind(worker)
                .bind(now.unix())
                .execute(&self.pool)
                .await?;
                Ok(done.rows_affected() == 1)
            }

            #[tracing::instrument(skip_all)]
            async fn fail_job(&self, job: &JobId, worker: &str, error: &str, retry_at: Timestamp) -> Result<bool, StoreError> {
                let done = sqlx::query(
                    "UPDATE jobs SET state = CASE WHEN attempts >= max_attempts THEN 'dead' ELSE 'queued' END, \
                       finished_at = CASE WHEN attempts >= max_attempts THEN $4 ELSE NULL END, \
                       run_after = $4, last_error = $3, locked_by = NULL, locked_until = NULL \
                     WHERE job_id = $1 AND locked_by = $2 AND state = 'running'",
                )
                .bind(job.to_string())
                .bind(worker)
                .bind(error)
                .bind(retry_at.unix())
                .execute(&self.pool)
                .await?;
                Ok(done.rows_affected() == 1)
            }

            #[tracing::instrument(skip_all)]
            async fn job(&self, job: &JobId) -> Result<Option<Job>, StoreError> {
                let sql = format!("SELECT {JOB_COLUMNS} FROM jobs WHERE job_id = $1");
                let row = sqlx::query(&sql).bind(job.to_string()).fetch_optional(&self.pool).await?;
                Ok(row.as_ref().map(job_from_row).transpose()?)
            }

            #[tracing::instrument(skip_all)]
            async fn jobs_matching(&self, kind: &str, needle: &str, limit: u32) -> Result<Vec<Job>, StoreError> {
                let sql = format!(
                    "SELECT {JOB_COLUMNS} FROM jobs WHERE kind = $1 AND payload LIKE $2 ESCAPE '\\' \
                     ORDER BY created_at DESC, job_id DESC LIMIT $3"
                );
                let escaped: String = needle
                    .chars()
                    .flat_map(|c| match c {
                        '\\' | '%' | '_' => vec!['\\', c],
                        c => vec![c],
                    })
                    .collect();
                let pattern = format!("%{escaped}%");
                let rows = sqlx::query(&sql).bind(kind).bind(pattern).bind(i64::from(limit)).fetch_all(&self.pool).await?;
                Ok(rows.iter().map(job_from_row).collect::<Result<_, _>>()?)
            }

            #[tracing::instrument(skip_all)]
            async fn create_webhook(&self, w: &Webhook) -> Result<(), StoreError> {
                let sql = format!("INSERT INTO webhooks ({WEBHOOK_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7)");
                sqlx::query(&sql)
                    .bind(w.webhook_id.to_string())
                    .bind(w.org_id.to_string())
                    .bind(&w.url)
                    .bind(events_text(&w.events))
                    .bind(&w.sealed_secret)
                    .bind(w.created_at.unix())
                    .bind(w.deleted_at.map(Timestamp::unix))
                    .execute(&self.pool)
                    .await
                    .map_err(map_unique)?;
                Ok(())
            }

            #[tracing::instrument(skip_all)]
            async fn webhooks(&self, org: &OrgId) -> Result<Vec<Webhook>, StoreError> {
                let sql = format!(
                    "SELECT {WEBHOOK_COLUMNS} FROM webhooks WHERE org_id = $1 AND deleted_at IS NULL \
                     ORDER BY created_at, webhook_id"
                );
                let rows = sqlx::query(&sql).bind(org.to_string()).fetch_all(&self.pool).await?;
                Ok(rows.iter().map(webhook_from_row).collect::<Result<_, _>>()?)
            }

            #[tracing::instrument(skip_all)]
            async fn webhook(&self, id: &WebhookId) -> Result<Option<Webhook>, StoreError> {
                let sql = format!("SELECT {WEBHOOK_COLUMNS} FROM webhooks WHERE webhook_id = $1");
                let row = sqlx::query(&sql).bind(id.to_string()).fetch_optional(&self.pool).await?;
                Ok(row.as_ref().map(webhook_from_row).transpose()?)
            }

            #[tracing::instrument(skip_all)]
            async fn delete_webhook(&self, org: &OrgId, id: &WebhookId, now: Timestamp) -> Result<bool, StoreError> {
                self.stamp_once("webhooks", "webhook_id", "deleted_at", &id.to_string(), org, now).await
            }

            #[tracing::instrument(skip_all)]
            async fn record(&self, id: &RecordId) -> Result<Option<ContentRecord>, StoreError> {
                let sql = format!("SELECT {RECORD_COLUMNS} FROM content_records WHERE record_id = $1");
                let row = sqlx::query(&sql).bind(id.to_string()).fetch_optional(&self.pool).await?;
                Ok(row.as_ref().map(record_from_row).transpose()?)
            }

            #[tracing::instrument(skip_all)]
            async fn records(
                &self,
                org: &OrgId,
                before: Option<(Timestamp, RecordId)>,
                limit: u32,
            ) -> Result<Vec<ContentRecord>, StoreError> {
                // Newest first; the cursor is the last row's (created_at, record_id), compared as a pair.
                let (at, id) = match before {
                    Some((t, r)) => (t.unix(), r.to_string()),
                    None => (i64::MAX, String::new()),
                };
                let sql = format!(
                    "SELECT {RECORD_COLUMNS} FROM content_records WHERE org_id = $1 AND deleted_at IS NULL \
                     AND (created_at < $2 OR (created_at = $2 AND record_id < $3)) \
                     ORDER BY created_at DESC, record_id DESC LIMIT $4"
                );
                let rows = sqlx::query(&sql)
                    .bind(org.to_string())
                    .bind(at)
                    .bind(id)
                    .bind(i64::from(limit))
                    .fetch_all(&self.pool)
                    .await?;
                Ok(rows.iter().map(record_from_row).collect::<Result<_, _>>()?)
            }

            #[tracing::instrument(skip_all)]
            async fn delete_record(&self, org: &OrgId, id: &RecordId, now: Timestamp) -> Result<bool, StoreError> {
                self.stamp_once("content_records", "record_id", "deleted_at", &id.to_string(), org, now).await
            }

            #[tracing::instrument(skip_all)]
            async fn records_by_sha256(&self, sha256: &str) -> Result<Vec<ContentRecord>, StoreError> {
                let sql = format!(
                    "SELECT {RECORD_COLUMNS} FROM content_records \
                     WHERE (sha256 = $1 OR watermarked_sha256 = $1) AND deleted_at IS NULL ORDER BY created_at, record_id"
                );
                let rows = sqlx::query(&sql).bind(sha256).fetch_all(&self.pool).await?;
                Ok(rows.iter().map(record_from_row).collect::<Result<_, _>>()?)
            }

            #[tracing::instrument(skip_all)]
            async fn record_hashes(&self, after: i64, limit: u32) -> Result<Vec<crate::IndexRow>, StoreError> {
                // SQLite's rowid, PostgreSQL's identity column `seq` (migrations/*/0004).
                let sql = format!(
                    "SELECT {SEQ} AS seq, record_id, phash, watermark_payload FROM content_records \
                     WHERE {SEQ} > $1 ORDER BY {SEQ} LIMIT $2",
                    SEQ = if $backend == "sqlite" { "rowid" } else { "seq" }
                );
                let rows = sqlx::query(&sql).bind(after).bind(i64::from(limit)).fetch_all(&self.pool).await?;
                Ok(rows
                    .iter()
                    .map(|r| {
                        let payload: Option<String> = r.try_get("watermark_payload")?;
                        let watermark_payload = payload
                            .map(|text| {
                                let mut out = [0u8; 16];
                                hex::decode_to_slice(&text, &mut out)
                                    .map(|()| out)
                                    .map_err(|_| decode_error("watermark_payload", &text))
                            })
                            .transpose()?;
                        Ok(crate::IndexRow {
                            seq: r.try_get("seq")?,
                            record_id: id(r, "record_id")?,
                            phash: r.try_get::<i64, _>("phash")? as u64,
                            watermark_payload,
                        })
                    })
                    .collect::<Result<_, sqlx::Error>>()?)
            }

            #[tracing::instrument(skip_all)]
            async fn record_stats(&self, org: &OrgId, since: Timestamp) -> Result<RecordStats, StoreError> {
                let row = sqlx::query(
                    "SELECT \
                       COUNT(*) FILTER (WHERE deleted_at IS NULL) AS records, \
                       COUNT(*) FILTER (WHERE deleted_at IS NULL AND watermarked_object IS NOT NULL) AS watermarked, \
                       COUNT(*) FILTER (WHERE deleted_at IS NOT NULL) AS deleted, \
                       COUNT(*) FILTER (WHERE deleted_at IS NULL AND created_at >= $2) AS recent, \
                       MAX(created_at) FILTER (WHERE deleted_at IS NULL) AS last_signed_at \
                     FROM content_records WHERE org_id = $1",
                )
                .bind(org.to_string())
                .bind(since.unix())
                .fetch_one(&self.pool)
                .await?;
                let origins = sqlx::query(
                    "SELECT origin_type, COUNT(*) AS n FROM content_records WHERE org_id = $1 AND deleted_at IS NULL \
                     GROUP BY origin_type ORDER BY origin_type",
                )
                .bind(org.to_string())
                .fetch_all(&self.pool)
                .await?;
                let by_origin = origins
                    .iter()
                    .map(|r| {
                        let origin = r
                            .try_get::<Option<String>, _>("origin_type")?
                            .map(|t| crate::OriginType::parse(&t).ok_or_else(|| decode_error("origin_type", &t)))
                            .transpose()?;
                        Ok((origin, r.try_get::<i64, _>("n")?))
                    })
                    .collect::<Result<_, sqlx::Error>>()?;
                Ok(RecordStats {
                    records: row.try_get("records")?,
                    watermarked: row.try_get("watermarked")?,
                    deleted: row.try_get("deleted")?,
                    recent: row.try_get("recent")?,
                    by_origin,
                    last_signed_at: time_opt(&row, "last_signed_at")?,
                })
            }

            #[tracing::instrument(skip_all)]
            async fn deployment_secret(&self, name: &str) -> Result<Option<Vec<u8>>, StoreError> {
                let row = sqlx::query("SELECT sealed FROM deployment_secrets WHERE name = $1")
                    .bind(name)
                    .fetch_optional(&self.pool)
                    .await?;
                Ok(row.map(|r| r.try_get("sealed")).transpose()?)
            }

            #[tracing::instrument(skip_all)]
            async fn insert_deployment_secret(&self, name: &str, sealed: &[u8], now: Timestamp) -> Result<bool, StoreError> {
                let done = sqlx::query(
                    "INSERT INTO deployment_secrets (name, sealed, created_at) VALUES ($1, $2, $3) ON CONFLICT (name) DO NOTHING",
                )
                .bind(name)
                .bind(sealed)
                .bind(now.unix())
                .execute(&self.pool)
                .await?;
                Ok(done.rows_affected() == 1)
            }

            #[tracing::instrument(skip_all)]
            async fn admin_token_exists(&self, token_hash: &str) -> Result<bool, StoreError> {
                let row = sqlx::query("SELECT 1 AS one FROM admin_tokens WHERE token_hash = $1")
                    .bind(token_hash)
                    .fetch_optional(&self.pool)
                    .await?;
                Ok(row.is_some())
            }
        }
    };
}

mod sqlite_impl {
    use super::*;
    impl_store!(SqliteStore, "sqlite", sqlx::sqlite::SqliteRow);
}

mod postgres_impl {
    use super::*;
    impl_store!(PostgresStore, "postgres", sqlx::postgres::PgRow);
}
