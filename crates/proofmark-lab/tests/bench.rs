//! `proofmark-lab`: each benchmark runs, as a smoke test (the real runs are the scripts/bench-*.sh).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;
use std::process::{Command, Output};

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn lab(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_proofmark-lab")).args(args).output().expect("run proofmark-lab")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// The watermark benchmark end to end, as a smoke run, with the Python baseline when the test environment has
/// it (scripts/test.sh installs it; CI requires it).
#[test]
fn bench_watermark_prints_the_table_and_the_baseline() {
    let images = repo().join("../shared/images");
    let dir = tempfile::tempdir().unwrap();
    // A smoke run (one image, four attacks, the baseline once): the full table is scripts/bench-watermark.sh.
    std::fs::copy(images.join("astronaut.png"), dir.path().join("astronaut.png")).unwrap();
    let python = std::env::var("PROOFMARK_PYTHON").ok();
    if python.is_none() && std::env::var("CI").is_ok() {
        panic!("PROOFMARK_PYTHON (with invisible-watermark) is required in CI");
    }
    let script = repo().join("scripts/iwm_baseline.py");
    let mut args = vec![
        "watermark".to_owned(),
        "--images".into(),
        dir.path().to_str().unwrap().into(),
        "--large".into(),
        "0".into(),
        "--false-positive-images".into(),
        "6".into(),
        "--quick".into(),
        "--baseline-script".into(),
        script.to_str().unwrap().into(),
    ];
    if let Some(p) = &python {
        args.extend(["--baseline-python".into(), p.clone()]);
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = lab(&args);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.contains("none (PNG round trip)"), "{text}");
    assert!(text.contains("crop-centre-10%+resize0.5x+jpeg75"), "{text}");
    assert!(text.contains("minimum PSNR(Y): ours"), "{text}");
    assert!(text.contains("false accepts on unmarked images: 0 of 6"), "{text}");
    assert!(text.contains("jpeg75") && text.contains("resize0.5x"), "{text}");
    assert!(!text.contains("webp75"), "--quick leaves the rest of the suite out: {text}");
    if python.is_some() {
        assert!(text.contains("dwtDctSvd"), "{text}");
    }
}

#[test]
fn phash_benchmarks_print_their_figures() {
    let images = repo().join("../shared/images");
    let out = lab(&["phash", "--runs", "2", images.join("astronaut.png").to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(stdout(&out).contains("astronaut.png"), "{}", stdout(&out));
    let out = lab(&["phash-index", "--hashes", "20000", "--queries", "10"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(stdout(&out).to_lowercase().contains("recall"), "{}", stdout(&out));
}
