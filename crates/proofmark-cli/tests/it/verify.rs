//! `proofmark verify`: verdicts, exit codes, output formats, folders, and key fetching.
use expect_test::expect;

use crate::support::*;

fn vector(name: &str) -> String {
    vectors().join(format!("{name}.bin")).display().to_string()
}

/// The vectors' key set, bound to their issuer (cargo xtask gen-vectors).
fn trusted_jwks() -> String {
    format!("https://capture.proofmark.test={}", vectors().join("jwks.json").display())
}

#[test]
fn valid_vector_is_trusted_with_its_jwks() {
    let out = proofmark(&["verify", &vector("valid"), "--jwks", &trusted_jwks()]);
    assert_eq!(out.status.code(), Some(0), "{}{}", stdout(&out), stderr(&out));
    let text = stdout(&out);
    assert!(text.contains("valid.bin: TRUSTED"), "{text}");
    assert!(text.contains("✓ content_hash"), "{text}");
    assert!(text.contains("✓ jwt_signature"), "{text}");
}

#[test]
fn tampered_media_exits_1_with_the_reason() {
    let out = proofmark(&["verify", &vector("tampered_media"), "--jwks", &trusted_jwks()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stdout(&out).contains("✗ content_hash             [content_hash_mismatch]"), "{}", stdout(&out));
}

#[test]
fn json_report() {
    let out = proofmark(&["verify", "--json", &vector("wrong_fingerprint"), "--jwks", &trusted_jwks()]);
    assert_eq!(out.status.code(), Some(1));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["report"]["verdict"], "invalid");
    let failed: Vec<&str> = v["report"]["checks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["status"] == "fail")
        .map(|c| c["reason"].as_str().unwrap())
        .collect();
    assert_eq!(failed, ["device_key_fingerprint_mismatch"]);
    assert_eq!(v["report"]["capture"]["method"], "app_check");
    assert_eq!(v["report"]["key_source"]["kind"], "bound");
    assert_eq!(v["report"]["key_source"]["issuer"], "https://capture.proofmark.test");
}

#[test]
fn missing_files_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let media = dir.path().join("photo.jpg");
    let out = proofmark(&["verify", media.to_str().unwrap(), "--jwks", &trusted_jwks()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stdout(&out).contains("could not verify: cannot read sidecar"), "{}", stdout(&out));
    std::fs::write(&media, b"x").unwrap();
    std::fs::copy(vectors().join("valid.sidecar.json"), dir.path().join("photo.sidecar.json")).unwrap();
    let out = proofmark(&["verify", media.to_str().unwrap(), "--jwks", "/nonexistent/jwks.json"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("cannot read JWKS file /nonexistent/jwks.json"), "{}", stderr(&out));
    let out = proofmark(&["verify", "--sidecar", "a.json", media.to_str().unwrap(), media.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("--sidecar goes with exactly one media file"));
}

#[test]
fn explicit_sidecar_path() {
    let dir = tempfile::tempdir().unwrap();
    let media = dir.path().join("renamed.dat");
    std::fs::copy(vectors().join("valid.bin"), &media).unwrap();
    let sidecar = vectors().join("valid.sidecar.json");
    let out = proofmark(&[
        "verify",
        media.to_str().unwrap(),
        "--sidecar",
        sidecar.to_str().unwrap(),
        "--jwks",
        &trusted_jwks(),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
}

#[test]
fn folder_gives_a_summary_table() {
    let out = proofmark(&["verify", vectors().to_str().unwrap(), "--jwks", &trusted_jwks()]);
    assert_eq!(out.status.code(), Some(1));
    let text = stdout(&out);
    let last = text.lines().last().unwrap();
    expect!["24 files: 4 trusted, 2 valid, 18 invalid, 0 could not be verified"].assert_eq(last);
    assert!(text.lines().next().unwrap().starts_with("FILE"));
    let json = proofmark(&["verify", "--json", "-j", "2", vectors().to_str().unwrap(), "--jwks", &trusted_jwks()]);
    let v: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(v.as_array().unwrap().len(), 24);
}

#[test]
fn policy_flags() {
    let out = proofmark(&["verify", "--reject-sandbox", &vector("valid_sandbox"), "--jwks", &trusted_jwks()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stdout(&out).contains("[attestation_sandbox_rejected]"));
    let out = proofmark(&["verify", "--reject-legacy", &vector("legacy_layout"), "--jwks", &trusted_jwks()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stdout(&out).contains("[legacy_layout_rejected]"));
}

#[test]
fn issuer_keys_are_fetched_once_and_reported_untrusted() {
    let dir = tempfile::tempdir().unwrap();
    // The issuer URL must be known before the server starts serving: bind first, then sign.
    let placeholder = Capturer::new("http://placeholder");
    let server = JwksServer::start(placeholder.jwks());
    let capturer = Capturer { iss: server.url.clone(), ..placeholder };
    capturer.capture(dir.path(), "a.jpg", b"first photo");
    capturer.capture(dir.path(), "b.mp4", b"second clip");
    // A development server on this machine (plain http on loopback) is fetched from by default.
    let out = proofmark(&["verify", dir.path().to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}{}", stdout(&out), stderr(&out));
    assert!(stdout(&out).contains("VALID (issuer not trusted)"), "{}", stdout(&out));
    assert_eq!(server.hits(), 1, "one fetch per issuer per run");

    let out = proofmark(&["verify", "--require-trusted", dir.path().to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));

    let out = proofmark(&["verify", "--trust-issuer", &server.url, dir.path().join("a.jpg").to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}{}", stdout(&out), stderr(&out));
    assert!(stdout(&out).contains("a.jpg: TRUSTED"));

    let before = server.hits();
    let out = proofmark(&[
        "verify",
        "--trust-issuer",
        "https://someone-else.example",
        dir.path().join("a.jpg").to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stdout(&out).contains("[jwt_no_keys]"), "{}", stdout(&out));
    assert!(stdout(&out).contains("issuer_keys_not_fetched"), "{}", stdout(&out));
    assert!(stdout(&out).contains("it is not among the issuers you trust"), "{}", stdout(&out));
    assert_eq!(server.hits(), before, "an untrusted issuer's keys are not fetched");
}

#[test]
fn private_network_issuers_are_not_contacted() {
    let dir = tempfile::tempdir().unwrap();
    let capturer = Capturer::new("http://10.255.255.1:8080");
    let media = capturer.capture(dir.path(), "photo.jpg", b"pixels");
    let out = proofmark(&["verify", media.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2), "{}", stdout(&out));
    assert!(
        stdout(&out).contains("keys for issuer http://10.255.255.1:8080 are not fetched: its address 10.255.255.1 is in 10.0.0.0/8 (private), not a public address (--allow-insecure-issuer allows it)"),
        "{}",
        stdout(&out)
    );
}

#[test]
fn unreachable_issuer_exits_2() {
    let dir = tempfile::tempdir().unwrap();
    // A port that was free a moment ago: nothing listens there.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let capturer = Capturer::new(&format!("http://127.0.0.1:{port}"));
    let media = capturer.capture(dir.path(), "photo.jpg", b"pixels");
    let out = proofmark(&["verify", "--timeout", "2", media.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2), "{}", stdout(&out));
    // One text whatever went wrong on the network (refused here), so a sidecar cannot probe ports.
    assert!(
        stdout(&out).contains(&format!("could not verify: could not fetch keys for issuer http://127.0.0.1:{port}\n")),
        "{}",
        stdout(&out)
    );

    // Without the keys nothing is proven either way, unless another check fails: then it is invalid.
    std::fs::write(&media, b"pixels, edited").unwrap();
    let out = proofmark(&["verify", "--timeout", "2", media.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    assert!(stdout(&out).contains("[content_hash_mismatch]"), "{}", stdout(&out));
}

#[test]
fn companion_files_sharing_a_sidecar_are_skipped() {
    let dir = tempfile::tempdir().unwrap();
    let capturer = Capturer::new("https://capture.example");
    capturer.capture(dir.path(), "IMG_0001.HEIC", b"the still image");
    std::fs::write(dir.path().join("IMG_0001.MOV"), b"the live-photo clip").unwrap();
    std::fs::write(dir.path().join("jwks.json"), capturer.jwks()).unwrap();
    let jwks = format!("https://capture.example={}", dir.path().join("jwks.json").display());
    let out = proofmark(&["verify", dir.path().to_str().unwrap(), "--jwks", &jwks]);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    let text = stdout(&out);
    assert!(text.contains("IMG_0001.MOV") && text.contains("SKIPPED"), "{text}");
    assert!(text.ends_with("2 files: 1 trusted, 0 valid, 0 invalid, 0 could not be verified, 1 skipped\n"), "{text}");
    // Always an array for a folder, even with one capture in it.
    let json = proofmark(&["verify", "--json", dir.path().to_str().unwrap(), "--jwks", &jwks]);
    let v: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(v.as_array().unwrap().len(), 2);
}

#[test]
fn untrusted_strings_cannot_redraw_the_terminal() {
    let dir = tempfile::tempdir().unwrap();
    let media = dir.path().join("photo.jpg");
    std::fs::write(&media, b"x").unwrap();
    let mut sidecar: serde_json::Value =
        serde_json::from_slice(&std::fs::read(vectors().join("valid.sidecar.json")).unwrap()).unwrap();
    sidecar["media_integrity"]["content_hash"] = "\u{1b}[1A\u{1b}[2K\rphoto.jpg: TRUSTED".into();
    std::fs::write(dir.path().join("photo.sidecar.json"), sidecar.to_string()).unwrap();
    let out = proofmark(&["verify", media.to_str().unwrap(), "--jwks", &trusted_jwks()]);
    assert_eq!(out.status.code(), Some(1));
    let text = stdout(&out);
    assert!(!text.contains('\u{1b}'), "{text:?}");
    assert!(text.contains("\\u{1b}[1A"), "{text}");
}

/// The real iOS capture carries a legacy-layout token: it proves that some device of the publisher opened a
/// capture session, not that this media came from it, so it is at most valid.
#[test]
fn real_ios_capture_is_valid_not_trusted_with_its_jwks() {
    let dir = repo().join("../shared/signedshot-vectors/ios-sandbox-2026-01-27");
    let media = dir.join("photo_20260127_073124.jpg");
    let jwks = format!("https://dev-api.signedshot.io={}", dir.join("dev-api-jwks.recovered.json").display());
    let out = proofmark(&["verify", media.to_str().unwrap(), "--jwks", &jwks]);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    let text = stdout(&out);
    assert!(text.contains("photo_20260127_073124.jpg: VALID (token does not bind the device key)\n"), "{text}");
    assert!(text.contains("legacy_claim_layout"), "{text}");
    let out = proofmark(&["verify", "--require-trusted", media.to_str().unwrap(), "--jwks", &jwks]);
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    let out = proofmark(&["verify", "--reject-legacy", media.to_str().unwrap(), "--jwks", &jwks]);
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    assert!(stdout(&out).contains("[legacy_layout_rejected]"), "{}", stdout(&out));
}

/// A legacy token lifted from one sidecar and put beside other media, signed by another device key: the
/// signatures all verify, but nothing ties the token to that key, so it is never trusted.
#[test]
fn a_lifted_unbinding_token_is_not_trusted() {
    let dir = tempfile::tempdir().unwrap();
    let v = |name: &str| std::fs::read(vectors().join(name)).unwrap();
    let legacy: serde_json::Value = serde_json::from_slice(&v("legacy_layout.sidecar.json")).unwrap();
    let capturer = Capturer::new("https://capture.proofmark.test");
    let media = capturer.capture(dir.path(), "other.jpg", b"media the token never saw");
    let sidecar_path = dir.path().join("other.sidecar.json");
    let mut sidecar: serde_json::Value = serde_json::from_slice(&std::fs::read(&sidecar_path).unwrap()).unwrap();
    sidecar["capture_trust"]["jwt"] = legacy["capture_trust"]["jwt"].clone();
    sidecar["media_integrity"]["capture_id"] = legacy["media_integrity"]["capture_id"].clone();
    // Re-sign with the other device key over the lifted token's capture id.
    let mi = &sidecar["media_integrity"];
    let message = proofmark_core::device::device_message(
        mi["content_hash"].as_str().unwrap(),
        mi["capture_id"].as_str().unwrap(),
        mi["captured_at"].as_str().unwrap(),
    );
    sidecar["media_integrity"]["signature"] = capturer.device.sign(message.as_bytes()).to_der_base64().into();
    std::fs::write(&sidecar_path, sidecar.to_string()).unwrap();
    let out = proofmark(&["verify", media.to_str().unwrap(), "--jwks", &trusted_jwks()]);
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(text.contains("other.jpg: VALID (token does not bind the device key)"), "{text}");
    assert!(!text.contains("TRUSTED"), "{text}");
    let out = proofmark(&["verify", "--require-trusted", media.to_str().unwrap(), "--jwks", &trusted_jwks()]);
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
}

/// Anyone whose key sits in a shared trust store must not be able to pose as another issuer.
#[test]
fn keys_verify_only_for_the_issuer_they_are_bound_to() {
    let dir = tempfile::tempdir().unwrap();
    // The issuer the forger poses as: a loopback port nothing listens on, so trusting it fetches nothing.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let victim = format!("http://127.0.0.1:{port}");
    let forger = Capturer::new(&victim);
    let media = forger.capture(dir.path(), "photo.jpg", b"pixels");
    let forger_jwks = dir.path().join("forger.json");
    std::fs::write(&forger_jwks, forger.jwks()).unwrap();
    let bound = format!("https://forger.example={}", forger_jwks.display());
    let out = proofmark(&["verify", media.to_str().unwrap(), "--jwks", &bound]);
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    assert!(stdout(&out).contains("[jwt_key_wrong_issuer]"), "{}", stdout(&out));
    // Unbound, the same key checks the signature, but the claimed issuer stays unverified — also when the
    // user trusts that issuer (whose own keys could not be fetched: a note, since the token did verify).
    for extra in [&[][..], &["--trust-issuer", victim.as_str()][..]] {
        let mut args = vec!["verify", media.to_str().unwrap(), "--jwks", forger_jwks.to_str().unwrap()];
        args.extend_from_slice(extra);
        let out = proofmark(&args);
        let text = stdout(&out);
        assert_eq!(out.status.code(), Some(0), "{text}{}", stderr(&out));
        assert!(text.contains("photo.jpg: VALID (issuer not verified: the key is bound to no issuer)"), "{text}");
        assert!(text.contains(&format!("issuer {victim} (claimed, not verified)")), "{text}");
        assert!(text.contains(&format!("keys from {}", forger_jwks.display())), "{text}");
        assert!(!text.contains("TRUSTED"), "{text}");
    }
}

/// Several paths: exit 2 when one is valid and another could not be verified (1 would need an invalid one),
/// and `--json` is an array in the order given.
#[test]
fn several_paths_exit_codes_and_json_array() {
    let dir = tempfile::tempdir().unwrap();
    let capturer = Capturer::new("https://capture.example");
    let ok = capturer.capture(dir.path(), "ok.jpg", b"fine");
    let lonely = dir.path().join("lonely.jpg");
    std::fs::write(&lonely, b"no sidecar").unwrap();
    std::fs::write(dir.path().join("keys.json"), capturer.jwks()).unwrap();
    let unbound = dir.path().join("keys.json");
    let (o, l, k) = (ok.to_str().unwrap(), lonely.to_str().unwrap(), unbound.to_str().unwrap());
    let out = proofmark(&["verify", o, l, "--jwks", k]);
    assert_eq!(out.status.code(), Some(2), "{}", stdout(&out));
    assert!(
        stdout(&out).ends_with("2 files: 0 trusted, 1 valid, 0 invalid, 1 could not be verified\n"),
        "{}",
        stdout(&out)
    );
    let out = proofmark(&["verify", "--json", l, o, "--jwks", k]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let files: Vec<&str> = v.as_array().unwrap().iter().map(|o| o["file"].as_str().unwrap()).collect();
    assert_eq!(files, [l, o]);
    assert!(v[0]["error"].as_str().unwrap().contains("cannot read sidecar"), "{v}");
    assert_eq!(v[1]["report"]["verdict"], "valid");
    assert_eq!(v[1]["report"]["verdict_limits"], serde_json::json!(["issuer_unverified"]));
    // With --require-trusted the valid one fails too: 1 wins over 2.
    let out = proofmark(&["verify", "--require-trusted", o, l, "--jwks", k]);
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
}
