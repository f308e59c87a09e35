//! The transparency log's JSON conveniences (`/api/v1/log/…`; SPEC §5, docs/transparency-log.md). Hashes
//! are lower-case hex; the C2SP tiles under `/log/` carry the same data for generic tlog clients.
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// `GET /api/v1/log/proof/inclusion`: the RFC 9162 inclusion path of one leaf in one tree size.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct InclusionProof {
    pub leaf_index: u64,
    pub tree_size: u64,
    /// The root of the tree of `tree_size` leaves (check it against a signed checkpoint).
    pub root: String,
    /// From the leaf's sibling up.
    pub inclusion_path: Vec<String>,
}

/// `GET /api/v1/log/proof/consistency`: the RFC 9162 consistency path between two tree sizes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ConsistencyProof {
    pub from: u64,
    pub to: u64,
    pub from_root: String,
    pub to_root: String,
    pub consistency_path: Vec<String>,
}

/// `POST /api/v1/log/cosignatures`: how many new witness cosignatures were stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct CosignaturesAdded {
    pub tree_size: u64,
    pub added: usize,
}
