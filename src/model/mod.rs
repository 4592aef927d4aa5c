//! The song as data: the parameter registry, the slot schema, notes parsing and validation.

pub mod registry;
pub mod slot;

pub use registry::{Module, ParamId, ParamSpec, ParamValues};
pub use slot::{Slot, Track};
