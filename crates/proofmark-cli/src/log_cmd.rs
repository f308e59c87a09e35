//! `proofmark log …`: the transparency log from the outside (docs/transparency-log.md).
//!
//! - `verify-receipt`: a record's receipt, offline: its leaf, the inclusion path, the checkpoint's signature
//!   and, on demand, k cosignatures from witnesses the user names.
//! - `receipt`: fetch a record's receipt from a server.
//! - `monitor`: follow a log, print each new checkpoint, and alarm when one is not consistent with the last.
//! - `witness`: follow a log, check consistency between every pair of checkpoints it sees, refuse to cosign
//!   a fork, and publish `cosignature/v1` lines to the log.
//! - `witness-key`: make a witness key.
//!
//! Monitors and witnesses keep the last verified checkpoint in a state file, so a restart cannot be talked
//! into accepting a fork either.
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};
use proofmark_core::tlog::{
    merkle, verify_signed_checkpoint, Checkpoint, Note, NoteSigner, NoteVerifier, Receipt, ReceiptPolicy,
    TYPE_COSIGNATURE, TYPE_ED25519,
};
use serde::{Deserialize, Serialize};

#[derive(Debug, clap::Subcommand)]
pub enum LogCommand {
    /// Verify a record's log receipt offline (exit 0 valid, 1 invalid with the reason, 2 could not verify).
    VerifyReceipt(VerifyReceiptArgs),
    /// Fetch a record's receipt from a Proofmark server.
    Receipt {
        /// The content record's id.
        #[arg(value_name = "RECORD_ID")]
        id: String,
        /// The Proofmark server, e.g. https://proofmark.example.
        #[arg(long, value_name = "URL")]
        log: String,
        /// Write it here instead of printing it.
        #[arg(long, short, value_name = "FILE")]
        output: Option<PathBuf>,
    },
    /// Follow a log: print each new checkpoint; exit 1 with an alarm when one is not consistent with the last.
    Monitor(FollowArgs),
    /// Follow a log as a witness: cosign each new checkpoint that is consistent with every one seen before, and
    /// publish the cosignature to the log; refuse (exit 1) on a fork.
    Witness {
        #[command(flatten)]
        follow: FollowArgs,
        /// The witness's private key (`PRIVATE+KEY+…`, type 0x04; see `proofmark log witness-key`).
        #[arg(long, value_name = "FILE")]
        key: PathBuf,
    },
    /// Make a witness key: the private key goes to FILE (mode 0600), the verifier key is printed.
    WitnessKey {
        /// The witness's name, e.g. witness.example.com/w1.
        #[arg(long)]
        name: String,
        #[arg(long, short, value_name = "FILE")]
        output: PathBuf,
    },
}

#[derive(Debug, clap::Args)]
pub struct VerifyReceiptArgs {
    /// The receipt (JSON, from `GET /api/v1/content-records/{id}/receipt` or `proofmark log receipt`).
    #[arg(value_name = "RECEIPT")]
    receipt: PathBuf,
    /// The log's verifier key (`origin+keyid+key`), or a file holding it.
    #[arg(long, value_name = "VKEY|FILE")]
    log_key: String,
    /// A witness's verifier key (type 0x04), or a file holding it; repeat for several.
    #[arg(long, value_name = "VKEY|FILE")]
    witness: Vec<String>,
    /// How many of the named witnesses must have cosigned the receipt's checkpoint.
    #[arg(long, default_value_t = 0)]
    min_witnesses: usize,
    /// Also check the anchor on chain through this JSON-RPC endpoint: the registry holds the anchored root
    /// at its tree size and the log's key id, and its own verifier accepts the leaf's inclusion.
    #[arg(long, value_name = "URL")]
    rpc: Option<String>,
    /// Print a JSON report.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, clap::Args)]
pub struct FollowArgs {
    /// The log's server, e.g. https://proofmark.example (its /log/checkpoint and /api/v1/log/ are read).
    #[arg(long, value_name = "URL")]
    log: String,
    /// The log's verifier key (or a file); without it, the key the log serves is pinned on first contact.
    #[arg(long, value_name = "VKEY|FILE")]
    log_key: Option<String>,
    /// Where the last verified checkpoint is kept between runs.
    #[arg(long, value_name = "FILE")]
    state: PathBuf,
    /// Seconds between polls.
    #[arg(long, default_value_t = 10)]
    interval: u64,
    /// Check once and exit (for cron jobs and tests).
    #[arg(long)]
    once: bool,
}

/// A verifier key given inline or in a file.
pub(crate) fn verifier(text_or_file: &str, kind: u8, what: &str) -> Result<NoteVerifier> {
    let text = if Path::new(text_or_file).is_file() {
        let bytes = crate::input::read_input(Path::new(text_or_file), 4096)?;
        String::from_utf8(bytes).with_context(|| format!("{what} file {text_or_file}"))?
    } else {
        text_or_file.to_owned()
    };
    let v = NoteVerifier::parse(text.trim()).map_err(|e| anyhow!("{what} {:?}: {e}", text.trim()))?;
    if v.kind != kind {
        bail!("{what} {:?} has signature type 0x{:02x}, not 0x{kind:02x}", text.trim(), v.kind);
    }
    Ok(v)
}

pub fn run(cmd: LogCommand) -> ExitCode {
    match cmd {
        LogCommand::VerifyReceipt(args) => verify_receipt(args),
        LogCommand::Receipt { id, log, output } => crate::exit_status(fetch_receipt(&id, &log, output.as_deref())),
        LogCommand::Monitor(args) => follow(args, None),
        LogCommand::Witness { follow: args, key } => match load_witness_key(&key) {
            Ok(k) => follow(args, Some(k)),
            Err(e) => crate::exit_status(Err(e)),
        },
        LogCommand::WitnessKey { name, output } => crate::exit_status(witness_key(&name, &output)),
    }
}

#[derive(Debug, Serialize)]
struct ReceiptReport {
    valid: bool,
    code: Option<&'static str>,
    reason: Option<String>,
    record_id: Option<String>,
    leaf_index: u64,
    tree_size: u64,
    origin: Option<String>,
    witnesses: Vec<String>,
    anchor: Option<proofmark_core::tlog::EvmAnchor>,
}

fn verify_receipt(args: VerifyReceiptArgs) -> ExitCode {
    let loaded = (|| -> Result<(Receipt, ReceiptPolicy)> {
        let bytes = crate::input::read_input(&args.receipt, 1024 * 1024)?;
        let log = verifier(&args.log_key, TYPE_ED25519, "log key")?;
        let witnesses =
            args.witness.iter().map(|w| verifier(w, TYPE_COSIGNATURE, "witness key")).collect::<Result<Vec<_>>>()?;
        if args.min_witnesses > witnesses.len() {
            bail!("--min-witnesses {} but only {} --witness keys named", args.min_witnesses, witnesses.len());
        }
        let receipt =
            Receipt::parse(&bytes).map_err(|e| anyhow!("{}: {e}", crate::input::display_path(&args.receipt)))?;
        Ok((receipt, ReceiptPolicy { log, witnesses, min_witnesses: args.min_witnesses }))
    })();
    let (receipt, policy) = match loaded {
        Ok(x) => x,
        Err(e) => return crate::exit_status(Err(e)),
    };
    let result = receipt.verify(&policy);
    // The chain, when asked: an unreachable node or another chain is "could not verify" (exit 2); a chain that
    // does not hold the anchor is "invalid".
    let on_chain = match (&result, &args.rpc) {
        (Ok(v), Some(rpc)) => match v.anchor.as_ref() {
            Some(anchor) => match check_on_chain(rpc, anchor, &v.leaf_hash, receipt.leaf_index, &policy.log) {
                Ok(None) => None,
                Ok(Some(bad)) => Some(bad),
                Err(e) => return crate::exit_status(Err(e)),
            },
            None => None,
        },
        _ => None,
    };
    if let Some((code, reason)) = on_chain {
        if args.json {
            let report = ReceiptReport {
                valid: false,
                code: Some(code),
                reason: Some(reason.clone()),
                record_id: None,
                leaf_index: receipt.leaf_index,
                tree_size: receipt.tree_size,
                origin: None,
                witnesses: Vec::new(),
                anchor: None,
            };
            println!("{}", serde_json::to_string_pretty(&report).unwrap_or_default());
        } else {
            println!("INVALID ({code}): {}", crate::input::printable(&reason));
        }
        return ExitCode::from(1);
    }
    let report = match &result {
        Ok(v) => ReceiptReport {
            valid: true,
            code: None,
            reason: None,
            record_id: Some(v.leaf.record_id.clone()),
            leaf_index: receipt.leaf_index,
            tree_size: receipt.tree_size,
            origin: Some(v.checkpoint.origin.clone()),
            witnesses: v.witnesses.iter().map(|w| w.name.clone()).collect(),
            anchor: v.anchor.clone(),
        },
        Err(e) => ReceiptReport {
            valid: false,
            code: Some(e.code().as_str()),
            reason: Some(e.to_string()),
            record_id: None,
            leaf_index: receipt.leaf_index,
            tree_size: receipt.tree_size,
            origin: None,
            witnesses: Vec::new(),
            anchor: None,
        },
    };
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report).unwrap_or_default());
    } else if let Ok(v) = &result {
        let witnesses = if v.witnesses.is_empty() {
            String::new()
        } else {
            format!(", cosigned by {}", v.witnesses.iter().map(|w| w.name.as_str()).collect::<Vec<_>>().join(", "))
        };
        let anchor = match &v.anchor {
            None => "not anchored".to_owned(),
            Some(a) => {
                let checked = if args.rpc.is_some() { ", checked on chain" } else { "" };
                format!("anchored on chain {} in block {} (tx {}){checked}", a.chain_id, a.block_number, a.transaction)
            }
        };
        println!(
            "VALID: record {} is leaf {} of {} at tree size {}{witnesses}; {anchor}",
            v.leaf.record_id,
            receipt.leaf_index,
            crate::input::printable(&v.checkpoint.origin),
            receipt.tree_size
        );
    } else if let Err(e) = &result {
        println!("INVALID ({}): {}", e.code(), crate::input::printable(&e.to_string()));
    }
    if result.is_ok() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

/// The on-chain half of a receipt: `Ok(None)` if the chain agrees, `Ok(Some((code, reason)))` if it does not,
/// `Err` if it could not be asked.
fn check_on_chain(
    rpc: &str,
    anchor: &proofmark_core::tlog::EvmAnchor,
    leaf_hash: &[u8; 32],
    leaf_index: u64,
    log: &NoteVerifier,
) -> Result<Option<(&'static str, String)>> {
    use sha2::Digest;
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    rt.block_on(async {
        let served = proofmark_anchor::chain_id(rpc).await?;
        if served != anchor.chain_id {
            bail!("{rpc} serves chain {served}; the receipt's anchor is on chain {}", anchor.chain_id);
        }
        let contract = proofmark_anchor::parse_address(&anchor.contract)?;
        let root = proofmark_core::tlog::receipt::parse_hash(&anchor.root)?;
        let Some(on_chain) = proofmark_anchor::read_anchor(rpc, contract, root).await? else {
            return Ok(Some((
                "anchor_not_on_chain",
                format!("the registry {} holds no root {}", anchor.contract, anchor.root),
            )));
        };
        if on_chain.tree_size != anchor.tree_size || on_chain.block_number != anchor.block_number {
            return Ok(Some((
                "anchor_not_on_chain",
                format!(
                    "the registry holds root {} at tree size {} from block {}, the receipt says size {} in block {}",
                    anchor.root, on_chain.tree_size, on_chain.block_number, anchor.tree_size, anchor.block_number
                ),
            )));
        }
        let key_id: [u8; 32] = sha2::Sha256::digest(log.vkey().as_bytes()).into();
        if on_chain.log_key_id != key_id {
            return Ok(Some(("anchor_log_key_mismatch", "the root was registered for another log key".to_owned())));
        }
        let path = anchor
            .inclusion_path
            .iter()
            .map(|h| proofmark_core::tlog::receipt::parse_hash(h))
            .collect::<Result<Vec<_>, _>>()?;
        if !proofmark_anchor::verify_anchored_inclusion(rpc, contract, *leaf_hash, leaf_index, &path, root).await? {
            return Ok(Some((
                "anchor_inclusion_invalid",
                "the registry's verifier refuses the leaf's inclusion".to_owned(),
            )));
        }
        Ok(None)
    })
}

fn agent() -> ureq::Agent {
    ureq::AgentBuilder::new().timeout_connect(Duration::from_secs(10)).timeout(Duration::from_secs(60)).build()
}

fn url(base: &str, path: &str) -> String {
    format!("{}{path}", base.trim_end_matches('/'))
}

/// GET a body of at most `max` bytes.
fn get(agent: &ureq::Agent, url: &str, max: u64) -> Result<Vec<u8>> {
    match agent.get(url).call() {
        Ok(r) => crate::input::read_capped(r.into_reader(), max, url, "the answer is too large"),
        Err(ureq::Error::Status(code, r)) => {
            let detail = r.into_json::<proofmark_api::ErrorBody>().map(|e| e.detail).unwrap_or_default();
            bail!("{url}: HTTP {code}: {detail}")
        }
        Err(e) => bail!("{url}: {e}"),
    }
}

fn fetch_receipt(id: &str, log: &str, output: Option<&Path>) -> Result<()> {
    if id.parse::<uuid::Uuid>().is_err() {
        bail!("{id:?} is not a record id (a UUID)");
    }
    let bytes = get(&agent(), &url(log, &format!("/api/v1/content-records/{id}/receipt")), 1024 * 1024)?;
    let receipt = Receipt::parse(&bytes)?;
    let pretty = serde_json::to_string_pretty(&receipt)? + "\n";
    match output {
        Some(path) => std::fs::write(path, pretty).with_context(|| format!("writing {}", path.display()))?,
        None => print!("{pretty}"),
    }
    Ok(())
}

fn load_witness_key(path: &Path) -> Result<NoteSigner> {
    let bytes = zeroize::Zeroizing::new(crate::input::read_input(path, 4096)?);
    let text = std::str::from_utf8(&bytes).with_context(|| format!("{}", path.display()))?;
    let signer = NoteSigner::parse(text).map_err(|e| anyhow!("{}: {e}", path.display()))?;
    if signer.verifier().kind != TYPE_COSIGNATURE {
        bail!("{}: not a witness key (signature type 0x04)", path.display());
    }
    Ok(signer)
}

fn witness_key(name: &str, output: &Path) -> Result<()> {
    let mut seed = zeroize::Zeroizing::new([0u8; 32]);
    rand_core::RngCore::fill_bytes(&mut rand_core::OsRng, seed.as_mut());
    let signer = NoteSigner::new(name, TYPE_COSIGNATURE, ed25519_dalek::SigningKey::from_bytes(&seed))
        .map_err(|e| anyhow!("witness name {name:?}: {e}"))?;
    let mut text = signer.to_private_text();
    text.push('\n');
    proofmark_os::write_private_file(output, text.as_bytes())
        .with_context(|| format!("writing {} (it must not exist yet)", output.display()))?;
    println!("{}", signer.verifier().vkey());
    Ok(())
}

/// What a monitor or witness remembers: the log it follows and the last checkpoint it verified.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct FollowState {
    log_key: String,
    tree_size: u64,
    root: String,
}

fn read_state(path: &Path) -> Result<Option<FollowState>> {
    match std::fs::read(path) {
        Ok(bytes) => Ok(Some(
            serde_json::from_slice(&bytes).with_context(|| format!("state file {} is corrupt", path.display()))?,
        )),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e).with_context(|| format!("reading {}", path.display())),
    }
}

/// Replaces the state file atomically (a crash leaves the old or the new one, never half of either).
fn write_state(path: &Path, state: &FollowState) -> Result<()> {
    let tmp = path.with_extension("tmp");
    let _ = std::fs::remove_file(&tmp);
    proofmark_os::write_private_file(&tmp, &serde_json::to_vec_pretty(state)?)
        .with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("replacing {}", path.display()))?;
    Ok(())
}

/// One step's outcome.
enum Step {
    /// Nothing new.
    Same,
    /// A new checkpoint, consistent with the last.
    New(Checkpoint),
    /// The log showed something that cannot be reconciled with what was verified before.
    Alarm(String),
}

fn follow(args: FollowArgs, witness: Option<NoteSigner>) -> ExitCode {
    let role = if witness.is_some() { "witness" } else { "monitor" };
    let agent = agent();
    let log_key = match args.log_key.as_deref().map(|k| verifier(k, TYPE_ED25519, "log key")).transpose() {
        Ok(k) => k,
        Err(e) => return crate::exit_status(Err(e)),
    };
    loop {
        match step(&agent, &args, log_key.as_ref(), witness.as_ref()) {
            Ok(Step::Same) => {}
            Ok(Step::New(cp)) => {
                println!("{} {} {}", crate::input::printable(&cp.origin), cp.size, hex::encode(cp.root));
            }
            Ok(Step::Alarm(why)) => {
                eprintln!("ALARM ({role}): {}", crate::input::printable(&why));
                return ExitCode::from(1);
            }
            Err(e) if args.once => return crate::exit_status(Err(e)),
            Err(e) => eprintln!("{role}: {}", crate::input::printable(&format!("{e:#}"))),
        }
        if args.once {
            return ExitCode::SUCCESS;
        }
        std::thread::sleep(Duration::from_secs(args.interval.max(1)));
    }
}

fn step(
    agent: &ureq::Agent,
    args: &FollowArgs,
    pinned: Option<&NoteVerifier>,
    witness: Option<&NoteSigner>,
) -> Result<Step> {
    let state = read_state(&args.state)?;
    // The log key: given, or remembered, or (first contact only) the one the log serves.
    let key = match (pinned, &state) {
        (Some(k), Some(s)) if k.vkey() != s.log_key => {
            bail!("--log-key {} is not the key {} in {}", k.vkey(), s.log_key, args.state.display())
        }
        (Some(k), _) => k.clone(),
        (None, Some(s)) => NoteVerifier::parse(&s.log_key).map_err(|e| anyhow!("state file's log key: {e}"))?,
        (None, None) => {
            let served = get(agent, &url(&args.log, "/api/v1/log/key"), 4096)?;
            let k = verifier(String::from_utf8_lossy(&served).trim(), TYPE_ED25519, "served log key")?;
            eprintln!("pinned the log key {} (first contact; pass --log-key to check it instead)", k.vkey());
            k
        }
    };
    let body = get(agent, &url(&args.log, "/log/checkpoint"), proofmark_core::tlog::note::MAX_NOTE_BYTES as u64)?;
    let verified = match verify_signed_checkpoint(&body, &key, &[], 0) {
        Ok(v) => v,
        Err(e) => return Ok(Step::Alarm(format!("the log's checkpoint does not verify: {e}"))),
    };
    let cp = verified.checkpoint;
    if let Some(s) = &state {
        let old_root = proofmark_core::tlog::receipt::parse_hash(&s.root).map_err(|e| anyhow!("state file: {e}"))?;
        if cp.size == 0 && s.tree_size > 0 {
            return Ok(if cp.root == merkle::empty_root() {
                Step::Same
            } else {
                Step::Alarm("a checkpoint of size 0 whose root is not the empty tree's".into())
            });
        }
        if cp.size < s.tree_size {
            // Older than what was verified: not necessarily a fork (a stale cache), but never cosigned.
            let proof = consistency(agent, &args.log, cp.size, s.tree_size)?;
            return Ok(match merkle::verify_consistency(cp.size, s.tree_size, &proof, &cp.root, &old_root) {
                Ok(()) => Step::Same,
                Err(e) => Step::Alarm(format!(
                    "checkpoint {} is not a prefix of the verified {} ({e}): the log is forked",
                    cp.size, s.tree_size
                )),
            });
        }
        if cp.size == s.tree_size {
            if cp.root != old_root {
                return Ok(Step::Alarm(format!(
                    "two roots for tree size {}: {} verified before, {} now: the log is forked",
                    cp.size,
                    s.root,
                    hex::encode(cp.root)
                )));
            }
            // Published again only if the log does not show it yet (a crash between the two steps).
            if let Some(w) = witness {
                let shown = verified
                    .note
                    .signatures
                    .iter()
                    .any(|s| s.name == w.verifier().name && s.key_id == w.verifier().key_id);
                if !shown {
                    cosign_and_publish(agent, &args.log, w, &verified.note)?;
                }
            }
            return Ok(Step::Same);
        }
        if s.tree_size > 0 {
            let proof = consistency(agent, &args.log, s.tree_size, cp.size)?;
            if let Err(e) = merkle::verify_consistency(s.tree_size, cp.size, &proof, &old_root, &cp.root) {
                return Ok(Step::Alarm(format!(
                    "checkpoint {} ({}) is not consistent with the verified {} ({}): {e}; the log is forked",
                    cp.size,
                    hex::encode(cp.root),
                    s.tree_size,
                    s.root
                )));
            }
        }
    }
    // Remember first, then cosign: a crash in between leaves a state that still refuses any fork.
    write_state(&args.state, &FollowState { log_key: key.vkey(), tree_size: cp.size, root: hex::encode(cp.root) })?;
    if let Some(w) = witness {
        cosign_and_publish(agent, &args.log, w, &verified.note)?;
    }
    Ok(Step::New(cp))
}

fn consistency(agent: &ureq::Agent, log: &str, from: u64, to: u64) -> Result<Vec<merkle::Hash>> {
    let body = get(agent, &url(log, &format!("/api/v1/log/proof/consistency?from={from}&to={to}")), 64 * 1024)?;
    let proof: proofmark_api::log::ConsistencyProof = serde_json::from_slice(&body).context("consistency proof")?;
    proof
        .consistency_path
        .iter()
        .map(|h| proofmark_core::tlog::receipt::parse_hash(h).map_err(|e| anyhow!("consistency proof: {e}")))
        .collect()
}

/// Cosigns the log's own note text (never anything else) and posts it.
fn cosign_and_publish(agent: &ureq::Agent, log: &str, witness: &NoteSigner, note: &Note) -> Result<()> {
    let now = proofmark_os::unix_now().max(0) as u64;
    let cosig = witness.cosign(&note.text, now).map_err(|e| anyhow!("cosigning: {e}"))?;
    let mut signed = note.clone();
    signed.signatures.retain(|s| !(s.name == cosig.name && s.key_id == cosig.key_id));
    signed.signatures.push(cosig);
    let target = url(log, "/api/v1/log/cosignatures");
    match agent.post(&target).set("content-type", "text/plain; charset=utf-8").send_string(&signed.encode()) {
        Ok(_) => Ok(()),
        Err(ureq::Error::Status(code, r)) => {
            let detail = r.into_json::<proofmark_api::ErrorBody>().map(|e| e.detail).unwrap_or_default();
            bail!("{target}: HTTP {code}: {detail}")
        }
        Err(e) => bail!("{target}: {e}"),
    }
}
