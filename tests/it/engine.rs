//! The audio engine: sample-exact timing, bar-aligned loads, safety under extreme settings,
//! no allocation on the audio path, deterministic offline render.

use chronus::engine::{
    Engine, EngineEvent, EngineMsg, Garbage, GateRecord, LoadTiming, Scene, TrackSet,
};
use chronus::model::registry::{acid, delay, dist, lfo, reverb, voice};
use chronus::model::{ParamId, ParamValues, Slot, Track};
use chronus::{app::render, frontend::render as render_cli};
use proptest::prelude::*;

/// Collects everything an engine reports while it runs.
struct Rig {
    e: Engine,
    events: Vec<EngineEvent>,
    gates: Vec<GateRecord>,
}

impl Rig {
    fn new(sample_rate: f32, voices: usize) -> Rig {
        Rig {
            e: Engine::new(sample_rate, voices),
            events: Vec::new(),
            gates: Vec::new(),
        }
    }

    fn send(&mut self, msg: EngineMsg) {
        self.e.handle(msg);
        self.drain();
    }

    fn drain(&mut self) {
        while let Some(ev) = self.e.pop_event() {
            if !ev_is_meter(&ev) {
                self.events.push(ev);
            }
        }
        while let Some(g) = self.e.pop_gate_record() {
            self.gates.push(g);
        }
        while self.e.pop_garbage().is_some() {}
    }

    /// Processes `frames` frames in buffers of `buffer` frames; returns the audio.
    fn run(&mut self, frames: usize, buffer: usize) -> Vec<f32> {
        let mut out = vec![0.0; frames * 2];
        for chunk in out.chunks_mut(buffer * 2) {
            self.e.process(chunk);
            self.drain();
        }
        out
    }

    fn steps(&self) -> Vec<(u64, u64)> {
        self.events
            .iter()
            .filter_map(|ev| match *ev {
                EngineEvent::Step {
                    global_step,
                    sample,
                    ..
                } => Some((global_step, sample)),
                _ => None,
            })
            .collect()
    }

    fn bars(&self) -> Vec<(u64, u64)> {
        self.events
            .iter()
            .filter_map(|ev| match *ev {
                EngineEvent::Bar { bar, sample } => Some((bar, sample)),
                _ => None,
            })
            .collect()
    }

    fn gate_samples(&self, voice: u8, on: bool) -> Vec<u64> {
        self.gates
            .iter()
            .filter(|g| g.voice == voice && g.on == on)
            .map(|g| g.sample)
            .collect()
    }
}

/// Asserts two renders are bit-identical, naming the first differing sample.
fn assert_same(a: &[f32], b: &[f32]) {
    assert_eq!(a.len(), b.len(), "lengths differ");
    if let Some(i) = (0..a.len()).find(|&i| a[i].to_bits() != b[i].to_bits()) {
        panic!("sample {i} differs: {} vs {}", a[i], b[i]);
    }
}

fn ev_is_meter(ev: &EngineEvent) -> bool {
    matches!(
        ev,
        EngineEvent::Levels { .. } | EngineEvent::Spectrum { .. }
    )
}

/// Start sample of step `k` when step 0 starts at sample 0.
fn step_start(k: u64, sps: f64) -> u64 {
    (k as f64 * sps + 0.5).floor() as u64
}

fn track(name: &str, voice: &str, pattern: &str, gate_frac: f64) -> Track {
    let mut t = Track::new(name, voice, pattern);
    t.gate_frac = gate_frac;
    t
}

fn tracks(ts: &[Track], voices: usize) -> Box<TrackSet> {
    Box::new(TrackSet::from_tracks(ts, voices))
}

fn scene(bpm: f64, swing: f64, ts: &[Track], params: ParamValues, voices: usize) -> Box<Scene> {
    Box::new(Scene {
        bpm,
        swing,
        tracks: TrackSet::from_tracks(ts, voices),
        params,
        seed: 0,
    })
}

#[test]
fn steps_and_hits_land_on_exact_samples_for_1000_bars_at_137_bpm() {
    let sr = 44100.0;
    let sps = 44100.0 * 15.0 / 137.0; // 4828.467… samples: fractional
    let mut rig = Rig::new(sr, 2);
    let mut s = ParamValues::default();
    s.set(ParamId::voice(1, voice::AMP), 0.0);
    rig.send(EngineMsg::Load {
        scene: scene(137.0, 0.0, &[track("t", "voice1", "x", 0.5)], s, 2),
        timing: LoadTiming::Immediate,
        slot: 0,
    });
    rig.send(EngineMsg::Play);
    let steps = 16_000u64;
    let frames = step_start(steps, sps) as usize;
    rig.run(frames, 4096);

    let got = rig.steps();
    assert_eq!(got.len() as u64, steps);
    for (k, &(step, sample)) in got.iter().enumerate() {
        assert_eq!((step, sample), (k as u64, step_start(k as u64, sps)));
    }
    let bars = rig.bars();
    assert_eq!(bars.len(), 1000);
    assert_eq!(bars[999], (999, step_start(999 * 16, sps)));
    assert_eq!(bars[999].1, 77_178_219);

    let ons = rig.gate_samples(1, true);
    let offs = rig.gate_samples(1, false);
    assert_eq!(ons.len() as u64, steps);
    let gate = (0.5 * sps + 0.5).floor() as u64; // 2414
    assert_eq!(gate, 2414);
    for k in 0..steps {
        assert_eq!(ons[k as usize], step_start(k, sps), "hit {k}");
        assert_eq!(offs[k as usize], step_start(k, sps) + gate, "gate-off {k}");
    }
}

#[test]
fn gate_closes_gate_frac_of_a_step_after_the_hit() {
    // 174 BPM at 48 kHz: 4137.93… samples per step.
    let sps = 48000.0 * 15.0 / 174.0;
    for (frac, len) in [(0.01, 41u64), (0.3, 1241), (0.5, 2069), (1.0, 4138)] {
        let mut rig = Rig::new(48000.0, 8);
        rig.send(EngineMsg::SetBpm(174.0));
        rig.send(EngineMsg::SetTracks(tracks(
            &[track("t", "voice4", "x.x.", frac)],
            8,
        )));
        rig.send(EngineMsg::Play);
        rig.run(step_start(8, sps) as usize + 1, 128);
        assert_eq!((frac * sps + 0.5).floor() as u64, len);
        let ons = rig.gate_samples(4, true);
        let offs = rig.gate_samples(4, false);
        let starts: Vec<u64> = [0, 2, 4, 6, 8].map(|k| step_start(k, sps)).to_vec();
        assert_eq!(ons, starts, "frac {frac}");
        // Every gate-off is exactly `len` samples after its hit.
        let expect: Vec<u64> = starts[..4].iter().map(|s| s + len).collect();
        assert_eq!(offs[..4], expect[..], "frac {frac}");
    }
}

#[test]
fn a_gate_off_due_with_a_hit_happens_before_it() {
    // 120 BPM, 6000 samples per step: a full-step gate ends exactly where the next hit starts.
    let mut rig = Rig::new(48000.0, 1);
    rig.send(EngineMsg::SetTracks(tracks(
        &[track("t", "voice1", "xx", 1.0)],
        1,
    )));
    rig.send(EngineMsg::Play);
    rig.run(12001, 100);
    let seq: Vec<(bool, u64)> = rig.gates.iter().map(|g| (g.on, g.sample)).collect();
    assert_eq!(
        seq,
        vec![
            (true, 0),
            (false, 6000),
            (true, 6000),
            (false, 12000),
            (true, 12000)
        ]
    );
}

#[test]
fn swing_delays_odd_sixteenths_and_keeps_bar_length() {
    let mut rig = Rig::new(48000.0, 8);
    rig.send(EngineMsg::SetSwing(0.5));
    rig.send(EngineMsg::SetTracks(tracks(
        &[track("t", "voice1", "xxxx", 0.25)],
        8,
    )));
    rig.send(EngineMsg::Play);
    rig.run(96000 * 2 + 1, 128);
    // Odd steps sound swing × half a step late: 0.5 × 3000 = 1500 samples.
    let ons = rig.gate_samples(1, true);
    let expect: Vec<u64> = (0..33u64)
        .map(|k| k * 6000 + if k % 2 == 1 { 1500 } else { 0 })
        .collect();
    assert_eq!(ons, expect);
    let offs = rig.gate_samples(1, false);
    assert_eq!(offs[..4], [1500, 7500 + 1500, 13500, 19500 + 1500]);
    // The grid itself does not move.
    assert_eq!(rig.bars(), vec![(0, 0), (1, 96000), (2, 192000)]);
    let steps = rig.steps();
    assert_eq!(steps[5], (5, 30000));
}

#[test]
fn swing_rounds_at_a_fractional_step_length() {
    // 137 BPM at 44.1 kHz, swing 0.37: delay = floor(0.37 × 4828.467… / 2 + 0.5) = 893.
    let sps = 44100.0 * 15.0 / 137.0;
    let mut rig = Rig::new(44100.0, 8);
    rig.send(EngineMsg::SetBpm(137.0));
    rig.send(EngineMsg::SetSwing(0.37));
    rig.send(EngineMsg::SetTracks(tracks(
        &[track("t", "voice1", ".x", 0.5)],
        8,
    )));
    rig.send(EngineMsg::Play);
    rig.run(step_start(64, sps) as usize, 64);
    let ons = rig.gate_samples(1, true);
    assert_eq!(ons.len(), 32);
    for (i, &on) in ons.iter().enumerate() {
        let k = 2 * i as u64 + 1;
        assert_eq!(on, step_start(k, sps) + 893, "step {k}");
    }
}

#[test]
fn queued_load_applies_at_the_first_sample_of_the_next_bar() {
    let mut rig = Rig::new(48000.0, 8);
    let amp = ParamId::voice(3, voice::AMP);
    let room = ParamId::reverb(reverb::ROOM);
    rig.send(EngineMsg::SetTracks(tracks(
        &[track("old", "voice1", "x...", 0.5)],
        8,
    )));
    rig.send(EngineMsg::Play);
    rig.run(50_000, 128);

    let mut p = ParamValues::default();
    p.set(amp, 0.9);
    p.set(room, 0.8);
    let new = [track("new", "voice5", "x.", 0.5)];
    rig.send(EngineMsg::Load {
        scene: scene(90.0, 0.0, &new, p, 8),
        timing: LoadTiming::NextBar,
        slot: 7,
    });
    assert!(
        rig.events
            .contains(&EngineEvent::Queued { slot: 7, bar: 1 })
    );
    assert_eq!(rig.e.position().queued_slot, Some((7, 1)));

    // One sample before the bar: nothing changed yet.
    rig.run(96_000 - 50_000, 128);
    assert_eq!(rig.e.param(amp), 0.3);
    assert_eq!(rig.e.position().bpm, 120.0);
    assert!(
        !rig.events
            .iter()
            .any(|e| matches!(e, EngineEvent::Applied { .. }))
    );

    rig.run(1, 1);
    assert_eq!(rig.e.param(amp), 0.9);
    assert_eq!(rig.e.param(room), 0.8);
    assert_eq!(rig.e.position().bpm, 90.0);
    assert_eq!(rig.e.position().queued_slot, None);
    let applied: Vec<_> = rig
        .events
        .iter()
        .filter(|e| matches!(e, EngineEvent::Applied { .. }))
        .collect();
    assert_eq!(
        applied,
        vec![&EngineEvent::Applied {
            slot: 7,
            bar: 1,
            sample: 96_000
        }]
    );
    // The new tracks play from the bar's first step; the old ones are gone.
    assert_eq!(rig.gate_samples(5, true), vec![96_000]);
    assert_eq!(rig.gate_samples(1, true), vec![0, 24_000, 48_000, 72_000]);
    // The new tempo runs from the bar: 90 BPM = 8000 samples per step.
    rig.run(16_001, 128);
    assert_eq!(rig.gate_samples(5, true), vec![96_000, 112_000]);
    let steps = rig.steps();
    assert_eq!(steps[16..19], [(16, 96_000), (17, 104_000), (18, 112_000)]);
}

#[test]
fn a_newer_queued_load_replaces_the_pending_one_and_cancel_drops_it() {
    let mut e = Engine::new(48000.0, 8);
    let mut out = vec![0.0; 256];
    e.handle(EngineMsg::Play);
    e.process(&mut out);
    let mk = |bpm| scene(bpm, 0.0, &[], ParamValues::default(), 8);
    e.handle(EngineMsg::Load {
        scene: mk(100.0),
        timing: LoadTiming::NextBar,
        slot: 1,
    });
    e.handle(EngineMsg::Load {
        scene: mk(140.0),
        timing: LoadTiming::NextBar,
        slot: 2,
    });
    assert!(matches!(e.pop_garbage(), Some(Garbage::Scene(s)) if s.bpm == 100.0));
    assert_eq!(e.position().queued_slot, Some((2, 1)));
    e.handle(EngineMsg::CancelQueued);
    assert!(matches!(e.pop_garbage(), Some(Garbage::Scene(s)) if s.bpm == 140.0));
    assert_eq!(e.position().queued_slot, None);
    let mut long = vec![0.0; 2 * 96_000];
    e.process(&mut long);
    assert_eq!(e.position().bpm, 120.0);
}

#[test]
fn loads_while_stopped_apply_at_once_and_never_move_the_playhead() {
    let mut rig = Rig::new(48000.0, 8);
    let mut p = ParamValues::default();
    p.set(ParamId::lfo2(lfo::RATE), 6.0);
    rig.send(EngineMsg::Load {
        scene: scene(128.0, 0.2, &[], p.clone(), 8),
        timing: LoadTiming::NextBar,
        slot: 3,
    });
    assert_eq!(rig.e.param(ParamId::lfo2(lfo::RATE)), 6.0);
    assert_eq!(
        rig.events.last(),
        Some(&EngineEvent::Applied {
            slot: 3,
            bar: 0,
            sample: 0
        })
    );
    // Running: an immediate load keeps the step grid where it was.
    rig.send(EngineMsg::Play);
    rig.run(10_000, 128);
    rig.send(EngineMsg::Load {
        scene: scene(128.0, 0.0, &[track("t", "voice1", "x", 0.5)], p, 8),
        timing: LoadTiming::Immediate,
        slot: 4,
    });
    rig.run(20_000, 128);
    let sps = 48000.0 * 15.0 / 128.0; // 5625
    let steps = rig.steps();
    assert_eq!(steps.len(), 6);
    assert!(steps.iter().all(|&(k, s)| s == step_start(k, sps)));
    assert_eq!(
        rig.gate_samples(1, true),
        vec![11_250, 16_875, 22_500, 28_125]
    );
}

#[test]
fn tempo_change_takes_effect_from_the_next_step() {
    let mut rig = Rig::new(48000.0, 8);
    rig.send(EngineMsg::Play);
    rig.run(9000, 100); // inside step 1 (6000..12000)
    rig.send(EngineMsg::SetBpm(60.0)); // 12000 samples per step from step 2 on
    rig.run(40_000, 100);
    let steps = rig.steps();
    assert_eq!(
        steps,
        vec![
            (0, 0),
            (1, 6000),
            (2, 12000),
            (3, 24000),
            (4, 36000),
            (5, 48000)
        ]
    );
}

#[test]
fn polymetric_tracks_wrap_independently() {
    let mut rig = Rig::new(48000.0, 8);
    rig.send(EngineMsg::SetTracks(tracks(
        &[
            track("twelve", "voice1", "x...........", 0.5),
            track("sixteen", "voice3", "x..............x", 0.5),
            track("empty", "voice4", "", 0.5),
        ],
        8,
    )));
    rig.send(EngineMsg::Play);
    rig.run(6000 * 49 + 1, 128);
    let at = |ks: &[u64]| ks.iter().map(|k| k * 6000).collect::<Vec<_>>();
    assert_eq!(rig.gate_samples(1, true), at(&[0, 12, 24, 36, 48]));
    assert_eq!(rig.gate_samples(3, true), at(&[0, 15, 16, 31, 32, 47, 48]));
    assert!(rig.gate_samples(4, true).is_empty());
}

#[test]
fn notes_cycle_on_hits_and_carry_over_a_track_swap() {
    let mut rig = Rig::new(48000.0, 8);
    let mut t = track("bass", "voice1", "x.", 0.5);
    t.notes = vec![100.0, 200.0, 300.0];
    rig.send(EngineMsg::SetTracks(tracks(std::slice::from_ref(&t), 8)));
    rig.send(EngineMsg::Play);
    let freq = ParamId::voice(1, voice::FREQ);
    let mut seen = Vec::new();
    for _ in 0..4 {
        rig.run(12_000, 12_000);
        seen.push(rig.e.param(freq));
    }
    assert_eq!(seen, vec![100.0, 200.0, 300.0, 100.0]);
    // Same name, new pattern: the next note continues where the old track was.
    t.pattern = "x".to_string();
    rig.send(EngineMsg::SetTracks(tracks(&[t], 8)));
    rig.run(6000, 6000);
    assert_eq!(rig.e.param(freq), 200.0);
}

#[test]
fn stop_and_release_all_close_every_gate() {
    let mut rig = Rig::new(48000.0, 8);
    for v in 1..=8 {
        rig.send(EngineMsg::Gate { voice: v, on: true });
    }
    rig.send(EngineMsg::Gate { voice: 9, on: true }); // ignored: only 8 voices
    rig.run(1000, 128);
    rig.send(EngineMsg::ReleaseAll);
    let offs: Vec<u8> = rig
        .gates
        .iter()
        .filter(|g| !g.on)
        .map(|g| g.voice)
        .collect();
    assert_eq!(offs, (1..=8).collect::<Vec<u8>>());
    rig.gates.clear();
    rig.send(EngineMsg::SetTracks(tracks(
        &[track("t", "voice2", "x", 1.0)],
        8,
    )));
    rig.send(EngineMsg::Play);
    rig.run(3000, 128);
    rig.send(EngineMsg::Stop);
    assert_eq!(
        rig.gates,
        vec![
            GateRecord {
                voice: 2,
                on: true,
                sample: 1000
            },
            GateRecord {
                voice: 2,
                on: false,
                sample: 4000
            },
        ]
    );
    assert!(rig.events.contains(&EngineEvent::Stopped { sample: 4000 }));
    rig.run(48_000, 128);
    assert_eq!(rig.gates.len(), 2, "no gate opens after Stop");
}

#[test]
fn sequenced_hits_on_voice2_fire_the_acid_envelope_and_accents_open_it_further() {
    let mut rig = Rig::new(48000.0, 8);
    let mut p = ParamValues::default();
    p.set(ParamId::acid(acid::CUTOFF), 300.0);
    p.set(ParamId::acid(acid::ENV_AMOUNT), 3000.0);
    p.set(ParamId::acid(acid::ACCENT), 1.0);
    p.set(ParamId::lfo1(lfo::DEPTH), 0.0);
    let ts = [track("acid", "voice2", "x...X...", 0.5)];
    rig.send(EngineMsg::Load {
        scene: scene(120.0, 0.0, &ts, p, 8),
        timing: LoadTiming::Immediate,
        slot: 0,
    });
    rig.run(4800, 128); // let the smoothed cutoff settle
    let rest = rig.e.acid_cutoff();
    assert!((rest - 300.0).abs() < 5.0, "{rest}");
    rig.send(EngineMsg::Play);
    // Peak cutoff in the first 10 ms after the x hit (sample 0 after Play).
    let peak_after = |rig: &mut Rig, frames: usize| {
        let mut peak = 0.0f32;
        for _ in 0..frames / 16 {
            rig.run(16, 16);
            peak = peak.max(rig.e.acid_cutoff());
        }
        peak
    };
    let hit = peak_after(&mut rig, 480);
    rig.run(24_000 - 480, 128);
    let accent = peak_after(&mut rig, 480);
    assert!(hit > rest + 1000.0, "x hit opened the filter to {hit} Hz");
    assert!(accent > hit + 100.0, "X hit: {accent} Hz, x hit: {hit} Hz");
    // And it decays again before the next hit.
    rig.run(20_000, 128);
    assert!(rig.e.acid_cutoff() < rest + 200.0);
}

#[test]
fn lfo2_depth_zero_leaves_voice3_alone() {
    // Two engines differ only in lfo2's rate; with depth 0 the output must be identical.
    let render = |rate: f32| {
        let mut e = Engine::new(48000.0, 4);
        for (id, v) in [
            (ParamId::lfo2(lfo::DEPTH), 0.0),
            (ParamId::lfo2(lfo::RATE), rate),
            (ParamId::voice(3, voice::AMP), 0.5),
        ] {
            e.handle(EngineMsg::SetParam { id, value: v });
        }
        // Let the depth glide down to 0 first.
        let mut out = vec![0.0; 2 * 24_000];
        e.process(&mut out);
        e.handle(EngineMsg::Gate { voice: 3, on: true });
        e.process(&mut out);
        out
    };
    let a = render(10.0);
    assert!(a.iter().any(|x| x.abs() > 0.05));
    assert_same(&a, &render(0.5));
}

#[test]
fn output_does_not_depend_on_the_buffer_size() {
    let slot = crate::anthem::anthem_breakbeat();
    let render_in = |buffer: usize| {
        let mut e = Engine::new(48000.0, 8);
        e.handle(EngineMsg::Load {
            scene: Box::new(Scene::from_slot(&slot, 8)),
            timing: LoadTiming::Immediate,
            slot: 6,
        });
        e.handle(EngineMsg::Play);
        let mut out = vec![0.0; 2 * 48_000];
        for chunk in out.chunks_mut(2 * buffer) {
            e.process(chunk);
            while e.pop_event().is_some() {}
        }
        out
    };
    let a = render_in(128);
    assert!(a.iter().any(|x| x.abs() > 0.1));
    assert_same(&a, &render_in(333));
    assert_same(&a, &render_in(1));
}

#[test]
fn render_is_deterministic_and_exactly_n_bars_long() {
    let slot = crate::anthem::anthem_breakbeat();
    let a = render::render(&slot, 2, 48000, 8);
    let b = render::render(&slot, 2, 48000, 8);
    // 2 bars × 16 steps × 4137.93… samples = 132413.8 → 132414 frames.
    assert_eq!(a.len(), 2 * 132_414);
    assert_same(&a, &b);
    assert!(a.iter().all(|x| x.is_finite() && x.abs() <= 1.0));
    let peak = a.iter().fold(0.0f32, |m, x| m.max(x.abs()));
    assert!(peak > 0.2, "the slot is audible: peak {peak}");

    let dir = tempfile::tempdir().unwrap();
    let (pa, pb) = (dir.path().join("a.wav"), dir.path().join("b.wav"));
    render::write_wav(&pa, &a, 48000).unwrap();
    render::write_wav(&pb, &b, 48000).unwrap();
    let (fa, fb) = (std::fs::read(&pa).unwrap(), std::fs::read(&pb).unwrap());
    assert_eq!(fa, fb);
    let r = hound::WavReader::open(&pa).unwrap();
    assert_eq!(r.spec().channels, 2);
    assert_eq!(r.spec().sample_rate, 48000);
    assert_eq!(r.len() as usize, a.len());
}

#[test]
fn slot_tracks_on_voices_beyond_the_engine_stay_silent() {
    let mut slot = Slot::default();
    slot.sequencer.tracks = vec![
        track("far", "voice12", "xxxx", 0.5),
        track("bogus", "voiceX", "xxxx", 0.5),
    ];
    let out = render::render(&slot, 1, 48000, 8);
    assert!(out.iter().all(|&x| x == 0.0));
}

// ---- safety ----------------------------------------------------------------------------

/// Every parameter of the mix at the loud, unstable end.
fn extreme_params() -> ParamValues {
    let mut p = ParamValues::default();
    for n in 1..=8u8 {
        p.set(ParamId::voice(n, voice::AMP), 1.0);
        p.set(ParamId::voice(n, voice::FILTER_Q), 10.0);
        p.set(ParamId::voice(n, voice::SUSTAIN), 1.0);
        p.set(ParamId::voice(n, voice::REVERB_SEND), 1.0);
        p.set(ParamId::voice(n, voice::DELAY_SEND), 1.0);
    }
    p.set(ParamId::acid(acid::RES), 0.98);
    p.set(ParamId::acid(acid::DRIVE), 1.0);
    p.set(ParamId::acid(acid::ENV_AMOUNT), 5000.0);
    p.set(ParamId::dist(dist::DRIVE), 1.0);
    p.set(ParamId::dist(dist::MIX), 1.0);
    p.set(ParamId::delay(delay::FEEDBACK), 0.7);
    p.set(ParamId::delay(delay::MIX), 1.0);
    p.set(ParamId::reverb(reverb::ROOM), 1.0);
    p.set(ParamId::reverb(reverb::MIX), 1.0);
    p
}

fn check_safe(out: &[f32]) -> Result<(), TestCaseError> {
    for (i, x) in out.iter().enumerate() {
        prop_assert!(x.is_finite(), "sample {i} is {x}");
        prop_assert!(x.abs() <= 1.0, "sample {i} is {x}");
    }
    Ok(())
}

fn pattern_strategy() -> impl Strategy<Value = String> {
    proptest::collection::vec(prop_oneof![Just('X'), Just('x'), Just('.')], 0..20)
        .prop_map(|v| v.into_iter().collect())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn no_parameter_combination_breaks_the_output(
        values in proptest::collection::vec(0.0f64..=1.0, 240),
        patterns in proptest::collection::vec(pattern_strategy(), 8),
        bpm in 30.0f64..300.0,
        swing in 0.0f64..0.6,
    ) {
        let voices = 8;
        // Random values across every range, on top of the extreme mix.
        let mut p = extreme_params();
        for (i, u) in values.iter().enumerate() {
            let id = ParamId(i as u16);
            if i < p.0.len() && (i % 3 == 0) {
                let s = id.spec();
                p.set(id, s.min + u * (s.max - s.min));
            }
        }
        let ts: Vec<Track> = patterns
            .iter()
            .enumerate()
            .map(|(i, pat)| {
                let mut t = track(&format!("t{i}"), &format!("voice{}", i + 1), pat, values[i]);
                t.base_amp = 1.0;
                t.filter_freq = 50.0 + 7950.0 * values[i + 8];
                t.notes = vec![20.0 + 4980.0 * values[i + 16]];
                t
            })
            .collect();
        let mut rig = Rig::new(48000.0, voices);
        rig.send(EngineMsg::Load { scene: scene(bpm, swing, &ts, p, voices), timing: LoadTiming::Immediate, slot: 0 });
        rig.send(EngineMsg::Play);
        // Full gates on every voice too, on top of the sequence.
        for v in 1..=8 {
            rig.send(EngineMsg::Gate { voice: v, on: true });
        }
        check_safe(&rig.run(48_000, 128))?;

        // Restore a normal sound: a hit must be heard again.
        let mut normal = ParamValues::default();
        normal.set(ParamId::voice(1, voice::AMP), 0.5);
        rig.send(EngineMsg::Load {
            scene: scene(120.0, 0.0, &[track("k", "voice1", "x...", 0.5)], normal, voices),
            timing: LoadTiming::Immediate,
            slot: 0,
        });
        rig.run(48_000, 128);
        let out = rig.run(24_000, 128);
        check_safe(&out)?;
        let peak = out.iter().fold(0.0f32, |m, x| m.max(x.abs()));
        prop_assert!(peak > 0.05, "silent after restoring normal settings: peak {}", peak);
    }
}

// ---- no allocation -----------------------------------------------------------------------

/// Run in a child process by `the_alloc_guard_is_active`: it must abort.
#[test]
#[ignore = "run by the_alloc_guard_is_active in a child process; it aborts on purpose"]
fn alloc_probe() {
    assert_no_alloc::assert_no_alloc(|| {
        let v: Vec<u8> = Vec::with_capacity(16);
        std::hint::black_box(v);
    });
}

#[test]
fn the_alloc_guard_is_active() {
    let exe = std::env::current_exe().unwrap();
    let out = std::process::Command::new(exe)
        .args([
            "--ignored",
            "--exact",
            "engine::alloc_probe",
            "--test-threads=1",
        ])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success(),
        "allocating inside assert_no_alloc went unnoticed"
    );
    assert!(
        stderr.contains("memory allocation of 16 bytes failed"),
        "{stderr}"
    );
}

#[test]
fn a_minute_of_audio_with_a_flood_of_edits_never_allocates() {
    let voices = 8;
    let slot = crate::anthem::anthem_breakbeat();
    let buffers = 60 * 48_000 / 128; // 22 500
    // Every box the engine will receive, built here, outside the guarded region.
    let swaps = buffers / 150;
    let mut scenes: Vec<Box<Scene>> = (0..swaps)
        .map(|i| {
            let mut s = Scene::from_slot(&slot, voices);
            s.bpm = 100.0 + (i % 80) as f64;
            Box::new(s)
        })
        .collect();
    let mut track_sets: Vec<Box<TrackSet>> = (0..swaps)
        .map(|i| {
            let mut ts = slot.sequencer.tracks.clone();
            ts[i % 8].pattern = "X.x.".repeat(1 + i % 5);
            tracks(&ts, voices)
        })
        .collect();
    // Tracks queued for the bar (quantised mutes), every other one cancelled before it.
    let mut queued_sets: Vec<Box<TrackSet>> = (0..swaps)
        .map(|i| {
            let mut ts = slot.sequencer.tracks.clone();
            ts[i % 8].muted = !ts[i % 8].muted;
            tracks(&ts, voices)
        })
        .collect();
    let mut garbage: Vec<Garbage> = Vec::with_capacity(6 * swaps + 16);
    let mut buf = vec![0.0f32; 256];
    let ids: Vec<ParamId> = ParamId::all(voices).collect();
    let mut events = 0u64;
    let mut peak = 0.0f32;

    let mut e = Engine::new(48000.0, voices);
    e.handle(EngineMsg::Play);
    assert_no_alloc::assert_no_alloc(|| {
        for b in 0..buffers {
            for j in 0..300 {
                let id = ids[(b * 7 + j * 13) % ids.len()];
                let u = ((b * 31 + j * 17) % 1000) as f32 / 999.0;
                let s = id.spec();
                let value = s.min as f32 + u * (s.max - s.min) as f32;
                e.handle(EngineMsg::SetParam { id, value });
            }
            e.handle(EngineMsg::Gate {
                voice: (b % 9) as u8,
                on: b % 2 == 0,
            });
            if b % 150 == 0
                && let Some(t) = track_sets.pop()
            {
                e.handle(EngineMsg::SetTracks(t));
            }
            if b % 150 == 75
                && let Some(s) = scenes.pop()
            {
                let timing = if b % 300 == 75 {
                    LoadTiming::NextBar
                } else {
                    LoadTiming::Immediate
                };
                e.handle(EngineMsg::Load {
                    scene: s,
                    timing,
                    slot: 6,
                });
            }
            if b % 150 == 40
                && let Some(t) = queued_sets.pop()
            {
                e.handle(EngineMsg::QueueTracks {
                    tracks: t,
                    id: b as u64,
                });
            }
            if b % 300 == 41 {
                e.handle(EngineMsg::CancelQueuedTracks);
            }
            if b % 1000 == 500 {
                e.handle(EngineMsg::SetBpm(90.0 + (b % 100) as f64));
                e.handle(EngineMsg::SetSwing(0.3));
                e.handle(EngineMsg::ReleaseAll);
            }
            if b % 5000 == 2500 {
                e.handle(EngineMsg::Stop);
                e.handle(EngineMsg::Play);
                e.handle(EngineMsg::CancelQueued);
            }
            e.process(&mut buf);
            peak = buf.iter().fold(peak, |m, x| m.max(x.abs()));
            while e.pop_event().is_some() {
                events += 1;
            }
            while let Some(g) = e.pop_garbage() {
                garbage.push(g);
            }
        }
    });
    assert!(scenes.is_empty() && track_sets.is_empty() && queued_sets.is_empty());
    // Every swapped box came back, except perhaps a load still waiting for its bar.
    assert!(garbage.len() >= 2 * swaps - 1, "{}", garbage.len());
    assert!(events > 60 * 60, "{events}");
    assert!(peak > 0.0 && peak <= 1.0);
    assert_eq!(e.garbage_overflow(), 0);
    drop(garbage);
}

#[test]
fn render_command_writes_the_slot_and_names_bad_targets() {
    let dir = tempfile::tempdir().unwrap();
    let store = chronus::store::Store::new(dir.path());
    let six = chronus::store::SlotNumber::new(6).unwrap();
    store.save(six, &crate::anthem::anthem_breakbeat()).unwrap();
    let out = dir.path().join("six.wav");
    let args = |target: &str| render_cli::RenderArgs {
        target: target.to_string(),
        bars: 1,
        out: Some(out.clone()),
        rate: 44100,
        voices: 8,
    };
    render_cli::run(&args("6"), dir.path()).unwrap();
    let wav = hound::WavReader::open(&out).unwrap();
    assert_eq!(wav.spec().sample_rate, 44100);
    // One bar at 174 BPM and 44.1 kHz: 16 × 3801.72 = 60827.6 → 60828 frames.
    assert_eq!(wav.len(), 2 * 60_828);
    assert_eq!(render::bars_to_frames(1, 174.0, 44100), 60_828);

    let err = render_cli::run(&args("129"), dir.path())
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("\"129\"") && err.contains("out of range"),
        "{err}"
    );
    let err = render_cli::run(&args("7"), dir.path())
        .unwrap_err()
        .to_string();
    assert!(err.contains("slot 7 is empty"), "{err}");
    let err = render_cli::run(&args("missing.json"), dir.path())
        .unwrap_err()
        .to_string();
    assert!(err.contains("missing.json"), "{err}");
}

/// A song at every limit the audio thread sees: the most tracks, each with the longest pattern
/// and the most notes (all different), spread over `voices` voices.
fn tracks_at_the_limits(voices: usize) -> Vec<Track> {
    use chronus::model::limits::{MAX_NOTES, MAX_PATTERN, MAX_TRACKS};
    (0..MAX_TRACKS)
        .map(|i| {
            let pattern: String = (0..MAX_PATTERN)
                .map(|k| if (k + i) % 3 == 0 { 'x' } else { '.' })
                .collect();
            let mut t = track(
                &format!("track {:02}", MAX_TRACKS - i),
                &format!("voice{}", 1 + i % voices),
                &pattern,
                0.3,
            );
            t.notes = (0..MAX_NOTES)
                .map(|n| 60.0 + ((n * 37 + i * 11) % 900) as f64)
                .collect();
            t
        })
        .collect()
}

#[test]
fn track_swaps_at_the_limits_keep_every_note_cycle_and_never_allocate() {
    let voices = 8;
    let ts = tracks_at_the_limits(voices);
    let buffers = 20 * 48_000 / 256;
    // Engine A gets the same tracks again every 20 buffers (by SetTracks and by Amend, the two
    // edits that carry note cycles; a load starts them from the file); engine B plays them
    // undisturbed. Carrying each track's place in its note cycle by name makes the swaps
    // inaudible: the outputs must be identical, sample for sample.
    let mut boxes: Vec<EngineMsg> = (0..buffers / 20)
        .map(|i| match i % 2 {
            0 => EngineMsg::SetTracks(tracks(&ts, voices)),
            _ => EngineMsg::Amend(scene(130.0, 0.0, &ts, ParamValues::default(), voices)),
        })
        .collect();
    let mut garbage: Vec<Garbage> = Vec::with_capacity(boxes.len() + 8);
    let start = |e: &mut Engine| {
        e.handle(EngineMsg::Load {
            scene: scene(130.0, 0.0, &ts, ParamValues::default(), voices),
            timing: LoadTiming::Immediate,
            slot: 1,
        });
        e.handle(EngineMsg::Play);
    };
    let (mut a, mut b) = (Engine::new(48000.0, voices), Engine::new(48000.0, voices));
    start(&mut a);
    start(&mut b);
    let (mut out_a, mut out_b) = (vec![0.0f32; 512], vec![0.0f32; 512]);
    let mut first_difference = None;
    assert_no_alloc::assert_no_alloc(|| {
        for n in 0..buffers {
            if n % 20 == 10
                && let Some(m) = boxes.pop()
            {
                a.handle(m);
            }
            a.process(&mut out_a);
            b.process(&mut out_b);
            if first_difference.is_none() && out_a != out_b {
                first_difference = Some(n);
            }
            for e in [&mut a, &mut b] {
                while e.pop_event().is_some() {}
                while let Some(g) = e.pop_garbage() {
                    garbage.push(g);
                }
            }
        }
    });
    assert!(boxes.is_empty());
    assert_eq!(first_difference, None, "a swap was heard (buffer index)");
    assert!(out_b.iter().any(|x| x.abs() > 0.0));
    drop(garbage);
}

/// The strongest frequency in `len` frames of the left channel from frame `start` (Hann
/// window, zero-padded to 32 768 points, parabolic interpolation between bins).
pub(crate) fn pitch_at(out: &[f32], start: usize, len: usize, rate: f64) -> f64 {
    use rustfft::FftPlanner;
    use rustfft::num_complex::Complex;
    let n = 32_768;
    let mut buf = vec![Complex::new(0.0f64, 0.0); n];
    for (i, b) in buf.iter_mut().take(len).enumerate() {
        let w = 0.5 - 0.5 * (std::f64::consts::TAU * i as f64 / len as f64).cos();
        *b = Complex::new(w * out[2 * (start + i)] as f64, 0.0);
    }
    FftPlanner::new().plan_fft_forward(n).process(&mut buf);
    let mag: Vec<f64> = buf[..n / 2].iter().map(|c| c.norm()).collect();
    let k = (1..n / 2 - 1)
        .max_by(|&a, &b| mag[a].total_cmp(&mag[b]))
        .unwrap();
    let (a, b, c) = (mag[k - 1], mag[k], mag[k + 1]);
    let shift = 0.5 * (a - c) / (a - 2.0 * b + c);
    (k as f64 + shift) * rate / n as f64
}

/// A sine bass on voice1 with one note per hit, as the keyboard piano lays notes out.
fn melody() -> (Track, ParamValues) {
    let mut t = track("mel", "voice1", "x.x.x.x.", 0.5);
    t.notes = vec![220.0, 330.0, 440.0, 550.0];
    t.filter_freq = 8000.0;
    t.accent_boost = 0.0;
    let mut p = ParamValues::default();
    p.set(ParamId::voice(1, voice::ATTACK), 0.001);
    p.set(ParamId::voice(1, voice::RELEASE), 0.01);
    (t, p)
}

/// Pitches of the hits on steps 0, 2, 4 and 6 of a render that starts at step 0 (120 BPM,
/// 6000 samples a step): measured from 1200 samples into each hit (past the 20 ms glide) over
/// 2400 samples.
fn first_hit_pitches(out: &[f32]) -> Vec<f64> {
    [0, 2, 4, 6]
        .map(|k| pitch_at(out, k * 6000 + 1200, 2400, 48_000.0))
        .to_vec()
}

fn assert_pitches(got: &[f64], want: &[f64], what: &str) {
    eprintln!("{what}: {got:.1?}");
    for (g, w) in got.iter().zip(want) {
        assert!(
            (g - w).abs() < 3.0,
            "{what}: heard {got:.1?}, the grid shows {want:?}"
        );
    }
}

#[test]
fn play_after_a_stop_in_mid_loop_starts_the_notes_where_the_grid_does() {
    let (t, p) = melody();
    let mut rig = Rig::new(48000.0, 8);
    rig.send(EngineMsg::Load {
        scene: scene(120.0, 0.0, std::slice::from_ref(&t), p, 8),
        timing: LoadTiming::Immediate,
        slot: 0,
    });
    rig.send(EngineMsg::Play);
    let first = rig.run(8 * 6000, 128);
    assert_pitches(&first_hit_pitches(&first), &t.notes, "first play");
    // Stopped after three hits (steps 0, 2 and 4 of the second loop), then played again.
    rig.run(5 * 6000, 128);
    rig.send(EngineMsg::Stop);
    rig.run(48_000, 128);
    rig.send(EngineMsg::Play);
    let again = rig.run(8 * 6000, 128);
    assert_pitches(&first_hit_pitches(&again), &t.notes, "play after stop");
}

#[test]
fn a_slot_loaded_at_a_bar_plays_its_notes_in_step_with_the_grid() {
    let (mut t, p) = melody();
    // 12 steps: at bar 1 (global step 16) the track is at its step 4.
    t.pattern = "x.x.x.x.x.x.".into();
    t.notes = vec![220.0, 275.0, 330.0, 385.0, 440.0, 495.0];
    let mut rig = Rig::new(48000.0, 8);
    rig.send(EngineMsg::Play);
    rig.run(50_000, 128);
    rig.send(EngineMsg::Load {
        scene: scene(120.0, 0.0, std::slice::from_ref(&t), p, 8),
        timing: LoadTiming::NextBar,
        slot: 3,
    });
    rig.run(96_000 - 50_000, 128);
    let out = rig.run(8 * 6000, 128);
    // Steps 4, 6, 8 and 10 of the track: its 3rd to 6th notes.
    assert_pitches(&first_hit_pitches(&out), &t.notes[2..], "loaded at bar 1");
}

#[test]
fn queued_tracks_switch_at_the_bar_with_a_load_and_any_load_drops_them() {
    let mut rig = Rig::new(48000.0, 8);
    let a = track("a", "voice1", "xxxx", 0.25);
    let b = track("b", "voice2", "xxxx", 0.25);
    rig.send(EngineMsg::SetTracks(tracks(std::slice::from_ref(&a), 8)));
    rig.send(EngineMsg::Play);
    rig.run(50_000, 128);
    rig.send(EngineMsg::QueueTracks {
        tracks: tracks(std::slice::from_ref(&b), 8),
        id: 7,
    });
    rig.run(46_001, 128);
    assert_eq!(rig.gate_samples(1, true).last(), Some(&90_000));
    assert_eq!(rig.gate_samples(2, true), vec![96_000]);
    assert!(rig.events.contains(&EngineEvent::TracksApplied {
        id: 7,
        bar: 1,
        sample: 96_000
    }));
    // Queued, then a slot loaded at once: the queued tracks belonged to the song replaced.
    rig.send(EngineMsg::QueueTracks {
        tracks: tracks(std::slice::from_ref(&a), 8),
        id: 7,
    });
    rig.send(EngineMsg::Load {
        scene: scene(120.0, 0.0, &[b], ParamValues::default(), 8),
        timing: LoadTiming::Immediate,
        slot: 4,
    });
    rig.run(96_000, 128);
    assert_eq!(rig.gate_samples(1, true).last(), Some(&90_000));
    // Stopped, queued tracks apply at once.
    rig.send(EngineMsg::Stop);
    rig.send(EngineMsg::QueueTracks {
        tracks: tracks(&[a], 8),
        id: 7,
    });
    rig.send(EngineMsg::Play);
    rig.run(1, 1);
    assert_eq!(
        rig.gate_samples(1, true).last(),
        Some(&(50_000 + 46_001 + 96_000))
    );
}

// ---- tempo-synced delay ------------------------------------------------------------------

/// First frame at or after `from` where the left channel's magnitude exceeds `level`.
fn onset(out: &[f32], from: usize, level: f32) -> usize {
    (from..out.len() / 2)
        .find(|&i| out[2 * i].abs() > level)
        .unwrap_or_else(|| panic!("nothing above {level} after frame {from}"))
}

#[test]
fn a_synced_delay_repeats_one_note_value_later_and_follows_the_tempo() {
    // A short noise click on voice1, all of it sent to delay1 for one repeat.
    let mut p = ParamValues::default();
    for (param, v) in [
        (voice::WAVEFORM, 3.0),
        (voice::AMP, 1.0),
        (voice::FILTER_FREQ, 8000.0),
        (voice::ATTACK, 0.001),
        (voice::DECAY, 0.005),
        (voice::SUSTAIN, 0.0),
        (voice::RELEASE, 0.01),
        (voice::DELAY_SEND, 1.0),
    ] {
        p.set(ParamId::voice(1, param), v);
    }
    p.set(ParamId::reverb(reverb::MIX), 0.0);
    p.set(ParamId::delay(delay::FEEDBACK), 0.0);
    p.set(ParamId::delay(delay::MIX), 1.0);
    p.set(ParamId::delay(delay::LOWCUT), 20.0);
    p.set(ParamId::delay(delay::HIGHCUT), 10000.0);
    // A dotted eighth: 0.375 s at 120 BPM, 0.3 s at 150 (the free time stays 0.25 s).
    p.set(ParamId::delay(delay::SYNC), 7.0);
    let mut click = track("click", "voice1", "x...............", 0.05);
    click.base_amp = 1.0;
    click.filter_freq = 8000.0;
    click.delay_send = 1.0;
    let rate = 48_000.0;
    let mut rig = Rig::new(rate as f32, 8);
    rig.send(EngineMsg::Load {
        scene: scene(120.0, 0.0, &[click], p, 8),
        timing: LoadTiming::Immediate,
        slot: 0,
    });
    rig.send(EngineMsg::Play);
    let mut out = rig.run(2 * 96_000, 128);
    // The repeat of bar 2's hit, measured from the hit itself.
    let echo_after = |out: &[f32], hit: usize| {
        let dry = onset(out, hit, 0.05);
        let echo = onset(out, dry + 4_800, 0.05);
        echo - dry
    };
    let at_120 = echo_after(&out, 96_000);
    rig.send(EngineMsg::SetBpm(150.0));
    out.extend(rig.run(3 * 76_800, 128));
    let bars = rig.bars();
    let (_, last) = *bars.last().expect("bars");
    let at_150 = echo_after(&out, last as usize);
    eprintln!("dotted eighth: {at_120} samples at 120 BPM, {at_150} at 150 BPM");
    assert!(at_120.abs_diff(18_000) <= 48, "{at_120}");
    assert!(at_150.abs_diff(14_400) <= 48, "{at_150}");
}

// ---- MIDI clock out -------------------------------------------------------------------------

/// With MIDI clock out on, the runner hands the MIDI side Song Position 0 and Start at Play,
/// six ticks per step at `step start + round(i × step / 6)` (through a tempo change, which
/// re-anchors at a step boundary), and Stop at Stop — without allocating on the audio path.
#[test]
fn midi_clock_ticks_land_on_exact_samples_and_the_audio_path_never_allocates() {
    use chronus::engine::link::{MIDI_RING, link};
    use chronus::engine::midi::{CLOCK, MidiEvent, START, STOP};

    let mut e = Engine::new(48000.0, 8);
    e.handle(EngineMsg::SetBpm(137.0));
    let (mut runner, mut ctl) = link(e, None);
    let (tx, mut rx) = rtrb::RingBuffer::<MidiEvent>::new(MIDI_RING);
    runner.attach_midi(tx);
    ctl.send(EngineMsg::MidiClock(true));
    ctl.send(EngineMsg::Play);
    let mut buf = vec![0.0f32; 2 * 200];
    let mut got: Vec<MidiEvent> = Vec::with_capacity(20_000);
    // 137 BPM for 2 s (guarded), 90 BPM for 2 s, then Stop.
    assert_no_alloc::assert_no_alloc(|| {
        for _ in 0..480 {
            runner.render(&mut buf);
            while let Ok(ev) = rx.pop() {
                got.push(ev);
            }
        }
    });
    ctl.send(EngineMsg::SetBpm(90.0));
    for _ in 0..480 {
        runner.render(&mut buf);
        while let Ok(ev) = rx.pop() {
            got.push(ev);
        }
    }
    ctl.send(EngineMsg::Stop);
    runner.render(&mut buf);
    while let Ok(ev) = rx.pop() {
        got.push(ev);
    }
    assert_eq!(got[0], MidiEvent::song_position(0, 0));
    assert_eq!(got[1], MidiEvent::realtime(START, 0));
    assert_eq!(got.last().unwrap().message(), &[STOP]);
    let ticks: Vec<u64> = got
        .iter()
        .filter(|m| m.message() == [CLOCK])
        .map(|m| m.sample)
        .collect();
    assert_eq!(
        ticks.len() + 3,
        got.len(),
        "only ticks between Start and Stop"
    );
    // The first 2 s at 137 BPM: steps every 48000 × 15 / 137 samples from 0.
    let sps = 48000.0 * 15.0 / 137.0;
    for (i, &t) in ticks.iter().enumerate().take_while(|(_, t)| **t < 96_000) {
        let (k, j) = (i as u64 / 6, i as u64 % 6);
        let step = step_start(k, sps);
        let len = step_start(k + 1, sps) - step;
        let want = step + (j as f64 * len as f64 / 6.0).round() as u64;
        assert_eq!(t, want, "tick {i}");
    }
    // After the change, 90 BPM: 24 ticks a beat of 32000 samples, to within rounding.
    let late: Vec<u64> = ticks.iter().copied().filter(|&t| t > 110_000).collect();
    for w in late.windows(25).step_by(24) {
        assert!(
            (w[24] - w[0]).abs_diff(32_000) <= 1,
            "a beat at 90 BPM: {}",
            w[24] - w[0]
        );
    }
    assert_eq!(
        runner
            .stats()
            .midi_dropped
            .load(std::sync::atomic::Ordering::Relaxed),
        0
    );
}

// ---- MIDI notes out -------------------------------------------------------------------------

/// Tracks with a `midi` target: every hit that sounds sends note on at the very sample its
/// voice's gate opens (pitch from the hit's frequency, velocity from accent × step velocity)
/// and note off at the sample its gate closes; a ratchet of 4 sends 4; a step whose chance
/// fails and a muted track send nothing; Stop ends the held notes and sends all notes off
/// (CC 123) on each channel used — without allocating on the audio path.
#[test]
fn midi_notes_go_out_at_the_samples_of_their_hits_and_stop_ends_them() {
    use chronus::engine::link::{MIDI_RING, link};
    use chronus::engine::midi::MidiEvent;
    use chronus::model::MidiTarget;
    use chronus::model::steps::StepData;

    let mut bass = track("bass", "voice2", "x.X.x...........", 0.5);
    bass.notes = vec![110.0, 220.0];
    bass.midi = Some(MidiTarget::new("Synth", 3));
    bass.steps.entries.insert(
        5,
        StepData {
            velocity: Some(0.5),
            ..StepData::default()
        },
    );
    let mut drum = track("drum", "voice1", "X...x...X.......", 0.5);
    drum.base_freq = 55.0;
    drum.midi = Some(MidiTarget::new("Drums", 10));
    drum.steps.entries.insert(
        5,
        StepData {
            ratchet: Some(4),
            ..StepData::default()
        },
    );
    drum.steps.entries.insert(
        9,
        StepData {
            chance: Some(0.0),
            ..StepData::default()
        },
    );
    let mut silent = track("silent", "voice3", "xxxxxxxxxxxxxxxx", 0.5);
    silent.muted = true;
    silent.midi = Some(MidiTarget::new("Synth", 4));
    let mut slot = Slot::default();
    slot.sequencer.bpm = 120.0;
    slot.sequencer.tracks = vec![bass, drum, silent];
    // Port indexes in the order the slot names them: Synth 0, Drums 1.
    let scene = Scene::from_slot(&slot, 8);
    let (mut runner, mut ctl) = link(Engine::new(48000.0, 8), None);
    let (tx, mut rx) = rtrb::RingBuffer::<MidiEvent>::new(MIDI_RING);
    runner.attach_midi(tx);
    ctl.send(EngineMsg::Load {
        scene: Box::new(scene),
        timing: LoadTiming::Immediate,
        slot: 1,
    });
    ctl.send(EngineMsg::Play);
    let mut buf = vec![0.0f32; 2 * 256];
    let mut got: Vec<MidiEvent> = Vec::with_capacity(4096);
    let mut gates: Vec<GateRecord> = Vec::with_capacity(4096);
    // A bar at 120 BPM is 96 000 samples; play a bar and a half, then stop mid-note.
    let stop_at = 96_000 + 4 * 6000 + 1000;
    assert_no_alloc::assert_no_alloc(|| {
        while runner.engine_mut().position().sample < stop_at {
            runner.render(&mut buf);
            while let Ok(ev) = rx.pop() {
                got.push(ev);
            }
            while let Some(g) = runner.engine_mut().pop_gate_record() {
                gates.push(g);
            }
        }
    });
    let stopped = runner.engine_mut().position().sample;
    ctl.send(EngineMsg::Stop);
    runner.render(&mut buf);
    while let Ok(ev) = rx.pop() {
        got.push(ev);
    }
    while let Some(g) = runner.engine_mut().pop_gate_record() {
        gates.push(g);
    }
    let kind = |e: &MidiEvent| e.bytes[0] & 0xF0;
    let on = |port: u8| -> Vec<(u64, u8, u8, u8)> {
        got.iter()
            .filter(|e| e.port == port && kind(e) == 0x90)
            .map(|e| (e.sample, e.bytes[0] & 0x0F, e.bytes[1], e.bytes[2]))
            .collect()
    };
    let off = |port: u8| -> Vec<u64> {
        got.iter()
            .filter(|e| e.port == port && kind(e) == 0x80 && e.sample < stopped)
            .map(|e| e.sample)
            .collect()
    };
    let gate = |voice: u8, is_on: bool| -> Vec<u64> {
        gates
            .iter()
            .filter(|g| g.voice == voice && g.on == is_on && g.sample < stopped)
            .map(|g| g.sample)
            .collect()
    };
    // bass (voice2, channel 3 = 2 on the wire): x at step 0, X at 2, x (velocity 0.5) at 4,
    // notes cycling 110 Hz (A2 = 45) and 220 Hz (A3 = 57), in two bars.
    let bass = on(0);
    assert_eq!(
        bass.iter().map(|b| (b.1, b.2, b.3)).collect::<Vec<_>>(),
        [
            (2, 45, 76),
            (2, 57, 127),
            (2, 45, 38),
            (2, 57, 76),
            (2, 45, 127),
            (2, 57, 38),
        ]
    );
    assert_eq!(
        bass.iter().map(|b| b.0).collect::<Vec<_>>(),
        gate(2, true),
        "note ons at the gate-on samples"
    );
    assert_eq!(bass[0].0, 0);
    assert_eq!(bass[1].0, 12_000);
    assert_eq!(off(0), gate(2, false), "note offs at the gate-off samples");
    assert_eq!(off(0)[0], 3000, "half a step of gate");
    // drum (voice1, channel 10): X at 0, a ratchet of 4 on step 4 (each 1/8 of a step of
    // gate), step 8's chance 0 sends nothing; 55 Hz is A1 = 33.
    let drum = on(1);
    let first_bar: Vec<(u64, u8, u8, u8)> = drum.iter().copied().filter(|d| d.0 < 96_000).collect();
    assert_eq!(
        first_bar,
        [
            (0, 9, 33, 127),
            (24_000, 9, 33, 76),
            (25_500, 9, 33, 76),
            (27_000, 9, 33, 76),
            (28_500, 9, 33, 76),
        ]
    );
    assert_eq!(drum.iter().map(|d| d.0).collect::<Vec<_>>(), gate(1, true));
    assert_eq!(off(1), gate(1, false));
    assert_eq!(off(1)[1], 24_000 + 750);
    // The muted track (its port "Synth", channel 4) sent nothing.
    assert!(got.iter().all(|e| e.bytes[0] & 0x0F != 3), "{got:?}");
    // Stop, a little after bar 2's step 4: the bass's A3 from 120 000 is held (its gate ends at
    // 123 000), the drum's first ratchet hit has ended and its others never come. Note off for
    // the bass, then CC 123 on channel 3 of Synth and channel 10 of Drums, at the stop.
    let tail: Vec<(u8, [u8; 3])> = got
        .iter()
        .filter(|e| e.sample == stopped)
        .map(|e| (e.port, e.bytes))
        .collect();
    assert!(tail.contains(&(0, [0xB2, 123, 0])), "{tail:?}");
    assert!(tail.contains(&(1, [0xB9, 123, 0])), "{tail:?}");
    assert_eq!(
        tail.len(),
        3,
        "one held note and two all-notes-off: {tail:?}"
    );
    assert_eq!(
        tail[0],
        (0, [0x82, 57, 0]),
        "the held note ends first: {tail:?}"
    );
    // Every note on has its note off.
    let ons = got.iter().filter(|e| kind(e) == 0x90).count();
    let offs = got.iter().filter(|e| kind(e) == 0x80).count();
    assert_eq!(ons, offs);
    assert_eq!(runner.engine_mut().held_notes(), 0);
    assert_eq!(runner.engine_mut().notes_cut(), 0);
}
