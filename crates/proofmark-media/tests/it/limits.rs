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

/// The same refusal from crafted JPEG, GIF and WebP headers: each format's decoder reads the size from its
/// header and refuses before it allocates.
#[test]
fn jpeg_gif_and_webp_headers_over_the_limit_are_refused() {
    let want = DecodeError::TooLarge { width: 10_001, height: 10_000, max: MAX_PIXELS };
    let (w, h) = (10_001u16, 10_000u16);
    // JPEG: SOI, a baseline SOF0 for one 8-bit component, SOS, EOI (no tables: they are never reached).
    let mut jpeg = vec![0xff, 0xd8, 0xff, 0xc0, 0x00, 0x0b, 0x08];
    jpeg.extend_from_slice(&h.to_be_bytes());
    jpeg.extend_from_slice(&w.to_be_bytes());
    jpeg.extend_from_slice(&[0x01, 0x01, 0x11, 0x00]);
    jpeg.extend_from_slice(&[0xff, 0xda, 0x00, 0x08, 0x01, 0x01, 0x00, 0x00, 0x3f, 0x00, 0xff, 0xd9]);
    // GIF: header, a logical screen of that size with no global table, one image descriptor covering it.
    let mut gif = b"GIF89a".to_vec();
    gif.extend_from_slice(&w.to_le_bytes());
    gif.extend_from_slice(&h.to_le_bytes());
    gif.extend_from_slice(&[0x00, 0x00, 0x00, 0x2c, 0, 0, 0, 0]);
    gif.extend_from_slice(&w.to_le_bytes());
    gif.extend_from_slice(&h.to_le_bytes());
    gif.extend_from_slice(&[0x00, 0x02, 0x02, 0x44, 0x01, 0x00, 0x3b]);
    // WebP: RIFF, a VP8X chunk whose canvas is that size (24-bit width-1 and height-1).
    let mut vp8x = vec![0u8; 4];
    vp8x.extend_from_slice(&(u32::from(w) - 1).to_le_bytes()[..3]);
    vp8x.extend_from_slice(&(u32::from(h) - 1).to_le_bytes()[..3]);
    let mut webp = b"RIFF".to_vec();
    webp.extend_from_slice(&(4 + 8 + vp8x.len() as u32).to_le_bytes());
    webp.extend_from_slice(b"WEBPVP8X");
    webp.extend_from_slice(&(vp8x.len() as u32).to_le_bytes());
    webp.extend_from_slice(&vp8x);
    for (name, bytes) in [("JPEG", jpeg), ("GIF", gif), ("WebP", webp)] {
        assert_eq!(decode_luma(&bytes).map(|_| ()), Err(want.clone()), "{name} grey");
        assert_eq!(decode_image(&bytes).map(|_| ()), Err(want.clone()), "{name} colour");
        assert_eq!(phash(&bytes).map(|_| ()), Err(want.clone()), "{name} pHash");
    }
}
