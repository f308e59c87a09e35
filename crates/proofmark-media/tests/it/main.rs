//! pHash against golden vectors from Python imagehash 4.3.2 (`scripts/phash_golden.py`).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod cmyk;
mod damaged;
mod fuzz_bodies;
mod golden;
mod limits;
