//! `proofmark-lab sign` and `proofmark-lab search`: the publisher plane's benchmarks against a running
//! `proofmark serve` on this machine (scripts/bench-sign.sh starts one, release build).
//!
//! - `sign`: POST /api/v1/sign of one image, N times at each concurrency; client latency p50/p95, images/s,
//!   and the server's per-stage times from its `Server-Timing` header; optionally the server's peak RSS
//!   (`VmHWM` of `--server-pid`) before and after.
//! - `search`: GET /api/v1/content-records/public/search?phash=… latency (p50/p95) for random queries and for
//!   the pHashes of planted records, with the record count the server holds.
use std::collections::BTreeMap;
use std::io::Read;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use serde_json::{json, Value};

#[derive(Debug, clap::Args)]
pub struct SignBenchArgs {
    /// The server (a loopback address).
    #[arg(long, value_name = "URL")]
    server: String,
    /// The image to sign [default: a 12-MP JPEG made from ../shared/images/rocket.jpg, upscaled].
    #[arg(long, value_name = "FILE")]
    image: Option<PathBuf>,
    /// Requests per concurrency level.
    #[arg(long, default_value_t = 12)]
    requests: usize,
    /// Concurrency levels, comma-separated.
    #[arg(long, default_value = "1,4", value_delimiter = ',')]
    concurrency: Vec<usize>,
    /// The server's process id, to report its peak resident memory (VmHWM).
    #[arg(long, value_name = "PID")]
    server_pid: Option<u32>,
    /// Sign with watermark=false as well (the watermark's share of the time).
    #[arg(long)]
    also_without_watermark: bool,
}

#[derive(Debug, clap::Args)]
pub struct SearchBenchArgs {
    /// The server (a loopback address).
    #[arg(long, value_name = "URL")]
    server: String,
    /// Queries per kind.
    #[arg(long, default_value_t = 200)]
    queries: usize,
    /// pHashes known to be stored (hex, comma-separated): queried with 0–6 bits flipped.
    #[arg(long, value_delimiter = ',')]
    planted: Vec<String>,
}

pub(crate) fn check_loopback(server: &str) -> Result<String> {
    let server = server.trim_end_matches('/').to_owned();
    let host = server.strip_prefix("http://").unwrap_or("").split(['/', ':']).next().unwrap_or("");
    if !(host.starts_with("127.") || host == "localhost") {
        bail!("the benchmark only targets a server on this machine (http://127.x.x.x:PORT)");
    }
    Ok(server)
}

pub(crate) fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

/// Peak resident set of a process, in MiB (Linux `VmHWM`).
pub(crate) fn peak_rss_mib(pid: u32) -> Option<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

/// A 12-MP JPEG (4000×3000, q92) made from a shared photo: real texture, a camera-sized file.
pub(crate) fn twelve_mp_jpeg() -> Result<Vec<u8>> {
    let src = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/images/rocket.jpg");
    let (img, _) = proofmark_media::decode_image(&std::fs::read(&src).with_context(|| src.display().to_string())?)?;
    let big = proofmark_media::attack::resize(&img, 4000, 3000);
    Ok(proofmark_media::encode_image(&big, proofmark_media::Encoding::Jpeg { quality: 92, subsample: true })?)
}

/// An organisation with a signing key and an API key on the server; returns the key.
pub(crate) fn setup(agent: &ureq::Agent, server: &str) -> Result<String> {
    let tag = uuid::Uuid::new_v4().simple().to_string();
    let body = json!({"email": format!("bench-{tag}@bench.example"), "password": "benchmark password",
        "full_name": "Bench", "organization_name": format!("Bench {tag}")});
    let r: Value = agent.post(&format!("{server}/api/v1/auth/register")).send_json(body)?.into_json()?;
    let session = r["access_token"].as_str().context("no access token")?.to_owned();
    let auth = format!("Bearer {session}");
    agent
        .post(&format!("{server}/api/v1/keys/signing-keys"))
        .set("Authorization", &auth)
        .send_json(json!({"name": "bench"}))?;
    let k: Value = agent
        .post(&format!("{server}/api/v1/keys/api-keys"))
        .set("Authorization", &auth)
        .send_json(json!({"name": "bench", "scopes": ["sign", "read"]}))?
        .into_json()?;
    Ok(k["key"].as_str().context("no API key")?.to_owned())
}

/// One sign request; returns (client latency, server stages in ms).
fn sign_once(
    agent: &ureq::Agent,
    server: &str,
    key: &str,
    image: &[u8],
    watermark: bool,
) -> Result<(f64, BTreeMap<String, f64>)> {
    let watermark = watermark.to_string();
    let url = format!("{server}/api/v1/sign");
    let (ms, stages, _) = post_multipart(agent, &url, Some(key), &[("watermark", &watermark)], image)?;
    Ok((ms, stages))
}

/// POST a multipart form (`fields`, then `file` as the part `file`) to `url`, with a bearer `key` when
/// given: (client latency ms, the server's stages, the answer's body).
pub(crate) fn post_multipart(
    agent: &ureq::Agent,
    url: &str,
    key: Option<&str>,
    fields: &[(&str, &str)],
    file: &[u8],
) -> Result<(f64, BTreeMap<String, f64>, String)> {
    let boundary = "proofmark-lab-boundary";
    let mut body = Vec::new();
    for (name, value) in fields {
        body.extend_from_slice(
            format!("--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n").as_bytes(),
        );
    }
    body.extend_from_slice(
        format!("--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"image.png\"\r\n\r\n")
            .as_bytes(),
    );
    body.extend_from_slice(file);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    let t = Instant::now();
    let mut request = agent.post(url).set("Content-Type", &format!("multipart/form-data; boundary={boundary}"));
    if let Some(key) = key {
        request = request.set("Authorization", &format!("Bearer {key}"));
    }
    let response = request.send_bytes(&body).map_err(|e| match e {
        ureq::Error::Status(code, r) => anyhow::anyhow!("HTTP {code}: {}", r.into_string().unwrap_or_default()),
        other => other.into(),
    })?;
    let stages = server_timing(&response);
    let mut text = String::new();
    response.into_reader().read_to_string(&mut text)?;
    Ok((t.elapsed().as_secs_f64() * 1000.0, stages, text))
}

/// The stages of a `Server-Timing` header, in ms.
pub(crate) fn server_timing(response: &ureq::Response) -> BTreeMap<String, f64> {
    response
        .header("server-timing")
        .unwrap_or("")
        .split(',')
        .filter_map(|part| {
            let (name, dur) = part.trim().split_once(";dur=")?;
            Some((name.to_owned(), dur.parse().ok()?))
        })
        .collect()
}

pub fn sign(args: &SignBenchArgs) -> Result<()> {
    let server = check_loopback(&args.server)?;
    let agent = ureq::AgentBuilder::new().timeout(Duration::from_secs(300)).build();
    let image = match &args.image {
        Some(p) => std::fs::read(p).with_context(|| p.display().to_string())?,
        None => twelve_mp_jpeg()?,
    };
    let (w, h) = proofmark_media::decode_image(&image).map(|(i, _)| (i.width, i.height)).unwrap_or((0, 0));
    println!("image: {w}x{h} ({:.1} MP), {:.1} MB", (w * h) as f64 / 1e6, image.len() as f64 / 1e6);
    let key = setup(&agent, &server)?;
    if let Some(pid) = args.server_pid {
        println!("server peak RSS before: {:.0} MiB", peak_rss_mib(pid).unwrap_or(f64::NAN));
    }
    // One warm-up request (first decode of the code paths, the store's first writes).
    sign_once(&agent, &server, &key, &image, true)?;
    let mut modes = vec![true];
    if args.also_without_watermark {
        modes.push(false);
    }
    println!("| watermark | concurrency | requests | p50 ms | p95 ms | images/s | {} |", STAGES.join(" | "));
    println!("|---|---|---|---|---|---|{}", "---|".repeat(STAGES.len()));
    for &watermark in &modes {
        for &c in &args.concurrency {
            let started = Instant::now();
            let results: Vec<Result<(f64, BTreeMap<String, f64>)>> = std::thread::scope(|s| {
                let per = args.requests.div_ceil(c);
                let handles: Vec<_> = (0..c)
                    .map(|_| {
                        let (agent, server, key, image) = (&agent, &server, &key, &image);
                        s.spawn(move || {
                            (0..per).map(|_| sign_once(agent, server, key, image, watermark)).collect::<Vec<_>>()
                        })
                    })
                    .collect();
                handles.into_iter().flat_map(|h| h.join().unwrap_or_default()).collect()
            });
            let wall = started.elapsed().as_secs_f64();
            let ok: Vec<_> = results.into_iter().collect::<Result<_>>()?;
            let mut latencies: Vec<f64> = ok.iter().map(|(l, _)| *l).collect();
            latencies.sort_by(f64::total_cmp);
            let stage = |name: &str| {
                let mut v: Vec<f64> = ok.iter().filter_map(|(_, s)| s.get(name).copied()).collect();
                v.sort_by(f64::total_cmp);
                percentile(&v, 0.5)
            };
            let stages: Vec<String> = STAGES.iter().map(|s| format!("{:.0}", stage(s))).collect();
            println!(
                "| {} | {c} | {} | {:.0} | {:.0} | {:.2} | {} |",
                if watermark { "on" } else { "off" },
                ok.len(),
                percentile(&latencies, 0.5),
                percentile(&latencies, 0.95),
                ok.len() as f64 / wall,
                stages.join(" | ")
            );
        }
    }
    println!("stage columns: the server's Server-Timing medians in ms (receive = the upload streamed to disk)");
    println!("goal (issue 13): p50 ≤ 600 ms at concurrency 1 for a 12-MP JPEG");
    if let Some(pid) = args.server_pid {
        println!("server peak RSS after: {:.0} MiB", peak_rss_mib(pid).unwrap_or(f64::NAN));
    }
    Ok(())
}

const STAGES: [&str; 10] =
    ["receive", "decode", "phash", "sign", "watermark", "encode", "verify", "store", "db", "total"];

pub fn search(args: &SearchBenchArgs) -> Result<()> {
    let server = check_loopback(&args.server)?;
    let agent = ureq::AgentBuilder::new().timeout(Duration::from_secs(60)).build();
    let query = |hash: u64| -> Result<(f64, usize)> {
        let t = Instant::now();
        let hits: Value = agent
            .get(&format!("{server}/api/v1/content-records/public/search?phash={hash:016x}"))
            .call()?
            .into_json()?;
        Ok((t.elapsed().as_secs_f64() * 1000.0, hits.as_array().map(Vec::len).unwrap_or(0)))
    };
    // The first search loads the index; it is reported apart.
    let (first, _) = query(0)?;
    println!("first search (loads the index): {first:.0} ms");
    let mut rng_state: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = || {
        rng_state ^= rng_state << 13;
        rng_state ^= rng_state >> 7;
        rng_state ^= rng_state << 17;
        rng_state
    };
    let mut kinds: Vec<(&str, Vec<u64>)> = vec![("random", (0..args.queries).map(|_| next() | (1 << 63)).collect())];
    if !args.planted.is_empty() {
        let planted: Vec<u64> =
            args.planted.iter().map(|h| u64::from_str_radix(h.trim(), 16)).collect::<Result<_, _>>()?;
        let near = (0..args.queries)
            .map(|i| {
                let mut h = planted[i % planted.len()];
                for _ in 0..(i % 7) {
                    h ^= 1 << (next() % 64);
                }
                h
            })
            .collect();
        kinds.push(("planted ± 0–6 bits", near));
    }
    println!("| queries | n | p50 ms | p95 ms | mean hits |");
    println!("|---|---|---|---|---|");
    for (name, hashes) in kinds {
        let mut latencies = Vec::new();
        let mut hits = 0;
        for h in hashes {
            let (ms, n) = query(h)?;
            latencies.push(ms);
            hits += n;
        }
        latencies.sort_by(f64::total_cmp);
        println!(
            "| {name} | {} | {:.1} | {:.1} | {:.2} |",
            latencies.len(),
            percentile(&latencies, 0.5),
            percentile(&latencies, 0.95),
            hits as f64 / latencies.len() as f64
        );
    }
    println!("goal (issue 13): ≤ 20 ms at 1M records");
    Ok(())
}
