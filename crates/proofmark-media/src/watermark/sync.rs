//! Finding the frame again after crops and shifts: a key-derived 2-D pilot (one ±1 value per tile chip) is
//! correlated with the detector's whitened frame. A coarse search (frame box-averaged to one pixel per
//! chip, every pair of kept fractions on a grid, every offset at once by a 32×32 FFT correlation) proposes
//! alignments; a fine search (pixel resolution, direct correlation, coordinate ascent over both scales
//! and offsets) refines each.
use super::frame::Plane;
use super::key::TILE_CHIPS;
use super::{CHIP, N, TILE};

/// One axis of an alignment: original frame coordinate = `scale`·attacked frame coordinate + `offset`
/// (modulo the tile).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AxisSync {
    pub scale: f32,
    pub offset: f32,
}

/// An alignment and its pilot score (peak over the correlation's spread).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Alignment {
    pub x: AxisSync,
    pub y: AxisSync,
    pub score: f32,
}

const C: usize = TILE_CHIPS;
const COARSE: usize = N / CHIP;

#[derive(Clone, Copy, Debug, Default)]
pub(super) struct Cx(pub f32, pub f32);

impl Cx {
    pub(super) fn mul(self, o: Cx) -> Cx {
        Cx(self.0 * o.0 - self.1 * o.1, self.0 * o.1 + self.1 * o.0)
    }
    fn conj(self) -> Cx {
        Cx(self.0, -self.1)
    }
}

/// Twiddle factors e^(∓2πik/32), k < 16 (forward, inverse), and the bit-reversal permutation of 0..32.
struct FftTables {
    twiddles: [[Cx; C / 2]; 2],
    swaps: Vec<(usize, usize)>,
}

fn tables() -> &'static FftTables {
    static T: std::sync::OnceLock<FftTables> = std::sync::OnceLock::new();
    T.get_or_init(|| {
        let tw = |sign: f32| {
            std::array::from_fn(|k| {
                let a = sign * 2.0 * std::f32::consts::PI * k as f32 / C as f32;
                Cx(a.cos(), a.sin())
            })
        };
        let bits = C.trailing_zeros();
        let swaps = (0..C).map(|i| (i, i.reverse_bits() >> (usize::BITS - bits))).filter(|&(i, j)| i < j).collect();
        FftTables { twiddles: [tw(-1.0), tw(1.0)], swaps }
    })
}

/// Real and imaginary parts of a 32×32 grid, apart: the butterflies then run over whole rows of floats.
type Part = [[f32; C]; C];

/// Rows `i < j` of a part, both mutable.
fn rows(p: &mut Part, i: usize, j: usize) -> (&mut [f32; C], &mut [f32; C]) {
    let (lo, hi) = p.split_at_mut(j);
    (&mut lo[i], &mut hi[0])
}

/// In-place radix-2 FFT of length 32 along y of every column at once (`inverse` without the 1/n): rows are
/// the butterflies' units, so the loop over x vectorises.
fn fft_columns(re: &mut Part, im: &mut Part, inverse: bool) {
    let t = tables();
    for &(i, j) in &t.swaps {
        re.swap(i, j);
        im.swap(i, j);
    }
    let tw = &t.twiddles[usize::from(inverse)];
    let mut len = 2;
    while len <= C {
        let (half, stride) = (len / 2, C / len);
        for start in (0..C).step_by(len) {
            for k in 0..half {
                let w = tw[k * stride];
                let (ra, rb) = rows(re, start + k, start + k + half);
                let (ia, ib) = rows(im, start + k, start + k + half);
                for x in 0..C {
                    let tr = rb[x] * w.0 - ib[x] * w.1;
                    let ti = rb[x] * w.1 + ib[x] * w.0;
                    rb[x] = ra[x] - tr;
                    ib[x] = ia[x] - ti;
                    ra[x] += tr;
                    ia[x] += ti;
                }
            }
        }
        len <<= 1;
    }
}

/// In-place 32×32 FFT (`inverse` without the 1/n²): the columns, then (transposed) the rows.
pub(super) fn fft2(grid: &mut [[Cx; C]; C], inverse: bool) {
    let mut re: Part = std::array::from_fn(|y| std::array::from_fn(|x| grid[y][x].0));
    let mut im: Part = std::array::from_fn(|y| std::array::from_fn(|x| grid[y][x].1));
    fft_columns(&mut re, &mut im, inverse);
    let (mut tre, mut tim): (Part, Part) = (
        std::array::from_fn(|x| std::array::from_fn(|y| re[y][x])),
        std::array::from_fn(|x| std::array::from_fn(|y| im[y][x])),
    );
    fft_columns(&mut tre, &mut tim, inverse);
    for (y, row) in grid.iter_mut().enumerate() {
        for (x, v) in row.iter_mut().enumerate() {
            *v = Cx(tre[x][y], tim[x][y]);
        }
    }
}

/// The pilot as the detector sees it at chip resolution: chip signs, local (3×3 chip) mean removed.
fn chip_template(pilot: &[f32]) -> [[f32; C]; C] {
    let mut t = [[0.0f32; C]; C];
    for (y, row) in t.iter_mut().enumerate() {
        for (x, slot) in row.iter_mut().enumerate() {
            let mut mean = 0.0;
            for dy in [C - 1, 0, 1] {
                for dx in [C - 1, 0, 1] {
                    mean += pilot[((y + dy) % C) * C + (x + dx) % C];
                }
            }
            *slot = pilot[y * C + x] - mean / 9.0;
        }
    }
    t
}

/// The pilot at pixel resolution over one tile (row-major TILE×TILE), local mean removed as the
/// detector's high-pass does.
fn pixel_template(pilot: &[f32]) -> Vec<f32> {
    let raw: Vec<f32> = (0..TILE * TILE).map(|i| pilot[((i / TILE) / CHIP) * C + (i % TILE) / CHIP]).collect();
    let r = super::HP_RADIUS as isize;
    let n = ((2 * r + 1) * (2 * r + 1)) as f32;
    let t = TILE as isize;
    let mut out = vec![0.0f32; TILE * TILE];
    for y in 0..t {
        for x in 0..t {
            let mut mean = 0.0;
            for dy in -r..=r {
                for dx in -r..=r {
                    mean += raw[((y + dy).rem_euclid(t) * t + (x + dx).rem_euclid(t)) as usize];
                }
            }
            out[(y * t + x) as usize] = raw[(y * t + x) as usize] - mean / n;
        }
    }
    out
}

/// Candidate alignments, best first, from the whitened detector frame (N×N).
pub fn search(white: &Plane, pilot: &[f32], scales: (f32, f32), keep: usize) -> Vec<Alignment> {
    // Coarse frame: one pixel per chip.
    let mut coarse = vec![0.0f32; COARSE * COARSE];
    for v in 0..N {
        for u in 0..N {
            coarse[(v / CHIP) * COARSE + u / CHIP] += white.data[v * N + u];
        }
    }
    let tmpl = chip_template(pilot);
    let mut tf = [[Cx::default(); C]; C];
    for y in 0..C {
        for x in 0..C {
            tf[y][x] = Cx(tmpl[y][x], 0.0);
        }
    }
    fft2(&mut tf, false);
    let steps = ((scales.1 - scales.0) / COARSE_STEP).round() as usize + 1;
    let ks: Vec<f32> = (0..steps).map(|i| scales.0 + COARSE_STEP * i as f32).collect();
    // Per scale: the (fractional) chip bin of every coarse column / row.
    let bins = |k: f32| -> Vec<(usize, usize, f32)> {
        (0..COARSE)
            .map(|u| {
                let x = k * (u as f32 + 0.5) - 0.5;
                let i0 = x.floor();
                let frac = x - i0;
                let i0 = (i0 as i64).rem_euclid(C as i64) as usize;
                (i0, (i0 + 1) % C, frac)
            })
            .collect()
    };
    let all_bins: Vec<Vec<(usize, usize, f32)>> = ks.iter().map(|&k| bins(k)).collect();
    // Rows of scale pairs on up to four cores, found in order.
    let rows_of: Vec<usize> = (0..all_bins.len()).collect();
    let mut found: Vec<Alignment> = super::par_map(&rows_of, |&iy| {
        let by = &all_bins[iy];
        let mut found = Vec::with_capacity(all_bins.len());
        // Fold rows first (independent of kx): rows binned by ky into C rows of COARSE columns.
        let mut rows = vec![0.0f32; C * COARSE];
        for (v, &(b0, b1, f)) in by.iter().enumerate() {
            for u in 0..COARSE {
                let val = coarse[v * COARSE + u];
                rows[b0 * COARSE + u] += (1.0 - f) * val;
                rows[b1 * COARSE + u] += f * val;
            }
        }
        for (ix, bx) in all_bins.iter().enumerate() {
            let mut grid = [[Cx::default(); C]; C];
            for y in 0..C {
                for (u, &(b0, b1, f)) in bx.iter().enumerate() {
                    let val = rows[y * COARSE + u];
                    grid[y][b0].0 += (1.0 - f) * val;
                    grid[y][b1].0 += f * val;
                }
            }
            fft2(&mut grid, false);
            for y in 0..C {
                for x in 0..C {
                    grid[y][x] = grid[y][x].conj().mul(tf[y][x]);
                }
            }
            fft2(&mut grid, true);
            let (mut best, mut at) = (f32::NEG_INFINITY, (0, 0));
            let (mut sum, mut sq) = (0.0f64, 0.0f64);
            for (y, row) in grid.iter().enumerate() {
                for (x, c) in row.iter().enumerate() {
                    sum += f64::from(c.0);
                    sq += f64::from(c.0) * f64::from(c.0);
                    if c.0 > best {
                        best = c.0;
                        at = (x, y);
                    }
                }
            }
            let n = (C * C) as f64;
            let sd = ((sq / n - (sum / n).powi(2)).max(1e-12)).sqrt() as f32;
            let score = (best - (sum / n) as f32) / sd;
            found.push(Alignment {
                x: AxisSync { scale: ks[ix], offset: (at.0 * CHIP) as f32 },
                y: AxisSync { scale: ks[iy], offset: (at.1 * CHIP) as f32 },
                score,
            });
        }
        found
    })
    .into_iter()
    .flatten()
    .collect();
    found.sort_by(|a, b| b.score.total_cmp(&a.score));
    // Distinct peaks only.
    let mut kept: Vec<Alignment> = Vec::new();
    for a in found {
        let near = |p: &Alignment| {
            let d = |s: AxisSync, t: AxisSync| {
                let off = (s.offset - t.offset).rem_euclid(TILE as f32);
                (s.scale - t.scale).abs() < 2.5 * COARSE_STEP && off.min(TILE as f32 - off) <= 2.0 * CHIP as f32
            };
            d(a.x, p.x) && d(a.y, p.y)
        };
        if !kept.iter().any(near) {
            kept.push(a);
            if kept.len() == keep {
                break;
            }
        }
    }
    let fine = pixel_template(pilot);
    super::par_map(&kept, |&a| refine(white, &fine, a))
}

const COARSE_STEP: f32 = 0.008;

/// Pixel-resolution correlation of the whitened frame with the pilot under an alignment.
fn correlate(white: &Plane, fine: &[f32], x: AxisSync, y: AxisSync) -> f32 {
    let map = |s: AxisSync| -> Vec<usize> {
        (0..N).map(|u| ((s.scale * u as f32 + s.offset).floor() as i64).rem_euclid(TILE as i64) as usize).collect()
    };
    let (mx, my) = (map(x), map(y));
    let mut total = 0.0f32;
    for (v, &ty) in my.iter().enumerate() {
        let row = &white.data[v * N..(v + 1) * N];
        let trow = &fine[ty * TILE..(ty + 1) * TILE];
        total += row.iter().zip(&mx).map(|(w, &tx)| w * trow[tx]).sum::<f32>();
    }
    total
}

/// Diagnostics: the pixel-resolution pilot correlation at `a`, as a z-score against random alignments
/// (same scales, every offset on a 2-pixel grid).
#[doc(hidden)]
pub fn pilot_z(white: &Plane, pilot: &[f32], a: Alignment) -> f32 {
    let fine = pixel_template(pilot);
    let at = correlate(white, &fine, a.x, a.y);
    let (mut sum, mut sq, mut n) = (0.0f64, 0.0f64, 0.0f64);
    for oy in (0..TILE).step_by(2) {
        for ox in (0..TILE).step_by(2) {
            let x = AxisSync { offset: ox as f32, ..a.x };
            let y = AxisSync { offset: oy as f32, ..a.y };
            let c = f64::from(correlate(white, &fine, x, y));
            sum += c;
            sq += c * c;
            n += 1.0;
        }
    }
    let mean = sum / n;
    let sd = (sq / n - mean * mean).max(1e-12).sqrt();
    ((f64::from(at) - mean) / sd) as f32
}

/// Coordinate ascent on scales and offsets around a coarse alignment.
fn refine(white: &Plane, fine: &[f32], a: Alignment) -> Alignment {
    let (mut x, mut y) = (a.x, a.y);
    let mut best = correlate(white, fine, x, y);
    for (scale_step, offset_step) in [(0.002f32, 1.0f32), (0.001, 0.5), (0.0005, 0.25)] {
        for _ in 0..2 {
            for axis in 0..2 {
                for param in 0..2 {
                    let range: i32 = if param == 0 { 3 } else { 4 };
                    let base = if axis == 0 { x } else { y };
                    let mut local = (best, base);
                    for j in -range..=range {
                        let mut c = base;
                        if param == 0 {
                            c.scale += scale_step * j as f32;
                        } else {
                            c.offset += offset_step * j as f32;
                        }
                        let s = if axis == 0 { correlate(white, fine, c, y) } else { correlate(white, fine, x, c) };
                        if s > local.0 {
                            local = (s, c);
                        }
                    }
                    best = local.0;
                    if axis == 0 {
                        x = local.1;
                    } else {
                        y = local.1;
                    }
                }
            }
        }
    }
    Alignment { x, y, score: a.score }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fft2_is_the_dft_and_round_trips() {
        let grid: [[Cx; C]; C] = std::array::from_fn(|y| {
            std::array::from_fn(|x| Cx((x as f32 * 0.7 + y as f32).sin(), (x * y) as f32 % 3.0))
        });
        let mut f = grid;
        fft2(&mut f, false);
        for (ky, kx) in [(0, 0), (1, 5), (17, 30), (31, 31)] {
            let (mut re, mut im) = (0.0f64, 0.0f64);
            for (y, row) in grid.iter().enumerate() {
                for (x, v) in row.iter().enumerate() {
                    let a = -2.0 * std::f64::consts::PI * ((kx * x + ky * y) as f64) / C as f64;
                    re += f64::from(v.0) * a.cos() - f64::from(v.1) * a.sin();
                    im += f64::from(v.0) * a.sin() + f64::from(v.1) * a.cos();
                }
            }
            let got = f[ky][kx];
            assert!((f64::from(got.0) - re).abs() < 1e-2 && (f64::from(got.1) - im).abs() < 1e-2, "{ky},{kx}");
        }
        fft2(&mut f, true);
        for (a, b) in f.iter().flatten().zip(grid.iter().flatten()) {
            let n = (C * C) as f32;
            assert!((a.0 / n - b.0).abs() < 1e-4 && (a.1 / n - b.1).abs() < 1e-4);
        }
    }
}

#[cfg(test)]
mod search_tests {
    use super::*;

    #[test]
    fn finds_a_clean_pilot() {
        let mut x = 0x9E37_79B9_7F4A_7C15u64;
        let pilot: Vec<f32> = (0..C * C)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                if x >> 63 == 1 {
                    1.0
                } else {
                    -1.0
                }
            })
            .collect();
        let fine = pixel_template(&pilot);
        // The frame of an image cropped 10 % from the left: original x = 0.9·u + 25.6.
        let mut white = Plane::new(N, N);
        for v in 0..N {
            for u in 0..N {
                let x = (0.9 * u as f32 + 25.6).floor() as usize % TILE;
                white.data[v * N + u] = fine[(v % TILE) * TILE + x];
            }
        }
        let found = search(&white, &pilot, (0.78, 1.02), 3);
        let a = found[0];
        assert!((a.x.scale - 0.9).abs() < 0.005 && (a.x.offset - 25.6).abs() < 1.0, "{a:?}");
        assert!((a.y.scale - 1.0).abs() < 0.005 && a.y.offset.abs() < 1.0, "{a:?}");
    }
}
