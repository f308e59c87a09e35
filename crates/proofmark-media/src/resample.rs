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

/// `Image.resize((width, height), Image.Resampling.LANCZOS)` on an "L" image.
pub fn lanczos_resize(img: &LumaImage, width: usize, height: usize) -> LumaImage {
    let need_h = width != img.width;
    let need_v = height != img.height;
    let horiz = precompute(img.width, width);
    let mut vert = precompute(img.height, height);
    let mut src = img.clone();
    if need_h {
        let first = vert.bounds[0].0;
        let last = vert.bounds[height - 1].0 + vert.bounds[height - 1].1;
        for b in &mut vert.bounds {
            b.0 -= first;
        }
        let rows = last - first;
        let mut out = vec![0u8; width * rows];
        for y in 0..rows {
            let row = &img.pixels[(y + first) * img.width..(y + first + 1) * img.width];
            for (xx, &(xmin, xmax)) in horiz.bounds.iter().enumerate() {
                let k = &horiz.weights[xx * horiz.ksize..xx * horiz.ksize + xmax];
                let mut ss: i32 = 1 << (PRECISION_BITS - 1);
                for (x, w) in k.iter().enumerate() {
                    ss = ss.wrapping_add(i32::from(row[xmin + x]).wrapping_mul(*w));
                }
                out[y * width + xx] = clip8(ss);
            }
        }
        src = LumaImage { width, height: rows, pixels: out };
    }
    if need_v {
        let mut out = vec![0u8; src.width * height];
        for (yy, &(ymin, ymax)) in vert.bounds.iter().enumerate() {
            let k = &vert.weights[yy * vert.ksize..yy * vert.ksize + ymax];
            for xx in 0..src.width {
                let mut ss: i32 = 1 << (PRECISION_BITS - 1);
                for (y, w) in k.iter().enumerate() {
                    ss = ss.wrapping_add(i32::from(src.pixels[(ymin + y) * src.width + xx]).wrapping_mul(*w));
                }
                out[yy * src.width + xx] = clip8(ss);
            }
        }
        src = LumaImage { width: src.width, height, pixels: out };
    }
    src
}
