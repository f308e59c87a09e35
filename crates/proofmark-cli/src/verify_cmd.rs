//! `proofmark verify`: find each file's sidecar, gather keys, hash the media as a stream, run the core
//! verifier, and print one report per file (or a summary table for many).
use std::borrow::Cow;
use std::collections::{BTreeSet, HashMap};
use std::fs::File;
use std::io::{IsTerminal, Read, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Mutex;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use proofmark_core::jwt::DecodedJwt;
use proofmark_core::sidecar::sidecar_file_name;
use proofmark_core::verify::{same_issuer, VerifyInput};
use proofmark_core::{verify, CheckCode, ContentHasher, KeyRing, KeySource, Policy, Report, Sidecar, Status, Verdict};
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
    /// Trusted key set (JWKS), a file or an http(s) URL. Repeatable. Without --trust-issuer, nothing else is
    /// fetched.
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
    /// Also fetch keys of issuers named by a sidecar over plain http to other hosts, or from private-network
    /// addresses. (https to public hosts and http to this machine's loopback are always allowed; issuers given
    /// with --trust-issuer are fetched as typed.)
    #[arg(long)]
    allow_insecure_issuer: bool,
    /// Network timeout for fetching keys (connect, and the whole response), in seconds.
    #[arg(long, default_value_t = 10, value_name = "SECONDS")]
    timeout: u64,
    /// Files verified in parallel (default: one per core).
    #[arg(short = 'j', long, value_name = "N")]
    jobs: Option<usize>,
}

/// One file's result.
#[derive(Debug, Serialize)]
struct Outcome {
    file: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    sidecar: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    report: Option<Report>,
    /// Set when the file could not be verified at all.
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
    /// Set for a file that shares its sidecar with another file, which the sidecar covers.
    #[serde(skip_serializing_if = "Option::is_none")]
    skipped: Option<String>,
}

impl Outcome {
    fn failed(path: &Path, error: String) -> Self {
        Self { file: path.display().to_string(), sidecar: None, report: None, error: Some(error), skipped: None }
    }
}

struct Target {
    media: PathBuf,
    sidecar: PathBuf,
    /// Found by scanning a folder (rather than named on the command line).
    scanned: bool,
}

struct Ctx {
    base_keys: KeyRing,
    fetcher: KeyFetcher,
    policy: Policy,
    fetch_issuer_keys: bool,
    allow_insecure_issuer: bool,
    /// Warnings, printed once each after the run.
    notes: Mutex<BTreeSet<String>>,
}

impl Ctx {
    fn note(&self, text: String) {
        if let Ok(mut notes) = self.notes.lock() {
            notes.insert(text);
        }
    }
}

pub fn run(args: VerifyArgs) -> ExitCode {
    match run_inner(&args) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {}", printable(&format!("{e:#}")));
            ExitCode::from(2)
        }
    }
}

fn run_inner(args: &VerifyArgs) -> Result<ExitCode> {
    let (targets, mut outcomes) = collect_targets(&args.paths, args.sidecar.as_deref())?;
    let single_file = args.paths.len() == 1 && !args.paths[0].is_dir();
    let fetcher = KeyFetcher::new(Duration::from_secs(args.timeout.max(1)));
    let mut base_keys = KeyRing::new();
    for source in &args.jwks {
        let jwks = fetcher.load(source)?;
        for skipped in &jwks.skipped {
            eprintln!(
                "warning: {source}: key #{} ({}) skipped: {}",
                skipped.index,
                printable(skipped.kid.as_deref().unwrap_or("no kid")),
                skipped.reason
            );
        }
        if jwks.keys.is_empty() {
            bail!("{source} has no usable ES256 key");
        }
        base_keys.add_jwks(&jwks, KeySource::Provided { label: source.clone() });
    }
    let ctx = Ctx {
        base_keys,
        fetcher,
        policy: Policy {
            trusted_issuers: args.trust_issuers.clone(),
            trust_provided_keys: true,
            allow_sandbox: !args.reject_sandbox,
            allow_legacy_layout: !args.reject_legacy,
        },
        fetch_issuer_keys: args.jwks.is_empty() || !args.trust_issuers.is_empty(),
        allow_insecure_issuer: args.allow_insecure_issuer,
        notes: Mutex::new(BTreeSet::new()),
    };

    let verified: Vec<(Outcome, bool)> = if targets.len() == 1 {
        targets.into_iter().map(|t| (verify_one(&t, &ctx), t.scanned)).collect()
    } else {
        let progress = indicatif::ProgressBar::new(targets.len() as u64);
        if !std::io::stderr().is_terminal() {
            progress.set_draw_target(indicatif::ProgressDrawTarget::hidden());
        }
        progress.set_style(
            indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} files {elapsed_precise}")
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
                .map(|t| {
                    let o = verify_one(&t, &ctx);
                    progress.inc(1);
                    (o, t.scanned)
                })
                .collect()
        });
        progress.finish_and_clear();
        out
    };
    outcomes.extend(resolve_companions(verified));
    if let Ok(notes) = ctx.notes.lock() {
        for note in notes.iter() {
            eprintln!("note: {}", printable(note));
        }
    }

    let mut stdout = std::io::stdout().lock();
    let written = if args.json {
        let text = if single_file && outcomes.len() == 1 {
            serde_json::to_string_pretty(&outcomes[0])
        } else {
            serde_json::to_string_pretty(&outcomes)
        }?;
        writeln!(stdout, "{text}")
    } else if single_file && outcomes.len() == 1 {
        print_detailed(&mut stdout, &outcomes[0])
    } else {
        print_summary(&mut stdout, &outcomes)
    };
    match written {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {}
        other => other?,
    }
    Ok(exit_code(&outcomes, args.require_trusted))
}

/// Folder scans pair `IMG_1.HEIC` and `IMG_1.MOV` with the same `IMG_1.sidecar.json`. When the sidecar covers
/// one of them (its content hash matches), the others are companions: skipped, not invalid.
fn resolve_companions(verified: Vec<(Outcome, bool)>) -> Vec<Outcome> {
    let covers = |o: &Outcome| {
        o.report.as_ref().and_then(|r| r.check(CheckCode::ContentHash)).is_some_and(|c| c.status == Status::Pass)
    };
    let mut by_sidecar: HashMap<String, Vec<usize>> = HashMap::new();
    for (i, (o, scanned)) in verified.iter().enumerate() {
        if let (true, Some(s)) = (scanned, &o.sidecar) {
            by_sidecar.entry(s.clone()).or_default().push(i);
        }
    }
    let mut owner: HashMap<usize, String> = HashMap::new();
    for members in by_sidecar.values().filter(|m| m.len() > 1) {
        if let Some(&winner) = members.iter().find(|&&i| covers(&verified[i].0)) {
            for &i in members.iter().filter(|&&i| i != winner && !covers(&verified[i].0)) {
                owner.insert(i, verified[winner].0.file.clone());
            }
        }
    }
    verified
        .into_iter()
        .enumerate()
        .map(|(i, (mut o, _))| {
            if let Some(winner) = owner.remove(&i) {
                let sidecar = o.sidecar.clone().unwrap_or_default();
                o.report = None;
                o.skipped = Some(format!("shares {sidecar} with {winner}, which it covers"));
            }
            o
        })
        .collect()
}

/// 1 when any file is invalid (or only valid under --require-trusted), else 2 when any could not be
/// verified, else 0.
fn exit_code(outcomes: &[Outcome], require_trusted: bool) -> ExitCode {
    let bad = outcomes.iter().filter_map(|o| o.report.as_ref()).any(|r| match r.verdict {
        Verdict::Invalid => true,
        Verdict::Valid => require_trusted,
        Verdict::Trusted => false,
    });
    if bad {
        ExitCode::from(1)
    } else if outcomes.iter().any(|o| o.error.is_some()) {
        ExitCode::from(2)
    } else {
        ExitCode::SUCCESS
    }
}

/// Targets, plus outcomes for folders that could not be read. Folders contribute every file (symbolic
/// links followed) that has a sidecar beside it.
fn collect_targets(paths: &[PathBuf], sidecar: Option<&Path>) -> Result<(Vec<Target>, Vec<Outcome>)> {
    if sidecar.is_some() && (paths.len() != 1 || paths[0].is_dir()) {
        bail!("--sidecar goes with exactly one media file");
    }
    let mut targets = Vec::new();
    let mut errors = Vec::new();
    for path in paths {
        if path.is_dir() {
            walk(path, &mut targets, &mut errors);
        } else {
            let sidecar = sidecar.map_or_else(|| sidecar_path_for(path), Path::to_path_buf);
            targets.push(Target { media: path.clone(), sidecar, scanned: false });
        }
    }
    if targets.is_empty() && errors.is_empty() {
        bail!(
            "no media with a sidecar found under {}",
            paths.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", ")
        );
    }
    Ok((targets, errors))
}

fn walk(dir: &Path, out: &mut Vec<Target>, errors: &mut Vec<Outcome>) {
    let entries = match std::fs::read_dir(dir).and_then(|rd| rd.collect::<std::io::Result<Vec<_>>>()) {
        Ok(mut entries) => {
            entries.sort_by_key(|e| e.file_name());
            entries
        }
        Err(e) => {
            errors.push(Outcome::failed(dir, format!("cannot read folder: {e}")));
            return;
        }
    };
    for entry in entries {
        let path = entry.path();
        // Follow symbolic links; a broken link is reported, not silently dropped.
        match std::fs::metadata(&path) {
            Ok(meta) if meta.is_dir() => walk(&path, out, errors),
            Ok(meta) if meta.is_file() && !is_sidecar_name(&path) => {
                let sidecar = sidecar_path_for(&path);
                if sidecar.is_file() {
                    out.push(Target { media: path, sidecar, scanned: true });
                }
            }
            Ok(_) => {}
            Err(e) => errors.push(Outcome::failed(&path, format!("cannot read: {e}"))),
        }
    }
}

fn is_sidecar_name(path: &Path) -> bool {
    path.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.ends_with(".sidecar.json"))
}

fn sidecar_path_for(media: &Path) -> PathBuf {
    let name = media.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    media.with_file_name(sidecar_file_name(&name))
}

fn verify_one(t: &Target, ctx: &Ctx) -> Outcome {
    let (report, error) = match verify_files(&t.media, &t.sidecar, ctx) {
        Ok(report) => (Some(report), None),
        Err(e) => (None, Some(format!("{e:#}"))),
    };
    Outcome {
        file: t.media.display().to_string(),
        sidecar: Some(t.sidecar.display().to_string()),
        report,
        error,
        skipped: None,
    }
}

fn verify_files(media: &Path, sidecar_path: &Path, ctx: &Ctx) -> Result<Report> {
    if is_sidecar_name(media) {
        bail!("{} is a sidecar; pass the media file it belongs to", media.display());
    }
    let sidecar = read_capped(sidecar_path, MAX_SIDECAR_FILE)
        .with_context(|| format!("cannot read sidecar {}", sidecar_path.display()))?;
    let mut keys = ctx.base_keys.clone();
    let mut fetch_error = None;
    if ctx.fetch_issuer_keys {
        if let Some(iss) = peek_issuer(&sidecar) {
            let listed = ctx.policy.trusted_issuers.iter().any(|t| same_issuer(t, &iss));
            if ctx.policy.trusted_issuers.is_empty() || listed {
                // An issuer the user listed is fetched as typed; one named only by the file is checked first.
                let url = KeyFetcher::issuer_jwks_url(&iss, ctx.allow_insecure_issuer || listed);
                match url.and_then(|url| ctx.fetcher.load(&url).map(|jwks| (url, jwks))) {
                    Ok((url, jwks)) => {
                        for skipped in &jwks.skipped {
                            ctx.note(format!("{url}: key #{} skipped: {}", skipped.index, skipped.reason));
                        }
                        keys.add_jwks(&jwks, KeySource::Issuer { url: iss });
                    }
                    Err(e) => fetch_error = Some(e),
                }
            } else {
                ctx.note(format!("issuer {iss} is not among --trust-issuer; its keys were not fetched"));
            }
        }
    }
    let media_hash = hash_file(media)?;
    let report = verify(VerifyInput { sidecar: &sidecar, media_hash: &media_hash, keys: &keys, policy: &ctx.policy });
    if let Some(e) = fetch_error {
        // Without the keys the token is unchecked; any other failure still proves the capture invalid.
        let other_failure = report.checks.iter().any(|c| c.status == Status::Fail && c.code != CheckCode::JwtKey);
        if !other_failure {
            return Err(e.context("could not fetch the issuer's keys"));
        }
    }
    Ok(report)
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

/// Untrusted text (from a sidecar, a token, a file name) as it is safe to print on a terminal: control and
/// bidirectional-override characters are shown escaped, so a crafted string cannot redraw the screen.
fn printable(s: &str) -> Cow<'_, str> {
    let unsafe_char = |c: char| c.is_control() || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}');
    if !s.chars().any(unsafe_char) {
        return Cow::Borrowed(s);
    }
    Cow::Owned(s.chars().map(|c| if unsafe_char(c) { c.escape_unicode().to_string() } else { c.to_string() }).collect())
}

fn print_detailed(out: &mut impl Write, o: &Outcome) -> std::io::Result<()> {
    let file = printable(&o.file);
    let Some(report) = &o.report else {
        writeln!(out, "{file}: could not verify: {}", printable(o.error.as_deref().unwrap_or("")))?;
        return Ok(());
    };
    writeln!(out, "{file}: {}", verdict_label(report))?;
    for c in &report.checks {
        let (mark, reason) = match c.status {
            Status::Pass => ("✓", String::new()),
            Status::Fail => ("✗", format!(" [{}]", c.reason.unwrap_or(""))),
            Status::NotApplicable => ("-", String::new()),
        };
        writeln!(out, "  {mark} {:<24}{} {}", c.code.as_str(), reason, printable(&c.message))?;
    }
    for f in &report.findings {
        writeln!(out, "  ! {:<24} {}", f.code, printable(&f.message))?;
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
        writeln!(out, "  {}", printable(&parts.join(" · ")))?;
    }
    Ok(())
}

fn print_summary(out: &mut impl Write, outcomes: &[Outcome]) -> std::io::Result<()> {
    let width = outcomes.iter().map(|o| printable(&o.file).chars().count()).max().unwrap_or(4).clamp(4, 60);
    writeln!(out, "{:<width$}  {:<26}  DETAIL", "FILE", "VERDICT")?;
    let (mut trusted, mut valid, mut invalid, mut errors, mut skipped) = (0, 0, 0, 0, 0);
    for o in outcomes {
        let name = printable(&o.file);
        let (label, detail) = match (&o.report, &o.error) {
            _ if o.skipped.is_some() => {
                skipped += 1;
                ("SKIPPED", o.skipped.clone().unwrap_or_default())
            }
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
        writeln!(out, "{name:<width$}  {label:<26}  {}", printable(&detail))?;
    }
    let skipped = if skipped > 0 { format!(", {skipped} skipped") } else { String::new() };
    writeln!(
        out,
        "{} files: {trusted} trusted, {valid} valid, {invalid} invalid, {errors} could not be verified{skipped}",
        outcomes.len()
    )?;
    Ok(())
}
