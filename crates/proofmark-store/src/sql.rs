//! The SQLite and PostgreSQL implementations. The statements are the same text for both (`$n` placeholders,
//! `RETURNING`); [`impl_store!`] writes the one body of code for each pool type, so the two backends cannot
//! drift apart. Connection setup and migrations differ.
use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous};
use sqlx::Row;

use crate::{CaptureSession, Device, Publisher, Store, StoreError, StoredIssuerKey};

/// The embedded default: one file, WAL mode.
#[derive(Debug, Clone)]
pub struct SqliteStore {
    pool: SqlitePool,
}

impl SqliteStore {
    /// `sqlite://PATH` (created if missing) or `sqlite::memory:`.
    pub async fn open(url: &str) -> Result<Self, StoreError> {
        let options = SqliteConnectOptions::from_str(url)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(10));
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
    pool: PgPool,
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

fn map_unique(e: sqlx::Error) -> StoreError {
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
const DEVICE_COLUMNS: &str = "device_id, publisher_id, external_id, public_key, public_key_fingerprint, \
                              token_hash, attestation_method, app_id, created_at";

macro_rules! impl_store {
    ($store:ty, $backend:literal, $row:ty) => {
        fn publisher_from_row(r: &$row) -> Result<Publisher, sqlx::Error> {
            Ok(Publisher {
                publisher_id: r.try_get("publisher_id")?,
                name: r.try_get("name")?,
                sandbox: r.try_get("sandbox")?,
                attestation_provider: {
                    let text: String = r.try_get("attestation_provider")?;
                    crate::AttestationProvider::parse(&text).ok_or_else(|| decode_error("attestation_provider", &text))?
                },
                attestation_bundle_id: r.try_get("attestation_bundle_id")?,
                firebase_project_id: r.try_get("firebase_project_id")?,
                created_at: r.try_get("created_at")?,
            })
        }

        fn device_from_row(r: &$row) -> Result<Device, sqlx::Error> {
            Ok(Device {
                device_id: r.try_get("device_id")?,
                publisher_id: r.try_get("publisher_id")?,
                external_id: r.try_get("external_id")?,
                public_key: r.try_get("public_key")?,
                public_key_fingerprint: r.try_get("public_key_fingerprint")?,
                token_hash: r.try_get("token_hash")?,
                attestation_method: {
                    let text: String = r.try_get("attestation_method")?;
                    crate::AttestationMethod::parse(&text).ok_or_else(|| decode_error("attestation_method", &text))?
                },
                app_id: r.try_get("app_id")?,
                created_at: r.try_get("created_at")?,
            })
        }

        impl $store {
            /// Recompute every publisher's name key under the current rules ([`crate::names::name_key`]; older
            /// versions stored the lower-cased name). A name that now collides with another keeps its old key,
            /// with a warning: the operator should rename one of the two.
            pub(crate) async fn rekey_names(&self) -> Result<(), StoreError> {
                let rows = sqlx::query("SELECT publisher_id, name, name_key FROM publishers").fetch_all(&self.pool).await?;
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
                sqlx::query(
                    "INSERT INTO publishers (publisher_id, name, name_key, sandbox, attestation_provider, \
                     attestation_bundle_id, firebase_project_id, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                )
                .bind(&p.publisher_id)
                .bind(&p.name)
                .bind(crate::names::name_key(&p.name))
                .bind(p.sandbox)
                .bind(p.attestation_provider.as_str())
                .bind(&p.attestation_bundle_id)
                .bind(&p.firebase_project_id)
                .bind(p.created_at)
                .execute(&self.pool)
                .await
                .map_err(map_unique)?;
                Ok(())
            }

            #[tracing::instrument(skip_all)]
            async fn publisher(&self, publisher_id: &str) -> Result<Option<Publisher>, StoreError> {
                let sql = format!("SELECT {PUBLISHER_COLUMNS} FROM publishers WHERE publisher_id = $1");
                let row = sqlx::query(&sql).bind(publisher_id).fetch_optional(&self.pool).await?;
                Ok(row.as_ref().map(publisher_from_row).transpose()?)
            }

            #[tracing::instrument(skip_all)]
            async fn update_publisher(&self, p: &Publisher) -> Result<(), StoreError> {
                let done = sqlx::query(
                    "UPDATE publishers SET name = $2, name_key = $3, sandbox = $4, attestation_provider = $5, \
                     attestation_bundle_id = $6, firebase_project_id = $7 WHERE publisher_id = $1",
                )
                .bind(&p.publisher_id)
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
                let sql = format!(
                    "INSERT INTO devices ({DEVICE_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"
                );
                sqlx::query(&sql)
                    .bind(&d.device_id)
                    .bind(&d.publisher_id)
                    .bind(&d.external_id)
                    .bind(&d.public_key)
                    .bind(&d.public_key_fingerprint)
                    .bind(&d.token_hash)
                    .bind(d.attestation_method.as_str())
                    .bind(&d.app_id)
                    .bind(d.created_at)
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
                .bind(&s.capture_id)
                .bind(&s.device_id)
                .bind(&s.nonce_hash)
                .bind(s.created_at)
                .bind(s.expires_at)
                .execute(&self.pool)
                .await
                .map_err(map_unique)?;
                Ok(())
            }

            #[tracing::instrument(skip_all)]
            async fn redeem_nonce(
                &self,
                nonce_hash: &str,
                device_id: &str,
                now: i64,
            ) -> Result<Option<String>, StoreError> {
                let row = sqlx::query(
                    "UPDATE capture_sessions SET redeemed_at = $3 \
                     WHERE nonce_hash = $1 AND device_id = $2 AND redeemed_at IS NULL AND expires_at > $3 \
                     RETURNING capture_id",
                )
                .bind(nonce_hash)
                .bind(device_id)
                .bind(now)
                .fetch_optional(&self.pool)
                .await?;
                Ok(row.map(|r| r.try_get("capture_id")).transpose()?)
            }

            #[tracing::instrument(skip_all)]
            async fn prune_sessions(&self, before: i64) -> Result<u64, StoreError> {
                let done = sqlx::query("DELETE FROM capture_sessions WHERE redeemed_at IS NULL AND expires_at < $1")
                    .bind(before)
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
                            created_at: r.try_get("created_at")?,
                            retired_at: r.try_get("retired_at")?,
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
                .bind(key.created_at)
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
            async fn rotate_issuer_key(&self, key: &StoredIssuerKey, now: i64) -> Result<(), StoreError> {
                let mut tx = self.pool.begin().await?;
                sqlx::query("UPDATE issuer_keys SET is_current = FALSE, retired_at = $1 WHERE is_current")
                    .bind(now)
                    .execute(&mut *tx)
                    .await?;
                sqlx::query(
                    "INSERT INTO issuer_keys (kid, public_jwk, sealed_private_key, is_current, created_at) \
                     VALUES ($1, $2, $3, TRUE, $4)",
                )
                .bind(&key.kid)
                .bind(&key.public_jwk)
                .bind(&key.sealed_private_key)
                .bind(key.created_at)
                .execute(&mut *tx)
                .await
                .map_err(map_unique)?;
                tx.commit().await.map_err(map_unique)?;
                Ok(())
            }

            #[tracing::instrument(skip_all)]
            async fn create_admin_token(&self, token_hash: &str, label: &str, now: i64) -> Result<(), StoreError> {
                sqlx::query("INSERT INTO admin_tokens (token_hash, label, created_at) VALUES ($1, $2, $3)")
                    .bind(token_hash)
                    .bind(label)
                    .bind(now)
                    .execute(&self.pool)
                    .await
                    .map_err(map_unique)?;
                Ok(())
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
