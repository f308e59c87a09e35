//! `proofmark phash FILE…`: perceptual hashes as Python imagehash prints them.
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Debug, clap::Args)]
pub struct PhashArgs {
    /// Image files (JPEG, PNG, GIF or WebP); `-` reads one from standard input.
    #[arg(required = true, value_name = "FILE")]
    files: Vec<PathBuf>,
    /// Refuse an input larger than this many bytes (it is read whole before decoding).
    #[arg(long, value_name = "BYTES", env = "PROOFMARK_MAX_INPUT_BYTES", default_value_t = crate::input::DEFAULT_MAX_INPUT_BYTES)]
    max_input_bytes: u64,
}

/// One line per file: `HASH  FILE` (HASH as `str(imagehash.phash(Image.open(FILE)))`). Exit 2 if any file
/// could not be read or decoded; the others are still printed.
pub fn phash(args: PhashArgs) -> ExitCode {
    let mut failed = false;
    for file in &args.files {
        let shown = crate::input::display_path(file);
        match crate::input::read_input(file, args.max_input_bytes)
            .map_err(|e| format!("{e:#}"))
            .and_then(|b| proofmark_media::phash(&b).map_err(|e| format!("{shown}: {e}")))
        {
            Ok(h) => println!("{h}  {shown}"),
            Err(e) => {
                failed = true;
                eprintln!("error: {}", crate::input::printable(&e));
            }
        }
    }
    ExitCode::from(if failed { 2 } else { 0 })
}
