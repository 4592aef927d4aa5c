//! The disk thread under a performer's hands: saves that race edits, loads, quitting, locks
//! held by other programs, conflicts and unreadable files. Each test keeps what the screen
//! claims (slot label, dirty mark, questions) equal to what the files hold, and loses no edit.

use std::fs::File;
use std::time::{Duration, Instant};

use crate::support::{Live, Setup};
use chronus::control::{Command, Notice};
use chronus::model::{Slot, Track};
use chronus::store::SlotNumber;
use chronus::store::read_slot_file;

fn s(n: u8) -> SlotNumber {
    SlotNumber::new(n).unwrap()
}

fn pattern(song: &Slot) -> String {
    song.sequencer.tracks[0].pattern.clone()
}

fn set_pattern(live: &mut Live, p: &str) {
    // Straight to the session: no waiting for the disk (a key press).
    live.session
        .apply(Command::SetPattern {
            track: "a".into(),
            pattern: p.into(),
        })
        .unwrap();
}

/// A rig whose song (track `a`, "x...") is saved in slot 1 and clean.
fn saved_in_slot_1() -> Live {
    let mut live = Live::start(Setup::default());
    live.apply(Command::AddTrack(Box::new(Track::new(
        "a", "voice1", "x...",
    ))));
    live.apply(Command::SaveSlot {
        slot: s(1),
        force: false,
    });
    assert_eq!(live.ctl().slot(), Some(s(1)));
    assert!(!live.ctl().is_dirty());
    live
}

/// C-s, one more edit, quit: the edit stays in drafts/ although the save's report arrives
/// while quitting.
#[test]
fn quit_right_after_save_keeps_the_edit_made_meanwhile() {
    let mut live = saved_in_slot_1();
    set_pattern(&mut live, "xx..");
    live.session
        .apply(Command::SaveSlot {
            slot: s(1),
            force: false,
        })
        .unwrap();
    set_pattern(&mut live, "xxx.");
    live.session.shutdown();
    let store = live.ctl().store().clone();
    let file = pattern(&store.load(s(1)).unwrap().slot);
    let draft = store.draft_path(s(1));
    let in_draft = draft
        .exists()
        .then(|| pattern(&read_slot_file(&draft).unwrap().slot));
    assert!(
        file == "xxx." || in_draft.as_deref() == Some("xxx."),
        "the last edit is nowhere on disk: slot file {file:?}, draft {in_draft:?}"
    );
}

/// Our save, then another program changes the file, then puts our bytes back: the last
/// change is a change by another program, not Chronus's own save heard again.
#[test]
fn a_change_back_to_our_own_bytes_is_still_a_change() {
    let mut live = saved_in_slot_1();
    live.ctl_mut().set_watching(true);
    let store = live.ctl().store().clone();
    let path = store.slot_path(s(1));
    let ours = std::fs::read(&path).unwrap();
    // The watcher hears our own save.
    live.apply(Command::ReadSlotFile(s(1)));
    assert!(!live.ctl().changed_on_disk(s(1)));
    // Another program writes another version: reloaded (stopped: at once).
    let mut theirs = live.ctl().song().clone();
    theirs.sequencer.tracks[0].pattern = "xxxx".into();
    store.save(s(1), &theirs).unwrap();
    live.apply(Command::ReadSlotFile(s(1)));
    assert_eq!(pattern(live.ctl().song()), "xxxx");
    // It puts the earlier bytes back (undo in the editor, git checkout …).
    std::fs::write(&path, &ours).unwrap();
    live.apply(Command::ReadSlotFile(s(1)));
    assert_eq!(
        pattern(live.ctl().song()),
        "x...",
        "the file holds x... again but the song stays the other program's version, shown clean (dirty={})",
        live.ctl().is_dirty()
    );
}

/// A conflict is pending; the performer saves (their version now is the file) and keeps
/// editing before the save reports: the question ends with the save.
#[test]
fn saving_over_a_conflict_ends_it_even_when_edits_follow() {
    let mut live = saved_in_slot_1();
    live.ctl_mut().set_watching(true);
    let store = live.ctl().store().clone();
    set_pattern(&mut live, "xx..");
    let mut theirs = live.ctl().song().clone();
    theirs.sequencer.tracks[0].pattern = "....".into();
    store.save(s(1), &theirs).unwrap();
    live.apply(Command::ReadSlotFile(s(1)));
    live.turn(false);
    assert_eq!(live.ctl().pending_conflict(), Some(s(1)));
    live.session
        .apply(Command::SaveSlot {
            slot: s(1),
            force: false,
        })
        .unwrap();
    set_pattern(&mut live, "xxx.");
    live.settle_disk();
    live.turn(false);
    assert_eq!(pattern(&store.load(s(1)).unwrap().slot), "xx..");
    assert_eq!(
        live.ctl().pending_conflict(),
        None,
        "the file holds our save, yet the question offers the other program's \"....\""
    );
}

/// A save-as to slot 2 waits for its lock; meanwhile slot 2 is loaded (its old file).
/// When the save lands, the loaded song differs from what slot 2's file holds: it is dirty.
#[test]
fn loading_a_slot_whose_save_is_in_flight_is_not_shown_clean() {
    let mut live = saved_in_slot_1();
    let store = live.ctl().store().clone();
    let mut b = Slot::default();
    b.metadata.name = "B".into();
    b.sequencer.tracks.push(Track::new("a", "voice2", "...."));
    store.save(s(2), &b).unwrap();
    live.apply(Command::ReadSlotFile(s(2)));
    set_pattern(&mut live, "xxxx");
    // Another program holds slot 2's lock.
    let held = File::create(store.lock_path(s(2))).unwrap();
    held.lock().unwrap();
    live.session
        .apply(Command::SaveSlot {
            slot: s(2),
            force: true,
        })
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    while !live
        .notices
        .iter()
        .any(|(_, n)| matches!(n, Notice::SaveWaiting { .. }))
    {
        assert!(Instant::now() < deadline, "no SaveWaiting");
        live.turn(false);
        std::thread::sleep(Duration::from_millis(5));
    }
    live.session
        .apply(Command::LoadSlot {
            slot: s(2),
            immediate: true,
        })
        .unwrap();
    held.unlock().unwrap();
    live.settle_disk();
    live.turn(false);
    let on_disk = store.load(s(2)).unwrap().slot;
    assert_eq!(pattern(&on_disk), "xxxx");
    assert_eq!(live.ctl().slot(), Some(s(2)));
    let song_is_file = pattern(live.ctl().song()) == pattern(&on_disk);
    assert!(
        song_is_file || live.ctl().is_dirty() || live.ctl().changed_on_disk(s(2)),
        "slot 2 plays {:?}, shown clean and unmarked, while its file holds {:?}",
        pattern(live.ctl().song()),
        pattern(&on_disk)
    );
}

/// Edit, save, undo: the file holds the edit, the song does not: it is dirty.
#[test]
fn undo_after_a_save_is_dirty() {
    let mut live = saved_in_slot_1();
    live.apply(Command::SetPattern {
        track: "a".into(),
        pattern: "xx..".into(),
    });
    live.apply(Command::SaveSlot {
        slot: s(1),
        force: false,
    });
    live.apply(Command::Undo);
    assert_eq!(pattern(live.ctl().song()), "x...");
    assert!(
        live.ctl().is_dirty(),
        "song x... differs from the file's xx.. but is shown clean"
    );
}

/// A save that fails while quitting is told as `SaveFailed`, which the tracker prints after
/// giving the terminal back.
#[test]
fn a_save_failing_during_shutdown_is_said() {
    let mut live = saved_in_slot_1();
    let store = live.ctl().store().clone();
    // Slot 3's path is a folder: the save fails at once.
    std::fs::create_dir_all(store.slot_path(s(3))).unwrap();
    set_pattern(&mut live, "xx..");
    live.session
        .apply(Command::SaveSlot {
            slot: s(3),
            force: true,
        })
        .unwrap();
    let out = live.session.shutdown();
    assert!(
        out.iter().any(|n| matches!(n, Notice::SaveFailed { .. })),
        "{out:?}"
    );
    // The tracker prints it on the terminal it gives back, worded by describe.
    let said: Vec<String> = out.iter().filter_map(|n| live.ctl().describe(n)).collect();
    assert!(
        said.iter().any(|t| t.starts_with("slot 3 not saved: ")),
        "{said:?}"
    );
}

/// Save-as to slot 2, add a track, save-as to slot 2 again before the first report: the
/// second save is not refused for the pattern Chronus's own first save wrote there.
#[test]
fn a_second_quick_save_as_is_not_refused_by_the_first() {
    let mut live = saved_in_slot_1();
    live.session
        .apply(Command::SaveSlot {
            slot: s(2),
            force: false,
        })
        .unwrap();
    live.session
        .apply(Command::AddTrack(Box::new(Track::new(
            "b", "voice2", "..x.",
        ))))
        .unwrap();
    live.session
        .apply(Command::SaveSlot {
            slot: s(2),
            force: false,
        })
        .unwrap();
    live.settle_disk();
    live.turn(false);
    let refused = live.notices_matching(|n| matches!(n, Notice::SaveRefused { .. }));
    assert!(
        refused.is_empty(),
        "refused by our own earlier save: {refused:?}"
    );
    let on_disk = live.ctl().store().load(s(2)).unwrap().slot;
    assert_eq!(on_disk.sequencer.tracks.len(), 2);
}

/// Without a watcher the tracker rescans every 3 s; an unreadable slot file (a folder named
/// like one, no permission) raises its error once, not at every rescan.
#[test]
fn an_unreadable_slot_file_is_reported_once_not_at_every_rescan() {
    let mut live = Live::start_with(Setup::default(), |root| {
        std::fs::create_dir_all(root.join("slots").join("slot_003.json")).unwrap();
    });
    for _ in 0..3 {
        live.apply(Command::RescanSlots);
    }
    live.turn(false);
    let errors = live.notices_matching(|n| {
        matches!(n, Notice::Message(chronus::control::Level::Error, t) if t.starts_with("slot 3: cannot read"))
    });
    assert!(errors.len() <= 1, "{} times: {errors:?}", errors.len());
}

/// A conflict is pending; the file then changes again and no longer loads: the question
/// ends instead of offering a version the file no longer holds.
#[test]
fn a_conflict_does_not_offer_a_version_the_file_no_longer_holds() {
    let mut live = saved_in_slot_1();
    live.ctl_mut().set_watching(true);
    let store = live.ctl().store().clone();
    set_pattern(&mut live, "xx..");
    let mut theirs = live.ctl().song().clone();
    theirs.sequencer.tracks[0].pattern = "....".into();
    store.save(s(1), &theirs).unwrap();
    live.apply(Command::ReadSlotFile(s(1)));
    live.turn(false);
    assert_eq!(live.ctl().pending_conflict(), Some(s(1)));
    std::fs::write(store.slot_path(s(1)), "{ half written").unwrap();
    live.apply(Command::ReadSlotFile(s(1)));
    live.turn(false);
    if live.ctl().pending_conflict().is_some() {
        live.apply(Command::ResolveConflict { take_file: true });
        assert_ne!(
            pattern(live.ctl().song()),
            "....",
            "took a version of the file that is no longer in it"
        );
    }
}

/// Quitting waits at most SHUTDOWN_DISK_WAIT (15 s) for the disk, however many saves wait
/// behind a lock another program holds: the ones still waiting then give up.
#[test]
fn quitting_is_bounded_by_the_shutdown_wait() {
    let mut live = saved_in_slot_1();
    let store = live.ctl().store().clone();
    let held = File::create(store.lock_path(s(1))).unwrap();
    held.lock().unwrap();
    for p in ["xx..", "xxx."] {
        set_pattern(&mut live, p);
        live.session
            .apply(Command::SaveSlot {
                slot: s(1),
                force: false,
            })
            .unwrap();
    }
    let t0 = Instant::now();
    live.session.shutdown();
    drop(live);
    let took = t0.elapsed();
    drop(held);
    assert!(
        took < Duration::from_secs(16),
        "quitting took {took:?} (limit 15 s)"
    );
}

/// Another program holds slot 1's lock: saves queue up to the limit (`saves_in_flight`), the
/// next is refused with the limit's message and changes nothing, the performer's edits keep
/// reaching drafts/ meanwhile, and when the lock goes every queued save lands, in order.
#[test]
fn saves_behind_a_held_lock_are_bounded_and_drafts_go_on() {
    use chronus::model::limits::MAX_SAVES_IN_FLIGHT;
    let mut live = saved_in_slot_1();
    let store = live.ctl().store().clone();
    let held = File::create(store.lock_path(s(1))).unwrap();
    held.lock().unwrap();
    let saved_before = live
        .notices_matching(|n| matches!(n, Notice::Saved { .. }))
        .len();
    let mut refused = 0;
    for i in 0..MAX_SAVES_IN_FLIGHT + 5 {
        set_pattern(
            &mut live,
            &format!("{:b}", i + 1).replace('0', ".").replace('1', "x"),
        );
        let r = live.session.apply(Command::SaveSlot {
            slot: s(1),
            force: false,
        });
        if let Err(e) = r {
            let e = e.to_string();
            assert!(
                e.contains(&format!("at most {MAX_SAVES_IN_FLIGHT} saves")),
                "{e}"
            );
            refused += 1;
        }
    }
    assert_eq!(refused, 5);
    // The saves, and at most one draft job.
    assert!(
        live.ctl().disk_busy() <= MAX_SAVES_IN_FLIGHT + 2,
        "{}",
        live.ctl().disk_busy()
    );
    // Edits go on, and reach the draft while every save waits.
    set_pattern(&mut live, "x.x.x.x.");
    live.ctl_mut().flush_drafts();
    let draft = store.draft_path(s(1));
    let t0 = Instant::now();
    loop {
        live.turn(false);
        if draft.exists() && pattern(&read_slot_file(&draft).unwrap().slot) == "x.x.x.x." {
            break;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(2),
            "the draft waited for the lock"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    assert_eq!(pattern(&store.load(s(1)).unwrap().slot), "x...");
    held.unlock().unwrap();
    live.settle_disk();
    let saved = live.notices_matching(|n| matches!(n, Notice::Saved { .. }));
    assert_eq!(saved.len() - saved_before, MAX_SAVES_IN_FLIGHT);
    // The last save asked for is the file's content; the edit after it stays a draft.
    let last = format!("{:b}", MAX_SAVES_IN_FLIGHT)
        .replace('0', ".")
        .replace('1', "x");
    assert_eq!(pattern(&store.load(s(1)).unwrap().slot), last);
    assert!(live.ctl().is_dirty());
    assert_eq!(pattern(&read_slot_file(&draft).unwrap().slot), "x.x.x.x.");
}

/// A thousand forced draft flushes in a row (a flood of slot switches with edits) keep at
/// most one draft write on the way; the last edit is what the draft holds at the end.
#[test]
fn a_flood_of_draft_writes_keeps_one_on_the_way() {
    let mut live = saved_in_slot_1();
    let mut most = 0;
    for i in 0..1000u32 {
        set_pattern(
            &mut live,
            &format!("{:b}", i + 2).replace('0', ".").replace('1', "x"),
        );
        live.ctl_mut().flush_drafts();
        most = most.max(live.ctl().disk_busy());
        live.turn(false);
    }
    assert!(most <= 2, "{most} disk jobs on the way");
    live.settle_disk();
    let store = live.ctl().store().clone();
    let draft = read_slot_file(&store.draft_path(s(1))).unwrap();
    assert_eq!(pattern(&draft.slot), pattern(live.ctl().song()));
}

/// Chronus was stopped after a save replaced the file and before it removed the draft: at
/// the next start the draft holds what the file holds, so it is removed, not offered back.
#[test]
fn a_draft_equal_to_its_file_is_dropped_at_start() {
    let mut song = Slot::default();
    song.metadata.name = "kept".into();
    song.sequencer
        .tracks
        .push(Track::new("a", "voice1", "x.x."));
    let mut other = song.clone();
    other.sequencer.tracks[0].pattern = "xxxx".into();
    let mut live = Live::start_with(Setup::default(), |root| {
        let store = chronus::store::Store::new(root);
        store.save(s(2), &song).unwrap();
        store.write_draft(s(2), &song).unwrap();
        store.save(s(3), &song).unwrap();
        store.write_draft(s(3), &other).unwrap();
    });
    live.settle_disk();
    let store = live.ctl().store().clone();
    assert!(!live.ctl().has_draft(s(2)));
    assert!(!store.draft_path(s(2)).exists());
    assert!(live.ctl().has_draft(s(3)), "a draft with edits is kept");
    assert!(store.draft_path(s(3)).exists());
}

/// Slot 5 has unsaved edits in drafts/ ("..xx") over its file ("...."); the performer, in
/// slot 1 ("x..."), saves as slot 5, then loads slot 5 before the save reports: its draft's
/// edits play, dirty. The file now holds "x...", so "..xx" must stay in drafts/ — yet the
/// save's draft pre-write replaced it with the song saved, and nothing writes it back (the
/// controller believes the draft file still holds "..xx"). At the next start the draft equals
/// the file and is dropped: the edits are gone.
#[test]
fn a_save_as_does_not_overwrite_the_target_slots_draft() {
    let mut b = Slot::default();
    b.metadata.name = "B".into();
    b.sequencer.tracks.push(Track::new("a", "voice1", "...."));
    let mut d5 = b.clone();
    d5.sequencer.tracks[0].pattern = "..xx".into();
    let mut live = Live::start_with(Setup::default(), |root| {
        let store = chronus::store::Store::new(root);
        store.save(s(5), &b).unwrap();
        store.write_draft(s(5), &d5).unwrap();
    });
    assert!(live.ctl().has_draft(s(5)));
    live.apply(Command::AddTrack(Box::new(Track::new(
        "a", "voice1", "x...",
    ))));
    live.apply(Command::SaveSlot {
        slot: s(1),
        force: false,
    });
    live.session
        .apply(Command::SaveSlot {
            slot: s(5),
            force: true,
        })
        .unwrap();
    live.session
        .apply(Command::LoadSlot {
            slot: s(5),
            immediate: true,
        })
        .unwrap();
    live.settle_disk();
    live.turn(false);
    assert_eq!(pattern(live.ctl().song()), "..xx");
    live.session.shutdown();
    let store = live.ctl().store().clone();
    let file = pattern(&store.load(s(5)).unwrap().slot);
    let draft = store.draft_path(s(5));
    let in_draft = draft
        .exists()
        .then(|| pattern(&read_slot_file(&draft).unwrap().slot));
    assert!(
        file == "..xx" || in_draft.as_deref() == Some("..xx"),
        "slot 5's edits ..xx are nowhere on disk: slot file {file:?}, draft {in_draft:?}"
    );
}

/// Slot 5 has unsaved edits in drafts/; a save-as to slot 5 fails (here its path is a
/// folder; a lock held past 10 s or quitting while it waits do the same). Nothing was saved,
/// so slot 5's draft must still hold its edits, not the song that was not saved.
#[test]
fn a_failed_save_as_leaves_the_target_slots_draft_alone() {
    let mut d5 = Slot::default();
    d5.metadata.name = "five".into();
    d5.sequencer.tracks.push(Track::new("a", "voice1", "..xx"));
    let mut live = Live::start_with(Setup::default(), |root| {
        let store = chronus::store::Store::new(root);
        store.write_draft(s(5), &d5).unwrap();
        std::fs::create_dir_all(store.slot_path(s(5))).unwrap();
    });
    assert!(live.ctl().has_draft(s(5)));
    live.apply(Command::AddTrack(Box::new(Track::new(
        "a", "voice1", "x...",
    ))));
    live.apply(Command::SaveSlot {
        slot: s(1),
        force: false,
    });
    live.apply(Command::SaveSlot {
        slot: s(5),
        force: true,
    });
    assert!(
        live.notices_matching(|n| matches!(n, Notice::SaveFailed { .. }))
            .len()
            == 1
    );
    live.session.shutdown();
    let store = live.ctl().store().clone();
    let draft = read_slot_file(&store.draft_path(s(5))).unwrap().slot;
    assert_eq!(
        pattern(&draft),
        "..xx",
        "slot 5's draft was replaced by a save that did not happen"
    );
}
