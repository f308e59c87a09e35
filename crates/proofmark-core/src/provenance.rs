//! Publisher-plane evidence: what a file's bytes and pixels say about the signed records a lookup found for
//! it (SPEC §2.3), and Proofmark's verdict on that. Pure: the caller measures the file once
//! ([`Observation`]: SHA-256, pHash, the watermark payload read), looks the candidates up, and hands over each
//! [`SignedRecord`] with its receipt and the log's key; this module checks the signatures and proofs and
//! decides.
//!
//! The verdicts (docs/verification.md, "Content verdicts"):
//! - `intact_original`: the file's SHA-256 is a signed record's (original or watermarked file), the
//!   record's Ed25519 signature verifies, and its log receipt proves it is in the log;
//! - `derived_from_signed_original`: the file carries that record's watermark (re-encoded, resized, cropped),
//!   with the same signature and log proof;
//! - `signed_not_yet_logged`: as one of the two above, but the record's log batch is not appended yet;
//! - `signed_log_unchecked`: as one of the two above, but the receipt could not be checked (no log key);
//! - `looks_like_record`: only the perceptual hash is near a record's: never authentic;
//! - `no_record`: nothing matched;
//! - `invalid`: a matched record's evidence does not verify (its signature, its receipt, or a watermark of
//!   another record in a file whose bytes match this one).
use serde::Serialize;

use crate::codes::Reason;
use crate::hash::ContentHash;
use crate::tlog::{Anchor, NoteVerifier, Receipt, ReceiptPolicy};
use crate::verify::{Check, CheckCode, Status};

/// The widest watermark match: bits of the 128-bit payload that may differ (SPEC §2.3).
pub const MAX_WATERMARK_BITS_OFF: u32 = 6;
/// The widest pHash match: bits of 64 (SPEC §2.3).
pub const MAX_PHASH_DISTANCE: u32 = 10;

/// What the caller measured on the file, from one read and one decode.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Observation {
    /// SHA-256 of the bytes as received.
    #[serde(serialize_with = "as_text")]
    pub sha256: ContentHash,
    /// The imagehash pHash of the decoded pixels; `None` when the file is not an image Proofmark decodes.
    pub phash: Option<u64>,
    /// The watermark payload read, if any.
    pub watermark: Option<WatermarkRead>,
}

/// A watermark payload as the extractor read it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct WatermarkRead {
    /// 16 bytes, as embedded (`SHA256(signature)[:16]` of the record).
    #[serde(serialize_with = "hex_16")]
    pub payload: [u8; 16],
    /// The CRC passed: the payload is exactly what was embedded. Otherwise it is the decoder's best guess,
    /// which matches a record only within [`MAX_WATERMARK_BITS_OFF`] bits.
    pub crc_ok: bool,
}

fn as_text<S: serde::Serializer>(h: &ContentHash, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(h)
}

fn hex_16<S: serde::Serializer>(p: &[u8; 16], s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&hex::encode(p))
}

/// A signed content record, as its certificate states it (what a lookup returns).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SignedRecord {
    pub record_id: String,
    pub organization_id: String,
    pub organization_name: String,
    /// Lower-case hex of the signer's Ed25519 public key.
    pub public_key: String,
    /// `{sha256}|{phash}|{signed_at}|{signer}`, the exact string signed.
    pub fingerprint: String,
    /// Ed25519 signature over the fingerprint's UTF-8 bytes, lower-case hex.
    pub signature: String,
    pub sha256: String,
    pub watermarked_sha256: Option<String>,
    /// 16 hex digits.
    pub phash: String,
    /// 32 hex digits, when the file was watermarked.
    pub watermark_payload: Option<String>,
    pub origin: Option<String>,
    pub signed_at: String,
    pub deleted_at: Option<String>,
    /// The record's log receipt; `None` while its batch is pending.
    pub receipt: Option<Receipt>,
}

/// How the file was tied to the record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(tag = "by", rename_all = "snake_case")]
pub enum MatchedBy {
    /// The file is the signed original, byte for byte.
    Sha256,
    /// The file is the watermarked copy the server made, byte for byte.
    WatermarkedSha256,
    /// The file carries the record's watermark payload (`bits_off` of 128 differ; 0 when the CRC passed).
    Watermark { bits_off: u32 },
    /// Only the perceptual hash is near (`distance` of 64 bits).
    Phash { distance: u32 },
}

impl MatchedBy {
    /// Lower is stronger.
    fn rank(self) -> (u8, u32) {
        match self {
            Self::Sha256 => (0, 0),
            Self::WatermarkedSha256 => (1, 0),
            Self::Watermark { bits_off } => (2, bits_off),
            Self::Phash { distance } => (3, distance),
        }
    }
}

/// Proofmark's verdict on the publisher-plane evidence.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ContentVerdict {
    IntactOriginal,
    DerivedFromSignedOriginal,
    SignedNotYetLogged,
    SignedLogUnchecked,
    LooksLikeRecord,
    NoRecord,
    Invalid,
}

impl ContentVerdict {
    /// Whether the verdict authenticates the file (the reference's `authentic`): exact bytes or the
    /// watermark, with a valid signature and log proof. pHash alone never does.
    pub fn authentic(self) -> bool {
        matches!(self, Self::IntactOriginal | Self::DerivedFromSignedOriginal)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::IntactOriginal => "intact_original",
            Self::DerivedFromSignedOriginal => "derived_from_signed_original",
            Self::SignedNotYetLogged => "signed_not_yet_logged",
            Self::SignedLogUnchecked => "signed_log_unchecked",
            Self::LooksLikeRecord => "looks_like_record",
            Self::NoRecord => "no_record",
            Self::Invalid => "invalid",
        }
    }
}

/// The content part of a report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ContentReport {
    pub verdict: ContentVerdict,
    /// The verdict as a sentence: "intact original: record … signed by … on …".
    pub summary: String,
    /// `record_sha256`, `record_watermark`, `record_phash`, `record_signature`, `log_inclusion`, `log_anchor`.
    pub checks: Vec<Check>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub matched_by: Option<MatchedBy>,
    /// The record the verdict is about.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub record: Option<SignedRecord>,
    /// Other records whose pHash is near (never evidence of authenticity), nearest first.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub similar: Vec<SimilarRecord>,
    /// What was measured on the file.
    pub observation: Observation,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SimilarRecord {
    pub record_id: String,
    pub organization_name: String,
    pub distance: u32,
}

/// How a record relates to the observation, if at all.
pub fn match_of(obs: &Observation, r: &SignedRecord) -> Option<MatchedBy> {
    let sha = obs.sha256.to_string();
    if r.sha256 == sha {
        return Some(MatchedBy::Sha256);
    }
    if r.watermarked_sha256.as_deref() == Some(sha.as_str()) {
        return Some(MatchedBy::WatermarkedSha256);
    }
    if let Some(bits_off) = watermark_bits_off(obs, r) {
        return Some(MatchedBy::Watermark { bits_off });
    }
    phash_distance(obs, r).filter(|d| *d <= MAX_PHASH_DISTANCE).map(|distance| MatchedBy::Phash { distance })
}

/// Bits between the payload read and the record's, when within the limit (exact only when the CRC passed,
/// else at most [`MAX_WATERMARK_BITS_OFF`]).
fn watermark_bits_off(obs: &Observation, r: &SignedRecord) -> Option<u32> {
    let read = obs.watermark?;
    let theirs = parse_payload(r.watermark_payload.as_deref()?)?;
    let off = u128::from_be_bytes(read.payload) ^ u128::from_be_bytes(theirs);
    let off = off.count_ones();
    (off == 0 || !read.crc_ok && off <= MAX_WATERMARK_BITS_OFF).then_some(off)
}

fn phash_distance(obs: &Observation, r: &SignedRecord) -> Option<u32> {
    let theirs = u64::from_str_radix(&r.phash, 16).ok().filter(|_| r.phash.len() == 16)?;
    Some((obs.phash? ^ theirs).count_ones())
}

/// 32 hex digits → 16 bytes.
pub fn parse_payload(text: &str) -> Option<[u8; 16]> {
    let mut out = [0u8; 16];
    hex::decode_to_slice(text, &mut out).ok()?;
    Some(out)
}

struct Checks(Vec<Check>);

impl Checks {
    fn push(&mut self, code: CheckCode, status: Status, reason: Option<Reason>, message: impl Into<String>) {
        self.0.push(Check { code, status, reason, message: message.into() });
    }
    fn status(&self, code: CheckCode) -> Option<Status> {
        self.0.iter().find(|c| c.code == code).map(|c| c.status)
    }
}

/// Judge the candidates a lookup found. `log_key` is the log's note verifier (its checkpoints' signer);
/// `None` makes `log_inclusion` unavailable.
pub fn assess(obs: Observation, candidates: &[SignedRecord], log_key: Option<&NoteVerifier>) -> ContentReport {
    let mut matched: Vec<(MatchedBy, &SignedRecord)> =
        candidates.iter().filter_map(|r| match_of(&obs, r).map(|m| (m, r))).collect();
    matched.sort_by_key(|(m, r)| (m.rank(), r.signed_at.clone(), r.record_id.clone()));
    // The strongest match whose signature verifies; else the strongest.
    let best =
        matched.iter().find(|(_, r)| signature_check(r).is_ok()).or_else(|| matched.first()).map(|(m, r)| (*m, *r));
    let similar = matched
        .iter()
        .filter(|(_, r)| best.is_none_or(|(_, b)| b.record_id != r.record_id))
        .filter_map(|(_, r)| {
            phash_distance(&obs, r).filter(|d| *d <= MAX_PHASH_DISTANCE).map(|distance| SimilarRecord {
                record_id: r.record_id.clone(),
                organization_name: r.organization_name.clone(),
                distance,
            })
        })
        .collect();
    let mut c = Checks(Vec::new());
    let Some((by, record)) = best else {
        for code in CheckCode::CONTENT {
            c.push(code, Status::NotApplicable, None, "no signed record matches this file");
        }
        let summary =
            "no record found: no signed record has this file's bytes, its watermark, or a similar image".into();
        return ContentReport {
            verdict: ContentVerdict::NoRecord,
            summary,
            checks: c.0,
            matched_by: None,
            record: None,
            similar,
            observation: obs,
        };
    };

    // What ties the file to the record.
    match by {
        MatchedBy::Sha256 => {
            c.push(CheckCode::RecordSha256, Status::Pass, None, "the file is the signed original, byte for byte")
        }
        MatchedBy::WatermarkedSha256 => c.push(
            CheckCode::RecordSha256,
            Status::Pass,
            None,
            "the file is the record's watermarked copy, byte for byte",
        ),
        _ => c.push(
            CheckCode::RecordSha256,
            Status::NotApplicable,
            None,
            "the file's bytes differ from the original and the watermarked copy (re-encoded or edited)",
        ),
    }
    match (obs.watermark, record.watermark_payload.as_deref().and_then(parse_payload)) {
        (None, _) => c.push(CheckCode::RecordWatermark, Status::NotApplicable, None, "no watermark was found in the file"),
        (Some(_), None) => c.push(
            CheckCode::RecordWatermark,
            Status::NotApplicable,
            None,
            "a watermark was read, but the record was not watermarked",
        ),
        (Some(read), Some(_)) => match watermark_bits_off(&obs, record) {
            Some(0) => c.push(CheckCode::RecordWatermark, Status::Pass, None, "the file carries the record's watermark payload"),
            Some(off) => c.push(
                CheckCode::RecordWatermark,
                Status::Pass,
                None,
                format!("the file carries the record's watermark payload, {off} of 128 bits off (CRC failed; within {MAX_WATERMARK_BITS_OFF})"),
            ),
            None if read.crc_ok => c.push(
                CheckCode::RecordWatermark,
                Status::Fail,
                Some(Reason::WatermarkMismatch),
                format!(
                    "the file carries watermark payload {}, not this record's {}",
                    hex::encode(read.payload),
                    record.watermark_payload.as_deref().unwrap_or("")
                ),
            ),
            None => c.push(
                CheckCode::RecordWatermark,
                Status::NotApplicable,
                None,
                "the watermark read did not pass its CRC and is not near this record's payload",
            ),
        },
    }
    match phash_distance(&obs, record) {
        Some(d) if d <= MAX_PHASH_DISTANCE => c.push(
            CheckCode::RecordPhash,
            Status::Pass,
            None,
            format!("perceptual hash {d} of 64 bits from the record's (similar image; never proof alone)"),
        ),
        Some(d) => c.push(
            CheckCode::RecordPhash,
            Status::NotApplicable,
            None,
            format!("perceptual hash {d} of 64 bits from the record's (over {MAX_PHASH_DISTANCE}: the picture changed a lot)"),
        ),
        None => c.push(CheckCode::RecordPhash, Status::NotApplicable, None, "no perceptual hash: the file is not a decodable image"),
    }
    match signature_check(record) {
        Ok(()) => c.push(
            CheckCode::RecordSignature,
            Status::Pass,
            None,
            format!("Ed25519 signature of {} over the fingerprint verifies", record.organization_name),
        ),
        Err((reason, message)) => c.push(CheckCode::RecordSignature, Status::Fail, Some(reason), message),
    }
    log_checks(&mut c, record, log_key);

    let failed = c.0.iter().any(|k| k.status == Status::Fail);
    let logged = c.status(CheckCode::LogInclusion) == Some(Status::Pass);
    let pending = c.0.iter().any(|k| k.reason == Some(Reason::LogReceiptPending));
    let verdict = match by {
        _ if failed => ContentVerdict::Invalid,
        MatchedBy::Phash { .. } => ContentVerdict::LooksLikeRecord,
        _ if !logged && pending => ContentVerdict::SignedNotYetLogged,
        _ if !logged => ContentVerdict::SignedLogUnchecked,
        MatchedBy::Sha256 | MatchedBy::WatermarkedSha256 => ContentVerdict::IntactOriginal,
        MatchedBy::Watermark { .. } => ContentVerdict::DerivedFromSignedOriginal,
    };
    let who = format!("record {} signed by {} on {}", record.record_id, record.organization_name, record.signed_at);
    let summary = match verdict {
        ContentVerdict::IntactOriginal => format!("intact original: {who}"),
        ContentVerdict::DerivedFromSignedOriginal => format!(
            "derived from a signed original: {who}; this copy was re-encoded, resized or cropped since"
        ),
        ContentVerdict::SignedNotYetLogged => format!("{who}; not yet in the transparency log (appended within seconds)"),
        ContentVerdict::SignedLogUnchecked => {
            format!("{who}; its log receipt was not checked (the log's key was not supplied)")
        }
        ContentVerdict::LooksLikeRecord => match by {
            MatchedBy::Phash { distance } => format!(
                "looks like {who} (perceptual hash {distance} of 64 bits off); not authenticated: similar pictures share perceptual hashes"
            ),
            _ => format!("looks like {who}"),
        },
        ContentVerdict::Invalid => {
            let first = c.0.iter().find(|k| k.status == Status::Fail).map(|k| k.message.as_str()).unwrap_or("");
            format!("invalid: the evidence of {who} does not verify: {first}")
        }
        ContentVerdict::NoRecord => "no record found".into(),
    };
    ContentReport {
        verdict,
        summary,
        checks: c.0,
        matched_by: Some(by),
        record: Some(record.clone()),
        similar,
        observation: obs,
    }
}

/// The record's Ed25519 signature over its fingerprint, and the fingerprint's agreement with the record.
fn signature_check(r: &SignedRecord) -> Result<(), (Reason, String)> {
    let fields: Vec<&str> = r.fingerprint.split('|').collect();
    if fields.len() < 4 || fields[0] != r.sha256 || !fields[1].eq_ignore_ascii_case(&r.phash) {
        return Err((
            Reason::RecordFingerprintMismatch,
            format!("the signed fingerprint {:?} does not state the record's SHA-256 and pHash", r.fingerprint),
        ));
    }
    let key = hex32(&r.public_key).and_then(|k| ed25519_dalek::VerifyingKey::from_bytes(&k).ok()).ok_or((
        Reason::RecordKeyMalformed,
        format!("the signer's public key {:?} is not an Ed25519 key", r.public_key),
    ))?;
    let mut sig = [0u8; 64];
    hex::decode_to_slice(&r.signature, &mut sig)
        .map_err(|_| (Reason::RecordSignatureInvalid, "the record's signature is not 64 bytes of hex".to_owned()))?;
    key.verify_strict(r.fingerprint.as_bytes(), &ed25519_dalek::Signature::from_bytes(&sig)).map_err(|_| {
        (
            Reason::RecordSignatureInvalid,
            "the Ed25519 signature does not verify over the fingerprint with the signer's key".to_owned(),
        )
    })
}

fn hex32(s: &str) -> Option<[u8; 32]> {
    let mut out = [0u8; 32];
    hex::decode_to_slice(s, &mut out).ok()?;
    Some(out)
}

/// `log_inclusion` (the receipt's checkpoint is signed by the log, proves the leaf, and the leaf is this
/// record) and `log_anchor` (the anchored tree holds the leaf and is consistent with the checkpoint).
fn log_checks(c: &mut Checks, record: &SignedRecord, log_key: Option<&NoteVerifier>) {
    let Some(receipt) = &record.receipt else {
        c.push(
            CheckCode::LogInclusion,
            Status::Unavailable,
            Some(Reason::LogReceiptPending),
            "the record's log batch is not appended yet: no receipt",
        );
        c.push(CheckCode::LogAnchor, Status::NotApplicable, None, "not run: no receipt");
        return;
    };
    let Some(log) = log_key else {
        c.push(
            CheckCode::LogInclusion,
            Status::Unavailable,
            Some(Reason::LogKeyUnavailable),
            "the log's key was not supplied",
        );
        c.push(CheckCode::LogAnchor, Status::NotApplicable, None, "not run: the log's key was not supplied");
        return;
    };
    prove_receipt(c, receipt, log, |leaf| leaf_is_record(leaf, record));
}

/// `log_inclusion` and `log_anchor` for a receipt under the log's key: the checkpoint is signed by the log,
/// the inclusion proof reaches its root, `binds` accepts the proven leaf, and an anchor, when there is one,
/// holds the leaf and is consistent with the checkpoint. Returns the log's name and the anchor that verified.
fn prove_receipt(
    c: &mut Checks,
    receipt: &Receipt,
    log: &NoteVerifier,
    binds: impl Fn(&crate::tlog::RecordLeaf) -> Result<(), String>,
) -> (Option<String>, Option<crate::tlog::EvmAnchor>) {
    let policy = ReceiptPolicy { log: log.clone(), witnesses: Vec::new(), min_witnesses: 0 };
    let unanchored = Receipt { anchor: Anchor::NotAnchored, ..receipt.clone() };
    let v = match unanchored.verify(&policy) {
        Ok(v) => v,
        Err(e) => {
            c.push(CheckCode::LogInclusion, Status::Fail, Some(e.code()), e.to_string());
            c.push(CheckCode::LogAnchor, Status::NotApplicable, None, "not run: the receipt does not verify");
            return (None, None);
        }
    };
    if let Err(why) = binds(&v.leaf) {
        c.push(CheckCode::LogInclusion, Status::Fail, Some(Reason::RecordMismatch), why);
        c.push(CheckCode::LogAnchor, Status::NotApplicable, None, "not run: the receipt is another record's");
        return (None, None);
    }
    let origin = v.checkpoint.origin.clone();
    c.push(
        CheckCode::LogInclusion,
        Status::Pass,
        None,
        format!(
            "leaf {} of the log {origin:?} at tree size {} (checkpoint signed by the log)",
            receipt.leaf_index, receipt.tree_size
        ),
    );
    match (&receipt.anchor, receipt.verify(&policy)) {
        (Anchor::NotAnchored, _) => {
            c.push(CheckCode::LogAnchor, Status::NotApplicable, None, "no tree holding this record is anchored yet");
            (Some(origin), None)
        }
        (_, Err(e)) => {
            c.push(CheckCode::LogAnchor, Status::Fail, Some(e.code()), e.to_string());
            (Some(origin), None)
        }
        (Anchor::Anchored(a), Ok(_)) => {
            c.push(
                CheckCode::LogAnchor,
                Status::Pass,
                None,
                format!(
                    "the tree of size {} (root 0x{}) holding this record was registered on chain {} in block {} (transaction {}); the chain itself is checked with an RPC node (`proofmark log verify-receipt --rpc`)",
                    a.tree_size, a.root, a.chain_id, a.block_number, a.transaction
                ),
            );
            (Some(origin), Some(a.clone()))
        }
    }
}

/// The leaf the receipt proves is this record's: same id, SHA-256, pHash and signer key.
fn leaf_is_record(leaf: &crate::tlog::RecordLeaf, r: &SignedRecord) -> Result<(), String> {
    let differs = |what: &str| Err(format!("the receipt's leaf is not this record: its {what} differs"));
    if leaf.record_id != r.record_id {
        return differs("record id");
    }
    if hex::encode(leaf.sha256) != r.sha256 {
        return differs("SHA-256");
    }
    if format!("{:016x}", leaf.phash) != r.phash.to_ascii_lowercase() {
        return differs("pHash");
    }
    if hex::encode(leaf.signer) != r.public_key.to_ascii_lowercase() {
        return differs("signer key");
    }
    Ok(())
}

/// A log receipt checked offline against a file (`proofmark verify` with `NAME.receipt.json` beside it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ReceiptReport {
    /// `logged` when every check passed, `invalid` when one failed, `unverified` when one could not run
    /// (no log key).
    pub verdict: ReceiptVerdict,
    /// `record_sha256` (the file is the leaf's original or watermarked file), `log_inclusion`, `log_anchor`.
    pub checks: Vec<Check>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub record_id: Option<String>,
    pub leaf_index: u64,
    pub tree_size: u64,
    /// The log's name (its checkpoint's origin), once the checkpoint verified.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub log: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub anchor: Option<crate::tlog::EvmAnchor>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ReceiptVerdict {
    Logged,
    Invalid,
    Unverified,
}

/// Check a receipt against the file's SHA-256 with the log's key (`Err(why)`: `log_inclusion` unavailable,
/// with that message).
pub fn check_receipt(
    receipt: &Result<Receipt, crate::tlog::ReceiptError>,
    digest: Option<&ContentHash>,
    log_key: Result<&NoteVerifier, &str>,
) -> ReceiptReport {
    let mut c = Checks(Vec::new());
    let mut out = ReceiptReport {
        verdict: ReceiptVerdict::Invalid,
        checks: Vec::new(),
        record_id: None,
        leaf_index: 0,
        tree_size: 0,
        log: None,
        anchor: None,
    };
    let receipt = match receipt {
        Ok(r) => r,
        Err(e) => {
            c.push(CheckCode::RecordSha256, Status::NotApplicable, None, "not run: the receipt could not be read");
            c.push(CheckCode::LogInclusion, Status::Fail, Some(e.code()), e.to_string());
            c.push(CheckCode::LogAnchor, Status::NotApplicable, None, "not run: the receipt could not be read");
            out.checks = c.0;
            return out;
        }
    };
    (out.leaf_index, out.tree_size) = (receipt.leaf_index, receipt.tree_size);
    match crate::tlog::RecordLeaf::parse(receipt.leaf.as_bytes()) {
        Err(e) => c.push(CheckCode::RecordSha256, Status::Fail, Some(Reason::LeafMalformed), e.to_string()),
        Ok(leaf) => {
            out.record_id = Some(leaf.record_id.clone());
            match digest {
                None => c.push(
                    CheckCode::RecordSha256,
                    Status::Unavailable,
                    Some(Reason::MediaDigestUnavailable),
                    "the file's SHA-256 was not supplied",
                ),
                Some(d) if d.0 == leaf.sha256 => {
                    c.push(CheckCode::RecordSha256, Status::Pass, None, "the file is the logged record's original")
                }
                Some(d) if leaf.watermarked_sha256 == Some(d.0) => c.push(
                    CheckCode::RecordSha256,
                    Status::Pass,
                    None,
                    "the file is the logged record's watermarked copy",
                ),
                Some(d) => c.push(
                    CheckCode::RecordSha256,
                    Status::Fail,
                    Some(Reason::RecordMismatch),
                    format!(
                        "the file's SHA-256 {d} is neither the logged record's original {} nor its watermarked copy",
                        hex::encode(leaf.sha256)
                    ),
                ),
            }
        }
    }
    match log_key {
        Err(why) => {
            c.push(CheckCode::LogInclusion, Status::Unavailable, Some(Reason::LogKeyUnavailable), why);
            c.push(CheckCode::LogAnchor, Status::NotApplicable, None, "not run: no log key");
        }
        Ok(log) => (out.log, out.anchor) = prove_receipt(&mut c, receipt, log, |_| Ok(())),
    }
    out.verdict = if c.0.iter().any(|k| k.status == Status::Fail) {
        ReceiptVerdict::Invalid
    } else if c.0.iter().any(|k| k.status == Status::Unavailable) {
        ReceiptVerdict::Unverified
    } else {
        ReceiptVerdict::Logged
    };
    out.checks = c.0;
    out
}
