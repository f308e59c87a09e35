//! Loading key sets: from a file, or over HTTP(S) with a connect and read timeout, no redirects and a size
//! cap. Each URL is fetched at most once per run; different URLs are fetched in parallel.
use std::collections::HashMap;
use std::io::Read;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use anyhow::{bail, Context, Result};
use proofmark_core::jwks::MAX_JWKS_BYTES;
use proofmark_core::Jwks;

type Slot = Arc<OnceLock<Result<Arc<Jwks>, String>>>;

#[derive(Debug)]
pub struct KeyFetcher {
    timeout: Duration,
    agent: OnceLock<ureq::Agent>,
    cache: Mutex<HashMap<String, Slot>>,
}

impl KeyFetcher {
    pub fn new(timeout: Duration) -> Self {
        Self { timeout, agent: OnceLock::new(), cache: Mutex::new(HashMap::new()) }
    }

    /// `{issuer}/.well-known/jwks.json` for an issuer named by a sidecar (untrusted input). Unless
    /// `allow_insecure`: https to a public host, or plain http to this machine's loopback address (a
    /// development server, as `proofmark serve` runs by default); never a private or link-local address,
    /// plain http to another host, userinfo, a query or a fragment.
    pub fn issuer_jwks_url(issuer: &str, allow_insecure: bool) -> Result<String> {
        let (https, rest) = match (issuer.strip_prefix("https://"), issuer.strip_prefix("http://")) {
            (Some(rest), _) => (true, rest),
            (None, Some(rest)) => (false, rest),
            _ => bail!("issuer {issuer:?} is not an http(s) URL, so its keys cannot be fetched"),
        };
        if issuer.chars().any(|c| c.is_control() || c.is_whitespace()) || rest.contains(['?', '#', '@', '\\']) {
            bail!("issuer {issuer:?} is not a plain URL (query, fragment, userinfo or spaces)");
        }
        let host = rest.split('/').next().unwrap_or("");
        let host_only = match host.strip_prefix('[') {
            Some(v6) => v6.split(']').next().unwrap_or(""),
            None => host.rsplit_once(':').map_or(host, |(h, _)| h),
        };
        if host_only.is_empty() {
            bail!("issuer {issuer:?} has no host");
        }
        if !allow_insecure {
            let loopback = is_loopback(host_only);
            if !loopback && is_private(host_only) {
                bail!("issuer {issuer:?} is a private-network address; its keys are not fetched (--allow-insecure-issuer allows it)");
            }
            if !https && !loopback {
                bail!("issuer {issuer:?} is plain http; its keys are not fetched (--allow-insecure-issuer allows it)");
            }
        }
        Ok(format!("{}/.well-known/jwks.json", issuer.trim_end_matches('/')))
    }

    /// A key set from a URL (cached for the run) or a file path.
    pub fn load(&self, file_or_url: &str) -> Result<Arc<Jwks>> {
        if file_or_url.starts_with("https://") || file_or_url.starts_with("http://") {
            let slot = {
                let mut cache = self.cache.lock().map_err(|_| anyhow::anyhow!("key cache poisoned"))?;
                cache.entry(file_or_url.to_owned()).or_default().clone()
            };
            let result = slot.get_or_init(|| self.fetch(file_or_url).map(Arc::new).map_err(|e| format!("{e:#}")));
            return result.clone().map_err(anyhow::Error::msg);
        }
        let bytes = std::fs::read(file_or_url).with_context(|| format!("cannot read JWKS file {file_or_url}"))?;
        let jwks = Jwks::parse(&bytes).with_context(|| format!("JWKS file {file_or_url}"))?;
        Ok(Arc::new(jwks))
    }

    fn fetch(&self, url: &str) -> Result<Jwks> {
        let agent = self.agent.get_or_init(|| {
            ureq::AgentBuilder::new().timeout_connect(self.timeout).timeout(self.timeout).redirects(0).build()
        });
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

fn is_loopback(host: &str) -> bool {
    let lower = host.to_ascii_lowercase();
    lower == "localhost" || lower.ends_with(".localhost") || lower.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// Private, link-local (cloud metadata), unspecified or broadcast addresses, and internal-only names.
fn is_private(host: &str) -> bool {
    let lower = host.to_ascii_lowercase();
    if lower.ends_with(".local") || lower.ends_with(".internal") {
        return true;
    }
    match lower.parse::<IpAddr>() {
        Ok(IpAddr::V4(ip)) => ip.is_private() || ip.is_link_local() || ip.is_unspecified() || ip.is_broadcast(),
        Ok(IpAddr::V6(ip)) => {
            ip.is_unspecified()
                || (ip.segments()[0] & 0xfe00) == 0xfc00
                || (ip.segments()[0] & 0xffc0) == 0xfe80
                || ip.to_ipv4_mapped().is_some_and(|v4| v4.is_private() || v4.is_link_local())
        }
        Err(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::KeyFetcher;

    #[test]
    fn issuer_urls() {
        let ok = |i: &str| KeyFetcher::issuer_jwks_url(i, false).unwrap();
        assert_eq!(ok("https://api.example/"), "https://api.example/.well-known/jwks.json");
        assert_eq!(ok("https://api.example:8443/v1"), "https://api.example:8443/v1/.well-known/jwks.json");
        assert_eq!(ok("http://127.0.0.1:8080"), "http://127.0.0.1:8080/.well-known/jwks.json", "a local dev server");
        assert!(KeyFetcher::issuer_jwks_url("http://localhost:8080/", false).is_ok());
        assert!(KeyFetcher::issuer_jwks_url("https://[::1]/", false).is_ok());
        for bad in [
            "http://api.example",
            "ftp://x",
            "https://10.1.2.3:443",
            "http://192.168.1.10",
            "https://169.254.169.254/latest",
            "https://[fd00::1]/",
            "https://printer.local",
            "https://a.example/?x=",
            "https://user@a.example",
            "https://a.example/#",
            "https://a.example/\n",
            "https://",
        ] {
            assert!(KeyFetcher::issuer_jwks_url(bad, false).is_err(), "{bad}");
        }
        assert!(KeyFetcher::issuer_jwks_url("http://10.0.0.5:8080", true).is_ok());
    }
}
