//! Data-driven: one line per vector in `testdata/capture` (regenerate with `cargo xtask gen-vectors`),
//! expectations as snapshots (`UPDATE_EXPECT=1 cargo test` rewrites them after a deliberate change).
//!
//! Provenance: these snapshots were written by the code under test, so on their own they only pin today's
//! behaviour. The independent source is the official SignedShot validator (`scripts/interop_signedshot.py`,
//! run by `tests/it/interop.rs` in the CLI crate): it must accept and reject the same vectors, for the same
//! reason where both reject, except the divergences documented in `testdata/capture/manifest.json`.
use std::path::PathBuf;

use expect_test::{expect, Expect};
use proofmark_core::verify::{verify, VerifyInput};
use proofmark_core::{ContentHash, Jwks, KeyRing, KeySource, Policy, Report, Status};

fn testdata() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../testdata")
}

/// The vectors' issuer (cargo xtask gen-vectors).
const ISSUER: &str = "https://capture.proofmark.test";

/// Verify with `jwks` bound to `issuer`, as `--jwks ISSUER=FILE` does.
fn run(media: &[u8], sidecar: &[u8], issuer: &str, jwks: &[u8], policy: &Policy) -> Report {
    let mut keys = KeyRing::new();
    let source = KeySource::Bound { issuer: issuer.into(), label: "jwks.json".into() };
    keys.add_jwks(&Jwks::parse(jwks).unwrap(), source);
    verify(VerifyInput { sidecar, media_hash: &ContentHash::of(media), keys: &keys, policy, now: None })
}

/// The verdict, then every check that did not pass, then the findings.
fn render(report: &Report) -> String {
    let mut out = format!("{}\n", report.verdict_text());
    for c in &report.checks {
        match c.status {
            Status::Pass => {}
            Status::Fail => {
                out.push_str(&format!("fail {} {}: {}\n", c.code, c.reason.map_or("?", |r| r.as_str()), c.message))
            }
            Status::NotApplicable => out.push_str(&format!("n/a  {}\n", c.code)),
            Status::Unavailable => out.push_str(&format!("unavailable {}\n", c.code)),
        }
    }
    for f in &report.findings {
        out.push_str(&format!("note {}\n", f.code));
    }
    out
}

fn check(name: &str, expect: Expect) {
    check_with(name, &Policy::permissive(), expect);
}

fn check_with(name: &str, policy: &Policy, expect: Expect) {
    let dir = testdata().join("capture");
    let media = std::fs::read(dir.join(format!("{name}.bin"))).unwrap();
    let sidecar = std::fs::read(dir.join(format!("{name}.sidecar.json"))).unwrap();
    let jwks = std::fs::read(dir.join("jwks.json")).unwrap();
    let report = run(&media, &sidecar, ISSUER, &jwks, policy);
    assert_documented(&report);
    expect.assert_eq(&render(&report));
}

/// Every check, reason and finding code a report uses is explained in docs/verification.md.
fn assert_documented(report: &Report) {
    let docs = std::fs::read_to_string(testdata().join("../docs/verification.md")).unwrap();
    for c in &report.checks {
        assert!(docs.contains(&format!("`{}`", c.code)), "check {} is not in docs/verification.md", c.code);
        if let Some(reason) = c.reason {
            assert!(docs.contains(&format!("`{reason}`")), "reason {reason} is not in docs/verification.md");
        }
    }
    for f in &report.findings {
        assert!(docs.contains(&format!("`{}`", f.code)), "finding {} is not in docs/verification.md", f.code);
    }
}

#[test]
fn every_vector_is_covered_here() {
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(testdata().join("capture/manifest.json")).unwrap()).unwrap();
    let names: Vec<&str> =
        manifest["vectors"].as_array().unwrap().iter().map(|v| v["name"].as_str().unwrap()).collect();
    let this_file = include_str!("vectors.rs");
    for name in names {
        assert!(this_file.contains(&format!("\"{name}\",")), "vector {name} has no check() line");
    }
}

#[test]
fn valid() {
    check(
        "missing_fingerprint",
        expect![[r#"
            valid (token does not bind the device key)
            n/a  device_key_fingerprint
            note device_key_unbound
        "#]],
    );
    check(
        "valid",
        expect![[r#"
        trusted
    "#]],
    );
    check(
        "ios_formatting",
        expect![[r#"
        trusted
    "#]],
    );
    check(
        "high_s",
        expect![[r#"
        trusted
    "#]],
    );
    check(
        "valid_sandbox",
        expect![[r#"
        trusted
        note sandbox_attestation
    "#]],
    );
    check(
        "legacy_layout",
        expect![[r#"
            valid (token does not bind the device key)
            n/a  device_key_fingerprint
            note legacy_claim_layout
            note sandbox_attestation
        "#]],
    );
}

#[test]
fn media_integrity_failures() {
    check(
        "tampered_media",
        expect![[r#"
        invalid
        fail content_hash content_hash_mismatch: the media's SHA-256 is e4419ebec0b972c2f0a6633c5f10339eae28e2e3c65d44222e52c05a800ccbe6, the sidecar says 9898da98889fa711dfe04f7e2d3e81e63b71a06c8c2b0f8ada81a2a47e05ec3a: the file was changed after capture
    "#]],
    );
    check(
        "wrong_capture_id",
        expect![[r#"
        invalid
        fail capture_id_match capture_id_mismatch: the token's capture_id "3f2c8a1e-5b7d-4e9a-8c6f-1d2e3f4a5b6c" differs from the sidecar's "3f2c8a1e-5b7d-4e9a-8c6f-000000000000"
    "#]],
    );
    check(
        "wrong_fingerprint",
        expect![[r#"
        invalid
        fail device_key_fingerprint device_key_fingerprint_mismatch: the token binds device key fff3a46e1900656f1ce646001ea3640e023bac84743bc38338a4287d5f454ea1, but the sidecar's public_key has fingerprint b2916d25223a2bc5fe99e40c7a60d999450287b6d2e3a7568969824b6e18bf9f
    "#]],
    );
    check(
        "bad_device_signature",
        expect![[r#"
        invalid
        fail device_signature device_signature_invalid: the device signature does not verify over content_hash:capture_id:captured_at with public_key
    "#]],
    );
    check(
        "raw_signature",
        expect![[r#"
        invalid
        fail device_signature device_signature_raw: signature is 64 raw bytes (r||s); SignedShot sidecars carry a DER (X9.62) signature
    "#]],
    );
    check(
        "compressed_public_key",
        expect![[r#"
        invalid
        fail device_public_key device_key_compressed: public_key is a 33-byte compressed point; SignedShot sidecars carry the 65-byte uncompressed point
        n/a  device_signature
        n/a  device_key_fingerprint
    "#]],
    );
}

#[test]
fn token_failures() {
    check(
        "unknown_kid",
        expect![[r#"
        invalid
        fail jwt_key jwt_unknown_kid: no key with kid 0000000000000000000000000000000000000000000000000000000000000000 in the key set
        n/a  jwt_signature
    "#]],
    );
    check(
        "wrong_issuer_key",
        expect![[r#"
        invalid
        fail jwt_signature jwt_signature_invalid: the signature does not verify with this key
    "#]],
    );
    check(
        "alg_none",
        expect![[r#"
        invalid
        fail jwt_algorithm jwt_alg_none: alg "none" (an unsigned token) is refused
        n/a  jwt_key
        n/a  jwt_signature
    "#]],
    );
    check(
        "hs256_confusion",
        expect![[r#"
        invalid
        fail jwt_algorithm jwt_alg_hmac: alg "HS256" is an HMAC algorithm; refused (a public key is not a shared secret)
        n/a  jwt_key
        n/a  jwt_signature
    "#]],
    );
    check(
        "alg_es384",
        expect![[r#"
        invalid
        fail jwt_algorithm jwt_alg_unsupported: alg "ES384" is not ES256
        n/a  jwt_key
        n/a  jwt_signature
    "#]],
    );
    check(
        "aud_mismatch",
        expect![[r#"
        invalid
        fail jwt_claims jwt_aud_mismatch: aud is "someone-else"; it must be the string "signedshot"
        n/a  device_key_fingerprint
        n/a  attestation_policy
    "#]],
    );
    check(
        "aud_array",
        expect![[r#"
        invalid
        fail jwt_claims jwt_aud_mismatch: aud is ["signedshot"]; it must be the string "signedshot"
        n/a  device_key_fingerprint
        n/a  attestation_policy
    "#]],
    );
    check(
        "missing_kid",
        expect![[r#"
        invalid
        fail jwt_key jwt_kid_missing: the token header has no kid, so no key can be chosen
        n/a  jwt_signature
    "#]],
    );
}

#[test]
fn sidecar_failures() {
    check(
        "version_1_1",
        expect![[r#"
        invalid
        fail sidecar_format sidecar_unsupported_version: sidecar version "1.1" is not supported (this verifier reads "1.0")
        n/a  jwt_format
        n/a  jwt_algorithm
        n/a  jwt_claims
        n/a  jwt_key
        n/a  jwt_signature
        n/a  content_hash
        n/a  device_public_key
        n/a  device_signature
        n/a  capture_id_match
        n/a  device_key_fingerprint
        n/a  attestation_policy
    "#]],
    );
    check(
        "truncated_json",
        expect![[r#"
        invalid
        fail sidecar_format sidecar_truncated: sidecar JSON ends early at line 4, column 604: the file is truncated
        n/a  jwt_format
        n/a  jwt_algorithm
        n/a  jwt_claims
        n/a  jwt_key
        n/a  jwt_signature
        n/a  content_hash
        n/a  device_public_key
        n/a  device_signature
        n/a  capture_id_match
        n/a  device_key_fingerprint
        n/a  attestation_policy
    "#]],
    );
    check(
        "oversized_json",
        expect![[r#"
        invalid
        fail sidecar_format sidecar_too_large: sidecar is 103711 bytes; the limit is 65536 bytes
        n/a  jwt_format
        n/a  jwt_algorithm
        n/a  jwt_claims
        n/a  jwt_key
        n/a  jwt_signature
        n/a  content_hash
        n/a  device_public_key
        n/a  device_signature
        n/a  capture_id_match
        n/a  device_key_fingerprint
        n/a  attestation_policy
    "#]],
    );
    check(
        "non_utf8",
        expect![[r#"
        invalid
        fail sidecar_format sidecar_not_utf8: sidecar is not UTF-8 (invalid byte at offset 1309)
        n/a  jwt_format
        n/a  jwt_algorithm
        n/a  jwt_claims
        n/a  jwt_key
        n/a  jwt_signature
        n/a  content_hash
        n/a  device_public_key
        n/a  device_signature
        n/a  capture_id_match
        n/a  device_key_fingerprint
        n/a  attestation_policy
    "#]],
    );
}

#[test]
fn policy() {
    let strict = Policy::strict();
    check_with(
        "valid_sandbox",
        &strict,
        expect![[r#"
        invalid
        fail attestation_policy attestation_sandbox_rejected: the device was not attested (sandbox) and the policy refuses sandbox captures
    "#]],
    );
    check_with(
        "legacy_layout",
        &strict,
        expect![[r#"
            invalid
            n/a  device_key_fingerprint
            fail attestation_policy legacy_layout_rejected: the policy refuses the legacy claim layout: nothing binds the device key to the token
            note legacy_claim_layout
        "#]],
    );
    check_with(
        "valid",
        &strict,
        expect![[r#"
        trusted
    "#]],
    );
    check_with(
        "missing_fingerprint",
        &strict,
        expect![[r#"
        invalid
        n/a  device_key_fingerprint
        fail attestation_policy device_key_unbound_rejected: the policy refuses a token without a device key fingerprint: nothing binds the device key to the token
        note device_key_unbound
    "#]],
    );
    let untrusted = Policy { trust_bound_keys: false, ..Policy::permissive() };
    check_with(
        "valid",
        &untrusted,
        expect![[r#"
            valid (issuer not trusted)
            note issuer_not_trusted
        "#]],
    );
}

/// The real iOS capture (SPEC §1.1): legacy claim layout, high-S device signature, Apple formatting.
#[test]
fn real_ios_capture_verifies() {
    let dir = testdata().join("../../shared/signedshot-vectors/ios-sandbox-2026-01-27");
    let media =
        std::fs::read(dir.join("photo_20260127_073124.jpg")).expect("../shared/signedshot-vectors is beside the repo");
    let sidecar = std::fs::read(dir.join("photo_20260127_073124.sidecar.json")).unwrap();
    let jwks = std::fs::read(dir.join("dev-api-jwks.recovered.json")).unwrap();
    let report = run(&media, &sidecar, "https://dev-api.signedshot.io", &jwks, &Policy::permissive());
    expect![[r#"
        valid (token does not bind the device key)
        n/a  device_key_fingerprint
        note legacy_claim_layout
        note sandbox_attestation
    "#]]
    .assert_eq(&render(&report));
    let capture = report.capture.clone().unwrap();
    assert_eq!(capture.issuer.as_deref(), Some("https://dev-api.signedshot.io"));
    assert!(report.check(proofmark_core::CheckCode::DeviceSignature).unwrap().message.contains("high-S"));
}
