//! Lookup of 128-bit watermark payloads with exact recall up to a Hamming distance (SPEC §2.3: a payload read
//! without its CRC matches a record within 6 of 128 bits), without scanning every payload.
//!
//! Pigeonhole: each payload is split into [`CHUNKS`] 16-bit chunks, and each chunk value keeps the list of
//! payloads that have it at that place. Two payloads at most `d` bits apart differ in at most `d` chunks, so
//! for `d < CHUNKS` they agree exactly on at least `CHUNKS - d` chunks: every payload within the distance is
//! on one of the query's eight lists. Only the payloads on those lists are compared (at 1M payloads about
//! 8 × 15), so a query costs microseconds whatever the number stored. An exact query is one hash-map probe.
use std::collections::HashMap;

/// 16-bit chunks per 128-bit payload.
pub const CHUNKS: usize = 8;
/// The widest distance the pigeonhole guarantees exact recall for.
pub const MAX_DISTANCE: u32 = CHUNKS as u32 - 1;

/// Payloads, each stored under the caller's id.
#[derive(Debug, Clone)]
pub struct PayloadIndex {
    payloads: Vec<u128>,
    ids: Vec<u64>,
    exact: HashMap<u128, Vec<u32>>,
    /// `chunks[c][v]`: positions whose chunk `c` is `v`.
    chunks: Vec<Vec<Vec<u32>>>,
}

impl Default for PayloadIndex {
    fn default() -> Self {
        Self::new()
    }
}

/// One match: the id it was stored under and the number of bits that differ.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct PayloadMatch {
    pub distance: u32,
    pub id: u64,
}

fn chunk(p: u128, c: usize) -> usize {
    ((p >> (16 * c)) & 0xffff) as usize
}

impl PayloadIndex {
    pub fn new() -> Self {
        Self {
            payloads: Vec::new(),
            ids: Vec::new(),
            exact: HashMap::new(),
            chunks: (0..CHUNKS).map(|_| vec![Vec::new(); 1 << 16]).collect(),
        }
    }

    pub fn len(&self) -> usize {
        self.payloads.len()
    }

    pub fn is_empty(&self) -> bool {
        self.payloads.is_empty()
    }

    pub fn insert(&mut self, id: u64, payload: [u8; 16]) {
        let p = u128::from_be_bytes(payload);
        let Ok(position) = u32::try_from(self.payloads.len()) else { return };
        self.payloads.push(p);
        self.ids.push(id);
        self.exact.entry(p).or_default().push(position);
        for (c, lists) in self.chunks.iter_mut().enumerate() {
            lists[chunk(p, c)].push(position);
        }
    }

    /// Ids stored with exactly this payload.
    pub fn exact(&self, payload: [u8; 16]) -> Vec<u64> {
        let p = u128::from_be_bytes(payload);
        self.exact.get(&p).map(|v| v.iter().map(|&i| self.ids[i as usize]).collect()).unwrap_or_default()
    }

    /// Every stored payload within `max_distance` bits of `payload` (at most [`MAX_DISTANCE`]; wider queries
    /// are clamped to it), nearest first (ties by id).
    pub fn query(&self, payload: [u8; 16], max_distance: u32) -> Vec<PayloadMatch> {
        let max_distance = max_distance.min(MAX_DISTANCE);
        let q = u128::from_be_bytes(payload);
        let mut seen = std::collections::HashSet::new();
        let mut out = Vec::new();
        for (c, lists) in self.chunks.iter().enumerate() {
            for &i in &lists[chunk(q, c)] {
                if !seen.insert(i) {
                    continue;
                }
                let distance = (self.payloads[i as usize] ^ q).count_ones();
                if distance <= max_distance {
                    out.push(PayloadMatch { distance, id: self.ids[i as usize] });
                }
            }
        }
        out.sort_unstable();
        out
    }

    /// Payloads compared by the last [`PayloadIndex::query`] of `payload` would be: the size of the query's
    /// lists (for benchmarks and tests of the no-scan property).
    pub fn candidates(&self, payload: [u8; 16]) -> usize {
        let q = u128::from_be_bytes(payload);
        self.chunks.iter().enumerate().map(|(c, lists)| lists[chunk(q, c)].len()).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rng(seed: u64) -> impl FnMut() -> u128 {
        let mut x = seed;
        move || {
            let mut half = || {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x
            };
            (u128::from(half()) << 64) | u128::from(half())
        }
    }

    /// Flip `n` distinct bits, chosen by `next`.
    fn flip(p: u128, n: u32, next: &mut impl FnMut() -> u128) -> u128 {
        let mut out = p;
        while (out ^ p).count_ones() < n {
            out ^= 1u128 << (next() % 128);
        }
        out
    }

    #[test]
    fn finds_exactly_the_payloads_within_the_distance_and_reads_few() {
        let mut next = rng(0x9e37_79b9_7f4a_7c15);
        let mut index = PayloadIndex::new();
        let stored: Vec<u128> = (0..20_000).map(|_| next()).collect();
        for (i, p) in stored.iter().enumerate() {
            index.insert(i as u64, p.to_be_bytes());
        }
        // Near copies of stored payloads, including errors bunched in one chunk and spread over seven.
        for trial in 0..300u32 {
            let target = stored[(next() % stored.len() as u128) as usize];
            let d = trial % 8;
            let query = if trial % 3 == 0 { target ^ ((1u128 << d) - 1) } else { flip(target, d, &mut next) };
            let expected: Vec<PayloadMatch> = {
                let mut e: Vec<PayloadMatch> = stored
                    .iter()
                    .enumerate()
                    .filter_map(|(i, p)| {
                        let distance = (p ^ query).count_ones();
                        (distance <= 6).then_some(PayloadMatch { distance, id: i as u64 })
                    })
                    .collect();
                e.sort_unstable();
                e
            };
            assert_eq!(index.query(query.to_be_bytes(), 6), expected, "trial {trial}, {d} bits off");
            assert!(index.candidates(query.to_be_bytes()) < 200, "the query reads its lists, not everything");
        }
        assert_eq!(index.exact(stored[7].to_be_bytes()), [7]);
        assert!(index.exact(next().to_be_bytes()).is_empty());
    }

    #[test]
    fn seven_bits_is_the_widest_exact_distance() {
        let mut index = PayloadIndex::new();
        let p = 0x0123_4567_89ab_cdef_fedc_ba98_7654_3210u128;
        index.insert(1, p.to_be_bytes());
        // One bit in each of seven chunks: only the eighth agrees, and it is still found.
        let q = (0..7).fold(p, |q, c| q ^ (1u128 << (16 * c + 3)));
        assert_eq!(index.query(q.to_be_bytes(), 7), [PayloadMatch { distance: 7, id: 1 }]);
        assert!(index.query(q.to_be_bytes(), 6).is_empty());
        assert_eq!(index.query(q.to_be_bytes(), 100).len(), 1, "clamped to 7");
    }
}
