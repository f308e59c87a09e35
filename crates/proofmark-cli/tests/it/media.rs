//! `proofmark phash`.
use crate::support::*;

#[test]
fn phash_prints_imagehash_format_and_fails_cleanly() {
    let images = repo().join("../shared/images");
    let out = proofmark(&[
        "phash",
        images.join("astronaut.png").to_str().unwrap(),
        images.join("rocket.jpg").to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = stdout(&out);
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines[0].starts_with("c2924c5532bddfc8  "), "{text}");
    assert!(lines[1].starts_with("c0371bec1be51267  "), "{text}");

    let dir = tempfile::tempdir().unwrap();
    let bytes = std::fs::read(images.join("rocket.jpg")).unwrap();
    let truncated = dir.path().join("truncated.jpg");
    std::fs::write(&truncated, &bytes[..bytes.len() / 3]).unwrap();
    let text_file = dir.path().join("notes.txt");
    std::fs::write(&text_file, b"hello").unwrap();
    let out = proofmark(&[
        "phash",
        truncated.to_str().unwrap(),
        text_file.to_str().unwrap(),
        images.join("camera.png").to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(err.contains("truncated.jpg: the JPEG image is truncated or corrupt"), "{err}");
    assert!(err.contains("notes.txt: not a supported image (JPEG, PNG, GIF or WebP)"), "{err}");
    assert!(stdout(&out).starts_with("bff1c1c0434e8cbc  "), "the readable file is still hashed");
}

/// The installed binary carries user commands only; the benchmarks are `proofmark-lab`.
#[test]
fn the_binary_ships_only_user_commands() {
    let out = proofmark(&["--help"]);
    let help = stdout(&out);
    for command in ["verify", "serve", "admin", "keys", "device", "capture", "sign", "records", "phash", "watermark"] {
        assert!(help.contains(&format!("  {command} ")), "{command} missing: {help}");
    }
    assert!(!help.contains("  bench "), "{help}");
    let out = proofmark(&["bench", "phash", "x"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("unrecognized subcommand 'bench'"), "{}", stderr(&out));
}
