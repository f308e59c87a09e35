//! Entry points for the fuzz targets in `fuzz/`: never panic, whatever the bytes.
use crate::decode::{decode_luma, MAX_PIXELS};

/// Image decoding (JPEG, PNG, GIF, WebP) to grey and to colour, and the pHash of whatever decodes (both
/// from the decoded image and streamed from the bytes, which must agree). (The
/// watermark extractor reads decoded pixels, not bytes; it runs on 1,000 unmarked images in the benchmark,
/// and at ~1 s per input under the sanitiser it would starve this target.)
pub fn image(data: &[u8]) {
    let streamed = crate::phash::phash(data);
    let grey = decode_luma(data);
    if let Ok(img) = &grey {
        assert_eq!(img.pixels.len(), img.width * img.height);
        assert!((img.width * img.height) as u64 <= MAX_PIXELS);
        // `phash(bytes)` reduces JPEGs while decoding: same bytes, same answer as decoding first.
        assert_eq!(streamed, Ok(crate::phash::phash_luma(img)));
    } else {
        assert!(streamed.is_err());
    }
    let colour = crate::image::decode_image(data);
    if let Ok((img, _)) = &colour {
        assert_eq!(img.pixels.len(), img.width * img.height * img.channels);
        assert!((img.width * img.height) as u64 <= MAX_PIXELS);
    }
    // The grey decoder reads a PNG row by row, the colour decoder whole: a PNG the first accepts, the second
    // accepts too. (Not the converse in general: the grey decoder keeps 16-bit samples, so its rows count
    // twice against the `png` crate's memory limit.)
    if grey.is_ok() && crate::image::Format::sniff(data) == Some(crate::image::Format::Png) {
        assert!(colour.is_ok());
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
