//! Pillow's fixed-point Lanczos resampling of 8-bit single-band images (`libImaging/Resample.c`), reproduced
//! bit for bit: coefficients computed in f64 and normalised, quantised to 22 fractional bits, horizontal pass
//! first over only the rows the vertical pass reads, intermediate rounded to u8.
use crate::decode::LumaImage;

const PRECISION_BITS: u32 = 32 - 8 - 2;
const LANCZOS_SUPPORT: f64 = 3.0;

fn sinc(x: f64) -> f64 {
    if x == 0.0 {
        return 1.0;
    }
    let x = x * std::f64::consts::PI;
    x.sin() / x
}

fn lanczos(x: f64) -> f64 {
    if (-LANCZOS_SUPPORT..LANCZOS_SUPPORT).contains(&x) {
        sinc(x) * sinc(x / 3.0)
    } else {
        0.0
    }
}

/// Per output pixel: the first input index, the tap count and the quantised weights.
struct Coeffs {
    ksize: usize,
    bounds: Vec<(usize, usize)>,
    weights: Vec<i32>,
}

/// [`precompute`] through a small process-wide cache: the weights depend only on the two sizes, and hashing
/// many images of one size would otherwise spend ~0.15 ms each on `sin` (a 512→32 pass has 3,000 taps).
/// Sides over [`CACHED_SIDE`] are computed afresh each time, so the cache holds at most ~6 MB (a pass's
/// weights number about 6·input + 7·output).
fn cached(in_size: usize, out_size: usize) -> std::sync::Arc<Weights> {
    use std::sync::{Arc, Mutex, OnceLock};
    const ENTRIES: usize = 16;
    if in_size > CACHED_SIDE || out_size > CACHED_SIDE {
        let coeffs = precompute(in_size, out_size);
        return Arc::new(Weights { split: SplitCoeffs::new(&coeffs), coeffs });
    }
    type Entries = Vec<((usize, usize), Arc<Weights>)>;
    static CACHE: OnceLock<Mutex<Entries>> = OnceLock::new();
    let cache = CACHE.get_or_init(|| Mutex::new(Vec::new()));
    let key = (in_size, out_size);
    if let Some(hit) = cache.lock().unwrap_or_else(|e| e.into_inner()).iter().find(|e| e.0 == key) {
        return Arc::clone(&hit.1);
    }
    let coeffs = precompute(in_size, out_size);
    let made = Arc::new(Weights { split: SplitCoeffs::new(&coeffs), coeffs });
    let mut guard = cache.lock().unwrap_or_else(|e| e.into_inner());
    if guard.len() >= ENTRIES {
        guard.remove(0);
    }
    guard.push((key, Arc::clone(&made)));
    made
}

/// Largest input side whose weights are cached (a 8192→32 pass keeps ~0.4 MB of weights in both forms).
const CACHED_SIDE: usize = 8192;

/// One axis's weights in both forms: whole (vertical pass) and split (horizontal pass).
struct Weights {
    coeffs: Coeffs,
    split: SplitCoeffs,
}

fn precompute(in_size: usize, out_size: usize) -> Coeffs {
    let (in0, in1) = (0.0f32, in_size as f32);
    let scale = f64::from(in1 - in0) / out_size as f64;
    let filterscale = scale.max(1.0);
    let support = LANCZOS_SUPPORT * filterscale;
    let ksize = support.ceil() as usize * 2 + 1;
    let mut bounds = Vec::with_capacity(out_size);
    let mut weights = vec![0i32; out_size * ksize];
    let mut k = vec![0f64; ksize];
    for xx in 0..out_size {
        let center = f64::from(in0) + (xx as f64 + 0.5) * scale;
        let ss = 1.0 / filterscale;
        // C's (int) truncates toward zero.
        let xmin = ((center - support + 0.5) as i64).max(0);
        let xmax = ((center + support + 0.5) as i64).min(in_size as i64) - xmin;
        let (xmin, xmax) = (xmin as usize, xmax.max(0) as usize);
        let mut ww = 0.0;
        for (x, slot) in k.iter_mut().enumerate().take(xmax) {
            let w = lanczos((x as f64 + xmin as f64 - center + 0.5) * ss);
            *slot = w;
            ww += w;
        }
        for (x, w) in k.iter().enumerate().take(xmax) {
            let v = if ww != 0.0 { w / ww } else { *w };
            let scaled = v * f64::from(1u32 << PRECISION_BITS);
            weights[xx * ksize + x] = if v < 0.0 { (-0.5 + scaled) as i32 } else { (0.5 + scaled) as i32 };
        }
        bounds.push((xmin, xmax));
    }
    Coeffs { ksize, bounds, weights }
}

fn clip8(v: i32) -> u8 {
    if v >= (1 << PRECISION_BITS << 8) {
        255
    } else if v <= 0 {
        0
    } else {
        (v >> PRECISION_BITS) as u8
    }
}

/// One pass's weights split for 16-bit multiplies: w = hi·2¹¹ + lo with 0 ≤ lo < 2¹¹, so
/// Σ p·w = 2¹¹·Σ p·hi + Σ p·lo exactly (in wrapping 32-bit arithmetic, as Pillow's `int` sums), and both
/// sums are products of 16-bit values, which vector units multiply and add pairwise in one instruction.
struct SplitCoeffs {
    ksize: usize,
    bounds: Vec<(usize, usize)>,
    hi: Vec<i16>,
    lo: Vec<i16>,
}

impl SplitCoeffs {
    fn new(c: &Coeffs) -> SplitCoeffs {
        SplitCoeffs {
            ksize: c.ksize,
            bounds: c.bounds.clone(),
            hi: c.weights.iter().map(|&w| (w >> 11) as i16).collect(),
            lo: c.weights.iter().map(|&w| (w & 0x7ff) as i16).collect(),
        }
    }

    /// Output pixel `o` of a row whose pixels are `px` (as 16-bit values).
    #[inline]
    fn apply(&self, o: usize, px: &[i16]) -> u8 {
        let (xmin, xmax) = self.bounds[o];
        let at = o * self.ksize;
        let (hi, lo) = (&self.hi[at..at + xmax], &self.lo[at..at + xmax]);
        let (mut a, mut b) = (0i32, 0i32);
        for ((&p, &h), &l) in px[xmin..xmin + xmax].iter().zip(hi).zip(lo) {
            a = a.wrapping_add(i32::from(p) * i32::from(h));
            b = b.wrapping_add(i32::from(p) * i32::from(l));
        }
        clip8((1i32 << (PRECISION_BITS - 1)).wrapping_add(a.wrapping_shl(11)).wrapping_add(b))
    }
}

/// `Image.resize((width, height), Image.Resampling.LANCZOS)` on an "L" image fed a row at a time: the
/// horizontal pass runs on each row as it arrives (only on the rows the vertical pass reads), so a large
/// image is reduced without ever being held whole.
pub(crate) struct LanczosRows {
    in_size: (usize, usize),
    out_size: (usize, usize),
    horiz: Option<std::sync::Arc<Weights>>,
    vert: std::sync::Arc<Weights>,
    /// Input rows [first, last) are read by the vertical pass.
    first: usize,
    last: usize,
    next: usize,
    widened: Vec<i16>,
    rows: Vec<u8>,
}

impl LanczosRows {
    pub(crate) fn new(in_width: usize, in_height: usize, width: usize, height: usize) -> LanczosRows {
        let horiz = (width != in_width).then(|| cached(in_width, width));
        let vert = cached(in_height, height);
        let (first, last) = if height != in_height {
            let b = &vert.coeffs.bounds;
            (b[0].0, b[height - 1].0 + b[height - 1].1)
        } else {
            (0, in_height)
        };
        LanczosRows {
            in_size: (in_width, in_height),
            out_size: (width, height),
            horiz,
            vert,
            first,
            last,
            next: 0,
            widened: vec![0; in_width],
            rows: Vec::with_capacity(width * (last - first)),
        }
    }

    /// Feed whole input rows, top to bottom (any number at a time).
    pub(crate) fn push_rows(&mut self, rows: &[u8]) {
        let (in_w, _) = self.in_size;
        for row in rows.chunks_exact(in_w) {
            let y = self.next;
            self.next += 1;
            if y < self.first || y >= self.last {
                continue;
            }
            match &self.horiz {
                None => self.rows.extend_from_slice(row),
                Some(h) => {
                    for (d, &p) in self.widened.iter_mut().zip(row) {
                        *d = i16::from(p);
                    }
                    for o in 0..self.out_size.0 {
                        self.rows.push(h.split.apply(o, &self.widened));
                    }
                }
            }
        }
    }

    /// The resized image, once every input row has been fed.
    pub(crate) fn finish(self) -> LumaImage {
        let (width, height) = self.out_size;
        debug_assert_eq!(self.next, self.in_size.1);
        if height == self.in_size.1 {
            return LumaImage { width, height, pixels: self.rows };
        }
        let vert = &self.vert.coeffs;
        let mut out = vec![0u8; width * height];
        // Tap by tap across the whole row (the sums are the same wrapping i32 sums, in the same order per
        // output pixel), so the inner loop runs over contiguous memory.
        let mut acc = vec![0i32; width];
        for (yy, &(ymin, ymax)) in vert.bounds.iter().enumerate() {
            let ymin = ymin - self.first;
            let k = &vert.weights[yy * vert.ksize..yy * vert.ksize + ymax];
            acc.fill(1 << (PRECISION_BITS - 1));
            for (y, &w) in k.iter().enumerate() {
                let row = &self.rows[(ymin + y) * width..(ymin + y + 1) * width];
                for (a, &p) in acc.iter_mut().zip(row) {
                    *a = a.wrapping_add(i32::from(p).wrapping_mul(w));
                }
            }
            for (o, &a) in out[yy * width..(yy + 1) * width].iter_mut().zip(&acc) {
                *o = clip8(a);
            }
        }
        LumaImage { width, height, pixels: out }
    }
}

/// `Image.resize((width, height), Image.Resampling.LANCZOS)` on an "L" image.
pub fn lanczos_resize(img: &LumaImage, width: usize, height: usize) -> LumaImage {
    let mut r = LanczosRows::new(img.width, img.height, width, height);
    r.push_rows(&img.pixels);
    r.finish()
}
