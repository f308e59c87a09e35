//! The fuzz targets' bodies (`proofmark_core::fuzzing`) on every commit, without libFuzzer: over their seed
//! corpora in `fuzz/seeds/` and a few thousand deterministic mutations of them (truncations, bit flips,
//! byte insertions and deletions, splices). The bodies' own round-trip assertions run on each input.
use std::path::PathBuf;

use proofmark_core::fuzzing;

fn seeds(target: &str) -> Vec<Vec<u8>> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/seeds").join(target);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().path()).collect();
    files.sort();
    let seeds: Vec<Vec<u8>> = files.iter().map(|p| std::fs::read(p).unwrap()).collect();
    assert!(!seeds.is_empty(), "no seeds in {}", dir.display());
    seeds
}

/// Runs the body over the seeds and `generated` mutations, counting the inputs `accepted` takes: some must be
/// taken and some refused, so the mutations reach both sides of the parser.
fn run(target: &str, body: fn(&[u8]), accepted: fn(&[u8]) -> bool, generated: usize) {
    let seeds = seeds(target);
    let inputs: Vec<Vec<u8>> =
        seeds.iter().cloned().chain(proofmark_core::fuzzing::mutations(&seeds, generated, 0)).collect();
    let mut taken = 0;
    for input in &inputs {
        body(input);
        taken += usize::from(accepted(input));
    }
    assert!(taken > 0 && taken < inputs.len(), "{target}: {taken} of {} inputs accepted", inputs.len());
}

#[test]
fn sidecar_body_over_seeds_and_mutations() {
    run("sidecar", fuzzing::sidecar, |d| proofmark_core::Sidecar::parse(d).is_ok(), 3000);
}

#[test]
fn jwt_body_over_seeds_and_mutations() {
    let decodes = |d: &[u8]| std::str::from_utf8(d).is_ok_and(|t| proofmark_core::jwt::DecodedJwt::decode(t).is_ok());
    run("jwt", fuzzing::jwt, decodes, 3000);
}

#[test]
fn jwks_body_over_seeds_and_mutations() {
    run("jwks", fuzzing::jwks, |d| proofmark_core::Jwks::parse(d).is_ok_and(|s| !s.keys.is_empty()), 3000);
}

#[test]
fn issuer_url_body_over_seeds_and_mutations() {
    let vetted = |d: &[u8]| {
        std::str::from_utf8(d).is_ok_and(|t| proofmark_core::fetch_rules::FetchTarget::issuer_jwks(t, false).is_ok())
    };
    run("issuer_url", fuzzing::issuer_url, vetted, 5000);
}

#[test]
fn tlog_body_over_seeds_and_mutations() {
    let parses = |d: &[u8]| {
        use proofmark_core::tlog::{Note, Receipt, RecordLeaf};
        Note::parse(d).is_ok() || RecordLeaf::parse(d).is_ok() || Receipt::parse(d).is_ok()
    };
    run("tlog", fuzzing::tlog, parses, 5000);
}
