//! The SPEC §3.3 attack suite, applied with real codecs and Pillow's resampler: what the watermark benchmark
//! and tests put marked images through. Each attack is a value with a stable name, so a benchmark row and a
//! failing test say exactly what was done.
use crate::decode::LumaImage;
use crate::image::{decode_image, encode_image, EncodeError, Encoding, Image};
use crate::resample::lanczos_resize;

/// Which edge(s) a crop removes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    Left,
    Right,
    Top,
    Bottom,
    /// Equal amounts from all four sides.
    Centre,
}

/// One transformation of an image.
#[derive(Debug, Clone, PartialEq)]
pub enum Attack {
    /// Baseline JPEG, libjpeg's standard tables, 4:2:0 chroma.
    Jpeg(u8),
    /// Lossy WebP through libwebp.
    WebP(u8),
    /// Resize both axes by the factors (Pillow Lanczos), not restored.
    Resize(f64, f64),
    /// Remove this fraction of the width (left/right), height (top/bottom) or, centred, of each dimension.
    Crop(Side, f64),
    /// Move the content by (dx, dy) pixels inside the same frame; the uncovered strip repeats the edge.
    Shift(i64, i64),
    /// Multiply every channel by the factor (Pillow `ImageEnhance.Brightness`).
    Brightness(f64),
    /// Blend with the mean grey by the factor (Pillow `ImageEnhance.Contrast`).
    Contrast(f64),
    /// Lossless PNG round trip.
    Png,
    /// Several in order.
    Chain(Vec<Attack>),
}

impl Attack {
    /// A short stable name, e.g. `jpeg75`, `crop-left-10%`, `resize0.5x`.
    pub fn name(&self) -> String {
        match self {
            Attack::Jpeg(q) => format!("jpeg{q}"),
            Attack::WebP(q) => format!("webp{q}"),
            Attack::Resize(x, y) if x == y => format!("resize{x}x"),
            Attack::Resize(x, y) => format!("resize{x}x{y}"),
            Attack::Crop(side, f) => {
                format!("crop-{}-{}%", format!("{side:?}").to_lowercase(), (f * 100.0).round())
            }
            Attack::Shift(dx, dy) => format!("shift{dx},{dy}"),
            Attack::Brightness(f) => format!("brightness{:+}%", ((f - 1.0) * 100.0).round()),
            Attack::Contrast(f) => format!("contrast{:+}%", ((f - 1.0) * 100.0).round()),
            Attack::Png => "png".into(),
            Attack::Chain(parts) => parts.iter().map(Attack::name).collect::<Vec<_>>().join("+"),
        }
    }

    /// Apply to an image.
    pub fn apply(&self, img: &Image) -> Result<Image, EncodeError> {
        Ok(match self {
            Attack::Jpeg(q) => reencode(img, Encoding::Jpeg { quality: *q, subsample: true })?,
            Attack::WebP(q) => reencode(img, Encoding::WebPLossy { quality: f32::from(*q) })?,
            Attack::Png => reencode(img, Encoding::Png)?,
            Attack::Resize(fx, fy) => {
                let w = ((img.width as f64 * fx).round() as usize).max(1);
                let h = ((img.height as f64 * fy).round() as usize).max(1);
                resize(img, w, h)
            }
            Attack::Crop(side, f) => {
                let (w, h) = (img.width, img.height);
                let dw = (w as f64 * f).round() as usize;
                let dh = (h as f64 * f).round() as usize;
                let (x0, y0, cw, ch) = match side {
                    Side::Left => (dw, 0, w - dw, h),
                    Side::Right => (0, 0, w - dw, h),
                    Side::Top => (0, dh, w, h - dh),
                    Side::Bottom => (0, 0, w, h - dh),
                    Side::Centre => (dw / 2, dh / 2, w - dw, h - dh),
                };
                crop(img, x0, y0, cw.max(1), ch.max(1))
            }
            Attack::Shift(dx, dy) => shift(img, *dx, *dy),
            Attack::Brightness(f) => map_colour(img, |v| v * f),
            Attack::Contrast(f) => {
                // Pillow: mean of the "L" histogram, rounded; blend each channel towards it.
                let luma = img.luma_f32();
                let mean = (luma.iter().map(|&v| f64::from(v)).sum::<f64>() / luma.len() as f64 + 0.5).floor();
                map_colour(img, |v| mean + (v - mean) * f)
            }
            Attack::Chain(parts) => {
                let mut cur = img.clone();
                for p in parts {
                    cur = p.apply(&cur)?;
                }
                cur
            }
        })
    }
}

fn reencode(img: &Image, encoding: Encoding) -> Result<Image, EncodeError> {
    let bytes = encode_image(img, encoding)?;
    decode_image(&bytes).map(|(i, _)| i).map_err(|e| EncodeError { format: "re-encoded image", detail: e.to_string() })
}

/// Pillow's Lanczos per channel.
pub fn resize(img: &Image, width: usize, height: usize) -> Image {
    let c = img.channels;
    let mut out = Image::new(width, height, c);
    for ch in 0..c {
        let plane = LumaImage {
            width: img.width,
            height: img.height,
            pixels: img.pixels.iter().skip(ch).step_by(c).copied().collect(),
        };
        let r = lanczos_resize(&plane, width, height);
        for (dst, v) in out.pixels.iter_mut().skip(ch).step_by(c).zip(r.pixels) {
            *dst = v;
        }
    }
    out
}

/// The `cw`×`ch` rectangle at (`x0`, `y0`).
pub fn crop(img: &Image, x0: usize, y0: usize, cw: usize, ch: usize) -> Image {
    let c = img.channels;
    let mut out = Image::new(cw, ch, c);
    for y in 0..ch {
        let src = ((y0 + y) * img.width + x0) * c;
        out.pixels[y * cw * c..(y + 1) * cw * c].copy_from_slice(&img.pixels[src..src + cw * c]);
    }
    out
}

fn shift(img: &Image, dx: i64, dy: i64) -> Image {
    let (w, h, c) = (img.width as i64, img.height as i64, img.channels);
    let mut out = Image::new(img.width, img.height, c);
    for y in 0..h {
        let sy = (y - dy).clamp(0, h - 1);
        for x in 0..w {
            let sx = (x - dx).clamp(0, w - 1);
            let s = ((sy * w + sx) as usize) * c;
            let d = ((y * w + x) as usize) * c;
            out.pixels[d..d + c].copy_from_slice(&img.pixels[s..s + c]);
        }
    }
    out
}

fn map_colour(img: &Image, f: impl Fn(f64) -> f64) -> Image {
    let colour = if img.channels >= 3 { 3 } else { 1 };
    let lut: Vec<u8> = (0..256).map(|v| f(f64::from(v)).round().clamp(0.0, 255.0) as u8).collect();
    let mut out = img.clone();
    for px in out.pixels.chunks_exact_mut(img.channels) {
        for v in &mut px[..colour] {
            *v = lut[usize::from(*v)];
        }
    }
    out
}

/// The SPEC §3.3 single attacks, in the benchmark's order.
pub fn single_attacks() -> Vec<Attack> {
    use Attack::*;
    let mut v = vec![Png, Jpeg(90), Jpeg(75), Jpeg(60), Jpeg(50), WebP(75), Resize(0.5, 0.5), Resize(0.75, 0.75)];
    v.push(Resize(1.0, 0.8));
    v.push(Resize(0.8, 1.0));
    for side in [Side::Left, Side::Right, Side::Top, Side::Bottom, Side::Centre] {
        v.push(Crop(side, 0.10));
    }
    v.extend([Shift(3, 0), Shift(0, 7), Shift(-13, 5), Shift(31, -17)]);
    v.extend([Brightness(1.2), Brightness(0.8), Contrast(1.2), Contrast(0.8)]);
    // Screenshots: rescale 0.8–1.25× then PNG or JPEG q85.
    v.push(Chain(vec![Resize(0.8, 0.8), Png]));
    v.push(Chain(vec![Resize(1.25, 1.25), Jpeg(85)]));
    v.push(Chain(vec![Resize(0.9, 0.9), Jpeg(85)]));
    v.push(Chain(vec![Resize(1.1, 1.1), Png]));
    v
}

/// The combinations: crop 10 % + 0.5× + JPEG q75, and friends.
pub fn combined_attacks() -> Vec<Attack> {
    use Attack::*;
    vec![
        Chain(vec![Crop(Side::Centre, 0.10), Resize(0.5, 0.5), Jpeg(75)]),
        Chain(vec![Crop(Side::Left, 0.10), Resize(0.5, 0.5), Jpeg(75)]),
        Chain(vec![Crop(Side::Bottom, 0.10), Resize(0.75, 0.75), WebP(75)]),
        Chain(vec![Shift(5, 9), Brightness(1.2), Jpeg(60)]),
        Chain(vec![Crop(Side::Top, 0.10), Contrast(0.8), Resize(0.8, 0.8), Jpeg(75)]),
    ]
}
