//! The `chronus` binary: parse the command line, run, report errors.

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = chronus::cli::Cli::parse();
    match chronus::app::run(cli) {
        Ok(code) => code,
        Err(err) => {
            eprintln!("chronus: error: {err:#}");
            ExitCode::from(1)
        }
    }
}
