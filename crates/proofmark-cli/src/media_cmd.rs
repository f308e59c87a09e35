//! `proofmark phash FILE…`: perceptual hashes as Python imagehash prints them.
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Debug, clap::Args)]
pub struct PhashArgs {
    /// Image files (JPEG, PNG, GIF or WebP).
    #[arg(required = true, value_name = "FILE")]
    files: Vec<PathBuf>,
}

/// One line per file: `HASH  FILE` (HASH as `str(imagehash.phash(Image.open(FILE)))`). Exit 2 if any file
/// could not be read or decoded; the others are still printed.
pub fn phash(args: PhashArgs) -> ExitCode {
    let mut failed = false;
    for file in &args.files {
        match std::fs::read(file)
            .map_err(|e| e.to_string())
            .and_then(|b| proofmark_media::phash(&b).map_err(|e| e.to_string()))
        {
            Ok(h) => println!("{h}  {}", file.display()),
            Err(e) => {
                failed = true;
                eprintln!("{}: {e}", file.display());
            }
        }
    }
    ExitCode::from(if failed { 2 } else { 0 })
}
