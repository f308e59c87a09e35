//! Finding a translation (content moved inside the same canvas, scale unchanged) on the payload's own
//! lattice. The chip means only sit on their key-dithered lattices when the chip grid is placed to within
//! about a quarter of a frame pixel, but there the fit is far stronger evidence than the pilot, whose
//! correlation drowns in busy texture. So the search is exhaustive: for every sub-chip phase (steps of one
//! image pixel, at most a third of a frame pixel) and every other gain on a grid (then the two beside the
//! best), the chip means become unit phasors `exp(i·4π·mean/(gain·step))`, are folded onto the 32×32 tile,
//! and are correlated with the key's dither phasors at every whole-chip offset at once by a 32×32 FFT.
use super::frame::{highpass, resample_x, resample_y, Plane};
use super::key::{Layout, TILE_CHIPS};
use super::sync::{fft2, Alignment, AxisSync, Cx};
use super::{par_map, CHIP, GAIN_RANGE, HP_RADIUS, N, ROUNDER, STEP, TILE};

const C: usize = TILE_CHIPS;
/// Gain grid ratio.
const GAIN_RATIO: f32 = 1.02;
/// Entries of the phasor table (one turn).
const TABLE: usize = 1024;

/// The best translations of the luma `src` (its frame is N×N) whose original size was `size` (pixels),
/// best first, each scored by its fit (mean cosine of the chips on their lattices).
pub(super) fn shifts(src: &Plane, size: (usize, usize), layout: &Layout, keep: usize) -> Vec<Alignment> {
    let mut tf = [[Cx::default(); C]; C];
    for (y, row) in tf.iter_mut().enumerate() {
        for (x, v) in row.iter_mut().enumerate() {
            let ph = 4.0 * std::f32::consts::PI * layout.dither[y * C + x];
            *v = Cx(ph.cos(), -ph.sin());
        }
    }
    fft2(&mut tf, false);
    let table: Vec<Cx> = (0..TABLE)
        .map(|i| {
            let a = 2.0 * std::f32::consts::PI * i as f32 / TABLE as f32;
            Cx(a.cos(), a.sin())
        })
        .collect();
    let mut gains = Vec::new();
    let mut g = GAIN_RANGE.0;
    while g <= GAIN_RANGE.1 {
        gains.push(g);
        g *= GAIN_RATIO;
    }
    // Sub-chip phases: one image pixel, or a third of a frame pixel on large images (a sixth off at worst:
    // 150 shifts placed there on ten noisy 12-MP photos, with and without JPEG 60 and brightness, were all
    // found at the first proposal, as on a quarter-pixel grid).
    let phases = |len: usize| -> Vec<f32> {
        let step = (N as f32 / len as f32).max(1.0 / 3.0);
        let n = (CHIP as f32 / step).round().max(1.0) as usize;
        (0..n).map(|i| i as f32 * CHIP as f32 / n as f32).collect()
    };
    let (px, py) = (phases(size.0), phases(size.1));
    // Phases with the same x share the horizontal resampling pass.
    let mut found: Vec<Alignment> = par_map(&px, |&fx| {
        let cols = resample_x(src, N, (src.width as f64 / N as f64, -f64::from(fx) * src.width as f64 / N as f64));
        py.iter()
            .map(|&fy| {
                let my = (src.height as f64 / N as f64, -f64::from(fy) * src.height as f64 / N as f64);
                best_at(&resample_y(&cols, N, my), fx, fy, &tf, &table, &gains)
            })
            .collect::<Vec<_>>()
    })
    .into_iter()
    .flatten()
    .collect();
    found.sort_by(|a, b| b.score.total_cmp(&a.score));
    found.truncate(keep);
    found
}

/// The best whole-chip offset and gain at one sub-chip phase (`fx`, `fy`, frame pixels), given the luma
/// resampled at that phase: R(j) is attacked frame u = j + 0.5 − φ, i.e. original frame pixel j + 4σ when the
/// offset is φ + 4σ.
fn best_at(resampled: &Plane, fx: f32, fy: f32, tf: &[[Cx; C]; C], table: &[Cx], gains: &[f32]) -> Alignment {
    let z = highpass(resampled, HP_RADIUS);
    let chips = N / CHIP;
    let mut means: Vec<(usize, f32)> = Vec::with_capacity(chips * chips);
    // Skip the chips whose high-pass window reaches past the frame (edges replicated there).
    for ky in 1..chips - 1 {
        for kx in 1..chips - 1 {
            let mut sum = 0.0;
            for v in ky * CHIP..(ky + 1) * CHIP {
                sum += z.data[v * N + kx * CHIP..v * N + (kx + 1) * CHIP].iter().sum::<f32>();
            }
            means.push(((ky % C) * C + kx % C, sum / (CHIP * CHIP) as f32));
        }
    }
    let count = means.len() as f32;
    // The best whole-chip offset at one gain, and its correlation.
    let at = |g: f32| -> (f32, (usize, usize)) {
        // Phasor index of 4π·m/(g·STEP): 2·m/(g·STEP) turns.
        let k = 2.0 * TABLE as f32 / (g * STEP);
        let mut grid = [[Cx::default(); C]; C];
        for &(c, m) in &means {
            let p = table[(m * k + ROUNDER).to_bits() as usize & (TABLE - 1)];
            let cell = &mut grid[c / C][c % C];
            cell.0 += p.0;
            cell.1 += p.1;
        }
        fft2(&mut grid, true);
        for (row, trow) in grid.iter_mut().zip(tf) {
            for (v, t) in row.iter_mut().zip(trow) {
                *v = v.mul(*t);
            }
        }
        fft2(&mut grid, true);
        let mut best = (f32::NEG_INFINITY, (0usize, 0usize));
        for (sy, row) in grid.iter().enumerate() {
            for (sx, v) in row.iter().enumerate() {
                if v.0 > best.0 {
                    best = (v.0, (sx, sy));
                }
            }
        }
        best
    };
    // Every other gain of the grid, then the two beside the best: near the true alignment the fit falls off
    // over several steps of the grid, so the best of the coarse gains lies next to the true one.
    let mut best = (f32::NEG_INFINITY, (0usize, 0usize));
    let mut best_gain = 0;
    for i in (0..gains.len()).step_by(2) {
        let r = at(gains[i]);
        if r.0 > best.0 {
            (best, best_gain) = (r, i);
        }
    }
    for i in [best_gain.wrapping_sub(1), best_gain + 1] {
        if let Some(&g) = gains.get(i) {
            let r = at(g);
            if r.0 > best.0 {
                best = r;
            }
        }
    }
    let fit = best.0 / (C * C) as f32 / count;
    let (sx, sy) = best.1;
    Alignment {
        x: AxisSync { scale: 1.0, offset: (fx + (CHIP * sx) as f32).rem_euclid(TILE as f32) },
        y: AxisSync { scale: 1.0, offset: (fy + (CHIP * sy) as f32).rem_euclid(TILE as f32) },
        score: fit,
    }
}
