//! Playable on stage (issue 13, items 3–5): the real binary in tmux at 120×40 and 80×24,
//! driven with the fewest keys a performer needs, each task's key count asserted. What the
//! keys did is checked in the slot file they save, so the grid's layout at either size does
//! not matter.

use std::fs;
use std::path::Path;
use std::time::{Duration, Instant};

use crate::support::{Tmux, tmux_present};

/// Slot 1: a kick on voice1 and a bass on voice2.
const SLOT_1: &str = r#"{
  "chronus_version": "1.0.0",
  "schema_version": "1.0",
  "metadata": { "name": "Stage" },
  "sequencer": {
    "bpm": 120.0, "swing": 0.0,
    "tracks": {
      "kick": { "name": "kick", "voice_id": "voice1", "pattern": "X...x...X..x..x.",
                "notes": [55.0], "base_amp": 0.5, "filter_freq": 150.0, "gate_frac": 0.2 },
      "bass": { "name": "bass", "voice_id": "voice2", "pattern": "..x...x...x...x.",
                "base_freq": 110.0 }
    }
  }
}
"#;

const SIZES: [(u16, u16); 2] = [(120, 40), (80, 24)];

fn start(dir: &Path, name: &str, (w, h): (u16, u16)) -> Tmux {
    let slots = dir.join("slots");
    fs::create_dir_all(&slots).unwrap();
    fs::write(slots.join("slot_001.json"), SLOT_1).unwrap();
    let tmux = Tmux::new(&format!("{name}-{w}x{h}"));
    tmux.start_sized(dir, &["--no-osc", "--slot", "1"], w, h);
    tmux
}

/// Presses `keys` (one key each), counting them against the task's budget.
fn press(tmux: &Tmux, task: &str, keys: &[&str], budget: usize) {
    assert!(
        keys.len() <= budget,
        "{task}: {} keys, the budget is {budget}",
        keys.len()
    );
    tmux.send(keys);
}

/// Waits until slot `n`'s file exists and `ok` holds for its song.
fn wait_file(tmux: &Tmux, dir: &Path, n: u8, ok: impl Fn(&chronus::model::Slot) -> bool) {
    let path = dir.join(format!("slots/slot_{n:03}.json"));
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let song = fs::read_to_string(&path).ok().and_then(|text| {
            chronus::model::slot::parse_slot(&text, "slot")
                .ok()
                .map(|p| p.slot)
        });
        if song.as_ref().is_some_and(&ok) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {}: {song:?}\nthe screen shows:\n{}",
            path.display(),
            tmux.capture()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn track<'a>(song: &'a chronus::model::Slot, name: &str) -> Option<&'a chronus::model::Track> {
    song.sequencer.tracks.iter().find(|t| t.name == name)
}

#[test]
fn hats_every_other_16th_bpm_128_and_save_to_slot_10_in_few_keys() {
    if !tmux_present() {
        return;
    }
    for size in SIZES {
        let dir = tempfile::tempdir().unwrap();
        let tmux = start(dir.path(), "hats", size);
        // Add a track named hats (the proposed name is selected: typing replaces it), then
        // fill it with a hit every 2 steps (the proposed 4 is replaced the same way).
        let hats = ["a", "h", "a", "t", "s", "Enter", "f", "2", "Enter"];
        press(&tmux, "hats every other 16th", &hats, 10);
        tmux.wait_for("the hats track", |s| s.contains("hats"));
        press(&tmux, "BPM 128", &["b", "1", "2", "8", "Enter"], 5);
        tmux.wait_for("128 BPM", |s| s.contains("128"));
        press(&tmux, "save to slot 10", &["S", "1", "0", "Enter"], 5);
        wait_file(&tmux, dir.path(), 10, |song| {
            song.sequencer.bpm == 128.0
                && track(song, "hats").is_some_and(|t| t.pattern == "x.x.x.x.x.x.x.x.")
        });
        let screen = tmux.wait_for("slot 10 in the header", |s| s.contains("slot 10"));
        assert!(screen.contains("Stage"), "{size:?}\n{screen}");
    }
}

#[test]
fn shortening_then_lengthening_a_track_brings_its_steps_back() {
    if !tmux_present() {
        return;
    }
    for size in SIZES {
        let dir = tempfile::tempdir().unwrap();
        let tmux = start(dir.path(), "polymeter", size);
        // kick is selected: six steps shorter, saved (the file keeps the hidden steps).
        tmux.send(&["<", "<", "<", "<", "<", "<", "C-s"]);
        wait_file(&tmux, dir.path(), 1, |song| {
            track(song, "kick").is_some_and(|t| {
                t.pattern == "X...x...X."
                    && t.extra.get("hidden_steps").and_then(|v| v.as_str()) == Some(".x..x")
            })
        });
        // Six steps longer: the same steps are back.
        tmux.send(&[">", ">", ">", ">", ">", ">", "C-s"]);
        wait_file(&tmux, dir.path(), 1, |song| {
            track(song, "kick").is_some_and(|t| {
                t.pattern == "X...x...X..x..x." && !t.extra.contains_key("hidden_steps")
            })
        });
        // Undo says what it undid.
        tmux.send(&["u"]);
        tmux.wait_for("the undo message", |s| s.contains("undone: length of kick"));
    }
}

#[test]
fn mutes_do_not_dirty_the_slot_and_enter_does_not_quit() {
    if !tmux_present() {
        return;
    }
    for size in SIZES {
        let dir = tempfile::tempdir().unwrap();
        let tmux = start(dir.path(), "mutes", size);
        tmux.send(&["m"]);
        tmux.wait_for("kick muted", |s| s.contains("kick muted"));
        // Clean: quitting asks nothing.
        let screen = tmux.capture();
        assert!(!screen.contains("\"Stage\" *"), "{size:?}\n{screen}");
        // An edit makes it dirty; the quit question is not answered by Enter.
        tmux.send(&["x", "q"]);
        tmux.wait_for("the quit question", |s| s.contains("unsaved drafts"));
        tmux.send(&["Enter"]);
        std::thread::sleep(Duration::from_millis(300));
        assert!(tmux.alive(), "Enter answered the quit question");
        // S saves, then quits; the file holds the edit, and no mute.
        tmux.send(&["S"]);
        tmux.wait_gone("save and quit");
        let text = fs::read_to_string(dir.path().join("slots/slot_001.json")).unwrap();
        eprintln!("{text}");
        assert!(text.contains("\"pattern\": \"x...x..."), "{text}");
        assert!(!text.contains("\"muted\""), "{text}");
    }
}

#[test]
fn the_keyboard_piano_enters_notes_on_the_steps_under_the_cursor() {
    if !tmux_present() {
        return;
    }
    for size in SIZES {
        let dir = tempfile::tempdir().unwrap();
        let tmux = start(dir.path(), "piano", size);
        // Piano on; z plays C3 on step 1 (the accent stays), the cursor moves on, w plays D4
        // on step 2; = takes the lower row an octave up, then z plays C4 on step 3.
        tmux.send(&["Z", "z", "w", "=", "z"]);
        // The grid's title says PIANO, and shows the note each hit plays, in its cell.
        let screen = tmux.wait_for("the notes in the grid", |s| {
            s.contains("PIANO oct 4") && s.contains("C3 D4 C4 ")
        });
        let kick = screen
            .lines()
            .find(|l| l.contains("kick ") && l.contains(" v1 "))
            .unwrap_or_else(|| panic!("no kick row:\n{screen}"));
        assert!(kick.contains("C3 D4 C4 "), "{size:?}\n{kick}");
        assert!(kick.contains("A1"), "{size:?}\n{kick}");
        tmux.send(&["Escape", "C-s"]);
        wait_file(&tmux, dir.path(), 1, |song| {
            track(song, "kick").is_some_and(|t| {
                t.pattern == "Xxx.x...X..x..x."
                    && t.notes.len() == 7
                    && (t.notes[0] - 130.81).abs() < 0.01
                    && (t.notes[1] - 293.66).abs() < 0.01
                    && (t.notes[2] - 261.63).abs() < 0.01
                    && t.notes[3..].iter().all(|&n| n == 55.0)
            })
        });
        tmux.wait_for("the piano off", |s| !s.contains("PIANO"));
    }
}

/// Issue 14's acceptance: build a one-bar fill with a fill condition and trigger it. A new
/// track `roll` whose last four steps are hits with the `fill` condition (the last one a
/// ratchet of 3, set with Alt-Right), fill switched on with `F`: the header says FILL, the
/// cells carry their marks, and the saved file holds the steps map (fill itself is not saved).
#[test]
fn a_one_bar_fill_with_a_fill_condition_is_built_and_triggered() {
    if !tmux_present() {
        return;
    }
    for size in SIZES {
        let dir = tempfile::tempdir().unwrap();
        let tmux = start(dir.path(), "fill", size);
        tmux.send(&["a", "roll", "Enter", "i", "............xxxx", "Enter"]);
        tmux.wait_for("the roll track", |s| s.contains("roll"));
        // Steps 16, 15, 14, 13: the step editor (T), `cond fill`, leave (C-c), one step left.
        tmux.send(&["$", "M-Right", "M-Right"]);
        for _ in 0..4 {
            tmux.send(&["T", "cond fill", "Enter", "C-c", "h"]);
        }
        let screen = tmux.wait_for("four fill marks on the roll row", |s| {
            s.lines()
                .find(|l| l.contains("roll"))
                .is_some_and(|l| l.matches('ᶠ').count() == 4)
        });
        assert!(!screen.lines().next().unwrap().contains("FILL"), "{screen}");
        tmux.send(&["Space", "F"]);
        let screen = tmux.wait_for("FILL in the header while playing", |s| {
            s.lines().next().unwrap_or("").contains("▶ PLAY FILL")
        });
        let header = screen.lines().next().unwrap();
        assert!(
            header.contains("BPM") && header.contains("bar "),
            "{size:?}: {header}"
        );
        assert!(
            screen.contains("fill on"),
            "{size:?}: the message line\n{screen}"
        );
        tmux.send(&["C-s"]);
        wait_file(&tmux, dir.path(), 1, |song| {
            track(song, "roll").is_some_and(|t| {
                t.pattern == "............xxxx"
                    && (13..=16).all(|n| {
                        t.steps.entries.get(&n).is_some_and(|d| {
                            d.cond == Some(chronus::model::steps::Cond::Fill(true))
                                && d.ratchet == (n == 16).then_some(3)
                        })
                    })
            })
        });
        let text = fs::read_to_string(dir.path().join("slots/slot_001.json")).unwrap();
        // Written canonically: entries in step order, keys in the file format's order.
        let steps = r#""steps": {
          "13": {
            "cond": "fill"
          },
          "14": {
            "cond": "fill"
          },
          "15": {
            "cond": "fill"
          },
          "16": {
            "ratchet": 3,
            "cond": "fill"
          }
        }"#;
        assert!(text.contains(steps), "{text}");
        assert!(
            !text.contains("\"fill\": true"),
            "fill mode is not saved: {text}"
        );
        tmux.send(&["F"]);
        tmux.wait_for("FILL gone", |s| {
            !s.lines().next().unwrap_or("").contains("FILL")
        });
        tmux.send(&["Space", "q"]);
    }
}

/// Prepare the next pattern while one plays (issue 14, item 5): Alt-p 2 opens slot 2 beside
/// the playing slot 1, a step set there is saved to slot 2 alone, and Alt-q brings slot 2 in
/// with its edit.
#[test]
fn the_next_slot_is_prepared_while_one_plays_then_queued() {
    if !tmux_present() {
        return;
    }
    for size in SIZES {
        let dir = tempfile::tempdir().unwrap();
        let slot_2 = SLOT_1.replace("\"Stage\"", "\"Next\"");
        fs::create_dir_all(dir.path().join("slots")).unwrap();
        fs::write(dir.path().join("slots/slot_002.json"), slot_2).unwrap();
        let tmux = start(dir.path(), "prepare", size);
        tmux.send(&["Space"]);
        tmux.wait_for("playing", |s| s.contains("PLAY"));
        press(&tmux, "prepare slot 2", &["M-p", "2", "Enter"], 3);
        tmux.wait_for("the prepared slot", |s| s.contains("PREPARING slot 2"));
        // kick's step 2 becomes a hit, saved to slot 2's file; slot 1 is not touched.
        press(&tmux, "set a step and save it", &["l", "x", "C-s"], 3);
        wait_file(&tmux, dir.path(), 2, |song| {
            track(song, "kick").is_some_and(|t| t.pattern == "Xx..x...X..x..x.")
        });
        let one = fs::read_to_string(dir.path().join("slots/slot_001.json")).unwrap();
        assert!(one.contains("\"X...x...X..x..x.\""), "{one}");
        let screen = tmux.capture();
        assert!(
            screen.lines().next().unwrap().contains("slot 1"),
            "{screen}"
        );
        // Queue it: the header says it comes, then that it plays.
        press(&tmux, "queue it", &["M-q"], 1);
        let screen = tmux.wait_for("slot 2 playing", |s| {
            s.lines()
                .next()
                .is_some_and(|l| l.contains("slot 2 \"Next\""))
        });
        assert!(!screen.contains("PREPARING"), "{size:?}\n{screen}");
    }
}
