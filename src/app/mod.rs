//! The composition root: subcommand dispatch, the [`Session`] that builds and turns a playing
//! Chronus, and the offline render. Frontends reach the engine and the audio output only
//! through here.

pub mod render;
pub mod session;

use std::process::ExitCode;

use crate::cli::{Cli, CommandKind};
use crate::frontend;

pub use session::{BackendInfo, ENGINE_POLL, Session, SessionOptions};

/// Runs the parsed command line; the exit code reports success (0) or failure.
pub fn run(cli: Cli) -> anyhow::Result<ExitCode> {
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
        Some(CommandKind::Devices) => {
            let rows = crate::audio::list_devices()?;
            if rows.is_empty() {
                println!("no output devices (Chronus plays on its internal clock)");
            }
            for (id, name) in rows {
                println!("{id:<40} {name}");
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}
