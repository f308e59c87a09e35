//! Colour decoding and encoding for the watermarked output (SPEC §3.3): an image keeps its channels (grey,
//! grey + alpha, RGB, RGBA; 8 bits each) and remembers the format it came in, so the marked file can be
//! written back in that format. GIF has no faithful 8-bit output (its palette would quantise the mark away)
//! and is written as PNG; 16-bit PNG channels keep their high byte. EXIF orientation is not applied.
use crate::decode::{corrupt_jpeg, panic_detail, read_png, with_jpeg, DecodeError};

/// The container an image was read from, or is to be written as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Jpeg,
    Png,
    Gif,
    WebP,
}

impl Format {
    /// Sniffed from the first bytes, as the decoders do.
    pub fn sniff(bytes: &[u8]) -> Option<Format> {
        if bytes.starts_with(&[0xff, 0xd8, 0xff]) {
            Some(Format::Jpeg)
        } else if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
            Some(Format::Png)
        } else if bytes.starts_with(b"GIF87a") || bytes.starts_with(b"GIF89a") {
            Some(Format::Gif)
        } else if bytes.len() >= 12 && &bytes[..4] == b"RIFF" && &bytes[8..12] == b"WEBP" {
            Some(Format::WebP)
        } else {
            None
        }
    }

    /// Conventional file extension.
    pub fn extension(self) -> &'static str {
        match self {
            Format::Jpeg => "jpg",
            Format::Png => "png",
            Format::Gif => "gif",
            Format::WebP => "webp",
        }
    }
}

/// An 8-bit image with 1 (grey), 2 (grey + alpha), 3 (RGB) or 4 (RGBA) interleaved channels, row-major.
#[derive(Clone, PartialEq, Eq)]
pub struct Image {
    pub width: usize,
    pub height: usize,
    pub channels: usize,
    pub pixels: Vec<u8>,
}

impl std::fmt::Debug for Image {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Image({}x{}x{})", self.width, self.height, self.channels)
    }
}

impl Image {
    /// A blank image; panics if `channels` is not 1 to 4.
    pub fn new(width: usize, height: usize, channels: usize) -> Image {
        assert!((1..=4).contains(&channels), "1 to 4 channels");
        Image { width, height, channels, pixels: vec![0; width * height * channels] }
    }

    /// Whether the image has colour channels (RGB or RGBA).
    pub fn is_colour(&self) -> bool {
        self.channels >= 3
    }

    /// BT.601 luma of every pixel, in f32 (0–255), the plane the watermark lives in.
    pub fn luma_f32(&self) -> Vec<f32> {
        let mut out = vec![0.0; self.width * self.height];
        for (y, row) in out.chunks_exact_mut(self.width.max(1)).enumerate() {
            self.luma_row(y, row);
        }
        out
    }

    /// Row `y` of [`Image::luma_f32`] into `out` (`width` values), for those who never need the whole plane.
    pub fn luma_row(&self, y: usize, out: &mut [f32]) {
        fn colour<const C: usize>(row: &[u8], out: &mut [f32]) {
            for (o, p) in out.iter_mut().zip(row.chunks_exact(C)) {
                *o = 0.299 * f32::from(p[0]) + 0.587 * f32::from(p[1]) + 0.114 * f32::from(p[2]);
            }
        }
        let len = self.width * self.channels;
        let row = &self.pixels[y * len..(y + 1) * len];
        match self.channels {
            1 => out.iter_mut().zip(row).for_each(|(o, &v)| *o = f32::from(v)),
            2 => out.iter_mut().zip(row.iter().step_by(2)).for_each(|(o, &v)| *o = f32::from(v)),
            3 => colour::<3>(row, out),
            _ => colour::<4>(row, out),
        }
    }

    /// The same pixels as RGB (grey replicated, alpha dropped).
    pub fn to_rgb(&self) -> Image {
        let pixels = match self.channels {
            3 => self.pixels.clone(),
            4 => self.pixels.chunks_exact(4).flat_map(|p| [p[0], p[1], p[2]]).collect(),
            c => self.pixels.chunks_exact(c).flat_map(|p| [p[0], p[0], p[0]]).collect(),
        };
        Image { width: self.width, height: self.height, channels: 3, pixels }
    }
}

/// Decode JPEG, PNG, GIF (first frame) or WebP bytes keeping colour and alpha.
pub fn decode_image(bytes: &[u8]) -> Result<(Image, Format), DecodeError> {
    let format = Format::sniff(bytes).ok_or(DecodeError::Unsupported)?;
    let image = match format {
        Format::Jpeg => decode_jpeg(bytes)?,
        Format::Png => decode_png(bytes)?,
        Format::Gif => decode_gif(bytes)?,
        Format::WebP => decode_webp(bytes)?,
    };
    Ok((image, format))
}

fn decode_jpeg(bytes: &[u8]) -> Result<Image, DecodeError> {
    with_jpeg(bytes, |d, width, height| {
        let (channels, pixels) = match d.color_space() {
            mozjpeg::ColorSpace::JCS_GRAYSCALE => {
                let mut img = d.grayscale().map_err(|e| corrupt_jpeg(&e))?;
                let px: Vec<u8> = img.read_scanlines().map_err(|e| corrupt_jpeg(&e))?;
                img.finish().map_err(|e| corrupt_jpeg(&e))?;
                (1, px)
            }
            mozjpeg::ColorSpace::JCS_YCbCr | mozjpeg::ColorSpace::JCS_RGB => {
                let mut img = d.rgb().map_err(|e| corrupt_jpeg(&e))?;
                let px: Vec<u8> = img.read_scanlines().map_err(|e| corrupt_jpeg(&e))?;
                img.finish().map_err(|e| corrupt_jpeg(&e))?;
                (3, px)
            }
            mozjpeg::ColorSpace::JCS_CMYK | mozjpeg::ColorSpace::JCS_YCCK => {
                (3, crate::decode::read_cmyk_as_rgb(d, width, height)?)
            }
            other => return Err(DecodeError::ColorSpace(format!("{other:?}"))),
        };
        if pixels.len() != width * height * channels {
            return Err(DecodeError::Corrupt { format: "JPEG", detail: "fewer scanlines than the header says".into() });
        }
        Ok(Image { width, height, channels, pixels })
    })
}

fn decode_png(bytes: &[u8]) -> Result<Image, DecodeError> {
    let (frame, buf) = read_png(bytes, png::Transformations::EXPAND | png::Transformations::STRIP_16)?;
    let channels = frame.color_type.samples();
    if frame.color_type == png::ColorType::Indexed || frame.bit_depth != png::BitDepth::Eight {
        return Err(DecodeError::Corrupt { format: "PNG", detail: "unexpected pixel layout".into() });
    }
    Ok(Image { width: frame.width as usize, height: frame.height as usize, channels, pixels: buf })
}

fn decode_gif(bytes: &[u8]) -> Result<Image, DecodeError> {
    let gif = crate::decode::decode_gif_indexed(bytes)?;
    let mut pixels = Vec::with_capacity(gif.width * gif.height * 3);
    for v in gif.indices {
        let i = usize::from(v) * 3;
        pixels.extend_from_slice(gif.palette.get(i..i + 3).unwrap_or(&[0, 0, 0]));
    }
    Ok(Image { width: gif.width, height: gif.height, channels: 3, pixels })
}

fn decode_webp(bytes: &[u8]) -> Result<Image, DecodeError> {
    let (width, height, channels, pixels) = crate::decode::decode_webp_rgb(bytes)?;
    Ok(Image { width, height, channels, pixels })
}

/// How to write an image.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Encoding {
    /// Baseline JPEG through libjpeg(-turbo)'s standard tables at `quality` (1–100); `subsample` chooses
    /// 4:2:0 chroma instead of 4:4:4. Alpha is dropped.
    Jpeg { quality: u8, subsample: bool },
    /// Lossless PNG keeping every channel.
    Png,
    /// Lossy WebP at `quality` (0–100).
    WebPLossy { quality: f32 },
    /// Lossless WebP.
    WebPLossless,
}

impl Encoding {
    /// The output used for a marked image read as `format`: JPEG q95 4:4:4, PNG, lossless WebP for a
    /// lossless source and WebP q95 for a lossy one; GIF becomes PNG.
    pub fn for_output(format: Format, lossy_webp: bool) -> Encoding {
        match format {
            Format::Jpeg => Encoding::Jpeg { quality: 95, subsample: false },
            Format::Png | Format::Gif => Encoding::Png,
            Format::WebP if lossy_webp => Encoding::WebPLossy { quality: 95.0 },
            Format::WebP => Encoding::WebPLossless,
        }
    }

    /// The container this encoding writes.
    pub fn format(self) -> Format {
        match self {
            Encoding::Jpeg { .. } => Format::Jpeg,
            Encoding::Png => Format::Png,
            Encoding::WebPLossy { .. } | Encoding::WebPLossless => Format::WebP,
        }
    }
}

/// Whether WebP bytes hold a lossy (VP8) bitstream rather than a lossless (VP8L) one.
pub fn webp_is_lossy(bytes: &[u8]) -> bool {
    webp::BitstreamFeatures::new(bytes).is_some_and(|f| matches!(f.format(), Some(webp::BitstreamFormat::Lossy)))
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("could not encode the {format} image: {detail}")]
pub struct EncodeError {
    pub format: &'static str,
    pub detail: String,
}

/// Encode `image` as `encoding`.
pub fn encode_image(image: &Image, encoding: Encoding) -> Result<Vec<u8>, EncodeError> {
    if image.pixels.len() != image.width * image.height * image.channels || image.width == 0 || image.height == 0 {
        return Err(EncodeError { format: "image", detail: "pixel buffer does not match the size".into() });
    }
    match encoding {
        Encoding::Jpeg { quality, subsample } => encode_jpeg(image, quality, subsample),
        Encoding::Png => encode_png(image),
        Encoding::WebPLossy { quality } => encode_webp(image, Some(quality)),
        Encoding::WebPLossless => encode_webp(image, None),
    }
}

fn encode_jpeg(image: &Image, quality: u8, subsample: bool) -> Result<Vec<u8>, EncodeError> {
    let err = |detail: String| EncodeError { format: "JPEG", detail };
    let (space, rgb);
    let src: &[u8] = match image.channels {
        1 => {
            space = mozjpeg::ColorSpace::JCS_GRAYSCALE;
            &image.pixels
        }
        2 => {
            space = mozjpeg::ColorSpace::JCS_GRAYSCALE;
            rgb = image.pixels.iter().step_by(2).copied().collect::<Vec<u8>>();
            &rgb
        }
        3 => {
            space = mozjpeg::ColorSpace::JCS_RGB;
            &image.pixels
        }
        _ => {
            space = mozjpeg::ColorSpace::JCS_RGB;
            rgb = image.to_rgb().pixels;
            &rgb
        }
    };
    let result = std::panic::catch_unwind(|| -> std::io::Result<Vec<u8>> {
        let mut c = mozjpeg::Compress::new(space);
        // libjpeg-turbo's defaults (standard tables, no trellis, no Huffman optimisation): what cameras and
        // Pillow (`optimize=False`) write. Huffman optimisation would change the bytes, not the pixels, and
        // costs a second pass (the sign benchmark's encode of a 12-MP photo: 186 ms with it, 66 ms without).
        c.set_fastest_defaults();
        c.set_size(image.width, image.height);
        c.set_quality(f32::from(quality.clamp(1, 100)));
        c.set_optimize_coding(false);
        if space == mozjpeg::ColorSpace::JCS_RGB {
            let px = if subsample { (2, 2) } else { (1, 1) };
            c.set_chroma_sampling_pixel_sizes(px, px);
        }
        let mut started = c.start_compress(Vec::with_capacity(image.pixels.len() / 4))?;
        started.write_scanlines(src)?;
        started.finish()
    });
    match result {
        Ok(Ok(bytes)) => Ok(bytes),
        Ok(Err(e)) => Err(err(e.to_string())),
        Err(panic) => Err(err(panic_detail(panic))),
    }
}

fn encode_png(image: &Image) -> Result<Vec<u8>, EncodeError> {
    let err = |e: png::EncodingError| EncodeError { format: "PNG", detail: e.to_string() };
    let mut out = Vec::new();
    let mut encoder = png::Encoder::new(&mut out, image.width as u32, image.height as u32);
    encoder.set_color(match image.channels {
        1 => png::ColorType::Grayscale,
        2 => png::ColorType::GrayscaleAlpha,
        3 => png::ColorType::Rgb,
        _ => png::ColorType::Rgba,
    });
    encoder.set_depth(png::BitDepth::Eight);
    encoder.set_compression(png::Compression::Fast);
    let mut writer = encoder.write_header().map_err(err)?;
    writer.write_image_data(&image.pixels).map_err(err)?;
    writer.finish().map_err(err)?;
    Ok(out)
}

fn encode_webp(image: &Image, quality: Option<f32>) -> Result<Vec<u8>, EncodeError> {
    if image.width > 16383 || image.height > 16383 {
        return Err(EncodeError { format: "WebP", detail: "WebP is limited to 16383 pixels per side".into() });
    }
    let expanded;
    let (data, layout) = match image.channels {
        3 => (&image.pixels, webp::PixelLayout::Rgb),
        4 => (&image.pixels, webp::PixelLayout::Rgba),
        2 => {
            expanded = image.pixels.chunks_exact(2).flat_map(|p| [p[0], p[0], p[0], p[1]]).collect::<Vec<u8>>();
            (&expanded, webp::PixelLayout::Rgba)
        }
        _ => {
            expanded = image.to_rgb().pixels;
            (&expanded, webp::PixelLayout::Rgb)
        }
    };
    let encoder = webp::Encoder::new(data, layout, image.width as u32, image.height as u32);
    let memory = match quality {
        Some(q) => encoder.encode_simple(false, q.clamp(0.0, 100.0)),
        None => encoder.encode_simple(true, 75.0),
    }
    .map_err(|e| EncodeError { format: "WebP", detail: format!("{e:?}") })?;
    Ok(memory.to_vec())
}
