//! Preparing a slot while another plays, on the real engine rendered offline: the prepared
//! song is never heard until it is queued, then lands at the first sample of the next bar
//! with every edit; it has its own undo, save and revert; its edits are its draft on disk
//! (a restart finds them); and the commands that act on what plays are refused clearly.

use std::time::Instant;

use crate::chains::{slot, song, tone};
use crate::support::{Live, Setup};
use chronus::control::{Command, ControlError, Notice};
use chronus::model::Slot;
use chronus::model::registry::TrackFieldId;

/// 240 BPM: a step is 3000 frames, a bar 48 000.
const STEP: usize = 3000;
const BAR: usize = 16 * STEP;
const PERIOD: usize = 200;

/// Slots 1 (440 Hz on voice1) and 2 (1320 Hz on voice4) on disk, slot 1 loaded.
fn rig() -> Live {
    let mut live = Live::start(Setup {
        period: PERIOD,
        ..Setup::default()
    });
    live.ctl()
        .store()
        .save(slot(1), &song("a", 1, 440.0))
        .unwrap();
    live.ctl()
        .store()
        .save(slot(2), &song("b", 4, 1320.0))
        .unwrap();
    live.apply(Command::RescanSlots);
    live.apply(Command::LoadSlot {
        slot: slot(1),
        immediate: true,
    });
    live
}

/// Sets the base frequency of the prepared slot's track `track`.
fn prepared_freq(live: &mut Live, track: &str, hz: f64) -> Option<String> {
    live.apply(Command::OnPrepared(Box::new(Command::SetTrackField {
        track: track.into(),
        field: TrackFieldId::from_key("base_freq").unwrap(),
        value: hz,
    })))
}

fn first_frame_of_bar(live: &Live, n: u8) -> usize {
    live.notices
        .iter()
        .find_map(|(f, x)| match x {
            Notice::SlotApplied { slot: s, .. } if s.get() == n => Some(*f),
            _ => None,
        })
        .expect("the slot was applied")
}

#[test]
fn a_prepared_slot_is_unheard_until_queued_then_plays_from_the_next_bar_with_its_edits() {
    let mut live = rig();
    live.apply(Command::Play);
    let mut out = live.run(BAR / 2);

    let msg = live.apply(Command::Prepare(Some(slot(2)))).unwrap();
    assert_eq!(
        msg,
        "preparing slot 2 \"b\": edits are not heard until it is queued"
    );
    let msg = prepared_freq(&mut live, "b", 660.0).unwrap();
    assert!(msg.starts_with("slot 2 (not playing): "), "{msg}");
    live.apply(Command::OnPrepared(Box::new(Command::SetPattern {
        track: "b".into(),
        pattern: "x.x.x.x.x.x.x.x.".into(),
    })));
    // What plays is untouched: slot 1, clean; the edited song is the prepared one.
    assert_eq!(live.ctl().slot(), Some(slot(1)));
    assert!(!live.ctl().is_dirty());
    assert_eq!(live.ctl().song().sequencer.tracks[0].base_freq, 440.0);
    let p = live.ctl().prepared().unwrap();
    assert_eq!((p.slot, p.dirty), (slot(2), true));
    assert_eq!(live.ctl().edited().sequencer.tracks[0].base_freq, 660.0);
    assert_eq!(live.ctl().edited_slot(), Some(slot(2)));
    assert!(live.ctl().has_draft(slot(2)));

    // More than a bar more: only slot 1 is heard, never the prepared 660 Hz.
    out.extend(live.run(BAR + BAR / 3));
    for bar_half in 1..3 {
        let at = bar_half * BAR / 2 + STEP / 4;
        assert!(tone(&out, at, 2400, 440.0) > 0.02, "440 Hz plays at {at}");
        assert!(
            tone(&out, at, 2400, 660.0) < 0.002,
            "660 Hz unheard at {at}"
        );
    }

    // Queue it: it applies at the first sample of the next bar, with both edits.
    live.apply(Command::QueuePrepared { immediate: false });
    assert!(
        live.ctl().prepared().is_none(),
        "the screen is back on what plays"
    );
    assert_eq!(live.ctl().queued().unwrap().slot, slot(2));
    let before = out.len() / 2;
    out.extend(live.run(2 * BAR));
    let start = before.div_ceil(BAR) * BAR;
    let noticed = first_frame_of_bar(&live, 2);
    assert_eq!(
        noticed / BAR * BAR,
        start,
        "applied in the period of the bar line"
    );
    assert!(tone(&out, start - 2400, 2400, 440.0) > 0.02);
    assert!(
        tone(&out, start, 2400, 660.0) > 0.02,
        "660 Hz from the bar line"
    );
    // Slot 1 strikes no note after the bar line: its last one rings out its release.
    let tail: Vec<f64> = (0..9)
        .map(|k| tone(&out, start + k * STEP, 2400, 440.0))
        .collect();
    assert!(tail.windows(2).all(|w| w[1] <= w[0] + 1e-3), "{tail:?}");
    assert!(tail[8] < 0.005, "{tail:?}");
    // Every sample before the bar line is what slot 1 alone plays, bit for bit: the prepared
    // edits reached the engine at no point before it.
    let mut alone = rig();
    alone.apply(Command::Play);
    let mut reference = alone.run(BAR / 2);
    reference.extend(alone.run(BAR + BAR / 3));
    reference.extend(alone.run(2 * BAR));
    assert_eq!(out[..2 * start], reference[..2 * start]);
    assert_ne!(
        out[2 * start..2 * start + 400],
        reference[2 * start..2 * start + 400]
    );

    // It plays as slot 2, dirty (its edits are unsaved), and undo reaches the prepared edits.
    assert_eq!(live.ctl().slot(), Some(slot(2)));
    assert!(live.ctl().is_dirty());
    assert_eq!(
        live.ctl().song().sequencer.tracks[0].pattern,
        "x.x.x.x.x.x.x.x."
    );
    let msg = live.apply(Command::Undo).unwrap();
    assert_eq!(msg, "undone: steps of b");
    assert_eq!(
        live.ctl().song().sequencer.tracks[0].pattern,
        "xxxxxxxxxxxxxxxx"
    );
    assert_eq!(live.ctl().song().sequencer.tracks[0].base_freq, 660.0);
}

#[test]
fn a_prepared_slot_has_its_own_undo_redo_save_and_revert() {
    let mut live = rig();
    live.apply(Command::Prepare(Some(slot(2))));
    prepared_freq(&mut live, "b", 500.0);
    // An edit of what plays in between: each history stays its own.
    live.apply_edit_of_playing();
    let msg = live
        .apply(Command::OnPrepared(Box::new(Command::Undo)))
        .unwrap();
    assert_eq!(msg, "slot 2 (not playing): undone: b base_freq");
    assert_eq!(live.ctl().edited().sequencer.tracks[0].base_freq, 1320.0);
    assert!(!live.ctl().prepared().unwrap().dirty);
    assert!(!live.ctl().has_draft(slot(2)), "no edits: no draft");
    assert_eq!(live.ctl().song().sequencer.tracks[0].pattern, "x.x.");
    live.apply(Command::OnPrepared(Box::new(Command::Redo)));
    assert_eq!(live.ctl().edited().sequencer.tracks[0].base_freq, 500.0);

    // Saving writes slot 2's file and leaves slot 1 the one that plays (no "save as").
    live.apply(Command::OnPrepared(Box::new(Command::SaveSlot {
        slot: slot(2),
        force: false,
    })));
    live.settle_disk();
    let file = live.ctl().store().load(slot(2)).unwrap().slot;
    assert_eq!(file.sequencer.tracks[0].base_freq, 500.0);
    assert_eq!(live.ctl().slot(), Some(slot(1)));
    assert!(live.ctl().is_dirty(), "slot 1 keeps its own unsaved edit");
    assert!(!live.ctl().prepared().unwrap().dirty);
    assert!(!live.ctl().store().draft_path(slot(2)).exists());

    // Revert drops the prepared edits; undo brings them back.
    prepared_freq(&mut live, "b", 700.0);
    live.apply(Command::OnPrepared(Box::new(Command::Revert)));
    assert_eq!(live.ctl().edited().sequencer.tracks[0].base_freq, 500.0);
    // The playing slot's own draft is untouched by the prepared slot's revert.
    live.settle_disk();
    let playing_draft = live.ctl().store().draft_path(slot(1));
    let kept = chronus::store::read_slot_file(&playing_draft).unwrap();
    assert_eq!(kept.slot.sequencer.tracks[0].pattern, "x.x.");
    live.apply(Command::OnPrepared(Box::new(Command::Undo)));
    assert_eq!(live.ctl().edited().sequencer.tracks[0].base_freq, 700.0);

    // Going back to what plays and preparing again keeps the history.
    let msg = live.apply(Command::Prepare(None)).unwrap();
    assert_eq!(
        msg,
        "back to what plays; slot 2 set aside (its edits are kept as its draft)"
    );
    assert_eq!(live.ctl().edited().sequencer.tracks[0].base_freq, 440.0);
    live.apply(Command::Prepare(Some(slot(2))));
    live.apply(Command::OnPrepared(Box::new(Command::Undo)));
    assert_eq!(live.ctl().edited().sequencer.tracks[0].base_freq, 500.0);
}

#[test]
fn commands_that_act_on_what_plays_are_refused_on_a_prepared_slot() {
    let mut live = rig();
    let none = live.try_apply(Command::OnPrepared(Box::new(Command::Undo)));
    assert!(matches!(none, Err(ControlError::NotPreparing)), "{none:?}");
    live.apply(Command::Prepare(Some(slot(2))));
    let e = live
        .try_apply(Command::OnPrepared(Box::new(Command::Play)))
        .unwrap_err();
    assert_eq!(
        e.to_string(),
        "edit acts on what plays, not on the prepared slot"
    );
    let e = live
        .try_apply(Command::OnPrepared(Box::new(Command::SaveSlot {
            slot: slot(3),
            force: false,
        })))
        .unwrap_err();
    assert_eq!(e.to_string(), "the prepared slot saves to its own slot 2");
    // The playing song cannot be saved over the slot being prepared.
    let e = live
        .try_apply(Command::SaveSlot {
            slot: slot(2),
            force: true,
        })
        .unwrap_err();
    assert!(matches!(e, ControlError::SlotPrepared(_)), "{e}");
    // Preparing the slot that plays goes back to editing it.
    let msg = live.apply(Command::Prepare(Some(slot(1)))).unwrap();
    assert_eq!(msg, "slot 1 plays now: editing what plays");
    assert!(live.ctl().prepared().is_none());
    // A queued slot cannot be prepared: its edits would miss the bar.
    live.apply(Command::Play);
    live.run(PERIOD);
    live.apply(Command::LoadSlot {
        slot: slot(2),
        immediate: false,
    });
    let e = live.try_apply(Command::Prepare(Some(slot(2)))).unwrap_err();
    assert!(
        e.to_string().starts_with("slot 2 is queued for bar 1"),
        "{e}"
    );
    // The routing rule a frontend uses: only song edits, undo, redo, revert, save.
    assert!(Command::Undo.acts_on_prepared());
    assert!(!Command::Play.acts_on_prepared());
    assert!(
        !Command::Mute {
            track: "a".into(),
            on: None
        }
        .acts_on_prepared()
    );
    assert!(!Command::NewSong.acts_on_prepared());
}

#[test]
fn an_empty_slot_is_prepared_as_a_new_song_and_queued_while_stopped_it_loads_at_once() {
    let mut live = rig();
    let msg = live.apply(Command::Prepare(Some(slot(9)))).unwrap();
    assert_eq!(
        msg,
        "preparing slot 9 \"Pattern 9\": edits are not heard until it is queued"
    );
    // Untouched, it leaves nothing behind, and a new song does not take its slot.
    assert!(!live.ctl().has_draft(slot(9)));
    let t = song("n", 2, 990.0).sequencer.tracks.remove(0);
    live.apply(Command::OnPrepared(Box::new(Command::AddTrack(Box::new(
        t,
    )))));
    assert!(live.ctl().has_draft(slot(9)));
    live.apply(Command::QueuePrepared { immediate: false });
    assert_eq!(live.ctl().slot(), Some(slot(9)));
    assert!(live.ctl().is_dirty());
    assert_eq!(live.ctl().song().sequencer.tracks[0].name, "n");
    live.apply(Command::Play);
    let out = live.run(BAR / 4);
    assert!(tone(&out, 200, 2400, 990.0) > 0.02);
}

#[test]
fn prepared_edits_are_the_slots_draft_on_disk_and_a_restart_finds_them() {
    let mut live = rig();
    live.apply(Command::Prepare(Some(slot(2))));
    prepared_freq(&mut live, "b", 880.0);
    live.settle_disk();
    let draft = live.ctl().store().draft_path(slot(2));
    let on_disk = chronus::store::read_slot_file(&draft).unwrap();
    assert_eq!(on_disk.slot.sequencer.tracks[0].base_freq, 880.0);
    // The next start: loading slot 2 restores the prepared edits.
    let opts = chronus::app::SessionOptions {
        audio: chronus::app::AudioArgs {
            voices: 8,
            ..chronus::app::AudioArgs::default()
        },
        osc: None,
        watch: false,
    };
    let (mut session, _r) = chronus::app::Session::offline(&live.root, &opts, 48_000);
    let msg = session
        .ctl_mut()
        .apply(Command::LoadSlot {
            slot: slot(2),
            immediate: true,
        })
        .unwrap()
        .unwrap();
    assert!(msg.starts_with("slot 2: restored unsaved edits"), "{msg}");
    assert_eq!(session.ctl().song().sequencer.tracks[0].base_freq, 880.0);
}

#[test]
fn a_prepared_slot_follows_its_file_changed_on_disk_unless_it_holds_edits() {
    let mut live = rig();
    live.apply(Command::Prepare(Some(slot(2))));
    // Another program writes slot 2: the clean prepared song shows the new version.
    live.ctl()
        .store()
        .save(slot(2), &song("b", 4, 1100.0))
        .unwrap();
    live.apply(Command::ReadSlotFile(slot(2)));
    live.settle_disk();
    live.turn(false);
    assert_eq!(live.ctl().edited().sequencer.tracks[0].base_freq, 1100.0);
    // With edits, they are kept and stay unsaved against the new file.
    prepared_freq(&mut live, "b", 770.0);
    live.ctl()
        .store()
        .save(slot(2), &song("b", 4, 1200.0))
        .unwrap();
    live.apply(Command::ReadSlotFile(slot(2)));
    live.settle_disk();
    live.turn(false);
    assert_eq!(live.ctl().edited().sequencer.tracks[0].base_freq, 770.0);
    assert!(live.ctl().prepared().unwrap().dirty);
    live.apply(Command::OnPrepared(Box::new(Command::Revert)));
    assert_eq!(live.ctl().edited().sequencer.tracks[0].base_freq, 1200.0);
}

impl Live {
    /// An edit of the playing song (slot 1's pattern), timed apart from the others.
    fn apply_edit_of_playing(&mut self) {
        self.ctl_mut()
            .apply_at(
                Command::SetPattern {
                    track: "a".into(),
                    pattern: "x.x.".into(),
                },
                Instant::now(),
            )
            .unwrap();
    }
}

/// The session of the next start on the same folder, slot `n` loaded: its message and song.
fn restart_and_load(live: &Live, n: u8) -> (String, Slot) {
    let opts = chronus::app::SessionOptions {
        audio: chronus::app::AudioArgs {
            voices: 8,
            ..chronus::app::AudioArgs::default()
        },
        osc: None,
        watch: false,
    };
    let (mut session, _r) = chronus::app::Session::offline(&live.root, &opts, 48_000);
    let msg = session
        .ctl_mut()
        .apply(Command::LoadSlot {
            slot: slot(n),
            immediate: true,
        })
        .unwrap()
        .unwrap();
    (msg, session.ctl().song().clone())
}

#[test]
fn undoing_or_reverting_every_prepared_edit_removes_the_draft_file_so_a_restart_finds_none() {
    let mut live = rig();
    live.apply(Command::Prepare(Some(slot(2))));
    prepared_freq(&mut live, "b", 880.0);
    live.settle_disk();
    let draft = live.ctl().store().draft_path(slot(2));
    assert!(draft.exists());
    // Undone: no edits are left, so no draft file either.
    live.apply(Command::OnPrepared(Box::new(Command::Undo)));
    live.settle_disk();
    assert!(!live.ctl().has_draft(slot(2)));
    assert!(!draft.exists(), "the undone edit stays on disk as a draft");
    live.apply(Command::OnPrepared(Box::new(Command::Redo)));
    live.settle_disk();
    assert!(draft.exists());
    // Reverted: the same.
    live.apply(Command::OnPrepared(Box::new(Command::Revert)));
    live.settle_disk();
    assert_eq!(live.ctl().edited().sequencer.tracks[0].base_freq, 1320.0);
    assert!(
        !draft.exists(),
        "the reverted edit stays on disk as a draft"
    );
    // The next start loads slot 2 as its file holds it, not the dropped edit.
    let (msg, song) = restart_and_load(&live, 2);
    assert_eq!(msg, "slot 2 \"b\" loaded");
    assert_eq!(song.sequencer.tracks[0].base_freq, 1320.0);
}

#[test]
fn renaming_a_prepared_track_leaves_the_mutes_waiting_in_what_plays_alone() {
    let mut live = rig();
    // Slot 3 has a track named like slot 1's.
    live.ctl()
        .store()
        .save(slot(3), &song("a", 4, 1320.0))
        .unwrap();
    live.apply(Command::RescanSlots);
    live.apply(Command::Play);
    live.run(BAR / 4);
    live.apply(Command::SetMuteQuantize(Some(true)));
    live.apply(Command::Mute {
        track: "a".into(),
        on: Some(true),
    });
    assert_eq!(live.ctl().pending_mute("a", false), Some(true));
    live.apply(Command::Prepare(Some(slot(3))));
    live.apply(Command::OnPrepared(Box::new(Command::RenameTrack {
        from: "a".into(),
        to: "z".into(),
    })));
    assert_eq!(live.ctl().edited().sequencer.tracks[0].name, "z");
    assert_eq!(live.ctl().song().sequencer.tracks[0].name, "a");
    assert_eq!(live.ctl().pending_mute("a", false), Some(true));
    assert_eq!(live.ctl().pending_mute("z", false), None);
    // At the bar slot 1's track mutes, and stays muted.
    let before = live.frames;
    let out = live.run(2 * BAR);
    assert!(live.ctl().song().sequencer.tracks[0].muted);
    let start = before.div_ceil(BAR) * BAR - before;
    assert!(tone(&out, start - 2400, 2400, 440.0) > 0.02);
    assert!(tone(&out, start + 8 * STEP, 2400, 440.0) < 0.005);
    assert!(tone(&out, start + BAR - 2400, 2400, 440.0) < 0.005);
}

#[test]
fn a_prepared_save_that_lands_after_its_slot_began_playing_leaves_it_clean() {
    let mut live = rig();
    live.apply(Command::Prepare(Some(slot(2))));
    prepared_freq(&mut live, "b", 500.0);
    // The save is still on its way when slot 2 is loaded at once.
    let ctl = live.ctl_mut();
    ctl.apply(Command::OnPrepared(Box::new(Command::SaveSlot {
        slot: slot(2),
        force: false,
    })))
    .unwrap();
    ctl.apply(Command::QueuePrepared { immediate: true })
        .unwrap();
    live.settle_disk();
    assert_eq!(live.ctl().slot(), Some(slot(2)));
    assert_eq!(live.ctl().song().sequencer.tracks[0].base_freq, 500.0);
    let file = live.ctl().store().load(slot(2)).unwrap().slot;
    assert_eq!(file.sequencer.tracks[0].base_freq, 500.0);
    assert!(
        !live.ctl().is_dirty(),
        "its file holds it: no unsaved edits"
    );
    assert!(!live.ctl().has_draft(slot(2)));
}

#[test]
fn a_prepared_save_that_lands_after_another_slot_was_prepared_leaves_no_draft() {
    let mut live = rig();
    live.apply(Command::Prepare(Some(slot(2))));
    prepared_freq(&mut live, "b", 500.0);
    let ctl = live.ctl_mut();
    ctl.apply(Command::OnPrepared(Box::new(Command::SaveSlot {
        slot: slot(2),
        force: false,
    })))
    .unwrap();
    ctl.apply(Command::Prepare(Some(slot(3)))).unwrap();
    live.settle_disk();
    assert_eq!(live.ctl().prepared().unwrap().slot, slot(3));
    assert_eq!(live.ctl().slot(), Some(slot(1)));
    assert!(
        !live.ctl().has_draft(slot(2)),
        "slot 2's file holds its edits"
    );
    assert!(!live.ctl().store().draft_path(slot(2)).exists());
    let (msg, song) = restart_and_load(&live, 2);
    assert_eq!(msg, "slot 2 \"b\" loaded");
    assert_eq!(song.sequencer.tracks[0].base_freq, 500.0);
}

#[test]
fn a_backup_of_a_slot_prepared_with_edits_is_refused_instead_of_playing_the_edits_as_it() {
    let mut live = rig();
    // A second save of slot 2: its first version (1320 Hz) is now its backup.
    live.ctl()
        .store()
        .save(slot(2), &song("b", 4, 900.0))
        .unwrap();
    live.apply(Command::RescanSlots);
    live.apply(Command::Prepare(Some(slot(2))));
    prepared_freq(&mut live, "b", 500.0);
    live.apply(Command::Prepare(None));
    let e = live
        .try_apply(Command::LoadBackup { slot: slot(2) })
        .unwrap_err();
    assert!(e.to_string().starts_with("slot 2 is being prepared"), "{e}");
    assert_eq!(live.ctl().slot(), Some(slot(1)));
    assert_eq!(live.ctl().song().sequencer.tracks[0].base_freq, 440.0);
    // Its edits are kept; once reverted, the backup loads as itself.
    live.apply(Command::Prepare(Some(slot(2))));
    assert_eq!(live.ctl().edited().sequencer.tracks[0].base_freq, 500.0);
    live.apply(Command::OnPrepared(Box::new(Command::Revert)));
    live.apply(Command::Prepare(None));
    let msg = live.apply(Command::LoadBackup { slot: slot(2) }).unwrap();
    assert!(msg.starts_with("slot 2: loaded its backup"), "{msg}");
    assert_eq!(live.ctl().song().sequencer.tracks[0].base_freq, 1320.0);
}

#[test]
fn a_mute_asked_of_a_prepared_track_does_not_mute_the_track_of_that_name_in_what_plays() {
    let mut live = rig();
    live.ctl()
        .store()
        .save(slot(3), &song("a", 4, 1320.0))
        .unwrap();
    live.apply(Command::RescanSlots);
    live.apply(Command::Play);
    live.apply(Command::Prepare(Some(slot(3))));
    // The tracker's `m` on the prepared grid's track "a".
    let r = live.ctl_mut().apply_edited(Command::Mute {
        track: "a".into(),
        on: None,
    });
    assert!(r.is_err(), "{r:?}");
    assert!(!live.ctl().song().sequencer.tracks[0].muted);
    let out = live.run(BAR);
    assert!(tone(&out, BAR / 2, 2400, 440.0) > 0.02);
    // Mute groups and mutes from OSC still act on what plays.
    live.apply(Command::Mute {
        track: "a".into(),
        on: Some(true),
    });
    assert!(live.ctl().song().sequencer.tracks[0].muted);
}
