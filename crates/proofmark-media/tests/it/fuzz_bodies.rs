//! The media fuzz targets' bodies (`proofmark_media::fuzzing`) on every commit, without libFuzzer: over the
//! seed corpora in `fuzz/seeds/` and deterministic mutations of them (truncations, bit flips, byte
//! insertions and deletions, splices). The image body decodes each input twice (grey, colour) and hashes
//! it twice (streamed, decoded), asserting they agree.
use std::path::PathBuf;

use proofmark_media::fuzzing;

fn seeds(target: &str) -> Vec<Vec<u8>> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/seeds").join(target);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().path()).collect();
    files.sort();
    let seeds: Vec<Vec<u8>> = files.iter().map(|p| std::fs::read(p).unwrap()).collect();
    assert!(!seeds.is_empty(), "no seeds in {}", dir.display());
    seeds
}

#[test]
fn image_body_over_seeds_and_mutations() {
    let seeds = seeds("image");
    let inputs: Vec<Vec<u8>> =
        seeds.iter().cloned().chain(proofmark_core::fuzzing::mutations(&seeds, 1500, 0)).collect();
    for input in &inputs {
        fuzzing::image(input);
    }
    // The mutations reach both outcomes: some still decode, some do not.
    let decoded = inputs.iter().filter(|i| proofmark_media::decode_luma(i).is_ok()).count();
    assert!(decoded > seeds.len() && decoded < inputs.len(), "{decoded} of {} decode", inputs.len());
}

#[test]
fn watermark_key_body_over_seeds_and_mutations() {
    let seeds = seeds("watermark_key");
    let inputs: Vec<Vec<u8>> =
        seeds.iter().cloned().chain(proofmark_core::fuzzing::mutations(&seeds, 5000, 0)).collect();
    for input in &inputs {
        fuzzing::watermark_key(input);
    }
    let parsed = inputs
        .iter()
        .filter(|i| std::str::from_utf8(i).is_ok_and(|t| proofmark_media::watermark::WatermarkKey::parse(t).is_ok()))
        .count();
    assert!(parsed >= seeds.len() && parsed < inputs.len(), "{parsed} of {} parse", inputs.len());
}
