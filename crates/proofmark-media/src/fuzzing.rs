//! Entry points for the fuzz targets in `fuzz/`: never panic, whatever the bytes.
use crate::decode::{decode_luma, MAX_PIXELS};

/// Image decoding (JPEG, PNG) and the pHash of whatever decodes.
pub fn image(data: &[u8]) {
    if let Ok(img) = decode_luma(data) {
        assert_eq!(img.pixels.len(), img.width * img.height);
        assert!((img.width * img.height) as u64 <= MAX_PIXELS);
        let _ = crate::phash::phash_luma(&img);
    }
}
