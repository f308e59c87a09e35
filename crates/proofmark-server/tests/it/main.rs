//! Integration tests of the capture-trust API: the router driven with `oneshot` against a real SQLite
//! store, a real loopback server for concurrency (SQLite and PostgreSQL), Firebase App Check with a local
//! RSA key.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod accounts;
mod anchor;
mod api;
mod appcheck;
mod concurrency;
mod fuzz_bodies;
mod http;
mod log;
mod recall;
mod sign;
mod support;
mod verify;
mod webhooks;
