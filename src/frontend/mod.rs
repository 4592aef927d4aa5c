//! What a performer or a script sees: the tracker screen (`tui`), headless play, offline
//! render, the slots CLI and the OSC client (`ctl`). Frontends render the Controller's state
//! and go through `app` for everything that runs; none imports `engine` or `audio`.

pub mod ctl;
pub mod headless;
pub mod render;
pub mod slots;
pub mod tui;
