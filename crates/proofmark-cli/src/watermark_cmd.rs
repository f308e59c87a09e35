//! `proofmark watermark keygen | embed | extract`: the invisible watermark (docs/imaging.md).
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use proofmark_media::image::{decode_image, Format};
use proofmark_media::watermark::{self, WatermarkKey};
use proofmark_media::{mark_image, MarkError, MarkOptions};
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
    /// Embed a 128-bit payload into IN and write the marked image to OUT, in the format OUT's extension names
    /// (.jpg/.jpeg, .png, .webp; any other extension keeps the format of IN, a GIF becoming PNG). A JPEG keeps
    /// the metadata of a JPEG input (EXIF with its orientation, XMP, ICC profile, IPTC).
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
    /// JPEG output quality (JPEG output only; 4:4:4 chroma).
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
    let output = output_format(&args.output)?;
    let bytes = crate::input::read_input(&args.input, args.max_input_bytes)?;
    let shown = crate::input::display_path(&args.input);
    let (image, format) = decode_image(&bytes).with_context(|| shown.clone())?;
    // The file, not just the pixels, must keep the promise (proofmark_media::mark): each encoding is read
    // back, measured against the input and extracted; a lossy one that misses the floor is retried at a
    // higher quality, and if none keeps both, nothing is written.
    let options = MarkOptions { jpeg_quality: args.jpeg_quality, output };
    let marked = mark_image(&image, &bytes, format, &key, &payload, options).map_err(|e| match e {
        MarkError::Watermark(w) => anyhow::Error::from(w),
        other => anyhow::anyhow!("{other}; nothing written"),
    })?;
    write_atomically(&args.output, &marked.bytes)?;
    if format == Format::Gif && marked.encoding.format() == Format::Png {
        eprintln!("note: GIF input written as PNG (a palette would quantise the mark away)");
    }
    if marked.raised_quality {
        eprintln!("note: encoded as {:?} to keep PSNR(Y) at or above {} dB", marked.encoding, watermark::TARGET_PSNR);
    }
    eprintln!(
        "marked {shown} → {} ({}x{}, PSNR(Y) {:.2} dB as written, {:?})",
        crate::input::display_path(&args.output),
        image.width,
        image.height,
        marked.psnr_y,
        marked.encoding.format()
    );
    Ok(())
}

/// The container the output's extension names (`None`: no known extension, keep the input's).
fn output_format(path: &Path) -> Result<Option<Format>> {
    let ext = path.extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase);
    Ok(match ext.as_deref() {
        Some("jpg" | "jpeg") => Some(Format::Jpeg),
        Some("png") => Some(Format::Png),
        Some("webp") => Some(Format::WebP),
        Some("gif") => bail!(
            "{}: a marked image cannot be written as GIF (a palette would quantise the mark away); name it .png",
            path.display()
        ),
        _ => None,
    })
}

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
