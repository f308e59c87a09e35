//! Loading key sets: from a file, or over HTTP(S) under the rules of `proofmark_core::fetch_rules`.
//!
//! An issuer named by a sidecar is untrusted input. Its URL is parsed once and vetted on the host the HTTP
//! client will use; names are resolved here (the client's resolver hook), every resolved address is vetted,
//! and the client connects only to those addresses. No redirects, a size cap, one deadline for all the key
//! fetching of a run, at most `max_issuers` distinct issuers per run, and, for issuers named by a file, one
//! error text whatever went wrong on the network, so a sidecar cannot use `verify` to probe ports.
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};
use proofmark_core::fetch_rules::{FetchTarget, Refusal, TargetHost};
use proofmark_core::jwks::MAX_JWKS_BYTES;
use proofmark_core::Jwks;

use crate::input::{open_regular, read_capped};

type Slot = Arc<OnceLock<Result<Arc<Jwks>, String>>>;

#[derive(Debug)]
pub struct KeyFetcher {
    budget: Duration,
    /// Set by the first network fetch: the run's one deadline for all key fetching.
    deadline: OnceLock<Instant>,
    max_issuers: usize,
    cache: Mutex<Cache>,
}

#[derive(Debug, Default)]
struct Cache {
    slots: HashMap<String, Slot>,
    issuers: usize,
}

/// Who chose the URL: the user (on the command line) sees every detail of a failure; a sidecar does not.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Chooser {
    User,
    Sidecar,
}

impl KeyFetcher {
    /// `budget` is the time all key fetching of this run may take together.
    pub fn new(budget: Duration, max_issuers: usize) -> Self {
        Self { budget, deadline: OnceLock::new(), max_issuers, cache: Mutex::new(Cache::default()) }
    }

    /// The key set an issuer publishes, at the URL the verification pipeline vetted
    /// (`proofmark_core::Need::IssuerKeys`), or why the address rules refuse it. An issuer typed by the user
    /// (`--trust-issuer`) was vetted as typed; one named only by a sidecar passed the address rules unless
    /// `--allow-insecure-issuer`.
    pub fn issuer_keys(
        &self,
        issuer: &str,
        target: Result<FetchTarget, Refusal>,
        chooser: Chooser,
    ) -> Result<Arc<Jwks>> {
        let shown = crate::input::printable(issuer).into_owned();
        let target = target.map_err(|r| {
            let hint = match r {
                Refusal::Address { .. } | Refusal::InternalName(_) | Refusal::PlainHttp => {
                    " (--allow-insecure-issuer allows it)"
                }
                _ => "",
            };
            anyhow!("keys for issuer {shown} are not fetched: {r}{hint}")
        })?;
        self.cached(&target, chooser, &shown, true)
    }

    /// A `--jwks` key set: an http(s) URL (fetched as typed) or a file.
    pub fn load(&self, file_or_url: &str) -> Result<Arc<Jwks>> {
        let lower = file_or_url.get(..8).unwrap_or(file_or_url).to_ascii_lowercase();
        if lower.starts_with("https://") || lower.starts_with("http://") {
            let target = FetchTarget::parse(file_or_url, true).map_err(|r| anyhow!("JWKS URL {file_or_url}: {r}"))?;
            return self.cached(&target, Chooser::User, file_or_url, false);
        }
        let path = std::path::Path::new(file_or_url);
        let file = open_regular(path).with_context(|| format!("cannot read JWKS file {file_or_url}"))?;
        let bytes = read_capped(file, MAX_JWKS_BYTES as u64, &format!("JWKS file {file_or_url}"), "")?;
        let jwks = Jwks::parse(&bytes).with_context(|| format!("JWKS file {file_or_url}"))?;
        Ok(Arc::new(jwks))
    }

    /// Each URL is fetched at most once per run (threads asking for the same one wait for the first).
    fn cached(&self, target: &FetchTarget, chooser: Chooser, shown: &str, counts: bool) -> Result<Arc<Jwks>> {
        let slot = {
            let mut cache = self.cache.lock().map_err(|_| anyhow!("key cache poisoned"))?;
            match cache.slots.get(&target.url) {
                Some(slot) => slot.clone(),
                None => {
                    if counts && cache.issuers >= self.max_issuers {
                        bail!(
                            "keys for issuer {shown} are not fetched: this run has fetched keys for {} issuers already (--max-issuers)",
                            self.max_issuers
                        );
                    }
                    cache.issuers += usize::from(counts);
                    cache.slots.entry(target.url.clone()).or_default().clone()
                }
            }
        };
        let result = slot.get_or_init(|| {
            self.fetch(target).map(Arc::new).map_err(|e| match (chooser, e) {
                (Chooser::User, FetchError::Refused(host, r)) => {
                    format!("could not fetch {shown}: {host}: {r} (--allow-insecure-issuer allows it)")
                }
                (Chooser::User, FetchError::Other(detail)) => format!("could not fetch {shown}: {detail}"),
                // An internal address a name resolved to, connection refused or reset, a timeout, TLS, an HTTP
                // status, a body that is no key set: all read the same to a sidecar's author, so a sidecar
                // can probe neither ports nor internal names.
                (Chooser::Sidecar, _) => format!("could not fetch keys for issuer {shown}"),
            })
        });
        result.clone().map_err(anyhow::Error::msg)
    }

    fn fetch(&self, target: &FetchTarget) -> Result<Jwks, FetchError> {
        let deadline = *self.deadline.get_or_init(|| Instant::now() + self.budget);
        let remaining = deadline.saturating_duration_since(Instant::now());
        if remaining.is_zero() {
            return Err(FetchError::Other("the run's deadline for fetching keys has passed (--timeout)".into()));
        }
        let refused: Arc<Mutex<Option<(String, Refusal)>>> = Arc::default();
        let (rules, seen) = (target.clone(), refused.clone());
        let agent = ureq::AgentBuilder::new()
            .timeout_connect(remaining)
            .timeout(remaining)
            .redirects(0)
            .resolver(move |netloc: &str| {
                resolve_vetted(&rules, netloc, deadline).map_err(|e| {
                    if let ResolveError::Refused(host, r) = &e {
                        if let Ok(mut slot) = seen.lock() {
                            *slot = Some((host.clone(), r.clone()));
                        }
                    }
                    std::io::Error::other(e.to_string())
                })
            })
            .build();
        let response = agent.get(&target.url).set("Accept", "application/json").call();
        if let Some((host, r)) = refused.lock().ok().and_then(|mut s| s.take()) {
            return Err(FetchError::Refused(host, r));
        }
        let response = match response {
            Ok(r) => r,
            Err(ureq::Error::Status(code, _)) => return Err(FetchError::Other(format!("HTTP {code}"))),
            Err(e) => return Err(FetchError::Other(e.to_string())),
        };
        let body = read_capped(response.into_reader(), MAX_JWKS_BYTES as u64, "the key set", "")
            .map_err(|e| FetchError::Other(format!("{e:#}")))?;
        Jwks::parse(&body).map_err(|e| FetchError::Other(format!("not a key set: {e}")))
    }
}

#[derive(Debug)]
enum FetchError {
    /// A resolved address failed the rules (the host name and why).
    Refused(String, Refusal),
    Other(String),
}

#[derive(Debug)]
enum ResolveError {
    Refused(String, Refusal),
    Other(String),
}

impl std::fmt::Display for ResolveError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Refused(host, r) => write!(f, "{host}: {r}"),
            Self::Other(e) => f.write_str(e),
        }
    }
}

/// The HTTP client's resolver: the addresses for `netloc` ("host:port", IPv6 in brackets), each vetted.
/// Any refused address refuses the whole lookup (a name that answers with one internal address among
/// public ones is not to be trusted with the others either).
fn resolve_vetted(rules: &FetchTarget, netloc: &str, deadline: Instant) -> Result<Vec<SocketAddr>, ResolveError> {
    let (host, port) = netloc.rsplit_once(':').ok_or_else(|| ResolveError::Other(format!("bad address {netloc}")))?;
    let port: u16 = port.parse().map_err(|_| ResolveError::Other(format!("bad port in {netloc}")))?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let addrs: Vec<SocketAddr> = match &rules.host {
        TargetHost::Ip(ip) => {
            if host.parse::<IpAddr>().ok() != Some(*ip) || port != rules.port {
                return Err(ResolveError::Other(format!("asked to connect to {netloc}, not the vetted address")));
            }
            vec![SocketAddr::new(*ip, port)]
        }
        TargetHost::Name(name) => {
            if !host.trim_end_matches('.').eq_ignore_ascii_case(name) || port != rules.port {
                return Err(ResolveError::Other(format!("asked to connect to {netloc}, not the vetted host")));
            }
            lookup(name, port, deadline)?
        }
    };
    if addrs.is_empty() {
        return Err(ResolveError::Other(format!("{host} has no address")));
    }
    for a in &addrs {
        rules.vet_address(a.ip()).map_err(|r| ResolveError::Refused(host.to_owned(), r))?;
    }
    Ok(addrs)
}

/// A name lookup bounded by the run's deadline (the system resolver cannot be interrupted, so it runs on a
/// thread of its own that is abandoned when time runs out).
fn lookup(name: &str, port: u16, deadline: Instant) -> Result<Vec<SocketAddr>, ResolveError> {
    let (tx, rx) = std::sync::mpsc::channel();
    let owned = name.to_owned();
    std::thread::spawn(move || {
        let _ = tx.send((owned.as_str(), port).to_socket_addrs().map(Iterator::collect::<Vec<_>>));
    });
    match rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
        Ok(Ok(addrs)) => Ok(addrs),
        Ok(Err(e)) => Err(ResolveError::Other(format!("cannot resolve {name}: {e}"))),
        Err(_) => Err(ResolveError::Other(format!("resolving {name} took longer than the deadline"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_resolver_connects_only_to_the_vetted_host() {
        let far = Instant::now() + Duration::from_secs(5);
        let ip = FetchTarget::issuer_jwks("http://127.0.0.1:8080", false).unwrap();
        assert_eq!(resolve_vetted(&ip, "127.0.0.1:8080", far).unwrap(), ["127.0.0.1:8080".parse().unwrap()]);
        let refused = |r: Result<Vec<SocketAddr>, ResolveError>| match r {
            Err(ResolveError::Other(m)) => m,
            other => panic!("{other:?}"),
        };
        assert_eq!(
            refused(resolve_vetted(&ip, "10.0.0.1:8080", far)),
            "asked to connect to 10.0.0.1:8080, not the vetted address"
        );
        assert_eq!(
            refused(resolve_vetted(&ip, "127.0.0.1:9", far)),
            "asked to connect to 127.0.0.1:9, not the vetted address"
        );
        let local = FetchTarget::issuer_jwks("http://localhost:8080", false).unwrap();
        let addrs = resolve_vetted(&local, "localhost:8080", far).unwrap();
        assert!(addrs.iter().all(|a| a.ip().is_loopback()), "{addrs:?}");
        assert_eq!(
            refused(resolve_vetted(&local, "example.com:8080", far)),
            "asked to connect to example.com:8080, not the vetted host"
        );
        let v6 = FetchTarget::issuer_jwks("https://[::1]:8443", false).unwrap();
        assert_eq!(resolve_vetted(&v6, "[::1]:8443", far).unwrap(), ["[::1]:8443".parse().unwrap()]);
    }

    #[test]
    fn a_spent_deadline_fetches_nothing() {
        let fetcher = KeyFetcher::new(Duration::ZERO, 8);
        let e = fetcher
            .issuer_keys("http://127.0.0.1:9", FetchTarget::issuer_jwks("http://127.0.0.1:9", false), Chooser::Sidecar)
            .unwrap_err();
        assert_eq!(format!("{e:#}"), "could not fetch keys for issuer http://127.0.0.1:9");
    }

    #[test]
    fn the_number_of_issuers_per_run_is_capped() {
        let fetcher = KeyFetcher::new(Duration::ZERO, 2);
        for port in [1, 2] {
            let e = fetcher
                .issuer_keys(
                    &format!("http://127.0.0.1:{port}"),
                    FetchTarget::issuer_jwks(&format!("http://127.0.0.1:{port}"), false),
                    Chooser::Sidecar,
                )
                .unwrap_err();
            assert!(format!("{e:#}").starts_with("could not fetch"), "{e:#}");
        }
        // The same issuer again is answered from the run's cache; a third one is not fetched at all.
        let again = fetcher
            .issuer_keys("http://127.0.0.1:1", FetchTarget::issuer_jwks("http://127.0.0.1:1", false), Chooser::Sidecar)
            .unwrap_err();
        assert_eq!(format!("{again:#}"), "could not fetch keys for issuer http://127.0.0.1:1");
        let e = fetcher
            .issuer_keys("http://127.0.0.1:3", FetchTarget::issuer_jwks("http://127.0.0.1:3", false), Chooser::Sidecar)
            .unwrap_err();
        assert!(format!("{e:#}").contains("has fetched keys for 2 issuers already"), "{e:#}");
    }
}
