//! On stage: the real binary in a real terminal (tmux), driven key by key as a performer
//! would, checking what the screen shows and what lands on disk.
//!
//! Each test starts `chronus --no-audio --patterns <tempdir>` in its own tmux server (a
//! unique `-L` socket) at 120×40 and polls the screen; nothing asserts on time.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command as Process;
use std::time::{Duration, Instant};

use crate::support::{Tmux, tmux_present};

/// A slot file: one song with a distinctive first track, at `bpm`.
fn song(name: &str, bpm: f64, track: &str, pattern: &str) -> String {
    format!(
        r#"{{
  "chronus_version": "1.0.0",
  "schema_version": "1.0",
  "metadata": {{ "name": "{name}" }},
  "sequencer": {{
    "bpm": {bpm:.1}, "swing": 0.0,
    "tracks": {{
      "{track}": {{ "name": "{track}", "voice_id": "voice1", "pattern": "{pattern}",
                "notes": [55.0], "base_amp": 0.5, "filter_freq": 150.0, "gate_frac": 0.2 }},
      "hat": {{ "name": "hat", "voice_id": "voice3", "pattern": "..x...x...x...x.",
               "base_freq": 8000.0, "base_amp": 0.15 }}
    }}
  }}
}}
"#
    )
}

/// The first track's pattern in every fixture.
const PATTERN: &str = "X...X...X...X...";
/// How the grid draws it: three columns a step, a beat's four steps grouped; each hit shows
/// the note it plays (the track's one note, 55 Hz = A1), an accent in bold.
const PATTERN_CELLS: &str = "A1 .  .  .   A1 .  .  .";
/// After `l x` (step 2 a hit).
const EDIT_1: &str = "Xx..X...X...X...";
const EDIT_1_CELLS: &str = "A1 A1 .  .   A1 .  .  .";
/// After `l x X` (step 2 a hit, step 3 an accent: step entry moves on by the edit step).
const EDIT_2: &str = "XxX.X...X...X...";
const EDIT_2_CELLS: &str = "A1 A1 A1 .   A1 .  .  .";

fn write_slot(dir: &Path, n: u8, text: &str) -> PathBuf {
    let slots = dir.join("slots");
    fs::create_dir_all(&slots).unwrap();
    let path = slots.join(format!("slot_{n:03}.json"));
    fs::write(&path, text).unwrap();
    path
}

/// Writes like an editor does: a temporary file beside it, then a rename over it.
fn save_like_an_editor(path: &Path, text: &str) {
    let tmp = path.with_extension("json.tmp~");
    fs::write(&tmp, text).unwrap();
    fs::rename(&tmp, path).unwrap();
}

impl Tmux {
    /// Waits until the playhead is in beat 2 or 3 of the bar, so a slot queued now has at
    /// least a beat to wait and the bar has not turned yet.
    fn wait_mid_bar(&self) -> String {
        self.wait_for("the playhead mid-bar", |s| {
            matches!(beat_in_bar(s), Some(2 | 3))
        })
    }
}

/// Polls `ok` (on disk, say) until it holds, or fails after a timeout.
fn wait_until(what: &str, ok: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !ok() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The transport line (the one with the tempo and the slot).
fn header(screen: &str) -> &str {
    screen
        .lines()
        .find(|l| l.contains(" BPM") && l.contains("  bar "))
        .unwrap_or_else(|| panic!("no transport line:\n{screen}"))
}

/// The beat (1–4) of `bar B.b.s` in the transport line.
fn beat_in_bar(screen: &str) -> Option<u32> {
    let line = screen
        .lines()
        .find(|l| l.contains(" BPM") && l.contains("  bar "))?;
    let pos = line.split("  bar ").nth(1)?;
    pos.split('.').nth(1)?.parse().ok()
}

/// The grid row of `track` (its name then its voice column).
fn track_row<'a>(screen: &'a str, track: &str) -> Option<&'a str> {
    screen
        .lines()
        .find(|l| l.contains(&format!("{track} ")) && l.contains(" v1 "))
}

/// Whether the grid shows `track` playing `cells`.
fn grid_shows(screen: &str, track: &str, cells: &str) -> bool {
    track_row(screen, track).is_some_and(|l| l.contains(cells))
}

/// The browser's marks before slot `n`'s number: (playing/queued, draft/changed-on-disk).
fn browser_marks(screen: &str, n: u8) -> Option<(char, char)> {
    let num = format!("{n:>3} ");
    for line in screen.lines() {
        let chars: Vec<char> = line.chars().collect();
        let numc: Vec<char> = num.chars().collect();
        // The browser is the right-hand panel; search from the right so the grid's ruler
        // and steps are not taken for it.
        for i in (3..chars.len().saturating_sub(numc.len()) + 1).rev() {
            if chars[i..i + numc.len()] != numc[..] {
                continue;
            }
            let (cursor, m1, m2) = (chars[i - 3], chars[i - 2], chars[i - 1]);
            if matches!(cursor, '▸' | ' ')
                && matches!(m1, '▶' | '→' | ' ')
                && matches!(m2, '*' | '~' | ' ')
                && (i < 4 || chars[i - 4] == '│')
            {
                return Some((m1, m2));
            }
        }
    }
    None
}

/// The message line under the panels (a long message wraps onto a second line), as one text.
fn message_line(screen: &str) -> String {
    let lines: Vec<&str> = screen.lines().collect();
    let last_panel = lines
        .iter()
        .rposition(|l| l.starts_with('╰'))
        .map_or(0, |i| i + 1);
    lines[last_panel..]
        .iter()
        .map(|l| l.trim())
        .collect::<Vec<_>>()
        .join(" ")
}

fn parse(path: &Path) -> chronus::model::Slot {
    let text = fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    chronus::model::slot::parse_slot(&text, &path.file_name().unwrap().to_string_lossy())
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .slot
}

// ---------------------------------------------------------------- the acceptance tests

#[test]
fn save_as_slot_20_then_ctrl_s_writes_20_and_the_header_says_20() {
    if !tmux_present() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let slot_1 = song("Acid Line", 128.0, "kick", PATTERN);
    let path_1 = write_slot(dir.path(), 1, &slot_1);
    let tmux = Tmux::new("save20");
    tmux.start(dir.path(), &["--no-osc"]);

    tmux.send(&["l", "x"]);
    tmux.wait_for("the first edit", |s| {
        grid_shows(s, "kick", EDIT_1_CELLS) && header(s).contains("slot 1 \"Acid Line\" *")
    });
    tmux.send(&["S", "C-u", "20", "Enter"]);
    let screen = tmux.wait_for("slot 20 in the header", |s| {
        header(s).contains("slot 20 \"Acid Line\"")
    });
    assert!(
        !header(&screen).contains("\" *"),
        "saved means clean:\n{screen}"
    );
    wait_until("slot_020.json with the first edit", || {
        let p = dir.path().join("slots/slot_020.json");
        p.exists() && parse(&p).sequencer.tracks[0].pattern == EDIT_1
    });

    // The edit now lives in slot 20's file: neither slot keeps a draft, even once the
    // drafts' debounce has run out.
    std::thread::sleep(Duration::from_millis(600));
    let screen = tmux.capture();
    assert!(
        !dir.path().join("drafts/slot_001.json").exists(),
        "slot 1's draft outlives the save to slot 20"
    );
    assert!(!dir.path().join("drafts/slot_020.json").exists());
    assert_eq!(browser_marks(&screen, 20), Some(('▶', ' ')), "{screen}");

    tmux.send(&["X"]);
    tmux.wait_for("the second edit, dirty", |s| {
        grid_shows(s, "kick", EDIT_2_CELLS) && header(s).contains("slot 20 \"Acid Line\" *")
    });
    tmux.send(&["C-s"]);
    let screen = tmux.wait_for("the save to the current slot", |s| {
        let h = header(s);
        h.contains("slot 20 \"Acid Line\"") && !h.contains("\" *")
    });
    assert!(grid_shows(&screen, "kick", EDIT_2_CELLS), "{screen}");
    wait_until("slot_020.json with the second edit", || {
        parse(&dir.path().join("slots/slot_020.json"))
            .sequencer
            .tracks[0]
            .pattern
            == EDIT_2
    });
    assert_eq!(
        fs::read_to_string(&path_1).unwrap(),
        slot_1,
        "slot 1's file must be untouched"
    );
    std::thread::sleep(Duration::from_millis(600));
    assert!(!dir.path().join("drafts/slot_020.json").exists());
    assert!(!dir.path().join("drafts/slot_001.json").exists());
    let saved = parse(&dir.path().join("slots/slot_020.json"));
    assert_eq!(saved.metadata.name, "Acid Line");
    assert_eq!(saved.sequencer.tracks[1].pattern, "..x...x...x...x.");
}

#[test]
fn an_edit_survives_loading_another_slot_and_coming_back() {
    if !tmux_present() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    write_slot(dir.path(), 4, &song("Four Floor", 124.0, "four", PATTERN));
    write_slot(dir.path(), 5, &song("Five Alive", 132.0, "five", PATTERN));
    let tmux = Tmux::new("draft45");
    let screen = tmux.start(dir.path(), &["--no-osc", "--slot", "4"]);
    assert!(
        header(&screen).contains("slot 4 \"Four Floor\""),
        "{screen}"
    );

    tmux.send(&["l", "x"]);
    tmux.wait_for("the edit on slot 4", |s| {
        grid_shows(s, "four", EDIT_1_CELLS) && header(s).contains("slot 4 \"Four Floor\" *")
    });
    // Stopped: the slot loads at once.
    tmux.send(&["5"]);
    let screen = tmux.wait_for("slot 5", |s| {
        header(s).contains("slot 5 \"Five Alive\"") && track_row(s, "five").is_some()
    });
    assert!(
        !header(&screen).contains("\" *"),
        "slot 5 is clean:\n{screen}"
    );
    assert_eq!(
        browser_marks(&screen, 4).map(|m| m.1),
        Some('*'),
        "slot 4's draft is marked in the browser:\n{screen}"
    );
    tmux.send(&["4"]);
    let screen = tmux.wait_for("slot 4 again", |s| {
        header(s).contains("slot 4 \"Four Floor\"") && track_row(s, "four").is_some()
    });
    assert!(
        grid_shows(&screen, "four", EDIT_1_CELLS),
        "the edit is back:\n{screen}"
    );
    assert!(
        header(&screen).contains("slot 4 \"Four Floor\" *"),
        "and marked dirty:\n{screen}"
    );
    assert_eq!(
        browser_marks(&screen, 4),
        Some(('▶', '*')),
        "the browser marks slot 4 playing with a draft:\n{screen}"
    );
    let draft = dir.path().join("drafts/slot_004.json");
    wait_until("drafts/slot_004.json", || draft.exists());
    assert_eq!(parse(&draft).sequencer.tracks[0].pattern, EDIT_1);
}

#[test]
fn a_slot_pressed_mid_bar_waits_for_the_bar_while_the_playing_one_shows() {
    if !tmux_present() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    write_slot(dir.path(), 1, &song("Slow One", 60.0, "slowkick", PATTERN));
    write_slot(dir.path(), 3, &song("Third Way", 90.0, "thirdsaw", PATTERN));
    let tmux = Tmux::new("midbar");
    tmux.start(dir.path(), &["--no-osc"]);
    tmux.send(&["Space"]);
    tmux.wait_for("playing", |s| header(s).contains("▶ PLAY"));
    tmux.wait_mid_bar();
    tmux.send(&["3"]);
    let screen = tmux.wait_for("slot 3 queued", |s| header(s).contains("→ slot 3 in "));
    let h = header(&screen);
    assert!(
        h.contains("beats") || h.contains("in 1 beat"),
        "a countdown in beats: {h}"
    );
    assert!(h.contains("60.0 BPM"), "the playing tempo: {h}");
    assert!(h.contains("slot 1 \"Slow One\""), "the playing slot: {h}");
    assert!(track_row(&screen, "slowkick").is_some(), "{screen}");
    assert!(track_row(&screen, "thirdsaw").is_none(), "{screen}");

    let screen = tmux.wait_for("the switch at the bar", |s| {
        header(s).contains("slot 3 \"Third Way\"")
    });
    let screen = if track_row(&screen, "thirdsaw").is_some() {
        screen
    } else {
        tmux.wait_for("slot 3's grid", |s| track_row(s, "thirdsaw").is_some())
    };
    let h = header(&screen);
    assert!(h.contains("90.0 BPM"), "slot 3's tempo: {h}");
    assert!(!h.contains("→ slot"), "nothing queued any more: {h}");
    assert!(track_row(&screen, "slowkick").is_none(), "{screen}");
}

#[test]
fn an_edit_while_a_slot_is_queued_goes_to_the_playing_song() {
    if !tmux_present() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    write_slot(dir.path(), 1, &song("Slow One", 60.0, "slowkick", PATTERN));
    write_slot(dir.path(), 3, &song("Third Way", 90.0, "thirdsaw", PATTERN));
    let tmux = Tmux::new("queuededit");
    tmux.start(dir.path(), &["--no-osc"]);
    tmux.send(&["Space"]);
    tmux.wait_for("playing", |s| header(s).contains("▶ PLAY"));
    tmux.wait_mid_bar();
    tmux.send(&["3"]);
    tmux.wait_for("slot 3 queued", |s| header(s).contains("→ slot 3 in "));
    tmux.send(&["l", "x"]);
    let screen = tmux.wait_for("the edit on slot 1's song", |s| {
        grid_shows(s, "slowkick", EDIT_1_CELLS)
    });
    let h = header(&screen);
    assert!(h.contains("slot 1 \"Slow One\" *"), "{screen}");
    assert!(h.contains("→ slot 3"), "still queued: {h}");

    let screen = tmux.wait_for("slot 3 playing", |s| {
        header(s).contains("slot 3 \"Third Way\"") && track_row(s, "thirdsaw").is_some()
    });
    assert!(
        grid_shows(&screen, "thirdsaw", PATTERN_CELLS),
        "slot 3 plays its own file:\n{screen}"
    );
    assert!(!header(&screen).contains("\" *"), "{screen}");

    tmux.wait_mid_bar();
    tmux.send(&["1"]);
    tmux.wait_for("slot 1 queued", |s| header(s).contains("→ slot 1"));
    let screen = tmux.wait_for("slot 1 back at the bar", |s| {
        header(s).contains("slot 1 \"Slow One\"") && track_row(s, "slowkick").is_some()
    });
    assert!(
        grid_shows(&screen, "slowkick", EDIT_1_CELLS),
        "the edit came back:\n{screen}"
    );
    assert!(
        header(&screen).contains("slot 1 \"Slow One\" *"),
        "{screen}"
    );
    assert!(header(&screen).contains("60.0 BPM"), "{screen}");
}

#[test]
fn a_slot_file_broken_in_place_shows_an_error_and_fixing_it_clears_it() {
    if !tmux_present() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let good = song("Acid Line", 128.0, "kick", PATTERN);
    let path = write_slot(dir.path(), 1, &good);
    let tmux = Tmux::new("broken");
    tmux.start(dir.path(), &["--no-osc"]);
    tmux.send(&["Space"]);
    let screen = tmux.wait_for("playing", |s| header(s).contains("▶ PLAY"));
    assert_eq!(browser_marks(&screen, 1), Some(('▶', ' ')), "{screen}");

    let broken = good.replace("\"bpm\": 128.0,", "\"bpm\": 128.0,,");
    save_like_an_editor(&path, &broken);
    let screen = tmux.wait_for("the error and the browser's ~", |s| {
        message_line(s).contains("slot_001.json") && browser_marks(s, 1) == Some(('▶', '~'))
    });
    // Still playing slot 1's song from memory.
    assert!(track_row(&screen, "kick").is_some(), "{screen}");
    let styled = tmux.capture_styled();
    // The message wraps; the file's name is on its last line, under the panels.
    let error = styled
        .lines()
        .rev()
        .find(|l| l.contains("slot_001.json"))
        .unwrap_or_else(|| panic!("no error line:\n{styled}"));
    // LightRed: 256-colour 9 or SGR 91.
    assert!(
        error.contains("38;5;9m") || error.contains("[91m") || error.contains(";91m"),
        "the error is red: {error:?}"
    );

    save_like_an_editor(&path, &good);
    let screen = tmux.wait_for("the error and the ~ to clear", |s| {
        !s.contains("slot_001.json") && browser_marks(s, 1) == Some(('▶', ' '))
    });
    assert!(track_row(&screen, "kick").is_some(), "{screen}");
    assert!(header(&screen).contains("128.0 BPM"), "{screen}");

    // Again, written in place (truncate, then write) rather than renamed.
    fs::write(&path, &broken).unwrap();
    tmux.wait_for("the error and the ~ again", |s| {
        message_line(s).contains("slot_001.json") && browser_marks(s, 1) == Some(('▶', '~'))
    });
    fs::write(&path, &good).unwrap();
    let screen = tmux.wait_for("the error and the ~ to clear again", |s| {
        !s.contains("slot_001.json") && browser_marks(s, 1) == Some(('▶', ' '))
    });
    assert!(track_row(&screen, "kick").is_some(), "{screen}");
    assert!(!header(&screen).contains("→ slot"), "{screen}");
}

#[test]
fn a_broken_keymap_says_so_after_start_up_with_osc_on() {
    if !tmux_present() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    write_slot(dir.path(), 1, &song("Acid Line", 128.0, "kick", PATTERN));
    // In the start directory, where chronus looks for it.
    fs::write(
        dir.path().join("keymap.toml"),
        "[grid]\nprepend_keymap = [\n  { on = \"w\", run = \"no_such_action\", desc = \"Oops\" },\n]\n",
    )
    .unwrap();
    let tmux = Tmux::new("keymap");
    tmux.start(dir.path(), &["--osc-port", "0"]);
    tmux.wait_for("the tracker with slot 1", |s| {
        header(s).contains("slot 1 \"Acid Line\"")
    });
    // Let the loop turn a while (the OSC server's first turns, the first draws); then the
    // keymap's mistake must still be what the message line says.
    std::thread::sleep(Duration::from_millis(500));
    let screen = tmux.capture();
    let line = message_line(&screen);
    assert!(
        line.contains("keymap.toml:3") && line.contains("no_such_action"),
        "the keymap error is on the message line:\n{screen}"
    );
    assert!(!line.contains("OSC: listening"), "{line}");

    // And it is in the message log.
    tmux.send(&["M"]);
    tmux.wait_for("the message log with the keymap error", |s| {
        s.contains("Messages (") && s.lines().any(|l| l.contains("✗ keymap.toml:3:"))
    });
}

#[test]
fn kill_9_with_drafts_open_loses_no_edit() {
    if !tmux_present() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let slot_1 = song("Acid Line", 128.0, "kick", PATTERN);
    let path_1 = write_slot(dir.path(), 1, &slot_1);
    let tmux = Tmux::new("kill9");
    tmux.start(dir.path(), &["--no-osc"]);
    tmux.send(&["l", "x", "X"]);
    tmux.wait_for("the edits", |s| {
        grid_shows(s, "kick", EDIT_2_CELLS) && header(s).contains("slot 1 \"Acid Line\" *")
    });
    // Past the drafts' 250 ms debounce.
    std::thread::sleep(Duration::from_millis(600));

    let pid = tmux.pid();
    let comm = fs::read_to_string(format!("/proc/{pid}/comm")).unwrap();
    assert!(
        comm.trim() == "chronus",
        "the pane runs chronus itself, not {comm:?}"
    );
    let killed = Process::new("kill")
        .args(["-9", &pid.to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    tmux.wait_gone("after kill -9");

    let draft = dir.path().join("drafts/slot_001.json");
    assert!(draft.exists(), "no draft on disk after kill -9");
    let saved = parse(&draft);
    assert_eq!(saved.sequencer.tracks[0].pattern, EDIT_2);
    assert_eq!(fs::read_to_string(&path_1).unwrap(), slot_1);

    let again = Tmux::new("kill9-again");
    let screen = again.start(dir.path(), &["--no-osc"]);
    let screen = if grid_shows(&screen, "kick", EDIT_2_CELLS) {
        screen
    } else {
        again.wait_for("the edits back", |s| grid_shows(s, "kick", EDIT_2_CELLS))
    };
    assert!(
        header(&screen).contains("slot 1 \"Acid Line\" *"),
        "{screen}"
    );
    assert_eq!(browser_marks(&screen, 1), Some(('▶', '*')), "{screen}");
    // The restore is announced (in the message log at least; see the next test for the
    // message line).
    again.send(&["M"]);
    again.wait_for("the restore in the message log", |s| {
        s.contains("Messages (")
            && s.contains("slot 1: restored unsaved edits from drafts/slot_001.json")
    });
}

/// Drafts left by a crash come back at start, and the message line says so (not hidden
/// behind the start-up's "audio off" line).
#[test]
fn restored_drafts_are_announced_on_the_message_line_at_start() {
    if !tmux_present() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    write_slot(dir.path(), 1, &song("Acid Line", 128.0, "kick", PATTERN));
    let tmux = Tmux::new("restoremsg");
    tmux.start(dir.path(), &["--no-osc"]);
    tmux.send(&["l", "x"]);
    tmux.wait_for("the edit", |s| grid_shows(s, "kick", EDIT_1_CELLS));
    let draft = dir.path().join("drafts/slot_001.json");
    wait_until("the draft on disk", || {
        draft.exists() && parse(&draft).sequencer.tracks[0].pattern == EDIT_1
    });
    let killed = Process::new("kill")
        .args(["-9", &tmux.pid().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    tmux.wait_gone("after kill -9");

    let again = Tmux::new("restoremsg-again");
    let screen = again.start(dir.path(), &["--no-osc"]);
    let line = message_line(&screen);
    assert!(
        line.contains("restored unsaved edits from drafts/slot_001.json"),
        "the restore is on the message line:\n{screen}"
    );
}

#[test]
fn quitting_with_drafts_asks_and_no_keeps_running() {
    if !tmux_present() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    write_slot(dir.path(), 1, &song("Acid Line", 128.0, "kick", PATTERN));
    let tmux = Tmux::new("quit");
    tmux.start(dir.path(), &["--no-osc"]);
    tmux.send(&["l", "x"]);
    tmux.wait_for("the edit", |s| grid_shows(s, "kick", EDIT_1_CELLS));

    for no in ["n", "Escape"] {
        tmux.send(&["q"]);
        tmux.wait_for("the question", |s| s.contains("unsaved drafts"));
        tmux.send(&[no]);
        let screen = tmux.wait_for("the question to go", |s| !s.contains("unsaved drafts"));
        assert!(tmux.alive(), "{no} keeps chronus running");
        assert!(grid_shows(&screen, "kick", EDIT_1_CELLS), "{screen}");
    }

    tmux.send(&["q"]);
    tmux.wait_for("the question", |s| s.contains("unsaved drafts"));
    tmux.send(&["y"]);
    tmux.wait_gone("after q y");
    assert!(dir.path().join("drafts/slot_001.json").exists());
}

#[test]
fn start_up_errors_are_not_hidden_by_the_notices_that_follow() {
    if !tmux_present() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    // A corrupt start slot, a broken keymap, and OSC on every interface (a warning that the
    // server says on its first turns, after the start-up's own messages).
    write_slot(dir.path(), 1, "{ \"sequencer\": { \"bpm\": 120,, } }");
    fs::write(
        dir.path().join("keymap.toml"),
        "[grid]\nprepend_keymap = [\n  { on = \"w\", run = \"no_such_action\", desc = \"Oops\" },\n]\n",
    )
    .unwrap();
    let tmux = Tmux::new("startup-errors");
    tmux.start(dir.path(), &["--osc-port", "0", "--osc-bind", "0.0.0.0"]);
    tmux.wait_for("unseen messages", |s| s.contains("new messages"));
    // Let the loop turn a while: the notices of the first turns are in.
    std::thread::sleep(Duration::from_millis(500));
    let screen = tmux.capture();
    let line = message_line(&screen);
    assert!(
        line.starts_with("✗") && line.contains("keymap.toml:3") && line.contains("no_such_action"),
        "the newest error is on the message line:\n{screen}"
    );
    assert!(!line.contains("OSC listens on"), "{line}");
    // A key read the first error; the second takes the line, then the warning.
    tmux.send(&["j"]);
    let screen = tmux.wait_for("the start slot's error", |s| {
        message_line(s).contains("slot 1 did not load")
    });
    assert!(message_line(&screen).starts_with("✗"), "{screen}");
    tmux.send(&["j"]);
    tmux.wait_for("the OSC warning", |s| {
        message_line(s).contains("anyone who can reach this address")
    });
    // Both errors are in the log.
    tmux.send(&["M"]);
    tmux.wait_for("the message log with both errors", |s| {
        s.contains("Messages (")
            && s.lines().any(|l| l.contains("✗ keymap.toml:3:"))
            && s.lines().any(|l| l.contains("✗ slot 1 did not load"))
    });
}

/// Issue 13: at 80×24, with a long slot name, a slot queued for the next bar and a recording
/// running, the header shows the transport, the queue target with its countdown and REC in
/// full: the name gives way first.
#[test]
fn the_header_at_80x24_shows_the_queue_and_rec_in_full() {
    if !tmux_present() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    // 30 BPM: an 8-second bar, so the queue waits long enough to be seen.
    write_slot(
        dir.path(),
        1,
        &song(
            "Anthem Breakbeat 174 – long set name",
            30.0,
            "kick",
            PATTERN,
        ),
    );
    write_slot(dir.path(), 2, &song("Dub Steps", 92.0, "kick", PATTERN));
    let tmux = Tmux::new("header80");
    tmux.start_sized(dir.path(), &["--no-osc"], 80, 24);
    tmux.send(&["Space", "R", "2"]);
    let screen = tmux.wait_for("the queue and REC", |s| {
        let h = header(s);
        h.contains("→ slot 2") && h.contains("REC")
    });
    let h = header(&screen);
    assert!(h.contains("▶ PLAY"), "{h}");
    assert!(h.contains("30.0 BPM"), "{h}");
    assert!(h.contains("→ slot 2 in "), "the countdown: {h}");
    assert!(h.contains("● REC"), "{h}");
    assert!(h.chars().count() <= 80, "{h}");
    tmux.send(&["R"]);
    tmux.wait_for("the recording stopped", |s| !header(s).contains("REC"));
}
