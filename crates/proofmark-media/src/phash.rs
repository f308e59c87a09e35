//! The perceptual hash, bit-identical to Python `imagehash` 4.3.2 `phash(image)` (hash_size 8, highfreq 4;
//! SPEC §3.1): grey, Pillow Lanczos to 32×32, unnormalised 2-D DCT-II computed exactly as scipy computes it
//! (so even a coefficient that ties the median gets imagehash's bit), the top-left 8×8 including DC,
//! bit = value > median, row-major, first bit most significant.
use std::fmt;
use std::str::FromStr;

use crate::dct::Dct32;
use crate::decode::{decode_jpeg_rows, decode_luma, DecodeError, LumaImage};
use crate::image::Format;
use crate::resample::{lanczos_resize, LanczosRows};

const SIZE: usize = 32;
const KEEP: usize = 8;

/// A 64-bit perceptual hash; displayed as 16 lower-case hex digits, as imagehash prints it.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PHash(pub u64);

impl PHash {
    /// Number of differing bits.
    pub fn distance(self, other: PHash) -> u32 {
        (self.0 ^ other.0).count_ones()
    }
}

impl fmt::Display for PHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:016x}", self.0)
    }
}

impl fmt::Debug for PHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PHash({self})")
    }
}

impl FromStr for PHash {
    type Err = std::num::ParseIntError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        u64::from_str_radix(s, 16).map(PHash)
    }
}

/// pHash of encoded image bytes (JPEG, PNG, GIF or WebP).
pub fn phash(bytes: &[u8]) -> Result<PHash, DecodeError> {
    if Format::sniff(bytes) == Some(Format::Jpeg) {
        // A JPEG is reduced as its rows are decoded (a 12-MP photo is never held whole): the same pixels, the
        // same Lanczos, so the same hash as decoding first.
        let mut reducer: Option<LanczosRows> = None;
        decode_jpeg_rows(bytes, &mut |w, h, rows| {
            reducer.get_or_insert_with(|| LanczosRows::new(w, h, SIZE, SIZE)).push_rows(rows);
        })?;
        let small = reducer.map(LanczosRows::finish).ok_or(DecodeError::Unsupported)?;
        return Ok(hash_small(&small).0);
    }
    Ok(phash_luma(&decode_luma(bytes)?))
}

/// pHash of a decoded grey image.
pub fn phash_luma(img: &LumaImage) -> PHash {
    phash_with_margin(img).0
}

/// The hash, and how far the coefficient nearest the median is from it, relative to the median's magnitude
/// (at least 1). A tiny margin means a coefficient ties the median and its bit is decided by rounding — which
/// is why the DCT reproduces scipy's operations exactly.
pub fn phash_with_margin(img: &LumaImage) -> (PHash, f64) {
    if img.width == SIZE && img.height == SIZE {
        hash_small(img)
    } else {
        hash_small(&lanczos_resize(img, SIZE, SIZE))
    }
}

/// The hash of the 32×32 grey image.
fn hash_small(small: &LumaImage) -> (PHash, f64) {
    // scipy.fftpack.dct(scipy.fftpack.dct(pixels, axis=0), axis=1), computed as scipy does (crate::dct).
    static DCT: std::sync::OnceLock<Dct32> = std::sync::OnceLock::new();
    let dct = DCT.get_or_init(Dct32::new);
    let mut cols = [[0f64; SIZE]; SIZE]; // cols[x] = DCT of column x
    for (x, out) in cols.iter_mut().enumerate() {
        let mut column = [0f64; SIZE];
        for (y, v) in column.iter_mut().enumerate() {
            *v = f64::from(small.pixels[y * SIZE + x]);
        }
        *out = dct.forward(&column);
    }
    let mut block = [0f64; KEEP * KEEP];
    for k in 0..KEEP {
        let mut row = [0f64; SIZE];
        for (x, v) in row.iter_mut().enumerate() {
            *v = cols[x][k];
        }
        let out = dct.forward(&row);
        block[k * KEEP..(k + 1) * KEEP].copy_from_slice(&out[..KEEP]);
    }
    let mut sorted = block;
    sorted.sort_by(f64::total_cmp);
    let median = (sorted[31] + sorted[32]) / 2.0;
    let bits = block.iter().fold(0u64, |acc, v| (acc << 1) | u64::from(*v > median));
    let margin = block.iter().map(|v| (v - median).abs()).fold(f64::INFINITY, f64::min) / median.abs().max(1.0);
    (PHash(bits), margin)
}
