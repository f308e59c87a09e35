//! `proofmark-lab`: the project's measuring tools, kept out of the `proofmark` binary that users install.
//! Benchmarks of the capture server, the pHash and its index, and the watermark (docs/benchmarks.md).
use std::process::ExitCode;

use clap::Parser;

mod bench_cmd;
mod log_bench;
mod sign_bench;
mod verify_bench;
mod wm_bench;

#[derive(Debug, Parser)]
#[command(name = "proofmark-lab", version, about = "Proofmark's benchmarks (not part of the shipped binary)")]
struct Cli {
    #[command(subcommand)]
    command: bench_cmd::BenchCommand,
}

fn main() -> ExitCode {
    bench_cmd::run(Cli::parse().command)
}
