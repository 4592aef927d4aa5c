//! Issue 14 items 3 and 7 through the Controller: step data edited by command (undo, dirty,
//! saved canonically, heard by the engine) and fill mode switched on and off.

use chronus::control::{Command, ControlError, StepEdit};
use chronus::model::Track;
use chronus::model::steps::{Cond, LockTarget};
use chronus::store::SlotNumber;

use crate::support::{Live, Setup};

/// 240 BPM at 48 kHz: a step is 3000 frames, a bar 48 000.
const STEP: u64 = 3000;
const BAR: u64 = 16 * STEP;

fn tone(name: &str, pattern: &str) -> Track {
    let mut t = Track::new(name, "voice1", pattern);
    t.base_freq = 440.0;
    t.base_amp = 0.3;
    t.gate_frac = 0.1;
    t.reverb_send = 0.0;
    t.delay_send = 0.0;
    t
}

fn rig(pattern: &str) -> Live {
    let mut live = Live::start(Setup {
        period: 200,
        ..Setup::default()
    });
    live.apply(Command::SetBpm(240.0));
    live.apply(Command::AddTrack(Box::new(tone("t", pattern))));
    live
}

fn data(live: &mut Live, step: usize, key: &str, value: Option<&str>) -> Option<String> {
    let edit = StepEdit::parse(key, value).unwrap();
    live.apply(Command::SetStepData {
        track: "t".into(),
        step,
        edit,
    })
}

/// voice1's gate-on samples rendered in `frames` (the loop turning after each period).
fn onsets(live: &mut Live, frames: u64) -> Vec<u64> {
    let mut ons = Vec::new();
    let end = live.frames as u64 + frames;
    while (live.frames as u64) < end {
        live.turn(true);
        while let Some(g) = live.runner.engine_mut().pop_gate_record() {
            if g.on && g.voice == 1 {
                ons.push(g.sample);
            }
        }
    }
    ons
}

#[test]
fn step_edits_are_commands_undone_redone_and_summarised() {
    let mut live = rig("x...x...x...x...");
    let said = data(&mut live, 4, "ratchet", Some("4")).unwrap();
    assert_eq!(said, "t step 5: ratchet 4");
    let said = data(&mut live, 4, "cutoff", Some("1800")).unwrap();
    assert_eq!(said, "t step 5: filter_freq 1800 · ratchet 4");
    let said = data(&mut live, 4, "cond", Some("fill")).unwrap();
    assert_eq!(said, "t step 5: filter_freq 1800 · ratchet 4 · cond fill");
    let d = live.ctl().song().sequencer.tracks[0]
        .steps
        .at(4)
        .unwrap()
        .clone();
    assert_eq!(d.ratchet, Some(4));
    assert_eq!(d.cond, Some(Cond::Fill(true)));
    assert_eq!(
        d.lock(LockTarget::resolve("filter_freq").unwrap()),
        Some(1800.0)
    );
    assert!(live.ctl().is_dirty());
    assert_eq!(
        live.apply(Command::Undo).unwrap(),
        "undone: data of step 5 of t"
    );
    let d = live.ctl().song().sequencer.tracks[0]
        .steps
        .at(4)
        .unwrap()
        .clone();
    assert_eq!(d.cond, None);
    live.apply(Command::Redo);
    // Removing every key removes the entry.
    data(&mut live, 4, "clear", None);
    assert!(live.ctl().song().sequencer.tracks[0].steps.is_empty());
    // Past the pattern: refused, with the track's length named.
    let err = live
        .try_apply(Command::SetStepData {
            track: "t".into(),
            step: 16,
            edit: StepEdit::Ratchet(Some(2)),
        })
        .unwrap_err();
    assert!(matches!(err, ControlError::StepPastTrack { .. }), "{err}");
    assert_eq!(
        err.to_string(),
        "step 17 is past the end of \"t\" (16 steps)"
    );
}

#[test]
fn chance_and_ratchet_moves_clamp_and_coalesce_into_one_undo_step() {
    let mut live = rig("x...............");
    let by = |live: &mut Live, edit| {
        live.apply(Command::SetStepData {
            track: "t".into(),
            step: 0,
            edit,
        })
        .unwrap()
    };
    assert_eq!(
        by(&mut live, StepEdit::ChanceBy(10.0)),
        "t step 1: no step data"
    );
    assert_eq!(
        by(&mut live, StepEdit::ChanceBy(-10.0)),
        "t step 1: chance 90%"
    );
    for _ in 0..12 {
        by(&mut live, StepEdit::ChanceBy(-10.0));
    }
    assert_eq!(
        by(&mut live, StepEdit::ChanceBy(0.0)),
        "t step 1: chance 0%"
    );
    for _ in 0..3 {
        by(&mut live, StepEdit::RatchetBy(1));
    }
    assert_eq!(
        by(&mut live, StepEdit::RatchetBy(0)),
        "t step 1: ratchet 4 · chance 0%"
    );
    for _ in 0..10 {
        by(&mut live, StepEdit::RatchetBy(1));
    }
    assert_eq!(
        by(&mut live, StepEdit::RatchetBy(0)),
        "t step 1: ratchet 8 · chance 0%"
    );
    // The chance moves were one undo step (within a second), the ratchet moves another.
    live.apply(Command::Undo);
    assert_eq!(
        live.ctl().song().sequencer.tracks[0]
            .steps
            .at(0)
            .unwrap()
            .summary(),
        "chance 0%"
    );
    live.apply(Command::Undo);
    assert!(live.ctl().song().sequencer.tracks[0].steps.is_empty());
}

#[test]
fn typed_step_edits_quote_what_is_wrong() {
    let err = |k: &str, v: Option<&str>| StepEdit::parse(k, v).unwrap_err().to_string();
    assert_eq!(
        err("ratchet", Some("9")),
        "ratchet: \"9\" is out of range 1–8"
    );
    assert_eq!(
        err("chance", Some("lots")),
        "chance: \"lots\" is not a number"
    );
    assert_eq!(
        err("note", Some("H2")),
        "note: \"H2\" is not a note (C3, A#2, a MIDI number or Hz)"
    );
    assert!(err("cond", Some("5:4")).starts_with("cond: \"5:4\""));
    assert!(err("wobble", Some("1")).starts_with("\"wobble\" is not a step key"));
    assert_eq!(err("micro", None), "micro needs a value (- removes it)");
    assert_eq!(
        StepEdit::parse("chance", Some("50%")),
        Ok(StepEdit::Chance(Some(50.0)))
    );
    assert_eq!(StepEdit::parse("cond", Some("-")), Ok(StepEdit::Cond(None)));
    assert_eq!(
        StepEdit::parse("attack", Some("0.2")),
        Ok(StepEdit::Lock(
            LockTarget::resolve("adsr.attack").unwrap(),
            Some(0.2)
        ))
    );
}

#[test]
fn step_data_is_saved_canonically_in_the_tracks_steps_map() {
    let mut live = rig("x...x...x...x...");
    data(&mut live, 4, "cond", Some("fill"));
    data(&mut live, 4, "note", Some("C3"));
    data(&mut live, 4, "cutoff", Some("1800"));
    data(&mut live, 4, "ratchet", Some("2"));
    data(&mut live, 12, "chance", Some("50"));
    data(&mut live, 12, "micro", Some("0.25"));
    data(&mut live, 12, "velocity", Some("0.8"));
    let slot = SlotNumber::new(5).unwrap();
    live.apply(Command::SaveSlot { slot, force: true });
    assert!(!live.ctl().is_dirty());
    let text = std::fs::read_to_string(live.ctl().store().slot_path(slot)).unwrap();
    let doc: serde_json::Value = serde_json::from_str(&text).unwrap();
    let steps = &doc["sequencer"]["tracks"]["t"]["steps"];
    // Keys in the issue's order (note, velocity, lock, micro, ratchet, chance, cond).
    assert_eq!(
        serde_json::to_string(steps).unwrap(),
        r#"{"5":{"note":"C3","lock":{"filter_freq":1800.0},"ratchet":2,"cond":"fill"},"13":{"velocity":0.8,"micro":0.25,"chance":50.0}}"#
    );
    assert_eq!(doc["schema_version"], "1.1");
    // Read back: the same song.
    let back = chronus::store::read_slot_file(&live.ctl().store().slot_path(slot)).unwrap();
    assert_eq!(
        back.slot.sequencer.tracks[0].steps,
        live.ctl().song().sequencer.tracks[0].steps
    );
}

#[test]
fn a_ratchet_set_by_command_plays_four_equally_spaced_onsets() {
    let mut live = rig("x...............");
    for _ in 0..3 {
        live.apply(Command::SetStepData {
            track: "t".into(),
            step: 0,
            edit: StepEdit::RatchetBy(1),
        });
    }
    live.apply(Command::Play);
    let ons = onsets(&mut live, BAR);
    eprintln!("onsets: {ons:?}");
    let q = STEP / 4;
    let first = ons[0];
    assert_eq!(ons, [first, first + q, first + 2 * q, first + 3 * q]);
}

#[test]
fn fill_toggles_survive_stop_and_loads_and_gate_fill_steps() {
    let mut live = rig("x.x.............");
    data(&mut live, 0, "cond", Some("fill"));
    data(&mut live, 2, "cond", Some("!fill"));
    assert!(!live.ctl().fill());
    live.apply(Command::Play);
    let ons = onsets(&mut live, BAR);
    assert_eq!(ons.len(), 1);
    let first = ons[0];
    assert_eq!(ons, [first], "only the !fill step while fill is off");
    assert_eq!(live.apply(Command::SetFill(None)).unwrap(), "fill on");
    assert!(live.ctl().fill());
    let ons = onsets(&mut live, BAR);
    assert_eq!(
        ons,
        [first - 2 * STEP + BAR],
        "only the fill step while fill is on"
    );
    // A slot load (at once) keeps it: fill is a global performance state, as on Elektron
    // machines.
    let slot = SlotNumber::new(3).unwrap();
    live.apply(Command::SaveSlot { slot, force: true });
    live.apply(Command::LoadSlot {
        slot,
        immediate: true,
    });
    onsets(&mut live, STEP);
    assert!(live.ctl().fill() && live.runner.engine_mut().fill());
    // Not an edit: nothing to save or undo.
    live.apply(Command::Stop);
    onsets(&mut live, STEP);
    assert!(
        live.ctl().fill() && live.runner.engine_mut().fill(),
        "fill survives stop"
    );
    assert_eq!(
        live.apply(Command::SetFill(Some(false))).unwrap(),
        "fill off"
    );
    assert!(!Command::SetFill(None).is_edit());
}

/// Fill for one bar, sample-exact: asked in the middle of bar 0, fill is on from the first
/// sample of bar 1 to the first sample of bar 2, and the `fill` step plays in bar 1 only.
#[test]
fn fill_for_one_bar_switches_at_the_bar_lines_sample_exactly() {
    use chronus::engine::{Engine, EngineEvent, EngineMsg, LoadTiming, Scene};
    let mut slot = chronus::model::Slot::default();
    slot.sequencer.bpm = 240.0;
    let mut t = tone("t", "x.......x.......");
    let mut d = chronus::model::steps::StepData::default();
    StepEdit::Cond(Some(Cond::Fill(true))).apply(&mut d);
    t.steps.entries.insert(1, d);
    slot.sequencer.tracks.push(t);
    let mut e = Engine::new(48_000.0, 8);
    e.handle(EngineMsg::Load {
        scene: Box::new(Scene::from_slot(&slot, 8)),
        timing: LoadTiming::Immediate,
        slot: 0,
    });
    e.handle(EngineMsg::Play);
    let mut ons = Vec::new();
    let mut fills = Vec::new();
    let mut buf = vec![0.0f32; 2 * 100];
    for block in 0..(4 * BAR / 100) {
        if block == BAR / 200 {
            e.handle(EngineMsg::FillBar);
        }
        e.process(&mut buf);
        while let Some(g) = e.pop_gate_record() {
            if g.on && g.voice == 1 {
                ons.push(g.sample);
            }
        }
        while let Some(ev) = e.pop_event() {
            if let EngineEvent::Fill { on, sample } = ev {
                fills.push((on, sample));
            }
        }
        while e.pop_garbage().is_some() {}
    }
    eprintln!("fill switches: {fills:?}; onsets: {ons:?}");
    assert_eq!(fills, [(true, BAR), (false, 2 * BAR)]);
    assert!(!e.fill());
    // Step 9 (no data) plays every bar; step 1 (fill) only in bar 1.
    assert_eq!(
        ons,
        [
            8 * STEP,
            BAR,
            BAR + 8 * STEP,
            2 * BAR + 8 * STEP,
            3 * BAR + 8 * STEP
        ]
    );
}

/// The Controller follows the engine's one-bar fill: `fill()` and the header's FILL are on
/// for that bar only.
#[test]
fn the_controller_follows_a_one_bar_fill() {
    let mut live = rig("x...............");
    live.apply(Command::Play);
    onsets(&mut live, BAR / 2);
    assert_eq!(
        live.apply(Command::FillBar).unwrap(),
        "fill for the next bar"
    );
    assert!(!live.ctl().fill());
    onsets(&mut live, BAR / 2 + 400);
    assert!(live.ctl().fill(), "on in bar 1");
    onsets(&mut live, BAR);
    assert!(!live.ctl().fill(), "off from bar 2");
}
