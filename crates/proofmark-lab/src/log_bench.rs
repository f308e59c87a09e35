//! `proofmark-lab log`: the transparency log's figures (docs/benchmarks.md): leaves appended per second in
//! batches through the store's real batch path, proof generation from stored hashes at given tree sizes,
//! verification time, proof sizes and storage per leaf.
use std::sync::Arc;
use std::time::Instant;

use anyhow::{anyhow, bail, Context, Result};
use proofmark_core::tlog::merkle::{self, leaf_hash};
use proofmark_core::tlog::{NoteSigner, Receipt, ReceiptPolicy, TYPE_ED25519};
use proofmark_store::{
    AttestationProvider, ContentRecord, OrgId, Publisher, Role, SigningAlgorithm, SigningKey, SigningKeyId, Store,
    Timestamp, User, UserId,
};

#[derive(Debug, clap::Args)]
pub struct LogBenchArgs {
    /// The store: sqlite://PATH or postgres://… (its migrations are applied).
    #[arg(long, value_name = "URL")]
    database_url: String,
    /// Records to add before appending (through the store's API; 0 to use what is pending).
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Only make the benchmark's organisation and signing key, print `ORG KEY`, and stop (for seeding in bulk
    /// with SQL).
    #[arg(long)]
    org_only: bool,
    /// Records per batch (`log.batch_max`).
    #[arg(long, default_value_t = 10_000)]
    batch: u32,
    /// Tree sizes to measure proofs at (each must be a checkpoint the run made: a multiple of --batch).
    #[arg(long, value_delimiter = ',')]
    proofs: Vec<u64>,
    /// Proofs per measurement.
    #[arg(long, default_value_t = 1000)]
    samples: usize,
}

fn signer() -> NoteSigner {
    // A fixed key: the benchmark's log is thrown away.
    NoteSigner::new("bench.proofmark.test/log", TYPE_ED25519, ed25519_dalek::SigningKey::from_bytes(&[42; 32]))
        .expect("a valid name")
}

async fn org_and_key(store: &dyn Store) -> Result<(OrgId, SigningKeyId)> {
    let org = Publisher {
        publisher_id: OrgId::random(),
        name: format!("Bench {}", uuid::Uuid::new_v4()),
        sandbox: true,
        attestation_provider: AttestationProvider::None,
        attestation_bundle_id: None,
        firebase_project_id: None,
        created_at: Timestamp(1_800_000_000),
    };
    let user = User {
        user_id: UserId::random(),
        org_id: org.publisher_id,
        email: format!("{}@bench.example", uuid::Uuid::new_v4()),
        password_hash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA".into(),
        full_name: "Bench".into(),
        role: Role::Owner,
        created_at: Timestamp(1_800_000_000),
    };
    store.create_account(&org, &user, None).await?;
    let key = SigningKey {
        key_id: SigningKeyId::random(),
        org_id: org.publisher_id,
        name: "bench".into(),
        algorithm: SigningAlgorithm::Ed25519,
        public_key: hex::encode(ed25519_dalek::SigningKey::from_bytes(&[43; 32]).verifying_key().as_bytes()),
        custody: proofmark_store::KeyCustody::Client,
        sealed_private_key: Vec::new(),
        created_at: Timestamp(1_800_000_000),
        retired_at: None,
    };
    store.create_signing_key(&key).await?;
    Ok((org.publisher_id, key.key_id))
}

fn record(org: OrgId, key: SigningKeyId, i: u64) -> ContentRecord {
    ContentRecord {
        phash: i.wrapping_mul(0x9e37_79b9_7f4a_7c15),
        ..ContentRecord::registered(org, key, format!("{i:064x}"), Timestamp(1_800_000_000))
    }
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

/// A small deterministic generator for the sampled indexes.
struct Xorshift(u64);
impl Xorshift {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

pub fn run(args: &LogBenchArgs) -> Result<()> {
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    rt.block_on(run_async(args))
}

async fn run_async(args: &LogBenchArgs) -> Result<()> {
    let store = proofmark_store::open(&args.database_url).await.context("opening the store")?;
    let backend = store.backend();
    if args.org_only {
        let (org, key) = org_and_key(store.as_ref()).await?;
        println!("{org} {key}");
        return Ok(());
    }
    if args.seed > 0 {
        let (org, key) = org_and_key(store.as_ref()).await?;
        let started = Instant::now();
        let tasks = if backend == "postgres" { 8 } else { 1 };
        let store: Arc<dyn Store> = store.clone();
        let mut handles = Vec::new();
        for t in 0..tasks {
            let store = store.clone();
            let n = args.seed;
            handles.push(tokio::spawn(async move {
                let mut i = t;
                while i < n {
                    store.create_record(&record(org, key, i), &[]).await?;
                    i += tasks;
                }
                Ok::<_, proofmark_store::StoreError>(())
            }));
        }
        for h in handles {
            h.await??;
        }
        eprintln!("seeded {} records in {:.1} s", args.seed, started.elapsed().as_secs_f64());
    }
    let log = signer();
    let pending = store.log_pending().await?;
    let before_size = store.log_checkpoint().await?.map_or(0, |c| c.tree_size);
    let started = Instant::now();
    let mut batches = 0u64;
    let mut slowest = 0f64;
    while let Some(b) = {
        let t = Instant::now();
        let b = store.log_append(&log, args.batch, Timestamp(1_800_000_000)).await?;
        slowest = slowest.max(t.elapsed().as_secs_f64() * 1000.0);
        b
    } {
        batches += 1;
        if batches.is_multiple_of(50) {
            eprintln!("  {} leaves", b.checkpoint.tree_size);
        }
    }
    let secs = started.elapsed().as_secs_f64();
    let size = store.log_checkpoint().await?.map_or(0, |c| c.tree_size);
    let appended = size - before_size;
    if appended != pending {
        bail!("{pending} records were pending but {appended} were appended");
    }
    println!("store: {backend}; log size {size}");
    if appended > 0 {
        println!(
            "append: {appended} leaves in {batches} batches of {} in {secs:.1} s: {:.0} leaves/s (goal ≥ 20000); slowest batch {slowest:.0} ms",
            args.batch,
            appended as f64 / secs
        );
    }
    let bytes = store.log_storage_bytes().await?;
    println!(
        "storage: {bytes} bytes for {size} leaves: {:.0} bytes per leaf (leaf text, 2 stored hashes, indexes)",
        bytes as f64 / size.max(1) as f64
    );
    let sizes = store.log_checkpoint_sizes().await?;
    for &n in &args.proofs {
        if !sizes.contains(&n) {
            bail!("no checkpoint at tree size {n} (sizes are multiples of --batch from where this log began)");
        }
        proofs_at(store.as_ref(), &log, n, args.samples).await?;
    }
    Ok(())
}

async fn proofs_at(store: &dyn Store, log: &NoteSigner, n: u64, samples: usize) -> Result<()> {
    let cp = store.log_checkpoint_at(n).await?.ok_or_else(|| anyhow!("no checkpoint {n}"))?;
    let mut rng = Xorshift(0x9e37_79b9_7f4a_7c15 ^ n);
    let (mut incl, mut cons, mut ver, mut full) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let (mut incl_len, mut cons_len) = (0usize, 0usize);
    for _ in 0..samples {
        let i = rng.below(n);
        let t = Instant::now();
        let plan = merkle::plan_inclusion(i, n)?;
        let path = plan.finish(&store.log_hashes(plan.indexes()).await?)?;
        incl.push(t.elapsed().as_secs_f64() * 1e3);
        incl_len = incl_len.max(path.len());
        let old = 1 + rng.below(n - 1).max(1);
        let t = Instant::now();
        let plan = merkle::plan_consistency(old, n)?;
        let cpath = plan.finish(&store.log_hashes(plan.indexes()).await?)?;
        cons.push(t.elapsed().as_secs_f64() * 1e3);
        cons_len = cons_len.max(cpath.len());
        // Verification: the RFC 9162 path alone, and a whole receipt (leaf parse, checkpoint signature).
        let leaf = store.log_entries(i, i + 1).await?.pop().ok_or_else(|| anyhow!("leaf {i}"))?;
        let lh = leaf_hash(&leaf);
        let t = Instant::now();
        merkle::verify_inclusion(&lh, i, n, &path, &cp.root)?;
        ver.push(t.elapsed().as_secs_f64() * 1e6);
        let receipt = Receipt {
            leaf_index: i,
            tree_size: n,
            leaf: String::from_utf8(leaf)?,
            inclusion_path: path.iter().map(hex::encode).collect(),
            checkpoint: cp.note.clone(),
            anchor: proofmark_core::tlog::Anchor::NotAnchored,
        };
        let policy = ReceiptPolicy { log: log.verifier().clone(), witnesses: Vec::new(), min_witnesses: 0 };
        let t = Instant::now();
        receipt.verify(&policy).map_err(|e| anyhow!("receipt: {e}"))?;
        full.push(t.elapsed().as_secs_f64() * 1e6);
    }
    for v in [&mut incl, &mut cons, &mut ver, &mut full] {
        v.sort_by(f64::total_cmp);
    }
    println!("tree size {n} ({samples} random samples):");
    println!(
        "  inclusion proof from stored hashes: p50 {:.3} ms, p95 {:.3} ms (goal ≤ 1 ms); {} hashes = {} bytes at most",
        percentile(&incl, 0.5),
        percentile(&incl, 0.95),
        incl_len,
        incl_len * 32
    );
    println!(
        "  consistency proof: p50 {:.3} ms, p95 {:.3} ms; {} hashes = {} bytes at most",
        percentile(&cons, 0.5),
        percentile(&cons, 0.95),
        cons_len,
        cons_len * 32
    );
    println!(
        "  verify the inclusion path: p50 {:.1} µs, p95 {:.1} µs (goal ≤ 50 µs); a whole receipt (leaf, note, Ed25519): p50 {:.1} µs",
        percentile(&ver, 0.5),
        percentile(&ver, 0.95),
        percentile(&full, 0.5)
    );
    Ok(())
}
