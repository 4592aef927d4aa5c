//! The tracker screen: whole-screen snapshots on ratatui's `TestBackend`, key sequences that
//! must produce the right song and screen state, and a scripted run in a real terminal (tmux).
//!
//! Snapshots live in `tests/snapshots/*.txt`; `UPDATE_SNAPSHOTS=1 cargo test --test it tui`
//! rewrites them (check the new text by eye before keeping it).

use crate::support::{Live, Setup, Tmux, tmux_present};
use std::fs;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::{Duration, Instant, UNIX_EPOCH};

use chronus::control::{Command, Level, Notice};
use chronus::frontend::tui::{self, App, DiskChange, HIGHLIGHT_BARS, Overlay, Panel, Question};
use chronus::keymap::{Action, Key, KeyCode, Keymap};
use chronus::model::registry::{acid, delay, dist, lfo, reverb, voice};
use chronus::model::{ParamId, Slot};
use chronus::sources::watch::SlotDiff;
use chronus::store::{SlotNumber, Store};
use crossterm::event::{KeyCode as TermCode, KeyEvent, KeyModifiers};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::buffer::Buffer;
use ratatui::style::{Color, Modifier};

/// The song every test starts from: four tracks, one of them 12 steps long (a polymeter).
const SLOT_1: &str = r#"{
  "chronus_version": "1.0.0",
  "schema_version": "1.0",
  "metadata": { "name": "Acid Line" },
  "sequencer": {
    "bpm": 128.0, "swing": 0.1,
    "tracks": {
      "kick": { "name": "kick", "voice_id": "voice1", "pattern": "X...X...X...X...",
                "notes": [55.0], "base_amp": 0.5, "filter_freq": 150.0, "gate_frac": 0.2 },
      "bass": { "name": "bass", "voice_id": "voice2", "pattern": "x.x.X.x.x.xXx.x.",
                "notes": [65.41, 65.41, 77.78, 98.0], "base_amp": 0.35, "filter_freq": 800.0 },
      "hat": { "name": "hat", "voice_id": "voice3", "pattern": "..x...x...x...x.",
               "base_freq": 8000.0, "base_amp": 0.15 },
      "poly": { "name": "poly", "voice_id": "voice4", "pattern": "X..x..x..x..",
                "notes": [261.63, 311.13, 392.0], "delay_send": 0.3 }
    }
  },
  "modules": { "voice3": { "waveform": 3 } }
}
"#;

/// A second slot holding a different pattern (for the overwrite question).
const SLOT_2: &str = r#"{
  "metadata": { "name": "Dub Steps" },
  "sequencer": {
    "bpm": 92.0,
    "tracks": {
      "chord": { "name": "chord", "voice_id": "voice5", "pattern": "..X...X.", "notes": [220.0] }
    }
  }
}
"#;

/// File times of the fixtures and the "now" the browser measures ages from: 3 days apart.
const FILE_TIME: u64 = 1_700_000_000;
const NOW: u64 = FILE_TIME + 3 * 86_400 + 3600;

/// The tracker's app on a session from the shared rig (patterns in the temp folder itself).
struct Rig {
    live: Live,
    app: App,
    /// Notices of key presses, for the next loop turn (as the tracker's loop sees them).
    held: Vec<Notice>,
}

fn write_slot(dir: &Path, n: u8, text: &str) -> PathBuf {
    let slots = dir.join("slots");
    fs::create_dir_all(&slots).unwrap();
    let path = slots.join(format!("slot_{n:03}.json"));
    fs::write(&path, text).unwrap();
    let f = fs::OpenOptions::new().write(true).open(&path).unwrap();
    f.set_modified(UNIX_EPOCH + Duration::from_secs(FILE_TIME))
        .unwrap();
    path
}

fn rig() -> Rig {
    rig_with(false)
}

/// A rig as `tui::run` sets it up: slots 1 and 2 on disk, slot 1 loaded; `watch` turns the
/// slot-file watcher on.
fn rig_with(watch: bool) -> Rig {
    let setup = Setup {
        watch,
        patterns: "",
        ..Setup::default()
    };
    let mut live = Live::start_with(setup, |root| {
        write_slot(root, 1, SLOT_1);
        write_slot(root, 2, SLOT_2);
    });
    live.apply(Command::LoadSlot {
        slot: SlotNumber::new(1).unwrap(),
        immediate: true,
    });
    let ctl = live.ctl_mut();
    let _ = ctl.drain_notices().count();
    ctl.status_mut().backend = "internal clock 48000 Hz / 128 frames".into();
    let mut app = App::new(Keymap::defaults());
    app.refresh_slots_at(live.ctl(), UNIX_EPOCH + Duration::from_secs(NOW));
    live.notices.clear();
    Rig {
        live,
        app,
        held: Vec::new(),
    }
}

/// A key press written in keymap notation (`x`, `<C-r>`, `<Enter>`).
fn event(notation: &str) -> KeyEvent {
    let key = Key::from_str(notation).unwrap_or_else(|e| panic!("{notation}: {e}"));
    let code = match key.code {
        KeyCode::Char(c) => TermCode::Char(c),
        KeyCode::Enter => TermCode::Enter,
        KeyCode::Esc => TermCode::Esc,
        KeyCode::Tab => TermCode::Tab,
        KeyCode::BackTab => TermCode::BackTab,
        KeyCode::Backspace => TermCode::Backspace,
        KeyCode::Delete => TermCode::Delete,
        KeyCode::Insert => TermCode::Insert,
        KeyCode::Home => TermCode::Home,
        KeyCode::End => TermCode::End,
        KeyCode::PageUp => TermCode::PageUp,
        KeyCode::PageDown => TermCode::PageDown,
        KeyCode::Up => TermCode::Up,
        KeyCode::Down => TermCode::Down,
        KeyCode::Left => TermCode::Left,
        KeyCode::Right => TermCode::Right,
        KeyCode::F(n) => TermCode::F(n),
    };
    let mut mods = KeyModifiers::NONE;
    if key.ctrl {
        mods |= KeyModifiers::CONTROL;
    }
    if key.alt {
        mods |= KeyModifiers::ALT;
    }
    if key.shift {
        mods |= KeyModifiers::SHIFT;
    }
    KeyEvent::new(code, mods)
}

impl Rig {
    /// Presses keys, each in keymap notation.
    fn keys(&mut self, keys: &[&str]) {
        for k in keys {
            self.app.handle_key(self.live.ctl_mut(), event(k));
            self.settle_disk();
        }
    }

    /// Waits for what a key gave the disk thread (a save) and hands its notices to the app,
    /// as the loop's next turn would.
    fn settle_disk(&mut self) {
        if self.live.ctl().disk_busy() == 0 {
            return;
        }
        assert!(self.live.ctl_mut().settle_disk(Duration::from_secs(20)));
        // What the disk reported is taken in now; the rest waits for the next turn.
        let (disk, rest): (Vec<Notice>, Vec<Notice>) =
            self.live.ctl_mut().drain_notices().partition(|n| {
                matches!(
                    n,
                    Notice::Saved { .. }
                        | Notice::SaveFailed { .. }
                        | Notice::SaveRefused { .. }
                        | Notice::SlotListChanged
                )
            });
        self.held.extend(rest);
        self.app.on_notices(self.live.ctl(), &disk);
    }

    /// Reads the slot files again, as the tracker does now and then when no watcher runs,
    /// and rebuilds the browser with ages from `now`.
    fn rescan(&mut self, now: std::time::SystemTime) {
        let _ = self.live.ctl_mut().apply(Command::RescanSlots);
        self.settle_disk();
        self.app.refresh_slots_at(self.live.ctl(), now);
    }

    /// Types text into the open prompt, character by character.
    fn type_text(&mut self, text: &str) {
        for c in text.chars() {
            let ev = KeyEvent::new(TermCode::Char(c), KeyModifiers::NONE);
            self.app.handle_key(self.live.ctl_mut(), ev);
        }
    }

    /// Replaces the prompt's text and presses Enter.
    fn answer(&mut self, text: &str) {
        self.keys(&["<C-u>"]);
        self.type_text(text);
        self.keys(&["<Enter>"]);
    }

    fn track(&self, name: &str) -> &chronus::model::Track {
        self.live
            .ctl()
            .song()
            .sequencer
            .tracks
            .iter()
            .find(|t| t.name == name)
            .unwrap_or_else(|| panic!("no track {name}"))
    }

    fn names(&self) -> Vec<&str> {
        self.live
            .ctl()
            .song()
            .sequencer
            .tracks
            .iter()
            .map(|t| t.name.as_str())
            .collect()
    }

    fn message(&self) -> String {
        self.app
            .ui
            .message
            .as_ref()
            .map(|m| m.text.clone())
            .unwrap_or_default()
    }

    fn render(&self, w: u16, h: u16) -> Terminal<TestBackend> {
        let mut term = Terminal::new(TestBackend::new(w, h)).unwrap();
        term.draw(|f| tui::draw(f, &self.app.ui, self.live.ctl()))
            .unwrap();
        term
    }

    fn screen(&self, w: u16, h: u16) -> String {
        screen_text(&self.render(w, h))
    }
}

fn screen_text(term: &Terminal<TestBackend>) -> String {
    let buf = term.backend().buffer();
    let mut out = String::new();
    for y in 0..buf.area.height {
        let mut line = String::new();
        for x in 0..buf.area.width {
            line.push_str(buf[(x, y)].symbol());
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// Compares a screen with `tests/snapshots/<name>.txt` (rewritten with UPDATE_SNAPSHOTS=1).
fn check_snapshot(name: &str, text: &str) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/snapshots")
        .join(format!("{name}.txt"));
    if std::env::var_os("UPDATE_SNAPSHOTS").is_some() {
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(&path, text).unwrap();
        return;
    }
    let expected = fs::read_to_string(&path).unwrap_or_else(|_| {
        panic!(
            "missing snapshot {} — run with UPDATE_SNAPSHOTS=1 and check it by eye:\n{text}",
            path.display()
        )
    });
    if expected != text {
        panic!(
            "screen differs from {}\n--- expected\n{expected}\n--- got\n{text}",
            path.display()
        );
    }
}

fn snapshot_both(name: &str, setup: impl Fn(&mut Rig)) {
    for (w, h) in [(80, 24), (120, 40)] {
        let mut r = rig();
        setup(&mut r);
        check_snapshot(&format!("{name}_{w}x{h}"), &r.screen(w, h));
    }
}

// ---------------------------------------------------------------- snapshots

#[test]
fn snapshot_main_screen() {
    snapshot_both("main", |r| r.keys(&["j", "l", "l"]));
}

#[test]
fn snapshot_help_overlay() {
    snapshot_both("help", |r| r.keys(&["?"]));
}

#[test]
fn snapshot_slot_browser_focus() {
    snapshot_both("slots", |r| r.keys(&["<F3>", "j"]));
}

#[test]
fn snapshot_parameter_panel() {
    snapshot_both("params", |r| r.keys(&["<F2>", "n", "j", "j"]));
}

#[test]
fn every_registry_parameter_of_a_voice_is_on_screen_with_range_and_unit() {
    let mut r = rig();
    r.keys(&["j", "j", "<F2>"]);
    let screen = r.screen(120, 40);
    assert!(screen.contains("Params: voice3 (hat)"), "{screen}");
    for spec in chronus::model::Module::Voice(3).params() {
        assert!(
            screen.contains(spec.name),
            "{} missing:\n{screen}",
            spec.name
        );
    }
    // hat's waveform is 3: shown as its name from the registry's description.
    assert!(screen.contains("white 0–5"), "{screen}");
    assert!(screen.contains("50–8000"), "{screen}");
}

#[test]
fn the_playhead_follows_each_tracks_own_length_and_the_cursor_is_inverted() {
    let mut r = rig();
    r.live.ctl_mut().status_mut().running = true;
    r.live.ctl_mut().status_mut().global_step = 13;
    let term = r.render(120, 40);
    let buf = term.backend().buffer();
    // Find each track's row and the column of its steps via the kick row's first `X`.
    let row_of = |name: &str| {
        (0..buf.area.height)
            .find(|&y| {
                let line: String = (0..buf.area.width).map(|x| buf[(x, y)].symbol()).collect();
                line.contains(&format!("{name} ")) && line.contains(" v")
            })
            .unwrap()
    };
    let kick = row_of("kick");
    let poly = row_of("poly");
    // The hat (no notes: hit marks) has its first hit on step 2.
    let hat = row_of("hat");
    let x0 = (0..buf.area.width)
        .find(|&x| buf[(x, hat)].symbol() == "x")
        .unwrap()
        - 2 * 3;
    // 16 steps at 3 columns each, a blank after every 4.
    let col = |step: u16| x0 + step * 3 + step / 4;
    let bg = |x: u16, y: u16| buf[(x, y)].bg;
    assert_eq!(bg(col(13), kick), Color::Blue, "kick plays step 13 of 16");
    assert_ne!(bg(col(12), kick), Color::Blue);
    assert_eq!(bg(col(1), poly), Color::Blue, "poly plays step 13 % 12 = 1");
    assert_ne!(bg(col(13), poly), Color::Blue);
    // Steps past poly's 12 are blank: the polymeter is visible.
    assert_eq!(buf[(col(12), poly)].symbol(), " ");
    assert_eq!(buf[(col(11), poly)].symbol(), ".");
    // The cursor (kick, step 0) is inverted while the grid has the keyboard.
    assert_eq!(bg(col(0), kick), Color::LightCyan);
    assert_eq!(buf[(col(0), kick)].fg, Color::Black);
    // Without colour too: a mark in the ruler over the step the longest track plays, and
    // only there; it stands in for a step number while it is on one.
    let ruler = kick - 1;
    let marks: Vec<u16> = (0..buf.area.width)
        .filter(|&x| buf[(x, ruler)].symbol() == "▼")
        .collect();
    assert_eq!(marks, vec![col(13)]);
    for (step, want) in [(12u64, "▼ "), (4, "▼"), (0, "▼")] {
        r.live.ctl_mut().status_mut().global_step = step;
        let term = r.render(120, 40);
        let b = term.backend().buffer();
        let at: String = (0..want.chars().count() as u16)
            .map(|i| b[(col(step as u16) + i, ruler)].symbol().to_string())
            .collect();
        assert_eq!(at, want, "step {step}");
    }
    r.live.ctl_mut().status_mut().running = false;
    let term = r.render(120, 40);
    let b = term.backend().buffer();
    assert!(
        (0..b.area.width).all(|x| b[(x, ruler)].symbol() != "▼"),
        "no mark while stopped"
    );
}

#[test]
fn the_transport_tells_what_plays_what_is_queued_and_how_the_audio_does() {
    let mut r = rig();
    r.live.ctl_mut().status_mut().running = true;
    r.live.ctl_mut().status_mut().bar = 41;
    r.live.ctl_mut().status_mut().step_in_bar = 8;
    r.live.ctl_mut().status_mut().load_mean = 3.25;
    r.live.ctl_mut().status_mut().load_max = 7.5;
    r.live.ctl_mut().status_mut().xruns = 2;
    // Unsaved, then slot 2 queued for the next bar (42): the playing song stays on screen.
    r.live.ctl_mut().apply(Command::NudgeSwing(0.05)).unwrap();
    r.keys(&["2"]);
    assert_eq!(
        r.live.ctl().queued().map(|q| (q.slot.get(), q.bar)),
        Some((2, 42))
    );
    let screen = r.screen(120, 40);
    let top: Vec<&str> = screen.lines().take(2).collect();
    assert_eq!(
        top[0],
        " ▶ PLAY  128.0 BPM  swing 53.8%  bar 41.3.1  slot 1 \"Acid Line\" *  → slot 2 in 2 beats"
    );
    // One beat later: singular.
    r.live.ctl_mut().status_mut().step_in_bar = 12;
    let screen = r.screen(120, 40);
    assert!(
        screen
            .lines()
            .next()
            .unwrap()
            .ends_with("→ slot 2 in 1 beat"),
        "{screen}"
    );
    assert_eq!(
        top[1],
        " internal clock 48000 Hz / 128 frames  load 3.2% (max 7.5%)  xruns 2"
    );
}

#[test]
fn every_screen_size_draws_without_panicking() {
    let mut states: Vec<Rig> = Vec::new();
    states.push(rig());
    let mut r = rig();
    r.keys(&["?"]);
    states.push(r);
    let mut r = rig();
    r.keys(&["x", "q"]);
    states.push(r);
    let mut r = rig();
    r.keys(&["<F3>", "G"]);
    states.push(r);
    let mut r = rig();
    r.keys(&["b"]);
    r.answer("999999999999999999999999999999999999999999999999999999999");
    states.push(r);
    let mut r = rig();
    r.live.ctl_mut().apply(Command::ClearTracks).unwrap();
    r.live.ctl_mut().status_mut().running = true;
    r.live.ctl_mut().status_mut().global_step = 99;
    states.push(r);
    // A change from disk highlighted (steps past the grid too) under the conflict question.
    let mut r = rig();
    let one = SlotNumber::new(1).unwrap();
    r.app.ui.changes = Some(DiskChange {
        slot: one,
        diff: SlotDiff {
            steps_changed: vec![("kick".into(), vec![0, 15, 40])],
            fields_changed: vec![("bass".into(), vec!["notes", "base_amp"])],
            params_changed: vec![ParamId::acid(acid::CUTOFF)],
            tempo_changed: Some((120.0, 128.0)),
            ..SlotDiff::default()
        },
        applies_at: Some(3),
        heard_from: None,
    });
    r.app.ui.overlay = Some(Overlay::Confirm {
        question: Question::Conflict(one),
        text: "slot 1 changed on disk while you have unsaved edits — [t]ake the file's version at the next bar / [k]eep your edits".into(),
    });
    states.push(r);
    for r in &states {
        for w in (1..=140).step_by(7).chain([79, 80, 81, 119, 120]) {
            for h in (1..=45).step_by(4).chain([23, 24, 39, 40]) {
                let _ = r.screen(w, h);
            }
        }
    }
}

#[test]
fn the_browser_marks_unsaved_edits_and_files_changed_on_disk() {
    let mut r = rig();
    let now = UNIX_EPOCH + Duration::from_secs(NOW);
    // The browser's row of a slot, from its marks to its age.
    let row = |r: &Rig, name: &str| {
        let screen = r.screen(120, 40);
        let line = screen
            .lines()
            .find(|l| l.contains(name) && l.ends_with("3d│"))
            .unwrap_or_else(|| panic!("no row for {name}:\n{screen}"));
        let from = line.rfind("││").unwrap() + "││".len();
        line[from..].to_string()
    };
    assert!(
        row(&r, "Acid Line").starts_with("▸▶   1 Acid Line"),
        "{}",
        row(&r, "Acid")
    );
    r.keys(&["x"]);
    assert!(
        row(&r, "Acid Line").starts_with("▸▶*  1 Acid Line"),
        "{}",
        row(&r, "Acid")
    );
    // Someone else rewrites slot 2 (same name, another tempo).
    write_slot(r.live.dir.path(), 2, &SLOT_2.replace("92.0", "93.0"));
    r.rescan(now);
    assert!(
        row(&r, "Dub Steps").starts_with("  ~  2 Dub Steps"),
        "{}",
        row(&r, "Dub")
    );
    // Loading it clears the mark and moves the browser to it.
    r.keys(&["2"]);
    r.app.refresh_slots_at(r.live.ctl(), now);
    assert!(
        row(&r, "Dub Steps").starts_with("▸▶   2 Dub Steps"),
        "{}",
        row(&r, "Dub")
    );
    // Slot 1's unsaved edit was kept as its draft, and the browser says so.
    assert!(
        row(&r, "Acid Line").starts_with("  *  1 Acid Line"),
        "{}",
        row(&r, "Acid")
    );
    assert!(r.live.dir.path().join("drafts/slot_001.json").exists());
}

#[test]
fn a_long_error_wraps_so_it_can_be_read_whole() {
    let mut r = rig();
    let text = "/home/me/keymap.toml:2:38: [grid] prepend_keymap rule 1 (on = \"w\", run = \"fly\"): unknown action `fly`; using the default keys";
    r.app.ui.say(chronus::control::Level::Error, text);
    let screen = r.screen(80, 24);
    let last: Vec<&str> = screen.lines().skip(22).collect();
    assert_eq!(
        last,
        [
            " ✗ /home/me/keymap.toml:2:38: [grid] prepend_keymap rule 1 (on = \"w\",",
            "   run = \"fly\"): unknown action `fly`; using the default keys            ? help",
        ]
    );
    // An info never hides an error the performer has not seen yet.
    r.app.ui.say(chronus::control::Level::Info, "later news");
    assert!(r.screen(80, 24).contains("unknown action `fly`"));
    // Info stays on one row.
    r.app.ui.mark_all_seen();
    r.app.ui.say(chronus::control::Level::Info, text);
    let screen = r.screen(80, 24);
    assert!(
        screen
            .lines()
            .nth(23)
            .unwrap()
            .starts_with(" /home/me/keymap.toml:2:38")
    );
}

/// Slots and tracks named with wide characters (CJK takes two columns, so does 🥁).
const WIDE_NAME: &str = "ドラム 🥁";
/// Long enough to be cut, with an `x` so a wide character straddles the column's end at
/// both sizes (name columns of 24 and 16 cells).
const WIDE_LONG: &str = "ドラム 🥁 xとても長い名前のスロット 🎹🎹";

/// The column of `text` (narrow characters) on row `y`, counted in cells: a wide character
/// takes two cells, so this is where a terminal shows it.
fn cell_col(buf: &Buffer, y: u16, text: &str) -> Option<u16> {
    let want: Vec<String> = text.chars().map(String::from).collect();
    (0..buf.area.width).find(|&x| {
        want.iter()
            .enumerate()
            .all(|(i, c)| x + (i as u16) < buf.area.width && buf[(x + i as u16, y)].symbol() == c)
    })
}

/// The row whose cells hold `text` (any characters), and the column it starts at.
fn row_with(buf: &Buffer, text: &str) -> (u16, u16) {
    let first = text.chars().next().unwrap().to_string();
    for y in 0..buf.area.height {
        for x in 0..buf.area.width {
            if buf[(x, y)].symbol() != first {
                continue;
            }
            // Wide characters take their own cell and leave the next one blank.
            let mut cx = x;
            let mut all = true;
            for c in text.chars() {
                if cx >= buf.area.width || buf[(cx, y)].symbol() != c.to_string() {
                    all = false;
                    break;
                }
                cx += unicode_width::UnicodeWidthChar::width(c)
                    .unwrap_or(1)
                    .max(1) as u16;
            }
            if all {
                return (x, y);
            }
        }
    }
    panic!("no {text:?} on screen");
}

#[test]
fn wide_characters_in_a_slot_name_keep_the_browsers_columns_in_line() {
    for (w, h) in [(80, 24), (120, 40)] {
        let mut r = rig();
        write_slot(
            r.live.dir.path(),
            3,
            &SLOT_2
                .replace("Dub Steps", WIDE_NAME)
                .replace("92.0", "120.0"),
        );
        write_slot(
            r.live.dir.path(),
            4,
            &SLOT_2.replace("Dub Steps", WIDE_LONG),
        );
        r.rescan(UNIX_EPOCH + Duration::from_secs(NOW));
        // At 80 columns the browser shows while it has the keyboard.
        r.keys(&["<F3>"]);
        let term = r.render(w, h);
        let buf = term.backend().buffer();
        let (_, dub) = row_with(buf, "Dub Steps");
        let (name_x, wide) = row_with(buf, WIDE_NAME);
        // The long name is shortened in the middle: its start and its distinguishing end.
        let (_, long) = row_with(buf, "🎹🎹");
        assert_eq!(buf[(name_x, long)].symbol(), "ド", "{w}×{h}");
        let age = |y| cell_col(buf, y, "3d").unwrap_or_else(|| panic!("{w}×{h}: no age"));
        let bpm_end = |y, bpm: &str| cell_col(buf, y, bpm).map(|x| x + bpm.len() as u16);
        assert_eq!(age(wide), age(dub), "{w}×{h}: age after a wide name");
        assert_eq!(
            age(long),
            age(dub),
            "{w}×{h}: age after a shortened wide name"
        );
        assert_eq!(bpm_end(wide, "120.0"), bpm_end(dub, "92.0"), "{w}×{h}");
        assert_eq!(bpm_end(long, "92.0"), bpm_end(dub, "92.0"), "{w}×{h}");
        // The name ends before the tempo column, with a blank cell between them.
        let bpm_x = cell_col(buf, long, "92.0").unwrap() - 1;
        assert_eq!(buf[(bpm_x - 1, long)].symbol(), " ", "{w}×{h}");
        let row: String = (name_x..bpm_x).map(|x| buf[(x, long)].symbol()).collect();
        assert!(row.contains('…'), "{w}×{h}: {row}");
    }
}

#[test]
fn wide_characters_in_a_track_name_keep_the_grid_and_panels_in_line() {
    for (w, h) in [(80, 24), (120, 40)] {
        let mut r = rig();
        let song = SLOT_1
            .replace(
                "\"kick\": { \"name\": \"kick\"",
                &format!("\"{WIDE_NAME}\": {{ \"name\": \"{WIDE_NAME}\""),
            )
            .replace(
                "\"hat\": { \"name\": \"hat\"",
                &format!("\"{WIDE_LONG}\": {{ \"name\": \"{WIDE_LONG}\""),
            );
        write_slot(r.live.dir.path(), 3, &song);
        r.live
            .ctl_mut()
            .apply(Command::LoadSlot {
                slot: SlotNumber::new(3).unwrap(),
                immediate: true,
            })
            .unwrap();
        let term = r.render(w, h);
        let buf = term.backend().buffer();
        // The grid: voice, mute/solo and length columns in line with a plain name's row.
        // Kick (wide name) is above bass, hat (a wide name too long for its column) below.
        let (name_x, bass) = row_with(buf, "bass ");
        let (wide, long) = (bass - 1, bass + 1);
        assert_eq!(buf[(name_x, wide)].symbol(), "ド", "{w}×{h}");
        assert_eq!(buf[(name_x, long)].symbol(), "ド", "{w}×{h}");
        let col = |y, text| cell_col(buf, y, text).unwrap_or_else(|| panic!("{w}×{h}: {text}"));
        assert_eq!(
            col(wide, "v1 ··"),
            col(bass, "v2 ··"),
            "{w}×{h}: grid after a wide name"
        );
        assert_eq!(
            col(long, "v3 ··"),
            col(bass, "v2 ··"),
            "{w}×{h}: grid after a cut name"
        );
        // The selected (first) track's name titles the track and parameter panels.
        let (_, title) = row_with(buf, &format!("{WIDE_NAME} voice1"));
        let (params_x, params_y) = row_with(buf, &format!("({WIDE_NAME})"));
        assert_eq!(title, params_y, "{w}×{h}");
        assert!(params_x > 0);
        // Under the titles the fields keep their columns.
        let (label_x, length_y) = row_with(buf, "length");
        assert_eq!(col(length_y, "16 steps"), label_x + 13, "{w}×{h}");
    }
}

// ---------------------------------------------------------------- key sequences

#[test]
fn step_keys_set_accent_hit_and_rest_under_the_cursor() {
    let mut r = rig();
    r.keys(&["l", "x"]);
    assert_eq!(r.track("kick").pattern, "Xx..X...X...X...");
    // Step entry moves on by the edit step (1): `X` lands on step 3.
    r.keys(&["X", "0", "."]);
    assert_eq!(r.track("kick").pattern, ".xX.X...X...X...");
    // Enter cycles rest → hit → accent → rest, and stays on its step.
    r.keys(&["j", "<Enter>"]);
    assert_eq!(r.track("bass").pattern, "xxx.X.x.x.xXx.x.");
    r.keys(&["<Enter>", "<Enter>"]);
    assert_eq!(r.track("bass").pattern, "x.x.X.x.x.xXx.x.");
    assert!(r.live.ctl().is_dirty());
}

#[test]
fn setting_a_step_past_a_tracks_length_grows_it() {
    let mut r = rig();
    r.keys(&["j", "j", "j"]);
    assert_eq!(r.app.ui.track, 3);
    r.keys(&["$"]);
    assert_eq!(r.app.ui.step, 11, "End goes to poly's last step");
    r.keys(&["l", "l", "X"]);
    assert_eq!(r.track("poly").pattern, "X..x..x..x...X");
    assert_eq!(r.message(), "poly: now 14 steps");
    r.keys(&["<Lt>", "<Lt>"]);
    assert_eq!(r.track("poly").pattern, "X..x..x..x..");
    r.keys(&[">"]);
    assert_eq!(r.track("poly").pattern, "X..x..x..x...");
}

#[test]
fn bpm_nudges_typed_entry_and_out_of_range_values() {
    let mut r = rig();
    r.keys(&["+", "+", "-", "="]);
    assert_eq!(r.live.ctl().song().sequencer.bpm, 130.0);
    r.keys(&["b"]);
    assert_eq!(r.app.ui.prompt.as_ref().unwrap().text, "130");
    r.answer("400");
    let p = r.app.ui.prompt.as_ref().expect("the prompt stays open");
    assert_eq!(
        p.error.as_deref(),
        Some("\"400\" is out of range: bpm takes 30–300 BPM")
    );
    assert_eq!(r.live.ctl().song().sequencer.bpm, 130.0);
    r.answer("fast");
    assert_eq!(
        r.app.ui.prompt.as_ref().unwrap().error.as_deref(),
        Some("\"fast\" is not a number")
    );
    r.answer("140.5");
    assert!(r.app.ui.prompt.is_none());
    assert_eq!(r.live.ctl().song().sequencer.bpm, 140.5);
    // Esc cancels a prompt without applying it.
    r.keys(&["b"]);
    r.type_text("99");
    r.keys(&["<Esc>"]);
    assert!(r.app.ui.prompt.is_none());
    assert_eq!(r.live.ctl().song().sequencer.bpm, 140.5);
    // Swing.
    r.keys(&["]", "]"]);
    assert!((r.live.ctl().song().sequencer.swing - 0.2).abs() < 1e-9);
}

#[test]
fn tap_tempo_averages_taps_within_two_seconds() {
    let mut r = rig();
    let t0 = Instant::now();
    let tap = |r: &mut Rig, ms: u64| {
        let at = t0 + Duration::from_millis(ms);
        r.app.act_at(r.live.ctl_mut(), Action::TapTempo, at);
    };
    tap(&mut r, 0);
    assert_eq!(
        r.live.ctl().song().sequencer.bpm,
        128.0,
        "one tap sets nothing"
    );
    tap(&mut r, 500);
    assert_eq!(r.live.ctl().song().sequencer.bpm, 120.0);
    tap(&mut r, 1000);
    tap(&mut r, 1600);
    // (1600 ms / 3 intervals) = 533.3 ms → 112.5 BPM.
    assert_eq!(r.live.ctl().song().sequencer.bpm, 112.5);
    // A pause longer than 2 s starts over.
    tap(&mut r, 5000);
    assert_eq!(r.live.ctl().song().sequencer.bpm, 112.5);
    tap(&mut r, 5400);
    assert_eq!(r.live.ctl().song().sequencer.bpm, 150.0);
}

#[test]
fn tracks_are_added_renamed_moved_and_removed() {
    let mut r = rig();
    r.keys(&["a"]);
    assert_eq!(r.app.ui.prompt.as_ref().unwrap().text, "track1");
    r.answer("lead");
    assert_eq!(r.names(), ["kick", "lead", "bass", "hat", "poly"]);
    let lead = r.track("lead");
    assert_eq!(lead.voice_id, "voice5", "the next free voice");
    assert_eq!(lead.pattern, "................");
    assert_eq!(r.app.ui.track, 1);
    // A name in use is refused with the name quoted; the prompt stays.
    r.keys(&["r"]);
    r.answer("bass");
    assert_eq!(
        r.app.ui.prompt.as_ref().unwrap().error.as_deref(),
        Some("a track named \"bass\" exists already")
    );
    r.answer("acid");
    assert_eq!(r.names(), ["kick", "acid", "bass", "hat", "poly"]);
    r.keys(&["J", "J"]);
    assert_eq!(r.names(), ["kick", "bass", "hat", "acid", "poly"]);
    assert_eq!(r.app.ui.track, 3, "the selection moves with the track");
    r.keys(&["v"]);
    assert_eq!(r.track("acid").voice_id, "voice6");
    r.keys(&["e", "v"]);
    r.answer("voice9");
    assert!(
        r.app.ui.prompt.as_ref().unwrap().error.as_deref()
            == Some("\"voice9\" is not a voice: type 1–8")
    );
    r.answer("7");
    assert_eq!(r.track("acid").voice_id, "voice7");
    r.keys(&["D"]);
    assert_eq!(r.names(), ["kick", "bass", "hat", "poly"]);
}

#[test]
fn notes_are_typed_as_names_or_numbers() {
    let mut r = rig();
    r.keys(&["j", "n"]);
    assert_eq!(r.app.ui.prompt.as_ref().unwrap().text, "C2 C2 D#2 G2");
    // Read as OSC and slot files read notes: what is no note is skipped, and said.
    r.answer("C2 d#2, 60 261.63 H9");
    assert_eq!(r.track("bass").notes, [65.41, 77.78, 261.63, 261.63]);
    assert_eq!(
        r.message(),
        "bass notes: C2 D#2 C4 C4 — \"H9\" is not a note (Hz with a dot, a MIDI number or a name like C4): skipped"
    );
    r.keys(&["n"]);
    r.answer("C2 d#2, 60 261.63");
    assert_eq!(r.track("bass").notes, [65.41, 77.78, 261.63, 261.63]);
    assert_eq!(r.message(), "bass notes: C2 D#2 C4 C4");
    // Numeric fields: typed and nudged.
    r.keys(&["e", "c"]);
    r.answer("1200");
    assert_eq!(r.track("bass").filter_freq, 1200.0);
    // Levels step in dB (issue 13): 0.35 → +1 dB → +1 dB.
    r.keys(&["}", "}"]);
    assert_eq!(r.track("bass").base_amp, 0.4406);
    r.keys(&["e", "g"]);
    r.answer("2");
    assert!(
        r.app
            .ui
            .prompt
            .as_ref()
            .unwrap()
            .error
            .as_deref()
            .unwrap()
            .starts_with("\"2\" is out of range")
    );
}

#[test]
fn parameters_step_fine_and_coarse_and_take_exact_values() {
    let mut r = rig();
    let freq = ParamId::voice(1, voice::FREQ);
    r.keys(&["<Tab>"]);
    assert_eq!(r.app.ui.focus, Panel::Params);
    // The kick's notes set voice1's pitch on every hit: its freq row is not heard and is not
    // offered for editing (issue 13).
    r.keys(&["l"]);
    assert_eq!(r.live.ctl().song().params.get(freq), 440.0);
    assert!(
        r.message().contains("not heard: notes set the pitch"),
        "{}",
        r.message()
    );
    // The cutoff row shows what sounds, the kick's 150 Hz, and edits both the voice and the
    // kick. Frequencies step musically: fine = a semitone, coarse = an octave.
    let cutoff1 = ParamId::voice(1, voice::FILTER_FREQ);
    r.keys(&["j", "j", "j"]);
    r.keys(&["l"]);
    assert_eq!(r.live.ctl().song().params.get(cutoff1), 158.9);
    assert_eq!(r.track("kick").filter_freq, 158.9);
    r.keys(&["L"]);
    assert_eq!(r.track("kick").filter_freq, 317.8);
    r.keys(&["H", "h", "h"]);
    assert_eq!(r.track("kick").filter_freq, 141.6);
    assert_eq!(r.live.ctl().song().params.get(cutoff1), 141.6);
    // Next module: acid1, first parameter cutoff.
    r.keys(&["n"]);
    let cutoff = ParamId::acid(acid::CUTOFF);
    assert_eq!(r.app.selected_param(r.live.ctl()), cutoff);
    r.keys(&["e"]);
    r.answer("9000");
    assert_eq!(
        r.app.ui.prompt.as_ref().unwrap().error.as_deref(),
        Some("\"9000\" is out of range: cutoff takes 80–5000 Hz")
    );
    r.answer("2000");
    assert_eq!(r.live.ctl().song().params.get(cutoff), 2000.0);
    r.keys(&["d"]);
    assert_eq!(r.live.ctl().song().params.get(cutoff), 1500.0);
    // The voice panel follows the selected track.
    r.keys(&["N", "<C-n>", "<C-n>"]);
    assert_eq!(
        r.app.selected_param(r.live.ctl()),
        ParamId::voice(3, voice::FREQ)
    );
}

#[test]
fn mute_and_solo_toggle_the_selected_track() {
    let mut r = rig();
    r.keys(&["m"]);
    assert!(r.track("kick").muted);
    r.keys(&["j", "s"]);
    assert!(r.track("bass").solo);
    let screen = r.screen(80, 24);
    let kick = screen.lines().find(|l| l.contains("kick ")).unwrap();
    assert!(kick.contains(" v1 M· 16"), "{kick}");
    let bass = screen.lines().find(|l| l.contains("bass ")).unwrap();
    assert!(bass.contains(" v2 ·S 16"), "{bass}");
    r.keys(&["s", "k", "m"]);
    assert!(!r.track("kick").muted && !r.track("bass").solo);
}

#[test]
fn tracks_and_patterns_are_copied_and_pasted() {
    let mut r = rig();
    let kick = r.track("kick").clone();
    r.keys(&["y", "j", "p"]);
    let bass = r.track("bass");
    assert_eq!(bass.pattern, kick.pattern);
    assert_eq!(bass.notes, kick.notes);
    assert_eq!(bass.filter_freq, kick.filter_freq);
    assert_eq!(bass.voice_id, "voice2", "the target keeps its voice");
    assert_eq!(r.names(), ["kick", "bass", "hat", "poly"]);
    // Pasting a track onto itself adds a copy below it.
    r.keys(&["k", "p"]);
    assert_eq!(r.names(), ["kick", "kick2", "bass", "hat", "poly"]);
    assert_eq!(r.track("kick2").pattern, kick.pattern);
    assert_eq!(r.app.ui.track, 1);
    // The whole pattern.
    let before = r.live.ctl().song().sequencer.tracks.clone();
    r.keys(&["Y", "D", "D", "D"]);
    assert_eq!(r.names(), ["kick", "poly"]);
    r.keys(&["P"]);
    assert_eq!(r.live.ctl().song().sequencer.tracks, before);
}

#[test]
fn undo_and_redo_restore_the_exact_song() {
    let mut r = rig();
    let original: Slot = r.live.ctl().song().clone();
    r.keys(&["x", "+", "j", "D", "<Tab>", "L", "<F1>"]);
    r.keys(&["a"]);
    r.answer("lead");
    let edited = r.live.ctl().song().clone();
    assert_ne!(edited, original);
    r.keys(&["u", "u", "u", "u", "u"]);
    assert_eq!(*r.live.ctl().song(), original);
    assert_eq!(r.message(), "undone: step 1 of kick");
    for _ in 0..5 {
        r.keys(&["<C-r>"]);
    }
    assert_eq!(*r.live.ctl().song(), edited);
    r.keys(&["<C-r>"]);
    assert_eq!(*r.live.ctl().song(), edited);
    assert_eq!(r.message(), "nothing to redo");
}

#[test]
fn quitting_with_unsaved_edits_asks_first() {
    let mut r = rig();
    r.keys(&["q"]);
    assert!(r.app.ui.quit, "a clean song quits at once");

    let mut r = rig();
    r.keys(&["x", "q"]);
    assert!(!r.app.ui.quit);
    assert!(matches!(
        r.app.ui.overlay,
        Some(Overlay::Confirm {
            question: Question::Quit,
            ..
        })
    ));
    let screen = r.screen(80, 24);
    assert!(
        screen.contains("1 slot has unsaved drafts — quit anyway (they stay in drafts/ and"),
        "{screen}"
    );
    assert!(
        screen.contains("y quit · S save and quit · n no"),
        "{screen}"
    );
    // Other keys do nothing while the question is open.
    r.keys(&["x", "<Space>"]);
    assert_eq!(r.track("kick").pattern, "x...X...X...X...");
    assert!(!r.live.ctl().status().running);
    r.keys(&["n"]);
    assert!(r.app.ui.overlay.is_none() && !r.app.ui.quit);
    r.keys(&["q", "y"]);
    assert!(r.app.ui.quit);
}

#[test]
fn saving_over_a_different_pattern_asks_and_empty_slots_do_not() {
    let mut r = rig();
    r.keys(&["x", "+"]);
    // Slot 9 is empty: saved at once.
    r.keys(&["S"]);
    assert_eq!(r.app.ui.prompt.as_ref().unwrap().text, "1");
    r.answer("9");
    assert!(r.app.ui.overlay.is_none());
    let saved = Store::new(r.live.dir.path())
        .load(SlotNumber::new(9).unwrap())
        .unwrap();
    assert_eq!(saved.slot.sequencer.tracks[0].pattern, "x...X...X...X...");
    assert_eq!(saved.slot.sequencer.bpm, 129.0);
    assert!(!r.live.ctl().is_dirty());
    // A bad slot number is quoted.
    r.keys(&["S"]);
    r.answer("200");
    let err = r.app.ui.prompt.as_ref().unwrap().error.clone().unwrap();
    assert!(err.contains("\"200\""), "{err}");
    // Slot 2 holds "Dub Steps": a question first, nothing written until yes.
    r.answer("2");
    assert!(r.app.ui.prompt.is_none());
    match &r.app.ui.overlay {
        Some(Overlay::Confirm {
            question: Question::Overwrite(s),
            text,
        }) => {
            assert_eq!(s.get(), 2);
            assert!(text.contains("\"Dub Steps\""), "{text}");
        }
        other => panic!("expected the overwrite question, got {other:?}"),
    }
    let store = Store::new(r.live.dir.path());
    let two = SlotNumber::new(2).unwrap();
    assert_eq!(store.load(two).unwrap().slot.metadata.name, "Dub Steps");
    r.keys(&["<Esc>"]);
    assert_eq!(store.load(two).unwrap().slot.metadata.name, "Dub Steps");
    r.keys(&["S"]);
    r.answer("2");
    r.keys(&["y"]);
    let two_now = store.load(two).unwrap().slot;
    assert_eq!(
        two_now.sequencer.tracks,
        r.live.ctl().song().sequencer.tracks
    );
    assert_eq!(r.live.ctl().slot(), Some(two));
    // The browser saw the saves.
    assert!(r.app.ui.slots[8].is_some());
}

#[test]
fn slots_load_from_the_browser_and_by_prompt() {
    let mut r = rig();
    r.keys(&["<F3>"]);
    assert_eq!(
        r.app.ui.slot_cursor, 1,
        "the browser opens on the current slot"
    );
    r.keys(&["j", "O"]);
    assert_eq!(r.live.ctl().slot(), SlotNumber::new(2).ok());
    assert_eq!(r.live.ctl().song().metadata.name, "Dub Steps");
    assert_eq!(r.names(), ["chord"]);
    // By prompt (from the grid: in the browser `o` loads the slot under the cursor): an
    // empty slot is refused with its number quoted.
    r.keys(&["<F1>", "o"]);
    r.answer("77");
    assert_eq!(
        r.app.ui.prompt.as_ref().unwrap().error.as_deref(),
        Some("slot \"77\" is empty")
    );
    r.answer("1");
    assert_eq!(r.live.ctl().song().metadata.name, "Acid Line");
    // While stopped a bar-aligned load applies at once; undo brings the previous song back.
    r.keys(&["u"]);
    assert_eq!(r.live.ctl().song().metadata.name, "Dub Steps");
}

#[test]
fn the_command_prompt_runs_any_action_and_names_typos() {
    let mut r = rig();
    r.keys(&[":"]);
    r.type_text("bpm_nudge +2");
    r.keys(&["<Enter>"]);
    assert_eq!(r.live.ctl().song().sequencer.bpm, 130.0);
    r.keys(&[":"]);
    r.type_text("undoo");
    r.keys(&["<Enter>"]);
    let err = r.app.ui.prompt.as_ref().unwrap().error.clone().unwrap();
    assert!(err.contains("did you mean `undo`"), "{err}");
    r.keys(&["<Esc>", "?"]);
    assert!(matches!(r.app.ui.overlay, Some(Overlay::Help { .. })));
    r.keys(&["j", "j"]);
    assert_eq!(r.app.ui.overlay, Some(Overlay::Help { scroll: 2 }));
    r.keys(&["?"]);
    assert!(r.app.ui.overlay.is_none());
}

#[test]
fn recording_starts_and_stops_and_the_transport_says_rec() {
    let mut r = rig();
    r.keys(&["<Space>", "R"]);
    assert!(r.live.ctl().recording().is_some(), "{}", r.message());
    assert!(r.message().starts_with("recording to "), "{}", r.message());
    let top = r.screen(120, 40).lines().next().unwrap().to_string();
    assert!(
        top.starts_with(" ▶ PLAY") && top.ends_with("● REC"),
        "{top}"
    );
    let mut buf = vec![0.0f32; 256];
    for _ in 0..100 {
        r.live.runner.render(&mut buf);
    }
    r.keys(&["R"]);
    assert!(r.live.ctl().recording().is_none());
    assert!(r.message().starts_with("recorded "), "{}", r.message());
    let wavs = fs::read_dir(r.live.dir.path().join("recordings"))
        .unwrap()
        .count();
    assert_eq!(wavs, 1);
    assert!(!r.screen(120, 40).contains("REC"));
}

// ---------------------------------------------------------------- files changed on disk

/// Longest wait for the watcher; generous for a loaded 2-core machine.
const WATCH_TIMEOUT: Duration = Duration::from_secs(20);

/// A rig whose app holds a watcher on its temp folder, as `tui::run` sets it up.
fn watched_rig() -> Rig {
    rig_with(true)
}

/// Saves `text` the way most editors do: a temp file in `slots/` renamed over the slot.
fn save_like_an_editor(dir: &Path, n: u8, text: &str) {
    let slots = dir.join("slots");
    let tmp = slots.join(format!(".slot_{n:03}.json.tmp"));
    fs::write(&tmp, text).unwrap();
    fs::rename(&tmp, slots.join(format!("slot_{n:03}.json"))).unwrap();
}

/// SLOT_1 with kick steps 8 and 11, bass's base_amp and acid1's cutoff changed.
fn slot_1_edited() -> String {
    SLOT_1
        .replace("\"X...X...X...X...\"", "\"X...X..xX.X.X...\"")
        .replace("\"base_amp\": 0.35", "\"base_amp\": 0.4")
        .replace(
            "\"modules\": { \"voice3\": { \"waveform\": 3 } }",
            "\"modules\": { \"voice3\": { \"waveform\": 3 }, \"acid1\": { \"cutoff\": 900.0 } }",
        )
}

impl Rig {
    /// One turn of the tracker's loop: one audio block, then the engine's events, the
    /// watcher, the notices and the tick, in `tui::run`'s order.
    fn turn(&mut self) {
        let mut notices = std::mem::take(&mut self.held);
        notices.extend(self.live.turn(true));
        self.app.on_notices(self.live.ctl(), &notices);
        self.app.tick(self.live.ctl_mut(), Instant::now());
    }

    /// Runs the loop until `cond` holds, giving the file system time between turns.
    fn wait_for(&mut self, what: &str, cond: impl Fn(&Rig) -> bool) {
        let deadline = Instant::now() + WATCH_TIMEOUT;
        while !cond(self) {
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {what}; message: {}",
                self.message()
            );
            self.turn();
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    /// Runs the loop as fast as the engine renders until `cond` holds (at most 100 bars).
    fn play_until(&mut self, what: &str, cond: impl Fn(&Rig) -> bool) {
        for _ in 0..100 * 750 {
            if cond(self) {
                return;
            }
            self.turn();
        }
        panic!("{what} did not happen within 100 bars");
    }
}

/// The screen row of a grid track and the column of each of its steps (16 steps, 3 columns
/// each, a blank after every 4, as at 120×40).
fn grid_cells(buf: &Buffer, name: &str) -> (u16, impl Fn(u16) -> u16) {
    let y = (0..buf.area.height)
        .find(|&y| {
            let line: String = (0..buf.area.width).map(|x| buf[(x, y)].symbol()).collect();
            line.contains(&format!("{name} ")) && line.contains(" v")
        })
        .unwrap_or_else(|| panic!("no grid row for {name}"));
    // The first step column: the kick row starts with an `X` or `x`; any row's first step
    // is the column after "vc MS len".
    let line: String = (0..buf.area.width).map(|x| buf[(x, y)].symbol()).collect();
    let len_end = line.find(" 16 ").or_else(|| line.find(" 12 ")).unwrap() + 4;
    let x0 = line[..len_end].chars().count() as u16;
    let x0 = (x0..buf.area.width)
        .find(|&x| buf[(x, y)].symbol() != " ")
        .unwrap();
    (y, move |step: u16| x0 + step * 3 + step / 4)
}

fn underlined(buf: &Buffer, x: u16, y: u16) -> bool {
    buf[(x, y)].modifier.contains(Modifier::UNDERLINED)
}

/// The changed-on-disk highlight: magenta and underlined (the playhead may paint over the
/// colour, never over the underline).
fn highlighted(buf: &Buffer, x: u16, y: u16) -> bool {
    let c = &buf[(x, y)];
    underlined(buf, x, y) && (c.fg == Color::Magenta || c.bg == Color::Blue)
}

/// The first cell of `text` on the row that also contains `row_has`.
fn find_text(buf: &Buffer, row_has: &str, text: &str) -> (u16, u16) {
    for y in 0..buf.area.height {
        let cells: Vec<&str> = (0..buf.area.width).map(|x| buf[(x, y)].symbol()).collect();
        let line: String = cells.concat();
        if !line.contains(row_has) {
            continue;
        }
        let Some(at) = line.find(text) else {
            continue;
        };
        // Cells hold one character each here, so the char index is the column.
        return (line[..at].chars().count() as u16, y);
    }
    panic!("no {text:?} on a row with {row_has:?}");
}

#[test]
fn an_edit_on_disk_to_the_playing_slot_is_highlighted_and_applies_at_the_next_bar() {
    let mut r = watched_rig();
    r.keys(&["<Space>"]);
    r.play_until("the first bar", |r| r.live.ctl().status().global_step >= 2);
    save_like_an_editor(r.live.dir.path(), 1, &slot_1_edited());
    r.wait_for("the reload", |r| r.app.ui.changes.is_some());

    let (slot, bar) = r.live.ctl().status().queued.expect("queued for a bar");
    assert_eq!(slot.get(), 1);
    assert_eq!(bar, r.live.ctl().status().bar + 1, "the next bar");
    // Queued: the grid keeps showing what plays until the bar.
    let queued = r
        .live
        .ctl()
        .queued()
        .expect("held apart until its bar")
        .song;
    assert_eq!(queued.sequencer.tracks[0].pattern, "X...X..xX.X.X...");
    assert_eq!(r.track("kick").pattern, "X...X...X...X...");
    assert!(!r.live.ctl().is_dirty());
    // What changed, and the loader's warnings about the file (SLOT_1's hat plays 8000 Hz,
    // above base_freq's range) on the same line so they are not hidden behind it.
    let m = r.app.ui.message.clone().unwrap();
    assert_eq!(m.level, Level::Warning);
    let summary = format!(
        "slot 1 changed on disk — applies at bar {bar}: kick steps 8, 11; bass base_amp; acid1/cutoff"
    );
    assert!(
        m.text.starts_with(&format!(
            "{summary} — slot 1: sequencer.tracks.hat.base_freq: 8000 is out of range 20–5000 Hz, clamped to 5000"
        )),
        "{}",
        m.text
    );

    // Until the bar the grid shows what plays; the preview shows the queued file's version.
    r.keys(&["w"]);
    assert!(r.app.ui.preview);
    assert!(r.screen(120, 40).contains("PREVIEW slot 1"));
    let term = r.render(120, 40);
    let buf = term.backend().buffer();
    let (kick, col) = grid_cells(buf, "kick");
    for step in 0..16 {
        let changed = step == 7 || step == 10;
        assert_eq!(
            highlighted(buf, col(step), kick),
            changed,
            "kick step {}",
            step + 1
        );
    }
    // The kick has notes: its hits show the note (A1), an accent in bold.
    let bold = |x: u16| buf[(x, kick)].modifier.contains(Modifier::BOLD);
    assert_eq!(buf[(col(7), kick)].symbol(), "A");
    assert_eq!(buf[(col(10), kick)].symbol(), "A");
    assert!(!bold(col(7)) && bold(col(10)));
    // The tracks that changed are marked by name; the others are not.
    let (x, y) = find_text(buf, " v2 ", "bass");
    assert!(highlighted(buf, x, y), "bass's base_amp changed");
    let (x, y) = find_text(buf, " v3 ", "hat");
    assert!(!underlined(buf, x, y), "hat did not change");
    // The changed parameter in the module overview: acid1's cutoff reads 900, highlighted.
    let (x, y) = find_text(buf, "cutoff", "900");
    assert!(highlighted(buf, x, y) && highlighted(buf, x + 2, y));
    let (x, y) = find_text(buf, "res", "0.45");
    assert!(!underlined(buf, x, y), "acid1's res did not change");
    // The transport: the tempo did not change.
    let (x, y) = find_text(buf, "BPM", "128.0");
    assert!(!underlined(buf, x, y));

    // Heard at the bar it was queued for, and said so.
    // (The file's clamp warning stays on the line until seen; the log has the news.)
    let applied = |r: &Rig| {
        r.app
            .ui
            .log
            .iter()
            .rev()
            .find(|e| e.text.contains("applied"))
            .map(|e| e.text.clone())
    };
    r.play_until("the applied message", |r| applied(r).is_some());
    assert_eq!(
        applied(&r).unwrap(),
        format!(
            "slot 1 changed on disk — applied at bar {bar}: kick steps 8, 11; bass base_amp; acid1/cutoff"
        )
    );
    assert_eq!(
        r.live.ctl().status().playing_slot,
        Some(SlotNumber::new(1).unwrap())
    );
    assert_eq!(r.live.ctl().status().queued, None);
    // The highlight stays for a few bars, then goes.
    assert!(r.app.ui.changes.is_some());
    r.play_until("the end of the highlight", |r| r.app.ui.changes.is_none());
    assert_eq!(r.live.ctl().status().bar, bar + HIGHLIGHT_BARS);
    let term = r.render(120, 40);
    let buf = term.backend().buffer();
    let (kick, col) = grid_cells(buf, "kick");
    assert!(!underlined(buf, col(7), kick) && !underlined(buf, col(10), kick));
}

#[test]
fn an_edit_on_disk_under_unsaved_edits_asks_and_k_keeps_and_t_takes() {
    let mut r = watched_rig();
    r.keys(&["<Space>"]);
    r.play_until("the first steps", |r| {
        r.live.ctl().status().global_step >= 2
    });
    r.keys(&["x"]);
    assert_eq!(r.track("kick").pattern, "x...X...X...X...");
    assert!(r.live.ctl().is_dirty());

    save_like_an_editor(r.live.dir.path(), 1, &slot_1_edited());
    r.wait_for("the conflict question", |r| r.app.ui.overlay.is_some());
    assert!(matches!(
        r.app.ui.overlay,
        Some(Overlay::Confirm {
            question: Question::Conflict(s),
            ..
        }) if s.get() == 1
    ));
    let screen = r.screen(80, 24);
    assert!(screen.contains("Slot 1 changed on disk"), "{screen}");
    // Wrapped inside the window at 80 columns.
    for part in [
        "│ slot 1 changed on disk while you have unsaved edits — [t]ake the     │",
        "│ file's version at the next bar / [k]eep your edits                   │",
    ] {
        assert!(screen.contains(part), "{part}\n{screen}");
    }
    assert!(
        screen.contains("t take the file's version · k keep your edits"),
        "{screen}"
    );
    // Nothing is queued until the performer answers; grid keys do nothing meanwhile.
    assert_eq!(r.live.ctl().status().queued, None);
    r.keys(&["X"]);
    assert_eq!(r.track("kick").pattern, "x...X...X...X...");

    // k: the screen's edits stay, nothing is queued, and that file version is not offered again.
    r.keys(&["k"]);
    assert!(r.app.ui.overlay.is_none());
    for _ in 0..3 {
        r.turn();
    }
    assert_eq!(r.track("kick").pattern, "x...X...X...X...");
    assert!(r.live.ctl().is_dirty());
    assert_eq!(r.live.ctl().status().queued, None);
    assert!(r.app.ui.overlay.is_none());
    assert_eq!(
        r.message(),
        "kept your edits to slot 1; save to overwrite the file's version"
    );

    // The next save asks again; t queues the file's version for the next bar.
    let second = slot_1_edited().replace("\"bpm\": 128.0", "\"bpm\": 131.0");
    save_like_an_editor(r.live.dir.path(), 1, &second);
    r.wait_for("the second question", |r| r.app.ui.overlay.is_some());
    r.keys(&["t"]);
    assert!(r.app.ui.overlay.is_none());
    let (slot, bar) = r
        .live
        .ctl()
        .status()
        .queued
        .expect("the file's version is queued");
    assert_eq!(slot.get(), 1);
    assert_eq!(bar, r.live.ctl().status().bar + 1);
    let queued = r
        .live
        .ctl()
        .queued()
        .expect("held apart until its bar")
        .song;
    assert_eq!(queued.sequencer.tracks[0].pattern, "X...X..xX.X.X...");
    assert_eq!(queued.sequencer.bpm, 131.0);
    // Until the bar, the unsaved edits still play.
    assert!(r.live.ctl().is_dirty());
    r.turn();
    assert!(
        r.message().starts_with(&format!(
            "slot 1 changed on disk — applies at bar {bar}: tempo 128 → 131; kick steps 1, 8, 11; bass base_amp; acid1/cutoff — slot 1: "
        )),
        "{}",
        r.message()
    );
    // Compared with the screen's song: kick step 1 was the unsaved `x`.
    let changes = r.app.ui.changes.as_ref().expect("highlighted");
    assert!(changes.step("kick", 0) && changes.step("kick", 7));
    // The tempo the file changed is highlighted in the transport.
    r.play_until("the file's version to play", |r| {
        r.live.ctl().queued().is_none()
    });
    let term = r.render(120, 40);
    let (x, y) = find_text(term.backend().buffer(), "BPM", "131.0");
    assert!(highlighted(term.backend().buffer(), x, y));

    // `t` answers only this question: it does not quit past the unsaved-edits question.
    r.keys(&["x", "q", "t"]);
    assert!(!r.app.ui.quit);
    assert!(matches!(
        r.app.ui.overlay,
        Some(Overlay::Confirm {
            question: Question::Quit,
            ..
        })
    ));
}

#[test]
fn another_slots_file_changing_refreshes_its_browser_row_only() {
    let mut r = watched_rig();
    let song = r.live.ctl().song().clone();
    let renamed = SLOT_2
        .replace("Dub Steps", "Dub Plates")
        .replace("92.0", "96.5");
    save_like_an_editor(r.live.dir.path(), 2, &renamed);
    r.wait_for("the browser to follow", |r| {
        r.app.ui.slots[1]
            .as_ref()
            .is_some_and(|row| row.name == "Dub Plates")
    });
    let row = r.app.ui.slots[1].as_ref().unwrap();
    assert_eq!(row.bpm, 96.5);
    assert!(row.changed);
    assert_eq!(r.message(), "slot 2 \"Dub Plates\" changed on disk");
    let screen = r.screen(120, 40);
    let line = screen
        .lines()
        .find(|l| l.contains("Dub Plates"))
        .unwrap_or_else(|| panic!("no row for Dub Plates:\n{screen}"));
    let from = line.rfind("││").unwrap() + "││".len();
    let row_text = &line[from..];
    assert!(row_text.starts_with("  ~  2 Dub Plates"), "{row_text}");
    assert!(row_text.contains(" 96.5 "), "{row_text}");
    // The playing slot is untouched and nothing is queued or highlighted.
    assert_eq!(*r.live.ctl().song(), song);
    assert_eq!(r.live.ctl().status().queued, None);
    assert!(r.app.ui.changes.is_none());
    // Loading it reads it: the mark goes.
    r.keys(&["2"]);
    assert!(!r.app.ui.slots[1].as_ref().unwrap().changed);
}

// ---------------------------------------------------------------- a real terminal

#[test]
fn scripted_session_in_tmux_edits_and_saves_to_slot_9() {
    if !tmux_present() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    write_slot(dir.path(), 1, SLOT_1);
    let tmux = Tmux::new("tui-slot-9");
    let screen = tmux.start(dir.path(), &["--no-osc"]);
    assert!(screen.contains("kick"), "{screen}");

    // kick: step 2 becomes an accent, step 1 a hit; tempo 128 → 131 → typed 133.
    tmux.send(&["l", "x", "X", "+", "+", "+"]);
    tmux.wait_for("131 BPM", |s| s.contains("131.0 BPM"));
    tmux.send(&["b", "C-u", "133", "Enter"]);
    let screen = tmux.wait_for("133 BPM", |s| s.contains("133.0 BPM"));
    let kick = screen
        .lines()
        .find(|l| l.contains("kick ") && l.contains(" v1 "))
        .unwrap();
    // The kick's hits show its note, A1.
    assert!(kick.contains("A1 A1 A1 .   A1 .  .  ."), "{kick}");
    assert!(screen.contains("slot 1 \"Acid Line\" *"), "{screen}");

    tmux.send(&["S", "C-u", "9", "Enter"]);
    let screen = tmux.wait_for("the save", |s| s.contains("saved slot 9"));
    assert!(!screen.contains("\" *"), "saved means clean:\n{screen}");
    let row9 = screen
        .lines()
        .find(|l| l.contains("  9 Acid Line"))
        .unwrap_or_else(|| {
            panic!("slot 9 is not in the browser:\n{screen}");
        });
    assert!(row9.contains("133.0"), "{row9}");

    tmux.send(&["q"]);
    let deadline = Instant::now() + Duration::from_secs(10);
    while tmux.run(&["has-session", "-t", "chronus"]).status.success() {
        assert!(
            Instant::now() < deadline,
            "chronus did not quit:\n{}",
            tmux.capture()
        );
        std::thread::sleep(Duration::from_millis(50));
    }

    let text = fs::read_to_string(dir.path().join("slots/slot_009.json")).unwrap();
    let saved = chronus::model::slot::parse_slot(&text, "slot_009.json")
        .unwrap()
        .slot;
    assert_eq!(saved.sequencer.bpm, 133.0);
    assert_eq!(saved.sequencer.tracks[0].name, "kick");
    assert_eq!(saved.sequencer.tracks[0].pattern, "XxX.X...X...X...");
    assert_eq!(saved.sequencer.tracks[1].pattern, "x.x.X.x.x.xXx.x.");
}

// ---------------------------------------------------------------- clean text

#[test]
fn names_with_control_characters_show_escaped_everywhere_on_screen() {
    let evil = "k\u{1b}[2J\u{7}";
    let shown = "k\\u{1b}[2J\\u{7}";
    let mut r = rig();
    let song = SLOT_1
        .replace("\"Acid Line\"", "\"Acid\\u001b]0;pwned\\u0007\"")
        .replace(
            "\"kick\": { \"name\": \"kick\"",
            "\"k\\u001b[2J\\u0007\": { \"name\": \"k\\u001b[2J\\u0007\"",
        );
    write_slot(r.live.dir.path(), 3, &song);
    r.live
        .ctl_mut()
        .apply(Command::LoadSlot {
            slot: SlotNumber::new(3).unwrap(),
            immediate: true,
        })
        .unwrap();
    r.rescan(UNIX_EPOCH + Duration::from_secs(NOW));
    assert_eq!(r.live.ctl().song().sequencer.tracks[0].name, evil);
    r.app
        .ui
        .say(Level::Error, format!("about {evil}\nsecond line"));
    let screen = r.screen(120, 40);
    for (what, text) in [
        ("the grid and the panels", shown),
        ("the transport", "\"Acid\\u{1b}]0;pwned\\u{7}\""),
        ("the message line", "about k\\u{1b}[2J\\u{7}"),
    ] {
        assert!(screen.contains(text), "{what}:\n{screen}");
    }
    // The grid, the track and parameter panel titles and the message, each cut to its room.
    assert!(
        screen.matches("k\\u{1b}[2J").count() >= 4,
        "grid, track and params titles:\n{screen}"
    );
    // The browser (slot 3's name) and the rename prompt, prefilled with the name.
    r.keys(&["<F3>"]);
    assert!(r.screen(120, 40).contains("Acid\\u{1b}]0;pwned\\u{7}"));
    r.keys(&["<F1>", "r"]);
    let screen = r.screen(120, 40);
    assert!(
        screen.contains(&format!("› {shown}")) && screen.contains(&format!("track {shown}")),
        "{screen}"
    );
    r.keys(&["<Esc>", "M"]);
    assert!(r.screen(120, 40).contains("about k\\u{1b}[2J\\u{7}"));
    // Nothing of it reached a cell raw.
    let term = r.render(120, 40);
    for cell in term.backend().buffer().content() {
        let symbol = cell.symbol();
        assert!(
            !symbol.chars().any(chronus::model::text::is_unsafe_char),
            "{symbol:?}"
        );
    }
}

#[test]
fn keymap_descriptions_with_control_characters_show_escaped_in_the_help() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("keymap.toml");
    fs::write(
        &path,
        "[grid]\nprepend_keymap = [ { on = \"w\", run = \"undo\", desc = \"Undo\\u001b[2J now\" } ]\n",
    )
    .unwrap();
    let (keymap, error) = Keymap::load(Some(&path));
    assert!(error.is_none(), "{error:?}");
    let mut r = rig();
    r.app = App::new(keymap);
    r.app.ui.screen = (120, 40);
    r.keys(&["?"]);
    // The grid's section may be a page or two down.
    let mut screens = Vec::new();
    for _ in 0..6 {
        screens.push(r.screen(120, 40));
        r.keys(&["<PageDown>"]);
    }
    assert!(
        screens.iter().any(|s| s.contains("Undo\\u{1b}[2J now")),
        "{}",
        screens.join("\n")
    );
    assert!(screens.iter().all(|s| !s.contains('\u{1b}')));
}

/// At 80 columns, with a long slot name, a queued slot and a recording, the header shows the
/// play state, tempo, position, the queue countdown and REC whole: the name is shortened
/// first (keeping its end), then left out.
#[test]
fn the_header_never_cuts_the_queue_or_rec_at_80_columns() {
    let mut r = rig();
    r.live.apply(Command::SetName(
        "Anthem Breakbeat 174 with a very long name – fill".into(),
    ));
    r.live.apply(Command::Play);
    r.live.run(4_800);
    r.live.apply(Command::LoadSlot {
        slot: SlotNumber::new(2).unwrap(),
        immediate: false,
    });
    r.live.apply(Command::RecordStart(None));
    for w in [80u16, 90, 100, 120] {
        let screen = r.screen(w, 24);
        let header = screen.lines().next().unwrap();
        assert!(header.contains("▶ PLAY"), "{w}: {header}");
        assert!(header.contains("BPM"), "{w}: {header}");
        assert!(header.contains("→ slot 2 "), "{w}: {header}");
        assert!(header.contains("beat"), "{w}: {header}");
        assert!(header.contains("● REC"), "{w}: {header}");
        if w >= 100 {
            assert!(header.contains("– fill\""), "{w}: the name's end: {header}");
            assert!(header.contains('…'), "{w}: {header}");
        }
    }
    let _ = r.live.apply(Command::RecordStop);
}

/// Two slots whose names differ only at the end stay told apart in a narrow browser.
#[test]
fn the_browser_shows_the_distinguishing_end_of_long_names() {
    use chronus::frontend::tui::shorten_middle;
    let a = shorten_middle("Anthem Breakbeat 174", 14);
    let b = shorten_middle("Anthem Breakbeat 174 – fill", 14);
    assert_ne!(a, b);
    assert!(b.ends_with("– fill"), "{b}");
    assert_eq!(shorten_middle("short", 14), "short");
    assert_eq!(shorten_middle("Anthem Breakbeat 174", 0), "");
    for max in 1..30 {
        let s = shorten_middle("Anthem Breakbeat 174 – fill", max);
        assert!(
            unicode_width::UnicodeWidthStr::width(s.as_str()) <= max,
            "{max}: {s}"
        );
    }
    // Wide characters count as two columns.
    let w = shorten_middle("ドラムとベースのパターン", 9);
    assert!(
        unicode_width::UnicodeWidthStr::width(w.as_str()) <= 9,
        "{w}"
    );
}

/// The help overlay: each section whole in one column (never split across two), and a page
/// key scrolls by the rows the window shows, to the end and back, on small and large screens.
#[test]
fn the_help_keeps_sections_whole_and_pages_by_what_shows() {
    for (w, h) in [(80u16, 24u16), (120, 40), (200, 50)] {
        let mut r = rig();
        r.app.ui.screen = (w, h);
        r.keys(&["?"]);
        let screen = r.screen(w, h);
        // A section's title and its first row are in the same column.
        for s in &r.app.ui.help {
            if s.rows.is_empty() {
                continue;
            }
            let title_at = screen
                .lines()
                .find_map(|l| l.find(s.title).map(|x| l[..x].chars().count()));
            if let Some(tx) = title_at {
                let first = screen
                    .lines()
                    .skip_while(|l| !l.contains(s.title))
                    .nth(1)
                    .unwrap_or("");
                let col: String = first.chars().skip(tx).take(20).collect();
                if col.starts_with('─') {
                    // The title is on the page's last row: its rows are on the next page.
                    continue;
                }
                assert!(
                    col.trim_start()
                        .starts_with(s.rows[0].keys.chars().next().unwrap()),
                    "{w}×{h}: section {:?} split? next row in its column: {col:?}\n{screen}",
                    s.title
                );
            }
        }
        let (max, page) = chronus::frontend::tui::help_scroll_range(&r.app.ui.help, (w, h));
        assert_eq!(page as u16, h - 4, "{w}×{h}");
        r.keys(&["<PageDown>"]);
        assert_eq!(
            r.app.ui.overlay,
            Some(Overlay::Help {
                scroll: page.min(max)
            })
        );
        for _ in 0..20 {
            r.keys(&["<PageDown>"]);
        }
        assert_eq!(r.app.ui.overlay, Some(Overlay::Help { scroll: max }));
        // The last page still shows rows, not a blank window.
        let last = r.screen(w, h);
        assert!(
            last.lines().skip(2).take(3).any(|l| l.trim().len() > 4),
            "{last}"
        );
        r.keys(&["<PageUp>"]);
        assert_eq!(
            r.app.ui.overlay,
            Some(Overlay::Help {
                scroll: max.saturating_sub(page)
            })
        );
    }
}

#[test]
fn the_song_is_renamed_from_the_slot_browser_and_saved_with_its_name() {
    // Issue 13 item 7: the slot can be renamed from the tracker.
    let mut r = rig();
    r.keys(&["<F3>", "r"]);
    assert_eq!(r.app.ui.prompt.as_ref().unwrap().text, "Acid Line");
    r.answer("Acid Line – fill");
    assert_eq!(r.live.ctl().song().metadata.name, "Acid Line – fill");
    r.keys(&["<C-s>"]);
    r.live.settle_disk();
    let text = fs::read_to_string(r.live.root.join("slots/slot_001.json")).unwrap();
    assert!(text.contains("\"name\": \"Acid Line – fill\""), "{text}");
}

/// The grid row of track `name` on a rendered screen.
fn grid_row(screen: &str, name: &str) -> String {
    screen
        .lines()
        .find(|l| l.contains(&format!("{name} ")) && l.contains(" v"))
        .unwrap_or_else(|| panic!("no {name} row:\n{screen}"))
        .to_string()
}

#[test]
fn a_tracks_notes_show_in_the_cells_they_play_on_at_80_and_120_columns() {
    let mut r = rig();
    for (w, h) in [(80, 24), (120, 40)] {
        let screen = r.screen(w, h);
        // 16 steps get three columns a step at both sizes: the whole name replaces the mark.
        let bass = grid_row(&screen, "bass");
        assert!(
            bass.contains("C2 .  C2 .   D#2.  G2 .   C2 .  C2 D#2 G2 .  C2 ."),
            "{w}x{h}\n{bass}"
        );
        assert!(
            grid_row(&screen, "kick").contains("A1 .  .  .   A1"),
            "{w}x{h}"
        );
        // poly's three notes over four hits: the first loop, as it plays from Play.
        assert!(grid_row(&screen, "poly").contains("C4 .  .  D#4 .  .  G4 .   .  C4"));
        // A track without notes keeps its hit marks.
        assert!(grid_row(&screen, "hat").contains(".  .  x  ."), "{w}x{h}");
    }
    // The accent keeps its style under the name (bold), as the hit mark had it.
    let term = r.render(120, 40);
    let buf = term.backend().buffer();
    let (x, y) = row_with(buf, "C2 .  C2 .   D#2");
    let accent = x + 13;
    assert_eq!(buf[(accent, y)].symbol(), "D");
    assert!(buf[(accent, y)].modifier.contains(Modifier::BOLD));
    assert!(!buf[(x, y)].modifier.contains(Modifier::BOLD));
    // 32 steps: one column a step at 80 and 120 columns: the marks stay and the title names
    // the note under the cursor.
    r.keys(&["j"]);
    r.live
        .ctl_mut()
        .apply(Command::SetPattern {
            track: "bass".into(),
            pattern: "x.x.X.x.x.xXx.x.x.x.X.x.x.xXx.x.".into(),
        })
        .unwrap();
    r.keys(&["l", "l", "l", "l"]);
    for (w, h) in [(80, 24), (120, 40)] {
        let screen = r.screen(w, h);
        assert!(
            grid_row(&screen, "bass").contains("x.x. X.x. x.xX x.x."),
            "{screen}"
        );
        assert!(screen.contains("step 5 D#2"), "{screen}");
    }
    // Two columns a step (a wider terminal): the name without its octave in the cells, the
    // whole name of the note under the cursor in the title.
    let screen = r.screen(170, 40);
    assert!(
        grid_row(&screen, "bass")
            .contains("C . C .  D#. G .  C . C D# G . C . │C . D#.  G . C .  C . D#G  C . C ."),
        "{screen}"
    );
    assert!(screen.contains("step 5 D#2"), "{screen}");
}

#[test]
fn the_keyboard_piano_sets_every_hit_of_the_track_at_once_in_its_all_hits_mode() {
    let mut r = rig();
    // bass is selected; Z piano on (octave 3), a = every hit, z plays C3 on all of them.
    r.keys(&["j", "Z", "a"]);
    assert!(r.message().contains("every hit"), "{}", r.message());
    let screen = r.screen(80, 24);
    assert!(screen.contains("PIANO oct 3 ALL HITS"), "{screen}");
    r.keys(&["z"]);
    assert_eq!(r.track("bass").notes, vec![130.81]);
    assert_eq!(
        r.track("bass").pattern,
        "x.x.X.x.x.xXx.x.",
        "the steps stay"
    );
    assert_eq!(r.app.ui.step, 0, "the cursor stays");
    assert_eq!(r.message(), "bass: every hit plays C3");
    let screen = r.screen(120, 40);
    assert!(
        grid_row(&screen, "bass").contains("C3 .  C3 .   C3 .  C3 .   C3 .  C3 C3  C3 .  C3 ."),
        "{screen}"
    );
    // One undo step takes the old notes back (u is a piano key: leave the piano first).
    r.keys(&["<Esc>", "u"]);
    assert_eq!(r.track("bass").notes.len(), 4);
    // Back on, the piano starts on the step under the cursor again: w plays D4 on step 1
    // and the cursor moves on.
    r.keys(&["Z"]);
    assert!(!r.app.ui.piano_all);
    r.keys(&["w"]);
    assert_eq!(
        chronus::control::step_notes(r.track("bass"))[0],
        Some(293.66)
    );
    assert_eq!(r.app.ui.step, 1);
    // a toggles: on, then off again.
    r.keys(&["a"]);
    assert!(r.screen(80, 24).contains("ALL HITS"));
    r.keys(&["a"]);
    assert!(!r.screen(80, 24).contains("ALL HITS"));
}

/// The Modules panel names every parameter whole where it fits (120 columns); where it does
/// not, the selected parameter is named whole in its title.
#[test]
fn the_modules_panel_names_parameters_whole_or_in_its_title() {
    let r = rig();
    for w in [120u16, 160] {
        let screen = r.screen(w, 40);
        for name in [
            "env_amount",
            "vol_comp",
            "feedback",
            "highcut",
            "lowcut",
            "sync",
        ] {
            assert!(
                screen.lines().any(|l| l.contains(&format!(" {name} "))),
                "{w}: {name} whole:\n{screen}"
            );
        }
    }
    // Values with more digits take more room: one blank between columns at 80 and 120
    // columns; on a narrower screen names are cut, and the parameter selected in the panel
    // (acid1 env_amount) is named whole in the title.
    let mut r = rig();
    for (id, v) in [
        (ParamId::acid(acid::RES), 0.123),
        (ParamId::acid(acid::ENV_AMOUNT), 2345.0),
        (ParamId::dist(dist::DRIVE), 0.123),
        (ParamId::reverb(reverb::ROOM), 0.123),
        (ParamId::delay(delay::FEEDBACK), 0.123),
        (ParamId::lfo1(lfo::RATE), 0.0123),
        (ParamId::lfo2(lfo::RATE), 0.0123),
    ] {
        r.live.apply(Command::SetParam { id, value: v });
    }
    r.keys(&["<F2>", "n", "j", "j"]);
    let screen = r.screen(120, 40);
    assert!(screen.contains(" env_amount 2345 "), "{screen}");
    let screen = r.screen(80, 40);
    assert!(screen.contains(" env_amount 2345 "), "{screen}");
    let screen = r.screen(72, 40);
    let title = screen.lines().find(|l| l.contains(" Modules")).unwrap();
    assert!(
        title.contains("Modules · acid1 env_amount 2345 Hz"),
        "{title}\n{screen}"
    );
    assert!(screen.contains("0.012"), "{screen}");
}

/// Later in a set: bar 10, an unsaved edit, a slot queued (previewed or not), a recording.
/// At 80 columns the header still shows the queue countdown and REC whole (what is not
/// transport, queue or REC gives way before them).
#[test]
fn the_header_keeps_rec_whole_at_80_columns_late_in_a_set_with_preview() {
    let mut r = rig();
    r.live.apply(Command::SetName("Anthem".into()));
    r.live.apply(Command::Play);
    // Ten bars at 128 BPM (90 000 frames a bar), and a step into the eleventh.
    r.live.run(10 * 90_000 + 6_000);
    assert_eq!(r.live.ctl().status().bar, 10);
    r.live.apply(Command::LoadSlot {
        slot: SlotNumber::new(2).unwrap(),
        immediate: false,
    });
    r.live.apply(Command::RecordStart(None));
    for preview in [false, true] {
        r.app.ui.preview = preview;
        let screen = r.screen(80, 24);
        let header = screen.lines().next().unwrap();
        assert!(header.contains("▶ PLAY"), "{header}");
        assert!(header.contains("128.0 BPM"), "{header}");
        assert!(header.contains("bar 10.1.2"), "{header}");
        assert!(header.contains("→ slot 2 in 4 beats"), "{header}");
        assert!(header.contains("● REC"), "{header}");
    }
    let _ = r.live.apply(Command::RecordStop);
}

/// A synced delay time steps through note values under h/l (freeing it would clamp a long
/// synced time to the free range); a typed time frees it.
#[test]
fn a_synced_delay_time_steps_through_note_values_and_a_typed_time_frees_it() {
    let mut r = rig();
    let sync = ParamId::delay(delay::SYNC);
    let time = ParamId::delay(delay::TIME);
    r.live.apply(Command::SetParam {
        id: sync,
        value: 11.0, // 1/2: 0.9375 s at 128 BPM, beyond the free 0.6 s
    });
    // Params panel, module 5 (delay1), its first row: time.
    r.keys(&["<F2>", "n", "n", "n", "n"]);
    assert_eq!(r.app.selected_param(r.live.ctl()), time);
    r.keys(&["l"]);
    assert_eq!(r.live.ctl().song().params.get(sync), 12.0);
    r.keys(&["h", "h"]);
    assert_eq!(r.live.ctl().song().params.get(sync), 10.0);
    let screen = r.screen(120, 40);
    assert!(screen.contains("sync 1/4."), "{screen}");
    assert!(
        screen.contains("synced: h/l step the note value"),
        "{screen}"
    );
    // 1/4. is 1.5 beats: 0.703 s at the song's 128 BPM…
    let time_row = |screen: &str| {
        screen
            .lines()
            .find(|l| l.contains("time") && l.contains("sync 1/4."))
            .map(str::to_string)
            .unwrap_or_else(|| panic!("{screen}"))
    };
    assert!(time_row(&screen).contains("0.703"), "{screen}");
    // …and 0.6 s while a followed clock plays 150 BPM, as the engine plays it.
    r.live.apply(Command::FollowTempo(150.0));
    let screen = r.screen(120, 40);
    assert!(time_row(&screen).contains("0.600"), "{}", time_row(&screen));
    r.live.apply(Command::FollowTempo(128.0));
    r.keys(&["<Enter>"]);
    r.answer("0.3");
    assert_eq!(r.live.ctl().song().params.get(sync), 0.0);
    assert_eq!(r.live.ctl().song().params.get(time), 0.3);
}

// ---------------------------------------------------------------- step data and fill

/// Step data on kick and bass, set by command: a ratchet, a fill condition, a chance, a lock,
/// micro-timing and an own note.
fn with_step_data(r: &mut Rig) {
    use chronus::control::StepEdit;
    for (track, step, key, value) in [
        ("kick", 4, "ratchet", "3"),
        ("kick", 8, "cond", "fill"),
        ("kick", 12, "chance", "50"),
        ("bass", 0, "cutoff", "1800"),
        ("bass", 2, "micro", "0.25"),
        ("bass", 4, "note", "C3"),
        ("bass", 6, "cond", "1:4"),
        ("hat", 2, "velocity", "0.5"),
    ] {
        r.live.apply(Command::SetStepData {
            track: track.into(),
            step,
            edit: StepEdit::parse(key, Some(value)).unwrap(),
        });
    }
}

/// Marks of step data at 80 and 120 columns: one character after the hit (`²`…`⁸` ratchet,
/// `ᶠ` fill, `?` another condition, `%` chance, `*` lock, `~` micro, `'` note or velocity);
/// the title words the data of the step under the cursor.
#[test]
fn snapshot_step_data_marks() {
    snapshot_both("step_data_marks", |r| {
        with_step_data(r);
        r.keys(&["l", "l", "l", "l"]);
    });
    let mut r = rig();
    with_step_data(&mut r);
    r.keys(&["l", "l", "l", "l"]);
    for (w, h) in [(80u16, 24u16), (120, 40)] {
        let screen = r.screen(w, h);
        let kick = screen.lines().find(|l| l.contains("kick")).unwrap();
        assert!(
            kick.contains('³') && kick.contains('ᶠ') && kick.contains('%'),
            "{w}: {kick}"
        );
        let bass = screen.lines().find(|l| l.contains("bass")).unwrap();
        assert!(
            bass.contains('*') && bass.contains('~') && bass.contains('?'),
            "{w}: {bass}"
        );
        assert!(screen.contains("step 5 ratchet 3"), "{w}: {screen}");
    }
}

#[test]
fn the_step_editor_edits_the_step_under_the_cursor_and_shows_its_data() {
    let mut r = rig();
    r.keys(&["l", "l", "l", "l", "T"]);
    let label = r.app.ui.prompt.as_ref().unwrap().label.clone();
    assert!(label.starts_with("Step 5 of kick: no step data"), "{label}");
    r.type_text("rat");
    r.keys(&["<Tab>"]);
    assert_eq!(r.app.ui.prompt.as_ref().unwrap().text, "ratchet ");
    r.type_text("4 cond fill filter_f");
    r.keys(&["<Tab>"]);
    assert_eq!(
        r.app.ui.prompt.as_ref().unwrap().text,
        "ratchet 4 cond fill filter_freq "
    );
    r.type_text("1800");
    r.keys(&["<Enter>"]);
    let d = r.track("kick").steps.at(4).unwrap().summary();
    assert_eq!(d, "filter_freq 1800 · ratchet 4 · cond fill");
    // The editor stays open on the step, showing what it holds now.
    let label = r.app.ui.prompt.as_ref().unwrap().label.clone();
    assert!(
        label.starts_with("Step 5 of kick: filter_freq 1800 · ratchet 4 · cond fill"),
        "{label}"
    );
    // A mistake keeps it open with the reason, and changes nothing.
    r.type_text("ratchet 9");
    r.keys(&["<Enter>"]);
    let err = r.app.ui.prompt.as_ref().unwrap().error.clone().unwrap();
    assert_eq!(err, "ratchet: \"9\" is out of range 1–8");
    r.keys(&["<C-u>"]);
    r.type_text("filter_freq -");
    r.keys(&["<Enter>", "<Esc>"]);
    assert!(r.app.ui.prompt.is_none());
    assert_eq!(
        r.track("kick").steps.at(4).unwrap().summary(),
        "ratchet 4 · cond fill"
    );
    // Each edit is an undo step of the song.
    r.keys(&["u"]);
    assert_eq!(
        r.track("kick").steps.at(4).unwrap().summary(),
        "filter_freq 1800 · ratchet 4 · cond fill"
    );
    assert!(r.live.ctl().is_dirty());
}

#[test]
fn alt_arrows_move_the_steps_chance_and_ratchet_and_say_so() {
    let mut r = rig();
    r.keys(&["<A-Down>", "<A-Down>"]);
    assert_eq!(r.message(), "kick step 1: chance 80%");
    r.keys(&["<A-Right>", "<A-Right>", "<A-Right>"]);
    assert_eq!(r.message(), "kick step 1: ratchet 4 · chance 80%");
    r.keys(&["<A-Left>"]);
    assert_eq!(r.message(), "kick step 1: ratchet 3 · chance 80%");
    let screen = r.screen(120, 40);
    let kick = screen.lines().find(|l| l.contains("kick")).unwrap();
    assert!(
        kick.contains("A³"),
        "the note without its octave, then the mark: {kick}"
    );
    r.keys(&["<A-Up>", "<A-Up>", "<A-Left>", "<A-Left>"]);
    assert_eq!(r.message(), "kick step 1: no step data");
    assert!(r.track("kick").steps.is_empty());
}

/// FILL stands beside the play state; at 80 columns with a queued slot and a recording the
/// swing gives way, and the play state, FILL, tempo, position, countdown and REC show whole.
#[test]
fn f_toggles_fill_and_the_header_shows_it_whole_at_80_columns() {
    let mut r = rig();
    r.keys(&["F"]);
    assert!(r.live.ctl().fill());
    assert_eq!(r.message(), "fill on");
    r.live.apply(Command::SetName(
        "Anthem Breakbeat 174 with a very long name – fill".into(),
    ));
    r.live.apply(Command::Play);
    r.live.run(4_800);
    r.live.apply(Command::LoadSlot {
        slot: SlotNumber::new(2).unwrap(),
        immediate: false,
    });
    r.live.apply(Command::RecordStart(None));
    for w in [80u16, 90, 100, 120] {
        let screen = r.screen(w, 24);
        let header = screen.lines().next().unwrap();
        assert!(header.starts_with(" ▶ PLAY FILL"), "{w}: {header}");
        for part in ["BPM", "bar ", "→ slot 2 ", "beat", "● REC"] {
            assert!(header.contains(part), "{w}: {part}: {header}");
        }
    }
    let _ = r.live.apply(Command::RecordStop);
    r.keys(&["F"]);
    assert!(!r.live.ctl().fill());
    assert!(!r.screen(80, 24).lines().next().unwrap().contains("FILL"));
}

#[test]
fn a_slot_prepared_from_the_browser_is_edited_unheard_then_alt_q_queues_it() {
    let mut r = rig();
    r.live.apply(Command::Play);
    r.live.run(4096);
    // In the browser, on slot 2: `e` prepares it.
    r.keys(&["<F3>", "j", "e"]);
    assert_eq!(
        r.message(),
        "preparing slot 2 \"Dub Steps\": edits are not heard until it is queued"
    );
    let screen = r.screen(120, 40);
    assert!(
        screen.contains("PREPARING slot 2 \"Dub Steps\" (not playing)"),
        "{screen}"
    );
    assert!(screen.contains("✎   2 Dub Steps"), "{screen}");
    // The grid edits slot 2's track; what plays (slot 1) is untouched.
    r.keys(&["<F1>", "x"]);
    assert_eq!(
        r.live.ctl().edited().sequencer.tracks[0].pattern,
        "x.X...X."
    );
    assert_eq!(r.live.ctl().slot().unwrap().get(), 1);
    assert!(!r.live.ctl().is_dirty());
    let screen = r.screen(120, 40);
    assert!(
        screen.contains("PREPARING slot 2 \"Dub Steps\" * (not playing)"),
        "{screen}"
    );
    // The transport still tells what plays.
    assert!(
        screen
            .lines()
            .next()
            .unwrap()
            .contains("slot 1 \"Acid Line\"")
    );
    // Undo is the prepared slot's own.
    r.keys(&["u"]);
    assert_eq!(
        r.live.ctl().edited().sequencer.tracks[0].pattern,
        "..X...X."
    );
    r.keys(&["0", "x", "<A-q>"]);
    let q = r.live.ctl().queued().expect("slot 2 waits for its bar");
    assert_eq!(q.slot.get(), 2);
    assert_eq!(q.song.sequencer.tracks[0].pattern, "x.X...X.");
    let screen = r.screen(120, 40);
    assert!(!screen.contains("PREPARING"), "{screen}");
    assert!(screen.contains(" Pattern "), "{screen}");
    // At its bar it plays, with the edit.
    r.live.run(3 * 48_000);
    assert_eq!(r.live.ctl().slot().unwrap().get(), 2);
    assert_eq!(r.live.ctl().song().sequencer.tracks[0].pattern, "x.X...X.");
    // Alt-p asks for a slot to prepare; Alt-p again goes back to what plays.
    r.keys(&["<A-p>"]);
    r.answer("1");
    assert!(
        r.message().starts_with("preparing slot 1 \"Acid Line\""),
        "{}",
        r.message()
    );
    r.keys(&["<A-p>"]);
    assert_eq!(r.message(), "back to what plays; slot 1 set aside");
    assert!(r.live.ctl().prepared().is_none());
}

#[test]
fn keys_on_a_prepared_slot_read_its_tracks_not_those_of_what_plays() {
    let mut r = rig();
    r.keys(&["<F3>", "j", "e", "<F1>"]);
    assert_eq!(r.live.ctl().edited_slot().unwrap().get(), 2);
    // End goes to the last step of the prepared track (8 steps), not of slot 1's kick (16).
    r.keys(&["<End>"]);
    assert_eq!(r.app.ui.step, 7);
    // A new track on voice1 takes the prepared song's voice1, not slot 1's kick sound.
    r.keys(&["a"]);
    r.answer("lead");
    let prepared = r.live.ctl().edited();
    let lead = prepared
        .sequencer
        .tracks
        .iter()
        .find(|t| t.name == "lead")
        .expect("the track is added to the prepared slot");
    assert_eq!(lead.voice_id, "voice1");
    let voice1 = prepared.params.get(ParamId::voice(1, voice::FREQ));
    assert_eq!(lead.base_freq, voice1);
    assert_ne!(lead.base_freq, 55.0, "slot 1's kick pitch");
    assert_eq!(r.names(), ["kick", "bass", "hat", "poly"]);
}

/// MIDI learn from the parameter panel: `Alt-i` without MIDI input says why it cannot; with
/// input it arms learn for the selected parameter and says so; the next CC the MIDI side
/// takes is written to `midi.toml` and said on the message line; `Esc` cancels learn before
/// it clears the message line.
#[test]
fn midi_learn_is_armed_from_the_parameter_panel_and_esc_cancels_it() {
    use chronus::sources::midi::Controls;
    let mut r = rig();
    // The parameter panel, its second module (acid1), the first row (cutoff).
    r.keys(&["<F2>", "n"]);
    r.keys(&["<A-i>"]);
    assert!(
        r.message().starts_with("MIDI learn needs MIDI input"),
        "{}",
        r.message()
    );
    assert_eq!(r.live.ctl().midi_learn(), None);
    r.live.ctl_mut().set_midi_input(true);
    r.keys(&["<A-i>"]);
    let id = r.live.ctl().midi_learn().expect("learn is armed");
    assert_eq!(id, ParamId::acid(acid::CUTOFF));
    assert!(
        r.message().starts_with(&format!(
            "MIDI learn: move a knob or hit a pad to control {}",
            id.label()
        )),
        "{}",
        r.message()
    );
    assert!(r.screen(120, 40).contains("MIDI learn: move a knob"));
    // The MIDI side takes a CC: the rule goes to the map file, and the screen says so.
    let map = r.live.dir.path().join("midi.toml");
    let mut controls = Controls::open(&map);
    let seen = r.live.notices.len();
    controls.on_message(r.live.ctl_mut(), &[0xB3, 71, 10]);
    r.live.gather();
    let notices: Vec<Notice> = r.live.notices[seen..]
        .iter()
        .map(|(_, n)| n.clone())
        .collect();
    r.app.on_notices(r.live.ctl(), &notices);
    assert_eq!(r.live.ctl().midi_learn(), None);
    let rule = "{ on = \"cc 4 71\", run = \"set acid1 cutoff\"";
    assert!(fs::read_to_string(&map).unwrap().contains(rule), "{rule}");
    assert!(
        r.screen(120, 40).contains("MIDI learn: cc 4 71 now sets"),
        "{}",
        r.screen(120, 40)
    );
    // Armed again, Esc cancels learn (and says so) rather than only clearing the message.
    r.keys(&["<A-i>"]);
    assert!(r.live.ctl().midi_learn().is_some());
    r.keys(&["<Esc>"]);
    assert_eq!(r.live.ctl().midi_learn(), None);
    assert!(r.message().ends_with("cancelled"), "{}", r.message());
}
