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

fn run(target: &str, body: fn(&[u8]), generated: usize) -> usize {
    let seeds = seeds(target);
    let inputs: Vec<Vec<u8>> = seeds.iter().cloned().chain(mutations(&seeds, generated)).collect();
    for input in &inputs {
        body(input);
    }
    inputs.len()
}

#[test]
fn sidecar_body_over_seeds_and_mutations() {
    assert!(run("sidecar", fuzzing::sidecar, 3000) > 3000);
}

#[test]
fn jwt_body_over_seeds_and_mutations() {
    assert!(run("jwt", fuzzing::jwt, 3000) > 3000);
}

#[test]
fn jwks_body_over_seeds_and_mutations() {
    assert!(run("jwks", fuzzing::jwks, 3000) > 3000);
}

#[test]
fn issuer_url_body_over_seeds_and_mutations() {
    assert!(run("issuer_url", fuzzing::issuer_url, 5000) > 5000);
}
