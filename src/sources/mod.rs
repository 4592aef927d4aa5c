//! Outside events turned into Commands: the OSC server (`osc`), MIDI (`midi`) and the
//! slot-file watcher (`watch`). Each is a [`crate::control::Service`] of the one control loop.

pub mod midi;
pub mod osc;
pub mod watch;
