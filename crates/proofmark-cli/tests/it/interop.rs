//! The official SignedShot validator (PyPI `signedshot==0.1.9`) agrees with Proofmark on every vector
//! where it has an opinion (scripts/interop_signedshot.py). `scripts/test.sh` creates the virtualenv and sets
//! PROOFMARK_PYTHON; without it the test fails in CI and says how to run it elsewhere.
use std::process::Command;

use crate::support::*;

#[test]
fn official_validator_agrees() {
    let Some(python) = std::env::var_os("PROOFMARK_PYTHON") else {
        if std::env::var_os("CI").is_some() || std::env::var_os("PROOFMARK_REQUIRE_CHECKERS").is_some() {
            panic!("PROOFMARK_PYTHON is not set: run the tests with scripts/test.sh, which installs signedshot==0.1.9");
        }
        eprintln!("SKIPPED official_validator_agrees: PROOFMARK_PYTHON not set (scripts/test.sh sets it)");
        return;
    };
    let out = Command::new(python)
        .arg(repo().join("scripts/interop_signedshot.py"))
        .arg(env!("CARGO_BIN_EXE_proofmark"))
        .arg(vectors())
        .arg(repo().join("../shared/signedshot-vectors"))
        .output()
        .expect("run python");
    let text = format!("{}{}", stdout(&out), stderr(&out));
    println!("{text}");
    assert!(out.status.success(), "the official validator and Proofmark disagree:\n{text}");
    assert!(text.contains(" passed, 0 failed"), "{text}");
}
