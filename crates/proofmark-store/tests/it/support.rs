//! Backends for the contract tests.
use std::sync::Arc;

use proofmark_store::{PostgresStore, SqliteStore, Store};

pub fn postgres_base_url() -> String {
    std::env::var("PROOFMARK_TEST_DATABASE_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into())
}

/// A fresh schema on the test PostgreSQL; returns a URL that selects it.
pub async fn fresh_postgres_url() -> String {
    let base = postgres_base_url();
    let schema = format!("pm_test_{}", uuid::Uuid::new_v4().simple());
    let pool = sqlx::postgres::PgPoolOptions::new().max_connections(1).connect(&base).await.unwrap_or_else(|e| {
        panic!("PostgreSQL at {base} is required for the storage tests (set PROOFMARK_TEST_DATABASE_URL): {e}")
    });
    sqlx::query(&format!("CREATE SCHEMA {schema}")).execute(&pool).await.unwrap();
    pool.close().await;
    let sep = if base.contains('?') { '&' } else { '?' };
    format!("{base}{sep}options=-c%20search_path%3D{schema}")
}

/// Both backends, freshly migrated. The temp dir must outlive the SQLite store.
pub async fn backends() -> (tempfile::TempDir, Vec<Arc<dyn Store>>) {
    let dir = tempfile::tempdir().unwrap();
    let sqlite_url = format!("sqlite://{}", dir.path().join("proofmark.db").display());
    let sqlite: Arc<dyn Store> = Arc::new(SqliteStore::open(&sqlite_url).await.unwrap());
    let postgres: Arc<dyn Store> = Arc::new(PostgresStore::open(&fresh_postgres_url().await).await.unwrap());
    (dir, vec![sqlite, postgres])
}
