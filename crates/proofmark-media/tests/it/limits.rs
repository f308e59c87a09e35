//! The 100-megapixel limit: a file that announces more pixels is refused from its header, before any pixel
//! buffer is allocated, by every decoder that reads one (grey for the pHash, colour for the watermark).
use proofmark_media::decode::MAX_PIXELS;
use proofmark_media::{decode_image, decode_luma, phash, DecodeError};

/// A PNG that is a header and one tiny IDAT chunk (an empty zlib stream): `width`×`height`, 8-bit grey,
/// no real pixel data.
fn png_header(width: u32, height: u32) -> Vec<u8> {
    let mut out = Vec::new();
    let mut encoder = png::Encoder::new(&mut out, width, height);
    encoder.set_color(png::ColorType::Grayscale);
    encoder.set_depth(png::BitDepth::Eight);
    let mut writer = encoder.write_header().unwrap();
    writer.write_chunk(png::chunk::IDAT, &[0x78, 0x9c, 0x03, 0x00, 0x00, 0x00, 0x00, 0x01]).unwrap();
    drop(writer);
    out
}

#[test]
fn images_over_one_hundred_megapixels_are_refused_from_the_header() {
    // 10,001 × 10,000 is one row over the limit; 10,000 × 10,000 is exactly at it.
    let over = png_header(10_001, 10_000);
    let want = DecodeError::TooLarge { width: 10_001, height: 10_000, max: MAX_PIXELS };
    assert_eq!(decode_luma(&over).unwrap_err(), want);
    assert_eq!(decode_image(&over).unwrap_err(), want);
    assert_eq!(phash(&over).unwrap_err(), want);
    assert_eq!(want.to_string(), "the image is 10001x10000, more than the 100000000-pixel limit");
    // At the limit the header is accepted and the (missing) data is what fails.
    let at = png_header(10_000, 10_000);
    assert!(matches!(decode_luma(&at).unwrap_err(), DecodeError::Corrupt { format: "PNG", .. }));
    // Extreme sides, as a crafted header would give them.
    let wide = png_header(u32::MAX >> 1, 1_000);
    assert!(matches!(decode_luma(&wide).unwrap_err(), DecodeError::TooLarge { .. } | DecodeError::Corrupt { .. }));
}
