//! Server configuration: defaults → TOML file → `PROOFMARK_*` environment variables → command-line flags
//! (the CLI applies the flags last). Secrets are redacted in `Debug`.
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use serde::Deserialize;

/// A database URL; `Debug` shows it with any password replaced.
#[derive(Clone, PartialEq, Eq)]
pub struct DatabaseUrl(pub String);

impl fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&crate::redact_url(&self.0))
    }
}

fn database_url<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<DatabaseUrl>, D::Error> {
    Option::<String>::deserialize(d).map(|o| o.map(DatabaseUrl))
}

/// A secret string; `Debug` never shows it.
#[derive(Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct Secret(pub String);

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Address to listen on.
    pub bind: SocketAddr,
    /// Where the SQLite database and the generated key-encryption key live.
    pub data_dir: PathBuf,
    /// `sqlite://…` or `postgres://…`; default: `sqlite://{data_dir}/proofmark.db`. May hold a password, so
    /// `Debug` redacts it.
    #[serde(deserialize_with = "database_url")]
    pub database_url: Option<DatabaseUrl>,
    /// The `iss` of every trust token; default `http://{bind}`.
    pub issuer: Option<String>,
    /// A static admin token (in addition to tokens made by `proofmark admin token`).
    pub admin_token: Option<Secret>,
    /// Key-encryption key for issuer private keys: 32 bytes, base64. Default: generated in the data dir.
    pub kek: Option<Secret>,
    /// Capture-session (nonce) lifetime in seconds.
    pub nonce_ttl_secs: u64,
    /// How long a login (`access_token` of the publisher API) lasts, in seconds.
    pub session_ttl_secs: u64,
    /// Whether anyone may create an organisation with `POST /api/v1/auth/register`. When off, organisations
    /// are created by `proofmark admin create-org`.
    pub open_registration: bool,
    /// Largest JSON request body, in bytes.
    pub max_body_bytes: usize,
    /// Largest `/validate` upload (media + sidecar), in bytes.
    pub max_upload_bytes: usize,
    pub rate_limit: RateLimitConfig,
    pub firebase: FirebaseConfig,
    pub http: HttpConfig,
    pub objects: ObjectsConfig,
    pub sign: SignConfig,
    pub webhooks: WebhooksConfig,
    pub log: LogConfig,
    pub anchor: AnchorConfig,
}

/// Anchoring the log's checkpoints on an EVM chain (docs/transparency-log.md, "Anchoring"). Off unless both
/// `rpc_url` and `contract` are set; then the newest checkpoint is registered in the `ProvenanceRegistry`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AnchorConfig {
    /// The chain's JSON-RPC endpoint.
    pub rpc_url: Option<String>,
    /// The chain id the endpoint must serve (refused at start otherwise).
    pub chain_id: u64,
    /// The registry's address (`0x…`), deployed with the submitter key (`proofmark admin deploy-registry`).
    pub contract: Option<String>,
    /// The submitter's secp256k1 key, hex: imported on first start, sealed in the store under the KEK, and
    /// not needed in the configuration after that. Without it a key is made on first start (fund its address).
    pub submitter_key: Option<Secret>,
    /// Blocks on top of the registering block before an anchor counts (1 = mined).
    pub confirmations: u64,
    /// How often the anchorer looks at the chain, in milliseconds.
    pub poll_ms: u64,
    /// A transaction not mined after this many seconds is replaced by one with higher fees (same nonce).
    pub bump_after_secs: u64,
}

impl Default for AnchorConfig {
    fn default() -> Self {
        Self {
            rpc_url: None,
            chain_id: 137,
            contract: None,
            submitter_key: None,
            confirmations: 5,
            poll_ms: 5000,
            bump_after_secs: 120,
        }
    }
}

impl AnchorConfig {
    /// Anchoring is on.
    pub fn enabled(&self) -> bool {
        self.rpc_url.is_some() && self.contract.is_some()
    }
}

/// The transparency log (SPEC §5; docs/transparency-log.md).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LogConfig {
    /// The log's name: its checkpoints' origin line and its key's name. Unset: the issuer's host (and path)
    /// followed by `/log`. Fixed when the log key is first made; a different value later is refused at start.
    pub origin: Option<String>,
    /// Pending records are appended at least this often, in milliseconds.
    pub batch_interval_ms: u64,
    /// Records per batch: a batch starts early once this many wait, and a backlog is taken this many at a time.
    pub batch_max: u32,
    /// Witnesses whose cosignatures the log accepts and serves, as C2SP verifier keys (`name+id+key`, type 0x04).
    pub witnesses: Vec<String>,
}

impl Default for LogConfig {
    fn default() -> Self {
        Self { origin: None, batch_interval_ms: 10_000, batch_max: 1000, witnesses: Vec::new() }
    }
}

/// Webhook deliveries (SPEC §2.4; docs/api.md, "Webhooks").
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WebhooksConfig {
    /// Deliver to loopback, private, link-local and other non-public addresses, and to internal names
    /// (`localhost`, `*.local`, …). Off by default: a webhook URL must not reach into the server's network.
    pub allow_private_targets: bool,
    /// Each delivery attempt's time limit (connect, send, answer).
    pub timeout_secs: u64,
    /// Attempts before a delivery is given up (then its job is `dead`).
    pub max_attempts: i64,
    /// The first retry's delay; it doubles with each attempt, up to `retry_max_secs`.
    pub retry_base_secs: i64,
    pub retry_max_secs: i64,
}

impl Default for WebhooksConfig {
    fn default() -> Self {
        Self {
            allow_private_targets: false,
            timeout_secs: 10,
            max_attempts: 8,
            retry_base_secs: 10,
            retry_max_secs: 3600,
        }
    }
}

/// Where original and watermarked files are kept (docs/operations.md, "Object storage").
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ObjectsConfig {
    /// `s3://BUCKET[/PREFIX]` for S3-compatible storage; unset: the `objects` folder of the data directory.
    pub url: Option<String>,
    /// The S3 API endpoint (MinIO, moto, another region's host…); unset: AWS.
    pub s3_endpoint: Option<String>,
    pub s3_region: String,
    pub s3_access_key_id: Option<String>,
    pub s3_secret_access_key: Option<Secret>,
    /// Allow a plain-http endpoint (local test servers only).
    pub s3_allow_http: bool,
}

impl Default for ObjectsConfig {
    fn default() -> Self {
        Self {
            url: None,
            s3_endpoint: None,
            s3_region: "us-east-1".into(),
            s3_access_key_id: None,
            s3_secret_access_key: None,
            s3_allow_http: false,
        }
    }
}

/// The sign route (SPEC §2.2).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SignConfig {
    /// Largest image accepted, in bytes (413 above it).
    pub max_image_bytes: u64,
    /// Images processed at once (decode, pHash, watermark, encode); more uploads wait, streamed to disk, so
    /// memory is bounded by this, not by the number or size of uploads. 0: one per core.
    pub max_concurrent: usize,
    /// First JPEG quality tried for the watermarked file (raised if the 40 dB floor is missed).
    pub jpeg_quality: u8,
    /// Files one `POST /api/v1/sign-batch` takes.
    pub max_batch_files: usize,
}

impl Default for SignConfig {
    fn default() -> Self {
        Self { max_image_bytes: 50 * 1024 * 1024, max_concurrent: 0, jpeg_quality: 95, max_batch_files: 20 }
    }
}

impl SignConfig {
    /// `max_concurrent`, with 0 meaning one per core.
    pub fn slots(&self) -> usize {
        match self.max_concurrent {
            0 => std::thread::available_parallelism().map(usize::from).unwrap_or(2),
            n => n,
        }
    }
}

/// Connection handling: how long slow or idle clients may hold a connection, how many may, and how long a
/// stop waits for requests in flight (docs/operations.md).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HttpConfig {
    /// From accepting a connection (or from the first byte of a later request on it) to a complete request
    /// header; a client that is slower is disconnected.
    pub header_read_timeout_secs: u64,
    /// A keep-alive connection with no request for this long is closed.
    pub idle_timeout_secs: u64,
    /// The longest gap between two pieces of a request body; then 408.
    pub body_read_timeout_secs: u64,
    /// From a complete request header to the response, body upload included; then 408.
    pub request_timeout_secs: u64,
    /// Connections served at once; more wait in the listen queue. Lowered at start-up to fit the process's
    /// open-file limit.
    pub max_connections: usize,
    /// On SIGTERM or Ctrl-C: requests in flight get this long to finish; idle connections close at once.
    pub shutdown_timeout_secs: u64,
}

impl Default for HttpConfig {
    fn default() -> Self {
        Self {
            header_read_timeout_secs: 10,
            idle_timeout_secs: 60,
            body_read_timeout_secs: 30,
            request_timeout_secs: 300,
            max_connections: 1024,
            shutdown_timeout_secs: 10,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RateLimitConfig {
    /// Requests per minute per client IP on registration, session, trust, `/validate` and admin endpoints (0 =
    /// unlimited).
    pub per_ip_per_minute: u32,
    /// Requests per minute per device on session and trust endpoints (0 = unlimited).
    pub per_device_per_minute: u32,
    /// Behind a reverse proxy: the header it sets to the client address (e.g. `x-forwarded-for`); the last
    /// address in it is used. Leave unset when clients connect directly, or they could pick their own.
    pub client_ip_header: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FirebaseConfig {
    /// Firebase App Check JWKS: an https URL or a file path.
    pub jwks: String,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            bind: SocketAddr::from(([127, 0, 0, 1], 8080)),
            data_dir: PathBuf::from("proofmark-data"),
            database_url: None,
            issuer: None,
            admin_token: None,
            kek: None,
            nonce_ttl_secs: 300,
            session_ttl_secs: 86_400,
            open_registration: true,
            max_body_bytes: 64 * 1024,
            max_upload_bytes: 512 * 1024 * 1024,
            rate_limit: RateLimitConfig::default(),
            firebase: FirebaseConfig::default(),
            http: HttpConfig::default(),
            objects: ObjectsConfig::default(),
            sign: SignConfig::default(),
            webhooks: WebhooksConfig::default(),
            log: LogConfig::default(),
            anchor: AnchorConfig::default(),
        }
    }
}

impl Default for RateLimitConfig {
    fn default() -> Self {
        Self { per_ip_per_minute: 600, per_device_per_minute: 120, client_ip_header: None }
    }
}

impl Default for FirebaseConfig {
    fn default() -> Self {
        Self { jwks: "https://firebaseappcheck.googleapis.com/v1/jwks".into() }
    }
}

impl Config {
    /// Defaults, then the TOML file (if given), then `PROOFMARK_*` variables from `env`.
    pub fn load(file: Option<&Path>, env: impl IntoIterator<Item = (String, String)>) -> Result<Self> {
        let mut config = match file {
            Some(path) => {
                let text =
                    std::fs::read_to_string(path).with_context(|| format!("reading config {}", path.display()))?;
                toml::from_str(&text).with_context(|| format!("config {}", path.display()))?
            }
            None => Config::default(),
        };
        for (key, value) in env {
            config.apply_env(&key, value)?;
        }
        Ok(config)
    }

    fn apply_env(&mut self, key: &str, value: String) -> Result<()> {
        let num = |v: &str| v.parse::<u64>().with_context(|| format!("{key} must be a whole number"));
        let boolean = |v: &str| match v {
            "1" | "true" | "yes" | "on" => Ok(true),
            "0" | "false" | "no" | "off" => Ok(false),
            _ => Err(anyhow::anyhow!("{key} must be true or false")),
        };
        let small = |v: &str| v.parse::<u32>().with_context(|| format!("{key} must be a whole number below 2^32"));
        match key {
            "PROOFMARK_BIND" => self.bind = value.parse().with_context(|| format!("{key}: not ADDR:PORT"))?,
            "PROOFMARK_DATA_DIR" => self.data_dir = PathBuf::from(value),
            "PROOFMARK_DATABASE_URL" => self.database_url = Some(DatabaseUrl(value)),
            "PROOFMARK_ISSUER" => self.issuer = Some(value),
            "PROOFMARK_ADMIN_TOKEN" => self.admin_token = Some(Secret(value)),
            "PROOFMARK_KEK" => self.kek = Some(Secret(value)),
            "PROOFMARK_NONCE_TTL_SECS" => self.nonce_ttl_secs = num(&value)?,
            "PROOFMARK_SESSION_TTL_SECS" => self.session_ttl_secs = num(&value)?,
            "PROOFMARK_OPEN_REGISTRATION" => self.open_registration = boolean(&value)?,
            "PROOFMARK_MAX_BODY_BYTES" => self.max_body_bytes = num(&value)? as usize,
            "PROOFMARK_MAX_UPLOAD_BYTES" => self.max_upload_bytes = num(&value)? as usize,
            "PROOFMARK_RATE_LIMIT_PER_IP" => self.rate_limit.per_ip_per_minute = small(&value)?,
            "PROOFMARK_RATE_LIMIT_PER_DEVICE" => self.rate_limit.per_device_per_minute = small(&value)?,
            "PROOFMARK_CLIENT_IP_HEADER" => self.rate_limit.client_ip_header = Some(value),
            "PROOFMARK_FIREBASE_JWKS" => self.firebase.jwks = value,
            "PROOFMARK_HEADER_READ_TIMEOUT_SECS" => self.http.header_read_timeout_secs = num(&value)?,
            "PROOFMARK_IDLE_TIMEOUT_SECS" => self.http.idle_timeout_secs = num(&value)?,
            "PROOFMARK_BODY_READ_TIMEOUT_SECS" => self.http.body_read_timeout_secs = num(&value)?,
            "PROOFMARK_REQUEST_TIMEOUT_SECS" => self.http.request_timeout_secs = num(&value)?,
            "PROOFMARK_MAX_CONNECTIONS" => self.http.max_connections = num(&value)? as usize,
            "PROOFMARK_SHUTDOWN_TIMEOUT_SECS" => self.http.shutdown_timeout_secs = num(&value)?,
            "PROOFMARK_OBJECTS_URL" => self.objects.url = Some(value),
            "PROOFMARK_S3_ENDPOINT" => self.objects.s3_endpoint = Some(value),
            "PROOFMARK_S3_REGION" => self.objects.s3_region = value,
            "PROOFMARK_S3_ACCESS_KEY_ID" => self.objects.s3_access_key_id = Some(value),
            "PROOFMARK_S3_SECRET_ACCESS_KEY" => self.objects.s3_secret_access_key = Some(Secret(value)),
            "PROOFMARK_S3_ALLOW_HTTP" => self.objects.s3_allow_http = boolean(&value)?,
            "PROOFMARK_SIGN_MAX_IMAGE_BYTES" => self.sign.max_image_bytes = num(&value)?,
            "PROOFMARK_SIGN_MAX_CONCURRENT" => self.sign.max_concurrent = num(&value)? as usize,
            "PROOFMARK_SIGN_MAX_BATCH_FILES" => self.sign.max_batch_files = num(&value)? as usize,
            "PROOFMARK_WEBHOOKS_ALLOW_PRIVATE_TARGETS" => self.webhooks.allow_private_targets = boolean(&value)?,
            "PROOFMARK_WEBHOOKS_TIMEOUT_SECS" => self.webhooks.timeout_secs = num(&value)?,
            "PROOFMARK_WEBHOOKS_MAX_ATTEMPTS" => self.webhooks.max_attempts = num(&value)? as i64,
            "PROOFMARK_WEBHOOKS_RETRY_BASE_SECS" => self.webhooks.retry_base_secs = num(&value)? as i64,
            "PROOFMARK_WEBHOOKS_RETRY_MAX_SECS" => self.webhooks.retry_max_secs = num(&value)? as i64,
            "PROOFMARK_LOG_ORIGIN" => self.log.origin = Some(value),
            "PROOFMARK_LOG_BATCH_INTERVAL_MS" => self.log.batch_interval_ms = num(&value)?,
            "PROOFMARK_LOG_BATCH_MAX" => self.log.batch_max = small(&value)?,
            "PROOFMARK_LOG_WITNESSES" => {
                self.log.witnesses =
                    value.split(',').map(str::trim).filter(|w| !w.is_empty()).map(String::from).collect()
            }
            "PROOFMARK_ANCHOR_RPC_URL" => self.anchor.rpc_url = Some(value),
            "PROOFMARK_ANCHOR_CHAIN_ID" => self.anchor.chain_id = num(&value)?,
            "PROOFMARK_ANCHOR_CONTRACT" => self.anchor.contract = Some(value),
            "PROOFMARK_ANCHOR_SUBMITTER_KEY" => self.anchor.submitter_key = Some(Secret(value)),
            "PROOFMARK_ANCHOR_CONFIRMATIONS" => self.anchor.confirmations = num(&value)?,
            "PROOFMARK_ANCHOR_POLL_MS" => self.anchor.poll_ms = num(&value)?,
            "PROOFMARK_ANCHOR_BUMP_AFTER_SECS" => self.anchor.bump_after_secs = num(&value)?,
            // Read by the CLI itself.
            "PROOFMARK_CONFIG" | "PROOFMARK_KEYSTORE" | "PROOFMARK_LOG" => {}
            // A misspelt setting should not pass unnoticed, but other tools may use the prefix too.
            k if k.starts_with("PROOFMARK_") => tracing::warn!("ignoring unknown configuration variable {k}"),
            _ => {}
        }
        Ok(())
    }

    pub fn database_url(&self) -> String {
        match &self.database_url {
            Some(url) => url.0.clone(),
            None => format!("sqlite://{}", self.data_dir.join("proofmark.db").display()),
        }
    }

    /// The log's origin: `log.origin`, or the issuer without its scheme, followed by `/log`.
    pub fn log_origin(&self) -> String {
        if let Some(o) = &self.log.origin {
            return o.clone();
        }
        let issuer = self.issuer();
        let bare = issuer.split_once("://").map_or(issuer.as_str(), |(_, rest)| rest);
        format!("{}/log", bare.trim_end_matches('/'))
    }

    /// The issuer URL without a trailing slash.
    pub fn issuer(&self) -> String {
        let issuer = self.issuer.clone().unwrap_or_else(|| format!("http://{}", self.bind));
        issuer.trim_end_matches('/').to_owned()
    }

    pub fn validate(&self) -> Result<()> {
        let issuer = self.issuer();
        if !(issuer.starts_with("http://") || issuer.starts_with("https://")) {
            bail!("issuer {issuer:?} must be an http(s) URL: verifiers fetch {{issuer}}/.well-known/jwks.json");
        }
        if !(1..=86_400).contains(&self.nonce_ttl_secs) {
            bail!("nonce_ttl_secs must be between 1 and 86400");
        }
        let h = &self.http;
        for (name, value) in [
            ("http.header_read_timeout_secs", h.header_read_timeout_secs),
            ("http.idle_timeout_secs", h.idle_timeout_secs),
            ("http.body_read_timeout_secs", h.body_read_timeout_secs),
            ("http.request_timeout_secs", h.request_timeout_secs),
            ("http.shutdown_timeout_secs", h.shutdown_timeout_secs),
        ] {
            if !(1..=86_400).contains(&value) {
                bail!("{name} must be between 1 and 86400 seconds");
            }
        }
        let w = &self.webhooks;
        if !(1..=300).contains(&w.timeout_secs) || !(1..=100).contains(&w.max_attempts) {
            bail!("webhooks.timeout_secs must be 1 to 300 and webhooks.max_attempts 1 to 100");
        }
        if w.retry_base_secs < 1 || w.retry_max_secs < w.retry_base_secs {
            bail!("webhooks.retry_base_secs must be at least 1 and at most webhooks.retry_max_secs");
        }
        let a = &self.anchor;
        if a.contract.is_some() && a.rpc_url.is_none() {
            bail!("anchor.contract is set but not anchor.rpc_url: anchoring needs both");
        }
        if let Some(c) = &a.contract {
            let hex40 = c.strip_prefix("0x").is_some_and(|h| h.len() == 40 && h.bytes().all(|b| b.is_ascii_hexdigit()));
            if !hex40 {
                bail!("anchor.contract {c:?} is not an address (0x and 40 hex digits)");
            }
        }
        if !(1..=1000).contains(&a.confirmations) || !(50..=3_600_000).contains(&a.poll_ms) || a.bump_after_secs < 1 {
            bail!("anchor.confirmations must be 1 to 1000, anchor.poll_ms 50 to 3600000, anchor.bump_after_secs at least 1");
        }
        let l = &self.log;
        if !(50..=3_600_000).contains(&l.batch_interval_ms) || !(1..=100_000).contains(&l.batch_max) {
            bail!("log.batch_interval_ms must be 50 to 3600000 and log.batch_max 1 to 100000");
        }
        if let Some(origin) = &l.origin {
            if origin.is_empty() || origin.contains('+') || origin.chars().any(|c| c.is_whitespace() || c.is_control())
            {
                bail!("log.origin {origin:?} must be non-empty, without spaces or '+' (e.g. example.com/log)");
            }
        }
        for w in &l.witnesses {
            let v = proofmark_core::tlog::NoteVerifier::parse(w)
                .map_err(|e| anyhow::anyhow!("log.witnesses: {w:?} is not a verifier key: {e}"))?;
            if v.kind != proofmark_core::tlog::TYPE_COSIGNATURE {
                bail!("log.witnesses: {w:?} is not a cosignature (type 0x04) key");
            }
        }
        if !(1..=1000).contains(&self.sign.max_batch_files) {
            bail!("sign.max_batch_files must be between 1 and 1000");
        }
        if !(50..=100).contains(&self.sign.jpeg_quality) {
            bail!("sign.jpeg_quality must be between 50 and 100");
        }
        if let Some(url) = &self.objects.url {
            if !url.starts_with("s3://") {
                bail!("objects.url {url:?} must be s3://BUCKET[/PREFIX] (leave it unset for the data directory)");
            }
        }
        if !(1..=1_000_000).contains(&h.max_connections) {
            bail!("http.max_connections must be between 1 and 1000000");
        }
        if self.issuer.is_none() && self.bind.ip().is_unspecified() {
            bail!(
                "bind {} listens on every address, so http://{} is not an issuer URL clients can reach: set issuer",
                self.bind,
                self.bind
            );
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layers() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("proofmark.toml");
        std::fs::write(
            &file,
            "bind = \"0.0.0.0:9000\"\nissuer = \"https://a.example/\"\n[rate_limit]\nper_ip_per_minute = 5\n",
        )
        .unwrap();
        let env = [("PROOFMARK_ISSUER".to_owned(), "https://b.example".to_owned()), ("PATH".into(), "/bin".into())];
        let c = Config::load(Some(&file), env).unwrap();
        assert_eq!(c.bind.to_string(), "0.0.0.0:9000");
        assert_eq!(c.issuer(), "https://b.example");
        assert_eq!(c.rate_limit.per_ip_per_minute, 5);
        assert_eq!(c.rate_limit.per_device_per_minute, 120);
        let error = |r: Result<Config>| format!("{:#}", r.unwrap_err());
        assert!(error(Config::load(None, [("PROOFMARK_BIND".into(), "nonsense".into())]))
            .starts_with("PROOFMARK_BIND: not ADDR:PORT"),);
        assert_eq!(Config::load(None, [("PROOFMARK_SOMETHING_ELSE".into(), "x".into())]).unwrap(), Config::default());
        let e = error(Config::load(None, [("PROOFMARK_MAX_CONNECTIONS".into(), "many".into())]));
        assert!(e.starts_with("PROOFMARK_MAX_CONNECTIONS must be a whole number"), "{e}");
        std::fs::write(&file, "bnid = 1\n").unwrap();
        let e = error(Config::load(Some(&file), []));
        assert!(e.contains("unknown field `bnid`"), "unknown keys are refused: {e}");
        let c = Config { http: HttpConfig { max_connections: 0, ..HttpConfig::default() }, ..Config::default() };
        assert_eq!(format!("{:#}", c.validate().unwrap_err()), "http.max_connections must be between 1 and 1000000");
        let c = Config { http: HttpConfig { shutdown_timeout_secs: 0, ..HttpConfig::default() }, ..Config::default() };
        assert_eq!(
            format!("{:#}", c.validate().unwrap_err()),
            "http.shutdown_timeout_secs must be between 1 and 86400 seconds"
        );
        let c = Config { admin_token: Some(Secret("hunter2".into())), ..Config::default() };
        assert!(!format!("{c:?}").contains("hunter2"));
        assert_eq!(Config::default().issuer(), "http://127.0.0.1:8080");
    }
}
