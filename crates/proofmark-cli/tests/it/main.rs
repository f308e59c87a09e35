//! Integration tests of the `proofmark` binary: real files, a real loopback HTTP server for issuer keys,
//! and the official SignedShot validator for interop.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod input;
mod interop;
mod journey;
mod limits;
mod log;
mod log_crash;
mod media;
mod netns;
mod server;
mod support;
mod verify;
mod watermark;
