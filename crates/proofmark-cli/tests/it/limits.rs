//! The documented limits of `proofmark verify`, each at its edge: the 1 MiB sidecar and JWKS caps, a
//! byte-order mark, and a real network timeout (a listener that accepts and never answers).
use std::time::{Duration, Instant};

use crate::support::*;

fn bound_jwks(path: &std::path::Path) -> String {
    format!("https://capture.example={}", path.display())
}

#[test]
fn sidecar_and_jwks_files_are_capped_at_one_mebibyte() {
    let dir = tempfile::tempdir().unwrap();
    let capturer = Capturer::new("https://capture.example");
    let media = capturer.capture(dir.path(), "photo.jpg", b"pixels");
    let sidecar = dir.path().join("photo.sidecar.json");
    let jwks = dir.path().join("jwks.json");
    std::fs::write(&jwks, capturer.jwks()).unwrap();
    let m = media.to_str().unwrap();
    let trusted = proofmark(&["verify", m, "--jwks", &bound_jwks(&jwks)]);
    assert_eq!(trusted.status.code(), Some(0), "{}", stdout(&trusted));

    // Padding inside the JSON keeps it valid: exactly 1 MiB is read (and refused by the 64 KiB parser
    // limit as sidecar_too_large: invalid), one byte more is not read at all (could not verify).
    let text = std::fs::read_to_string(&sidecar).unwrap();
    let pad = |total: usize| format!("{}{}", text.trim_end(), " ".repeat(total - text.trim_end().len()));
    std::fs::write(&sidecar, pad(1024 * 1024)).unwrap();
    let out = proofmark(&["verify", m, "--jwks", &bound_jwks(&jwks)]);
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    assert!(stdout(&out).contains("[sidecar_too_large]"), "{}", stdout(&out));
    std::fs::write(&sidecar, pad(1024 * 1024 + 1)).unwrap();
    let out = proofmark(&["verify", m, "--jwks", &bound_jwks(&jwks)]);
    assert_eq!(out.status.code(), Some(2), "{}", stdout(&out));
    assert!(
        stdout(&out).contains("the file is larger than 1048576 bytes; a sidecar is about 1 KB"),
        "{}",
        stdout(&out)
    );

    // A UTF-8 byte-order mark before the sidecar is skipped (iOS tools write one).
    std::fs::write(&sidecar, format!("\u{feff}{text}")).unwrap();
    let out = proofmark(&["verify", m, "--jwks", &bound_jwks(&jwks)]);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    std::fs::write(&sidecar, &text).unwrap();

    // The JWKS file: 1 MiB of padding inside the object parses, one byte more is refused unread.
    let keys = capturer.jwks();
    let padded = |total: usize| {
        let body = keys.trim_end().strip_suffix('}').unwrap();
        let fill = total - body.len() - 1;
        format!("{body}{}}}", " ".repeat(fill))
    };
    std::fs::write(&jwks, padded(1024 * 1024)).unwrap();
    let out = proofmark(&["verify", m, "--jwks", &bound_jwks(&jwks)]);
    assert_eq!(out.status.code(), Some(0), "{}{}", stdout(&out), stderr(&out));
    std::fs::write(&jwks, padded(1024 * 1024 + 1)).unwrap();
    let out = proofmark(&["verify", m, "--jwks", &bound_jwks(&jwks)]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("is larger than 1048576 bytes"), "{}", stderr(&out));
}

/// A JWKS server that answers with more than 1 MiB is cut off at the cap.
#[test]
fn a_fetched_key_set_over_one_mebibyte_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let placeholder = Capturer::new("http://placeholder");
    let keys = placeholder.jwks();
    let huge = format!("{}{}}}", keys.trim_end().strip_suffix('}').unwrap(), " ".repeat(1024 * 1024));
    let server = JwksServer::start(huge);
    let capturer = Capturer { iss: server.url.clone(), ..placeholder };
    let media = capturer.capture(dir.path(), "photo.jpg", b"pixels");
    let out = proofmark(&["verify", "--trust-issuer", &server.url, media.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2), "{}", stdout(&out));
    assert!(stdout(&out).contains("the key set is larger than 1048576 bytes"), "{}", stdout(&out));
}

/// A listener that accepts and never answers: the run's deadline ends the fetch (not a refused port).
#[test]
fn a_silent_issuer_times_out_within_the_deadline() {
    let dir = tempfile::tempdir().unwrap();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let held = std::thread::spawn(move || {
        let mut open = Vec::new();
        for stream in listener.incoming().take(4) {
            open.push(stream);
        }
        std::thread::sleep(Duration::from_secs(8));
    });
    let capturer = Capturer::new(&url);
    let media = capturer.capture(dir.path(), "photo.jpg", b"pixels");
    let t = Instant::now();
    let out = proofmark(&["verify", "--timeout", "2", media.to_str().unwrap()]);
    let took = t.elapsed();
    assert_eq!(out.status.code(), Some(2), "{}", stdout(&out));
    assert!(
        stdout(&out).contains(&format!(": could not verify: could not fetch keys for issuer {url}\n")),
        "{}",
        stdout(&out)
    );
    assert!(took >= Duration::from_millis(1800) && took < Duration::from_secs(6), "{took:?}");
    // Typed by the user, the same failure says what happened.
    let out = proofmark(&["verify", "--timeout", "1", "--trust-issuer", &url, media.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2), "{}", stdout(&out));
    assert!(stdout(&out).to_lowercase().contains("timed out"), "{}", stdout(&out));
    drop(held);
}
