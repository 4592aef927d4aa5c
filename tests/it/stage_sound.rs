//! Issue 13 "playable on stage", measured on offline renders of the real engine: what the
//! screen shows is what sounds, accents are heard, and a filter nudge moves the spectrum.

use std::path::Path;

use chronus::app::render;
use chronus::model::{Slot, Track};
use chronus::store::read_slot_file;

const RATE: u32 = 48_000;

/// The shipped demo slots, by file name.
pub fn demo_slots() -> Vec<(String, Slot)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("patterns/slots");
    let mut out: Vec<(String, Slot)> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().and_then(|e| e.to_str()) == Some("json"))
        .map(|p| {
            let name = p.file_name().unwrap().to_str().unwrap().to_string();
            (name, read_slot_file(&p).unwrap().slot)
        })
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    assert!(!out.is_empty());
    out
}

/// Root mean square of a stereo render (both channels).
pub fn rms(out: &[f32]) -> f64 {
    (out.iter().map(|&x| (x as f64) * (x as f64)).sum::<f64>() / out.len() as f64).sqrt()
}

/// `slot` with only `track` left, playing `pattern`.
fn solo(slot: &Slot, track: &Track, pattern: &str) -> Slot {
    let mut s = slot.clone();
    let mut t = track.clone();
    t.pattern = pattern.to_string();
    t.muted = false;
    t.solo = false;
    s.sequencer.tracks = vec![t];
    s.sequencer.swing = 0.0;
    s
}

#[test]
fn an_accented_hit_is_at_least_3_db_louder_on_every_demo_voice() {
    let mut worst = f64::INFINITY;
    for (file, slot) in demo_slots() {
        let mut seen = Vec::new();
        for t in &slot.sequencer.tracks {
            if seen.contains(&t.voice_id) {
                continue;
            }
            seen.push(t.voice_id.clone());
            let level = |pattern: &str| rms(&render::render(&solo(&slot, t, pattern), 1, RATE, 8));
            let (plain, accented) = (level("x..............."), level("X..............."));
            let db = 20.0 * (accented / plain).log10();
            eprintln!("{file} {} ({}): accent {db:+.2} dB", t.name, t.voice_id);
            assert!(plain > 1e-4, "{file} {}: the plain hit is silent", t.name);
            assert!(db >= 3.0, "{file} {}: accent only {db:+.2} dB", t.name);
            worst = worst.min(db);
        }
    }
    eprintln!("smallest accent over every demo voice: {worst:+.2} dB");
}
