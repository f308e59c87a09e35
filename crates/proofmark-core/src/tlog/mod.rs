//! The transparency log's pure parts (SPEC §5, docs/transparency-log.md): RFC 9162 Merkle math over stored
//! hashes ([`merkle`]), C2SP signed notes and cosignatures ([`note`]), checkpoints ([`checkpoint`]), the
//! record leaf ([`leaf`]) and receipts ([`receipt`]). No I/O and no clock: the server's store, the CLI's
//! HTTP client and a browser all drive the same functions.

pub mod checkpoint;
pub mod leaf;
pub mod merkle;
pub mod note;
pub mod receipt;

pub use checkpoint::{
    verify_signed_checkpoint, Checkpoint, CheckpointError, SignedCheckpointError, VerifiedCheckpoint,
};
pub use leaf::{LeafError, RecordLeaf};
pub use merkle::{Frontier, Hash, Plan, ProofError};
pub use note::{Note, NoteError, NoteSignature, NoteSigner, NoteVerifier, Verified, TYPE_COSIGNATURE, TYPE_ED25519};
pub use receipt::{Anchor, EvmAnchor, Receipt, ReceiptError, ReceiptPolicy, VerifiedReceipt};
