//! Reading a keymap file: TOML with spans, so every problem points at a line and a rule.

use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};

use toml::Spanned;
use toml::de::{DeTable, DeValue};

use crate::model::limits::{self, MAX_KEYMAP_RULES};

use super::action::Action;
use super::key::{Key, KeyCode};
use super::{GLOBAL_TABLE, Keymap, Mode, Rule};

/// Why a keymap file was not used; Chronus runs with the default keys instead.
#[derive(Debug, thiserror::Error)]
pub enum KeymapError {
    /// The file could not be read (missing, not a regular file, too large); the error
    /// names the file.
    // The message holds the cause, so it is not also returned as `source()`.
    #[error("key bindings: {error}; using the default keys")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why it was not read.
        error: crate::store::ReadError,
    },
    /// The file has mistakes (never empty).
    #[error("{}", ProblemsDisplay { path, problems, what: "invalid key bindings", then: "using the default keys" })]
    Invalid {
        /// The file.
        path: PathBuf,
        /// Every mistake found, in file order.
        problems: Vec<KeymapProblem>,
    },
}

impl KeymapError {
    /// The file the error is about.
    pub fn path(&self) -> &Path {
        match self {
            KeymapError::Read { path, .. } | KeymapError::Invalid { path, .. } => path,
        }
    }

    /// The mistakes found (empty for a read error).
    pub fn problems(&self) -> &[KeymapProblem] {
        match self {
            KeymapError::Read { .. } => &[],
            KeymapError::Invalid { problems, .. } => problems,
        }
    }
}

/// One mistake in a keymap file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeymapProblem {
    /// 1-based line.
    pub line: usize,
    /// 1-based column, in characters.
    pub column: usize,
    /// The rule, as `[grid] prepend_keymap rule 3 (on = "<C-", run = "quit")`, when the
    /// mistake is inside one.
    pub rule: Option<String>,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for KeymapProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}: ", self.line, self.column)?;
        if let Some(rule) = &self.rule {
            write!(f, "{rule}: ")?;
        }
        f.write_str(&self.message)
    }
}

/// ` (on = "cc 1 74", run = "set acid1 cutof")`: a rule's `on` and `run` as the file
/// spells them, for naming the rule in a problem (empty when it has neither). The keymap's
/// and the MIDI map's labels share it.
pub fn quote_rule(text: &str, item: &Spanned<DeValue<'_>>) -> String {
    let DeValue::Table(fields) = item.get_ref() else {
        return String::new();
    };
    let quoted: Vec<String> = ["on", "run"]
        .iter()
        .filter_map(|&k| {
            let v = fields.get(k)?;
            Some(format!("{k} = {}", text.get(v.span()).unwrap_or("?")))
        })
        .collect();
    if quoted.is_empty() {
        String::new()
    } else {
        format!(" ({})", quoted.join(", "))
    }
}

/// The first problem on the first line (what a one-line message bar shows), the rest below:
/// `what` when there is no problem to name, `then` what happens instead. The keymap's and the
/// MIDI map's errors read alike.
pub struct ProblemsDisplay<'a> {
    /// The file.
    pub path: &'a Path,
    /// What is wrong in it.
    pub problems: &'a [KeymapProblem],
    /// What the file is said to be when no problem is named (`invalid key bindings`).
    pub what: &'static str,
    /// What happens instead (`using the default keys`).
    pub then: &'static str,
}

impl fmt::Display for ProblemsDisplay<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (path, then) = (self.path.display(), self.then);
        let Some((first, rest)) = self.problems.split_first() else {
            return write!(f, "{path}: {}; {then}", self.what);
        };
        write!(f, "{path}:{first}; {then}")?;
        if !rest.is_empty() {
            write!(f, " (and {} more)", rest.len())?;
        }
        for p in rest {
            write!(f, "\n{path}:{p}")?;
        }
        Ok(())
    }
}

const LISTS: [&str; 3] = ["prepend_keymap", "keymap", "append_keymap"];

/// The rules one file gives for one table.
#[derive(Default)]
struct TableEdit {
    prepend: Vec<Rule>,
    replace: Option<Vec<Rule>>,
    append: Vec<Rule>,
}

/// A keymap file that is not UTF-8 text: the problem is placed just after `valid`, the text
/// before the first bad byte.
pub(super) fn not_text(path: &Path, valid: &str) -> KeymapError {
    let (line, column) = line_col(valid, valid.len());
    KeymapError::Invalid {
        path: path.to_path_buf(),
        problems: vec![KeymapProblem {
            line,
            column,
            rule: None,
            message: "the file is not valid UTF-8 text".to_string(),
        }],
    }
}

/// Parses `text` and applies it over `base`; every problem found is reported at once.
pub(super) fn apply(text: &str, origin: &Path, base: &Keymap) -> Result<Keymap, KeymapError> {
    let mut reader = Reader {
        text,
        problems: Vec::new(),
    };
    let mut keymap = base.clone();
    match DeTable::parse(text) {
        Err(e) => {
            let at = e.span().map_or(0, |s| s.start);
            let message = e.message().trim().replace('\n', "; ");
            reader.problem(at, None, format!("not valid TOML: {message}"));
        }
        Ok(root) if reader.too_many_rules(root.get_ref()) => {}
        Ok(root) => {
            for (name, value) in root.get_ref() {
                let Some(table) = table_of(name.get_ref()) else {
                    let known: Vec<&str> = std::iter::once(GLOBAL_TABLE)
                        .chain(Mode::ALL.iter().map(|m| m.table_name()))
                        .collect();
                    reader.problem(
                        name.span().start,
                        None,
                        format!(
                            "unknown table `{}` (tables: {})",
                            name.get_ref(),
                            known.join(", ")
                        ),
                    );
                    continue;
                };
                if let Some(edit) = reader.table(name.get_ref(), value) {
                    let rules = keymap.table_mut(table);
                    let middle = edit.replace.unwrap_or_else(|| base.table(table).to_vec());
                    *rules = edit.prepend;
                    rules.extend(middle);
                    rules.extend(edit.append);
                }
            }
        }
    }
    if reader.problems.is_empty() {
        Ok(keymap)
    } else {
        let mut problems = reader.problems;
        problems.sort_by_key(|p| (p.line, p.column));
        Err(KeymapError::Invalid {
            path: origin.to_path_buf(),
            problems,
        })
    }
}

/// `Some(None)` is `[global]`, `Some(Some(mode))` a mode's table.
fn table_of(name: &str) -> Option<Option<Mode>> {
    if name == GLOBAL_TABLE {
        return Some(None);
    }
    Mode::ALL
        .iter()
        .find(|m| m.table_name() == name)
        .map(|&m| Some(m))
}

struct Reader<'t> {
    text: &'t str,
    problems: Vec<KeymapProblem>,
}

/// Where a rule sits, for messages.
struct RulePlace<'a> {
    table: &'a str,
    list: &'a str,
    number: usize,
}

impl Reader<'_> {
    /// Counts the rules of every list of every table; past [`MAX_KEYMAP_RULES`] the file is
    /// refused at the first rule too many, before any rule is read.
    fn too_many_rules(&mut self, root: &DeTable<'_>) -> bool {
        let lists = root
            .values()
            .filter_map(|t| match t.get_ref() {
                DeValue::Table(t) => Some(t),
                _ => None,
            })
            .flat_map(|t| t.values())
            .filter_map(|l| match l.get_ref() {
                DeValue::Array(items) => Some(items),
                _ => None,
            });
        let mut count = 0;
        let mut first_too_many = None;
        for items in lists {
            for item in items.iter() {
                count += 1;
                if count == MAX_KEYMAP_RULES + 1 {
                    first_too_many = Some(item.span().start);
                }
            }
        }
        let Err(e) = limits::KEYMAP_RULES.check(count) else {
            return false;
        };
        self.problem(first_too_many.unwrap_or(0), None, e.to_string());
        true
    }

    fn problem(&mut self, offset: usize, rule: Option<String>, message: String) {
        let (line, column) = line_col(self.text, offset);
        self.problems.push(KeymapProblem {
            line,
            column,
            rule,
            message,
        });
    }

    /// Reads one `[table]`; `None` when it has problems (already recorded).
    fn table(&mut self, name: &str, value: &Spanned<DeValue<'_>>) -> Option<TableEdit> {
        let DeValue::Table(entries) = value.get_ref() else {
            self.problem(
                value.span().start,
                None,
                format!("`{name}` must be a table like [{name}]"),
            );
            return None;
        };
        let before = self.problems.len();
        let mut edit = TableEdit::default();
        for (key, list) in entries {
            let key_name = key.get_ref().as_ref();
            let Some(&list_name) = LISTS.iter().find(|l| **l == key_name) else {
                self.problem(
                    key.span().start,
                    None,
                    format!(
                        "unknown key `{key_name}` in [{name}] (use keymap, prepend_keymap or \
                         append_keymap)"
                    ),
                );
                continue;
            };
            let rules = self.rule_list(name, list_name, list);
            match list_name {
                "prepend_keymap" => edit.prepend = rules,
                "append_keymap" => edit.append = rules,
                _ => edit.replace = Some(rules),
            }
        }
        (self.problems.len() == before).then_some(edit)
    }

    fn rule_list(&mut self, table: &str, list: &str, value: &Spanned<DeValue<'_>>) -> Vec<Rule> {
        let DeValue::Array(items) = value.get_ref() else {
            self.problem(
                value.span().start,
                None,
                format!("[{table}] {list} must be a list of {{ on, run, desc }} rules"),
            );
            return Vec::new();
        };
        // Valid rules so far, with their 1-based number in the list.
        let mut rules: Vec<(usize, Rule)> = Vec::new();
        for (i, item) in items.iter().enumerate() {
            let place = RulePlace {
                table,
                list,
                number: i + 1,
            };
            if let Some((rule, on_span)) = self.rule(&place, item) {
                if let Some(why) = unreachable_reason(&rules, &rule) {
                    let label = self.rule_label(&place, item);
                    self.problem(on_span.start, Some(label), why);
                }
                rules.push((i + 1, rule));
            }
        }
        rules.into_iter().map(|(_, rule)| rule).collect()
    }

    /// `[grid] prepend_keymap rule 3 (on = "<C-", run = "quit")`, quoting the file.
    fn rule_label(&self, place: &RulePlace<'_>, item: &Spanned<DeValue<'_>>) -> String {
        let label = format!("[{}] {} rule {}", place.table, place.list, place.number);
        label + &quote_rule(self.text, item)
    }

    /// Reads one rule; `None` when it has problems (already recorded).
    fn rule(
        &mut self,
        place: &RulePlace<'_>,
        item: &Spanned<DeValue<'_>>,
    ) -> Option<(Rule, Range<usize>)> {
        let label = self.rule_label(place, item);
        let DeValue::Table(fields) = item.get_ref() else {
            self.problem(
                item.span().start,
                Some(label),
                "a rule must be a table like { on = \"q\", run = \"quit\", desc = \"Quit\" }"
                    .into(),
            );
            return None;
        };
        let before = self.problems.len();
        for (key, _) in fields {
            let k = key.get_ref().as_ref();
            if !["on", "run", "desc"].contains(&k) {
                self.problem(
                    key.span().start,
                    Some(label.clone()),
                    format!("unknown field `{k}` (a rule has on, run and desc)"),
                );
            }
        }
        let on = self.rule_keys(fields.get("on"), item.span(), &label);
        let action = self.rule_action(fields.get("run"), item.span(), &label);
        let desc = match (fields.get("desc"), action) {
            (Some(d), _) => match d.get_ref() {
                DeValue::String(s) if !s.trim().is_empty() || action == Some(Action::Noop) => {
                    Some(s.trim().to_string())
                }
                DeValue::String(_) => {
                    self.problem(d.span().start, Some(label.clone()), "desc is empty".into());
                    None
                }
                _ => {
                    self.problem(
                        d.span().start,
                        Some(label.clone()),
                        "desc must be text".into(),
                    );
                    None
                }
            },
            // A rule that disables a key needs no description: it is left out of the help.
            (None, Some(Action::Noop)) => Some(String::new()),
            (None, _) => {
                self.problem(
                    item.span().start,
                    Some(label.clone()),
                    "missing desc (the help overlay shows it)".into(),
                );
                None
            }
        };
        if self.problems.len() != before {
            return None;
        }
        let ((on, on_span), action, desc) = (on?, action?, desc?);
        Some((Rule { on, action, desc }, on_span))
    }

    fn rule_keys(
        &mut self,
        value: Option<&Spanned<DeValue<'_>>>,
        rule_span: Range<usize>,
        label: &str,
    ) -> Option<(Vec<Key>, Range<usize>)> {
        let Some(value) = value else {
            self.problem(
                rule_span.start,
                Some(label.to_string()),
                "missing on (the key, like on = \"q\", or a chord, like on = [\"g\", \"g\"])"
                    .into(),
            );
            return None;
        };
        let parts: Vec<(&str, usize)> = match value.get_ref() {
            DeValue::String(s) => vec![(s.as_ref(), value.span().start)],
            DeValue::Array(items) => {
                let mut parts = Vec::new();
                for item in items.iter() {
                    match item.get_ref() {
                        DeValue::String(s) => parts.push((s.as_ref(), item.span().start)),
                        _ => {
                            self.problem(
                                item.span().start,
                                Some(label.to_string()),
                                "each key of a chord must be text, like \"g\"".into(),
                            );
                            return None;
                        }
                    }
                }
                parts
            }
            _ => {
                self.problem(
                    value.span().start,
                    Some(label.to_string()),
                    "on must be a key (\"q\") or a list of keys ([\"g\", \"g\"])".into(),
                );
                return None;
            }
        };
        if parts.is_empty() {
            self.problem(
                value.span().start,
                Some(label.to_string()),
                "on lists no keys".into(),
            );
            return None;
        }
        if let Err(e) = limits::CHORD_KEYS.check(parts.len()) {
            self.problem(value.span().start, Some(label.to_string()), e.to_string());
            return None;
        }
        let mut keys = Vec::with_capacity(parts.len());
        for (text, at) in parts.iter().copied() {
            match text.parse::<Key>() {
                Ok(key) => keys.push(key),
                Err(e) => {
                    self.problem(at, Some(label.to_string()), e.to_string());
                    return None;
                }
            }
        }
        if keys.len() > 1 && keys.iter().any(|k| k.code == KeyCode::Esc) {
            self.problem(
                value.span().start,
                Some(label.to_string()),
                "<Esc> cancels a chord, so it can only be bound alone".into(),
            );
            return None;
        }
        Some((keys, value.span()))
    }

    fn rule_action(
        &mut self,
        value: Option<&Spanned<DeValue<'_>>>,
        rule_span: Range<usize>,
        label: &str,
    ) -> Option<Action> {
        let Some(value) = value else {
            self.problem(
                rule_span.start,
                Some(label.to_string()),
                "missing run (the action, like run = \"quit\")".into(),
            );
            return None;
        };
        let DeValue::String(text) = value.get_ref() else {
            self.problem(
                value.span().start,
                Some(label.to_string()),
                "run must be one action as text, like run = \"bpm_nudge +1\"".into(),
            );
            return None;
        };
        match Action::parse(text) {
            Ok(action) => Some(action),
            Err(why) => {
                self.problem(value.span().start, Some(label.to_string()), why);
                None
            }
        }
    }
}

/// Why an earlier rule of the same list keeps `rule` from ever firing, if one does.
fn unreachable_reason(earlier: &[(usize, Rule)], rule: &Rule) -> Option<String> {
    let keys = super::chord_notation(&rule.on);
    earlier.iter().find_map(|(n, other)| {
        let other_keys = super::chord_notation(&other.on);
        if other.on == rule.on {
            Some(format!(
                "duplicate: rule {n} of the same list already binds `{keys}`"
            ))
        } else if rule.on.starts_with(&other.on) {
            Some(format!(
                "never fires: rule {n} binds `{other_keys}`, which starts it"
            ))
        } else if other.on.starts_with(&rule.on) {
            Some(format!(
                "never fires: rule {n} binds the chord `{other_keys}`, which starts with it"
            ))
        } else {
            None
        }
    })
}

/// 1-based line and column (in characters) of a byte offset: where a problem in a TOML file
/// Chronus reads (the keymap, `midi.toml`) is said to be.
pub fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let mut offset = offset.min(text.len());
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    (line, before[line_start..].chars().count() + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_col_counts_characters() {
        let text = "ab\ncé d\n";
        assert_eq!(line_col(text, 0), (1, 1));
        assert_eq!(line_col(text, 3), (2, 1));
        // 'é' is two bytes: byte 6 is 'd'... after "cé " (c=1, é=2, space=1 byte).
        assert_eq!(line_col(text, 7), (2, 4));
        assert_eq!(line_col(text, 100), (3, 1));
    }
}
