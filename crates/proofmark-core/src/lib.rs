//! Proofmark's pure core: the capture-plane wire formats and the verifier.
//!
//! Everything here is computation on bytes that the caller hands in: no file or network I/O, no clock, no
//! ambient randomness (key generation takes an RNG argument). The crate builds for
//! `wasm32-unknown-unknown`, so the same verifier runs in the CLI, the server and the browser.
//!
//! Map (SPEC §1):
//! - [`sidecar`]: the v1.0 JSON sidecar that travels with the media (parse with a size cap, write).
//! - [`hash`]: streaming SHA-256 of the media bytes ([`ContentHash`]).
//! - [`jwt`]: the ES256 capture-trust JWT (decode, claim layouts, mint).
//! - [`jwks`]: JSON Web Key Sets and the SignedShot `kid` derivation.
//! - [`device`]: the device layer (P-256 public key, DER signature, signed message, fingerprint).
//! - [`fetch_rules`]: where a verifier may fetch an issuer's keys from (URL and address vetting).
//! - [`pipeline`]: the verification pipeline, sans I/O: parses what travels with a file once, says what it
//!   still needs from outside (issuer keys, the media digest), takes it or its unavailability, and reports.
//! - [`verify`]: the report's types, the key ring and the policy; [`verify()`] runs the pipeline with
//!   everything supplied up front.
//! - [`provenance`]: publisher-plane evidence: a file's SHA-256, pHash and watermark against the signed
//!   records a lookup found, their signatures and log receipts, and the content verdict.
//! - [`codes`]: the reason and finding codes of a report (documented in docs/verification.md).
//! - [`tlog`]: the transparency log's math: RFC 9162 proofs over stored hashes, C2SP checkpoints, signed
//!   notes and cosignatures, the record leaf, receipts (SPEC §5).
//! - [`fuzzing`]: entry points for the fuzz targets.
#![forbid(unsafe_code)]

mod b64;
pub mod codes;
mod decimal;
pub mod device;
pub mod fetch_rules;
pub mod fuzzing;
pub mod hash;
pub mod jwks;
pub mod jwt;
pub mod pipeline;
pub mod provenance;
pub mod sidecar;
pub mod tlog;
pub mod verify;

pub use codes::{FindingCode, Reason};
pub use device::{DeviceKey, DevicePublicKey, DeviceSignature};
pub use hash::{ContentHash, ContentHasher};
pub use jwks::{IssuerKey, Jwk, Jwks};
pub use jwt::{Attestation, AttestationMethod, CaptureClaims, ClaimLayout};
pub use pipeline::{IssuerKeys, Need, Verification};
pub use sidecar::Sidecar;
pub use verify::{verify, Check, CheckCode, Finding, KeyRing, KeySource, Policy, Report, Status, Verdict};
