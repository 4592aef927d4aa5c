//! Chronus: a keyboard-driven terminal tracker and synthesizer for live electronic music.
//!
//! The audio engine (`dsp`, `engine`) is independent of cpal, the terminal and files, so it
//! plays live (`audio`), renders offline (`render`) and runs in tests the same way.

pub mod audio;
pub mod cli;
pub mod control;
pub mod dsp;
pub mod engine;
pub mod headless;
pub mod keymap;
pub mod model;
pub mod osc;
pub mod render;
pub mod slots_cli;
pub mod store;
pub mod tui;
pub mod watch;
