//! C2SP signed notes (`signed-note`), their Ed25519 signatures (type 0x01) and timestamped Ed25519
//! cosignatures (`tlog-cosignature`, type 0x04), with the `vkey` text form of verifier keys and the
//! `PRIVATE+KEY+…` text form of signer keys used by Go's `golang.org/x/mod/sumdb/note`.

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use ed25519_dalek::{Signer as _, SigningKey, VerifyingKey};
use sha2::{Digest, Sha256};

/// Signature type byte of a plain Ed25519 note signature.
pub const TYPE_ED25519: u8 = 0x01;
/// Signature type byte of a timestamped Ed25519 cosignature (cosignature/v1).
pub const TYPE_COSIGNATURE: u8 = 0x04;

/// The most signature lines a note may carry here (the spec asks verifiers to accept at least 16).
pub const MAX_SIGNATURES: usize = 64;
/// The largest note accepted, in bytes.
pub const MAX_NOTE_BYTES: usize = 64 * 1024;

/// Why a note, a key or a signature was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NoteError {
    #[error("the note is larger than {MAX_NOTE_BYTES} bytes")]
    TooLarge,
    #[error("the note is not valid UTF-8")]
    NotUtf8,
    #[error("the note contains a control character other than newline")]
    ControlCharacter,
    #[error("the note has no blank line between its text and its signatures")]
    NoSignatureBlock,
    #[error("the note has no signature lines")]
    NoSignatures,
    #[error("the note has more than {MAX_SIGNATURES} signatures")]
    TooManySignatures,
    #[error("malformed signature line {0:?}")]
    MalformedSignature(String),
    #[error("invalid key name {0:?}: it must be non-empty, without spaces or '+'")]
    BadKeyName(String),
    #[error("malformed key: {0}")]
    MalformedKey(String),
    #[error("the signature by {name} does not verify")]
    BadSignature { name: String },
    #[error("no signature by a known key ({known}) verifies")]
    NoKnownSignature { known: String },
    #[error("the note text must end with a newline")]
    TextWithoutNewline,
}

/// A key ID: the first four bytes of SHA-256(name ‖ "\n" ‖ type ‖ public key), big-endian.
pub fn key_id(name: &str, kind: u8, public_key: &[u8]) -> u32 {
    let mut h = Sha256::new();
    h.update(name.as_bytes());
    h.update(b"\n");
    h.update([kind]);
    h.update(public_key);
    let d = h.finalize();
    u32::from_be_bytes([d[0], d[1], d[2], d[3]])
}

fn check_name(name: &str) -> Result<(), NoteError> {
    if name.is_empty() || name.contains('+') || name.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(NoteError::BadKeyName(name.to_owned()));
    }
    Ok(())
}

/// One signature line of a note.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoteSignature {
    pub name: String,
    pub key_id: u32,
    /// The signature bytes after the key ID (for a cosignature: timestamp ‖ Ed25519 signature).
    pub bytes: Vec<u8>,
}

impl NoteSignature {
    /// The line as it appears in a note, with its newline.
    pub fn line(&self) -> String {
        let mut raw = self.key_id.to_be_bytes().to_vec();
        raw.extend_from_slice(&self.bytes);
        format!("\u{2014} {} {}\n", self.name, B64.encode(raw))
    }
}

/// A signed note: text (ending in a newline) and one or more signatures.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Note {
    pub text: String,
    pub signatures: Vec<NoteSignature>,
}

impl Note {
    /// Parses a signed note strictly (C2SP signed-note).
    pub fn parse(bytes: &[u8]) -> Result<Note, NoteError> {
        if bytes.len() > MAX_NOTE_BYTES {
            return Err(NoteError::TooLarge);
        }
        let s = std::str::from_utf8(bytes).map_err(|_| NoteError::NotUtf8)?;
        if s.chars().any(|c| c != '\n' && (c as u32) < 0x20) || s.contains('\u{7f}') {
            return Err(NoteError::ControlCharacter);
        }
        // The text is separated from the signatures by the last blank line.
        let split = s.rfind("\n\n").ok_or(NoteError::NoSignatureBlock)?;
        let text = &s[..split + 1];
        let block = &s[split + 2..];
        if block.is_empty() {
            return Err(NoteError::NoSignatures);
        }
        if !block.ends_with('\n') {
            return Err(NoteError::MalformedSignature(block.rsplit('\n').next().unwrap_or("").to_owned()));
        }
        let mut signatures = Vec::new();
        for line in block[..block.len() - 1].split('\n') {
            if signatures.len() == MAX_SIGNATURES {
                return Err(NoteError::TooManySignatures);
            }
            signatures.push(parse_signature_line(line)?);
        }
        Ok(Note { text: text.to_owned(), signatures })
    }

    /// The note as bytes on the wire.
    pub fn encode(&self) -> String {
        let mut out = self.text.clone();
        out.push('\n');
        for s in &self.signatures {
            out.push_str(&s.line());
        }
        out
    }

    /// Verifies the signatures by keys in `known`: signatures by other keys are ignored, a signature by a
    /// known key that fails is an error, and at least one must verify. Returns the verified ones, in the
    /// note's order.
    pub fn verify(&self, known: &[NoteVerifier]) -> Result<Vec<Verified>, NoteError> {
        let mut verified = Vec::new();
        for sig in &self.signatures {
            let Some(v) = known.iter().find(|v| v.name == sig.name && v.key_id == sig.key_id) else {
                continue;
            };
            let timestamp =
                v.verify(&self.text, &sig.bytes).ok_or_else(|| NoteError::BadSignature { name: sig.name.clone() })?;
            verified.push(Verified { name: v.name.clone(), key_id: v.key_id, kind: v.kind, timestamp });
        }
        if verified.is_empty() {
            let names: Vec<&str> = known.iter().map(|v| v.name.as_str()).collect();
            return Err(NoteError::NoKnownSignature { known: names.join(", ") });
        }
        Ok(verified)
    }
}

fn parse_signature_line(line: &str) -> Result<NoteSignature, NoteError> {
    let bad = || NoteError::MalformedSignature(line.to_owned());
    let rest = line.strip_prefix("\u{2014} ").ok_or_else(bad)?;
    let (name, sig) = rest.split_once(' ').ok_or_else(bad)?;
    check_name(name).map_err(|_| bad())?;
    if sig.contains(' ') {
        return Err(bad());
    }
    let raw = B64.decode(sig).map_err(|_| bad())?;
    if raw.len() < 5 {
        return Err(bad());
    }
    Ok(NoteSignature {
        name: name.to_owned(),
        key_id: u32::from_be_bytes([raw[0], raw[1], raw[2], raw[3]]),
        bytes: raw[4..].to_vec(),
    })
}

/// A signature that verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    pub name: String,
    pub key_id: u32,
    pub kind: u8,
    /// A cosignature's timestamp (POSIX seconds); `None` for a plain signature.
    pub timestamp: Option<u64>,
}

/// A public key that verifies note signatures: a log key (type 0x01) or a witness key (type 0x04).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoteVerifier {
    pub name: String,
    pub key_id: u32,
    pub kind: u8,
    pub key: VerifyingKey,
}

impl NoteVerifier {
    /// A verifier for `key` under `name`, of signature type `kind` ([`TYPE_ED25519`] or [`TYPE_COSIGNATURE`]).
    pub fn new(name: &str, kind: u8, key: VerifyingKey) -> Result<Self, NoteError> {
        check_name(name)?;
        if kind != TYPE_ED25519 && kind != TYPE_COSIGNATURE {
            return Err(NoteError::MalformedKey(format!("unsupported signature type 0x{kind:02x}")));
        }
        Ok(NoteVerifier { name: name.to_owned(), key_id: key_id(name, kind, key.as_bytes()), kind, key })
    }

    /// Parses the C2SP `vkey` form `<name>+<hex key ID>+<base64(type ‖ public key)>`; the key ID must match.
    pub fn parse(vkey: &str) -> Result<Self, NoteError> {
        let vkey = vkey.trim();
        let mut parts = vkey.splitn(3, '+');
        let (Some(name), Some(id), Some(key)) = (parts.next(), parts.next(), parts.next()) else {
            return Err(NoteError::MalformedKey("a verifier key reads <name>+<key id>+<key>".into()));
        };
        check_name(name)?;
        if id.len() != 8 || !id.bytes().all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()) {
            return Err(NoteError::MalformedKey("the key ID is not 8 lower-case hex digits".into()));
        }
        let raw = B64.decode(key).map_err(|_| NoteError::MalformedKey("the key is not base64".into()))?;
        let (&kind, pk) = raw.split_first().ok_or_else(|| NoteError::MalformedKey("empty key".into()))?;
        let pk: [u8; 32] =
            pk.try_into().map_err(|_| NoteError::MalformedKey("an Ed25519 public key is 32 bytes".into()))?;
        let key = VerifyingKey::from_bytes(&pk).map_err(|_| NoteError::MalformedKey("not an Ed25519 point".into()))?;
        if key.is_weak() {
            return Err(NoteError::MalformedKey("a weak (small-order) Ed25519 key".into()));
        }
        let v = NoteVerifier::new(name, kind, key)?;
        if format!("{:08x}", v.key_id) != id {
            return Err(NoteError::MalformedKey("the key ID does not match the name and key".into()));
        }
        Ok(v)
    }

    /// The `vkey` text form.
    pub fn vkey(&self) -> String {
        let mut raw = vec![self.kind];
        raw.extend_from_slice(self.key.as_bytes());
        format!("{}+{:08x}+{}", self.name, self.key_id, B64.encode(raw))
    }

    /// Checks `bytes` (the signature after the key ID) over `text`; returns the cosignature's timestamp
    /// (`Some(None)` for a plain signature), or `None` when it does not verify.
    fn verify(&self, text: &str, bytes: &[u8]) -> Option<Option<u64>> {
        match self.kind {
            TYPE_ED25519 => {
                let sig = ed25519_dalek::Signature::from_slice(bytes).ok()?;
                self.key.verify_strict(text.as_bytes(), &sig).ok()?;
                Some(None)
            }
            _ => {
                if bytes.len() != 8 + 64 {
                    return None;
                }
                let ts = u64::from_be_bytes(bytes[..8].try_into().ok()?);
                if ts > i64::MAX as u64 {
                    return None;
                }
                let sig = ed25519_dalek::Signature::from_slice(&bytes[8..]).ok()?;
                self.key.verify_strict(cosigned_message(text, ts).as_bytes(), &sig).ok()?;
                Some(Some(ts))
            }
        }
    }
}

/// The message a cosignature/v1 signs: two header lines, then the whole checkpoint text.
pub fn cosigned_message(text: &str, timestamp: u64) -> String {
    format!("cosignature/v1\ntime {timestamp}\n{text}")
}

/// A private key that signs notes: a log key (type 0x01) or a witness key (type 0x04).
#[derive(Clone)]
pub struct NoteSigner {
    verifier: NoteVerifier,
    key: SigningKey,
}

impl std::fmt::Debug for NoteSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NoteSigner").field("verifier", &self.verifier.vkey()).finish_non_exhaustive()
    }
}

impl NoteSigner {
    pub fn new(name: &str, kind: u8, key: SigningKey) -> Result<Self, NoteError> {
        Ok(NoteSigner { verifier: NoteVerifier::new(name, kind, key.verifying_key())?, key })
    }

    /// Parses `PRIVATE+KEY+<name>+<hex key ID>+<base64(type ‖ 32-byte seed)>`.
    pub fn parse(text: &str) -> Result<Self, NoteError> {
        let rest = text
            .trim()
            .strip_prefix("PRIVATE+KEY+")
            .ok_or_else(|| NoteError::MalformedKey("a signer key starts with PRIVATE+KEY+".into()))?;
        let mut parts = rest.splitn(3, '+');
        let (Some(name), Some(id), Some(key)) = (parts.next(), parts.next(), parts.next()) else {
            return Err(NoteError::MalformedKey("a signer key reads PRIVATE+KEY+<name>+<key id>+<key>".into()));
        };
        let raw = zeroize::Zeroizing::new(
            B64.decode(key).map_err(|_| NoteError::MalformedKey("the key is not base64".into()))?,
        );
        let (&kind, seed) = raw.split_first().ok_or_else(|| NoteError::MalformedKey("empty key".into()))?;
        let seed: [u8; 32] =
            seed.try_into().map_err(|_| NoteError::MalformedKey("an Ed25519 seed is 32 bytes".into()))?;
        let signer = NoteSigner::new(name, kind, SigningKey::from_bytes(&seed))?;
        if format!("{:08x}", signer.verifier.key_id) != id {
            return Err(NoteError::MalformedKey("the key ID does not match the name and key".into()));
        }
        Ok(signer)
    }

    /// The `PRIVATE+KEY+…` text form (secret: write it only to a private file).
    pub fn to_private_text(&self) -> zeroize::Zeroizing<String> {
        let mut raw = zeroize::Zeroizing::new(vec![self.verifier.kind]);
        raw.extend_from_slice(self.key.as_bytes());
        zeroize::Zeroizing::new(format!(
            "PRIVATE+KEY+{}+{:08x}+{}",
            self.verifier.name,
            self.verifier.key_id,
            B64.encode(&*raw)
        ))
    }

    pub fn verifier(&self) -> &NoteVerifier {
        &self.verifier
    }

    /// Signs `text` with a plain Ed25519 signature (type 0x01 keys).
    pub fn sign(&self, text: &str) -> Result<NoteSignature, NoteError> {
        if !text.ends_with('\n') {
            return Err(NoteError::TextWithoutNewline);
        }
        if self.verifier.kind != TYPE_ED25519 {
            return Err(NoteError::MalformedKey("a cosigner key signs with cosign()".into()));
        }
        Ok(NoteSignature {
            name: self.verifier.name.clone(),
            key_id: self.verifier.key_id,
            bytes: self.key.sign(text.as_bytes()).to_bytes().to_vec(),
        })
    }

    /// Cosigns a checkpoint `text` at `timestamp` (type 0x04 keys; cosignature/v1).
    pub fn cosign(&self, text: &str, timestamp: u64) -> Result<NoteSignature, NoteError> {
        if !text.ends_with('\n') {
            return Err(NoteError::TextWithoutNewline);
        }
        if self.verifier.kind != TYPE_COSIGNATURE || timestamp > i64::MAX as u64 {
            return Err(NoteError::MalformedKey("cosign() needs a cosigner key and a timestamp below 2^63".into()));
        }
        let mut bytes = timestamp.to_be_bytes().to_vec();
        bytes.extend_from_slice(&self.key.sign(cosigned_message(text, timestamp).as_bytes()).to_bytes());
        Ok(NoteSignature { name: self.verifier.name.clone(), key_id: self.verifier.key_id, bytes })
    }
}
