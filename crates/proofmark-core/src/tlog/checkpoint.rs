//! C2SP `tlog-checkpoint`: the body of a signed tree head (origin, size, base64 root, extension lines).

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;

use super::merkle::Hash;
use super::note::{Note, NoteError, NoteSigner, NoteVerifier, Verified};

/// Why a checkpoint body was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CheckpointError {
    #[error("the checkpoint has fewer than three lines")]
    TooShort,
    #[error("the checkpoint's origin line is empty or has spaces or '+'")]
    BadOrigin,
    #[error("the checkpoint's size line is not a decimal without leading zeroes")]
    BadSize,
    #[error("the checkpoint's root line is not the base64 of 32 bytes")]
    BadRoot,
    #[error("the checkpoint has an empty extension line")]
    EmptyExtension,
    #[error(transparent)]
    Note(#[from] NoteError),
}

/// A tree head: the first three lines of a checkpoint, plus optional extension lines.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    pub origin: String,
    pub size: u64,
    pub root: Hash,
    pub extensions: Vec<String>,
}

impl Checkpoint {
    pub fn new(origin: &str, size: u64, root: Hash) -> Self {
        Checkpoint { origin: origin.to_owned(), size, root, extensions: Vec::new() }
    }

    /// The note text (each line newline-terminated).
    pub fn body(&self) -> String {
        let mut s = format!("{}\n{}\n{}\n", self.origin, self.size, B64.encode(self.root));
        for e in &self.extensions {
            s.push_str(e);
            s.push('\n');
        }
        s
    }

    /// Parses a checkpoint's note text.
    pub fn parse_body(text: &str) -> Result<Self, CheckpointError> {
        let Some(text) = text.strip_suffix('\n') else {
            return Err(CheckpointError::TooShort);
        };
        let lines: Vec<&str> = text.split('\n').collect();
        if lines.len() < 3 {
            return Err(CheckpointError::TooShort);
        }
        let origin = lines[0];
        if origin.is_empty() || origin.contains('+') || origin.chars().any(char::is_whitespace) {
            return Err(CheckpointError::BadOrigin);
        }
        let size_line = lines[1];
        if size_line.is_empty()
            || !size_line.bytes().all(|b| b.is_ascii_digit())
            || (size_line.len() > 1 && size_line.starts_with('0'))
        {
            return Err(CheckpointError::BadSize);
        }
        let size: u64 = size_line.parse().map_err(|_| CheckpointError::BadSize)?;
        let root: Hash = B64
            .decode(lines[2])
            .ok()
            .and_then(|r| r.try_into().ok())
            .filter(|r: &Hash| B64.encode(r) == lines[2])
            .ok_or(CheckpointError::BadRoot)?;
        let extensions: Vec<String> = lines[3..].iter().map(|s| (*s).to_owned()).collect();
        if extensions.iter().any(String::is_empty) {
            return Err(CheckpointError::EmptyExtension);
        }
        Ok(Checkpoint { origin: origin.to_owned(), size, root, extensions })
    }

    /// Signs the checkpoint with the log's key: the signed note, ready to serve.
    pub fn sign(&self, log: &NoteSigner) -> Result<Note, CheckpointError> {
        let text = self.body();
        let sig = log.sign(&text)?;
        Ok(Note { text, signatures: vec![sig] })
    }
}

/// A checkpoint whose log signature verified, with the witness cosignatures that verified too.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedCheckpoint {
    pub checkpoint: Checkpoint,
    pub note: Note,
    /// Verified cosignatures by the witnesses the caller named (one per witness at most).
    pub witnesses: Vec<Verified>,
}

/// Why a signed checkpoint was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignedCheckpointError {
    #[error("malformed checkpoint: {0}")]
    Malformed(String),
    #[error("the checkpoint's origin {got:?} is not the log's name {want:?}")]
    OriginMismatch { got: String, want: String },
    #[error("the log's signature on the checkpoint does not verify")]
    BadLogSignature,
    #[error("the checkpoint is not signed by the log key {0}")]
    NotSignedByLog(String),
    #[error("the cosignature by witness {0} does not verify")]
    BadWitnessSignature(String),
    #[error("{have} of the {need} witness cosignatures required verify")]
    WitnessQuorum { have: usize, need: usize },
}

/// Parses a signed checkpoint and verifies the log's signature (its origin must be the log key's name)
/// and, when `need` > 0, at least `need` cosignatures by distinct witnesses among `witnesses`.
pub fn verify_signed_checkpoint(
    bytes: &[u8],
    log: &NoteVerifier,
    witnesses: &[NoteVerifier],
    need: usize,
) -> Result<VerifiedCheckpoint, SignedCheckpointError> {
    let note = Note::parse(bytes).map_err(|e| SignedCheckpointError::Malformed(e.to_string()))?;
    let checkpoint = Checkpoint::parse_body(&note.text).map_err(|e| SignedCheckpointError::Malformed(e.to_string()))?;
    if checkpoint.origin != log.name {
        return Err(SignedCheckpointError::OriginMismatch { got: checkpoint.origin, want: log.name.clone() });
    }
    match note.verify(std::slice::from_ref(log)) {
        Ok(_) => {}
        Err(NoteError::BadSignature { .. }) => return Err(SignedCheckpointError::BadLogSignature),
        Err(_) => return Err(SignedCheckpointError::NotSignedByLog(log.vkey())),
    }
    let mut verified: Vec<Verified> = Vec::new();
    if !witnesses.is_empty() {
        match note.verify(witnesses) {
            Ok(v) => verified = v,
            Err(NoteError::BadSignature { name }) => return Err(SignedCheckpointError::BadWitnessSignature(name)),
            Err(_) => {}
        }
    }
    // A witness counts once, however many of its lines the note repeats.
    let mut seen = std::collections::BTreeSet::new();
    verified.retain(|v| seen.insert((v.name.clone(), v.key_id)));
    if verified.len() < need {
        return Err(SignedCheckpointError::WitnessQuorum { have: verified.len(), need });
    }
    Ok(VerifiedCheckpoint { checkpoint, note, witnesses: verified })
}
