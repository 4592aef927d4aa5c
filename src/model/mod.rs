//! The song as data: the parameter registry, the slot schema, notes parsing and validation.

pub mod diff;
mod json_keys;
pub mod notes;
pub mod registry;
pub mod schema;
pub mod slot;
mod slot_read;
mod slot_write;

pub use registry::{Module, ParamId, ParamSpec, ParamValues};
pub use slot::{Slot, Track};

/// Formats a number compactly for messages (`0.25`, `1500`).
pub fn fmt_num(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e9 {
        format!("{v:.0}")
    } else {
        let s = format!("{v:.4}");
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    }
}
