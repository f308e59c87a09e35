//! `proofmark-lab verify`: POST /api/v1/verify latency against a running `proofmark serve` on this machine
//! (scripts/bench-verify.sh seeds 1,000,000 records into PostgreSQL and starts a release server), for a
//! 12-MP JPEG signed on that server and copies of it, by the server's stages (`Server-Timing`).
use std::collections::BTreeMap;
use std::io::Read;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use proofmark_media::{attack, decode_image, encode_image, Encoding};
use serde_json::Value;

use crate::sign_bench::{check_loopback, percentile, post_multipart, setup, twelve_mp_jpeg};

#[derive(Debug, clap::Args)]
pub struct VerifyBenchArgs {
    /// The server (a loopback address).
    #[arg(long, value_name = "URL")]
    server: String,
    /// The image to sign and verify [default: a 12-MP JPEG made from ../shared/images/rocket.jpg, upscaled].
    #[arg(long, value_name = "FILE")]
    image: Option<PathBuf>,
    /// Requests per file kind (after one warm-up).
    #[arg(long, default_value_t = 12)]
    requests: usize,
}

const STAGES: [&str; 8] = ["receive", "decode", "phash", "watermark", "lookup", "records", "judge", "total"];

/// One verify request: (client latency ms, server stages ms, verdict).
fn verify_once(agent: &ureq::Agent, server: &str, file: &[u8]) -> Result<(f64, BTreeMap<String, f64>, String)> {
    let (ms, stages, text) = post_multipart(agent, &format!("{server}/api/v1/verify"), None, &[], file)?;
    let answer: Value = serde_json::from_str(&text)?;
    Ok((ms, stages, answer["verdict"].as_str().unwrap_or("?").to_owned()))
}

pub fn run(args: &VerifyBenchArgs) -> Result<()> {
    let server = check_loopback(&args.server)?;
    let agent = ureq::AgentBuilder::new().timeout(Duration::from_secs(300)).build();
    let image = match &args.image {
        Some(p) => std::fs::read(p).with_context(|| p.display().to_string())?,
        None => twelve_mp_jpeg()?,
    };
    let key = setup(&agent, &server)?;
    // Sign it (watermarked) and fetch the watermarked copy.
    let (_, _, answer) = post_multipart(&agent, &format!("{server}/api/v1/sign"), Some(&key), &[], &image)?;
    let signed: Value = serde_json::from_str(&answer)?;
    let id = signed["record_id"].as_str().context("no record id")?.to_owned();
    let mut marked = Vec::new();
    agent
        .get(&format!("{server}/api/v1/content-records/{id}/file?variant=watermarked"))
        .set("Authorization", &format!("Bearer {key}"))
        .call()?
        .into_reader()
        .read_to_end(&mut marked)?;
    // Its receipt (the log batch runs every log.batch_interval_ms).
    let deadline = Instant::now() + Duration::from_secs(60);
    while agent.get(&format!("{server}/api/v1/content-records/{id}/receipt")).call().is_err() {
        if Instant::now() > deadline {
            bail!("record {id} did not reach the log within 60 s");
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    let (pixels, _) = decode_image(&marked)?;
    println!(
        "signed record {id}: {}x{} ({:.1} MP)",
        pixels.width,
        pixels.height,
        (pixels.width * pixels.height) as f64 / 1e6
    );
    let reencoded = encode_image(&pixels, Encoding::Jpeg { quality: 85, subsample: true })?;
    let small = attack::resize(&pixels, pixels.width / 2, pixels.height / 2);
    let shared = encode_image(&small, Encoding::Jpeg { quality: 80, subsample: true })?;
    let other_src = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/images/hubble_deep_field.jpg");
    let (other, _) = decode_image(&std::fs::read(&other_src)?)?;
    let unsigned = encode_image(&attack::resize(&other, 4000, 3000), Encoding::Jpeg { quality: 92, subsample: true })?;
    let kinds: [(&str, &[u8]); 4] = [
        ("the watermarked file (exact bytes)", &marked),
        ("re-encoded, JPEG q85 (12 MP)", &reencoded),
        ("resized 0.5×, JPEG q80 (3 MP)", &shared),
        ("an unsigned 12-MP photo", &unsigned),
    ];
    println!("| file | MB | verdict | n | p50 ms | p95 ms | {} |", STAGES.map(|s| format!("{s} p50")).join(" | "));
    println!("|---|---|---|---|---|---|{}", "---|".repeat(STAGES.len()));
    for (name, bytes) in kinds {
        verify_once(&agent, &server, bytes)?;
        let ok: Vec<_> = (0..args.requests).map(|_| verify_once(&agent, &server, bytes)).collect::<Result<_>>()?;
        let mut latencies: Vec<f64> = ok.iter().map(|(l, _, _)| *l).collect();
        latencies.sort_by(f64::total_cmp);
        let stage = |s: &str| {
            let mut v: Vec<f64> = ok.iter().filter_map(|(_, st, _)| st.get(s).copied()).collect();
            v.sort_by(f64::total_cmp);
            if v.is_empty() {
                "–".to_owned()
            } else {
                format!("{:.1}", percentile(&v, 0.5))
            }
        };
        let verdicts: std::collections::BTreeSet<&str> = ok.iter().map(|(_, _, v)| v.as_str()).collect();
        println!(
            "| {name} | {:.1} | {} | {} | {:.0} | {:.0} | {} |",
            bytes.len() as f64 / 1e6,
            verdicts.into_iter().collect::<Vec<_>>().join(", "),
            ok.len(),
            percentile(&latencies, 0.5),
            percentile(&latencies, 0.95),
            STAGES.map(stage).join(" | ")
        );
    }
    println!("goal (issue 15): p50 ≤ 400 ms for a 12-MP JPEG at 1M records, lookups ≤ 20 ms");
    Ok(())
}
