//! `verify()`: sidecar + media hash + keys + policy → [`Report`] (SPEC §1.5).
//!
//! Failure is data: every check is listed with a stable code and a status, failed checks carry a
//! specific reason code, and non-fatal observations are [`Finding`]s. Nothing here returns `Err`; "could not
//! run" (an unreadable file, a network error) belongs to the caller. Mechanism ([`KeyRing`]: which keys are
//! known and where they came from) is kept apart from policy ([`Policy`]: which of them are trusted, what
//! attestation is acceptable).
use core::fmt;

use serde::Serialize;
use serde_json::Value;

use crate::device::{device_message, DevicePublicKey, DeviceSignature};
use crate::hash::ContentHash;
use crate::jwks::{Jwk, Jwks};
use crate::jwt::{self, AttestationMethod, CaptureClaims, ClaimLayout, DecodedJwt};
use crate::sidecar::Sidecar;

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

    fn trusts(&self, source: &KeySource) -> bool {
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
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Trusted => "trusted",
            Self::Valid => "valid",
            Self::Invalid => "invalid",
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Pass,
    Fail,
    NotApplicable,
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
}

impl CheckCode {
    pub const ALL: [CheckCode; 12] = [
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
        }
    }
}

impl fmt::Display for CheckCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One check's outcome. A failed check names a specific `reason` code.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Check {
    pub code: CheckCode,
    pub status: Status,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<&'static str>,
    pub message: String,
}

/// A non-fatal observation (a warning) with a stable code.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    pub code: &'static str,
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
    pub verdict_limits: Vec<&'static str>,
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
        self.findings.iter().any(|f| f.code == code)
    }

    /// The verdict with what held it back, for a verdict line: "trusted", "invalid", or e.g.
    /// "valid (token does not bind the device key; issuer not trusted)".
    pub fn verdict_text(&self) -> String {
        let mut why: Vec<&str> = Vec::new();
        for code in &self.verdict_limits {
            let text = match *code {
                "issuer_not_trusted" => "issuer not trusted",
                "issuer_unverified" => "issuer not verified: the key is bound to no issuer",
                "legacy_claim_layout" | "device_key_unbound" => "token does not bind the device key",
                other => other,
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

/// Everything a verification needs; the caller reads the files and fetches the keys.
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

/// How far in the future a token's `iat` may lie (clock skew between issuer and verifier) before
/// `iat_in_future` is reported.
pub const IAT_SKEW_SECS: i64 = 300;

struct Builder {
    checks: Vec<Check>,
    findings: Vec<Finding>,
}

impl Builder {
    fn pass(&mut self, code: CheckCode, message: impl Into<String>) {
        self.checks.push(Check { code, status: Status::Pass, reason: None, message: message.into() });
    }
    fn fail(&mut self, code: CheckCode, reason: &'static str, message: impl Into<String>) {
        self.checks.push(Check { code, status: Status::Fail, reason: Some(reason), message: message.into() });
    }
    fn na(&mut self, code: CheckCode, message: impl Into<String>) {
        self.checks.push(Check { code, status: Status::NotApplicable, reason: None, message: message.into() });
    }
    fn finding(&mut self, code: &'static str, message: impl Into<String>) {
        self.findings.push(Finding { code, message: message.into() });
    }
}

/// Run every applicable check and decide the verdict.
pub fn verify(input: VerifyInput<'_>) -> Report {
    let mut b = Builder { checks: Vec::new(), findings: Vec::new() };
    let sidecar = match Sidecar::parse(input.sidecar) {
        Ok(s) => s,
        Err(e) => {
            b.fail(CheckCode::SidecarFormat, e.code(), e.to_string());
            for code in &CheckCode::ALL[1..] {
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
    let (jwt, claims, key_source) = trust_layer(&mut b, &sidecar.capture_trust.jwt, input.keys);
    if let Some(jwt) = &jwt {
        summary.key_id = jwt.header.kid.clone();
        let text = |k: &str| jwt.payload.get(k).and_then(Value::as_str).map(str::to_owned);
        summary.issuer = text("iss");
        summary.publisher_id = text("publisher_id");
        summary.device_id = text("device_id");
        summary.issued_at = jwt.payload.get("iat").and_then(Value::as_i64);
        if let (Some(iat), Some(now)) = (summary.issued_at, input.now) {
            if iat > now.saturating_add(IAT_SKEW_SECS) {
                b.finding(
                    "iat_in_future",
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
    match mi.content_hash.parse::<ContentHash>() {
        Err(_) => b.fail(
            CheckCode::ContentHash,
            "content_hash_malformed",
            format!("content_hash {:?} is not 64 lower-case hex characters", truncate(&mi.content_hash)),
        ),
        Ok(claimed) if claimed == *input.media_hash => {
            b.pass(CheckCode::ContentHash, "SHA-256 of the media matches content_hash")
        }
        Ok(_) => b.fail(
            CheckCode::ContentHash,
            "content_hash_mismatch",
            format!(
                "the media's SHA-256 is {}, the sidecar says {}: the file was changed after capture",
                input.media_hash, mi.content_hash
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
                    "device_signature_invalid",
                    "the device signature does not verify over content_hash:capture_id:captured_at with public_key",
                );
            }
        }
    }

    // Cross-checks between the layers.
    match jwt.as_ref().and_then(|j| j.payload.get("capture_id")) {
        Some(Value::String(id)) if *id == mi.capture_id => {
            b.pass(CheckCode::CaptureIdMatch, "capture_id is the same in the token and the sidecar")
        }
        Some(Value::String(id)) => b.fail(
            CheckCode::CaptureIdMatch,
            "capture_id_mismatch",
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
                    "device_key_unbound",
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
                    "device_key_fingerprint_mismatch",
                    format!(
                        "the token binds device key {}, but the sidecar's public_key has fingerprint {fp}",
                        c.device_public_key_fingerprint.as_deref().unwrap_or("")
                    ),
                );
            }
        }
    }
    attestation_policy(&mut b, claims.as_ref(), input.policy);
    if !is_canonical_timestamp(&mi.captured_at) {
        b.finding(
            "captured_at_format",
            format!("captured_at {:?} is not YYYY-MM-DDTHH:MM:SSZ", truncate(&mi.captured_at)),
        );
    }

    let failed = b.checks.iter().any(|c| c.status == Status::Fail);
    let mut verdict_limits = Vec::new();
    let verdict = match &key_source {
        Some(source) if !failed => {
            // A token that does not bind the device key can be lifted from any sidecar of the same issuer and
            // put next to other media signed by any key: it proves a capture session, not this capture.
            if let Some(c) = claims.as_ref().filter(|c| c.device_public_key_fingerprint.is_none()) {
                verdict_limits.push(match c.layout {
                    ClaimLayout::Legacy => "legacy_claim_layout",
                    ClaimLayout::Current => "device_key_unbound",
                });
            }
            match source {
                KeySource::Unbound { label } => {
                    b.finding(
                        "issuer_unverified",
                        format!(
                            "the token verifies against keys from {label}, which are bound to no issuer: its claim to come from {:?} is not verified",
                            summary.issuer.as_deref().unwrap_or("")
                        ),
                    );
                    verdict_limits.push("issuer_unverified");
                }
                _ if input.policy.trusts(source) => {}
                _ => {
                    b.finding(
                        "issuer_not_trusted",
                        format!("the token verifies against {}, which you have not said to trust", source.describe()),
                    );
                    verdict_limits.push("issuer_not_trusted");
                }
            }
            if verdict_limits.is_empty() {
                Verdict::Trusted
            } else {
                Verdict::Valid
            }
        }
        _ => Verdict::Invalid,
    };
    Report { verdict, checks: b.checks, findings: b.findings, capture: Some(summary), key_source, verdict_limits }
}

fn trust_layer(
    b: &mut Builder,
    token: &str,
    keys: &KeyRing,
) -> (Option<DecodedJwt>, Option<CaptureClaims>, Option<KeySource>) {
    let jwt = match DecodedJwt::decode(token) {
        Ok(j) => {
            b.pass(CheckCode::JwtFormat, "compact JWS with JSON header and payload");
            j
        }
        Err(e) => {
            b.fail(CheckCode::JwtFormat, e.code(), e.to_string());
            for code in [CheckCode::JwtAlgorithm, CheckCode::JwtClaims, CheckCode::JwtKey, CheckCode::JwtSignature] {
                b.na(code, "not run: the token could not be decoded");
            }
            return (None, None, None);
        }
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
                        "legacy_claim_layout",
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
        return (Some(jwt), claims, None);
    }
    let iss = jwt.payload.get("iss").and_then(Value::as_str);
    let Some(kid) = jwt.header.kid.as_deref() else {
        b.fail(CheckCode::JwtKey, "jwt_kid_missing", "the token header has no kid, so no key can be chosen");
        b.na(CheckCode::JwtSignature, "not run: no key");
        return (Some(jwt), claims, None);
    };
    let same_kid: Vec<&(Jwk, KeySource)> = keys.entries.iter().filter(|(k, _)| k.kid == kid).collect();
    // Keys that belong to the token's issuer first, then keys bound to no issuer.
    let mut usable: Vec<&(Jwk, KeySource)> = same_kid.iter().copied().filter(|(_, s)| s.applies_to(iss)).collect();
    usable.sort_by_key(|(_, s)| matches!(s, KeySource::Unbound { .. }));
    if usable.is_empty() {
        if keys.is_empty() {
            b.fail(CheckCode::JwtKey, "jwt_no_keys", "no key set was available to check the token against");
        } else if let Some(owner) = same_kid.first().and_then(|(_, s)| s.issuer()) {
            b.fail(
                CheckCode::JwtKey,
                "jwt_key_wrong_issuer",
                format!("key {kid} belongs to issuer {owner}, but the token names issuer {:?}", iss.unwrap_or("")),
            );
        } else {
            b.fail(CheckCode::JwtKey, "jwt_unknown_kid", format!("no key with kid {kid} in the key set"));
        }
        b.na(CheckCode::JwtSignature, "not run: no key");
        return (Some(jwt), claims, None);
    }
    b.pass(CheckCode::JwtKey, format!("key {kid} found ({})", usable[0].1.describe()));
    let mut first_error = None;
    for (key, source) in &usable {
        match jwt::verify_es256(&jwt.signing_input, &jwt.signature, &key.key) {
            Ok(()) => {
                let how = if first_error.is_some() { format!(" with {}", source.describe()) } else { String::new() };
                b.pass(CheckCode::JwtSignature, format!("ES256 signature verifies{how}"));
                return (Some(jwt), claims, Some(source.clone()));
            }
            Err(e) => {
                first_error.get_or_insert(e);
            }
        }
    }
    let e = first_error.unwrap_or(jwt::SignatureError::Mismatch);
    let reason = match e {
        jwt::SignatureError::Length(_) => "jwt_signature_length",
        jwt::SignatureError::Scalar => "jwt_signature_scalar",
        _ => "jwt_signature_invalid",
    };
    b.fail(CheckCode::JwtSignature, reason, e.to_string());
    (Some(jwt), claims, None)
}

fn attestation_policy(b: &mut Builder, claims: Option<&CaptureClaims>, policy: &Policy) {
    let Some(c) = claims else {
        b.na(CheckCode::AttestationPolicy, "not run: the token's claims could not be read");
        return;
    };
    if c.device_public_key_fingerprint.is_none() && !policy.allow_legacy_layout {
        let (reason, what) = match c.layout {
            ClaimLayout::Legacy => ("legacy_layout_rejected", "the legacy claim layout"),
            ClaimLayout::Current => ("device_key_unbound_rejected", "a token without a device key fingerprint"),
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
                "attestation_sandbox_rejected",
                "the device was not attested (sandbox) and the policy refuses sandbox captures",
            );
        }
        AttestationMethod::Sandbox => {
            b.finding("sandbox_attestation", "the device was registered without attestation (sandbox): nothing proves the capture came from a genuine app");
            b.pass(CheckCode::AttestationPolicy, "sandbox (accepted by the policy)");
        }
        m => {
            let app = c.attestation.app_id.as_deref().map(|a| format!(", app {a}")).unwrap_or_default();
            b.pass(CheckCode::AttestationPolicy, format!("{}{app}", m.as_str()));
        }
    }
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

fn truncate(s: &str) -> String {
    if s.chars().count() <= 80 {
        s.to_owned()
    } else {
        format!("{}…", s.chars().take(80).collect::<String>())
    }
}

#[cfg(test)]
mod tests;
