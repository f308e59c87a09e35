//! The watermark key and everything derived from it: which chip carries which coded bit, each chip's
//! quantiser dither, the synchronisation pilot, and the scrambling of the info bits. Without the key the chips are
//! indistinguishable from noise, the pilot cannot be found, and the bits cannot be assembled.
use sha2::{Digest, Sha256};

use super::code::{CODED_BITS, INFO_BITS};

/// Chips per tile side.
pub const TILE_CHIPS: usize = 32;
/// Chips per tile.
pub const CHIPS: usize = TILE_CHIPS * TILE_CHIPS;

/// A 256-bit secret. Its text form is 64 hex digits.
#[derive(Clone, PartialEq, Eq)]
pub struct WatermarkKey([u8; 32]);

impl std::fmt::Debug for WatermarkKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("WatermarkKey(…)")
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a watermark key is 64 hex digits (256 bits), optionally followed by a newline")]
pub struct KeyFormatError;

impl WatermarkKey {
    pub fn from_bytes(bytes: [u8; 32]) -> WatermarkKey {
        WatermarkKey(bytes)
    }

    /// The key file's content.
    pub fn to_hex(&self) -> String {
        self.0.iter().map(|b| format!("{b:02x}")).collect()
    }

    /// Parse a key file's content: 64 hex digits, surrounding whitespace ignored.
    pub fn parse(text: &str) -> Result<WatermarkKey, KeyFormatError> {
        let t = text.trim();
        if t.len() != 64 || !t.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(KeyFormatError);
        }
        let mut out = [0u8; 32];
        for (i, slot) in out.iter_mut().enumerate() {
            *slot = u8::from_str_radix(&t[2 * i..2 * i + 2], 16).map_err(|_| KeyFormatError)?;
        }
        Ok(WatermarkKey(out))
    }

    fn stream(&self, label: &str) -> Stream {
        let digest =
            Sha256::new().chain_update(b"proofmark-watermark-v1\0").chain_update(self.0).chain_update(label).finalize();
        let mut s = [0u64; 4];
        for (i, slot) in s.iter_mut().enumerate() {
            *slot = u64::from_le_bytes(digest[i * 8..i * 8 + 8].try_into().unwrap_or_default());
        }
        if s == [0; 4] {
            s[0] = 1;
        }
        Stream(s)
    }
}

/// xoshiro256** seeded from SHA-256(key, label): a deterministic key stream (not a cipher; the secrecy
/// rests on the key, the stream only spreads it).
struct Stream([u64; 4]);

impl Stream {
    fn next(&mut self) -> u64 {
        let s = &mut self.0;
        let result = s[1].wrapping_mul(5).rotate_left(7).wrapping_mul(9);
        let t = s[1] << 17;
        s[2] ^= s[0];
        s[3] ^= s[1];
        s[1] ^= s[2];
        s[0] ^= s[3];
        s[2] ^= t;
        s[3] = s[3].rotate_left(45);
        result
    }

    fn below(&mut self, n: usize) -> usize {
        ((u128::from(self.next()) * n as u128) >> 64) as usize
    }

    fn shuffle<T>(&mut self, v: &mut [T]) {
        for i in (1..v.len()).rev() {
            v.swap(i, self.below(i + 1));
        }
    }

    /// A ±1 sequence with as many +1 as −1.
    fn balanced_signs(&mut self, n: usize) -> Vec<f32> {
        let mut v: Vec<f32> = (0..n).map(|i| if i % 2 == 0 { 1.0 } else { -1.0 }).collect();
        self.shuffle(&mut v);
        v
    }
}

/// The key's layout of one tile.
#[derive(Debug, Clone)]
pub struct Layout {
    /// Coded bit carried by each chip (row-major within the tile).
    pub bit_of_chip: Vec<u16>,
    /// Quantiser dither of each chip, as a fraction of the step.
    pub dither: Vec<f32>,
    /// Pilot sign of each chip (as many +1 as −1).
    pub pilot: Vec<f32>,
    /// XORed onto the info bits.
    pub scramble: [u8; INFO_BITS],
}

impl Layout {
    pub fn new(key: &WatermarkKey) -> Layout {
        let mut chips: Vec<u16> = (0..CHIPS).map(|c| (c % CODED_BITS) as u16).collect();
        key.stream("chips").shuffle(&mut chips);
        let mut d = key.stream("dither");
        let dither = (0..CHIPS).map(|_| (d.next() >> 40) as f32 / (1u64 << 24) as f32).collect();
        let pilot = key.stream("pilot").balanced_signs(CHIPS);
        let mut s = key.stream("scramble");
        let scramble = std::array::from_fn(|_| (s.next() >> 63) as u8);
        Layout { bit_of_chip: chips, dither, pilot, scramble }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_text_round_trips_and_rejects_junk() {
        let k = WatermarkKey::from_bytes(std::array::from_fn(|i| i as u8 * 7));
        assert_eq!(WatermarkKey::parse(&format!("{}\n", k.to_hex())), Ok(k.clone()));
        assert_eq!(WatermarkKey::parse("abc"), Err(KeyFormatError));
        assert_eq!(WatermarkKey::parse(&"g".repeat(64)), Err(KeyFormatError));
        assert_eq!(format!("{k:?}"), "WatermarkKey(…)");
    }

    #[test]
    fn layout_uses_every_coded_bit_and_differs_per_key() {
        let a = Layout::new(&WatermarkKey::from_bytes([1; 32]));
        let b = Layout::new(&WatermarkKey::from_bytes([2; 32]));
        let mut count = vec![0usize; CODED_BITS];
        for &bit in &a.bit_of_chip {
            count[usize::from(bit)] += 1;
        }
        assert!(count.iter().all(|&c| c >= CHIPS / CODED_BITS));
        assert_ne!(a.bit_of_chip, b.bit_of_chip);
        assert_eq!(a.pilot.iter().sum::<f32>(), 0.0);
    }
}
