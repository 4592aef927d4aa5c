//! The composition root: the [`Session`] that builds and turns a playing Chronus, and the
//! offline render. Frontends reach the engine and the audio output only through here; the
//! binary's `main` dispatches subcommands to the frontends.

pub mod render;
pub mod session;

pub use crate::audio::{AudioArgs, list_devices};
pub use session::{BackendInfo, ENGINE_POLL, Session, SessionOptions};
