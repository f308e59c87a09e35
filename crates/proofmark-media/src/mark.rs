//! Marking a file, not just pixels: embed the watermark in a decoded image, encode it, read the encoding
//! back, and keep it only if the file as written has PSNR(Y) ≥ [`TARGET_PSNR`] against the input and the
//! mark extracts from it; a lossy encoding that misses is retried at a higher quality, and if none keeps
//! both, nothing is returned. A JPEG keeps the input's metadata segments (EXIF — with its orientation, since
//! pixels are never rotated — XMP, the ICC profile, IPTC). Shared by `proofmark watermark embed` and the
//! server's sign pipeline; bytes in, bytes out.
use crate::decode::{luma, DecodeError, LumaImage};
use crate::image::{decode_image, encode_image, webp_is_lossy, EncodeError, Encoding, Format, Image};
use crate::watermark::{self, WatermarkError, WatermarkKey, TARGET_PSNR};

/// What to write.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MarkOptions {
    /// First JPEG quality tried (then 98 and 100 if the floor is missed).
    pub jpeg_quality: u8,
    /// The container to write; `None` keeps the input's (a GIF becomes PNG: a palette would quantise the
    /// mark away).
    pub output: Option<Format>,
}

impl Default for MarkOptions {
    fn default() -> Self {
        Self { jpeg_quality: 95, output: None }
    }
}

/// A marked file that keeps the promise.
#[derive(Debug, Clone, PartialEq)]
pub struct MarkedFile {
    pub bytes: Vec<u8>,
    pub encoding: Encoding,
    /// PSNR(Y) of the file as written, read back, against the input's pixels.
    pub psnr_y: f64,
    /// Whether a later candidate than the first had to be used to keep the floor.
    pub raised_quality: bool,
    pub timings: MarkTimings,
}

/// Where the time went (every candidate tried counts).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct MarkTimings {
    /// Embedding the mark in the pixels.
    pub embed: std::time::Duration,
    /// Encoding the file.
    pub encode: std::time::Duration,
    /// Reading the encoding back: decode, PSNR, extraction.
    pub verify: std::time::Duration,
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum MarkError {
    #[error(transparent)]
    Decode(#[from] DecodeError),
    #[error(transparent)]
    Watermark(#[from] WatermarkError),
    #[error(transparent)]
    Encode(#[from] EncodeError),
    #[error("encoded as {encoding:?} the marked image has PSNR(Y) {psnr_y:.2} dB, under the {TARGET_PSNR} dB floor")]
    FloorNotKept { encoding: Encoding, psnr_y: f64 },
    #[error("the mark did not survive encoding as {encoding:?}")]
    MarkLost { encoding: Encoding },
    #[error("cannot write a {0:?} file")]
    NoEncoding(Format),
}

/// Mark `image` (decoded from `input`, whose container is `format`) with `payload` and encode it.
pub fn mark_image(
    image: &Image,
    input: &[u8],
    format: Format,
    key: &WatermarkKey,
    payload: &[u8; 16],
    options: MarkOptions,
) -> Result<MarkedFile, MarkError> {
    let mut timings = MarkTimings::default();
    let t = std::time::Instant::now();
    let (marked, _) = watermark::embed(image, key, payload)?;
    let original = image.luma_f32();
    timings.embed = t.elapsed();
    let candidates = candidate_encodings(options.output.unwrap_or(format), format, input, options.jpeg_quality);
    let mut last = Err(MarkError::NoEncoding(format));
    for (i, &encoding) in candidates.iter().enumerate() {
        let t = std::time::Instant::now();
        let mut out = encode_image(&marked, encoding)?;
        timings.encode += t.elapsed();
        let t = std::time::Instant::now();
        let (reread, _) = decode_image(&out)?;
        let psnr_y = watermark::psnr_y(&original, &reread);
        let reads_back = watermark::extract(&reread, key).payload == Some(*payload);
        timings.verify += t.elapsed();
        if psnr_y >= TARGET_PSNR && reads_back {
            if format == Format::Jpeg && encoding.format() == Format::Jpeg {
                out = carry_jpeg_metadata(input, &out);
            }
            return Ok(MarkedFile { bytes: out, encoding, psnr_y, raised_quality: i > 0, timings });
        }
        last = Err(if reads_back {
            MarkError::FloorNotKept { encoding, psnr_y }
        } else {
            MarkError::MarkLost { encoding }
        });
    }
    last
}

/// Encodings to try, in order, for writing `output` from an input in `input_format`.
fn candidate_encodings(output: Format, input_format: Format, input: &[u8], jpeg_quality: u8) -> Vec<Encoding> {
    let lossy_webp = input_format == Format::WebP && webp_is_lossy(input);
    match output {
        Format::Jpeg => {
            let mut q: Vec<u8> = [jpeg_quality, 98, 100].into_iter().filter(|&q| q >= jpeg_quality).collect();
            q.dedup();
            q.into_iter().map(|quality| Encoding::Jpeg { quality, subsample: false }).collect()
        }
        Format::WebP if lossy_webp || input_format == Format::Jpeg => {
            vec![Encoding::WebPLossy { quality: 95.0 }, Encoding::WebPLossy { quality: 100.0 }, Encoding::WebPLossless]
        }
        other => vec![Encoding::for_output(other, lossy_webp)],
    }
}

/// The metadata segments of a JPEG that travel with the picture: APP1 (EXIF, XMP), APP2 (ICC profile),
/// APP13 (IPTC), in their order; not APP0 (the encoder writes its own JFIF header).
pub fn jpeg_metadata_segments(jpeg: &[u8]) -> Vec<&[u8]> {
    let mut out = Vec::new();
    if !jpeg.starts_with(&[0xff, 0xd8]) {
        return out;
    }
    let mut i = 2;
    while i + 4 <= jpeg.len() {
        if jpeg[i] != 0xff {
            break;
        }
        let marker = jpeg[i + 1];
        if marker == 0xff {
            i += 1; // fill byte
            continue;
        }
        // Start of scan, end of image, or a marker without a length: the header is over.
        if marker == 0xda || marker == 0xd9 || (0xd0..=0xd7).contains(&marker) || marker == 0x01 {
            break;
        }
        let len = usize::from(u16::from_be_bytes([jpeg[i + 2], jpeg[i + 3]]));
        if len < 2 || i + 2 + len > jpeg.len() {
            break;
        }
        if matches!(marker, 0xe1 | 0xe2 | 0xed) {
            out.push(&jpeg[i..i + 2 + len]);
        }
        i += 2 + len;
    }
    out
}

/// `encoded` with the input's metadata segments inserted after its SOI and JFIF header.
fn carry_jpeg_metadata(input: &[u8], encoded: &[u8]) -> Vec<u8> {
    let segments = jpeg_metadata_segments(input);
    if segments.is_empty() || !encoded.starts_with(&[0xff, 0xd8]) {
        return encoded.to_vec();
    }
    let mut at = 2;
    if encoded.len() > 6 && encoded[2] == 0xff && encoded[3] == 0xe0 {
        at = 4 + usize::from(u16::from_be_bytes([encoded[4], encoded[5]]));
    }
    let mut out = Vec::with_capacity(encoded.len() + segments.iter().map(|s| s.len()).sum::<usize>());
    out.extend_from_slice(&encoded[..at]);
    for s in segments {
        out.extend_from_slice(s);
    }
    out.extend_from_slice(&encoded[at..]);
    out
}

/// The pHash of `bytes` from their colour decode `image`, so one decode serves pHash and watermark. Equal to
/// [`crate::phash`]`(bytes)` for every input (tested over the golden corpus): 16-bit grey PNGs, which
/// Pillow clamps to 255 where the colour decoder keeps the high byte, are hashed from the bytes again.
pub fn phash_decoded(bytes: &[u8], image: &Image) -> Result<crate::PHash, DecodeError> {
    // IHDR: bit depth at byte 24, colour type at 25.
    let grey16 = Format::sniff(bytes) == Some(Format::Png) && bytes.len() > 25 && bytes[24] == 16 && bytes[25] == 0;
    if grey16 {
        return crate::phash(bytes);
    }
    Ok(crate::phash_luma(&LumaImage::from_image(image)))
}

impl LumaImage {
    /// Pillow's `convert("L")` of an image as [`decode_image`] returns it: grey kept, grey + alpha keeps the
    /// grey, RGB and RGBA by [`luma`] (alpha ignored). Not for 16-bit grey PNGs: see [`phash_decoded`].
    pub fn from_image(image: &Image) -> LumaImage {
        let pixels = match image.channels {
            1 => image.pixels.clone(),
            2 => image.pixels.iter().step_by(2).copied().collect(),
            c => image.pixels.chunks_exact(c).map(|p| luma(p[0], p[1], p[2])).collect(),
        };
        LumaImage { width: image.width, height: image.height, pixels }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metadata_segments_are_found_in_order_and_reinserted_after_jfif() {
        let app = |marker: u8, body: &[u8]| {
            let mut s = vec![0xff, marker];
            s.extend_from_slice(&u16::try_from(body.len() + 2).unwrap().to_be_bytes());
            s.extend_from_slice(body);
            s
        };
        let input = [
            vec![0xff, 0xd8],
            app(0xe0, b"JFIF\0xx"),
            app(0xe1, b"Exif\0\0orientation"),
            app(0xe2, b"ICC_PROFILE\0\x01\x01data"),
            app(0xed, b"Photoshop 3.0\0iptc"),
            app(0xdb, b"quant"),
            vec![0xff, 0xda, 0, 2, 1, 2, 3],
            app(0xe1, b"after scan"),
        ]
        .concat();
        let segments = jpeg_metadata_segments(&input);
        assert_eq!(segments.len(), 3);
        assert!(segments[0].windows(11).any(|w| w == b"orientation"));
        let encoded = [vec![0xff, 0xd8], app(0xe0, b"JFIF\0yy"), app(0xdb, b"q2"), vec![0xff, 0xd9]].concat();
        let out = carry_jpeg_metadata(&input, &encoded);
        assert_eq!(jpeg_metadata_segments(&out), segments);
        assert_eq!(&out[..4], &[0xff, 0xd8, 0xff, 0xe0], "JFIF stays first");
        assert!(out.ends_with(&[0xff, 0xd9]));
        // Truncated or foreign input: nothing carried, nothing broken.
        assert!(jpeg_metadata_segments(&input[..9]).is_empty());
        assert!(jpeg_metadata_segments(b"\x89PNG").is_empty());
    }
}
