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

/// `count` inputs derived from the seeds by a fixed xorshift stream (the same inputs on every run).
pub fn mutations(seeds: &[Vec<u8>], count: usize) -> Vec<Vec<u8>> {
    let mut x = 0x2545_f491_4f6c_dd1du64;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    (0..count)
        .map(|i| {
            let mut v = seeds[i % seeds.len()].clone();
            for _ in 0..=(next() % 4) {
                let at = if v.is_empty() { 0 } else { (next() as usize) % v.len() };
                match next() % 5 {
                    0 => v.truncate(at),
                    1 if !v.is_empty() => v[at] ^= 1 << (next() % 8),
                    2 => v.insert(at, (next() & 0xff) as u8),
                    3 if !v.is_empty() => {
                        v.remove(at);
                    }
                    _ => {
                        let other = &seeds[(next() as usize) % seeds.len()];
                        let from = if other.is_empty() { 0 } else { (next() as usize) % other.len() };
                        v.truncate(at);
                        v.extend_from_slice(&other[from..]);
                    }
                }
            }
            v
        })
        .collect()
}

/// Runs the body over the seeds and `generated` mutations, counting the inputs `accepted` takes: some must be
/// taken and some refused, so the mutations reach both sides of the parser.
fn run(target: &str, body: fn(&[u8]), accepted: fn(&[u8]) -> bool, generated: usize) {
    let seeds = seeds(target);
    let inputs: Vec<Vec<u8>> = seeds.iter().cloned().chain(mutations(&seeds, generated)).collect();
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
