//! The command line: `chronus [play] | render | check | slots | schema | devices | headless | ctl`.
//!
//! Each subcommand's arguments live beside the code that runs it; this file only lists them,
//! so clap parsing can be tested without starting a process.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// Chronus: a keyboard-driven terminal tracker and synthesizer for live electronic music.
#[derive(Debug, Parser)]
#[command(name = "chronus", version, about, long_about = None)]
pub struct Cli {
    /// What to do; without a subcommand Chronus opens the tracker.
    #[command(subcommand)]
    pub command: Option<CommandKind>,
    /// Options for the tracker (used when no subcommand is given).
    #[command(flatten)]
    pub play: PlayArgs,
}

/// Options of the tracker screen (`chronus` / `chronus play`).
#[derive(Debug, Args, Clone, Default)]
pub struct PlayArgs {
    /// Patterns folder (holds slots/, backups/).
    #[arg(long, global = true, default_value = "patterns")]
    pub patterns: PathBuf,
    /// Slot to load at start.
    #[arg(long, default_value = "1")]
    pub slot: String,
    /// Key bindings file (default: ./keymap.toml when present).
    #[arg(long)]
    pub keymap: Option<PathBuf>,
    /// Audio device options.
    #[command(flatten)]
    pub audio: AudioArgs,
    /// OSC options.
    #[command(flatten)]
    pub osc: crate::osc::OscArgs,
}

/// Audio device options shared by the tracker and headless mode.
#[derive(Debug, Args, Clone, Default)]
pub struct AudioArgs {
    /// Output device id (see `chronus devices`).
    #[arg(long)]
    pub device: Option<String>,
    /// Do not open a sound card: run on the internal clock.
    #[arg(long, conflicts_with = "device")]
    pub no_audio: bool,
    /// Device buffer size in frames.
    #[arg(long, default_value_t = 128)]
    pub buffer: u32,
    /// Sample rate in Hz (default: the device's, 48000 on the internal clock).
    #[arg(long)]
    pub rate: Option<u32>,
    /// Number of voices (1–16).
    #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u8).range(1..=16))]
    pub voices: u8,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum CommandKind {
    /// Open the tracker (the default).
    Play,
    /// Play without the screen until Ctrl-C or --seconds.
    Headless(crate::headless::HeadlessArgs),
    /// List the audio output devices and their ids.
    Devices,
    /// Validate slot files.
    Check(crate::slots_cli::CheckArgs),
    /// List, show and save pattern slots.
    Slots(crate::slots_cli::SlotsArgs),
    /// Print the slot parameters, or a JSON Schema for slot files.
    Schema(crate::slots_cli::SchemaArgs),
    /// Send an OSC command to a running Chronus and print its answer.
    Ctl(crate::osc::CtlArgs),
    /// Render bars of a slot to a WAV file.
    Render(crate::render::RenderArgs),
}

/// Runs the parsed command line; the exit code reports success (0) or failure.
pub fn run(cli: Cli) -> anyhow::Result<std::process::ExitCode> {
    match cli.command {
        Some(CommandKind::Check(args)) => crate::slots_cli::run_check(&args),
        Some(CommandKind::Slots(args)) => crate::slots_cli::run_slots(&args, &cli.play.patterns),
        Some(CommandKind::Schema(args)) => crate::slots_cli::run_schema(&args),
        Some(CommandKind::Ctl(args)) => crate::osc::ctl::run(&args),
        Some(CommandKind::Render(a)) => {
            crate::render::run(&a, &cli.play.patterns)?;
            Ok(std::process::ExitCode::SUCCESS)
        }
        None | Some(CommandKind::Play) => {
            let services = crate::osc::services(&cli.play.osc).unwrap_or_else(|e| {
                let msg = format!("{e:#} — OSC is off");
                vec![Box::new(crate::control::StartupMessage(Some((
                    crate::control::Level::Error,
                    msg,
                )))) as Box<dyn crate::control::Service>]
            });
            crate::tui::run(&cli.play, services)?;
            Ok(std::process::ExitCode::SUCCESS)
        }
        Some(CommandKind::Headless(a)) => crate::headless::run(&a, &cli.play.patterns),
        Some(CommandKind::Devices) => {
            let rows = crate::audio::list_devices()?;
            if rows.is_empty() {
                println!("no output devices (Chronus plays on its internal clock)");
            }
            for (id, name) in rows {
                println!("{id:<40} {name}");
            }
            Ok(std::process::ExitCode::SUCCESS)
        }
    }
}
