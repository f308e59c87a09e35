//! Proofmark's pixels (SPEC §3): decoding (JPEG, PNG, GIF, WebP) with Pillow's semantics, and the perceptual hash bit-identical to
//! Python `imagehash` 4.3.2. Split from `proofmark-core` because it links C codecs (libjpeg-turbo via
//! `mozjpeg`) and does not build for wasm32.
#![forbid(unsafe_code)]

pub mod attack;
pub mod dct;
pub mod decode;
pub mod fuzzing;
pub mod image;
pub mod index;
pub mod mark;
pub mod payload_index;
pub mod phash;
mod resample;
pub mod watermark;

pub use decode::{decode_luma, DecodeError, LumaImage};
pub use image::{decode_image, encode_image, Encoding, Format, Image};
pub use index::{Match, PHashIndex};
pub use mark::{mark_image, MarkError, MarkOptions, MarkedFile};
pub use payload_index::{PayloadIndex, PayloadMatch};
pub use phash::{phash, phash_luma, phash_with_margin, PHash};
