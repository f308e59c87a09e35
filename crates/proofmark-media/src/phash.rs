//! The perceptual hash, bit-identical to Python `imagehash` 4.3.2 `phash(image)` (hash_size 8, highfreq 4;
//! SPEC §3.1): grey, Pillow Lanczos to 32×32, unnormalised 2-D DCT-II, the top-left 8×8 including DC,
//! bit = value > median, row-major, first bit most significant.
use std::fmt;
use std::str::FromStr;

use crate::decode::{decode_luma, DecodeError, LumaImage};
use crate::resample::lanczos_resize;

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

/// pHash of encoded image bytes (JPEG or PNG).
pub fn phash(bytes: &[u8]) -> Result<PHash, DecodeError> {
    Ok(phash_luma(&decode_luma(bytes)?))
}

/// pHash of a decoded grey image.
pub fn phash_luma(img: &LumaImage) -> PHash {
    phash_with_margin(img).0
}

/// The hash, and how far the coefficient nearest the median is from it, relative to the median's magnitude
/// (at least 1). A margin below about 1e-12 means a coefficient ties the median: its bit then depends on
/// floating-point rounding, and imagehash (scipy's pocketfft) may round it the other way.
pub fn phash_with_margin(img: &LumaImage) -> (PHash, f64) {
    let small = if img.width == SIZE && img.height == SIZE { img.clone() } else { lanczos_resize(img, SIZE, SIZE) };
    // cos table: c[k][n] = cos(pi * k * (2n + 1) / (2N)), scipy's DCT-II without normalisation: y[k] = 2 Σ x[n] c[k][n].
    let mut c = [[0f64; SIZE]; KEEP];
    for (k, row) in c.iter_mut().enumerate() {
        for (n, v) in row.iter_mut().enumerate() {
            *v = (std::f64::consts::PI * k as f64 * (2 * n + 1) as f64 / (2 * SIZE) as f64).cos();
        }
    }
    // Along columns (axis 0) first: only the first KEEP output rows are needed.
    let mut cols = [[0f64; SIZE]; KEEP];
    for (k, out) in cols.iter_mut().enumerate() {
        for (x, o) in out.iter_mut().enumerate() {
            let mut s = 0.0;
            for (y, cy) in c[k].iter().enumerate() {
                s += f64::from(small.pixels[y * SIZE + x]) * cy;
            }
            *o = 2.0 * s;
        }
    }
    // Then along rows (axis 1), first KEEP outputs.
    let mut block = [0f64; KEEP * KEEP];
    for k in 0..KEEP {
        for l in 0..KEEP {
            let mut s = 0.0;
            for (col, cx) in cols[k].iter().zip(c[l].iter()) {
                s += col * cx;
            }
            let v = 2.0 * s;
            block[k * KEEP + l] = if v.abs() < 1e-6 { 0.0 } else { v };
        }
    }
    let mut sorted = block;
    sorted.sort_by(f64::total_cmp);
    let median = (sorted[31] + sorted[32]) / 2.0;
    let bits = block.iter().fold(0u64, |acc, v| (acc << 1) | u64::from(*v > median));
    let margin = block.iter().map(|v| (v - median).abs()).fold(f64::INFINITY, f64::min) / median.abs().max(1.0);
    (PHash(bits), margin)
}
