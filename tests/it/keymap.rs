//! Key bindings: notation, the shipped defaults, user files over them, chords, errors, help.

use std::path::{Path, PathBuf};

use chronus::keymap::{
    Action, Choice, CursorMove, Dispatch, Focus, Key, KeyCode, KeyDispatcher, Keymap, KeymapError,
    Mode, Nudge, StepValue, default_keymap_text,
};
use crossterm::event::{KeyCode as TermCode, KeyEvent, KeyModifiers};

fn key(notation: &str) -> Key {
    notation
        .parse()
        .unwrap_or_else(|e| panic!("test key {notation}: {e}"))
}

fn action(run: &str) -> Action {
    Action::parse(run).unwrap_or_else(|e| panic!("test action {run}: {e}"))
}

/// Feeds a whole key sequence and returns the last outcome.
fn press(d: &mut KeyDispatcher, mode: Mode, keys: &[&str]) -> Dispatch {
    let mut last = Dispatch::Unbound;
    for k in keys {
        last = d.feed(mode, key(k));
    }
    last
}

fn dispatch(keymap: &Keymap, mode: Mode, keys: &[&str]) -> Dispatch {
    press(&mut KeyDispatcher::new(keymap.clone()), mode, keys)
}

fn write_file(dir: &Path, text: &str) -> PathBuf {
    let path = dir.join("keymap.toml");
    std::fs::write(&path, text).expect("write test keymap");
    path
}

/// Loads `text` from a real file; returns the keymap, the error, and the path.
fn load(text: &str) -> (Keymap, Option<KeymapError>, PathBuf, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = write_file(dir.path(), text);
    let (keymap, error) = Keymap::load(Some(&path));
    (keymap, error, path, dir)
}

#[test]
fn key_notation_round_trips_for_every_named_key_and_modifier() {
    let chars = ['a', 'z', 'X', '?', '.', '-', '+', '<', '>', '$', '1', 'é'];
    let codes = Key::named_codes().chain(chars.iter().map(|&c| KeyCode::Char(c)));
    let mut checked = 0;
    for code in codes {
        for mods in 0..8 {
            let (ctrl, alt, shift) = (mods & 1 != 0, mods & 2 != 0, mods & 4 != 0);
            let mut k = Key::plain(code);
            if ctrl {
                k = k.with_ctrl();
            }
            if alt {
                k = k.with_alt();
            }
            if shift {
                if matches!(code, KeyCode::Char(c) if !c.is_lowercase()) {
                    continue; // shift + a symbol has no notation: the symbol itself is the key
                }
                k = k.with_shift();
            }
            let text = k.to_string();
            assert_eq!(key(&text), k, "{text}");
            checked += 1;
        }
    }
    assert!(checked > 200, "{checked}");
    for (text, shown) in [
        ("a", "a"),
        ("X", "X"),
        ("<S-x>", "X"),
        ("<C-s>", "<C-s>"),
        ("<c-s>", "<C-s>"),
        ("<C-S-x>", "<C-X>"),
        ("<A-x>", "<A-x>"),
        ("<S-Up>", "<S-Up>"),
        ("<C-S-Up>", "<C-S-Up>"),
        ("<S-Tab>", "<BackTab>"),
        ("<space>", "<Space>"),
        ("<Lt>", "<Lt>"),
        ("<", "<Lt>"),
        ("<C-Lt>", "<C-Lt>"),
        ("<C->>", "<C-Gt>"),
        ("<C-->", "<C-->"),
        ("<F12>", "<F12>"),
        ("<PageDown>", "<PageDown>"),
        ("<BackTab>", "<BackTab>"),
    ] {
        assert_eq!(key(text).to_string(), shown, "{text}");
    }
}

#[test]
fn terminal_key_events_normalise_like_the_notation() {
    let ev = |code, mods| Key::from_event(&KeyEvent::new(code, mods));
    let none = KeyModifiers::NONE;
    assert_eq!(ev(TermCode::Char('A'), KeyModifiers::SHIFT), Some(key("A")));
    assert_eq!(ev(TermCode::Char('a'), KeyModifiers::SHIFT), Some(key("A")));
    assert_eq!(ev(TermCode::Char('?'), KeyModifiers::SHIFT), Some(key("?")));
    assert_eq!(
        ev(TermCode::Char('r'), KeyModifiers::CONTROL),
        Some(key("<C-r>"))
    );
    assert_eq!(ev(TermCode::Char(' '), none), Some(key("<Space>")));
    assert_eq!(
        ev(TermCode::Char(' '), KeyModifiers::CONTROL),
        Some(key("<C-Space>"))
    );
    assert_eq!(
        ev(TermCode::BackTab, KeyModifiers::SHIFT),
        Some(key("<BackTab>"))
    );
    assert_eq!(
        ev(TermCode::Tab, KeyModifiers::SHIFT),
        Some(key("<BackTab>"))
    );
    assert_eq!(ev(TermCode::Up, KeyModifiers::SHIFT), Some(key("<S-Up>")));
    assert_eq!(
        ev(TermCode::Left, KeyModifiers::SHIFT | KeyModifiers::CONTROL),
        Some(key("<C-S-Left>"))
    );
    assert_eq!(ev(TermCode::F(5), none), Some(key("<F5>")));
    assert_eq!(ev(TermCode::Esc, none), Some(key("<Esc>")));
    assert_eq!(ev(TermCode::F(13), none), None);
    assert_eq!(ev(TermCode::CapsLock, none), None);
    assert_eq!(ev(TermCode::Char('c'), KeyModifiers::SUPER), None);
    let converted: Result<Key, _> = KeyEvent::new(TermCode::Enter, none).try_into();
    assert_eq!(converted.ok(), Some(key("<Enter>")));
}

#[test]
fn defaults_hold_the_keys_a_new_user_expects() {
    let km = Keymap::defaults();
    for mode in [Mode::Grid, Mode::Params, Mode::Slots] {
        assert_eq!(
            dispatch(&km, mode, &["<Space>"]),
            Dispatch::Action(Action::PlayToggle)
        );
        assert_eq!(dispatch(&km, mode, &["?"]), Dispatch::Action(Action::Help));
        assert_eq!(dispatch(&km, mode, &["q"]), Dispatch::Action(Action::Quit));
        assert_eq!(dispatch(&km, mode, &["u"]), Dispatch::Action(Action::Undo));
        assert_eq!(
            dispatch(&km, mode, &["<C-r>"]),
            Dispatch::Action(Action::Redo)
        );
        assert_eq!(
            dispatch(&km, mode, &["<Tab>"]),
            Dispatch::Action(Action::Focus(Focus::Next))
        );
    }
    for (keys, dir) in [
        (["<Up>", "k"], CursorMove::Up),
        (["<Down>", "j"], CursorMove::Down),
        (["<Left>", "h"], CursorMove::Left),
        (["<Right>", "l"], CursorMove::Right),
    ] {
        for k in keys {
            assert_eq!(
                dispatch(&km, Mode::Grid, &[k]),
                Dispatch::Action(Action::Cursor(dir)),
                "{k}"
            );
        }
    }
    let grid = [
        ("X", Action::StepSet(StepValue::Accent)),
        ("x", Action::StepSet(StepValue::Hit)),
        (".", Action::StepSet(StepValue::Rest)),
        ("<Enter>", Action::StepCycle),
        ("+", Action::BpmNudge(1.0)),
        ("-", Action::BpmNudge(-1.0)),
        ("t", Action::TapTempo),
        ("m", Action::Mute),
        ("s", Action::Solo),
        ("<C-s>", Action::SaveCurrent),
        ("S", Action::Save),
        ("3", Action::Load(Some(3))),
        ("O", Action::LoadNow(None)),
    ];
    for (k, want) in grid {
        assert_eq!(
            dispatch(&km, Mode::Grid, &[k]),
            Dispatch::Action(want),
            "{k}"
        );
    }
    let params = [
        ("<Left>", Action::ParamAdjust(Nudge::FineDown)),
        ("l", Action::ParamAdjust(Nudge::FineUp)),
        ("<S-Right>", Action::ParamAdjust(Nudge::CoarseUp)),
        ("H", Action::ParamAdjust(Nudge::CoarseDown)),
        ("<Enter>", Action::ParamSet),
        ("d", Action::ParamDefault),
        ("j", Action::Cursor(CursorMove::Down)),
    ];
    for (k, want) in params {
        assert_eq!(
            dispatch(&km, Mode::Params, &[k]),
            Dispatch::Action(want),
            "{k}"
        );
    }
    assert_eq!(
        dispatch(&km, Mode::Slots, &["<Enter>"]),
        Dispatch::Action(Action::SlotLoad)
    );
    // The help overlay closes on q instead of quitting; a prompt types letters.
    assert_eq!(
        dispatch(&km, Mode::Help, &["q"]),
        Dispatch::Action(Action::Cancel)
    );
    assert_eq!(dispatch(&km, Mode::Prompt, &["q"]), Dispatch::Unbound);
    assert_eq!(dispatch(&km, Mode::Prompt, &["<Space>"]), Dispatch::Unbound);
    assert_eq!(
        dispatch(&km, Mode::Prompt, &["<Enter>"]),
        Dispatch::Action(Action::PromptSubmit)
    );
    assert_eq!(
        dispatch(&km, Mode::Confirm, &["y"]),
        Dispatch::Action(Action::Confirm)
    );
    assert_eq!(
        km.keys_for(Mode::Grid, &Action::Help)
            .map(chronus::keymap::chord_notation),
        Some("?".to_string())
    );
}

#[test]
fn the_embedded_defaults_are_the_repository_file() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("keymap.toml");
    let on_disk = std::fs::read_to_string(&path).expect("read keymap.toml");
    assert_eq!(default_keymap_text(), on_disk);
    // Loading the defaults file as a user file (its tables replace themselves) changes nothing.
    let parsed = Keymap::parse(&on_disk, &path).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(parsed, Keymap::defaults());
}

#[test]
fn without_a_user_file_the_working_directory_keymap_or_defaults_load() {
    // Tests run in the package root, whose keymap.toml is the defaults.
    let (keymap, error) = Keymap::load(None);
    assert!(error.is_none(), "{error:?}");
    assert_eq!(keymap, Keymap::defaults());
}

#[test]
fn prepend_overrides_a_default_and_keeps_the_rest() {
    let (km, error, _, _dir) = load(
        r#"
[grid]
prepend_keymap = [
  { on = "x", run = "step_set X", desc = "Accent (my way)" },
  { on = "D", run = "noop" },
]
"#,
    );
    assert!(error.is_none(), "{error:?}");
    assert_eq!(
        dispatch(&km, Mode::Grid, &["x"]),
        Dispatch::Action(action("step_set X"))
    );
    assert_eq!(
        dispatch(&km, Mode::Grid, &["D"]),
        Dispatch::Action(Action::Noop)
    );
    assert_eq!(
        dispatch(&km, Mode::Grid, &["h"]),
        Dispatch::Action(Action::Cursor(CursorMove::Left))
    );
    let grid = &km.mode_rules(Mode::Grid);
    assert_eq!(
        grid.len(),
        Keymap::defaults().mode_rules(Mode::Grid).len() + 2
    );
    assert_eq!(grid[0].desc, "Accent (my way)");
}

#[test]
fn append_adds_after_the_defaults() {
    let (km, error, _, _dir) = load(
        r#"
[grid]
append_keymap = [
  { on = "w", run = "cursor right", desc = "Next step (w)" },
  { on = ["d", "d"], run = "track_remove", desc = "Remove the track" },
]
[global]
append_keymap = [ { on = "q", run = "noop" } ]
"#,
    );
    assert!(error.is_none(), "{error:?}");
    assert_eq!(
        dispatch(&km, Mode::Grid, &["w"]),
        Dispatch::Action(Action::Cursor(CursorMove::Right))
    );
    assert_eq!(
        dispatch(&km, Mode::Grid, &["d", "d"]),
        Dispatch::Action(Action::TrackRemove)
    );
    // An appended rule never beats a default that binds the same key.
    assert_eq!(
        dispatch(&km, Mode::Grid, &["q"]),
        Dispatch::Action(Action::Quit)
    );
    let grid = km.mode_rules(Mode::Grid);
    assert_eq!(
        grid.last().map(|r| r.desc.as_str()),
        Some("Remove the track")
    );
}

#[test]
fn keymap_replaces_a_table_and_leaves_the_others() {
    let (km, error, _, _dir) = load(
        r#"
[slots]
keymap = [ { on = "z", run = "slot_load", desc = "Load it" } ]
"#,
    );
    assert!(error.is_none(), "{error:?}");
    assert_eq!(km.mode_rules(Mode::Slots).len(), 1);
    assert_eq!(
        dispatch(&km, Mode::Slots, &["z"]),
        Dispatch::Action(Action::SlotLoad)
    );
    assert_eq!(dispatch(&km, Mode::Slots, &["<Enter>"]), Dispatch::Unbound);
    assert_eq!(dispatch(&km, Mode::Slots, &["j"]), Dispatch::Unbound);
    // [global] still applies, and the other tables keep their defaults.
    assert_eq!(
        dispatch(&km, Mode::Slots, &["<Space>"]),
        Dispatch::Action(Action::PlayToggle)
    );
    assert_eq!(
        km.mode_rules(Mode::Grid),
        Keymap::defaults().mode_rules(Mode::Grid)
    );
}

#[test]
fn chords_wait_for_their_keys_and_esc_cancels() {
    let mut d = KeyDispatcher::new(Keymap::defaults());
    assert_eq!(d.feed(Mode::Grid, key("g")), Dispatch::Pending);
    assert_eq!(d.pending(), &[key("g")]);
    assert_eq!(
        d.feed(Mode::Grid, key("g")),
        Dispatch::Action(Action::Cursor(CursorMove::Top))
    );
    assert!(d.pending().is_empty());

    assert_eq!(d.feed(Mode::Grid, key("e")), Dispatch::Pending);
    assert_eq!(
        d.feed(Mode::Grid, key("v")),
        Dispatch::Action(Action::TrackVoice(Choice::Prompt))
    );
    assert_eq!(
        press(&mut d, Mode::Grid, &["e", "a"]),
        Dispatch::Action(action("track_field base_amp"))
    );

    // Esc abandons the chord; the next key starts afresh.
    assert_eq!(d.feed(Mode::Grid, key("g")), Dispatch::Pending);
    assert_eq!(d.feed(Mode::Grid, key("<Esc>")), Dispatch::Cancelled);
    assert!(d.pending().is_empty());
    assert_eq!(
        d.feed(Mode::Grid, key("g")),
        Dispatch::Pending,
        "after a cancel, g starts a new chord"
    );
    d.reset();
    // Esc without a chord is an ordinary key.
    assert_eq!(
        d.feed(Mode::Grid, key("<Esc>")),
        Dispatch::Action(Action::Cancel)
    );

    // A key that continues no chord drops it and counts on its own.
    assert_eq!(d.feed(Mode::Grid, key("e")), Dispatch::Pending);
    assert_eq!(
        d.feed(Mode::Grid, key("j")),
        Dispatch::Action(Action::Cursor(CursorMove::Down))
    );
    assert_eq!(d.feed(Mode::Grid, key("e")), Dispatch::Pending);
    assert_eq!(d.feed(Mode::Grid, key("<F12>")), Dispatch::Unbound);
    assert!(d.pending().is_empty());

    // A chord belongs to its mode: switching modes drops it (params binds no `v`).
    assert_eq!(d.feed(Mode::Grid, key("e")), Dispatch::Pending);
    assert_eq!(d.feed(Mode::Params, key("v")), Dispatch::Unbound);
    assert_eq!(
        d.feed(Mode::Params, key("e")),
        Dispatch::Action(Action::ParamSet)
    );
}

/// Asserts the load failed with exactly these problems and fell back to the defaults.
fn assert_broken(text: &str, expected: &[(usize, usize, Option<&str>, &str)]) -> String {
    let (keymap, error, path, _dir) = load(text);
    assert_eq!(
        keymap,
        Keymap::defaults(),
        "a broken file leaves the defaults"
    );
    let error = error.expect("a broken file reports an error");
    let problems = error.problems();
    assert_eq!(problems.len(), expected.len(), "{error}");
    for (p, &(line, column, rule, message)) in problems.iter().zip(expected) {
        assert_eq!((p.line, p.column), (line, column), "{p}");
        assert_eq!(p.rule.as_deref(), rule, "{p}");
        assert!(p.message.contains(message), "{p} should say {message}");
    }
    let shown = error.to_string();
    let first = shown.lines().next().unwrap_or_default();
    let at = format!("{}:{}:{}: ", path.display(), expected[0].0, expected[0].1);
    assert!(first.starts_with(&at), "{first}");
    assert!(first.contains("using the default keys"), "{first}");
    if let Some(rule) = expected[0].2 {
        assert!(first.contains(rule), "{first}");
    }
    shown
}

#[test]
fn a_bad_key_names_file_line_and_rule() {
    let shown = assert_broken(
        r#"[grid]
prepend_keymap = [
  { on = "w", run = "cursor right", desc = "Right" },
  { on = "<C-", run = "quit", desc = "Quit" },
]
"#,
        &[(
            4,
            10,
            Some(r#"[grid] prepend_keymap rule 2 (on = "<C-", run = "quit")"#),
            "bad key `<C-`",
        )],
    );
    assert_eq!(shown.lines().count(), 1, "{shown}");
}

#[test]
fn an_unknown_action_is_reported_at_its_run() {
    assert_broken(
        r#"
[global]
append_keymap = [
  { on = ["g", "f"], run = "fly", desc = "Fly away" },
]
"#,
        &[(
            4,
            28,
            Some(r#"[global] append_keymap rule 1 (on = ["g", "f"], run = "fly")"#),
            "unknown action `fly`",
        )],
    );
}

#[test]
fn missing_fields_are_reported_at_their_rule() {
    let shown = assert_broken(
        r#"[params]
keymap = [
  { on = "z", run = "param_default" },
  { on = "Z", desc = "Nothing to run" },
  { run = "undo", desc = "Undo" },
]
"#,
        &[
            (
                3,
                3,
                Some(r#"[params] keymap rule 1 (on = "z", run = "param_default")"#),
                "missing desc",
            ),
            (
                4,
                3,
                Some(r#"[params] keymap rule 2 (on = "Z")"#),
                "missing run",
            ),
            (
                5,
                3,
                Some(r#"[params] keymap rule 3 (run = "undo")"#),
                "missing on",
            ),
        ],
    );
    assert!(
        shown
            .lines()
            .next()
            .unwrap_or_default()
            .ends_with("(and 2 more)"),
        "{shown}"
    );
    assert_eq!(shown.lines().count(), 3, "{shown}");
}

#[test]
fn a_toml_syntax_error_keeps_the_defaults() {
    assert_broken(
        "[grid]\nprepend_keymap = [\n  { on = \"w\", run = \"cursor right\" desc = \"x\" },\n]\n",
        &[(3, 36, None, "not valid TOML")],
    );
}

#[test]
fn structural_mistakes_are_named() {
    assert_broken(
        r#"[gird]
keymap = []

[grid]
prepend = []
append_keymap = [
  { on = "w", run = "cursor right", desc = "Right" },
  { on = "w", run = "cursor left", desc = "Left" },
  { on = 5, run = "undo", desc = "Undo", key = "u" },
  { on = "<Esc>", run = "bpm_nudge 1", desc = "Faster" },
  { on = ["<Esc>", "x"], run = "undo", desc = "Undo" },
  { on = "e", run = "undo", desc = "Undo" },
  { on = ["e", "x"], run = "redo", desc = "Redo" },
]
"#,
        &[
            (1, 2, None, "unknown table `gird`"),
            (5, 1, None, "unknown key `prepend`"),
            (
                8,
                10,
                Some(r#"[grid] append_keymap rule 2 (on = "w", run = "cursor left")"#),
                "duplicate: rule 1",
            ),
            (
                9,
                10,
                Some(r#"[grid] append_keymap rule 3 (on = 5, run = "undo")"#),
                "on must be a key",
            ),
            (
                9,
                42,
                Some(r#"[grid] append_keymap rule 3 (on = 5, run = "undo")"#),
                "unknown field `key`",
            ),
            (
                10,
                25,
                Some(r#"[grid] append_keymap rule 4 (on = "<Esc>", run = "bpm_nudge 1")"#),
                "needs a sign",
            ),
            (
                11,
                10,
                Some(r#"[grid] append_keymap rule 5 (on = ["<Esc>", "x"], run = "undo")"#),
                "can only be bound alone",
            ),
            (
                13,
                10,
                Some(r#"[grid] append_keymap rule 7 (on = ["e", "x"], run = "redo")"#),
                "never fires: rule 6 binds `e`",
            ),
        ],
    );
}

#[test]
fn an_unreadable_file_is_reported_and_the_defaults_load() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("absent.toml");
    let (keymap, error) = Keymap::load(Some(&path));
    assert_eq!(keymap, Keymap::defaults());
    let error = error.expect("a missing --keymap file is an error");
    assert!(matches!(error, KeymapError::Read { .. }));
    let shown = error.to_string();
    assert!(shown.contains(&path.display().to_string()), "{shown}");
    assert!(shown.ends_with("using the default keys"), "{shown}");
}

#[test]
fn help_groups_bindings_by_mode_with_their_desc() {
    let (km, error, _, _dir) = load(
        r#"
[params]
prepend_keymap = [ { on = "<C-d>", run = "param_default", desc = "Back to default" } ]
"#,
    );
    assert!(error.is_none(), "{error:?}");
    let help = km.help();
    let titles: Vec<&str> = help.iter().map(|s| s.title).collect();
    assert_eq!(
        titles,
        [
            "Everywhere",
            "Pattern grid",
            "Parameter panel",
            "Slot browser",
            "Help overlay",
            "Text prompt",
            "Questions"
        ]
    );
    assert_eq!(help[0].mode, None);
    assert_eq!(help[1].mode, Some(Mode::Grid));
    // Every rule's desc shows up in its own section.
    for section in &help {
        let rules = match section.mode {
            None => km.global_rules(),
            Some(m) => km.mode_rules(m),
        };
        for rule in rules.iter().filter(|r| r.action != Action::Noop) {
            assert!(
                section.rows.iter().any(|row| row.desc == rule.desc),
                "{}: {}",
                section.title,
                rule.desc
            );
        }
    }
    let row = |section: usize, desc: &str| {
        help[section]
            .rows
            .iter()
            .find(|r| r.desc == desc)
            .map(|r| r.keys.clone())
            .unwrap_or_else(|| panic!("no row {desc}"))
    };
    assert_eq!(row(1, "Previous track"), "↑/k");
    assert_eq!(row(1, "First track"), "g g");
    assert_eq!(row(1, "Step: rest"), "./Del/Bksp");
    assert_eq!(row(1, "Edit: voice…"), "e v");
    assert_eq!(row(0, "Tempo +1 BPM"), "+/=");
    assert_eq!(row(0, "Redo"), "C-r");
    assert_eq!(row(0, "Play / stop"), "Space");
    assert_eq!(row(0, "Load slot 1–9 at the next bar"), "1/2/3/4/5/6/7/8/9");
    assert_eq!(row(2, "Increase (coarse)"), "S-→/L");
    // A prepended rule leads its section.
    assert_eq!(help[2].rows[0].desc, "Back to default");
    assert_eq!(help[2].rows[0].keys, "C-d");
}

// ---- limits and ways out ----------------------------------------------------------------------

/// `n` valid rules in `[grid] append_keymap`, each on its own two-key chord.
fn many_rules(n: usize) -> String {
    let keys: Vec<String> = (0..n)
        .map(|i| {
            let a = char::from(b'a' + (i / 26 % 26) as u8);
            let b = char::from(b'a' + (i % 26) as u8);
            format!(
                "  {{ on = [\"<F{}>\", \"{a}\", \"{b}\"], run = \"noop\" }},\n",
                1 + i / 676
            )
        })
        .collect();
    format!("[grid]\nappend_keymap = [\n{}]\n", keys.concat())
}

#[test]
fn keymap_files_have_a_size_a_rule_count_and_a_chord_length_limit() {
    use chronus::model::limits::{MAX_CHORD_KEYS, MAX_KEYMAP_BYTES, MAX_KEYMAP_RULES};
    // Rules: the limit loads, one more is refused at that rule, before any rule is read.
    let (_, error, _, _dir) = load(&many_rules(MAX_KEYMAP_RULES));
    assert!(error.is_none(), "{error:?}");
    let (km, error, path, _dir) = load(&many_rules(MAX_KEYMAP_RULES + 1));
    assert_eq!(km, Keymap::defaults());
    let shown = error.expect("refused").to_string();
    assert!(
        shown.starts_with(&format!(
            "{}:{}:3: a keymap file may hold at most 1024 rules; this one has 1025",
            path.display(),
            MAX_KEYMAP_RULES + 3
        )),
        "{shown}"
    );
    // Chords: eight keys bind, nine are refused.
    let chord = |n: usize| {
        let keys = vec!["\"g\""; n].join(", ");
        format!("[grid]\nappend_keymap = [ {{ on = [{keys}], run = \"noop\" }} ]\n")
    };
    let (_, error, _, _dir) = load(&chord(MAX_CHORD_KEYS));
    assert!(error.is_none(), "{error:?}");
    let (_, error, _, _dir) = load(&chord(MAX_CHORD_KEYS + 1));
    let shown = error.expect("refused").to_string();
    assert!(
        shown.contains("a chord may hold at most 8 keys; this one has 9"),
        "{shown}"
    );
    // Size: a file of exactly the limit is read (and found to be mostly a comment), one byte
    // more is refused with its real size before it is parsed.
    let padded = |n: usize| {
        let body = "[grid]\nappend_keymap = []\n# ";
        format!("{body}{}", "x".repeat(n - body.len()))
    };
    let (_, error, _, _dir) = load(&padded(MAX_KEYMAP_BYTES));
    assert!(error.is_none(), "{error:?}");
    let (km, error, path, _dir) = load(&padded(MAX_KEYMAP_BYTES + 1));
    assert_eq!(km, Keymap::defaults());
    let error = error.expect("refused");
    assert!(
        matches!(
            &error,
            KeymapError::Read {
                error: chronus::store::ReadError::TooLarge { .. },
                ..
            }
        ),
        "{error:?}"
    );
    let text = error.to_string();
    assert!(
        text.starts_with(&format!("key bindings: {}", path.display()))
            && text.contains("(262145 bytes)")
            && text.contains("at most 256 KiB (262144 bytes)")
            && text.ends_with("using the default keys"),
        "{text}"
    );
    let (_, error, _, _dir) = load(&padded(10 * MAX_KEYMAP_BYTES));
    assert!(error.unwrap().to_string().contains("(2621440 bytes)"));
}

#[test]
fn a_keymap_cannot_take_away_the_last_way_to_quit() {
    let files = [
        // Both quit keys turned off everywhere.
        "[global]\nprepend_keymap = [ { on = \"q\", run = \"noop\" }, { on = \"<C-c>\", run = \"noop\" } ]\n",
        // The global table replaced by one without quit.
        "[global]\nkeymap = [ { on = \"?\", run = \"help\", desc = \"Help\" } ]\n",
        // q and C-c taken for other things in the grid: C-c comes back, q stays theirs.
        "[grid]\nprepend_keymap = [ { on = \"q\", run = \"undo\", desc = \"Undo\" }, { on = \"<C-c>\", run = \"redo\", desc = \"Redo\" } ]\n",
        // Quit hidden behind a chord that starts with the same key.
        "[global]\nprepend_keymap = [ { on = [\"q\", \"q\"], run = \"help\", desc = \"Help\" }, { on = [\"<C-c>\", \"x\"], run = \"help\", desc = \"Help\" } ]\n",
    ];
    for text in files {
        let (km, error, _, _dir) = load(text);
        assert!(error.is_none(), "{text}: {error:?}");
        for mode in [Mode::Grid, Mode::Params, Mode::Slots] {
            assert!(
                km.reaches(mode, Action::Quit),
                "{text}: no quit in {mode:?}"
            );
            assert_eq!(
                dispatch(&km, mode, &["<C-c>"]),
                Dispatch::Action(Action::Quit),
                "{text}: {mode:?}"
            );
        }
        assert!(!km.restored().is_empty(), "{text}");
        assert!(
            km.restored()
                .iter()
                .all(|n| n.contains("no key runs quit in [") && n.contains("<C-c>")),
            "{:?}",
            km.restored()
        );
        // The help tells how to quit, and no longer lists the global keys that were turned
        // off or hidden (the third file overrides them in the grid only: they still quit from
        // the other panels).
        let help = km.help();
        let global_quit = help
            .iter()
            .filter(|s| s.mode.is_none())
            .flat_map(|s| &s.rows)
            .any(|r| r.desc.starts_with("Quit (asks"));
        assert_eq!(global_quit, text == files[2], "{text}: {help:?}");
        assert!(
            help.iter()
                .filter(|s| s.mode == Some(Mode::Grid))
                .flat_map(|s| &s.rows)
                .any(|r| r.keys.contains("C-c") && r.desc.starts_with("Quit (kept")),
            "{text}: {help:?}"
        );
    }
    // q stays theirs when they bound it to something else.
    let (km, _, _, _dir) = load(files[2]);
    assert_eq!(
        dispatch(&km, Mode::Grid, &["q"]),
        Dispatch::Action(Action::Undo)
    );
    // Quit bound elsewhere: nothing is put back, q and C-c are free to take.
    let (km, error, _, _dir) = load(
        "[global]\nprepend_keymap = [ { on = \"q\", run = \"noop\" }, { on = \"<C-c>\", run = \"noop\" }, { on = \"<C-q>\", run = \"quit\", desc = \"Quit\" } ]\n",
    );
    assert!(error.is_none());
    assert!(km.restored().is_empty(), "{:?}", km.restored());
    assert_eq!(
        dispatch(&km, Mode::Grid, &["<C-q>"]),
        Dispatch::Action(Action::Quit)
    );
    // Overlays keep a way out: a prompt and the help can be left, a question answered.
    let (km, _, _, _dir) = load(
        "[prompt]\nkeymap = [ { on = \"<Enter>\", run = \"prompt_submit\", desc = \"OK\" } ]\n[confirm]\nkeymap = [ { on = \"n\", run = \"cancel\", desc = \"No\" } ]\n[help]\nkeymap = [ { on = \"<Esc>\", run = \"noop\" } ]\n",
    );
    assert_eq!(
        dispatch(&km, Mode::Prompt, &["<Esc>"]),
        Dispatch::Action(Action::Cancel)
    );
    assert_eq!(
        dispatch(&km, Mode::Confirm, &["y"]),
        Dispatch::Action(Action::Confirm)
    );
    assert_eq!(
        dispatch(&km, Mode::Help, &["<Esc>"]),
        Dispatch::Action(Action::Cancel)
    );
    assert_eq!(km.restored().len(), 3, "{:?}", km.restored());
    // The defaults need nothing put back.
    assert!(Keymap::defaults().restored().is_empty());
}
