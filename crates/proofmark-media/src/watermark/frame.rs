//! Float planes and the resampling between an image's luma and the watermark's canonical frame.
//! Separable triangle (bilinear) filtering, widened by the scale factor when shrinking (area-like
//! anti-aliasing), with weights precomputed per output index.
use crate::image::Image;

/// A row-major f32 plane.
#[derive(Clone, PartialEq)]
pub struct Plane {
    pub width: usize,
    pub height: usize,
    pub data: Vec<f32>,
}

impl std::fmt::Debug for Plane {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Plane({}x{})", self.width, self.height)
    }
}

impl Plane {
    pub fn new(width: usize, height: usize) -> Plane {
        Plane { width, height, data: vec![0.0; width * height] }
    }
}

/// Per output index: first input index and weights (summing to 1).
struct Taps {
    start: Vec<usize>,
    len: Vec<usize>,
    weights: Vec<f32>,
    stride: usize,
}

fn taps(in_size: usize, out_size: usize) -> Taps {
    taps_affine(in_size, out_size, in_size as f64 / out_size as f64, 0.0)
}

/// Output `o` is centred on input coordinate `(o + 0.5)·scale + offset` (edges replicated beyond the input).
fn taps_affine(in_size: usize, out_size: usize, scale: f64, offset: f64) -> Taps {
    let support = scale.max(1.0);
    let stride = (support.ceil() as usize) * 2 + 2;
    let mut t =
        Taps { start: Vec::with_capacity(out_size), len: Vec::new(), weights: vec![0.0; out_size * stride], stride };
    for o in 0..out_size {
        let center = ((o as f64 + 0.5) * scale + offset).clamp(0.0, in_size as f64);
        let lo = ((center - support).floor().max(0.0)) as usize;
        let hi = (((center + support).ceil()).max(0.0) as usize).min(in_size).max(lo + 1);
        let mut ws = Vec::with_capacity(hi - lo);
        for i in lo..hi {
            let d = ((i as f64 + 0.5 - center) / support).abs();
            ws.push((1.0 - d).max(0.0));
        }
        // Trim zero weights at the ends, normalise.
        let first = ws.iter().position(|&w| w > 0.0).unwrap_or(0);
        let last = ws.iter().rposition(|&w| w > 0.0).map_or(first + 1, |p| p + 1);
        let sum: f64 = ws[first..last].iter().sum();
        let n = (last - first).min(stride);
        for (k, w) in ws[first..first + n].iter().enumerate() {
            t.weights[o * stride + k] = if sum > 0.0 { (w / sum) as f32 } else { 0.0 };
        }
        if sum <= 0.0 {
            // Degenerate (cannot happen for in_size ≥ 1); fall back to nearest.
            t.weights[o * stride] = 1.0;
        }
        t.start.push((lo + first).min(in_size - 1));
        t.len.push(n.max(1));
    }
    t
}

/// The linear operator "resample a length-`n` signal to `size`, then back to `n`", as a banded matrix:
/// for every output index, its (input index, weight) pairs. Exactly what `resize` there and back does.
pub fn round_trip(n: usize, size: usize) -> Vec<Vec<(usize, f32)>> {
    let up = taps(n, size);
    let down = taps(size, n);
    (0..n)
        .map(|o| {
            let mut acc: Vec<(usize, f32)> = Vec::new();
            let (s, len) = (down.start[o], down.len[o]);
            for (k, &wd) in down.weights[o * down.stride..o * down.stride + len].iter().enumerate() {
                let p = s + k;
                let (su, lu) = (up.start[p], up.len[p]);
                for (j, &wu) in up.weights[p * up.stride..p * up.stride + lu].iter().enumerate() {
                    let i = su + j;
                    match acc.iter_mut().find(|e| e.0 == i) {
                        Some(e) => e.1 += wd * wu,
                        None => acc.push((i, wd * wu)),
                    }
                }
            }
            acc.retain(|e| e.1.abs() > 1e-6);
            acc
        })
        .collect()
}

/// Resample a plane to `out_w`×`out_h`.
pub fn resize(src: &Plane, out_w: usize, out_h: usize) -> Plane {
    resample(src, out_w, out_h, taps(src.width, out_w), taps(src.height, out_h))
}

/// Resample with an affine map per axis: output pixel `o` is centred on input `(o + 0.5)·scale + offset`.
pub fn resize_affine(src: &Plane, out_w: usize, out_h: usize, x: (f64, f64), y: (f64, f64)) -> Plane {
    resample_y(&resample_x(src, out_w, x), out_h, y)
}

fn resample(src: &Plane, out_w: usize, out_h: usize, tx: Taps, ty: Taps) -> Plane {
    pass_y(&pass_x(src, out_w, &tx), out_h, &ty)
}

/// The horizontal half of [`resize_affine`]: every row resampled to `out_w` columns (height kept). Alignments
/// that share their x axis share this pass.
pub fn resample_x(src: &Plane, out_w: usize, x: (f64, f64)) -> Plane {
    pass_x(src, out_w, &taps_affine(src.width, out_w, x.0, x.1))
}

/// The vertical half of [`resize_affine`]: every column resampled to `out_h` rows (width kept).
pub fn resample_y(src: &Plane, out_h: usize, y: (f64, f64)) -> Plane {
    pass_y(src, out_h, &taps_affine(src.height, out_h, y.0, y.1))
}

/// Rows resampled together by [`pass_x`]: each output's sum runs over its taps in order, as for one row, but
/// four sums advance at once instead of each addition waiting for the last.
const ROWS: usize = 4;

fn pass_x(src: &Plane, out_w: usize, tx: &Taps) -> Plane {
    let w = src.width;
    let mut mid = Plane::new(out_w, src.height);
    for (block, out) in src.data.chunks(ROWS * w).zip(mid.data.chunks_mut(ROWS * out_w)) {
        pass_x_block(block, w, out, out_w, tx);
    }
    mid
}

/// [`pass_x`] of up to [`ROWS`] rows of width `w` (`block`) into `out`.
fn pass_x_block(block: &[f32], w: usize, out: &mut [f32], out_w: usize, tx: &Taps) {
    if block.len() == ROWS * w {
        for o in 0..out_w {
            let s = tx.start[o];
            let mut acc = [0.0f32; ROWS];
            for (k, &wk) in tx.weights[o * tx.stride..o * tx.stride + tx.len[o]].iter().enumerate() {
                for (r, a) in acc.iter_mut().enumerate() {
                    *a += block[r * w + s + k] * wk;
                }
            }
            for (r, a) in acc.into_iter().enumerate() {
                out[r * out_w + o] = a;
            }
        }
    } else {
        for (row, out) in block.chunks_exact(w).zip(out.chunks_exact_mut(out_w)) {
            for (o, slot) in out.iter_mut().enumerate() {
                let s = tx.start[o];
                let taps = &tx.weights[o * tx.stride..o * tx.stride + tx.len[o]];
                *slot = row[s..s + taps.len()].iter().zip(taps).fold(0.0, |acc, (a, b)| acc + a * b);
            }
        }
    }
}

/// The image's luma ([`Image::luma_f32`]) resized to each of `sizes`, exactly as [`resize`] of the luma plane
/// would, without making that plane: rows are converted [`ROWS`] at a time, each block shrunk horizontally
/// to every size at once, on up to four cores. A 12-MP photo's luma would be 48 MB of floats.
pub fn luma_resized(image: &Image, sizes: &[(usize, usize)]) -> Vec<Plane> {
    let (w, h) = (image.width, image.height);
    let txs: Vec<Taps> = sizes.iter().map(|&(ow, _)| taps(w, ow)).collect();
    let mut mids: Vec<Plane> = sizes.iter().map(|&(ow, _)| Plane::new(ow, h)).collect();
    let threads = super::cores();
    let per = h.div_ceil(threads).div_ceil(ROWS).max(1) * ROWS;
    let mut parts: Vec<Vec<&mut [f32]>> = Vec::new();
    for m in &mut mids {
        for (i, c) in m.data.chunks_mut(per * m.width.max(1)).enumerate() {
            if parts.len() <= i {
                parts.push(Vec::new());
            }
            parts[i].push(c);
        }
    }
    let txs = &txs;
    std::thread::scope(|s| {
        for (i, mut outs) in parts.into_iter().enumerate() {
            s.spawn(move || {
                let (y0, rows) = (i * per, per.min(h - i * per));
                let mut buf = vec![0.0f32; ROWS * w];
                for b in (0..rows).step_by(ROWS) {
                    let n = ROWS.min(rows - b);
                    for (r, row) in buf.chunks_exact_mut(w).take(n).enumerate() {
                        image.luma_row(y0 + b + r, row);
                    }
                    for (out, tx) in outs.iter_mut().zip(txs) {
                        let ow = out.len() / rows;
                        pass_x_block(&buf[..n * w], w, &mut out[b * ow..(b + n) * ow], ow, tx);
                    }
                }
            });
        }
    });
    // The vertical passes, each output's rows split between the cores.
    let mut outs: Vec<Plane> = sizes.iter().map(|&(ow, oh)| Plane::new(ow, oh)).collect();
    let tys: Vec<Taps> = sizes.iter().map(|&(_, oh)| taps(h, oh)).collect();
    std::thread::scope(|s| {
        for ((m, out), ty) in mids.iter().zip(&mut outs).zip(&tys) {
            let per = out.height.div_ceil(threads).max(1);
            for (i, part) in out.data.chunks_mut(per * m.width.max(1)).enumerate() {
                s.spawn(move || pass_y_rows(m, ty, i * per, part));
            }
        }
    });
    outs
}

fn pass_y(src: &Plane, out_h: usize, ty: &Taps) -> Plane {
    let mut dst = Plane::new(src.width, out_h);
    pass_y_rows(src, ty, 0, &mut dst.data);
    dst
}

/// Rows `first`, `first` + 1, … of [`pass_y`]'s output, as many as `out` holds.
fn pass_y_rows(src: &Plane, ty: &Taps, first: usize, out: &mut [f32]) {
    let w = src.width;
    for (o, out) in out.chunks_exact_mut(w.max(1)).enumerate() {
        let o = first + o;
        let s = ty.start[o];
        for (k, &wk) in ty.weights[o * ty.stride..o * ty.stride + ty.len[o]].iter().enumerate() {
            for (d, &v) in out.iter_mut().zip(&src.data[(s + k) * w..(s + k + 1) * w]) {
                *d += wk * v;
            }
        }
    }
}

/// `src - box_blur(src)` with a (2r+1)² box, edges replicated: the local-mean-removed plane the detector
/// correlates against (host luma is mostly low-frequency; this keeps the chip band). Running sums, the
/// vertical one over whole rows at a time.
pub fn highpass(src: &Plane, r: usize) -> Plane {
    let (w, h) = (src.width, src.height);
    let n = (2 * r + 1) as f32;
    let clampi = |i: isize, len: usize| i.clamp(0, len as isize - 1) as usize;
    let mut tmp = vec![0.0f32; w * h];
    // The row with its edges replicated r + 1 pixels out: the running sum then needs no clamping.
    let mut padded = vec![0.0f32; w + 2 * r + 2];
    for (row, out) in src.data.chunks_exact(w).zip(tmp.chunks_exact_mut(w)) {
        padded[..=r].fill(row[0]);
        padded[r + 1..r + 1 + w].copy_from_slice(row);
        padded[r + 1 + w..].fill(row[w - 1]);
        // padded[i] is row[clamp(i − r − 1)].
        let mut acc: f32 = padded[1..2 * r + 2].iter().sum();
        for (x, slot) in out.iter_mut().enumerate() {
            *slot = acc / n;
            acc += padded[x + 2 * r + 2] - padded[x + 1];
        }
    }
    let trow = |i: isize| &tmp[clampi(i, h) * w..(clampi(i, h) + 1) * w];
    let mut acc = vec![0.0f32; w];
    for d in -(r as isize)..=r as isize {
        for (a, &v) in acc.iter_mut().zip(trow(d)) {
            *a += v;
        }
    }
    let mut out = Plane::new(w, h);
    for y in 0..h {
        let (add, sub) = (trow(y as isize + r as isize + 1), trow(y as isize - r as isize));
        let (s, o) = (&src.data[y * w..(y + 1) * w], &mut out.data[y * w..(y + 1) * w]);
        for x in 0..w {
            o[x] = s[x] - acc[x] / n;
            acc[x] += add[x] - sub[x];
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resize_keeps_constants_and_means() {
        let p = Plane { width: 37, height: 23, data: vec![7.5; 37 * 23] };
        for (w, h) in [(256, 256), (10, 5), (37, 23), (100, 11)] {
            let r = resize(&p, w, h);
            assert!(r.data.iter().all(|&v| (v - 7.5).abs() < 1e-4), "{w}x{h}");
        }
        let ramp = Plane { width: 64, height: 1, data: (0..64).map(|i| i as f32).collect() };
        let half = resize(&ramp, 32, 1);
        let mean: f32 = half.data.iter().sum::<f32>() / 32.0;
        assert!((mean - 31.5).abs() < 0.3, "{mean}");
    }

    #[test]
    fn round_trip_matches_resizing_there_and_back() {
        for size in [100usize, 256, 700, 4000] {
            let m = round_trip(32, size);
            for i in [0usize, 5, 31] {
                let mut impulse = Plane::new(32, 1);
                impulse.data[i] = 1.0;
                let back = resize(&resize(&impulse, size, 1), 32, 1);
                for (o, &want) in back.data.iter().enumerate() {
                    let got: f32 = m[o].iter().filter(|e| e.0 == i).map(|e| e.1).sum();
                    assert!((got - want).abs() < 1e-4, "size {size} in {i} out {o}: {got} vs {want}");
                }
            }
        }
    }

    #[test]
    fn luma_resized_is_resize_of_the_luma_plane_bit_for_bit() {
        for (w, h, c) in [(37usize, 23usize, 3usize), (300, 7, 4), (5, 41, 1), (64, 64, 2), (1, 1, 3)] {
            let pixels = (0..w * h * c).map(|i| (i * 7919 % 251) as u8).collect();
            let img = Image { width: w, height: h, channels: c, pixels };
            let luma = Plane { width: w, height: h, data: img.luma_f32() };
            let sizes = [(16, 16), (w.min(20), h.min(20)), (w, h)];
            for (got, &(ow, oh)) in luma_resized(&img, &sizes).iter().zip(&sizes) {
                assert!(got == &resize(&luma, ow, oh), "{w}x{h}x{c} to {ow}x{oh}");
            }
        }
    }

    #[test]
    fn highpass_removes_constants() {
        let p = Plane { width: 20, height: 9, data: vec![100.0; 180] };
        assert!(highpass(&p, 4).data.iter().all(|v| v.abs() < 1e-3));
    }
}
