//! Integration tests: one binary, one module per part.

// Lets tests prove that code paths (the audio callback) never allocate.
#[global_allocator]
static ALLOC: assert_no_alloc::AllocDisabler = assert_no_alloc::AllocDisabler;

mod slot_model;
mod store;
mod engine;
mod keymap;
mod watch;
mod tui;
mod osc;
mod control;
