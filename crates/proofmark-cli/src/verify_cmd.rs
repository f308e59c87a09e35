//! `proofmark verify`: find each file's sidecar and drive the core verification pipeline for it (hand it the
//! sidecar, fetch the issuer keys it asks for, hash the media as a stream), then print one report per file
//! (or a summary table for many). The pipeline parses the sidecar and the token; this file only moves bytes.
use std::collections::{BTreeSet, HashMap};
use std::ffi::OsString;
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Mutex;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use proofmark_api::content::VerifyResult;
use proofmark_core::provenance::{ReceiptReport, ReceiptVerdict};
use proofmark_core::tlog::NoteVerifier;
use proofmark_core::{
    Check, CheckCode, IssuerKeys, KeyRing, KeySource, Need, Policy, Report, Status, Verdict, Verification,
};
use rayon::prelude::*;
use serde::Serialize;

use crate::fetch::{Chooser, KeyFetcher};
use crate::input::{display_path, hash_file, kind_of, open_regular, printable, read_capped};

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
    /// A key set (JWKS) you hold, a file or an http(s) URL, as ISSUER=FILE_OR_URL to bind it to the issuer
    /// it belongs to: its keys then verify only that issuer's tokens, as "trusted". A set given without
    /// ISSUER= is bound to no issuer: it may check any token's signature, but the token's issuer stays
    /// unverified and the verdict is at most "valid". Repeatable. Without --trust-issuer, nothing else is
    /// fetched.
    #[arg(long = "jwks", value_name = "[ISSUER=]FILE_OR_URL")]
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
    /// One deadline for all the key fetching of this run (every connection, lookup and response), in seconds.
    #[arg(long, default_value_t = 10, value_name = "SECONDS")]
    timeout: u64,
    /// At most this many distinct issuers' keys are fetched in one run; sidecars naming more are not verified.
    #[arg(long, default_value_t = 8, value_name = "N")]
    max_issuers: usize,
    /// Also ask a Proofmark server (POST URL/api/v1/verify) for its checks: the watermark, exact SHA-256 and
    /// pHash lookups against its signed records, the matched record's signature, log receipt and anchor. The
    /// file, its sidecar and its receipt are sent to that server; nothing else is contacted for it. With
    /// --server, files without a sidecar are verified too.
    #[arg(long, value_name = "URL")]
    server: Option<String>,
    /// The transparency log's key (its vkey text, or a file holding it), to check receipts found beside the
    /// files (NAME.receipt.json, from `proofmark log receipt`) offline.
    #[arg(long, value_name = "VKEY_OR_FILE")]
    log_key: Option<String>,
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
    /// The log receipt found beside the file, and its offline check.
    #[serde(skip_serializing_if = "Option::is_none")]
    receipt_file: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    receipt: Option<ReceiptReport>,
    /// The answer of `--server` (POST /api/v1/verify).
    #[serde(skip_serializing_if = "Option::is_none")]
    server: Option<VerifyResult>,
    /// Set when the file could not be verified at all (or the server could not be asked).
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
    /// Set for a file that shares its sidecar with another file, which the sidecar covers.
    #[serde(skip_serializing_if = "Option::is_none")]
    skipped: Option<String>,
}

impl Outcome {
    fn failed(path: &Path, error: String) -> Self {
        Self {
            file: display_path(path),
            sidecar: None,
            report: None,
            receipt_file: None,
            receipt: None,
            server: None,
            error: Some(error),
            skipped: None,
        }
    }
}

struct Target {
    media: PathBuf,
    /// The capture sidecar; `None` for a file verified by its receipt or by the server alone.
    sidecar: Option<PathBuf>,
    /// `NAME.receipt.json`, when there is one.
    receipt: Option<PathBuf>,
    /// Found by scanning a folder (rather than named on the command line).
    scanned: bool,
}

struct Ctx {
    base_keys: KeyRing,
    fetcher: KeyFetcher,
    policy: Policy,
    fetching: IssuerKeys,
    allow_insecure_issuer: bool,
    log_key: Option<NoteVerifier>,
    /// `--server`, and the HTTP client for it.
    server: Option<(String, ureq::Agent)>,
    /// Warnings, printed once each after the run.
    notes: Mutex<BTreeSet<String>>,
}

impl Ctx {
    /// A verification of one file, before its sidecar is added.
    fn verification(&self) -> Verification {
        Verification::new(self.policy.clone(), Some(proofmark_os::unix_now()))
            .with_keys(self.base_keys.clone())
            .fetching(self.fetching)
            .allow_insecure_issuer(self.allow_insecure_issuer)
    }

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

/// `--jwks ISSUER=FILE_OR_URL` → (Some(ISSUER), FILE_OR_URL); `--jwks FILE_OR_URL` → (None, FILE_OR_URL). The
/// part before the first `=` is an issuer when it is an http(s) URL without a query (so a JWKS URL with a
/// query, or a file name with `=` in it, is read whole).
pub fn split_binding(arg: &str) -> (Option<&str>, &str) {
    if let Some((issuer, source)) = arg.split_once('=') {
        let lower = issuer.get(..8).unwrap_or(issuer).to_ascii_lowercase();
        if (lower.starts_with("https://") || lower.starts_with("http://")) && !issuer.contains(['?', '#']) {
            return (Some(issuer), source);
        }
    }
    (None, arg)
}

fn run_inner(args: &VerifyArgs) -> Result<ExitCode> {
    let server_mode = args.server.is_some();
    let (targets, mut outcomes, scan_notes) = collect_targets(&args.paths, args.sidecar.as_deref(), server_mode)?;
    let log_key = match &args.log_key {
        Some(k) => Some(crate::log_cmd::verifier(k, proofmark_core::tlog::TYPE_ED25519, "log key")?),
        None => None,
    };
    let single_file = args.paths.len() == 1 && !args.paths[0].is_dir();
    let fetcher = KeyFetcher::new(Duration::from_secs(args.timeout.max(1)), args.max_issuers);
    let mut base_keys = KeyRing::new();
    for arg in &args.jwks {
        let (issuer, source) = split_binding(arg);
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
        let key_source = match issuer {
            Some(issuer) => KeySource::Bound { issuer: issuer.trim_end_matches('/').to_owned(), label: source.into() },
            None => KeySource::Unbound { label: source.into() },
        };
        base_keys.add_jwks(&jwks, key_source);
    }
    let mut policy = Policy::permissive();
    for issuer in &args.trust_issuers {
        policy = policy.trusting(issuer.clone());
    }
    policy.allow_sandbox = !args.reject_sandbox;
    policy.allow_legacy_layout = !args.reject_legacy;
    // Issuers' published keys: those of the issuers the user trusts when there are any; else, unless the user
    // handed in key sets, those of whatever issuer a sidecar names (under the address rules).
    let fetching = if !args.trust_issuers.is_empty() {
        IssuerKeys::Trusted
    } else if args.jwks.is_empty() {
        IssuerKeys::Any
    } else {
        IssuerKeys::Never
    };
    let ctx = Ctx {
        base_keys,
        fetcher,
        policy,
        fetching,
        allow_insecure_issuer: args.allow_insecure_issuer,
        log_key,
        server: args.server.clone().map(|s| (s, crate::publish_cmd::agent())),
        notes: Mutex::new(scan_notes),
    };

    let verified: Vec<(Outcome, bool)> = if targets.len() == 1 {
        targets
            .into_iter()
            .map(|t| {
                let started = start(&t, &ctx);
                (finish(&t, started, &ctx), t.scanned)
            })
            .collect()
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
            let started: Vec<Result<Started>> = targets.par_iter().map(|t| start(t, &ctx)).collect();
            prefetch(&started, &ctx, args.max_issuers);
            targets
                .into_par_iter()
                .zip(started)
                .map(|(t, started)| {
                    let o = finish(&t, started, &ctx);
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

/// How one file came out, over all its evidence.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Standing {
    Trusted,
    Valid,
    Invalid,
    /// Evidence it needed was unavailable, or it could not be read (or the server asked).
    Unverified,
    Skipped,
}

/// Invalid when any evidence fails (a capture that does not verify, or only as `valid` under
/// --require-trusted; a receipt for other bytes or that does not verify; a server verdict of `invalid`, or
/// `no_record`/`looks_like_record` for a file whose capture did not verify either); else unverified when any
/// could not be checked; else trusted when the capture is trusted or the server authenticated the file.
fn standing(o: &Outcome, require_trusted: bool) -> Standing {
    if o.skipped.is_some() {
        return Standing::Skipped;
    }
    let capture = o.report.as_ref().map(|r| r.verdict);
    let capture_ok = matches!(capture, Some(Verdict::Trusted | Verdict::Valid))
        || o.server
            .as_ref()
            .and_then(|s| s.capture.as_ref())
            .is_some_and(|c| c["verdict"] == "trusted" || c["verdict"] == "valid");
    let server = o.server.as_ref().map(|s| s.verdict.as_str());
    let bad = capture == Some(Verdict::Invalid)
        || (capture == Some(Verdict::Valid) && require_trusted)
        || o.receipt.as_ref().is_some_and(|r| r.verdict == ReceiptVerdict::Invalid)
        || server == Some("invalid")
        || (matches!(server, Some("no_record" | "looks_like_record")) && !capture_ok);
    if bad {
        return Standing::Invalid;
    }
    let nothing = o.report.is_none() && o.receipt.is_none() && o.server.is_none();
    if nothing
        || o.error.is_some()
        || capture == Some(Verdict::Unverified)
        || o.receipt.as_ref().is_some_and(|r| r.verdict == ReceiptVerdict::Unverified)
        || matches!(server, Some("signed_not_yet_logged" | "signed_log_unchecked"))
    {
        return Standing::Unverified;
    }
    if capture == Some(Verdict::Trusted) || o.server.as_ref().is_some_and(|s| s.authentic) {
        Standing::Trusted
    } else {
        Standing::Valid
    }
}

/// 1 when any file is invalid (or only valid under --require-trusted), else 2 when any could not be
/// verified (unreadable, or `unverified`: evidence it needed was unavailable), else 0.
fn exit_code(outcomes: &[Outcome], require_trusted: bool) -> ExitCode {
    let standings: Vec<Standing> = outcomes.iter().map(|o| standing(o, require_trusted)).collect();
    if standings.contains(&Standing::Invalid) {
        ExitCode::from(1)
    } else if standings.contains(&Standing::Unverified) {
        ExitCode::from(2)
    } else {
        ExitCode::SUCCESS
    }
}

/// Targets, outcomes for what could not be read, and notes on what a scan skipped. Folders contribute every
/// regular file (or symbolic link to one) that has a sidecar beside it; symbolic links to folders are not
/// followed, and special files are skipped with a note.
fn collect_targets(
    paths: &[PathBuf],
    sidecar: Option<&Path>,
    server_mode: bool,
) -> Result<(Vec<Target>, Vec<Outcome>, BTreeSet<String>)> {
    if sidecar.is_some() && (paths.len() != 1 || paths[0].is_dir()) {
        bail!("--sidecar goes with exactly one media file");
    }
    let mut targets = Vec::new();
    let mut errors = Vec::new();
    let mut notes = BTreeSet::new();
    for path in paths {
        if path.is_dir() {
            walk(path, &mut Scan { targets: &mut targets, errors: &mut errors, notes: &mut notes, server_mode });
        } else {
            let receipt = Some(receipt_path_for(path)).filter(|r| r.is_file());
            // A named file needs its sidecar unless other evidence goes with it (a receipt, the server).
            let sidecar = match sidecar {
                Some(s) => Some(s.to_path_buf()),
                None => Some(sidecar_path_for(path)).filter(|s| s.exists() || !(server_mode || receipt.is_some())),
            };
            targets.push(Target { media: path.clone(), sidecar, receipt, scanned: false });
        }
    }
    if targets.is_empty() && errors.is_empty() {
        bail!(
            "no media with a sidecar or a receipt found under {}",
            paths.iter().map(|p| display_path(p)).collect::<Vec<_>>().join(", ")
        );
    }
    Ok((targets, errors, notes))
}

struct Scan<'a> {
    targets: &'a mut Vec<Target>,
    errors: &'a mut Vec<Outcome>,
    notes: &'a mut BTreeSet<String>,
    /// Every file is a target (the server checks it), not only those with a sidecar or a receipt.
    server_mode: bool,
}

/// One folder, depth first. Never follows a symbolic link to a folder (so a link loop cannot make it go
/// round), keeps going past entries it cannot read (each is listed as an error), and skips special files
/// with a note.
fn walk(dir: &Path, scan: &mut Scan<'_>) {
    let read = match std::fs::read_dir(dir) {
        Ok(read) => read,
        Err(e) => {
            scan.errors.push(Outcome::failed(dir, format!("cannot read folder: {e}")));
            return;
        }
    };
    let mut entries = Vec::new();
    for entry in read {
        match entry {
            Ok(entry) => entries.push(entry),
            Err(e) => scan.errors.push(Outcome::failed(dir, format!("cannot read an entry of this folder: {e}"))),
        }
    }
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        let path = entry.path();
        let file_type = match entry.file_type() {
            Ok(t) => t,
            Err(e) => {
                scan.errors.push(Outcome::failed(&path, format!("cannot read: {e}")));
                continue;
            }
        };
        if file_type.is_dir() {
            walk(&path, scan);
        } else if file_type.is_symlink() {
            match std::fs::metadata(&path) {
                Ok(meta) if meta.is_dir() => {
                    scan.notes.insert(format!("{}: a link to a folder, not followed", display_path(&path)));
                }
                Ok(meta) if meta.is_file() => consider_file(path, scan),
                Ok(meta) => {
                    scan.notes.insert(format!(
                        "{}: links to {}, skipped",
                        display_path(&path),
                        kind_of(&meta.file_type())
                    ));
                }
                Err(e) => scan.errors.push(Outcome::failed(&path, format!("cannot read (broken link?): {e}"))),
            }
        } else if file_type.is_file() {
            consider_file(path, scan);
        } else {
            scan.notes.insert(format!("{}: {}, skipped", display_path(&path), kind_of(&file_type)));
        }
    }
}

fn consider_file(path: PathBuf, scan: &mut Scan<'_>) {
    if is_evidence_name(&path) {
        return;
    }
    let sidecar = Some(sidecar_path_for(&path)).filter(|s| s.is_file());
    let receipt = Some(receipt_path_for(&path)).filter(|r| r.is_file());
    if sidecar.is_some() || receipt.is_some() || scan.server_mode {
        scan.targets.push(Target { media: path, sidecar, receipt, scanned: true });
    }
}

fn is_sidecar_name(path: &Path) -> bool {
    path.file_name().is_some_and(|n| n.as_encoded_bytes().ends_with(b".sidecar.json"))
}

/// Sidecars, receipts and the records `proofmark sign` writes: evidence about media, not media.
fn is_evidence_name(path: &Path) -> bool {
    path.file_name().is_some_and(|n| {
        let n = n.as_encoded_bytes();
        [&b".sidecar.json"[..], b".receipt.json", b".proofmark.json"].iter().any(|s| n.ends_with(s))
    })
}

/// `photo.jpg` → `photo.sidecar.json` (SPEC §1.1), on the raw name, so names that are not UTF-8 find their
/// sidecar too.
fn sidecar_path_for(media: &Path) -> PathBuf {
    beside(media, ".sidecar.json")
}

/// `photo.jpg` → `photo.receipt.json` (what `proofmark log receipt … -o` is told to write).
fn receipt_path_for(media: &Path) -> PathBuf {
    beside(media, ".receipt.json")
}

/// The media's name without its extension, and `suffix`.
fn beside(media: &Path, suffix: &str) -> PathBuf {
    let name = media.file_name().unwrap_or_default();
    #[cfg(unix)]
    let sidecar: OsString = {
        use std::os::unix::ffi::{OsStrExt, OsStringExt};
        let bytes = name.as_bytes();
        let stem = match bytes.iter().rposition(|&b| b == b'.') {
            Some(i) if i > 0 => &bytes[..i],
            _ => bytes,
        };
        OsString::from_vec([stem, suffix.as_bytes()].concat())
    };
    #[cfg(not(unix))]
    let sidecar = {
        let name = name.to_string_lossy();
        let stem = name.rsplit_once('.').filter(|(s, _)| !s.is_empty()).map_or(name.as_ref(), |(s, _)| s);
        OsString::from(format!("{stem}{suffix}"))
    };
    media.with_file_name(sidecar)
}

/// A verification with what travels with the file added (the pipeline parses it), and those bytes for the
/// server.
struct Started {
    verification: Verification,
    sidecar: Option<Vec<u8>>,
    receipt: Option<Vec<u8>>,
}

/// Read a file's sidecar and receipt into a new verification.
fn start(t: &Target, ctx: &Ctx) -> Result<Started> {
    if is_sidecar_name(&t.media) {
        bail!("{} is a sidecar; pass the media file it belongs to", display_path(&t.media));
    }
    if is_evidence_name(&t.media) {
        bail!("{} is a receipt or a signing record; pass the media file it belongs to", display_path(&t.media));
    }
    let mut verification = ctx.verification();
    let sidecar = match &t.sidecar {
        Some(path) => {
            let bytes = open_regular(path)
                .and_then(|f| read_capped(f, MAX_SIDECAR_FILE, "the file", "; a sidecar is about 1 KB"))
                .with_context(|| format!("cannot read sidecar {}", display_path(path)))?;
            verification.add_sidecar(&bytes);
            Some(bytes)
        }
        None => None,
    };
    let receipt = match &t.receipt {
        Some(path) => {
            let bytes = open_regular(path)
                .and_then(|f| read_capped(f, MAX_SIDECAR_FILE, "the file", "; a receipt is a few KB"))
                .with_context(|| format!("cannot read receipt {}", display_path(path)))?;
            verification.add_receipt(&bytes);
            Some(bytes)
        }
        None => None,
    };
    Ok(Started { verification, sidecar, receipt })
}

/// Give the verification what it asks for, finish it, and ask the server when there is one.
fn finish(t: &Target, started: Result<Started>, ctx: &Ctx) -> Outcome {
    let mut outcome = Outcome {
        file: display_path(&t.media),
        sidecar: t.sidecar.as_deref().map(display_path),
        report: None,
        receipt_file: t.receipt.as_deref().map(display_path),
        receipt: None,
        server: None,
        error: None,
        skipped: None,
    };
    let started = started.and_then(|s| {
        let Started { mut verification, sidecar, receipt } = s;
        let mut fetch_error = None;
        for need in verification.needs() {
            match need {
                Need::IssuerKeys { issuer, target, chosen_by_user } => {
                    let chooser = if chosen_by_user { Chooser::User } else { Chooser::Sidecar };
                    match ctx.fetcher.issuer_keys(&issuer, target, chooser) {
                        Ok(jwks) => {
                            for skipped in &jwks.skipped {
                                ctx.note(format!(
                                    "keys of {issuer}: key #{} skipped: {}",
                                    skipped.index, skipped.reason
                                ));
                            }
                            verification.supply_issuer_keys(&issuer, &jwks);
                        }
                        Err(e) => {
                            verification.issuer_keys_unavailable(format!("{e:#}"));
                            fetch_error = Some(e);
                        }
                    }
                }
                Need::MediaDigest => verification.supply_media_digest(hash_file(&t.media)?),
                Need::LogKey => match &ctx.log_key {
                    Some(k) => verification.supply_log_key(k.clone()),
                    None => verification.log_key_unavailable(
                        "no log key was given (--log-key): the receipt's checkpoint cannot be authenticated",
                    ),
                },
                // The CLI does not observe files for a record lookup: `--server` asks a server, which does.
                Need::RecordLookup { .. } => {}
            }
        }
        let finished = verification.finish_all();
        // The jwt_key check reports a failed fetch (status unavailable) unless another key verified the token:
        // then the failure is only noted.
        if let (Some(e), Some(report)) = (fetch_error, &finished.capture) {
            if report.check(CheckCode::JwtKey).is_some_and(|c| c.status != Status::Unavailable) {
                ctx.note(format!("{e:#}"));
            }
        }
        Ok((finished, sidecar, receipt))
    });
    match started {
        Err(e) => outcome.error = Some(format!("{e:#}")),
        Ok((finished, sidecar, receipt)) => {
            outcome.report = finished.capture;
            outcome.receipt = finished.receipt;
            if let Some((server, agent)) = &ctx.server {
                match crate::remote_verify::verify_remote(
                    agent,
                    server,
                    &t.media,
                    sidecar.as_deref(),
                    receipt.as_deref(),
                ) {
                    Ok(answer) => outcome.server = Some(answer),
                    Err(e) => outcome.error = Some(format!("{e:#}")),
                }
            }
        }
    }
    outcome
}

/// Fetch the keys of every issuer the sidecars ask for, in parallel, before any media is hashed: the run's
/// one fetching deadline then covers the fetching alone, however long the hashing takes. The first
/// `--max-issuers` issuers in sorted order are the ones fetched, so the outcome does not depend on timing.
fn prefetch(started: &[Result<Started>], ctx: &Ctx, max_issuers: usize) {
    let mut wanted = std::collections::BTreeMap::new();
    for s in started.iter().flatten() {
        for need in s.verification.needs() {
            if let Need::IssuerKeys { issuer, target, chosen_by_user } = need {
                wanted.entry(issuer).or_insert((target, chosen_by_user));
            }
        }
    }
    let wanted: Vec<_> = wanted.into_iter().take(max_issuers).collect();
    wanted.into_par_iter().for_each(|(issuer, (target, chosen_by_user))| {
        let chooser = if chosen_by_user { Chooser::User } else { Chooser::Sidecar };
        let _ = ctx.fetcher.issuer_keys(&issuer, target, chooser);
    });
}

/// "TRUSTED", "INVALID", e.g. "VALID (token does not bind the device key)", or "could not verify: WHY".
fn verdict_label(r: &Report) -> String {
    let text = r.verdict_text();
    if r.verdict == Verdict::Unverified {
        return text;
    }
    let (word, rest) = text.split_once(' ').map_or((text.as_str(), ""), |(w, rest)| (w, rest));
    if rest.is_empty() {
        word.to_ascii_uppercase()
    } else {
        format!("{} {rest}", word.to_ascii_uppercase())
    }
}

fn check_line(
    out: &mut impl Write,
    code: &str,
    status: &str,
    reason: Option<&str>,
    message: &str,
) -> std::io::Result<()> {
    let (mark, reason) = match status {
        "pass" => ("✓", String::new()),
        "fail" => ("✗", format!(" [{}]", reason.unwrap_or(""))),
        "unavailable" => ("?", format!(" [{}]", reason.unwrap_or(""))),
        _ => ("-", String::new()),
    };
    writeln!(out, "  {mark} {code:<24}{reason} {}", printable(message))
}

fn status_word(s: Status) -> &'static str {
    match s {
        Status::Pass => "pass",
        Status::Fail => "fail",
        Status::Unavailable => "unavailable",
        Status::NotApplicable => "not_applicable",
    }
}

fn print_checks(out: &mut impl Write, checks: &[Check]) -> std::io::Result<()> {
    for c in checks {
        check_line(out, c.code.as_str(), status_word(c.status), c.reason.map(|r| r.as_str()), &c.message)?;
    }
    Ok(())
}

fn receipt_label(r: &ReceiptReport) -> String {
    match r.verdict {
        ReceiptVerdict::Logged => "LOGGED".into(),
        ReceiptVerdict::Invalid => "INVALID".into(),
        ReceiptVerdict::Unverified => {
            let why = r.checks.iter().find(|c| c.status == Status::Unavailable).map(|c| c.message.as_str());
            format!("could not verify: {}", why.unwrap_or(""))
        }
    }
}

/// The server's verdict for a verdict line.
fn server_label(s: &VerifyResult) -> String {
    match s.verdict.as_str() {
        "intact_original" => "INTACT ORIGINAL".into(),
        "derived_from_signed_original" => "DERIVED FROM A SIGNED ORIGINAL".into(),
        "signed_not_yet_logged" => "SIGNED, NOT YET IN THE LOG".into(),
        "signed_log_unchecked" => "SIGNED, LOG NOT CHECKED".into(),
        "looks_like_record" => "LOOKS LIKE A SIGNED RECORD (not authenticated)".into(),
        "no_record" => "NO RECORD".into(),
        other => other.replace('_', " ").to_ascii_uppercase(),
    }
}

fn print_detailed(out: &mut impl Write, o: &Outcome) -> std::io::Result<()> {
    let file = printable(&o.file);
    if o.report.is_none() && o.receipt.is_none() && o.server.is_none() {
        writeln!(out, "{file}: could not verify: {}", printable(o.error.as_deref().unwrap_or("")))?;
        return Ok(());
    }
    if let Some(report) = &o.report {
        print_capture(out, &file, report)?;
    }
    if let Some(r) = &o.receipt {
        let name = printable(o.receipt_file.as_deref().unwrap_or("receipt"));
        writeln!(out, "{file}: receipt {name}: {}", receipt_label(r))?;
        print_checks(out, &r.checks)?;
        if let Some(id) = &r.record_id {
            writeln!(out, "  record {} · leaf {} at tree size {}", printable(id), r.leaf_index, r.tree_size)?;
        }
    }
    if let Some(s) = &o.server {
        writeln!(out, "{file}: {} (server)", server_label(s))?;
        writeln!(out, "  {}", printable(&s.summary))?;
        for change in &s.changes {
            writeln!(out, "  ~ changed: {}", printable(change))?;
        }
        for c in s.content["checks"].as_array().into_iter().flatten() {
            let text = |k: &str| c[k].as_str().unwrap_or("");
            check_line(out, text("code"), text("status"), c["reason"].as_str(), text("message"))?;
        }
        let record = &s.content["record"];
        if let Some(r) = record["receipt"].as_object() {
            writeln!(
                out,
                "  log: record {} is leaf {} at tree size {}",
                printable(record["record_id"].as_str().unwrap_or("")),
                r.get("leaf_index").and_then(|v| v.as_u64()).unwrap_or(0),
                r.get("tree_size").and_then(|v| v.as_u64()).unwrap_or(0)
            )?;
        }
    }
    if let Some(e) = &o.error {
        writeln!(out, "  ! {}", printable(e))?;
    }
    Ok(())
}

fn print_capture(out: &mut impl Write, file: &str, report: &Report) -> std::io::Result<()> {
    writeln!(out, "{file}: {}", verdict_label(report))?;
    print_checks(out, &report.checks)?;
    for f in &report.findings {
        writeln!(out, "  ! {:<24} {}", f.code, printable(&f.message))?;
    }
    if let Some(c) = &report.capture {
        let mut parts = vec![format!("captured {}", c.captured_at)];
        if let Some(i) = &c.issuer {
            match report.key_source.as_ref().and_then(KeySource::issuer) {
                Some(_) => parts.push(format!("issuer {i}")),
                None => parts.push(format!("issuer {i} (claimed, not verified)")),
            }
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

/// The summary table's verdict and detail for one file.
fn summary_row(o: &Outcome, standing: Standing) -> (String, String) {
    if let Some(s) = &o.skipped {
        return ("SKIPPED".into(), s.clone());
    }
    let unavailable = |checks: &[Check]| {
        checks.iter().find(|c| c.status == Status::Unavailable).map(|c| c.message.clone()).unwrap_or_default()
    };
    if standing == Standing::Unverified {
        let detail = match (&o.error, &o.report, &o.receipt) {
            (Some(e), _, _) => e.clone(),
            (None, Some(r), _) if r.verdict == Verdict::Unverified => unavailable(&r.checks),
            (None, _, Some(r)) if r.verdict == ReceiptVerdict::Unverified => unavailable(&r.checks),
            _ => o.server.as_ref().map(|s| s.summary.clone()).unwrap_or_default(),
        };
        return ("ERROR (could not verify)".into(), detail);
    }
    let mut labels = Vec::new();
    let mut detail = None;
    if let Some(r) = &o.report {
        labels.push(verdict_label(r));
        detail = Some(match r.first_failure() {
            Some(c) => format!("{}: {}", c.reason.map_or(c.code.as_str(), |r| r.as_str()), c.message),
            None => r.findings.iter().map(|f| f.code.as_str()).collect::<Vec<_>>().join(", "),
        });
    }
    if let Some(r) = &o.receipt {
        labels.push(format!("RECEIPT {}", receipt_label(r)));
        if let Some(c) = r.checks.iter().find(|c| c.status == Status::Fail) {
            detail
                .get_or_insert_with(|| format!("{}: {}", c.reason.map_or(c.code.as_str(), |r| r.as_str()), c.message));
        }
    }
    if let Some(s) = &o.server {
        labels.push(format!("SERVER {}", server_label(s)));
        detail.get_or_insert_with(|| s.summary.clone());
    }
    (labels.join(" + "), detail.unwrap_or_default())
}

fn print_summary(out: &mut impl Write, outcomes: &[Outcome]) -> std::io::Result<()> {
    let width = outcomes.iter().map(|o| printable(&o.file).chars().count()).max().unwrap_or(4).clamp(4, 60);
    let rows: Vec<(Standing, String, String)> = outcomes
        .iter()
        .map(|o| {
            let s = standing(o, false);
            let (label, detail) = summary_row(o, s);
            (s, label, detail)
        })
        .collect();
    let lw = rows.iter().map(|(_, l, _)| l.chars().count()).max().unwrap_or(0).max(24);
    writeln!(out, "{:<width$}  {:<lw$}  DETAIL", "FILE", "VERDICT")?;
    let (mut trusted, mut valid, mut invalid, mut errors, mut skipped) = (0, 0, 0, 0, 0);
    for (o, (standing, label, detail)) in outcomes.iter().zip(&rows) {
        match standing {
            Standing::Trusted => trusted += 1,
            Standing::Valid => valid += 1,
            Standing::Invalid => invalid += 1,
            Standing::Unverified => errors += 1,
            Standing::Skipped => skipped += 1,
        }
        let name = printable(&o.file);
        writeln!(out, "{name:<width$}  {label:<lw$}  {}", printable(detail))?;
    }
    let skipped = if skipped > 0 { format!(", {skipped} skipped") } else { String::new() };
    writeln!(
        out,
        "{} files: {trusted} trusted, {valid} valid, {invalid} invalid, {errors} could not be verified{skipped}",
        outcomes.len()
    )?;
    Ok(())
}
