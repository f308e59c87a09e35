//! `proofmark-lab capture`: load on the capture hot path (session + trust) of a server on this machine.
//! Workers loop session → trust for a fixed time; the report gives trust tokens per second, p50/p99
//! latency, errors, and duplicate redemptions (every redeemed nonce is replayed afterwards and must fail;
//! every token's capture id must be distinct).
use std::collections::HashSet;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use base64::Engine;
use serde_json::{json, Value};

#[derive(Debug, clap::Subcommand)]
pub enum BenchCommand {
    /// Load the capture hot path of a running `proofmark serve` (loopback addresses only).
    Capture(CaptureBenchArgs),
    /// Similarity search: query latency and recall at Hamming ≤ 10, next to the 4-hex-prefix method.
    PhashIndex(IndexBenchArgs),
    /// pHash speed: decode + hash each file repeatedly, one core.
    Phash(PhashBenchArgs),
    /// Watermark robustness (SPEC §3.3 attack suite), quality, speed and false accepts; optionally beside
    /// the Python invisible-watermark dwtDctSvd baseline.
    Watermark(crate::wm_bench::WatermarkBenchArgs),
    /// POST /api/v1/sign latency (p50/p95, by server stage) and throughput at each concurrency, against a
    /// running server; optionally its peak RSS.
    Sign(crate::sign_bench::SignBenchArgs),
    /// GET /api/v1/content-records/public/search?phash= latency against a running server.
    Search(crate::sign_bench::SearchBenchArgs),
    /// POST /api/v1/verify latency (p50/p95, by server stage) for a 12-MP JPEG signed on a running server
    /// and copies of it.
    Verify(crate::verify_bench::VerifyBenchArgs),
    /// The transparency log: leaves appended per second through the store's batch path, proof generation
    /// from stored hashes at given tree sizes, verification time, proof sizes, storage per leaf.
    Log(crate::log_bench::LogBenchArgs),
}

#[derive(Debug, clap::Args)]
pub struct IndexBenchArgs {
    /// Stored hashes (random, plus planted near-duplicates of the queries).
    #[arg(long, default_value_t = 1_000_000)]
    hashes: usize,
    /// Queries; each has 5 near-duplicates (1–10 bits flipped) planted among the stored hashes.
    #[arg(long, default_value_t = 200)]
    queries: usize,
    /// Largest Hamming distance that counts as a match.
    #[arg(long, default_value_t = 10)]
    distance: u32,
}

#[derive(Debug, clap::Args)]
pub struct PhashBenchArgs {
    /// Image files.
    #[arg(required = true, value_name = "FILE")]
    files: Vec<std::path::PathBuf>,
    /// Runs per file (the median is reported).
    #[arg(long, default_value_t = 20)]
    runs: usize,
}

#[derive(Debug, clap::Args)]
pub struct CaptureBenchArgs {
    /// The server, e.g. http://127.0.0.1:8080 (must be a loopback address).
    #[arg(long, value_name = "URL")]
    server: String,
    /// An admin token, to create the benchmark's publisher.
    #[arg(long, env = "PROOFMARK_ADMIN_TOKEN", hide_env_values = true, value_name = "TOKEN")]
    admin_token: String,
    /// Concurrent clients, each with its own device and connection.
    #[arg(long, default_value_t = 16)]
    concurrency: usize,
    /// How long to run, in seconds.
    #[arg(long, default_value_t = 10)]
    duration: u64,
    /// Print the result as JSON.
    #[arg(long)]
    json: bool,
}

struct WorkerResult {
    trust_latencies: Vec<Duration>,
    session_latencies: Vec<Duration>,
    errors: Vec<String>,
    redeemed: Vec<(String, String)>,
    capture_ids: Vec<String>,
}

/// `Err((status, text))`; status 0 for a transport error.
fn call(agent: &ureq::Agent, url: &str, token: &str, body: Option<Value>) -> Result<Value, (u16, String)> {
    let req = agent.post(url).set("Authorization", &format!("Bearer {token}"));
    let result = match body {
        Some(b) => req.send_json(b),
        None => req.call(),
    };
    match result {
        Ok(r) => r.into_json().map_err(|e| (0, e.to_string())),
        Err(ureq::Error::Status(code, r)) => {
            let retry = r.header("retry-after").and_then(|v| v.parse::<u64>().ok()).unwrap_or(1);
            if code == 429 {
                std::thread::sleep(Duration::from_secs(retry.min(5)));
            }
            Err((code, format!("HTTP {code} {}", r.into_string().unwrap_or_default())))
        }
        Err(e) => Err((0, e.to_string())),
    }
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i].as_secs_f64() * 1000.0
}

pub fn run(cmd: BenchCommand) -> ExitCode {
    let result = match cmd {
        BenchCommand::Capture(args) => capture(&args),
        BenchCommand::PhashIndex(args) => phash_index(&args),
        BenchCommand::Phash(args) => phash_speed(&args),
        BenchCommand::Watermark(args) => crate::wm_bench::run(&args),
        BenchCommand::Sign(args) => crate::sign_bench::sign(&args).map(|()| true),
        BenchCommand::Search(args) => crate::sign_bench::search(&args).map(|()| true),
        BenchCommand::Log(args) => crate::log_bench::run(&args).map(|()| true),
        BenchCommand::Verify(args) => crate::verify_bench::run(&args).map(|()| true),
    };
    match result {
        Ok(ok) => ExitCode::from(u8::from(!ok)),
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn capture(args: &CaptureBenchArgs) -> Result<bool> {
    let server = args.server.trim_end_matches('/').to_owned();
    let authority = server.strip_prefix("http://").unwrap_or("").split('/').next().unwrap_or("");
    let loopback = authority
        .parse::<std::net::SocketAddr>()
        .map(|a| a.ip().is_loopback())
        .unwrap_or_else(|_| authority.split(':').next() == Some("localhost"));
    if !loopback {
        bail!("the benchmark only targets a server on this machine (http://127.x.x.x:PORT or localhost)");
    }
    let agent = ureq::AgentBuilder::new().timeout(Duration::from_secs(30)).build();
    let name = format!("bench-{}", uuid::Uuid::new_v4());
    let publisher: Value = agent
        .post(&format!("{server}/publishers"))
        .set("Authorization", &format!("Bearer {}", args.admin_token))
        .send_json(json!({ "name": name }))
        .context("creating the benchmark publisher")?
        .into_json()?;
    let publisher_id = publisher["publisher_id"].as_str().context("no publisher_id")?.to_owned();
    let mut tokens = Vec::new();
    for i in 0..args.concurrency.max(1) {
        let key = proofmark_core::DeviceKey::generate(&mut rand::rngs::OsRng);
        let device: Value = agent
            .post(&format!("{server}/devices"))
            .set("X-Publisher-ID", &publisher_id)
            .send_json(json!({"external_id": format!("bench-{i}"), "public_key": key.public_key().to_base64()}))
            .context("registering a benchmark device")?
            .into_json()?;
        tokens.push(device["device_token"].as_str().context("no device_token")?.to_owned());
    }

    let deadline = Instant::now() + Duration::from_secs(args.duration.max(1));
    let started = Instant::now();
    let results: Vec<WorkerResult> = std::thread::scope(|s| {
        let handles: Vec<_> = tokens
            .iter()
            .map(|token| {
                let server = server.as_str();
                s.spawn(move || {
                    let agent = ureq::AgentBuilder::new().timeout(Duration::from_secs(30)).build();
                    let mut r = WorkerResult {
                        trust_latencies: Vec::new(),
                        session_latencies: Vec::new(),
                        errors: Vec::new(),
                        redeemed: Vec::new(),
                        capture_ids: Vec::new(),
                    };
                    while Instant::now() < deadline {
                        let t0 = Instant::now();
                        let session = match call(&agent, &format!("{server}/capture/session"), token, None) {
                            Ok(v) => v,
                            Err((_, e)) => {
                                if r.errors.len() < 1000 {
                                    r.errors.push(format!("session: {e}"));
                                }
                                continue;
                            }
                        };
                        r.session_latencies.push(t0.elapsed());
                        let nonce = session["nonce"].as_str().unwrap_or("").to_owned();
                        let t1 = Instant::now();
                        match call(&agent, &format!("{server}/capture/trust"), token, Some(json!({ "nonce": nonce }))) {
                            Ok(v) => {
                                r.trust_latencies.push(t1.elapsed());
                                let capture_id = v["trust_token"]
                                    .as_str()
                                    .and_then(|t| t.split('.').nth(1))
                                    .and_then(|p| base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(p).ok())
                                    .and_then(|p| serde_json::from_slice::<Value>(&p).ok())
                                    .and_then(|c| c["capture_id"].as_str().map(str::to_owned))
                                    .unwrap_or_default();
                                r.capture_ids.push(capture_id);
                                r.redeemed.push((token.clone(), nonce));
                            }
                            Err((_, e)) => {
                                if r.errors.len() < 1000 {
                                    r.errors.push(format!("trust: {e}"));
                                }
                            }
                        }
                    }
                    r
                })
            })
            .collect();
        handles.into_iter().filter_map(|h| h.join().ok()).collect()
    });
    let elapsed = started.elapsed().as_secs_f64();

    let mut trust: Vec<Duration> = results.iter().flat_map(|r| r.trust_latencies.iter().copied()).collect();
    let mut session: Vec<Duration> = results.iter().flat_map(|r| r.session_latencies.iter().copied()).collect();
    trust.sort();
    session.sort();
    let errors: Vec<&String> = results.iter().flat_map(|r| r.errors.iter()).collect();
    let ids: Vec<&String> = results.iter().flat_map(|r| r.capture_ids.iter()).collect();
    let distinct: HashSet<&&String> = ids.iter().collect();
    // Every redeemed nonce must now be refused (single use), checked on a sample of up to 2,000.
    let replays: Vec<&(String, String)> = results.iter().flat_map(|r| r.redeemed.iter()).take(2000).collect();
    let mut replay_accepted = 0;
    for (token, nonce) in &replays {
        // A replay must be refused as a spent nonce (400), not merely fail (a 429 would hide a duplicate).
        match call(&agent, &format!("{server}/capture/trust"), token, Some(json!({ "nonce": nonce }))) {
            Err((400, _)) => {}
            _ => replay_accepted += 1,
        }
    }
    let duplicates = (ids.len() - distinct.len()) + replay_accepted;
    let tokens_per_s = trust.len() as f64 / elapsed;
    let requests_per_s = (trust.len() + session.len() + errors.len()) as f64 / elapsed;
    let summary = json!({
        "concurrency": args.concurrency,
        "seconds": elapsed,
        "trust_tokens": trust.len(),
        "trust_tokens_per_s": tokens_per_s,
        "requests_per_s": requests_per_s,
        "trust_p50_ms": percentile(&trust, 0.50),
        "trust_p99_ms": percentile(&trust, 0.99),
        "session_p50_ms": percentile(&session, 0.50),
        "session_p99_ms": percentile(&session, 0.99),
        "errors": errors.len(),
        "duplicate_redemptions": duplicates,
        "replays_checked": replays.len(),
    });
    if args.json {
        println!("{summary}");
    } else {
        println!(
            "{} trust tokens in {elapsed:.1} s with {} clients: {tokens_per_s:.0} tokens/s ({requests_per_s:.0} requests/s)\n\
             trust   p50 {:.2} ms  p99 {:.2} ms\nsession p50 {:.2} ms  p99 {:.2} ms\n\
             errors {}, duplicate redemptions {duplicates} ({} replays checked)",
            trust.len(),
            args.concurrency,
            percentile(&trust, 0.5),
            percentile(&trust, 0.99),
            percentile(&session, 0.5),
            percentile(&session, 0.99),
            errors.len(),
            replays.len()
        );
    }
    for e in errors.iter().take(5) {
        eprintln!("error sample: {e}");
    }
    Ok(errors.is_empty() && duplicates == 0)
}

/// xorshift64*: a fixed-seed generator, so every run measures the same data.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
}

fn phash_index(args: &IndexBenchArgs) -> Result<bool> {
    use proofmark_media::{PHash, PHashIndex};
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    // Real pHashes almost always have the DC bit (the first) set; so do these.
    let top = 1u64 << 63;
    let queries: Vec<u64> = (0..args.queries).map(|_| rng.next() | top).collect();
    let planted = args.queries * 5;
    if planted > args.hashes {
        bail!("--hashes must be at least 5 × --queries");
    }
    let mut index = PHashIndex::with_capacity(args.hashes);
    let mut all = Vec::with_capacity(args.hashes);
    for (i, q) in queries.iter().enumerate() {
        for j in 0..5 {
            let flips = 1 + (rng.next() % 10) as u32;
            let mut h = *q;
            let mut done = 0;
            while done < flips {
                let bit = 1u64 << (rng.next() % 63);
                if (h ^ q) & bit == 0 {
                    h ^= bit;
                    done += 1;
                }
            }
            all.push(h);
            index.insert((i * 5 + j) as u64, PHash(h));
        }
    }
    for id in planted..args.hashes {
        let h = rng.next() | top;
        all.push(h);
        index.insert(id as u64, PHash(h));
    }
    // The 4-hex-prefix method of the reference: bucket by the first 16 bits, search only the query's bucket.
    let mut buckets: std::collections::HashMap<u16, Vec<u32>> = std::collections::HashMap::new();
    for (i, h) in all.iter().enumerate() {
        buckets.entry((h >> 48) as u16).or_default().push(i as u32);
    }
    let (mut truth_total, mut found_total, mut prefix_total) = (0usize, 0usize, 0usize);
    let mut latencies = Vec::with_capacity(queries.len());
    for q in &queries {
        let truth: HashSet<u64> = all
            .iter()
            .enumerate()
            .filter(|(_, h)| (*h ^ q).count_ones() <= args.distance)
            .map(|(i, _)| i as u64)
            .collect();
        let t = Instant::now();
        let found = index.query(PHash(*q), args.distance);
        latencies.push(t.elapsed());
        let found: HashSet<u64> = found.iter().map(|m| m.id).collect();
        let prefix = buckets
            .get(&((q >> 48) as u16))
            .map(|b| b.iter().filter(|&&i| (all[i as usize] ^ q).count_ones() <= args.distance).count())
            .unwrap_or(0);
        truth_total += truth.len();
        found_total += found.intersection(&truth).count();
        prefix_total += prefix;
        if found.len() != truth.len() {
            bail!("the index returned {} matches where there are {}", found.len(), truth.len());
        }
    }
    latencies.sort();
    let mean = latencies.iter().map(Duration::as_secs_f64).sum::<f64>() / latencies.len() as f64 * 1000.0;
    println!(
        "{} hashes, {} queries, distance ≤ {}: {truth_total} true matches\n\
         index (linear popcount scan, 1 core): recall {:.2} %, query mean {mean:.2} ms, p50 {:.2} ms, p99 {:.2} ms, {} MiB\n\
         4-hex-prefix buckets (reference):     recall {:.2} %",
        args.hashes,
        args.queries,
        args.distance,
        100.0 * found_total as f64 / truth_total.max(1) as f64,
        percentile(&latencies, 0.5),
        percentile(&latencies, 0.99),
        args.hashes * 16 / (1 << 20),
        100.0 * prefix_total as f64 / truth_total.max(1) as f64,
    );
    Ok(found_total == truth_total)
}

fn phash_speed(args: &PhashBenchArgs) -> Result<bool> {
    for file in &args.files {
        let bytes = std::fs::read(file).with_context(|| format!("reading {}", file.display()))?;
        let mut times = Vec::with_capacity(args.runs);
        let mut hash = None;
        for _ in 0..args.runs.max(1) {
            let t = Instant::now();
            hash = Some(proofmark_media::phash(&bytes).with_context(|| file.display().to_string())?);
            times.push(t.elapsed());
        }
        times.sort();
        let img = proofmark_media::decode_luma(&bytes)?;
        println!(
            "{}  {}x{}  median {:.2} ms  min {:.2} ms  ({})",
            file.display(),
            img.width,
            img.height,
            percentile(&times, 0.5),
            percentile(&times, 0.0),
            hash.map(|h| h.to_string()).unwrap_or_default()
        );
    }
    Ok(true)
}
