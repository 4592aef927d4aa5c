//! The `chronus` binary: parse the command line, hand each subcommand to its frontend,
//! report errors.

use std::process::ExitCode;

use chronus::cli::{Cli, CommandKind};
use chronus::frontend;
use clap::Parser;

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => code,
        Err(err) => {
            eprintln!("chronus: error: {}", frontend::error_text(&err));
            ExitCode::from(1)
        }
    }
}

/// Runs the parsed command line; the exit code reports success (0) or failure.
fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let patterns = &cli.play.patterns;
    match cli.command {
        Some(CommandKind::Check(args)) => frontend::slots::run_check(&args),
        Some(CommandKind::Slots(args)) => frontend::slots::run_slots(&args, patterns),
        Some(CommandKind::Schema(args)) => frontend::slots::run_schema(&args),
        Some(CommandKind::Ctl(args)) => frontend::ctl::run(&args),
        Some(CommandKind::Render(a)) => {
            frontend::render::run(&a, patterns)?;
            Ok(ExitCode::SUCCESS)
        }
        None | Some(CommandKind::Play) => {
            frontend::tui::run(&cli.play)?;
            Ok(ExitCode::SUCCESS)
        }
        Some(CommandKind::Headless(a)) => frontend::headless::run(&a, patterns),
        Some(CommandKind::Devices) => frontend::slots::run_devices(),
    }
}
