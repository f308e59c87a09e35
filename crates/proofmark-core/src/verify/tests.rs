use base64::Engine;

use super::*;
use crate::device::DeviceKey;
use crate::jwks::IssuerKey;
use crate::jwt::{mint, Attestation, CaptureClaims, AUDIENCE, SUBJECT};
use crate::Sidecar;

const ISS: &str = "https://capture.example";

fn claims(method: AttestationMethod, layout: ClaimLayout, fingerprint: Option<String>) -> CaptureClaims {
    CaptureClaims {
        iss: ISS.into(),
        aud: AUDIENCE.into(),
        sub: SUBJECT.into(),
        iat: 1_800_000_000,
        capture_id: "0b0c1f3e-8a51-4b4e-9a53-6a1f6f0c2d11".into(),
        publisher_id: "5d0e8f5b-0e0a-4a57-8d7e-2f3c0c9b1a22".into(),
        device_id: "7f1d2c3b-4a59-4e6f-8a7b-9c0d1e2f3a44".into(),
        attestation: Attestation { method, app_id: None },
        device_public_key_fingerprint: fingerprint,
        layout,
    }
}

/// A sidecar over "media bytes" with the given claims; returns (sidecar, media hash, issuer key).
fn signed(claims: &CaptureClaims) -> (Vec<u8>, ContentHash, IssuerKey) {
    let issuer = IssuerKey::from_scalar_bytes(&[0x11; 32]).unwrap();
    let media = ContentHash::of(b"media bytes");
    let sidecar = Sidecar::build(&media, &device(), &claims.capture_id, "2027-01-15T08:00:00Z", mint(claims, &issuer));
    (sidecar.to_json_pretty().into_bytes(), media, issuer)
}

fn device() -> DeviceKey {
    DeviceKey::from_scalar_bytes(&[0x22; 32]).unwrap()
}

fn fixture(method: AttestationMethod) -> (Vec<u8>, ContentHash, IssuerKey) {
    signed(&claims(method, ClaimLayout::Current, Some(device().public_key().fingerprint())))
}

fn run(sidecar: &[u8], media: &ContentHash, keys: &KeyRing, policy: &Policy) -> Report {
    verify(VerifyInput { sidecar, media_hash: media, keys, policy, now: Some(1_800_000_000) })
}

fn bound(label: &str) -> KeySource {
    KeySource::Bound { issuer: ISS.into(), label: label.into() }
}

#[test]
fn bound_key_gives_trusted() {
    let (sidecar, media, issuer) = fixture(AttestationMethod::AppCheck);
    let mut keys = KeyRing::new();
    keys.add_key(issuer.public_jwk(), bound("jwks.json"));
    let report = run(&sidecar, &media, &keys, &Policy::permissive());
    assert_eq!(report.verdict, Verdict::Trusted, "{report:#?}");
    assert!(report.checks.iter().all(|c| c.status == Status::Pass), "{report:#?}");
    assert!(report.findings.is_empty());
    assert!(report.verdict_limits.is_empty());
    assert_eq!(report.verdict_text(), "trusted");
}

/// A key in a shared trust store must not let its holder pose as any issuer.
#[test]
fn a_key_bound_to_one_issuer_never_verifies_another_issuers_token() {
    let (sidecar, media, issuer) = fixture(AttestationMethod::AppCheck);
    let mut keys = KeyRing::new();
    keys.add_key(issuer.public_jwk(), KeySource::Bound { issuer: "https://other.example".into(), label: "x".into() });
    let report = run(&sidecar, &media, &keys, &Policy::permissive());
    assert_eq!(report.verdict, Verdict::Invalid);
    assert_eq!(report.check(CheckCode::JwtKey).unwrap().reason.map(Reason::as_str), Some("jwt_key_wrong_issuer"));
    // Trusting the claimed issuer does not change which issuer the key belongs to.
    let policy = Policy::permissive().trusting(ISS);
    assert_eq!(run(&sidecar, &media, &keys, &policy).verdict, Verdict::Invalid);
}

#[test]
fn an_unbound_key_verifies_but_never_vouches_for_the_issuer() {
    let (sidecar, media, issuer) = fixture(AttestationMethod::AppCheck);
    let mut keys = KeyRing::new();
    keys.add_key(issuer.public_jwk(), KeySource::Unbound { label: "shared.json".into() });
    for policy in [Policy::permissive(), Policy::permissive().trusting(ISS)] {
        let report = run(&sidecar, &media, &keys, &policy);
        assert_eq!(report.verdict, Verdict::Valid, "{report:#?}");
        assert_eq!(report.verdict_limits, ["issuer_unverified"]);
        let finding = report.findings.iter().find(|f| f.code == "issuer_unverified").unwrap();
        assert!(finding.message.contains("shared.json") && finding.message.contains(ISS), "{}", finding.message);
        assert_eq!(report.verdict_text(), "valid (issuer not verified: the key is bound to no issuer)");
    }
    // When the same kid is also bound to the token's issuer, the bound key is the one that counts.
    keys.add_key(issuer.public_jwk(), bound("mine.json"));
    let report = run(&sidecar, &media, &keys, &Policy::permissive());
    assert_eq!(report.verdict, Verdict::Trusted);
    assert_eq!(report.key_source, Some(bound("mine.json")));
}

#[test]
fn a_token_that_does_not_bind_the_device_key_is_at_most_valid() {
    for (layout, code) in [(ClaimLayout::Legacy, "legacy_claim_layout"), (ClaimLayout::Current, "device_key_unbound")] {
        let (sidecar, media, issuer) = signed(&claims(AttestationMethod::AppCheck, layout, None));
        let mut keys = KeyRing::new();
        keys.add_key(issuer.public_jwk(), bound("k"));
        let report = run(&sidecar, &media, &keys, &Policy::permissive());
        assert_eq!(report.verdict, Verdict::Valid, "{report:#?}");
        assert_eq!(report.verdict_limits, [code]);
        assert_eq!(report.verdict_text(), "valid (token does not bind the device key)");
        let strict = Policy { allow_legacy_layout: false, ..Policy::permissive() };
        assert_eq!(run(&sidecar, &media, &keys, &strict).verdict, Verdict::Invalid);
    }
}

#[test]
fn crit_header_and_future_iat() {
    let (sidecar, media, issuer) = fixture(AttestationMethod::AppCheck);
    let mut keys = KeyRing::new();
    keys.add_key(issuer.public_jwk(), bound("k"));
    // Issued at 1_800_000_000: a verifier clock more than five minutes behind flags it, without failing.
    let at = |now| {
        verify(VerifyInput { sidecar: &sidecar, media_hash: &media, keys: &keys, policy: &Policy::permissive(), now })
    };
    assert!(!at(Some(1_800_000_000 - IAT_SKEW_SECS)).has_finding("iat_in_future"));
    let early = at(Some(1_800_000_000 - IAT_SKEW_SECS - 1));
    assert!(early.has_finding("iat_in_future"));
    assert_eq!(early.verdict, Verdict::Trusted);
    assert!(!at(None).has_finding("iat_in_future"));

    let s = Sidecar::parse(&sidecar).unwrap();
    let payload = s.capture_trust.jwt.split('.').nth(1).unwrap().to_owned();
    for crit in [r#"["b64"]"#, "[]", r#""exp""#, r#"["x-unknown"]"#] {
        let header = format!(r#"{{"alg":"ES256","kid":"{}","crit":{crit},"x-unknown":1}}"#, issuer.kid());
        let token = crate::jwt::sign_compact(
            &header,
            &String::from_utf8(crate::b64::URL.decode(&payload).unwrap()).unwrap(),
            &issuer,
        );
        let mut v: serde_json::Value = serde_json::from_slice(&sidecar).unwrap();
        v["capture_trust"]["jwt"] = token.into();
        let report = run(v.to_string().as_bytes(), &media, &keys, &Policy::permissive());
        assert_eq!(report.verdict, Verdict::Invalid);
        assert_eq!(
            report.check(CheckCode::JwtFormat).unwrap().reason.map(Reason::as_str),
            Some("jwt_crit_unsupported"),
            "{crit}"
        );
    }
}

#[test]
fn issuer_published_key_is_valid_unless_trusted() {
    let (sidecar, media, issuer) = fixture(AttestationMethod::AppCheck);
    let mut keys = KeyRing::new();
    keys.add_key(issuer.public_jwk(), KeySource::Issuer { url: format!("{ISS}/") });
    let report = run(&sidecar, &media, &keys, &Policy::permissive());
    assert_eq!(report.verdict, Verdict::Valid);
    assert!(report.has_finding("issuer_not_trusted"));
    let policy = Policy::permissive().trusting(ISS);
    assert_eq!(run(&sidecar, &media, &keys, &policy).verdict, Verdict::Trusted);
}

#[test]
fn key_published_by_another_issuer_does_not_apply() {
    let (sidecar, media, issuer) = fixture(AttestationMethod::AppCheck);
    let mut keys = KeyRing::new();
    keys.add_key(issuer.public_jwk(), KeySource::Issuer { url: "https://elsewhere.example".into() });
    let report = run(&sidecar, &media, &keys, &Policy::permissive());
    assert_eq!(report.verdict, Verdict::Invalid);
    assert_eq!(report.check(CheckCode::JwtKey).unwrap().reason.map(Reason::as_str), Some("jwt_key_wrong_issuer"));
    let empty = run(&sidecar, &media, &KeyRing::new(), &Policy::permissive());
    assert_eq!(empty.check(CheckCode::JwtKey).unwrap().reason.map(Reason::as_str), Some("jwt_no_keys"));
}

#[test]
fn sandbox_policy() {
    let (sidecar, media, issuer) = fixture(AttestationMethod::Sandbox);
    let mut keys = KeyRing::new();
    keys.add_key(issuer.public_jwk(), bound("k"));
    let report = run(&sidecar, &media, &keys, &Policy::permissive());
    assert_eq!(report.verdict, Verdict::Trusted);
    assert!(report.has_finding("sandbox_attestation"));
    let strict = Policy { allow_sandbox: false, ..Policy::permissive() };
    let report = run(&sidecar, &media, &keys, &strict);
    assert_eq!(report.verdict, Verdict::Invalid);
    assert_eq!(report.first_failure().unwrap().reason.map(Reason::as_str), Some("attestation_sandbox_rejected"));
}

#[test]
fn tampered_media_fails_only_the_hash() {
    let (sidecar, _, issuer) = fixture(AttestationMethod::AppCheck);
    let mut keys = KeyRing::new();
    keys.add_key(issuer.public_jwk(), bound("k"));
    let report = run(&sidecar, &ContentHash::of(b"other bytes"), &keys, &Policy::permissive());
    let failed: Vec<_> = report.checks.iter().filter(|c| c.status == Status::Fail).map(|c| c.reason).collect();
    assert_eq!(failed, [Some(Reason::ContentHashMismatch)]);
}

#[test]
fn timestamps() {
    assert!(is_canonical_timestamp("2026-01-27T10:31:24Z"));
    assert!(!is_canonical_timestamp("2026-01-27T10:31:24.5Z"));
    assert!(!is_canonical_timestamp("2026-13-27T10:31:24Z"));
    assert!(!is_canonical_timestamp("2026-01-27 10:31:24Z"));
}
