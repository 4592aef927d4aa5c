//! Keys to actions: the tracker's input side.
//!
//! A key goes through the [`KeyDispatcher`] in the [`Mode`] the screen is in; the resulting
//! [`Action`] is performed by the handlers in `actions/` (one file per group of the action
//! table), which change the view or apply a `Command` to the [`Controller`]. This file keeps
//! the app's state, the routing by mode, and what it takes in from notices and the watcher.
//! Nothing here draws.

use std::time::{Duration, Instant, SystemTime};

use crossterm::event::KeyEvent;

use crate::control::{self, Command, Controller, Level, Notice};
use crate::keymap::{
    self, Action, Dispatch, Key, KeyCode, KeyDispatcher, Keymap, Mode, chord_label,
};
use crate::model::registry::MAX_VOICES;
use crate::model::{ParamId, ParamSpec, Track};
use crate::store::{SLOT_COUNT, SlotInfo, SlotNumber};

use super::state::{
    DiskChange, HIGHLIGHT_BARS, Hints, Overlay, PANEL_MODULES, Panel, Question, SlotRow, UiState,
};

/// How often the slot browser re-reads the slots folder.
pub const SLOT_REFRESH: Duration = Duration::from_secs(3);

/// The tracker's input side: the screen state plus the key bindings.
pub struct App {
    /// What the screen shows besides the song.
    pub ui: UiState,
    pub(super) keys: KeyDispatcher,
    /// When the slot list's rows (their ages) were last built.
    slots_read: Option<Instant>,
}

impl App {
    /// An app using these bindings.
    pub fn new(keymap: Keymap) -> App {
        let label = |mode: Mode, action: Action, fallback: &str| {
            keymap
                .keys_for(mode, &action)
                .map(chord_label)
                .unwrap_or_else(|| fallback.to_string())
        };
        let hints = Hints {
            help: label(Mode::Grid, Action::Help, ":help"),
            confirm: label(Mode::Confirm, Action::Confirm, "y"),
            cancel: label(Mode::Confirm, Action::Cancel, "Esc"),
            submit: label(Mode::Prompt, Action::PromptSubmit, "Enter"),
            prompt_cancel: label(Mode::Prompt, Action::Cancel, "Esc"),
            add_track: label(Mode::Grid, Action::TrackAdd, ":track_add"),
            play: label(Mode::Grid, Action::PlayToggle, ":play_toggle"),
            take: label(Mode::Confirm, Action::TakeFile, ":take_file"),
            keep: label(Mode::Confirm, Action::KeepEdits, ":keep_edits"),
            save_quit: label(Mode::Confirm, Action::SaveCurrent, ":save_current"),
        };
        let mut help = keymap.help();
        help.push(keymap::action_reference());
        let ui = UiState::new(help, hints);
        App {
            ui,
            keys: KeyDispatcher::new(keymap),
            slots_read: None,
        }
    }

    /// Asks about a slot file changed on disk under unsaved edits once nothing else is asked
    /// (a half-typed prompt or another question comes first), and closes the question when
    /// the controller no longer has one. Returns true when the screen changed.
    fn sync_conflict(&mut self, ctl: &Controller) -> bool {
        let asking = matches!(
            self.ui.overlay,
            Some(Overlay::Confirm {
                question: Question::Conflict(_),
                ..
            })
        );
        match ctl.pending_conflict() {
            Some(slot)
                if !asking
                    && self.ui.prompt.is_none()
                    && !matches!(self.ui.overlay, Some(Overlay::Confirm { .. })) =>
            {
                let when = if ctl.status().running {
                    "at the next bar"
                } else {
                    "now"
                };
                let text = format!(
                    "slot {slot} changed on disk while you have unsaved edits — {} the file's version {when} / {} your edits",
                    mnemonic(&self.ui.hints.take, "take"),
                    mnemonic(&self.ui.hints.keep, "keep"),
                );
                self.ui.overlay = Some(Overlay::Confirm {
                    question: Question::Conflict(slot),
                    text,
                });
                true
            }
            // Saved or another slot loaded meanwhile: nothing left to decide.
            None if asking => {
                self.ui.overlay = None;
                true
            }
            _ => false,
        }
    }

    /// Asks whether to overwrite slot `slot`, whose file holds another pattern, `name`.
    pub(super) fn ask_overwrite(&mut self, slot: SlotNumber, name: &str) {
        let text = if name.is_empty() {
            format!("Slot {slot} holds a different pattern. Overwrite it?")
        } else {
            format!("Slot {slot} holds a different pattern, {name:?}. Overwrite it?")
        };
        self.ui.overlay = Some(Overlay::Confirm {
            question: Question::Overwrite(slot),
            text,
        });
    }

    /// Answers the conflict question: take the file's version or keep the screen's edits.
    pub(super) fn settle_conflict(&mut self, ctl: &mut Controller, take_file: bool) {
        if matches!(
            self.ui.overlay,
            Some(Overlay::Confirm {
                question: Question::Conflict(_),
                ..
            })
        ) {
            self.ui.overlay = None;
        }
        match ctl.apply(Command::ResolveConflict { take_file }) {
            Ok(Some(text)) => self.ui.say(Level::Info, text),
            Ok(None) => {}
            Err(e) => self.ui.say(Level::Error, e.to_string()),
        }
    }

    /// The mode keys are looked up in, from what is open and focused.
    pub fn mode(&self) -> Mode {
        if self.ui.prompt.is_some() {
            return Mode::Prompt;
        }
        match self.ui.overlay {
            Some(Overlay::Help { .. } | Overlay::Messages { .. }) => Mode::Help,
            Some(Overlay::Confirm { .. }) => Mode::Confirm,
            None => match self.ui.focus {
                Panel::Grid => Mode::Grid,
                Panel::Params => Mode::Params,
                Panel::Slots => Mode::Slots,
            },
        }
    }

    /// Handles one key press (callers pass presses only, not releases or repeats).
    pub fn handle_key(&mut self, ctl: &mut Controller, event: KeyEvent) {
        self.handle_key_at(ctl, event, Instant::now());
    }

    /// [`App::handle_key`] at a given time (tap tempo measures between presses).
    pub fn handle_key_at(&mut self, ctl: &mut Controller, event: KeyEvent, now: Instant) {
        let Some(key) = Key::from_event(&event) else {
            return;
        };
        let mode = self.mode();
        if mode == Mode::Grid && self.keys.pending().is_empty() && self.piano_key(ctl, key) {
            return self.clamp(ctl);
        }
        let dispatch = self.keys.feed(mode, key);
        self.ui.chord = chord_label(self.keys.pending());
        match dispatch {
            Dispatch::Action(action) => self.act_at(ctl, action, now),
            Dispatch::Pending | Dispatch::Cancelled => {}
            Dispatch::Unbound => {
                if let (Some(prompt), KeyCode::Char(c)) = (self.ui.prompt.as_mut(), key.code)
                    && !key.ctrl
                    && !key.alt
                {
                    prompt.insert(c);
                }
            }
        }
        self.clamp(ctl);
    }

    /// Performs one action.
    pub fn act(&mut self, ctl: &mut Controller, action: Action) {
        self.act_at(ctl, action, Instant::now());
    }

    /// [`App::act`] at a given time.
    pub fn act_at(&mut self, ctl: &mut Controller, action: Action, now: Instant) {
        // The performer acted with the message line in front of them.
        if action != Action::Cancel {
            self.ui.mark_shown_seen();
        }
        match self.mode() {
            Mode::Prompt => return self.prompt_action(ctl, action),
            Mode::Confirm => return self.question_action(ctl, action),
            Mode::Help if self.overlay_action(action) => return,
            _ => {}
        }
        self.main_action(ctl, action, now);
        self.clamp(ctl);
    }

    /// The parameter the panel's cursor is on.
    pub fn selected_param(&self, ctl: &Controller) -> ParamId {
        selected_param(&self.ui, ctl)
    }

    /// Keeps the cursors inside the song after anything changed it (undo, load, remove).
    pub fn clamp(&mut self, ctl: &Controller) {
        let ui = &mut self.ui;
        let tracks = ctl.edited().sequencer.tracks.len();
        ui.track = ui.track.min(tracks.saturating_sub(1));
        ui.step = ui.step.min(grid_columns(ctl) - 1);
        ui.module = ui.module.min(PANEL_MODULES - 1);
        let count = ui.panel_module(selected_voice(ui, ctl)).params().len();
        ui.param = ui.param.min(count - 1);
        ui.slot_cursor = ui.slot_cursor.clamp(1, SLOT_COUNT);
        if ctl.queued().is_none() {
            ui.preview = false;
        }
    }

    /// Takes in what happened since the last turn: messages for the message line, and a
    /// fresh slot list after saves and loads.
    pub fn on_notices(&mut self, ctl: &Controller, notices: &[Notice]) {
        let mut refresh = false;
        // Warnings of the same turn (clamped values) join the line saying what a reload from
        // disk changed, so they are not hidden behind it.
        let mut warnings: Vec<&str> = Vec::new();
        for n in notices {
            match n {
                Notice::Message(level, text) => {
                    if *level != Level::Info {
                        warnings.push(text);
                    }
                    self.ui.say(*level, text.clone());
                }
                Notice::DiskReloaded { slot, diff } => {
                    let applies_at = ctl
                        .queued()
                        .filter(|q| ctl.status().running && q.slot == *slot)
                        .map(|q| q.bar);
                    self.ui.changes = Some(DiskChange {
                        slot: *slot,
                        diff: diff.clone(),
                        applies_at,
                        heard_from: None,
                    });
                    self.say_disk_change(&warnings);
                }
                Notice::SlotFileFixed { slot } => {
                    // The file loads again: its error is over.
                    let about = format!("slot {slot} changed on disk");
                    let cannot = format!("slot {slot}: cannot read its file");
                    self.ui.resolve(
                        |t| {
                            (t.starts_with(&about) && t.contains("does not load"))
                                || t.starts_with(&cannot)
                        },
                        ctl.describe(n).map(|text| (Level::Info, text)),
                    );
                    refresh = true;
                }
                // A bar-aligned switch is news; a load while stopped was already reported.
                Notice::SlotApplied { slot, bar } if ctl.status().running => {
                    if !self.say_disk_change_heard(*slot, *bar)
                        && let Some(text) = ctl.describe(n)
                    {
                        self.ui.say(Level::Info, text);
                    }
                }
                Notice::SlotQueued { .. }
                | Notice::Saved { .. }
                | Notice::SaveWaiting { .. }
                | Notice::Recorded(_) => {
                    if let Some(text) = ctl.describe(n) {
                        self.ui.say(Level::Info, text);
                    }
                    refresh |= matches!(n, Notice::Saved { .. } | Notice::SlotQueued { .. });
                }
                Notice::SaveFailed { .. } => {
                    if let Some(text) = ctl.describe(n) {
                        self.ui.say(Level::Error, text);
                    }
                }
                // What an OSC client was refused or warned of, so the performer beside a
                // script sees it too (a flood is summed up by the server in one message).
                Notice::OscAnswer { level, .. } => {
                    if let Some(text) = ctl.describe(n) {
                        self.ui.say(*level, text);
                    }
                }
                Notice::SlotListChanged => refresh = true,
                Notice::SaveRefused { slot, name, .. } => self.ask_overwrite(*slot, name),
                _ => {}
            }
        }
        if refresh {
            self.refresh_slots(ctl);
        }
        self.sync_conflict(ctl);
        self.clamp(ctl);
    }

    /// Says what a reload from disk changed and when it applies, with the warnings of the
    /// same turn (clamped values) so they are not hidden behind it.
    fn say_disk_change(&mut self, warnings: &[&str]) {
        let Some(c) = &self.ui.changes else {
            return;
        };
        let when = match c.applies_at {
            Some(bar) => format!("applies at bar {bar}"),
            None => "loaded".to_string(),
        };
        let line = format!(
            "slot {} changed on disk — {when}: {}",
            c.slot,
            c.diff.describe()
        );
        if warnings.is_empty() {
            self.ui.say(Level::Info, line);
        } else {
            let line = format!("{line} — {}", warnings.join("; "));
            self.ui.say(Level::Warning, line);
        }
    }

    /// When the slot that just started playing is a reload from disk, says so with what
    /// changed and marks it heard; false when it is an ordinary switch.
    fn say_disk_change_heard(&mut self, slot: SlotNumber, bar: u64) -> bool {
        let Some(c) = &mut self.ui.changes else {
            return false;
        };
        if c.slot != slot || c.applies_at.is_none() {
            return false;
        }
        c.applies_at = None;
        c.heard_from = Some(bar);
        let text = format!(
            "slot {slot} changed on disk — applied at bar {bar}: {}",
            c.diff.describe()
        );
        self.ui.say(Level::Info, text);
        true
    }

    /// Re-reads the slot list when it is older than [`SLOT_REFRESH`], and ends the highlight
    /// of a change from disk when its time is up. Returns true when the screen changed.
    pub fn tick(&mut self, ctl: &mut Controller, now: Instant) -> bool {
        let expired = self.expire_changes(ctl) | self.sync_conflict(ctl);
        if self
            .slots_read
            .is_some_and(|t| now.saturating_duration_since(t) < SLOT_REFRESH)
        {
            return expired;
        }
        if !ctl.is_watching() {
            // No watcher tells of files changed by other programs: look again now and then
            // (on the disk thread; the list comes back as a notice).
            let _ = ctl.apply(Command::RescanSlots);
        }
        let before = self.ui.slots.clone();
        self.refresh_slots(ctl);
        self.slots_read = Some(now);
        expired || before != self.ui.slots
    }

    /// Ends the highlight of a reload from disk once the file's version has played for
    /// [`HIGHLIGHT_BARS`] bars, or at once when the song is edited or another slot loaded.
    /// Returns true when it ended.
    fn expire_changes(&mut self, ctl: &Controller) -> bool {
        let Some(c) = &mut self.ui.changes else {
            return false;
        };
        let st = ctl.status();
        if c.applies_at.is_some() {
            // No longer queued: it plays now (or the transport stopped and it applied).
            if st.queued.is_none_or(|(s, _)| s != c.slot) {
                c.applies_at = None;
            }
        } else if st.running && c.heard_from.is_none_or(|b| st.bar < b) {
            // Heard from now on (it applied while stopped, or the transport restarted).
            c.heard_from = Some(st.bar);
        }
        let played = st.running
            && c.applies_at.is_none()
            && c.heard_from.is_some_and(|b| st.bar >= b + HIGHLIGHT_BARS);
        if played || (c.applies_at.is_none() && ctl.is_dirty()) || ctl.slot() != Some(c.slot) {
            self.ui.changes = None;
            return true;
        }
        false
    }

    /// Rebuilds the slot list's rows from what the controller knows of the slot files.
    pub fn refresh_slots(&mut self, ctl: &Controller) {
        self.refresh_slots_at(ctl, SystemTime::now());
    }

    /// Rebuilds the slot list's rows, giving file ages relative to `now` (tests pass a fixed
    /// time).
    pub fn refresh_slots_at(&mut self, ctl: &Controller, now: SystemTime) {
        let mut rows = vec![None; SLOT_COUNT as usize];
        for info in ctl.slot_files() {
            let changed = ctl.changed_on_disk(info.number);
            rows[info.number.get() as usize - 1] = Some(slot_row(info, now, changed));
        }
        self.ui.slots = rows;
        self.slots_read = Some(Instant::now());
    }
}

fn slot_row(info: &SlotInfo, now: SystemTime, changed: bool) -> SlotRow {
    let age = now
        .duration_since(info.modified)
        .map(|d| format_age(d.as_secs()))
        .unwrap_or_else(|_| "now".into());
    SlotRow {
        name: info.name.clone(),
        bpm: info.bpm,
        tracks: info.tracks,
        age,
        error: info.error.clone(),
        changed,
    }
}

/// `[t]ake` when the key is the word's first letter, else `[<C-t>] take`.
fn mnemonic(key: &str, word: &str) -> String {
    match word.strip_prefix(key) {
        Some(rest) if key.chars().count() == 1 => format!("[{key}]{rest}"),
        _ => format!("[{key}] {word}"),
    }
}

/// A file age as a performer reads it: `12s`, `5m`, `3h`, `2d`, `7w`.
pub fn format_age(secs: u64) -> String {
    match secs {
        0..60 => format!("{secs}s"),
        60..3600 => format!("{}m", secs / 60),
        3600..86_400 => format!("{}h", secs / 3600),
        86_400..1_209_600 => format!("{}d", secs / 86_400),
        _ => format!("{}w", secs / 604_800),
    }
}

/// Steps the grid shows: the longest track rounded up to a bar, at least one bar.
pub fn grid_columns(ctl: &Controller) -> usize {
    columns_of(ctl.edited())
}

/// Steps the grid shows for `song`.
pub fn columns_of(song: &crate::model::Slot) -> usize {
    let longest = song
        .sequencer
        .tracks
        .iter()
        .map(|t| t.pattern.chars().count())
        .max()
        .unwrap_or(0);
    longest.div_ceil(16).clamp(1, control::MAX_PATTERN / 16) * 16
}

/// The voice of the selected track (voice1 when there is none), within the running voices.
pub fn selected_voice(ui: &UiState, ctl: &Controller) -> u8 {
    let voices = ctl.voices().clamp(1, MAX_VOICES) as u8;
    ctl.edited()
        .sequencer
        .tracks
        .get(ui.track)
        .and_then(Track::voice)
        .unwrap_or(1)
        .clamp(1, voices)
}

/// The parameter under the panel's cursor.
pub fn selected_param(ui: &UiState, ctl: &Controller) -> ParamId {
    let module = ui.panel_module(selected_voice(ui, ctl));
    let i = ui.param.min(module.params().len() - 1);
    module.param_id(i)
}

/// `50–8000 Hz`
pub fn range_text(spec: &ParamSpec) -> String {
    let unit = if spec.unit.is_empty() {
        String::new()
    } else {
        format!(" {}", spec.unit)
    };
    format!(
        "{}–{}{unit}",
        control::fmt_num(spec.min),
        control::fmt_num(spec.max)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ages_read_like_a_clock() {
        assert_eq!(format_age(5), "5s");
        assert_eq!(format_age(600), "10m");
        assert_eq!(format_age(3 * 3600 + 5), "3h");
        assert_eq!(format_age(2 * 86_400), "2d");
        assert_eq!(format_age(30 * 86_400), "4w");
    }
}
