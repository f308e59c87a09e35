//! The verification pipeline, sans I/O: a [`Verification`] starts from what travels with a file (the sidecar
//! bytes, a log receipt, what the caller measured on the file) and a [`Policy`], parses each piece once, and
//! says what it still needs from outside ([`Verification::needs`]): the media's SHA-256, the keys an issuer
//! publishes (at a URL vetted by [`crate::fetch_rules`]), the log's key, the signed records that match the
//! file. The caller (the CLI, the server, the browser) fetches those and hands them back, or reports them
//! unavailable, which becomes a check status (`unavailable`) and the verdict `unverified` rather than a
//! special case in the caller. Then [`Verification::finish`] (the capture report) or
//! [`Verification::finish_all`] (every report: capture, receipt, publisher-plane content) runs every check.
//!
//! ```text
//! let mut v = Verification::new(Policy::permissive(), Some(now)).fetching(IssuerKeys::Any);
//! v.add_sidecar(&bytes);
//! for need in v.needs() {
//!     match need {
//!         Need::MediaDigest => v.supply_media_digest(hash_the_file()?),
//!         Need::IssuerKeys { issuer, target, .. } => match fetch(target) {
//!             Ok(jwks) => v.supply_issuer_keys(&issuer, &jwks),
//!             Err(e) => v.issuer_keys_unavailable(e.to_string()),
//!         },
//!         Need::LogKey => v.supply_log_key(log_key),
//!         Need::RecordLookup { sha256, phash, watermark } => v.supply_records(lookup(sha256, phash, watermark)),
//!     }
//! }
//! let report = v.finish();
//! ```
use serde_json::Value;

use crate::codes::{FindingCode, Reason};
use crate::device::{device_message, DevicePublicKey, DeviceSignature};
use crate::fetch_rules::{FetchTarget, Refusal};
use crate::hash::ContentHash;
use crate::jwks::{Jwk, Jwks};
use crate::jwt::{self, AttestationMethod, CaptureClaims, ClaimLayout, DecodedJwt, JwtFormatError};
use crate::provenance::{
    assess, check_receipt, ContentReport, Observation, ReceiptReport, SignedRecord, WatermarkRead,
};
use crate::sidecar::{Sidecar, SidecarError};
use crate::tlog::{NoteVerifier, Receipt, ReceiptError};
use crate::verify::{
    is_canonical_timestamp, same_issuer, CaptureSummary, Check, CheckCode, Finding, KeyRing, KeySource, Policy, Report,
    Status, Verdict,
};

/// How far in the future a token's `iat` may lie (clock skew between issuer and verifier) before
/// `iat_in_future` is reported.
pub const IAT_SKEW_SECS: i64 = 300;

/// Which issuers' published keys (`{iss}/.well-known/jwks.json`) a verification asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IssuerKeys {
    /// None: only the keys handed in ([`Verification::with_keys`]) are used.
    Never,
    /// Those of the issuer a token names, whoever it is; the URL must pass the address rules of
    /// [`crate::fetch_rules`] (unless [`Verification::allow_insecure_issuer`]). Such keys give `valid`, or
    /// `trusted` when the policy trusts the issuer.
    Any,
    /// Only those of issuers the policy trusts (fetched as the user typed them); a token naming another
    /// issuer gets `jwt_no_keys` and the `issuer_keys_not_fetched` finding.
    Trusted,
}

/// Something a verification needs from outside before it can finish.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Need {
    /// The SHA-256 of the media bytes: [`Verification::supply_media_digest`].
    MediaDigest,
    /// The key set the token's issuer publishes: [`Verification::supply_issuer_keys`], or
    /// [`Verification::issuer_keys_unavailable`]. `target` is the vetted URL to fetch, or why the rules refuse
    /// it (then nothing may be fetched: report it unavailable). `chosen_by_user` is true when the user named
    /// the issuer (the policy trusts it): a failure may then be told in detail; an issuer named only by the
    /// file gets one text for every network failure, so a file cannot probe a network through a verifier.
    IssuerKeys { issuer: String, target: Result<FetchTarget, Refusal>, chosen_by_user: bool },
    /// The transparency log's key (its note verifier), to authenticate a receipt's checkpoint:
    /// [`Verification::supply_log_key`] or [`Verification::log_key_unavailable`].
    LogKey,
    /// The signed records that match what was observed on the file: those whose original or watermarked
    /// file has `sha256`, whose watermark payload is the one read (exactly when its CRC passed, else within
    /// [`crate::provenance::MAX_WATERMARK_BITS_OFF`] bits), or whose pHash is within
    /// [`crate::provenance::MAX_PHASH_DISTANCE`] of `phash` — each with its receipt:
    /// [`Verification::supply_records`].
    RecordLookup { sha256: ContentHash, phash: Option<u64>, watermark: Option<WatermarkRead> },
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Supply<T> {
    Pending,
    Given(T),
    Unavailable(String),
}

/// The sidecar, parsed once.
#[derive(Debug, Clone)]
struct Capture {
    sidecar: Result<Sidecar, SidecarError>,
    /// The token, decoded once (absent when the sidecar could not be read).
    token: Option<Result<DecodedJwt, JwtFormatError>>,
}

impl Capture {
    fn parse(bytes: &[u8]) -> Self {
        let sidecar = Sidecar::parse(bytes);
        let token = sidecar.as_ref().ok().map(|s| DecodedJwt::decode(&s.capture_trust.jwt));
        Self { sidecar, token }
    }

    fn jwt(&self) -> Option<&DecodedJwt> {
        self.token.as_ref().and_then(|t| t.as_ref().ok())
    }

    /// The issuer the token names, if it can be read.
    fn issuer(&self) -> Option<&str> {
        self.jwt()?.payload.get("iss")?.as_str()
    }
}

/// One verification in progress (see the module docs).
#[derive(Debug, Clone)]
pub struct Verification {
    policy: Policy,
    now: Option<i64>,
    keys: KeyRing,
    issuer_keys: IssuerKeys,
    allow_insecure_issuer: bool,
    capture: Option<Capture>,
    media_digest: Supply<ContentHash>,
    /// The token issuer's published keys.
    published: Supply<()>,
    /// A log receipt that travels with the file, parsed once.
    receipt: Option<Result<Receipt, ReceiptError>>,
    log_key: Supply<NoteVerifier>,
    /// What the caller measured on the file, for the publisher-plane lookup.
    observation: Option<Observation>,
    records: Supply<Vec<SignedRecord>>,
}

/// Everything a verification found: the capture sidecar's report and the receipt's, for what was given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finished {
    pub capture: Option<Report>,
    pub receipt: Option<ReceiptReport>,
    /// The publisher-plane verdict, when the file was observed ([`Verification::observe`]).
    pub content: Option<ContentReport>,
}

impl Verification {
    /// `now` is the verifier's time (seconds since the Unix epoch), for `iat_in_future`; `None` skips that
    /// check.
    pub fn new(policy: Policy, now: Option<i64>) -> Self {
        Self {
            policy,
            now,
            keys: KeyRing::new(),
            issuer_keys: IssuerKeys::Never,
            allow_insecure_issuer: false,
            capture: None,
            media_digest: Supply::Pending,
            published: Supply::Pending,
            receipt: None,
            log_key: Supply::Pending,
            observation: None,
            records: Supply::Pending,
        }
    }

    /// Keys the caller holds (files the user named, a server's own keys), each with where it came from.
    #[must_use]
    pub fn with_keys(mut self, keys: KeyRing) -> Self {
        self.keys = keys;
        self
    }

    /// Which issuers' published keys to ask for (default [`IssuerKeys::Never`]).
    #[must_use]
    pub fn fetching(mut self, which: IssuerKeys) -> Self {
        self.issuer_keys = which;
        self
    }

    /// Lift the address rules for issuers named by the file (plain http, private addresses): an explicit
    /// choice of the user.
    #[must_use]
    pub fn allow_insecure_issuer(mut self, allow: bool) -> Self {
        self.allow_insecure_issuer = allow;
        self
    }

    /// The capture sidecar that travels with the file, as bytes: parsed here, once.
    pub fn add_sidecar(&mut self, bytes: &[u8]) {
        self.capture = Some(Capture::parse(bytes));
    }

    /// A transparency-log receipt that travels with the file (JSON), parsed here, once.
    pub fn add_receipt(&mut self, bytes: &[u8]) {
        self.receipt = Some(Receipt::parse(bytes));
    }

    /// What the caller measured on the file (one read, one decode): its SHA-256 (which is also the media
    /// digest), pHash and watermark reading. The pipeline then asks for the matching records
    /// ([`Need::RecordLookup`]) and judges them at the end.
    pub fn observe(&mut self, observation: Observation) {
        self.media_digest = Supply::Given(observation.sha256);
        self.observation = Some(observation);
    }

    /// The records a lookup found for [`Need::RecordLookup`] (none is an answer too: `no_record`).
    pub fn supply_records(&mut self, records: Vec<SignedRecord>) {
        self.records = Supply::Given(records);
    }

    /// The log's key, to authenticate the receipt's checkpoint.
    pub fn supply_log_key(&mut self, key: NoteVerifier) {
        self.log_key = Supply::Given(key);
    }

    /// No log key: the receipt's `log_inclusion` becomes `unavailable`.
    pub fn log_key_unavailable(&mut self, why: impl Into<String>) {
        self.log_key = Supply::Unavailable(why.into());
    }

    /// The issuer the sidecar's token names, once read (for display and grouping; never for trust).
    pub fn claimed_issuer(&self) -> Option<&str> {
        self.capture.as_ref()?.issuer()
    }

    /// What is still needed, in the order a caller should get it (keys first: they come from the network
    /// under one deadline, the digest from reading the file).
    pub fn needs(&self) -> Vec<Need> {
        let mut needs = Vec::new();
        let receipts = matches!(self.receipt, Some(Ok(_))) || self.observation.is_some();
        if receipts && self.log_key == Supply::Pending {
            needs.push(Need::LogKey);
        }
        if let (Some(o), Supply::Pending) = (&self.observation, &self.records) {
            needs.push(Need::RecordLookup { sha256: o.sha256, phash: o.phash, watermark: o.watermark });
        }
        let wants_digest = self.receipt.is_some() || self.capture.as_ref().is_some_and(|c| c.sidecar.is_ok());
        let Some(capture) = &self.capture else {
            if wants_digest && self.media_digest == Supply::Pending {
                needs.push(Need::MediaDigest);
            }
            return needs;
        };
        if self.published == Supply::Pending {
            if let Some(issuer) = self.issuer_to_fetch(capture) {
                let chosen_by_user = self.issuer_keys == IssuerKeys::Trusted;
                let target = FetchTarget::issuer_jwks(issuer, self.allow_insecure_issuer || chosen_by_user);
                needs.push(Need::IssuerKeys { issuer: issuer.to_owned(), target, chosen_by_user });
            }
        }
        if wants_digest && self.media_digest == Supply::Pending {
            needs.push(Need::MediaDigest);
        }
        needs
    }

    /// The issuer whose keys the rule asks for: the token must be readable, name an issuer and a key id, and
    /// use ES256 (else no key could help).
    fn issuer_to_fetch<'a>(&self, capture: &'a Capture) -> Option<&'a str> {
        let jwt = capture.jwt()?;
        if jwt.header.kid.is_none() || jwt::check_alg(&jwt.header).is_err() {
            return None;
        }
        let issuer = capture.issuer()?;
        match self.issuer_keys {
            IssuerKeys::Never => None,
            IssuerKeys::Any => Some(issuer),
            IssuerKeys::Trusted => self.policy.trusts_issuer(issuer).then_some(issuer),
        }
    }

    /// The media's SHA-256 ([`crate::ContentHasher`] over the bytes as stored).
    pub fn supply_media_digest(&mut self, digest: ContentHash) {
        self.media_digest = Supply::Given(digest);
    }

    /// The media could not be read: `content_hash` becomes `unavailable`.
    pub fn media_digest_unavailable(&mut self, why: impl Into<String>) {
        self.media_digest = Supply::Unavailable(why.into());
    }

    /// The key set `issuer` publishes, as fetched. Its keys verify only tokens naming `issuer`.
    pub fn supply_issuer_keys(&mut self, issuer: &str, jwks: &Jwks) {
        self.keys.add_jwks(jwks, KeySource::Issuer { url: issuer.to_owned() });
        self.published = Supply::Given(());
    }

    /// The issuer's keys could not be had; `why` goes into the report as the `jwt_key` check's message
    /// (status `unavailable`) unless another key verifies the token.
    pub fn issuer_keys_unavailable(&mut self, why: impl Into<String>) {
        self.published = Supply::Unavailable(why.into());
    }

    /// Every report the evidence given allows: the capture sidecar's ([`Verification::finish`]) when one was
    /// added, the receipt's when one was added.
    pub fn finish_all(self) -> Finished {
        let receipt = self.receipt.as_ref().map(|r| {
            let digest = match &self.media_digest {
                Supply::Given(d) => Some(d),
                _ => None,
            };
            let key = match &self.log_key {
                Supply::Given(k) => Ok(k),
                Supply::Unavailable(why) => Err(why.as_str()),
                Supply::Pending => {
                    Err("the log's key was not supplied: the receipt's checkpoint cannot be authenticated")
                }
            };
            check_receipt(r, digest, key)
        });
        let content = self.observation.clone().map(|o| {
            let records = match &self.records {
                Supply::Given(r) => r.as_slice(),
                _ => &[],
            };
            let key = match &self.log_key {
                Supply::Given(k) => Some(k),
                _ => None,
            };
            assess(o, records, key)
        });
        let capture = self.capture.is_some().then(|| self.finish());
        Finished { capture, receipt, content }
    }

    /// Run every capture check and decide the verdict. Whatever is still pending counts as unavailable.
    pub fn finish(self) -> Report {
        let mut b = Builder { checks: Vec::new(), findings: Vec::new() };
        let Some(capture) = &self.capture else {
            for code in CheckCode::CAPTURE {
                b.na(code, "not run: no sidecar");
            }
            return Report {
                verdict: Verdict::Unverified,
                checks: b.checks,
                findings: b.findings,
                capture: None,
                key_source: None,
                verdict_limits: Vec::new(),
            };
        };
        let sidecar = match &capture.sidecar {
            Ok(s) => s,
            Err(e) => {
                b.fail(CheckCode::SidecarFormat, e.code(), e.to_string());
                for code in &CheckCode::CAPTURE[1..] {
                    b.na(*code, "not run: the sidecar could not be read");
                }
                return Report {
                    verdict: Verdict::Invalid,
                    checks: b.checks,
                    findings: b.findings,
                    capture: None,
                    key_source: None,
                    verdict_limits: Vec::new(),
                };
            }
        };
        b.pass(CheckCode::SidecarFormat, "sidecar v1.0 read");
        let mi = &sidecar.media_integrity;
        let mut summary = CaptureSummary {
            capture_id: mi.capture_id.clone(),
            captured_at: mi.captured_at.clone(),
            content_hash: mi.content_hash.clone(),
            ..CaptureSummary::default()
        };

        // Capture-trust layer.
        let (claims, key_source) = self.trust_layer(&mut b, capture);
        let jwt = capture.jwt();
        if let Some(jwt) = jwt {
            summary.key_id = jwt.header.kid.clone();
            let text = |k: &str| jwt.payload.get(k).and_then(Value::as_str).map(str::to_owned);
            summary.issuer = text("iss");
            summary.publisher_id = text("publisher_id");
            summary.device_id = text("device_id");
            summary.issued_at = jwt.payload.get("iat").and_then(Value::as_i64);
            if let (Some(iat), Some(now)) = (summary.issued_at, self.now) {
                if iat > now.saturating_add(IAT_SKEW_SECS) {
                    b.finding(
                        FindingCode::IatInFuture,
                        format!(
                            "the token says it was issued at {iat}, {} s after the verifier's clock ({now}): the issuer's clock is wrong or the token was made up",
                            iat - now
                        ),
                    );
                }
            }
        }
        if let Some(c) = &claims {
            summary.method = Some(c.attestation.method);
            summary.app_id = c.attestation.app_id.clone();
            summary.claim_layout = Some(c.layout);
            summary.device_public_key_fingerprint = c.device_public_key_fingerprint.clone();
        }

        // Media-integrity layer.
        match (mi.content_hash.parse::<ContentHash>(), &self.media_digest) {
            (Err(_), _) => b.fail(
                CheckCode::ContentHash,
                Reason::ContentHashMalformed,
                format!("content_hash {:?} is not 64 lower-case hex characters", truncate(&mi.content_hash)),
            ),
            (Ok(_), Supply::Pending) => b.unavailable(
                CheckCode::ContentHash,
                Reason::MediaDigestUnavailable,
                "the media's SHA-256 was not supplied",
            ),
            (Ok(_), Supply::Unavailable(why)) => {
                b.unavailable(CheckCode::ContentHash, Reason::MediaDigestUnavailable, why.clone())
            }
            (Ok(claimed), Supply::Given(digest)) if claimed == *digest => {
                b.pass(CheckCode::ContentHash, "SHA-256 of the media matches content_hash")
            }
            (Ok(_), Supply::Given(digest)) => b.fail(
                CheckCode::ContentHash,
                Reason::ContentHashMismatch,
                format!(
                    "the media's SHA-256 is {digest}, the sidecar says {}: the file was changed after capture",
                    mi.content_hash
                ),
            ),
        }
        let device_key = match DevicePublicKey::from_base64(&mi.public_key) {
            Ok(k) => {
                b.pass(CheckCode::DevicePublicKey, "uncompressed P-256 point");
                Some(k)
            }
            Err(e) => {
                b.fail(CheckCode::DevicePublicKey, e.code(), e.to_string());
                None
            }
        };
        match (DeviceSignature::from_base64(&mi.signature), &device_key) {
            (Err(e), _) => b.fail(CheckCode::DeviceSignature, e.code(), e.to_string()),
            (Ok(_), None) => b.na(CheckCode::DeviceSignature, "not run: the device public key is unusable"),
            (Ok(sig), Some(key)) => {
                let message = device_message(&mi.content_hash, &mi.capture_id, &mi.captured_at);
                if key.verify(message.as_bytes(), &sig) {
                    let s = if sig.is_high_s() { " (high-S, as the Secure Enclave writes it)" } else { "" };
                    b.pass(
                        CheckCode::DeviceSignature,
                        format!("device signature over content_hash:capture_id:captured_at verifies{s}"),
                    );
                } else {
                    b.fail(
                        CheckCode::DeviceSignature,
                        Reason::DeviceSignatureInvalid,
                        "the device signature does not verify over content_hash:capture_id:captured_at with public_key",
                    );
                }
            }
        }

        // Cross-checks between the layers.
        match jwt.and_then(|j| j.payload.get("capture_id")) {
            Some(Value::String(id)) if *id == mi.capture_id => {
                b.pass(CheckCode::CaptureIdMatch, "capture_id is the same in the token and the sidecar")
            }
            Some(Value::String(id)) => b.fail(
                CheckCode::CaptureIdMatch,
                Reason::CaptureIdMismatch,
                format!("the token's capture_id {id:?} differs from the sidecar's {:?}", mi.capture_id),
            ),
            _ => b.na(CheckCode::CaptureIdMatch, "not run: the token has no readable capture_id"),
        }
        match (&claims, &device_key) {
            (None, _) => b.na(CheckCode::DeviceKeyFingerprint, "not run: the token's claims could not be read"),
            (Some(c), _) if c.device_public_key_fingerprint.is_none() => {
                b.na(CheckCode::DeviceKeyFingerprint, "the token carries no device key fingerprint");
                if c.layout == ClaimLayout::Current {
                    b.finding(
                        FindingCode::DeviceKeyUnbound,
                        "the token carries no device_public_key_fingerprint: any device key could have signed the media",
                    );
                }
            }
            (Some(_), None) => b.na(CheckCode::DeviceKeyFingerprint, "not run: the device public key is unusable"),
            (Some(c), Some(key)) => {
                let fp = key.fingerprint();
                if c.device_public_key_fingerprint.as_deref() == Some(fp.as_str()) {
                    b.pass(
                        CheckCode::DeviceKeyFingerprint,
                        "the token binds this device public key (SHA-256 fingerprint matches)",
                    );
                } else {
                    b.fail(
                        CheckCode::DeviceKeyFingerprint,
                        Reason::DeviceKeyFingerprintMismatch,
                        format!(
                            "the token binds device key {}, but the sidecar's public_key has fingerprint {fp}",
                            c.device_public_key_fingerprint.as_deref().unwrap_or("")
                        ),
                    );
                }
            }
        }
        attestation_policy(&mut b, claims.as_ref(), &self.policy);
        if !is_canonical_timestamp(&mi.captured_at) {
            b.finding(
                FindingCode::CapturedAtFormat,
                format!("captured_at {:?} is not YYYY-MM-DDTHH:MM:SSZ", truncate(&mi.captured_at)),
            );
        }

        let failed = b.checks.iter().any(|c| c.status == Status::Fail);
        let unavailable = b.checks.iter().any(|c| c.status == Status::Unavailable);
        let mut verdict_limits = Vec::new();
        let verdict = match &key_source {
            _ if failed => Verdict::Invalid,
            _ if unavailable => Verdict::Unverified,
            Some(source) => {
                // A token that does not bind the device key can be lifted from any sidecar of the same issuer
                // and put next to other media signed by any key: it proves a capture session, not this capture.
                if let Some(c) = claims.as_ref().filter(|c| c.device_public_key_fingerprint.is_none()) {
                    verdict_limits.push(match c.layout {
                        ClaimLayout::Legacy => FindingCode::LegacyClaimLayout,
                        ClaimLayout::Current => FindingCode::DeviceKeyUnbound,
                    });
                }
                match source {
                    KeySource::Unbound { label } => {
                        b.finding(
                            FindingCode::IssuerUnverified,
                            format!(
                                "the token verifies against keys from {label}, which are bound to no issuer: its claim to come from {:?} is not verified",
                                summary.issuer.as_deref().unwrap_or("")
                            ),
                        );
                        verdict_limits.push(FindingCode::IssuerUnverified);
                    }
                    _ if self.policy.trusts(source) => {}
                    _ => {
                        b.finding(
                            FindingCode::IssuerNotTrusted,
                            format!(
                                "the token verifies against {}, which you have not said to trust",
                                source.describe()
                            ),
                        );
                        verdict_limits.push(FindingCode::IssuerNotTrusted);
                    }
                }
                if verdict_limits.is_empty() {
                    Verdict::Trusted
                } else {
                    Verdict::Valid
                }
            }
            None => Verdict::Invalid,
        };
        Report { verdict, checks: b.checks, findings: b.findings, capture: Some(summary), key_source, verdict_limits }
    }

    fn trust_layer(&self, b: &mut Builder, capture: &Capture) -> (Option<CaptureClaims>, Option<KeySource>) {
        let jwt = match &capture.token {
            Some(Ok(j)) => {
                b.pass(CheckCode::JwtFormat, "compact JWS with JSON header and payload");
                j
            }
            Some(Err(e)) => {
                b.fail(CheckCode::JwtFormat, e.code(), e.to_string());
                for code in [CheckCode::JwtAlgorithm, CheckCode::JwtClaims, CheckCode::JwtKey, CheckCode::JwtSignature]
                {
                    b.na(code, "not run: the token could not be decoded");
                }
                return (None, None);
            }
            None => return (None, None),
        };
        let alg_ok = match jwt::check_alg(&jwt.header) {
            Ok(()) => {
                b.pass(CheckCode::JwtAlgorithm, "ES256");
                true
            }
            Err(e) => {
                b.fail(CheckCode::JwtAlgorithm, e.code(), e.to_string());
                false
            }
        };
        let claims = match CaptureClaims::from_payload(&jwt.payload) {
            Ok(c) => {
                let layout = match c.layout {
                    ClaimLayout::Current => "current claim layout",
                    ClaimLayout::Legacy => {
                        b.finding(
                            FindingCode::LegacyClaimLayout,
                            "the token uses the pre-2026-01-28 claim layout (top-level method, no device key fingerprint): the device key is not bound to the token",
                        );
                        "legacy claim layout"
                    }
                };
                b.pass(
                    CheckCode::JwtClaims,
                    format!("aud \"signedshot\", {layout}, attestation {}", c.attestation.method.as_str()),
                );
                Some(c)
            }
            Err(e) => {
                b.fail(CheckCode::JwtClaims, e.code(), e.to_string());
                None
            }
        };
        if !alg_ok {
            b.na(CheckCode::JwtKey, "not run: the algorithm was refused");
            b.na(CheckCode::JwtSignature, "not run: the algorithm was refused");
            return (claims, None);
        }
        let iss = jwt.payload.get("iss").and_then(Value::as_str);
        let Some(kid) = jwt.header.kid.as_deref() else {
            b.fail(CheckCode::JwtKey, Reason::JwtKidMissing, "the token header has no kid, so no key can be chosen");
            b.na(CheckCode::JwtSignature, "not run: no key");
            return (claims, None);
        };
        let not_fetched = self.issuer_keys == IssuerKeys::Trusted && iss.is_some_and(|i| !self.policy.trusts_issuer(i));
        let same_kid: Vec<&(Jwk, KeySource)> = self.keys.entries().iter().filter(|(k, _)| k.kid == kid).collect();
        // Keys that belong to the token's issuer first, then keys bound to no issuer.
        let mut usable: Vec<&(Jwk, KeySource)> = same_kid.iter().copied().filter(|(_, s)| s.applies_to(iss)).collect();
        usable.sort_by_key(|(_, s)| matches!(s, KeySource::Unbound { .. }));
        if usable.is_empty() {
            if let Supply::Unavailable(why) = &self.published {
                b.unavailable(CheckCode::JwtKey, Reason::IssuerKeysUnavailable, why.clone());
            } else if self.keys.is_empty() {
                b.fail(CheckCode::JwtKey, Reason::JwtNoKeys, "no key set was available to check the token against");
            } else if let Some(owner) = same_kid.first().and_then(|(_, s)| s.issuer()) {
                b.fail(
                    CheckCode::JwtKey,
                    Reason::JwtKeyWrongIssuer,
                    format!("key {kid} belongs to issuer {owner}, but the token names issuer {:?}", iss.unwrap_or("")),
                );
            } else {
                b.fail(CheckCode::JwtKey, Reason::JwtUnknownKid, format!("no key with kid {kid} in the key set"));
            }
            if not_fetched {
                b.finding(
                    FindingCode::IssuerKeysNotFetched,
                    format!(
                        "the keys of issuer {:?} were not fetched: it is not among the issuers you trust",
                        iss.unwrap_or("")
                    ),
                );
            }
            b.na(CheckCode::JwtSignature, "not run: no key");
            return (claims, None);
        }
        b.pass(CheckCode::JwtKey, format!("key {kid} found ({})", usable[0].1.describe()));
        let mut first_error = None;
        for (key, source) in &usable {
            match jwt::verify_es256(&jwt.signing_input, &jwt.signature, &key.key) {
                Ok(()) => {
                    let how =
                        if first_error.is_some() { format!(" with {}", source.describe()) } else { String::new() };
                    b.pass(CheckCode::JwtSignature, format!("ES256 signature verifies{how}"));
                    return (claims, Some(source.clone()));
                }
                Err(e) => {
                    first_error.get_or_insert(e);
                }
            }
        }
        let e = first_error.unwrap_or(jwt::SignatureError::Mismatch);
        let reason = match e {
            jwt::SignatureError::Length(_) => Reason::JwtSignatureLength,
            jwt::SignatureError::Scalar => Reason::JwtSignatureScalar,
            _ => Reason::JwtSignatureInvalid,
        };
        b.fail(CheckCode::JwtSignature, reason, e.to_string());
        (claims, None)
    }
}

struct Builder {
    checks: Vec<Check>,
    findings: Vec<Finding>,
}

impl Builder {
    fn push(&mut self, code: CheckCode, status: Status, reason: Option<Reason>, message: impl Into<String>) {
        self.checks.push(Check { code, status, reason, message: message.into() });
    }
    fn pass(&mut self, code: CheckCode, message: impl Into<String>) {
        self.push(code, Status::Pass, None, message);
    }
    fn fail(&mut self, code: CheckCode, reason: Reason, message: impl Into<String>) {
        self.push(code, Status::Fail, Some(reason), message);
    }
    fn unavailable(&mut self, code: CheckCode, reason: Reason, message: impl Into<String>) {
        self.push(code, Status::Unavailable, Some(reason), message);
    }
    fn na(&mut self, code: CheckCode, message: impl Into<String>) {
        self.push(code, Status::NotApplicable, None, message);
    }
    fn finding(&mut self, code: FindingCode, message: impl Into<String>) {
        self.findings.push(Finding { code, message: message.into() });
    }
}

fn attestation_policy(b: &mut Builder, claims: Option<&CaptureClaims>, policy: &Policy) {
    let Some(c) = claims else {
        b.na(CheckCode::AttestationPolicy, "not run: the token's claims could not be read");
        return;
    };
    if c.device_public_key_fingerprint.is_none() && !policy.allow_legacy_layout {
        let (reason, what) = match c.layout {
            ClaimLayout::Legacy => (Reason::LegacyLayoutRejected, "the legacy claim layout"),
            ClaimLayout::Current => (Reason::DeviceKeyUnboundRejected, "a token without a device key fingerprint"),
        };
        b.fail(
            CheckCode::AttestationPolicy,
            reason,
            format!("the policy refuses {what}: nothing binds the device key to the token"),
        );
        return;
    }
    match c.attestation.method {
        AttestationMethod::Sandbox if !policy.allow_sandbox => {
            b.fail(
                CheckCode::AttestationPolicy,
                Reason::AttestationSandboxRejected,
                "the device was not attested (sandbox) and the policy refuses sandbox captures",
            );
        }
        AttestationMethod::Sandbox => {
            b.finding(
                FindingCode::SandboxAttestation,
                "the device was registered without attestation (sandbox): nothing proves the capture came from a genuine app",
            );
            b.pass(CheckCode::AttestationPolicy, "sandbox (accepted by the policy)");
        }
        m => {
            let app = c.attestation.app_id.as_deref().map(|a| format!(", app {a}")).unwrap_or_default();
            b.pass(CheckCode::AttestationPolicy, format!("{}{app}", m.as_str()));
        }
    }
}

fn truncate(s: &str) -> String {
    if s.chars().count() <= 80 {
        s.to_owned()
    } else {
        format!("{}…", s.chars().take(80).collect::<String>())
    }
}

/// Issuers compared as [`same_issuer`] does.
impl Policy {
    /// Whether the policy names `issuer` among those it trusts.
    pub fn trusts_issuer(&self, issuer: &str) -> bool {
        self.trusted_issuers.iter().any(|t| same_issuer(t, issuer))
    }
}
