//! The server's fuzz bodies (`proofmark_server::fuzzing`) on every commit, without libFuzzer: over the seed
//! corpora in `fuzz/seeds/` and deterministic mutations of them. `requests` drives the real router
//! (multipart `/validate`, the JSON bodies with PATCH's `nullable` fields, the bearer and client-address
//! parsers) and asserts no input gets a 5xx.
use std::path::PathBuf;

use proofmark_server::fuzzing;

fn seeds(target: &str) -> Vec<Vec<u8>> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/seeds").join(target);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().path()).collect();
    files.sort();
    files.iter().map(|p| std::fs::read(p).unwrap()).collect()
}

fn mutations(seeds: &[Vec<u8>], count: usize) -> Vec<Vec<u8>> {
    let mut x = 0xd1b5_4a32_d192_ed03u64;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    (0..count)
        .map(|i| {
            let mut v = seeds[i % seeds.len()].clone();
            for _ in 0..=(next() % 3) {
                // Keep the route byte most of the time, so every route sees mutated bodies.
                let at = if v.len() <= 1 { v.len() } else { 1 + (next() as usize) % (v.len() - 1) };
                match next() % 5 {
                    0 => v.truncate(at),
                    1 if at < v.len() => v[at] ^= 1 << (next() % 8),
                    2 => v.insert(at, (next() & 0xff) as u8),
                    3 if at < v.len() => {
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

#[test]
fn app_check_body_over_seeds_and_mutations() {
    let seeds = seeds("app_check");
    for input in seeds.iter().cloned().chain(mutations(&seeds, 3000)) {
        fuzzing::app_check(&input);
    }
}

#[test]
fn request_body_over_seeds_and_mutations() {
    let seeds = seeds("requests");
    // The seeds reach each handler's real work (files in name order): a publisher created, patched with
    // nulls, a device registered, a session opened by the fixture's device, its trust request refused at
    // the nonce (400: the store was asked), a capture validated.
    let statuses: Vec<Option<u16>> = seeds.iter().map(|s| fuzzing::requests(s).map(|c| c.as_u16())).collect();
    assert_eq!(statuses, [Some(201), Some(200), Some(201), Some(201), Some(400), Some(200)]);
    let mut seen = std::collections::BTreeSet::new();
    for input in mutations(&seeds, 600) {
        seen.extend(fuzzing::requests(&input).map(|c| c.as_u16()));
    }
    assert!(seen.len() >= 5, "the mutations reach several outcomes: {seen:?}");
}
