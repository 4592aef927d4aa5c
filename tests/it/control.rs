//! The command path, tested from outside: `Controller::apply` → `EngineLink` (ring, backlog,
//! coalescing) → `EngineRunner::render` → audio, events and recordings.
//!
//! Most tests compare the runner's output sample for sample with a reference `Engine` driven
//! directly with the messages the command should have caused, so a lost, reordered, early or
//! late message shows up as a differing sample. Tests that document a bug in `src/control.rs`
//! or `src/audio.rs` are `#[ignore = "bug: …"]` so the suite stays green.

use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use crate::support::{Live, Setup};
use chronus::app::{AudioArgs, Session, SessionOptions};
use chronus::control::{Command, ControlError, Controller, Level, Notice, StepValue};
use chronus::engine::link::{COMMAND_RING, MAX_COMMANDS_PER_CALLBACK};
use chronus::engine::{Engine, EngineMsg, LoadTiming, Scene, TrackSet};
use chronus::model::registry::voice as vp;
use chronus::model::{ParamId, Slot, Track};
use chronus::store::{SlotNumber, Store, StoreError};

const SR: usize = 48_000;
const VOICES: usize = 8;
/// Frames per callback; divides a step at 240 BPM, so edits land on step boundaries.
const PERIOD: usize = 200;
/// Tempo of the test songs: a step is 3000 frames, a bar 48 000 (one second).
const BPM: f64 = 240.0;
const STEP: usize = 3000;
const BAR: usize = 16 * STEP;

fn slot(n: u8) -> SlotNumber {
    SlotNumber::new(n).unwrap()
}

/// A sine track that is easy to find in the output: its own frequency, a bright filter, no
/// accent boost and no sends.
fn tone_track(name: &str, voice: u8, pattern: &str, freq: f64) -> Track {
    let mut t = Track::new(name, &format!("voice{voice}"), pattern);
    t.base_freq = freq;
    t.base_amp = 0.3;
    t.filter_freq = 8000.0;
    t.accent_boost = 0.0;
    t.reverb_send = 0.0;
    t.delay_send = 0.0;
    t.gate_frac = 0.5;
    t
}

/// Short envelopes so each hit is over well before the next step.
const SHAPE: [(usize, f64); 4] = [
    (vp::ATTACK, 0.001),
    (vp::DECAY, 0.0),
    (vp::SUSTAIN, 1.0),
    (vp::RELEASE, 0.01),
];
const SHAPED_VOICES: [u8; 3] = [1, 4, 5];

/// A song as a slot file would hold it: 240 BPM, short envelopes, the given tracks.
fn song(name: &str, tracks: Vec<Track>) -> Slot {
    let mut s = Slot::default();
    s.metadata.name = name.to_string();
    s.sequencer.bpm = BPM;
    for v in SHAPED_VOICES {
        for (p, value) in SHAPE {
            s.params.set(ParamId::voice(v, p), value);
        }
    }
    s.sequencer.tracks = tracks;
    s
}

/// Amplitude of a sine at `freq` in the left channel over frames `start..start + len`.
fn tone(out: &[f32], start: usize, len: usize, freq: f64) -> f64 {
    let w = std::f64::consts::TAU * freq / SR as f64;
    let (mut re, mut im) = (0.0, 0.0);
    for n in 0..len {
        let x = out[2 * (start + n)] as f64;
        re += x * (w * n as f64).cos();
        im -= x * (w * n as f64).sin();
    }
    2.0 * (re * re + im * im).sqrt() / len as f64
}

/// What a tone track at `freq` played in the bar starting at frame `bar_start`: one character
/// per step, `X` (accent, amplitude ≈ 0.3), `x` (hit, ≈ 0.18) or `.`.
fn hits(out: &[f32], bar_start: usize, freq: f64) -> String {
    (0..16)
        .map(|k| {
            let a = tone(out, bar_start + k * STEP + 700, 750, freq);
            if a > 0.24 {
                'X'
            } else if a > 0.06 {
                'x'
            } else {
                '.'
            }
        })
        .collect()
}

/// The strongest frequency (1 Hz resolution) within `lo..=hi` over frames `start..start+len`.
fn peak_freq(out: &[f32], start: usize, len: usize, lo: u32, hi: u32) -> u32 {
    (lo..=hi)
        .max_by(|&a, &b| {
            let ta = tone(out, start, len, a as f64);
            let tb = tone(out, start, len, b as f64);
            ta.partial_cmp(&tb).unwrap()
        })
        .unwrap()
}

fn max_abs(out: &[f32]) -> f32 {
    out.iter().fold(0.0f32, |m, x| m.max(x.abs()))
}

/// Index of the first sample where two renders differ.
fn first_difference(a: &[f32], b: &[f32]) -> Option<usize> {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .position(|(x, y)| x.to_bits() != y.to_bits())
}

fn assert_same(what: &str, a: &[f32], b: &[f32]) {
    if let Some(i) = first_difference(a, b) {
        panic!(
            "{what}: first difference at frame {} (channel {}): {} vs {}",
            i / 2,
            i % 2,
            a[i],
            b[i]
        );
    }
}

/// Renders a reference engine in the same periods the runner uses, dropping its events.
fn mirror_run(e: &mut Engine, frames: usize) -> Vec<f32> {
    let mut out = vec![0.0; frames * 2];
    for chunk in out.chunks_mut(PERIOD * 2) {
        e.process(chunk);
        while e.pop_event().is_some() {}
        while e.pop_garbage().is_some() {}
    }
    out
}

/// A reference engine holding a whole song, as if every edit had reached it.
fn mirror_of(song: &Slot) -> Engine {
    let mut e = Engine::new(SR as f32, VOICES);
    e.handle(EngineMsg::Load {
        scene: Box::new(Scene::from_slot(song, VOICES)),
        timing: LoadTiming::Immediate,
        slot: 0,
    });
    e
}

/// The shared rig ([`Live`]), rendering [`PERIOD`] frames per loop turn.
fn live() -> Live {
    Live::start(Setup {
        rate: SR as u32,
        voices: VOICES as u8,
        period: PERIOD,
        ..Setup::default()
    })
}

/// The options of a session like the rig's (no OSC, no watcher).
fn session_options() -> SessionOptions {
    SessionOptions {
        audio: AudioArgs {
            voices: VOICES as u8,
            ..AudioArgs::default()
        },
        osc: None,
        watch: false,
    }
}

/// A rig with song A: 240 BPM, shaped voices, track `a` on voice1 at 440 Hz on every beat,
/// built through commands. Returns a reference engine holding the same song.
fn live_with_song_a() -> (Live, Engine) {
    let mut live = live();
    live.apply(Command::SetName("A".into()));
    live.apply(Command::SetBpm(BPM));
    for v in SHAPED_VOICES {
        for (p, value) in SHAPE {
            live.apply(Command::SetParam {
                id: ParamId::voice(v, p),
                value,
            });
        }
    }
    live.apply(Command::AddTrack(Box::new(tone_track(
        "a",
        1,
        "x...x...x...x...",
        440.0,
    ))));
    let mirror = mirror_of(live.ctl().song());
    (live, mirror)
}

/// What these tests ask of the rig besides the shared calls.
trait ControlRig {
    /// Writes a slot file behind the controller's back (another program) and tells it to
    /// look again, as a watcher would.
    fn save_slot_file(&mut self, n: u8, s: &Slot);
    fn slot_path(&self, n: u8) -> PathBuf;
    fn applied(&self) -> Vec<(usize, u16, u64)>;
    fn beats(&self) -> Vec<u64>;
}

impl ControlRig for Live {
    fn save_slot_file(&mut self, n: u8, s: &Slot) {
        self.ctl().store().save(slot(n), s).unwrap();
        self.apply(Command::ReadSlotFile(slot(n)));
    }

    fn slot_path(&self, n: u8) -> PathBuf {
        self.ctl().store().slot_path(slot(n))
    }

    fn applied(&self) -> Vec<(usize, u16, u64)> {
        self.notices
            .iter()
            .filter_map(|(f, n)| match n {
                Notice::SlotApplied { slot, bar } => Some((*f, slot.get() as u16, *bar)),
                _ => None,
            })
            .collect()
    }

    fn beats(&self) -> Vec<u64> {
        self.notices
            .iter()
            .filter_map(|(_, n)| match n {
                Notice::Beat { sample, .. } => Some(*sample),
                _ => None,
            })
            .collect()
    }
}

// ---------------------------------------------------------------------------------------------
// 1. Back-pressure: nothing lost, last values win, order kept, coalescing only where allowed.
// ---------------------------------------------------------------------------------------------

/// Message `i` of a flood: Play first, then parameter changes rotating over eight voices'
/// frequencies (so no two neighbours share a parameter), a gate change every tenth message and
/// a new track set every hundredth.
fn flood_msg(i: usize) -> EngineMsg {
    if i == 0 {
        EngineMsg::Play
    } else if i % 100 == 49 {
        let n = i / 100;
        let pattern: String = (0..16)
            .map(|k| if (k + n).is_multiple_of(3) { 'x' } else { '.' })
            .collect();
        let t = tone_track("t", 1 + (n % 3) as u8, &pattern, 100.0 + n as f64 * 7.0);
        EngineMsg::SetTracks(Box::new(TrackSet::from_tracks(&[t], VOICES)))
    } else if i % 10 == 9 {
        let n = i / 10;
        EngineMsg::Gate {
            voice: 1 + (n % VOICES) as u8,
            on: !n.is_multiple_of(3),
        }
    } else {
        EngineMsg::SetParam {
            id: ParamId::voice(1 + (i % VOICES) as u8, vp::FREQ),
            value: flood_freq(i),
        }
    }
}

fn flood_freq(i: usize) -> f32 {
    200.0 + (i % 700) as f32
}

#[test]
fn a_flood_of_distinct_messages_beyond_the_ring_arrives_whole_and_in_order() {
    const N: usize = 10_000;
    let (mut runner, mut link) = chronus::engine::link::link(Engine::new(SR as f32, VOICES), None);
    for i in 0..N {
        link.send(flood_msg(i));
    }
    // No neighbours share a parameter, so nothing may coalesce: all wait, in order.
    assert_eq!(link.backlog_len(), N - COMMAND_RING);

    // The reference engine gets exactly the runner's per-callback batches: the ring is refilled
    // after each callback, which takes the oldest MAX_COMMANDS_PER_CALLBACK messages.
    let mut mirror = Engine::new(SR as f32, VOICES);
    let mut next = 0;
    let mut got = Vec::new();
    let mut want = Vec::new();
    let periods = N.div_ceil(MAX_COMMANDS_PER_CALLBACK) + 20;
    for _ in 0..periods {
        let mut buf = vec![0.0; PERIOD * 2];
        runner.render(&mut buf);
        link.pump();
        link.collect_garbage();
        while link.try_event().is_some() {}
        got.extend_from_slice(&buf);

        let end = (next + MAX_COMMANDS_PER_CALLBACK).min(N);
        for i in next..end {
            mirror.handle(flood_msg(i));
        }
        next = end;
        want.extend(mirror_run(&mut mirror, PERIOD));
    }
    assert_eq!(link.backlog_len(), 0);
    assert!(max_abs(&got) > 0.05, "the flood's gates should sound");
    assert_same("runner vs every message in order", &got, &want);

    // The last frequency of each voice the tracks do not play (5–8) won: stop, release
    // everything, then play each alone.
    link.send(EngineMsg::Stop);
    link.send(EngineMsg::ReleaseAll);
    for v in 5..=VOICES {
        let last = (1..N)
            .rev()
            .find(|&i| i % 100 != 49 && i % 10 != 9 && i % VOICES == v - 1)
            .unwrap();
        let mut quiet = vec![0.0; SR * 2];
        runner.render(&mut quiet);
        link.send(EngineMsg::Gate {
            voice: v as u8,
            on: true,
        });
        let mut buf = vec![0.0; SR / 2 * 2];
        runner.render(&mut buf);
        link.send(EngineMsg::Gate {
            voice: v as u8,
            on: false,
        });
        let f = flood_freq(last) as u32;
        assert_eq!(peak_freq(&buf, 4800, 12_000, f - 30, f + 30), f, "voice{v}");
    }
}

#[test]
fn flooding_one_parameter_coalesces_in_the_backlog_and_the_last_value_wins() {
    let (mut runner, mut link) = chronus::engine::link::link(Engine::new(SR as f32, VOICES), None);
    let id = ParamId::voice(6, vp::FREQ);
    let value = |i: usize| 300.0 + (i % 500) as f32;
    const N: usize = 100_000;
    let mut max_backlog = 0;
    for i in 0..N {
        link.send(EngineMsg::SetParam {
            id,
            value: value(i),
        });
        max_backlog = max_backlog.max(link.backlog_len());
    }
    assert_eq!(
        max_backlog, 1,
        "one parameter flooded holds one backlog entry"
    );

    // Different parameters do not coalesce.
    for v in 1..=VOICES as u8 {
        link.send(EngineMsg::SetParam {
            id: ParamId::voice(v, vp::AMP),
            value: 0.5,
        });
    }
    assert_eq!(link.backlog_len(), 1 + VOICES);

    // Drain; the engine saw the first COMMAND_RING values, then only the newest ones.
    let mut mirror = Engine::new(SR as f32, VOICES);
    for i in 0..COMMAND_RING {
        mirror.handle(EngineMsg::SetParam {
            id,
            value: value(i),
        });
    }
    mirror.handle(EngineMsg::SetParam {
        id,
        value: value(N - 1),
    });
    for v in 1..=VOICES as u8 {
        mirror.handle(EngineMsg::SetParam {
            id: ParamId::voice(v, vp::AMP),
            value: 0.5,
        });
    }
    let mut renders = 0;
    while link.backlog_len() > 0 || renders * MAX_COMMANDS_PER_CALLBACK < COMMAND_RING {
        let mut buf = vec![0.0; PERIOD * 2];
        runner.render(&mut buf);
        link.pump();
        renders += 1;
    }
    // The mirror renders the same (silent) frames the runner did while draining.
    mirror_run(&mut mirror, renders * PERIOD);
    link.send(EngineMsg::Gate { voice: 6, on: true });
    mirror.handle(EngineMsg::Gate { voice: 6, on: true });
    let mut got = vec![0.0; SR / 2 * 2];
    runner.render(&mut got);
    let mut want = vec![0.0; SR / 2 * 2];
    mirror.process(&mut want);
    assert!(max_abs(&got) > 0.01);
    assert_same("runner vs first ring-full then newest value", &got, &want);
    let f = value(N - 1) as u32;
    assert_eq!(peak_freq(&got, 4800, 12_000, f - 30, f + 30), f);
}

#[test]
fn coalescing_never_reorders_across_other_kinds() {
    let (mut runner, mut link) = chronus::engine::link::link(Engine::new(SR as f32, VOICES), None);
    let freq = ParamId::voice(1, vp::FREQ);
    // Fill the ring with something harmless.
    for _ in 0..COMMAND_RING {
        link.send(EngineMsg::SetSwing(0.0));
    }
    assert_eq!(link.backlog_len(), 0);
    link.send(EngineMsg::SetParam {
        id: freq,
        value: 300.0,
    });
    link.send(EngineMsg::Gate { voice: 1, on: true });
    link.send(EngineMsg::SetParam {
        id: freq,
        value: 500.0,
    });
    link.send(EngineMsg::SetParam {
        id: freq,
        value: 700.0,
    });
    link.send(EngineMsg::SetBpm(100.0));
    link.send(EngineMsg::SetBpm(200.0));
    link.send(EngineMsg::SetBpm(150.0));
    // [freq 300, gate, freq 700, bpm 150]: same-kind neighbours merged, the gate kept between.
    assert_eq!(link.backlog_len(), 4);

    let mut mirror = Engine::new(SR as f32, VOICES);
    for msg in [
        EngineMsg::SetParam {
            id: freq,
            value: 300.0,
        },
        EngineMsg::Gate { voice: 1, on: true },
        EngineMsg::SetParam {
            id: freq,
            value: 700.0,
        },
        EngineMsg::SetBpm(150.0),
    ] {
        mirror.handle(msg);
    }
    let mut got = Vec::new();
    for _ in 0..8 {
        let mut buf = vec![0.0; PERIOD * 2];
        runner.render(&mut buf);
        link.pump();
        got.extend(buf);
    }
    assert_eq!(link.backlog_len(), 0);
    // Four callbacks drain the ring; then the backlog arrives in one callback.
    let mut want = vec![0.0; 4 * PERIOD * 2];
    Engine::new(SR as f32, VOICES).process(&mut want);
    want.extend(mirror_run(&mut mirror, 4 * PERIOD));
    assert!(max_abs(&got) > 0.05);
    assert_same("order across kinds", &got, &want);
}

#[test]
fn a_stalled_audio_thread_loses_no_controller_edit() {
    let (mut live, _) = live_with_song_a();
    live.apply(Command::AddTrack(Box::new(tone_track(
        "b",
        4,
        "................",
        1320.0,
    ))));
    // 6000 edits while the audio thread does not run: the ring (4096) overflows.
    for round in 0..3000 {
        live.apply(Command::SetParam {
            id: ParamId::voice(7, vp::FREQ),
            value: 100.0 + round as f64,
        });
        let value = if round % 2 == 0 {
            StepValue::Hit
        } else {
            StepValue::Rest
        };
        live.apply(Command::SetStep {
            track: "b".into(),
            step: (round / 2) % 16,
            value,
        });
    }
    // The last round set step 7 back to a rest; leave an odd pattern on the track.
    live.apply(Command::SetPattern {
        track: "b".into(),
        pattern: "x..x..x.....X...".into(),
    });
    live.apply(Command::Play);
    // Play waits behind the edits, so the first bar starts a few callbacks late.
    live.run(BAR);
    let out = live.run(2 * BAR);
    let bar1 = live
        .notices
        .iter()
        .find_map(|(_, n)| match n {
            Notice::Bar { bar: 1, sample } => Some(*sample as usize),
            _ => None,
        })
        .unwrap();
    let late = bar1 - BAR;
    assert!(
        late > 0 && late <= 8 * PERIOD,
        "Play applied {late} frames late"
    );
    assert_eq!(hits(&out, late, 1320.0), "x..x..x.....X...");
    assert_eq!(hits(&out, late, 440.0), "x...x...x...x...");
    assert_eq!(
        live.ctl().song().params.get(ParamId::voice(7, vp::FREQ)),
        3099.0
    );
}

#[test]
fn every_replaced_box_comes_back_to_be_dropped_off_the_audio_thread() {
    let (mut runner, mut link) = chronus::engine::link::link(Engine::new(SR as f32, VOICES), None);
    // 600 step edits between two callbacks (an OSC script writing a pattern step by step).
    const EDITS: usize = 600;
    for i in 0..EDITS {
        let pattern: String = (0..16)
            .map(|k| if k == i % 16 { 'x' } else { '.' })
            .collect();
        let t = tone_track("t", 1, &pattern, 440.0);
        link.send(EngineMsg::SetTracks(Box::new(TrackSet::from_tracks(
            &[t],
            VOICES,
        ))));
    }
    let mut returned = 0;
    for _ in 0..10 {
        let mut buf = vec![0.0; PERIOD * 2];
        runner.render(&mut buf);
        returned += link.collect_garbage();
    }
    assert_eq!(returned, EDITS, "every replaced track set must come back");
}

// ---------------------------------------------------------------------------------------------
// 2. Edits reach the engine.
// ---------------------------------------------------------------------------------------------

#[test]
fn a_parameter_edit_reaches_the_output_within_one_period() {
    let mut live = live();
    let mut with = Engine::new(SR as f32, VOICES);
    let mut without = Engine::new(SR as f32, VOICES);
    live.apply(Command::Gate { voice: 1, on: true });
    with.handle(EngineMsg::Gate { voice: 1, on: true });
    without.handle(EngineMsg::Gate { voice: 1, on: true });
    let got = live.run(SR / 10);
    assert_same("before", &got, &mirror_run(&mut with, SR / 10));
    mirror_run(&mut without, SR / 10);

    let id = ParamId::voice(1, vp::FREQ);
    let msg = live.apply(Command::SetParam { id, value: 660.0 });
    assert_eq!(msg.as_deref(), Some("voice1/freq 660"));
    assert_eq!(live.ctl().song().params.get(id), 660.0);
    with.handle(EngineMsg::SetParam { id, value: 660.0 });
    let got = live.run(PERIOD);
    let old = mirror_run(&mut without, PERIOD);
    assert_same(
        "after, against the engine that got the edit",
        &got,
        &mirror_run(&mut with, PERIOD),
    );
    assert!(
        first_difference(&got, &old).is_some(),
        "the edit must change the very next period"
    );
    // And it settles on the new pitch.
    let got = live.run(SR / 2);
    assert_eq!(peak_freq(&got, 9600, 12_000, 600, 720), 660);
}

#[test]
fn amp_zero_silences_a_gated_voice_after_the_smoothing_time() {
    let mut live = live();
    live.apply(Command::Gate { voice: 1, on: true });
    let out = live.run(SR / 5);
    assert!(max_abs(&out[SR / 10 * 2..]) > 0.2, "{}", max_abs(&out));
    live.apply(Command::SetParam {
        id: ParamId::voice(1, vp::AMP),
        value: 0.0,
    });
    let out = live.run(SR / 10);
    // 20 ms smoothing reaches 1 % of the step; three times that is far below −80 dB.
    let after_60ms = &out[(SR * 60 / 1000) * 2..];
    assert!(max_abs(after_60ms) < 1e-4, "{}", max_abs(after_60ms));
    assert!(max_abs(&out[..PERIOD * 2]) > 0.1, "no jump to silence");
}

#[test]
fn step_pattern_track_mute_and_solo_edits_change_what_plays_at_the_next_bar() {
    let (mut live, mut mirror) = live_with_song_a();
    live.apply(Command::AddTrack(Box::new(tone_track(
        "b",
        4,
        "..x...x...x...x.",
        1320.0,
    ))));
    mirror.handle(EngineMsg::SetTracks(Box::new(TrackSet::from_tracks(
        &live.ctl().song().sequencer.tracks,
        VOICES,
    ))));
    live.apply(Command::Play);
    mirror.handle(EngineMsg::Play);

    let check = |live: &mut Live, mirror: &mut Engine, a: &str, b: &str| {
        mirror.handle(EngineMsg::SetTracks(Box::new(TrackSet::from_tracks(
            &live.ctl().song().sequencer.tracks,
            VOICES,
        ))));
        let got = live.run(BAR);
        assert_eq!(hits(&got, 0, 440.0), a, "track a");
        assert_eq!(hits(&got, 0, 1320.0), b, "track b");
        assert_same(
            "runner vs engine with the edited tracks",
            &got,
            &mirror_run(mirror, BAR),
        );
    };
    check(
        &mut live,
        &mut mirror,
        "x...x...x...x...",
        "..x...x...x...x.",
    );

    live.apply(Command::SetStep {
        track: "a".into(),
        step: 2,
        value: StepValue::Accent,
    });
    live.apply(Command::SetStep {
        track: "a".into(),
        step: 4,
        value: StepValue::Rest,
    });
    check(
        &mut live,
        &mut mirror,
        "x.X.....x...x...",
        "..x...x...x...x.",
    );

    live.apply(Command::SetPattern {
        track: "b".into(),
        pattern: "xx".into(),
    });
    check(
        &mut live,
        &mut mirror,
        "x.X.....x...x...",
        "xxxxxxxxxxxxxxxx",
    );

    let msg = live.apply(Command::Mute {
        track: "a".into(),
        on: None,
    });
    assert_eq!(msg.as_deref(), Some("a muted"));
    check(
        &mut live,
        &mut mirror,
        "................",
        "xxxxxxxxxxxxxxxx",
    );

    live.apply(Command::Mute {
        track: "a".into(),
        on: Some(false),
    });
    live.apply(Command::Solo {
        track: "a".into(),
        on: Some(true),
    });
    check(
        &mut live,
        &mut mirror,
        "x.X.....x...x...",
        "................",
    );

    live.apply(Command::Solo {
        track: "a".into(),
        on: None,
    });
    live.apply(Command::RemoveTrack("a".into()));
    check(
        &mut live,
        &mut mirror,
        "................",
        "xxxxxxxxxxxxxxxx",
    );

    let mut c = tone_track("c", 5, "...x", 880.0);
    c.base_amp = 0.5;
    live.apply(Command::AddTrack(Box::new(c)));
    let got = live.run(BAR);
    assert_eq!(
        hits(&got, 0, 880.0),
        "...X...X...X...X",
        "0.5 × 0.6 is an X-sized hit"
    );
    assert_eq!(hits(&got, 0, 1320.0), "xxxxxxxxxxxxxxxx");
}

#[test]
fn refused_edits_change_nothing_and_name_the_problem() {
    let (mut live, _) = live_with_song_a();
    let before = live.ctl().song().clone();
    let e = live
        .try_apply(Command::SetStep {
            track: "nope".into(),
            step: 0,
            value: StepValue::Hit,
        })
        .unwrap_err();
    assert_eq!(e.to_string(), "no track named \"nope\"");
    let e = live
        .try_apply(Command::SetStep {
            track: "a".into(),
            step: 64,
            value: StepValue::Hit,
        })
        .unwrap_err();
    assert!(matches!(
        e,
        ControlError::StepOutOfRange { step: 64, max: 64 }
    ));
    assert_eq!(
        e.to_string(),
        "step 65 is past the longest pattern (64 steps)"
    );
    let e = live
        .try_apply(Command::AddTrack(Box::new(Track::new("z", "acid1", "x"))))
        .unwrap_err();
    assert!(matches!(&e, ControlError::NotAVoice { id, max: 16 } if id == "acid1"));
    assert_eq!(e.to_string(), "\"acid1\" is not a voice (voice1–voice16)");
    let e = live
        .try_apply(Command::SetPattern {
            track: "a".into(),
            pattern: "x".repeat(65),
        })
        .unwrap_err();
    assert!(matches!(
        e,
        ControlError::PatternTooLong { len: 65, max: 64 }
    ));
    assert_eq!(e.to_string(), "pattern of 65 steps is longer than 64");
    let e = live
        .try_apply(Command::RenameTrack {
            from: "a".into(),
            to: "a".into(),
        })
        .map(|_| ());
    assert!(e.is_ok(), "renaming to the same name is a no-op");
    assert_eq!(*live.ctl().song(), before);
}

// ---------------------------------------------------------------------------------------------
// 3. Undo / redo.
// ---------------------------------------------------------------------------------------------

#[test]
fn undo_and_redo_restore_exact_songs() {
    let mut live = live();
    let edits = vec![
        Command::SetBpm(133.0),
        Command::AddTrack(Box::new(tone_track("kick", 1, "x...", 60.0))),
        Command::AddTrack(Box::new(tone_track("hat", 3, "..x.", 6000.0))),
        Command::SetStep {
            track: "kick".into(),
            step: 9,
            value: StepValue::Accent,
        },
        Command::SetParam {
            id: ParamId::voice(3, vp::FILTER_FREQ),
            value: 3000.0,
        },
        Command::SetName("undo me".into()),
        Command::RenameTrack {
            from: "hat".into(),
            to: "hh".into(),
        },
        Command::MoveTrack {
            track: "hh".into(),
            delta: -5,
        },
        Command::SetSwing(0.25),
        Command::SetNotes {
            track: "kick".into(),
            notes: vec![55.0, 65.4, 9999.0],
        },
        Command::SetTrackField {
            track: "hh".into(),
            field: chronus::model::registry::TrackFieldId::new(
                chronus::model::registry::track::GATE_FRAC,
            )
            .unwrap(),
            value: 0.125,
        },
        Command::SetLength {
            track: "kick".into(),
            len: 3,
        },
        Command::ClearTracks,
    ];
    let mut snaps = vec![live.ctl().song().clone()];
    for cmd in edits {
        live.apply(cmd);
        assert!(live.ctl().is_dirty());
        assert_ne!(
            live.ctl().song(),
            snaps.last().unwrap(),
            "every edit changes the song"
        );
        snaps.push(live.ctl().song().clone());
    }
    assert_eq!(
        snaps[10].sequencer.tracks[1].notes,
        vec![55.0, 65.4, 5000.0]
    );
    assert_eq!(snaps[12].sequencer.tracks[1].pattern, "x..");
    for k in (0..snaps.len() - 1).rev() {
        let said = live.apply(Command::Undo).unwrap();
        assert!(said.starts_with("undone: "), "{said}");
        assert_eq!(
            *live.ctl().song(),
            snaps[k],
            "after undoing back to state {k}"
        );
    }
    let e = live.try_apply(Command::Undo).unwrap_err();
    assert!(matches!(e, ControlError::NothingTo("undo")));
    assert_eq!(e.to_string(), "nothing to undo");
    for (k, snap) in snaps.iter().enumerate().skip(1) {
        live.apply(Command::Redo);
        assert_eq!(live.ctl().song(), snap, "after redoing to state {k}");
    }
    assert!(matches!(
        live.try_apply(Command::Redo),
        Err(ControlError::NothingTo("redo"))
    ));
    // The engine follows an undo too: undoing the clear brings the last song's tracks back.
    live.apply(Command::Undo);
    assert_eq!(*live.ctl().song(), snaps[snaps.len() - 2]);
}

#[test]
fn holding_a_parameter_is_one_undo_step_and_a_new_edit_clears_redo() {
    let mut live = live();
    let a = ParamId::voice(1, vp::FILTER_FREQ);
    let b = ParamId::voice(1, vp::FILTER_Q);
    let start = live.ctl().song().clone();
    for v in [1100.0, 1200.0, 1300.0, 1400.0, 1500.0] {
        live.apply(Command::SetParam { id: a, value: v });
    }
    live.apply(Command::Undo);
    assert_eq!(
        *live.ctl().song(),
        start,
        "five adjustments of one parameter are one step"
    );
    assert!(live.try_apply(Command::Undo).is_err());

    // a, b, a: three steps.
    live.apply(Command::SetParam {
        id: a,
        value: 2000.0,
    });
    live.apply(Command::SetParam { id: b, value: 3.0 });
    live.apply(Command::SetParam {
        id: a,
        value: 2500.0,
    });
    live.apply(Command::Undo);
    assert_eq!(live.ctl().song().params.get(a), 2000.0);
    assert_eq!(live.ctl().song().params.get(b), 3.0);
    live.apply(Command::Undo);
    assert_eq!(live.ctl().song().params.get(b), 2.0);
    live.apply(Command::Undo);
    assert_eq!(*live.ctl().song(), start);

    // A new edit clears redo.
    live.apply(Command::Redo);
    live.apply(Command::SetName("new".into()));
    assert!(matches!(
        live.try_apply(Command::Redo),
        Err(ControlError::NothingTo("redo"))
    ));

    // Adjustments more than a second apart are separate steps.
    let t = Instant::now();
    live.ctl_mut()
        .apply_at(Command::SetParam { id: b, value: 4.0 }, t)
        .unwrap();
    live.ctl_mut()
        .apply_at(
            Command::SetParam { id: b, value: 5.0 },
            t + Duration::from_millis(1100),
        )
        .unwrap();
    live.apply(Command::Undo);
    assert_eq!(live.ctl().song().params.get(b), 4.0);

    // An edit that changes nothing is no undo step and does not dirty a clean song.
    live.apply(Command::SaveSlot {
        slot: slot(1),
        force: false,
    });
    live.apply(Command::SetParam { id: b, value: 4.0 });
    assert!(!live.ctl().is_dirty());
    live.apply(Command::Undo);
    assert_eq!(
        live.ctl().song().params.get(b),
        2.0,
        "the no-op was not a step"
    );
}

#[test]
fn undo_of_a_tempo_change_resends_the_tempo() {
    let (mut live, _) = live_with_song_a();
    live.apply(Command::Play);
    live.run(BAR);
    live.apply(Command::SetBpm(120.0));
    live.run(2 * BAR);
    let beats = live.beats();
    let n = beats.len();
    assert_eq!(
        beats[n - 1] - beats[n - 2],
        24_000,
        "120 BPM: a beat is 24 000 frames"
    );

    live.apply(Command::Undo);
    assert_eq!(live.ctl().song().sequencer.bpm, BPM);
    live.notices.clear();
    live.run(BAR);
    let beats = live.beats();
    assert!(beats.len() >= 3);
    for w in beats[1..].windows(2) {
        assert_eq!(w[1] - w[0], 12_000, "undo brought 240 BPM back: {beats:?}");
    }

    live.apply(Command::Redo);
    assert_eq!(live.ctl().song().sequencer.bpm, 120.0);
    live.notices.clear();
    live.run(2 * BAR);
    let beats = live.beats();
    for w in beats[1..].windows(2) {
        assert_eq!(w[1] - w[0], 24_000, "redo brought 120 BPM back: {beats:?}");
    }
}

// ---------------------------------------------------------------------------------------------
// 4. Dirty flag, save guard, own-save hashes.
// ---------------------------------------------------------------------------------------------

#[test]
fn dirty_flag_save_overwrite_guard_and_own_saves_are_not_changes_on_disk() {
    let mut live = live();
    assert!(!live.ctl().is_dirty());
    live.apply(Command::SetName("mine".into()));
    live.apply(Command::AddTrack(Box::new(tone_track(
        "a", 1, "x...", 440.0,
    ))));
    assert!(live.ctl().is_dirty());

    let msg = live.apply(Command::SaveSlot {
        slot: slot(1),
        force: false,
    });
    // The save runs on the disk thread; its result is a notice.
    assert_eq!(msg, None);
    let p1 = live.slot_path(1);
    assert_eq!(
        live.last_said(|n| matches!(n, Notice::Saved { .. })),
        Some(format!("saved slot 1 to {}", p1.display()))
    );
    assert!(!live.ctl().is_dirty());
    assert_eq!(live.ctl().slot(), Some(slot(1)));
    // Heard back from the disk, Chronus's own save is not a change by another program.
    live.apply(Command::ReadSlotFile(slot(1)));
    assert!(!live.ctl().changed_on_disk(slot(1)));
    assert_eq!(
        live.ctl()
            .slot_files()
            .map(|i| i.name.clone())
            .collect::<Vec<_>>(),
        ["mine"]
    );
    assert!(live.notices.iter().any(|(_, n)| *n
        == Notice::Saved {
            slot: slot(1),
            path: p1.clone(),
            id: 1,
        }));

    // Slot 2 holds someone else's pattern.
    let theirs = song("theirs", vec![tone_track("z", 2, "x.x.", 110.0)]);
    live.save_slot_file(2, &theirs);
    let p2 = live.slot_path(2);
    let theirs_bytes = std::fs::read(&p2).unwrap();
    live.apply(Command::SetStep {
        track: "a".into(),
        step: 2,
        value: StepValue::Hit,
    });
    assert!(live.ctl().is_dirty());
    let e = live
        .try_apply(Command::SaveSlot {
            slot: slot(2),
            force: false,
        })
        .unwrap_err();
    assert!(
        matches!(&e, ControlError::WouldOverwrite(s, name) if *s == slot(2) && name == "theirs")
    );
    assert_eq!(
        e.to_string(),
        "slot 2 holds a different pattern (\"theirs\"); save again to overwrite"
    );
    assert_eq!(
        std::fs::read(&p2).unwrap(),
        theirs_bytes,
        "refused save wrote nothing"
    );
    assert!(live.ctl().is_dirty());
    assert_eq!(live.ctl().slot(), Some(slot(1)));

    live.apply(Command::SaveSlot {
        slot: slot(2),
        force: true,
    });
    assert!(!live.ctl().is_dirty());
    assert_eq!(live.ctl().slot(), Some(slot(2)));
    let saved = live.ctl().store().load(slot(2)).unwrap().slot;
    assert_eq!(saved.sequencer.tracks, live.ctl().song().sequencer.tracks);
    assert_ne!(std::fs::read(&p2).unwrap(), theirs_bytes);
    live.apply(Command::ReadSlotFile(slot(2)));
    assert!(!live.ctl().changed_on_disk(slot(2)));

    // Saving to the current slot never asks.
    live.apply(Command::SetStep {
        track: "a".into(),
        step: 3,
        value: StepValue::Accent,
    });
    live.apply(Command::SaveSlot {
        slot: slot(2),
        force: false,
    });
    assert_eq!(
        live.ctl()
            .store()
            .load(slot(2))
            .unwrap()
            .slot
            .sequencer
            .tracks[0]
            .pattern,
        "x.xX"
    );

    // An empty slot, or one holding the same pattern under another name, does not ask.
    live.apply(Command::SaveSlot {
        slot: slot(3),
        force: false,
    });
    let mut same = live.ctl().song().clone();
    same.metadata.name = "other name".into();
    live.save_slot_file(4, &same);
    live.apply(Command::SaveSlot {
        slot: slot(4),
        force: false,
    });

    // Loading clears dirty.
    live.apply(Command::SetName("edited".into()));
    assert!(live.ctl().is_dirty());
    live.apply(Command::LoadSlot {
        slot: slot(1),
        immediate: true,
    });
    assert!(!live.ctl().is_dirty());
    assert_eq!(live.ctl().slot(), Some(slot(1)));
    assert_eq!(live.ctl().song().metadata.name, "mine");
    assert_eq!(live.ctl().song().sequencer.tracks[0].pattern, "x...");
    // And undo of the load makes the song dirty again (it differs from slot 1).
    live.apply(Command::Undo);
    assert!(live.ctl().is_dirty());
    assert_eq!(live.ctl().song().metadata.name, "edited");
}

#[test]
fn undo_of_a_load_does_not_let_a_save_overwrite_the_loaded_slot_unasked() {
    let mut live = live();
    live.apply(Command::AddTrack(Box::new(tone_track(
        "mine", 1, "x...", 440.0,
    ))));
    let theirs = song("theirs", vec![tone_track("z", 2, "x.x.", 110.0)]);
    live.save_slot_file(2, &theirs);
    let p2 = live.slot_path(2);
    let theirs_bytes = std::fs::read(&p2).unwrap();
    live.apply(Command::LoadSlot {
        slot: slot(2),
        immediate: true,
    });
    live.apply(Command::Undo);
    assert_eq!(live.ctl().song().sequencer.tracks[0].name, "mine");
    // The song on screen is not slot 2's any more: saving there must ask first.
    let r = live.try_apply(Command::SaveSlot {
        slot: slot(2),
        force: false,
    });
    assert!(
        matches!(r, Err(ControlError::WouldOverwrite(..))),
        "saved without asking: {r:?}"
    );
    assert_eq!(std::fs::read(&p2).unwrap(), theirs_bytes);
}

#[test]
fn loading_a_missing_slot_changes_nothing() {
    let (mut live, _) = live_with_song_a();
    live.apply(Command::SaveSlot {
        slot: slot(1),
        force: false,
    });
    let before = live.ctl().song().clone();
    let e = live
        .try_apply(Command::LoadSlot {
            slot: slot(9),
            immediate: false,
        })
        .unwrap_err();
    assert!(
        matches!(e, ControlError::Store(StoreError::Missing { .. })),
        "{e:?}"
    );
    assert_eq!(*live.ctl().song(), before);
    assert_eq!(live.ctl().slot(), Some(slot(1)));
    assert!(!live.ctl().is_dirty());
    assert!(live.ctl().status().queued.is_none());
}

// ---------------------------------------------------------------------------------------------
// 5. Bar-aligned loads while running.
// ---------------------------------------------------------------------------------------------

fn song_b() -> Slot {
    song("B", vec![tone_track("b", 4, "x.x.x.x.x.x.x.x.", 1320.0)])
}

#[test]
fn a_bar_aligned_load_is_predicted_announced_and_applies_at_the_next_bar() {
    let (mut live, mut mirror) = live_with_song_a();
    live.save_slot_file(3, &song_b());
    live.apply(Command::Play);
    mirror.handle(EngineMsg::Play);
    let mut got = live.run(BAR + BAR / 2);
    let mut want = mirror_run(&mut mirror, BAR + BAR / 2);
    assert_eq!(live.ctl().status().bar, 1);

    let msg = live.apply(Command::LoadSlot {
        slot: slot(3),
        immediate: false,
    });
    assert_eq!(
        msg.as_deref(),
        Some("slot 3 \"B\" queued — applies at bar 2")
    );
    assert_eq!(live.ctl().status().queued, Some((slot(3), 2)));
    // Until its bar, the queued slot is held apart: the song is still the playing one.
    assert_eq!(live.ctl().slot(), None);
    assert_eq!(live.ctl().song().metadata.name, "A");
    let q = live.ctl().queued().expect("queued");
    assert_eq!(
        (q.slot, q.name, q.bar, q.from_disk),
        (slot(3), "B", 2, false)
    );
    assert!(live.notices.iter().any(|(_, n)| *n
        == Notice::SlotQueued {
            slot: slot(3),
            bar: 2,
            from_disk: false
        }));
    let parsed = live.ctl().store().load(slot(3)).unwrap();
    mirror.handle(EngineMsg::Load {
        scene: Box::new(Scene::from_slot(&parsed.slot, VOICES)),
        timing: LoadTiming::NextBar,
        slot: 3,
    });

    // Up to the last period before bar 2 nothing switches.
    got.extend(live.run(BAR / 2 - PERIOD));
    want.extend(mirror_run(&mut mirror, BAR / 2 - PERIOD));
    assert!(live.applied().is_empty());
    assert_eq!(
        live.ctl().status().queued,
        Some((slot(3), 2)),
        "the engine confirmed the bar"
    );
    assert_eq!(live.ctl().status().playing_slot, None);
    got.extend(live.run(PERIOD));
    want.extend(mirror_run(&mut mirror, PERIOD));
    assert!(live.applied().is_empty(), "bar 2 has not begun yet");
    // The period that starts with bar 2 reports it.
    got.extend(live.run(PERIOD));
    want.extend(mirror_run(&mut mirror, PERIOD));
    assert_eq!(live.applied(), vec![(2 * BAR + PERIOD, 3, 2)]);
    assert_eq!(live.ctl().status().queued, None);
    // Applied: now the queued song is the song, and the slot label changes with it.
    assert_eq!(live.ctl().slot(), Some(slot(3)));
    assert_eq!(*live.ctl().song(), parsed.slot);
    assert!(live.ctl().queued().is_none());
    assert!(!live.ctl().is_dirty());
    assert_eq!(live.ctl().status().playing_slot, Some(slot(3)));
    let bar2 = live.notices_matching(|n| matches!(n, Notice::Bar { bar: 2, .. }));
    assert_eq!(bar2.len(), 1);
    assert!(matches!(bar2[0].1, Notice::Bar { bar: 2, sample } if sample == 2 * BAR as u64));

    got.extend(live.run(BAR - 2 * PERIOD));
    want.extend(mirror_run(&mut mirror, BAR - 2 * PERIOD));
    assert_same("runner vs engine loaded at the bar", &got, &want);
    assert_eq!(hits(&got, BAR, 440.0), "x...x...x...x...");
    assert_eq!(hits(&got, BAR, 1320.0), "................");
    assert_eq!(hits(&got, 2 * BAR, 440.0), "................");
    assert_eq!(hits(&got, 2 * BAR, 1320.0), "x.x.x.x.x.x.x.x.");
}

#[test]
fn edits_while_a_load_is_pending_go_to_the_playing_song_and_are_heard_until_the_bar() {
    let (mut live, mut mirror) = live_with_song_a();
    live.save_slot_file(3, &song_b());
    live.apply(Command::Play);
    mirror.handle(EngineMsg::Play);
    let mut got = live.run(BAR + BAR / 2);
    let mut want = mirror_run(&mut mirror, BAR + BAR / 2);
    live.apply(Command::LoadSlot {
        slot: slot(3),
        immediate: false,
    });
    mirror.handle(EngineMsg::Load {
        scene: Box::new(Scene::from_slot(&song_b(), VOICES)),
        timing: LoadTiming::NextBar,
        slot: 3,
    });
    // Edit what plays (Elektron style): song A gets hits on the off-beats of its second half.
    live.apply(Command::SetPattern {
        track: "a".into(),
        pattern: "x...x...xxxxxxxx".into(),
    });
    assert_eq!(live.ctl().song().metadata.name, "A");
    assert_eq!(
        live.ctl().song().sequencer.tracks[0].pattern,
        "x...x...xxxxxxxx"
    );
    let q = live.ctl().queued().expect("still queued");
    assert_eq!(
        q.song.sequencer.tracks[0].pattern, "x.x.x.x.x.x.x.x.",
        "queued song untouched"
    );
    // The engine got the edit live, not into the queued snapshot.
    mirror.handle(EngineMsg::SetTracks(Box::new(TrackSet::from_tracks(
        &live.ctl().song().sequencer.tracks,
        VOICES,
    ))));
    got.extend(live.run(BAR / 2 + BAR));
    want.extend(mirror_run(&mut mirror, BAR / 2 + BAR));
    assert_same(
        "runner vs engine: edit live, slot 3 at the bar",
        &got,
        &want,
    );
    // The second half of bar 1 plays the edit; bar 2 is slot 3 as its file holds it.
    assert_eq!(hits(&got, BAR, 440.0), "x...x...xxxxxxxx");
    assert_eq!(hits(&got, 2 * BAR, 440.0), "................");
    assert_eq!(hits(&got, 2 * BAR, 1320.0), "x.x.x.x.x.x.x.x.");
    assert_eq!(live.applied().len(), 1, "{:?}", live.applied());
    assert_eq!(live.ctl().slot(), Some(slot(3)));
    assert!(!live.ctl().is_dirty());
}

#[test]
fn an_edit_of_the_old_song_racing_the_bar_switch_does_not_stick() {
    let (mut live, _) = live_with_song_a();
    live.save_slot_file(3, &song_b());
    live.apply(Command::Play);
    live.run(BAR + BAR / 2);
    live.apply(Command::LoadSlot {
        slot: slot(3),
        immediate: false,
    });
    live.run(BAR / 2 - PERIOD);
    // The audio thread crosses into bar 2 (applying slot 3) while the control thread is busy;
    // then an edit of song A (what the control side still plays) reaches the engine.
    let mut out = live.run_unpolled(2 * PERIOD);
    live.apply(Command::SetPattern {
        track: "a".into(),
        pattern: "xxxxxxxxxxxxxxxx".into(),
    });
    out.extend(live.run(2 * BAR));
    assert_eq!(live.applied().len(), 1, "{:?}", live.applied());
    assert_eq!(live.ctl().song().metadata.name, "B");
    // Once the control side hears of the switch it sends slot 3 again: bar 3 is pure B.
    assert_eq!(
        hits(&out, PERIOD + BAR, 1320.0),
        "x.x.x.x.x.x.x.x.",
        "bar 3"
    );
    assert_eq!(hits(&out, PERIOD + BAR, 440.0), "................", "bar 3");
}

#[test]
fn an_immediate_load_cancels_a_pending_bar_aligned_load() {
    let (mut live, _) = live_with_song_a();
    live.save_slot_file(2, &song_b());
    live.save_slot_file(
        3,
        &song("C", vec![tone_track("c", 5, "xxxx............", 880.0)]),
    );
    live.apply(Command::Play);
    live.run(BAR / 2);
    live.apply(Command::LoadSlot {
        slot: slot(2),
        immediate: false,
    });
    live.apply(Command::LoadSlot {
        slot: slot(3),
        immediate: true,
    });
    assert_eq!(live.ctl().song().metadata.name, "C");
    let out = live.run(BAR / 2 + BAR);
    assert_eq!(
        hits(&out, BAR / 2, 880.0),
        "xxxx............",
        "slot 3 keeps playing"
    );
    assert_eq!(hits(&out, BAR / 2, 1320.0), "................");
    assert_eq!(live.ctl().status().playing_slot, Some(slot(3)));
    assert!(
        live.applied().iter().all(|&(_, s, _)| s == 3),
        "{:?}",
        live.applied()
    );
}

#[test]
fn a_load_right_after_play_announces_the_bar_it_applies_at() {
    let (mut live, _) = live_with_song_a();
    live.save_slot_file(2, &song_b());
    live.apply(Command::Play);
    live.run(3 * BAR + BAR / 2);
    live.apply(Command::Stop);
    live.run(BAR / 4);
    live.notices.clear();
    // A script: "play; load slot 2".
    live.apply(Command::Play);
    live.apply(Command::LoadSlot {
        slot: slot(2),
        immediate: false,
    });
    live.run(2 * BAR);
    let queued: Vec<u64> = live
        .notices
        .iter()
        .filter_map(|(_, n)| match n {
            Notice::SlotQueued { bar, .. } => Some(*bar),
            _ => None,
        })
        .collect();
    let applied = live.applied();
    assert_eq!(applied.len(), 1);
    assert_eq!(
        queued,
        vec![applied[0].2],
        "announced bar vs the bar it applied at"
    );
}

// ---------------------------------------------------------------------------------------------
// 6. Recording.
// ---------------------------------------------------------------------------------------------

fn read_wav(path: &Path) -> (hound::WavSpec, Vec<f32>) {
    let mut r = hound::WavReader::open(path).unwrap();
    let spec = r.spec();
    let samples = r.samples::<f32>().map(|s| s.unwrap()).collect();
    (spec, samples)
}

#[test]
fn recording_is_lossless_32_bit_float_stereo() {
    let (mut live, _) = live_with_song_a();
    live.apply(Command::Gate { voice: 3, on: true });
    live.apply(Command::Play);
    live.run(BAR / 4);
    let msg = live.apply(Command::RecordStart(Some("take".into())));
    let path = live.dir.path().join("recordings").join("take.wav");
    assert_eq!(
        msg,
        Some(format!(
            "recording to {} (32-bit float stereo)",
            path.display()
        ))
    );
    assert_eq!(live.ctl().recording(), Some(path.as_path()));

    const FRAMES: usize = 40_000 + 123;
    let recorded = live.run(FRAMES);
    let msg = live.apply(Command::RecordStop).unwrap();
    assert!(msg.starts_with("recorded 0.84 s to "), "{msg}");
    assert_eq!(live.ctl().recording(), None);
    live.run(BAR / 4);
    let info = live
        .notices
        .iter()
        .find_map(|(_, n)| match n {
            Notice::Recorded(info) => Some(info.clone()),
            _ => None,
        })
        .expect("a Recorded notice");
    assert_eq!(info.path, path);
    assert_eq!(info.frames, FRAMES as u64);
    assert_eq!(info.sample_rate, SR as u32);

    let (spec, samples) = read_wav(&path);
    assert_eq!(spec.channels, 2);
    assert_eq!(spec.sample_rate, 48_000);
    assert_eq!(spec.bits_per_sample, 32);
    assert_eq!(spec.sample_format, hound::SampleFormat::Float);
    assert_eq!(samples.len(), FRAMES * 2);
    assert!(max_abs(&recorded) > 0.1);
    assert_same("WAV vs rendered", &samples, &recorded);
    assert_eq!(live.ctl().stats().record_dropped.load(Ordering::Relaxed), 0);

    // A second take in the same session starts clean.
    live.apply(Command::RecordStart(Some("take2.wav".into())));
    let second = live.run(PERIOD * 3);
    live.apply(Command::RecordStop);
    let (_, samples) = read_wav(&live.dir.path().join("recordings").join("take2.wav"));
    assert_same("second take", &samples, &second);
}

#[test]
fn recording_names_stay_inside_the_recordings_folder() {
    let mut live = live();
    let rec = live.dir.path().join("recordings");
    for (name, file) in [
        ("../x", "x.wav"),
        ("..\\..\\y", "y.wav"),
        ("/etc/passwd", "passwd.wav"),
        ("sub/../../z.WAV", "z.WAV"),
        ("  .hidden take ", "hiddentake.wav"),
    ] {
        live.apply(Command::RecordStart(Some(name.into())));
        assert_eq!(
            live.ctl().recording(),
            Some(rec.join(file).as_path()),
            "{name}"
        );
        live.run(PERIOD);
        live.apply(Command::RecordStop);
        assert!(rec.join(file).is_file(), "{name} → {file}");
    }
    for bad in ["..", "../..", "///", "é"] {
        let e = live
            .try_apply(Command::RecordStart(Some(bad.into())))
            .unwrap_err();
        assert!(matches!(&e, ControlError::BadRecordingName { name } if name == bad));
        assert_eq!(
            e.to_string(),
            format!("recording name {bad:?} has no usable characters")
        );
    }
    // Nothing appeared outside the recordings folder.
    let mut top: Vec<String> = std::fs::read_dir(live.dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    top.sort();
    assert_eq!(top, vec!["patterns", "recordings"]);
    // Default name, and refusals while (not) recording.
    live.apply(Command::RecordStart(None));
    let name = live
        .ctl()
        .recording()
        .unwrap()
        .file_name()
        .unwrap()
        .to_string_lossy()
        .into_owned();
    assert!(
        name.starts_with("chronus_") && name.ends_with(".wav") && name.len() == 27,
        "{name}"
    );
    let e = live
        .try_apply(Command::RecordStart(Some("other".into())))
        .unwrap_err();
    assert!(e.to_string().starts_with("already recording to "), "{e}");
    live.apply(Command::RecordStop);
    let e = live.try_apply(Command::RecordStop).unwrap_err();
    assert_eq!(e.to_string(), "not recording");
}

// ---------------------------------------------------------------------------------------------
// 7. Clear, gates, engine stop.
// ---------------------------------------------------------------------------------------------

#[test]
fn clear_tracks_releases_every_voice() {
    let (mut live, _) = live_with_song_a();
    let mut long = tone_track("drone", 4, "xxxxxxxxxxxxxxxx", 1320.0);
    long.gate_frac = 1.0;
    live.apply(Command::AddTrack(Box::new(long)));
    for v in [3u8, 4] {
        live.apply(Command::SetParam {
            id: ParamId::voice(v, vp::RELEASE),
            value: 0.05,
        });
    }
    live.apply(Command::Gate { voice: 3, on: true });
    live.apply(Command::Play);
    let out = live.run(BAR / 2);
    assert!(tone(&out, BAR / 4, 2400, 1320.0) > 0.1);
    assert!(
        tone(&out, BAR / 4, 2400, 440.0) > 0.1,
        "voice3's manual gate (440 Hz)"
    );

    let msg = live.apply(Command::ClearTracks);
    assert_eq!(msg.as_deref(), Some("cleared all tracks"));
    assert!(live.ctl().song().sequencer.tracks.is_empty());
    let out = live.run(BAR);
    // 50 ms of release, then silence (the filters' tails are far below this).
    assert!(max_abs(&out[..PERIOD * 2]) > 0.05, "released, not cut");
    let tail = &out[(SR / 10) * 2..];
    assert!(max_abs(tail) < 1e-5, "{}", max_abs(tail));
}

#[test]
fn gate_on_a_voice_that_does_not_run_is_refused_by_name() {
    let mut live = live();
    for v in [0u8, 9, 16, 200] {
        let e = live
            .try_apply(Command::Gate { voice: v, on: true })
            .unwrap_err();
        assert!(matches!(e, ControlError::VoiceMissing { voice, voices: 8 } if voice == v));
        assert_eq!(e.to_string(), format!("voice{v} does not exist (1–8)"));
    }
    assert_eq!(
        live.run(PERIOD * 10).iter().copied().fold(0.0f32, f32::max),
        0.0
    );
    live.apply(Command::Gate { voice: 8, on: true });
    let out = live.run(SR / 10);
    assert!(max_abs(&out) > 0.1, "voice8 exists and sounds");
    live.apply(Command::Gate {
        voice: 8,
        on: false,
    });
    let out = live.run(SR);
    assert!(
        max_abs(&out[(SR / 2 + SR / 10) * 2..]) < 1e-5,
        "released after 0.5 s"
    );
}

#[test]
fn engine_stop_mutes_the_output_and_finishes_the_recording() {
    let (mut live, _) = live_with_song_a();
    live.apply(Command::Gate { voice: 3, on: true });
    live.apply(Command::Play);
    live.run(PERIOD * 5);
    live.apply(Command::RecordStart(None));
    let path = live.ctl().recording().unwrap().to_path_buf();
    live.run(PERIOD * 20);
    let msg = live.apply(Command::EngineStop);
    assert_eq!(msg.as_deref(), Some("audio off"));
    assert_eq!(live.ctl().recording(), None);
    assert!(!live.ctl().status().running);
    let rec = live
        .notices
        .iter()
        .find_map(|(_, n)| match n {
            Notice::Recorded(i) => Some(i.clone()),
            _ => None,
        })
        .expect("EngineStop finishes the recording");
    assert_eq!(rec.path, path);
    assert_eq!(rec.frames, (PERIOD * 20) as u64);
    assert_eq!(read_wav(&path).1.len(), PERIOD * 20 * 2);

    let out = live.run(BAR);
    assert!(
        out.iter().all(|&x| x == 0.0),
        "muted output is exact silence"
    );
    assert!(live.ctl().status().muted);
    assert!(live.notices.iter().any(|(_, n)| *n == Notice::Stopped));
    // Beats stop too.
    live.notices.clear();
    live.run(BAR);
    assert!(live.beats().is_empty());

    live.apply(Command::EngineStart);
    live.apply(Command::Gate { voice: 3, on: true });
    let out = live.run(SR / 10);
    assert!(!live.ctl().status().muted);
    assert!(max_abs(&out) > 0.1);
}

// ---------------------------------------------------------------------------------------------
// 8. Relink, device loss, note cycles.
// ---------------------------------------------------------------------------------------------

#[test]
fn relink_sends_the_whole_song_to_the_new_engine() {
    let (mut live, _) = live_with_song_a();
    live.apply(Command::AddTrack(Box::new(tone_track(
        "b", 4, "..x.", 1320.0,
    ))));
    live.apply(Command::SetParam {
        id: ParamId::voice(4, vp::WAVEFORM),
        value: 1.0,
    });
    live.apply(Command::SaveSlot {
        slot: slot(5),
        force: false,
    });
    live.apply(Command::Play);
    live.run(BAR + BAR / 3);

    let (runner, link) = chronus::engine::link::link(Engine::new(SR as f32, VOICES), None);
    live.ctl_mut().relink(link);
    live.runner = runner;
    live.notices.clear();
    let mut mirror = Engine::new(SR as f32, VOICES);
    mirror.handle(EngineMsg::Load {
        scene: Box::new(Scene::from_slot(live.ctl().song(), VOICES)),
        timing: LoadTiming::Immediate,
        slot: 5,
    });
    mirror.handle(EngineMsg::Play);
    let got = live.run(2 * BAR);
    assert_same(
        "new engine vs the whole song",
        &got,
        &mirror_run(&mut mirror, 2 * BAR),
    );
    assert_eq!(hits(&got, BAR, 1320.0), "..x...x...x...x.");
    assert_eq!(live.ctl().status().playing_slot, Some(slot(5)));
    assert!(live.ctl().status().running);
    assert!(live.notices.iter().any(|(_, n)| *n == Notice::Started));
}

#[test]
fn relink_keeps_audio_off_after_engine_stop() {
    let mut live = live();
    live.apply(Command::EngineStop);
    live.run(PERIOD);
    assert!(live.ctl().status().muted);
    let (runner, link) = chronus::engine::link::link(Engine::new(SR as f32, VOICES), None);
    live.ctl_mut().relink(link);
    live.runner = runner;
    live.ctl_mut()
        .send_engine(EngineMsg::Gate { voice: 1, on: true });
    let out = live.run(SR / 10);
    assert!(
        live.ctl().status().muted,
        "audio was turned off; a new device must not turn it on"
    );
    assert_eq!(max_abs(&out), 0.0);
}

#[test]
fn set_notes_restarts_the_note_cycle() {
    let (mut live, _) = live_with_song_a();
    let mut t = tone_track("mel", 5, "x...", 220.0);
    t.notes = vec![220.0, 330.0, 440.0, 550.0];
    live.apply(Command::AddTrack(Box::new(t)));
    live.apply(Command::Mute {
        track: "a".into(),
        on: Some(true),
    });
    live.apply(Command::Play);
    // Three hits: 220, 330, 440.
    let out = live.run(10 * STEP);
    for (k, f) in [(0, 220.0), (4, 330.0), (8, 440.0)] {
        assert!(
            tone(&out, k * STEP + 700, 750, f) > 0.1,
            "step {k} plays {f} Hz"
        );
    }
    live.apply(Command::SetNotes {
        track: "mel".into(),
        notes: vec![660.0, 880.0],
    });
    assert_eq!(live.ctl().song().sequencer.tracks[1].note_index, 0);
    let out = live.run(6 * STEP);
    // The next hit (step 12) starts the new cycle at its first note.
    let first = tone(&out, 2 * STEP + 700, 750, 660.0);
    let second = tone(&out, 2 * STEP + 700, 750, 880.0);
    assert!(
        first > 0.1 && second < 0.03,
        "660 Hz: {first}, 880 Hz: {second}"
    );
}

#[test]
fn a_changed_file_is_queued_as_from_disk_with_its_warnings() {
    let (mut live, mut mirror) = live_with_song_a();
    live.apply(Command::Play);
    mirror.handle(EngineMsg::Play);
    let mut got = live.run(BAR / 2);
    let mut want = mirror_run(&mut mirror, BAR / 2);
    let mut b = song_b();
    b.sequencer.tracks.push(tone_track("far", 12, "x", 100.0));
    let parsed = chronus::model::slot::Parsed {
        slot: b.clone(),
        warnings: vec![chronus::model::slot::Warning {
            path: "sequencer.tracks.b.base_amp".into(),
            message: "1.5 is above 1; clamped".into(),
        }],
    };
    let msg = live.apply(Command::QueueParsed {
        slot: slot(3),
        parsed: Box::new(parsed),
    });
    assert_eq!(
        msg.as_deref(),
        Some("slot 3 changed on disk — applies at bar 1")
    );
    let texts: Vec<(usize, Notice)> = live.notices_matching(|n| {
        matches!(
            n,
            Notice::Message(Level::Warning, _) | Notice::SlotQueued { .. }
        )
    });
    let texts: Vec<Notice> = texts.into_iter().map(|(_, n)| n).collect();
    assert_eq!(
        texts,
        vec![
            Notice::Message(
                Level::Warning,
                "slot 3: sequencer.tracks.b.base_amp: 1.5 is above 1; clamped".into()
            ),
            Notice::Message(
                Level::Warning,
                "slot 3: track \"far\" plays voice12 but 8 voices run — it stays silent".into()
            ),
            Notice::SlotQueued {
                slot: slot(3),
                bar: 1,
                from_disk: true
            },
        ]
    );
    assert_eq!(live.ctl().queued().map(|q| q.song), Some(&b));
    assert!(live.ctl().queued().unwrap().from_disk);
    mirror.handle(EngineMsg::Load {
        scene: Box::new(Scene::from_slot(&b, VOICES)),
        timing: LoadTiming::NextBar,
        slot: 3,
    });
    got.extend(live.run(BAR + BAR / 2));
    want.extend(mirror_run(&mut mirror, BAR + BAR / 2));
    assert_same("runner vs engine with the file queued", &got, &want);
    assert_eq!(hits(&got, BAR, 1320.0), "x.x.x.x.x.x.x.x.");
    assert_eq!(live.applied(), vec![(BAR + PERIOD, 3, 1)]);
    assert_eq!(*live.ctl().song(), b);
    assert!(!live.ctl().is_dirty());
}

#[test]
fn follow_tempo_moves_the_engine_but_not_the_song() {
    let (mut live, _) = live_with_song_a();
    live.apply(Command::SaveSlot {
        slot: slot(1),
        force: false,
    });
    live.apply(Command::Play);
    live.run(BAR);
    let song = live.ctl().song().clone();
    assert_eq!(live.apply(Command::FollowTempo(120.0)), None);
    assert_eq!(*live.ctl().song(), song);
    assert!(!live.ctl().is_dirty());
    live.notices.clear();
    live.run(2 * BAR);
    let beats = live.beats();
    for w in beats[1..].windows(2) {
        assert_eq!(w[1] - w[0], 24_000, "{beats:?}");
    }
    // Other edits do not reset the followed tempo.
    live.apply(Command::SetStep {
        track: "a".into(),
        step: 1,
        value: StepValue::Hit,
    });
    live.notices.clear();
    live.run(BAR);
    let beats = live.beats();
    for w in beats.windows(2) {
        assert_eq!(w[1] - w[0], 24_000, "{beats:?}");
    }
    // Out-of-range tempos are clamped.
    live.apply(Command::FollowTempo(1000.0));
    live.run(BAR / 2);
    live.notices.clear();
    live.run(BAR);
    let beats = live.beats();
    for w in beats.windows(2) {
        assert_eq!(w[1] - w[0], 4 * 48_000 * 15 / 300, "{beats:?}");
    }
}

#[test]
fn setting_the_shown_tempo_after_following_reaches_the_engine() {
    let (mut live, _) = live_with_song_a();
    live.apply(Command::Play);
    live.apply(Command::FollowTempo(120.0));
    live.run(BAR);
    live.apply(Command::SetBpm(BPM));
    live.run(BAR / 2);
    live.notices.clear();
    live.run(BAR);
    let beats = live.beats();
    assert!(beats.len() >= 2);
    for w in beats.windows(2) {
        assert_eq!(
            w[1] - w[0],
            12_000,
            "the engine plays what the screen shows: {beats:?}"
        );
    }
}

#[test]
fn nudges_clamp_and_toggle_play_follows_the_status() {
    let mut live = live();
    for _ in 0..5 {
        live.apply(Command::NudgeBpm(1.0));
    }
    assert_eq!(live.ctl().song().sequencer.bpm, 125.0);
    live.apply(Command::NudgeBpm(-1000.0));
    assert_eq!(live.ctl().song().sequencer.bpm, 30.0);
    live.apply(Command::NudgeSwing(0.5));
    live.apply(Command::NudgeSwing(0.5));
    assert_eq!(
        live.ctl().song().sequencer.swing,
        0.668,
        "triplet feel is the top (issue 13)"
    );
    // All the tempo nudges were one held adjustment, then one for swing.
    live.apply(Command::Undo);
    assert_eq!(live.ctl().song().sequencer.swing, 0.0);
    live.apply(Command::Undo);
    assert_eq!(live.ctl().song().sequencer.bpm, 120.0);
    assert!(live.try_apply(Command::Undo).is_err());

    live.apply(Command::TogglePlay);
    assert!(live.ctl().status().running);
    live.run(PERIOD);
    assert!(live.notices.iter().any(|(_, n)| *n == Notice::Started));
    live.apply(Command::TogglePlay);
    assert!(!live.ctl().status().running);
    live.run(PERIOD);
    assert!(live.notices.iter().any(|(_, n)| *n == Notice::Stopped));
    assert!(!live.ctl().status().running);
}

#[test]
fn a_non_finite_tempo_or_parameter_is_refused() {
    let (mut live, _) = live_with_song_a();
    let before = live.ctl().song().clone();
    assert!(live.try_apply(Command::SetBpm(f64::NAN)).is_err());
    assert!(live.try_apply(Command::NudgeBpm(f64::INFINITY)).is_err());
    assert!(
        live.try_apply(Command::SetParam {
            id: ParamId::voice(1, vp::ATTACK),
            value: f64::NAN,
        })
        .is_err()
    );
    assert_eq!(*live.ctl().song(), before);
}

#[test]
fn edits_while_the_audio_side_is_gone_are_kept_and_relink_restores_everything() {
    let (mut live, _) = live_with_song_a();
    live.apply(Command::Play);
    live.run(BAR / 2);
    // The device dies: its runner is gone, the control side keeps editing without blocking.
    let (runner, link) = chronus::engine::link::link(Engine::new(SR as f32, VOICES), None);
    drop(std::mem::replace(&mut live.runner, runner));
    for i in 0..20_000 {
        live.apply(Command::SetParam {
            id: ParamId::voice(1 + (i % VOICES) as u8, vp::FILTER_Q),
            value: 1.0 + (i % 7) as f64,
        });
        live.ctl_mut().send_engine(EngineMsg::Gate {
            voice: 8,
            on: i % 2 == 0,
        });
    }
    live.apply(Command::SetPattern {
        track: "a".into(),
        pattern: "xx..".into(),
    });
    live.ctl_mut().poll();
    live.ctl_mut().relink(link);
    let mut mirror = Engine::new(SR as f32, VOICES);
    mirror.handle(EngineMsg::Load {
        scene: Box::new(Scene::from_slot(live.ctl().song(), VOICES)),
        timing: LoadTiming::Immediate,
        slot: 0,
    });
    mirror.handle(EngineMsg::Play);
    let got = live.run(BAR);
    assert_same(
        "new engine vs the song",
        &got,
        &mirror_run(&mut mirror, BAR),
    );
    assert_eq!(hits(&got, 0, 440.0), "xx..xx..xx..xx..");
}

#[test]
fn levels_and_load_reach_the_status() {
    let mut live = live();
    live.apply(Command::Gate { voice: 4, on: true });
    live.run(SR);
    let st = live.ctl().status();
    assert!(st.levels[3] > 0.2, "{:?}", st.levels);
    assert!(
        st.levels
            .iter()
            .enumerate()
            .all(|(i, &l)| i == 3 || l == 0.0),
        "{:?}",
        st.levels
    );
    assert!(st.master[0] > 0.2 && st.master[1] > 0.2);
    assert!(st.load_mean > 0.0 && st.load_max >= st.load_mean);
    assert_eq!(
        live.ctl().stats().callbacks.load(Ordering::Relaxed),
        (SR / PERIOD) as u64
    );
    assert_eq!(live.ctl().stats().events_dropped.load(Ordering::Relaxed), 0);
}

/// A slot file that no longer loads (a crash of some other tool, a bad hand edit) names its
/// newest valid backup; `LoadBackup` brings that version back, unsaved, so a save repairs the
/// slot. The CLI says the same.
#[test]
fn a_corrupt_slot_offers_its_newest_valid_backup() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::new(dir.path());
    let good = song_b();
    store.save(slot(4), &song("first", Vec::new())).unwrap();
    store.save(slot(4), &good).unwrap(); // the first version is now the backup
    let mut renamed = good.clone();
    renamed.metadata.name = "renamed".into();
    store.save(slot(4), &renamed).unwrap(); // and so is `good`: the newest backup
    std::fs::write(store.slot_path(slot(4)), "{ \"sequencer\": { \"bpm\": ").unwrap();

    let (mut session, _runner) = Session::offline(dir.path(), &session_options(), 48_000);
    let ctl = session.ctl_mut();
    let err = ctl
        .apply(Command::LoadSlot {
            slot: slot(4),
            immediate: true,
        })
        .unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, ControlError::Corrupt { .. }), "{text}");
    assert!(text.contains("slot_004.json"), "{text}");
    assert!(text.contains(":load_backup 4"), "{text}");
    assert!(text.contains("backups"), "{text}");

    let msg = ctl
        .apply(Command::LoadBackup { slot: slot(4) })
        .unwrap()
        .unwrap();
    assert!(msg.contains("save to replace the slot file"), "{msg}");
    assert_eq!(ctl.song().sequencer.tracks, good.sequencer.tracks);
    assert_eq!(ctl.slot(), Some(slot(4)));
    assert!(
        ctl.is_dirty(),
        "the slot file still holds the corrupt version"
    );
    ctl.apply(Command::SaveSlot {
        slot: slot(4),
        force: false,
    })
    .unwrap();
    assert!(ctl.settle_disk(Duration::from_secs(20)));
    let reloaded = Store::new(dir.path()).load(slot(4)).unwrap();
    assert_eq!(reloaded.slot.sequencer.tracks, good.sequencer.tracks);

    // The CLI points at the same backup.
    std::fs::write(store.slot_path(slot(4)), "not json").unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_chronus"))
        .args(["slots", "show", "4", "--patterns"])
        .arg(dir.path())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("restore it with: chronus slots save 4 --from"),
        "{stderr}"
    );
}

#[test]
fn switching_slots_keeps_unsaved_edits_as_drafts_until_save_or_revert() {
    let mut live = live();
    live.save_slot_file(1, &song("One", vec![tone_track("a", 1, "x...", 440.0)]));
    live.save_slot_file(5, &song_b());
    let load = |live: &mut Live, n: u8| {
        live.apply(Command::LoadSlot {
            slot: slot(n),
            immediate: true,
        })
    };
    load(&mut live, 1);
    let t0 = Instant::now();
    live.ctl_mut()
        .apply_at(
            Command::SetPattern {
                track: "a".into(),
                pattern: "xxxx".into(),
            },
            t0,
        )
        .unwrap();
    assert!(live.ctl().is_dirty());
    // The current slot's edit is mirrored to its draft file (kill-safety).
    let draft = live.ctl().store().draft_path(slot(1));
    live.ctl_mut().flush_drafts();
    live.settle_disk();
    let on_disk = chronus::store::read_slot_file(&draft).unwrap();
    assert_eq!(on_disk.slot.sequencer.tracks[0].pattern, "xxxx");
    // Switch away and back: the edit comes back, still unsaved.
    load(&mut live, 5);
    assert!(!live.ctl().is_dirty());
    assert!(live.ctl().has_draft(slot(1)));
    assert_eq!(live.ctl().draft_slots(), vec![slot(1)]);
    let msg = load(&mut live, 1).unwrap();
    assert!(
        msg.starts_with("slot 1: restored unsaved edits from drafts/slot_001.json"),
        "{msg}"
    );
    assert_eq!(live.ctl().song().sequencer.tracks[0].pattern, "xxxx");
    assert!(live.ctl().is_dirty());
    // A fresh controller on the same folder finds the draft (next start).
    let (mut session, _r) = Session::offline(&live.root, &session_options(), SR as u32);
    let next = session.ctl_mut();
    next.apply(Command::LoadSlot {
        slot: slot(1),
        immediate: true,
    })
    .unwrap();
    assert_eq!(next.song().sequencer.tracks[0].pattern, "xxxx");
    // Revert drops the draft and reloads the file; undo brings the edit back.
    live.apply(Command::Revert);
    assert_eq!(live.ctl().song().sequencer.tracks[0].pattern, "x...");
    assert!(!live.ctl().is_dirty());
    assert!(!draft.exists());
    live.apply(Command::Undo);
    assert_eq!(live.ctl().song().sequencer.tracks[0].pattern, "xxxx");
    // Save writes it to the slot file and removes the draft.
    live.apply(Command::SaveSlot {
        slot: slot(1),
        force: false,
    });
    live.ctl_mut().flush_drafts();
    live.settle_disk();
    assert!(!draft.exists());
    assert!(!live.ctl().is_dirty());
    assert!(live.ctl().draft_slots().is_empty());
}

#[test]
fn dirty_means_differs_from_the_file_and_undo_coalesces_by_passed_in_time() {
    let mut live = live();
    live.save_slot_file(2, &song_b());
    live.apply(Command::LoadSlot {
        slot: slot(2),
        immediate: true,
    });
    let t0 = Instant::now();
    let set = |live: &mut Live, v: f64, at: Instant| {
        live.ctl_mut().apply_at(Command::SetSwing(v), at).unwrap();
    };
    set(&mut live, 0.1, t0);
    set(&mut live, 0.2, t0 + Duration::from_millis(500));
    // More than a second after the last one: a new undo step.
    set(&mut live, 0.3, t0 + Duration::from_millis(1600));
    assert!(live.ctl().is_dirty());
    live.apply(Command::Undo);
    assert_eq!(live.ctl().song().sequencer.swing, 0.2);
    assert!(live.ctl().is_dirty());
    live.apply(Command::Undo);
    assert_eq!(live.ctl().song().sequencer.swing, 0.0);
    assert!(!live.ctl().is_dirty(), "back to what the file holds");
    // Save-as makes the other slot current.
    live.apply(Command::SetSwing(0.4));
    live.apply(Command::SaveSlot {
        slot: slot(9),
        force: false,
    });
    assert_eq!(live.ctl().slot(), Some(slot(9)));
    assert!(!live.ctl().is_dirty());
}

#[test]
fn headless_the_tui_and_command_replies_word_each_notice_the_same() {
    use chronus::audio::RecordingInfo;
    use chronus::frontend::headless::human_line;
    use chronus::frontend::tui::App;
    use chronus::keymap::Keymap;

    let (mut live, _) = live_with_song_a();
    live.save_slot_file(3, &song_b());
    live.apply(Command::Play);
    live.run(BAR + BAR / 2);
    // A bar-aligned load: the reply, headless and the controller's describe say one sentence.
    let reply = live.apply(Command::LoadSlot {
        slot: slot(3),
        immediate: false,
    });
    let queued = Notice::SlotQueued {
        slot: slot(3),
        bar: 2,
        from_disk: false,
    };
    assert!(live.notices.iter().any(|(_, n)| *n == queued));
    assert_eq!(reply, human_line(live.ctl(), &queued));
    assert_eq!(
        live.ctl().describe(&queued).as_deref(),
        Some("slot 3 \"B\" queued — applies at bar 2")
    );

    let tui_line = |ctl: &Controller, n: &Notice| {
        let mut app = App::new(Keymap::defaults());
        app.on_notices(ctl, std::slice::from_ref(n));
        app.ui.message.as_ref().map(|m| m.text.clone())
    };
    let shown = [
        (
            Notice::SlotQueued {
                slot: slot(3),
                bar: 2,
                from_disk: true,
            },
            "slot 3 changed on disk — applies at bar 2",
        ),
        (
            Notice::SlotApplied {
                slot: slot(3),
                bar: 2,
            },
            "slot 3 playing from bar 2",
        ),
        (
            Notice::Saved {
                slot: slot(4),
                path: PathBuf::from("patterns/slots/slot_004.json"),
                id: 1,
            },
            "saved slot 4 to patterns/slots/slot_004.json",
        ),
        (
            Notice::Recorded(RecordingInfo {
                path: PathBuf::from("recordings/take.wav"),
                frames: 36_000,
                sample_rate: SR as u32,
            }),
            "recorded 0.75 s to recordings/take.wav",
        ),
        (
            Notice::Message(Level::Warning, "slot 3: look out".into()),
            "slot 3: look out",
        ),
    ];
    assert!(live.ctl().status().running, "a bar-aligned switch is news");
    for (n, want) in shown {
        let headless = human_line(live.ctl(), &n);
        assert_eq!(headless.as_deref(), Some(want), "headless: {n:?}");
        assert_eq!(
            tui_line(live.ctl(), &n).as_deref(),
            Some(want),
            "tui: {n:?}"
        );
    }
    // What an OSC client was refused is on the tracker's message line too, as an error.
    let refused = Notice::OscAnswer {
        level: Level::Error,
        address: "/seq/bpm".into(),
        message: "a tempo: \"fast\" is not a number".into(),
        from: Some("127.0.0.1:5000".parse().unwrap()),
    };
    let mut app = App::new(Keymap::defaults());
    app.on_notices(live.ctl(), std::slice::from_ref(&refused));
    let m = app.ui.message.as_ref().expect("a message");
    assert_eq!(
        m.text,
        "OSC refused /seq/bpm from 127.0.0.1:5000: a tempo: \"fast\" is not a number"
    );
    assert_eq!(m.level, Level::Error);
    // Timing is not news for the message line.
    for n in [Notice::Started, Notice::Stopped] {
        assert_eq!(human_line(live.ctl(), &n), None);
        assert_eq!(tui_line(live.ctl(), &n), None);
    }
}

// ---------------------------------------------------------------------------------------------
// Limits: every edit that would take the song past a limit is refused whole.
// ---------------------------------------------------------------------------------------------

/// A command at a limit (applies) and one past it (refused, naming the limit and the size).
fn limit_edits(live: &Live) -> Vec<(&'static str, Vec<Command>, Command, u64)> {
    use chronus::model::limits::*;
    let have = live.ctl().song().sequencer.tracks.len();
    let fill: Vec<Command> = (have..MAX_TRACKS)
        .map(|i| Command::AddTrack(Box::new(Track::new(&format!("f{i}"), "voice2", "x"))))
        .collect();
    let with_notes = |n: usize| {
        let mut t = Track::new("n", "voice3", "x");
        t.notes = vec![220.0; n];
        Box::new(t)
    };
    let wide = |n: usize| "ド".repeat(n);
    vec![
        (
            "tracks",
            fill,
            Command::AddTrack(Box::new(Track::new("one-more", "voice1", "x"))),
            MAX_TRACKS as u64 + 1,
        ),
        (
            "notes",
            vec![Command::SetNotes {
                track: "a".into(),
                notes: vec![110.0; MAX_NOTES],
            }],
            Command::SetNotes {
                track: "a".into(),
                notes: vec![110.0; MAX_NOTES + 1],
            },
            MAX_NOTES as u64 + 1,
        ),
        (
            "notes of a new track",
            vec![Command::AddTrack(with_notes(MAX_NOTES))],
            Command::AddTrack(with_notes(MAX_NOTES + 1)),
            MAX_NOTES as u64 + 1,
        ),
        (
            "track name",
            vec![Command::RenameTrack {
                from: "a".into(),
                to: wide(MAX_NAME_CHARS),
            }],
            Command::RenameTrack {
                from: wide(MAX_NAME_CHARS),
                to: wide(MAX_NAME_CHARS + 1),
            },
            MAX_NAME_CHARS as u64 + 1,
        ),
        (
            "new track name",
            vec![Command::AddTrack(Box::new(Track::new(
                &wide(MAX_NAME_CHARS),
                "voice1",
                "x",
            )))],
            Command::AddTrack(Box::new(Track::new(
                &wide(MAX_NAME_CHARS + 1),
                "voice1",
                "x",
            ))),
            MAX_NAME_CHARS as u64 + 1,
        ),
        (
            "slot name",
            vec![Command::SetName(wide(MAX_NAME_CHARS))],
            Command::SetName(wide(MAX_NAME_CHARS + 1)),
            MAX_NAME_CHARS as u64 + 1,
        ),
        (
            "pasted tracks",
            vec![Command::ReplaceTracks(
                (0..MAX_TRACKS)
                    .map(|i| Track::new(&format!("p{i}"), "voice1", "x"))
                    .collect(),
            )],
            Command::ReplaceTracks(
                (0..=MAX_TRACKS)
                    .map(|i| Track::new(&format!("p{i}"), "voice1", "x"))
                    .collect(),
            ),
            MAX_TRACKS as u64 + 1,
        ),
    ]
}

#[test]
fn edits_past_a_limit_are_refused_and_change_nothing() {
    let cases = limit_edits(&live_with_song_a().0).len();
    for case in 0..cases {
        let (mut live, _) = live_with_song_a();
        let (what, at_limit, over, found) = limit_edits(&live).swap_remove(case);
        for cmd in at_limit {
            live.apply(cmd);
        }
        let before = live.ctl().song().clone();
        let undo_before = live.try_apply(Command::Undo).is_ok();
        if undo_before {
            live.apply(Command::Redo);
        }
        let e = live.try_apply(over).unwrap_err();
        match &e {
            ControlError::Limit(l) => assert_eq!(l.found, found, "{what}"),
            other => panic!("{what}: {other:?}"),
        }
        assert!(
            e.to_string().contains(" may hold at most ")
                && e.to_string().ends_with(&format!("; this one has {found}")),
            "{what}: {e}"
        );
        assert_eq!(*live.ctl().song(), before, "{what} changed the song");
        // The refusal left no undo step behind: one undo goes back past the last good edit.
        live.apply(Command::Undo);
        assert_ne!(*live.ctl().song(), before, "{what}");
    }
}

#[test]
fn a_pattern_grows_by_steps_only_up_to_its_limit() {
    use chronus::model::limits::MAX_PATTERN;
    let (mut live, _) = live_with_song_a();
    live.apply(Command::SetLength {
        track: "a".into(),
        len: MAX_PATTERN,
    });
    live.apply(Command::SetStep {
        track: "a".into(),
        step: MAX_PATTERN - 1,
        value: StepValue::Accent,
    });
    let before = live.ctl().song().clone();
    for cmd in [
        Command::SetLength {
            track: "a".into(),
            len: MAX_PATTERN + 1,
        },
        Command::SetStep {
            track: "a".into(),
            step: MAX_PATTERN,
            value: StepValue::Hit,
        },
        Command::SetPattern {
            track: "a".into(),
            pattern: "x".repeat(MAX_PATTERN + 1),
        },
        Command::AddTrack(Box::new(Track::new(
            "long",
            "voice1",
            &"x".repeat(MAX_PATTERN + 1),
        ))),
    ] {
        let what = format!("{cmd:?}");
        assert!(live.try_apply(cmd).is_err(), "{what}");
        assert_eq!(*live.ctl().song(), before, "{what}");
    }
}

#[test]
fn a_piano_note_entered_while_playing_is_heard_on_the_step_the_grid_shows_it_on() {
    let (mut live, _) = live_with_song_a();
    let mut t = tone_track("mel", 5, "x.x.x.x.", 220.0);
    t.notes = vec![220.0];
    live.apply(Command::AddTrack(Box::new(t)));
    live.apply(Command::Mute {
        track: "a".into(),
        on: Some(true),
    });
    live.apply(Command::Play);
    // Steps 0–4 play; the playhead is past step 4 when the note goes on step 6.
    live.run(5 * STEP);
    live.apply(Command::SetStepNote {
        track: "mel".into(),
        step: 6,
        hz: 440.0,
    });
    let t = &live.ctl().song().sequencer.tracks[1];
    let shown = chronus::control::step_notes(t);
    assert_eq!(shown[6], Some(440.0));
    assert_eq!(shown[0], Some(220.0));
    // Steps 5–15: step 6 (frame STEP) and the next loop's steps 8, 10, 12, 14.
    let out = live.run(11 * STEP);
    for (k, want) in [(6, 440.0), (8, 220.0), (14, 440.0)] {
        let at = (k - 5) * STEP + 700;
        let (hit, other) = if want == 440.0 {
            (tone(&out, at, 750, 440.0), tone(&out, at, 750, 220.0))
        } else {
            (tone(&out, at, 750, 220.0), tone(&out, at, 750, 440.0))
        };
        assert!(
            hit > 0.1 && other < 0.03,
            "step {k} should play {want} Hz as the grid shows: {hit} vs {other}"
        );
    }
}

#[test]
fn flooding_quantised_mutes_holds_one_backlog_entry() {
    // A controller toggling a quantised mute as fast as it can while the audio side is
    // stalled: each toggle queues tracks or drops them, and only the newest matters.
    let (_runner, mut link) = chronus::engine::link::link(Engine::new(SR as f32, VOICES), None);
    for _ in 0..COMMAND_RING {
        link.send(EngineMsg::SetSwing(0.0));
    }
    for i in 0..10_000u64 {
        if i % 2 == 0 {
            link.send(EngineMsg::QueueTracks {
                tracks: Box::<TrackSet>::default(),
                id: i,
            });
        } else {
            link.send(EngineMsg::CancelQueuedTracks);
        }
    }
    assert_eq!(link.backlog_len(), 1);
}

#[test]
fn flooding_bar_aligned_loads_and_their_cancels_holds_at_most_two_backlog_entries() {
    // A controller flooding /chain/jump (each a cancel and a load for the bar) while the audio
    // side is stalled: only the newest load matters.
    let (_runner, mut link) = chronus::engine::link::link(Engine::new(SR as f32, VOICES), None);
    for _ in 0..COMMAND_RING {
        link.send(EngineMsg::SetSwing(0.0));
    }
    let mut max_backlog = 0;
    for i in 0..10_000u16 {
        link.send(EngineMsg::CancelQueued);
        link.send(EngineMsg::Load {
            scene: Box::default(),
            timing: LoadTiming::NextBar,
            slot: 1 + i % 3,
        });
        max_backlog = max_backlog.max(link.backlog_len());
    }
    assert!(max_backlog <= 2, "{max_backlog} entries");
}
