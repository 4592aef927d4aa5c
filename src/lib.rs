//! Chronus: a keyboard-driven terminal tracker and synthesizer for live electronic music.
//!
//! Imports run one way (the architecture test in `tests/it/architecture.rs` holds the code to
//! it): `platform`, `model` ← `dsp` ← `engine`, `store` ← `audio` ← `control`, `keymap` ←
//! `sources` ← `app` ← `frontend` ← `cli` (only the binary imports `cli` and dispatches the
//! subcommands to their frontends). The audio engine (`dsp`, `engine`) is independent of
//! cpal, the terminal and files, so it plays live (`audio`), renders offline and runs in
//! tests the same way. `app` is the one composition root; frontends only render the
//! Controller's state.

pub mod app;
pub mod audio;
pub mod cli;
pub mod control;
pub mod dsp;
pub mod engine;
pub mod frontend;
pub mod keymap;
pub mod model;
pub mod platform;
pub mod sources;
pub mod store;
