//! The invisible watermark (SPEC §3.3): a 128-bit payload, keyed, error-corrected and CRC-gated, embedded in
//! luma, found again after resizing, aspect changes, crops, shifts, brightness/contrast changes and lossy
//! re-encoding. Design (docs/imaging.md has the full account):
//!
//! - **Canonical frame.** Luma is resampled to a 256×256 frame tied to the image's edges (each axis on its
//!   own, so resizing and aspect changes cancel out). The frame holds 2×2 periodic tiles of 32×32 chips,
//!   4×4 frame pixels each. The residual is designed in the frame and upsampled to the image, where it is
//!   added to R, G and B equally (chroma untouched).
//! - **Payload.** 128 bits + CRC-32, scrambled by the key, rate-½ K=7 convolutional code → 332 coded bits;
//!   the key scatters each coded bit over ~12 chips with key-derived signs. Embedding is *informed*: the
//!   detector's own statistic is measured on the host and each bit gets the extra amplitude that brings it
//!   to its margin, so host texture does not cause raw bit errors. Decisions are signs of correlations, so
//!   a gain (brightness, contrast) changes no bit.
//! - **Synchronisation.** A separate key-derived pilot, a sum of a column pattern and a row pattern, makes
//!   the frame's column (row) sums a known periodic sequence: one 1-D search per axis over the kept fraction
//!   (0.78–1.02, covering crops up to 22 %) and the phase (any shift) finds how the frame was cropped and
//!   moved, without a 2-D search. The best few alignments per axis are combined and decoded; the CRC gates.
//! - **Strength.** Set per image so PSNR(Y) is at least [`TARGET_PSNR`] dB (checked on the final pixels), and
//!   modulated by local texture.
pub mod code;
mod frame;
pub mod key;

use crate::image::Image;
use frame::{highpass, resize, Plane};
pub use key::{KeyFormatError, WatermarkKey};
use key::{Layout, TILE_CHIPS};

/// Canonical frame side, in frame pixels.
const N: usize = 256;
/// Frame pixels per chip side.
const CHIP: usize = 4;
/// Tile side in frame pixels.
const TILE: usize = CHIP * TILE_CHIPS;
/// Box radius of the detector's local-mean removal.
const HP_RADIUS: usize = 4;
/// Pilot base amplitude as a fraction of the quantiser step.
const PILOT_FRACTION: f32 = 0.12;
/// Informed-embedding rounds for the pilot and for the payload chips.
const PILOT_ROUNDS: usize = 3;
const QIM_ROUNDS: usize = 6;
/// How much of a uniform offset over a chip its high-passed mean keeps (box 9 around a 4×4 chip).
const SELF_GAIN: f32 = 0.85;
/// Gains tried when reading the chips (brightness, contrast and codecs scale the chip means).
const GAIN_RANGE: (f32, f32) = (0.45, 1.6);
/// The quantiser step of the chip means, in grey levels of the high-passed frame.
const STEP: f32 = 3.7;
/// Window radius and floor (grey levels) of the detector's local whitening.
const WHITEN_RADIUS: usize = 4;
const WHITEN_FLOOR: f32 = 1.5;
/// The marked image's PSNR(Y) floor, in dB.
pub const TARGET_PSNR: f64 = 40.0;
/// Smallest image side that can carry the mark (a chip must stay above ~1.5 px).
pub const MIN_SIDE: usize = 96;
/// Pilot peaks kept per axis; every decode attempt has a false-accept chance of 2⁻³².
const CANDIDATES_PER_AXIS: usize = 10;
/// Alignments (of the CANDIDATES_PER_AXIS² pairs, ranked by how well the chips sit on their lattices)
/// decoded after the identity.
const DECODE_ATTEMPTS: usize = 4;
/// Kept fractions searched per axis (crops up to 22 %, and slight enlargements).
const SCALE_RANGE: (f32, f32) = (0.78, 1.02);
const SCALE_STEP: f32 = 0.0025;
const SCALE_STEPS: usize = 97;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum WatermarkError {
    #[error("the image is {width}x{height}; a watermark needs at least {min} pixels on each side")]
    TooSmall { width: usize, height: usize, min: usize },
}

/// What embedding did.
#[derive(Debug, Clone, PartialEq)]
pub struct EmbedStats {
    /// PSNR of the marked luma against the original, in dB (on the final 8-bit pixels).
    pub psnr_y: f64,
}

/// Embed `payload` under `key`. The returned image has the input's size and channels.
pub fn embed(image: &Image, key: &WatermarkKey, payload: &[u8; 16]) -> Result<(Image, EmbedStats), WatermarkError> {
    let (w, h) = (image.width, image.height);
    if w < MIN_SIDE || h < MIN_SIDE {
        return Err(WatermarkError::TooSmall { width: w, height: h, min: MIN_SIDE });
    }
    let luma = Plane { width: w, height: h, data: image.luma_f32() };
    let host = resize(&luma, N, N);
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
        let residual = design.residual(step);
        let full = resize(&residual, w, h);
        out = apply(image, &full.data);
        psnr = psnr_y(&luma.data, &out);
        tries += 1;
        if psnr >= TARGET_PSNR + 0.05 || tries >= 5 {
            break;
        }
        step *= 10f32.powf(((psnr - TARGET_PSNR - 0.3) / 20.0) as f32);
    }
    Ok((out, EmbedStats { psnr_y: psnr }))
}


/// Add `delta` (per pixel, in luma units) to every colour channel (grey: the one channel), rounding and
/// clamping to 8 bits; alpha untouched.
fn apply(image: &Image, delta: &[f32]) -> Image {
    let mut out = image.clone();
    let c = image.channels;
    let colour = if c >= 3 { 3 } else { 1 };
    for (px, &d) in out.pixels.chunks_exact_mut(c).zip(delta) {
        for v in &mut px[..colour] {
            *v = (f32::from(*v) + d).round().clamp(0.0, 255.0) as u8;
        }
    }
    out
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
    Plane { width: host.width, height: host.height, data: act.iter().map(|a| (a / median).sqrt().clamp(0.5, 2.0)).collect() }
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
    /// The detector's sync weights, as the host yields them.
    weights: Vec<f32>,
    trip: RoundTrip,
}

/// What upsampling a frame residual to the image (W×H) and resampling the image back to the frame does
/// to it: one banded linear operator per axis, measured by sending impulses through the real resamplers.
struct RoundTrip {
    x: Vec<Vec<(usize, f32)>>,
    y: Vec<Vec<(usize, f32)>>,
}

impl RoundTrip {
    fn new(width: usize, height: usize) -> RoundTrip {
        RoundTrip { x: Self::axis(width), y: Self::axis(height) }
    }

    fn axis(size: usize) -> Vec<Vec<(usize, f32)>> {
        let mut rows = vec![Vec::new(); N];
        for i in 0..N {
            let mut impulse = Plane::new(N, 1);
            impulse.data[i] = 1.0;
            let back = resize(&resize(&impulse, size, 1), N, 1);
            for (o, &w) in back.data.iter().enumerate() {
                if w.abs() > 1e-4 {
                    rows[o].push((i, w));
                }
            }
        }
        rows
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
                let (src, dst) = (&mid.data[i * N..(i + 1) * N], o * N);
                for u in 0..N {
                    out.data[dst + u] += w * src[u];
                }
            }
        }
        out
    }
}

impl<'a> Design<'a> {
    fn new(host: &'a Plane, mask: &'a Plane, layout: &'a Layout, coded: &[u8], size: (usize, usize)) -> Design<'a> {
        let weights = detector_weights(&highpass(host, HP_RADIUS));
        let trip = RoundTrip::new(size.0, size.1);
        Design { host, mask, layout, coded: coded.to_vec(), weights, trip }
    }

    fn pilot(&self, gx: &[f32], gy: &[f32]) -> Plane {
        let mut r = Plane::new(N, N);
        for v in 0..N {
            let py = gy[(v / CHIP) % TILE_CHIPS];
            for u in 0..N {
                r.data[v * N + u] = self.mask.data[v * N + u] * (gx[(u / CHIP) % TILE_CHIPS] + py);
            }
        }
        r
    }

    /// Pilot column and row statistics of the detector (whitened) on an aligned frame.
    fn pilot_stats(&self, plane: &Plane) -> (Vec<f32>, Vec<f32>) {
        let z = highpass(plane, HP_RADIUS);
        let mut px = vec![0.0f32; TILE_CHIPS];
        let mut py = vec![0.0f32; TILE_CHIPS];
        for v in 0..N {
            for u in 0..N {
                let val = z.data[v * N + u] * self.weights[v * N + u];
                px[(u / CHIP) % TILE_CHIPS] += val;
                py[(v / CHIP) % TILE_CHIPS] += val;
            }
        }
        (px, py)
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

    /// The frame residual for quantiser step `delta`: the pilot, made informed (each of its column and
    /// row statistics brought to at least what the bare pilot yields on a flat host), then the chips moved
    /// onto their lattices (last, so they end exactly on their lattice points).
    fn residual(&self, delta: f32) -> Plane {
        let a = delta * PILOT_FRACTION;
        let mut gx: Vec<f32> = self.layout.pilot_x.iter().map(|p| p * a).collect();
        let mut gy: Vec<f32> = self.layout.pilot_y.iter().map(|p| p * a).collect();
        let clean = self.pilot_stats(&self.pilot(&gx, &gy));
        let tx: Vec<f32> = clean.0.iter().zip(&self.layout.pilot_x).map(|(s, p)| (s * p).max(1e-6)).collect();
        let ty: Vec<f32> = clean.1.iter().zip(&self.layout.pilot_y).map(|(s, p)| (s * p).max(1e-6)).collect();
        for _ in 0..PILOT_ROUNDS {
            let (sx, sy) = self.pilot_stats(&self.marked(&self.pilot(&gx, &gy)));
            let fix = |g: &mut [f32], got: &[f32], target: &[f32], sign: &[f32]| {
                for i in 0..g.len() {
                    let deficit = target[i] - sign[i] * got[i];
                    if deficit > 0.0 {
                        g[i] = (g[i] + sign[i] * deficit * a / target[i]).clamp(-3.0 * a, 3.0 * a);
                    }
                }
            };
            fix(&mut gx, &sx, &tx, &self.layout.pilot_x);
            fix(&mut gy, &sy, &ty, &self.layout.pilot_y);
        }
        let mut r = self.pilot(&gx, &gy);
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

/// One alignment of the frame along an axis: frame coordinate `x_orig = scale·x + offset` (mod the tile).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AxisSync {
    pub scale: f32,
    pub offset: f32,
    /// Normalised correlation with the pilot.
    pub score: f32,
}

/// What the extractor found.
#[derive(Debug, Clone, PartialEq)]
pub struct Detection {
    /// The payload, if a decode attempt passed the CRC.
    pub payload: Option<[u8; 16]>,
    /// The alignment used (the accepted one, else the strongest).
    pub sync: Option<(AxisSync, AxisSync)>,
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
}

/// Look for a watermark under `key`.
pub fn extract(image: &Image, key: &WatermarkKey) -> Detection {
    let none = Detection { payload: None, sync: None, soft: Vec::new(), attempts: 0 };
    if image.width < 16 || image.height < 16 {
        return none;
    }
    let layout = Layout::new(key);
    let luma = Plane { width: image.width, height: image.height, data: image.luma_f32() };
    let frame = resize(&luma, N, N);
    let z = highpass(&frame, HP_RADIUS);
    let white = whitened(&frame);
    let mut cols = vec![0.0f32; N];
    let mut rows = vec![0.0f32; N];
    for v in 0..N {
        for u in 0..N {
            let val = white.data[v * N + u];
            cols[u] += val;
            rows[v] += val;
        }
    }
    let xs = axis_candidates(&cols, &layout.pilot_x);
    let ys = axis_candidates(&rows, &layout.pilot_y);
    // The untouched frame first: every attack that keeps the image's edges (codecs, resizes, aspect
    // changes, gain) leaves the frame where it was. Then the pilot's pairs, best lattice fit first.
    let identity = AxisSync { scale: 1.0, offset: 0.0, score: f32::NAN };
    let mut ranked: Vec<(f32, (AxisSync, AxisSync))> = xs
        .iter()
        .flat_map(|&x| ys.iter().map(move |&y| (x, y)))
        .filter(|&(x, y)| !(x.scale == 1.0 && x.offset == 0.0 && y.scale == 1.0 && y.offset == 0.0))
        .map(|(x, y)| (quick_fit(&read_chips(&z, x, y), &layout), (x, y)))
        .collect();
    ranked.sort_by(|a, b| b.0.total_cmp(&a.0));
    let combos = std::iter::once((identity, identity)).chain(ranked.into_iter().take(DECODE_ATTEMPTS).map(|(_, c)| c));
    let mut best: Option<(f32, (AxisSync, AxisSync), Vec<f32>)> = None;
    let mut attempts = 0;
    for (sx, sy) in combos {
        let chips = read_chips(&z, sx, sy);
        let (gain, fit) = best_gain(&chips, &layout);
        let soft = soft_bits(&chips, &layout, gain);
        attempts += 1;
        let info = code::decode(&soft);
        if let Some(payload) = code::payload_from_info(&info, &layout.scramble) {
            return Detection { payload: Some(payload), sync: Some((sx, sy)), soft, attempts };
        }
        if best.as_ref().is_none_or(|b| fit > b.0) {
            best = Some((fit, (sx, sy), soft));
        }
    }
    match best {
        Some((_, sync, soft)) => Detection { payload: None, sync: Some(sync), soft, attempts },
        None => none,
    }
}

/// A chip as read from an attacked frame: tile-local index, mean of the high-passed frame, pixel count.
struct ChipReading {
    chip: usize,
    mean: f32,
    weight: f32,
}

/// Map every frame pixel through the alignment to its physical chip of the original frame; average.
fn read_chips(z: &Plane, sx: AxisSync, sy: AxisSync) -> Vec<ChipReading> {
    let map = |s: AxisSync| -> Vec<i64> {
        (0..N).map(|u| ((s.scale * u as f32 + s.offset) / CHIP as f32).floor() as i64).collect()
    };
    let (mx, my) = (map(sx), map(sy));
    let (x0, y0) = (mx.iter().min().copied().unwrap_or(0), my.iter().min().copied().unwrap_or(0));
    let (w, h) = ((mx.iter().max().copied().unwrap_or(0) - x0 + 1) as usize, (my.iter().max().copied().unwrap_or(0) - y0 + 1) as usize);
    let mut sum = vec![0.0f32; w * h];
    let mut count = vec![0u32; w * h];
    for (v, &cy) in my.iter().enumerate() {
        let base = (cy - y0) as usize * w;
        for (u, &cx) in mx.iter().enumerate() {
            let i = base + (cx - x0) as usize;
            sum[i] += z.data[v * N + u];
            count[i] += 1;
        }
    }
    let full = (CHIP * CHIP) as f32 / (sx.scale * sy.scale).max(0.1);
    let mut out = Vec::with_capacity(w * h);
    for j in 0..h {
        for i in 0..w {
            let n = count[j * w + i];
            if n * 3 >= (full as u32).max(3) {
                out.push(ChipReading {
                    chip: tile_chip(i as i64 + x0, j as i64 + y0),
                    mean: sum[j * w + i] / n as f32,
                    weight: (n as f32 / full).min(1.0),
                });
            }
        }
    }
    out
}

/// The gain (attenuation or amplification since embedding) under which the chip means sit best on their
/// lattices (either bit), and how well they fit (mean cosine, 1 = perfectly).
fn best_gain(chips: &[ChipReading], layout: &Layout) -> (f32, f32) {
    let fit = |g: f32| -> f32 {
        let step = g * STEP;
        let total: f32 = chips
            .iter()
            .map(|c| c.weight * (4.0 * std::f32::consts::PI * (c.mean / step - layout.dither[c.chip])).cos())
            .sum();
        total / chips.iter().map(|c| c.weight).sum::<f32>().max(1e-6)
    };
    let mut best = (1.0, f32::NEG_INFINITY);
    let mut g = GAIN_RANGE.0;
    while g <= GAIN_RANGE.1 {
        let f = fit(g);
        if f > best.1 {
            best = (g, f);
        }
        g *= 1.004;
    }
    let g0 = best.0;
    for i in -8..=8 {
        let g = g0 * (1.0 + 0.0005 * i as f32);
        let f = fit(g);
        if f > best.1 {
            best = (g, f);
        }
    }
    best
}

/// A cheap lattice fit for ranking alignments: every 4th chip, gains on a 2 % grid.
fn quick_fit(chips: &[ChipReading], layout: &Layout) -> f32 {
    let sample: Vec<&ChipReading> = chips.iter().step_by(4).collect();
    let total_w: f32 = sample.iter().map(|c| c.weight).sum::<f32>().max(1e-6);
    let mut best = f32::NEG_INFINITY;
    let mut g = GAIN_RANGE.0;
    while g <= GAIN_RANGE.1 {
        let step = g * STEP;
        let f: f32 = sample
            .iter()
            .map(|c| c.weight * (4.0 * std::f32::consts::PI * (c.mean / step - layout.dither[c.chip])).cos())
            .sum();
        best = best.max(f / total_w);
        g *= 1.02;
    }
    best
}

/// Per coded bit, the sum over its chips of how close each sits to the "1" lattice (+1) versus the "0"
/// lattice (−1).
fn soft_bits(chips: &[ChipReading], layout: &Layout, gain: f32) -> Vec<f32> {
    let step = gain * STEP;
    let mut soft = vec![0.0f32; code::CODED_BITS];
    for c in chips {
        let s = -(2.0 * std::f32::consts::PI * (c.mean / step - layout.dither[c.chip])).cos();
        soft[usize::from(layout.bit_of_chip[c.chip])] += c.weight * s;
    }
    soft
}

/// The pilot's expected profile over one tile: the chip sequence, local mean removed as the detector does.
fn pilot_template(signs: &[f32]) -> Vec<f32> {
    let raw: Vec<f32> = (0..TILE).map(|x| signs[x / CHIP]).collect();
    let r = HP_RADIUS as isize;
    let n = (2 * HP_RADIUS + 1) as f32;
    (0..TILE as isize)
        .map(|x| {
            let mean: f32 = (-r..=r).map(|d| raw[(x + d).rem_euclid(TILE as isize) as usize]).sum::<f32>() / n;
            raw[x as usize] - mean
        })
        .collect()
}

/// Search scale (kept fraction) and offset along one axis: the strongest distinct peaks of the pilot
/// correlation over (scale, offset).
fn axis_candidates(profile: &[f32], signs: &[f32]) -> Vec<AxisSync> {
    let t = pilot_template(signs);
    let tnorm = t.iter().map(|v| v * v).sum::<f32>().sqrt();
    // All offsets' normalised correlations at one scale.
    let scores_at = |scale: f32| -> Vec<f32> {
        let mut f = [0.0f32; TILE];
        for (u, &p) in profile.iter().enumerate() {
            let x = scale * u as f32;
            let i0 = x.floor();
            let frac = x - i0;
            let i0 = (i0 as usize) % TILE;
            f[i0] += (1.0 - frac) * p;
            f[(i0 + 1) % TILE] += frac * p;
        }
        let mean = f.iter().sum::<f32>() / TILE as f32;
        let fnorm = f.iter().map(|v| (v - mean) * (v - mean)).sum::<f32>().sqrt().max(1e-9) * tnorm;
        (0..TILE).map(|phi| (0..TILE).map(|x| f[x] * t[(x + phi) % TILE]).sum::<f32>() / fnorm).collect()
    };
    let scales: Vec<f32> = (0..SCALE_STEPS).map(|i| SCALE_RANGE.0 + SCALE_STEP * i as f32).collect();
    let grid: Vec<Vec<f32>> = scales.iter().map(|&k| scores_at(k)).collect();
    // Local maxima over (scale, offset), offset circular.
    let mut peaks: Vec<(f32, usize, usize)> = Vec::new();
    for (i, row) in grid.iter().enumerate() {
        for (phi, &s) in row.iter().enumerate() {
            let mut is_peak = true;
            'n: for di in -2i64..=2 {
                let ii = i as i64 + di;
                if ii < 0 || ii >= grid.len() as i64 {
                    continue;
                }
                for dp in -2i64..=2 {
                    if di == 0 && dp == 0 {
                        continue;
                    }
                    let pp = (phi as i64 + dp).rem_euclid(TILE as i64) as usize;
                    if grid[ii as usize][pp] > s {
                        is_peak = false;
                        break 'n;
                    }
                }
            }
            if is_peak {
                peaks.push((s, i, phi));
            }
        }
    }
    peaks.sort_by(|a, b| b.0.total_cmp(&a.0));
    peaks
        .iter()
        .take(CANDIDATES_PER_AXIS)
        .map(|&(s0, i, phi0)| {
            // Refine the scale around the peak (the offset follows it).
            let mut best = AxisSync { scale: scales[i], offset: phi0 as f32, score: s0 };
            for j in -5..=5 {
                let k = scales[i] + SCALE_STEP / 10.0 * j as f32;
                let sc = scores_at(k);
                for d in -2i64..=2 {
                    let p = (phi0 as i64 + d).rem_euclid(TILE as i64) as usize;
                    if sc[p] > best.score {
                        best = AxisSync { scale: k, offset: p as f32, score: sc[p] };
                    }
                }
            }
            best
        })
        .collect()
}

#[cfg(test)]
mod tests;
