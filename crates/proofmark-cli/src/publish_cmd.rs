//! The publisher plane's client: `proofmark sign FILE… --server URL` (each file uploaded as it is read, the
//! watermarked file and a receipt written beside it) and `proofmark records list|show`. The wire types are
//! `proofmark_api`'s, the same the server writes.
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};
use proofmark_api::content::{ContentRecord, RecordPage, Signed};
use proofmark_api::ErrorBody;
use serde::Serialize;

/// Where the server is and who is calling.
#[derive(Debug, clap::Args)]
pub struct ServerAuth {
    /// The Proofmark server, e.g. http://127.0.0.1:8080.
    #[arg(long, value_name = "URL", env = "PROOFMARK_SERVER")]
    server: String,
    /// An API key of the organisation (pmk_…); also PROOFMARK_API_KEY.
    #[arg(long, value_name = "KEY", env = "PROOFMARK_API_KEY", hide_env_values = true)]
    api_key: String,
}

impl ServerAuth {
    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.server.trim_end_matches('/'))
    }

    fn bearer(&self) -> String {
        format!("Bearer {}", self.api_key)
    }
}

#[derive(Debug, clap::Args)]
pub struct SignArgs {
    /// Images to sign (JPEG, PNG or WebP).
    #[arg(required = true, value_name = "FILE")]
    files: Vec<PathBuf>,
    #[command(flatten)]
    auth: ServerAuth,
    /// The declared origin: CAMERA, EDIT, AI_FULL, AI_EDIT, COMPOSITE, SCAN or SCREEN.
    #[arg(long, value_name = "CODE")]
    origin_type: Option<String>,
    /// Which signing key [default: the organisation's newest current key].
    #[arg(long, value_name = "ID")]
    signing_key: Option<String>,
    /// Sign without embedding the watermark (no watermarked file is written).
    #[arg(long)]
    no_watermark: bool,
    /// Replace receipts and watermarked files left by an earlier run.
    #[arg(long)]
    force: bool,
    /// Print the server's answers as a JSON array instead of one line per file.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, clap::Subcommand)]
pub enum RecordsCommand {
    /// The organisation's records, newest first.
    List {
        #[command(flatten)]
        auth: ServerAuth,
        /// How many [default: 50; --all for every one].
        #[arg(long, default_value_t = 50)]
        limit: u32,
        /// Every record, page by page.
        #[arg(long)]
        all: bool,
        #[arg(long)]
        json: bool,
    },
    /// One record.
    Show {
        #[arg(value_name = "ID")]
        id: String,
        #[command(flatten)]
        auth: ServerAuth,
        #[arg(long)]
        json: bool,
    },
}

pub(crate) fn agent() -> ureq::Agent {
    ureq::AgentBuilder::new().timeout_connect(Duration::from_secs(10)).timeout(Duration::from_secs(600)).build()
}

/// The server's `{"detail"}` as the error.
pub(crate) fn http_error(url: &str, e: ureq::Error) -> anyhow::Error {
    match e {
        ureq::Error::Status(code, r) => {
            let detail = r.into_json::<ErrorBody>().map(|e| e.detail).unwrap_or_default();
            anyhow!("{url}: HTTP {code}: {detail}")
        }
        other => anyhow!("{url}: {other}"),
    }
}

/// `photo.jpg` → `photo.proofmark.json` (the receipt) and `photo.proofmark.{ext}` (the watermarked file).
fn beside(file: &Path, suffix: &str) -> PathBuf {
    let stem = file.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_else(|| "file".into());
    file.with_file_name(format!("{stem}.proofmark.{suffix}"))
}

/// What `sign` writes beside each input.
#[derive(Debug, Serialize)]
struct Receipt<'a> {
    server: &'a str,
    file: String,
    #[serde(flatten)]
    signed: &'a Signed,
}

pub fn sign(args: SignArgs) -> ExitCode {
    crate::exit_status((|| {
        let agent = agent();
        let total: u64 = args.files.iter().filter_map(|f| std::fs::metadata(f).ok()).map(|m| m.len()).sum();
        let bar = if std::io::IsTerminal::is_terminal(&std::io::stderr()) && !args.json {
            let bar = indicatif::ProgressBar::new(total);
            bar.set_style(
                indicatif::ProgressStyle::with_template("{msg} [{bar:30}] {bytes}/{total_bytes} {eta}")
                    .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
            );
            bar
        } else {
            indicatif::ProgressBar::hidden()
        };
        let mut answers = Vec::new();
        let mut failures = 0;
        for file in &args.files {
            bar.set_message(crate::input::display_path(file));
            match sign_one(&agent, &args, file, &bar) {
                Ok(signed) => {
                    if !args.json {
                        bar.suspend(|| {
                            println!(
                                "{} → record {} (pHash {}, {})",
                                crate::input::display_path(file),
                                signed.record_id,
                                signed.phash,
                                beside(file, "json").display()
                            )
                        });
                    }
                    answers.push(signed);
                }
                Err(e) => {
                    failures += 1;
                    bar.suspend(|| {
                        eprintln!(
                            "{}: {}",
                            crate::input::display_path(file),
                            crate::input::printable(&format!("{e:#}"))
                        )
                    });
                }
            }
        }
        bar.finish_and_clear();
        if args.json {
            println!("{}", serde_json::to_string_pretty(&answers)?);
        }
        if failures > 0 {
            bail!("{failures} of {} files were not signed", args.files.len());
        }
        Ok(())
    })())
}

/// Counts what is read, for the progress bar.
struct Counting<R> {
    inner: R,
    bar: indicatif::ProgressBar,
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.bar.inc(n as u64);
        Ok(n)
    }
}

fn sign_one(agent: &ureq::Agent, args: &SignArgs, file: &Path, bar: &indicatif::ProgressBar) -> Result<Signed> {
    let receipt_path = beside(file, "json");
    if receipt_path.exists() && !args.force {
        bail!("{} exists: signed already (--force signs again)", receipt_path.display());
    }
    let input = crate::input::open_regular(file)?;
    let size = input.metadata().context("reading the file's size")?.len();
    // The multipart body: the options, then the file streamed from disk.
    let boundary = format!("proofmark-{}", uuid::Uuid::new_v4().simple());
    let mut head = String::new();
    let mut field = |name: &str, value: &str| {
        head.push_str(&format!("--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n"))
    };
    if let Some(o) = &args.origin_type {
        field("origin_type", o);
    }
    if let Some(k) = &args.signing_key {
        field("signing_key_id", k);
    }
    field("watermark", if args.no_watermark { "false" } else { "true" });
    let name: String = file
        .file_name()
        .map(|n| n.to_string_lossy().chars().filter(|c| !c.is_control() && *c != '"').collect())
        .unwrap_or_else(|| "file".into());
    head.push_str(&format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{name}\"\r\n\
         Content-Type: application/octet-stream\r\n\r\n"
    ));
    let tail = format!("\r\n--{boundary}--\r\n");
    let length = head.len() as u64 + size + tail.len() as u64;
    let body = head.as_bytes().chain(Counting { inner: input.take(size), bar: bar.clone() }).chain(tail.as_bytes());
    let url = args.auth.url("/api/v1/sign");
    let signed: Signed = agent
        .post(&url)
        .set("Authorization", &args.auth.bearer())
        .set("Content-Type", &format!("multipart/form-data; boundary={boundary}"))
        .set("Content-Length", &length.to_string())
        .send(body)
        .map_err(|e| http_error(&url, e))?
        .into_json()
        .with_context(|| format!("{url}: the answer is not a sign result"))?;
    // The watermarked file, then the receipt (written last: its presence means the run finished).
    if signed.watermarked_file.is_some() {
        // The credential goes only to the server the user named: the download path is built here, not taken
        // from the answer's absolute URL (which names the server's public address).
        let url = args.auth.url(&format!("/api/v1/content-records/{}/file?variant=watermarked", signed.record_id));
        let link = &url;
        let response =
            agent.get(link).set("Authorization", &args.auth.bearer()).call().map_err(|e| http_error(link, e))?;
        let ext = match response.content_type() {
            "image/jpeg" => "jpg",
            "image/png" => "png",
            "image/webp" => "webp",
            other => bail!("{link}: unexpected media type {other}"),
        };
        let bytes = crate::input::read_capped(
            response.into_reader(),
            crate::input::DEFAULT_MAX_INPUT_BYTES,
            "the watermarked file",
            "",
        )
        .with_context(|| format!("downloading {link}"))?;
        let digest = proofmark_core::ContentHash::of(&bytes).to_hex();
        if Some(&digest) != signed.watermarked_sha256.as_ref() {
            bail!("{link}: the downloaded file's SHA-256 {digest} is not the one the server recorded");
        }
        write_new(&beside(file, ext), &bytes)?;
    }
    let receipt = Receipt { server: args.auth.server.trim_end_matches('/'), file: name, signed: &signed };
    write_new(&receipt_path, serde_json::to_string_pretty(&receipt)?.as_bytes())?;
    Ok(signed)
}

/// Write via a temporary file and a rename.
fn write_new(path: &Path, bytes: &[u8]) -> Result<()> {
    let tmp = path.with_extension("proofmark-tmp");
    std::fs::write(&tmp, bytes).with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("writing {}", path.display()))
}

pub fn records(cmd: RecordsCommand) -> ExitCode {
    crate::exit_status((|| {
        let agent = agent();
        match cmd {
            RecordsCommand::List { auth, limit, all, json } => {
                let mut items = Vec::new();
                let mut cursor: Option<String> = None;
                loop {
                    let page_size = if all { 200 } else { limit.clamp(1, 200) };
                    let mut url = auth.url(&format!("/api/v1/content-records?limit={page_size}"));
                    if let Some(c) = &cursor {
                        url.push_str(&format!("&cursor={c}"));
                    }
                    let page: RecordPage = agent
                        .get(&url)
                        .set("Authorization", &auth.bearer())
                        .call()
                        .map_err(|e| http_error(&url, e))?
                        .into_json()
                        .with_context(|| format!("{url}: not a page of records"))?;
                    items.extend(page.items);
                    cursor = page.next_cursor;
                    if cursor.is_none() || (!all && items.len() >= limit as usize) {
                        break;
                    }
                }
                if !all {
                    items.truncate(limit as usize);
                }
                if json {
                    println!("{}", serde_json::to_string_pretty(&items)?);
                } else {
                    for r in &items {
                        println!("{}", line(r));
                    }
                }
            }
            RecordsCommand::Show { id, auth, json } => {
                let url = auth.url(&format!("/api/v1/content-records/{id}"));
                let r: ContentRecord = agent
                    .get(&url)
                    .set("Authorization", &auth.bearer())
                    .call()
                    .map_err(|e| http_error(&url, e))?
                    .into_json()
                    .with_context(|| format!("{url}: not a record"))?;
                if json {
                    println!("{}", serde_json::to_string_pretty(&r)?);
                } else {
                    for (k, v) in [
                        ("record", r.id.to_string()),
                        ("signed at", r.created_at.to_string()),
                        ("file", r.file_name.clone().unwrap_or_default()),
                        ("type", format!("{} ({} bytes)", r.media_type, r.file_size)),
                        ("origin", r.origin_type.map(|o| o.to_string()).unwrap_or_else(|| "not declared".into())),
                        ("sha256", r.sha256.clone()),
                        ("watermarked sha256", r.watermarked_sha256.clone().unwrap_or_else(|| "—".into())),
                        ("phash", r.phash.clone()),
                        ("signing key", r.signing_key_id.to_string()),
                        ("fingerprint", r.fingerprint.clone()),
                        ("signature", r.signature.clone()),
                        ("deleted", r.deleted_at.map(|t| t.to_string()).unwrap_or_else(|| "no".into())),
                    ] {
                        println!("{k:>18}: {}", crate::input::printable(&v));
                    }
                }
            }
        }
        Ok(())
    })())
}

/// One line of `records list`.
fn line(r: &ContentRecord) -> String {
    crate::input::printable(&format!(
        "{}  {}  {}  {}  {}",
        r.id,
        r.created_at,
        r.phash,
        r.origin_type.map(|o| o.to_string()).unwrap_or_else(|| "-".into()),
        r.file_name.as_deref().unwrap_or("-")
    ))
    .into_owned()
}
