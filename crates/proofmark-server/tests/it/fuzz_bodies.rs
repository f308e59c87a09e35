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

#[test]
fn app_check_body_over_seeds_and_mutations() {
    let seeds = seeds("app_check");
    for input in seeds.iter().cloned().chain(proofmark_core::fuzzing::mutations(&seeds, 3000, 0)) {
        fuzzing::app_check(&input);
    }
}

#[test]
fn request_body_over_seeds_and_mutations() {
    let seeds = seeds("requests");
    // The seeds reach each handler's real work (files in name order): the fixture owner logged in, an
    // organisation registered, an API key made with the owner's session, a publisher created, patched with
    // nulls, a device registered, a session opened by the fixture's device, a 100x100 PNG signed, its trust
    // request refused at the nonce (400: the store was asked), a capture validated, a PNG verified with a sidecar,
    // a webhook added.
    let statuses: Vec<Option<u16>> = seeds.iter().map(|s| fuzzing::requests(s).map(|c| c.as_u16())).collect();
    let want = [200, 201, 201, 201, 200, 201, 201, 201, 400, 200, 200, 201].map(Some);
    assert_eq!(statuses, want);
    let mut seen = std::collections::BTreeSet::new();
    for input in proofmark_core::fuzzing::mutations(&seeds, 600, 1) {
        seen.extend(fuzzing::requests(&input).map(|c| c.as_u16()));
    }
    assert!(seen.len() >= 5, "the mutations reach several outcomes: {seen:?}");
}
