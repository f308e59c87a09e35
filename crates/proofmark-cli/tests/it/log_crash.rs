//! The log's batches under failure, with the real binary (issue 14 §3–4):
//! - killed with SIGKILL at random points while records pour in and batches run every 20 ms, 50 times in a
//!   row on SQLite and 50 on PostgreSQL; after the last restart every record is in the log exactly once,
//!   every acknowledged one among them, and every stored checkpoint is signed, matches the leaves, and is
//!   consistent with the next;
//! - two processes on one PostgreSQL under load: both batch, no index is assigned twice and no record is
//!   skipped.
use std::collections::HashSet;
use std::path::Path;
use std::process::Child;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use proofmark_core::tlog::merkle::{self, leaf_hash, plan_consistency, Frontier};
use proofmark_core::tlog::{verify_signed_checkpoint, NoteVerifier, RecordLeaf};
use serde_json::{json, Value};

use crate::server::{post, serve_wrapped};

/// The loader's organisation and API key on the server at `url`.
fn api_key_and_org(url: &str) -> (proofmark_store::OrgId, String) {
    let body = json!({"email": "load@crash.example", "password": "long enough!", "full_name": "Load", "organization_name": "Crash Test"});
    let (status, body) = post(&format!("{url}/api/v1/auth/register"), None, &[], Some(body));
    assert_eq!(status, 201, "{body}");
    let session = body["access_token"].as_str().unwrap().to_owned();
    let org = body["organization"]["id"].as_str().unwrap().parse().unwrap();
    let (status, _) = post(&format!("{url}/api/v1/keys/signing-keys"), Some(&session), &[], Some(json!({"name": "k"})));
    assert_eq!(status, 201);
    let (status, key) = post(
        &format!("{url}/api/v1/keys/api-keys"),
        Some(&session),
        &[],
        Some(json!({"name": "load", "scopes": ["sign"]})),
    );
    assert_eq!(status, 201);
    (org, key["key"].as_str().unwrap().to_owned())
}

/// One signed record (no watermark, a tiny PNG): its id if the server acknowledged it.
fn sign_one(url: &str, key: &str, png: &[u8]) -> Option<String> {
    let boundary = "proofmark-crash-boundary";
    let mut body = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"p.png\"\r\nContent-Type: image/png\r\n\r\n"
    )
    .into_bytes();
    body.extend_from_slice(png);
    body.extend_from_slice(
        format!(
            "\r\n--{boundary}\r\nContent-Disposition: form-data; name=\"watermark\"\r\n\r\nfalse\r\n--{boundary}--\r\n"
        )
        .as_bytes(),
    );
    let answer = ureq::post(&format!("{url}/api/v1/sign"))
        .timeout(Duration::from_secs(10))
        .set("Authorization", &format!("Bearer {key}"))
        .set("Content-Type", &format!("multipart/form-data; boundary={boundary}"))
        .send_bytes(&body)
        .ok()?;
    let v: Value = answer.into_json().ok()?;
    v["record_id"].as_str().map(String::from)
}

fn png() -> Vec<u8> {
    std::fs::read(crate::support::repo().join("../shared/images/astronaut.png")).unwrap()
}

/// Posts records to `url` until `stop`, adding each acknowledged id to `acked`.
fn load(
    url: String,
    key: String,
    stop: Arc<AtomicBool>,
    acked: Arc<Mutex<Vec<String>>>,
) -> std::thread::JoinHandle<()> {
    let png = png();
    std::thread::spawn(move || {
        while !stop.load(Ordering::Relaxed) {
            if let Some(id) = sign_one(&url, &key, &png) {
                acked.lock().unwrap().push(id);
            }
        }
    })
}

fn kill(mut child: Child) {
    let _ = child.kill(); // SIGKILL
    let _ = child.wait();
}

/// Waits until nothing is pending: the newest checkpoint covers every record in the store.
async fn drained(store: &dyn proofmark_store::Store, within: Duration) {
    let deadline = Instant::now() + within;
    while store.log_pending().await.unwrap() > 0 {
        assert!(Instant::now() < deadline, "records still pending");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The whole stored log, checked from the outside: leaves parse, each record once, every checkpoint
/// signed by `key` with the root of its prefix of leaves, and consistent with the next by an RFC 9162 proof.
async fn audit(store: &dyn proofmark_store::Store, key: &NoteVerifier) -> (u64, HashSet<String>) {
    let sizes = store.log_checkpoint_sizes().await.unwrap();
    let size = *sizes.last().unwrap();
    let entries = store.log_entries(0, size + 1).await.unwrap();
    assert_eq!(entries.len() as u64, size, "leaves beyond the newest checkpoint");
    let ids: HashSet<String> = entries.iter().map(|e| RecordLeaf::parse(e).unwrap().record_id).collect();
    assert_eq!(ids.len() as u64, size, "a record in the log twice");
    let mut frontier = Frontier::empty();
    let mut leaves = entries.iter();
    let mut previous: Option<(u64, [u8; 32])> = None;
    for &s in &sizes {
        while frontier.size() < s {
            frontier.append(leaf_hash(leaves.next().unwrap()));
        }
        let cp = store.log_checkpoint_at(s).await.unwrap().unwrap();
        let v = verify_signed_checkpoint(cp.note.as_bytes(), key, &[], 0).unwrap();
        assert_eq!((v.checkpoint.size, v.checkpoint.root), (s, frontier.root()), "checkpoint {s}");
        if let Some((old, old_root)) = previous.filter(|(old, _)| *old > 0) {
            let plan = plan_consistency(old, s).unwrap();
            let proof = plan.finish(&store.log_hashes(plan.indexes()).await.unwrap()).unwrap();
            merkle::verify_consistency(old, s, &proof, &old_root, &cp.root).unwrap();
        }
        previous = Some((s, cp.root));
    }
    (size, ids)
}

fn log_key(url: &str) -> NoteVerifier {
    let text = ureq::get(&format!("{url}/api/v1/log/key")).call().unwrap().into_string().unwrap();
    NoteVerifier::parse(text.trim()).unwrap()
}

/// xorshift: the same kill points on every run (the seed is printed on failure).
struct Rng(u64);
impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

const ROUNDS: usize = 50;
/// Records added straight to the store before each restart: a backlog the batcher works through in batches
/// of `PROOFMARK_LOG_BATCH_MAX`, back to back, so kills land inside batch transactions.
const BACKLOG: u64 = 600;
const BATCHING: [(&str, &str); 3] = [
    ("PROOFMARK_LOG_BATCH_INTERVAL_MS", "50"),
    ("PROOFMARK_LOG_BATCH_MAX", "150"),
    ("PROOFMARK_RATE_LIMIT_PER_IP", "0"),
];

/// `n` records of the organisation's signing key, written to the store directly (the server is down).
async fn backlog(store: &dyn proofmark_store::Store, org: &proofmark_store::OrgId, round: usize, n: u64) {
    let key = store.signing_keys(org).await.unwrap().remove(0);
    for i in 0..n {
        let r = proofmark_store::ContentRecord {
            phash: i,
            ..proofmark_store::ContentRecord::registered(
                *org,
                key.key_id,
                format!("{:032x}{:032x}", round, i),
                proofmark_store::Timestamp(1_800_000_000),
            )
        };
        store.create_record(&r, &[]).await.unwrap();
    }
}

fn kill_loop(data: &Path, database_url: Option<&str>, seed: u64) {
    let mut env: Vec<(&str, &str)> = BATCHING.to_vec();
    if let Some(u) = database_url {
        env.push(("PROOFMARK_DATABASE_URL", u));
    }
    let rt = tokio::runtime::Runtime::new().unwrap();
    let store_url =
        database_url.map(String::from).unwrap_or_else(|| format!("sqlite://{}", data.join("proofmark.db").display()));
    let (child, url, _) = serve_wrapped(data, &[], &env);
    let (org, key) = api_key_and_org(&url);
    let log = log_key(&url);
    kill(child);
    let acked = Arc::new(Mutex::new(Vec::new()));
    let mut rng = Rng(seed);
    let mut busy_kills = 0;
    // Under load (the whole suite on two cores) a short round may answer no sign request before its kill; the
    // rounds go on, with longer runs, until some records were acknowledged (at most twice as many rounds).
    let mut round = 0;
    while round < ROUNDS || (acked.lock().unwrap().len() < 10 && round < 2 * ROUNDS) {
        rt.block_on(async {
            let store = proofmark_store::open(&store_url).await.unwrap();
            backlog(store.as_ref(), &org, round, BACKLOG).await;
        });
        let (child, url, _) = serve_wrapped(data, &[], &env);
        let stop = Arc::new(AtomicBool::new(false));
        let loaders: Vec<_> = (0..2).map(|_| load(url.clone(), key.clone(), stop.clone(), acked.clone())).collect();
        // Records arrive from the loaders while the batcher works through the backlog; kill at a random point.
        let extra = if round >= ROUNDS { 400 } else { 0 };
        std::thread::sleep(Duration::from_millis(10 + rng.below(150) + extra));
        kill(child);
        stop.store(true, Ordering::Relaxed);
        for l in loaders {
            l.join().unwrap();
        }
        // Killed with records still pending: the batcher, which appends back to back while a backlog
        // remains, was in the middle of its work.
        let pending =
            rt.block_on(async { proofmark_store::open(&store_url).await.unwrap().log_pending().await.unwrap() });
        if pending > 0 {
            busy_kills += 1;
        }
        round += 1;
    }
    // The last restart drains what is pending; then the store is audited from the outside.
    let (child, _url, _) = serve_wrapped(data, &[], &env);
    rt.block_on(async {
        let store = proofmark_store::open(&store_url).await.unwrap();
        drained(store.as_ref(), Duration::from_secs(120)).await;
        kill(child);
        let (size, ids) = audit(store.as_ref(), &log).await;
        let acked = acked.lock().unwrap().clone();
        // SQLite has one writer: sign requests queue behind the backlog's batches, so fewer are answered
        // before a kill than on PostgreSQL; some must be.
        assert!(acked.len() >= 10, "only {} records acknowledged (seed {seed})", acked.len());
        for id in acked.iter() {
            assert!(ids.contains(id), "acknowledged record {id} is not in the log (seed {seed})");
        }
        // Every record the store holds (acknowledged, cut off before its answer, or from the backlog) is in
        // the log: nothing pending, and the log has exactly as many distinct records as its size.
        assert_eq!(store.log_pending().await.unwrap(), 0);
        assert!(size >= acked.len() as u64 + round as u64 * BACKLOG, "seed {seed}");
        assert!(busy_kills * 2 >= ROUNDS, "only {busy_kills} of {round} kills hit a busy batcher (seed {seed})");
        eprintln!(
            "kill loop ({}): {round} kills, {busy_kills} with the batcher busy, {} records acknowledged, log size {size}",
            store.backend(),
            acked.len()
        );
    });
}

#[test]
fn sigkill_during_batching_loses_and_duplicates_nothing_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    kill_loop(&dir.path().join("data"), None, 0x9e37_79b9_7f4a_7c15);
}

#[test]
fn sigkill_during_batching_loses_and_duplicates_nothing_on_postgres() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let base = proofmark_store::test_postgres_url();
    let url = rt
        .block_on(proofmark_store::create_postgres_schema(&base))
        .unwrap_or_else(|e| panic!("PostgreSQL at {base} is required (PROOFMARK_TEST_DATABASE_URL): {e}"));
    let dir = tempfile::tempdir().unwrap();
    kill_loop(&dir.path().join("data"), Some(&url), 0x2545_f491_4f6c_dd1d);
}

#[test]
fn two_processes_on_one_postgres_share_the_log_without_a_duplicate_or_a_gap() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let base = proofmark_store::test_postgres_url();
    let db = rt
        .block_on(proofmark_store::create_postgres_schema(&base))
        .unwrap_or_else(|e| panic!("PostgreSQL at {base} is required (PROOFMARK_TEST_DATABASE_URL): {e}"));
    let dir = tempfile::tempdir().unwrap();
    let env: Vec<(&str, &str)> = [BATCHING.as_slice(), &[("PROOFMARK_DATABASE_URL", db.as_str())]].concat();
    let (a, a_url, a_log) = serve_wrapped(&dir.path().join("a"), &[], &env);
    let (b, b_url, b_log) = serve_wrapped(&dir.path().join("b"), &[], &env);
    let (_, key) = api_key_and_org(&a_url);
    let log = log_key(&a_url);
    assert_eq!(log.vkey(), log_key(&b_url).vkey(), "one log, one key");
    let acked = Arc::new(Mutex::new(Vec::new()));
    let stop = Arc::new(AtomicBool::new(false));
    let loaders: Vec<_> = [&a_url, &b_url, &a_url, &b_url]
        .into_iter()
        .map(|u| load(u.clone(), key.clone(), stop.clone(), acked.clone()))
        .collect();
    std::thread::sleep(Duration::from_secs(4));
    stop.store(true, Ordering::Relaxed);
    for l in loaders {
        l.join().unwrap();
    }
    rt.block_on(async {
        let store = proofmark_store::open(&db).await.unwrap();
        drained(store.as_ref(), Duration::from_secs(30)).await;
        let (size, ids) = audit(store.as_ref(), &log).await;
        let acked = acked.lock().unwrap().clone();
        assert_eq!(size, acked.len() as u64, "every record once, none skipped");
        assert!(acked.iter().all(|id| ids.contains(id)));
        assert!(size > 50, "under load: {size} records");
    });
    kill(a);
    kill(b);
    let batches = |log: &Path| std::fs::read_to_string(log).unwrap().matches("log batch").count();
    let (na, nb) = (batches(&a_log), batches(&b_log));
    assert!(na > 0 && nb > 0, "both processes batched: {na} and {nb} batches");
}
