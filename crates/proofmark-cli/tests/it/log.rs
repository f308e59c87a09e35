//! `proofmark log …` against real `proofmark serve` processes: a signed photo's receipt verified offline, with a
//! witness's cosignature that the witness command published; tampering named precisely; a monitor printing
//! checkpoints; and a forked log (two servers grown from one copied database) refused by the witness and
//! flagged by the monitor, with nothing cosigned on the fork.
use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::server::{post, Server};
use crate::support::*;

pub const FAST: [(&str, &str); 1] = [("PROOFMARK_LOG_BATCH_INTERVAL_MS", "100")];

/// An organisation with a signing key and an API key (scope `sign`); returns the API key.
pub fn api_key(url: &str, org: &str) -> String {
    api_key_with(url, org, &["sign"])
}

/// An organisation with a signing key and an API key with `scopes`; returns the API key.
pub fn api_key_with(url: &str, org: &str, scopes: &[&str]) -> String {
    let email = format!("desk@{}.example", org.to_lowercase());
    let body = json!({"email": email, "password": "long enough!", "full_name": "Desk", "organization_name": org});
    let (status, body) = post(&format!("{url}/api/v1/auth/register"), None, &[], Some(body));
    assert_eq!(status, 201, "{body}");
    let session = body["access_token"].as_str().unwrap().to_owned();
    let (status, _) = post(&format!("{url}/api/v1/keys/signing-keys"), Some(&session), &[], Some(json!({"name": "k"})));
    assert_eq!(status, 201);
    let (status, key) = post(
        &format!("{url}/api/v1/keys/api-keys"),
        Some(&session),
        &[],
        Some(json!({"name": "cli", "scopes": scopes})),
    );
    assert_eq!(status, 201);
    key["key"].as_str().unwrap().to_owned()
}

/// Signs a copy of astronaut.png named `name` (no watermark: fast) and returns the record id.
fn sign(url: &str, key: &str, dir: &Path, name: &str) -> String {
    let file = dir.join(name);
    std::fs::copy(repo().join("../shared/images/astronaut.png"), &file).unwrap();
    let out = proofmark_env(
        &["sign", "--server", url, "--no-watermark", "--json", file.to_str().unwrap()],
        &[("PROOFMARK_API_KEY", key)],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let answers: Value = serde_json::from_str(&stdout(&out)).unwrap();
    answers[0]["record_id"].as_str().unwrap().to_owned()
}

/// `proofmark log receipt` until the record is in the log.
pub fn receipt(url: &str, id: &str, out: &Path) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let o = proofmark(&["log", "receipt", id, "--log", url, "--output", out.to_str().unwrap()]);
        if o.status.code() == Some(0) {
            return;
        }
        assert!(stderr(&o).contains("is not in the log yet"), "{}", stderr(&o));
        assert!(Instant::now() < deadline, "no receipt for {id}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

pub fn log_vkey(url: &str) -> String {
    ureq::get(&format!("{url}/api/v1/log/key")).call().unwrap().into_string().unwrap().trim().to_owned()
}

/// Waits until the log's checkpoint has `size` leaves.
fn wait_size(url: &str, size: u64) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let note = ureq::get(&format!("{url}/log/checkpoint")).call().unwrap().into_string().unwrap();
        if note.lines().nth(1) == Some(&size.to_string()) {
            return;
        }
        assert!(Instant::now() < deadline, "the log did not reach {size}: {note}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn receipts_verify_offline_with_a_witness_cosignature() {
    let dir = tempfile::tempdir().unwrap();
    let wkey = dir.path().join("witness.key");
    let out = proofmark(&["log", "witness-key", "--name", "witness.test/w1", "--output", wkey.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let witness_vkey = stdout(&out).trim().to_owned();
    assert!(witness_vkey.starts_with("witness.test/w1+"), "{witness_vkey}");
    assert!(
        proofmark(&["log", "witness-key", "--name", "w", "--output", wkey.to_str().unwrap()]).status.code() == Some(2)
    );

    let env = [FAST[0], ("PROOFMARK_LOG_WITNESSES", witness_vkey.as_str())];
    let server = Server::start_env(&dir.path().join("data"), &[], &env);
    let url = server.url.clone();
    let key = api_key(&url, "Gazette");
    let id = sign(&url, &key, dir.path(), "photo.png");
    let before = dir.path().join("before.json");
    receipt(&url, &id, &before);
    let vkey = log_vkey(&url);

    // Without witnesses: valid; demanding one: not yet.
    let o = proofmark(&["log", "verify-receipt", before.to_str().unwrap(), "--log-key", &vkey]);
    assert_eq!(o.status.code(), Some(0), "{}{}", stdout(&o), stderr(&o));
    assert!(stdout(&o).starts_with(&format!("VALID: record {id} is leaf 0 of 127.0.0.1:")), "{}", stdout(&o));
    assert!(stdout(&o).contains("not anchored"), "{}", stdout(&o));
    let demand = ["--witness", witness_vkey.as_str(), "--min-witnesses", "1"];
    let o =
        proofmark(&[&["log", "verify-receipt", before.to_str().unwrap(), "--log-key", &vkey][..], &demand].concat());
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stdout(&o).starts_with("INVALID (witness_quorum_not_met): the receipt's checkpoint: 0 of the 1"),
        "{}",
        stdout(&o)
    );

    // The witness follows the log once: it cosigns and publishes; the new receipt carries the cosignature.
    let state = dir.path().join("witness.state");
    let follow = ["--log", url.as_str(), "--state", state.to_str().unwrap(), "--once"];
    let o = proofmark(&[&["log", "witness", "--key", wkey.to_str().unwrap()][..], &follow].concat());
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(stdout(&o).contains(" 1 "), "prints the checkpoint it cosigned: {}", stdout(&o));
    let after = dir.path().join("after.json");
    receipt(&url, &id, &after);
    let o = proofmark(
        &[&["log", "verify-receipt", after.to_str().unwrap(), "--log-key", &vkey, "--json"][..], &demand].concat(),
    );
    assert_eq!(o.status.code(), Some(0), "{}", stdout(&o));
    let report: Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!((report["valid"].clone(), report["witnesses"].clone()), (json!(true), json!(["witness.test/w1"])));

    // Tampering is named: another origin code in the leaf, another log key, a malformed file.
    let text = std::fs::read_to_string(&after).unwrap();
    let tampered = dir.path().join("tampered.json");
    std::fs::write(&tampered, text.replace("origin -", "origin CAMERA")).unwrap();
    let o = proofmark(&["log", "verify-receipt", tampered.to_str().unwrap(), "--log-key", &vkey]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stdout(&o).starts_with("INVALID (inclusion_invalid): the inclusion proof does not hold"), "{}", stdout(&o));
    let o = proofmark(&["log", "verify-receipt", after.to_str().unwrap(), "--log-key", &witness_vkey]);
    assert_eq!(o.status.code(), Some(2), "a witness key is not a log key");
    std::fs::write(&tampered, "{}").unwrap();
    let o = proofmark(&["log", "verify-receipt", tampered.to_str().unwrap(), "--log-key", &vkey]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("receipt"), "{}", stderr(&o));

    // The monitor pins the served key on first contact and prints the checkpoint.
    let mstate = dir.path().join("monitor.state");
    let o = proofmark(&["log", "monitor", "--log", &url, "--state", mstate.to_str().unwrap(), "--once"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(stderr(&o).contains("pinned the log key"), "{}", stderr(&o));
    assert!(stdout(&o).split_whitespace().nth(1) == Some("1"), "{}", stdout(&o));
}

#[test]
fn a_forked_log_is_refused_by_the_witness_and_flagged_by_the_monitor() {
    let dir = tempfile::tempdir().unwrap();
    let wkey = dir.path().join("witness.key");
    let out = proofmark(&["log", "witness-key", "--name", "witness.test/w2", "--output", wkey.to_str().unwrap()]);
    let witness_vkey = stdout(&out).trim().to_owned();
    let env = [FAST[0], ("PROOFMARK_LOG_WITNESSES", witness_vkey.as_str())];
    let (a_dir, b_dir) = (dir.path().join("a"), dir.path().join("b"));
    // One log with one record, then its database copied: two servers with the same key and history.
    let a = Server::start_env(&a_dir, &["--issuer", "https://log.test"], &env);
    let key = api_key(&a.url, "Forked");
    sign(&a.url, &key, dir.path(), "one.png");
    wait_size(&a.url, 1);
    drop(a);
    copy_dir(&a_dir, &b_dir);
    let a = Server::start_env(&a_dir, &["--issuer", "https://log.test"], &env);
    let b = Server::start_env(&b_dir, &["--issuer", "https://log.test"], &env);
    assert_eq!(log_vkey(&a.url), log_vkey(&b.url));
    let vkey = log_vkey(&a.url);

    let state = dir.path().join("witness.state");
    let witness = |url: &str| {
        proofmark(&[
            "log",
            "witness",
            "--key",
            wkey.to_str().unwrap(),
            "--log",
            url,
            "--log-key",
            &vkey,
            "--state",
            state.to_str().unwrap(),
            "--once",
        ])
    };
    assert_eq!(witness(&a.url).status.code(), Some(0));
    // The two copies now grow apart: a different record on each.
    sign(&a.url, &key, dir.path(), "two-a.png");
    sign(&b.url, &key, dir.path(), "two-b.png");
    wait_size(&a.url, 2);
    wait_size(&b.url, 2);
    let o = witness(&a.url);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    // Same size, another root: refused, and nothing is cosigned on B.
    let o = witness(&b.url);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(stderr(&o).contains("ALARM (witness): two roots for tree size 2"), "{}", stderr(&o));
    let served_b = ureq::get(&format!("{}/log/checkpoint", b.url)).call().unwrap().into_string().unwrap();
    assert!(!served_b.contains("witness.test/w2"), "{served_b}");
    let served_a = ureq::get(&format!("{}/log/checkpoint", a.url)).call().unwrap().into_string().unwrap();
    assert!(served_a.contains("— witness.test/w2 "), "{served_a}");
    // B grows further: a larger checkpoint that does not extend A's is refused too (consistency fails).
    sign(&b.url, &key, dir.path(), "three-b.png");
    wait_size(&b.url, 3);
    let o = witness(&b.url);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("is not consistent with the verified 2"), "{}", stderr(&o));
    // A monitor that saw A flags B the same way; the state it keeps still says A.
    let mstate = dir.path().join("monitor.state");
    let monitor =
        |url: &str| proofmark(&["log", "monitor", "--log", url, "--state", mstate.to_str().unwrap(), "--once"]);
    assert_eq!(monitor(&a.url).status.code(), Some(0));
    let o = monitor(&b.url);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("ALARM (monitor)"), "{}", stderr(&o));
    let kept: Value = serde_json::from_slice(&std::fs::read(&mstate).unwrap()).unwrap();
    assert_eq!(kept["tree_size"], 2);
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let target = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &target);
        } else {
            std::fs::copy(e.path(), &target).unwrap();
        }
    }
}

/// The whole path on a real local chain: `proofmark serve` anchors its checkpoint in a registry deployed on
/// anvil; the receipt says so, verifies offline and on chain (`--rpc`); a receipt naming a registry that
/// holds nothing is invalid on chain, and a node of another chain cannot verify it.
#[test]
fn an_anchored_receipt_verifies_on_chain() {
    use proofmark_anchor::testing::{Anvil, CHAIN_ID, DEV_KEY};
    let anvil = Anvil::start(&[]);
    let rt = tokio::runtime::Runtime::new().unwrap();
    let empty_registry = rt.block_on(async {
        let chain = proofmark_anchor::Chain::connect(&anvil.url, CHAIN_ID, &DEV_KEY).await.unwrap();
        chain.deploy().await.unwrap().to_string()
    });
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    // The operator's path: the submitter key is made and sealed by the first admin command, its address is
    // funded, and the registry is deployed with it.
    let admin_env = [
        ("PROOFMARK_KEK", crate::server::KEK),
        ("PROOFMARK_ANCHOR_RPC_URL", anvil.url.as_str()),
        ("PROOFMARK_ANCHOR_CHAIN_ID", "31337"),
    ];
    let d = data.to_str().unwrap();
    let o = proofmark_env(&["admin", "anchor-address", "--data-dir", d], &admin_env);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let submitter = stdout(&o).trim().to_owned();
    assert!(submitter.starts_with("0x") && submitter.len() == 42, "{submitter}");
    let o = proofmark_env(&["admin", "deploy-registry", "--data-dir", d], &admin_env);
    assert_eq!(o.status.code(), Some(2), "no funds yet");
    anvil.rpc("anvil_setBalance", json!([submitter, "0x56BC75E2D63100000"]));
    let o = proofmark_env(&["admin", "deploy-registry", "--data-dir", d], &admin_env);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let contract = stdout(&o).trim().to_owned();
    assert_eq!(
        proofmark_env(&["admin", "anchor-address", "--data-dir", d], &admin_env).stdout,
        format!("{submitter}\n").into_bytes()
    );
    let env = [
        FAST[0],
        ("PROOFMARK_ANCHOR_RPC_URL", anvil.url.as_str()),
        ("PROOFMARK_ANCHOR_CHAIN_ID", "31337"),
        ("PROOFMARK_ANCHOR_CONTRACT", contract.as_str()),
        ("PROOFMARK_ANCHOR_CONFIRMATIONS", "1"),
        ("PROOFMARK_ANCHOR_POLL_MS", "100"),
    ];
    let server = Server::start_env(&data, &[], &env);
    let url = server.url.clone();
    let key = api_key(&url, "Chain");
    let id = sign(&url, &key, dir.path(), "anchored.png");
    let file = dir.path().join("receipt.json");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        receipt(&url, &id, &file);
        let r: Value = serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap();
        if r["anchor"]["status"] == "anchored" {
            assert_eq!(r["anchor"]["contract"].as_str().unwrap().to_lowercase(), contract.to_lowercase());
            break;
        }
        assert!(Instant::now() < deadline, "not anchored: {r}");
        std::thread::sleep(Duration::from_millis(100));
    }
    let vkey = log_vkey(&url);
    let path = file.to_str().unwrap();
    let o = proofmark(&["log", "verify-receipt", path, "--log-key", &vkey, "--rpc", &anvil.url]);
    assert_eq!(o.status.code(), Some(0), "{}{}", stdout(&o), stderr(&o));
    assert!(
        stdout(&o).contains("anchored on chain 31337 in block ") && stdout(&o).contains("checked on chain"),
        "{}",
        stdout(&o)
    );
    // The same receipt pointing at a registry that holds nothing: fine offline, invalid on chain.
    let moved = std::fs::read_to_string(&file)
        .unwrap()
        .replace(&contract, &empty_registry)
        .replace(&contract.to_lowercase(), &empty_registry.to_lowercase());
    let moved_file = dir.path().join("moved.json");
    std::fs::write(&moved_file, moved).unwrap();
    let o = proofmark(&["log", "verify-receipt", moved_file.to_str().unwrap(), "--log-key", &vkey]);
    assert_eq!(o.status.code(), Some(0), "offline, the contract address is only a pointer");
    let o =
        proofmark(&["log", "verify-receipt", moved_file.to_str().unwrap(), "--log-key", &vkey, "--rpc", &anvil.url]);
    assert_eq!(o.status.code(), Some(1), "{}{}", stdout(&o), stderr(&o));
    assert!(stdout(&o).starts_with("INVALID (anchor_not_on_chain): the registry "), "{}", stdout(&o));
    // Another chain's node: could not verify.
    let other = Anvil::start_chain(5, &[]);
    let o = proofmark(&["log", "verify-receipt", path, "--log-key", &vkey, "--rpc", &other.url]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("serves chain 5; the receipt's anchor is on chain 31337"), "{}", stderr(&o));
}
