//! Save (with fsync, backup and pruning) and load+validate of an 8-voice, 8-track slot.
//!
//! Targets (issue 2): save p99 ≤ 5 ms, load p99 ≤ 2 ms. Criterion reports means; under
//! `cargo bench` a separate run of 1000 timed iterations each prints mean, p50, p99 and max.

use std::hint::black_box;
use std::time::{Duration, Instant};

use chronus::model::ParamId;
use chronus::model::registry::{EFFECT_MODULES, Module, voice};
use chronus::model::slot::{Slot, Track};
use chronus::store::{SlotNumber, Store};
use criterion::Criterion;

/// A full slot like the demo songs: 8 voices with every parameter set, 8 tracks with notes.
fn eight_track_slot() -> Slot {
    let mut slot = Slot::default();
    slot.metadata.name = "Bench 8x8".to_string();
    slot.metadata.genre = Some("breakbeat".to_string());
    slot.metadata.tags = vec!["bench".to_string(), "174".to_string()];
    slot.sequencer.bpm = 174.0;
    slot.sequencer.swing = 0.12;
    slot.timestamp = 1_704_654_321.456;
    let names = [
        "kick", "bass", "snare", "hats", "hey1", "hey2", "crowd", "stab",
    ];
    for (i, name) in names.iter().enumerate() {
        let mut t = Track::new(name, &format!("voice{}", i + 1), "X...x...X.x.x...");
        t.notes = (0..16).map(|k| 41.2 * (1.0 + k as f64 / 16.0)).collect();
        t.base_amp = 0.2 + i as f64 * 0.01;
        t.filter_freq = 500.0 + i as f64 * 300.0;
        t.gate_frac = 0.3;
        slot.sequencer.tracks.push(t);
    }
    for v in 1..=8u8 {
        for id in Module::Voice(v).param_ids() {
            let spec = id.spec();
            slot.params.set(id, spec.min + (spec.max - spec.min) * 0.37);
        }
        slot.params
            .set(ParamId::voice(v, voice::WAVEFORM), f64::from(v % 6));
    }
    for m in EFFECT_MODULES {
        for id in m.param_ids() {
            let spec = id.spec();
            slot.params.set(id, spec.min + (spec.max - spec.min) * 0.61);
        }
    }
    slot
}

fn report(name: &str, mut run: impl FnMut()) {
    const ITERATIONS: usize = 1000;
    let mut times: Vec<Duration> = (0..ITERATIONS)
        .map(|_| {
            let start = Instant::now();
            run();
            start.elapsed()
        })
        .collect();
    times.sort();
    let mean = times.iter().sum::<Duration>() / ITERATIONS as u32;
    let pct = |p: f64| times[((ITERATIONS as f64 * p).ceil() as usize - 1).min(ITERATIONS - 1)];
    println!(
        "{name}: {ITERATIONS} runs, mean {:.3} ms, p50 {:.3} ms, p99 {:.3} ms, max {:.3} ms",
        mean.as_secs_f64() * 1e3,
        pct(0.50).as_secs_f64() * 1e3,
        pct(0.99).as_secs_f64() * 1e3,
        times[ITERATIONS - 1].as_secs_f64() * 1e3
    );
}

fn main() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = Store::new(dir.path());
    let slot = eight_track_slot();
    let n = SlotNumber::new(1).expect("slot 1");
    let info = store.save(n, &slot).expect("first save");
    println!("slot file: {} bytes", info.bytes);

    // cargo bench passes --bench; plain test runs of the bench target skip the long report.
    if std::env::args().any(|a| a == "--bench") {
        report("save (fsync, backup, prune)", || {
            store.save(n, black_box(&slot)).expect("save");
        });
        report("load + validate", || {
            black_box(store.load(n).expect("load"));
        });
    }

    let mut c = Criterion::default().configure_from_args();
    c.bench_function("pattern_io/save_8_voices_8_tracks", |b| {
        b.iter(|| store.save(n, black_box(&slot)).expect("save"))
    });
    c.bench_function("pattern_io/load_8_voices_8_tracks", |b| {
        b.iter(|| black_box(store.load(n).expect("load")))
    });
    c.final_summary();
}
