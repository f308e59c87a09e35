//! Shared helpers: run the binary, a tiny JWKS server on 127.0.0.1, captures signed on the fly.
use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use proofmark_core::jwt::{self, Attestation, AttestationMethod, CaptureClaims, ClaimLayout, AUDIENCE, SUBJECT};
use proofmark_core::{ContentHash, DeviceKey, IssuerKey, Jwks, Sidecar};

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

pub fn vectors() -> PathBuf {
    repo().join("testdata/capture")
}

pub fn proofmark(args: &[&str]) -> Output {
    proofmark_env(args, &[])
}

pub fn proofmark_env(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_proofmark"));
    cmd.args(args);
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("run proofmark")
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Serves `{"keys":[…]}` at any path on 127.0.0.1; counts requests.
pub struct JwksServer {
    pub url: String,
    pub hits: Arc<AtomicUsize>,
}

impl JwksServer {
    pub fn start(jwks: String) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let hits = Arc::new(AtomicUsize::new(0));
        let counter = hits.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                let mut buf = [0u8; 4096];
                let mut seen = Vec::new();
                while !seen.windows(4).any(|w| w == b"\r\n\r\n") {
                    match stream.read(&mut buf) {
                        Ok(0) | Err(_) => break,
                        Ok(n) => seen.extend_from_slice(&buf[..n]),
                    }
                }
                counter.fetch_add(1, Ordering::SeqCst);
                let ok = String::from_utf8_lossy(&seen).starts_with("GET /.well-known/jwks.json ");
                let (status, body) = if ok { ("200 OK", jwks.as_str()) } else { ("404 Not Found", "{}") };
                let _ = write!(
                    stream,
                    "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
            }
        });
        Self { url, hits }
    }

    pub fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }
}

/// An issuer key and a device key, and captures signed by them for issuer `iss`.
pub struct Capturer {
    pub issuer: IssuerKey,
    pub device: DeviceKey,
    pub iss: String,
}

impl Capturer {
    pub fn new(iss: &str) -> Self {
        Self {
            issuer: IssuerKey::from_scalar_bytes(&[0x5a; 32]).unwrap(),
            device: DeviceKey::from_scalar_bytes(&[0xa5; 32]).unwrap(),
            iss: iss.to_owned(),
        }
    }

    pub fn jwks(&self) -> String {
        Jwks { keys: vec![self.issuer.public_jwk()], skipped: vec![] }.to_json()
    }

    /// Write `dir/name` and its sidecar; returns the media path.
    pub fn capture(&self, dir: &Path, name: &str, media: &[u8]) -> PathBuf {
        let claims = CaptureClaims {
            iss: self.iss.clone(),
            aud: AUDIENCE.into(),
            sub: SUBJECT.into(),
            iat: 1_790_000_000,
            capture_id: "9e8d7c6b-5a49-4382-9170-6f5e4d3c2b1a".into(),
            publisher_id: "11111111-2222-4333-8444-555555555555".into(),
            device_id: "66666666-7777-4888-9999-aaaaaaaaaaaa".into(),
            attestation: Attestation { method: AttestationMethod::AppCheck, app_id: Some("io.example".into()) },
            device_public_key_fingerprint: Some(self.device.public_key().fingerprint()),
            layout: ClaimLayout::Current,
        };
        let sidecar = Sidecar::build(
            &ContentHash::of(media),
            &self.device,
            &claims.capture_id,
            "2026-09-21T12:00:00Z",
            jwt::mint(&claims, &self.issuer),
        );
        let path = dir.join(name);
        std::fs::write(&path, media).unwrap();
        let sidecar_name = proofmark_core::sidecar::sidecar_file_name(name);
        std::fs::write(dir.join(sidecar_name), sidecar.to_json_pretty()).unwrap();
        path
    }
}
