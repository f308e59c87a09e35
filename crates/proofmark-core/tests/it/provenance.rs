//! Publisher-plane evidence: each way a file can be tied to a signed record, each way that evidence can fail,
//! and the verdict each gives. The receipts are real: a two-leaf log signed by a log key.
use ed25519_dalek::{Signer, SigningKey};
use proofmark_core::provenance::{
    assess, ContentReport, ContentVerdict, MatchedBy, Observation, SignedRecord, WatermarkRead,
};
use proofmark_core::tlog::merkle::{leaf_hash, node_hash};
use proofmark_core::tlog::{Anchor, Checkpoint, NoteSigner, NoteVerifier, Receipt, RecordLeaf, TYPE_ED25519};
use proofmark_core::{CheckCode, ContentHash, Reason, Status};

const ORIGINAL: &[u8] = b"the original file";
const MARKED: &[u8] = b"the watermarked file";
const PHASH: u64 = 0xc3c3_3c3c_0ff0_f00f;
const PAYLOAD: [u8; 16] = [7; 16];

fn org_key() -> SigningKey {
    SigningKey::from_bytes(&[0x41; 32])
}

fn log_signer() -> NoteSigner {
    NoteSigner::new("log.provenance.test", TYPE_ED25519, SigningKey::from_bytes(&[0x42; 32])).unwrap()
}

pub fn log_key() -> NoteVerifier {
    log_signer().verifier().clone()
}

fn leaf_of(r: &SignedRecord) -> Vec<u8> {
    let h = |s: &str| {
        let mut out = [0u8; 32];
        hex::decode_to_slice(s, &mut out).unwrap();
        out
    };
    RecordLeaf {
        record_id: r.record_id.clone(),
        organization_id: r.organization_id.clone(),
        signer: h(&r.public_key),
        sha256: h(&r.sha256),
        watermarked_sha256: r.watermarked_sha256.as_deref().map(h),
        phash: u64::from_str_radix(&r.phash, 16).unwrap(),
        origin: r.origin.clone(),
        signed_at: r.signed_at.clone(),
        video_chain_head: None,
        capture_sidecar_sha256: None,
    }
    .encode()
    .unwrap()
}

/// A record signed by the organisation, and (when `logged`) its receipt in a two-leaf log beside `other`.
pub fn record(id_digit: char, logged: bool) -> SignedRecord {
    let key = org_key();
    let sha256 = ContentHash::of(ORIGINAL).to_string();
    let signed_at = "2026-11-30T12:00:00Z".to_owned();
    let fingerprint = format!("{sha256}|{PHASH:016x}|{signed_at}|api-key:1");
    let mut r = SignedRecord {
        record_id: format!("{}-2b7c-4bb5-9a51-0c7d6e2a4f10", id_digit.to_string().repeat(8)),
        organization_id: "5d0c2a8e-6f1b-4c3a-8e57-9b2d1f0e3c44".into(),
        organization_name: "Example News".into(),
        public_key: hex::encode(key.verifying_key().to_bytes()),
        signature: hex::encode(key.sign(fingerprint.as_bytes()).to_bytes()),
        fingerprint,
        sha256,
        watermarked_sha256: Some(ContentHash::of(MARKED).to_string()),
        phash: format!("{PHASH:016x}"),
        watermark_payload: Some(hex::encode(PAYLOAD)),
        origin: Some("CAMERA".into()),
        signed_at,
        deleted_at: None,
        receipt: None,
    };
    if logged {
        r.receipt = Some(receipt_for(&r));
    }
    r
}

/// Sign the record's fingerprint again after a test changed its facts (and drop its receipt).
fn resign(r: &mut SignedRecord) {
    r.fingerprint = format!("{}|{}|{}|api-key:1", r.sha256, r.phash, r.signed_at);
    r.signature = hex::encode(org_key().sign(r.fingerprint.as_bytes()).to_bytes());
    r.receipt = Some(receipt_for(r));
}

fn receipt_for(r: &SignedRecord) -> Receipt {
    let mut other = r.clone();
    other.record_id = "99999999-2b7c-4bb5-9a51-0c7d6e2a4f10".into();
    let (a, b) = (leaf_of(r), leaf_of(&other));
    let root = node_hash(&leaf_hash(&a), &leaf_hash(&b));
    let note = Checkpoint::new("log.provenance.test", 2, root).sign(&log_signer()).unwrap();
    Receipt {
        leaf_index: 0,
        tree_size: 2,
        leaf: String::from_utf8(a).unwrap(),
        inclusion_path: vec![hex::encode(leaf_hash(&b))],
        checkpoint: note.encode(),
        anchor: Anchor::NotAnchored,
    }
}

fn observe(bytes: &[u8], phash: Option<u64>, watermark: Option<WatermarkRead>) -> Observation {
    Observation { sha256: ContentHash::of(bytes), phash, watermark }
}

fn mark(bits_off: u32, crc_ok: bool) -> Option<WatermarkRead> {
    let mut payload = PAYLOAD;
    for i in 0..bits_off {
        payload[(i / 8) as usize] ^= 1 << (i % 8);
    }
    Some(WatermarkRead { payload, crc_ok })
}

fn status(r: &ContentReport, code: CheckCode) -> (Status, Option<Reason>) {
    let c = r.checks.iter().find(|c| c.code == code).unwrap();
    (c.status, c.reason)
}

/// (the code a report must carry, the report): for the codes test.
pub fn reports_by_code() -> Vec<(&'static str, ContentReport)> {
    let key = log_key();
    let logged = record('1', true);
    let mut forged = logged.clone();
    forged.signature = forged.signature.replacen(&forged.signature[..2], "00", 1);
    let mut restated = logged.clone();
    restated.fingerprint = restated.fingerprint.replacen("c3c3", "0000", 1);
    let mut badkey = logged.clone();
    badkey.public_key = "zz".into();
    let mut swapped = logged.clone();
    swapped.receipt = Some(receipt_for(&record('2', false)));
    let o = observe(ORIGINAL, Some(PHASH), None);
    vec![
        (
            "watermark_mismatch",
            assess(
                observe(ORIGINAL, Some(PHASH), Some(WatermarkRead { payload: [9; 16], crc_ok: true })),
                std::slice::from_ref(&logged),
                Some(&key),
            ),
        ),
        ("record_signature_invalid", assess(o.clone(), &[forged], Some(&key))),
        ("record_fingerprint_mismatch", assess(o.clone(), &[restated], Some(&key))),
        ("record_key_malformed", assess(o.clone(), &[badkey], Some(&key))),
        ("log_receipt_pending", assess(o.clone(), &[record('1', false)], Some(&key))),
        ("log_key_unavailable", assess(o.clone(), &[logged], None)),
        ("record_mismatch", assess(o, &[swapped], Some(&key))),
    ]
}

#[test]
fn exact_bytes_with_signature_and_log_are_the_intact_original() {
    let r = record('1', true);
    for bytes in [ORIGINAL, MARKED] {
        let report = assess(observe(bytes, Some(PHASH), None), std::slice::from_ref(&r), Some(&log_key()));
        assert_eq!(report.verdict, ContentVerdict::IntactOriginal, "{report:#?}");
        assert!(report.verdict.authentic());
        assert_eq!(status(&report, CheckCode::RecordSha256).0, Status::Pass);
        assert_eq!(status(&report, CheckCode::RecordSignature).0, Status::Pass);
        assert_eq!(status(&report, CheckCode::LogInclusion).0, Status::Pass);
        assert_eq!(status(&report, CheckCode::LogAnchor).0, Status::NotApplicable);
        assert!(report.summary.starts_with("intact original: record 11111111-"), "{}", report.summary);
    }
}

#[test]
fn the_watermark_ties_a_re_encoded_copy_to_its_record_within_six_bits() {
    let r = record('1', true);
    let new_bytes = b"re-encoded pixels";
    // Exact (the CRC passed), and a guess 6 bits off when it did not.
    for (off, crc) in [(0, true), (6, false)] {
        let report =
            assess(observe(new_bytes, Some(PHASH ^ 0b111), mark(off, crc)), std::slice::from_ref(&r), Some(&log_key()));
        assert_eq!(report.verdict, ContentVerdict::DerivedFromSignedOriginal, "{report:#?}");
        assert_eq!(report.matched_by, Some(MatchedBy::Watermark { bits_off: off }));
        assert!(report.summary.starts_with("derived from a signed original"), "{}", report.summary);
    }
    // 7 bits off is no watermark match; the pHash still says the picture looks like it, which never
    // authenticates.
    let report =
        assess(observe(new_bytes, Some(PHASH ^ 0b111), mark(7, false)), std::slice::from_ref(&r), Some(&log_key()));
    assert_eq!(report.verdict, ContentVerdict::LooksLikeRecord, "{report:#?}");
    assert!(!report.verdict.authentic());
    // A guess that passed the CRC must be exact: one bit off is another payload.
    let report = assess(observe(new_bytes, None, mark(1, true)), &[r], Some(&log_key()));
    assert_eq!(report.verdict, ContentVerdict::NoRecord, "{report:#?}");
}

#[test]
fn phash_alone_looks_like_a_record_and_never_authenticates() {
    let r = record('1', true);
    for (distance, verdict) in
        [(0, ContentVerdict::LooksLikeRecord), (10, ContentVerdict::LooksLikeRecord), (11, ContentVerdict::NoRecord)]
    {
        let flipped = PHASH ^ ((1u64 << distance) - 1);
        let report =
            assess(observe(b"a similar picture", Some(flipped), None), std::slice::from_ref(&r), Some(&log_key()));
        assert_eq!(report.verdict, verdict, "distance {distance}: {report:#?}");
        assert!(!report.verdict.authentic());
    }
}

#[test]
fn a_record_not_yet_logged_is_signed_but_not_intact() {
    let report = assess(observe(ORIGINAL, Some(PHASH), None), &[record('1', false)], Some(&log_key()));
    assert_eq!(report.verdict, ContentVerdict::SignedNotYetLogged);
    assert!(!report.verdict.authentic());
    assert_eq!(status(&report, CheckCode::LogInclusion), (Status::Unavailable, Some(Reason::LogReceiptPending)));
}

#[test]
fn broken_evidence_is_invalid_and_names_the_reason() {
    for (code, report) in reports_by_code() {
        let failed: Vec<&str> = report.checks.iter().filter_map(|c| c.reason.map(Reason::as_str)).collect();
        assert!(failed.contains(&code), "{code}: {report:#?}");
        if report.checks.iter().any(|c| c.status == Status::Fail) {
            assert_eq!(report.verdict, ContentVerdict::Invalid, "{code}");
            assert!(report.summary.starts_with("invalid: "), "{}", report.summary);
        }
    }
    // A receipt signed by another log.
    let other = NoteSigner::new("log.provenance.test", TYPE_ED25519, SigningKey::from_bytes(&[0x43; 32])).unwrap();
    let report = assess(observe(ORIGINAL, None, None), &[record('1', true)], Some(other.verifier()));
    assert_eq!(status(&report, CheckCode::LogInclusion), (Status::Fail, Some(Reason::CheckpointNotSignedByLog)));
}

#[test]
fn the_strongest_verified_match_wins_and_near_duplicates_are_listed_apart() {
    let exact = record('1', true);
    let mut near = record('3', true);
    near.sha256 = ContentHash::of(b"another original").to_string();
    near.watermarked_sha256 = None;
    near.watermark_payload = None;
    resign(&mut near);
    let report = assess(observe(ORIGINAL, Some(PHASH), None), &[near.clone(), exact.clone()], Some(&log_key()));
    assert_eq!(report.record.as_ref().unwrap().record_id, exact.record_id);
    assert_eq!(report.similar.len(), 1);
    assert_eq!(report.similar[0].record_id, near.record_id);
    // No record with matching bytes: a near-duplicate of another record never makes the file authentic.
    let report = assess(observe(b"unrelated", Some(PHASH ^ 1), None), &[near], Some(&log_key()));
    assert_eq!(report.verdict, ContentVerdict::LooksLikeRecord);
}
