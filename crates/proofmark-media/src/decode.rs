//! Decoding to an 8-bit grey ("L") image exactly as Pillow's `Image.open(…).convert("L")` does (SPEC §3.1):
//! JPEG through libjpeg-turbo (ISLOW IDCT, fancy upsampling, libjpeg's YCbCr→RGB), PNG with 16-bit colour
//! channels reduced to their high byte and 16-bit grey clamped to 255, palette entries converted through their
//! RGB, alpha ignored, EXIF orientation not applied. Grey is `(R*19595 + G*38470 + B*7471 + 0x8000) >> 16`.
use std::io::Cursor;

use crate::image::Format;

/// Images with more pixels than this are refused before their pixels are decoded (decompression bombs).
pub const MAX_PIXELS: u64 = 100_000_000;

/// An 8-bit single-channel image, row-major.
#[derive(Clone, PartialEq, Eq)]
pub struct LumaImage {
    pub width: usize,
    pub height: usize,
    pub pixels: Vec<u8>,
}

impl std::fmt::Debug for LumaImage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "LumaImage({}x{})", self.width, self.height)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    #[error("not a supported image (JPEG, PNG, GIF or WebP)")]
    Unsupported,
    #[error("the {format} image is truncated or corrupt: {detail}")]
    Corrupt { format: &'static str, detail: String },
    #[error("the image is {width}x{height}, more than the {max}-pixel limit")]
    TooLarge { width: u64, height: u64, max: u64 },
    #[error("the JPEG uses the {0} colour space, which is not supported")]
    ColorSpace(String),
}

/// Pillow's `L = R*299/1000 + G*587/1000 + B*114/1000` in its integer form.
#[inline]
pub fn luma(r: u8, g: u8, b: u8) -> u8 {
    ((u32::from(r) * 19595 + u32::from(g) * 38470 + u32::from(b) * 7471 + 0x8000) >> 16) as u8
}

/// [`luma`] over RGBX pixels read as native 32-bit words (one load per pixel, so the compiler keeps the loop
/// in vector lanes).
fn grey_from_rgbx(rgbx: &[u32], grey: &mut [u8]) {
    for (g, &w) in grey.iter_mut().zip(rgbx) {
        let [r, gr, b, _] = w.to_ne_bytes().map(u32::from);
        *g = ((r * 19595 + gr * 38470 + b * 7471 + 0x8000) >> 16) as u8;
    }
}

/// [`luma`] over a row of `S`-byte pixels whose R, G and B are `D` bytes apart (the high byte of a 16-bit
/// sample comes first). Fixed sizes let the compiler keep the loop in vector lanes.
fn grey_from<const S: usize, const D: usize>(row: &[u8], grey: &mut [u8]) {
    for (g, px) in grey.iter_mut().zip(row.chunks_exact(S)) {
        *g = luma(px[0], px[D], px[2 * D]);
    }
}

pub(crate) fn check_size(width: u64, height: u64) -> Result<(), DecodeError> {
    if width == 0 || height == 0 {
        return Err(DecodeError::Corrupt { format: "image", detail: "zero width or height".into() });
    }
    if width * height > MAX_PIXELS {
        return Err(DecodeError::TooLarge { width, height, max: MAX_PIXELS });
    }
    Ok(())
}

/// Decode JPEG, PNG, GIF or WebP bytes (sniffed by content) to Pillow's "L".
pub fn decode_luma(bytes: &[u8]) -> Result<LumaImage, DecodeError> {
    match Format::sniff(bytes).ok_or(DecodeError::Unsupported)? {
        Format::Jpeg => decode_jpeg(bytes),
        Format::Png => decode_png(bytes),
        Format::Gif => decode_gif(bytes),
        Format::WebP => decode_webp(bytes),
    }
}

fn decode_jpeg(bytes: &[u8]) -> Result<LumaImage, DecodeError> {
    let mut pixels = Vec::new();
    let (width, height) = decode_jpeg_rows(bytes, &mut |w, h, rows| {
        if pixels.capacity() == 0 {
            pixels.reserve_exact(w * h);
        }
        pixels.extend_from_slice(rows);
    })?;
    Ok(LumaImage { width, height, pixels })
}

/// Rows of grey per band.
const BAND: usize = 16;

/// Decode a JPEG to Pillow's "L" a band of rows at a time: `sink(width, height, rows)` receives whole rows,
/// top to bottom, so a caller that reduces the image never holds all of it. Returns the size.
pub(crate) fn decode_jpeg_rows(
    bytes: &[u8],
    sink: &mut dyn FnMut(usize, usize, &[u8]),
) -> Result<(usize, usize), DecodeError> {
    let sink = std::panic::AssertUnwindSafe(sink);
    with_jpeg(bytes, move |d, width, height| {
        let sink = sink;
        let mut delivered = 0;
        match d.color_space() {
            mozjpeg::ColorSpace::JCS_GRAYSCALE => {
                let mut img = d.grayscale().map_err(|e| corrupt_jpeg(&e))?;
                let mut band = vec![0u8; width * BAND];
                while delivered < height {
                    // Never ask for more rows than remain: the reader treats that as a truncated file.
                    let want = &mut band[..width * (height - delivered).min(BAND)];
                    let rows = img.read_scanlines_into(want).map_err(|e| corrupt_jpeg(&e))?;
                    if rows.is_empty() {
                        break;
                    }
                    (sink.0)(width, height, rows);
                    delivered += rows.len() / width;
                }
                img.finish().map_err(|e| corrupt_jpeg(&e))?;
            }
            mozjpeg::ColorSpace::JCS_YCbCr | mozjpeg::ColorSpace::JCS_RGB => {
                // RGBX from libjpeg (the same R, G, B as its RGB output; four bytes a pixel let the grey
                // conversion run in vector lanes), converted to grey a band at a time.
                let mut img = d.rgba().map_err(|e| corrupt_jpeg(&e))?;
                let mut band = vec![0u32; width * BAND];
                let mut grey = vec![0u8; width * BAND];
                while delivered < height {
                    let n = (height - delivered).min(BAND);
                    let rows = img.read_scanlines_into(&mut band[..width * n]).map_err(|e| corrupt_jpeg(&e))?;
                    let got = rows.len();
                    if got == 0 {
                        break;
                    }
                    grey_from_rgbx(rows, &mut grey[..got]);
                    (sink.0)(width, height, &grey[..got]);
                    delivered += got / width;
                }
                img.finish().map_err(|e| corrupt_jpeg(&e))?;
            }
            mozjpeg::ColorSpace::JCS_CMYK | mozjpeg::ColorSpace::JCS_YCCK => {
                let grey: Vec<u8> =
                    read_cmyk_as_rgb(d, width, height)?.chunks_exact(3).map(|p| luma(p[0], p[1], p[2])).collect();
                (sink.0)(width, height, &grey);
                delivered = grey.len() / width;
            }
            other => return Err(DecodeError::ColorSpace(format!("{other:?}"))),
        }
        if delivered != height {
            return Err(DecodeError::Corrupt { format: "JPEG", detail: "fewer scanlines than the header says".into() });
        }
        Ok((width, height))
    })
}

/// Open JPEG bytes and hand the decompressor and its size to `read`: the end-of-image check (libjpeg only
/// warns about a file that ends early and fills the rest with grey; Pillow refuses it), the pixel limit, and
/// libjpeg's errors — reported by unwinding out of its error handler — caught and turned into `Corrupt`.
pub(crate) fn with_jpeg<T>(
    bytes: &[u8],
    read: impl FnOnce(mozjpeg::Decompress<&[u8]>, usize, usize) -> Result<T, DecodeError> + std::panic::UnwindSafe,
) -> Result<T, DecodeError> {
    if !jpeg_has_end(bytes) {
        return Err(DecodeError::Corrupt {
            format: "JPEG",
            detail: "the data ends before the end-of-image marker".into(),
        });
    }
    std::panic::catch_unwind(|| {
        let d = mozjpeg::Decompress::with_markers(&[]).from_mem(bytes).map_err(|e| corrupt_jpeg(&e))?;
        let (width, height) = d.size();
        check_size(width as u64, height as u64)?;
        read(d, width, height)
    })
    .unwrap_or_else(|panic| Err(DecodeError::Corrupt { format: "JPEG", detail: panic_detail(panic) }))
}

/// A four-component JPEG (CMYK, or YCCK that libjpeg turns into CMYK) as Pillow reads it: the samples taken
/// as inverted ("assume Adobe conventions": Pillow's raw mode `CMYK;I`, with or without the Adobe marker),
/// then its CMYK → RGB conversion, `R = 255 − k' − c'·(255 − k')/255` in its rounded fixed point (c', k'
/// the un-inverted samples). Returns RGB bytes.
pub(crate) fn read_cmyk_as_rgb(
    d: mozjpeg::Decompress<&[u8]>,
    width: usize,
    height: usize,
) -> Result<Vec<u8>, DecodeError> {
    let mut img = d.to_colorspace(mozjpeg::ColorSpace::JCS_CMYK).map_err(|e| corrupt_jpeg(&e))?;
    let px: Vec<u8> = img.read_scanlines().map_err(|e| corrupt_jpeg(&e))?;
    img.finish().map_err(|e| corrupt_jpeg(&e))?;
    if px.len() != width * height * 4 {
        return Err(DecodeError::Corrupt { format: "JPEG", detail: "fewer scanlines than the header says".into() });
    }
    let mut rgb = Vec::with_capacity(width * height * 3);
    for p in px.chunks_exact(4) {
        let nk = u32::from(p[3]); // 255 − (255 − k)
        for &c in &p[..3] {
            let c = 255 - u32::from(c);
            let t = c * nk + 128;
            let prod = ((t >> 8) + t) >> 8;
            rgb.push(nk.saturating_sub(prod) as u8);
        }
    }
    Ok(rgb)
}

/// Entropy-coded data never contains FF D9, so the end-of-image marker must follow the last scan header.
fn jpeg_has_end(bytes: &[u8]) -> bool {
    let last_scan = bytes.windows(2).rposition(|w| w == [0xff, 0xda]);
    last_scan.is_some_and(|at| bytes[at..].windows(2).any(|w| w == [0xff, 0xd9]))
}

/// The message of a panic unwound out of libjpeg's error handler.
pub(crate) fn panic_detail(panic: Box<dyn std::any::Any + Send>) -> String {
    panic
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_owned()))
        .unwrap_or_else(|| "libjpeg error".into())
}

pub(crate) fn corrupt_jpeg(e: &dyn std::fmt::Display) -> DecodeError {
    DecodeError::Corrupt { format: "JPEG", detail: e.to_string() }
}

fn decode_png(bytes: &[u8]) -> Result<LumaImage, DecodeError> {
    // Palette → RGB(A), low bit depths → 8 bits (scaled as Pillow does), tRNS → alpha. 16-bit kept.
    let mut reader = open_png(bytes, png::Transformations::EXPAND)?;
    let (width, height) = (reader.info().width as usize, reader.info().height as usize);
    let (colour, depth) = reader.output_color_type();
    let sixteen = depth == png::BitDepth::Sixteen;
    // A 16-bit grey file stays Pillow's "I;16" (clamped to 255) even when a tRNS chunk gives it transparency,
    // which `EXPAND` turns into an alpha channel here.
    let grey16 = sixteen && reader.info().color_type == png::ColorType::Grayscale;
    // Each row becomes grey as it is unfiltered (the colour frame is never held); an interlaced image
    // arrives in passes, so it is assembled first.
    let mut pixels = vec![0u8; width * height];
    let to_grey = |row: &[u8], out: &mut [u8]| -> Result<(), DecodeError> {
        if grey16 {
            let stride = colour.samples() * 2;
            for (g, s) in out.iter_mut().zip(row.chunks_exact(stride)) {
                *g = u16::from_be_bytes([s[0], s[1]]).min(255) as u8;
            }
            return Ok(());
        }
        match (colour, sixteen) {
            (png::ColorType::Grayscale, _) => out.copy_from_slice(&row[..width]),
            // 16-bit grey+alpha and colour keep the high byte.
            (png::ColorType::GrayscaleAlpha, _) => {
                let stride = 2 * if sixteen { 2 } else { 1 };
                for (g, px) in out.iter_mut().zip(row.chunks_exact(stride)) {
                    *g = px[0];
                }
            }
            (png::ColorType::Rgb, false) => grey_from::<3, 1>(row, out),
            (png::ColorType::Rgba, false) => grey_from::<4, 1>(row, out),
            (png::ColorType::Rgb, true) => grey_from::<6, 2>(row, out),
            (png::ColorType::Rgba, true) => grey_from::<8, 2>(row, out),
            (png::ColorType::Indexed, _) => {
                return Err(DecodeError::Corrupt { format: "PNG", detail: "palette was not expanded".into() })
            }
        }
        Ok(())
    };
    if reader.info().interlaced {
        let (frame, data) = read_frame(reader)?;
        for (row, out) in data.chunks_exact(frame.line_size).zip(pixels.chunks_exact_mut(width)) {
            to_grey(row, out)?;
        }
    } else {
        let mut row = vec![
            0u8;
            reader.output_line_size(width as u32).ok_or(DecodeError::TooLarge {
                width: width as u64,
                height: height as u64,
                max: MAX_PIXELS,
            })?
        ];
        for out in pixels.chunks_exact_mut(width) {
            reader
                .read_row(&mut row)
                .map_err(png_corrupt)?
                .ok_or_else(|| DecodeError::Corrupt { format: "PNG", detail: "image data ended early".into() })?;
            to_grey(&row, out)?;
        }
        // What `next_frame` does after the last row: the rest of the image data is read and checked.
        if reader.read_row(&mut row).map_err(png_corrupt)?.is_some() {
            return Err(DecodeError::Corrupt { format: "PNG", detail: "more rows than the header says".into() });
        }
    }
    Ok(LumaImage { width, height, pixels })
}

/// The first PNG frame with `transformations` applied, after the pixel limit: its layout and its bytes.
pub(crate) fn read_png(
    bytes: &[u8],
    transformations: png::Transformations,
) -> Result<(png::OutputInfo, Vec<u8>), DecodeError> {
    read_frame(open_png(bytes, transformations)?)
}

fn png_corrupt(e: png::DecodingError) -> DecodeError {
    DecodeError::Corrupt { format: "PNG", detail: e.to_string() }
}

/// A PNG reader past the header, with the pixel limit checked.
fn open_png(bytes: &[u8], transformations: png::Transformations) -> Result<png::Reader<Cursor<&[u8]>>, DecodeError> {
    let mut decoder = png::Decoder::new(Cursor::new(bytes));
    decoder.set_transformations(transformations);
    decoder.set_limits(png::Limits { bytes: 1 << 30 });
    let reader = decoder.read_info().map_err(png_corrupt)?;
    let i = reader.info();
    check_size(u64::from(i.width), u64::from(i.height))?;
    Ok(reader)
}

/// The first frame, whole.
fn read_frame(mut reader: png::Reader<Cursor<&[u8]>>) -> Result<(png::OutputInfo, Vec<u8>), DecodeError> {
    let (w, h) = (u64::from(reader.info().width), u64::from(reader.info().height));
    let mut buf =
        vec![0u8; reader.output_buffer_size().ok_or(DecodeError::TooLarge { width: w, height: h, max: MAX_PIXELS })?];
    let frame = reader.next_frame(&mut buf).map_err(png_corrupt)?;
    buf.truncate(frame.buffer_size());
    Ok((frame, buf))
}

/// The first frame of a GIF as Pillow shows it: a canvas the size of the logical screen, filled with the
/// frame's transparency index (or 0), the frame's indices written at its offset, then every index mapped
/// through the frame's palette (local, else global) to grey; an index past the palette's end is black.
fn decode_gif(bytes: &[u8]) -> Result<LumaImage, DecodeError> {
    let gif = decode_gif_indexed(bytes)?;
    let grey: Vec<u8> = (0..256)
        .map(|i| match gif.palette.get(i * 3..i * 3 + 3) {
            Some(rgb) => luma(rgb[0], rgb[1], rgb[2]),
            None => 0,
        })
        .collect();
    let pixels = gif.indices.into_iter().map(|v| grey[usize::from(v)]).collect();
    Ok(LumaImage { width: gif.width, height: gif.height, pixels })
}

/// The first frame of a GIF as palette indices on the logical screen, with the palette that applies.
pub(crate) struct IndexedGif {
    pub width: usize,
    pub height: usize,
    pub palette: Vec<u8>,
    pub indices: Vec<u8>,
}

pub(crate) fn decode_gif_indexed(bytes: &[u8]) -> Result<IndexedGif, DecodeError> {
    let corrupt = |e: gif::DecodingError| DecodeError::Corrupt { format: "GIF", detail: e.to_string() };
    let mut options = gif::DecodeOptions::new();
    options.set_color_output(gif::ColorOutput::Indexed);
    let mut decoder = options.read_info(Cursor::new(bytes)).map_err(corrupt)?;
    let (width, height) = (usize::from(decoder.width()), usize::from(decoder.height()));
    check_size(width as u64, height as u64)?;
    let global = decoder.global_palette().map(<[u8]>::to_vec);
    let frame = decoder
        .read_next_frame()
        .map_err(corrupt)?
        .ok_or_else(|| DecodeError::Corrupt { format: "GIF", detail: "no image in the file".into() })?;
    let palette = frame.palette.clone().or(global).unwrap_or_default();
    let indices = gif_canvas(frame, width, height);
    Ok(IndexedGif { width, height, palette, indices })
}

/// A GIF frame's palette indices on a canvas the size of the logical screen, filled with the frame's
/// transparency index (or 0) where the frame does not reach.
fn gif_canvas(frame: &gif::Frame<'_>, width: usize, height: usize) -> Vec<u8> {
    let mut canvas = vec![frame.transparent.unwrap_or(0); width * height];
    let (left, top) = (usize::from(frame.left), usize::from(frame.top));
    let fw = usize::from(frame.width);
    for (row, line) in frame.buffer.chunks(fw.max(1)).enumerate() {
        let y = top + row;
        if y >= height {
            break;
        }
        for (col, &v) in line.iter().enumerate() {
            let x = left + col;
            if x < width {
                canvas[y * width + x] = v;
            }
        }
    }
    canvas
}

/// WebP (lossy or lossless, first frame) through libwebp, as Pillow decodes it: RGB(A) with libwebp's
/// default (fancy) chroma upsampling, alpha ignored for grey.
fn decode_webp(bytes: &[u8]) -> Result<LumaImage, DecodeError> {
    let (width, height, channels, rgb) = decode_webp_rgb(bytes)?;
    let pixels = rgb.chunks_exact(channels).map(|p| luma(p[0], p[1], p[2])).collect();
    Ok(LumaImage { width, height, pixels })
}

/// WebP through libwebp: (width, height, 3 or 4 channels, RGB(A) bytes).
pub(crate) fn decode_webp_rgb(bytes: &[u8]) -> Result<(usize, usize, usize, Vec<u8>), DecodeError> {
    let corrupt = |detail: &str| DecodeError::Corrupt { format: "WebP", detail: detail.to_owned() };
    let features = webp::BitstreamFeatures::new(bytes).ok_or_else(|| corrupt("unreadable header"))?;
    check_size(u64::from(features.width()), u64::from(features.height()))?;
    let image = webp::Decoder::new(bytes).decode().ok_or_else(|| corrupt("the data does not decode"))?;
    let (width, height) = (image.width() as usize, image.height() as usize);
    let channels = if image.is_alpha() { 4 } else { 3 };
    if image.len() != width * height * channels {
        return Err(corrupt("unexpected pixel layout"));
    }
    Ok((width, height, channels, image.to_vec()))
}
