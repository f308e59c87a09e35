//! Receipts: what a record carries to prove, offline, that the log holds it (SPEC §5).
//!
//! A receipt is the record's leaf bytes, its index, an inclusion path to a signed checkpoint (with any
//! witness cosignatures on it), and, once the log was anchored on a chain at a size that covers the leaf,
//! the anchor with a consistency path from the anchored tree to the receipt's tree.

use crate::codes::Reason;
use serde::{Deserialize, Serialize};

use super::checkpoint::{verify_signed_checkpoint, Checkpoint, SignedCheckpointError};
use super::leaf::RecordLeaf;
use super::merkle::{leaf_hash, verify_consistency, verify_inclusion, Hash, ProofError};
use super::note::{NoteVerifier, Verified};

/// The receipt of one record (`GET /api/v1/content-records/{id}/receipt`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Receipt {
    /// The leaf's position in the log.
    pub leaf_index: u64,
    /// The size of the tree the inclusion path leads to (the checkpoint's size).
    pub tree_size: u64,
    /// The leaf's canonical bytes ([`RecordLeaf`]), as text.
    pub leaf: String,
    /// The RFC 9162 inclusion path, from the leaf's sibling up, lower-case hex.
    pub inclusion_path: Vec<String>,
    /// The signed checkpoint (C2SP signed note), with any witness cosignatures.
    pub checkpoint: String,
    pub anchor: Anchor,
}

/// Where the log was anchored, if it was at a size that covers the leaf.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case", deny_unknown_fields)]
pub enum Anchor {
    /// No chain is configured, or no anchored checkpoint covers the leaf yet.
    NotAnchored,
    /// A checkpoint that covers the leaf is registered on an EVM chain.
    Anchored(EvmAnchor),
}

/// A checkpoint registered in the `ProvenanceRegistry` contract.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EvmAnchor {
    pub chain_id: u64,
    /// The contract's address, `0x` and 40 hex digits.
    pub contract: String,
    /// The transaction that registered the checkpoint, `0x` and 64 hex digits.
    pub transaction: String,
    pub block_number: u64,
    /// The anchored tree's size and root (lower-case hex).
    pub tree_size: u64,
    pub root: String,
    /// RFC 9162 inclusion path of the leaf in the anchored tree (what the contract's verifier checks),
    /// lower-case hex.
    pub inclusion_path: Vec<String>,
    /// RFC 9162 consistency path from the anchored tree to the receipt's tree, lower-case hex.
    pub consistency_path: Vec<String>,
}

/// Why a receipt does not verify; [`ReceiptError::code`] names the reason for scripts.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReceiptError {
    #[error("the receipt is not valid JSON of the receipt's shape: {0}")]
    Malformed(String),
    #[error("the receipt's leaf is not a canonical record: {0}")]
    Leaf(String),
    #[error("a hash in the receipt is not 64 lower-case hex digits: {0:?}")]
    BadHash(String),
    #[error("the receipt's checkpoint: {0}")]
    Checkpoint(#[from] SignedCheckpointError),
    #[error("the receipt says tree size {receipt}, its checkpoint says {checkpoint}")]
    TreeSizeMismatch { receipt: u64, checkpoint: u64 },
    #[error("the inclusion proof does not hold: {0}")]
    Inclusion(ProofError),
    #[error("the record does not match the receipt: {0}")]
    RecordMismatch(String),
    #[error("the anchored tree (size {anchored}) does not contain leaf {leaf_index}")]
    AnchorDoesNotCover { anchored: u64, leaf_index: u64 },
    #[error("the leaf's inclusion in the anchored tree does not hold: {0}")]
    AnchorInclusion(ProofError),
    #[error("the anchored tree is not consistent with the receipt's tree: {0}")]
    AnchorConsistency(ProofError),
    #[error("the anchor is malformed: {0}")]
    AnchorMalformed(String),
}

impl ReceiptError {
    /// A stable code for the reason.
    pub fn code(&self) -> Reason {
        match self {
            ReceiptError::Malformed(_) | ReceiptError::BadHash(_) => Reason::ReceiptMalformed,
            ReceiptError::Leaf(_) => Reason::LeafMalformed,
            ReceiptError::Checkpoint(e) => match e {
                SignedCheckpointError::Malformed(_) => Reason::CheckpointMalformed,
                SignedCheckpointError::OriginMismatch { .. } => Reason::CheckpointOriginMismatch,
                SignedCheckpointError::BadLogSignature => Reason::CheckpointSignatureInvalid,
                SignedCheckpointError::NotSignedByLog(_) => Reason::CheckpointNotSignedByLog,
                SignedCheckpointError::BadWitnessSignature(_) => Reason::WitnessSignatureInvalid,
                SignedCheckpointError::WitnessQuorum { .. } => Reason::WitnessQuorumNotMet,
            },
            ReceiptError::TreeSizeMismatch { .. } => Reason::TreeSizeMismatch,
            ReceiptError::Inclusion(_) => Reason::InclusionInvalid,
            ReceiptError::RecordMismatch(_) => Reason::RecordMismatch,
            ReceiptError::AnchorDoesNotCover { .. } => Reason::AnchorDoesNotCoverLeaf,
            ReceiptError::AnchorInclusion(_) => Reason::AnchorInclusionInvalid,
            ReceiptError::AnchorConsistency(_) => Reason::AnchorConsistencyInvalid,
            ReceiptError::AnchorMalformed(_) => Reason::AnchorMalformed,
        }
    }
}

/// What a verifier trusts: the log's key, and optionally witnesses of which `min_witnesses` must cosign.
#[derive(Debug, Clone)]
pub struct ReceiptPolicy {
    pub log: NoteVerifier,
    pub witnesses: Vec<NoteVerifier>,
    pub min_witnesses: usize,
}

/// A receipt that verified offline.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedReceipt {
    pub leaf: RecordLeaf,
    pub leaf_hash: Hash,
    pub checkpoint: Checkpoint,
    pub witnesses: Vec<Verified>,
    /// The anchor, if any: its consistency with the receipt's tree verified (the chain itself is checked by
    /// whoever can reach it).
    pub anchor: Option<EvmAnchor>,
}

/// Parses 64 lower-case hex digits.
pub fn parse_hash(s: &str) -> Result<Hash, ReceiptError> {
    let s = s.strip_prefix("0x").unwrap_or(s);
    if s.len() != 64 || !s.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)) {
        return Err(ReceiptError::BadHash(s.to_owned()));
    }
    let mut out = [0u8; 32];
    hex::decode_to_slice(s, &mut out).map_err(|_| ReceiptError::BadHash(s.to_owned()))?;
    Ok(out)
}

impl Receipt {
    /// Parses receipt JSON (unknown fields refused).
    pub fn parse(bytes: &[u8]) -> Result<Self, ReceiptError> {
        serde_json::from_slice(bytes).map_err(|e| ReceiptError::Malformed(e.to_string()))
    }

    /// Verifies the receipt offline: leaf bytes, checkpoint signature (and witness quorum), inclusion, and
    /// the anchor's consistency when there is one. Every check runs against the receipt's own bytes.
    pub fn verify(&self, policy: &ReceiptPolicy) -> Result<VerifiedReceipt, ReceiptError> {
        let leaf = RecordLeaf::parse(self.leaf.as_bytes()).map_err(|e| ReceiptError::Leaf(e.to_string()))?;
        let path = self.inclusion_path.iter().map(|h| parse_hash(h)).collect::<Result<Vec<_>, _>>()?;
        let signed =
            verify_signed_checkpoint(self.checkpoint.as_bytes(), &policy.log, &policy.witnesses, policy.min_witnesses)?;
        let cp = signed.checkpoint;
        if cp.size != self.tree_size {
            return Err(ReceiptError::TreeSizeMismatch { receipt: self.tree_size, checkpoint: cp.size });
        }
        let lh = leaf_hash(self.leaf.as_bytes());
        verify_inclusion(&lh, self.leaf_index, self.tree_size, &path, &cp.root).map_err(ReceiptError::Inclusion)?;
        let anchor = match &self.anchor {
            Anchor::NotAnchored => None,
            Anchor::Anchored(a) => {
                if a.tree_size <= self.leaf_index {
                    return Err(ReceiptError::AnchorDoesNotCover {
                        anchored: a.tree_size,
                        leaf_index: self.leaf_index,
                    });
                }
                if a.tree_size > self.tree_size {
                    return Err(ReceiptError::AnchorMalformed(format!(
                        "the anchored tree (size {}) is larger than the receipt's ({})",
                        a.tree_size, self.tree_size
                    )));
                }
                check_evm_fields(a)?;
                let root = parse_hash(&a.root)?;
                let cpath = a.consistency_path.iter().map(|h| parse_hash(h)).collect::<Result<Vec<_>, _>>()?;
                let ipath = a.inclusion_path.iter().map(|h| parse_hash(h)).collect::<Result<Vec<_>, _>>()?;
                verify_inclusion(&lh, self.leaf_index, a.tree_size, &ipath, &root)
                    .map_err(ReceiptError::AnchorInclusion)?;
                verify_consistency(a.tree_size, self.tree_size, &cpath, &root, &cp.root)
                    .map_err(ReceiptError::AnchorConsistency)?;
                Some(a.clone())
            }
        };
        Ok(VerifiedReceipt { leaf, leaf_hash: lh, checkpoint: cp, witnesses: signed.witnesses, anchor })
    }
}

fn check_evm_fields(a: &EvmAnchor) -> Result<(), ReceiptError> {
    let hex_of = |s: &str, n: usize| {
        s.strip_prefix("0x").is_some_and(|h| h.len() == n && h.bytes().all(|b| b.is_ascii_hexdigit()))
    };
    if !hex_of(&a.contract, 40) {
        return Err(ReceiptError::AnchorMalformed(format!("contract {:?} is not an address", a.contract)));
    }
    if !hex_of(&a.transaction, 64) {
        return Err(ReceiptError::AnchorMalformed(format!("transaction {:?} is not a hash", a.transaction)));
    }
    Ok(())
}
