//! Files from the filesystem are read with bounds: special files are refused at once, image input is capped
//! before decoding, and folder scans neither loop nor lose what they find.
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::support::*;

/// Runs proofmark with a deadline: a command that hangs (on a FIFO, say) fails the test instead of the run.
fn proofmark_within(args: &[&str], limit: Duration) -> std::process::Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_proofmark"))
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let t = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if t.elapsed() > limit {
            let _ = child.kill();
            panic!("proofmark {args:?} was still running after {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().unwrap()
}

fn mkfifo(path: &std::path::Path) {
    assert!(Command::new("mkfifo").arg(path).status().unwrap().success());
}

#[test]
fn special_files_are_refused_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("photo.jpg");
    mkfifo(&fifo);
    std::fs::copy(vectors().join("valid.sidecar.json"), dir.path().join("photo.sidecar.json")).unwrap();
    let key = dir.path().join("wm.key");
    assert!(proofmark(&["watermark", "keygen", key.to_str().unwrap()]).status.success());
    let f = fifo.to_str().unwrap();
    let k = key.to_str().unwrap();
    for (args, want) in [
        (vec!["phash", "/dev/zero"], "/dev/zero is a character device, not a regular file"),
        (vec!["phash", f], "photo.jpg is a FIFO (named pipe), not a regular file"),
        (vec!["watermark", "extract", "--key-file", k, "/dev/zero"], "not a regular file"),
        (vec!["watermark", "extract", "--key-file", k, f], "is a FIFO (named pipe), not a regular file"),
        (vec!["watermark", "embed", "--key-file", k, "--payload", &"0".repeat(32), f, "/dev/null"], "is a FIFO"),
        (vec!["verify", f, "--jwks", "/dev/null"], "cannot read JWKS file /dev/null"),
    ] {
        let out = proofmark_within(&args, Duration::from_secs(10));
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}{}", stdout(&out), stderr(&out));
        assert!(stderr(&out).contains(want), "{args:?}: {}", stderr(&out));
    }
    let jwks = format!("https://capture.proofmark.test={}", vectors().join("jwks.json").display());
    let out = proofmark_within(&["verify", f, "--jwks", &jwks], Duration::from_secs(10));
    assert_eq!(out.status.code(), Some(2), "{}", stdout(&out));
    assert!(stdout(&out).contains("is a FIFO (named pipe), not a regular file"), "{}", stdout(&out));
    // A FIFO in the sidecar's place is refused the same way.
    let media = dir.path().join("clip.mp4");
    std::fs::write(&media, b"bytes").unwrap();
    mkfifo(&dir.path().join("clip.sidecar.json"));
    let out = proofmark_within(&["verify", media.to_str().unwrap(), "--jwks", &jwks], Duration::from_secs(10));
    assert_eq!(out.status.code(), Some(2), "{}", stdout(&out));
    assert!(stdout(&out).contains("cannot read sidecar"), "{}", stdout(&out));
}

#[test]
fn image_input_is_capped_before_decoding() {
    let images = repo().join("../shared/images");
    let rocket = images.join("rocket.jpg");
    let size = std::fs::metadata(&rocket).unwrap().len();
    let out = proofmark(&["phash", "--max-input-bytes", &(size - 1).to_string(), rocket.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains(&format!("is larger than {} bytes (--max-input-bytes", size - 1)),
        "{}",
        stderr(&out)
    );
    let out = proofmark_env(&["phash", rocket.to_str().unwrap()], &[("PROOFMARK_MAX_INPUT_BYTES", "1000")]);
    assert_eq!(out.status.code(), Some(2), "the limit is also an environment variable");
    let out = proofmark(&["phash", "--max-input-bytes", &size.to_string(), rocket.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));

    // `-` is standard input, with the same cap.
    let run_stdin = |cap: u64| {
        Command::new(env!("CARGO_BIN_EXE_proofmark"))
            .args(["phash", "--max-input-bytes", &cap.to_string(), "-"])
            .stdin(std::fs::File::open(&rocket).unwrap())
            .output()
            .unwrap()
    };
    let out = run_stdin(size);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(stdout(&out).starts_with("c0371bec1be51267  -"), "{}", stdout(&out));
    let out = run_stdin(size / 2);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("standard input is larger than"), "{}", stderr(&out));
}

#[cfg(unix)]
#[test]
fn folder_scans_do_not_loop_and_lose_nothing() {
    use std::os::unix::ffi::OsStrExt;
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("d");
    std::fs::create_dir_all(root.join("sub")).unwrap();
    let capturer = Capturer::new("https://capture.example");
    capturer.capture(&root, "a.jpg", b"first");
    capturer.capture(&root.join("sub"), "b.jpg", b"second");
    // A name that is not UTF-8, with its sidecar.
    let odd = std::ffi::OsStr::from_bytes(b"ph\xffto.jpg");
    let made = capturer.capture(&root, "odd.jpg", b"third");
    std::fs::rename(&made, root.join(odd)).unwrap();
    std::fs::rename(root.join("odd.sidecar.json"), root.join(std::ffi::OsStr::from_bytes(b"ph\xffto.sidecar.json")))
        .unwrap();
    std::os::unix::fs::symlink("..", root.join("loop")).unwrap();
    std::os::unix::fs::symlink(root.join("sub"), root.join("linked-sub")).unwrap();
    std::os::unix::fs::symlink(root.join("missing"), root.join("broken.jpg")).unwrap();
    mkfifo(&root.join("pipe.jpg"));
    std::fs::write(root.join("pipe.sidecar.json"), b"{}").unwrap();
    std::fs::write(dir.path().join("jwks.json"), capturer.jwks()).unwrap();
    let jwks = format!("https://capture.example={}", dir.path().join("jwks.json").display());

    let out = proofmark_within(&["verify", root.to_str().unwrap(), "--jwks", &jwks], Duration::from_secs(20));
    let (text, err) = (stdout(&out), stderr(&out));
    assert_eq!(out.status.code(), Some(2), "the broken link could not be verified: {text}{err}");
    assert!(!text.contains("Too many levels") && !err.contains("Too many levels"), "{text}{err}");
    assert!(text.contains("a.jpg") && text.contains("sub/b.jpg"), "{text}");
    assert!(text.contains("ph\\xffto.jpg"), "the non-UTF-8 name is listed, escaped: {text}");
    assert!(text.contains("broken.jpg") && text.contains("cannot read (broken link?)"), "{text}");
    assert!(
        text.ends_with("4 files: 3 trusted, 0 valid, 0 invalid, 1 could not be verified\n"),
        "linked-sub and loop are not followed: {text}"
    );
    assert!(err.contains("linked-sub: a link to a folder, not followed"), "{err}");
    assert!(err.contains("loop: a link to a folder, not followed"), "{err}");
    assert!(err.contains("pipe.jpg: a FIFO (named pipe), skipped"), "{err}");
}
