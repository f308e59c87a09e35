//! Damaged files: the `image` fuzz target's body over deterministic truncations and bit flips of its seeds.

/// Run the `image` fuzz target's body over deterministic mutations of a seed: every `cut_step`-th truncation
/// and a bit flip at every `flip_step`-th byte. Returns how many mutants decoded (the rest were refused).
pub(crate) fn run_mutations(seed: &[u8], cut_step: usize, flip_step: usize) -> (usize, usize) {
    let mut decoded = 0;
    let mut total = 0;
    let mut run = |bytes: &[u8]| {
        proofmark_media::fuzzing::image(bytes);
        decoded += usize::from(proofmark_media::decode_luma(bytes).is_ok());
        total += 1;
    };
    for cut in (0..seed.len()).step_by(cut_step) {
        run(&seed[..cut]);
    }
    for at in (2..seed.len()).step_by(flip_step) {
        let mut bad = seed.to_vec();
        bad[at] ^= 0x5a;
        run(&bad);
    }
    (decoded, total)
}

/// Mutations of the colour JPEG seed: the streamed pHash (rows reduced as they decode) and the
/// decode-first pHash agree on every damaged file, error for error (the fuzz target asserts it). Both
/// outcomes occur, so the agreement is checked on decodable and on refused files.
#[test]
fn damaged_colour_jpegs_hash_alike_streamed_or_not() {
    let seed = std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/../../fuzz/seeds/image/small.jpg")).unwrap();
    let (decoded, total) = run_mutations(&seed, 5, 2);
    assert!(decoded > 0 && decoded < total, "{decoded} of {total} mutants decoded");
    assert!(proofmark_media::phash(&seed).is_ok());
}

/// The same over damaged PNGs — grey, palette, and Adam7-interlaced 16-bit RGB: a file the grey decoder
/// (which reads rows as they are unfiltered) accepts, the colour decoder (whole frame) accepts too, and the
/// pHash agrees with decoding first (the fuzz target asserts both). Both outcomes occur for each seed.
#[test]
fn damaged_pngs_the_row_decoder_accepts_the_whole_frame_decoder_accepts() {
    for name in ["small.png", "small-palette.png", "small-interlaced16.png"] {
        let path = format!("{}/../../fuzz/seeds/image/{name}", env!("CARGO_MANIFEST_DIR"));
        let seed = std::fs::read(path).unwrap();
        let (decoded, total) = run_mutations(&seed, 3, 1);
        assert!(decoded > 0 && decoded < total, "{name}: {decoded} of {total} mutants decoded");
        assert!(proofmark_media::phash(&seed).is_ok(), "{name}");
    }
}
