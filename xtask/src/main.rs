//! Project chores. `cargo xtask gen-vectors [--out DIR]` writes the capture-plane test vectors
//! (default `testdata/capture/`). Keys are derived from fixed labels and ECDSA signing is deterministic
//! (RFC 6979), so the output is byte-for-byte reproducible: CI regenerates it and diffs.
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use base64::Engine;
use proofmark_core::device::DeviceSignature;
use proofmark_core::jwt::{self, Attestation, AttestationMethod, CaptureClaims, ClaimLayout, AUDIENCE, SUBJECT};
use proofmark_core::sidecar::Sidecar;
use proofmark_core::{ContentHash, DeviceKey, IssuerKey, Jwks};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

const ISSUER: &str = "https://capture.proofmark.test";
const CAPTURE_ID: &str = "3f2c8a1e-5b7d-4e9a-8c6f-1d2e3f4a5b6c";
const CAPTURED_AT: &str = "2026-03-14T09:26:53Z";
const IAT: i64 = 1_773_480_412;

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("gen-vectors") => {
            let out = match args.get(1).map(String::as_str) {
                Some("--out") => PathBuf::from(args.get(2).context("--out needs a folder")?),
                None => workspace_root().join("testdata/capture"),
                Some(other) => bail!("unknown argument {other}"),
            };
            gen_vectors(&out)
        }
        Some("bench-fixture") => {
            let (Some(out), Some(size)) = (args.get(1), args.get(2)) else {
                bail!("usage: cargo xtask bench-fixture DIR BYTES");
            };
            bench_fixture(Path::new(out), size.parse().context("BYTES must be a number")?)
        }
        _ => bail!("usage: cargo xtask gen-vectors [--out DIR] | cargo xtask bench-fixture DIR BYTES"),
    }
}

/// `DIR/media.bin` of BYTES pseudo-random bytes with a valid `media.sidecar.json`, and `DIR/jwks.json`.
fn bench_fixture(out: &Path, size: usize) -> Result<()> {
    std::fs::create_dir_all(out)?;
    let issuer = issuer_key("proofmark test vectors: issuer");
    let device = device_key("proofmark test vectors: device");
    let body = media("proofmark bench media", size);
    let c = claims(&device, AttestationMethod::AppCheck);
    let sidecar = Sidecar::build(&ContentHash::of(&body), &device, CAPTURE_ID, CAPTURED_AT, jwt::mint(&c, &issuer));
    std::fs::write(out.join("media.bin"), &body)?;
    std::fs::write(out.join("media.sidecar.json"), sidecar.to_json_pretty())?;
    std::fs::write(out.join("jwks.json"), Jwks { keys: vec![issuer.public_jwk()], skipped: vec![] }.to_json())?;
    println!("wrote {} ({size} bytes) and its sidecar", out.join("media.bin").display());
    Ok(())
}

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().map(Path::to_path_buf).unwrap_or_default()
}

fn scalar(label: &str) -> [u8; 32] {
    Sha256::digest(label.as_bytes()).into()
}

fn issuer_key(label: &str) -> IssuerKey {
    IssuerKey::from_scalar_bytes(&scalar(label)).expect("a SHA-256 output is a valid P-256 scalar")
}

fn device_key(label: &str) -> DeviceKey {
    DeviceKey::from_scalar_bytes(&scalar(label)).expect("a SHA-256 output is a valid P-256 scalar")
}

/// Deterministic pseudo-random media bytes.
fn media(label: &str, len: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(len + 32);
    let mut counter = 0u32;
    while out.len() < len {
        out.extend_from_slice(&Sha256::digest(format!("{label}:{counter}").as_bytes()));
        counter += 1;
    }
    out.truncate(len);
    out
}

fn claims(device: &DeviceKey, method: AttestationMethod) -> CaptureClaims {
    CaptureClaims {
        iss: ISSUER.into(),
        aud: AUDIENCE.into(),
        sub: SUBJECT.into(),
        iat: IAT,
        capture_id: CAPTURE_ID.into(),
        publisher_id: "8d6f4c2a-1b3e-4f5a-9c7d-0e1f2a3b4c5d".into(),
        device_id: "c4b3a291-7e6d-4c5b-8a9f-0b1c2d3e4f50".into(),
        attestation: Attestation {
            method,
            app_id: (method != AttestationMethod::Sandbox).then(|| "io.proofmark.capture".to_owned()),
        },
        device_public_key_fingerprint: Some(device.public_key().fingerprint()),
        layout: ClaimLayout::Current,
    }
}

struct Vector {
    name: &'static str,
    description: &'static str,
    media: Vec<u8>,
    sidecar: Vec<u8>,
    /// Why the official validator is expected to disagree, or cannot be asked.
    signedshot: Option<&'static str>,
}

fn header(alg: &str, kid: &str) -> String {
    format!(r#"{{"alg":"{alg}","kid":"{kid}","typ":"JWT"}}"#)
}

fn b64url(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

fn hmac_sha256(key: &[u8], msg: &[u8]) -> [u8; 32] {
    let mut k = [0u8; 64];
    if key.len() > 64 {
        k[..32].copy_from_slice(&Sha256::digest(key));
    } else {
        k[..key.len()].copy_from_slice(key);
    }
    let inner: Vec<u8> = k.iter().map(|b| b ^ 0x36).chain(msg.iter().copied()).collect();
    let inner_hash = Sha256::digest(&inner);
    let outer: Vec<u8> = k.iter().map(|b| b ^ 0x5c).chain(inner_hash.iter().copied()).collect();
    Sha256::digest(&outer).into()
}

/// Apple `JSONEncoder` with `[.prettyPrinted, .sortedKeys]`: sorted keys, 2-space indent, `"key" : value`,
/// `/` escaped as `\/`, no trailing newline. Only objects and strings occur in a sidecar.
fn apple_json(v: &Value, indent: usize, out: &mut String) {
    match v {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            out.push_str("{\n");
            for (i, k) in keys.iter().enumerate() {
                out.push_str(&"  ".repeat(indent + 1));
                out.push_str(&apple_string(k));
                out.push_str(" : ");
                apple_json(&map[k.as_str()], indent + 1, out);
                if i + 1 < keys.len() {
                    out.push(',');
                }
                out.push('\n');
            }
            out.push_str(&"  ".repeat(indent));
            out.push('}');
        }
        Value::String(s) => out.push_str(&apple_string(s)),
        other => out.push_str(&other.to_string()),
    }
}

fn apple_string(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_default().replace('/', "\\/")
}

fn sidecar_bytes(s: &Sidecar) -> Vec<u8> {
    s.to_json_pretty().into_bytes()
}

fn gen_vectors(out: &Path) -> Result<()> {
    let issuer = issuer_key("proofmark test vectors: issuer");
    let other_issuer = issuer_key("proofmark test vectors: another issuer");
    let device = device_key("proofmark test vectors: device");
    let other_device = device_key("proofmark test vectors: another device");
    let body = media("proofmark test vectors: media", 4096);
    let hash = ContentHash::of(&body);
    let good_claims = claims(&device, AttestationMethod::AppCheck);
    let good_jwt = jwt::mint(&good_claims, &issuer);
    let build = |jwt: String| Sidecar::build(&hash, &device, CAPTURE_ID, CAPTURED_AT, jwt);
    let valid = build(good_jwt.clone());
    let with_payload = |payload: &str| jwt::sign_compact(&header("ES256", issuer.kid()), payload, &issuer);

    let mut vectors = Vec::new();
    let mut push = |name, description, media: &[u8], sidecar: Vec<u8>, signedshot| {
        vectors.push(Vector { name, description, media: media.to_vec(), sidecar, signedshot });
    };
    push(
        "valid",
        "A capture written by proofmark-core: app_check attestation, current claim layout.",
        &body,
        sidecar_bytes(&valid),
        None,
    );

    let sandbox = build(jwt::mint(&claims(&device, AttestationMethod::Sandbox), &issuer));
    push(
        "valid_sandbox",
        "Valid, from a sandbox (unattested) device: passes unless the policy rejects sandbox.",
        &body,
        sidecar_bytes(&sandbox),
        None,
    );

    // The iOS writer's formatting; pick a device key whose base64 contains '/' so `\/` is exercised.
    let (ios_device, ios_claims) = (0..)
        .map(|i| device_key(&format!("proofmark test vectors: ios device {i}")))
        .find(|d| d.public_key().to_base64().contains('/'))
        .map(|d| {
            let c = claims(&d, AttestationMethod::AppCheck);
            (d, c)
        })
        .context("no key with '/'")?;
    let ios = Sidecar::build(&hash, &ios_device, CAPTURE_ID, CAPTURED_AT, jwt::mint(&ios_claims, &issuer));
    let mut ios_text = String::new();
    apple_json(&serde_json::to_value(&ios)?, 0, &mut ios_text);
    push(
        "ios_formatting",
        "Valid, written as the iOS app writes: sorted keys, `\"key\" : value`, `\\/` escapes, no trailing newline.",
        &body,
        ios_text.into_bytes(),
        None,
    );

    let mut tampered = body.clone();
    tampered[100] ^= 0x01;
    push("tampered_media", "One bit of the media flipped after signing.", &tampered, sidecar_bytes(&valid), None);

    let mut s = Sidecar::build(&hash, &device, "3f2c8a1e-5b7d-4e9a-8c6f-000000000000", CAPTURED_AT, good_jwt.clone());
    push(
        "wrong_capture_id",
        "The sidecar's capture_id (signed by the device) differs from the token's.",
        &body,
        sidecar_bytes(&s),
        None,
    );

    let mut c = good_claims.clone();
    c.device_public_key_fingerprint = Some(other_device.public_key().fingerprint());
    push(
        "wrong_fingerprint",
        "The token binds another device key.",
        &body,
        sidecar_bytes(&build(jwt::mint(&c, &issuer))),
        None,
    );

    s = valid.clone();
    s.media_integrity.signature = device.sign(b"some other message").to_der_base64();
    push("bad_device_signature", "The device signature is over another message.", &body, sidecar_bytes(&s), None);

    s = valid.clone();
    let sig = DeviceSignature::from_base64(&valid.media_integrity.signature)?;
    s.media_integrity.signature = base64::engine::general_purpose::STANDARD.encode(sig.to_raw());
    push(
        "raw_signature",
        "The device signature as raw r||s (64 bytes) instead of DER.",
        &body,
        sidecar_bytes(&s),
        None,
    );

    s = valid.clone();
    let mut compressed = vec![2 + (device.public_key().as_sec1()[64] & 1)];
    compressed.extend_from_slice(&device.public_key().as_sec1()[1..33]);
    s.media_integrity.public_key = base64::engine::general_purpose::STANDARD.encode(&compressed);
    push("compressed_public_key", "The device key as a 33-byte compressed point.", &body, sidecar_bytes(&s), None);

    let unknown = jwt::sign_compact(&header("ES256", &"0".repeat(64)), &good_claims.to_payload_json(), &issuer);
    push("unknown_kid", "The token names a kid that is not in the JWKS.", &body, sidecar_bytes(&build(unknown)), None);

    let forged = jwt::sign_compact(&header("ES256", issuer.kid()), &good_claims.to_payload_json(), &other_issuer);
    push(
        "wrong_issuer_key",
        "The token carries the issuer's kid but is signed by another key.",
        &body,
        sidecar_bytes(&build(forged)),
        None,
    );

    let payload = b64url(good_claims.to_payload_json().as_bytes());
    let none = format!("{}.{payload}.", b64url(header("none", issuer.kid()).as_bytes()));
    push("alg_none", "An unsigned token (alg none).", &body, sidecar_bytes(&build(none)), None);

    let jwks_json = Jwks { keys: vec![issuer.public_jwk()], skipped: vec![] }.to_json();
    let input = format!("{}.{payload}", b64url(header("HS256", issuer.kid()).as_bytes()));
    let mac = hmac_sha256(jwks_json.as_bytes(), input.as_bytes());
    push(
        "hs256_confusion",
        "HS256 with the issuer's public JWKS as the HMAC secret (algorithm confusion).",
        &body,
        sidecar_bytes(&build(format!("{input}.{}", b64url(&mac)))),
        None,
    );

    let es384 = jwt::sign_compact(&header("ES384", issuer.kid()), &good_claims.to_payload_json(), &issuer);
    push("alg_es384", "The header claims ES384.", &body, sidecar_bytes(&build(es384)), None);

    let mut p: Value = serde_json::from_str(&good_claims.to_payload_json())?;
    p["aud"] = json!("someone-else");
    push(
        "aud_mismatch",
        "aud is not \"signedshot\".",
        &body,
        sidecar_bytes(&build(with_payload(&p.to_string()))),
        None,
    );
    p["aud"] = json!(["signedshot"]);
    push(
        "aud_array",
        "aud is an array, not the string \"signedshot\".",
        &body,
        sidecar_bytes(&build(with_payload(&p.to_string()))),
        None,
    );

    let no_kid = jwt::sign_compact(r#"{"alg":"ES256","typ":"JWT"}"#, &good_claims.to_payload_json(), &issuer);
    push("missing_kid", "The token header has no kid.", &body, sidecar_bytes(&build(no_kid)), None);

    s = valid.clone();
    s.version = "1.1".into();
    push("version_1_1", "Sidecar version \"1.1\".", &body, sidecar_bytes(&s), None);

    let mut legacy = claims(&device, AttestationMethod::Sandbox);
    legacy.layout = ClaimLayout::Legacy;
    legacy.device_public_key_fingerprint = None;
    push(
        "legacy_layout",
        "Legacy claim layout (top-level method, no fingerprint), as real sidecars before 2026-01-28.",
        &body,
        sidecar_bytes(&build(jwt::mint(&legacy, &issuer))),
        Some("signedshot 0.1.9 refuses the legacy layout outright (missing field `attestation`); Proofmark accepts it with the legacy_claim_layout finding (SPEC §1.2)"),
    );

    let mut unbound = good_claims.clone();
    unbound.device_public_key_fingerprint = None;
    push(
        "missing_fingerprint",
        "Current claim layout without device_public_key_fingerprint: the token does not bind the device key.",
        &body,
        sidecar_bytes(&build(jwt::mint(&unbound, &issuer))),
        Some("signedshot 0.1.9 requires the fingerprint claim (missing field); Proofmark verifies it with the device_key_unbound finding, and --reject-legacy refuses it"),
    );

    s = valid.clone();
    let sig = DeviceSignature::from_base64(&valid.media_integrity.signature)?;
    let high = if sig.is_high_s() { sig } else { sig.flip_s() };
    s.media_integrity.signature = high.to_der_base64();
    push(
        "high_s",
        "Valid, with a high-S device signature (as the Secure Enclave writes).",
        &body,
        sidecar_bytes(&s),
        None,
    );

    let full = sidecar_bytes(&valid);
    push("truncated_json", "The valid sidecar cut off half way.", &body, full[..full.len() / 2].to_vec(), None);

    let mut big: Value = serde_json::to_value(&valid)?;
    big["padding"] = json!("x".repeat(100 * 1024));
    push(
        "oversized_json",
        "A valid sidecar padded past the 64 KiB limit with an unknown field.",
        &body,
        serde_json::to_vec_pretty(&big)?,
        Some(
            "signedshot 0.1.9 has no size limit and accepts it; Proofmark refuses sidecars over 64 KiB before parsing",
        ),
    );

    let mut bytes = full.clone();
    let at = bytes.len() - 2; // before the final "}\n"
    bytes.splice(at..at, b",\n  \"note\": \"caf\xe9\"".iter().copied());
    push(
        "non_utf8",
        "A valid sidecar with a Latin-1 byte in an unknown field: not UTF-8.",
        &body,
        bytes,
        Some("no opinion: the Python API takes a str, and these bytes are not UTF-8"),
    );

    write_vectors(out, &issuer, &vectors)
}

fn write_vectors(out: &Path, issuer: &IssuerKey, vectors: &[Vector]) -> Result<()> {
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    let jwks = Jwks { keys: vec![issuer.public_jwk()], skipped: vec![] };
    let mut jwks_json: Value = serde_json::from_str(&jwks.to_json())?;
    jwks_json = json!({ "keys": jwks_json["keys"] });
    std::fs::write(out.join("jwks.json"), format!("{}\n", serde_json::to_string_pretty(&jwks_json)?))?;
    let mut manifest = Vec::new();
    for v in vectors {
        std::fs::write(out.join(format!("{}.bin", v.name)), &v.media)?;
        std::fs::write(out.join(format!("{}.sidecar.json", v.name)), &v.sidecar)?;
        manifest.push(json!({
            "name": v.name,
            "description": v.description,
            "media": format!("{}.bin", v.name),
            "sidecar": format!("{}.sidecar.json", v.name),
            "signedshot_divergence": v.signedshot,
        }));
    }
    let doc = json!({
        "generator": "cargo xtask gen-vectors",
        "issuer": ISSUER,
        "jwks": "jwks.json",
        "vectors": manifest,
    });
    std::fs::write(out.join("manifest.json"), format!("{}\n", serde_json::to_string_pretty(&doc)?))?;
    println!("wrote {} vectors to {}", vectors.len(), out.display());
    Ok(())
}
