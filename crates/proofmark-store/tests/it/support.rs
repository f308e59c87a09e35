//! Backends for the contract tests.
use std::sync::Arc;

use proofmark_store::{PostgresStore, SqliteStore, Store};

/// A fresh schema on the test PostgreSQL; returns a URL that selects it. Fails loudly without PostgreSQL.
pub async fn fresh_postgres_url() -> String {
    let base = proofmark_store::test_postgres_url();
    proofmark_store::create_postgres_schema(&base).await.unwrap_or_else(|e| {
        panic!("PostgreSQL at {base} is required for the storage tests (set PROOFMARK_TEST_DATABASE_URL): {e}")
    })
}

/// Both backends, freshly migrated. The temp dir must outlive the SQLite store.
pub async fn backends() -> (tempfile::TempDir, Vec<Arc<dyn Store>>) {
    let dir = tempfile::tempdir().unwrap();
    let sqlite_url = format!("sqlite://{}", dir.path().join("proofmark.db").display());
    let sqlite: Arc<dyn Store> = Arc::new(SqliteStore::open(&sqlite_url).await.unwrap());
    let postgres: Arc<dyn Store> = Arc::new(PostgresStore::open(&fresh_postgres_url().await).await.unwrap());
    (dir, vec![sqlite, postgres])
}
