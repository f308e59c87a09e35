//! Four-component JPEGs: YCCK (Adobe transform 2) goes through libjpeg's YCCK → CMYK and then the same
//! Pillow conversion as CMYK (pixel-exact against Pillow for CMYK in `golden.rs`).
use proofmark_media::{decode_image, decode_luma};

fn encode(samples: &[u8], width: usize, height: usize, space: mozjpeg::ColorSpace) -> Vec<u8> {
    let mut c = mozjpeg::Compress::new(mozjpeg::ColorSpace::JCS_CMYK);
    c.set_size(width, height);
    c.set_color_space(space);
    c.set_quality(100.0);
    let mut started = c.start_compress(Vec::new()).unwrap();
    started.write_scanlines(samples).unwrap();
    started.finish().unwrap()
}

#[test]
fn ycck_and_cmyk_jpegs_decode_alike() {
    let (w, h) = (48, 32);
    let samples: Vec<u8> =
        (0..w * h).flat_map(|i| [(i % w * 5) as u8, (i / w * 7) as u8, ((i * 13) % 200) as u8, 40]).collect();
    let cmyk = encode(&samples, w, h, mozjpeg::ColorSpace::JCS_CMYK);
    let ycck = encode(&samples, w, h, mozjpeg::ColorSpace::JCS_YCCK);
    let (a, _) = decode_image(&cmyk).unwrap();
    let (b, _) = decode_image(&ycck).unwrap();
    assert_eq!((a.width, a.height, a.channels), (w, h, 3));
    assert_eq!((b.width, b.height, b.channels), (w, h, 3));
    let d = mozjpeg::Decompress::new_mem(&ycck).unwrap();
    assert_eq!(d.color_space(), mozjpeg::ColorSpace::JCS_YCCK);
    // YCCK's chroma is subsampled: close, not equal.
    let diffs: Vec<u32> = a.pixels.iter().zip(&b.pixels).map(|(x, y)| u32::from(x.abs_diff(*y))).collect();
    let mean = diffs.iter().sum::<u32>() as f64 / diffs.len() as f64;
    assert!(mean < 3.0 && diffs.iter().all(|&d| d <= 32), "YCCK differs from CMYK: mean {mean}");
    // The grey decoder follows the colour one (Pillow: CMYK → RGB → L).
    let grey = decode_luma(&cmyk).unwrap();
    assert_eq!(grey.pixels.len(), w * h);
    let p = &a.pixels[..3];
    let l = ((u32::from(p[0]) * 19595 + u32::from(p[1]) * 38470 + u32::from(p[2]) * 7471 + 0x8000) >> 16) as u8;
    assert_eq!(grey.pixels[0], l);
    // Inverted samples: a sample of 0 everywhere is full ink under Adobe's convention, so black.
    let dark = encode(&vec![0u8; 16 * 16 * 4], 16, 16, mozjpeg::ColorSpace::JCS_CMYK);
    assert!(decode_image(&dark).unwrap().0.pixels.iter().all(|&v| v == 0));
}

/// Truncated and bit-flipped CMYK JPEGs give an error or an image, never a panic (the `image` fuzz target's
/// body over deterministic mutations of its CMYK seed).
#[test]
fn damaged_cmyk_jpegs_never_panic() {
    let seed = std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/../../fuzz/seeds/image/small-cmyk.jpg")).unwrap();
    crate::damaged::run_mutations(&seed, 7, 3);
    assert!(decode_image(&seed[..seed.len() / 2]).is_err());
}
