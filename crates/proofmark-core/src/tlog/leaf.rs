//! The log's leaf: the canonical bytes of a content record (docs/transparency-log.md, "Leaf").
//!
//! ASCII text, one `key value` line per field, each ending in `\n`, in this fixed order:
//!
//! ```text
//! proofmark/record/v1
//! record 0b6f9f3e-2b7c-4bb5-9a51-0c7d6e2a4f10
//! organization 5d0c2a8e-6f1b-4c3a-8e57-9b2d1f0e3c44
//! signer ed25519:<64 hex>
//! sha256 <64 hex>
//! watermarked-sha256 <64 hex | ->
//! phash <16 hex>
//! origin <CAMERA | EDIT | … | ->
//! signed-at 2026-11-30T12:00:00Z
//! video-chain-head <64 hex | ->
//! capture-sidecar-sha256 <64 hex | ->
//! ```
//!
//! Hex is lower case, ids are lower-case hyphenated UUIDs, `-` marks an absent value. A third party
//! rebuilds these bytes from a certificate and checks that their leaf hash is the one the log proves.

/// The first line, naming the format and its version.
pub const HEADER: &str = "proofmark/record/v1";

/// The facts of a record that the log commits to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordLeaf {
    pub record_id: String,
    pub organization_id: String,
    /// The signer's Ed25519 public key.
    pub signer: [u8; 32],
    pub sha256: [u8; 32],
    pub watermarked_sha256: Option<[u8; 32]>,
    /// The 64-bit pHash, as imagehash prints it (16 hex digits).
    pub phash: u64,
    /// An origin code (SPEC §2.1), upper-case letters and `_`.
    pub origin: Option<String>,
    /// `YYYY-MM-DDTHH:MM:SSZ`.
    pub signed_at: String,
    pub video_chain_head: Option<[u8; 32]>,
    pub capture_sidecar_sha256: Option<[u8; 32]>,
}

/// Why leaf bytes or fields were refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LeafError {
    #[error("the leaf does not start with {HEADER:?}")]
    UnknownFormat,
    #[error("leaf line {line}: expected {want:?}")]
    Field { line: usize, want: &'static str },
    #[error("leaf field {0} has an invalid value")]
    Value(&'static str),
    #[error("the leaf has bytes after its last field")]
    Trailing,
}

const KEYS: [&str; 10] = [
    "record",
    "organization",
    "signer",
    "sha256",
    "watermarked-sha256",
    "phash",
    "origin",
    "signed-at",
    "video-chain-head",
    "capture-sidecar-sha256",
];

impl RecordLeaf {
    /// The canonical bytes; fails if a field would not round-trip (bad id, time or origin).
    pub fn encode(&self) -> Result<Vec<u8>, LeafError> {
        check_uuid(&self.record_id, "record")?;
        check_uuid(&self.organization_id, "organization")?;
        check_time(&self.signed_at)?;
        if let Some(o) = &self.origin {
            check_origin(o)?;
        }
        let opt = |h: &Option<[u8; 32]>| h.map_or_else(|| "-".to_owned(), hex::encode);
        let values = [
            self.record_id.clone(),
            self.organization_id.clone(),
            format!("ed25519:{}", hex::encode(self.signer)),
            hex::encode(self.sha256),
            opt(&self.watermarked_sha256),
            format!("{:016x}", self.phash),
            self.origin.clone().unwrap_or_else(|| "-".into()),
            self.signed_at.clone(),
            opt(&self.video_chain_head),
            opt(&self.capture_sidecar_sha256),
        ];
        let mut out = format!("{HEADER}\n");
        for (k, v) in KEYS.iter().zip(values) {
            out.push_str(k);
            out.push(' ');
            out.push_str(&v);
            out.push('\n');
        }
        Ok(out.into_bytes())
    }

    /// Parses canonical bytes strictly: any other spelling of the same facts is refused, so one record has
    /// exactly one leaf.
    pub fn parse(bytes: &[u8]) -> Result<Self, LeafError> {
        let text = std::str::from_utf8(bytes).map_err(|_| LeafError::UnknownFormat)?;
        let mut lines = text.split_inclusive('\n');
        if lines.next() != Some("proofmark/record/v1\n") {
            return Err(LeafError::UnknownFormat);
        }
        let mut values: Vec<&str> = Vec::with_capacity(KEYS.len());
        for (i, key) in KEYS.iter().enumerate() {
            let line = lines.next().ok_or(LeafError::Field { line: i + 2, want: key })?;
            let v = line
                .strip_suffix('\n')
                .and_then(|l| l.strip_prefix(key))
                .and_then(|l| l.strip_prefix(' '))
                .ok_or(LeafError::Field { line: i + 2, want: key })?;
            values.push(v);
        }
        if lines.next().is_some() {
            return Err(LeafError::Trailing);
        }
        let leaf = RecordLeaf {
            record_id: values[0].to_owned(),
            organization_id: values[1].to_owned(),
            signer: hash32(values[2].strip_prefix("ed25519:").ok_or(LeafError::Value("signer"))?, "signer")?,
            sha256: hash32(values[3], "sha256")?,
            watermarked_sha256: opt_hash32(values[4], "watermarked-sha256")?,
            phash: parse_phash(values[5])?,
            origin: (values[6] != "-").then(|| values[6].to_owned()),
            signed_at: values[7].to_owned(),
            video_chain_head: opt_hash32(values[8], "video-chain-head")?,
            capture_sidecar_sha256: opt_hash32(values[9], "capture-sidecar-sha256")?,
        };
        // Validates ids, time and origin, and proves the round trip.
        if leaf.encode()? != bytes {
            return Err(LeafError::Value("encoding"));
        }
        Ok(leaf)
    }
}

fn is_lower_hex(s: &str) -> bool {
    s.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

fn hash32(s: &str, field: &'static str) -> Result<[u8; 32], LeafError> {
    if s.len() != 64 || !is_lower_hex(s) {
        return Err(LeafError::Value(field));
    }
    let mut out = [0u8; 32];
    hex::decode_to_slice(s, &mut out).map_err(|_| LeafError::Value(field))?;
    Ok(out)
}

fn opt_hash32(s: &str, field: &'static str) -> Result<Option<[u8; 32]>, LeafError> {
    if s == "-" {
        Ok(None)
    } else {
        hash32(s, field).map(Some)
    }
}

fn parse_phash(s: &str) -> Result<u64, LeafError> {
    if s.len() != 16 || !is_lower_hex(s) {
        return Err(LeafError::Value("phash"));
    }
    u64::from_str_radix(s, 16).map_err(|_| LeafError::Value("phash"))
}

fn check_uuid(s: &str, field: &'static str) -> Result<(), LeafError> {
    let groups: Vec<&str> = s.split('-').collect();
    let ok = groups.len() == 5
        && groups.iter().map(|g| g.len()).eq([8, 4, 4, 4, 12])
        && groups.iter().all(|g| is_lower_hex(g));
    if ok {
        Ok(())
    } else {
        Err(LeafError::Value(field))
    }
}

fn check_time(s: &str) -> Result<(), LeafError> {
    let b = s.as_bytes();
    let digits = [0, 1, 2, 3, 5, 6, 8, 9, 11, 12, 14, 15, 17, 18];
    let ok = b.len() == 20
        && digits.iter().all(|&i| b[i].is_ascii_digit())
        && b[4] == b'-'
        && b[7] == b'-'
        && b[10] == b'T'
        && b[13] == b':'
        && b[16] == b':'
        && b[19] == b'Z';
    if ok {
        Ok(())
    } else {
        Err(LeafError::Value("signed-at"))
    }
}

fn check_origin(s: &str) -> Result<(), LeafError> {
    if !s.is_empty() && s.len() <= 32 && s.bytes().all(|b| b.is_ascii_uppercase() || b == b'_') {
        Ok(())
    } else {
        Err(LeafError::Value("origin"))
    }
}
