//! `proofmark`: the command-line front end. The only crate that knows exit codes and terminal output.
use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod fetch;
mod verify_cmd;

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
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Verify(args) => verify_cmd::run(args),
    }
}
