//! Fast entry, non-destructive length and performance safety, at the controller (issue 13,
//! items 3–5): whole-track edits, the edit step, hidden steps that survive a save and a
//! reload, mutes that are performance state, and undo that says what it undid.

use std::time::{Duration, Instant};

use crate::support::{Live, Setup};
use chronus::control::{Command, ControlError, PatternOp, StepValue, hidden_steps};
use chronus::model::Track;
use chronus::store::SlotNumber;

fn live_with(tracks: &[(&str, &str)]) -> Live {
    let mut live = Live::start(Setup::default());
    for (i, (name, pattern)) in tracks.iter().enumerate() {
        let t = Track::new(name, &format!("voice{}", i + 1), pattern);
        live.apply(Command::AddTrack(Box::new(t)));
    }
    live
}

fn pattern(live: &Live, track: &str) -> String {
    live.ctl()
        .song()
        .sequencer
        .tracks
        .iter()
        .find(|t| t.name == track)
        .unwrap()
        .pattern
        .clone()
}

fn op(live: &mut Live, track: &str, op: PatternOp) -> Option<String> {
    live.apply(Command::EditPattern {
        track: track.into(),
        op,
    })
}

fn slot(n: u8) -> SlotNumber {
    SlotNumber::new(n).unwrap()
}

#[test]
fn euclid_fill_rotate_reverse_clear_double_halve_edit_the_track_and_undo() {
    let mut live = live_with(&[("hat", "................")]);
    let msg = op(
        &mut live,
        "hat",
        PatternOp::Fill {
            every: 2,
            offset: 0,
        },
    );
    assert_eq!(pattern(&live, "hat"), "x.x.x.x.x.x.x.x.");
    assert_eq!(
        msg.as_deref(),
        Some("hat: a hit every 2 steps (x.x.x.x.x.x.x.x.)")
    );
    op(
        &mut live,
        "hat",
        PatternOp::Euclid {
            hits: 3,
            steps: 8,
            rotation: 0,
        },
    );
    assert_eq!(pattern(&live, "hat"), "x..x..x.");
    op(&mut live, "hat", PatternOp::Rotate(1));
    assert_eq!(pattern(&live, "hat"), ".x..x..x");
    op(&mut live, "hat", PatternOp::Rotate(-2));
    assert_eq!(pattern(&live, "hat"), "..x..x.x");
    op(&mut live, "hat", PatternOp::Reverse);
    assert_eq!(pattern(&live, "hat"), "x.x..x..");
    op(&mut live, "hat", PatternOp::Double);
    assert_eq!(pattern(&live, "hat"), "x.x..x..x.x..x..");
    op(&mut live, "hat", PatternOp::Halve);
    assert_eq!(pattern(&live, "hat"), "x.x..x..");
    op(&mut live, "hat", PatternOp::Clear);
    assert_eq!(pattern(&live, "hat"), "........");

    // A refused edit changes nothing and says why.
    let e = live
        .try_apply(Command::EditPattern {
            track: "hat".into(),
            op: PatternOp::Euclid {
                hits: 9,
                steps: 8,
                rotation: 0,
            },
        })
        .unwrap_err();
    assert!(matches!(e, ControlError::EuclidOutOfRange { .. }), "{e}");
    assert_eq!(pattern(&live, "hat"), "........");

    // Undo walks back one edit at a time and names each.
    let said = live.apply(Command::Undo);
    assert_eq!(said.as_deref(), Some("undone: hat cleared"));
    assert_eq!(pattern(&live, "hat"), "x.x..x..");
    let said = live.apply(Command::Undo);
    assert_eq!(said.as_deref(), Some("undone: hat halved"));
    let said = live.apply(Command::Redo);
    assert_eq!(said.as_deref(), Some("redone: hat halved"));
}

#[test]
fn repeated_presses_of_one_control_are_one_undo_step() {
    let mut live = live_with(&[("kick", "X...X...X...X...")]);
    let t0 = Instant::now();
    for i in 0..3u64 {
        live.ctl_mut()
            .apply_at(
                Command::EditPattern {
                    track: "kick".into(),
                    op: PatternOp::Rotate(1),
                },
                t0 + Duration::from_millis(200 * i),
            )
            .unwrap();
    }
    for (i, len) in [15, 14, 13].into_iter().enumerate() {
        live.ctl_mut()
            .apply_at(
                Command::SetLength {
                    track: "kick".into(),
                    len,
                },
                t0 + Duration::from_millis(800 + 200 * i as u64),
            )
            .unwrap();
    }
    assert_eq!(pattern(&live, "kick"), "...X...X...X.");
    assert_eq!(
        live.apply(Command::Undo).as_deref(),
        Some("undone: length of kick")
    );
    assert_eq!(pattern(&live, "kick"), "...X...X...X...X");
    assert_eq!(
        live.apply(Command::Undo).as_deref(),
        Some("undone: kick rotated right 1")
    );
    assert_eq!(pattern(&live, "kick"), "X...X...X...X...");
}

#[test]
fn the_edit_step_is_a_bounded_performer_setting() {
    let mut live = live_with(&[("kick", "X...")]);
    assert_eq!(live.ctl().edit_step(), 1, "Renoise's default");
    let (dirty, song) = (live.ctl().is_dirty(), live.ctl().song().clone());
    assert_eq!(
        live.apply(Command::SetEditStep(4)).as_deref(),
        Some("edit step 4")
    );
    assert_eq!(live.ctl().edit_step(), 4);
    assert_eq!(live.ctl().is_dirty(), dirty);
    assert_eq!(*live.ctl().song(), song, "not part of the song");
    let e = live.try_apply(Command::SetEditStep(17)).unwrap_err();
    assert_eq!(e.to_string(), "edit step 17 is out of range 0–16");
    assert_eq!(live.ctl().edit_step(), 4);
}

#[test]
fn shortening_hides_steps_lengthening_brings_them_back_even_after_save_and_reload() {
    let mut live = live_with(&[("kick", "X...x...X..x..x.")]);
    live.apply(Command::SaveSlot {
        slot: slot(3),
        force: true,
    });
    live.settle_disk();
    let msg = live.apply(Command::SetLength {
        track: "kick".into(),
        len: 4,
    });
    assert_eq!(
        msg.as_deref(),
        Some("kick: 4 steps (11 hidden, lengthen to bring them back)")
    );
    assert_eq!(pattern(&live, "kick"), "X...");
    // Setting a step past the end takes the hidden steps back first.
    live.apply(Command::SetStep {
        track: "kick".into(),
        step: 5,
        value: StepValue::Accent,
    });
    assert_eq!(pattern(&live, "kick"), "X...xX");
    live.apply(Command::SetLength {
        track: "kick".into(),
        len: 8,
    });
    assert_eq!(pattern(&live, "kick"), "X...xX..");
    live.apply(Command::SetLength {
        track: "kick".into(),
        len: 2,
    });
    live.apply(Command::SaveSlot {
        slot: slot(3),
        force: true,
    });
    live.settle_disk();
    let text = std::fs::read_to_string(live.root.join("slots/slot_003.json")).unwrap();
    assert!(
        text.contains("\"hidden_steps\": \"..xX..X..x..x\""),
        "{text}"
    );
    // The file as a reload reads it holds the hidden steps.
    let reread = chronus::model::slot::parse_slot(&text, "slot_003.json").unwrap();
    let t = &reread.slot.sequencer.tracks[0];
    assert_eq!(t.pattern, "X.");
    assert_eq!(hidden_steps(t), "..xX..X..x..x");
    live.apply(Command::ReplaceTracks(reread.slot.sequencer.tracks.clone()));
    live.apply(Command::SetLength {
        track: "kick".into(),
        len: 16,
    });
    assert_eq!(pattern(&live, "kick"), "X...xX..X..x..x.");
    assert_eq!(hidden_steps(&live.ctl().song().sequencer.tracks[0]), "");
}

#[test]
fn mutes_and_solos_are_performance_state_not_undo_steps_nor_unsaved_edits() {
    let mut live = live_with(&[("kick", "X...X..."), ("hat", "..x...x.")]);
    live.apply(Command::SaveSlot {
        slot: slot(5),
        force: true,
    });
    live.settle_disk();
    assert!(!live.ctl().is_dirty());
    live.apply(Command::SetStep {
        track: "kick".into(),
        step: 1,
        value: StepValue::Hit,
    });
    live.apply(Command::Mute {
        track: "kick".into(),
        on: Some(true),
    });
    live.apply(Command::Solo {
        track: "hat".into(),
        on: Some(true),
    });
    // Undo takes back the step, not the mute or the solo.
    assert_eq!(
        live.apply(Command::Undo).as_deref(),
        Some("undone: step 2 of kick")
    );
    let tracks = &live.ctl().song().sequencer.tracks;
    assert!(tracks[0].muted && tracks[1].solo, "mutes are not undone");
    assert!(!live.ctl().is_dirty(), "mutes do not make the slot dirty");

    // A save leaves the file's mutes (none) as they were.
    live.apply(Command::SetStep {
        track: "kick".into(),
        step: 2,
        value: StepValue::Hit,
    });
    live.apply(Command::SaveSlot {
        slot: slot(5),
        force: false,
    });
    live.settle_disk();
    let text = std::fs::read_to_string(live.root.join("slots/slot_005.json")).unwrap();
    assert!(!text.contains("\"muted\""), "{text}");
    assert!(!text.contains("\"solo\""), "{text}");
    assert!(live.ctl().song().sequencer.tracks[0].muted, "still muted");

    // Kept on purpose, they are an unsaved edit and the next save writes them.
    live.apply(Command::KeepMutes);
    assert!(live.ctl().is_dirty());
    live.apply(Command::SaveSlot {
        slot: slot(5),
        force: false,
    });
    live.settle_disk();
    let text = std::fs::read_to_string(live.root.join("slots/slot_005.json")).unwrap();
    assert!(text.contains("\"muted\": true"), "{text}");
    assert!(text.contains("\"solo\": true"), "{text}");
    assert!(!live.ctl().is_dirty());
    assert!(
        !live.ctl().keeps_mutes(),
        "one save, then performance state again"
    );
}

#[test]
fn piano_entry_sets_the_note_each_hit_plays_and_undo_names_it() {
    let mut live = live_with(&[("bass", "x...x...")]);
    live.apply(Command::SetNotes {
        track: "bass".into(),
        notes: vec![55.0],
    });
    let said = live.apply(Command::SetStepNote {
        track: "bass".into(),
        step: 2,
        hz: 110.0,
    });
    assert_eq!(said.as_deref(), Some("bass step 3: A2"));
    let t = &live.ctl().song().sequencer.tracks[0];
    assert_eq!(t.pattern, "x.x.x...");
    assert_eq!(t.notes, vec![55.0, 110.0, 55.0]);
    assert_eq!(
        chronus::control::step_notes(t),
        vec![
            Some(55.0),
            None,
            Some(110.0),
            None,
            Some(55.0),
            None,
            None,
            None
        ]
    );
    assert!(
        live.try_apply(Command::SetStepNote {
            track: "bass".into(),
            step: 1,
            hz: f64::NAN,
        })
        .is_err()
    );
    assert_eq!(
        live.apply(Command::Undo).as_deref(),
        Some("undone: note on step 3 of bass")
    );
    assert_eq!(live.ctl().song().sequencer.tracks[0].notes, vec![55.0]);
}

#[test]
fn quantised_mutes_and_mute_groups_act_at_the_next_bar() {
    let mut live = live_with(&[("kick", "X...X..."), ("hat", "..x...x."), ("bass", "x.x.")]);
    for track in ["kick", "hat"] {
        live.apply(Command::SetMuteGroup {
            track: track.into(),
            group: 1,
        });
    }
    assert_eq!(
        chronus::control::mute_group(&live.ctl().song().sequencer.tracks[1]),
        Some(1)
    );
    assert!(
        live.try_apply(Command::MuteGroup { group: 2, on: None })
            .is_err(),
        "an empty group says so"
    );
    live.apply(Command::SetMuteQuantize(Some(true)));
    // Stopped, a mute acts at once: no bar is coming.
    assert_eq!(
        live.apply(Command::Mute {
            track: "bass".into(),
            on: None
        })
        .as_deref(),
        Some("bass muted")
    );
    live.apply(Command::Play);
    live.run(2048);
    assert!(live.ctl().status().running);
    let said = live.apply(Command::Mute {
        track: "kick".into(),
        on: None,
    });
    assert_eq!(said.as_deref(), Some("kick muted at the next bar"));
    let tracks = &live.ctl().song().sequencer.tracks;
    assert!(!tracks[0].muted, "not before the bar");
    assert_eq!(live.ctl().pending_mute("kick", false), Some(true));
    // Pressed twice, it cancels.
    live.apply(Command::Mute {
        track: "kick".into(),
        on: None,
    });
    assert_eq!(live.ctl().pending_mute("kick", false), None);
    let said = live.apply(Command::MuteGroup { group: 1, on: None });
    assert_eq!(
        said.as_deref(),
        Some("mute group 1 muted at the next bar: kick, hat")
    );
    // One bar at 120 BPM is 96 000 frames at 48 kHz.
    live.run(100_000);
    let tracks = &live.ctl().song().sequencer.tracks;
    assert!(tracks[0].muted && tracks[1].muted, "muted at the bar");
    assert_eq!(live.ctl().pending_mute("kick", false), None);
    // Mutes are no undo step: undo takes back the last group assignment instead.
    assert_eq!(
        live.apply(Command::Undo).as_deref(),
        Some("undone: mute group of hat")
    );
    assert!(live.ctl().song().sequencer.tracks[0].muted);
}

#[test]
fn repeated_moves_and_voice_steps_are_one_undo_step_each() {
    let mut live = live_with(&[("a", "x"), ("b", "x"), ("c", "x")]);
    let t0 = Instant::now();
    for i in 0..2u64 {
        live.ctl_mut()
            .apply_at(
                Command::MoveTrack {
                    track: "c".into(),
                    delta: -1,
                },
                t0 + Duration::from_millis(300 * i),
            )
            .unwrap();
    }
    for (i, v) in ["voice4", "voice5", "voice6"].into_iter().enumerate() {
        live.ctl_mut()
            .apply_at(
                Command::SetTrackVoice {
                    track: "c".into(),
                    voice: v.into(),
                },
                t0 + Duration::from_millis(700 + 300 * i as u64),
            )
            .unwrap();
    }
    let names = |live: &Live| -> Vec<String> {
        let tracks = &live.ctl().song().sequencer.tracks;
        tracks.iter().map(|t| t.name.clone()).collect()
    };
    assert_eq!(names(&live), ["c", "a", "b"]);
    assert_eq!(
        live.apply(Command::Undo).as_deref(),
        Some("undone: voice of c")
    );
    assert_eq!(live.ctl().song().sequencer.tracks[0].voice_id, "voice3");
    assert_eq!(
        live.apply(Command::Undo).as_deref(),
        Some("undone: move of c")
    );
    assert_eq!(names(&live), ["a", "b", "c"]);
}

#[test]
fn a_new_empty_slot_takes_the_first_slot_without_a_file_and_keeps_the_tempo() {
    let mut live = live_with(&[("kick", "X...")]);
    live.apply(Command::SetBpm(128.0));
    live.apply(Command::SaveSlot {
        slot: slot(1),
        force: true,
    });
    live.settle_disk();
    live.apply(Command::SaveSlot {
        slot: slot(2),
        force: true,
    });
    live.settle_disk();
    let said = live.apply(Command::NewSong);
    assert_eq!(said.as_deref(), Some("new empty song in slot 3"));
    assert_eq!(live.ctl().slot(), Some(slot(3)));
    let song = live.ctl().song();
    assert!(song.sequencer.tracks.is_empty());
    assert_eq!(song.sequencer.bpm, 128.0);
    assert!(!live.ctl().is_dirty(), "untouched, it leaves no draft");
    // Undo goes back to the song before.
    assert_eq!(
        live.apply(Command::Undo).as_deref(),
        Some("undone: new song")
    );
    assert_eq!(live.ctl().slot(), Some(slot(2)));
    assert_eq!(live.ctl().song().sequencer.tracks.len(), 1);
}

#[test]
fn a_mute_waiting_for_the_bar_does_not_fall_on_the_next_slot_loaded_before_it() {
    let mut live = live_with(&[("kick", "X...X...")]);
    for n in [1, 2] {
        live.apply(Command::SaveSlot {
            slot: slot(n),
            force: true,
        });
        live.settle_disk();
    }
    live.apply(Command::SetMuteQuantize(Some(true)));
    live.apply(Command::Play);
    live.run(2048);
    assert!(live.ctl().status().running);
    live.apply(Command::Mute {
        track: "kick".into(),
        on: Some(true),
    });
    assert_eq!(live.ctl().pending_mute("kick", false), Some(true));
    // The performer leaves for slot 1 before the bar: that song's kick was never muted.
    live.apply(Command::LoadSlot {
        slot: slot(1),
        immediate: true,
    });
    live.run(4096);
    assert_eq!(live.ctl().slot(), Some(slot(1)));
    assert_eq!(
        live.ctl().pending_mute("kick", false),
        None,
        "the grid of slot 1 shows a mute waiting that was asked for slot 2"
    );
    live.run(100_000);
    assert!(
        !live.ctl().song().sequencer.tracks[0].muted,
        "slot 1's kick muted by a press made on slot 2's"
    );
}

#[test]
fn mutes_kept_on_purpose_are_not_dropped_when_the_slot_is_left() {
    let mut live = live_with(&[("kick", "X...X...")]);
    live.apply(Command::SaveSlot {
        slot: slot(1),
        force: true,
    });
    live.settle_disk();
    live.apply(Command::Mute {
        track: "kick".into(),
        on: Some(true),
    });
    live.apply(Command::KeepMutes);
    assert!(live.ctl().is_dirty(), "the screen shows unsaved edits");
    live.apply(Command::NewSong);
    assert!(
        live.ctl().draft_slots().contains(&slot(1)),
        "slot 1 was shown unsaved, yet leaving it kept no draft: {:?}",
        live.ctl().draft_slots()
    );
    // Back in slot 1: the draft, still unsaved, and the next save writes the kept mute.
    live.apply(Command::LoadSlot {
        slot: slot(1),
        immediate: true,
    });
    assert!(live.ctl().song().sequencer.tracks[0].muted);
    assert!(live.ctl().is_dirty(), "the kept mute is an unsaved edit");
    live.apply(Command::SaveSlot {
        slot: slot(1),
        force: false,
    });
    live.settle_disk();
    assert!(!live.ctl().is_dirty());
    assert!(!live.ctl().keeps_mutes(), "kept for one save");
    let file = live.ctl().store().load(slot(1)).unwrap();
    assert!(
        file.slot.sequencer.tracks[0].muted,
        "the kept mute is in the file"
    );
}

/// Gate-on samples of `voice` recorded by the rig's engine since the last call, with every
/// other voice's (the log keeps the newest 1024 changes).
fn gate_ons(live: &mut Live) -> Vec<(u8, u64)> {
    let e = live.runner.engine_mut();
    std::iter::from_fn(|| e.pop_gate_record())
        .filter(|g| g.on)
        .map(|g| (g.voice, g.sample))
        .collect()
}

#[test]
fn a_quantised_mute_lands_on_the_first_sample_of_the_next_bar() {
    // 120 BPM at 48 kHz: 6000 samples a step, bars at 96 000 and 192 000. With swing 0.5 the
    // odd steps sound 1500 samples late, so the last step's hit (90 000 + 1500) comes after
    // the bar's last step began: a mute sent a step ahead would swallow it.
    let mut live = live_with(&[("kick", "x..."), ("hat", "xxxx")]);
    live.apply(Command::SetSwing(0.5));
    live.apply(Command::SetMuteQuantize(Some(true)));
    live.apply(Command::Play);
    live.run(20_000);
    live.apply(Command::Mute {
        track: "hat".into(),
        on: Some(true),
    });
    gate_ons(&mut live);
    // Up to the last sample before the bar line.
    live.run(96_000 - live.frames);
    let hat: Vec<u64> = gate_ons(&mut live)
        .into_iter()
        .filter(|g| g.0 == 2)
        .map(|g| g.1)
        .collect();
    assert_eq!(
        hat.last(),
        Some(&91_500),
        "the hat's last hit is step 15's, swung"
    );
    live.run(8 * 6000);
    let after = gate_ons(&mut live);
    assert_eq!(
        after.first(),
        Some(&(1, 96_000)),
        "the kick plays on the bar line"
    );
    assert!(
        after.iter().all(|g| g.0 != 2),
        "the muted hat played after the bar: {after:?}"
    );
    assert!(live.ctl().song().sequencer.tracks[1].muted);
    assert_eq!(live.ctl().pending_mute("hat", false), None);
    // Unmuted in bar 1, the hat comes back exactly on the bar line of bar 2.
    live.apply(Command::Mute {
        track: "hat".into(),
        on: Some(false),
    });
    live.run(192_000 + 6000 - live.frames);
    let hat: Vec<u64> = gate_ons(&mut live)
        .into_iter()
        .filter(|g| g.0 == 2)
        .map(|g| g.1)
        .collect();
    assert_eq!(
        hat,
        vec![192_000],
        "the hat returns on the bar line, not before"
    );
    assert!(!live.ctl().song().sequencer.tracks[1].muted);
}

#[test]
fn a_mute_pressed_just_after_the_bar_applied_another_waits_for_its_own_bar() {
    // 120 BPM at 48 kHz: bars at 96 000 and 192 000, a hat hit every 6000 samples.
    let mut live = live_with(&[("kick", "x..."), ("hat", "xxxx")]);
    live.apply(Command::SetMuteQuantize(Some(true)));
    live.apply(Command::Play);
    live.run(20_000);
    live.apply(Command::Mute {
        track: "kick".into(),
        on: Some(true),
    });
    // The engine passes the bar line (the kick's mute lands there) while the control thread
    // is busy: it has not yet heard that the mute applied.
    live.run_unpolled(96_000 + 2_048 - live.frames);
    // Just after the bar the performer mutes the hat: the next bar is bar 2.
    assert_eq!(
        live.apply(Command::Mute {
            track: "hat".into(),
            on: Some(true),
        })
        .as_deref(),
        Some("hat muted at the next bar")
    );
    gate_ons(&mut live);
    live.run(192_000 - 1_000 - live.frames);
    let hat: Vec<u64> = gate_ons(&mut live)
        .into_iter()
        .filter(|g| g.0 == 2)
        .map(|g| g.1)
        .collect();
    assert_eq!(
        hat.len(),
        15,
        "the hat plays on through bar 1 until its mute's bar: {hat:?}"
    );
    assert!(live.ctl().song().sequencer.tracks[0].muted);
    assert!(!live.ctl().song().sequencer.tracks[1].muted);
    assert_eq!(live.ctl().pending_mute("hat", false), Some(true));
    live.run(192_000 + 6_000 - live.frames);
    assert!(live.ctl().song().sequencer.tracks[1].muted);
    let hat = gate_ons(&mut live).into_iter().filter(|g| g.0 == 2).count();
    assert_eq!(hat, 0, "muted at bar 2");
}

#[test]
fn a_quantised_mute_due_at_the_bar_of_a_queued_slot_leaves_its_notes_in_step_with_the_grid() {
    // Slot 1: mel plays one note; slot 2: mel cycles three notes, one hit a loop of 4 steps.
    let mut live = live_with(&[("mel", "x..."), ("hat", "xxxx")]);
    live.apply(Command::SaveSlot {
        slot: slot(1),
        force: true,
    });
    live.settle_disk();
    live.apply(Command::SetNotes {
        track: "mel".into(),
        notes: vec![220.0, 330.0, 440.0],
    });
    live.apply(Command::SaveSlot {
        slot: slot(2),
        force: true,
    });
    live.settle_disk();
    live.apply(Command::LoadSlot {
        slot: slot(1),
        immediate: true,
    });
    live.apply(Command::SetMuteQuantize(Some(true)));
    live.apply(Command::Play);
    live.run(20_000);
    // Slot 2 queued for bar 1, and the hat muted at the same bar.
    live.apply(Command::LoadSlot {
        slot: slot(2),
        immediate: false,
    });
    live.apply(Command::Mute {
        track: "hat".into(),
        on: Some(true),
    });
    live.run(96_000 - live.frames);
    let out = live.run(4 * 24_000);
    // mel has played 4 hits by bar 1 (one a loop): from there the grid's cycle reads
    // 330, 440, 220, 330 on global steps 16, 20, 24, 28 (24 000 samples apart).
    let heard: Vec<f64> = (0..4)
        .map(|k| crate::engine::pitch_at(&out, k * 24_000 + 600, 2_400, 48_000.0))
        .collect();
    for (got, want) in heard.iter().zip([330.0, 440.0, 220.0, 330.0]) {
        assert!(
            (got - want).abs() < 5.0,
            "heard {heard:.1?}, the grid shows 330, 440, 220, 330"
        );
    }
}

#[test]
fn a_quantised_mute_still_lands_when_the_same_slot_is_loaded_again_at_its_bar() {
    let mut live = live_with(&[("kick", "x..."), ("hat", "xxxx")]);
    live.apply(Command::SaveSlot {
        slot: slot(1),
        force: true,
    });
    live.settle_disk();
    live.apply(Command::SetMuteQuantize(Some(true)));
    live.apply(Command::Play);
    live.run(20_000);
    live.apply(Command::LoadSlot {
        slot: slot(1),
        immediate: false,
    });
    live.apply(Command::Mute {
        track: "hat".into(),
        on: Some(true),
    });
    live.run(2 * 96_000 + 6_000 - live.frames);
    assert!(
        live.ctl().song().sequencer.tracks[1].muted,
        "the hat's mute was lost with the reload"
    );
    assert_eq!(live.ctl().pending_mute("hat", false), None);
    gate_ons(&mut live);
    live.run(12_000);
    assert!(
        gate_ons(&mut live).iter().all(|g| g.0 != 2),
        "the hat plays"
    );
}

#[test]
fn a_new_empty_slot_replaces_a_slot_queued_before_it() {
    let mut live = live_with(&[("kick", "X...")]);
    for n in [1, 2] {
        live.apply(Command::SaveSlot {
            slot: slot(n),
            force: true,
        });
        live.settle_disk();
    }
    live.apply(Command::Play);
    live.run(20_000);
    live.apply(Command::LoadSlot {
        slot: slot(1),
        immediate: false,
    });
    assert!(live.ctl().queued().is_some());
    // The performer changes their mind: a new empty song, now, as a load now would do.
    assert_eq!(
        live.apply(Command::NewSong).as_deref(),
        Some("new empty song in slot 3")
    );
    assert!(live.ctl().queued().is_none(), "slot 1 still queued");
    live.run(2 * 96_000);
    assert_eq!(live.ctl().slot(), Some(slot(3)));
    assert!(live.ctl().song().sequencer.tracks.is_empty());
}

#[test]
fn a_mute_waiting_for_the_bar_follows_its_track_through_a_rename() {
    let mut live = live_with(&[("kick", "x..."), ("hat", "xxxx")]);
    live.apply(Command::SetMuteQuantize(Some(true)));
    live.apply(Command::Play);
    live.run(20_000);
    live.apply(Command::Mute {
        track: "hat".into(),
        on: Some(true),
    });
    live.apply(Command::RenameTrack {
        from: "hat".into(),
        to: "hats".into(),
    });
    assert_eq!(live.ctl().pending_mute("hats", false), Some(true));
    live.run(96_000 + 6_000 - live.frames);
    assert!(
        live.ctl().song().sequencer.tracks[1].muted,
        "the mute asked for the hat was lost with its old name"
    );
    gate_ons(&mut live);
    live.run(12_000);
    assert!(
        gate_ons(&mut live).iter().all(|g| g.0 != 2),
        "the hats play"
    );
}
