//! SHA-256 of the exact media bytes, computed incrementally so callers can stream files of any size.
use core::fmt;
use core::str::FromStr;

use sha2::{Digest, Sha256};

/// A SHA-256 digest of media content, shown as 64 lower-case hex characters.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct ContentHash(pub [u8; 32]);

impl ContentHash {
    /// Hash a complete buffer in one call.
    pub fn of(bytes: &[u8]) -> Self {
        let mut h = ContentHasher::new();
        h.update(bytes);
        h.finish()
    }

    /// Lower-case hex, as written in `media_integrity.content_hash`.
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }
}

impl fmt::Debug for ContentHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ContentHash({})", self.to_hex())
    }
}

impl fmt::Display for ContentHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

/// Error for [`ContentHash::from_str`]: the text is not 64 lower-case hex characters.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a content hash is 64 lower-case hex characters")]
pub struct ContentHashParseError;

impl FromStr for ContentHash {
    type Err = ContentHashParseError;

    /// Strict: exactly 64 characters of `0-9a-f` (the reference compares case-sensitively).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.len() != 64 || !s.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)) {
            return Err(ContentHashParseError);
        }
        let mut out = [0u8; 32];
        hex::decode_to_slice(s, &mut out).map_err(|_| ContentHashParseError)?;
        Ok(Self(out))
    }
}

/// Incremental SHA-256 (uses the CPU's SHA extensions when present).
#[derive(Clone, Default)]
pub struct ContentHasher {
    inner: Sha256,
    len: u64,
}

impl fmt::Debug for ContentHasher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ContentHasher").field("len", &self.len).finish()
    }
}

impl ContentHasher {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn update(&mut self, bytes: &[u8]) {
        self.inner.update(bytes);
        self.len += bytes.len() as u64;
    }

    /// Bytes hashed so far.
    pub fn len(&self) -> u64 {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub fn finish(self) -> ContentHash {
        ContentHash(self.inner.finalize().into())
    }
}

/// SHA-256 of `bytes` as lower-case hex (used for fingerprints and key ids).
pub(crate) fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streaming_equals_one_shot() {
        let data: Vec<u8> = (0..10_000u32).map(|i| (i * 7 % 251) as u8).collect();
        let mut h = ContentHasher::new();
        for chunk in data.chunks(333) {
            h.update(chunk);
        }
        assert_eq!(h.len(), 10_000);
        assert_eq!(h.finish(), ContentHash::of(&data));
    }

    #[test]
    fn known_answer_and_parse() {
        let h = ContentHash::of(b"test");
        assert_eq!(h.to_hex(), "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08");
        assert_eq!(h.to_hex().parse::<ContentHash>(), Ok(h));
        assert_eq!(h.to_hex().to_uppercase().parse::<ContentHash>(), Err(ContentHashParseError));
        assert_eq!("abc".parse::<ContentHash>(), Err(ContentHashParseError));
        assert_eq!(ContentHashParseError.to_string(), "a content hash is 64 lower-case hex characters");
    }
}
