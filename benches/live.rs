//! Live path figures: edit-to-audio latency through the real command ring on the paced
//! internal clock (128-frame periods at 48 kHz), and control-side cost of sending an edit.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use chronus::audio::Recorder;
use chronus::engine::{Engine, EngineMsg};
use chronus::model::registry::{ParamId, voice};
use criterion::{Criterion, criterion_group, criterion_main};

fn edit_to_audio(c: &mut Criterion) {
    let mut recorder = Recorder::new();
    let (_out, mut link) =
        chronus::audio::open_engine(Engine::new(48_000.0, 8), 128, &mut recorder);
    link.send(EngineMsg::Gate { voice: 1, on: true });
    let stats = link.stats.clone();
    let mut v = 0.0f32;
    let mut n = 0u64;
    let mut g = c.benchmark_group("live");
    g.sample_size(200).measurement_time(Duration::from_secs(6));
    // From sending an edit to the callback that applies it: the message waits for the next
    // callback to start, which applies it before rendering.
    g.bench_function("edit_to_audio_128", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                // Send at a pseudo-random phase of the period, as a performer's key press would.
                n += 1;
                let phase = n.wrapping_mul(2_654_435_761) % 2667;
                std::thread::sleep(Duration::from_micros(phase));
                v = if v > 0.5 { 0.1 } else { 0.9 };
                let target = stats.commands_applied.load(Ordering::Acquire) + 1;
                let t0 = Instant::now();
                link.send(EngineMsg::SetParam {
                    id: ParamId::voice(1, voice::AMP),
                    value: v,
                });
                // The callback that applies the edit renders with it right away (the render
                // itself is the `engine` bench's ~16 µs), so applied = on its way out.
                while stats.commands_applied.load(Ordering::Acquire) < target {
                    std::hint::spin_loop();
                }
                total += t0.elapsed();
                while link.try_event().is_some() {}
                link.collect_garbage();
            }
            total
        })
    });
    g.finish();
}

criterion_group!(benches, edit_to_audio);
criterion_main!(benches);
