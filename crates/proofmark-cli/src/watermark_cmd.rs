//! `proofmark watermark keygen | embed | extract`: the invisible watermark (docs/imaging.md).
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use proofmark_media::image::{decode_image, encode_image, webp_is_lossy, Encoding, Format};
use proofmark_media::watermark::{self, WatermarkKey};
use rand::RngCore;

#[derive(Debug, clap::Subcommand)]
pub enum WatermarkCommand {
    /// Write a new random 256-bit key (64 hex digits) to KEYFILE, readable only by you.
    Keygen {
        #[arg(value_name = "KEYFILE")]
        key_file: PathBuf,
        /// Replace an existing file.
        #[arg(long)]
        force: bool,
    },
    /// Embed a 128-bit payload into IN and write the marked image to OUT (same format as IN; GIF → PNG).
    Embed(EmbedArgs),
    /// Read the payload from FILE: prints it as 32 hex digits (exit 0), or "no watermark" (exit 1).
    Extract {
        #[arg(long, value_name = "K")]
        key_file: PathBuf,
        /// The image; `-` reads it from standard input.
        #[arg(value_name = "FILE")]
        file: PathBuf,
        /// Print a JSON object instead.
        #[arg(long)]
        json: bool,
        /// Refuse an input larger than this many bytes (it is read whole before decoding).
        #[arg(long, value_name = "BYTES", env = "PROOFMARK_MAX_INPUT_BYTES", default_value_t = crate::input::DEFAULT_MAX_INPUT_BYTES)]
        max_input_bytes: u64,
    },
}

#[derive(Debug, clap::Args)]
pub struct EmbedArgs {
    /// The payload: 32 hex digits (16 bytes).
    #[arg(long, value_name = "HEX")]
    payload: String,
    #[arg(long, value_name = "K")]
    key_file: PathBuf,
    /// The image to mark; `-` reads it from standard input.
    #[arg(value_name = "IN")]
    input: PathBuf,
    #[arg(value_name = "OUT")]
    output: PathBuf,
    /// JPEG output quality (JPEG inputs only; 4:4:4 chroma).
    #[arg(long, default_value_t = 95, value_parser = clap::value_parser!(u8).range(50..=100))]
    jpeg_quality: u8,
    /// Refuse an input larger than this many bytes (it is read whole before decoding).
    #[arg(long, value_name = "BYTES", env = "PROOFMARK_MAX_INPUT_BYTES", default_value_t = crate::input::DEFAULT_MAX_INPUT_BYTES)]
    max_input_bytes: u64,
}

pub fn run(cmd: WatermarkCommand) -> ExitCode {
    match cmd {
        WatermarkCommand::Keygen { key_file, force } => crate::exit_status(keygen(&key_file, force)),
        WatermarkCommand::Embed(args) => crate::exit_status(embed(&args)),
        WatermarkCommand::Extract { key_file, file, json, max_input_bytes } => {
            match extract(&key_file, &file, json, max_input_bytes) {
                Ok(true) => ExitCode::SUCCESS,
                Ok(false) => ExitCode::from(1),
                Err(e) => {
                    eprintln!("error: {}", crate::input::printable(&format!("{e:#}")));
                    ExitCode::from(2)
                }
            }
        }
    }
}

fn keygen(path: &Path, force: bool) -> Result<()> {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    let key = WatermarkKey::from_bytes(bytes);
    let mut options = std::fs::OpenOptions::new();
    options.write(true);
    if force {
        options.create(true).truncate(true);
    } else {
        options.create_new(true);
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path).with_context(|| {
        if path.exists() && !force {
            format!("{} already exists (use --force to replace it)", path.display())
        } else {
            format!("cannot create {}", path.display())
        }
    })?;
    writeln!(file, "{}", key.to_hex()).with_context(|| format!("cannot write {}", path.display()))?;
    eprintln!("wrote a new watermark key to {}", path.display());
    Ok(())
}

pub fn read_key(path: &Path) -> Result<WatermarkKey> {
    let bytes = crate::input::open_regular(path)
        .and_then(|f| crate::input::read_capped(f, 4096, "the key file", " (a key file is 65 bytes)"))
        .with_context(|| format!("cannot read the key file {}", path.display()))?;
    let text = String::from_utf8(bytes).with_context(|| format!("the key file {} is not text", path.display()))?;
    WatermarkKey::parse(&text).with_context(|| format!("{} is not a watermark key file", path.display()))
}

fn parse_payload(hex: &str) -> Result<[u8; 16]> {
    let hex = hex.trim();
    if hex.len() != 32 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        bail!("--payload must be 32 hex digits (16 bytes), got {:?}", hex);
    }
    let mut out = [0u8; 16];
    for (i, slot) in out.iter_mut().enumerate() {
        *slot = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16)?;
    }
    Ok(out)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn embed(args: &EmbedArgs) -> Result<()> {
    let payload = parse_payload(&args.payload)?;
    let key = read_key(&args.key_file)?;
    let bytes = crate::input::read_input(&args.input, args.max_input_bytes)?;
    let shown = crate::input::display_path(&args.input);
    let (image, format) = decode_image(&bytes).with_context(|| shown.clone())?;
    let (marked, stats) = watermark::embed(&image, &key, &payload)?;
    if stats.psnr_y < watermark::TARGET_PSNR {
        bail!(
            "the marked pixels have PSNR(Y) {:.2} dB, under the {} dB floor; nothing written",
            stats.psnr_y,
            watermark::TARGET_PSNR
        );
    }
    // The file, not just the pixels, must keep the promise: read each encoding back, measure its PSNR(Y)
    // against the input and extract the mark; a lossy encoding that falls under the floor is retried at a
    // higher quality, and if none keeps both, nothing is written.
    let original = image.luma_f32();
    let mut last = None;
    for encoding in candidate_encodings(format, &bytes, args.jpeg_quality) {
        let out = encode_image(&marked, encoding)?;
        let (reread, _) = decode_image(&out)?;
        let psnr = watermark::psnr_y(&original, &reread);
        let reads_back = watermark::extract(&reread, &key).payload == Some(payload);
        if psnr >= watermark::TARGET_PSNR && reads_back {
            write_atomically(&args.output, &out)?;
            if format == Format::Gif {
                eprintln!("note: GIF input written as PNG (a palette would quantise the mark away)");
            }
            if Some(encoding) != candidate_encodings(format, &bytes, args.jpeg_quality).first().copied() {
                eprintln!("note: encoded as {encoding:?} to keep PSNR(Y) at or above {} dB", watermark::TARGET_PSNR);
            }
            eprintln!(
                "marked {shown} → {} ({}x{}, PSNR(Y) {psnr:.2} dB as written, {:?})",
                crate::input::display_path(&args.output),
                image.width,
                image.height,
                encoding.format()
            );
            return Ok(());
        }
        last = Some((encoding, psnr, reads_back));
    }
    match last {
        Some((encoding, _, false)) => bail!("the mark did not survive encoding as {encoding:?}; nothing written"),
        Some((encoding, psnr, true)) => bail!(
            "encoded as {encoding:?} the marked image has PSNR(Y) {psnr:.2} dB, under the {} dB floor; nothing written",
            watermark::TARGET_PSNR
        ),
        None => bail!("no encoding for {format:?}"),
    }
}

/// The encodings tried in order for an input format: the requested one first, then higher qualities of the
/// same lossy format (WebP finally lossless), so the output keeps the input's format.
fn candidate_encodings(format: Format, bytes: &[u8], jpeg_quality: u8) -> Vec<Encoding> {
    match format {
        Format::Jpeg => {
            let mut q: Vec<u8> = [jpeg_quality, 98, 100].into_iter().filter(|&q| q >= jpeg_quality).collect();
            q.dedup();
            q.into_iter().map(|quality| Encoding::Jpeg { quality, subsample: false }).collect()
        }
        Format::WebP if webp_is_lossy(bytes) => {
            vec![Encoding::WebPLossy { quality: 95.0 }, Encoding::WebPLossy { quality: 100.0 }, Encoding::WebPLossless]
        }
        other => vec![Encoding::for_output(other, webp_is_lossy(bytes))],
    }
}

/// Write to a temporary file beside `path`, then rename: a failed run never leaves a half-written image.
fn write_atomically(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let tmp =
        dir.join(format!(".{}.tmp-{}", path.file_name().and_then(|n| n.to_str()).unwrap_or("out"), std::process::id()));
    std::fs::write(&tmp, bytes).with_context(|| format!("cannot write {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| {
        let _ = std::fs::remove_file(&tmp);
        format!("cannot write {}", path.display())
    })
}

fn extract(key_file: &Path, file: &Path, json: bool, max_input_bytes: u64) -> Result<bool> {
    let key = read_key(key_file)?;
    let bytes = crate::input::read_input(file, max_input_bytes)?;
    let (image, _) = decode_image(&bytes).with_context(|| format!("{}", file.display()))?;
    let d = watermark::extract(&image, &key);
    if json {
        let v = serde_json::json!({
            "file": file.display().to_string(),
            "payload": d.payload.map(|p| hex(&p)),
            "attempts": d.attempts,
        });
        println!("{v}");
    } else {
        match d.payload {
            Some(p) => println!("{}", hex(&p)),
            None => println!("no watermark"),
        }
    }
    Ok(d.payload.is_some())
}
