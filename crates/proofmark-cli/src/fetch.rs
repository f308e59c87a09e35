//! Loading key sets: from a file, or over HTTP(S) with a timeout and a size cap.
use std::collections::HashMap;
use std::io::Read;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{bail, Context, Result};
use proofmark_core::jwks::MAX_JWKS_BYTES;
use proofmark_core::Jwks;

/// Fetches JWKS documents, once per URL per run.
#[derive(Debug)]
pub struct KeyFetcher {
    timeout: Duration,
    agent: std::sync::OnceLock<ureq::Agent>,
    cache: Mutex<HashMap<String, Result<Arc<Jwks>, String>>>,
}

impl KeyFetcher {
    pub fn new(timeout: Duration) -> Self {
        Self { timeout, agent: std::sync::OnceLock::new(), cache: Mutex::new(HashMap::new()) }
    }

    /// `{issuer}/.well-known/jwks.json`.
    pub fn issuer_jwks_url(issuer: &str) -> Result<String> {
        if !(issuer.starts_with("https://") || issuer.starts_with("http://")) {
            bail!("issuer {issuer:?} is not an http(s) URL, so its keys cannot be fetched");
        }
        Ok(format!("{}/.well-known/jwks.json", issuer.trim_end_matches('/')))
    }

    /// A key set from a URL (cached for the run) or a file path.
    pub fn load(&self, file_or_url: &str) -> Result<Arc<Jwks>> {
        if file_or_url.starts_with("https://") || file_or_url.starts_with("http://") {
            let mut cache = self.cache.lock().map_err(|_| anyhow::anyhow!("key cache poisoned"))?;
            let entry = cache
                .entry(file_or_url.to_owned())
                .or_insert_with(|| self.fetch(file_or_url).map(Arc::new).map_err(|e| format!("{e:#}")));
            return entry.clone().map_err(anyhow::Error::msg);
        }
        let bytes = std::fs::read(file_or_url).with_context(|| format!("cannot read JWKS file {file_or_url}"))?;
        let jwks = Jwks::parse(&bytes).with_context(|| format!("JWKS file {file_or_url}"))?;
        Ok(Arc::new(jwks))
    }

    fn fetch(&self, url: &str) -> Result<Jwks> {
        let agent = self.agent.get_or_init(|| ureq::AgentBuilder::new().timeout(self.timeout).redirects(3).build());
        let response = match agent.get(url).set("Accept", "application/json").call() {
            Ok(r) => r,
            Err(ureq::Error::Status(code, _)) => bail!("fetching {url}: HTTP {code}"),
            Err(e) => bail!("{e}"),
        };
        let mut body = Vec::new();
        response
            .into_reader()
            .take(MAX_JWKS_BYTES as u64 + 1)
            .read_to_end(&mut body)
            .with_context(|| format!("reading {url}"))?;
        Jwks::parse(&body).with_context(|| format!("JWKS from {url}"))
    }
}
