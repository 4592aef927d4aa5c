//! Hot reload on a real directory with real inotify: the save styles editors use, broken
//! saves, bursts of writes, Chronus's own saves, other slots, conflicts. Each reload is
//! checked end to end: what the controller queued, the bar it applied at, and the rendered
//! audio against an engine driven directly with the same load at the same block.

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use chronus::control::{Command, Controller, Level, Notice};
use chronus::engine::{Engine, EngineEvent, EngineMsg, LoadTiming, Scene};
use chronus::model::slot::{Slot, Track, parse_slot};
use chronus::sources::watch::{QUIET, SlotDiff};
use chronus::store::{SlotNumber, Store};

use crate::support::{Live, Setup};

const RATE: f32 = 48_000.0;
const VOICES: usize = 8;
/// Frames per rendered block; divides a bar, so some loads arrive exactly on a bar line.
const BLOCK: usize = 256;
/// Samples per bar at 120 BPM: 16 steps of 6000 samples.
const BAR: u64 = 96_000;
/// Overall limit of every wait; generous for a loaded 2-core machine.
const TIMEOUT: Duration = Duration::from_secs(10);

fn n(v: u8) -> SlotNumber {
    SlotNumber::new(v).unwrap()
}

/// A two-track song at 120 BPM.
fn song(name: &str, kick: &str, hat: &str) -> Slot {
    let mut s = Slot::default();
    s.metadata.name = name.to_string();
    s.sequencer.tracks.push(Track::new("kick", "voice1", kick));
    let mut hat = Track::new("hat", "voice2", hat);
    hat.base_freq = 3000.0;
    s.sequencer.tracks.push(hat);
    s
}

fn initial_song() -> Slot {
    song("Start", "X...X...X...X...", "..x...x...x...x.")
}

/// The slot a file's text loads as.
fn parsed(text: &str) -> Slot {
    parse_slot(text, "test").expect("valid slot text").slot
}

/// Truncates and rewrites the file in two writes, as most editors do by default.
fn write_in_place(path: &Path, text: &str) {
    let mut f = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .open(path)
        .unwrap();
    let (a, b) = text.split_at(text.len() / 2);
    f.write_all(a.as_bytes()).unwrap();
    f.flush().unwrap();
    f.write_all(b.as_bytes()).unwrap();
}

/// Writes a temp file next to the slot and renames it over the slot (VS Code's atomic save,
/// the `tempfile` crate's `persist`).
fn write_temp_then_rename(path: &Path, text: &str) {
    let dir = path.parent().unwrap();
    let mut tmp = tempfile::NamedTempFile::new_in(dir).unwrap();
    tmp.write_all(text.as_bytes()).unwrap();
    tmp.as_file().sync_all().unwrap();
    tmp.persist(path).unwrap();
}

/// vim with `backupcopy=no`: probe file `4913`, rename the original away to `slot_NNN.json~`,
/// write a new file, delete the backup; the swap file lives next to it throughout.
fn write_like_vim(path: &Path, text: &str) {
    let dir = path.parent().unwrap();
    let name = path.file_name().unwrap().to_str().unwrap();
    let swap = dir.join(format!(".{name}.swp"));
    fs::write(&swap, b"vim swap \x00\x01").unwrap();
    let probe = dir.join("4913");
    fs::write(&probe, b"").unwrap();
    fs::remove_file(&probe).unwrap();
    let backup = dir.join(format!("{name}~"));
    fs::rename(path, &backup).unwrap();
    let mut f = fs::File::create(path).unwrap();
    f.write_all(text.as_bytes()).unwrap();
    f.sync_all().unwrap();
    drop(f);
    fs::remove_file(&backup).unwrap();
    fs::remove_file(&swap).unwrap();
}

/// A session playing slot 3 from a real temp folder with the slot watcher on, as the tracker
/// and headless mode run it, its engine rendered offline block by block.
struct Rig {
    live: Live,
    root: PathBuf,
    /// What slot 3 held when playback started.
    initial: Slot,
    /// Everything rendered so far (interleaved stereo).
    out: Vec<f32>,
    blocks: usize,
    notices: Vec<Notice>,
    /// Snapshots queued from disk: the block rendered next after the queue, and the song.
    loads: Vec<(usize, Slot)>,
    sentinels: u32,
}

impl Rig {
    fn new() -> Rig {
        let setup = Setup {
            rate: RATE as u32,
            voices: VOICES as u8,
            period: BLOCK,
            watch: true,
            ..Setup::default()
        };
        let mut live = Live::start_with(setup, |root| {
            Store::new(root).save(n(3), &initial_song()).unwrap();
        });
        live.apply(Command::LoadSlot {
            slot: n(3),
            immediate: true,
        });
        live.apply(Command::Play);
        let initial = live.ctl().song().clone();
        let root = live.root.clone();
        let mut rig = Rig {
            live,
            root,
            initial,
            out: Vec::new(),
            blocks: 0,
            notices: Vec::new(),
            loads: Vec::new(),
            sentinels: 0,
        };
        // The first block reports the initial load; only later notices matter.
        rig.turn(true);
        rig.notices.clear();
        rig
    }

    fn ctl(&self) -> &Controller {
        self.live.ctl()
    }

    fn path(&self, slot: u8) -> PathBuf {
        Store::new(&self.root).slot_path(n(slot))
    }

    /// Takes in a turn's notices; a reload from disk records the song it queued.
    fn take(&mut self, notices: Vec<Notice>) {
        for n in &notices {
            if let Notice::DiskReloaded { .. } = n {
                let ctl = self.live.ctl();
                let song = ctl.queued().map_or(ctl.song(), |q| q.song).clone();
                self.loads.push((self.blocks, song));
            }
        }
        self.notices.extend(notices);
    }

    /// One control-loop turn, optionally rendering one block first.
    fn turn(&mut self, render: bool) {
        if render {
            let mut buf = vec![0.0; 2 * BLOCK];
            self.live.runner.render(&mut buf);
            self.out.extend_from_slice(&buf);
            self.blocks += 1;
        }
        let notices = self.live.turn(false);
        self.take(notices);
    }

    /// Applies a command (and waits for its file work), taking in its notices.
    fn apply(&mut self, cmd: Command) -> Option<String> {
        let before = self.live.notices.len();
        let r = self.live.apply(cmd);
        let notices = self.live.notices[before..]
            .iter()
            .map(|(_, n)| n.clone())
            .collect();
        self.take(notices);
        r
    }

    /// Settles a conflict the way the screen's key binding would.
    fn resolve(&mut self, take_file: bool) {
        self.apply(Command::ResolveConflict { take_file });
    }

    /// Reloads of the playing slot from disk so far.
    fn reloads(&self) -> usize {
        self.notices
            .iter()
            .filter(|n| matches!(n, Notice::DiskReloaded { .. }))
            .count()
    }

    /// What the latest reload from disk changed.
    fn last_diff(&self) -> Option<&SlotDiff> {
        self.notices.iter().rev().find_map(|n| match n {
            Notice::DiskReloaded { diff, .. } => Some(diff),
            _ => None,
        })
    }

    /// Renders and polls until `cond` holds; fails after [`TIMEOUT`].
    fn wait_for(&mut self, what: &str, cond: impl Fn(&Rig) -> bool) {
        let deadline = Instant::now() + TIMEOUT;
        while !cond(self) {
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {what}; notices: {:#?}",
                self.notices
            );
            self.turn(true);
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    /// Keeps the loop running for at least `d` of wall time (for "nothing else happens").
    fn idle(&mut self, d: Duration) {
        let until = Instant::now() + d;
        while Instant::now() < until {
            self.turn(true);
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    /// What the message line would say at `level`, in order (messages, and the notices
    /// about files on disk as `describe` words them).
    fn messages(&self, level: Level) -> Vec<String> {
        self.notices
            .iter()
            .filter_map(|n| {
                let l = match n {
                    Notice::Message(l, _) => *l,
                    Notice::DiskConflict { .. } => Level::Warning,
                    Notice::SaveFailed { .. } => Level::Error,
                    Notice::DiskReloaded { .. } | Notice::SlotFileFixed { .. } => Level::Info,
                    _ => return None,
                };
                (l == level).then(|| self.ctl().describe(n)).flatten()
            })
            .collect()
    }

    fn queued_from_disk(&self) -> Vec<u64> {
        self.notices
            .iter()
            .filter_map(|n| match n {
                Notice::SlotQueued {
                    slot,
                    bar,
                    from_disk: true,
                } if slot.get() == 3 => Some(*bar),
                _ => None,
            })
            .collect()
    }

    fn applied_bars(&self) -> Vec<u64> {
        self.notices
            .iter()
            .filter_map(|n| match n {
                Notice::SlotApplied { slot, bar } if slot.get() == 3 => Some(*bar),
                _ => None,
            })
            .collect()
    }

    fn bar_sample(&self, bar: u64) -> Option<u64> {
        self.notices.iter().find_map(|n| match n {
            Notice::Bar { bar: b, sample } if *b == bar => Some(*sample),
            _ => None,
        })
    }

    /// Waits until the watcher has acted on a change to another slot: events are delivered in
    /// order, so every earlier change to slot 3 has been acted on by then too.
    fn sentinel(&mut self) {
        self.sentinels += 1;
        let name = format!("Sentinel {}", self.sentinels);
        fs::write(self.path(99), song(&name, "X", "x").to_json()).unwrap();
        let expect = format!("slot 99 {name:?} changed on disk");
        self.wait_for("the sentinel", |r| {
            r.messages(Level::Info).contains(&expect)
        });
    }
}

/// Slots marked as changed on disk.
fn changed_slots(rig: &Rig) -> Vec<SlotNumber> {
    (1..=128)
        .map(n)
        .filter(|&s| rig.ctl().changed_on_disk(s))
        .collect()
}

/// Replays the rig's history on an engine driven directly: the initial immediate load and
/// Play before block 0, each disk load before its block. Returns the output and the events.
fn reference(rig: &Rig) -> (Vec<f32>, Vec<EngineEvent>) {
    let mut e = Engine::new(RATE, VOICES);
    e.handle(EngineMsg::Load {
        scene: Box::new(Scene::from_slot(&rig.initial, VOICES)),
        timing: LoadTiming::Immediate,
        slot: 3,
    });
    e.handle(EngineMsg::Play);
    let mut out = Vec::with_capacity(rig.out.len());
    let mut events = Vec::new();
    let mut buf = vec![0.0; 2 * BLOCK];
    for block in 0..rig.blocks {
        for (_, song) in rig.loads.iter().filter(|(b, _)| *b == block) {
            e.handle(EngineMsg::Load {
                scene: Box::new(Scene::from_slot(song, VOICES)),
                timing: LoadTiming::NextBar,
                slot: 3,
            });
        }
        e.process(&mut buf);
        out.extend_from_slice(&buf);
        while let Some(ev) = e.pop_event() {
            if !ev.is_meter() {
                events.push(ev);
            }
        }
        while e.pop_garbage().is_some() {}
    }
    (out, events)
}

fn assert_same_audio(rig: &Rig, reference: &[f32]) {
    assert_eq!(rig.out.len(), reference.len());
    if let Some(i) = rig
        .out
        .iter()
        .zip(reference)
        .position(|(a, b)| a.to_bits() != b.to_bits())
    {
        panic!(
            "output differs from the reference at frame {} ({} vs {})",
            i / 2,
            rig.out[i],
            reference[i]
        );
    }
    assert!(
        reference.iter().any(|x| x.abs() > 1e-3),
        "the reference is silent"
    );
}

/// Exactly one snapshot of slot 3 was queued from disk, it is `expected`, and it applied at
/// the first sample of the bar the controller announced.
fn assert_one_reload(rig: &mut Rig, expected: &Slot) {
    let queued = rig.queued_from_disk();
    assert_eq!(queued.len(), 1, "notices: {:#?}", rig.notices);
    assert_eq!(rig.loads.len(), 1);
    assert_eq!(rig.reloads(), 1);
    assert_eq!(&rig.loads[0].1, expected);
    assert_eq!(rig.ctl().queued().map(|q| q.song), Some(expected));
    let bar = queued[0];
    rig.wait_for("the queued slot to apply", |r| !r.applied_bars().is_empty());
    assert_eq!(rig.ctl().song(), expected);
    assert!(!rig.ctl().is_dirty());
    assert_eq!(rig.applied_bars(), [bar]);
    assert_eq!(rig.bar_sample(bar), Some(bar * BAR));

    let (out, events) = reference(rig);
    let applied: Vec<(u64, u64)> = events
        .iter()
        .filter_map(|e| match e {
            EngineEvent::Applied {
                slot: 3,
                bar,
                sample,
            } => Some((*bar, *sample)),
            _ => None,
        })
        .collect();
    // The initial immediate load, then the reload at the first sample of its bar.
    assert_eq!(applied, [(0, 0), (bar, bar * BAR)]);
    assert_same_audio(rig, &out);

    let diff = rig.last_diff().expect("a diff of the reload");
    let line = format!("slot 3: {}", diff.describe());
    assert!(rig.messages(Level::Info).contains(&line), "{line}");
    assert!(
        rig.messages(Level::Error).is_empty(),
        "{:?}",
        rig.messages(Level::Error)
    );
}

/// The new version used by the save-style tests: a changed kick, a new bass track, faster.
fn edited_text() -> String {
    let mut s = song("Edited", "X.x.X...X.x.X..X", "..x...x...x...x.");
    s.sequencer
        .tracks
        .push(Track::new("bass", "voice3", "x..x..x."));
    s.to_json()
}

fn check_save_style(save: fn(&Path, &str)) {
    let mut rig = Rig::new();
    rig.idle(Duration::from_millis(20));
    let text = edited_text();
    save(&rig.path(3), &text);
    rig.wait_for("the reload", |r| r.reloads() > 0);
    let expected = parsed(&text);
    assert_one_reload(&mut rig, &expected);
    let diff = rig.last_diff().unwrap();
    assert_eq!(diff.tracks_added, ["bass"]);
    assert_eq!(diff.steps_changed, [("kick".to_string(), vec![2, 10, 15])]);
    assert_eq!(diff.name_changed.as_deref(), Some("Edited"));
    assert!(diff.params_changed.is_empty() && diff.tempo_changed.is_none());
}

#[test]
fn an_in_place_write_reloads_at_the_next_bar() {
    check_save_style(write_in_place);
}

#[test]
fn a_temp_file_renamed_over_the_slot_reloads_at_the_next_bar() {
    check_save_style(write_temp_then_rename);
}

#[test]
fn a_vim_save_reloads_once_at_the_next_bar() {
    check_save_style(write_like_vim);
}

#[test]
fn a_half_written_file_followed_by_the_complete_one_queues_the_complete_one() {
    let mut rig = Rig::new();
    let text = edited_text();
    // The editor stalls between the halves for longer than the quiet period.
    fs::write(rig.path(3), &text[..text.len() / 2]).unwrap();
    rig.wait_for("the syntax error", |r| !r.messages(Level::Error).is_empty());
    let err = rig.messages(Level::Error)[0].to_string();
    let file = rig.path(3).display().to_string();
    let half = &text[..text.len() / 2];
    let line = half.matches('\n').count() + 1;
    assert!(
        err.starts_with(
            "slot 3 changed on disk but does not load — the last good version keeps playing: "
        ),
        "{err}"
    );
    assert!(err.contains(&format!("{file}:{line}:")), "{err}");
    assert!(err.contains("syntax error"), "{err}");
    assert!(rig.queued_from_disk().is_empty());
    assert_eq!(*rig.ctl().song(), rig.initial);

    fs::write(rig.path(3), &text).unwrap();
    rig.wait_for("the reload", |r| r.reloads() > 0);
    let expected = parsed(&text);
    rig.notices
        .retain(|n| !matches!(n, Notice::Message(Level::Error, _)));
    assert_one_reload(&mut rig, &expected);
}

#[test]
fn halves_written_within_the_quiet_period_are_one_reload_without_an_error() {
    let mut rig = Rig::new();
    let text = edited_text();
    let path = rig.path(3);
    let mut f = OpenOptions::new()
        .write(true)
        .truncate(true)
        .open(&path)
        .unwrap();
    f.write_all(&text.as_bytes()[..text.len() / 2]).unwrap();
    f.flush().unwrap();
    rig.turn(true);
    f.write_all(&text.as_bytes()[text.len() / 2..]).unwrap();
    drop(f);
    rig.wait_for("the reload", |r| r.reloads() > 0);
    assert_one_reload(&mut rig, &parsed(&text));
}

#[test]
fn fifty_writes_within_200_ms_are_one_reload_of_the_final_content() {
    let mut rig = Rig::new();
    let path = rig.path(3);
    let texts: Vec<String> = (0..50)
        .map(|i| {
            let mut kick: Vec<u8> = b"X...X...X...X...".to_vec();
            kick[i % 16] = if i % 2 == 0 { b'x' } else { b'X' };
            let mut s = song(
                &format!("Take {i}"),
                std::str::from_utf8(&kick).unwrap(),
                "..x...x...x...x.",
            );
            s.sequencer.tracks[1].base_amp = 0.1 + i as f64 * 0.01;
            s.to_json()
        })
        .collect();
    let started = Instant::now();
    for (i, text) in texts.iter().enumerate() {
        // Alternate the save styles; the control loop keeps polling between writes.
        if i % 2 == 0 {
            write_in_place(&path, text);
        } else {
            write_temp_then_rename(&path, text);
        }
        let next = started + Duration::from_millis(4 * (i as u64 + 1));
        while Instant::now() < next {
            rig.turn(false);
            std::thread::yield_now();
        }
    }
    assert!(
        started.elapsed() < Duration::from_millis(400),
        "{:?}",
        started.elapsed()
    );
    rig.wait_for("the reload", |r| r.reloads() > 0);
    rig.sentinel();
    assert_one_reload(&mut rig, &parsed(&texts[49]));
    assert_eq!(rig.ctl().song().metadata.name, "Take 49");
}

#[test]
fn a_save_by_chronus_itself_does_not_reload() {
    let mut rig = Rig::new();
    // A metadata edit sends the engine nothing, so the audio must match the reference exactly.
    rig.apply(Command::SetName("Saved here".into()));
    assert!(rig.ctl().is_dirty());
    rig.apply(Command::SaveSlot {
        slot: n(3),
        force: false,
    });
    rig.live.settle_disk();
    rig.turn(false);
    rig.sentinel();
    rig.idle(2 * QUIET);
    assert!(rig.queued_from_disk().is_empty(), "{:#?}", rig.notices);
    assert_eq!(rig.reloads(), 0);
    assert_eq!(rig.ctl().pending_conflict(), None);
    assert!(!rig.ctl().changed_on_disk(n(3)));
    assert!(rig.messages(Level::Warning).is_empty() && rig.messages(Level::Error).is_empty());
    assert_eq!(rig.ctl().song().metadata.name, "Saved here");
    let (out, events) = reference(&rig);
    assert_same_audio(&rig, &out);
    assert_eq!(
        events
            .iter()
            .filter(|e| matches!(e, EngineEvent::Applied { .. }))
            .count(),
        1
    );

    // An editor's save afterwards is still heard.
    rig.notices.clear();
    let text = edited_text();
    write_in_place(&rig.path(3), &text);
    rig.wait_for("the reload", |r| r.reloads() > 0);
    let expected = parsed(&text);
    assert_one_reload(&mut rig, &expected);
    assert!(
        !rig.ctl().changed_on_disk(n(3)),
        "a reload is a read by Chronus"
    );
}

#[test]
fn broken_saves_keep_the_previous_pattern_playing() {
    let mut rig = Rig::new();
    rig.idle(Duration::from_millis(10));
    let text = edited_text();
    // Valid JSON, invalid slot: a word where the tempo goes.
    let wrong_type = text.replacen("\"bpm\": 120.0", "\"bpm\": \"fast\"", 1);
    assert_ne!(wrong_type, text);
    write_temp_then_rename(&rig.path(3), &wrong_type);
    rig.wait_for("the error", |r| !r.messages(Level::Error).is_empty());
    let err = rig.messages(Level::Error)[0].to_string();
    assert!(err.contains(&rig.path(3).display().to_string()), "{err}");
    assert!(err.contains("sequencer.bpm"), "{err}");

    write_in_place(&rig.path(3), "{ \"sequencer\": { \"tracks\": ");
    rig.wait_for("the second error", |r| r.messages(Level::Error).len() == 2);
    let err = rig.messages(Level::Error)[1].to_string();
    assert!(
        err.contains(&format!("{}:1:", rig.path(3).display())),
        "{err}"
    );

    // Two more bars on the old pattern, sample for sample the same as without the bad saves.
    let bar = rig.ctl().status().bar;
    rig.wait_for("two more bars", |r| r.ctl().status().bar >= bar + 2);
    assert!(rig.loads.is_empty());
    assert_eq!(*rig.ctl().song(), rig.initial);
    assert_eq!(rig.ctl().status().queued, None);
    let (out, _) = reference(&rig);
    assert_same_audio(&rig, &out);

    // The next good save is picked up.
    write_in_place(&rig.path(3), &text);
    rig.wait_for("the reload", |r| r.reloads() > 0);
    rig.notices
        .retain(|n| !matches!(n, Notice::Message(Level::Error, _)));
    assert_one_reload(&mut rig, &parsed(&text));
}

#[test]
fn another_slot_changing_refreshes_the_browser_only() {
    let mut rig = Rig::new();
    assert!(!rig.ctl().changed_on_disk(n(5)));
    let mut dub = song("Dub 90", "X.......X.......", "....x.......x...");
    dub.sequencer.bpm = 90.0;
    write_temp_then_rename(&rig.path(5), &dub.to_json());
    rig.wait_for("the refresh", |r| r.ctl().changed_on_disk(n(5)));
    assert_eq!(changed_slots(&rig), [n(5)]);
    assert!(
        rig.messages(Level::Info)
            .iter()
            .any(|m| m == "slot 5 \"Dub 90\" changed on disk")
    );
    assert!(rig.queued_from_disk().is_empty());
    assert_eq!(rig.reloads(), 0);
    assert_eq!(*rig.ctl().song(), rig.initial);
    assert_eq!(rig.ctl().slot(), Some(n(3)));
    assert_eq!(
        rig.ctl()
            .slot_files()
            .find(|i| i.number == n(5))
            .map(|i| i.bpm),
        Some(90.0)
    );
}

#[test]
fn editor_and_store_side_files_are_ignored() {
    let mut rig = Rig::new();
    let dir = rig.root.join("slots");
    for name in [
        ".slot_003.json.swp",
        "slot_003.json~",
        "4913",
        ".#slot_003.json",
        "slot_003.json.tmp",
        ".slot_003.json.tmp-1-1",
        ".slot_003.lock",
        "notes.txt",
    ] {
        fs::write(dir.join(name), "{ not a slot").unwrap();
    }
    fs::rename(dir.join("slot_003.json~"), dir.join("slot_004.json.bak")).unwrap();
    rig.sentinel();
    assert_eq!(changed_slots(&rig), [n(99)], "{:#?}", rig.notices);
    assert!(rig.messages(Level::Error).is_empty() && rig.messages(Level::Warning).is_empty());
    assert_eq!(rig.reloads(), 0);
}

#[test]
fn a_change_under_unsaved_edits_asks_and_can_take_the_file() {
    let mut rig = Rig::new();
    rig.apply(Command::SetName("my edit".into()));
    let text = edited_text();
    write_in_place(&rig.path(3), &text);
    rig.wait_for("the conflict", |r| r.ctl().pending_conflict().is_some());
    assert_eq!(rig.ctl().pending_conflict(), Some(n(3)));
    assert_eq!(
        rig.messages(Level::Warning),
        [
            "slot 3 changed on disk while you have unsaved edits — take the file's version or keep yours"
        ]
    );
    rig.idle(2 * QUIET);
    assert!(rig.queued_from_disk().is_empty());
    assert_eq!(rig.ctl().song().metadata.name, "my edit");

    rig.resolve(true);
    assert_eq!(rig.ctl().pending_conflict(), None);
    rig.notices
        .retain(|n| !matches!(n, Notice::Message(Level::Warning, _)));
    assert_one_reload(&mut rig, &parsed(&text));
    // The screen's edit is one undo away.
    rig.apply(Command::Undo);
    assert_eq!(rig.ctl().song().metadata.name, "my edit");
}

#[test]
fn keeping_the_screen_edits_is_not_asked_again_for_the_same_file() {
    let mut rig = Rig::new();
    rig.apply(Command::SetName("my edit".into()));
    let text = edited_text();
    write_in_place(&rig.path(3), &text);
    rig.wait_for("the conflict", |r| r.ctl().pending_conflict().is_some());
    rig.resolve(false);
    assert_eq!(rig.ctl().pending_conflict(), None);
    assert!(rig.ctl().is_dirty());
    assert_eq!(rig.ctl().song().metadata.name, "my edit");

    // The same bytes written again: not asked again.
    write_temp_then_rename(&rig.path(3), &text);
    rig.sentinel();
    assert_eq!(rig.ctl().pending_conflict(), None);
    assert_eq!(rig.messages(Level::Warning).len(), 1);

    // A different version is asked about.
    write_in_place(&rig.path(3), &text.replace("Edited", "Edited again"));
    rig.wait_for("the second conflict", |r| {
        r.ctl().pending_conflict().is_some()
    });
    assert_eq!(rig.messages(Level::Warning).len(), 2);
    assert!(rig.loads.is_empty() && rig.queued_from_disk().is_empty());

    // Saving the screen's version settles it.
    rig.apply(Command::SaveSlot {
        slot: n(3),
        force: false,
    });
    rig.live.settle_disk();
    rig.turn(true);
    assert_eq!(rig.ctl().pending_conflict(), None);
    rig.sentinel();
    assert_eq!(rig.reloads(), 0);
    let (out, _) = reference(&rig);
    assert_same_audio(&rig, &out);
}

#[test]
fn a_tempo_edit_is_described_and_applies_on_the_bar() {
    let mut rig = Rig::new();
    let mut s = initial_song();
    s.sequencer.bpm = 140.0;
    s.params.set(
        chronus::model::ParamId::acid(chronus::model::registry::acid::CUTOFF),
        800.0,
    );
    let text = s.to_json();
    write_temp_then_rename(&rig.path(3), &text);
    rig.wait_for("the reload", |r| r.reloads() > 0);
    assert_one_reload(&mut rig, &parsed(&text));
    assert_eq!(
        rig.messages(Level::Info).last().map(String::as_str),
        Some("slot 3: tempo 120 → 140; acid1/cutoff")
    );
}

/// Delay from the rename of a new version over the playing slot to its snapshot being
/// queued, over 200 saves. Run with `cargo test --test it watch::reload_latency -- --ignored
/// --nocapture`; it reports figures and asserts none (timing is not a test).
#[test]
#[ignore]
fn reload_latency() {
    let mut rig = Rig::new();
    let path = rig.path(3);
    let dir = path.parent().unwrap().to_path_buf();
    let mut delays = Vec::new();
    for i in 0..200 {
        let mut s = initial_song();
        s.metadata.name = format!("Take {i}");
        s.sequencer.tracks[0].pattern = if i % 2 == 0 {
            "X...X...X...X.x."
        } else {
            "X...X...X...X..."
        }
        .into();
        let tmp = dir.join(format!(".edit{i}.tmp"));
        fs::write(&tmp, s.to_json()).unwrap();
        let before = rig.reloads();
        let t0 = Instant::now();
        fs::rename(&tmp, &path).unwrap();
        while rig.reloads() == before {
            assert!(t0.elapsed() < TIMEOUT);
            rig.turn(true);
            std::thread::sleep(Duration::from_micros(250));
        }
        delays.push(t0.elapsed());
        rig.idle(Duration::from_millis(5));
    }
    delays.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    println!(
        "rename → queued over {} saves (quiet period {} ms): p50 {:.1} ms, p95 {:.1} ms, max {:.1} ms",
        delays.len(),
        QUIET.as_millis(),
        ms(delays[delays.len() / 2]),
        ms(delays[delays.len() * 95 / 100]),
        ms(delays[delays.len() - 1])
    );
}

/// `chronus headless` reloads the playing slot the same way and says so on `--events json`.
#[test]
fn headless_reloads_the_playing_slot_and_reports_it() {
    use std::io::BufRead;
    use std::process::{Command as Process, Stdio};

    let dir = tempfile::tempdir().unwrap();
    let store = Store::new(dir.path());
    store.save(n(3), &initial_song()).unwrap();
    let mut child = Process::new(env!("CARGO_BIN_EXE_chronus"))
        .arg("--patterns")
        .arg(dir.path())
        .args(["headless", "--slot", "3", "--no-audio", "--seconds", "60"])
        .args(["--events", "json", "--osc-port", "0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel::<serde_json::Value>();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
        {
            if let Ok(v) = serde_json::from_str(&line)
                && tx.send(v).is_err()
            {
                break;
            }
        }
    });
    let mut seen = Vec::new();
    let mut next_event = |want: &dyn Fn(&serde_json::Value) -> bool| -> serde_json::Value {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match rx.recv_timeout(left) {
                Ok(v) if want(&v) => return v,
                Ok(v) => seen.push(v),
                Err(_) => panic!("no such event; got {seen:#?}"),
            }
        }
    };
    let is = |name: &'static str| move |v: &serde_json::Value| v["event"] == name;
    // The loop (and the watcher) runs once the first bar is reported.
    next_event(&is("bar"));

    let text = edited_text();
    write_temp_then_rename(&store.slot_path(n(3)), &text);
    let queued = next_event(&is("slot_queued"));
    assert_eq!(queued["slot"], 3);
    assert_eq!(queued["from_disk"], true);
    let diff = next_event(&is("disk_reloaded"));
    assert_eq!(diff["slot"], 3);
    assert_eq!(
        diff["changes"],
        "renamed to \"Edited\"; added bass; kick steps 3, 11, 16"
    );
    let applied = next_event(&is("slot_applied"));
    assert_eq!(applied["bar"], queued["bar"]);

    write_in_place(&store.slot_path(n(3)), "{ \"sequencer\": ");
    let error = next_event(&is("error"));
    let message = error["message"].as_str().unwrap();
    assert!(
        message.contains("the last good version keeps playing"),
        "{message}"
    );
    assert!(
        message.contains(&format!("{}:1:", store.slot_path(n(3)).display())),
        "{message}"
    );

    child.kill().unwrap();
    child.wait().unwrap();
}
