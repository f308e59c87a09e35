//! Where original and watermarked files live, through the `object_store` crate: the `objects` folder of the
//! data directory by default (created 0700), or any S3-compatible store (`objects.url = "s3://…"`).
//! Keys are `records/{record_id}/{original|watermarked}.{ext}`, so every object names the record it
//! belongs to.
use std::sync::Arc;

use anyhow::{Context, Result};
use bytes::Bytes;
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};

use crate::config::Config;

/// The configured object store.
#[derive(Clone)]
pub struct Objects {
    store: Arc<dyn ObjectStore>,
    /// For logs: `file://…` or `s3://bucket/prefix`.
    describe: String,
}

impl std::fmt::Debug for Objects {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.describe)
    }
}

impl Objects {
    pub fn open(config: &Config) -> Result<Self> {
        let o = &config.objects;
        match &o.url {
            None => {
                let dir = config.data_dir.join("objects");
                crate::create_private_dir(&dir)?;
                let store = object_store::local::LocalFileSystem::new_with_prefix(&dir)
                    .with_context(|| format!("opening the object folder {}", dir.display()))?;
                Ok(Self { store: Arc::new(store), describe: format!("file://{}", dir.display()) })
            }
            Some(url) => {
                let rest = url.strip_prefix("s3://").context("objects.url must be s3://BUCKET[/PREFIX]")?;
                let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
                let mut builder = object_store::aws::AmazonS3Builder::new()
                    .with_bucket_name(bucket)
                    .with_region(&o.s3_region)
                    .with_allow_http(o.s3_allow_http);
                if let Some(endpoint) = &o.s3_endpoint {
                    builder = builder.with_endpoint(endpoint);
                }
                if let Some(id) = &o.s3_access_key_id {
                    builder = builder.with_access_key_id(id);
                }
                if let Some(secret) = &o.s3_secret_access_key {
                    builder = builder.with_secret_access_key(&secret.0);
                }
                let s3 = builder.build().with_context(|| format!("configuring object storage {url}"))?;
                let store: Arc<dyn ObjectStore> = if prefix.trim_matches('/').is_empty() {
                    Arc::new(s3)
                } else {
                    Arc::new(object_store::prefix::PrefixStore::new(s3, prefix.trim_matches('/')))
                };
                Ok(Self { store, describe: url.clone() })
            }
        }
    }

    pub fn describe(&self) -> &str {
        &self.describe
    }

    pub async fn put(&self, key: &str, bytes: Vec<u8>) -> Result<()> {
        self.store
            .put(&ObjectPath::from(key), PutPayload::from(Bytes::from(bytes)))
            .await
            .with_context(|| format!("storing {key} in {}", self.describe))?;
        Ok(())
    }

    pub async fn get(&self, key: &str) -> Result<Bytes> {
        let found = self.store.get(&ObjectPath::from(key)).await.with_context(|| format!("reading {key}"))?;
        found.bytes().await.with_context(|| format!("reading {key}"))
    }

    /// Whether an object exists (tests check that a failed request left none behind).
    pub async fn exists(&self, key: &str) -> Result<bool> {
        match self.store.head(&ObjectPath::from(key)).await {
            Ok(_) => Ok(true),
            Err(object_store::Error::NotFound { .. }) => Ok(false),
            Err(e) => Err(e).with_context(|| format!("looking up {key}")),
        }
    }

    /// Every key under `prefix` (tests; operators' orphan checks).
    pub async fn list(&self, prefix: &str) -> Result<Vec<String>> {
        use futures::TryStreamExt;
        let prefix = ObjectPath::from(prefix);
        let metas: Vec<object_store::ObjectMeta> = self.store.list(Some(&prefix)).try_collect().await?;
        Ok(metas.into_iter().map(|m| m.location.to_string()).collect())
    }

    /// Delete, ignoring an object that is already gone.
    pub async fn delete(&self, key: &str) -> Result<()> {
        match self.store.delete(&ObjectPath::from(key)).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(e).with_context(|| format!("deleting {key}")),
        }
    }
}
