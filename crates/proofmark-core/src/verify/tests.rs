use super::*;
use crate::device::DeviceKey;
use crate::jwks::IssuerKey;
use crate::jwt::{mint, Attestation, AUDIENCE, SUBJECT};

const ISS: &str = "https://capture.example";

fn fixture(method: AttestationMethod) -> (Vec<u8>, ContentHash, IssuerKey) {
    let issuer = IssuerKey::from_scalar_bytes(&[0x11; 32]).unwrap();
    let device = DeviceKey::from_scalar_bytes(&[0x22; 32]).unwrap();
    let media = ContentHash::of(b"media bytes");
    let claims = CaptureClaims {
        iss: ISS.into(),
        aud: AUDIENCE.into(),
        sub: SUBJECT.into(),
        iat: 1_800_000_000,
        capture_id: "0b0c1f3e-8a51-4b4e-9a53-6a1f6f0c2d11".into(),
        publisher_id: "5d0e8f5b-0e0a-4a57-8d7e-2f3c0c9b1a22".into(),
        device_id: "7f1d2c3b-4a59-4e6f-8a7b-9c0d1e2f3a44".into(),
        attestation: Attestation { method, app_id: None },
        device_public_key_fingerprint: Some(device.public_key().fingerprint()),
        layout: ClaimLayout::Current,
    };
    let sidecar = Sidecar::build(&media, &device, &claims.capture_id, "2027-01-15T08:00:00Z", mint(&claims, &issuer));
    (sidecar.to_json_pretty().into_bytes(), media, issuer)
}

fn run(sidecar: &[u8], media: &ContentHash, keys: &KeyRing, policy: &Policy) -> Report {
    verify(VerifyInput { sidecar, media_hash: media, keys, policy })
}

#[test]
fn provided_key_gives_trusted() {
    let (sidecar, media, issuer) = fixture(AttestationMethod::AppCheck);
    let mut keys = KeyRing::new();
    keys.add_key(issuer.public_jwk(), KeySource::Provided { label: "jwks.json".into() });
    let report = run(&sidecar, &media, &keys, &Policy::default());
    assert_eq!(report.verdict, Verdict::Trusted, "{report:#?}");
    assert!(report.checks.iter().all(|c| c.status == Status::Pass), "{report:#?}");
    assert!(report.findings.is_empty());
}

#[test]
fn issuer_published_key_is_valid_unless_trusted() {
    let (sidecar, media, issuer) = fixture(AttestationMethod::AppCheck);
    let mut keys = KeyRing::new();
    keys.add_key(issuer.public_jwk(), KeySource::Issuer { url: format!("{ISS}/") });
    let report = run(&sidecar, &media, &keys, &Policy::default());
    assert_eq!(report.verdict, Verdict::Valid);
    assert!(report.has_finding("issuer_not_trusted"));
    let policy = Policy { trusted_issuers: vec![ISS.into()], ..Policy::default() };
    assert_eq!(run(&sidecar, &media, &keys, &policy).verdict, Verdict::Trusted);
}

#[test]
fn key_published_by_another_issuer_does_not_apply() {
    let (sidecar, media, issuer) = fixture(AttestationMethod::AppCheck);
    let mut keys = KeyRing::new();
    keys.add_key(issuer.public_jwk(), KeySource::Issuer { url: "https://elsewhere.example".into() });
    let report = run(&sidecar, &media, &keys, &Policy::default());
    assert_eq!(report.verdict, Verdict::Invalid);
    assert_eq!(report.check(CheckCode::JwtKey).unwrap().reason, Some("jwt_key_wrong_issuer"));
    let empty = run(&sidecar, &media, &KeyRing::new(), &Policy::default());
    assert_eq!(empty.check(CheckCode::JwtKey).unwrap().reason, Some("jwt_no_keys"));
}

#[test]
fn sandbox_policy() {
    let (sidecar, media, issuer) = fixture(AttestationMethod::Sandbox);
    let mut keys = KeyRing::new();
    keys.add_key(issuer.public_jwk(), KeySource::Provided { label: "k".into() });
    let report = run(&sidecar, &media, &keys, &Policy::default());
    assert_eq!(report.verdict, Verdict::Trusted);
    assert!(report.has_finding("sandbox_attestation"));
    let strict = Policy { allow_sandbox: false, ..Policy::default() };
    let report = run(&sidecar, &media, &keys, &strict);
    assert_eq!(report.verdict, Verdict::Invalid);
    assert_eq!(report.first_failure().unwrap().reason, Some("attestation_sandbox_rejected"));
}

#[test]
fn tampered_media_fails_only_the_hash() {
    let (sidecar, _, issuer) = fixture(AttestationMethod::AppCheck);
    let mut keys = KeyRing::new();
    keys.add_key(issuer.public_jwk(), KeySource::Provided { label: "k".into() });
    let report = run(&sidecar, &ContentHash::of(b"other bytes"), &keys, &Policy::default());
    let failed: Vec<_> = report.checks.iter().filter(|c| c.status == Status::Fail).map(|c| c.reason).collect();
    assert_eq!(failed, [Some("content_hash_mismatch")]);
}

#[test]
fn timestamps() {
    assert!(is_canonical_timestamp("2026-01-27T10:31:24Z"));
    assert!(!is_canonical_timestamp("2026-01-27T10:31:24.5Z"));
    assert!(!is_canonical_timestamp("2026-13-27T10:31:24Z"));
    assert!(!is_canonical_timestamp("2026-01-27 10:31:24Z"));
}
