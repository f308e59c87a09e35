//! The verification pipeline: what it asks for, and what it makes of what it is given or refused.
use proofmark_core::fetch_rules::Refusal;
use proofmark_core::jwt::{self, Attestation, AttestationMethod, CaptureClaims, ClaimLayout, AUDIENCE, SUBJECT};
use proofmark_core::{
    CheckCode, ContentHash, DeviceKey, IssuerKey, IssuerKeys, Jwks, Need, Policy, Reason, Sidecar, Status, Verdict,
    Verification,
};

const MEDIA: &[u8] = b"pipeline media";

fn sidecar(iss: &str) -> (Vec<u8>, Jwks) {
    let issuer = IssuerKey::from_scalar_bytes(&[0x21; 32]).unwrap();
    let device = DeviceKey::from_scalar_bytes(&[0x22; 32]).unwrap();
    let claims = CaptureClaims {
        iss: iss.into(),
        aud: AUDIENCE.into(),
        sub: SUBJECT.into(),
        iat: 1_800_000_000,
        capture_id: "5f0c3d2e-1b4a-4c6d-8e9f-0a1b2c3d4e5f".into(),
        publisher_id: "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d".into(),
        device_id: "9e8d7c6b-5a49-4382-9170-6f5e4d3c2b1a".into(),
        attestation: Attestation { method: AttestationMethod::AppAttest, app_id: None },
        device_public_key_fingerprint: Some(device.public_key().fingerprint()),
        layout: ClaimLayout::Current,
    };
    let s = Sidecar::build(
        &ContentHash::of(MEDIA),
        &device,
        &claims.capture_id,
        "2026-09-21T12:00:00Z",
        jwt::mint(&claims, &issuer),
    );
    let jwks =
        Jwks::parse(serde_json::json!({"keys": [issuer.public_jwk().to_json()]}).to_string().as_bytes()).unwrap();
    (s.to_json_pretty().into_bytes(), jwks)
}

#[test]
fn it_asks_for_the_issuers_keys_then_the_digest_and_trusts_what_the_policy_trusts() {
    let iss = "https://capture.pipeline.test";
    let (bytes, jwks) = sidecar(iss);
    for (policy, verdict) in
        [(Policy::permissive(), Verdict::Valid), (Policy::permissive().trusting(iss), Verdict::Trusted)]
    {
        let mut v = Verification::new(policy, None).fetching(IssuerKeys::Any);
        assert!(v.needs().is_empty(), "nothing is needed before anything travels with the file");
        v.add_sidecar(&bytes);
        assert_eq!(v.claimed_issuer(), Some(iss));
        let needs = v.needs();
        let [Need::IssuerKeys { issuer, target: Ok(target), chosen_by_user: false }, Need::MediaDigest] =
            needs.as_slice()
        else {
            panic!("{needs:?}")
        };
        assert_eq!(
            (issuer.as_str(), target.url.as_str()),
            (iss, "https://capture.pipeline.test/.well-known/jwks.json")
        );
        v.supply_issuer_keys(iss, &jwks);
        v.supply_media_digest(ContentHash::of(MEDIA));
        assert!(v.needs().is_empty());
        let report = v.finish();
        assert_eq!(report.verdict, verdict, "{report:#?}");
    }
}

#[test]
fn a_refused_or_failed_fetch_is_a_check_status_not_an_error() {
    // The sidecar names a private address: the pipeline vets it and hands the refusal to the caller.
    let (bytes, _) = sidecar("https://10.1.2.3");
    let mut v = Verification::new(Policy::permissive(), None).fetching(IssuerKeys::Any);
    v.add_sidecar(&bytes);
    let Some(Need::IssuerKeys { target: Err(refusal), .. }) = v.needs().into_iter().next() else { panic!() };
    assert!(matches!(refusal, Refusal::Address { .. }), "{refusal:?}");
    v.issuer_keys_unavailable(format!("keys are not fetched: {refusal}"));
    v.supply_media_digest(ContentHash::of(MEDIA));
    let report = v.finish();
    assert_eq!(report.verdict, Verdict::Unverified);
    let key = report.check(CheckCode::JwtKey).unwrap();
    assert_eq!((key.status, key.reason), (Status::Unavailable, Some(Reason::IssuerKeysUnavailable)));
    assert_eq!(report.check(CheckCode::JwtSignature).unwrap().status, Status::NotApplicable);
    assert!(
        report.verdict_text().starts_with("could not verify: keys are not fetched: its address 10.1.2.3"),
        "{}",
        report.verdict_text()
    );

    // Any failing check still makes it invalid: the media proves the capture was changed, keys or not.
    let mut v = Verification::new(Policy::permissive(), None).fetching(IssuerKeys::Any);
    v.add_sidecar(&bytes);
    v.issuer_keys_unavailable("could not fetch keys");
    v.supply_media_digest(ContentHash::of(b"edited"));
    assert_eq!(v.finish().verdict, Verdict::Invalid);

    // A digest never supplied is unavailable too.
    let mut v = Verification::new(Policy::permissive(), None);
    v.add_sidecar(&bytes);
    let report = v.finish();
    assert_eq!(report.check(CheckCode::ContentHash).unwrap().reason, Some(Reason::MediaDigestUnavailable));
}

#[test]
fn only_trusted_issuers_are_fetched_under_the_trusted_rule_and_as_typed() {
    let iss = "http://capture.lan:8080";
    let (bytes, _) = sidecar(iss);
    // Named by the user: plain http to an internal name is fetched as typed.
    let mut v = Verification::new(Policy::permissive().trusting(iss), None).fetching(IssuerKeys::Trusted);
    v.add_sidecar(&bytes);
    assert!(matches!(&v.needs()[0], Need::IssuerKeys { target: Ok(_), chosen_by_user: true, .. }), "{:?}", v.needs());
    // Named only by the sidecar, the same URL is refused.
    let mut v = Verification::new(Policy::permissive(), None).fetching(IssuerKeys::Any);
    v.add_sidecar(&bytes);
    assert!(matches!(&v.needs()[0], Need::IssuerKeys { target: Err(_), chosen_by_user: false, .. }), "{:?}", v.needs());
    // Never: nothing is fetched.
    let mut v = Verification::new(Policy::permissive(), None);
    v.add_sidecar(&bytes);
    assert_eq!(v.needs(), [Need::MediaDigest]);
    // An unreadable sidecar needs nothing.
    let mut v = Verification::new(Policy::permissive(), None).fetching(IssuerKeys::Any);
    v.add_sidecar(b"{");
    assert!(v.needs().is_empty());
    assert_eq!(v.finish().verdict, Verdict::Invalid);
}

#[test]
fn an_observed_file_asks_for_its_records_and_the_log_key_and_is_judged() {
    use proofmark_core::provenance::{ContentVerdict, Observation};
    let record = crate::provenance::record('1', true);
    let obs =
        Observation { sha256: record.sha256.parse().unwrap(), phash: Some(0xc3c3_3c3c_0ff0_f00f), watermark: None };
    let mut v = Verification::new(Policy::permissive(), None);
    v.observe(obs.clone());
    let needs = v.needs();
    assert_eq!(needs.len(), 2, "{needs:?}");
    assert_eq!(needs[0], Need::LogKey);
    assert_eq!(needs[1], Need::RecordLookup { sha256: obs.sha256, phash: obs.phash, watermark: None });
    v.supply_log_key(crate::provenance::log_key());
    v.supply_records(vec![record.clone()]);
    assert!(v.needs().is_empty());
    let finished = v.finish_all();
    assert!(finished.capture.is_none() && finished.receipt.is_none());
    assert_eq!(finished.content.unwrap().verdict, ContentVerdict::IntactOriginal);
    // Without the log key: signed, but the log is not checked.
    let mut v = Verification::new(Policy::permissive(), None);
    v.observe(obs);
    v.supply_records(vec![record]);
    let content = v.finish_all().content.unwrap();
    assert_eq!(content.verdict, ContentVerdict::SignedLogUnchecked);
    assert!(!content.verdict.authentic());
    let log = content.checks.iter().find(|c| c.code == CheckCode::LogInclusion).unwrap();
    assert_eq!(log.reason, Some(Reason::LogKeyUnavailable));
}
