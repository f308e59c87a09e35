//! Similarity search over perceptual hashes with exact recall (SPEC §3.2): every stored hash within the
//! requested Hamming distance is returned. A linear popcount scan over a packed `u64` array — no buckets, so
//! nothing can be missed — about a nanosecond per stored hash on one core.
use crate::phash::PHash;

/// Sequential streams the scan interleaves (see [`PHashIndex::query`]).
const STREAMS: usize = 16;

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
        // The scan runs STREAMS sequential streams in lockstep (equal slices of the array): one stream leaves
        // the memory system idle between the misses the prefetcher covers (measured: 40 ms at 10M hashes),
        // sixteen keep more cache lines in flight (9.5 ms). Within a stream, chunks of 8 keep the popcounts in
        // registers.
        let slice = (self.hashes.len().div_ceil(STREAMS * 8) * 8).max(8);
        let streams: Vec<(usize, &[u64])> =
            self.hashes.chunks(slice).enumerate().map(|(k, s)| (k * slice, s)).collect();
        let mut scan = |base: usize, chunk: &[u64]| {
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
        };
        let longest = streams.iter().map(|s| s.1.len()).max().unwrap_or(0);
        let mut at = 0;
        while at < longest {
            for &(start, stream) in &streams {
                if at < stream.len() {
                    let end = (at + 8).min(stream.len());
                    scan(start + at, &stream[at..end]);
                }
            }
            at += 8;
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

    #[test]
    fn every_size_splits_into_streams_without_losing_a_hash() {
        // Sizes around the stream and chunk boundaries; near hashes planted at the ends and the middle.
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        let q = next();
        for n in [0usize, 1, 7, 8, 9, 127, 128, 129, 130, 255, 257, 1000, 4099] {
            let mut index = PHashIndex::with_capacity(n);
            for i in 0..n {
                let h = if i == 0 || i + 1 == n || i == n / 2 || i % 97 == 5 { q ^ (next() & 0x1f1) } else { next() };
                index.insert(i as u64, PHash(h));
            }
            let mut expected: Vec<Match> = (0..n)
                .filter_map(|i| {
                    let distance = (index.hashes[i] ^ q).count_ones();
                    (distance <= 10).then_some(Match { distance, id: i as u64 })
                })
                .collect();
            expected.sort_unstable();
            assert_eq!(index.query(PHash(q), 10), expected, "{n} hashes");
        }
    }
}
