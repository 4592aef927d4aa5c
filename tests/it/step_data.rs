//! Issue 14 (schema 1.1, per-step data), measured on the real engine: per-step notes,
//! velocities, parameter locks, micro-timing, ratchets, chance and trig conditions; and the
//! promise that slots without the new fields sound exactly as before.

use std::path::{Path, PathBuf};

use chronus::app::render;
use chronus::model::Slot;
use chronus::store::read_slot_file;

const RATE: u32 = 48_000;

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

/// FNV-1a over the bits of every sample: a render's fingerprint.
fn render_hash(samples: &[f32]) -> u64 {
    samples.iter().fold(0xcbf2_9ce4_8422_2325, |h, x| {
        x.to_bits()
            .to_le_bytes()
            .iter()
            .fold(h, |h, &b| (h ^ b as u64).wrapping_mul(0x0100_0000_01b3))
    })
}

/// Every slot whose sound must not change: the shipped demo slots, the original-dialect
/// fixtures and the slot built in code.
fn reference_slots() -> Vec<(String, Slot)> {
    let mut out = crate::stage_sound::demo_slots();
    for name in ["original_engine.json", "slot_format_example.json"] {
        out.push((name.to_string(), read_slot_file(&fixture(name)).unwrap().slot));
    }
    out.push(("anthem (code)".to_string(), crate::anthem::anthem_breakbeat()));
    out
}

/// Bars rendered per reference slot.
const REFERENCE_BARS: u32 = 4;

/// Render fingerprints recorded by the engine as it was before per-step data existed
/// (`tests/fixtures/render_hashes.txt`, written with `CHRONUS_RECORD_RENDER_HASHES=1`).
#[test]
fn slots_without_step_data_render_bit_identically_to_before() {
    let path = fixture("render_hashes.txt");
    let now: Vec<String> = reference_slots()
        .iter()
        .map(|(name, slot)| {
            let out = render::render(slot, REFERENCE_BARS, RATE, 8);
            format!("{name}\t{:016x}\t{}", render_hash(&out), out.len() / 2)
        })
        .collect();
    if std::env::var_os("CHRONUS_RECORD_RENDER_HASHES").is_some() {
        std::fs::write(&path, now.join("\n") + "\n").unwrap();
        return;
    }
    let recorded = std::fs::read_to_string(&path).unwrap();
    let recorded: Vec<&str> = recorded.lines().collect();
    assert_eq!(recorded.len(), now.len(), "{now:#?}");
    for (want, got) in recorded.iter().zip(&now) {
        assert_eq!(*want, got);
    }
}
