//! What a key does: the [`Action`] named by a rule's `run` string (`bpm_nudge +1`).
//!
//! An action is an intent, not an effect: the tracker turns it into a `Command` (or a change
//! of its own view state, like the cursor) depending on the focused panel. `Action::parse` and
//! `Display` are inverse, so the `:` prompt and the help overlay speak the keymap's language.

use std::fmt;
use std::str::FromStr;

use crate::model::registry::{TRACK_FIELDS, TrackFieldKind, track};

/// Slots are numbered 1–128 (SLOT_FORMAT.md).
const LAST_SLOT: u8 = 128;

/// Every user intent a key can trigger.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Action {
    /// `noop`: do nothing; bind a key to it in `prepend_keymap` to disable a default.
    Noop,
    /// `quit`: leave Chronus (asks first when there are unsaved edits).
    Quit,
    /// `help`: show or hide the key help overlay.
    Help,
    /// `cancel`: close the overlay, prompt or dialog on top; otherwise clear the message line.
    Cancel,
    /// `confirm`: answer yes to the question a dialog asks.
    Confirm,
    /// `take_file`: the playing slot's file changed on disk under unsaved edits — play the
    /// file's version from the next bar (the edits stay in the undo history).
    TakeFile,
    /// `keep_edits`: the playing slot's file changed on disk under unsaved edits — keep the
    /// screen's edits and leave that version of the file alone.
    KeepEdits,
    /// `command`: open the `:` prompt, where any action can be typed (`:bpm_set`).
    Command,

    /// `play_toggle`: start playing, or stop where it is.
    PlayToggle,
    /// `stop`: stop playing and return to the first step.
    Stop,
    /// `bpm_nudge ±N`: change the tempo by N BPM (N may be fractional: `+0.1`).
    BpmNudge(f64),
    /// `bpm_set`: type an exact tempo.
    BpmSet,
    /// `tap_tempo`: set the tempo from the interval between repeated presses.
    TapTempo,
    /// `swing_nudge ±N`: change the swing by N (swing runs 0–0.6).
    SwingNudge(f64),
    /// `record_toggle`: start or stop recording the output to a WAV file.
    RecordToggle,

    /// `cursor up|down|left|right|home|end|top|bottom|page_up|page_down`: move within the
    /// focused panel (grid: steps and tracks; params: the parameter list; slots: the slot list;
    /// help: scroll; prompt: the text cursor).
    Cursor(CursorMove),
    /// `focus grid|params|slots|next|prev`: move the keyboard focus to another panel.
    Focus(Focus),
    /// `track_select next|prev`: select the next or previous track from any panel.
    TrackSelect(Cycle),
    /// `module_select next|prev`: show the next or previous module in the parameter panel.
    ModuleSelect(Cycle),

    /// `step_set X|x|.`: make the step under the cursor an accent, a hit or a rest.
    StepSet(StepValue),
    /// `step_cycle`: turn the step under the cursor rest → hit → accent → rest.
    StepCycle,

    /// `track_add`: add a track below the selected one.
    TrackAdd,
    /// `track_remove`: remove the selected track.
    TrackRemove,
    /// `track_rename`: type a new name for the selected track.
    TrackRename,
    /// `track_move up|down`: move the selected track one row up or down.
    TrackMove(Vertical),
    /// `track_voice next|prev|prompt`: change the voice the selected track plays.
    TrackVoice(Choice),
    /// `track_notes`: type the selected track's notes (note names like `a2 c3` or numbers).
    TrackNotes,
    /// `track_length ±N|prompt`: lengthen or shorten the selected track's pattern, or type a length.
    TrackLength(LengthChange),
    /// `track_field <field>`: type an exact value for a numeric track field (`base_amp`, …).
    TrackField(TrackFieldId),
    /// `track_field_adjust <field> ±fine|±coarse`: step a numeric track field up or down.
    TrackFieldAdjust(TrackFieldId, Nudge),
    /// `mute`: mute or unmute the selected track.
    Mute,
    /// `solo`: solo or unsolo the selected track.
    Solo,

    /// `param_adjust ±fine|±coarse`: step the selected parameter up or down.
    ParamAdjust(Nudge),
    /// `param_set`: type an exact value for the selected parameter.
    ParamSet,
    /// `param_default`: reset the selected parameter to its default.
    ParamDefault,

    /// `copy_track`: copy the selected track.
    CopyTrack,
    /// `paste_track`: paste the copied track over the selected one.
    PasteTrack,
    /// `copy_pattern`: copy the whole pattern (sequencer and modules).
    CopyPattern,
    /// `paste_pattern`: replace the whole pattern with the copied one.
    PastePattern,
    /// `undo`: undo the last edit.
    Undo,
    /// `redo`: redo the last undone edit.
    Redo,

    /// `save`: save the pattern to a slot, asking which (the current slot is proposed).
    Save,
    /// `save_current`: save the pattern to the slot it came from.
    SaveCurrent,
    /// `revert`: drop the current slot's unsaved edits (its draft) and put the file's version
    /// back (undo brings the edits back).
    Revert,
    /// `preview_queued`: show the queued slot's song in the grid, read-only, or go back.
    PreviewQueued,
    /// `messages`: show or hide the message log.
    Messages,
    /// `load [N]`: load slot N (or ask which) at the start of the next bar.
    Load(Option<u8>),
    /// `load_now [N]`: load slot N (or ask which) immediately.
    LoadNow(Option<u8>),
    /// `load_backup [N]`: load the newest valid backup of slot N (or of the slot selected in
    /// the browser) at the next bar — the way back from a corrupt slot file.
    LoadBackup(Option<u8>),
    /// `slot_load`: load the slot selected in the browser at the next bar.
    SlotLoad,
    /// `slot_load_now`: load the slot selected in the browser immediately.
    SlotLoadNow,
    /// `slot_save`: save the pattern to the slot selected in the browser.
    SlotSave,

    /// `prompt_submit`: accept the text typed in the prompt.
    PromptSubmit,
    /// `prompt_backspace`: delete the character before the text cursor.
    PromptBackspace,
    /// `prompt_delete`: delete the character under the text cursor.
    PromptDelete,
    /// `prompt_clear`: delete all the typed text.
    PromptClear,
}

/// A cursor movement; its meaning depends on the focused panel (see [`Action::Cursor`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CursorMove {
    /// `up`: previous row.
    Up,
    /// `down`: next row.
    Down,
    /// `left`: previous column (step, character).
    Left,
    /// `right`: next column.
    Right,
    /// `home`: first column.
    Home,
    /// `end`: last column.
    End,
    /// `top`: first row.
    Top,
    /// `bottom`: last row.
    Bottom,
    /// `page_up`: one screenful up.
    PageUp,
    /// `page_down`: one screenful down.
    PageDown,
}

/// Which panel gets the keyboard.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Focus {
    /// `grid`: the pattern grid.
    Grid,
    /// `params`: the parameter panel.
    Params,
    /// `slots`: the slot browser.
    Slots,
    /// `next`: the next panel in the cycle grid → params → slots.
    Next,
    /// `prev`: the previous panel in that cycle.
    Prev,
}

/// Forward or backward through a list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Cycle {
    /// `next`
    Next,
    /// `prev`
    Prev,
}

/// Up or down a column.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Vertical {
    /// `up`
    Up,
    /// `down`
    Down,
}

/// The three values of a step (the same type the command path uses).
pub use crate::control::StepValue;

/// Pick the next or previous item, or ask for one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Choice {
    /// `next`
    Next,
    /// `prev`
    Prev,
    /// `prompt`: ask, by typing.
    Prompt,
}

/// A pattern length change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LengthChange {
    /// `±N`: add or remove N steps.
    By(i32),
    /// `prompt`: type the new length.
    Prompt,
}

/// One step of a parameter: fine or coarse (the registry's `fine_step`/`coarse_step`), up or down.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Nudge {
    /// `+fine`
    FineUp,
    /// `-fine`
    FineDown,
    /// `+coarse`
    CoarseUp,
    /// `-coarse`
    CoarseDown,
}

impl Nudge {
    /// +1 or −1.
    pub fn sign(self) -> f64 {
        match self {
            Nudge::FineUp | Nudge::CoarseUp => 1.0,
            Nudge::FineDown | Nudge::CoarseDown => -1.0,
        }
    }

    /// Whether this is a coarse step.
    pub fn is_coarse(self) -> bool {
        matches!(self, Nudge::CoarseUp | Nudge::CoarseDown)
    }
}

/// A numeric track field a key may edit: an index into the registry's `TRACK_FIELDS`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TrackFieldId(usize);

impl TrackFieldId {
    /// The fields keys may edit: every numeric one except the playback position `note_index`.
    pub fn all() -> impl Iterator<Item = TrackFieldId> {
        (0..TRACK_FIELDS.len())
            .filter(|&i| TRACK_FIELDS[i].kind == TrackFieldKind::Number && i != track::NOTE_INDEX)
            .map(TrackFieldId)
    }

    /// Looks an editable field up by its slot-file key (`base_amp`).
    pub fn from_key(key: &str) -> Option<TrackFieldId> {
        TrackFieldId::all().find(|f| f.key() == key)
    }

    /// Index into `TRACK_FIELDS` (compare with the `registry::track::*` constants).
    pub fn index(self) -> usize {
        self.0
    }

    /// The slot-file key.
    pub fn key(self) -> &'static str {
        TRACK_FIELDS[self.0].key
    }
}

/// How each action is written, for messages and the keymap file's comments.
pub const ACTION_SYNTAX: &[&str] = &[
    "noop",
    "quit",
    "help",
    "cancel",
    "confirm",
    "take_file",
    "keep_edits",
    "command",
    "play_toggle",
    "stop",
    "bpm_nudge ±N",
    "bpm_set",
    "tap_tempo",
    "swing_nudge ±N",
    "record_toggle",
    "cursor up|down|left|right|home|end|top|bottom|page_up|page_down",
    "focus grid|params|slots|next|prev",
    "track_select next|prev",
    "module_select next|prev",
    "step_set X|x|.",
    "step_cycle",
    "track_add",
    "track_remove",
    "track_rename",
    "track_move up|down",
    "track_voice next|prev|prompt",
    "track_notes",
    "track_length ±N|prompt",
    "track_field <field>",
    "track_field_adjust <field> ±fine|±coarse",
    "mute",
    "solo",
    "param_adjust ±fine|±coarse",
    "param_set",
    "param_default",
    "copy_track",
    "paste_track",
    "copy_pattern",
    "paste_pattern",
    "undo",
    "redo",
    "save",
    "save_current",
    "revert",
    "preview_queued",
    "messages",
    "load [N]",
    "load_now [N]",
    "load_backup [N]",
    "slot_load",
    "slot_load_now",
    "slot_save",
    "prompt_submit",
    "prompt_backspace",
    "prompt_delete",
    "prompt_clear",
];

/// Why a `run` string did not parse; the message quotes the text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ActionParseError(pub String);

impl FromStr for Action {
    type Err = ActionParseError;

    fn from_str(text: &str) -> Result<Action, ActionParseError> {
        Action::parse(text).map_err(ActionParseError)
    }
}

impl Action {
    /// Parses a `run` string such as `step_set X` or `bpm_nudge -0.5`.
    pub fn parse(text: &str) -> Result<Action, String> {
        let mut words = text.split_whitespace();
        let Some(name) = words.next() else {
            return Err("empty action".into());
        };
        let args: Vec<&str> = words.collect();
        let usage = ACTION_SYNTAX
            .iter()
            .find(|s| s.split(' ').next() == Some(name))
            .ok_or_else(|| unknown_action(name))?;
        parse_known(name, &args).map_err(|why| format!("`{text}`: {why} (usage: {usage})"))
    }

    /// The action's name (the first word of its `run` string).
    pub fn name(&self) -> &'static str {
        match self {
            Action::Noop => "noop",
            Action::Quit => "quit",
            Action::Help => "help",
            Action::Cancel => "cancel",
            Action::Confirm => "confirm",
            Action::TakeFile => "take_file",
            Action::KeepEdits => "keep_edits",
            Action::Command => "command",
            Action::PlayToggle => "play_toggle",
            Action::Stop => "stop",
            Action::BpmNudge(_) => "bpm_nudge",
            Action::BpmSet => "bpm_set",
            Action::TapTempo => "tap_tempo",
            Action::SwingNudge(_) => "swing_nudge",
            Action::RecordToggle => "record_toggle",
            Action::Cursor(_) => "cursor",
            Action::Focus(_) => "focus",
            Action::TrackSelect(_) => "track_select",
            Action::ModuleSelect(_) => "module_select",
            Action::StepSet(_) => "step_set",
            Action::StepCycle => "step_cycle",
            Action::TrackAdd => "track_add",
            Action::TrackRemove => "track_remove",
            Action::TrackRename => "track_rename",
            Action::TrackMove(_) => "track_move",
            Action::TrackVoice(_) => "track_voice",
            Action::TrackNotes => "track_notes",
            Action::TrackLength(_) => "track_length",
            Action::TrackField(_) => "track_field",
            Action::TrackFieldAdjust(..) => "track_field_adjust",
            Action::Mute => "mute",
            Action::Solo => "solo",
            Action::ParamAdjust(_) => "param_adjust",
            Action::ParamSet => "param_set",
            Action::ParamDefault => "param_default",
            Action::CopyTrack => "copy_track",
            Action::PasteTrack => "paste_track",
            Action::CopyPattern => "copy_pattern",
            Action::PastePattern => "paste_pattern",
            Action::Undo => "undo",
            Action::Redo => "redo",
            Action::Save => "save",
            Action::SaveCurrent => "save_current",
            Action::Revert => "revert",
            Action::PreviewQueued => "preview_queued",
            Action::Messages => "messages",
            Action::Load(_) => "load",
            Action::LoadNow(_) => "load_now",
            Action::LoadBackup(_) => "load_backup",
            Action::SlotLoad => "slot_load",
            Action::SlotLoadNow => "slot_load_now",
            Action::SlotSave => "slot_save",
            Action::PromptSubmit => "prompt_submit",
            Action::PromptBackspace => "prompt_backspace",
            Action::PromptDelete => "prompt_delete",
            Action::PromptClear => "prompt_clear",
        }
    }
}

fn parse_known(name: &str, args: &[&str]) -> Result<Action, String> {
    let simple = match name {
        "noop" => Some(Action::Noop),
        "quit" => Some(Action::Quit),
        "help" => Some(Action::Help),
        "cancel" => Some(Action::Cancel),
        "confirm" => Some(Action::Confirm),
        "take_file" => Some(Action::TakeFile),
        "keep_edits" => Some(Action::KeepEdits),
        "command" => Some(Action::Command),
        "play_toggle" => Some(Action::PlayToggle),
        "stop" => Some(Action::Stop),
        "bpm_set" => Some(Action::BpmSet),
        "tap_tempo" => Some(Action::TapTempo),
        "record_toggle" => Some(Action::RecordToggle),
        "step_cycle" => Some(Action::StepCycle),
        "track_add" => Some(Action::TrackAdd),
        "track_remove" => Some(Action::TrackRemove),
        "track_rename" => Some(Action::TrackRename),
        "track_notes" => Some(Action::TrackNotes),
        "mute" => Some(Action::Mute),
        "solo" => Some(Action::Solo),
        "param_set" => Some(Action::ParamSet),
        "param_default" => Some(Action::ParamDefault),
        "copy_track" => Some(Action::CopyTrack),
        "paste_track" => Some(Action::PasteTrack),
        "copy_pattern" => Some(Action::CopyPattern),
        "paste_pattern" => Some(Action::PastePattern),
        "undo" => Some(Action::Undo),
        "redo" => Some(Action::Redo),
        "save" => Some(Action::Save),
        "save_current" => Some(Action::SaveCurrent),
        "revert" => Some(Action::Revert),
        "preview_queued" => Some(Action::PreviewQueued),
        "messages" => Some(Action::Messages),
        "slot_load" => Some(Action::SlotLoad),
        "slot_load_now" => Some(Action::SlotLoadNow),
        "slot_save" => Some(Action::SlotSave),
        "prompt_submit" => Some(Action::PromptSubmit),
        "prompt_backspace" => Some(Action::PromptBackspace),
        "prompt_delete" => Some(Action::PromptDelete),
        "prompt_clear" => Some(Action::PromptClear),
        _ => None,
    };
    if let Some(action) = simple {
        return match args {
            [] => Ok(action),
            [extra, ..] => Err(format!("takes no argument, found `{extra}`")),
        };
    }
    match name {
        "load" | "load_now" | "load_backup" => {
            let slot = match args {
                [] => None,
                [n] => Some(parse_slot(n)?),
                [_, extra, ..] => return Err(format!("unexpected `{extra}`")),
            };
            Ok(match name {
                "load" => Action::Load(slot),
                "load_now" => Action::LoadNow(slot),
                _ => Action::LoadBackup(slot),
            })
        }
        "track_field_adjust" => match args {
            [field, nudge] => Ok(Action::TrackFieldAdjust(
                parse_field(field)?,
                parse_nudge(nudge)?,
            )),
            [_] => Err("missing the step (+fine, -fine, +coarse, -coarse)".into()),
            [] => Err("missing the field and the step".into()),
            [_, _, extra, ..] => Err(format!("unexpected `{extra}`")),
        },
        _ => {
            let arg = match args {
                [arg] => *arg,
                [] => return Err("missing its argument".into()),
                [_, extra, ..] => return Err(format!("unexpected `{extra}`")),
            };
            parse_one_arg(name, arg)
        }
    }
}

fn parse_one_arg(name: &str, arg: &str) -> Result<Action, String> {
    let bad = || Err(format!("unknown argument `{arg}`"));
    Ok(match name {
        "bpm_nudge" => Action::BpmNudge(parse_signed_amount(arg)?),
        "swing_nudge" => Action::SwingNudge(parse_signed_amount(arg)?),
        "cursor" => Action::Cursor(match arg {
            "up" => CursorMove::Up,
            "down" => CursorMove::Down,
            "left" => CursorMove::Left,
            "right" => CursorMove::Right,
            "home" => CursorMove::Home,
            "end" => CursorMove::End,
            "top" => CursorMove::Top,
            "bottom" => CursorMove::Bottom,
            "page_up" => CursorMove::PageUp,
            "page_down" => CursorMove::PageDown,
            _ => return bad(),
        }),
        "focus" => Action::Focus(match arg {
            "grid" => Focus::Grid,
            "params" => Focus::Params,
            "slots" => Focus::Slots,
            "next" => Focus::Next,
            "prev" => Focus::Prev,
            _ => return bad(),
        }),
        "track_select" | "module_select" => {
            let cycle = match arg {
                "next" => Cycle::Next,
                "prev" => Cycle::Prev,
                _ => return bad(),
            };
            if name == "track_select" {
                Action::TrackSelect(cycle)
            } else {
                Action::ModuleSelect(cycle)
            }
        }
        "step_set" => Action::StepSet(match arg {
            "X" => StepValue::Accent,
            "x" => StepValue::Hit,
            "." => StepValue::Rest,
            _ => return bad(),
        }),
        "track_move" => Action::TrackMove(match arg {
            "up" => Vertical::Up,
            "down" => Vertical::Down,
            _ => return bad(),
        }),
        "track_voice" => Action::TrackVoice(match arg {
            "next" => Choice::Next,
            "prev" => Choice::Prev,
            "prompt" => Choice::Prompt,
            _ => return bad(),
        }),
        "track_length" => Action::TrackLength(if arg == "prompt" {
            LengthChange::Prompt
        } else {
            let by = parse_signed(arg)?
                .parse::<i32>()
                .ok()
                .filter(|&n| n != 0)
                .ok_or_else(|| format!("`{arg}` is not a non-zero whole number"))?;
            LengthChange::By(by)
        }),
        "track_field" => Action::TrackField(parse_field(arg)?),
        "param_adjust" => Action::ParamAdjust(parse_nudge(arg)?),
        _ => return Err("unknown action".into()),
    })
}

/// Amounts carry an explicit sign so a binding reads as a direction: `+1`, `-0.5`.
fn parse_signed(arg: &str) -> Result<&str, String> {
    if arg.starts_with('+') || arg.starts_with('-') {
        Ok(arg.trim_start_matches('+'))
    } else {
        Err(format!("`{arg}` needs a sign, like +{arg} or -{arg}"))
    }
}

fn parse_signed_amount(arg: &str) -> Result<f64, String> {
    let v: f64 = parse_signed(arg)?
        .parse()
        .map_err(|_| format!("`{arg}` is not a number"))?;
    if !v.is_finite() || v == 0.0 {
        return Err(format!("`{arg}` is not a non-zero amount"));
    }
    Ok(v)
}

fn parse_slot(arg: &str) -> Result<u8, String> {
    arg.parse::<u8>()
        .ok()
        .filter(|n| (1..=LAST_SLOT).contains(n))
        .ok_or_else(|| format!("slot `{arg}` is not a number from 1 to {LAST_SLOT}"))
}

fn parse_field(arg: &str) -> Result<TrackFieldId, String> {
    TrackFieldId::from_key(arg).ok_or_else(|| {
        let names: Vec<&str> = TrackFieldId::all().map(TrackFieldId::key).collect();
        format!("unknown track field `{arg}` (fields: {})", names.join(", "))
    })
}

fn parse_nudge(arg: &str) -> Result<Nudge, String> {
    Ok(match arg {
        "+fine" => Nudge::FineUp,
        "-fine" => Nudge::FineDown,
        "+coarse" => Nudge::CoarseUp,
        "-coarse" => Nudge::CoarseDown,
        _ => return Err(format!("`{arg}` is not +fine, -fine, +coarse or -coarse")),
    })
}

fn unknown_action(name: &str) -> String {
    let nearest = ACTION_SYNTAX
        .iter()
        .filter_map(|s| s.split(' ').next())
        .map(|known| (edit_distance(name, known), known))
        .min();
    match nearest {
        Some((d, known)) if d <= 2.max(name.len() / 3) => {
            format!("unknown action `{name}` (did you mean `{known}`?)")
        }
        _ => format!("unknown action `{name}`"),
    }
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, &cb) in b.iter().enumerate() {
            let substitute = diagonal + usize::from(ca != cb);
            diagonal = row[j + 1];
            row[j + 1] = substitute.min(row[j] + 1).min(row[j + 1] + 1);
        }
    }
    row[b.len()]
}

fn signed(v: f64) -> String {
    if v >= 0.0 {
        format!("+{v}")
    } else {
        format!("{v}")
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())?;
        match *self {
            Action::BpmNudge(v) | Action::SwingNudge(v) => write!(f, " {}", signed(v)),
            Action::Cursor(m) => write!(f, " {m}"),
            Action::Focus(to) => write!(f, " {to}"),
            Action::TrackSelect(c) | Action::ModuleSelect(c) => write!(f, " {c}"),
            Action::StepSet(v) => write!(f, " {}", v.as_char()),
            Action::TrackMove(v) => write!(f, " {v}"),
            Action::TrackVoice(c) => write!(f, " {c}"),
            Action::TrackLength(LengthChange::By(n)) => write!(f, " {n:+}"),
            Action::TrackLength(LengthChange::Prompt) => f.write_str(" prompt"),
            Action::TrackField(field) => write!(f, " {}", field.key()),
            Action::TrackFieldAdjust(field, n) => write!(f, " {} {n}", field.key()),
            Action::ParamAdjust(n) => write!(f, " {n}"),
            Action::Load(Some(n)) | Action::LoadNow(Some(n)) | Action::LoadBackup(Some(n)) => {
                write!(f, " {n}")
            }
            _ => Ok(()),
        }
    }
}

impl fmt::Display for CursorMove {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            CursorMove::Up => "up",
            CursorMove::Down => "down",
            CursorMove::Left => "left",
            CursorMove::Right => "right",
            CursorMove::Home => "home",
            CursorMove::End => "end",
            CursorMove::Top => "top",
            CursorMove::Bottom => "bottom",
            CursorMove::PageUp => "page_up",
            CursorMove::PageDown => "page_down",
        })
    }
}

impl fmt::Display for Focus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Focus::Grid => "grid",
            Focus::Params => "params",
            Focus::Slots => "slots",
            Focus::Next => "next",
            Focus::Prev => "prev",
        })
    }
}

impl fmt::Display for Cycle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Cycle::Next => "next",
            Cycle::Prev => "prev",
        })
    }
}

impl fmt::Display for Vertical {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Vertical::Up => "up",
            Vertical::Down => "down",
        })
    }
}

impl fmt::Display for Choice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Choice::Next => "next",
            Choice::Prev => "prev",
            Choice::Prompt => "prompt",
        })
    }
}

impl fmt::Display for Nudge {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Nudge::FineUp => "+fine",
            Nudge::FineDown => "-fine",
            Nudge::CoarseUp => "+coarse",
            Nudge::CoarseDown => "-coarse",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_documented_action_parses_and_prints_back() {
        for syntax in ACTION_SYNTAX {
            let name = syntax.split(' ').next().unwrap_or_default();
            let example = match name {
                "bpm_nudge" => "bpm_nudge -0.5",
                "swing_nudge" => "swing_nudge +0.05",
                "cursor" => "cursor page_down",
                "focus" => "focus params",
                "track_select" => "track_select prev",
                "module_select" => "module_select next",
                "step_set" => "step_set .",
                "track_move" => "track_move down",
                "track_voice" => "track_voice prompt",
                "track_length" => "track_length -4",
                "track_field" => "track_field gate_frac",
                "track_field_adjust" => "track_field_adjust filter_freq -coarse",
                "param_adjust" => "param_adjust +fine",
                "load" => "load 128",
                "load_now" => "load_now",
                "load_backup" => "load_backup 3",
                other => other,
            };
            let action = Action::parse(example).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(action.name(), name);
            assert_eq!(action.to_string(), example);
        }
    }

    #[test]
    fn bad_arguments_are_named() {
        let err = Action::parse("fly").unwrap_err();
        assert_eq!(err, "unknown action `fly`");
        assert!(
            Action::parse("undoo")
                .unwrap_err()
                .contains("did you mean `undo`")
        );
        assert!(
            Action::parse("bpm_nudge 1")
                .unwrap_err()
                .contains("needs a sign")
        );
        assert!(Action::parse("load 129").unwrap_err().contains("1 to 128"));
        assert!(
            Action::parse("track_field note_index")
                .unwrap_err()
                .contains("base_amp")
        );
        assert!(
            Action::parse("quit now")
                .unwrap_err()
                .contains("no argument")
        );
        assert!(
            Action::parse("step_set o")
                .unwrap_err()
                .contains("step_set X|x|.")
        );
    }

    #[test]
    fn editable_track_fields_follow_the_registry() {
        let keys: Vec<&str> = TrackFieldId::all().map(TrackFieldId::key).collect();
        assert_eq!(
            keys,
            [
                "base_freq",
                "base_amp",
                "filter_freq",
                "accent_boost",
                "reverb_send",
                "delay_send",
                "gate_frac"
            ]
        );
        assert_eq!(
            TrackFieldId::from_key("base_amp").map(TrackFieldId::index),
            Some(track::BASE_AMP)
        );
    }
}
