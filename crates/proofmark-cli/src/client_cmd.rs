//! The capture client (the device side): `proofmark device register` and `proofmark capture`. A software
//! P-256 key in a local keystore file (mode 0600) stands in for the Secure Enclave.
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};
use base64::Engine;
use proofmark_api::capture::{DeviceCreate, DeviceRegistered, Session, TrustRequest, TrustToken};
use proofmark_api::{DeviceId, ErrorBody, PublisherId};
use proofmark_core::sidecar::{format_timestamp, sidecar_file_name};
use proofmark_core::{DeviceKey, Sidecar};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

/// What the device keeps between runs.
#[derive(Serialize, Deserialize)]
struct Keystore {
    server: String,
    publisher_id: PublisherId,
    device_id: DeviceId,
    external_id: String,
    device_token: String,
    /// The P-256 private scalar, standard base64.
    private_key: String,
}

impl std::fmt::Debug for Keystore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Keystore")
            .field("server", &self.server)
            .field("device_id", &self.device_id)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, clap::Args)]
pub struct KeystoreArg {
    /// The device keystore [default: $PROOFMARK_KEYSTORE, else ~/.config/proofmark/device.json].
    #[arg(long, value_name = "FILE")]
    keystore: Option<PathBuf>,
}

impl KeystoreArg {
    fn path(&self) -> Result<PathBuf> {
        if let Some(p) = &self.keystore {
            return Ok(p.clone());
        }
        if let Some(p) = std::env::var_os("PROOFMARK_KEYSTORE") {
            return Ok(PathBuf::from(p));
        }
        let base = std::env::var_os("XDG_CONFIG_HOME")
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".config")))
            .ok_or_else(|| anyhow!("no HOME; pass --keystore"))?;
        Ok(base.join("proofmark").join("device.json"))
    }
}

#[derive(Debug, clap::Subcommand)]
pub enum DeviceCommand {
    /// Register this machine as a capture device: make a P-256 key, register it, keep the token.
    Register {
        /// The capture server, e.g. http://127.0.0.1:8080.
        #[arg(long, value_name = "URL")]
        server: String,
        /// The publisher this device captures for.
        #[arg(long, value_name = "ID")]
        publisher: String,
        /// The device's name at the publisher [default: a random UUID].
        #[arg(long, value_name = "NAME")]
        external_id: Option<String>,
        /// A Firebase App Check token, for publishers that require attestation.
        #[arg(long, value_name = "JWT")]
        attestation_token: Option<String>,
        /// Replace an existing keystore.
        #[arg(long)]
        force: bool,
        #[command(flatten)]
        keystore: KeystoreArg,
    },
}

#[derive(Debug, clap::Args)]
pub struct CaptureArgs {
    /// Media files to sign (any format: the file's bytes are hashed).
    #[arg(required = true, value_name = "FILE")]
    files: Vec<PathBuf>,
    /// Replace existing sidecars.
    #[arg(long)]
    force: bool,
    #[command(flatten)]
    keystore: KeystoreArg,
}

fn agent() -> ureq::Agent {
    ureq::AgentBuilder::new().timeout_connect(Duration::from_secs(10)).timeout(Duration::from_secs(30)).build()
}

/// POST a request body (or none) and read the answer as `R`; the server's `{"detail"}` becomes the error.
fn post<B: Serialize, R: DeserializeOwned>(
    agent: &ureq::Agent,
    url: &str,
    headers: &[(&str, &str)],
    body: Option<&B>,
) -> Result<R> {
    let mut req = agent.post(url);
    for (k, v) in headers {
        req = req.set(k, v);
    }
    let result = match body {
        Some(b) => req.send_json(b),
        None => req.call(),
    };
    match result {
        Ok(r) => r.into_json().with_context(|| format!("{url}: the response is not the expected JSON")),
        Err(ureq::Error::Status(code, r)) => {
            let detail = r.into_json::<ErrorBody>().map(|e| e.detail).unwrap_or_default();
            bail!("{url}: HTTP {code}: {detail}")
        }
        Err(e) => bail!("{url}: {e}"),
    }
}

pub fn device(cmd: DeviceCommand) -> ExitCode {
    let DeviceCommand::Register { server, publisher, external_id, attestation_token, force, keystore } = cmd;
    crate::exit_status((|| {
        let path = keystore.path()?;
        if path.exists() && !force {
            bail!("{} exists: this machine is registered already (--force replaces it)", path.display());
        }
        let server = server.trim_end_matches('/').to_owned();
        // Claim the keystore file (mode 0600) before registering, so a token is never issued that cannot be kept.
        let tmp = path.with_extension("json.new");
        let _ = std::fs::remove_file(&tmp);
        proofmark_os::write_private_file(&tmp, b"").with_context(|| format!("creating {}", tmp.display()))?;
        let result = register(&server, &publisher, external_id, attestation_token.as_deref(), &tmp);
        if result.is_err() {
            let _ = std::fs::remove_file(&tmp);
        }
        let device_id = result?;
        std::fs::rename(&tmp, &path).with_context(|| format!("writing {}", path.display()))?;
        println!("registered device {device_id} with {server}; keystore {}", path.display());
        Ok(())
    })())
}

/// Register a new key with the server and write the keystore to `out` (already created, mode 0600).
fn register(
    server: &str,
    publisher: &str,
    external_id: Option<String>,
    attestation_token: Option<&str>,
    out: &Path,
) -> Result<String> {
    let server = server.to_owned();
    {
        let key = DeviceKey::generate(&mut rand::rngs::OsRng);
        let external_id = external_id.unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
        let mut headers = vec![("X-Publisher-ID", publisher)];
        if let Some(t) = attestation_token {
            headers.push(("X-Attestation-Token", t));
        }
        let body = DeviceCreate { external_id: external_id.clone(), public_key: key.public_key().to_base64() };
        let reply: DeviceRegistered = post(&agent(), &format!("{server}/devices"), &headers, Some(&body))?;
        let store = Keystore {
            server,
            publisher_id: reply.publisher_id,
            device_id: reply.device_id,
            external_id,
            device_token: reply.device_token,
            private_key: base64::engine::general_purpose::STANDARD.encode(key.scalar_bytes().as_ref()),
        };
        std::fs::write(out, serde_json::to_string_pretty(&store)?)
            .with_context(|| format!("writing {}", out.display()))?;
        Ok(store.device_id.to_string())
    }
}

fn load_keystore(path: &Path) -> Result<(Keystore, DeviceKey)> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        if let Ok(meta) = std::fs::metadata(path) {
            if meta.permissions().mode() & 0o077 != 0 {
                bail!("keystore {} is readable by other users; chmod 600 it", path.display());
            }
        }
    }
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read keystore {} (run `proofmark device register` first)", path.display()))?;
    let store: Keystore = serde_json::from_str(&text).with_context(|| format!("keystore {}", path.display()))?;
    let scalar = zeroize_vec(base64::engine::general_purpose::STANDARD.decode(&store.private_key).ok());
    let key = scalar
        .and_then(|s| DeviceKey::from_scalar_bytes(&s))
        .ok_or_else(|| anyhow!("keystore {} holds no valid private key", path.display()))?;
    Ok((store, key))
}

fn zeroize_vec(v: Option<Vec<u8>>) -> Option<zeroize::Zeroizing<Vec<u8>>> {
    v.map(zeroize::Zeroizing::new)
}

pub fn capture(args: CaptureArgs) -> ExitCode {
    crate::exit_status((|| {
        let (store, key) = load_keystore(&args.keystore.path()?)?;
        let agent = agent();
        let auth = format!("Bearer {}", store.device_token);
        let mut failures = 0;
        for file in &args.files {
            match capture_one(&agent, &store, &key, &auth, file, args.force) {
                Ok(sidecar) => println!("{} → {}", file.display(), sidecar.display()),
                Err(e) => {
                    failures += 1;
                    eprintln!("{}: {e:#}", file.display());
                }
            }
        }
        if failures > 0 {
            bail!("{failures} of {} files were not signed", args.files.len());
        }
        Ok(())
    })())
}

/// Session → hash → sign → trust → sidecar, written beside the media (SPEC §1.1 naming).
fn capture_one(
    agent: &ureq::Agent,
    store: &Keystore,
    key: &DeviceKey,
    auth: &str,
    file: &Path,
    force: bool,
) -> Result<PathBuf> {
    let name = file.file_name().ok_or_else(|| anyhow!("not a file name"))?.to_string_lossy().into_owned();
    let sidecar_path = file.with_file_name(sidecar_file_name(&name));
    if sidecar_path.exists() && !force {
        bail!("{} exists (--force replaces it)", sidecar_path.display());
    }
    // Checked before a session is opened: a FIFO or a device is refused at once.
    crate::input::open_regular(file)?;
    let session: Session =
        post(agent, &format!("{}/capture/session", store.server), &[("Authorization", auth)], None::<&()>)?;
    let (capture_id, nonce) = (session.capture_id.to_string(), session.nonce);
    let content_hash = crate::input::hash_file(file)?;
    let captured_at = format_timestamp(proofmark_os::unix_now());
    let trust: TrustToken = post(
        agent,
        &format!("{}/capture/trust", store.server),
        &[("Authorization", auth)],
        Some(&TrustRequest { nonce }),
    )?;
    let jwt = trust.trust_token;
    let sidecar = Sidecar::build(&content_hash, key, &capture_id, &captured_at, jwt);
    let tmp = sidecar_path.with_extension("json.tmp");
    std::fs::write(&tmp, sidecar.to_json_pretty()).with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, &sidecar_path).with_context(|| format!("writing {}", sidecar_path.display()))?;
    Ok(sidecar_path)
}
