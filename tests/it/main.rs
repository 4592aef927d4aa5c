//! Integration tests: one binary, one module per part.

// Off Unix the tests of signals and special files are left out; their helpers stay unused.
#![cfg_attr(not(unix), allow(dead_code, unused_imports))]

// Lets tests prove that code paths (the audio callback) never allocate.
#[global_allocator]
static ALLOC: assert_no_alloc::AllocDisabler = assert_no_alloc::AllocDisabler;

#[path = "../fixtures/anthem.rs"]
mod anthem;
mod architecture;
mod chains;
mod clean_text;
mod cli;
mod compat;
mod control;
mod disk;
mod engine;
mod fast_entry;
mod keeping;
mod keymap;
mod link;
// JACK MIDI through a dummy server (the JACK backend is built for Linux only).
#[cfg(target_os = "linux")]
mod midi;
mod osc;
mod playable;
mod prepare;
mod session;
// Signals, FIFOs, sockets and device files are Unix things (the Windows build checks the rest).
#[cfg(unix)]
mod signals;
mod slot_model;
mod soak;
#[cfg(unix)]
mod special_files;
mod stage;
mod stage_sound;
mod step_data;
mod step_edit;
mod store;
mod support;
mod tui;
mod watch;
