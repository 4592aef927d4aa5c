//! The song as data: the parameter registry, the slot schema, notes parsing and validation.

pub mod chain;
pub mod diff;
mod json_keys;
pub mod limits;
pub mod notes;
pub mod registry;
pub mod schema;
pub mod slot;
mod slot_limits;
mod slot_read;
mod slot_write;
pub mod steps;
pub mod text;

pub use registry::{Module, ParamId, ParamSpec, ParamValues};
pub use slot::{MidiTarget, Slot, Track};

pub use text::fmt_num;
