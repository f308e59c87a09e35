//! The transparency log's math (`proofmark_core::tlog`): known answers from published data, and properties
//! over random trees.

use std::path::PathBuf;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use ed25519_dalek::SigningKey;
use proofmark_core::tlog::merkle::{
    self, empty_root, leaf_hash, node_hash, plan_consistency, plan_inclusion, plan_root, split_stored_hash_index,
    stored_hash_count, stored_hash_index, tiles, verify_consistency, verify_inclusion, Frontier, Hash, ProofError,
};
use proofmark_core::tlog::{
    Anchor, Checkpoint, EvmAnchor, Note, NoteError, NoteSigner, NoteVerifier, Receipt, ReceiptPolicy, RecordLeaf,
    TYPE_COSIGNATURE, TYPE_ED25519,
};
use proptest::prelude::*;
use serde_json::Value;

fn testdata() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../testdata/tlog")
}

/// An in-memory log: the stored hashes in append order, as the server keeps them in its database.
struct MemLog {
    frontier: Frontier,
    stored: Vec<Hash>,
    leaves: Vec<Hash>,
}

impl MemLog {
    fn new() -> Self {
        MemLog { frontier: Frontier::empty(), stored: Vec::new(), leaves: Vec::new() }
    }
    fn append(&mut self, data: &[u8]) {
        let lh = leaf_hash(data);
        assert_eq!(self.stored.len() as u64, stored_hash_index(0, self.frontier.size()));
        self.stored.extend(self.frontier.append(lh));
        self.leaves.push(lh);
        assert_eq!(self.stored.len() as u64, stored_hash_count(self.frontier.size()));
    }
    fn read(&self, idx: &[u64]) -> Vec<Hash> {
        idx.iter().map(|&i| self.stored[i as usize]).collect()
    }
    fn root(&self, size: u64) -> Hash {
        let plan = plan_root(size);
        plan.finish(&self.read(plan.indexes())).unwrap().first().copied().unwrap_or_else(empty_root)
    }
    fn inclusion(&self, index: u64, size: u64) -> Vec<Hash> {
        let plan = plan_inclusion(index, size).unwrap();
        plan.finish(&self.read(plan.indexes())).unwrap()
    }
    fn consistency(&self, old: u64, new: u64) -> Vec<Hash> {
        let plan = plan_consistency(old, new).unwrap();
        plan.finish(&self.read(plan.indexes())).unwrap()
    }
}

/// MTH straight from RFC 9162 §2.1.1, recursively: the reference the stored-hash code is checked against.
fn reference_root(leaves: &[Hash]) -> Hash {
    match leaves.len() {
        0 => empty_root(),
        1 => leaves[0],
        n => {
            let mut k = 1;
            while k * 2 < n {
                k *= 2;
            }
            node_hash(&reference_root(&leaves[..k]), &reference_root(&leaves[k..]))
        }
    }
}

// The eight leaves and the roots of every prefix from RFC 6962's reference tests, as published in
// transparency-dev/merkle `testonly/constants.go` (commit 417fb0c314750d94e53942e9f92e79b6d35915db).
const RFC6962_LEAVES: [&str; 8] =
    ["", "00", "10", "2021", "3031", "40414243", "5051525354555657", "606162636465666768696a6b6c6d6e6f"];
const RFC6962_ROOTS: [&str; 9] = [
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
];

fn rfc6962_log() -> MemLog {
    let mut log = MemLog::new();
    for l in RFC6962_LEAVES {
        log.append(&hex::decode(l).unwrap());
    }
    log
}

#[test]
fn rfc6962_roots_of_every_prefix() {
    let log = rfc6962_log();
    for (size, want) in RFC6962_ROOTS.iter().enumerate() {
        assert_eq!(hex::encode(log.root(size as u64)), *want, "size {size}");
        let leaves = &log.leaves[..size];
        assert_eq!(hex::encode(reference_root(leaves)), *want, "reference, size {size}");
    }
    // The leaf hash of the empty leaf, and the level-1 node over the first two leaves (constants.go).
    assert_eq!(hex::encode(log.leaves[0]), "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d");
    assert_eq!(hex::encode(log.stored[stored_hash_index(1, 0) as usize]), RFC6962_ROOTS[2]);
}

/// Decodes a vector's base64 value. An empty value is a missing hash, which Proofmark's typed API cannot
/// even express (receipts refuse it when parsed): `None`. Other values that are not 32 bytes ("don't care 1")
/// are opaque placeholders in the published data: each distinct string maps to its own SHA-256, so equal
/// strings stay equal, as the data means them.
fn vhash(v: &Value) -> Option<Hash> {
    let s = v.as_str().unwrap_or("");
    match B64.decode(s) {
        _ if s.is_empty() => None,
        Ok(b) if b.len() == 32 => Some(b.try_into().unwrap()),
        _ => Some(<sha2::Sha256 as sha2::Digest>::digest(format!("placeholder:{s}").as_bytes()).into()),
    }
}

fn vproof(v: &Value) -> Option<Vec<Hash>> {
    v.as_array().map_or(Some(Vec::new()), |a| a.iter().map(vhash).collect())
}

fn vectors(kind: &str) -> Vec<(PathBuf, Value)> {
    let mut out = Vec::new();
    let mut dirs = vec![testdata().join("transparency-dev").join(kind)];
    while let Some(d) = dirs.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                dirs.push(p);
            } else {
                let v = serde_json::from_slice(&std::fs::read(&p).unwrap()).unwrap();
                out.push((p, v));
            }
        }
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

/// transparency-dev/merkle `testdata/inclusion` (commit 417fb0c3…): every happy path verifies, every
/// corrupted one (flipped bits, wrong sizes, swapped roots, extra or missing hashes) is refused; and for the
/// 8-leaf tree, the proof we generate is the published one.
#[test]
fn transparency_dev_inclusion_vectors() {
    let log = rfc6962_log();
    let all = vectors("inclusion");
    assert_eq!(all.len(), 98, "the committed inclusion vectors");
    let (mut ok, mut refused) = (0, 0);
    for (path, v) in all {
        let (index, size) = (v["leafIdx"].as_u64().unwrap(), v["treeSize"].as_u64().unwrap());
        let (Some(proof), Some(leaf), Some(root)) = (vproof(&v["proof"]), vhash(&v["leafHash"]), vhash(&v["root"]))
        else {
            assert!(v["wantErr"].as_bool().unwrap(), "{}", path.display());
            refused += 1;
            continue;
        };
        let got = verify_inclusion(&leaf, index, size, &proof, &root);
        assert_eq!(got.is_err(), v["wantErr"].as_bool().unwrap(), "{}: {got:?}", path.display());
        if got.is_ok() {
            ok += 1;
            if size <= 8 && root == log.root(size) {
                assert_eq!(log.inclusion(index, size), proof, "{}", path.display());
            }
        } else {
            refused += 1;
        }
    }
    assert_eq!((ok, refused), (6, 92));
}

/// transparency-dev/merkle `testdata/consistency` (commit 417fb0c3…).
#[test]
fn transparency_dev_consistency_vectors() {
    let log = rfc6962_log();
    let all = vectors("consistency");
    assert_eq!(all.len(), 98, "the committed consistency vectors");
    let (mut ok, mut refused) = (0, 0);
    for (path, v) in all {
        let (old, new) = (v["size1"].as_u64().unwrap(), v["size2"].as_u64().unwrap());
        let (Some(proof), Some(root1), Some(root2)) = (vproof(&v["proof"]), vhash(&v["root1"]), vhash(&v["root2"]))
        else {
            assert!(v["wantErr"].as_bool().unwrap(), "{}", path.display());
            refused += 1;
            continue;
        };
        let got = verify_consistency(old, new, &proof, &root1, &root2);
        assert_eq!(got.is_err(), v["wantErr"].as_bool().unwrap(), "{}: {got:?}", path.display());
        if got.is_ok() {
            ok += 1;
            if new <= 8 && root2 == log.root(new) {
                assert_eq!(log.consistency(old, new), proof, "{}", path.display());
            }
        } else {
            refused += 1;
        }
    }
    assert_eq!((ok, refused), (6, 92));
}

#[test]
fn stored_hash_indexes_round_trip() {
    for i in 0..5000u64 {
        let (level, k) = split_stored_hash_index(i);
        assert_eq!(stored_hash_index(level, k), i, "{i}");
    }
    assert_eq!(stored_hash_index(0, 0), 0);
    assert_eq!(stored_hash_index(0, 1), 1);
    assert_eq!(stored_hash_index(1, 0), 2);
    assert_eq!(stored_hash_index(0, 2), 3);
    assert_eq!(stored_hash_count(7), 11);
    let big = 10_000_000_000u64;
    assert_eq!(split_stored_hash_index(stored_hash_index(7, big)), (7, big));
}

#[test]
fn tile_paths() {
    assert_eq!(tiles::encode_index(1_234_067), "x001/x234/067");
    assert_eq!(tiles::encode_index(0), "000");
    let p = tiles::parse("0/x001/x234/067").unwrap();
    assert_eq!((p.level, p.index, p.partial), (Some(0), 1_234_067, None));
    let p = tiles::parse("entries/x001/234.p/17").unwrap();
    assert_eq!((p.level, p.index, p.partial), (None, 1234, Some(17)));
    for bad in [
        "",
        "0",
        "00/000",
        "64/000",
        "0/1",
        "0/0000",
        "0/x000/001",
        "0/001/002",
        "0/001.p/0",
        "0/001.p/256",
        "0/001.p/07",
        "x/001",
        "0/-01",
        "0/00a",
    ] {
        assert!(tiles::parse(bad).is_none(), "{bad:?} parsed");
    }
    // The example from tlog-tiles: a tree of 70,000 leaves.
    assert_eq!(tiles::hashes_at_level(0, 70_000) / 256, 273);
    assert_eq!(tiles::hashes_at_level(0, 70_000) % 256, 112);
    assert_eq!(tiles::hashes_at_level(1, 70_000) % 256, 17);
    assert_eq!(tiles::hashes_at_level(2, 70_000), 1);
}

#[test]
fn tiles_hold_the_subtree_hashes() {
    let mut log = MemLog::new();
    for i in 0..(256 * 3 + 5) as u32 {
        log.append(&i.to_be_bytes());
    }
    // Level 0: leaf hashes; level 1: each hash is the root of 256 leaves.
    let t0 = log.read(&tiles::indexes(0, 1, 256));
    assert_eq!(t0, log.leaves[256..512]);
    let t1 = log.read(&tiles::indexes(1, 0, 3));
    for (i, h) in t1.iter().enumerate() {
        assert_eq!(*h, reference_root(&log.leaves[i * 256..(i + 1) * 256]));
    }
}

fn flip(h: &mut Hash, bit: usize) {
    h[bit / 8 % 32] ^= 1 << (bit % 8);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    /// Every inclusion proof from a random tree verifies against the root computed from stored hashes,
    /// which equals the RFC's recursive definition; one flipped bit in the leaf, any proof hash or the root,
    /// and any change of the index, fails. A changed size fails against the root of that size (a size is
    /// only ever trusted together with its root, from a signed checkpoint).
    #[test]
    fn inclusion_proofs_verify_and_any_change_fails(n in 1u64..300, pick in any::<u64>(), bit in 0usize..256,
                                                    size_bit in 0u32..10) {
        let mut log = MemLog::new();
        for i in 0..(2 * n + 2) {
            log.append(&i.to_le_bytes());
        }
        let i = pick % n;
        let root = log.root(n);
        prop_assert_eq!(root, reference_root(&log.leaves[..n as usize]));
        let proof = log.inclusion(i, n);
        prop_assert_eq!(proof.len(), merkle::inclusion_len(i, n));
        prop_assert!(verify_inclusion(&log.leaves[i as usize], i, n, &proof, &root).is_ok());

        let mut leaf = log.leaves[i as usize];
        flip(&mut leaf, bit);
        prop_assert!(verify_inclusion(&leaf, i, n, &proof, &root).is_err());
        let mut bad_root = root;
        flip(&mut bad_root, bit);
        prop_assert!(verify_inclusion(&log.leaves[i as usize], i, n, &proof, &bad_root).is_err());
        for k in 0..proof.len() {
            let mut p = proof.clone();
            flip(&mut p[k], bit);
            prop_assert!(verify_inclusion(&log.leaves[i as usize], i, n, &p, &root).is_err());
        }
        for b in 0..10 {
            let j = i ^ (1 << b);
            prop_assert!(verify_inclusion(&log.leaves[i as usize], j, n, &proof, &root).is_err(), "index {} for {}", j, i);
        }
        let m = n ^ (1 << size_bit);
        if m > 0 && m <= 2 * n + 2 {
            prop_assert!(verify_inclusion(&log.leaves[i as usize], i, m, &proof, &log.root(m)).is_err());
        }
        let mut longer = proof.clone();
        longer.push(root);
        prop_assert!(verify_inclusion(&log.leaves[i as usize], i, n, &longer, &root).is_err());
        if !proof.is_empty() {
            prop_assert!(verify_inclusion(&log.leaves[i as usize], i, n, &proof[1..], &root).is_err());
        }
    }

    /// Every consistency proof from a random tree verifies; one flipped bit in either root or any proof hash
    /// fails, and so does a changed size checked against that size's root.
    #[test]
    fn consistency_proofs_verify_and_any_change_fails(n in 1u64..300, pick in any::<u64>(), bit in 0usize..256,
                                                      size_bit in 0u32..10) {
        let mut log = MemLog::new();
        for i in 0..(2 * n + 2) {
            log.append(&i.to_le_bytes());
        }
        let m = 1 + pick % n;
        let (old_root, new_root) = (log.root(m), log.root(n));
        let proof = log.consistency(m, n);
        prop_assert!(verify_consistency(m, n, &proof, &old_root, &new_root).is_ok());
        let mut r = old_root;
        flip(&mut r, bit);
        prop_assert!(verify_consistency(m, n, &proof, &r, &new_root).is_err());
        let mut r = new_root;
        flip(&mut r, bit);
        prop_assert!(verify_consistency(m, n, &proof, &old_root, &r).is_err());
        for k in 0..proof.len() {
            let mut p = proof.clone();
            flip(&mut p[k], bit);
            prop_assert!(verify_consistency(m, n, &p, &old_root, &new_root).is_err());
        }
        let m2 = m ^ (1 << size_bit);
        if m2 > 0 && m2 <= n && m2 != m {
            prop_assert!(verify_consistency(m2, n, &proof, &log.root(m2), &new_root).is_err());
        }
        let n2 = n ^ (1 << size_bit);
        if n2 >= m && n2 <= 2 * n + 2 && n2 != n {
            prop_assert!(verify_consistency(m, n2, &proof, &old_root, &log.root(n2)).is_err());
        }
    }

    /// Appending leaves one batch at a time from a frontier rebuilt from stored hashes gives the same
    /// stored hashes as appending them all at once (the batcher's restart path).
    #[test]
    fn frontier_rebuilt_from_stored_hashes_continues_the_tree(n in 0u64..200, more in 1u64..100) {
        let mut all = MemLog::new();
        for i in 0..n + more {
            all.append(&i.to_le_bytes());
        }
        let mut part = MemLog::new();
        for i in 0..n {
            part.append(&i.to_le_bytes());
        }
        let idx = Frontier::indexes(n);
        let mut resumed = MemLog { frontier: Frontier::from_stored(n, part.read(&idx)).unwrap(), stored: part.stored, leaves: part.leaves };
        for i in n..n + more {
            resumed.append(&i.to_le_bytes());
        }
        prop_assert_eq!(resumed.frontier.root(), all.root(n + more));
        prop_assert_eq!(resumed.stored, all.stored);
    }
}

#[test]
fn proofs_refuse_impossible_requests() {
    assert_eq!(plan_inclusion(5, 5).unwrap_err(), ProofError::IndexOutOfRange { index: 5, size: 5 });
    assert_eq!(plan_consistency(6, 5).unwrap_err(), ProofError::SizesOutOfOrder { old: 6, new: 5 });
    assert_eq!(plan_consistency(0, 5).unwrap_err(), ProofError::EmptyOldTree);
    assert!(plan_consistency(5, 5).unwrap().indexes().is_empty());
    let plan = plan_inclusion(3, 8).unwrap();
    assert_eq!(plan.finish(&[]).unwrap_err(), ProofError::WrongHashCount { got: 0, want: 3 });
    assert!(Frontier::from_stored(3, vec![[0; 32]]).is_err());
}

// ---- signed notes, checkpoints, cosignatures ----

fn key(seed: u8) -> SigningKey {
    SigningKey::from_bytes(&[seed; 32])
}

/// The reference vector of Go's `golang.org/x/mod/sumdb/note` (note_test.go): the PeterNeumann signer and
/// verifier keys and the note "If you think cryptography is the answer to your problem, / then you don't
/// know what your problem is." with its published signature.
#[test]
fn go_sumdb_note_example_verifies() {
    let vkey = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW";
    let v = NoteVerifier::parse(vkey).unwrap();
    assert_eq!((v.name.as_str(), v.key_id, v.kind), ("PeterNeumann", 0xc74f20a3, TYPE_ED25519));
    assert_eq!(v.vkey(), vkey);
    let note = "If you think cryptography is the answer to your problem,\n\
                then you don't know what your problem is.\n\
                \n\
                — PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n";
    let parsed = Note::parse(note.as_bytes()).unwrap();
    assert_eq!(parsed.encode(), note);
    let ok = parsed.verify(std::slice::from_ref(&v)).unwrap();
    assert_eq!(ok.len(), 1);
    // The matching signer key from the same source signs the text to the same bytes (Ed25519 is
    // deterministic), so Go's tools accept what Proofmark signs.
    let signer =
        NoteSigner::parse("PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz").unwrap();
    assert_eq!(signer.verifier(), &v);
    assert_eq!(signer.sign(&parsed.text).unwrap(), parsed.signatures[0]);
    assert_eq!(
        &*signer.to_private_text(),
        "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz"
    );
    // One changed character in the text: the known key's signature fails, and that rejects the note.
    let tampered = note.replace("answer", "Answer");
    assert_eq!(
        Note::parse(tampered.as_bytes()).unwrap().verify(&[v]).unwrap_err(),
        NoteError::BadSignature { name: "PeterNeumann".into() }
    );
}

#[test]
fn notes_are_parsed_strictly() {
    let signer = NoteSigner::new("log.example/test", TYPE_ED25519, key(1)).unwrap();
    let cp = Checkpoint::new("log.example/test", 3, [7; 32]);
    let note = cp.sign(&signer).unwrap().encode();
    assert!(Note::parse(note.as_bytes()).is_ok());
    let cases: Vec<(String, &str)> = vec![
        (note.replace("\n\n", "\n"), "no blank line"),
        (note.trim_end().to_owned(), "signature line without newline"),
        (note.replace('\u{2014}', "-"), "no em dash"),
        (note.replace("log.example/test ", "log.example/test  "), "double space"),
        (format!("{note}\u{1}"), "control character"),
        (note.split("\n\n").next().unwrap().to_owned() + "\n\n", "no signatures"),
    ];
    for (bad, why) in cases {
        assert!(Note::parse(bad.as_bytes()).is_err(), "{why}");
    }
    assert_eq!(Note::parse(&vec![b'a'; 70_000]).unwrap_err(), NoteError::TooLarge);
    assert!(NoteSigner::new("bad name", TYPE_ED25519, key(1)).is_err());
    assert!(NoteSigner::new("bad+name", TYPE_ED25519, key(1)).is_err());
    // Keys round-trip through their text forms, and a wrong key ID is refused.
    let text = signer.to_private_text();
    assert_eq!(NoteSigner::parse(&text).unwrap().verifier(), signer.verifier());
    let vkey = signer.verifier().vkey();
    assert_eq!(&NoteVerifier::parse(&vkey).unwrap(), signer.verifier());
    let wrong_id = format!("log.example/test+00000000+{}", vkey.rsplit('+').next().unwrap());
    assert!(NoteVerifier::parse(&wrong_id).is_err());
}

#[test]
fn checkpoints_round_trip_and_refuse_bad_bodies() {
    let cp = Checkpoint::new("example.com/behind-the-sofa", 20852163, [9; 32]);
    assert_eq!(Checkpoint::parse_body(&cp.body()).unwrap(), cp);
    // The C2SP example's body parses to its size and root.
    let c2sp = "example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n";
    let parsed = Checkpoint::parse_body(c2sp).unwrap();
    assert_eq!(parsed.size, 20852163);
    assert_eq!(parsed.body(), c2sp);
    for bad in [
        "example.com\n012\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n",
        "example.com\n12\nnot base64\n",
        "example.com\n12\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=",
        "example.com\n12\n",
        "exa mple\n12\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n",
        "example.com\n-1\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n",
        "example.com\n18446744073709551616\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n",
    ] {
        assert!(Checkpoint::parse_body(bad).is_err(), "{bad:?}");
    }
}

/// The C2SP tlog-cosignature example: a witness's line carries an 8-byte big-endian timestamp and a
/// 64-byte signature after its key ID; ours has the same layout and verifies; another key's does not.
#[test]
fn cosignatures_follow_tlog_cosignature() {
    let log = NoteSigner::new("example.com/behind-the-sofa", TYPE_ED25519, key(2)).unwrap();
    let witness = NoteSigner::new("witness.example.com/w1", TYPE_COSIGNATURE, key(3)).unwrap();
    let cp = Checkpoint::new("example.com/behind-the-sofa", 20852163, [5; 32]);
    let mut note = cp.sign(&log).unwrap();
    let cosig = witness.cosign(&note.text, 1_679_315_147).unwrap();
    assert_eq!(cosig.bytes.len(), 72);
    assert_eq!(&cosig.bytes[..8], &1_679_315_147u64.to_be_bytes());
    // The key ID commits to type 0x04: the same key as a plain signer has another ID.
    let plain = NoteSigner::new("witness.example.com/w1", TYPE_ED25519, key(3)).unwrap();
    assert_ne!(plain.verifier().key_id, witness.verifier().key_id);
    note.signatures.push(cosig);
    let wire = note.encode();
    let parsed = Note::parse(wire.as_bytes()).unwrap();
    let v = parsed.verify(&[witness.verifier().clone()]).unwrap();
    assert_eq!(v[0].timestamp, Some(1_679_315_147));
    // The published example line decodes to key ID, timestamp and signature with the same layout.
    let example =
        "jWbPPwAAAABkGFDLEZMHwSRaJNiIDoe9DYn/zXcrtPHeolMI5OWXEhZCB9dlrDJsX3b2oyin1nPZqhf5nNo0xUe+mbIUBkBIfZ+qnA==";
    let raw = B64.decode(example).unwrap();
    assert_eq!(raw.len(), 4 + 8 + 64);
    assert_eq!(u64::from_be_bytes(raw[4..12].try_into().unwrap()), 1_679_315_147);
    // A cosignature over another checkpoint does not verify on this one.
    let other = Checkpoint::new("example.com/behind-the-sofa", 20852164, [5; 32]).sign(&log).unwrap();
    let mut forged = other.clone();
    forged.signatures.push(witness.cosign(&note.text, 1).unwrap());
    assert!(forged.verify(&[witness.verifier().clone()]).is_err());
}

// ---- leaves and receipts ----

fn leaf() -> RecordLeaf {
    RecordLeaf {
        record_id: "0b6f9f3e-2b7c-4bb5-9a51-0c7d6e2a4f10".into(),
        organization_id: "5d0c2a8e-6f1b-4c3a-8e57-9b2d1f0e3c44".into(),
        signer: [0x11; 32],
        sha256: [0x22; 32],
        watermarked_sha256: Some([0x33; 32]),
        phash: 0xc3c3_3c3c_0ff0_f00f,
        origin: Some("CAMERA".into()),
        signed_at: "2026-11-30T12:00:00Z".into(),
        video_chain_head: None,
        capture_sidecar_sha256: None,
    }
}

/// The leaf is documented byte for byte in docs/transparency-log.md; this is that example.
#[test]
fn leaf_bytes_are_canonical() {
    let bytes = leaf().encode().unwrap();
    let want = format!(
        "proofmark/record/v1\nrecord 0b6f9f3e-2b7c-4bb5-9a51-0c7d6e2a4f10\norganization 5d0c2a8e-6f1b-4c3a-8e57-9b2d1f0e3c44\n\
         signer ed25519:{}\nsha256 {}\nwatermarked-sha256 {}\nphash c3c33c3c0ff0f00f\norigin CAMERA\n\
         signed-at 2026-11-30T12:00:00Z\nvideo-chain-head -\ncapture-sidecar-sha256 -\n",
        "11".repeat(32),
        "22".repeat(32),
        "33".repeat(32)
    );
    assert_eq!(String::from_utf8(bytes.clone()).unwrap(), want);
    let doc = std::fs::read_to_string(testdata().join("../../docs/transparency-log.md")).unwrap();
    assert!(doc.contains(&want), "docs/transparency-log.md shows the example leaf");
    assert_eq!(RecordLeaf::parse(&bytes).unwrap(), leaf());
    // Any other spelling of the same facts is refused: one record, one leaf.
    let s = String::from_utf8(bytes).unwrap();
    for bad in [
        s.replace("0b6f9f3e", "0B6F9F3E"),
        s.replace("sha256 22", "sha256  22"),
        s.replace("origin CAMERA", "origin camera"),
        s.replace("T12:00:00Z", "T12:00:00+00:00"),
        s.replace(
            "\nvideo-chain-head -\ncapture-sidecar-sha256 -\n",
            "\ncapture-sidecar-sha256 -\nvideo-chain-head -\n",
        ),
        s.clone() + "extra 1\n",
        s.replace("phash c3c33c3c0ff0f00f", "phash c3c33c3c0ff0f00"),
        s.replace('\n', "\r\n"),
    ] {
        assert!(RecordLeaf::parse(bad.as_bytes()).is_err(), "{bad:?}");
    }
    let mut l = leaf();
    l.record_id = "not-a-uuid".into();
    assert!(l.encode().is_err());
}

struct Fixture {
    log_signer: NoteSigner,
    witness: NoteSigner,
    receipt: Receipt,
}

fn fixture(anchor: bool) -> Fixture {
    let log_signer = NoteSigner::new("log.proofmark.test", TYPE_ED25519, key(4)).unwrap();
    let witness = NoteSigner::new("witness.test/w1", TYPE_COSIGNATURE, key(5)).unwrap();
    let mut log = MemLog::new();
    let mut leaves = Vec::new();
    for i in 0..13u8 {
        let mut l = leaf();
        l.sha256 = [i; 32];
        leaves.push(l.encode().unwrap());
    }
    for l in &leaves {
        log.append(l);
    }
    let (index, size) = (6u64, 13u64);
    let mut note = Checkpoint::new("log.proofmark.test", size, log.root(size)).sign(&log_signer).unwrap();
    note.signatures.push(witness.cosign(&note.text, 1_790_000_000).unwrap());
    let hexes = |v: Vec<Hash>| v.iter().map(hex::encode).collect::<Vec<_>>();
    let anchor = if anchor {
        Anchor::Anchored(EvmAnchor {
            chain_id: 31337,
            contract: format!("0x{}", "ab".repeat(20)),
            transaction: format!("0x{}", "cd".repeat(32)),
            block_number: 7,
            tree_size: 9,
            root: hex::encode(log.root(9)),
            inclusion_path: hexes(log.inclusion(index, 9)),
            consistency_path: hexes(log.consistency(9, size)),
        })
    } else {
        Anchor::NotAnchored
    };
    let receipt = Receipt {
        leaf_index: index,
        tree_size: size,
        leaf: String::from_utf8(leaves[index as usize].clone()).unwrap(),
        inclusion_path: hexes(log.inclusion(index, size)),
        checkpoint: note.encode(),
        anchor,
    };
    Fixture { log_signer, witness, receipt }
}

fn policy(f: &Fixture, need: usize) -> ReceiptPolicy {
    ReceiptPolicy {
        log: f.log_signer.verifier().clone(),
        witnesses: vec![f.witness.verifier().clone()],
        min_witnesses: need,
    }
}

#[test]
fn receipts_verify_offline_and_tampering_names_the_reason() {
    let f = fixture(true);
    let ok = f.receipt.verify(&policy(&f, 1)).unwrap();
    assert_eq!(ok.checkpoint.size, 13);
    assert_eq!(ok.witnesses.len(), 1);
    assert_eq!(ok.anchor.unwrap().tree_size, 9);
    // JSON round trip, unknown fields refused.
    let json = serde_json::to_vec(&f.receipt).unwrap();
    assert_eq!(Receipt::parse(&json).unwrap(), f.receipt);
    let mut v: Value = serde_json::from_slice(&json).unwrap();
    v["extra"] = Value::Bool(true);
    assert_eq!(Receipt::parse(&serde_json::to_vec(&v).unwrap()).unwrap_err().code(), "receipt_malformed");

    let code = |r: &Receipt, need: usize| r.verify(&policy(&f, need)).unwrap_err().code();
    let mut r = f.receipt.clone();
    r.leaf = r.leaf.replace("origin CAMERA", "origin EDIT");
    assert_eq!(code(&r, 0), "inclusion_invalid");
    let mut r = f.receipt.clone();
    r.leaf_index ^= 1;
    assert_eq!(code(&r, 0), "inclusion_invalid");
    let mut r = f.receipt.clone();
    r.tree_size += 1;
    assert_eq!(code(&r, 0), "tree_size_mismatch");
    let mut r = f.receipt.clone();
    r.inclusion_path[1] = hex::encode([0u8; 32]);
    assert_eq!(code(&r, 0), "inclusion_invalid");
    let mut r = f.receipt.clone();
    r.checkpoint = r.checkpoint.replacen("\n13\n", "\n14\n", 1);
    assert_eq!(code(&r, 0), "checkpoint_signature_invalid");
    let mut r = f.receipt.clone();
    r.checkpoint = r.checkpoint.replace("log.proofmark.test", "other.test");
    assert_eq!(code(&r, 0), "checkpoint_origin_mismatch");
    let mut r = f.receipt.clone();
    r.leaf = r.leaf.replace("record ", "record  ");
    assert_eq!(code(&r, 0), "leaf_malformed");
    // A witness quorum of 2 with one witness cosigning; and a receipt without the cosignature.
    assert_eq!(code(&f.receipt, 2), "witness_quorum_not_met");
    let mut r = f.receipt.clone();
    let note = Note::parse(r.checkpoint.as_bytes()).unwrap();
    r.checkpoint = Note { text: note.text.clone(), signatures: note.signatures[..1].to_vec() }.encode();
    assert_eq!(code(&r, 1), "witness_quorum_not_met");
    assert!(r.verify(&policy(&f, 0)).is_ok());
    // A cosignature that does not verify (its timestamp changed) rejects the note.
    let mut bad = note.clone();
    bad.signatures[1].bytes[7] ^= 1;
    let mut r = f.receipt.clone();
    r.checkpoint = bad.encode();
    assert_eq!(code(&r, 1), "witness_signature_invalid");
    // Signed by another key under the log's name.
    let mut r = f.receipt.clone();
    let impostor = NoteSigner::new("log.proofmark.test", TYPE_ED25519, key(9)).unwrap();
    r.checkpoint = Note { text: note.text.clone(), signatures: vec![impostor.sign(&note.text).unwrap()] }.encode();
    assert_eq!(code(&r, 0), "checkpoint_not_signed_by_log");
    // The anchor: a wrong root, a consistency hash flipped, a size that does not cover the leaf.
    let anchored = |edit: &dyn Fn(&mut EvmAnchor)| {
        let mut r = f.receipt.clone();
        if let Anchor::Anchored(a) = &mut r.anchor {
            edit(a);
        }
        code(&r, 0)
    };
    assert_eq!(anchored(&|a| a.root = hex::encode([1u8; 32])), "anchor_inclusion_invalid");
    assert_eq!(anchored(&|a| a.consistency_path[0] = hex::encode([1u8; 32])), "anchor_consistency_invalid");
    assert_eq!(anchored(&|a| a.inclusion_path[0] = hex::encode([1u8; 32])), "anchor_inclusion_invalid");
    assert_eq!(anchored(&|a| a.tree_size = 6), "anchor_does_not_cover_leaf");
    assert_eq!(anchored(&|a| a.contract = "0x12".into()), "anchor_malformed");
    // Not anchored is a valid receipt too.
    let f2 = fixture(false);
    assert!(f2.receipt.verify(&policy(&f2, 1)).unwrap().anchor.is_none());
}

/// The `tlog` fuzz target's seeds (`fuzz/seeds/tlog/`) come from this fixture; the seed receipt verifies with
/// the key the fuzz body trusts, so mutations of it reach every check. `PROOFMARK_WRITE_TLOG_SEEDS=1`
/// rewrites them.
#[test]
fn tlog_fuzz_seeds_reach_every_check() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/seeds/tlog");
    let f = fixture(true);
    assert_eq!(f.log_signer.verifier().vkey(), proofmark_core::fuzzing::FUZZ_LOG_VKEY);
    if std::env::var_os("PROOFMARK_WRITE_TLOG_SEEDS").is_some() {
        std::fs::create_dir_all(&dir).unwrap();
        let note = Note::parse(f.receipt.checkpoint.as_bytes()).unwrap();
        let files: Vec<(&str, Vec<u8>)> = vec![
            ("receipt.json", serde_json::to_vec_pretty(&f.receipt).unwrap()),
            ("checkpoint.note", f.receipt.checkpoint.clone().into_bytes()),
            ("checkpoint.body", note.text.into_bytes()),
            ("leaf.txt", f.receipt.leaf.clone().into_bytes()),
            ("tile-path.txt", b"1/x001/234.p/17".to_vec()),
            ("entries-path.txt", b"entries/005".to_vec()),
            ("log.vkey", f.log_signer.verifier().vkey().into_bytes()),
            ("witness.vkey", f.witness.verifier().vkey().into_bytes()),
        ];
        for (name, bytes) in files {
            std::fs::write(dir.join(name), bytes).unwrap();
        }
    }
    let receipt = Receipt::parse(&std::fs::read(dir.join("receipt.json")).unwrap()).unwrap();
    let log = NoteVerifier::parse(proofmark_core::fuzzing::FUZZ_LOG_VKEY).unwrap();
    receipt.verify(&ReceiptPolicy { log, witnesses: Vec::new(), min_witnesses: 0 }).unwrap();
}
