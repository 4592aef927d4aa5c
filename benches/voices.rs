//! How the engine's cost grows with the voices playing: one 256-frame buffer at 48 kHz with
//! 0, 1, 4, 8 and 16 voices sounding (of an engine running 16), each on its own track with
//! a waveform of its own (sine, saw, square, white, pink, brown in turn), sends to the reverb
//! and the delay; and the same with every hit carrying per-step locks and a ratchet.
//! Target: linear in the voices (asleep voices cost nothing), and locks/ratchets no worse.

use std::hint::black_box;
use std::time::Duration;

use chronus::engine::{Engine, EngineMsg, LoadTiming, Scene};
use chronus::model::Slot;
use chronus::model::slot::parse_slot;
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use serde_json::{Map, Value, json};

const RATE: f32 = 48000.0;
const FRAMES: usize = 256;
const ENGINE_VOICES: usize = 16;

/// A slot with `voices` tracks, voice k played by track k on every other step; with
/// `step_data`, every hit locks the level and resonance and ratchets (2 or 3 hits).
fn slot(voices: usize, step_data: bool) -> Slot {
    let mut tracks = Map::new();
    let mut modules = Map::new();
    for k in 1..=voices {
        let mut steps = Map::new();
        if step_data {
            for s in (1..=16).step_by(2) {
                let q = 1.0 + (s % 5) as f64;
                steps.insert(
                    s.to_string(),
                    json!({ "lock": { "amp": 0.12, "filter_q": q }, "ratchet": 2 + s % 2 }),
                );
            }
        }
        tracks.insert(
            format!("t{k}"),
            json!({ "voice_id": format!("voice{k}"), "pattern": "x.x.x.x.x.x.x.x.",
                    "notes": [110.0 * k as f64, 165.0 * k as f64], "base_amp": 0.1,
                    "filter_freq": 2500.0, "accent_boost": 0.0, "gate_frac": 0.6,
                    "reverb_send": 0.2, "delay_send": 0.1, "steps": Value::Object(steps) }),
        );
        modules.insert(
            format!("voice{k}"),
            json!({ "freq": 110.0 * k as f64, "amp": 0.1, "waveform": (k - 1) % 6,
                    "filter_freq": 2500.0, "filter_q": 1.5,
                    "adsr": { "attack": 0.005, "decay": 0.1, "sustain": 0.5, "release": 0.1 },
                    "reverb_send": 0.2, "delay_send": 0.1 }),
        );
    }
    let doc = json!({
        "schema_version": "1.1",
        "sequencer": { "bpm": 120.0, "swing": 0.0, "tracks": Value::Object(tracks) },
        "modules": Value::Object(modules),
    });
    let parsed = parse_slot(&doc.to_string(), "bench").unwrap_or_else(|e| panic!("{e}"));
    // The reader warns that voices 9–16 need `--voices`; this engine runs all 16.
    let unexpected: Vec<_> = (parsed.warnings.iter())
        .filter(|w| !w.message.contains("beyond the 8 voices"))
        .collect();
    assert!(unexpected.is_empty(), "{unexpected:?}");
    parsed.slot
}

/// An engine of 16 voices playing `slot`, a second in (reverb and delay full, voices awake).
fn playing(slot: &Slot) -> Engine {
    let mut e = Engine::new(RATE, ENGINE_VOICES);
    e.handle(EngineMsg::Load {
        scene: Box::new(Scene::from_slot(slot, ENGINE_VOICES)),
        timing: LoadTiming::Immediate,
        slot: 1,
    });
    e.handle(EngineMsg::Play);
    let mut buf = vec![0.0f32; 2 * FRAMES];
    for _ in 0..(RATE as usize / FRAMES) {
        e.process(&mut buf);
        while e.pop_event().is_some() {}
        while e.pop_gate_record().is_some() {}
        while e.pop_garbage().is_some() {}
    }
    e
}

fn bench_voices(c: &mut Criterion) {
    let mut g = c.benchmark_group("voices_256_frames");
    g.throughput(Throughput::Elements(FRAMES as u64));
    g.measurement_time(Duration::from_secs(3));
    g.warm_up_time(Duration::from_secs(1));
    for (name, step_data) in [("plain", false), ("locks_ratchets", true)] {
        for voices in [0, 1, 4, 8, 16] {
            let mut e = playing(&slot(voices, step_data));
            let mut buf = vec![0.0f32; 2 * FRAMES];
            g.bench_with_input(BenchmarkId::new(name, voices), &voices, |b, _| {
                b.iter(|| {
                    e.process(black_box(&mut buf));
                    while e.pop_event().is_some() {}
                    while e.pop_gate_record().is_some() {}
                    while e.pop_garbage().is_some() {}
                })
            });
        }
    }
    g.finish();
}

criterion_group!(benches, bench_voices);
criterion_main!(benches);
