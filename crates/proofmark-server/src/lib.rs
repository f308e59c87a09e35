//! The Proofmark capture-trust server (SPEC §1.4): publishers, devices, capture sessions, trust tokens,
//! `/validate`, JWKS. Build the router with [`app`] (tests drive it with `oneshot`); [`serve`] runs it.
//! The only crate that knows HTTP status codes.
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use proofmark_store::Store;

pub mod accounts;
pub mod anchoring;
pub mod appcheck;
pub mod config;
mod error;
pub mod fuzzing;
pub mod http;
pub mod jobs;
pub mod keys;
pub mod objects;
pub mod phash_index;
mod ratelimit;
mod routes;
pub mod transparency;
pub mod webhooks;

pub use config::Config;
pub use error::ApiError;
pub use routes::{app, random_token, sha256_hex};

/// Seconds since the Unix epoch; injected so tests can move time.
#[derive(Clone)]
pub struct Clock(Arc<dyn Fn() -> i64 + Send + Sync>);

impl Clock {
    pub fn system() -> Self {
        Self(Arc::new(proofmark_os::unix_now))
    }

    pub fn from_fn(f: impl Fn() -> i64 + Send + Sync + 'static) -> Self {
        Self(Arc::new(f))
    }

    pub fn now(&self) -> i64 {
        (self.0)()
    }
}

impl std::fmt::Debug for Clock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Clock({})", self.now())
    }
}

/// Everything the handlers share.
#[derive(Clone)]
pub struct AppState(Arc<Inner>);

#[derive(Debug)]
pub struct Inner {
    pub store: Arc<dyn Store>,
    pub keys: keys::IssuerKeys,
    pub issuer: String,
    pub config: Config,
    pub clock: Clock,
    /// Devices by token hash. Device records never change once registered, so a short cache is exact.
    devices: DeviceCache,
    ip_limiter: ratelimit::RateLimiter,
    device_limiter: ratelimit::RateLimiter,
    appcheck: appcheck::AppCheckVerifier,
    /// Original and watermarked files.
    pub objects: objects::Objects,
    /// The deployment's watermark key (one for every organisation: a verifier holding an unknown file
    /// cannot know which organisation to try), sealed in the store under the KEK.
    pub watermark_key: proofmark_media::watermark::WatermarkKey,
    /// Images processed at once by the sign route (`sign.max_concurrent`).
    sign_slots: tokio::sync::Semaphore,
    /// Every record's pHash, for the public search.
    pub phash_index: phash_index::PhashIndex,
    /// When each (record, verdict) last raised `content.verified`: at most one event per pair per
    /// minute (`routes/verify.rs`), so a public route cannot flood an organisation's webhooks.
    pub verified_events:
        std::sync::Mutex<std::collections::HashMap<(proofmark_store::RecordId, &'static str), std::time::Instant>>,
    /// The transparency log's key, witnesses and batcher wake-up.
    pub log: transparency::Log,
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState").field("issuer", &self.0.issuer).field("store", &self.0.store.backend()).finish()
    }
}

impl std::ops::Deref for AppState {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.0
    }
}

impl AppState {
    /// Open the store, load (or create) the issuer key, and assemble the state.
    pub async fn new(config: Config, clock: Clock) -> Result<Self> {
        config.validate()?;
        let store = open_store(&config).await?;
        Self::with_store(config, store, clock).await
    }

    pub async fn with_store(config: Config, store: Arc<dyn Store>, clock: Clock) -> Result<Self> {
        let (kek, beside_data) = keys::Kek::load(&config)?;
        if beside_data {
            tracing::warn!(
                "issuer keys are sealed with the key-encryption key in {}; set `kek` (PROOFMARK_KEK) to keep it apart from the database",
                config.data_dir.join("kek").display()
            );
        }
        let keys = keys::IssuerKeys::load_or_create(store.as_ref(), kek, clock.now()).await?;
        let watermark_key = accounts::load_or_create_watermark_key(store.as_ref(), keys.kek(), clock.now()).await?;
        let log = transparency::Log::load_or_create(store.as_ref(), keys.kek(), &config, clock.now()).await?;
        let objects = objects::Objects::open(&config)?;
        tracing::info!(objects = objects.describe(), "object storage");
        Ok(Self(Arc::new(Inner {
            log,
            objects,
            watermark_key,
            sign_slots: tokio::sync::Semaphore::new(config.sign.slots()),
            phash_index: phash_index::PhashIndex::default(),
            verified_events: std::sync::Mutex::default(),
            issuer: config.issuer(),
            devices: DeviceCache::default(),
            ip_limiter: ratelimit::RateLimiter::new(config.rate_limit.per_ip_per_minute),
            device_limiter: ratelimit::RateLimiter::new(config.rate_limit.per_device_per_minute),
            appcheck: appcheck::AppCheckVerifier::new(config.firebase.jwks.clone()),
            store,
            keys,
            config,
            clock,
        })))
    }

    pub fn now(&self) -> i64 {
        self.clock.now()
    }

    /// How many devices the per-device rate limiter holds state for (made-up tokens must add none).
    pub fn devices_rate_limited(&self) -> usize {
        self.device_limiter.tracked()
    }
}

/// Open the configured store; for SQLite, the data directory is made private first (see [`private_dir`]).
pub async fn open_store(config: &Config) -> Result<Arc<dyn Store>> {
    let url = config.database_url();
    if url.starts_with("sqlite:") {
        private_dir(&config.data_dir)?;
    }
    proofmark_store::open(&url).await.with_context(|| format!("opening {}", redact_url(&url)))
}

/// The data directory holds the database and possibly the key-encryption key: create it readable only by
/// its owner (0700; the files in it are created 0600), and warn when an existing one, or a file in it, is
/// open to others.
pub fn private_dir(dir: &std::path::Path) -> Result<()> {
    create_private_dir(dir)?;
    for warning in open_to_others(dir) {
        tracing::warn!("{warning}");
    }
    Ok(())
}

/// Create `dir` (and missing parents) with mode 0700 if it does not exist.
pub fn create_private_dir(dir: &std::path::Path) -> Result<()> {
    proofmark_os::create_private_dir(dir).with_context(|| format!("creating data directory {}", dir.display()))
}

/// Warnings for the data directory and the files Proofmark keeps in it when group or others may use them.
pub fn open_to_others(dir: &std::path::Path) -> Vec<String> {
    let mut warnings = Vec::new();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = |p: &std::path::Path| std::fs::metadata(p).ok().map(|m| m.permissions().mode() & 0o777);
        if let Some(m) = mode(dir).filter(|m| m & 0o077 != 0) {
            warnings.push(format!(
                "data directory {} has mode {m:o}: other users can look into it; `chmod 700` it",
                dir.display()
            ));
        }
        for name in ["proofmark.db", "proofmark.db-wal", "proofmark.db-shm", "kek"] {
            let path = dir.join(name);
            if let Some(m) = mode(&path).filter(|m| m & 0o077 != 0) {
                warnings.push(format!("{} has mode {m:o}: other users can read it; `chmod 600` it", path.display()));
            }
        }
    }
    warnings
}

/// Registered devices by token hash, kept for [`DeviceCache::TTL`]; saves a database read on every session
/// and trust request. Bounded: cleared when it reaches [`DeviceCache::MAX`] entries.
#[derive(Debug, Default)]
pub struct DeviceCache(
    std::sync::Mutex<std::collections::HashMap<String, (proofmark_store::Device, std::time::Instant)>>,
);

impl DeviceCache {
    pub const TTL: Duration = Duration::from_secs(60);
    pub const MAX: usize = 100_000;

    pub fn get(&self, token_hash: &str) -> Option<proofmark_store::Device> {
        let map = self.0.lock().ok()?;
        map.get(token_hash).filter(|(_, at)| at.elapsed() < Self::TTL).map(|(d, _)| d.clone())
    }

    pub fn put(&self, token_hash: String, device: proofmark_store::Device) {
        if let Ok(mut map) = self.0.lock() {
            if map.len() >= Self::MAX {
                map.clear();
            }
            map.insert(token_hash, (device, std::time::Instant::now()));
        }
    }
}

/// A database URL with any password replaced (in the userinfo, or a `password=` parameter), for logs.
pub fn redact_url(url: &str) -> String {
    let mut out = match (url.find("://"), url.find('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let userinfo = &url[scheme + 3..at];
            match userinfo.find(':') {
                Some(colon) => format!("{}://{}:***{}", &url[..scheme], &userinfo[..colon], &url[at..]),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    };
    if let Some(q) = out.find('?') {
        let (base, query) = out.split_at(q + 1);
        let query: Vec<String> = query
            .split('&')
            .map(|kv| {
                if kv.to_ascii_lowercase().starts_with("password=") {
                    "password=***".to_owned()
                } else {
                    kv.to_owned()
                }
            })
            .collect();
        out = format!("{base}{}", query.join("&"));
    }
    out
}

/// Run the server until Ctrl-C or SIGTERM.
pub async fn serve(config: Config) -> Result<()> {
    let bind = config.bind;
    let state = AppState::new(config, Clock::system()).await?;
    let listener = tokio::net::TcpListener::bind(bind).await.with_context(|| format!("binding {bind}"))?;
    let local = listener.local_addr()?;
    tracing::info!(
        "listening on http://{local}; signing as issuer {} (key {}); store: {}",
        state.issuer,
        state.keys.current_jwk().map(|k| k.kid).unwrap_or_default(),
        state.store.backend()
    );
    let pruner = state.clone();
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(3600));
        loop {
            tick.tick().await;
            match prune_sessions(&pruner).await {
                Ok(0) => {}
                Ok(n) => tracing::info!("pruned {n} expired capture sessions"),
                Err(e) => tracing::warn!("pruning capture sessions: {e}"),
            }
        }
    });
    // Durable jobs (webhook deliveries): what is left when the process stops is picked up again by the next
    // worker, here or in another process, when its lease ends.
    tokio::spawn(jobs::work(state.clone(), std::future::pending()));
    // The lookup indexes (search, verify): built and kept fresh off the request path.
    tokio::spawn(phash_index::run_refresher(state.clone(), std::future::pending()));
    // The transparency log: pending records wait in the store; one batcher at a time appends them.
    transparency::ensure_checkpoint(&state).await?;
    tracing::info!(vkey = state.log.vkey(), "transparency log");
    tokio::spawn(transparency::run_batcher(state.clone(), std::future::pending()));
    if state.config.anchor.rpc_url.is_some() && !state.config.anchor.enabled() {
        tracing::warn!("anchor.rpc_url is set but not anchor.contract: anchoring is off (deploy the registry with `proofmark admin deploy-registry`)");
    }
    if state.config.anchor.enabled() {
        let cfg = &state.config.anchor;
        let key = anchoring::load_or_create_key(
            state.store.as_ref(),
            state.keys.kek(),
            cfg.submitter_key.as_ref().map(|k| k.0.as_str()),
            state.now(),
        )
        .await?;
        tracing::info!(
            chain_id = cfg.chain_id,
            contract = cfg.contract.as_deref().unwrap_or_default(),
            submitter = %proofmark_anchor::address_of(&key)?,
            "anchoring checkpoints on chain"
        );
        tokio::spawn(anchoring::run(state.clone(), key, std::future::pending()));
    }
    serve_on(listener, state, shutdown_signal()).await?;
    tracing::info!("stopped");
    Ok(())
}

/// Delete capture sessions that expired more than a day ago (by the state's clock) without being redeemed:
/// they carry no information any more. Redeemed ones stay (they record which device a capture id went to).
/// The server runs this once an hour.
pub async fn prune_sessions(state: &AppState) -> Result<u64> {
    Ok(state.store.prune_sessions(proofmark_store::Timestamp(state.now() - 86_400)).await?)
}

/// Serve the API on `listener` until `shutdown` resolves, then stop gracefully within
/// `http.shutdown_timeout_secs` (see [`http::serve`]).
pub async fn serve_on(
    listener: tokio::net::TcpListener,
    state: AppState,
    shutdown: impl std::future::Future<Output = ()>,
) -> Result<()> {
    let http = state.config.http.clone();
    http::serve(listener, app(state), &http, shutdown).await
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
}

#[cfg(test)]
mod tests {
    #[test]
    fn redacts_passwords() {
        assert_eq!(super::redact_url("postgres://u:pw@h/db"), "postgres://u:***@h/db");
        assert_eq!(super::redact_url("postgres://u@h/db"), "postgres://u@h/db");
        assert_eq!(super::redact_url("sqlite://x.db"), "sqlite://x.db");
        assert_eq!(
            super::redact_url("postgres://h/db?user=u&password=pw&x=1"),
            "postgres://h/db?user=u&password=***&x=1"
        );
    }
}
