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
        out.push((
            name.to_string(),
            read_slot_file(&fixture(name)).unwrap().slot,
        ));
    }
    out.push((
        "anthem (code)".to_string(),
        crate::anthem::anthem_breakbeat(),
    ));
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

/// Frames in each stretch of a reference render kept in `tests/fixtures/engine_reference/`.
const EXCERPT: usize = 2048;

/// Four stretches of a render (its start, a third and two thirds in, its end), interleaved:
/// where a change in the engine's arithmetic shows first, and where it has had longest to grow
/// through the filters' and the reverb's feedback.
fn excerpts(out: &[f32]) -> Vec<f32> {
    let frames = out.len() / 2;
    [0, frames / 3, 2 * frames / 3, frames - EXCERPT]
        .iter()
        .flat_map(|&at| out[2 * at..2 * (at + EXCERPT)].iter().copied())
        .collect()
}

/// A reference's file: the slot's name with anything but letters and digits as `_`.
fn reference_file(name: &str) -> PathBuf {
    let stem: String = name
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    fixture("engine_reference").join(format!("{stem}.f32"))
}

/// Every reference slot renders within −120 dB of the engine as it was before its speed work
/// (issue 17): the energy of the difference over the energy of the reference, in four
/// stretches of each 4-bar render, kept as little-endian f32 (written with
/// `CHRONUS_RECORD_ENGINE_REFERENCE=1`). Bit-identical output passes at −∞.
#[test]
fn every_reference_slot_renders_within_120_db_of_the_recorded_engine() {
    let record = std::env::var_os("CHRONUS_RECORD_ENGINE_REFERENCE").is_some();
    let mut report = Vec::new();
    for (name, slot) in reference_slots() {
        let now = excerpts(&render::render(&slot, REFERENCE_BARS, RATE, 8));
        let path = reference_file(&name);
        if record {
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            let bytes: Vec<u8> = now.iter().flat_map(|x| x.to_le_bytes()).collect();
            std::fs::write(&path, bytes).unwrap();
            continue;
        }
        let bytes = std::fs::read(&path).unwrap();
        let want: Vec<f32> = bytes
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect();
        assert_eq!(want.len(), now.len(), "{name}");
        let energy: f64 = want.iter().map(|&x| (x as f64).powi(2)).sum();
        let error: f64 = want
            .iter()
            .zip(&now)
            .map(|(&a, &b)| (a as f64 - b as f64).powi(2))
            .sum();
        assert!(energy > 0.0, "{name}: a silent reference proves nothing");
        let db = 10.0 * (error / energy).log10();
        report.push(format!("{name} {db:.1} dB"));
        assert!(db <= -120.0, "{name}: {db:.1} dB from the reference");
    }
    eprintln!("difference from the recorded engine: {}", report.join(", "));
}

/// The engine's AVX2 code and its portable code give the same bits (the reference slots,
/// rendered both ways in one process).
#[test]
fn wide_lanes_and_the_portable_code_render_the_same_bits() {
    for (name, slot) in reference_slots() {
        chronus::platform::allow_wide_lanes(false);
        let narrow = render_hash(&render::render(&slot, 1, RATE, 8));
        chronus::platform::allow_wide_lanes(true);
        let wide = render_hash(&render::render(&slot, 1, RATE, 8));
        assert_eq!(narrow, wide, "{name}");
    }
}

// ---------------------------------------------------------------------------------------------
// The engine, sample-exact, on slots written as files (the reader is part of what is tested).

use chronus::engine::{Engine, EngineMsg, LoadTiming, Scene};
use chronus::model::ParamId;
use chronus::model::registry::voice;
use chronus::model::slot::parse_slot;
use serde_json::{Value, json};

/// 120 BPM at 48 kHz: a step is exactly 6000 samples.
const SPS: u64 = 6000;

/// A slot at `bpm` with `tracks`, voice1 a short sine (so each hit ends within its step).
fn slot_with(bpm: f64, seed: Option<u32>, tracks: Value) -> Slot {
    let mut seq = json!({ "bpm": bpm, "swing": 0.0, "tracks": tracks });
    if let Some(seed) = seed {
        seq["seed"] = json!(seed);
    }
    let doc = json!({
        "schema_version": "1.1",
        "sequencer": seq,
        "modules": {
            "voice1": { "freq": 440.0, "amp": 0.3, "waveform": 0, "filter_freq": 8000.0,
                        "filter_q": 0.7,
                        "adsr": { "attack": 0.001, "decay": 0.02, "sustain": 0.6, "release": 0.01 } },
            "reverb1": { "mix": 0.0 }, "delay1": { "mix": 0.0 }
        }
    });
    let parsed = parse_slot(&doc.to_string(), "test").unwrap_or_else(|e| panic!("{e}"));
    assert!(parsed.warnings.is_empty(), "{:?}", parsed.warnings);
    parsed.slot
}

/// One track on voice1 playing `pattern` with `steps`.
fn track(pattern: &str, steps: Value) -> Value {
    json!({ "voice_id": "voice1", "pattern": pattern, "notes": [440.0], "base_amp": 0.3,
            "filter_freq": 8000.0, "accent_boost": 0.0, "gate_frac": 0.25, "steps": steps })
}

/// An engine playing `slot` from sample 0.
fn engine_for(slot: &Slot) -> Engine {
    let mut e = Engine::new(RATE as f32, 8);
    e.handle(EngineMsg::Load {
        scene: Box::new(Scene::from_slot(slot, 8)),
        timing: LoadTiming::Immediate,
        slot: 0,
    });
    e.handle(EngineMsg::Play);
    e
}

/// `frames` of `e` in blocks of `block`: the left channel, and voice1's gate-on samples.
fn run(e: &mut Engine, frames: usize, block: usize) -> (Vec<f32>, Vec<u64>) {
    let mut left = Vec::with_capacity(frames);
    let mut ons = Vec::new();
    let mut buf = vec![0.0f32; block * 2];
    let mut done = 0;
    while done < frames {
        let n = block.min(frames - done);
        e.process(&mut buf[..2 * n]);
        left.extend(buf[..2 * n].iter().step_by(2));
        while let Some(g) = e.pop_gate_record() {
            if g.on && g.voice == 1 {
                ons.push(g.sample);
            }
        }
        while e.pop_event().is_some() {}
        while e.pop_garbage().is_some() {}
        done += n;
    }
    (left, ons)
}

fn step_rms(left: &[f32], step: usize) -> f64 {
    let w = &left[step * SPS as usize..(step + 1) * SPS as usize];
    (w.iter().map(|&x| (x as f64).powi(2)).sum::<f64>() / w.len() as f64).sqrt()
}

/// The first sample that is not silent.
fn first_sound(left: &[f32]) -> usize {
    left.iter()
        .position(|&x| x != 0.0)
        .expect("something sounds")
}

#[test]
fn a_lock_changes_its_parameter_for_exactly_one_step() {
    let all = "xxxxxxxxxxxxxxxx";
    let plain = slot_with(120.0, None, json!({ "t": track(all, json!({})) }));
    let locked = slot_with(
        120.0,
        None,
        json!({ "t": track(all, json!({ "5": { "lock": { "amp": 0.1 } } })) }),
    );
    let (a, _) = run(&mut engine_for(&plain), 16 * SPS as usize, 128);
    let (b, _) = run(&mut engine_for(&locked), 16 * SPS as usize, 128);
    let ratios: Vec<f64> = (0..16).map(|s| step_rms(&b, s) / step_rms(&a, s)).collect();
    eprintln!("level with the lock / without, per step: {ratios:.4?}");
    // base_amp 0.3 locked to 0.1 (through its alias `amp`) on step 5 (index 4): a third of
    // the level there, and every other step as without the lock. Steps 6 and 7 differ by
    // under 0.5 %: the quieter tail lets the voice fall asleep a control period sooner, and
    // a sleeping oscillator does not turn, so the next hits start at another phase.
    assert!((ratios[4] - 1.0 / 3.0).abs() < 0.01, "{ratios:?}");
    for (s, r) in ratios.iter().enumerate().filter(|(s, _)| *s != 4) {
        assert!((r - 1.0).abs() < 0.005, "step {}: {r}", s + 1);
    }
    assert_eq!(a[..4 * SPS as usize], b[..4 * SPS as usize]);
    // The level each hit sets, one sample into each step: locked on step 5 only.
    let mut e = engine_for(&locked);
    let mut levels = Vec::new();
    for _ in 0..16 {
        run(&mut e, 1, 1);
        levels.push(e.param(ParamId::voice(1, voice::AMP)));
        run(&mut e, SPS as usize - 1, 256);
    }
    let plain_level = 0.3f32 * 0.6;
    let locked_level = 0.1f32 * 0.6;
    for (s, l) in levels.iter().enumerate() {
        let want = if s == 4 { locked_level } else { plain_level };
        assert_eq!(*l, want, "step {}", s + 1);
    }
}

#[test]
fn a_voice_lock_returns_after_its_step_even_when_two_tracks_share_the_voice() {
    let q = ParamId::voice(1, voice::FILTER_Q);
    let slot = slot_with(
        120.0,
        None,
        json!({
            "a": track("x...x...", json!({ "1": { "lock": { "q": 9.0, "waveform": 1 } } })),
            "b": track(".x....x.", json!({})),
        }),
    );
    let mut e = engine_for(&slot);
    let mut trace = Vec::new();
    for _ in 0..8 {
        let (_, _) = run(&mut e, 10, 10);
        trace.push((e.param(q), e.param(ParamId::voice(1, voice::WAVEFORM))));
        run(&mut e, SPS as usize - 10, 128);
    }
    eprintln!("voice1 (q, waveform) 10 samples into each step: {trace:?}");
    // Step 1 (a, locked), step 2 (b's hit right after: the lock is back), step 5 (a again,
    // unlocked step), step 7 (b).
    assert_eq!(trace[0], (9.0, 1.0));
    for (s, &(qv, w)) in trace.iter().enumerate().skip(1) {
        assert_eq!((qv, w), (0.7, 0.0), "step {}", s + 1);
    }
    // Without b, the lock returns one step after its hit, at the exact sample.
    let alone = slot_with(
        120.0,
        None,
        json!({ "a": track("x...", json!({ "1": { "lock": { "filter_q": 9.0 } } })) }),
    );
    let mut e = engine_for(&alone);
    run(&mut e, SPS as usize, 64);
    assert_eq!(e.param(q), 9.0, "still locked through sample {}", SPS - 1);
    run(&mut e, 1, 1);
    assert_eq!(e.param(q), 0.7, "back at sample {SPS}");
}

#[test]
fn ratchet_4_gives_4_onsets_equally_spaced_in_the_step() {
    let slot = slot_with(
        120.0,
        None,
        json!({ "t": track("....x...........", json!({ "5": { "ratchet": 4 } })) }),
    );
    for block in [64, 128, 333] {
        let (left, ons) = run(&mut engine_for(&slot), 16 * SPS as usize, block);
        assert_eq!(ons, [24_000, 25_500, 27_000, 28_500], "block {block}");
        assert_eq!(first_sound(&left), 24_000 + first_sound_after_gate());
        // Each quarter of the step sounds, the step before and the one after do not.
        let quarter = |i: usize| {
            let w = &left[24_000 + i * 1500..24_000 + (i + 1) * 1500];
            w.iter().fold(0.0f32, |m, &x| m.max(x.abs()))
        };
        let peaks: Vec<f32> = (0..4).map(quarter).collect();
        assert!(peaks.iter().all(|&p| p > 0.05), "{peaks:?}");
        assert!(
            peaks
                .iter()
                .all(|&p| (p - peaks[0]).abs() < 0.02 * peaks[0]),
            "{peaks:?}"
        );
    }
    // At a tempo whose step is not a whole number of samples (137 BPM, 44.1 kHz: 4828.47),
    // the onsets are the step start plus round(i × step / 4).
    let slot = slot_with(
        137.0,
        None,
        json!({ "t": track("x...", json!({ "1": { "ratchet": 4 } })) }),
    );
    let mut e = Engine::new(44_100.0, 8);
    e.handle(EngineMsg::Load {
        scene: Box::new(Scene::from_slot(&slot, 8)),
        timing: LoadTiming::Immediate,
        slot: 0,
    });
    e.handle(EngineMsg::Play);
    let (_, ons) = run(&mut e, 5000, 100);
    let sps = 44_100.0 * 15.0 / 137.0;
    let want: Vec<u64> = (0..4)
        .map(|i| (i as f64 * sps / 4.0).round() as u64)
        .collect();
    assert_eq!(ons, want);
    eprintln!("ratchet 4 at 137 BPM / 44.1 kHz: onsets {ons:?}");
}

/// How many samples after its gate opens a hit of the test voice is first heard (a sine
/// starting at phase 0 under an envelope starting at 0).
fn first_sound_after_gate() -> usize {
    let slot = slot_with(120.0, None, json!({ "t": track("x...", json!({})) }));
    let (left, ons) = run(&mut engine_for(&slot), 1000, 128);
    assert_eq!(ons, [0]);
    first_sound(&left)
}

#[test]
fn micro_moves_the_onset_by_exactly_that_fraction_of_a_step() {
    let onset = |micro: f64, bpm: f64, rate: u32| {
        let slot = slot_with(
            bpm,
            None,
            json!({ "t": track("....x...........", json!({ "5": { "micro": micro } })) }),
        );
        let mut e = Engine::new(rate as f32, 8);
        e.handle(EngineMsg::Load {
            scene: Box::new(Scene::from_slot(&slot, 8)),
            timing: LoadTiming::Immediate,
            slot: 0,
        });
        e.handle(EngineMsg::Play);
        let sps = rate as f64 * 15.0 / bpm;
        let (left, ons) = run(&mut e, (6.0 * sps) as usize, 128);
        (first_sound(&left) as i64, ons, sps)
    };
    let (on_grid, ons, _) = onset(0.0, 120.0, RATE);
    assert_eq!(ons, [24_000]);
    let (late, ons, _) = onset(0.25, 120.0, RATE);
    assert_eq!(ons, [25_500]);
    assert_eq!(
        late - on_grid,
        1500,
        "a quarter of 6000 samples, measured on the render"
    );
    let (early, ons, _) = onset(-0.25, 120.0, RATE);
    assert_eq!(ons, [22_500]);
    assert_eq!(on_grid - early, 1500);
    // 137 BPM at 44.1 kHz: round(0.25 × 4828.467) = 1207 samples.
    let (grid, _, sps) = onset(0.0, 137.0, 44_100);
    let (moved, _, _) = onset(0.25, 137.0, 44_100);
    assert_eq!(moved - grid, (0.25 * sps).round() as i64);
    assert_eq!(moved - grid, 1207);
    eprintln!("micro onsets at 120 BPM: {early} / {on_grid} / {late}; at 137 BPM {grid} → {moved}");
}

#[test]
fn negative_micro_on_step_1_plays_on_time_at_play_and_early_in_every_later_loop() {
    let slot = slot_with(
        120.0,
        None,
        json!({ "t": track("x...", json!({ "1": { "micro": -0.5 } })) }),
    );
    let (_, ons) = run(&mut engine_for(&slot), 3 * 4 * SPS as usize, 100);
    // A loop is 4 steps (24 000 samples); from the second loop on, step 1 sounds half a
    // step before its loop starts, in the last step of the loop before.
    assert_eq!(ons, [0, 21_000, 45_000, 69_000]);
}

#[test]
fn a_1_4_condition_plays_on_loops_1_5_9_only() {
    let slot = slot_with(
        120.0,
        None,
        json!({ "t": track("x...............", json!({ "1": { "cond": "1:4" } })) }),
    );
    let bars = 12;
    let (left, ons) = run(&mut engine_for(&slot), bars * 16 * SPS as usize, 256);
    let loops: Vec<u64> = ons.iter().map(|s| s / (16 * SPS) + 1).collect();
    assert_eq!(loops, [1, 5, 9]);
    let bar = 16 * SPS as usize;
    let sounding: Vec<usize> = (0..bars)
        .filter(|b| left[b * bar..(b + 1) * bar].iter().any(|&x| x.abs() > 1e-3))
        .map(|b| b + 1)
        .collect();
    assert_eq!(sounding, [1, 5, 9], "loops heard in the render");
}

/// Hits over 1000 loops of a one-step track whose step has `chance` %, seed `seed`, rendered
/// in blocks of `block`; and the render's fingerprint.
fn chance_run(seed: u32, block: usize) -> (usize, u64) {
    let slot = slot_with(
        300.0,
        Some(seed),
        json!({ "t": track("x", json!({ "1": { "chance": 50 } })) }),
    );
    let frames = 1000 * 2400;
    let (left, ons) = run(&mut engine_for(&slot), frames, block);
    (ons.len(), render_hash(&left))
}

#[test]
fn a_50_percent_chance_plays_about_half_of_1000_loops_the_same_way_every_render() {
    let (plays, hash) = chance_run(1234, 512);
    eprintln!("50 % chance, seed 1234: {plays} of 1000 loops played");
    assert!((450..=550).contains(&plays), "{plays}");
    // The same seed: the same samples, whatever the block size.
    assert_eq!(chance_run(1234, 512), (plays, hash));
    assert_eq!(chance_run(1234, 97), (plays, hash));
    // Another seed draws otherwise.
    let (other, other_hash) = chance_run(99, 512);
    eprintln!("seed 99: {other} of 1000");
    assert!((450..=550).contains(&other), "{other}");
    assert_ne!(other_hash, hash);
}

#[test]
fn fill_plays_fill_steps_only_while_it_is_on() {
    let slot = slot_with(
        120.0,
        None,
        json!({ "t": track("x.x.", json!({ "1": { "cond": "fill" }, "3": { "cond": "!fill" } })) }),
    );
    let mut e = engine_for(&slot);
    let (_, off) = run(&mut e, 4 * SPS as usize, 128);
    assert_eq!(off, [2 * SPS]);
    e.handle(EngineMsg::SetFill(true));
    assert!(e.fill());
    let (_, on) = run(&mut e, 4 * SPS as usize, 128);
    assert_eq!(on, [4 * SPS]);
    e.handle(EngineMsg::SetFill(false));
    let (_, off) = run(&mut e, 4 * SPS as usize, 128);
    assert_eq!(off, [10 * SPS]);
}

#[test]
fn first_plays_in_the_first_loop_after_play_and_after_a_load_only() {
    let slot = slot_with(
        120.0,
        None,
        json!({ "t": track("x.x.............", json!({ "1": { "cond": "first" }, "3": { "cond": "!first" } })) }),
    );
    let mut e = engine_for(&slot);
    let bar = 16 * SPS;
    let (_, ons) = run(&mut e, 3 * bar as usize, 128);
    assert_eq!(ons, [0, bar + 2 * SPS, 2 * bar + 2 * SPS]);
    assert_eq!(e.track_loop(0, 3 * 16), Some(3));
    // Loaded again at the bar: its first loop is that bar.
    e.handle(EngineMsg::Load {
        scene: Box::new(Scene::from_slot(&slot, 8)),
        timing: LoadTiming::NextBar,
        slot: 3,
    });
    let (_, ons) = run(&mut e, 2 * bar as usize, 128);
    assert_eq!(ons, [3 * bar, 4 * bar + 2 * SPS]);
    assert_eq!(e.track_loop(0, 4 * 16), Some(1));
}

#[test]
fn pre_follows_the_most_recently_evaluated_condition_of_its_track() {
    // Step 1 plays by chance; step 2 plays when it did (pre), step 3 when it did not (!pre);
    // step 4 (pre) looks past step 2 and 3, which are pre conditions themselves, to step 1.
    let slot = slot_with(
        300.0,
        Some(7),
        json!({ "t": track("xxxx", json!({
            "1": { "chance": 50 }, "2": { "cond": "pre" }, "3": { "cond": "!pre" },
            "4": { "cond": "pre" } })) }),
    );
    let sps = 2400;
    let (_, ons) = run(&mut engine_for(&slot), 200 * 4 * sps, 512);
    let mut played = [[false; 4]; 200];
    for s in &ons {
        let step = (s / sps as u64) as usize;
        played[step / 4][step % 4] = true;
    }
    let mut firsts = 0;
    for (l, p) in played.iter().enumerate() {
        assert_eq!(p[1], p[0], "loop {l}");
        assert_eq!(p[2], !p[0], "loop {l}");
        assert_eq!(p[3], p[0], "loop {l}");
        firsts += usize::from(p[0]);
    }
    assert!((60..=140).contains(&firsts), "{firsts} of 200");
}

#[test]
fn a_step_note_replaces_its_hit_while_the_cycle_keeps_its_place() {
    let c3 = chronus::model::notes::parse_note("C3").unwrap() as f32;
    let slot = slot_with(
        120.0,
        None,
        json!({ "t": { "voice_id": "voice1", "pattern": "xxxx", "notes": [110.0, 220.0, 330.0, 440.0],
                       "steps": { "2": { "note": "C3", "velocity": 0.5 } } } }),
    );
    let mut e = engine_for(&slot);
    let mut freqs = Vec::new();
    for _ in 0..8 {
        run(&mut e, 1, 1);
        freqs.push(e.param(ParamId::voice(1, voice::FREQ)));
        run(&mut e, SPS as usize - 1, 256);
    }
    assert_eq!(
        freqs,
        [110.0, c3, 330.0, 440.0, 110.0, c3, 330.0, 440.0],
        "the other steps play the notes they played without the step note"
    );
    let amp = |v: f64| {
        let s = slot_with(
            120.0,
            None,
            json!({ "t": { "voice_id": "voice1", "pattern": "x...",
            "steps": { "1": { "velocity": v } } } }),
        );
        let mut e = engine_for(&s);
        run(&mut e, 1, 1);
        e.param(ParamId::voice(1, voice::AMP))
    };
    assert_eq!(amp(0.5), amp(1.0) * 0.5);
}

// ---------------------------------------------------------------------------------------------
// Schema 1.1: reading, writing, migration.

fn parse_err(doc: &Value) -> String {
    parse_slot(&doc.to_string(), "s.json")
        .unwrap_err()
        .to_string()
}

fn doc_with_steps(steps: Value) -> Value {
    json!({ "sequencer": { "tracks": { "kick": { "voice_id": "voice1", "pattern": "x...x...", "steps": steps } } } })
}

#[test]
fn step_data_errors_name_the_field_and_what_was_expected() {
    let cases = [
        (
            json!({ "0": {} }),
            "s.json: sequencer.tracks.kick.steps.0: \"0\" is not a step number: steps are numbered from 1 to 64 without leading zeros (\"1\" is the first step)",
        ),
        (
            json!({ "1": { "cond": "5:4" } }),
            "s.json: sequencer.tracks.kick.steps.1.cond: \"5:4\": A (which loop of the 4 plays) runs from 1 to 4",
        ),
        (
            json!({ "1": { "cond": "sometimes" } }),
            "s.json: sequencer.tracks.kick.steps.1.cond: \"sometimes\" is not a condition: write A:B (1:4 plays on the first of every 4 loops), fill, !fill, first, !first, pre or !pre",
        ),
        (
            json!({ "1": { "note": "H2" } }),
            "s.json: sequencer.tracks.kick.steps.1.note: \"H2\" is not a note: write a name (C3, A#2, Eb4), a MIDI number (\"48\") or Hz (130.81)",
        ),
        (
            json!({ "1": { "lock": { "cutoff": 900, "filter_freq": 1000 } } }),
            "s.json: sequencer.tracks.kick.steps.1.lock.filter_freq: locks filter_freq a second time (\"cutoff\" already does); keep one",
        ),
        (
            json!({ "1": { "ratchet": "2" } }),
            "s.json: sequencer.tracks.kick.steps.1.ratchet: expected a number, found text \"2\"",
        ),
        (
            json!([1, 2]),
            "s.json: sequencer.tracks.kick.steps: expected an object keyed by step number (\"1\" is the first step), found a list",
        ),
    ];
    for (steps, want) in cases {
        assert_eq!(parse_err(&doc_with_steps(steps)), want);
    }
    let many: serde_json::Map<String, Value> =
        (1..=17).map(|i| (format!("_{i}"), json!(i))).collect();
    let locks: Value = Value::Object(many);
    assert_eq!(
        parse_err(&doc_with_steps(json!({ "1": { "lock": locks } }))),
        "s.json: sequencer.tracks.kick.steps.1.lock: a step may hold at most 16 locks; this one has 17"
    );
}

#[test]
fn step_values_out_of_range_are_clamped_with_a_warning_and_unknown_keys_kept() {
    let doc = doc_with_steps(json!({
        "_comment": "kept",
        "1": { "micro": 0.9, "ratchet": 12, "chance": 150, "velocity": 2, "wobble": 1,
               "lock": { "adsr/attack": 9, "glitter": 3 } },
        "9": { "note": 48 },
    }));
    let parsed = parse_slot(&doc.to_string(), "s.json").unwrap();
    let warnings: Vec<String> = parsed.warnings.iter().map(|w| w.to_string()).collect();
    for want in [
        "sequencer.tracks.kick.steps.1.micro: 0.9 is out of range -0.5–0.5 steps, clamped to 0.5",
        "sequencer.tracks.kick.steps.1.ratchet: 12 is out of range 1–8, clamped to 8",
        "sequencer.tracks.kick.steps.1.chance: 150 is out of range 0–100 %, clamped to 100",
        "sequencer.tracks.kick.steps.1.velocity: 2 is out of range 0–1, clamped to 1",
        "sequencer.tracks.kick.steps.1.wobble: unknown key, kept unchanged (not used by this Chronus)",
        "sequencer.tracks.kick.steps.1.lock[\"adsr/attack\"]: 9 is out of range 0.001–2 s, clamped to 2",
        "sequencer.tracks.kick.steps.1.lock.glitter: unknown key, kept unchanged (not used by this Chronus)",
        "sequencer.tracks.kick.steps.9: the pattern has 8 steps, so step 9 does not play; kept for when the pattern is longer",
    ] {
        assert!(
            warnings.iter().any(|w| w == want),
            "no {want:?} in {warnings:#?}"
        );
    }
    let text = parsed.slot.to_json();
    // Canonical keys (adsr/attack → adsr.attack), unknown keys where they were, step 9's
    // 48 Hz as a number (no note name reads back as exactly 48 Hz).
    assert!(text.contains("\"adsr.attack\": 2.0"), "{text}");
    assert!(text.contains("\"glitter\": 3"), "{text}");
    assert!(text.contains("\"wobble\": 1"), "{text}");
    assert!(text.contains("\"_comment\": \"kept\""), "{text}");
    assert!(text.contains("\"note\": 48.0"), "{text}");
    let again = parse_slot(&text, "again").unwrap();
    assert_eq!(again.slot.sequencer, parsed.slot.sequencer);
    assert_eq!(again.slot.to_json(), text);
}

#[test]
fn the_issue_example_reads_and_writes_back_as_written() {
    let doc = json!({
        "schema_version": "1.1",
        "sequencer": { "bpm": 120.0, "swing": 0.0, "seed": 1234, "tracks": { "bass": {
            "voice_id": "voice2", "pattern": "x...x...x...x...",
            "steps": { "5": { "note": "C3", "velocity": 0.8,
                              "lock": { "filter_freq": 1800, "base_amp": 0.2 },
                              "micro": 0.25, "ratchet": 2, "chance": 50, "cond": "1:4" } } } } }
    });
    let parsed = parse_slot(&doc.to_string(), "example").unwrap();
    assert!(parsed.warnings.is_empty(), "{:?}", parsed.warnings);
    let slot = parsed.slot;
    assert_eq!(slot.sequencer.seed, Some(1234));
    let d = &slot.sequencer.tracks[0].steps.entries[&5];
    assert_eq!(
        d.note,
        Some(chronus::model::notes::parse_note("C3").unwrap())
    );
    assert_eq!(d.ratchet, Some(2));
    let text = slot.to_json();
    let steps = [
        "        \"steps\": {",
        "          \"5\": {",
        "            \"note\": \"C3\",",
        "            \"velocity\": 0.8,",
        "            \"lock\": {",
        "              \"filter_freq\": 1800.0,",
        "              \"base_amp\": 0.2",
        "            },",
        "            \"micro\": 0.25,",
        "            \"ratchet\": 2,",
        "            \"chance\": 50.0,",
        "            \"cond\": \"1:4\"",
        "          }",
        "        }",
    ]
    .join("\n");
    assert!(text.contains(&steps), "{text}");
    assert!(text.contains("\"seed\": 1234,"), "{text}");
    assert!(text.contains("\"schema_version\": \"1.1\""), "{text}");
}

#[test]
fn versions_1_0_and_1_1_load_a_newer_1_x_loads_with_a_warning_and_2_0_is_refused() {
    let doc = |v: &str| json!({ "schema_version": v, "sequencer": { "tracks": {} } }).to_string();
    for v in ["1.0", "1.1", "1"] {
        let p = parse_slot(&doc(v), "s.json").unwrap();
        assert!(p.warnings.is_empty(), "{v}: {:?}", p.warnings);
        assert!(
            p.slot.to_json().contains("\"schema_version\": \"1.1\""),
            "{v}"
        );
    }
    // A newer minor only adds keys, which are kept (SLOT_FORMAT.md); its number stays.
    let p = parse_slot(&doc("1.2"), "s.json").unwrap();
    assert_eq!(
        p.warnings[0].to_string(),
        "schema_version: \"1.2\" is newer than the schema this Chronus knows (1.1): what it adds is kept but not played"
    );
    assert!(p.slot.to_json().contains("\"schema_version\": \"1.2\""));
    assert_eq!(
        parse_slot(&doc("2.0"), "s.json").unwrap_err().to_string(),
        "s.json: schema_version \"2.0\" is not supported: this Chronus reads schema version 1.x"
    );
}

/// The shipped demo slots as they were before the upgrade (schema 1.0), and the
/// original-dialect fixtures.
fn files_of_1_0() -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = crate::stage_sound::demo_slots()
        .into_iter()
        .map(|(name, slot)| {
            (
                name,
                slot.to_json()
                    .replace("\"schema_version\": \"1.1\"", "\"schema_version\": \"1.0\""),
            )
        })
        .collect();
    for name in ["original_engine.json", "slot_format_example.json"] {
        out.push((
            name.to_string(),
            std::fs::read_to_string(fixture(name)).unwrap(),
        ));
    }
    out
}

#[test]
fn a_1_0_file_loaded_and_saved_is_a_valid_1_1_file_that_renders_identically() {
    for (name, text) in files_of_1_0() {
        assert!(text.contains("\"schema_version\": \"1.0\""), "{name}");
        let before = parse_slot(&text, &name).unwrap().slot;
        let saved = before.to_json();
        assert!(saved.contains("\"schema_version\": \"1.1\""), "{name}");
        let after = parse_slot(&saved, &name).unwrap();
        assert!(after.warnings.is_empty(), "{name}: {:?}", after.warnings);
        assert_eq!(
            after.slot.to_json(),
            saved,
            "{name}: a second save changes nothing"
        );
        let a = render::render(&before, 2, RATE, 8);
        let b = render::render(&after.slot, 2, RATE, 8);
        assert!(a == b, "{name} renders differently after the upgrade");
    }
}

#[test]
fn check_upgrade_rewrites_in_place_keeping_a_backup_and_says_what_changed() {
    let dir = tempfile::tempdir().unwrap();
    let slots = dir.path().join("slots");
    std::fs::create_dir_all(&slots).unwrap();
    let original = std::fs::read_to_string(fixture("original_engine.json")).unwrap();
    let file = slots.join("slot_003.json");
    std::fs::write(&file, &original).unwrap();
    let run = |args: &[&str]| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_chronus"))
            .current_dir(dir.path())
            .args(args)
            .output()
            .unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
        )
    };
    let (code, out) = run(&["check", "--upgrade", "slots/slot_003.json"]);
    assert_eq!(code, Some(0), "{out}");
    let mut lines = out.lines();
    assert_eq!(
        lines.next(),
        Some(
            "slots/slot_003.json: 1.0 → 1.1 (schema_version; metadata.genre dropped; sequencer.running dropped; sequencer.global_step dropped)"
        )
    );
    let kept = lines.next().unwrap();
    assert!(
        kept.starts_with("slots/slot_003.json: previous version kept as backups/slot_003_"),
        "{out}"
    );
    let backups: Vec<_> = std::fs::read_dir(dir.path().join("backups"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(backups.len(), 1);
    assert_eq!(std::fs::read_to_string(&backups[0]).unwrap(), original);
    let upgraded = read_slot_file(&file).unwrap();
    assert!(upgraded.warnings.is_empty(), "{:?}", upgraded.warnings);
    assert_eq!(upgraded.slot.schema_version, "1.1");
    let before = parse_slot(&original, "o").unwrap().slot;
    assert!(render::render(&before, 2, RATE, 8) == render::render(&upgraded.slot, 2, RATE, 8));
    // Again: nothing to do, no new backup.
    let (code, out) = run(&["check", "--upgrade", "slots/slot_003.json"]);
    assert_eq!(code, Some(0));
    assert_eq!(out, "slots/slot_003.json: already 1.1, nothing to change\n");
    assert_eq!(
        std::fs::read_dir(dir.path().join("backups"))
            .unwrap()
            .count(),
        1
    );
    // A file outside a patterns folder is left alone, and said so.
    std::fs::write(dir.path().join("loose.json"), &original).unwrap();
    let (code, out) = run(&["check", "--upgrade", "loose.json"]);
    assert_eq!(code, Some(1));
    assert!(
        out.contains(
            "loose.json: not upgraded: --upgrade rewrites slot files of a patterns folder"
        ),
        "{out}"
    );
    assert_eq!(
        std::fs::read_to_string(dir.path().join("loose.json")).unwrap(),
        original
    );
}

// ---------------------------------------------------------------------------------------------
// Anything a hand-edited step map may hold: never a panic, and what loads plays.

use proptest::prelude::*;

fn any_json_leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        (-1e6f64..1e6).prop_map(Value::from),
        (-3i64..20).prop_map(Value::from),
        prop::sample::select(vec![1e300, -1e300, 0.5, -0.5, 100.0, 8.0, 0.0]).prop_map(Value::from),
        prop::sample::select(vec![
            "C3", "A#2", "Eb4", "48", "130.81", "H9", "", "1:4", "4:4", "0:1", "9:8", "fill",
            "!fill", "first", "!first", "pre", "!pre", "PRE", "1:99", "x",
        ])
        .prop_map(Value::from),
    ]
}

/// A number, mostly in a step field's range, sometimes far out of it (clamped on reading).
fn any_number() -> impl Strategy<Value = Value> {
    prop_oneof![
        6 => (-2.0f64..200.0).prop_map(Value::from),
        2 => (-1i64..10).prop_map(Value::from),
        1 => prop::sample::select(vec![1e300, -1e300, 0.5, -0.5, 100.0, 8.0, 0.0]).prop_map(Value::from),
    ]
}

fn any_lock() -> impl Strategy<Value = Value> {
    prop::collection::btree_map(
        prop::sample::select(vec![
            "filter_freq",
            "base_amp",
            "freq",
            "base_freq",
            "accent",
            "gate_frac",
            "q",
            "adsr.attack",
            "release",
            "waveform",
            "slide_time",
            "reverb_send",
            "send/delay",
            "accent_boost",
            "note_index",
            "nope",
            "_c",
        ]),
        prop_oneof![40 => any_number(), 1 => any_json_leaf()],
        0..6,
    )
    .prop_map(|kv| Value::Object(kv.into_iter().map(|(k, v)| (k.to_string(), v)).collect()))
}

/// One step entry: each key with a value of its kind (clamped when out of range), now and
/// then one of the wrong kind (an error).
fn any_step() -> impl Strategy<Value = Value> {
    let note = prop_oneof![
        3 => prop::sample::select(vec!["C3", "A#2", "Eb4", "48", "130.81", "c#-1", "G9"]).prop_map(Value::from),
        2 => any_number(),
    ];
    let cond = prop::sample::select(vec![
        "1:4", "4:4", "2:3", "1:1", "16:16", "fill", "!fill", "first", "!first", "pre", "!pre",
    ])
    .prop_map(Value::from);
    let field = |v: BoxedStrategy<Value>| {
        prop::option::weighted(0.5, prop_oneof![59 => v, 1 => any_json_leaf()])
    };
    (
        field(note.boxed()),
        field(any_number().boxed()),
        field(any_lock().boxed()),
        field(
            any_number()
                .prop_map(|v| json!(v.as_f64().unwrap_or(0.0) / 200.0))
                .boxed(),
        ),
        field((0i64..12).prop_map(Value::from).boxed()),
        field(any_number().boxed()),
        field(cond.boxed()),
        field(any_json_leaf().boxed()),
    )
        .prop_map(
            |(note, velocity, lock, micro, ratchet, chance, cond, junk)| {
                let mut m = serde_json::Map::new();
                for (k, v) in [
                    ("note", note),
                    ("velocity", velocity),
                    ("lock", lock),
                    ("micro", micro),
                    ("ratchet", ratchet),
                    ("chance", chance),
                    ("cond", cond),
                    ("junk", junk),
                ] {
                    if let Some(v) = v {
                        m.insert(k.to_string(), v);
                    }
                }
                Value::Object(m)
            },
        )
}

fn any_steps() -> impl Strategy<Value = Value> {
    prop::collection::vec(
        (
            prop_oneof![
                40 => (1u32..=20).prop_map(|n| n.to_string()),
                1 => prop::sample::select(vec!["0", "65", "01", "_note", "x", "64"]).prop_map(str::to_string),
            ],
            prop_oneof![60 => any_step(), 1 => any_json_leaf()],
        ),
        0..10,
    )
    .prop_map(|kv| Value::Object(kv.into_iter().collect()))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    #[test]
    fn random_step_maps_never_panic_and_what_loads_plays_and_saves_back(
        steps in any_steps(),
        pattern in "[xX.]{1,16}",
        seed in any::<u32>(),
        fill in any::<bool>(),
    ) {
        let doc = json!({
            "schema_version": "1.1",
            "sequencer": { "bpm": 300, "seed": seed, "swing": 0.3, "tracks": {
                "a": { "voice_id": "voice1", "pattern": pattern, "notes": [110.0, 220.0], "steps": steps },
                "b": { "voice_id": "voice1", "pattern": "x.x.", "steps": { "2": { "micro": -0.5, "ratchet": 8 } } },
            } }
        });
        // A wrong kind of value (`"velocity": null`) is refused with an error; about 90
        // of the 128 maps load (measured), and each of those is saved, read again and played.
        let Ok(parsed) = parse_slot(&doc.to_string(), "p.json") else {
            return Ok(());
        };
        let text = parsed.slot.to_json();
        let again = parse_slot(&text, "again").expect("a saved slot loads");
        prop_assert_eq!(&again.slot.sequencer, &parsed.slot.sequencer);
        prop_assert_eq!(again.slot.to_json(), text);
        let mut e = engine_for(&parsed.slot);
        e.handle(EngineMsg::SetFill(fill));
        let (left, _) = run(&mut e, 12 * 2400, 500);
        prop_assert!(left.iter().all(|x| x.is_finite() && x.abs() <= 1.0));
        prop_assert_eq!(e.dropped_hits(), 0);
    }
}

#[test]
fn bars_of_ratchets_locks_chance_and_early_steps_never_allocate() {
    let slot = slot_with(
        240.0,
        Some(5),
        json!({
            "a": track("xXxXxXxXxXxXxXxX", json!({
                "1": { "ratchet": 8, "micro": -0.5, "lock": { "q": 8, "attack": 0.2, "waveform": 2 } },
                "2": { "ratchet": 7, "micro": 0.5, "chance": 40, "cond": "2:3" },
                "3": { "cond": "pre", "note": "C2", "lock": { "cutoff": 300 } },
                "4": { "cond": "!fill", "velocity": 0.3, "micro": -0.3 },
                "5": { "cond": "first", "ratchet": 3 } })),
            "b": track("x.x.x.x.x.x.x.x.", json!({ "3": { "micro": -0.5, "lock": { "release": 1.5 } } })),
        }),
    );
    // Every box the engine receives is built here, outside the guarded region.
    let mut swaps: Vec<Box<Scene>> = (0..20)
        .map(|_| Box::new(Scene::from_slot(&slot, 8)))
        .collect();
    let mut e = engine_for(&slot);
    let mut buf = vec![0.0f32; 2 * 200];
    let mut garbage = Vec::with_capacity(256);
    assert_no_alloc::assert_no_alloc(|| {
        for b in 0..6000 {
            e.process(&mut buf);
            if b % 300 == 0
                && let Some(s) = swaps.pop()
            {
                let timing = if b % 600 == 0 {
                    LoadTiming::NextBar
                } else {
                    LoadTiming::Immediate
                };
                e.handle(EngineMsg::Load {
                    scene: s,
                    timing,
                    slot: 1,
                });
            }
            if b % 97 == 0 {
                e.handle(EngineMsg::SetFill(b % 194 == 0));
            }
            if b % 131 == 0 {
                e.handle(EngineMsg::FillBar);
            }
            while e.pop_event().is_some() {}
            while let Some(g) = e.pop_garbage() {
                if garbage.len() < garbage.capacity() {
                    garbage.push(g);
                }
            }
            while e.pop_gate_record().is_some() {}
        }
    });
    assert_eq!(e.dropped_hits(), 0);
    assert!(buf.iter().all(|x| x.is_finite()));
}

/// The grid shows a step's own note where it has one, and the cycle's elsewhere: the cycle
/// moves on under a step note, as the engine plays it.
#[test]
fn the_grid_shows_a_steps_own_note_and_the_cycle_moves_on_under_it() {
    let text = r#"{ "schema_version": "1.1", "sequencer": { "bpm": 120, "tracks": {
      "bass": { "name": "bass", "voice_id": "voice2", "pattern": "x.x.x.x.",
                "notes": [110, 220], "steps": { "3": { "note": "C4" } } },
      "kick": { "name": "kick", "voice_id": "voice1", "pattern": "x...x...",
                "steps": { "5": { "note": 55 } } } } } }"#;
    let slot = chronus::model::slot::parse_slot(text, "grid").unwrap().slot;
    let shown = |name: &str| {
        let t = slot
            .sequencer
            .tracks
            .iter()
            .find(|t| t.name == name)
            .unwrap();
        chronus::control::step_notes(t)
    };
    let c4 = chronus::model::notes::parse_note("C4").unwrap();
    assert_eq!(
        shown("bass"),
        vec![
            Some(110.0),
            None,
            Some(c4),
            None,
            Some(110.0),
            None,
            Some(220.0),
            None
        ]
    );
    assert_eq!(
        shown("kick"),
        vec![None, None, None, None, Some(55.0), None, None, None]
    );
}

#[test]
fn a_ratchet_with_negative_micro_at_play_keeps_all_its_onsets_on_the_grid() {
    // At Play a step with negative micro plays on its grid time: its ratchet's hits must stay
    // equally spaced from there, not pile up on the first sample.
    let slot = slot_with(
        120.0,
        None,
        json!({ "t": track("x...", json!({ "1": { "micro": -0.5, "ratchet": 4 } })) }),
    );
    let (_, ons) = run(&mut engine_for(&slot), 4 * SPS as usize, 100);
    // The next loop's step 1 is decided early and plays from half a step before its loop.
    assert_eq!(ons, [0, 1500, 3000, 4500, 21_000, 22_500]);
}

/// `chronus slots show` lists a slot's per-step data, a line per step, and its chance seed.
#[test]
fn slots_show_lists_step_data_and_the_seed() {
    let dir = tempfile::tempdir().unwrap();
    let slots = dir.path().join("slots");
    std::fs::create_dir_all(&slots).unwrap();
    let file = json!({
        "schema_version": "1.1",
        "sequencer": {
            "bpm": 120, "seed": 1234,
            "tracks": {"kick": {"voice_id": "voice1", "pattern": "x...x...x...x...",
                "steps": {
                    "5": {"note": "C3", "ratchet": 2, "chance": 50},
                    "9": {"cond": "1:4", "lock": {"filter_freq": 1800}}
                }}}
        }
    });
    std::fs::write(slots.join("slot_007.json"), file.to_string()).unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_chronus"))
        .args([
            "--patterns",
            dir.path().to_str().unwrap(),
            "slots",
            "show",
            "7",
        ])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(text.contains(", chance seed 1234\n"), "{text}");
    assert!(
        text.contains("  step 5: note C3 · ratchet 2 · chance 50%\n"),
        "{text}"
    );
    assert!(
        text.contains("  step 9: filter_freq 1800 · cond 1:4\n"),
        "{text}"
    );
}
