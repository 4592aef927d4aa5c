//! The whole engine per device buffer: Anthem Breakbeat 174 (8 voices + acid1 + dist1 +
//! reverb1 + delay1 + limiter + meters), running. Target: ≥ 200× realtime, i.e. a 128-frame
//! buffer at 48 kHz in ≤ ~13 µs.

#[path = "../tests/fixtures/anthem.rs"]
mod anthem;

use std::hint::black_box;
use std::path::Path;
use std::time::Duration;

use chronus::engine::{Engine, EngineMsg, LoadTiming, Scene};
use chronus::model::Slot;
use chronus::store::read_slot_file;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};

const RATE: f32 = 48000.0;
const FRAMES: usize = 128;

/// The shipped "Anthem Breakbeat 174" slot when `patterns/slots` has it, else the same scene
/// built in code.
fn anthem() -> Slot {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("patterns/slots");
    (1..=128)
        .filter_map(|n| read_slot_file(&dir.join(format!("slot_{n:03}.json"))).ok())
        .map(|parsed| parsed.slot)
        .find(|slot| slot.metadata.name == "Anthem Breakbeat 174")
        .unwrap_or_else(anthem::anthem_breakbeat)
}

fn playing(slot: &Slot, voices: usize) -> Engine {
    let mut e = Engine::new(RATE, voices);
    e.handle(EngineMsg::Load {
        scene: Box::new(Scene::from_slot(slot, voices)),
        timing: LoadTiming::Immediate,
        slot: 1,
    });
    e.handle(EngineMsg::Play);
    // A second of music first, so the reverb and delay are full and voices have woken.
    let mut buf = vec![0.0f32; 2 * FRAMES];
    for _ in 0..(RATE as usize / FRAMES) {
        e.process(&mut buf);
        while e.pop_event().is_some() {}
    }
    e
}

fn bench_engine(c: &mut Criterion) {
    let slot = anthem();
    let mut g = c.benchmark_group("engine");
    g.throughput(Throughput::Elements(FRAMES as u64));
    g.measurement_time(Duration::from_secs(5));

    let mut e = playing(&slot, 8);
    let mut buf = vec![0.0f32; 2 * FRAMES];
    g.bench_function("anthem_breakbeat_128_frames", |b| {
        b.iter(|| {
            e.process(black_box(&mut buf));
            while e.pop_event().is_some() {}
        })
    });

    // What a start costs before the first sample: the engine (its oscillators' tables are
    // built into the binary), the scene, and the first buffer.
    g.bench_function("start_to_first_128_frames", |b| {
        b.iter(|| {
            let mut e = Engine::new(RATE, 8);
            e.handle(EngineMsg::Load {
                scene: Box::new(Scene::from_slot(&slot, 8)),
                timing: LoadTiming::Immediate,
                slot: 1,
            });
            e.handle(EngineMsg::Play);
            e.process(black_box(&mut buf));
            black_box(e)
        })
    });

    let mut idle = Engine::new(RATE, 8);
    g.bench_function("silent_scene_128_frames", |b| {
        b.iter(|| {
            idle.process(black_box(&mut buf));
            while idle.pop_event().is_some() {}
        })
    });

    let mut e16 = playing(&slot, 16);
    for v in 9..=16u8 {
        e16.handle(EngineMsg::Gate { voice: v, on: true });
    }
    g.bench_function("sixteen_voices_gated_128_frames", |b| {
        b.iter(|| {
            e16.process(black_box(&mut buf));
            while e16.pop_event().is_some() {}
        })
    });
    g.finish();
}

criterion_group!(benches, bench_engine);
criterion_main!(benches);
