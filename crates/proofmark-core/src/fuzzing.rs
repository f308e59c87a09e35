//! Entry points for the cargo-fuzz targets in `fuzz/` (each target is three lines calling one of these).
//! They must never panic, whatever the bytes.
use crate::hash::ContentHash;
use crate::jwks::{IssuerKey, Jwks};
use crate::jwt::{CaptureClaims, DecodedJwt};
use crate::sidecar::Sidecar;
use crate::verify::{verify, KeyRing, KeySource, Policy, VerifyInput};

/// Sidecar parsing, and the whole verifier over the same bytes.
pub fn sidecar(data: &[u8]) {
    if let Ok(s) = Sidecar::parse(data) {
        let again = Sidecar::parse(s.to_json_pretty().as_bytes());
        assert_eq!(again.as_ref().ok(), Some(&s), "write/parse round trip");
    }
    // The test vectors' issuer key (xtask), so the seeds reach the signature checks; derived once.
    static KEYS: std::sync::OnceLock<KeyRing> = std::sync::OnceLock::new();
    let keys = KEYS.get_or_init(|| {
        use sha2::Digest;
        let mut keys = KeyRing::new();
        if let Some(k) = IssuerKey::from_scalar_bytes(&sha2::Sha256::digest(b"proofmark test vectors: issuer")) {
            keys.add_key(k.public_jwk(), KeySource::Unbound { label: "fuzz".into() });
        }
        keys
    });
    let _ = verify(VerifyInput {
        sidecar: data,
        media_hash: &ContentHash::of(b""),
        keys,
        policy: &Policy::permissive(),
        now: Some(1_800_000_000),
    });
}

/// Compact JWS decoding and claim extraction.
pub fn jwt(data: &[u8]) {
    if let Ok(text) = core::str::from_utf8(data) {
        if let Ok(j) = DecodedJwt::decode(text) {
            let _ = crate::jwt::check_alg(&j.header);
            let _ = CaptureClaims::from_payload(&j.payload);
        }
    }
}

/// JWKS parsing.
pub fn jwks(data: &[u8]) {
    if let Ok(set) = Jwks::parse(data) {
        let _ = Jwks::parse(set.to_json().as_bytes()).map(|again| assert_eq!(again.keys.len(), set.keys.len()));
    }
}

/// Issuer URLs (from a sidecar's token) through the key-fetching rules: never a panic; an accepted URL
/// parses again to the same target; an accepted IP literal passes the address rules it was vetted by.
pub fn issuer_url(data: &[u8]) {
    use crate::fetch_rules::{classify, FetchTarget, TargetHost};
    let Ok(text) = core::str::from_utf8(data) else { return };
    for allow_insecure in [false, true] {
        if let Ok(t) = FetchTarget::issuer_jwks(text, allow_insecure) {
            let again = FetchTarget::parse(&t.url, allow_insecure).expect("an accepted URL parses again");
            assert_eq!(again.host, t.host, "{text:?}");
            assert_eq!(again.port, t.port, "{text:?}");
            if let TargetHost::Ip(ip) = t.host {
                assert!(t.vet_address(ip).is_ok(), "{text:?}");
                let _ = classify(ip);
            }
        }
    }
    if data.len() >= 16 {
        let mut v6 = [0u8; 16];
        v6.copy_from_slice(&data[..16]);
        let _ = classify(core::net::IpAddr::from(v6));
    }
}

/// The transparency log's parsers of untrusted bytes: signed notes, checkpoint bodies, record leaves, tile
/// paths, verifier and signer keys, and receipts (parsed, then verified against a fixed log key). Whatever
/// parses must encode back to the same bytes: each thing has exactly one spelling.
pub fn tlog(data: &[u8]) {
    use crate::tlog::{merkle::tiles, Checkpoint, Note, NoteSigner, NoteVerifier, Receipt, ReceiptPolicy, RecordLeaf};
    if let Ok(note) = Note::parse(data) {
        assert_eq!(note.encode().as_bytes(), data, "note round trip");
        if let Ok(cp) = Checkpoint::parse_body(&note.text) {
            assert_eq!(cp.body(), note.text, "checkpoint round trip");
        }
    }
    if let Ok(leaf) = RecordLeaf::parse(data) {
        assert_eq!(leaf.encode().ok().as_deref(), Some(data), "leaf round trip");
    }
    let Ok(text) = core::str::from_utf8(data) else { return };
    if let Ok(cp) = Checkpoint::parse_body(text) {
        assert_eq!(cp.body(), text, "checkpoint round trip");
    }
    if let Some(t) = tiles::parse(text) {
        let level = t.level.map_or_else(|| "entries".to_owned(), |l| l.to_string());
        let partial = t.partial.map(|w| format!(".p/{w}")).unwrap_or_default();
        assert_eq!(format!("{level}/{}{partial}", tiles::encode_index(t.index)), text, "tile path round trip");
    }
    if let Ok(v) = NoteVerifier::parse(text) {
        assert_eq!(v.vkey(), text.trim(), "vkey round trip");
    }
    if let Ok(s) = NoteSigner::parse(text) {
        assert_eq!(&*s.to_private_text(), text.trim(), "signer key round trip");
    }
    if let Ok(r) = Receipt::parse(data) {
        // The seeds' log key (fuzz/seeds/tlog), so a seed receipt reaches every check.
        static POLICY: std::sync::OnceLock<Option<ReceiptPolicy>> = std::sync::OnceLock::new();
        let policy = POLICY.get_or_init(|| {
            let log = NoteVerifier::parse(FUZZ_LOG_VKEY).ok()?;
            Some(ReceiptPolicy { log, witnesses: Vec::new(), min_witnesses: 0 })
        });
        if let Some(p) = policy {
            let _ = r.verify(p);
        }
    }
}

/// The verifier key of the log that signed the `tlog` seeds (seed bytes `[4; 32]`, name `log.proofmark.test`).
pub const FUZZ_LOG_VKEY: &str = "log.proofmark.test+e8ce1256+AcqTrBcFGHBx1nuDx/8O/oEI6OxFMFdddyaHkzPb2r58";

/// `count` inputs derived from `seeds` for running the fuzz bodies in `cargo test`: truncations, bit flips,
/// inserted and deleted bytes and splices of two seeds, from a fixed xorshift stream (the same inputs on
/// every run). The first `keep` bytes of each seed are left alone (a target that reads a selector byte).
pub fn mutations(seeds: &[Vec<u8>], count: usize, keep: usize) -> Vec<Vec<u8>> {
    let mut x = 0x2545_f491_4f6c_dd1du64;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    if seeds.is_empty() {
        return Vec::new();
    }
    (0..count)
        .map(|i| {
            let mut v = seeds[i % seeds.len()].clone();
            for _ in 0..=(next() % 4) {
                let lo = keep.min(v.len());
                let at = if v.len() <= lo { v.len() } else { lo + (next() as usize) % (v.len() - lo) };
                match next() % 5 {
                    0 => v.truncate(at),
                    1 if at < v.len() => v[at] ^= 1 << (next() % 8),
                    2 => v.insert(at, (next() & 0xff) as u8),
                    3 if at < v.len() => {
                        v.remove(at);
                    }
                    _ => {
                        let other = &seeds[(next() as usize) % seeds.len()];
                        let from = if other.is_empty() { 0 } else { (next() as usize) % other.len() };
                        v.truncate(at);
                        v.extend_from_slice(&other[from..]);
                    }
                }
            }
            v
        })
        .collect()
}
