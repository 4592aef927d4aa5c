//! The command line: `chronus [play] | render | check | slots | schema | devices | headless | ctl`.
//!
//! Clap declarations only: each subcommand's arguments live beside the code that runs it and
//! this file lists them, so clap parsing can be tested without starting a process. Only the
//! binary and `app` (which dispatches the parsed command line) import this module.

use clap::{Parser, Subcommand};

/// Chronus: a keyboard-driven terminal tracker and synthesizer for live electronic music.
#[derive(Debug, Parser)]
#[command(name = "chronus", version, about, long_about = None)]
pub struct Cli {
    /// What to do; without a subcommand Chronus opens the tracker.
    #[command(subcommand)]
    pub command: Option<CommandKind>,
    /// Options for the tracker (used when no subcommand is given).
    #[command(flatten)]
    pub play: crate::frontend::tui::PlayArgs,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum CommandKind {
    /// Open the tracker (the default).
    Play,
    /// Play without the screen until Ctrl-C or --seconds.
    Headless(crate::frontend::headless::HeadlessArgs),
    /// List the audio output devices and their ids, and the MIDI ports.
    Devices,
    /// Validate slot files.
    Check(crate::frontend::slots::CheckArgs),
    /// List, show and save pattern slots.
    Slots(crate::frontend::slots::SlotsArgs),
    /// Print the slot parameters, or a JSON Schema for slot files.
    Schema(crate::frontend::slots::SchemaArgs),
    /// Send an OSC command to a running Chronus and print its answer.
    Ctl(crate::frontend::ctl::CtlArgs),
    /// Render bars of a slot to a WAV file.
    Render(crate::frontend::render::RenderArgs),
}
