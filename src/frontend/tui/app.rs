//! Keys to actions: the tracker's input side.
//!
//! A key goes through the [`KeyDispatcher`] in the [`Mode`] the screen is in; the resulting
//! [`Action`] is performed by the handlers in `actions/` (one file per group of the action
//! table), which change the view or apply a `Command` to the [`Controller`]. This file keeps
//! the app's state, the routing by mode, and what it takes in from notices and the watcher.
//! Nothing here draws.

use std::collections::HashMap;
use std::time::{Duration, Instant, SystemTime};

use crossterm::event::KeyEvent;

use crate::control::{self, Controller, Level, Notice, Service};
use crate::keymap::{
    self, Action, Dispatch, Key, KeyCode, KeyDispatcher, Keymap, Mode, chord_label,
};
use crate::model::registry::MAX_VOICES;
use crate::model::{ParamId, ParamSpec, Track};
use crate::sources::watch::SlotWatcher;
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
    /// Modification time of each slot file when Chronus last read or wrote it (the browser's
    /// "changed on disk" mark when no watcher runs).
    seen: HashMap<u8, SystemTime>,
    slots_read: Option<Instant>,
    /// The hot-reload watcher on the slots folder, when it started.
    watcher: Option<SlotWatcher>,
    /// The watcher's reload count and generation last taken in.
    reloads_seen: u64,
    generation_seen: u64,
    /// The watcher generation at which Chronus last read or wrote each slot file: a change
    /// on disk newer than that is marked in the browser.
    acknowledged: HashMap<u8, u64>,
    /// Slots whose file did not load at the last look at the watcher.
    broken_seen: std::collections::BTreeSet<SlotNumber>,
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
        };
        let mut help = keymap.help();
        help.push(keymap::action_reference());
        let ui = UiState::new(help, hints);
        App {
            ui,
            keys: KeyDispatcher::new(keymap),
            seen: HashMap::new(),
            slots_read: None,
            watcher: None,
            reloads_seen: 0,
            generation_seen: 0,
            acknowledged: HashMap::new(),
            broken_seen: Default::default(),
        }
    }

    /// Hands the app the hot-reload watcher: from now on files changed on disk are
    /// highlighted, conflicts asked about, and the browser follows the watcher.
    pub fn set_watcher(&mut self, watcher: SlotWatcher) {
        self.reloads_seen = watcher.reloads();
        self.generation_seen = watcher.generation();
        self.watcher = Some(watcher);
    }

    /// The hot-reload watcher, when one runs.
    pub fn watcher(&self) -> Option<&SlotWatcher> {
        self.watcher.as_ref()
    }

    /// Polls the watcher (once per loop turn, like the other services) and takes in what it
    /// did: a reload to highlight, a conflict to ask about, a slot list to re-read. Returns
    /// true when the screen changed.
    pub fn poll_watcher(&mut self, ctl: &mut Controller) -> bool {
        let Some(w) = self.watcher.as_mut() else {
            return false;
        };
        let polled = w.poll(ctl);
        self.sync_watcher(ctl) | polled
    }

    /// Takes in the watcher's state after it acted.
    fn sync_watcher(&mut self, ctl: &Controller) -> bool {
        let Some(w) = self.watcher.as_ref() else {
            return false;
        };
        let mut changed = false;
        let (reloads, generation, conflict) = (w.reloads(), w.generation(), w.pending_conflict());
        let broken = w.broken_slots().clone();
        for &n in self.broken_seen.difference(&broken) {
            // The file loads again: its error is over, and so is its "changed on disk" mark.
            let about = format!("slot {n} changed on disk");
            self.ui.resolve(
                |t| t.starts_with(&about) && t.contains("does not load"),
                Some((Level::Info, format!("slot {n}: its file loads again"))),
            );
            self.seen.remove(&n.get());
            self.acknowledged.insert(n.get(), generation);
            changed = true;
        }
        self.broken_seen = broken;
        if reloads != self.reloads_seen {
            self.reloads_seen = reloads;
            if let (Some(diff), Some(slot)) = (w.last_diff(), ctl.slot()) {
                let queued = ctl
                    .status()
                    .queued
                    .filter(|&(s, _)| ctl.status().running && s == slot);
                self.ui.changes = Some(DiskChange {
                    slot,
                    diff: diff.clone(),
                    applies_at: queued.map(|(_, bar)| bar),
                    heard_from: None,
                });
                self.forget_seen(slot.get());
            }
            changed = true;
        }
        let asking = matches!(
            self.ui.overlay,
            Some(Overlay::Confirm {
                question: Question::Conflict(_),
                ..
            })
        );
        match conflict {
            // Asked once nothing else is: a half-typed prompt or another question comes first.
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
                changed = true;
            }
            // Saved or another slot loaded meanwhile: nothing left to decide.
            None if asking => {
                self.ui.overlay = None;
                changed = true;
            }
            _ => {}
        }
        if generation != self.generation_seen {
            self.generation_seen = generation;
            self.refresh_slots(ctl);
            changed = true;
        }
        changed
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
        match self.watcher.as_mut() {
            Some(w) if w.pending_conflict().is_some() => {
                w.resolve_conflict(ctl, take_file);
                self.sync_watcher(ctl);
            }
            _ => self.ui.say(
                Level::Info,
                "no slot file is waiting: nothing changed on disk under your edits",
            ),
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
        let tracks = ctl.song().sequencer.tracks.len();
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
        // The watcher's one-line summary of the latest reload, which joins the line saying
        // when it applies; warnings of the same turn (clamped values) are added to it so they
        // are not hidden behind it.
        let summary = self
            .ui
            .changes
            .as_ref()
            .map(|c| format!("slot {}: {}", c.slot, c.diff.describe()));
        let mut warnings: Vec<&str> = Vec::new();
        for n in notices {
            match n {
                Notice::Message(Level::Info, text) if summary.as_ref() == Some(text) => {
                    self.say_disk_change(&warnings);
                }
                Notice::Message(level, text) => {
                    if *level != Level::Info {
                        warnings.push(text);
                    }
                    self.ui.say(*level, text.clone());
                }
                Notice::SlotQueued {
                    slot,
                    bar,
                    from_disk: true,
                } => {
                    self.forget_seen(slot.get());
                    if let Some(c) = &mut self.ui.changes
                        && c.slot == *slot
                    {
                        c.applies_at = Some(*bar);
                    }
                    if let Some(text) = ctl.describe(n) {
                        self.ui.say(Level::Info, text);
                    }
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
                Notice::Saved { slot, .. } => {
                    self.forget_seen(slot.get());
                    if let Some(text) = ctl.describe(n) {
                        self.ui.say(Level::Info, text);
                    }
                    refresh = true;
                }
                Notice::Recorded(_) => {
                    if let Some(text) = ctl.describe(n) {
                        self.ui.say(Level::Info, text);
                    }
                }
                _ => {}
            }
        }
        if refresh {
            self.refresh_slots(ctl);
        }
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
    pub fn tick(&mut self, ctl: &Controller, now: Instant) -> bool {
        let expired = self.expire_changes(ctl);
        if self
            .slots_read
            .is_some_and(|t| now.saturating_duration_since(t) < SLOT_REFRESH)
        {
            return expired;
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

    /// Re-reads the slot list now.
    pub fn refresh_slots(&mut self, ctl: &Controller) {
        self.refresh_slots_at(ctl, SystemTime::now());
    }

    /// Re-reads the slot list, giving file ages relative to `now` (tests pass a fixed time).
    pub fn refresh_slots_at(&mut self, ctl: &Controller, now: SystemTime) {
        let list = match ctl.store().list() {
            Ok(list) => list,
            Err(e) => {
                self.ui.say(Level::Error, format!("slot list: {e}"));
                return;
            }
        };
        let mut rows = vec![None; SLOT_COUNT as usize];
        for info in list {
            let n = info.number.get();
            let changed = match &self.watcher {
                // Changed by someone else after Chronus last read or wrote it.
                Some(w) => w
                    .changed_slots()
                    .get(&info.number)
                    .is_some_and(|&g| g > self.acknowledged.get(&n).copied().unwrap_or(0)),
                None => *self.seen.entry(n).or_insert(info.modified) != info.modified,
            };
            rows[n as usize - 1] = Some(slot_row(&info, now, changed));
        }
        self.ui.slots = rows;
        self.slots_read = Some(Instant::now());
    }

    /// Forgets when a slot file was last seen: Chronus just read or wrote it, so its current
    /// state is not a "change on disk". The next refresh records the new time.
    pub(super) fn forget_seen(&mut self, n: u8) {
        self.seen.remove(&n);
        if let Some(w) = &self.watcher {
            self.acknowledged.insert(n, w.generation());
        }
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
    columns_of(ctl.song())
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
    ctl.song()
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
