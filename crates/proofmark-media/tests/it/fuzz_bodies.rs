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

fn mutations(seeds: &[Vec<u8>], count: usize) -> Vec<Vec<u8>> {
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
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

#[test]
fn image_body_over_seeds_and_mutations() {
    let seeds = seeds("image");
    let inputs: Vec<Vec<u8>> = seeds.iter().cloned().chain(mutations(&seeds, 1500)).collect();
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
    let inputs: Vec<Vec<u8>> = seeds.iter().cloned().chain(mutations(&seeds, 5000)).collect();
    for input in &inputs {
        fuzzing::watermark_key(input);
    }
    let parsed = inputs
        .iter()
        .filter(|i| std::str::from_utf8(i).is_ok_and(|t| proofmark_media::watermark::WatermarkKey::parse(t).is_ok()))
        .count();
    assert!(parsed >= seeds.len() && parsed < inputs.len(), "{parsed} of {} parse", inputs.len());
}
