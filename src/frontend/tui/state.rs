//! The screen's own state: focus, cursors, prompt, overlays, clipboard, message line.
//!
//! Plain data. The song itself lives in the [`Controller`](crate::control::Controller); this
//! holds only what the performer is looking at and typing, so drawing takes `&UiState` and
//! `&Controller` and never changes either.

use std::collections::VecDeque;
use std::time::Instant;

use crate::control::Level;
use crate::keymap::HelpSection;
use crate::model::registry::EFFECT_MODULES;
use crate::model::{Module, ParamId, Track};
use crate::sources::watch::SlotDiff;
use crate::store::SlotNumber;

/// The panel that has the keyboard.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Panel {
    /// The pattern grid.
    Grid,
    /// The parameter panel.
    Params,
    /// The slot browser.
    Slots,
}

impl Panel {
    /// The next panel in the cycle grid → params → slots.
    pub fn next(self) -> Panel {
        match self {
            Panel::Grid => Panel::Params,
            Panel::Params => Panel::Slots,
            Panel::Slots => Panel::Grid,
        }
    }

    /// The previous panel in that cycle.
    pub fn prev(self) -> Panel {
        match self {
            Panel::Grid => Panel::Slots,
            Panel::Params => Panel::Grid,
            Panel::Slots => Panel::Params,
        }
    }
}

/// How many modules the parameter panel cycles through: the selected track's voice, then
/// every effect module.
pub const PANEL_MODULES: usize = 1 + EFFECT_MODULES.len();

/// What a text prompt asks for; decides how the typed text is read on Enter.
#[derive(Debug, Clone, PartialEq)]
pub enum PromptKind {
    /// The tempo.
    Bpm,
    /// A name for a new track.
    AddTrack,
    /// A new name for a track.
    Rename {
        /// The track's current name.
        track: String,
    },
    /// A track's notes (names, MIDI numbers or Hz).
    Notes {
        /// The track.
        track: String,
    },
    /// The voice a track plays (`3` or `voice3`).
    Voice {
        /// The track.
        track: String,
    },
    /// A track's pattern length in steps.
    Length {
        /// The track.
        track: String,
    },
    /// A numeric track field.
    TrackField {
        /// The track.
        track: String,
        /// The field.
        field: crate::model::registry::TrackFieldId,
    },
    /// An exact value for a module parameter.
    Param(ParamId),
    /// The slot to save to.
    Save,
    /// A new name for the song.
    SlotName,
    /// The slot to load, at the next bar or at once.
    Load {
        /// Load at once instead of at the next bar.
        immediate: bool,
    },
    /// How many steps step entry moves on.
    EditStep,
    /// A chain: `NAME [entries] loop|stop`, or a name to open.
    Chain,
    /// The entry of the running chain to jump to.
    ChainJump,
    /// The slot to play for one bar.
    OneShot,
    /// The slot to prepare.
    Prepare,
    /// A track's mute group.
    MuteGroup {
        /// The track.
        track: String,
    },
    /// A track's steps typed as a row (`x.x.X...`).
    PatternRow {
        /// The track.
        track: String,
    },
    /// A fill of a track: every N, or Euclid.
    Fill {
        /// The track.
        track: String,
    },
    /// The step editor: `KEY VALUE` pairs for one step's entry.
    StepData {
        /// The track.
        track: String,
        /// The step, from 0.
        step: usize,
    },
    /// Any action, typed in the keymap's language (`bpm_nudge +1`).
    Command,
}

/// An open text prompt.
#[derive(Debug, Clone, PartialEq)]
pub struct Prompt {
    /// What is asked.
    pub kind: PromptKind,
    /// The question shown above the text (`BPM (30–300)`).
    pub label: String,
    /// The text typed so far.
    pub text: String,
    /// Text cursor position, in characters.
    pub cursor: usize,
    /// Why the last Enter was refused (the prompt stays open).
    pub error: Option<String>,
    /// The proposed text is selected: typing replaces it, Backspace deletes it, a cursor key
    /// keeps it for editing.
    pub selected: bool,
}

impl Prompt {
    /// A prompt with `text` proposed (selected, so typing replaces it) and the cursor after
    /// it.
    pub fn new(kind: PromptKind, label: impl Into<String>, text: impl Into<String>) -> Prompt {
        let text = text.into();
        Prompt {
            kind,
            label: label.into(),
            cursor: text.chars().count(),
            selected: !text.is_empty(),
            text,
            error: None,
        }
    }

    fn byte_at(&self, char_index: usize) -> usize {
        self.text
            .char_indices()
            .nth(char_index)
            .map(|(i, _)| i)
            .unwrap_or(self.text.len())
    }

    /// Types one character at the cursor (over the proposed text while it is selected).
    pub fn insert(&mut self, c: char) {
        if std::mem::take(&mut self.selected) {
            self.clear();
        }
        let at = self.byte_at(self.cursor);
        self.text.insert(at, c);
        self.cursor += 1;
        self.error = None;
    }

    /// Deletes the character before the cursor (all the proposed text while it is selected).
    pub fn backspace(&mut self) {
        if std::mem::take(&mut self.selected) {
            return self.clear();
        }
        if self.cursor > 0 {
            self.cursor -= 1;
            let at = self.byte_at(self.cursor);
            self.text.remove(at);
            self.error = None;
        }
    }

    /// Deletes the character under the cursor (all the proposed text while it is selected).
    pub fn delete(&mut self) {
        if std::mem::take(&mut self.selected) {
            return self.clear();
        }
        if self.cursor < self.text.chars().count() {
            let at = self.byte_at(self.cursor);
            self.text.remove(at);
            self.error = None;
        }
    }

    /// Deletes all the text.
    pub fn clear(&mut self) {
        self.selected = false;
        self.text.clear();
        self.cursor = 0;
        self.error = None;
    }

    /// Moves the cursor by `delta` characters, staying inside the text.
    pub fn move_cursor(&mut self, delta: isize) {
        self.selected = false;
        let len = self.text.chars().count() as isize;
        self.cursor = (self.cursor as isize + delta).clamp(0, len) as usize;
    }

    /// Puts the cursor at the start (`false`) or the end (`true`).
    pub fn cursor_to(&mut self, end: bool) {
        self.selected = false;
        self.cursor = if end { self.text.chars().count() } else { 0 };
    }
}

/// What a yes/no question does when answered yes.
#[derive(Debug, Clone, PartialEq)]
pub enum Question {
    /// Quit although there are unsaved edits.
    Quit,
    /// Overwrite a slot that holds a different pattern.
    Overwrite(SlotNumber),
    /// The playing slot's file changed on disk while the screen has unsaved edits: take the
    /// file's version or keep the edits.
    Conflict(SlotNumber),
}

/// A window drawn over the screen that takes the keyboard.
#[derive(Debug, Clone, PartialEq)]
pub enum Overlay {
    /// The key help, scrolled down by `scroll` lines.
    Help {
        /// First line shown.
        scroll: usize,
    },
    /// The message log, scrolled down by `scroll` lines.
    Messages {
        /// First line shown.
        scroll: usize,
    },
    /// A yes/no question.
    Confirm {
        /// What answering yes does.
        question: Question,
        /// The question as shown.
        text: String,
    },
}

/// What `copy_track` / `copy_pattern` remembered.
#[derive(Debug, Clone, PartialEq)]
pub enum Clipboard {
    /// One track, with all its fields.
    Track(Box<Track>),
    /// Every track of a pattern.
    Pattern(Vec<Track>),
}

/// The latest line for the message line.
#[derive(Debug, Clone, PartialEq)]
pub struct Message {
    /// Info, warning or error.
    pub level: Level,
    /// The text.
    pub text: String,
}

/// One entry of the message log.
#[derive(Debug, Clone, PartialEq)]
pub struct LogEntry {
    /// Info, warning or error.
    pub level: Level,
    /// The text.
    pub text: String,
    /// The performer has had it in front of them (shown while they pressed a key, or in the
    /// log overlay), or the condition it was about ended.
    pub seen: bool,
}

/// Entries the message log keeps; older ones are dropped.
pub const LOG_LIMIT: usize = 200;

/// One slot file as the browser shows it, gathered when the list is refreshed (not per frame).
#[derive(Debug, Clone, PartialEq)]
pub struct SlotRow {
    /// `metadata.name`.
    pub name: String,
    /// Tempo.
    pub bpm: f64,
    /// Number of tracks.
    pub tracks: usize,
    /// Age of the file when the list was read (`5m`, `3h`, `2d`).
    pub age: String,
    /// Why the file does not load, when it does not.
    pub error: Option<String>,
    /// The file changed on disk since Chronus last read or wrote it.
    pub changed: bool,
}

/// Key labels for the hints drawn on screen, taken from the keymap in use.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Hints {
    /// Opens the help.
    pub help: String,
    /// Answers yes.
    pub confirm: String,
    /// Answers no / closes.
    pub cancel: String,
    /// Accepts a prompt.
    pub submit: String,
    /// Cancels a prompt.
    pub prompt_cancel: String,
    /// Adds a track.
    pub add_track: String,
    /// Starts playing.
    pub play: String,
    /// Takes a slot file's version over unsaved edits.
    pub take: String,
    /// Keeps unsaved edits over a slot file's version.
    pub keep: String,
    /// Saves, then quits (the quit question).
    pub save_quit: String,
}

/// Bars a change from disk stays highlighted after it started playing.
pub const HIGHLIGHT_BARS: u64 = 4;

/// What the latest reload of the playing slot from disk changed, highlighted on screen until
/// it has played for [`HIGHLIGHT_BARS`] bars, the next edit, or the next reload.
#[derive(Debug, Clone, PartialEq)]
pub struct DiskChange {
    /// The slot whose file changed.
    pub slot: SlotNumber,
    /// What differs from the version played before.
    pub diff: SlotDiff,
    /// The bar the file's version applies at, while it waits for it.
    pub applies_at: Option<u64>,
    /// The bar from which the file's version has been heard (set once it plays).
    pub heard_from: Option<u64>,
}

impl DiskChange {
    /// Whether `track`'s step `step` is highlighted.
    pub fn step(&self, track: &str, step: usize) -> bool {
        self.diff.step_changed(track, step)
    }

    /// Whether `track`'s field `key` (a `TRACK_FIELDS` key, `muted`, `solo`) is highlighted.
    pub fn field(&self, track: &str, key: &str) -> bool {
        self.diff
            .fields_changed
            .iter()
            .any(|(t, keys)| t == track && keys.contains(&key))
    }

    /// Whether the module parameter `id` is highlighted.
    pub fn param(&self, id: ParamId) -> bool {
        self.diff.params_changed.contains(&id)
    }
}

/// Everything the screen shows besides the song and the engine status.
#[derive(Debug, Clone)]
pub struct UiState {
    /// The panel with the keyboard.
    pub focus: Panel,
    /// Selected track (index into the song's tracks).
    pub track: usize,
    /// Step under the grid cursor.
    pub step: usize,
    /// Module shown in the parameter panel: 0 = the selected track's voice, then
    /// `EFFECT_MODULES` in order.
    pub module: usize,
    /// Selected parameter within that module.
    pub param: usize,
    /// Slot under the browser cursor (1–128).
    pub slot_cursor: u8,
    /// The browser's rows, index = slot number − 1; `None` for an empty slot.
    pub slots: Vec<Option<SlotRow>>,
    /// The open text prompt.
    pub prompt: Option<Prompt>,
    /// The open overlay.
    pub overlay: Option<Overlay>,
    /// What was copied.
    pub clipboard: Option<Clipboard>,
    /// Times of recent tempo taps.
    pub taps: Vec<Instant>,
    /// The message line.
    pub message: Option<Message>,
    /// Every message said, newest last (at most [`LOG_LIMIT`]).
    pub log: VecDeque<LogEntry>,
    /// The grid shows the queued slot's song, read-only.
    pub preview: bool,
    /// Keyboard piano on (grid): the octave of its lower row; letters play notes.
    pub piano: Option<u8>,
    /// The keyboard piano sets the note of every hit of the selected track at once, not of
    /// the step under the cursor.
    pub piano_all: bool,
    /// What the latest reload from disk changed, while it is highlighted.
    pub changes: Option<DiskChange>,
    /// A half-typed chord (`g…`), shown on the message line.
    pub chord: String,
    /// The help overlay's content, generated from the keymap.
    pub help: Vec<HelpSection>,
    /// Key labels for on-screen hints.
    pub hints: Hints,
    /// The performer asked to leave.
    pub quit: bool,
    /// The screen's size at the last draw (columns, rows): how far a page scrolls.
    pub screen: (u16, u16),
}

impl UiState {
    /// A fresh screen state: grid focused, first track and step, slot 1.
    pub fn new(help: Vec<HelpSection>, hints: Hints) -> UiState {
        UiState {
            focus: Panel::Grid,
            track: 0,
            step: 0,
            module: 0,
            param: 0,
            slot_cursor: 1,
            slots: vec![None; crate::store::SLOT_COUNT as usize],
            prompt: None,
            overlay: None,
            clipboard: None,
            taps: Vec::new(),
            message: None,
            log: VecDeque::new(),
            preview: false,
            piano: None,
            piano_all: false,
            changes: None,
            chord: String::new(),
            help,
            hints,
            quit: false,
            screen: (80, 24),
        }
    }

    /// The module the parameter panel shows, for a song whose selected track plays `voice`.
    pub fn panel_module(&self, voice: u8) -> Module {
        match self.module {
            0 => Module::Voice(voice),
            i => EFFECT_MODULES[(i - 1).min(EFFECT_MODULES.len() - 1)],
        }
    }

    /// Logs a message and shows the most severe one the performer has not seen yet (an
    /// info never hides an unseen warning or error).
    pub fn say(&mut self, level: Level, text: impl Into<String>) {
        self.log.push_back(LogEntry {
            level,
            text: text.into(),
            seen: false,
        });
        while self.log.len() > LOG_LIMIT {
            self.log.pop_front();
        }
        self.show_unseen();
    }

    /// Puts the most severe unseen message (the newest of that level) on the message line;
    /// keeps the line as it is when everything was seen.
    pub fn show_unseen(&mut self) {
        let best = self
            .log
            .iter()
            .filter(|e| !e.seen)
            .max_by_key(|e| severity(e.level));
        if let Some(e) = best {
            self.message = Some(Message {
                level: e.level,
                text: e.text.clone(),
            });
        }
    }

    /// The performer pressed a key with the message line in front of them: what it shows
    /// counts as seen, and an unseen warning or error takes its place (a second start-up
    /// error is not left waiting behind the first until something else is said).
    pub fn mark_shown_seen(&mut self) {
        if let Some(m) = &self.message
            && let Some(e) = self
                .log
                .iter_mut()
                .rev()
                .find(|e| !e.seen && e.level == m.level && e.text == m.text)
        {
            e.seen = true;
        }
        if self.log.iter().any(|e| !e.seen && e.level != Level::Info) {
            self.show_unseen();
        }
    }

    /// Marks every message seen (the log was opened).
    pub fn mark_all_seen(&mut self) {
        for e in &mut self.log {
            e.seen = true;
        }
    }

    /// Unseen messages.
    pub fn unseen(&self) -> usize {
        self.log.iter().filter(|e| !e.seen).count()
    }

    /// A condition ended: messages matching `about` stop asking for attention, and leave the
    /// message line if they are on it (`then` replaces them there).
    pub fn resolve(&mut self, about: impl Fn(&str) -> bool, then: Option<(Level, String)>) {
        let mut any = false;
        for e in self.log.iter_mut().filter(|e| about(&e.text)) {
            e.seen = true;
            any = true;
        }
        if !any {
            return;
        }
        if self.message.as_ref().is_some_and(|m| about(&m.text)) {
            self.message = None;
        }
        match then {
            Some((level, text)) => self.say(level, text),
            None => self.show_unseen(),
        }
    }
}

/// Orders levels for the message line: errors first.
fn severity(level: Level) -> u8 {
    match level {
        Level::Info => 0,
        Level::Warning => 1,
        Level::Error => 2,
    }
}
