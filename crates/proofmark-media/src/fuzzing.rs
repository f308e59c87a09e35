//! Entry points for the fuzz targets in `fuzz/`: never panic, whatever the bytes.
use crate::decode::{decode_luma, MAX_PIXELS};

/// Image decoding (JPEG, PNG, GIF, WebP) to grey and to colour, the pHash of whatever decodes, and a
/// watermark extraction on small colour images.
pub fn image(data: &[u8]) {
    if let Ok(img) = decode_luma(data) {
        assert_eq!(img.pixels.len(), img.width * img.height);
        assert!((img.width * img.height) as u64 <= MAX_PIXELS);
        let _ = crate::phash::phash_luma(&img);
    }
    if let Ok((img, _)) = crate::image::decode_image(data) {
        assert_eq!(img.pixels.len(), img.width * img.height * img.channels);
        if img.width * img.height <= 1 << 16 {
            let key = crate::watermark::WatermarkKey::from_bytes([7; 32]);
            let _ = crate::watermark::extract(&img, &key);
        }
    }
}

/// Watermark key files and payload text as the CLI reads them.
pub fn watermark_key(data: &[u8]) {
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(key) = crate::watermark::WatermarkKey::parse(text) {
            assert_eq!(crate::watermark::WatermarkKey::parse(&key.to_hex()), Ok(key));
        }
    }
}
