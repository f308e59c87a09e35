//! In-process verification of a 12 MB capture: SHA-256 of the media (streamed in 256 KiB chunks, as the CLI
//! does) plus `verify()`. Compare with the official validator's `validate_with_jwks` on the same pair
//! (scripts/bench-verify.sh runs both and writes the table in docs/benchmarks.md).
//!
//! `cargo bench -p proofmark-core --bench verify` (set PROOFMARK_BENCH_DIR to a folder made by
//! `cargo xtask bench-fixture DIR 12000000`; otherwise the fixture is built in memory).
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use proofmark_core::jwt::{self, Attestation, AttestationMethod, CaptureClaims, ClaimLayout};
use proofmark_core::verify::{verify, VerifyInput};
use proofmark_core::{ContentHash, ContentHasher, DeviceKey, IssuerKey, Jwks, KeyRing, KeySource, Policy, Sidecar};

fn fixture() -> (Vec<u8>, Vec<u8>, Vec<u8>) {
    if let Some(dir) = std::env::var_os("PROOFMARK_BENCH_DIR") {
        let dir = std::path::PathBuf::from(dir);
        return (
            std::fs::read(dir.join("media.bin")).unwrap(),
            std::fs::read(dir.join("media.sidecar.json")).unwrap(),
            std::fs::read(dir.join("jwks.json")).unwrap(),
        );
    }
    let media: Vec<u8> = (0..12_000_000u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8).collect();
    let issuer = IssuerKey::from_scalar_bytes(&[1; 32]).unwrap();
    let device = DeviceKey::from_scalar_bytes(&[2; 32]).unwrap();
    let claims = CaptureClaims {
        iss: "https://bench.example".into(),
        aud: jwt::AUDIENCE.into(),
        sub: jwt::SUBJECT.into(),
        iat: 1_800_000_000,
        capture_id: "00000000-0000-4000-8000-000000000000".into(),
        publisher_id: "00000000-0000-4000-8000-000000000001".into(),
        device_id: "00000000-0000-4000-8000-000000000002".into(),
        attestation: Attestation { method: AttestationMethod::AppCheck, app_id: None },
        device_public_key_fingerprint: Some(device.public_key().fingerprint()),
        layout: ClaimLayout::Current,
    };
    let sidecar = Sidecar::build(
        &ContentHash::of(&media),
        &device,
        &claims.capture_id,
        "2027-01-01T00:00:00Z",
        jwt::mint(&claims, &issuer),
    );
    let jwks = Jwks { keys: vec![issuer.public_jwk()], skipped: vec![] }.to_json();
    (media, sidecar.to_json_pretty().into_bytes(), jwks.into_bytes())
}

fn bench(c: &mut Criterion) {
    let (media, sidecar, jwks) = fixture();
    let mut group = c.benchmark_group("verify_12mb");
    group.throughput(Throughput::Bytes(media.len() as u64));
    group.sample_size(30);
    group.bench_function("sha256_plus_verify", |b| {
        b.iter(|| {
            let mut keys = KeyRing::new();
            keys.add_jwks(&Jwks::parse(&jwks).unwrap(), KeySource::Unbound { label: "bench".into() });
            let mut hasher = ContentHasher::new();
            for chunk in media.chunks(256 * 1024) {
                hasher.update(chunk);
            }
            let hash = hasher.finish();
            let report = verify(VerifyInput {
                sidecar: &sidecar,
                media_hash: &hash,
                keys: &keys,
                policy: &Policy::permissive(),
                now: None,
            });
            assert_eq!(report.verdict, proofmark_core::Verdict::Trusted);
        })
    });
    group.bench_function("verify_only", |b| {
        let hash = ContentHash::of(&media);
        let mut keys = KeyRing::new();
        keys.add_jwks(&Jwks::parse(&jwks).unwrap(), KeySource::Unbound { label: "bench".into() });
        b.iter(|| {
            verify(VerifyInput {
                sidecar: &sidecar,
                media_hash: &hash,
                keys: &keys,
                policy: &Policy::permissive(),
                now: None,
            })
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
