//! Integration tests of proofmark-core over the committed vectors (`testdata/`).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod codes;
mod fuzz_bodies;
mod pipeline;
mod provenance;
mod tlog;
mod vectors;
