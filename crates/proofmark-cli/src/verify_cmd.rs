//! `proofmark verify`: find each file's sidecar, gather keys, hash the media as a stream, run the core
//! verifier, and print one report per file (or a summary table for many).
use std::fs::File;
use std::io::{IsTerminal, Read, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use proofmark_core::jwt::DecodedJwt;
use proofmark_core::sidecar::sidecar_file_name;
use proofmark_core::verify::{same_issuer, VerifyInput};
use proofmark_core::{verify, ContentHasher, KeyRing, KeySource, Policy, Report, Sidecar, Status, Verdict};
use rayon::prelude::*;
use serde::Serialize;

use crate::fetch::KeyFetcher;

/// Sidecar files larger than this are not read at all (the verifier's own limit is 64 KiB).
const MAX_SIDECAR_FILE: u64 = 1024 * 1024;

#[derive(Debug, clap::Args)]
pub struct VerifyArgs {
    /// Media files, or folders to scan for media with a sidecar beside them.
    #[arg(required = true, value_name = "PATH")]
    paths: Vec<PathBuf>,
    /// The sidecar, when it is not named after the media (only with a single media file).
    #[arg(long, value_name = "PATH")]
    sidecar: Option<PathBuf>,
    /// Trusted key set (JWKS), a file or an http(s) URL. Repeatable. Nothing else is fetched.
    #[arg(long = "jwks", value_name = "FILE_OR_URL")]
    jwks: Vec<String>,
    /// Trusted issuer: its keys are fetched from {URL}/.well-known/jwks.json, for its tokens only. Repeatable.
    #[arg(long = "trust-issuer", value_name = "URL")]
    trust_issuers: Vec<String>,
    /// Print the full report as JSON.
    #[arg(long)]
    json: bool,
    /// Treat "valid (issuer not trusted)" as a failure (exit 1).
    #[arg(long)]
    require_trusted: bool,
    /// Refuse captures from devices registered without attestation (sandbox).
    #[arg(long)]
    reject_sandbox: bool,
    /// Refuse tokens in the legacy claim layout (no device-key binding).
    #[arg(long)]
    reject_legacy: bool,
    /// Network timeout for fetching keys, in seconds.
    #[arg(long, default_value_t = 10, value_name = "SECONDS")]
    timeout: u64,
    /// Files verified in parallel (default: one per core).
    #[arg(short = 'j', long, value_name = "N")]
    jobs: Option<usize>,
}

/// One file's result.
#[derive(Debug, Serialize)]
struct Outcome {
    file: PathBuf,
    #[serde(skip_serializing_if = "Option::is_none")]
    sidecar: Option<PathBuf>,
    #[serde(skip_serializing_if = "Option::is_none")]
    report: Option<Report>,
    /// Set when the file could not be verified at all (exit code 2).
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
}

struct Context_ {
    base_keys: KeyRing,
    fetcher: KeyFetcher,
    policy: Policy,
    fetch_issuer_keys: bool,
}

pub fn run(args: VerifyArgs) -> ExitCode {
    match run_inner(&args) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn run_inner(args: &VerifyArgs) -> Result<ExitCode> {
    let targets = collect_targets(&args.paths, args.sidecar.as_deref())?;
    let fetcher = KeyFetcher::new(Duration::from_secs(args.timeout.max(1)));
    let mut base_keys = KeyRing::new();
    for source in &args.jwks {
        let jwks = fetcher.load(source)?;
        for skipped in &jwks.skipped {
            eprintln!(
                "warning: {source}: key #{} ({}) skipped: {}",
                skipped.index,
                skipped.kid.as_deref().unwrap_or("no kid"),
                skipped.reason
            );
        }
        base_keys.add_jwks(&jwks, KeySource::Provided { label: source.clone() });
    }
    let policy = Policy {
        trusted_issuers: args.trust_issuers.clone(),
        trust_provided_keys: true,
        allow_sandbox: !args.reject_sandbox,
        allow_legacy_layout: !args.reject_legacy,
    };
    let ctx = Context_ {
        base_keys,
        fetcher,
        policy,
        fetch_issuer_keys: args.jwks.is_empty() || !args.trust_issuers.is_empty(),
    };

    let outcomes: Vec<Outcome> = if targets.len() == 1 {
        targets.into_iter().map(|(m, s)| verify_one(m, s, &ctx)).collect()
    } else {
        let progress = indicatif::ProgressBar::new(targets.len() as u64);
        if !std::io::stderr().is_terminal() {
            progress.set_draw_target(indicatif::ProgressDrawTarget::hidden());
        }
        progress.set_style(
            indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} files {elapsed_precise} {msg}")
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        let mut pool = rayon::ThreadPoolBuilder::new();
        if let Some(n) = args.jobs {
            pool = pool.num_threads(n.max(1));
        }
        let pool = pool.build().context("starting worker threads")?;
        let out = pool.install(|| {
            targets
                .into_par_iter()
                .map(|(m, s)| {
                    let o = verify_one(m, s, &ctx);
                    progress.inc(1);
                    o
                })
                .collect()
        });
        progress.finish_and_clear();
        out
    };

    let mut stdout = std::io::stdout().lock();
    if args.json {
        let text = if outcomes.len() == 1 {
            serde_json::to_string_pretty(&outcomes[0])
        } else {
            serde_json::to_string_pretty(&outcomes)
        }?;
        writeln!(stdout, "{text}")?;
    } else if outcomes.len() == 1 {
        print_detailed(&mut stdout, &outcomes[0])?;
    } else {
        print_summary(&mut stdout, &outcomes)?;
    }
    Ok(exit_code(&outcomes, args.require_trusted))
}

/// 2 when any file could not be verified, else 1 when any is invalid (or only valid under
/// --require-trusted), else 0.
fn exit_code(outcomes: &[Outcome], require_trusted: bool) -> ExitCode {
    if outcomes.iter().any(|o| o.error.is_some()) {
        return ExitCode::from(2);
    }
    let bad = outcomes.iter().filter_map(|o| o.report.as_ref()).any(|r| match r.verdict {
        Verdict::Invalid => true,
        Verdict::Valid => require_trusted,
        Verdict::Trusted => false,
    });
    ExitCode::from(u8::from(bad))
}

/// (media, sidecar) pairs. Folders contribute every file that has a sidecar beside it.
fn collect_targets(paths: &[PathBuf], sidecar: Option<&Path>) -> Result<Vec<(PathBuf, PathBuf)>> {
    let mut targets = Vec::new();
    for path in paths {
        if path.is_dir() {
            walk(path, &mut targets).with_context(|| format!("scanning {}", path.display()))?;
        } else {
            targets.push((path.clone(), sidecar_path_for(path)));
        }
    }
    if let Some(s) = sidecar {
        if targets.len() != 1 || paths[0].is_dir() {
            bail!("--sidecar goes with exactly one media file");
        }
        targets[0].1 = s.to_path_buf();
    }
    if targets.is_empty() {
        bail!(
            "no media with a sidecar found under {}",
            paths.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", ")
        );
    }
    Ok(targets)
}

fn walk(dir: &Path, out: &mut Vec<(PathBuf, PathBuf)>) -> std::io::Result<()> {
    let mut entries: Vec<_> = std::fs::read_dir(dir)?.collect::<std::io::Result<_>>()?;
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        let path = entry.path();
        let kind = entry.file_type()?;
        if kind.is_dir() {
            walk(&path, out)?;
        } else if kind.is_file() && !is_sidecar_name(&path) {
            let sidecar = sidecar_path_for(&path);
            if sidecar.is_file() {
                out.push((path, sidecar));
            }
        }
    }
    Ok(())
}

fn is_sidecar_name(path: &Path) -> bool {
    path.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.ends_with(".sidecar.json"))
}

fn sidecar_path_for(media: &Path) -> PathBuf {
    let name = media.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    media.with_file_name(sidecar_file_name(&name))
}

fn verify_one(media: PathBuf, sidecar: PathBuf, ctx: &Context_) -> Outcome {
    match verify_files(&media, &sidecar, ctx) {
        Ok(report) => Outcome { file: media, sidecar: Some(sidecar), report: Some(report), error: None },
        Err(e) => Outcome { file: media, sidecar: Some(sidecar), report: None, error: Some(format!("{e:#}")) },
    }
}

fn verify_files(media: &Path, sidecar_path: &Path, ctx: &Context_) -> Result<Report> {
    if is_sidecar_name(media) {
        bail!("{} is a sidecar; pass the media file it belongs to", media.display());
    }
    let sidecar = read_capped(sidecar_path, MAX_SIDECAR_FILE)
        .with_context(|| format!("cannot read sidecar {}", sidecar_path.display()))?;
    let mut keys = ctx.base_keys.clone();
    if ctx.fetch_issuer_keys {
        if let Some(iss) = peek_issuer(&sidecar) {
            let wanted = ctx.policy.trusted_issuers.is_empty()
                || ctx.policy.trusted_issuers.iter().any(|t| same_issuer(t, &iss));
            if !wanted {
                eprintln!("note: issuer {iss} is not among --trust-issuer; its keys were not fetched");
            } else {
                let url = KeyFetcher::issuer_jwks_url(&iss)?;
                let jwks = ctx.fetcher.load(&url).context("could not fetch the issuer's keys")?;
                keys.add_jwks(&jwks, KeySource::Issuer { url: iss });
            }
        }
    }
    let media_hash = hash_file(media)?;
    Ok(verify(VerifyInput { sidecar: &sidecar, media_hash: &media_hash, keys: &keys, policy: &ctx.policy }))
}

fn peek_issuer(sidecar: &[u8]) -> Option<String> {
    let s = Sidecar::parse(sidecar).ok()?;
    let jwt = DecodedJwt::decode(&s.capture_trust.jwt).ok()?;
    jwt.payload.get("iss")?.as_str().map(str::to_owned)
}

fn read_capped(path: &Path, max: u64) -> Result<Vec<u8>> {
    let file = File::open(path)?;
    let mut bytes = Vec::new();
    file.take(max + 1).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > max {
        bail!("the file is larger than {max} bytes; a sidecar is about 1 KB");
    }
    Ok(bytes)
}

/// SHA-256 of a file, read in fixed-size chunks (memory does not grow with the file).
fn hash_file(path: &Path) -> Result<proofmark_core::ContentHash> {
    let mut file = File::open(path).with_context(|| format!("cannot open media {}", path.display()))?;
    let mut hasher = ContentHasher::new();
    let mut buf = vec![0u8; 256 * 1024];
    loop {
        let n = match file.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e).with_context(|| format!("cannot read media {}", path.display())),
        };
        hasher.update(&buf[..n]);
    }
    Ok(hasher.finish())
}

fn verdict_label(r: &Report) -> &'static str {
    match r.verdict {
        Verdict::Trusted => "TRUSTED",
        Verdict::Valid => "VALID (issuer not trusted)",
        Verdict::Invalid => "INVALID",
    }
}

fn print_detailed(out: &mut impl Write, o: &Outcome) -> Result<()> {
    let Some(report) = &o.report else {
        writeln!(out, "{}: could not verify: {}", o.file.display(), o.error.as_deref().unwrap_or(""))?;
        return Ok(());
    };
    writeln!(out, "{}: {}", o.file.display(), verdict_label(report))?;
    for c in &report.checks {
        let (mark, reason) = match c.status {
            Status::Pass => ("✓", String::new()),
            Status::Fail => ("✗", format!(" [{}]", c.reason.unwrap_or(""))),
            Status::NotApplicable => ("-", String::new()),
        };
        writeln!(out, "  {mark} {:<24}{} {}", c.code.as_str(), reason, c.message)?;
    }
    for f in &report.findings {
        writeln!(out, "  ! {:<24} {}", f.code, f.message)?;
    }
    if let Some(c) = &report.capture {
        let mut parts = vec![format!("captured {}", c.captured_at)];
        if let Some(i) = &c.issuer {
            parts.push(format!("issuer {i}"));
        }
        if let Some(p) = &c.publisher_id {
            parts.push(format!("publisher {p}"));
        }
        if let Some(d) = &c.device_id {
            parts.push(format!("device {d}"));
        }
        if let Some(m) = c.method {
            parts.push(format!("attestation {}", m.as_str()));
        }
        writeln!(out, "  {}", parts.join(" · "))?;
    }
    Ok(())
}

fn print_summary(out: &mut impl Write, outcomes: &[Outcome]) -> Result<()> {
    let width = outcomes.iter().map(|o| o.file.display().to_string().chars().count()).max().unwrap_or(4).clamp(4, 60);
    writeln!(out, "{:<width$}  {:<26}  DETAIL", "FILE", "VERDICT")?;
    let (mut trusted, mut valid, mut invalid, mut errors) = (0, 0, 0, 0);
    for o in outcomes {
        let name = o.file.display().to_string();
        let (label, detail) = match (&o.report, &o.error) {
            (Some(r), _) => {
                match r.verdict {
                    Verdict::Trusted => trusted += 1,
                    Verdict::Valid => valid += 1,
                    Verdict::Invalid => invalid += 1,
                }
                let detail = match r.first_failure() {
                    Some(c) => format!("{}: {}", c.reason.unwrap_or(c.code.as_str()), c.message),
                    None => r.findings.iter().map(|f| f.code).collect::<Vec<_>>().join(", "),
                };
                (verdict_label(r), detail)
            }
            (None, e) => {
                errors += 1;
                ("ERROR (could not verify)", e.clone().unwrap_or_default())
            }
        };
        writeln!(out, "{name:<width$}  {label:<26}  {detail}")?;
    }
    writeln!(
        out,
        "{} files: {trusted} trusted, {valid} valid, {invalid} invalid, {errors} could not be verified",
        outcomes.len()
    )?;
    Ok(())
}
