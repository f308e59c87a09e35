//! The storage contract: one suite, run against SQLite and PostgreSQL (atuin's "story" tests).
//!
//! PostgreSQL is at `PROOFMARK_TEST_DATABASE_URL` (default `postgres://postgres@127.0.0.1:5432/test`); each
//! test works in a schema of its own. If the database cannot be reached the tests FAIL: they never skip.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod accounts;
mod contract;
mod jobs;
mod log;
pub mod support;
