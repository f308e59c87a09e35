//! The reason and finding codes are enums (`proofmark_core::codes`); docs/verification.md documents exactly
//! those, and every one of them is produced by a case here (each case produces the code it is named for). A
//! code added to an enum without a line in the document, documented without a variant, or never produced,
//! fails.
use std::collections::BTreeSet;

use base64::Engine;
use proofmark_core::jwt::{self, Attestation, AttestationMethod, CaptureClaims, ClaimLayout, AUDIENCE, SUBJECT};
use proofmark_core::verify::{verify, VerifyInput};
use proofmark_core::{
    CheckCode, ContentHash, DeviceKey, FindingCode, IssuerKey, IssuerKeys, KeyRing, KeySource, Need, Policy, Reason,
    Report, Sidecar, Verification,
};
use serde_json::{json, Value};

const ISS: &str = "https://capture.codes.test";
const MEDIA: &[u8] = b"the media";
const NOW: i64 = 1_800_000_000;

fn issuer() -> IssuerKey {
    IssuerKey::from_scalar_bytes(&[0x31; 32]).unwrap()
}

fn device() -> DeviceKey {
    DeviceKey::from_scalar_bytes(&[0x42; 32]).unwrap()
}

fn claims(method: AttestationMethod, layout: ClaimLayout, fingerprint: Option<String>) -> CaptureClaims {
    CaptureClaims {
        iss: ISS.into(),
        aud: AUDIENCE.into(),
        sub: SUBJECT.into(),
        iat: NOW,
        capture_id: "5f0c3d2e-1b4a-4c6d-8e9f-0a1b2c3d4e5f".into(),
        publisher_id: "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d".into(),
        device_id: "9e8d7c6b-5a49-4382-9170-6f5e4d3c2b1a".into(),
        attestation: Attestation { method, app_id: Some("io.example.app".into()) },
        device_public_key_fingerprint: fingerprint,
        layout,
    }
}

fn good_claims() -> CaptureClaims {
    claims(AttestationMethod::AppCheck, ClaimLayout::Current, Some(device().public_key().fingerprint()))
}

/// A sidecar (as JSON) over MEDIA, device-signed, with `token`.
fn sidecar_with(token: String) -> Value {
    let s =
        Sidecar::build(&ContentHash::of(MEDIA), &device(), &good_claims().capture_id, "2026-09-21T12:00:00Z", token);
    serde_json::from_str(&s.to_json_pretty()).unwrap()
}

fn good() -> Value {
    sidecar_with(jwt::mint(&good_claims(), &issuer()))
}

fn b64url(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// A token with this header and payload, signed by the issuer key.
fn token(header: Value, payload: Value) -> String {
    jwt::sign_compact(&header.to_string(), &payload.to_string(), &issuer())
}

fn header() -> Value {
    json!({"alg": "ES256", "typ": "JWT", "kid": issuer().kid()})
}

fn payload() -> Value {
    serde_json::from_str(&good_claims().to_payload_json()).unwrap()
}

fn bound() -> KeyRing {
    let mut keys = KeyRing::new();
    keys.add_key(issuer().public_jwk(), KeySource::Bound { issuer: ISS.into(), label: "codes".into() });
    keys
}

struct Case {
    code: &'static str,
    sidecar: Vec<u8>,
    keys: KeyRing,
    policy: Policy,
    now: Option<i64>,
}

fn case(code: &'static str, sidecar: Value) -> Case {
    Case {
        code,
        sidecar: sidecar.to_string().into_bytes(),
        keys: bound(),
        policy: Policy::permissive(),
        now: Some(NOW),
    }
}

fn with_mi(field: &str, value: &str) -> Value {
    let mut v = good();
    v["media_integrity"][field] = value.into();
    v
}

fn with_token(t: String) -> Value {
    let mut v = good();
    v["capture_trust"]["jwt"] = t.into();
    v
}

fn cases() -> Vec<Case> {
    let std64 = |b: &[u8]| base64::engine::general_purpose::STANDARD.encode(b);
    let mut c = vec![
        // sidecar_format
        Case { sidecar: vec![b' '; 65 * 1024], ..case("sidecar_too_large", good()) },
        Case { sidecar: b"{\"version\": \"1.0\xff\"}".to_vec(), ..case("sidecar_not_utf8", good()) },
        Case { sidecar: good().to_string().as_bytes()[..40].to_vec(), ..case("sidecar_truncated", good()) },
        Case { sidecar: b"{]".to_vec(), ..case("sidecar_malformed_json", good()) },
        case("sidecar_schema", {
            let mut v = good();
            v["media_integrity"].as_object_mut().unwrap().remove("capture_id");
            v
        }),
        case("sidecar_unsupported_version", {
            let mut v = good();
            v["version"] = "1.1".into();
            v
        }),
        case("sidecar_empty_jwt", with_token(String::new())),
        // jwt_format
        case("jwt_malformed", with_token("a.b".into())),
        case("jwt_malformed", with_token(format!("{}.{}.", "e".repeat(17 * 1024), "e30"))),
        case(
            "jwt_crit_unsupported",
            with_token(token(json!({"alg": "ES256", "kid": issuer().kid(), "crit": ["exp"]}), payload())),
        ),
        // jwt_algorithm
        case(
            "jwt_alg_none",
            with_token(format!("{}.{}.", b64url(br#"{"alg":"none"}"#), b64url(payload().to_string().as_bytes()))),
        ),
        case("jwt_alg_hmac", with_token(token(json!({"alg": "HS256", "kid": issuer().kid()}), payload()))),
        case("jwt_alg_rsa", with_token(token(json!({"alg": "RS256", "kid": issuer().kid()}), payload()))),
        case("jwt_alg_unsupported", with_token(token(json!({"alg": "ES384", "kid": issuer().kid()}), payload()))),
        case("jwt_alg_missing", with_token(token(json!({"kid": issuer().kid()}), payload()))),
        // jwt_claims
        case(
            "jwt_claim_missing",
            with_token(token(header(), {
                let mut p = payload();
                p.as_object_mut().unwrap().remove("device_id");
                p
            })),
        ),
        case(
            "jwt_claim_type",
            with_token(token(header(), {
                let mut p = payload();
                p["iat"] = "yesterday".into();
                p
            })),
        ),
        case(
            "jwt_aud_mismatch",
            with_token(token(header(), {
                let mut p = payload();
                p["aud"] = "someone-else".into();
                p
            })),
        ),
        case(
            "jwt_unknown_attestation_method",
            with_token(token(header(), {
                let mut p = payload();
                p["attestation"]["method"] = "telepathy".into();
                p
            })),
        ),
        // jwt_key
        case("jwt_kid_missing", with_token(token(json!({"alg": "ES256"}), payload()))),
        case("jwt_unknown_kid", with_token(token(json!({"alg": "ES256", "kid": "0".repeat(64)}), payload()))),
        Case {
            keys: {
                let mut k = KeyRing::new();
                k.add_key(issuer().public_jwk(), KeySource::Issuer { url: "https://elsewhere.test".into() });
                k
            },
            ..case("jwt_key_wrong_issuer", good())
        },
        Case { keys: KeyRing::new(), ..case("jwt_no_keys", good()) },
        // jwt_signature
        case(
            "jwt_signature_invalid",
            with_token({
                let other = IssuerKey::from_scalar_bytes(&[0x77; 32]).unwrap();
                jwt::sign_compact(&header().to_string(), &payload().to_string(), &other)
            }),
        ),
        case(
            "jwt_signature_length",
            with_token({
                let t = jwt::mint(&good_claims(), &issuer());
                format!("{}.{}", t.rsplit_once('.').unwrap().0, b64url(&[1; 10]))
            }),
        ),
        case(
            "jwt_signature_scalar",
            with_token({
                let t = jwt::mint(&good_claims(), &issuer());
                format!("{}.{}", t.rsplit_once('.').unwrap().0, b64url(&[0xff; 64]))
            }),
        ),
        // content_hash
        case("content_hash_mismatch", with_mi("content_hash", &ContentHash::of(b"other").to_string())),
        case("content_hash_malformed", with_mi("content_hash", "XYZ")),
        // device_public_key
        case("device_key_base64", with_mi("public_key", "not base64!")),
        case(
            "device_key_compressed",
            with_mi("public_key", &{
                let raw = base64::engine::general_purpose::STANDARD.decode(device().public_key().to_base64()).unwrap();
                let mut compressed = vec![2 + (raw[64] & 1)];
                compressed.extend_from_slice(&raw[1..33]);
                std64(&compressed)
            }),
        ),
        case("device_key_length", with_mi("public_key", &std64(&[4; 10]))),
        case(
            "device_key_prefix",
            with_mi("public_key", &{
                let mut raw =
                    base64::engine::general_purpose::STANDARD.decode(device().public_key().to_base64()).unwrap();
                raw[0] = 5;
                std64(&raw)
            }),
        ),
        case(
            "device_key_not_on_curve",
            with_mi("public_key", &{
                let mut raw = vec![4u8];
                raw.extend_from_slice(&[1; 64]);
                std64(&raw)
            }),
        ),
        // device_signature
        case(
            "device_signature_invalid",
            with_mi("signature", &{
                let other = DeviceKey::from_scalar_bytes(&[0x55; 32]).unwrap();
                other.sign(b"something else").to_der_base64()
            }),
        ),
        case("device_signature_raw", with_mi("signature", &std64(&[7; 64]))),
        case("device_signature_der", with_mi("signature", &std64(&[0x30, 0x03, 0x02, 0x01]))),
        case("device_signature_base64", with_mi("signature", "***")),
        // capture_id_match
        case("capture_id_mismatch", with_mi("capture_id", "11111111-2222-4333-8444-555555555555")),
        // device_key_fingerprint
        case(
            "device_key_fingerprint_mismatch",
            sidecar_with(jwt::mint(
                &claims(AttestationMethod::AppCheck, ClaimLayout::Current, Some("ab".repeat(32))),
                &issuer(),
            )),
        ),
        // attestation_policy
        Case {
            policy: Policy { allow_sandbox: false, ..Policy::permissive() },
            ..case(
                "attestation_sandbox_rejected",
                sidecar_with(jwt::mint(
                    &claims(
                        AttestationMethod::Sandbox,
                        ClaimLayout::Current,
                        Some(device().public_key().fingerprint()),
                    ),
                    &issuer(),
                )),
            )
        },
        Case {
            policy: Policy { allow_legacy_layout: false, ..Policy::permissive() },
            ..case(
                "legacy_layout_rejected",
                sidecar_with(jwt::mint(&claims(AttestationMethod::AppCheck, ClaimLayout::Legacy, None), &issuer())),
            )
        },
        Case {
            policy: Policy { allow_legacy_layout: false, ..Policy::permissive() },
            ..case(
                "device_key_unbound_rejected",
                sidecar_with(jwt::mint(&claims(AttestationMethod::AppCheck, ClaimLayout::Current, None), &issuer())),
            )
        },
        // Findings.
        Case {
            keys: {
                let mut k = KeyRing::new();
                k.add_key(issuer().public_jwk(), KeySource::Issuer { url: ISS.into() });
                k
            },
            ..case("issuer_not_trusted", good())
        },
        Case {
            keys: {
                let mut k = KeyRing::new();
                k.add_key(issuer().public_jwk(), KeySource::Unbound { label: "shared.json".into() });
                k
            },
            ..case("issuer_unverified", good())
        },
        case(
            "legacy_claim_layout",
            sidecar_with(jwt::mint(&claims(AttestationMethod::AppCheck, ClaimLayout::Legacy, None), &issuer())),
        ),
        case(
            "device_key_unbound",
            sidecar_with(jwt::mint(&claims(AttestationMethod::AppCheck, ClaimLayout::Current, None), &issuer())),
        ),
        case(
            "sandbox_attestation",
            sidecar_with(jwt::mint(
                &claims(AttestationMethod::Sandbox, ClaimLayout::Current, Some(device().public_key().fingerprint())),
                &issuer(),
            )),
        ),
        case("captured_at_format", {
            let s = Sidecar::build(
                &ContentHash::of(MEDIA),
                &device(),
                &good_claims().capture_id,
                "2026-09-21 12:00",
                jwt::mint(&good_claims(), &issuer()),
            );
            serde_json::from_str(&s.to_json_pretty()).unwrap()
        }),
        Case { now: Some(NOW - 3600), ..case("iat_in_future", good()) },
    ];
    // A duplicated key is a schema error too (the text, since serde_json::Value cannot hold one).
    let dup = good().to_string().replacen("\"version\":\"1.0\"", "\"version\":\"1.0\",\"version\":\"1.0\"", 1);
    c.push(Case { sidecar: dup.into_bytes(), ..case("sidecar_schema", good()) });
    c
}

fn produced(r: &Report) -> BTreeSet<&'static str> {
    r.checks
        .iter()
        .filter_map(|c| c.reason.map(Reason::as_str))
        .chain(r.findings.iter().map(|f| f.code.as_str()))
        .collect()
}

/// Codes only a pipeline that fetches can produce: (the code, its report).
fn pipeline_cases() -> Vec<(&'static str, Report)> {
    let sidecar = good().to_string().into_bytes();
    // Issuer keys that could not be fetched.
    let mut v = Verification::new(Policy::permissive(), Some(NOW)).fetching(IssuerKeys::Any);
    v.add_sidecar(&sidecar);
    assert!(v.needs().iter().any(|n| matches!(n, Need::IssuerKeys { .. })), "{:?}", v.needs());
    v.issuer_keys_unavailable("could not fetch keys for issuer https://capture.codes.test");
    v.supply_media_digest(ContentHash::of(MEDIA));
    let unavailable_keys = v.finish();
    // The media could not be read.
    let mut v = Verification::new(Policy::permissive(), Some(NOW)).with_keys(bound());
    v.add_sidecar(&sidecar);
    v.media_digest_unavailable("cannot read photo.jpg");
    let unavailable_media = v.finish();
    // An issuer the policy does not trust, under a rule that fetches only trusted issuers' keys.
    let mut v =
        Verification::new(Policy::permissive().trusting("https://other.test"), Some(NOW)).fetching(IssuerKeys::Trusted);
    v.add_sidecar(&sidecar);
    assert_eq!(v.needs(), [Need::MediaDigest]);
    v.supply_media_digest(ContentHash::of(MEDIA));
    let not_fetched = v.finish();
    vec![
        ("issuer_keys_unavailable", unavailable_keys),
        ("media_digest_unavailable", unavailable_media),
        ("issuer_keys_not_fetched", not_fetched),
    ]
}

/// The reason codes of the checks table and the codes of the findings table.
fn documented() -> BTreeSet<String> {
    let doc = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/verification.md")).unwrap();
    let section = |title: &str| {
        let start = doc.find(title).unwrap_or_else(|| panic!("docs/verification.md has no {title:?}"));
        let rest = &doc[start + title.len()..];
        rest[..rest.find("\n## ").unwrap_or(rest.len())].to_owned()
    };
    let ticks = |text: &str| -> Vec<String> { text.split('`').skip(1).step_by(2).map(str::to_owned).collect() };
    let mut codes = BTreeSet::new();
    // Codes stand outside parentheses; what is inside explains them (and may quote other words).
    let outside_parens = |text: &str| -> String {
        let mut depth = 0usize;
        text.chars()
            .filter(|&c| {
                match c {
                    '(' => depth += 1,
                    ')' => depth = depth.saturating_sub(1),
                    _ => return depth == 0,
                }
                false
            })
            .collect()
    };
    for line in section("## Checks and their failure reasons").lines().filter(|l| l.starts_with("| `")) {
        let reasons = outside_parens(line.split('|').nth(3).unwrap_or(""));
        let reasons = reasons.as_str();
        codes.extend(
            ticks(reasons)
                .into_iter()
                .filter(|t| t.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')),
        );
    }
    for line in section("## Findings (non-fatal)").lines().filter(|l| l.starts_with("| `")) {
        codes.extend(ticks(line.split('|').nth(1).unwrap_or("")));
    }
    codes
}

#[test]
fn every_documented_code_is_produced_and_every_produced_code_is_documented() {
    let documented = documented();
    assert!(documented.len() >= 40, "the tables were read: {documented:?}");
    let mut seen = BTreeSet::new();
    let mut reports: Vec<(&'static str, Report)> = cases()
        .into_iter()
        .map(|case| {
            let report = verify(VerifyInput {
                sidecar: &case.sidecar,
                media_hash: &ContentHash::of(MEDIA),
                keys: &case.keys,
                policy: &case.policy,
                now: case.now,
            });
            (case.code, report)
        })
        .collect();
    reports.extend(pipeline_cases());
    let mut content: Vec<(&'static str, BTreeSet<&'static str>)> = crate::provenance::reports_by_code()
        .into_iter()
        .map(|(code, r)| (code, r.checks.iter().filter_map(|c| c.reason.map(Reason::as_str)).collect()))
        .collect();
    content.extend(reports.into_iter().map(|(code, r)| (code, produced(&r))));
    for (code, codes) in content {
        assert!(codes.contains(code), "the {code} case produced {codes:?}");
        for code in &codes {
            assert!(documented.contains(*code), "{code} is produced but not documented in docs/verification.md");
        }
        seen.extend(codes);
    }
    // A receipt's own failures are produced, each by its name, by tlog::receipts_verify_offline_and_tampering_
    // names_the_reason over a witnessed, anchored receipt; they reach a report through `log_inclusion` and
    // `log_anchor` unchanged.
    let receipt_codes = receipt_codes();
    let missing: Vec<&String> =
        documented.iter().filter(|d| !seen.contains(d.as_str()) && !receipt_codes.contains(*d)).collect();
    assert!(missing.is_empty(), "documented but never produced: {missing:?}");
}

/// The codes of docs/transparency-log.md's receipt table.
fn receipt_codes() -> BTreeSet<String> {
    let doc = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/transparency-log.md")).unwrap();
    let start = doc.find("| step | code on failure |").expect("the receipt table");
    let table = doc[start..].lines().take_while(|l| l.starts_with('|')).skip(2);
    let codes: BTreeSet<String> = table.filter_map(|l| l.split('`').rev().nth(1).map(str::to_owned)).collect();
    assert!(codes.len() >= 14, "{codes:?}");
    codes
}

/// The enums and the document list the same codes, and every check is a row of the checks table.
#[test]
fn the_code_enums_and_the_document_agree() {
    let documented = documented();
    let enums: BTreeSet<String> = Reason::ALL
        .iter()
        .map(|r| r.as_str().to_owned())
        .chain(FindingCode::ALL.iter().map(|f| f.as_str().to_owned()))
        .collect();
    let undocumented: Vec<_> = enums.difference(&documented).collect();
    assert!(
        undocumented.is_empty(),
        "codes in proofmark_core::codes but not in docs/verification.md: {undocumented:?}"
    );
    let unknown: Vec<_> = documented.difference(&enums).collect();
    assert!(unknown.is_empty(), "codes in docs/verification.md that no enum has: {unknown:?}");
    let doc = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/verification.md")).unwrap();
    for check in CheckCode::ALL {
        assert!(doc.contains(&format!("| `{check}` |")), "check {check} has no row in docs/verification.md");
    }
}
