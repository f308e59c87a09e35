//! RFC 9162 (Certificate Transparency v2, same hashing as RFC 6962) Merkle tree math over SHA-256.
//!
//! - Leaf hash `SHA-256(0x00 ‖ data)`, node hash `SHA-256(0x01 ‖ left ‖ right)`; no sorting, no duplication.
//! - **Stored hashes**: a log keeps, in append order, every leaf hash and the hash of every complete subtree
//!   as soon as its last leaf arrives. After leaf `n` (0-based) come its leaf hash and then one hash per
//!   trailing one-bit of `n`, so a tree of `n` leaves has `2n - popcount(n)` stored hashes, and the hash of
//!   the complete subtree at `level` with index `k` lives at [`stored_hash_index`]`(level, k)`. Any root,
//!   inclusion proof or consistency proof needs only O(log n) of them: nothing rebuilds the tree.
//! - **Sans-I/O**: a proof is planned first ([`Plan::indexes`] names the stored hashes it needs), the caller
//!   fetches them from wherever it keeps them, and [`Plan::finish`] computes the proof. [`Frontier`] appends
//!   leaves from the right edge alone (at most 64 hashes).
//! - Verification follows RFC 9162 §2.1.3.2 (inclusion) and §2.1.4.2 (consistency) step by step.

use sha2::{Digest, Sha256};

/// A SHA-256 Merkle tree hash.
pub type Hash = [u8; 32];

/// Why a proof could not be made or did not verify.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProofError {
    #[error("leaf index {index} is not in a tree of size {size}")]
    IndexOutOfRange { index: u64, size: u64 },
    #[error("tree size {old} is larger than tree size {new}")]
    SizesOutOfOrder { old: u64, new: u64 },
    #[error("the proof has {got} hashes, a proof for these sizes has {want}")]
    WrongLength { got: usize, want: usize },
    #[error("the proof does not lead to the expected root")]
    RootMismatch,
    #[error("the proof does not lead back to the old root")]
    OldRootMismatch,
    #[error("a consistency proof from the empty tree proves nothing")]
    EmptyOldTree,
    #[error("{got} stored hashes were supplied for a plan that needs {want}")]
    WrongHashCount { got: usize, want: usize },
}

/// `SHA-256(0x00 ‖ data)`.
pub fn leaf_hash(data: &[u8]) -> Hash {
    let mut h = Sha256::new();
    h.update([0u8]);
    h.update(data);
    h.finalize().into()
}

/// `SHA-256(0x01 ‖ left ‖ right)`.
pub fn node_hash(left: &Hash, right: &Hash) -> Hash {
    let mut h = Sha256::new();
    h.update([1u8]);
    h.update(left);
    h.update(right);
    h.finalize().into()
}

/// The root of the empty tree, `SHA-256("")`.
pub fn empty_root() -> Hash {
    Sha256::digest([]).into()
}

/// Where the hash of the complete subtree at `level` (0 = leaves) with index `k` (counted from the left at
/// that level) sits among the stored hashes.
pub fn stored_hash_index(level: u8, k: u64) -> u64 {
    // The subtree is complete once its last leaf, (k + 1) * 2^level - 1, is appended; before that leaf's own
    // hashes come 2m - popcount(m) others (m = that leaf's index), then its leaf hash, then `level` parents.
    let last_leaf = ((k + 1) << level) - 1;
    stored_hash_count(last_leaf) + u64::from(level)
}

/// How many hashes a tree of `size` leaves stores.
pub fn stored_hash_count(size: u64) -> u64 {
    2 * size - u64::from(size.count_ones())
}

/// The inverse of [`stored_hash_index`]: the (level, index) of the subtree whose hash is stored at `i`.
pub fn split_stored_hash_index(i: u64) -> (u8, u64) {
    // The leaf whose hashes include position i is the largest m with stored_hash_count(m) <= i.
    // stored_hash_count is increasing, so binary search over m in [0, i].
    let (mut lo, mut hi) = (0u64, i + 1);
    while lo + 1 < hi {
        let mid = lo + (hi - lo) / 2;
        if stored_hash_count(mid) <= i {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    let level = (i - stored_hash_count(lo)) as u8;
    (level, ((lo + 1) >> level) - 1)
}

/// The largest level whose subtree fits in `n > 0` leaves: floor(log2(n)).
fn floor_log2(n: u64) -> u8 {
    63 - n.leading_zeros() as u8
}

/// The largest power of two strictly less than `n` (n ≥ 2): RFC 9162's split point `k`.
fn split(n: u64) -> u64 {
    1 << floor_log2(n - 1)
}

/// A planned computation over stored hashes: a list of tree nodes (ranges of leaves `[lo, hi)`), each the
/// right fold of the complete subtrees that make it up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    nodes: Vec<(u64, u64)>,
    indexes: Vec<u64>,
    /// Consistency proofs from a power-of-two size start with the old root, which the verifier already has.
    skip_first: bool,
}

impl Plan {
    fn new(nodes: Vec<(u64, u64)>) -> Self {
        let mut indexes = Vec::new();
        for &(lo, hi) in &nodes {
            subtree_indexes(lo, hi, &mut indexes);
        }
        Plan { nodes, indexes, skip_first: false }
    }

    /// The stored hashes the computation reads, in the order [`Plan::finish`] takes them (may repeat).
    pub fn indexes(&self) -> &[u64] {
        &self.indexes
    }

    /// Computes the result from the stored hashes named by [`Plan::indexes`], in that order.
    pub fn finish(&self, hashes: &[Hash]) -> Result<Vec<Hash>, ProofError> {
        if hashes.len() != self.indexes.len() {
            return Err(ProofError::WrongHashCount { got: hashes.len(), want: self.indexes.len() });
        }
        let mut next = hashes.iter();
        let mut out = Vec::with_capacity(self.nodes.len());
        for &(lo, hi) in &self.nodes {
            let parts = subtree_parts(lo, hi);
            let pieces: Vec<&Hash> = next.by_ref().take(parts).collect();
            let mut h = *pieces[parts - 1];
            for p in pieces[..parts - 1].iter().rev() {
                h = node_hash(p, &h);
            }
            out.push(h);
        }
        if self.skip_first {
            out.remove(0);
        }
        Ok(out)
    }
}

/// The stored hashes that make up the node `[lo, hi)`: its maximal complete subtrees, left to right.
fn subtree_indexes(mut lo: u64, hi: u64, out: &mut Vec<u64>) {
    while lo < hi {
        let level = floor_log2(hi - lo);
        debug_assert_eq!(lo % (1 << level), 0, "[{lo}, {hi}) is not a node of the tree");
        out.push(stored_hash_index(level, lo >> level));
        lo += 1 << level;
    }
}

fn subtree_parts(lo: u64, hi: u64) -> usize {
    let mut n = 0;
    let mut l = lo;
    while l < hi {
        l += 1 << floor_log2(hi - l);
        n += 1;
    }
    n
}

/// Plans the root of the tree of `size` leaves: [`Plan::finish`] yields one hash (none for size 0, whose
/// root is [`empty_root`]).
pub fn plan_root(size: u64) -> Plan {
    Plan::new(if size == 0 { vec![] } else { vec![(0, size)] })
}

/// Plans the RFC 9162 §2.1.3.1 inclusion proof of leaf `index` in the tree of `size` leaves.
pub fn plan_inclusion(index: u64, size: u64) -> Result<Plan, ProofError> {
    if index >= size {
        return Err(ProofError::IndexOutOfRange { index, size });
    }
    let mut nodes = Vec::new();
    inclusion_nodes(index, 0, size, &mut nodes);
    Ok(Plan::new(nodes))
}

/// PATH(m, D[lo:hi]): the sibling nodes from the leaf up.
fn inclusion_nodes(m: u64, lo: u64, hi: u64, out: &mut Vec<(u64, u64)>) {
    if hi - lo == 1 {
        return;
    }
    let k = split(hi - lo);
    if m < lo + k {
        inclusion_nodes(m, lo, lo + k, out);
        out.push((lo + k, hi));
    } else {
        inclusion_nodes(m, lo + k, hi, out);
        out.push((lo, lo + k));
    }
}

/// Plans the RFC 9162 §2.1.4.1 consistency proof from tree size `old` to tree size `new`.
pub fn plan_consistency(old: u64, new: u64) -> Result<Plan, ProofError> {
    if old > new {
        return Err(ProofError::SizesOutOfOrder { old, new });
    }
    if old == 0 {
        return Err(ProofError::EmptyOldTree);
    }
    if old == new {
        return Ok(Plan::new(vec![]));
    }
    let mut nodes = Vec::new();
    consistency_nodes(old, 0, new, true, &mut nodes);
    Ok(Plan::new(nodes))
}

/// SUBPROOF(m, D[lo:hi], b).
fn consistency_nodes(m: u64, lo: u64, hi: u64, whole: bool, out: &mut Vec<(u64, u64)>) {
    if m == hi - lo {
        if !whole {
            out.push((lo, hi));
        }
        return;
    }
    let k = split(hi - lo);
    if m <= k {
        consistency_nodes(m, lo, lo + k, whole, out);
        out.push((lo + k, hi));
    } else {
        consistency_nodes(m - k, lo + k, hi, false, out);
        out.push((lo, lo + k));
    }
}

/// Verifies an inclusion proof (RFC 9162 §2.1.3.2).
pub fn verify_inclusion(leaf: &Hash, index: u64, size: u64, proof: &[Hash], root: &Hash) -> Result<(), ProofError> {
    if index >= size {
        return Err(ProofError::IndexOutOfRange { index, size });
    }
    let want = inclusion_len(index, size);
    if proof.len() != want {
        return Err(ProofError::WrongLength { got: proof.len(), want });
    }
    let (mut fn_, mut sn) = (index, size - 1);
    let mut r = *leaf;
    for p in proof {
        if sn == 0 {
            return Err(ProofError::WrongLength { got: proof.len(), want });
        }
        if fn_ & 1 == 1 || fn_ == sn {
            r = node_hash(p, &r);
            if fn_ & 1 == 0 {
                while fn_ & 1 == 0 && fn_ != 0 {
                    fn_ >>= 1;
                    sn >>= 1;
                }
            }
        } else {
            r = node_hash(&r, p);
        }
        fn_ >>= 1;
        sn >>= 1;
    }
    if sn != 0 || r != *root {
        return Err(ProofError::RootMismatch);
    }
    Ok(())
}

/// The number of hashes in the inclusion proof of `index` in a tree of `size`.
pub fn inclusion_len(index: u64, size: u64) -> usize {
    let mut n = Vec::new();
    if index < size {
        inclusion_nodes(index, 0, size, &mut n);
    }
    n.len()
}

/// The number of hashes in the consistency proof from `old` to `new`.
pub fn consistency_len(old: u64, new: u64) -> usize {
    if old == 0 || old >= new {
        return 0;
    }
    let mut n = Vec::new();
    consistency_nodes(old, 0, new, true, &mut n);
    n.len()
}

/// Verifies a consistency proof (RFC 9162 §2.1.4.2): the tree of size `new` with root `new_root` extends
/// the tree of size `old` with root `old_root`.
pub fn verify_consistency(
    old: u64,
    new: u64,
    proof: &[Hash],
    old_root: &Hash,
    new_root: &Hash,
) -> Result<(), ProofError> {
    if old > new {
        return Err(ProofError::SizesOutOfOrder { old, new });
    }
    if old == 0 {
        // Every tree extends the empty one: such a "proof" proves nothing, and is refused like any other
        // request a client should not make (as transparency-dev/merkle does).
        return Err(ProofError::EmptyOldTree);
    }
    let want = consistency_len(old, new);
    if proof.len() != want {
        return Err(ProofError::WrongLength { got: proof.len(), want });
    }
    if old == new {
        return if old_root == new_root { Ok(()) } else { Err(ProofError::RootMismatch) };
    }
    let mut path: Vec<Hash> = Vec::with_capacity(proof.len() + 1);
    if old.is_power_of_two() {
        path.push(*old_root);
    }
    path.extend_from_slice(proof);
    let (mut fn_, mut sn) = (old - 1, new - 1);
    while fn_ & 1 == 1 {
        fn_ >>= 1;
        sn >>= 1;
    }
    let (mut fr, mut sr) = (path[0], path[0]);
    for c in &path[1..] {
        if sn == 0 {
            return Err(ProofError::WrongLength { got: proof.len(), want });
        }
        if fn_ & 1 == 1 || fn_ == sn {
            fr = node_hash(c, &fr);
            sr = node_hash(c, &sr);
            if fn_ & 1 == 0 {
                while fn_ & 1 == 0 && fn_ != 0 {
                    fn_ >>= 1;
                    sn >>= 1;
                }
            }
        } else {
            sr = node_hash(&sr, c);
        }
        fn_ >>= 1;
        sn >>= 1;
    }
    if sn != 0 || fr != *old_root {
        return Err(ProofError::OldRootMismatch);
    }
    if sr != *new_root {
        return Err(ProofError::RootMismatch);
    }
    Ok(())
}

/// The right edge of a tree: the hashes of the complete subtrees its size decomposes into (largest first).
/// Enough to append leaves and to compute the root, without reading anything else.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frontier {
    size: u64,
    hashes: Vec<Hash>,
}

impl Frontier {
    /// The empty tree.
    pub fn empty() -> Self {
        Frontier { size: 0, hashes: Vec::new() }
    }

    /// The stored hashes that make up the frontier of a tree of `size` leaves, in order.
    pub fn indexes(size: u64) -> Vec<u64> {
        plan_root(size).indexes
    }

    /// Rebuilds the frontier from the stored hashes named by [`Frontier::indexes`].
    pub fn from_stored(size: u64, hashes: Vec<Hash>) -> Result<Self, ProofError> {
        let want = size.count_ones() as usize;
        if hashes.len() != want {
            return Err(ProofError::WrongHashCount { got: hashes.len(), want });
        }
        Ok(Frontier { size, hashes })
    }

    /// Number of leaves.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Appends one leaf (its leaf hash) and returns the stored hashes it creates: the leaf hash first, at
    /// index [`stored_hash_index`]`(0, size)`, then one per subtree it completes, at the following indexes.
    pub fn append(&mut self, leaf: Hash) -> Vec<Hash> {
        let mut created = vec![leaf];
        let mut h = leaf;
        let mut m = self.size;
        while m & 1 == 1 {
            let left = self.hashes.pop().expect("a set bit of the size has its subtree");
            h = node_hash(&left, &h);
            created.push(h);
            m >>= 1;
        }
        self.hashes.push(h);
        self.size += 1;
        created
    }

    /// The tree's root hash.
    pub fn root(&self) -> Hash {
        let Some((last, rest)) = self.hashes.split_last() else {
            return empty_root();
        };
        rest.iter().rev().fold(*last, |h, left| node_hash(left, &h))
    }
}

/// Tiles (C2SP tlog-tiles): 256 hashes wide, each level of tiles 8 Merkle levels apart.
pub mod tiles {
    use super::stored_hash_index;

    /// Hashes in a full tile.
    pub const WIDTH: u64 = 256;

    /// The stored hashes that make up tile `index` at tile `level`, `width` hashes wide.
    pub fn indexes(level: u8, index: u64, width: u64) -> Vec<u64> {
        (0..width).map(|i| stored_hash_index(8 * level, index * WIDTH + i)).collect()
    }

    /// How many hashes exist at tile `level` in a tree of `size` leaves (full or not).
    pub fn hashes_at_level(level: u8, size: u64) -> u64 {
        if u32::from(level) * 8 >= 64 {
            0
        } else {
            size >> (8 * u32::from(level))
        }
    }

    /// The `<N>` path element: zero-padded 3-digit groups, all but the last prefixed with `x`.
    pub fn encode_index(mut n: u64) -> String {
        let mut groups = vec![format!("{:03}", n % 1000)];
        n /= 1000;
        while n > 0 {
            groups.push(format!("x{:03}", n % 1000));
            n /= 1000;
        }
        groups.reverse();
        groups.join("/")
    }

    /// A parsed tile path, relative to `<prefix>/tile/`.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub struct TilePath {
        /// `None` for an entry bundle (`entries/…`).
        pub level: Option<u8>,
        pub index: u64,
        /// The width of a partial tile, `None` for a full one.
        pub partial: Option<u64>,
    }

    /// Parses `<L>/<N>[.p/<W>]` or `entries/<N>[.p/<W>]` strictly: no leading zeroes where the spec forbids
    /// them, groups of exactly three digits, widths 1–255.
    pub fn parse(path: &str) -> Option<TilePath> {
        let (first, rest) = path.split_once('/')?;
        let level = if first == "entries" {
            None
        } else {
            let l = parse_decimal(first)?;
            if l > 63 {
                return None;
            }
            Some(l as u8)
        };
        let (index_part, partial) = match rest.split_once(".p/") {
            Some((i, w)) => {
                let w = parse_decimal(w)?;
                if !(1..=255).contains(&w) {
                    return None;
                }
                (i, Some(w))
            }
            None => (rest, None),
        };
        let groups: Vec<&str> = index_part.split('/').collect();
        let mut index: u64 = 0;
        for (i, g) in groups.iter().enumerate() {
            let digits = if i + 1 < groups.len() { g.strip_prefix('x')? } else { g };
            if digits.len() != 3 || !digits.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            index = index.checked_mul(1000)?.checked_add(digits.parse::<u64>().ok()?)?;
        }
        if encode_index(index) != index_part {
            return None; // leading zero groups ("x000/…") name the same tile twice
        }
        Some(TilePath { level, index, partial })
    }

    fn parse_decimal(s: &str) -> Option<u64> {
        if s.is_empty() || s.len() > 19 || !s.bytes().all(|b| b.is_ascii_digit()) || (s.len() > 1 && s.starts_with('0'))
        {
            return None;
        }
        s.parse().ok()
    }
}
