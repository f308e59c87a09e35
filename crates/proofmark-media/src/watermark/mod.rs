//! The invisible watermark (SPEC §3.3): a 128-bit payload, keyed, error-corrected and CRC-gated, embedded in
//! luma, found again after resizing, aspect changes, crops, shifts, brightness/contrast changes and lossy
//! re-encoding. Design (docs/imaging.md has the full account):
//!
//! - **Canonical frame.** Luma is resampled to a 256×256 frame tied to the image's edges (each axis on its
//!   own, so resizing and aspect changes cancel out). The frame holds 2×2 periodic tiles of 32×32 chips,
//!   4×4 frame pixels each. The residual is designed in the frame and upsampled to the image, where it is
//!   added to R, G and B equally (chroma untouched) — except where a channel clips, where the others move
//!   further so the luma still changes as designed.
//! - **Payload.** 128 bits + CRC-32, scrambled by the key, rate-½ K=7 convolutional code → 332 coded bits;
//!   the key assigns every tile chip to a coded bit (~12 chips per bit per frame). Each chip's mean of the
//!   high-passed frame is moved to the nearest point of its bit's lattice (QIM with key dither), as the
//!   detector will see it after the residual's trip to the image and back: the host's texture causes no raw
//!   bit errors. The detector reads soft values into a Viterbi decoder at the gain (brightness, contrast,
//!   codec attenuation) whose soft bits agree best with a codeword, among the gains where the chips sit
//!   best on their lattices; the CRC gates, once per alignment tried.
//! - **Synchronisation.** The chip means fit their lattices only when the chip grid is placed to within
//!   about a quarter of a frame pixel, but there the fit is strong evidence (the whole residual carries
//!   it). The detector tries, in order: the frame as it stands (every attack that keeps the image's
//!   edges); translations at the original scale, by an exhaustive lattice search ([`lattice`]: every
//!   sub-chip phase and gain, every whole-chip offset at once by FFT); crops that keep an edge, a corner
//!   or the centre in place (a one-dimensional scan of the kept fraction, each alignment ranked by how well
//!   its chips decode — the Viterbi path metric, no CRC check spent); and last
//!   the key-derived 2-D pilot, found by an FFT search over kept fractions 0.78–1.02 per axis and any
//!   offset ([`sync`]), for crops anchored nowhere. The translations and the crop scan score alignments on
//!   the luma reduced to at most 512 pixels a side; every proposal is polished on its codeword agreement
//!   (coarsely there, finely on the luma at most 1024 a side; only those whose agreement after the coarse
//!   sweep shows a codeword go on, [`POLISH_GATE`]) and the luma resampled into the original
//!   frame's geometry before the chips are read. Alignments that share an axis share that axis's
//!   resampling pass.
//! - **Strength.** A fixed quantiser step, shrunk only if the final pixels would fall under
//!   [`TARGET_PSNR`] dB; the pilot is modulated by local texture.
pub mod code;
mod frame;
pub mod key;
mod lattice;
pub mod sync;

use crate::image::Image;
use frame::{highpass, luma_resized, resample_x, resample_y, resize, resize_affine, Plane};
pub use key::{KeyFormatError, WatermarkKey};
use key::{Layout, TILE_CHIPS};
pub use sync::{Alignment, AxisSync};

/// Canonical frame side, in frame pixels.
const N: usize = 256;
/// Frame pixels per chip side.
const CHIP: usize = 4;
/// Tile side in frame pixels.
const TILE: usize = CHIP * TILE_CHIPS;
/// Box radius of the detector's local-mean removal.
const HP_RADIUS: usize = 4;
/// Pilot base amplitude as a fraction of the quantiser step.
const PILOT_FRACTION: f32 = 0.15;
/// Rounds that move the chips onto their lattices.
const QIM_ROUNDS: usize = 6;
/// How much of a uniform offset over a chip its high-passed mean keeps (box 9 around a 4×4 chip).
const SELF_GAIN: f32 = 0.85;
/// Gains tried when reading the chips (brightness, contrast and codecs scale the chip means).
const GAIN_RANGE: (f32, f32) = (0.45, 1.6);
/// The quantiser step of the chip means, in grey levels of the high-passed frame.
const STEP: f32 = 4.3;
/// Window radius and floor (grey levels) of the detector's local whitening.
const WHITEN_RADIUS: usize = 4;
const WHITEN_FLOOR: f32 = 1.5;
/// The marked image's PSNR(Y) floor, in dB.
pub const TARGET_PSNR: f64 = 40.0;
/// Smallest image side that can carry the mark (a chip must stay above ~1.5 px).
pub const MIN_SIDE: usize = 96;
/// Alignments the pilot search proposes; each decode attempt has a false-accept chance of 2⁻³².
const SYNC_CANDIDATES: usize = 6;
/// Kept-fraction step of the anchored-crop scan (half a step of error keeps the chips within the lattice's
/// tolerance) and how many of its best alignments are decoded.
const ANCHOR_STEP: f32 = 0.004;
const ANCHORED_CANDIDATES: usize = 3;
/// Offsets (frame pixels) tried around a centre anchor: whole-pixel crops miss the exact centre.
const CENTRE_NUDGES: [f32; 3] = [-0.25, 0.0, 0.25];
/// Sides (pixels) under which the centre nudges are tried: from here up, half a pixel is under a tenth of a
/// frame pixel (256/2/1280), well inside the lattice's tolerance.
const NUDGE_BELOW: usize = 1280;
/// Gains (local maxima of the lattice fit) decoded per reading; the best codeword agreement wins.
const GAIN_PEAKS: usize = 6;
/// The same in the anchored-crop scan, which reads a thousand alignments.
const SCAN_GAIN_PEAKS: usize = 3;
/// Translations (scale kept) the lattice search proposes for decoding.
const SHIFT_CANDIDATES: usize = 2;
/// Codeword agreement (Viterbi path metric over Σ|soft|) an alignment must reach after polishing's coarse
/// sweep to be polished finely and decoded. Random soft bits already agree at about 0.86, so this is no
/// test of a mark; it only spares the work where there is surely none. Measured on the watermark benchmark
/// (`proofmark-lab watermark`, 2026-12-01): 11,055 alignments polished on unmarked images reached at most
/// 0.900 (99.9th percentile 0.889), and every alignment that then decoded had reached at least 0.938 (0.942
/// in `wm_sync`, crops anchored nowhere included).
const POLISH_GATE: f32 = 0.915;
/// Largest side of the intermediate image alignments are resampled from.
const INTER: usize = 1024;
/// Largest side of the image the searches score alignments on: two source pixels per frame pixel.
const SEARCH: usize = 2 * N;
/// Kept fractions searched per axis (crops up to 22 %, and slight enlargements).
const SCALE_RANGE: (f32, f32) = (0.78, 1.02);

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum WatermarkError {
    #[error("the image is {width}x{height}; a watermark needs at least {min} pixels on each side")]
    TooSmall { width: usize, height: usize, min: usize },
    /// The marked pixels would be further from the original than the quality floor allows; nothing is
    /// returned rather than a visibly marked image.
    #[error("the marked image would have PSNR(Y) {psnr_y:.2} dB, under the {floor} dB floor; not marked")]
    QualityFloor { psnr_y: f64, floor: f64 },
}

/// What embedding did.
#[derive(Debug, Clone, PartialEq)]
pub struct EmbedStats {
    /// PSNR of the marked luma against the original, in dB (on the final 8-bit pixels).
    pub psnr_y: f64,
}

/// Embed `payload` under `key`. The returned image has the input's size and channels and a PSNR(Y) of at
/// least [`TARGET_PSNR`]; when the embedding cannot reach that, [`WatermarkError::QualityFloor`].
pub fn embed(image: &Image, key: &WatermarkKey, payload: &[u8; 16]) -> Result<(Image, EmbedStats), WatermarkError> {
    embed_with_floor(image, key, payload, TARGET_PSNR, EMBED_TRIES)
}

/// Designs tried (each smaller in step than the last) before embedding gives up on the floor.
const EMBED_TRIES: usize = 5;

/// [`embed`] aiming at, and held to, `floor`, with at most `max_tries` designs (tests give it fewer).
pub(crate) fn embed_with_floor(
    image: &Image,
    key: &WatermarkKey,
    payload: &[u8; 16],
    floor: f64,
    max_tries: usize,
) -> Result<(Image, EmbedStats), WatermarkError> {
    let (w, h) = (image.width, image.height);
    if w < MIN_SIDE || h < MIN_SIDE {
        return Err(WatermarkError::TooSmall { width: w, height: h, min: MIN_SIDE });
    }
    let host = luma_resized(image, &[(N, N)]).swap_remove(0);
    let layout = Layout::new(key);
    let coded = code::encode(&code::info_bits(payload, &layout.scramble));
    let mask = texture_mask(&host);
    let design = Design::new(&host, &mask, &layout, &coded, (w, h));
    // The step is fixed, so the quality is nearly the same on every image; where the final pixels (after
    // upsampling, rounding and clipping) still fall below the floor, design again with a smaller step
    // (the detector reads a smaller step as a gain below 1).
    let mut step = STEP;
    let (mut out, mut psnr);
    let mut tries = 0;
    loop {
        // Predict the PSNR from the residual itself (rounding adds ~0.04 grey levels² of noise) and shrink
        // the step before paying for the pixels. Upsampling changes the residual's mean square by a factor
        // that hardly depends on the step and settles once the image is a few times the frame: measured on
        // an upsampling to at most 1024 pixels a side, it lets the step be corrected on the 256×256 frame,
        // and the full-size residual is computed once.
        let mean_sq = |d: &[f32]| d.iter().map(|&v| f64::from(v) * f64::from(v)).sum::<f64>() / d.len().max(1) as f64;
        let psnr_of = |mse: f64| 10.0 * (255.0f64 * 255.0 / (mse + 0.04).max(1e-9)).log10();
        let mut r = design.residual(step);
        let ratio = mean_sq(&resize(&r, w.min(INTER), h.min(INTER)).data) / mean_sq(&r.data).max(1e-12);
        for _ in 0..3 {
            let predicted = psnr_of(ratio * mean_sq(&r.data));
            if predicted >= floor + 0.15 {
                break;
            }
            step *= 10f32.powf(((predicted - floor - 0.3) / 20.0) as f32);
            r = design.residual(step);
        }
        let full = resize(&r, w, h);
        (out, psnr) = apply(image, &full.data);
        tries += 1;
        if psnr >= floor + 0.05 || tries >= max_tries {
            break;
        }
        step *= 10f32.powf(((psnr - floor - 0.3) / 20.0) as f32);
    }
    // The promise (ARCHITECTURE.md): never an image under the floor, whatever the retries managed.
    if psnr < floor || psnr.is_nan() {
        return Err(WatermarkError::QualityFloor { psnr_y: psnr, floor });
    }
    Ok((out, EmbedStats { psnr_y: psnr }))
}

/// Add `delta` (per pixel, in luma units) to the colour channels (grey: the one channel), rounding and
/// clamping to 8 bits; alpha untouched. Returns the image and its PSNR(Y) against the input, computed from
/// the 8-bit changes actually made. A colour pixel gets the same change on R, G and B (chroma untouched)
/// unless a channel would clip: then the others move further, so the luma still changes by the designed
/// amount where it can (a saturated red pixel would otherwise deliver only 0.3 of a darkening).
fn apply(image: &Image, delta: &[f32]) -> (Image, f64) {
    /// Luma change in thousandths (BT.601 weights) when every colour channel of `px` moves by `e`, clamped.
    fn moved_luma(px: [i32; 3], e: i32) -> i32 {
        let m = |v: i32| (v + e).clamp(0, 255) - v;
        299 * m(px[0]) + 587 * m(px[1]) + 114 * m(px[2])
    }
    // v is an integer, so round(v + d) = v + round(d): one rounding per pixel, integer work per channel.
    fn run<const C: usize>(pixels: &mut [u8], delta: &[f32]) -> i64 {
        let mut sq = 0i64;
        for (px, &d) in pixels.chunks_exact_mut(C).zip(delta) {
            let di = (d + 0.5).floor() as i32;
            let dy = if C >= 3 {
                let v = [i32::from(px[0]), i32::from(px[1]), i32::from(px[2])];
                // The smallest common move that delivers the designed luma change (to within half a level),
                // or as much of it as clipping allows with no channel moving more than 4×: a saturated red
                // darkens by R alone (0.299 of the luma), while a yellow brightened by blue alone would
                // need a visible colour shift for a few levels of luma.
                let target = 1000 * di;
                let mut e = di;
                let mut m = moved_luma(v, e);
                while m.abs() + 500 < target.abs() {
                    let clipped = v.iter().all(|&c| if di > 0 { c + e >= 255 } else { c + e <= 0 });
                    if clipped || e.abs() >= 4 * di.abs() {
                        break;
                    }
                    e += di.signum();
                    m = moved_luma(v, e);
                }
                for (c, &val) in px[..3].iter_mut().zip(&v) {
                    *c = (val + e).clamp(0, 255) as u8;
                }
                m
            } else {
                let new = (i32::from(px[0]) + di).clamp(0, 255);
                let moved = new - i32::from(px[0]);
                px[0] = new as u8;
                1000 * moved
            };
            sq += i64::from(dy) * i64::from(dy);
        }
        sq
    }
    let mut pixels = image.pixels.clone();
    let sq = match image.channels {
        1 => run::<1>(&mut pixels, delta),
        2 => run::<2>(&mut pixels, delta),
        3 => run::<3>(&mut pixels, delta),
        _ => run::<4>(&mut pixels, delta),
    };
    let out = Image { width: image.width, height: image.height, channels: image.channels, pixels };
    let mse = sq as f64 / 1e6 / delta.len().max(1) as f64;
    let psnr = if mse == 0.0 { f64::INFINITY } else { 10.0 * (255.0f64 * 255.0 / mse).log10() };
    (out, psnr)
}

/// PSNR of `marked`'s luma against `original` luma, in dB (∞ for identical).
pub fn psnr_y(original: &[f32], marked: &Image) -> f64 {
    let y = marked.luma_f32();
    let mse = original.iter().zip(&y).map(|(a, b)| f64::from(a - b).powi(2)).sum::<f64>() / y.len().max(1) as f64;
    if mse == 0.0 {
        f64::INFINITY
    } else {
        10.0 * (255.0f64 * 255.0 / mse).log10()
    }
}

/// Local texture: RMS of the high-passed host over a 9×9 window, relative to its median, clipped to
/// 0.5–2: flat areas get half the base amplitude, busy ones up to twice.
fn texture_mask(host: &Plane) -> Plane {
    let act = local_rms(&highpass(host, HP_RADIUS), HP_RADIUS);
    let mut sorted = act.clone();
    sorted.sort_by(f32::total_cmp);
    let median = sorted[sorted.len() / 2].max(1.0);
    Plane {
        width: host.width,
        height: host.height,
        data: act.iter().map(|a| (a / median).sqrt().clamp(0.5, 2.0)).collect(),
    }
}

/// Local RMS of a plane over a (2r+1)² window.
fn local_rms(z: &Plane, r: usize) -> Vec<f32> {
    let sq = Plane { width: z.width, height: z.height, data: z.data.iter().map(|v| v * v).collect() };
    let hp = highpass(&sq, r);
    sq.data.iter().zip(&hp.data).map(|(s, h)| (s - h).max(0.0).sqrt()).collect()
}

/// Per-pixel weights of the detector: the inverse local RMS of the high-passed frame (floored), so strong
/// edges and busy texture do not drown the mark where it is weak relative to them.
fn detector_weights(z: &Plane) -> Vec<f32> {
    local_rms(z, WHITEN_RADIUS).into_iter().map(|a| 1.0 / a.max(WHITEN_FLOOR)).collect()
}

/// The detector's input: high-passed, locally whitened frame.
fn whitened(frame: &Plane) -> Plane {
    let mut z = highpass(frame, HP_RADIUS);
    let w = detector_weights(&z);
    for (v, w) in z.data.iter_mut().zip(w) {
        *v *= w;
    }
    z
}

/// Physical chip index (over the whole frame) of every frame coordinate.
const FRAME_CHIPS: usize = N / CHIP;

/// Mean of `z` over every physical chip of an aligned frame.
fn chip_means(z: &Plane) -> Vec<f32> {
    let mut acc = vec![0.0f32; FRAME_CHIPS * FRAME_CHIPS];
    for v in 0..N {
        let row = &z.data[v * N..(v + 1) * N];
        let base = (v / CHIP) * FRAME_CHIPS;
        for (u, &val) in row.iter().enumerate() {
            acc[base + u / CHIP] += val;
        }
    }
    let n = (CHIP * CHIP) as f32;
    acc.iter_mut().for_each(|a| *a /= n);
    acc
}

/// The tile-local chip of a physical chip.
fn tile_chip(cx: i64, cy: i64) -> usize {
    (cy.rem_euclid(TILE_CHIPS as i64) as usize) * TILE_CHIPS + cx.rem_euclid(TILE_CHIPS as i64) as usize
}

/// The lattice point nearest `f` that encodes `bit` (dither `d`, step `delta`).
fn quantise(f: f32, bit: u8, d: f32, delta: f32) -> f32 {
    let offset = (d + 0.5 * f32::from(bit)) * delta;
    ((f - offset) / delta).round() * delta + offset
}

/// Informed embedding in the frame: the pilot (for synchronisation) plus the quantised chips (payload).
struct Design<'a> {
    host: &'a Plane,
    mask: &'a Plane,
    layout: &'a Layout,
    coded: Vec<u8>,
    trip: RoundTrip,
}

/// What upsampling a frame residual to the image (W×H) and resampling the image back to the frame does
/// to it: one banded linear operator per axis, composed from the real resamplers' taps.
struct RoundTrip {
    x: Vec<Vec<(usize, f32)>>,
    y: Vec<Vec<(usize, f32)>>,
}

impl RoundTrip {
    fn new(width: usize, height: usize) -> RoundTrip {
        RoundTrip { x: frame::round_trip(N, width), y: frame::round_trip(N, height) }
    }

    fn apply(&self, r: &Plane) -> Plane {
        let mut mid = Plane::new(N, N);
        for v in 0..N {
            let row = &r.data[v * N..(v + 1) * N];
            for (o, taps) in self.x.iter().enumerate() {
                mid.data[v * N + o] = taps.iter().map(|&(i, w)| row[i] * w).sum();
            }
        }
        let mut out = Plane::new(N, N);
        for (o, taps) in self.y.iter().enumerate() {
            for &(i, w) in taps {
                let src = &mid.data[i * N..(i + 1) * N];
                for (d, &v) in out.data[o * N..(o + 1) * N].iter_mut().zip(src) {
                    *d += w * v;
                }
            }
        }
        out
    }
}

impl<'a> Design<'a> {
    fn new(host: &'a Plane, mask: &'a Plane, layout: &'a Layout, coded: &[u8], size: (usize, usize)) -> Design<'a> {
        let trip = RoundTrip::new(size.0, size.1);
        Design { host, mask, layout, coded: coded.to_vec(), trip }
    }

    /// The pilot: each chip's key sign, times the texture mask, times `a`.
    fn pilot(&self, a: f32) -> Plane {
        let mut r = Plane::new(N, N);
        for v in 0..N {
            for u in 0..N {
                let c = tile_chip((u / CHIP) as i64, (v / CHIP) as i64);
                r.data[v * N + u] = self.mask.data[v * N + u] * a * self.layout.pilot[c];
            }
        }
        r
    }

    /// The frame the detector will see: host plus the residual after its trip to the image and back.
    fn marked(&self, r: &Plane) -> Plane {
        let seen = self.trip.apply(r);
        let mut m = self.host.clone();
        for (m, d) in m.data.iter_mut().zip(&seen.data) {
            *m = (*m + d).clamp(0.0, 255.0);
        }
        m
    }

    /// The frame residual for quantiser step `delta`: the pilot, then the chips moved onto their lattices
    /// (as the detector will see them after the trip to the image and back).
    fn residual(&self, delta: f32) -> Plane {
        let mut r = self.pilot(delta * PILOT_FRACTION);
        for _ in 0..QIM_ROUNDS {
            let f = chip_means(&highpass(&self.marked(&r), HP_RADIUS));
            for cy in 0..FRAME_CHIPS {
                for cx in 0..FRAME_CHIPS {
                    let i = cy * FRAME_CHIPS + cx;
                    let c = tile_chip(cx as i64, cy as i64);
                    let bit = self.coded[usize::from(self.layout.bit_of_chip[c])];
                    let adjust = (quantise(f[i], bit, self.layout.dither[c], delta) - f[i]) / SELF_GAIN;
                    for v in cy * CHIP..(cy + 1) * CHIP {
                        for u in cx * CHIP..(cx + 1) * CHIP {
                            r.data[v * N + u] += adjust;
                        }
                    }
                }
            }
        }
        r
    }
}

/// What the extractor found.
#[derive(Debug, Clone, PartialEq)]
pub struct Detection {
    /// The payload, if a decode attempt passed the CRC.
    pub payload: Option<[u8; 16]>,
    /// The alignment used: the accepted one (its `score` is whatever ranked it: ∞ for the frame as it
    /// stands), else, of the alignments read (the frame as it stands and the proposals that passed
    /// polishing's gate, [`POLISH_GATE`]), the one whose soft bits agreed best with a codeword (its `score`
    /// is that agreement).
    pub sync: Option<Alignment>,
    /// Soft coded bits at that alignment (positive = 1).
    pub soft: Vec<f32>,
    /// Decode attempts made.
    pub attempts: usize,
}

impl Detection {
    /// Share of coded bits whose hard decision matches what `payload` under `key` would have embedded.
    pub fn raw_bit_accuracy(&self, key: &WatermarkKey, payload: &[u8; 16]) -> f64 {
        if self.soft.is_empty() {
            return 0.5;
        }
        let layout = Layout::new(key);
        let coded = code::encode(&code::info_bits(payload, &layout.scramble));
        let right = coded.iter().zip(&self.soft).filter(|(&b, &s)| (b == 1) == (s > 0.0)).count();
        right as f64 / coded.len() as f64
    }

    /// The payload as read, whether or not its CRC passed: the CRC-checked payload when there is one, else
    /// the Viterbi decoder's best guess at the best alignment found (`None` when nothing was read, e.g. an
    /// image too small). A guess is evidence only within a few bits of a known payload (SPEC §2.3: a lookup
    /// within 6 of 128 bits); on an unmarked image it is noise.
    pub fn payload_guess(&self, key: &WatermarkKey) -> Option<[u8; 16]> {
        if let Some(p) = self.payload {
            return Some(p);
        }
        if self.soft.len() != code::CODED_BITS {
            return None;
        }
        let scramble = Layout::new(key).scramble;
        let info = code::decode(&self.soft);
        let mut payload = [0u8; 16];
        for i in 0..code::PAYLOAD_BITS {
            payload[i / 8] |= (info[i] ^ scramble[i]) << (7 - i % 8);
        }
        Some(payload)
    }
}

/// Look for a watermark under `key`: first in the frame as it stands (every attack that keeps the image's
/// edges), then at the alignments the pilot search proposes (crops, shifts). Each attempt is decoded and
/// gated by the CRC.
pub fn extract(image: &Image, key: &WatermarkKey) -> Detection {
    let mut out = Detection { payload: None, sync: None, soft: Vec::new(), attempts: 0 };
    if image.width < 16 || image.height < 16 {
        return out;
    }
    let layout = Layout::new(key);
    let (frame, inter) = frame_and_intermediate(image);
    let identity = Alignment {
        x: AxisSync { scale: 1.0, offset: 0.0 },
        y: AxisSync { scale: 1.0, offset: 0.0 },
        score: f32::INFINITY,
    };
    let mut best_agreement = f32::NEG_INFINITY;
    let mut attempt = |chips: Vec<ChipReading>, a: Alignment, out: &mut Detection| -> bool {
        let r = read_chips(&chips, &layout, 1.004, 1, GAIN_PEAKS);
        out.attempts += 1;
        if let Some(payload) = code::payload_from_info(&r.info, &layout.scramble) {
            *out = Detection { payload: Some(payload), sync: Some(a), soft: r.soft, attempts: out.attempts };
            return true;
        }
        if r.agreement > best_agreement {
            best_agreement = r.agreement;
            out.sync = Some(Alignment { score: r.agreement, ..a });
            out.soft = r.soft;
        }
        false
    };
    if attempt(frame_chips(&highpass(&frame, HP_RADIUS), 0, 0, None), identity, &mut out) {
        return out;
    }
    let coarse = search_plane(&inter);
    for a in lattice::shifts(&coarse, (image.width, image.height), &layout, SHIFT_CANDIDATES) {
        let Some(a) = refine_by_lattice(&coarse, &inter, a, &layout, POLISH_GATE) else { continue };
        if attempt(aligned_chips(&inter, a), a, &mut out) {
            return out;
        }
    }
    for a in anchored_candidates(&coarse, (image.width, image.height), &layout, ANCHORED_CANDIDATES) {
        let Some(a) = refine_by_lattice(&coarse, &inter, a, &layout, POLISH_GATE) else { continue };
        if attempt(aligned_chips(&inter, a), a, &mut out) {
            return out;
        }
    }
    let cands = sync::search(&whitened(&frame), &layout.pilot, SCALE_RANGE, SYNC_CANDIDATES);
    for a in cands {
        let Some(a) = refine_by_lattice(&coarse, &inter, a, &layout, POLISH_GATE) else { continue };
        if attempt(aligned_chips(&inter, a), a, &mut out) {
            return out;
        }
    }
    out
}

/// The image's luma as a plane.
fn luma_plane(image: &Image) -> Plane {
    Plane { width: image.width, height: image.height, data: image.luma_f32() }
}

/// The luma resampled to the N×N frame, and the luma alignments are resampled from: as it is, or reduced to
/// at most [`INTER`] pixels a side (both in one pass over the pixels when the image is larger).
fn frame_and_intermediate(image: &Image) -> (Plane, Plane) {
    let (w, h) = (image.width, image.height);
    if w > INTER || h > INTER {
        let mut planes = luma_resized(image, &[(N, N), (w.min(INTER), h.min(INTER))]);
        let inter = planes.pop().expect("two sizes");
        (planes.pop().expect("two sizes"), inter)
    } else {
        let luma = luma_plane(image);
        (resize(&luma, N, N), luma)
    }
}

/// The luma the searches (translations, anchored crops) score alignments on: the intermediate reduced to at
/// most [`SEARCH`] pixels a side. Alignments are polished and read on the intermediate itself.
fn search_plane(inter: &Plane) -> std::borrow::Cow<'_, Plane> {
    if inter.width > SEARCH || inter.height > SEARCH {
        std::borrow::Cow::Owned(resize(inter, inter.width.min(SEARCH), inter.height.min(SEARCH)))
    } else {
        std::borrow::Cow::Borrowed(inter)
    }
}

/// Diagnostics (the `wm_sync` example): read the chips at a given alignment, optionally polished on the
/// codeword agreement first, and decode them once. Not part of the detector's decision path.
#[doc(hidden)]
pub fn read_at(image: &Image, key: &WatermarkKey, a: Alignment, polish: bool) -> Detection {
    let layout = Layout::new(key);
    let inter = frame_and_intermediate(image).1;
    let a = if polish {
        refine_by_lattice(&search_plane(&inter), &inter, a, &layout, f32::NEG_INFINITY).unwrap_or(a)
    } else {
        a
    };
    let r = read_chips(&aligned_chips(&inter, a), &layout, 1.004, 1, GAIN_PEAKS);
    let payload = code::payload_from_info(&r.info, &layout.scramble);
    Detection { payload, sync: Some(Alignment { score: r.agreement, ..a }), soft: r.soft, attempts: 1 }
}

/// Diagnostics (the `wm_sync` example): the pilot search's first `keep` proposals.
#[doc(hidden)]
pub fn pilot_candidates(image: &Image, key: &WatermarkKey, keep: usize) -> Vec<Alignment> {
    let layout = Layout::new(key);
    let frame = frame_and_intermediate(image).0;
    sync::search(&whitened(&frame), &layout.pilot, SCALE_RANGE, keep)
}

/// Diagnostics (the `wm_sync` example): the pilot's z-score at an alignment.
#[doc(hidden)]
pub fn pilot_z(image: &Image, key: &WatermarkKey, a: Alignment) -> f32 {
    let layout = Layout::new(key);
    sync::pilot_z(&whitened(&frame_and_intermediate(image).0), &layout.pilot, a)
}

/// Crops that keep an edge or the centre in place: trimming one side, or both axes by the same fraction
/// from a corner or around the centre (a centred crop to another size). Per axis the kept fraction is the
/// only unknown, so a one-dimensional scan covers them, each alignment scored by how well its chips decode
/// (codeword agreement, far sharper than the pilot). A centred crop of whole pixels is off the exact centre
/// by up to half an original pixel (floor or ceiling of the margin), which on a small image is a quarter of a
/// frame pixel or more — beyond the lattice's tolerance — so on an axis under [`NUDGE_BELOW`] pixels centre
/// anchors are also tried a quarter of a frame pixel either side. Alignments that share an x axis share its
/// resampling pass; the scan runs on up to four cores. Returns the best alignments.
fn anchored_candidates(inter: &Plane, size: (usize, usize), layout: &Layout, keep: usize) -> Vec<Alignment> {
    let groups = anchored_groups(size);
    let mut scored: Vec<Alignment> = par_map(&groups, |(x, ys)| {
        along(inter, Shared::X(*x), ys, false, |y, chips| Alignment {
            x: *x,
            y,
            score: read_chips(&chips, layout, 1.012, 2, SCAN_GAIN_PEAKS).agreement,
        })
    })
    .into_iter()
    .flatten()
    .collect();
    scored.sort_by(|a, b| b.score.total_cmp(&a.score));
    scored.truncate(keep);
    scored
}

/// The anchored scan's alignments for an image of `size` pixels, as work items: an x axis and the y axes
/// tried with it (the x axis's resampling pass is made once per item).
fn anchored_groups(size: (usize, usize)) -> Vec<(AxisSync, Vec<AxisSync>)> {
    let ident = AxisSync { scale: 1.0, offset: 0.0 };
    let nudges = |side: usize| -> &'static [f32] {
        if side < NUDGE_BELOW {
            &CENTRE_NUDGES
        } else {
            &[0.0]
        }
    };
    let mut groups: Vec<(AxisSync, Vec<AxisSync>)> = Vec::new();
    let mut with_ident_x: Vec<AxisSync> = Vec::new();
    let mut s = 1.0 - ANCHOR_STEP;
    while s >= SCALE_RANGE.0 {
        for offset in [0.0, N as f32 * (1.0 - s)] {
            let a = AxisSync { scale: s, offset };
            groups.push((a, vec![ident, a]));
            with_ident_x.push(a);
        }
        let centre = |nudge: f32| AxisSync { scale: s, offset: N as f32 * (1.0 - s) / 2.0 + nudge };
        for &dx in nudges(size.0) {
            groups
                .push((centre(dx), std::iter::once(ident).chain(nudges(size.1).iter().map(|&d| centre(d))).collect()));
        }
        with_ident_x.extend(nudges(size.1).iter().map(|&d| centre(d)));
        s -= ANCHOR_STEP;
    }
    // The long group first (workers take items as they finish), in pieces.
    let pieces: Vec<(AxisSync, Vec<AxisSync>)> = with_ident_x.chunks(16).map(|ys| (ident, ys.to_vec())).collect();
    groups.splice(0..0, pieces);
    groups
}

/// Cores the watermark's work is spread over: those this process may use, at most four.
fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get()).clamp(1, 4)
}

/// `f` over `items` on up to four cores, results in order. Workers take the next item as they finish one
/// (items may differ in cost); a worker's panic is re-raised.
fn par_map<T: Sync, R: Send>(items: &[T], f: impl Fn(&T) -> R + Sync) -> Vec<R> {
    let threads = cores().min(items.len());
    if threads < 2 {
        return items.iter().map(f).collect();
    }
    let next = std::sync::atomic::AtomicUsize::new(0);
    let (f, next) = (&f, &next);
    let mut done: Vec<(usize, R)> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|_| {
                s.spawn(move || {
                    let mut mine = Vec::new();
                    loop {
                        let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        let Some(item) = items.get(i) else { break mine };
                        mine.push((i, f(item)));
                    }
                })
            })
            .collect();
        handles.into_iter().flat_map(|h| h.join().unwrap_or_else(|p| std::panic::resume_unwind(p))).collect()
    });
    done.sort_unstable_by_key(|d| d.0);
    done.into_iter().map(|d| d.1).collect()
}

/// A chip as read: tile-local index, mean of the high-passed frame over it, weight (1 for a whole chip).
struct ChipReading {
    chip: usize,
    mean: f32,
    weight: f32,
}

/// Chip means of a high-passed frame whose chip grid starts at tile chip (`cx0`, `cy0`); chips touching
/// an invalid column/row (or within the high-pass radius of one) are skipped.
fn frame_chips(z: &Plane, cx0: i64, cy0: i64, valid: Option<(&[bool], &[bool])>) -> Vec<ChipReading> {
    let (cw, ch) = (z.width / CHIP, z.height / CHIP);
    let ok = |flags: Option<&[bool]>, i: usize, len: usize| -> bool {
        flags.is_none_or(|f| {
            let lo = (i * CHIP).saturating_sub(HP_RADIUS);
            let hi = ((i + 1) * CHIP + HP_RADIUS).min(len);
            f[lo..hi].iter().all(|&b| b)
        })
    };
    let mut out = Vec::with_capacity(cw * ch);
    for j in 0..ch {
        if !ok(valid.map(|v| v.1), j, z.height) {
            continue;
        }
        for i in 0..cw {
            if !ok(valid.map(|v| v.0), i, z.width) {
                continue;
            }
            let mut sum = 0.0;
            for v in j * CHIP..(j + 1) * CHIP {
                sum += z.data[v * z.width + i * CHIP..v * z.width + (i + 1) * CHIP].iter().sum::<f32>();
            }
            out.push(ChipReading {
                chip: tile_chip(cx0 + i as i64, cy0 + j as i64),
                mean: sum / (CHIP * CHIP) as f32,
                weight: 1.0,
            });
        }
    }
    out
}

/// One axis of an alignment as a resampling of the (attacked) luma back into the original frame's geometry:
/// output pixel j is original frame pixel j + 4c (c = `first_chip`), attacked frame coordinate
/// u = (j + 4c + 0.5 − offset)/scale, source coordinate u·size/N; `valid` marks the outputs whose centre lies
/// inside the source.
struct AxisMap {
    first_chip: i64,
    len: usize,
    map: (f64, f64),
    valid: Vec<bool>,
}

impl AxisMap {
    fn new(s: AxisSync, size: usize) -> AxisMap {
        let first_chip = (s.offset / CHIP as f32).floor() as i64;
        let len = ((N as f32 * s.scale).ceil() as usize + CHIP).div_ceil(CHIP) * CHIP;
        let scale = size as f64 / (N as f64 * f64::from(s.scale));
        let offset = (first_chip as f64 * CHIP as f64 - f64::from(s.offset)) * scale;
        let valid = (0..len)
            .map(|j| {
                let centre = (j as f64 + 0.5) * scale + offset;
                (0.0..size as f64).contains(&centre)
            })
            .collect();
        AxisMap { first_chip, len, map: (scale, offset), valid }
    }
}

/// Resample the (attacked) luma back into the original frame's geometry under an alignment, then read the
/// chips that lie wholly inside the image.
fn aligned_chips(src: &Plane, a: Alignment) -> Vec<ChipReading> {
    let (mx, my) = (AxisMap::new(a.x, src.width), AxisMap::new(a.y, src.height));
    read_aligned(&resize_affine(src, mx.len, my.len, mx.map, my.map), &mx, &my)
}

fn read_aligned(rec: &Plane, mx: &AxisMap, my: &AxisMap) -> Vec<ChipReading> {
    frame_chips(&highpass(rec, HP_RADIUS), mx.first_chip, my.first_chip, Some((&mx.valid, &my.valid)))
}

/// The axis a set of alignments shares, and its value.
#[derive(Debug, Clone, Copy)]
enum Shared {
    X(AxisSync),
    Y(AxisSync),
}

/// `f` of the chips at the alignments made of the `shared` axis and each of `others` (the other axis): the
/// shared axis's resampling pass is made once, first (the other pass on up to four cores when `parallel`).
/// With a shared x that is the very resampling [`aligned_chips`] makes; with a shared y the same one
/// rounded in another order.
fn along<R: Send>(
    src: &Plane,
    shared: Shared,
    others: &[AxisSync],
    parallel: bool,
    f: impl Fn(AxisSync, Vec<ChipReading>) -> R + Sync,
) -> Vec<R> {
    let (fixed, first) = match shared {
        Shared::X(x) => {
            let m = AxisMap::new(x, src.width);
            let p = resample_x(src, m.len, m.map);
            (m, p)
        }
        Shared::Y(y) => {
            let m = AxisMap::new(y, src.height);
            let p = resample_y(src, m.len, m.map);
            (m, p)
        }
    };
    let read = |&a: &AxisSync| {
        let chips = match shared {
            Shared::X(_) => {
                let my = AxisMap::new(a, src.height);
                read_aligned(&resample_y(&first, my.len, my.map), &fixed, &my)
            }
            Shared::Y(_) => {
                let mx = AxisMap::new(a, src.width);
                read_aligned(&resample_x(&first, mx.len, mx.map), &mx, &fixed)
            }
        };
        f(a, chips)
    };
    if parallel {
        par_map(others, read)
    } else {
        others.iter().map(read).collect()
    }
}

/// Chips read at one alignment: the gain chosen, how well the soft bits agree with the nearest codeword
/// (the Viterbi path metric over Σ |soft|), the soft bits and the decoded info word.
struct Reading {
    agreement: f32,
    gain: f32,
    soft: Vec<f32>,
    info: [u8; code::INFO_BITS],
}

/// Read the chips: the gain (attenuation or amplification since embedding) is unknown, and the lattice fit
/// alone picks it badly once an attack has blurred the chips (several gains fit about equally), so the best
/// `peaks` local maxima of the fit ([`GAIN_PEAKS`] when decoding) are each decoded and the gain whose soft bits agree best with a
/// codeword wins. The fit is scanned in steps of `ratio` over every `stride`-th chip. Only the decoded word
/// is ever CRC-checked, one per reading, so this costs no false-accept margin.
fn read_chips(chips: &[ChipReading], layout: &Layout, ratio: f32, stride: usize, peaks: usize) -> Reading {
    let mut best = Reading {
        agreement: f32::NEG_INFINITY,
        gain: 1.0,
        soft: vec![0.0; code::CODED_BITS],
        info: [0; code::INFO_BITS],
    };
    if chips.is_empty() {
        return best;
    }
    for gain in gain_peaks(chips, layout, ratio, stride, peaks) {
        let soft = soft_bits(chips, layout, gain);
        let (info, metric) = code::decode_with_metric(&soft);
        let agreement = metric / soft.iter().map(|s| s.abs()).sum::<f32>().max(1e-6);
        if agreement > best.agreement {
            best = Reading { agreement, gain, soft, info };
        }
    }
    best
}

/// The gains at the `count` highest local maxima of the lattice fit (mean cosine of the chip means on
/// their lattices, either bit), scanned over [`GAIN_RANGE`] in steps of `ratio` with cosines from a table.
fn gain_peaks(chips: &[ChipReading], layout: &Layout, ratio: f32, stride: usize, count: usize) -> Vec<f32> {
    const T: usize = COS_TABLE;
    let table = cos_table();
    // Turns of 4π·(m/step − d) = 2m/step − 2d, in table entries (see ROUNDER): |m·k| ≤ 255·2T/(0.45·STEP)
    // ≈ 1.1·10⁶ here.
    let pre: Vec<(f32, i32, f32)> = chips
        .iter()
        .step_by(stride)
        .map(|c| (c.mean, (2.0 * layout.dither[c.chip] * T as f32).round() as i32, c.weight))
        .collect();
    let total_w = pre.iter().map(|p| p.2).sum::<f32>().max(1e-6);
    let fit = |g: f32| -> f32 {
        let k = 2.0 * T as f32 / (g * STEP);
        let term = |&(m, d, w): &(f32, i32, f32)| {
            let turns = (m * k + ROUNDER).to_bits() as i32;
            w * table[(turns.wrapping_sub(d) & (T as i32 - 1)) as usize]
        };
        // Four running sums: one would make every addition wait for the last.
        let mut acc = [0.0f32; 4];
        let quads = pre.chunks_exact(4);
        let rest: f32 = quads.remainder().iter().map(term).sum();
        for q in quads {
            for (a, p) in acc.iter_mut().zip(q) {
                *a += term(p);
            }
        }
        (acc.iter().sum::<f32>() + rest) / total_w
    };
    let mut curve = Vec::new();
    let mut g = GAIN_RANGE.0;
    while g <= GAIN_RANGE.1 {
        curve.push((g, fit(g)));
        g *= ratio;
    }
    let mut peaks: Vec<(f32, f32)> = (0..curve.len())
        .filter(|&i| {
            let f = curve[i].1;
            (i == 0 || curve[i - 1].1 <= f) && (i + 1 == curve.len() || curve[i + 1].1 < f)
        })
        .map(|i| curve[i])
        .collect();
    peaks.sort_by(|a, b| b.1.total_cmp(&a.1));
    peaks.into_iter().take(count).map(|(g, _)| g).collect()
}

/// Polish an alignment by coordinate ascent on its codeword agreement, which is far sharper than the
/// pilot's correlation: a sweep with scales in 0.2 % and offsets in half-pixel steps on the search plane
/// `coarse`, then one in 0.07 % and 0.2-pixel steps on `fine` (the intermediate). `None` when the agreement
/// after the coarse sweep is under `gate` (see [`POLISH_GATE`]): the fine sweep and the reading are skipped.
fn refine_by_lattice(coarse: &Plane, fine: &Plane, a: Alignment, layout: &Layout, gate: f32) -> Option<Alignment> {
    let (a, agreement) = polish(coarse, a, layout, (0.002, 0.5, 3));
    (agreement >= gate).then(|| polish(fine, a, layout, (0.0007, 0.2, 2)).0)
}

/// One sweep of [`refine_by_lattice`] on `src`: each parameter in turn moved by up to `reach` steps (the gain
/// read at the start held fixed). The moves of one parameter share the other axis's resampling pass and
/// are read on up to four cores. Returns the alignment and its agreement (at that gain).
fn polish(
    src: &Plane,
    a: Alignment,
    layout: &Layout,
    (scale_step, offset_step, reach): (f32, f32, i32),
) -> (Alignment, f32) {
    let first = aligned_chips(src, a);
    let gain = read_chips(&first, layout, 1.004, 1, GAIN_PEAKS).gain;
    let score = |chips: &[ChipReading]| {
        let soft = soft_bits(chips, layout, gain);
        code::decode_with_metric(&soft).1 / soft.iter().map(|s| s.abs()).sum::<f32>().max(1e-6)
    };
    let mut best = (score(&first), a);
    for param in 0..4 {
        let base = best.1;
        let axis = if param < 2 { base.x } else { base.y };
        let moves: Vec<AxisSync> = (-reach..=reach)
            .filter(|&j| j != 0)
            .map(|j| {
                let d = j as f32;
                if param % 2 == 0 {
                    AxisSync { scale: axis.scale + scale_step * d, ..axis }
                } else {
                    AxisSync { offset: axis.offset + offset_step * d, ..axis }
                }
            })
            .collect();
        let scored = if param < 2 {
            along(src, Shared::Y(base.y), &moves, true, |x, chips| (score(&chips), Alignment { x, ..base }))
        } else {
            along(src, Shared::X(base.x), &moves, true, |y, chips| (score(&chips), Alignment { y, ..base }))
        };
        for (s, c) in scored {
            if s > best.0 {
                best = (s, c);
            }
        }
    }
    (best.1, best.0)
}

/// Entries of the cosine table (one turn) the chip readings use.
const COS_TABLE: usize = 4096;

/// cos(2π·i/COS_TABLE).
fn cos_table() -> &'static [f32] {
    static TABLE: std::sync::OnceLock<Vec<f32>> = std::sync::OnceLock::new();
    TABLE.get_or_init(|| {
        (0..COS_TABLE).map(|i| (2.0 * std::f32::consts::PI * i as f32 / COS_TABLE as f32).cos()).collect()
    })
}

/// Adding 1.5·2²³ to a float under 2²² in magnitude rounds it to an integer and leaves that integer in the
/// low mantissa bits (modulo 2²³, two's complement), so a table index is those bits, masked.
const ROUNDER: f32 = 12_582_912.0;

/// Per coded bit, the sum over its chips of how close each sits to the "1" lattice (+1) versus the "0"
/// lattice (−1).
fn soft_bits(chips: &[ChipReading], layout: &Layout, gain: f32) -> Vec<f32> {
    let step = gain * STEP;
    let table = cos_table();
    let mut soft = vec![0.0f32; code::CODED_BITS];
    for c in chips {
        // −cos of 2π·(m/step − d), the turns rounded to the table (a phase error under 2π/8192).
        let turns = ((c.mean / step - layout.dither[c.chip]) * COS_TABLE as f32 + ROUNDER).to_bits() as usize;
        soft[usize::from(layout.bit_of_chip[c.chip])] -= c.weight * table[turns & (COS_TABLE - 1)];
    }
    soft
}

#[cfg(test)]
mod tests;
