//! Webhooks (SPEC §2.4): events become durable jobs (one per subscribed endpoint, enqueued in the same
//! transaction as what caused them), delivered by the job worker with an HMAC-SHA256 signature, retried with
//! exponential backoff, and never sent into the server's own network: every address a target resolves to is
//! vetted (after DNS, on every redirect) unless `webhooks.allow_private_targets`.
use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::time::Duration;

use anyhow::{anyhow, bail, Result};
use hmac::{Hmac, Mac};
use proofmark_core::fetch_rules::{classify, is_internal_name, AddressClass};
use proofmark_store::{EventId, EventType, Job, OrgId, Store, Timestamp, Webhook, WebhookId};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

use crate::config::WebhooksConfig;
use crate::keys::Kek;

/// The job kind of a delivery.
pub const JOB_KIND: &str = "webhook";
/// Redirects followed (307 and 308 only: they keep the POST); each target is vetted again.
pub const MAX_REDIRECTS: usize = 3;

/// A delivery job's payload: the body is fixed when the event happens, so every attempt sends the same bytes.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Delivery {
    pub webhook_id: WebhookId,
    pub event_id: EventId,
    pub event_type: EventType,
    pub body: String,
}

/// The body of every event.
#[derive(Debug, Serialize)]
pub struct Event<'a, T: Serialize> {
    pub id: EventId,
    #[serde(rename = "type")]
    pub event_type: EventType,
    pub created_at: Timestamp,
    pub organization_id: OrgId,
    pub data: &'a T,
}

/// One delivery job per live webhook of `org` subscribed to `event_type`, all carrying the same event.
pub async fn jobs_for<T: Serialize>(
    store: &dyn Store,
    config: &WebhooksConfig,
    org: OrgId,
    event_type: EventType,
    data: &T,
    now: Timestamp,
) -> Result<Vec<Job>> {
    let hooks: Vec<Webhook> =
        store.webhooks(&org).await?.into_iter().filter(|w| w.events.contains(&event_type)).collect();
    if hooks.is_empty() {
        return Ok(Vec::new());
    }
    let event = Event { id: EventId::random(), event_type, created_at: now, organization_id: org, data };
    let body = serde_json::to_string(&event)?;
    hooks
        .iter()
        .map(|w| {
            let d = Delivery { webhook_id: w.webhook_id, event_id: event.id, event_type, body: body.clone() };
            Ok(Job::new(JOB_KIND, serde_json::to_string(&d)?, config.max_attempts, now))
        })
        .collect()
}

/// The label a webhook's secret is sealed to.
pub fn seal_label(id: &WebhookId) -> String {
    format!("webhook:{id}")
}

/// `v1=` + hex HMAC-SHA256 over `"{timestamp}.{body}"` with the webhook's secret (the `Proofmark-Signature`
/// header; receivers recompute it and compare in constant time, and refuse old timestamps).
pub fn signature(secret: &[u8], timestamp: i64, body: &str) -> String {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(secret).expect("HMAC takes keys of any length");
    mac.update(format!("{timestamp}.{body}").as_bytes());
    format!("v1={}", hex::encode(mac.finalize().into_bytes()))
}

/// Whether a URL may be a webhook target, by its spelling (names are vetted again after DNS, at delivery).
pub fn check_url(text: &str, allow_private: bool) -> Result<url::Url, String> {
    let url = url::Url::parse(text).map_err(|e| format!("url {text:?} is not a URL ({e})"))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(format!("url {text:?} must be http or https"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(format!("url {text:?} must not carry a user name or password"));
    }
    if allow_private {
        return url.host().map(|_| url.clone()).ok_or_else(|| format!("url {text:?} has no host"));
    }
    let refused = |why: String| {
        format!("{why}: webhooks are not delivered into private networks (webhooks.allow_private_targets allows it)")
    };
    match url.host() {
        Some(url::Host::Ipv4(v4)) => vet(IpAddr::V4(v4)).map_err(refused)?,
        Some(url::Host::Ipv6(v6)) => vet(IpAddr::V6(v6)).map_err(refused)?,
        Some(url::Host::Domain(name)) if is_internal_name(name) => {
            return Err(refused(format!("{name} is a name that exists only inside a network")))
        }
        Some(url::Host::Domain(_)) => {}
        None => return Err(format!("url {text:?} has no host")),
    }
    Ok(url)
}

/// Only public addresses.
fn vet(ip: IpAddr) -> Result<(), String> {
    match classify(ip) {
        AddressClass::Public => Ok(()),
        AddressClass::Loopback => Err(format!("{ip} is a loopback address")),
        AddressClass::Internal(range) => Err(format!("{ip} is in {range}")),
    }
}

/// Send one delivery (blocking). `Ok` on a 2xx answer.
pub fn deliver(target: &str, secret: &[u8], delivery: &Delivery, now: i64, config: &WebhooksConfig) -> Result<u16> {
    deliver_via(target, secret, delivery, now, config, system_lookup)
}

/// A name lookup: `"host:port"` to its addresses.
pub type Lookup = fn(&str) -> std::io::Result<Vec<SocketAddr>>;

/// The system's resolver.
pub fn system_lookup(netloc: &str) -> std::io::Result<Vec<SocketAddr>> {
    Ok(netloc.to_socket_addrs()?.collect())
}

/// [`deliver`] with the name lookup given (tests map names to loopback addresses with it).
pub fn deliver_via(
    target: &str,
    secret: &[u8],
    delivery: &Delivery,
    now: i64,
    config: &WebhooksConfig,
    lookup: Lookup,
) -> Result<u16> {
    let allow_private = config.allow_private_targets;
    let mut url = check_url(target, allow_private).map_err(|e| anyhow!(e))?;
    let timeout = Duration::from_secs(config.timeout_secs);
    for _ in 0..=MAX_REDIRECTS {
        let agent = ureq::AgentBuilder::new()
            .timeout(timeout)
            .redirects(0)
            .resolver(move |netloc: &str| resolve(netloc, allow_private, lookup))
            .build();
        let result = agent
            .post(url.as_str())
            .set("Content-Type", "application/json")
            .set("User-Agent", concat!("Proofmark-Webhooks/", env!("CARGO_PKG_VERSION")))
            .set("Proofmark-Event-Id", &delivery.event_id.to_string())
            .set("Proofmark-Event-Type", delivery.event_type.as_str())
            .set("Proofmark-Timestamp", &now.to_string())
            .set("Proofmark-Signature", &signature(secret, now, &delivery.body))
            .send_string(&delivery.body);
        match result {
            Ok(r) => return Ok(r.status()),
            Err(ureq::Error::Status(code @ (307 | 308), r)) => {
                let location = r.header("location").ok_or_else(|| anyhow!("HTTP {code} without a Location"))?;
                let next = url.join(location).map_err(|e| anyhow!("HTTP {code} to a bad Location: {e}"))?;
                url = check_url(next.as_str(), allow_private).map_err(|e| anyhow!("redirected: {e}"))?;
            }
            Err(ureq::Error::Status(code, _)) => bail!("HTTP {code}"),
            Err(e) => bail!("{e}"),
        }
    }
    bail!("more than {MAX_REDIRECTS} redirects")
}

/// The HTTP client's resolver: every address of the name, each vetted; one refused address refuses the
/// lookup (a name that answers with one internal address among public ones is not trusted with the others).
fn resolve(netloc: &str, allow_private: bool, lookup: Lookup) -> std::io::Result<Vec<SocketAddr>> {
    let addrs = lookup(netloc)?;
    if addrs.is_empty() {
        return Err(std::io::Error::other(format!("{netloc} has no address")));
    }
    if !allow_private {
        for a in &addrs {
            vet(a.ip()).map_err(|why| std::io::Error::other(format!("refused: {netloc} resolves to {why}")))?;
        }
    }
    Ok(addrs)
}

/// The delay before attempt `attempts + 1`: `base × 2^(attempts - 1)`, at most `max`.
pub fn backoff(config: &WebhooksConfig, attempts: i64) -> i64 {
    let doublings = u32::try_from((attempts - 1).clamp(0, 30)).unwrap_or(30);
    config.retry_base_secs.saturating_mul(1i64 << doublings).min(config.retry_max_secs)
}

/// Open a webhook's secret.
pub fn open_secret(kek: &Kek, webhook: &Webhook) -> Result<zeroize::Zeroizing<Vec<u8>>> {
    kek.unseal(&seal_label(&webhook.webhook_id), &webhook.sealed_secret)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_are_hmac_sha256_over_timestamp_and_body() {
        // RFC 4231 test case 2's key and message, framed as "{timestamp}.{body}" would not be: check the
        // primitive on the RFC vector, then the framing.
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(b"Jefe").unwrap();
        mac.update(b"what do ya want for nothing?");
        assert_eq!(
            hex::encode(mac.finalize().into_bytes()),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        let a = signature(b"whsec_x", 1_800_000_000, "{}");
        assert!(a.starts_with("v1=") && a.len() == 67);
        assert_ne!(a, signature(b"whsec_x", 1_800_000_001, "{}"), "the timestamp is signed");
        assert_ne!(a, signature(b"whsec_y", 1_800_000_000, "{}"));
    }

    #[test]
    fn urls_into_private_networks_are_refused_by_spelling() {
        for bad in [
            "http://127.0.0.1:8080/hook",
            "http://10.1.2.3/",
            "http://169.254.169.254/latest",
            "http://[::1]/",
            "http://[::ffff:192.168.0.1]/",
            "http://localhost/",
            "http://printer.local/",
            "http://intranet/",
        ] {
            assert!(check_url(bad, false).is_err(), "{bad}");
            assert!(check_url(bad, true).is_ok(), "{bad} with private targets allowed");
        }
        for bad in ["ftp://example.com/", "http://user:pw@example.com/", "not a url"] {
            assert!(check_url(bad, true).is_err(), "{bad}");
        }
        assert!(check_url("https://hooks.example.com/proofmark", false).is_ok());
    }

    #[test]
    fn backoff_doubles_up_to_the_cap() {
        let c = WebhooksConfig { retry_base_secs: 10, retry_max_secs: 100, ..WebhooksConfig::default() };
        assert_eq!([1, 2, 3, 4, 5, 60].map(|a| backoff(&c, a)), [10, 20, 40, 80, 100, 100]);
    }
}
