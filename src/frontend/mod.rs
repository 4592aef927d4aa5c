//! What a performer or a script sees: the tracker screen (`tui`), headless play, offline
//! render, the slots CLI and the OSC client (`ctl`). Frontends render the Controller's state
//! and go through `app` for everything that runs; none imports `engine` or `audio`.

pub mod ctl;
pub mod headless;
pub mod render;
pub mod slots;
pub mod tui;

/// An error as the command line prints it: each cause once, control characters escaped.
pub fn error_text(err: &anyhow::Error) -> String {
    crate::model::text::error_chain(err.chain())
}

/// `--slot N` on the command line: checked while the command line is read, so a bad number
/// is clap's error quoting it (kept as text: the tracker's options have a `Default`).
pub fn slot_arg(text: &str) -> Result<String, crate::store::StoreError> {
    crate::store::SlotNumber::parse(text).map(|_| text.to_string())
}
