//! Chains and the one-shot, on the real engine rendered offline: each switch lands on a bar's
//! first sample, holds and leaves keep the slot, and chain files round-trip and refuse
//! hostile content in bounded time.

use std::time::{Duration, Instant};

use crate::support::{Live, Setup};
use chronus::control::{Command, ControlError, Notice};
use chronus::model::{Slot, Track};
use chronus::store::SlotNumber;

/// 240 BPM: a step is 3000 frames, a bar 48 000.
const STEP: usize = 3000;
const BAR: usize = 16 * STEP;
const PERIOD: usize = 200;

pub(crate) fn slot(n: u8) -> SlotNumber {
    SlotNumber::new(n).unwrap()
}

/// A 240 BPM song of one track hitting every step of `voice` at `freq`, plainly filtered,
/// with no sends: its tone is easy to find in a render.
pub(crate) fn song(name: &str, voice: u8, freq: f64) -> Slot {
    let mut s = Slot::default();
    s.metadata.name = name.into();
    s.sequencer.bpm = 240.0;
    let mut t = Track::new(name, &format!("voice{voice}"), "xxxxxxxxxxxxxxxx");
    t.base_freq = freq;
    t.filter_freq = 8000.0;
    t.accent_boost = 0.0;
    t.reverb_send = 0.0;
    t.delay_send = 0.0;
    s.sequencer.tracks = vec![t];
    s
}

/// Slots 1 (440 Hz), 2 (1320 Hz) and 3 (880 Hz), slot 1 loaded.
fn rig() -> Live {
    let mut live = Live::start(Setup {
        period: PERIOD,
        ..Setup::default()
    });
    for (n, s) in [
        (1, song("a", 1, 440.0)),
        (2, song("b", 4, 1320.0)),
        (3, song("c", 5, 880.0)),
    ] {
        live.ctl().store().save(slot(n), &s).unwrap();
    }
    live.apply(Command::RescanSlots);
    live
}

fn entries(live: &Live) -> Vec<(usize, u8, u64, u64)> {
    live.notices
        .iter()
        .filter_map(|(_, n)| match n {
            Notice::ChainEntry {
                entry,
                slot,
                bar,
                sample,
            } => Some((*entry, slot.get(), *bar, *sample)),
            _ => None,
        })
        .collect()
}

fn applied(live: &Live) -> Vec<(u8, u64)> {
    live.notices
        .iter()
        .filter_map(|(_, n)| match n {
            Notice::SlotApplied { slot, bar } => Some((slot.get(), *bar)),
            _ => None,
        })
        .collect()
}

/// Amplitude of a sine at `freq` in frames `start..start + len` of the left channel.
pub(crate) fn tone(out: &[f32], start: usize, len: usize, freq: f64) -> f64 {
    let w = std::f64::consts::TAU * freq / 48_000.0;
    let (mut re, mut im) = (0.0, 0.0);
    for n in 0..len {
        let x = out[2 * (start + n)] as f64;
        re += x * (w * n as f64).cos();
        im -= x * (w * n as f64).sin();
    }
    2.0 * (re * re + im * im).sqrt() / len as f64
}

#[test]
fn chain_a2_b1_switches_at_the_first_sample_of_bars_2_and_3() {
    let mut live = rig();
    live.apply(Command::ChainSet {
        name: "ab".into(),
        entries: "[1 x2, 2 x1]".into(),
        looping: true,
    });
    live.apply(Command::ChainStart(None));
    assert_eq!(
        live.ctl().slot(),
        Some(slot(1)),
        "stopped: entry 1 loads at once"
    );
    live.apply(Command::Play);
    let out = live.run(6 * BAR + 2 * PERIOD);
    let bar = BAR as u64;
    assert_eq!(
        entries(&live),
        vec![
            (0, 1, 0, 0),
            (1, 2, 2, 2 * bar),
            (0, 1, 3, 3 * bar),
            (1, 2, 5, 5 * bar),
            (0, 1, 6, 6 * bar),
        ]
    );
    // The engine applied each load at exactly those bars (its Applied event, at the bar's
    // first sample, comes before the bar's own event); the first while stopped, at once.
    assert_eq!(applied(&live), vec![(1, 0), (2, 2), (1, 3), (2, 5), (1, 6)]);
    // And the sound changes at the bar line: b is silent in the last step of bar 1 and sounds
    // in the first of bar 2; a sounds again in the first step of bar 3 (a's release tail
    // reaches into bar 2's first step, so only b is checked there).
    let (a, b) = (440.0, 1320.0);
    let before = 2 * BAR - STEP;
    assert!(tone(&out, before, STEP, a) > 0.02 && tone(&out, before, STEP, b) < 0.002);
    assert!(tone(&out, 2 * BAR, STEP, b) > 0.02);
    assert!(tone(&out, 3 * BAR - STEP, STEP, a) < 0.002);
    assert!(tone(&out, 3 * BAR, STEP, a) > 0.02);
    let label = live.ctl().chain_view().unwrap().label();
    assert_eq!(label, "chain ab 1/2 · slot 1 bar 1/2 → 2");
}

#[test]
fn a_chain_that_stops_stops_the_transport_on_the_bar_line_after_its_last_bar() {
    let mut live = rig();
    live.apply(Command::ChainSet {
        name: "once".into(),
        entries: "1, 2".into(),
        looping: false,
    });
    live.apply(Command::ChainStart(None));
    live.apply(Command::Play);
    let out = live.run(3 * BAR);
    assert!(!live.ctl().status().running);
    let ended: Vec<u64> = live
        .notices
        .iter()
        .filter_map(|(_, n)| match n {
            Notice::ChainEnded { sample, .. } => Some(*sample),
            _ => None,
        })
        .collect();
    assert_eq!(ended, vec![2 * BAR as u64]);
    // The engine stops at the bar line's first sample: nothing of the bar after plays (slot
    // 2's tone sounds in its bar's first step and is silent in the first step after it).
    assert_eq!(live.ctl().status().sample, 2 * BAR as u64);
    let b = 1320.0;
    let w = 600;
    let (before, after) = (tone(&out, 2 * BAR - w, w, b), tone(&out, 2 * BAR, w, b));
    let (step_end, step_start) = (
        tone(&out, BAR + STEP - w, w, b),
        tone(&out, BAR + STEP, w, b),
    );
    assert!(
        step_start > step_end,
        "a step's hit: {step_end} then {step_start}"
    );
    assert!(
        after < before,
        "slot 2 sounds {after} after the chain's end, {before} before"
    );
    assert!(live.ctl().chain_view().is_none());
}

#[test]
fn holding_or_leaving_a_chain_in_its_last_bar_cancels_its_stop() {
    for leave in [false, true] {
        let mut live = rig();
        live.apply(Command::ChainSet {
            name: "once".into(),
            entries: "1, 2".into(),
            looping: false,
        });
        live.apply(Command::ChainStart(None));
        live.apply(Command::Play);
        // In the chain's last bar, its stop is planned for the bar line after.
        live.run(BAR + BAR / 2);
        live.apply(if leave {
            Command::ChainLeave
        } else {
            Command::ChainHold(Some(true))
        });
        let out = live.run(2 * BAR);
        assert!(live.ctl().status().running, "leave {leave}");
        assert!(
            tone(&out, BAR / 2 + STEP, STEP, 1320.0) > 0.02,
            "leave {leave}"
        );
    }
}

#[test]
fn a_slot_loaded_by_hand_leaves_the_chain_and_keeps_playing() {
    let mut live = rig();
    live.apply(Command::ChainSet {
        name: "ab".into(),
        entries: "[1 x2, 2 x1]".into(),
        looping: true,
    });
    live.apply(Command::ChainStart(None));
    live.apply(Command::Play);
    live.run(BAR / 2);
    // The chain's own slot read again keeps the chain.
    live.apply(Command::LoadSlot {
        slot: slot(1),
        immediate: false,
    });
    assert!(live.ctl().chain_view().is_some());
    // Slot 3 loaded by hand in the chain's first bar: the chain is left at once, so at the
    // end of its entry it does not bring slot 2 in over the performer's choice.
    live.apply(Command::LoadSlot {
        slot: slot(3),
        immediate: false,
    });
    assert!(live.ctl().chain_view().is_none());
    let said = live.notices.iter().any(|(_, n)| {
        matches!(n, Notice::Message(_, text) if text == "left chain ab: slot 3 was loaded by hand")
    });
    assert!(said, "{:?}", live.notices);
    let out = live.run(4 * BAR);
    let start = BAR / 2;
    assert_eq!(applied(&live), vec![(1, 0), (3, 1)]);
    assert_eq!(live.ctl().slot(), Some(slot(3)));
    // Slot 3 (880 Hz) sounds in bars 1 to 4; slot 2 (1320 Hz) never comes (checked in each
    // bar's last step, after slot 1's release tail).
    for bar in 1..4 {
        let at = (bar + 1) * BAR - STEP - start;
        assert!(tone(&out, at, STEP, 880.0) > 0.02, "bar {bar}");
        let b = tone(&out, at, STEP, 1320.0);
        assert!(b < 0.002, "bar {bar}: {b}");
    }
}

#[test]
fn a_one_shot_plays_one_bar_and_comes_back() {
    let mut live = rig();
    live.apply(Command::LoadSlot {
        slot: slot(1),
        immediate: false,
    });
    live.apply(Command::Play);
    live.run(BAR + BAR / 2);
    let msg = live.apply(Command::OneShot(slot(3))).unwrap();
    assert_eq!(msg, "one-shot: slot 3 plays bar 2, slot 1 again from bar 3");
    live.run(3 * BAR);
    assert_eq!(applied(&live), vec![(1, 0), (3, 2), (1, 3)]);
    assert_eq!(live.ctl().slot(), Some(slot(1)));
    // Refused clearly: the slot that plays, and inside a chain.
    assert!(matches!(
        live.try_apply(Command::OneShot(slot(1))),
        Err(ControlError::OneShotSame(_))
    ));
    live.apply(Command::ChainSet {
        name: "x".into(),
        entries: "1".into(),
        looping: true,
    });
    live.apply(Command::ChainStart(None));
    let e = live.try_apply(Command::OneShot(slot(2))).unwrap_err();
    assert_eq!(
        e.to_string(),
        "a one-shot is refused while a chain runs: leave the chain first"
    );
}

#[test]
fn hold_keeps_the_slot_and_release_moves_on_at_the_next_bar() {
    let mut live = rig();
    live.apply(Command::ChainSet {
        name: "h".into(),
        entries: "[1, 2]".into(),
        looping: true,
    });
    live.apply(Command::ChainStart(None));
    live.apply(Command::Play);
    live.run(BAR / 2);
    // Entry 2 was queued when bar 0 (entry 1's only bar) began: hold cancels it.
    assert_eq!(live.ctl().queued().map(|q| q.slot), Some(slot(2)));
    live.apply(Command::ChainHold(Some(true)));
    assert!(live.ctl().queued().is_none());
    assert!(live.ctl().chain_view().unwrap().label().ends_with("hold"));
    live.run(3 * BAR);
    assert_eq!(applied(&live), vec![(1, 0)], "held on slot 1");
    live.apply(Command::ChainHold(Some(false)));
    live.run(BAR);
    assert_eq!(applied(&live), vec![(1, 0), (2, 4)]);
    assert_eq!(entries(&live).last(), Some(&(1, 2, 4, 4 * BAR as u64)));
}

#[test]
fn leaving_a_chain_cancels_its_queued_entry_and_keeps_the_slot() {
    let mut live = rig();
    live.apply(Command::ChainSet {
        name: "l".into(),
        entries: "[1, 2]".into(),
        looping: true,
    });
    live.apply(Command::ChainStart(None));
    live.apply(Command::Play);
    live.run(BAR / 2);
    assert!(live.ctl().queued().is_some());
    let msg = live.apply(Command::ChainLeave).unwrap();
    assert_eq!(msg, "left chain l; the current slot keeps playing");
    live.run(3 * BAR);
    assert_eq!(applied(&live), vec![(1, 0)]);
    assert_eq!(live.ctl().slot(), Some(slot(1)));
    assert!(live.ctl().chain_view().is_none());
    assert!(matches!(
        live.try_apply(Command::ChainJump(1)),
        Err(ControlError::NoChainRunning)
    ));
}

#[test]
fn jump_goes_to_an_entry_at_the_next_bar() {
    let mut live = rig();
    live.apply(Command::ChainSet {
        name: "j".into(),
        entries: "[1 x4, 2 x4, 3 x4]".into(),
        looping: true,
    });
    live.apply(Command::ChainStart(None));
    live.apply(Command::Play);
    live.run(BAR / 2);
    live.apply(Command::ChainJump(3));
    live.run(BAR);
    assert_eq!(applied(&live), vec![(1, 0), (3, 1)]);
    assert_eq!(entries(&live).last(), Some(&(2, 3, 1, BAR as u64)));
    assert!(matches!(
        live.try_apply(Command::ChainJump(4)),
        Err(ControlError::ChainEntryOutOfRange { entry: 4, len: 3 })
    ));
}

#[test]
fn a_chain_file_round_trips_byte_identical_with_a_backup_of_the_previous_version() {
    let mut live = rig();
    live.apply(Command::ChainSet {
        name: "set 1".into(),
        entries: "[3 x4, 11 x1, 3 x4, 7 x8]".into(),
        looping: true,
    });
    live.apply(Command::ChainSave);
    let path = live.root.join("chains/set 1.json");
    let first = std::fs::read_to_string(&path).unwrap();
    assert_eq!(
        first,
        format!(
            "{{\n  \"chronus_version\": \"{}\",\n  \"schema_version\": \"1.1\",\n  \"name\": \"set 1\",\n  \"loop\": true,\n  \"entries\": [\n    {{ \"slot\": 3, \"repeats\": 4 }},\n    {{ \"slot\": 11, \"repeats\": 1 }},\n    {{ \"slot\": 3, \"repeats\": 4 }},\n    {{ \"slot\": 7, \"repeats\": 8 }}\n  ]\n}}\n",
            env!("CARGO_PKG_VERSION")
        )
    );
    let store = live.ctl().store().clone();
    // Saving what the file holds changes nothing and keeps no backup.
    live.apply(Command::ChainOpen("set 1".into()));
    live.apply(Command::ChainSave);
    assert_eq!(std::fs::read_to_string(&path).unwrap(), first);
    assert!(store.chain_backups("set 1").unwrap().is_empty());
    // A change keeps the previous version whole.
    live.apply(Command::ChainSet {
        name: "set 1".into(),
        entries: "[3 x2]".into(),
        looping: false,
    });
    live.apply(Command::ChainSave);
    let backups = store.chain_backups("set 1").unwrap();
    assert_eq!(backups.len(), 1);
    assert_eq!(std::fs::read_to_string(&backups[0]).unwrap(), first);
    assert!(
        std::fs::read_to_string(&path)
            .unwrap()
            .contains("\"loop\": false")
    );
    let left: Vec<_> = std::fs::read_dir(live.root.join("chains"))
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .collect();
    assert_eq!(left, vec!["set 1.json".to_string()], "no temp file left");
    assert_eq!(store.chain_names().unwrap(), vec!["set 1".to_string()]);
}

#[test]
fn hostile_chain_files_are_refused_clearly_in_bounded_time() {
    let mut live = rig();
    let dir = live.root.join("chains");
    std::fs::create_dir_all(&dir).unwrap();
    let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    let huge = format!(
        "{{\"entries\": [{}{{\"slot\": 1}}]}}",
        "{\"slot\": 1},".repeat(200_000)
    );
    let many = format!(
        "{{\"entries\": [{}{{\"slot\": 1}}]}}",
        "{\"slot\": 1},".repeat(300)
    );
    let cases: [(&str, String, &str); 6] = [
        ("deep", deep, "not valid JSON: recursion limit exceeded"),
        ("huge", huge, "a chain file may be at most 1 MiB"),
        (
            "many",
            many,
            "a chain holds at most 256 entries; this one has 301",
        ),
        (
            "types",
            r#"{"entries": [{"slot": "three"}]}"#.into(),
            "entries[0].slot: expected a whole number, found \"three\"",
        ),
        (
            "named",
            r#"{"name": "other", "entries": [{"slot": 1}]}"#.into(),
            "name: expected the file's name, found \"other\"",
        ),
        (
            "list",
            r#"[1, 2]"#.into(),
            "(top): expected an object, found a list",
        ),
    ];
    for (name, body, want) in cases {
        std::fs::write(dir.join(format!("{name}.json")), body).unwrap();
        let t = Instant::now();
        let e = live.try_apply(Command::ChainOpen(name.into())).unwrap_err();
        assert!(
            t.elapsed() < Duration::from_secs(2),
            "{name} took {:?}",
            t.elapsed()
        );
        assert!(e.to_string().contains(want), "{name}: {e}");
        assert!(
            e.to_string().contains(&format!("{name}.json")) || name == "huge",
            "{name}: {e}"
        );
    }
    for bad in ["../slots/slot_001", "a/b", ".hidden", "x\u{1b}y", ""] {
        let e = live.try_apply(Command::ChainOpen(bad.into())).unwrap_err();
        assert!(e.to_string().starts_with("chain name"), "{bad:?}: {e}");
    }
    let e = live
        .try_apply(Command::ChainOpen("nothing".into()))
        .unwrap_err();
    assert!(
        e.to_string().starts_with("no chain named \"nothing\""),
        "{e}"
    );
}

/// A slot file for the tmux test: one kick track, 120 BPM.
fn slot_text(name: &str) -> String {
    format!(
        r#"{{ "schema_version": "1.0", "metadata": {{ "name": "{name}" }},
  "sequencer": {{ "bpm": 120.0, "tracks": {{
    "kick": {{ "name": "kick", "voice_id": "voice1", "pattern": "X...x...X...x..." }} }} }} }}
"#
    )
}

/// The header's first line (the transport bar).
fn header(screen: &str) -> &str {
    screen.lines().next().unwrap_or("")
}

#[test]
fn a_three_slot_chain_shows_what_comes_next_at_120x40_and_80x24() {
    use crate::support::{Tmux, tmux_present};
    if !tmux_present() {
        return;
    }
    for (w, h) in [(120u16, 40u16), (80, 24)] {
        let dir = tempfile::tempdir().unwrap();
        let slots = dir.path().join("slots");
        std::fs::create_dir_all(&slots).unwrap();
        for (n, name) in [(1, "one"), (2, "two"), (3, "three")] {
            std::fs::write(slots.join(format!("slot_{n:03}.json")), slot_text(name)).unwrap();
        }
        let tmux = Tmux::new(&format!("chain-{w}x{h}"));
        tmux.start_sized(dir.path(), &["--no-osc", "--slot", "1"], w, h);
        tmux.send(&["M-e", "C-u", "set1 [1, 2, 3] loop", "Enter", "M-g", "Space"]);
        let first = tmux.wait_for("the chain's next slot, 2", |s| {
            let top = header(s);
            top.contains("chain") && top.contains("1/3") && top.contains("→ 2")
        });
        assert!(header(&first).contains("▶ PLAY"), "{first}");
        let second = tmux.wait_for("entry 2, next slot 3", |s| {
            let top = header(s);
            top.contains("2/3") && top.contains("→ 3")
        });
        let top = header(&second);
        assert!(top.chars().count() <= w as usize, "{top}");
        if w >= 120 {
            assert!(top.contains("chain set1 2/3 · slot 2 bar"), "{top}");
        }
        // The play state, tempo and position stay whole beside it.
        assert!(top.contains("120.0 BPM") && top.contains("bar "), "{top}");
        tmux.send(&["M-l"]);
        tmux.wait_for("the chain left", |s| !header(s).contains("chain"));
        tmux.send(&["q"]);
    }
}

#[test]
fn the_playing_slot_changed_on_disk_does_not_displace_the_chains_queued_entry() {
    let mut live = rig();
    live.ctl_mut().set_watching(true);
    live.apply(Command::ChainSet {
        name: "d".into(),
        entries: "[1, 2]".into(),
        looping: true,
    });
    live.apply(Command::ChainStart(None));
    live.apply(Command::Play);
    live.run(BAR / 2);
    assert_eq!(live.ctl().queued().map(|q| q.slot), Some(slot(2)));
    // Slot 1's file changes on disk while entry 2 waits for bar 1.
    live.ctl()
        .store()
        .save(slot(1), &song("a", 1, 550.0))
        .unwrap();
    live.apply(Command::ReadSlotFile(slot(1)));
    live.settle_disk();
    live.run(BAR / 4);
    assert_eq!(live.ctl().queued().map(|q| q.slot), Some(slot(2)));
    live.run(BAR);
    assert_eq!(applied(&live), vec![(1, 0), (2, 1)]);
    assert!(live.ctl().chain_view().is_some(), "the chain still runs");
}

#[test]
fn retyping_a_running_chain_while_its_next_entry_waits_keeps_the_chain_running() {
    let mut live = rig();
    live.apply(Command::ChainSet {
        name: "r".into(),
        entries: "[1, 2]".into(),
        looping: true,
    });
    live.apply(Command::ChainStart(None));
    live.apply(Command::Play);
    live.run(BAR / 2);
    assert_eq!(live.ctl().queued().map(|q| q.slot), Some(slot(2)));
    // The performer retypes the chain: its second entry is now slot 3.
    live.apply(Command::ChainSet {
        name: "r".into(),
        entries: "[1, 3]".into(),
        looping: true,
    });
    live.run(BAR);
    assert!(live.ctl().chain_view().is_some(), "the chain still runs");
    assert_eq!(applied(&live), vec![(1, 0), (3, 1)]);
    assert_eq!(entries(&live).last(), Some(&(1, 3, 1, BAR as u64)));
}

#[test]
fn a_second_one_shot_during_the_first_comes_back_to_the_slot_before_both() {
    let mut live = rig();
    live.apply(Command::LoadSlot {
        slot: slot(1),
        immediate: false,
    });
    live.apply(Command::Play);
    live.run(BAR / 2);
    live.apply(Command::OneShot(slot(2)));
    // In slot 2's bar, a one-shot of slot 3: afterwards slot 1 plays again, not slot 2.
    live.run(BAR);
    let msg = live.apply(Command::OneShot(slot(3))).unwrap();
    assert_eq!(msg, "one-shot: slot 3 plays bar 2, slot 1 again from bar 3");
    live.run(2 * BAR);
    assert_eq!(applied(&live), vec![(1, 0), (2, 1), (3, 2), (1, 3)]);
    assert_eq!(live.ctl().slot(), Some(slot(1)));
}

#[test]
fn undo_during_a_chain_undoes_the_edit_and_leaves_the_chains_next_entry_queued() {
    let mut live = rig();
    live.apply(Command::ChainSet {
        name: "u".into(),
        entries: "[1, 2]".into(),
        looping: true,
    });
    live.apply(Command::ChainStart(None));
    live.apply(Command::Play);
    live.run(BAR / 2);
    assert_eq!(live.ctl().queued().map(|q| q.slot), Some(slot(2)));
    live.apply(Command::SetSwing(0.3));
    let msg = live.apply(Command::Undo).unwrap();
    assert!(msg.starts_with("undone"), "{msg}");
    assert_eq!(live.ctl().queued().map(|q| q.slot), Some(slot(2)));
    live.run(BAR);
    assert_eq!(applied(&live), vec![(1, 0), (2, 1)]);
    assert!(live.ctl().chain_view().is_some(), "the chain still runs");
}
