//! `proofmark verify --server URL`: the server-side checks (`POST /api/v1/verify`: watermark, SHA-256 and
//! pHash lookups, the matched record's signature, log receipt and anchor) for a file, with the capture
//! sidecar and a log receipt beside it sent along. The file streams from disk; nothing but what the user
//! names is sent.
use std::io::Read;
use std::path::Path;

use anyhow::{Context, Result};
use proofmark_api::content::VerifyResult;

/// The most of the server's answer read (a report with a receipt and near-duplicates is a few KB).
const MAX_ANSWER_BYTES: u64 = 4 * 1024 * 1024;

/// Post `media` (and the optional parts) to `{server}/api/v1/verify`.
pub fn verify_remote(
    agent: &ureq::Agent,
    server: &str,
    media: &Path,
    sidecar: Option<&[u8]>,
    receipt: Option<&[u8]>,
) -> Result<VerifyResult> {
    let input = crate::input::open_regular(media)?;
    let size = input.metadata().context("reading the file's size")?.len();
    let boundary = format!("proofmark-{}", uuid::Uuid::new_v4().simple());
    let mut head = Vec::new();
    for (name, bytes) in [("sidecar", sidecar), ("receipt", receipt)] {
        if let Some(bytes) = bytes {
            head.extend_from_slice(
                format!("--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n").as_bytes(),
            );
            head.extend_from_slice(bytes);
            head.extend_from_slice(b"\r\n");
        }
    }
    head.extend_from_slice(
        format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"file\"\r\n\
             Content-Type: application/octet-stream\r\n\r\n"
        )
        .as_bytes(),
    );
    let tail = format!("\r\n--{boundary}--\r\n");
    let length = head.len() as u64 + size + tail.len() as u64;
    let body = head.as_slice().chain(input.take(size)).chain(tail.as_bytes());
    let url = format!("{}/api/v1/verify", server.trim_end_matches('/'));
    let response = agent
        .post(&url)
        .set("Content-Type", &format!("multipart/form-data; boundary={boundary}"))
        .set("Content-Length", &length.to_string())
        .send(body)
        .map_err(|e| crate::publish_cmd::http_error(&url, e))?;
    let bytes = crate::input::read_capped(response.into_reader(), MAX_ANSWER_BYTES, "the server's answer", "")?;
    serde_json::from_slice(&bytes).with_context(|| format!("{url}: the answer is not a verification result"))
}
