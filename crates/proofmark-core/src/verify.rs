//! The report (SPEC §1.5), the key ring and the policy; [`verify()`]: sidecar + media hash + keys + policy →
//! [`Report`] in one call (the [`crate::pipeline`] with everything supplied).
//!
//! Failure is data: every check is listed with a stable code and a status, failed checks carry a
//! specific reason code, and non-fatal observations are [`Finding`]s. Nothing here returns `Err`; "could not
//! run" (an unreadable file, a network error) belongs to the caller. Mechanism ([`KeyRing`]: which keys are
//! known and where they came from) is kept apart from policy ([`Policy`]: which of them are trusted, what
//! attestation is acceptable).
use core::fmt;

use serde::Serialize;

use crate::codes::{FindingCode, Reason};
use crate::hash::ContentHash;
use crate::jwks::{Jwk, Jwks};
use crate::jwt::{AttestationMethod, ClaimLayout};
use crate::pipeline::Verification;

/// Where a key came from; decides which tokens it may verify and whether a signature by it can be trusted.
///
/// The rule (docs/verification.md, "Keys and issuers"): a key belongs to an issuer, and verifies only tokens
/// that name that issuer. A key that belongs to no issuer may still check a signature, but then nothing
/// proves who issued the token, so the verdict is never `trusted`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum KeySource {
    /// Published by an issuer at `{url}/.well-known/jwks.json` and fetched from there: applies only to tokens
    /// whose `iss` is `url`; trusted when the policy lists the issuer.
    Issuer { url: String },
    /// Handed over by the user and bound by them to `issuer` (`--jwks ISSUER=FILE`, a server's own keys):
    /// applies only to tokens whose `iss` is `issuer`; trusted unless the policy says otherwise.
    Bound { issuer: String, label: String },
    /// Handed over without an issuer (`--jwks FILE`): may verify a token of any issuer, but the token's claim
    /// to come from that issuer stays unverified; never trusted.
    Unbound { label: String },
}

impl KeySource {
    /// Whether a key from this source may verify a token naming `iss`.
    pub fn applies_to(&self, iss: Option<&str>) -> bool {
        match self {
            Self::Issuer { url: owner } | Self::Bound { issuer: owner, .. } => {
                iss.is_some_and(|i| same_issuer(owner, i))
            }
            Self::Unbound { .. } => true,
        }
    }

    /// The issuer this key belongs to, if any.
    pub fn issuer(&self) -> Option<&str> {
        match self {
            Self::Issuer { url } => Some(url),
            Self::Bound { issuer, .. } => Some(issuer),
            Self::Unbound { .. } => None,
        }
    }

    /// A short description for reports: "keys published by X", "keys from FILE (bound to X)".
    pub fn describe(&self) -> String {
        match self {
            Self::Issuer { url } => format!("keys published by {url}"),
            Self::Bound { issuer, label } => format!("keys from {label} (bound to {issuer})"),
            Self::Unbound { label } => format!("keys from {label} (bound to no issuer)"),
        }
    }
}

/// The keys a verification may use.
#[derive(Debug, Clone, Default)]
pub struct KeyRing {
    entries: Vec<(Jwk, KeySource)>,
}

impl KeyRing {
    pub fn new() -> Self {
        Self::default()
    }

    /// Add every usable key of a set.
    pub fn add_jwks(&mut self, jwks: &Jwks, source: KeySource) {
        for key in &jwks.keys {
            self.entries.push((key.clone(), source.clone()));
        }
    }

    pub fn add_key(&mut self, key: Jwk, source: KeySource) {
        self.entries.push((key, source));
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Every key with where it came from, in the order added.
    pub fn entries(&self) -> &[(Jwk, KeySource)] {
        &self.entries
    }
}

/// What the verifier's user accepts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Policy {
    /// Issuers whose published keys are trusted (compared without a trailing `/`).
    pub trusted_issuers: Vec<String>,
    /// Keys of [`KeySource::Bound`] count as trusted (true in both named policies: the user bound them to
    /// their issuer).
    /// Keys of [`KeySource::Unbound`] never do.
    pub trust_bound_keys: bool,
    /// Accept devices registered without attestation (`sandbox`). True in [`Policy::permissive`].
    pub allow_sandbox: bool,
    /// Accept tokens that do not bind the device key (the legacy claim layout, or a current-layout token
    /// without `device_public_key_fingerprint`). True in [`Policy::permissive`], so real pre-2026 sidecars verify.
    pub allow_legacy_layout: bool,
}

/// No `Default`: a caller names the policy it means ([`Policy::permissive`] or [`Policy::strict`]), then
/// names the issuers it trusts ([`Policy::trusting`]).
impl Policy {
    /// What the SignedShot validator accepts, and the CLI's default: sandbox devices and the legacy claim
    /// layout verify (the report says so in findings, and they never make a verdict `trusted` alone); keys the
    /// user bound to an issuer count as that issuer's; no issuer is trusted until named.
    pub fn permissive() -> Self {
        Self { trusted_issuers: Vec::new(), trust_bound_keys: true, allow_sandbox: true, allow_legacy_layout: true }
    }

    /// Only attested devices, and only tokens that bind the device key: a sandbox device fails
    /// `attestation_policy` (`attestation_sandbox_rejected`), so do a legacy-layout token
    /// (`legacy_layout_rejected`) and a current-layout token without the key's fingerprint
    /// (`device_key_unbound_rejected`). Keys the user bound to an issuer still count as that issuer's.
    pub fn strict() -> Self {
        Self { allow_sandbox: false, allow_legacy_layout: false, ..Self::permissive() }
    }

    /// The same policy, also trusting the keys `issuer` publishes.
    #[must_use]
    pub fn trusting(mut self, issuer: impl Into<String>) -> Self {
        self.trusted_issuers.push(issuer.into());
        self
    }

    pub(crate) fn trusts(&self, source: &KeySource) -> bool {
        match source {
            KeySource::Bound { issuer, .. } => {
                self.trust_bound_keys || self.trusted_issuers.iter().any(|t| same_issuer(t, issuer))
            }
            KeySource::Issuer { url } => self.trusted_issuers.iter().any(|t| same_issuer(t, url)),
            KeySource::Unbound { .. } => false,
        }
    }
}

/// Issuer URLs are compared exactly, ignoring one trailing `/`.
pub fn same_issuer(a: &str, b: &str) -> bool {
    a.strip_suffix('/').unwrap_or(a) == b.strip_suffix('/').unwrap_or(b)
}

/// The overall outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// Every check passed and the signing key is trusted by the policy.
    Trusted,
    /// Every check passed, against keys the policy does not trust (e.g. the issuer's own published keys).
    Valid,
    /// At least one check failed.
    Invalid,
    /// No check failed, but one could not run: something it needed from outside was unavailable (the
    /// issuer's keys could not be fetched, the media could not be read). Nothing is proven either way.
    Unverified,
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Trusted => "trusted",
            Self::Valid => "valid",
            Self::Invalid => "invalid",
            Self::Unverified => "unverified",
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Pass,
    Fail,
    NotApplicable,
    /// Could not run: what it needs from outside was unavailable (the `reason` says what).
    Unavailable,
}

/// The checks, in report order. Codes are stable (docs/verification.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CheckCode {
    SidecarFormat,
    JwtFormat,
    JwtAlgorithm,
    JwtClaims,
    JwtKey,
    JwtSignature,
    ContentHash,
    DevicePublicKey,
    DeviceSignature,
    CaptureIdMatch,
    DeviceKeyFingerprint,
    AttestationPolicy,
    RecordSha256,
    RecordWatermark,
    RecordPhash,
    RecordSignature,
    LogInclusion,
    LogAnchor,
}

impl CheckCode {
    /// Every check: the capture checks, then the content checks.
    pub const ALL: [CheckCode; 18] = {
        let mut all = [Self::SidecarFormat; 18];
        let mut i = 0;
        while i < all.len() {
            all[i] = if i < Self::CAPTURE.len() { Self::CAPTURE[i] } else { Self::CONTENT[i - Self::CAPTURE.len()] };
            i += 1;
        }
        all
    };

    /// The checks of a capture sidecar, in report order.
    pub const CAPTURE: [CheckCode; 12] = [
        Self::SidecarFormat,
        Self::JwtFormat,
        Self::JwtAlgorithm,
        Self::JwtClaims,
        Self::JwtKey,
        Self::JwtSignature,
        Self::ContentHash,
        Self::DevicePublicKey,
        Self::DeviceSignature,
        Self::CaptureIdMatch,
        Self::DeviceKeyFingerprint,
        Self::AttestationPolicy,
    ];

    /// The checks of the publisher-plane evidence (a signed record found for the file), in report order.
    pub const CONTENT: [CheckCode; 6] = [
        Self::RecordSha256,
        Self::RecordWatermark,
        Self::RecordPhash,
        Self::RecordSignature,
        Self::LogInclusion,
        Self::LogAnchor,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::SidecarFormat => "sidecar_format",
            Self::JwtFormat => "jwt_format",
            Self::JwtAlgorithm => "jwt_algorithm",
            Self::JwtClaims => "jwt_claims",
            Self::JwtKey => "jwt_key",
            Self::JwtSignature => "jwt_signature",
            Self::ContentHash => "content_hash",
            Self::DevicePublicKey => "device_public_key",
            Self::DeviceSignature => "device_signature",
            Self::CaptureIdMatch => "capture_id_match",
            Self::DeviceKeyFingerprint => "device_key_fingerprint",
            Self::AttestationPolicy => "attestation_policy",
            Self::RecordSha256 => "record_sha256",
            Self::RecordWatermark => "record_watermark",
            Self::RecordPhash => "record_phash",
            Self::RecordSignature => "record_signature",
            Self::LogInclusion => "log_inclusion",
            Self::LogAnchor => "log_anchor",
        }
    }
}

impl fmt::Display for CheckCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One check's outcome. A failed or unavailable check names a specific `reason` code.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Check {
    pub code: CheckCode,
    pub status: Status,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<Reason>,
    pub message: String,
}

/// A non-fatal observation (a warning) with a stable code.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    pub code: FindingCode,
    pub message: String,
}

/// What the sidecar claims, for display (present once the sidecar parsed).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct CaptureSummary {
    pub issuer: Option<String>,
    pub publisher_id: Option<String>,
    pub device_id: Option<String>,
    pub capture_id: String,
    pub captured_at: String,
    pub content_hash: String,
    pub method: Option<AttestationMethod>,
    pub app_id: Option<String>,
    pub issued_at: Option<i64>,
    pub key_id: Option<String>,
    pub claim_layout: Option<ClaimLayout>,
    pub device_public_key_fingerprint: Option<String>,
}

/// The verification report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Report {
    pub verdict: Verdict,
    pub checks: Vec<Check>,
    pub findings: Vec<Finding>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub capture: Option<CaptureSummary>,
    /// Where the key that verified the token came from.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key_source: Option<KeySource>,
    /// Why a verdict is `valid` rather than `trusted`: the codes of the findings that held it back, in report
    /// order (`issuer_not_trusted`, `issuer_unverified`, `legacy_claim_layout`, `device_key_unbound`). Empty
    /// for `trusted` and `invalid`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub verdict_limits: Vec<FindingCode>,
}

impl Report {
    pub fn check(&self, code: CheckCode) -> Option<&Check> {
        self.checks.iter().find(|c| c.code == code)
    }

    /// The first failed check, in report order.
    pub fn first_failure(&self) -> Option<&Check> {
        self.checks.iter().find(|c| c.status == Status::Fail)
    }

    pub fn has_finding(&self, code: &str) -> bool {
        self.findings.iter().any(|f| f.code.as_str() == code)
    }

    /// The verdict with what held it back, for a verdict line: "trusted", "invalid", or e.g.
    /// "valid (token does not bind the device key; issuer not trusted)".
    pub fn verdict_text(&self) -> String {
        if self.verdict == Verdict::Unverified {
            let why = self.checks.iter().find(|c| c.status == Status::Unavailable).map(|c| c.message.as_str());
            return format!("could not verify: {}", why.unwrap_or("evidence was unavailable"));
        }
        let mut why: Vec<&str> = Vec::new();
        for code in &self.verdict_limits {
            let text = match *code {
                FindingCode::IssuerNotTrusted => "issuer not trusted",
                FindingCode::IssuerUnverified => "issuer not verified: the key is bound to no issuer",
                FindingCode::LegacyClaimLayout | FindingCode::DeviceKeyUnbound => "token does not bind the device key",
                other => other.as_str(),
            };
            if !why.contains(&text) {
                why.push(text);
            }
        }
        if why.is_empty() {
            self.verdict.to_string()
        } else {
            format!("{} ({})", self.verdict, why.join("; "))
        }
    }
}

/// Everything a one-shot verification needs; the caller reads the files and fetches the keys.
#[derive(Debug, Clone, Copy)]
pub struct VerifyInput<'a> {
    pub sidecar: &'a [u8],
    /// SHA-256 of the media bytes ([`crate::ContentHasher`]).
    pub media_hash: &'a ContentHash,
    pub keys: &'a KeyRing,
    pub policy: &'a Policy,
    /// The verifier's time (seconds since the Unix epoch), for `iat_in_future`; `None` skips that check.
    pub now: Option<i64>,
}

pub use crate::pipeline::IAT_SKEW_SECS;

/// Run every applicable check and decide the verdict, with the keys at hand and no fetching: the
/// [`Verification`] pipeline with everything supplied up front.
pub fn verify(input: VerifyInput<'_>) -> Report {
    let mut v = Verification::new(input.policy.clone(), input.now).with_keys(input.keys.clone());
    v.add_sidecar(input.sidecar);
    v.supply_media_digest(*input.media_hash);
    v.finish()
}

/// `YYYY-MM-DDTHH:MM:SSZ` with plausible field ranges.
pub fn is_canonical_timestamp(s: &str) -> bool {
    let b = s.as_bytes();
    if b.len() != 20 || b[4] != b'-' || b[7] != b'-' || b[10] != b'T' || b[13] != b':' || b[16] != b':' || b[19] != b'Z'
    {
        return false;
    }
    let num = |r: core::ops::Range<usize>| -> Option<u32> {
        b[r].iter().try_fold(0u32, |acc, c| c.is_ascii_digit().then(|| acc * 10 + u32::from(c - b'0')))
    };
    matches!(
        (num(5..7), num(8..10), num(11..13), num(14..16), num(17..19), num(0..4)),
        (Some(1..=12), Some(1..=31), Some(0..=23), Some(0..=59), Some(0..=60), Some(_))
    )
}

#[cfg(test)]
mod tests;
