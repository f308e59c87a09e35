//! Similarity search over perceptual hashes with exact recall (SPEC §3.2): every stored hash within the
//! requested Hamming distance is returned. A linear popcount scan over a packed `u64` array — no buckets, so
//! nothing can be missed — about a nanosecond per stored hash on one core.
use crate::phash::PHash;

/// Stored hashes and the caller's ids for them, in insertion order.
#[derive(Debug, Default, Clone)]
pub struct PHashIndex {
    hashes: Vec<u64>,
    ids: Vec<u64>,
}

/// One match: the id it was stored under and its Hamming distance from the query.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Match {
    pub distance: u32,
    pub id: u64,
}

impl PHashIndex {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn with_capacity(n: usize) -> Self {
        Self { hashes: Vec::with_capacity(n), ids: Vec::with_capacity(n) }
    }

    pub fn insert(&mut self, id: u64, hash: PHash) {
        self.hashes.push(hash.0);
        self.ids.push(id);
    }

    pub fn len(&self) -> usize {
        self.hashes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.hashes.is_empty()
    }

    /// Every stored hash within `max_distance` bits of `query`, nearest first (ties by id).
    pub fn query(&self, query: PHash, max_distance: u32) -> Vec<Match> {
        let q = query.0;
        let mut out = Vec::new();
        // Chunks of 8 let the compiler keep the popcounts in registers and vectorise the compare.
        let mut base = 0;
        for chunk in self.hashes.chunks(8) {
            let mut hit = 0u8;
            for (i, h) in chunk.iter().enumerate() {
                hit |= u8::from((h ^ q).count_ones() <= max_distance) << i;
            }
            while hit != 0 {
                let i = hit.trailing_zeros() as usize;
                hit &= hit - 1;
                let distance = (chunk[i] ^ q).count_ones();
                out.push(Match { distance, id: self.ids[base + i] });
            }
            base += chunk.len();
        }
        out.sort_unstable();
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_exactly_the_hashes_within_the_distance() {
        let mut index = PHashIndex::new();
        let base = 0xc2924c5532bddfc8u64;
        for (id, flips) in [(1u64, 0u64), (2, 0b1), (3, 0x8000_0000_0000_0003), (4, 0x3ff), (5, 0x7ff), (6, !0)] {
            index.insert(id, PHash(base ^ flips));
        }
        for i in 0..20u64 {
            index.insert(100 + i, PHash(base.rotate_left(7 + i as u32) ^ 0x5555));
        }
        let found: Vec<(u64, u32)> = index.query(PHash(base), 10).iter().map(|m| (m.id, m.distance)).collect();
        let expected: Vec<(u64, u32)> = (0..index.len())
            .map(|i| (index.ids[i], (index.hashes[i] ^ base).count_ones()))
            .filter(|(_, d)| *d <= 10)
            .collect();
        let mut expected = expected;
        expected.sort_by_key(|(id, d)| (*d, *id));
        assert_eq!(found, expected);
        assert_eq!(&found[..4], &[(1, 0), (2, 1), (3, 3), (4, 10)]);
        assert!(index.query(PHash(base), 0).iter().all(|m| m.distance == 0));
    }
}
