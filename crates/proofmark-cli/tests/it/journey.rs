//! A new user's journey against a real `proofmark serve`: sign a photo, check its log receipt offline, push
//! the watermarked file through a social-media-like pipeline (Pillow: resized, cropped, re-encoded, metadata
//! gone), and verify the result with `proofmark verify --server`: the report names the record, the signer,
//! the log entry and what changed.
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::log::{api_key_with, log_vkey, receipt, FAST};
use crate::server::Server;
use crate::support::*;

fn python() -> String {
    std::env::var("PROOFMARK_PYTHON").unwrap_or_else(|_| repo().join(".venv/bin/python").display().to_string())
}

/// Pillow's "social" copy of `input` (resize 0.6, crop 5 %, JPEG 80, no metadata), in `out`.
fn social_copy(input: &Path, out: &Path) -> PathBuf {
    let o = std::process::Command::new(python())
        .arg(repo().join("scripts/social_copies.py"))
        .args([input, out])
        .arg("social")
        .output()
        .unwrap_or_else(|e| panic!("running {} (scripts/test.sh makes the checkers' virtualenv): {e}", python()));
    assert!(o.status.success(), "{}", stderr(&o));
    out.join("social.jpg")
}

#[test]
fn sign_share_and_verify_with_the_server() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start_env(&dir.path().join("data"), &[], &FAST);
    let url = server.url.clone();
    // `read` too: `proofmark sign` downloads the watermarked file.
    let key = api_key_with(&url, "Gazette", &["sign", "read"]);
    let photo = dir.path().join("photo.jpg");
    std::fs::copy(repo().join("../shared/images/rocket.jpg"), &photo).unwrap();
    let out =
        proofmark_env(&["sign", "--server", &url, "--json", photo.to_str().unwrap()], &[("PROOFMARK_API_KEY", &key)]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let id = serde_json::from_str::<Value>(&stdout(&out)).unwrap()[0]["record_id"].as_str().unwrap().to_owned();
    let marked = dir.path().join("photo.proofmark.jpg");
    assert!(marked.is_file());

    // The receipt beside the watermarked file is checked offline, with the log's key.
    receipt(&url, &id, &dir.path().join("photo.proofmark.receipt.json"));
    let vkey = log_vkey(&url);
    let o = proofmark(&["verify", marked.to_str().unwrap(), "--log-key", &vkey]);
    assert_eq!(o.status.code(), Some(0), "{}{}", stdout(&o), stderr(&o));
    let text = stdout(&o);
    assert!(text.contains("photo.proofmark.jpg: receipt "), "{text}");
    assert!(text.contains(": LOGGED\n"), "{text}");
    assert!(text.contains("✓ record_sha256"), "{text}");
    assert!(text.contains(&format!("record {id} · leaf 0 at tree size 1")), "{text}");
    // Without the key nothing is proven; the receipt beside other bytes names the mismatch.
    let o = proofmark(&["verify", marked.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2), "{}", stdout(&o));
    assert!(stdout(&o).contains("[log_key_unavailable]"), "{}", stdout(&o));
    let other = dir.path().join("other.jpg");
    std::fs::copy(repo().join("../shared/images/retina.jpg"), &other).unwrap();
    std::fs::copy(dir.path().join("photo.proofmark.receipt.json"), dir.path().join("other.receipt.json")).unwrap();
    let o = proofmark(&["verify", other.to_str().unwrap(), "--log-key", &vkey]);
    assert_eq!(o.status.code(), Some(1), "{}", stdout(&o));
    assert!(stdout(&o).contains("✗ record_sha256") && stdout(&o).contains("[record_mismatch]"), "{}", stdout(&o));

    // Shared: resized, cropped, re-encoded by Pillow, metadata gone. The server's watermark lookup finds it.
    let shared = social_copy(&marked, &dir.path().join("shared"));
    let o = proofmark(&["verify", shared.to_str().unwrap(), "--server", &url]);
    assert_eq!(o.status.code(), Some(0), "{}{}", stdout(&o), stderr(&o));
    let text = stdout(&o);
    assert!(text.contains("social.jpg: DERIVED FROM A SIGNED ORIGINAL (server)"), "{text}");
    assert!(text.contains(&format!("derived from a signed original: record {id} signed by Gazette on ")), "{text}");
    assert!(text.contains(&format!("log: record {id} is leaf 0 at tree size ")), "{text}");
    assert!(text.contains("~ changed: format: image/jpeg") || text.contains("~ changed: the bytes differ"), "{text}");
    assert!(text.contains("~ changed: dimensions: 640×427 → "), "{text}");
    assert!(text.contains("✓ record_watermark"), "{text}");
    assert!(text.contains("✓ record_signature"), "{text}");
    assert!(text.contains("✓ log_inclusion"), "{text}");
    let o = proofmark(&["verify", "--json", shared.to_str().unwrap(), "--server", &url]);
    let v: Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(v["server"]["verdict"], "derived_from_signed_original", "{v}");
    assert_eq!(v["server"]["content_id"], id.as_str());
    assert_eq!(v["server"]["signer"], "Gazette");

    // A photo no one signed: no record, exit 1. An unreachable server: could not verify, exit 2.
    let o = proofmark(&["verify", other.to_str().unwrap(), "--server", &url, "--log-key", &vkey]);
    assert_eq!(o.status.code(), Some(1), "{}", stdout(&o));
    assert!(stdout(&o).contains("other.jpg: NO RECORD (server)"), "{}", stdout(&o));
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let o = proofmark(&["verify", shared.to_str().unwrap(), "--server", &format!("http://127.0.0.1:{port}")]);
    assert_eq!(o.status.code(), Some(2), "{}", stdout(&o));
    assert!(stdout(&o).contains("could not verify: "), "{}", stdout(&o));
}
