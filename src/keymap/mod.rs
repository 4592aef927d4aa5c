//! Key bindings: `keymap.toml` parsing, key notation, chord lookup and the help overlay.
//!
//! The bindings are data, in the yazi style: one table per [`Mode`] plus `[global]`, each an
//! ordered list of `{ on, run, desc }` rules where the first match wins. The defaults
//! (`keymap.toml` at the repository root) are embedded in the binary; a user file adds rules
//! before (`prepend_keymap`) or after (`append_keymap`) them, or replaces a table (`keymap`).
//! A broken user file never stops Chronus: [`Keymap::load`] returns the defaults and an error
//! naming the file, line and rule.

mod action;
mod args;
mod dispatch;
mod file;
mod key;

use std::path::Path;
use std::sync::OnceLock;

pub use crate::model::limits::MAX_KEYMAP_BYTES;
use crate::store::{ReadLimit, read_user_file};

pub use action::{
    ACTIONS, Action, ActionGroup, ActionParseError, ActionSpec, Choice, CursorMove, Cycle, Focus,
    Horizontal, LengthChange, MuteGroupArg, Nudge, StepValue, TrackFieldId, Vertical, complete,
};
pub use dispatch::{Dispatch, KeyDispatcher};
pub use file::{KeymapError, KeymapProblem, ProblemsDisplay, line_col, quote_rule};
pub use key::{
    Key, KeyCode, KeyParseError, MAX_FUNCTION_KEY, UnsupportedKey, chord_label, chord_notation,
};

use dispatch::Lookup;

/// The file read from the working directory when no `--keymap` is given.
pub const DEFAULT_FILE: &str = "keymap.toml";

/// How a keymap file is read: by the store's one reader of user files, bounded.
const KEYMAP_FILE: ReadLimit = ReadLimit {
    what: "keymap file",
    max_bytes: MAX_KEYMAP_BYTES as u64,
};

/// The default bindings, as shipped in `keymap.toml`.
pub fn default_keymap_text() -> &'static str {
    include_str!("../../keymap.toml")
}

/// What the screen is doing, which decides the table keys are looked up in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Mode {
    /// The pattern grid has the focus.
    Grid,
    /// The parameter panel has the focus.
    Params,
    /// The slot browser has the focus.
    Slots,
    /// The help overlay is open.
    Help,
    /// A text prompt is open; `[global]` does not apply, so letters are typed.
    Prompt,
    /// A yes/no question is asked.
    Confirm,
}

impl Mode {
    /// Every mode, in the order the help overlay lists them.
    pub const ALL: [Mode; 6] = [
        Mode::Grid,
        Mode::Params,
        Mode::Slots,
        Mode::Help,
        Mode::Prompt,
        Mode::Confirm,
    ];

    /// The table name in `keymap.toml`.
    pub fn table_name(self) -> &'static str {
        match self {
            Mode::Grid => "grid",
            Mode::Params => "params",
            Mode::Slots => "slots",
            Mode::Help => "help",
            Mode::Prompt => "prompt",
            Mode::Confirm => "confirm",
        }
    }

    /// The heading of this mode in the help overlay.
    pub fn title(self) -> &'static str {
        match self {
            Mode::Grid => "Pattern grid",
            Mode::Params => "Parameter panel",
            Mode::Slots => "Slot browser",
            Mode::Help => "Help overlay",
            Mode::Prompt => "Text prompt",
            Mode::Confirm => "Questions",
        }
    }

    /// Whether `[global]` rules apply after this mode's own rules.
    pub fn uses_global(self) -> bool {
        self != Mode::Prompt
    }

    fn index(self) -> usize {
        match self {
            Mode::Grid => 0,
            Mode::Params => 1,
            Mode::Slots => 2,
            Mode::Help => 3,
            Mode::Prompt => 4,
            Mode::Confirm => 5,
        }
    }
}

/// The `[global]` table's name in `keymap.toml`.
pub const GLOBAL_TABLE: &str = "global";

/// The heading of the `[global]` rules in the help overlay.
pub const GLOBAL_TITLE: &str = "Everywhere";

/// One binding: a key or chord, what it does, and how the help overlay describes it.
#[derive(Debug, Clone, PartialEq)]
pub struct Rule {
    /// The keys, pressed one after the other (one key for most rules).
    pub on: Vec<Key>,
    /// The action run when the keys are pressed.
    pub action: Action,
    /// The help overlay's description.
    pub desc: String,
}

/// The complete bindings: `[global]` and one ordered rule list per mode.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Keymap {
    global: Vec<Rule>,
    modes: [Vec<Rule>; Mode::ALL.len()],
    /// Keys put back because the user's file left a mode with no way out, one note each.
    restored: Vec<String>,
}

/// The text of a keymap file; `None` when the default file is absent (not an error).
fn read_text(path: &Path, explicit: bool) -> Result<Option<String>, KeymapError> {
    let bytes = match read_user_file(path, KEYMAP_FILE) {
        Ok(bytes) => bytes,
        Err(e) if !explicit && e.is_not_found() => return Ok(None),
        Err(error) => {
            return Err(KeymapError::Read {
                path: path.to_path_buf(),
                error,
            });
        }
    };
    String::from_utf8(bytes).map(Some).map_err(|e| {
        let valid = &e.as_bytes()[..e.utf8_error().valid_up_to()];
        file::not_text(path, &String::from_utf8_lossy(valid))
    })
}

/// What each mode must keep a key for, and the keys put back when a keymap file leaves none:
/// the first is taken even from another action, the others only when free. Quitting stays
/// possible from every panel (`q`, `C-c`), and every overlay can be left or answered.
const WAYS_OUT: [(Mode, Action, &[&str]); 6] = [
    (Mode::Grid, Action::Quit, &["<C-c>", "q"]),
    (Mode::Params, Action::Quit, &["<C-c>", "q"]),
    (Mode::Slots, Action::Quit, &["<C-c>", "q"]),
    (Mode::Help, Action::Cancel, &["<Esc>", "q"]),
    (Mode::Prompt, Action::Cancel, &["<Esc>", "<C-c>"]),
    (Mode::Confirm, Action::Confirm, &["y", "<Enter>"]),
];

/// One mode's block in the help overlay.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HelpSection {
    /// The mode, or `None` for the rules that apply everywhere.
    pub mode: Option<Mode>,
    /// The heading.
    pub title: &'static str,
    /// The bindings, in table order.
    pub rows: Vec<HelpRow>,
}

/// One line of the help overlay.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HelpRow {
    /// The keys, several bindings of the same action joined by `/`: `←/h`, `g g`.
    pub keys: String,
    /// What they do.
    pub desc: String,
}

impl Keymap {
    /// The embedded default bindings.
    pub fn defaults() -> Keymap {
        static DEFAULTS: OnceLock<Keymap> = OnceLock::new();
        DEFAULTS
            .get_or_init(|| {
                file::apply(
                    default_keymap_text(),
                    Path::new("<built-in keymap.toml>"),
                    &Keymap::default(),
                )
                .unwrap_or_else(|e| panic!("the embedded keymap.toml is broken: {e}"))
            })
            .clone()
    }

    /// Reads the bindings: `path` (from `--keymap`), else `./keymap.toml` when it exists, over
    /// the defaults. On any problem Chronus runs with the defaults and shows the error.
    pub fn load(path: Option<&Path>) -> (Keymap, Option<KeymapError>) {
        let (path, explicit) = match path {
            Some(p) => (p, true),
            None => (Path::new(DEFAULT_FILE), false),
        };
        let parsed = read_text(path, explicit)
            .and_then(|text| text.map(|t| Keymap::parse(&t, path)).transpose());
        match parsed {
            Ok(Some(keymap)) => (keymap, None),
            Ok(None) => (Keymap::defaults(), None),
            Err(e) => (Keymap::defaults(), Some(e)),
        }
    }

    /// Applies a user keymap file's text over the defaults; `origin` names it in errors. A file
    /// that leaves a mode with no way out (no key quits the grid, none closes the help) gets
    /// the default keys for it back, said in [`Keymap::restored`].
    pub fn parse(text: &str, origin: &Path) -> Result<Keymap, KeymapError> {
        let mut keymap = file::apply(text, origin, &Keymap::defaults())?;
        keymap.keep_ways_out(origin);
        Ok(keymap)
    }

    /// One note per key put back because the keymap file left a mode with no way out.
    pub fn restored(&self) -> &[String] {
        &self.restored
    }

    /// True when some key sequence in `mode` runs `action` (no earlier rule hides it).
    pub fn reaches(&self, mode: Mode, action: Action) -> bool {
        self.rules_in(mode).any(|r| {
            r.action == action
                && (1..r.on.len()).all(|n| self.lookup(mode, &r.on[..n]) == Lookup::Prefix)
                && self.lookup(mode, &r.on) == Lookup::Exact(action)
        })
    }

    fn keep_ways_out(&mut self, origin: &Path) {
        for (mode, action, keys) in WAYS_OUT {
            if self.reaches(mode, action) {
                continue;
            }
            let mut put_back = Vec::new();
            for (i, text) in keys.iter().enumerate() {
                let key: Key = text.parse().expect("the fallback keys are valid notation");
                let free = matches!(
                    self.lookup(mode, std::slice::from_ref(&key)),
                    Lookup::None | Lookup::Exact(Action::Noop)
                );
                if i == 0 || free {
                    let desc = format!(
                        "{} (kept: the keymap file left no other key for it)",
                        capitalized(action.name())
                    );
                    self.modes[mode.index()].insert(
                        put_back.len(),
                        Rule {
                            on: vec![key],
                            action,
                            desc,
                        },
                    );
                    put_back.push(chord_notation(std::slice::from_ref(&key)));
                }
            }
            self.restored.push(format!(
                "{}: no key runs {} in [{}]; {} {} it there",
                origin.display(),
                action.name(),
                mode.table_name(),
                put_back.join(" and "),
                if put_back.len() == 1 { "does" } else { "do" },
            ));
        }
    }

    /// The rules of one mode's own table, in order (without `[global]`).
    pub fn mode_rules(&self, mode: Mode) -> &[Rule] {
        &self.modes[mode.index()]
    }

    /// The `[global]` rules, in order.
    pub fn global_rules(&self) -> &[Rule] {
        &self.global
    }

    /// The rules consulted in `mode`, in the order they are tried.
    pub fn rules_in(&self, mode: Mode) -> impl Iterator<Item = &Rule> {
        let global: &[Rule] = if mode.uses_global() {
            &self.global
        } else {
            &[]
        };
        self.mode_rules(mode).iter().chain(global)
    }

    /// The keys of the first rule that runs `action` in `mode`, for hints like "? help".
    pub fn keys_for(&self, mode: Mode, action: &Action) -> Option<&[Key]> {
        self.rules_in(mode)
            .find(|r| r.action == *action)
            .map(|r| r.on.as_slice())
    }

    pub(crate) fn lookup(&self, mode: Mode, keys: &[Key]) -> Lookup {
        for rule in self.rules_in(mode) {
            if rule.on == keys {
                return Lookup::Exact(rule.action);
            }
            if rule.on.len() > keys.len() && rule.on.starts_with(keys) {
                return Lookup::Prefix;
            }
        }
        Lookup::None
    }

    /// The help overlay: `[global]` then each mode, rows in table order; rules with the same
    /// action name and description share a row; `noop` rules are left out.
    pub fn help(&self) -> Vec<HelpSection> {
        let global = std::iter::once((None, GLOBAL_TITLE, self.global.as_slice()));
        let modes = Mode::ALL
            .iter()
            .map(|&m| (Some(m), m.title(), self.mode_rules(m)));
        global
            .chain(modes)
            .map(|(mode, title, rules)| HelpSection {
                mode,
                title,
                rows: help_rows(rules),
            })
            .collect()
    }

    fn table_mut(&mut self, mode: Option<Mode>) -> &mut Vec<Rule> {
        match mode {
            None => &mut self.global,
            Some(m) => &mut self.modes[m.index()],
        }
    }

    fn table(&self, mode: Option<Mode>) -> &[Rule] {
        match mode {
            None => &self.global,
            Some(m) => self.mode_rules(m),
        }
    }
}

fn capitalized(word: &str) -> String {
    let mut chars = word.chars();
    chars
        .next()
        .map(|c| c.to_uppercase().chain(chars).collect())
        .unwrap_or_default()
}

/// The help overlay's last section: every action from the table, as typed after `:`, with its
/// doc line (the bindings above only show the actions that have keys).
pub fn action_reference() -> HelpSection {
    HelpSection {
        mode: None,
        title: ACTIONS_TITLE,
        rows: ACTIONS
            .iter()
            .filter(|s| s.name != "noop")
            .map(|s| HelpRow {
                keys: s.usage(),
                desc: s.doc.to_string(),
            })
            .collect(),
    }
}

/// The heading of [`action_reference`].
pub const ACTIONS_TITLE: &str = "Actions (type after :)";

/// The known word nearest to a mistyped one, when it is close enough to be a typo.
pub fn suggest<'a>(typed: &str, known: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let limit = 2.max(typed.chars().count() / 3);
    known
        .into_iter()
        .map(|k| (strsim::levenshtein(typed, k), k))
        .filter(|&(d, _)| d <= limit)
        .min_by_key(|&(d, _)| d)
        .map(|(_, k)| k)
}

fn help_rows(rules: &[Rule]) -> Vec<HelpRow> {
    // Rules merge on the action's name, not its arguments, so `load 1` … `load 9` sharing one
    // description take one row.
    let mut rows: Vec<(&str, HelpRow)> = Vec::new();
    // A rule an earlier one of its table hides (the same keys, or a chord one starts) never
    // fires: the help leaves it out rather than show a key that does not do what it says.
    let live = |i: usize, r: &Rule| {
        !rules[..i]
            .iter()
            .any(|e| r.on.starts_with(&e.on) || e.on.starts_with(&r.on))
    };
    let shown = rules
        .iter()
        .enumerate()
        .filter(|&(i, r)| r.action != Action::Noop && live(i, r))
        .map(|(_, r)| r);
    for rule in shown {
        let keys = chord_label(&rule.on);
        let name = rule.action.name();
        match rows
            .iter_mut()
            .find(|(action, row)| *action == name && row.desc == rule.desc)
        {
            Some((_, row)) => {
                row.keys.push('/');
                row.keys.push_str(&keys);
            }
            None => rows.push((
                name,
                HelpRow {
                    keys,
                    desc: rule.desc.clone(),
                },
            )),
        }
    }
    rows.into_iter().map(|(_, row)| row).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_action_is_reachable_with_the_default_keys() {
        let keymap = Keymap::defaults();
        let bound: Vec<&str> = Mode::ALL
            .iter()
            .flat_map(|&m| keymap.rules_in(m))
            .map(|r| r.action.name())
            .collect();
        for name in ACTIONS.iter().map(|s| s.name) {
            assert!(
                name == "noop" || bound.contains(&name),
                "{name} has no default key"
            );
        }
    }

    #[test]
    fn the_keymap_header_lists_every_action() {
        let header: Vec<&str> = default_keymap_text()
            .lines()
            .take_while(|l| l.starts_with('#') || l.is_empty())
            .flat_map(|l| l.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_')))
            .collect();
        for spec in ACTIONS {
            assert!(
                header.contains(&spec.name),
                "keymap.toml's ACTIONS comment does not list `{}`",
                spec.name
            );
        }
    }

    #[test]
    fn suggestions_take_the_nearest_close_word() {
        let names = ACTIONS.iter().map(|s| s.name);
        assert_eq!(suggest("undoo", names.clone()), Some("undo"));
        assert_eq!(suggest("slot_lod", names.clone()), Some("slot_load"));
        assert_eq!(suggest("fly", names), None);
    }

    #[test]
    fn modes_shadow_global_keys_only_where_intended() {
        // Each of these replaces a global key with the same intent applied to the panel.
        let intended = [
            (Mode::Slots, "o"),
            (Mode::Slots, "O"),
            (Mode::Slots, "S"),
            (Mode::Help, "q"),
            (Mode::Prompt, "<Esc>"),
            (Mode::Prompt, "<C-c>"),
            (Mode::Prompt, "<Tab>"),
            (Mode::Confirm, "<Esc>"),
            (Mode::Confirm, "t"),
            // The quit question's "save, then quit".
            (Mode::Confirm, "S"),
        ];
        let keymap = Keymap::defaults();
        for mode in Mode::ALL {
            for rule in keymap.mode_rules(mode) {
                let keys = chord_notation(&rule.on);
                let shadows = keymap
                    .global_rules()
                    .iter()
                    .any(|g| g.on.starts_with(&rule.on[..1]) || rule.on.starts_with(&g.on[..1]));
                if shadows {
                    assert!(
                        intended.contains(&(mode, keys.as_str())),
                        "[{}] {keys} hides a global key",
                        mode.table_name()
                    );
                }
            }
        }
    }
}
