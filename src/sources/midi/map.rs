//! `midi.toml`: MIDI controllers and notes mapped to parameters and actions, in the style of
//! `keymap.toml`: one list of `{ on, run, desc }` rules, the first whose `on` fits a message
//! wins.
//!
//! ```toml
//! map = [
//!   { on = "cc 1 74",    run = "set acid1 cutoff", desc = "Cutoff knob" },
//!   { on = "cc * 7",     run = "set voice1 amp" },
//!   { on = "note 10 36", run = "queue 3",          desc = "Pad 1: slot 3 at the next bar" },
//!   { on = "note 10 37", run = "fill_hold" },
//! ]
//! ```
//!
//! `on` is `cc CHANNEL NUMBER` or `note CHANNEL NUMBER`, the channel 1–16 or `*` for any.
//! `run` is `set MODULE PARAM` (every registry parameter, by the names OSC and the step editor
//! take), `queue N`, `fill_hold`, or one of the keymap's actions that need no cursor
//! ([`pad_command`]). The file is optional; a broken one maps nothing, and the error names the
//! file, line, column and rule. MIDI learn rewrites it with [`with_learned`], keeping the
//! other rules and the comments.

use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};

use toml::Spanned;
use toml::de::{DeTable, DeValue};

use crate::control::Command;
use crate::keymap::{Action, KeymapProblem, ProblemsDisplay, line_col, quote_rule, suggest};
use crate::model::ParamId;
use crate::model::registry::{EFFECT_MODULES, MAX_VOICES, Module};
use crate::store::{ReadError, ReadLimit, SlotNumber, read_user_file};

/// The file read beside the keymap (the working directory, or `--keymap`'s folder) when no
/// `--midi-map` is given.
pub const MAP_FILE: &str = "midi.toml";
/// Largest `midi.toml` read.
pub const MAX_MAP_BYTES: usize = 256 * 1024;
/// Most rules a `midi.toml` may hold.
pub const MAX_MAP_RULES: usize = 1024;
/// The one key of the file.
const LIST: &str = "map";

/// How `midi.toml` is read: by the store's one reader of user files, bounded.
pub const MAP_READ: ReadLimit = ReadLimit {
    what: "MIDI map file",
    max_bytes: MAX_MAP_BYTES as u64,
};

/// What kind of message a rule listens to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// A control change (a knob, a fader, a button sending CC).
    Cc,
    /// A note (a pad, a key).
    Note,
}

/// A rule's `on`: the message kind, its channel (`None`: any) and its controller or note.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Trigger {
    /// CC or note.
    pub source: Source,
    /// 1–16, or `None` for any channel (`*`).
    pub channel: Option<u8>,
    /// The controller or note number, 0–127.
    pub number: u8,
}

impl Trigger {
    /// True when every message this one fits also fits `self` (so a later `other` never
    /// fires).
    fn covers(&self, other: &Trigger) -> bool {
        self.source == other.source
            && self.number == other.number
            && (self.channel.is_none() || self.channel == other.channel)
    }

    /// True when `m` (a message on `channel`, 1–16) fits.
    fn fits(&self, source: Source, channel: u8, number: u8) -> bool {
        self.source == source && self.number == number && self.channel.is_none_or(|c| c == channel)
    }

    /// Reads `cc 1 74`, `note * 36`; on a mistake, the byte offset of the bad word in `text`
    /// and what is wrong.
    pub fn parse(text: &str) -> Result<Trigger, (usize, String)> {
        let mut words = words(text);
        let end = text.len();
        let Some((at, kind)) = words.next() else {
            return Err((
                0,
                "on is empty (like on = \"cc 1 74\" or \"note 10 36\")".into(),
            ));
        };
        let source = match kind {
            "cc" => Source::Cc,
            "note" => Source::Note,
            other => {
                return Err((
                    at,
                    format!("unknown message `{other}` (cc CHANNEL NUMBER or note CHANNEL NUMBER)"),
                ));
            }
        };
        let (at, ch) = words
            .next()
            .ok_or((end, "missing the channel (1–16, or * for any)".to_string()))?;
        let channel = match ch {
            "*" => None,
            _ => Some(
                ch.parse::<u8>()
                    .ok()
                    .filter(|c| (1..=16).contains(c))
                    .ok_or((at, format!("`{ch}` is not a channel (1–16, or * for any)")))?,
            ),
        };
        let what = match source {
            Source::Cc => "controller",
            Source::Note => "note",
        };
        let (at, n) = words
            .next()
            .ok_or((end, format!("missing the {what} number (0–127)")))?;
        let number = n
            .parse::<u8>()
            .ok()
            .filter(|n| *n <= 127)
            .ok_or((at, format!("`{n}` is not a {what} number (0–127)")))?;
        if let Some((at, extra)) = words.next() {
            return Err((at, format!("unexpected `{extra}`")));
        }
        Ok(Trigger {
            source,
            channel,
            number,
        })
    }
}

impl fmt::Display for Trigger {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = match self.source {
            Source::Cc => "cc",
            Source::Note => "note",
        };
        match self.channel {
            Some(c) => write!(f, "{kind} {c} {}", self.number),
            None => write!(f, "{kind} * {}", self.number),
        }
    }
}

/// What a rule does.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Target {
    /// Set a parameter: a CC's value or a note's velocity through its musical scale.
    Set(ParamId),
    /// Fill mode on while the pad is held (or the CC is at 64 or more), off when released.
    FillHold,
    /// A keymap action that needs no cursor, run on a press ([`pad_command`]).
    Action(Action),
}

/// One rule of `midi.toml`.
#[derive(Debug, Clone, PartialEq)]
pub struct MapRule {
    /// The message it listens to.
    pub on: Trigger,
    /// What it does.
    pub run: Target,
    /// The `run` text as written (`queue 3`), for the status line.
    pub run_text: String,
    /// The description, when the rule has one.
    pub desc: Option<String>,
}

/// The rules of a `midi.toml`, in file order.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct MidiMap {
    rules: Vec<MapRule>,
}

/// Why `midi.toml` was not used; Chronus runs with no MIDI controls mapped.
#[derive(Debug, thiserror::Error)]
pub enum MidiMapError {
    /// The file could not be read (not a regular file, too large, not UTF-8, I/O).
    #[error("MIDI map: {error}; no MIDI controls are mapped")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why it was not read.
        error: ReadError,
    },
    /// The file is not UTF-8 text.
    #[error("{}: not UTF-8 text; no MIDI controls are mapped", path.display())]
    NotText {
        /// The file.
        path: PathBuf,
    },
    /// The file has mistakes (never empty).
    #[error("{}", ProblemsDisplay { path, problems, what: "invalid MIDI map", then: "no MIDI controls are mapped" })]
    Invalid {
        /// The file.
        path: PathBuf,
        /// Every mistake found, in file order.
        problems: Vec<KeymapProblem>,
    },
}

impl MidiMapError {
    /// The mistakes found (empty for a read error).
    pub fn problems(&self) -> &[KeymapProblem] {
        match self {
            MidiMapError::Invalid { problems, .. } => problems,
            _ => &[],
        }
    }
}

/// A MIDI message as the map reads it (channels 1–16).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Incoming {
    /// A control change.
    Cc {
        /// 1–16.
        channel: u8,
        /// The controller.
        number: u8,
        /// 0–127.
        value: u8,
    },
    /// A note on with a velocity above 0.
    NoteOn {
        /// 1–16.
        channel: u8,
        /// The note.
        number: u8,
        /// 1–127.
        velocity: u8,
    },
    /// A note off (or a note on at velocity 0).
    NoteOff {
        /// 1–16.
        channel: u8,
        /// The note.
        number: u8,
    },
}

impl Incoming {
    /// Reads a channel message; `None` for anything else (clock, system messages).
    pub fn read(bytes: &[u8]) -> Option<Incoming> {
        let [status, a, b] = *bytes else {
            return None;
        };
        let channel = (status & 0x0F) + 1;
        let (a, b) = (a & 0x7F, b & 0x7F);
        match status & 0xF0 {
            0xB0 => Some(Incoming::Cc {
                channel,
                number: a,
                value: b,
            }),
            0x90 if b > 0 => Some(Incoming::NoteOn {
                channel,
                number: a,
                velocity: b,
            }),
            0x80 | 0x90 => Some(Incoming::NoteOff { channel, number: a }),
            _ => None,
        }
    }

    /// The trigger a learned rule gets from this message: its kind, channel and number
    /// (`None` for a note off, which learns nothing).
    pub fn trigger(&self) -> Option<Trigger> {
        match *self {
            Incoming::Cc {
                channel, number, ..
            } => Some(Trigger {
                source: Source::Cc,
                channel: Some(channel),
                number,
            }),
            Incoming::NoteOn {
                channel, number, ..
            } => Some(Trigger {
                source: Source::Note,
                channel: Some(channel),
                number,
            }),
            Incoming::NoteOff { .. } => None,
        }
    }

    fn key(&self) -> (Source, u8, u8) {
        match *self {
            Incoming::Cc {
                channel, number, ..
            } => (Source::Cc, channel, number),
            Incoming::NoteOn {
                channel, number, ..
            }
            | Incoming::NoteOff { channel, number } => (Source::Note, channel, number),
        }
    }
}

/// The position (0–1) of a control's travel a 7-bit value stands for: 0 the bottom, 64 the
/// exact middle (a centred knob sits on the scale's middle), 127 the top.
pub fn position(value: u8) -> f64 {
    let v = value.min(127) as f64;
    if v <= 64.0 {
        v / 128.0
    } else {
        0.5 + (v - 64.0) / 126.0
    }
}

/// The command a keymap action runs from a pad, or `None` for an action that needs the
/// tracker's cursor, a prompt or a panel (`step_set`, `param_adjust`, `load` without N …).
/// `recording` tells `record_toggle` which way to go.
pub fn pad_command(action: Action, recording: bool) -> Option<Command> {
    let slot = |n: Option<u8>| n.and_then(|n| SlotNumber::new(n).ok());
    Some(match action {
        Action::PlayToggle => Command::TogglePlay,
        Action::Stop => Command::Stop,
        Action::BpmNudge(d) => Command::NudgeBpm(d),
        Action::SwingNudge(d) => Command::NudgeSwing(d),
        Action::RecordToggle if recording => Command::RecordStop,
        Action::RecordToggle => Command::RecordStart(None),
        Action::Fill => Command::SetFill(None),
        Action::FillBar => Command::FillBar,
        Action::LinkToggle => Command::Link(None),
        Action::Undo => Command::Undo,
        Action::Redo => Command::Redo,
        Action::MuteQuantize => Command::SetMuteQuantize(None),
        Action::MuteGroup(g) => Command::MuteGroup {
            group: g.number(),
            on: None,
        },
        Action::Load(n) => Command::LoadSlot {
            slot: slot(n)?,
            immediate: false,
        },
        Action::LoadNow(n) => Command::LoadSlot {
            slot: slot(n)?,
            immediate: true,
        },
        Action::OneShot(n) => Command::OneShot(slot(n)?),
        Action::ChainStart => Command::ChainStart(None),
        Action::ChainHold => Command::ChainHold(None),
        Action::ChainLeave => Command::ChainLeave,
        Action::PrepareQueue => Command::QueuePrepared { immediate: false },
        _ => return None,
    })
}

/// The `run` words a rule takes besides `set`, for messages.
const PAD_ACTIONS: &str = "queue N, fill_hold, fill_toggle, fill_bar, play_toggle, stop, \
     load N, load_now N, oneshot N, chain_start, chain_hold, chain_leave, prepare_queue, \
     mute_group N, mute_quantize, bpm_nudge ±N, swing_nudge ±N, record_toggle, link_toggle, \
     undo, redo";

/// Every module name `set` takes.
fn module_names() -> Vec<String> {
    (1..=MAX_VOICES as u8)
        .map(Module::Voice)
        .chain(EFFECT_MODULES)
        .map(|m| m.to_string())
        .collect()
}

/// Reads a `run` text; on a mistake, the byte offset of the bad word and what is wrong.
pub fn parse_target(text: &str) -> Result<Target, (usize, String)> {
    let mut w = words(text);
    let end = text.len();
    let Some((_, first)) = w.next() else {
        return Err((0, "run is empty (like run = \"set acid1 cutoff\")".into()));
    };
    match first {
        "set" => {
            let (at, m) = w.next().ok_or((
                end,
                "missing the module (set MODULE PARAM, like set acid1 cutoff)".to_string(),
            ))?;
            let module = Module::parse(m).ok_or_else(|| {
                let names = module_names();
                let near = suggest(m, names.iter().map(String::as_str));
                let hint = near
                    .map(|n| format!(" (did you mean `{n}`?)"))
                    .unwrap_or_else(|| {
                        " (voice1–voice16, acid1, dist1, reverb1, delay1, lfo1, lfo2)".into()
                    });
                (at, format!("unknown module `{m}`{hint}"))
            })?;
            let (at, p) = w.next().ok_or((
                end,
                format!("missing the parameter of {module} (set {module} PARAM)"),
            ))?;
            let id = module.param_by_name(p).ok_or_else(|| {
                let names: Vec<&str> = module.params().iter().map(|s| s.name).collect();
                let near = suggest(p, names.iter().copied())
                    .map(|n| format!("did you mean `{n}`? "))
                    .unwrap_or_default();
                (
                    at,
                    format!(
                        "{module} has no parameter `{p}` ({near}parameters: {})",
                        names.join(", ")
                    ),
                )
            })?;
            if let Some((at, extra)) = w.next() {
                return Err((at, format!("unexpected `{extra}`")));
            }
            Ok(Target::Set(id))
        }
        "queue" => {
            let (at, n) = w
                .next()
                .ok_or((end, "missing the slot (queue N, N 1–128)".to_string()))?;
            let slot = SlotNumber::parse(n).map_err(|e| (at, e.to_string()))?;
            if let Some((at, extra)) = w.next() {
                return Err((at, format!("unexpected `{extra}`")));
            }
            Ok(Target::Action(Action::Load(Some(slot.get()))))
        }
        "fill_hold" => match w.next() {
            Some((at, extra)) => Err((at, format!("takes no argument, found `{extra}`"))),
            None => Ok(Target::FillHold),
        },
        _ => {
            let action = Action::parse(text).map_err(|why| {
                let why = if why.starts_with("unknown action") {
                    format!("{why}; a MIDI rule runs set MODULE PARAM, {PAD_ACTIONS}")
                } else {
                    why
                };
                (0, why)
            })?;
            if pad_command(action, false).is_none() {
                let why = match action {
                    Action::Load(None) | Action::LoadNow(None) | Action::OneShot(None) => {
                        format!(
                            "`{text}` asks which slot: name it on a pad (`{} 3`)",
                            action.name()
                        )
                    }
                    _ => format!(
                        "`{}` needs the tracker's cursor, a prompt or a panel, so a MIDI rule cannot run it (a MIDI rule runs set MODULE PARAM, {PAD_ACTIONS})",
                        action.name()
                    ),
                };
                return Err((0, why));
            }
            Ok(Target::Action(action))
        }
    }
}

/// The words of a text with the byte offset of each.
fn words(text: &str) -> impl Iterator<Item = (usize, &str)> {
    text.split_whitespace()
        .map(move |w| (w.as_ptr() as usize - text.as_ptr() as usize, w))
}

impl MidiMap {
    /// A map of these rules (tests, benchmarks).
    pub fn from_rules(rules: Vec<MapRule>) -> MidiMap {
        MidiMap { rules }
    }

    /// Reads `path`; `Ok(None)` when there is no such file (a `midi.toml` is optional).
    pub fn load(path: &Path) -> Result<Option<MidiMap>, MidiMapError> {
        match read_text(path)? {
            Some(text) => MidiMap::parse(&text, path).map(Some),
            None => Ok(None),
        }
    }

    /// Reads a `midi.toml`'s text; `origin` names it in errors.
    pub fn parse(text: &str, origin: &Path) -> Result<MidiMap, MidiMapError> {
        let mut r = Reader {
            text,
            problems: Vec::new(),
        };
        let mut rules: Vec<MapRule> = Vec::new();
        if let Some(items) = r.list() {
            for (i, item) in items.iter().enumerate() {
                if let Some((rule, on_at)) = r.rule(i + 1, item) {
                    if let Some((n, other)) = rules
                        .iter()
                        .enumerate()
                        .find(|(_, o)| o.on.covers(&rule.on))
                    {
                        let why = if other.on == rule.on {
                            format!("duplicate: rule {} already maps `{}`", n + 1, rule.on)
                        } else {
                            format!(
                                "never fires: rule {} maps `{}`, which covers it",
                                n + 1,
                                other.on
                            )
                        };
                        let label = r.label(i + 1, item);
                        r.problem(on_at, Some(label), why);
                    }
                    rules.push(rule);
                }
            }
        }
        if r.problems.is_empty() {
            Ok(MidiMap { rules })
        } else {
            let mut problems = r.problems;
            problems.sort_by_key(|p| (p.line, p.column));
            Err(MidiMapError::Invalid {
                path: origin.to_path_buf(),
                problems,
            })
        }
    }

    /// The rules, in file order.
    pub fn rules(&self) -> &[MapRule] {
        &self.rules
    }

    /// The first rule `m` fits, with its index.
    pub fn find(&self, m: &Incoming) -> Option<(usize, &MapRule)> {
        let (source, channel, number) = m.key();
        self.rules
            .iter()
            .enumerate()
            .find(|(_, r)| r.on.fits(source, channel, number))
    }
}

/// The text of a `midi.toml`; `None` when there is no file.
fn read_text(path: &Path) -> Result<Option<String>, MidiMapError> {
    let bytes = match read_user_file(path, MAP_READ) {
        Ok(b) => b,
        Err(e) if e.is_not_found() => return Ok(None),
        Err(error) => {
            return Err(MidiMapError::Read {
                path: path.to_path_buf(),
                error,
            });
        }
    };
    String::from_utf8(bytes)
        .map(Some)
        .map_err(|_| MidiMapError::NotText {
            path: path.to_path_buf(),
        })
}

struct Reader<'t> {
    text: &'t str,
    problems: Vec<KeymapProblem>,
}

impl<'t> Reader<'t> {
    fn problem(&mut self, offset: usize, rule: Option<String>, message: String) {
        let (line, column) = line_col(self.text, offset);
        self.problems.push(KeymapProblem {
            line,
            column,
            rule,
            message,
        });
    }

    /// The `map` list's items; `None` when the file has problems before them (recorded).
    fn list(&mut self) -> Option<Vec<Spanned<DeValue<'t>>>> {
        let root = match DeTable::parse(self.text) {
            Ok(root) => root,
            Err(e) => {
                let at = e.span().map_or(0, |s| s.start);
                let message = e.message().trim().replace('\n', "; ");
                self.problem(at, None, format!("not valid TOML: {message}"));
                return None;
            }
        };
        let mut found = None;
        for (key, value) in root.into_inner() {
            if key.get_ref() != LIST {
                let hint = suggest(key.get_ref(), [LIST])
                    .map(|k| format!(" (did you mean `{k}`?)"))
                    .unwrap_or_default();
                self.problem(
                    key.span().start,
                    None,
                    format!(
                        "unknown key `{}`{hint}: midi.toml holds one list, map = [ {{ on, run, desc }} … ]",
                        key.get_ref()
                    ),
                );
                continue;
            }
            match value.into_inner() {
                DeValue::Array(items) => found = Some(items.into_iter().collect::<Vec<_>>()),
                _ => self.problem(
                    key.span().start,
                    None,
                    "map must be a list of { on, run, desc } rules".into(),
                ),
            }
        }
        let items = found.unwrap_or_default();
        if items.len() > MAX_MAP_RULES {
            self.problem(
                items[MAX_MAP_RULES].span().start,
                None,
                format!(
                    "{} rules; a MIDI map may hold at most {MAX_MAP_RULES}",
                    items.len()
                ),
            );
            return None;
        }
        Some(items)
    }

    /// `rule 3 (on = "cc 1 74", run = "set acid1 cutof")`, quoting the file.
    fn label(&self, number: usize, item: &Spanned<DeValue<'_>>) -> String {
        format!("rule {number}") + &quote_rule(self.text, item)
    }

    /// A string field: its text and the byte offset its characters start at.
    fn text_field(
        &mut self,
        fields: &toml::de::DeTable<'_>,
        key: &str,
        item: Range<usize>,
        label: &str,
        example: &str,
    ) -> Option<(String, usize)> {
        let Some(v) = fields.get(key) else {
            self.problem(
                item.start,
                Some(label.to_string()),
                format!("missing {key} (like {key} = \"{example}\")"),
            );
            return None;
        };
        match v.get_ref() {
            // Past the opening quote: offsets of words inside point at the words.
            DeValue::String(s) => Some((s.to_string(), v.span().start + 1)),
            _ => {
                self.problem(
                    v.span().start,
                    Some(label.to_string()),
                    format!("{key} must be text, like {key} = \"{example}\""),
                );
                None
            }
        }
    }

    /// Reads rule `number`; `None` when it has problems (recorded). Also the offset of its
    /// `on`, for an overlap found later.
    fn rule(&mut self, number: usize, item: &Spanned<DeValue<'_>>) -> Option<(MapRule, usize)> {
        let label = self.label(number, item);
        let DeValue::Table(fields) = item.get_ref() else {
            self.problem(
                item.span().start,
                Some(label),
                "a rule must be a table like { on = \"cc 1 74\", run = \"set acid1 cutoff\" }"
                    .into(),
            );
            return None;
        };
        let before = self.problems.len();
        for (key, _) in fields.iter() {
            let k = key.get_ref().as_ref();
            if !["on", "run", "desc"].contains(&k) {
                self.problem(
                    key.span().start,
                    Some(label.clone()),
                    format!("unknown field `{k}` (a rule has on, run and desc)"),
                );
            }
        }
        let on = self
            .text_field(fields, "on", item.span(), &label, "cc 1 74")
            .and_then(|(text, at)| match Trigger::parse(&text) {
                Ok(t) => Some((t, at)),
                Err((off, why)) => {
                    self.problem(at + off, Some(label.clone()), why);
                    None
                }
            });
        let run = self
            .text_field(fields, "run", item.span(), &label, "set acid1 cutoff")
            .and_then(|(text, at)| match parse_target(&text) {
                Ok(t) => Some((t, text.trim().to_string())),
                Err((off, why)) => {
                    self.problem(at + off, Some(label.clone()), why);
                    None
                }
            });
        let desc = match fields.get("desc").map(|d| (d.get_ref(), d.span().start)) {
            None => None,
            Some((DeValue::String(s), _)) => Some(s.trim().to_string()).filter(|s| !s.is_empty()),
            Some((_, at)) => {
                self.problem(at, Some(label.clone()), "desc must be text".into());
                None
            }
        };
        if self.problems.len() != before {
            return None;
        }
        let ((on, on_at), (run, run_text)) = (on?, run?);
        Some((
            MapRule {
                on,
                run,
                run_text,
                desc,
            },
            on_at,
        ))
    }
}

/// The text of a fresh `midi.toml`, above its first rule.
const NEW_FILE_HEAD: &str = "\
# Chronus MIDI map: controllers and notes mapped to parameters and actions.
# Rules: { on = \"cc CHANNEL NUMBER\" | \"note CHANNEL NUMBER\", run = \"…\", desc = \"…\" }
#   CHANNEL 1–16 or * for any; the first rule that fits a message wins.
#   run = \"set MODULE PARAM\" (a CC's value or a note's velocity, through the parameter's
#   scale), \"queue N\" (slot N at the next bar), \"fill_hold\", \"fill_toggle\", \"play_toggle\",
#   \"stop\" and the other keymap actions that need no cursor (see the README).
# MIDI learn in the tracker adds rules here, keeping the others and these comments.
";

/// The inline table of a rule, as learn writes it.
fn rule_text(on: &Trigger, id: ParamId) -> String {
    let (module, _) = id.locate();
    let name = id.spec().name;
    format!(
        "{{ on = \"{on}\", run = \"set {module} {name}\", desc = \"{module} {name} (learned)\" }}"
    )
}

/// `text` (a `midi.toml`'s, or `None` for no file) with `on` mapped to `set` parameter `id`:
/// a rule with the same `on` is replaced in place; otherwise the new rule goes before the
/// first rule that would hide it (`cc * 74` hides `cc 1 74`), else at the end of the list.
/// Every other rule and comment stays as it was. A file with mistakes is not touched: the
/// error says what to fix.
pub fn with_learned(
    text: Option<&str>,
    origin: &Path,
    on: Trigger,
    id: ParamId,
) -> Result<String, MidiMapError> {
    let rule = rule_text(&on, id);
    let Some(text) = text else {
        return Ok(format!("{NEW_FILE_HEAD}\nmap = [\n  {rule},\n]\n"));
    };
    let map = MidiMap::parse(text, origin)?;
    let root = DeTable::parse(text).map_err(|_| MidiMapError::NotText {
        path: origin.to_path_buf(),
    })?;
    let items: Option<Vec<Range<usize>>> =
        root.get_ref().get(LIST).and_then(|v| match v.get_ref() {
            DeValue::Array(items) => Some(items.iter().map(|i| i.span()).collect()),
            _ => None,
        });
    let array_end = root
        .get_ref()
        .get(LIST)
        .map(|v| v.span().end.saturating_sub(1));
    let (Some(items), Some(close)) = (items, array_end) else {
        let sep = if text.is_empty() || text.ends_with('\n') {
            ""
        } else {
            "\n"
        };
        return Ok(format!("{text}{sep}\nmap = [\n  {rule},\n]\n"));
    };
    let rules = map.rules();
    let mut out = String::with_capacity(text.len() + rule.len() + 8);
    if let Some(i) = rules.iter().position(|r| r.on == on) {
        let span = items[i].clone();
        out.push_str(&text[..span.start]);
        out.push_str(&rule);
        out.push_str(&text[span.end..]);
    } else if let Some(i) = rules.iter().position(|r| r.on.covers(&on)) {
        let at = items[i].start;
        let line_start = text[..at].rfind('\n').map_or(0, |n| n + 1);
        let indent = &text[line_start..at];
        let indent = if indent.trim().is_empty() {
            indent
        } else {
            " "
        };
        out.push_str(&text[..at]);
        out.push_str(&rule);
        out.push_str(",\n");
        out.push_str(indent);
        out.push_str(&text[at..]);
    } else {
        // After the last rule: a comma after it unless one is there, then the rule on a
        // line of its own before the closing bracket.
        let mut head = text[..close].to_string();
        if let Some(last) = items.last() {
            let between = &text[last.end..close];
            if !has_comma(between) {
                head.insert(last.end, ',');
            }
        }
        let line_start = head.rfind('\n').map_or(0, |n| n + 1);
        if head[line_start..].trim().is_empty() {
            head.truncate(line_start);
        } else {
            head.push('\n');
        }
        out.push_str(&head);
        out.push_str("  ");
        out.push_str(&rule);
        out.push_str(",\n");
        out.push_str(&text[close..]);
    }
    // Never write a file Chronus could not read back with the rule in it.
    let back = MidiMap::parse(&out, origin)?;
    debug_assert!(
        back.rules()
            .iter()
            .any(|r| r.on == on && r.run == Target::Set(id))
    );
    Ok(out)
}

/// True when the text between an array item and the next (or the closing bracket) holds the
/// separating comma (comments skipped).
fn has_comma(between: &str) -> bool {
    between
        .lines()
        .map(|l| l.split('#').next().unwrap_or(""))
        .any(|l| l.contains(','))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::registry::{acid, voice};

    fn parse(text: &str) -> Result<MidiMap, MidiMapError> {
        MidiMap::parse(text, Path::new("midi.toml"))
    }

    fn first_problem(text: &str) -> String {
        let e = parse(text).unwrap_err();
        e.problems()[0].to_string()
    }

    #[test]
    fn rules_read_with_any_channel_and_first_match_wins() {
        let map = parse(
            "# my controller\nmap = [\n  { on = \"cc 1 74\", run = \"set acid1 cutoff\", desc = \"Cutoff\" },\n  { on = \"cc * 7\", run = \"set voice1 amp\" },\n  { on = \"note 10 36\", run = \"queue 3\" },\n  { on = \"note 10 37\", run = \"fill_hold\" },\n  { on = \"note 10 38\", run = \"play_toggle\" },\n  { on = \"cc 16 20\", run = \"set voice2 filter/freq\" },\n]\n",
        )
        .unwrap();
        let r = map.rules();
        assert_eq!(r.len(), 6);
        assert_eq!(r[0].run, Target::Set(ParamId::acid(acid::CUTOFF)));
        assert_eq!(r[0].desc.as_deref(), Some("Cutoff"));
        assert_eq!(r[1].on.channel, None);
        assert_eq!(r[1].on.to_string(), "cc * 7");
        assert_eq!(r[2].run, Target::Action(Action::Load(Some(3))));
        assert_eq!(r[2].run_text, "queue 3");
        assert_eq!(r[3].run, Target::FillHold);
        assert_eq!(
            r[5].run,
            Target::Set(ParamId::voice(2, voice::FILTER_FREQ)),
            "OSC paths name parameters too"
        );
        let cc = |channel, number, value| Incoming::Cc {
            channel,
            number,
            value,
        };
        assert_eq!(map.find(&cc(1, 74, 3)).map(|(i, _)| i), Some(0));
        assert_eq!(map.find(&cc(2, 74, 3)), None, "cc 1 74 is channel 1 only");
        assert_eq!(map.find(&cc(9, 7, 3)).map(|(i, _)| i), Some(1));
        let note = Incoming::read(&[0x99, 36, 100]).unwrap();
        assert_eq!(
            note,
            Incoming::NoteOn {
                channel: 10,
                number: 36,
                velocity: 100
            }
        );
        assert_eq!(map.find(&note).map(|(i, _)| i), Some(2));
        assert_eq!(
            Incoming::read(&[0x99, 36, 0]),
            Some(Incoming::NoteOff {
                channel: 10,
                number: 36
            }),
            "velocity 0 is a note off"
        );
        assert_eq!(Incoming::read(&[0xF8]), None);
        assert_eq!(
            Incoming::read(&[0xE0, 0, 64]),
            None,
            "pitch bend maps nothing"
        );
        assert!(parse("").unwrap().rules().is_empty());
    }

    #[test]
    fn mistakes_name_line_column_rule_and_the_bad_word() {
        let p = first_problem("map = [\n  { on = \"cc 1 74\", run = \"set acid1 cutof\" },\n]\n");
        assert!(
            p.starts_with("2:38: rule 1 (on = \"cc 1 74\", run = \"set acid1 cutof\"): acid1 has no parameter `cutof` (did you mean `cutoff`?"),
            "{p}"
        );
        let p = first_problem("map = [\n  { on = \"cc 17 74\", run = \"stop\" },\n]\n");
        assert!(p.starts_with("2:14: rule 1"), "{p}");
        assert!(
            p.ends_with("`17` is not a channel (1–16, or * for any)"),
            "{p}"
        );
        let p = first_problem("map = [{ on = \"cc 1 128\", run = \"stop\" }]");
        assert!(
            p.ends_with("`128` is not a controller number (0–127)"),
            "{p}"
        );
        let p = first_problem("map = [{ on = \"pc 1 1\", run = \"stop\" }]");
        assert!(p.contains("unknown message `pc`"), "{p}");
        let p = first_problem("map = [{ on = \"note 1 1\", run = \"set acd1 cutoff\" }]");
        assert!(
            p.contains("unknown module `acd1` (did you mean `acid1`?)"),
            "{p}"
        );
        let p = first_problem("map = [{ on = \"note 1 1\", run = \"step_set X\" }]");
        assert!(p.contains("`step_set` needs the tracker's cursor"), "{p}");
        let p = first_problem("map = [{ on = \"note 1 1\", run = \"load\" }]");
        assert!(p.contains("asks which slot"), "{p}");
        let p = first_problem("map = [{ on = \"note 1 1\", run = \"queue 129\" }]");
        assert!(p.contains("slot number \"129\""), "{p}");
        let p = first_problem("map = [{ on = \"note 1 1\", run = \"fly\" }]");
        assert!(
            p.contains("unknown action `fly`") && p.contains("queue N"),
            "{p}"
        );
        let p = first_problem("map = [{ on = \"cc 1 1\", run = \"stop\", colour = 1 }]");
        assert!(p.contains("unknown field `colour`"), "{p}");
        let p = first_problem("mapp = []");
        assert!(
            p.starts_with("1:1: unknown key `mapp` (did you mean `map`?)"),
            "{p}"
        );
        let p = first_problem("map = [\n{ on = \"cc 1 74\", run = \"stop\" ");
        assert!(p.contains("not valid TOML"), "{p}");
        let p = first_problem(
            "map = [\n  { on = \"cc * 74\", run = \"stop\" },\n  { on = \"cc 3 74\", run = \"play_toggle\" },\n]",
        );
        assert!(
            p.starts_with("3:11: rule 2 (on = \"cc 3 74\", run = \"play_toggle\"): never fires: rule 1 maps `cc * 74`"),
            "{p}"
        );
        let p = first_problem(
            "map = [\n  { on = \"note 2 5\", run = \"stop\" },\n  { on = \"note 2 5\", run = \"stop\" },\n]",
        );
        assert!(
            p.contains("duplicate: rule 1 already maps `note 2 5`"),
            "{p}"
        );
        // Every mistake is found, and the message says nothing is mapped.
        let e = parse("map = [{ on = \"cc 1\", run = \"x\" }, { on = \"cc 1 2\" }]").unwrap_err();
        assert_eq!(e.problems().len(), 3, "{e}");
        assert!(
            e.to_string()
                .contains("no MIDI controls are mapped (and 2 more)"),
            "{e}"
        );
    }

    #[test]
    fn the_file_is_bounded_optional_and_never_a_special_file() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(MidiMap::load(&dir.path().join("midi.toml")).unwrap(), None);
        let big = dir.path().join("big.toml");
        std::fs::write(&big, "#".repeat(MAX_MAP_BYTES + 1)).unwrap();
        let e = MidiMap::load(&big).unwrap_err().to_string();
        assert!(e.contains("a MIDI map file may be at most"), "{e}");
        let e = MidiMap::load(dir.path()).unwrap_err().to_string();
        assert!(e.contains("is a directory, not a MIDI map file"), "{e}");
        let many: String = (0..=MAX_MAP_RULES)
            .map(|i| format!("{{ on = \"cc 1 {}\", run = \"stop\" }},\n", i % 128))
            .collect();
        let e = parse(&format!("map = [\n{many}]")).unwrap_err().to_string();
        assert!(e.contains("a MIDI map may hold at most 1024"), "{e}");
    }

    #[test]
    fn a_seven_bit_value_spans_the_travel_with_64_in_the_middle() {
        assert_eq!(position(0), 0.0);
        assert_eq!(position(64), 0.5);
        assert_eq!(position(127), 1.0);
        assert!(position(63) < 0.5 && position(65) > 0.5);
        let cutoff = ParamId::acid(acid::CUTOFF).spec();
        assert_eq!(cutoff.at_position(position(0)), 80.0);
        assert_eq!(cutoff.at_position(position(64)), 632.456);
        assert_eq!(cutoff.at_position(position(127)), 5000.0);
    }

    #[test]
    fn learning_adds_or_replaces_a_rule_keeping_the_rest_of_the_file() {
        let origin = Path::new("midi.toml");
        let cutoff = ParamId::acid(acid::CUTOFF);
        let amp = ParamId::voice(1, voice::AMP);
        let t = |s: &str| Trigger::parse(s).unwrap();
        // No file: a new one, with its comments, that reads back.
        let new = with_learned(None, origin, t("cc 1 74"), cutoff).unwrap();
        assert!(new.starts_with("# Chronus MIDI map"));
        assert_eq!(parse(&new).unwrap().rules()[0].run, Target::Set(cutoff));
        // A rule at the end, after a last rule without a comma, comments kept.
        let text =
            "# mine\nmap = [\n  { on = \"note 10 36\", run = \"queue 3\" } # pad 1\n]\n# end\n";
        let out = with_learned(Some(text), origin, t("cc 2 10"), amp).unwrap();
        assert_eq!(
            out,
            "# mine\nmap = [\n  { on = \"note 10 36\", run = \"queue 3\" }, # pad 1\n  { on = \"cc 2 10\", run = \"set voice1 amp\", desc = \"voice1 amp (learned)\" },\n]\n# end\n"
        );
        // The same knob learned again: its rule replaced in place.
        let again = with_learned(Some(&out), origin, t("cc 2 10"), cutoff).unwrap();
        let rules = parse(&again).unwrap();
        assert_eq!(rules.rules().len(), 2);
        assert_eq!(rules.rules()[1].run, Target::Set(cutoff));
        assert!(again.contains("# pad 1") && again.ends_with("# end\n"));
        // A rule for any channel would hide it: the learned one goes first.
        let text = "map = [\n  { on = \"cc * 74\", run = \"stop\" },\n]\n";
        let out = with_learned(Some(text), origin, t("cc 5 74"), cutoff).unwrap();
        let rules = parse(&out).unwrap();
        assert_eq!(rules.rules()[0].on, t("cc 5 74"));
        assert_eq!(rules.rules()[1].on, t("cc * 74"));
        // No list yet, and an empty one.
        let out = with_learned(Some("# nothing yet"), origin, t("cc 1 1"), amp).unwrap();
        assert_eq!(parse(&out).unwrap().rules().len(), 1);
        assert!(out.starts_with("# nothing yet\n"));
        let out = with_learned(Some("map = []\n"), origin, t("cc 1 1"), amp).unwrap();
        assert_eq!(parse(&out).unwrap().rules().len(), 1);
        // A file with mistakes is left alone.
        let e = with_learned(Some("map = [ 1 ]"), origin, t("cc 1 1"), amp).unwrap_err();
        assert!(e.to_string().contains("a rule must be a table"), "{e}");
    }
}
