//! `proofmark`: the command-line front end. The only crate that knows exit codes and terminal output.
use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod client_cmd;
mod fetch;
mod input;
mod log_cmd;
mod media_cmd;
mod publish_cmd;
mod remote_verify;
mod server_cmd;
mod verify_cmd;
mod watermark_cmd;

#[derive(Debug, Parser)]
#[command(
    name = "proofmark",
    version,
    about = "Prove where a photo or video came from, and that it has not changed since"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Verify media against its capture sidecar (photo.jpg ↔ photo.sidecar.json).
    ///
    /// Exit codes: 0 trusted or valid, 1 invalid (or valid with --require-trusted), 2 could not verify.
    Verify(verify_cmd::VerifyArgs),
    /// Run the capture-trust server (SQLite in ./proofmark-data unless configured otherwise).
    Serve(server_cmd::ServerArgs),
    /// Server administration.
    #[command(subcommand)]
    Admin(server_cmd::AdminCommand),
    /// The server's issuer signing keys.
    #[command(subcommand)]
    Keys(server_cmd::KeysCommand),
    /// This machine as a capture device.
    #[command(subcommand)]
    Device(client_cmd::DeviceCommand),
    /// Sign media files with this device and write their sidecars.
    Capture(client_cmd::CaptureArgs),
    /// Sign images with your organisation's key on a Proofmark server; writes the watermarked file
    /// (NAME.proofmark.EXT) and a receipt (NAME.proofmark.json) beside each.
    Sign(publish_cmd::SignArgs),
    /// Your organisation's content records on a Proofmark server.
    #[command(subcommand)]
    Records(publish_cmd::RecordsCommand),
    /// Perceptual hashes (pHash), identical to Python imagehash's `phash`.
    Phash(media_cmd::PhashArgs),
    /// The invisible watermark: make a key, embed a 128-bit payload, extract it.
    #[command(subcommand)]
    Watermark(watermark_cmd::WatermarkCommand),
    /// The transparency log: verify receipts offline, monitor a log, witness it.
    #[command(subcommand)]
    Log(log_cmd::LogCommand),
}

/// Exit 0, or print the error chain and exit 2 (could not run), for the commands without a verdict.
fn exit_status(result: anyhow::Result<()>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {}", input::printable(&format!("{e:#}")));
            ExitCode::from(2)
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Verify(args) => verify_cmd::run(args),
        Command::Watermark(cmd) => watermark_cmd::run(cmd),
        Command::Serve(args) => server_cmd::serve(args),
        Command::Admin(cmd) => server_cmd::admin(cmd),
        Command::Keys(cmd) => server_cmd::keys(cmd),
        Command::Device(cmd) => client_cmd::device(cmd),
        Command::Capture(args) => client_cmd::capture(args),
        Command::Phash(args) => media_cmd::phash(args),
        Command::Sign(args) => publish_cmd::sign(args),
        Command::Records(cmd) => publish_cmd::records(cmd),
        Command::Log(cmd) => log_cmd::run(cmd),
    }
}
